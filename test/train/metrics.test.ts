import { describe, expect, it } from 'vitest';
import { Generator, tensor } from '../../src/index.js';
import {
  AUC,
  BinaryAccuracy,
  CategoricalAccuracy,
  ConfusionMatrix,
  F1Score,
  MeanAbsoluteErrorMetric,
  MeanSquaredErrorMetric,
  Precision,
  Recall,
  SparseCategoricalAccuracy,
  SparseTopKCategoricalAccuracy,
  TopKCategoricalAccuracy,
  confusionMatrix,
  getMetric,
} from '../../src/train/index.js';

describe('metrics accumulate over batches like Keras', () => {
  it('binary, categorical, sparse and top-k accuracy', () => {
    const acc = new BinaryAccuracy();
    acc.update(tensor([[1], [0], [1], [0]]), tensor([[0.7], [0.6], [0.4], [0.1]])); // right: 1, 0, 0, 1
    expect(acc.result()).toBeCloseTo(0.5, 12);
    acc.update(tensor([[1], [1]]), tensor([[0.9], [0.8]]));
    expect(acc.result()).toBeCloseTo(4 / 6, 12);
    acc.reset();
    expect(acc.result()).toBe(0);

    const scores = [
      [0.1, 0.5, 0.4],
      [0.8, 0.15, 0.05],
      [0.3, 0.3, 0.4],
      [0.2, 0.7, 0.1],
    ];
    const labels = [2, 0, 1, 1];
    const argmax = scores.map((r) => r.indexOf(Math.max(...r)));
    const want = labels.filter((l, i) => argmax[i] === l).length / labels.length;
    const onehot = labels.map((l) => [0, 1, 2].map((c) => (c === l ? 1 : 0)));
    expect(new CategoricalAccuracy().update(tensor(onehot), tensor(scores)).result()).toBeCloseTo(want, 12);
    expect(new SparseCategoricalAccuracy().update(tensor(new Int32Array(labels)), tensor(scores)).result()).toBeCloseTo(
      want,
      12,
    );
    // top-2: the true class scores among the two largest
    const top2 = labels.filter((l, i) => scores[i].filter((s) => s > scores[i][l]).length < 2).length / labels.length;
    expect(
      new SparseTopKCategoricalAccuracy({ k: 2 }).update(tensor(labels.map((l) => [l])), tensor(scores)).result(),
    ).toBeCloseTo(top2, 12);
    expect(new TopKCategoricalAccuracy({ k: 2 }).update(tensor(onehot), tensor(scores)).result()).toBeCloseTo(top2, 12);
  });

  it('precision, recall and F1 from confusion counts', () => {
    const g = new Generator(3);
    const t = Array.from({ length: 40 }, () => (g.random() < 0.4 ? 1 : 0));
    const p = Array.from({ length: 40 }, () => g.random());
    let tp = 0,
      fp = 0,
      fn = 0;
    t.forEach((y, i) => {
      const pos = p[i] > 0.5;
      if (pos && y) tp++;
      else if (pos) fp++;
      else if (y) fn++;
    });
    const prec = new Precision();
    const rec = new Recall();
    const f1 = new F1Score();
    for (const [a, b] of [
      [0, 25],
      [25, 40],
    ]) {
      const yt = tensor(t.slice(a, b));
      const yp = tensor(p.slice(a, b));
      prec.update(yt, yp);
      rec.update(yt, yp);
      f1.update(yt, yp);
    }
    expect(prec.result()).toBeCloseTo(tp / (tp + fp), 12);
    expect(rec.result()).toBeCloseTo(tp / (tp + fn), 12);
    const P = tp / (tp + fp),
      R = tp / (tp + fn);
    expect(f1.result()).toBeCloseTo((2 * P * R) / (P + R), 12);
  });

  it('macro F1 over one-hot multi-class predictions (argmax)', () => {
    const labels = [0, 1, 2, 2, 1, 0];
    const pred = [0, 2, 2, 2, 1, 1];
    const onehot = (ls: number[]) => tensor(ls.map((l) => [0, 1, 2].map((c) => (c === l ? 1 : 0))));
    const f1s = [0, 1, 2].map((c) => {
      const tp = labels.filter((l, i) => l === c && pred[i] === c).length;
      const fp = labels.filter((l, i) => l !== c && pred[i] === c).length;
      const fn = labels.filter((l, i) => l === c && pred[i] !== c).length;
      return (2 * tp) / (2 * tp + fp + fn);
    });
    const m = new F1Score({ threshold: null, average: 'macro' }).update(onehot(labels), onehot(pred));
    expect(m.result()).toBeCloseTo((f1s[0] + f1s[1] + f1s[2]) / 3, 12);
  });

  it('AUC: Keras threshold interpolation, close to the exact rank statistic', () => {
    const g = new Generator(5);
    const n = 300;
    const y = Array.from({ length: n }, () => (g.random() < 0.5 ? 1 : 0));
    const p = y.map((v) => Math.min(1, Math.max(0, 0.35 * v + 0.65 * g.random())));
    const auc = new AUC();
    auc.update(tensor(y.slice(0, 150)), tensor(p.slice(0, 150)));
    auc.update(tensor(y.slice(150)), tensor(p.slice(150)));
    // Keras' formula with plain loops.
    const k = 200;
    const th = [-1e-7, ...Array.from({ length: k - 2 }, (_, i) => (i + 1) / (k - 1)), 1 + 1e-7];
    const pf = p.map((v) => Math.fround(v));
    const pts = th.map((t) => {
      const tf = Math.fround(t);
      let tp = 0,
        fp = 0,
        fn = 0,
        tn = 0;
      pf.forEach((v, i) => {
        const pos = v > tf;
        if (pos && y[i]) tp++;
        else if (pos) fp++;
        else if (y[i]) fn++;
        else tn++;
      });
      return [fp / (fp + tn), tp / (tp + fn)];
    });
    let keras = 0;
    for (let i = 0; i < k - 1; i++) keras += ((pts[i][0] - pts[i + 1][0]) * (pts[i][1] + pts[i + 1][1])) / 2;
    expect(auc.result()).toBeCloseTo(keras, 10);
    // Exact AUC = P(score of a positive > score of a negative).
    let wins = 0,
      pairs = 0;
    pf.forEach((a, i) =>
      pf.forEach((b, j) => {
        if (y[i] === 1 && y[j] === 0) {
          pairs++;
          wins += a > b ? 1 : a === b ? 0.5 : 0;
        }
      }),
    );
    expect(Math.abs(auc.result() - wins / pairs)).toBeLessThan(0.01);
  });

  it('MSE/MAE metrics and the confusion matrix', () => {
    const t = tensor([[1], [2], [4]]);
    const p = tensor([[1.5], [2], [2]]);
    expect(new MeanSquaredErrorMetric().update(t, p).result()).toBeCloseTo((0.25 + 4) / 3, 6);
    expect(new MeanAbsoluteErrorMetric().update(t, p).result()).toBeCloseTo(2.5 / 3, 6);
    const labels = [0, 1, 2, 2, 1, 0, 2];
    const predicted = [0, 2, 2, 1, 1, 0, 2];
    const scores = tensor(predicted.map((c) => [0, 1, 2].map((k) => (k === c ? 0.8 : 0.1))));
    const want = [0, 1, 2].map((r) =>
      [0, 1, 2].map((c) => labels.filter((l, i) => l === r && predicted[i] === c).length),
    );
    expect(confusionMatrix(tensor(new Int32Array(labels)), scores, 3)).toEqual(want);
    const cm = new ConfusionMatrix(3);
    cm.update(
      tensor(new Int32Array(labels.slice(0, 3))),
      tensor(predicted.slice(0, 3).map((c) => [0, 1, 2].map((k) => (k === c ? 1 : 0)))),
    );
    cm.update(
      tensor(new Int32Array(labels.slice(3))),
      tensor(predicted.slice(3).map((c) => [0, 1, 2].map((k) => (k === c ? 1 : 0)))),
    );
    expect(cm.matrix()).toEqual(want);
  });

  it("'accuracy' follows the loss (sparse, categorical, binary with logits threshold 0)", () => {
    expect(getMetric('accuracy', { className: 'SparseCategoricalCrossentropy' })).toBeInstanceOf(
      SparseCategoricalAccuracy,
    );
    expect(getMetric('acc', { className: 'CategoricalCrossentropy' })).toBeInstanceOf(CategoricalAccuracy);
    const bin = getMetric('accuracy', { className: 'BinaryCrossentropy', fromLogits: true });
    expect(bin.update(tensor([[1], [0]]), tensor([[0.2], [-0.1]])).result()).toBe(1);
    expect(() => getMetric('bogus')).toThrow(/unknown metric 'bogus'/);
  });
});
