import { describe, expect, it } from 'vitest';
import {
  Adagrad,
  AdamW,
  type Optimizer,
  RMSprop,
  BatchNormalization,
  Dataset,
  Dense,
  type KerasTensor,
  type Layer,
  Dropout,
  SGD,
  Adam,
  type Tensor,
  Variable,
  add,
  input,
  matmul,
  mean,
  randn,
  sequential,
  setSeed,
  tanh,
  tensor,
  valueAndGrad,
  mul,
  sub,
  sum,
  exp,
  log,
} from '../../src/index.js';
import { EarlyStopping, LambdaCallback, type Logs, evaluate, fit, predict } from '../../src/train/index.js';

/** Points labelled by the sign of x0·x1 (XOR of the signs): not linearly separable. */
function xorData(n: number, seed: number): [Tensor, Tensor] {
  setSeed(seed);
  const x = randn([n, 2]);
  const d = x.data as Float32Array;
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) y[i] = d[2 * i] * d[2 * i + 1] > 0 ? 1 : 0;
  return [x, tensor(y)];
}

function mlp(seed: number, extra: 'none' | 'dropout' | 'batchnorm' = 'none') {
  setSeed(seed);
  const layers: (Layer | KerasTensor)[] = [input({ shape: [2] }), new Dense(16, { activation: 'tanh' })];
  if (extra === 'dropout') layers.push(new Dropout(0.2));
  if (extra === 'batchnorm') layers.push(new BatchNormalization());
  layers.push(new Dense(2));
  return sequential(layers);
}

const sce = { className: 'sparseCategoricalCrossentropy', fromLogits: true };

