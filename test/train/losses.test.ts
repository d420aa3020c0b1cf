import { describe, expect, it } from 'vitest';
import { tensor, type Tensor } from '../../src/index.js';
import { checkGrad, randomTensor } from '../helpers/gradcheck.js';
import {
  BinaryCrossentropy,
  CategoricalCrossentropy,
  Huber,
  MeanSquaredError,
  SparseCategoricalCrossentropy,
  binaryCrossentropy,
  categoricalCrossentropy,
  getLoss,
  hinge,
  huber,
  kld,
  meanAbsoluteError,
  meanSquaredError,
  sparseCategoricalCrossentropy,
} from '../../src/train/index.js';

const EPS = 1e-7;
const rows = (t: number[][]) => tensor(t);
const vals = (t: Tensor) => Array.from(t.data as Float32Array);
const expectClose = (got: number[], want: number[], tol = 1e-5) => {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => expect(Math.abs(g - want[i])).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(want[i]))));
};
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const clipP = (p: number) => Math.min(1 - EPS, Math.max(EPS, p));
const softmaxRow = (r: number[]) => {
  const m = Math.max(...r);
  const e = r.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

const yTrue = [
  [0, 1, 0.5],
  [1, 0, 1],
];
const yPred = [
  [0.2, 0.7, 0.4],
  [0.9, 0.1, 0.6],
];
const logits = [
  [1.5, -0.3, 0.2],
  [-2, 0.7, 3.1],
];

describe('losses (per-sample values vs independent formulas)', () => {
  it('meanSquaredError, meanAbsoluteError, huber', () => {
    const mse = yTrue.map((r, i) => r.reduce((s, t, j) => s + (yPred[i][j] - t) ** 2, 0) / r.length);
    const mae = yTrue.map((r, i) => r.reduce((s, t, j) => s + Math.abs(yPred[i][j] - t), 0) / r.length);
    expectClose(vals(meanSquaredError(rows(yTrue), rows(yPred))), mse);
    expectClose(vals(meanAbsoluteError(rows(yTrue), rows(yPred))), mae);
    const big = [
      [0, 3],
      [-2, 0.5],
    ];
    const delta = 1;
    const hub = big.map(
      (r) =>
        r.reduce((s, d) => s + (Math.abs(d) <= delta ? 0.5 * d * d : delta * (Math.abs(d) - 0.5 * delta)), 0) /
        r.length,
    );
    expectClose(
      vals(
        huber(
          rows([
            [0, 0],
            [0, 0],
          ]),
          rows(big),
          delta,
        ),
      ),
      hub,
    );
  });

  it('binaryCrossentropy from probabilities and from logits', () => {
    const t = [
      [1, 0, 1],
      [0, 0, 1],
    ];
    const fromProbs = t.map(
      (r, i) =>
        r.reduce((s, y, j) => {
          const p = clipP(yPred[i][j]);
          return s - (y * Math.log(p + EPS) + (1 - y) * Math.log(1 - p + EPS));
        }, 0) / r.length,
    );
    expectClose(vals(binaryCrossentropy(rows(t), rows(yPred))), fromProbs);
    const fromLogits = t.map(
      (r, i) =>
        r.reduce((s, y, j) => {
          const p = sigmoid(logits[i][j]);
          return s - (y * Math.log(p) + (1 - y) * Math.log(1 - p));
        }, 0) / r.length,
    );
    expectClose(vals(binaryCrossentropy(rows(t), rows(logits), { fromLogits: true })), fromLogits);
  });

  it('categorical and sparse categorical cross entropy (probs and logits) agree with -log p[label]', () => {
    const labels = [1, 2];
    const onehot = labels.map((l) => [0, 1, 2].map((c) => (c === l ? 1 : 0)));
    const probs = [
      [0.2, 0.5, 0.3],
      [0.1, 0.1, 0.8],
    ];
    const wantProbs = labels.map((l, i) => -Math.log(clipP(probs[i][l])));
    const wantLogits = labels.map((l, i) => -Math.log(softmaxRow(logits[i])[l]));
    expectClose(vals(categoricalCrossentropy(rows(onehot), rows(probs))), wantProbs);
    expectClose(vals(categoricalCrossentropy(rows(onehot), rows(logits), { fromLogits: true })), wantLogits);
    expectClose(vals(sparseCategoricalCrossentropy(tensor(new Int32Array(labels)), rows(probs))), wantProbs);
    expectClose(
      vals(sparseCategoricalCrossentropy(tensor(new Int32Array(labels)), rows(logits), { fromLogits: true })),
      wantLogits,
    );
    // float labels of shape [B, 1] are accepted too
    expectClose(
      vals(sparseCategoricalCrossentropy(tensor([[1], [2]]), rows(logits), { fromLogits: true })),
      wantLogits,
    );
  });

  it('hinge (labels -1/1 or 0/1) and KL divergence', () => {
    const t = [
      [1, -1],
      [0, 1],
    ];
    const p = [
      [0.3, 0.8],
      [-0.5, 2],
    ];
    const want = t.map(
      (r, i) => r.reduce((s, y, j) => s + Math.max(0, 1 - (y === 0 ? -1 : y) * p[i][j]), 0) / r.length,
    );
    expectClose(vals(hinge(rows(t), rows(p))), want);
    const a = [
      [0.2, 0.8],
      [0.5, 0.5],
    ];
    const b = [
      [0.4, 0.6],
      [0.9, 0.1],
    ];
    const kl = a.map((r, i) => r.reduce((s, y, j) => s + y * Math.log(y / b[i][j]), 0));
    expectClose(vals(kld(rows(a), rows(b))), kl);
  });

  it('Loss objects reduce over the batch with sample weights (Keras: weighted sum / batch size)', () => {
    const t = rows([[1], [2], [3]]);
    const p = rows([[1.5], [2], [5]]);
    const per = [0.25, 0, 4];
    expect(new MeanSquaredError().call(t, p).item()).toBeCloseTo((0.25 + 0 + 4) / 3, 6);
    const w = tensor([2, 1, 0.5]);
    expect(new MeanSquaredError().call(t, p, w).item()).toBeCloseTo((per[0] * 2 + per[1] + per[2] * 0.5) / 3, 6);
    expect(new MeanSquaredError({ reduction: 'sum' }).call(t, p).item()).toBeCloseTo(4.25, 6);
    expect(new Huber({ delta: 0.5 }).call(t, p).item()).toBeCloseTo((0.125 + 0 + 0.5 * (2 - 0.25)) / 3, 6);
    expect(getLoss('mse').className).toBe('MeanSquaredError');
    expect(getLoss('binary_crossentropy').className).toBe('BinaryCrossentropy');
    expect(getLoss({ className: 'sparseCategoricalCrossentropy', fromLogits: true }).fromLogits).toBe(true);
    expect(new SparseCategoricalCrossentropy({ fromLogits: true }).getConfig()).toEqual({
      className: 'SparseCategoricalCrossentropy',
      config: { fromLogits: true },
    });
    expect(new BinaryCrossentropy().name).toBe('BinaryCrossentropy');
    expect(
      new CategoricalCrossentropy({ labelSmoothing: 0.1 }).call(rows([[0, 1]]), rows([[0.5, 0.5]])).item(),
    ).toBeCloseTo(Math.log(2), 5);
    expect(() => getLoss('nope')).toThrow(/unknown loss 'nope'/);
  });

  it('gradients match finite differences (float64)', () => {
    const p = randomTensor([3, 4], 1);
    const t = randomTensor([3, 4], 2);
    const probs = tensor(new Float64Array([0.2, 0.3, 0.1, 0.4, 0.25, 0.25, 0.25, 0.25, 0.7, 0.1, 0.1, 0.1]), {
      shape: [3, 4],
    });
    const onehot = tensor(new Float64Array([0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0]), { shape: [3, 4] });
    checkGrad((x) => meanSquaredError(t, x), [p]);
    checkGrad((x) => huber(t, x, 0.3), [p]);
    checkGrad(
      (x) =>
        binaryCrossentropy(tensor(new Float64Array([1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0]), { shape: [3, 4] }), x, {
          fromLogits: true,
        }),
      [p],
    );
    checkGrad((x) => categoricalCrossentropy(onehot, x, { fromLogits: true }), [p]);
    checkGrad((x) => categoricalCrossentropy(onehot, x), [probs]);
    checkGrad((x) => sparseCategoricalCrossentropy(tensor(new Int32Array([1, 3, 0])), x, { fromLogits: true }), [p]);
  });
});

describe('probability losses on values outside [0, 1] (logits passed without fromLogits)', () => {
  const labels = tensor(new Int32Array([0, 2]));
  // Each row's logits sum to 0: dividing by the row sum (the normalisation) used to give ±Inf → NaN.
  const zeroSum = tensor(new Float64Array([0.5, -0.5, 0.2, -0.2, 0.3, -0.1, -0.4, 0.2]), { shape: [2, 4] });

  it('clip to [ε, 1] before normalising, so the loss is finite (reference by hand)', async () => {
    const { compileSync } = await import('../../src/index.js');
    const got = compileSync((x: Tensor) => sparseCategoricalCrossentropy(labels, x))(zeroSum);
    // Row 0: clipped [0.5, ε, 0.2, ε], label 0 → −log(0.5 / (0.7 + 2ε)); row 1: [0.3, ε, ε, 0.2], label 2 → −log(ε / (0.5 + 2ε)).
    const want = [-Math.log(0.5 / (0.7 + 2 * EPS)), -Math.log(EPS / (0.5 + 2 * EPS))];
    expectClose(Array.from(got.data as Float64Array), want, 1e-9);
    const cat = compileSync((x: Tensor) =>
      categoricalCrossentropy(tensor(new Float64Array([1, 0, 0, 0, 0, 0, 1, 0]), { shape: [2, 4] }), x),
    )(zeroSum);
    expectClose(Array.from(cat.data as Float64Array), want, 1e-9);
  });

  it('gradients match finite differences, in range and where the clip is active (float64)', () => {
    const probs = tensor(new Float64Array([0.2, 0.3, 0.1, 0.4, 0.25, 0.25, 0.25, 0.25]), { shape: [2, 4] });
    checkGrad((x) => sparseCategoricalCrossentropy(labels, x), [probs]);
    checkGrad((x) => sparseCategoricalCrossentropy(labels, x), [zeroSum]);
    checkGrad(
      (x) => categoricalCrossentropy(tensor(new Float64Array([0, 1, 0, 0, 0, 0, 1, 0]), { shape: [2, 4] }), x),
      [zeroSum],
    );
    const targets = tensor(new Float64Array([1, 0, 1, 0, 0, 1, 1, 0]), { shape: [2, 4] });
    checkGrad((x) => binaryCrossentropy(targets, x), [probs]);
    checkGrad((x) => binaryCrossentropy(targets, x), [zeroSum]);
  });

  it('eager calls say "did you mean fromLogits: true?"', () => {
    const logitsT = rows(logits);
    expect(() => sparseCategoricalCrossentropy(tensor(new Int32Array([0, 2])), logitsT)).toThrow(
      /sparseCategoricalCrossentropy expects probabilities in \[0, 1\] \(fromLogits is false\) but got values in \[-2\.000, 3\.100\] — did you mean fromLogits: true\?/,
    );
    expect(() =>
      categoricalCrossentropy(
        rows([
          [1, 0, 0],
          [0, 0, 1],
        ]),
        logitsT,
      ),
    ).toThrow(/did you mean fromLogits: true\?/);
    expect(() => binaryCrossentropy(rows(yTrue), logitsT)).toThrow(/did you mean fromLogits: true\?/);
    expect(() =>
      sparseCategoricalCrossentropy(tensor(new Int32Array([0, 2])), logitsT, { fromLogits: true }),
    ).not.toThrow();
  });

  it("fit checks the model's outputs on the first batch", async () => {
    const { layers, sequential, randn, randint, setSeed } = await import('../../src/index.js');
    setSeed(1);
    const model = sequential([layers.Dense(3, { inputShape: [4] })]);
    model.compile({ optimizer: 'adam', loss: 'sparse_categorical_crossentropy' });
    await expect(model.fit(randn([16, 4], { std: 3 }), randint(0, 3, [16]), { epochs: 1, verbose: 0 })).rejects.toThrow(
      /fit: the model's outputs on the first batch: sparseCategoricalCrossentropy expects probabilities .* did you mean fromLogits: true\?/,
    );
    const ok = sequential([layers.Dense(3, { inputShape: [4], activation: 'softmax' })]);
    ok.compile({ optimizer: 'adam', loss: 'sparse_categorical_crossentropy' });
    await expect(ok.fit(randn([16, 4]), randint(0, 3, [16]), { epochs: 1, verbose: 0 })).resolves.toBeDefined();
  });
});