describe('fit / evaluate / predict', () => {
  it('a small MLP learns XOR to high accuracy', async () => {
    const [x, y] = xorData(400, 1);
    const model = mlp(2);
    model.compile({ optimizer: new Adam({ learningRate: 0.03 }), loss: sce, metrics: ['accuracy'] });
    const history = await model.fit(x, y, { epochs: 40, batchSize: 32, verbose: 0 });
    expect(history.history.loss.length).toBe(40);
    expect(history.history.loss[39]).toBeLessThan(history.history.loss[0]);
    expect(history.history.accuracy[39]).toBeGreaterThan(0.93);
    const result = await model.evaluate(x, y, { verbose: 0 });
    expect(result.accuracy).toBeGreaterThan(0.93);
  });

  const optimizerCases: [string, () => Optimizer][] = [
    ['SGD with momentum', () => new SGD({ learningRate: 0.1, momentum: 0.9 })],
    ['Adam with global-norm clipping', () => new Adam({ learningRate: 0.05, clipNorm: 0.1 })],
    ['AdamW with value clipping', () => new AdamW({ learningRate: 0.05, clipValue: 0.01 })],
    ['centered RMSprop with momentum', () => new RMSprop({ learningRate: 0.01, momentum: 0.5, centered: true })],
    ['Adagrad', () => new Adagrad({ learningRate: 0.1 })],
  ];
  for (const [label, makeOptimizer] of optimizerCases) {
    it(`train steps in the worker graph equal valueAndGrad + optimizer.step (${label})`, async () => {
      const [x, y] = xorData(24, 3);
      const model = mlp(4);
      const [w1, b1, w2, b2] = model.namedVariables().map(([, v]) => v.value());
      expect(model.namedVariables().map(([n]) => n)).toEqual([
        'layers.0.kernel',
        'layers.0.bias',
        'layers.1.kernel',
        'layers.1.bias',
      ]);
      model.compile({ optimizer: makeOptimizer(), loss: sce });
      // Three epochs of one full batch each: first and later optimizer steps.
      await model.fit(x, y, { epochs: 3, batchSize: 24, shuffle: false, verbose: 0 });

      // Reference: the same network written out by hand, cross entropy with an explicit log-sum-exp.
      const labels = y.data as Int32Array;
      const onehot = tensor(Array.from(labels, (l) => [l === 0 ? 1 : 0, l === 1 ? 1 : 0]));
      const lossFn = (p: Tensor[]) => {
        const h = tanh(add(matmul(x, p[0]), p[1]));
        const z = add(matmul(h, p[2]), p[3]);
        // mean over rows of logsumexp(z) - z[label] (logits are small here: no max shift needed)
        return sub(mean(log(sum(exp(z), -1))), mean(sum(mul(onehot, z), -1)));
      };
      const params = [w1, b1, w2, b2].map((t, i) => new Variable(t, { name: `p${i}` }));
      const opt = makeOptimizer();
      for (let step = 0; step < 3; step++) {
        const [, grads] = valueAndGrad(lossFn)(params.map((p) => p.value()));
        opt.step(params, grads as Tensor[]);
      }
      model.namedVariables().forEach(([, v], i) => {
        const got = v.data as Float32Array;
        const want = params[i].data as Float32Array;
        want.forEach((w, k) => expect(Math.abs(got[k] - w)).toBeLessThan(2e-5 * Math.max(1, Math.abs(w))));
      });
    });
  }

  it("batch arrays move to the worker, the caller's data stays intact (fit, evaluate, predict)", async () => {
    const [x, y] = xorData(100, 3);
    const xCopy = (x.data as Float32Array).slice();
    const yCopy = (y.data as Int32Array).slice();
    const model = mlp(4);
    model.compile({ optimizer: 'adam', loss: sce });
    await model.fit(x, y, { epochs: 2, batchSize: 100, shuffle: false, verbose: 0 });
    await model.evaluate(x, y, { batchSize: 100, verbose: 0 });
    const p = (await model.predict(x, { batchSize: 100 })) as Tensor;
    expect(x.data.length).toBe(200);
    expect(Array.from(x.data as Float32Array)).toEqual(Array.from(xCopy));
    expect(Array.from(y.data as Int32Array)).toEqual(Array.from(yCopy));
    // One batch holding every row is the case where a view would span the whole caller buffer.
    const again = (await model.predict(x, { batchSize: 100 })) as Tensor;
    expect(Array.from(again.data as Float32Array)).toEqual(Array.from(p.data as Float32Array));
  });

  it('setSeed makes two runs (init, shuffling, dropout) identical', async () => {
    const run = async () => {
      const [x, y] = xorData(96, 5);
      const model = mlp(6, 'dropout');
      model.compile({ optimizer: 'adam', loss: sce, metrics: ['accuracy'] });
      setSeed(7);
      const h = await model.fit(x, y, { epochs: 3, batchSize: 16, verbose: 0 });
      return [...h.history.loss, ...model.namedVariables().flatMap(([, v]) => Array.from(v.data as Float32Array))];
    };
    const a = await run();
    const b = await run();
    expect(a).toEqual(b);
  });

  it('a NaN loss stops training with an error naming the epoch and step', async () => {
    const [x, y] = xorData(64, 8);
    const d = new Float32Array(x.data as Float32Array);
    d[2 * 37] = NaN; // row 37 is in the third batch (rows 32..47) without shuffling
    const bad = tensor(d, { shape: [64, 2] });
    const model = mlp(9);
    model.compile({ optimizer: 'sgd', loss: sce });
    await expect(model.fit(bad, y, { epochs: 2, batchSize: 16, shuffle: false, verbose: 0 })).rejects.toThrow(
      /loss became NaN at epoch 1, step 3/,
    );
  });

  it('callbacks run in Keras order with validation logs', async () => {
    const [x, y] = xorData(40, 10);
    const model = mlp(11);
    model.compile({ optimizer: 'adam', loss: sce, metrics: ['accuracy'] });
    const events: string[] = [];
    const cb = new LambdaCallback({
      onTrainBegin: () => void events.push('trainBegin'),
      onEpochBegin: (e) => void events.push(`epochBegin ${e}`),
      onBatchBegin: (b) => void events.push(`batchBegin ${b}`),
      onBatchEnd: (b, logs) => void events.push(`batchEnd ${b} ${'loss' in logs && 'accuracy' in logs}`),
      onEpochEnd: (e, logs) => void events.push(`epochEnd ${e} ${Object.keys(logs).sort().join(',')}`),
      onTrainEnd: () => void events.push('trainEnd'),
    });
    await model.fit(x, y, { epochs: 2, batchSize: 16, validationSplit: 0.2, callbacks: [cb], verbose: 0 });
    const epoch = (e: number) => [
      `epochBegin ${e}`,
      'batchBegin 0',
      'batchEnd 0 true',
      'batchBegin 1',
      'batchEnd 1 true',
      `epochEnd ${e} accuracy,loss,val_accuracy,val_loss`,
    ];
    expect(events).toEqual(['trainBegin', ...epoch(0), ...epoch(1), 'trainEnd']);
  });

  it('EarlyStopping stops after `patience` epochs without improvement and restores the best weights', async () => {
    const [x, y] = xorData(32, 12);
    const model = mlp(13);
    model.compile({ optimizer: 'adam', loss: sce });
    const script = [1, 0.5, 0.6, 0.7, 0.4, 0.3];
    let atBest: number[] = [];
    const inject = new LambdaCallback({
      onEpochEnd: (e: number, logs: Logs) => {
        logs.val_loss = script[e];
        if (e === 1) atBest = model.namedVariables().flatMap(([, v]) => Array.from(v.data as Float32Array));
      },
    });
    const stopper = new EarlyStopping({ monitor: 'val_loss', patience: 2, restoreBestWeights: true });
    const h = await model.fit(x, y, { epochs: 6, batchSize: 8, callbacks: [inject, stopper], verbose: 0 });
    expect(h.history.loss.length).toBe(4);
    expect(stopper.stoppedEpoch).toBe(3);
    expect(model.namedVariables().flatMap(([, v]) => Array.from(v.data as Float32Array))).toEqual(atBest);
  });

  it('classWeight equals the matching per-sample weights; evaluate/predict match eager inference', async () => {
    const [x, y] = xorData(48, 14);
    const model = mlp(15);
    model.compile({ optimizer: new SGD({ learningRate: 0 }), loss: sce });
    const h = await model.fit(x, y, { epochs: 1, batchSize: 48, classWeight: { 0: 2, 1: 0.5 }, verbose: 0 });
    const weights = tensor(Array.from(y.data as Int32Array, (c) => (c === 0 ? 2 : 0.5)));
    const weighted = await evaluate(model as any, x, y, { sampleWeight: weights, batchSize: 10 });
    expect(h.history.loss[0]).toBeCloseTo(weighted.loss, 5);
    const plain = await evaluate(model as any, x, y, { batchSize: 48 });
    expect(Math.abs(plain.loss - weighted.loss)).toBeGreaterThan(1e-4);

    const p = await predict(model as any, x, { batchSize: 20 });
    const eager = model.apply(x) as Tensor;
    expect(p.shape).toEqual([48, 2]);
    (p.data as Float32Array).forEach((v, i) => expect(v).toBeCloseTo((eager.data as Float32Array)[i], 5));
  });

  it('accepts a Dataset of [x, y] batches (same result as tensors without shuffling)', async () => {
    const [x, y] = xorData(50, 16);
    const a = mlp(17);
    a.compile({ optimizer: new SGD({ learningRate: 0.1 }), loss: sce });
    const ha = await a.fit(x, y, { epochs: 2, batchSize: 16, shuffle: false, verbose: 0 });
    const b = mlp(17);
    b.compile({ optimizer: new SGD({ learningRate: 0.1 }), loss: sce });
    const hb = await fit(b as any, Dataset.fromTensors(x, y).batch(16), { epochs: 2, verbose: 0 });
    expect(hb.history.loss).toEqual(ha.history.loss);
  });

  it('frozen layers keep their weights; unfreezing between fits trains them again', async () => {
    const [x, y] = xorData(32, 20);
    const model = mlp(21);
    model.compile({ optimizer: new SGD({ learningRate: 0.5 }), loss: sce });
    const first = model.layers[0];
    first.trainable = false;
    const snapshot = () => model.namedVariables().map(([, v]) => Array.from(v.data as Float32Array));
    const before = snapshot();
    await model.fit(x, y, { epochs: 1, batchSize: 16, verbose: 0 });
    const mid = snapshot();
    expect(mid.slice(0, 2)).toEqual(before.slice(0, 2));
    expect(mid.slice(2)).not.toEqual(before.slice(2));
    first.trainable = true;
    await model.fit(x, y, { epochs: 1, batchSize: 16, verbose: 0 });
    expect(snapshot().slice(0, 2)).not.toEqual(mid.slice(0, 2));
  });

  it('BatchNormalization moving statistics are updated by the train-step graph', async () => {
    const [x, y] = xorData(64, 18);
    const model = mlp(19, 'batchnorm');
    model.compile({ optimizer: 'adam', loss: sce });
    const stats = () => model.namedBuffers().flatMap(([, v]) => Array.from(v.data as Float32Array));
    const before = stats();
    expect(before.length).toBeGreaterThan(0);
    await model.fit(x, y, { epochs: 1, batchSize: 32, verbose: 0 });
    const after = stats();
    expect(after).not.toEqual(before);
    expect(after.every(Number.isFinite)).toBe(true);
  });
});
