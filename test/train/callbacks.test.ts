import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  Dataset,
  Dense,
  Module,
  SGD,
  type Tensor,
  Variable,
  add,
  input,
  matmul,
  model as functional,
  Concatenate,
  randn,
  sequential,
  setSeed,
  tensor,
  zeros,
} from '../../src/index.js';
import {
  CSVLogger,
  JSONLLogger,
  StepDecay,
  LambdaCallback,
  LearningRateScheduler,
  ModelCheckpoint,
  ReduceLROnPlateau,
  compileModel,
  fit,
  loadModel,
  predict,
} from '../../src/train/index.js';
import { tempDir } from '../helpers/temp.js';

const tmp = () => tempDir('lepton-cb-');

function regression(n: number, seed: number): [Tensor, Tensor] {
  setSeed(seed);
  const x = randn([n, 2]);
  const d = x.data as Float32Array;
  return [x, tensor(Array.from({ length: n }, (_, i) => [2 * d[2 * i] - d[2 * i + 1] + 0.5]))];
}

function linear(seed: number) {
  setSeed(seed);
  return sequential([input({ shape: [2] }), new Dense(1)]);
}

describe('callbacks', () => {
  it('LearningRateScheduler sets the rate each epoch; ReduceLROnPlateau cuts it when val_loss stalls', async () => {
    const [x, y] = regression(32, 1);
    const m = linear(2);
    const opt = new SGD({ learningRate: 0.1 });
    m.compile({ optimizer: opt, loss: 'mse' });
    const seen: number[] = [];
    const sched = new LearningRateScheduler((epoch) => 0.1 / (epoch + 1));
    const spy = new LambdaCallback({ onEpochBegin: () => void seen.push(opt.currentLearningRate()) });
    const h = await m.fit(x, y, { epochs: 3, batchSize: 32, callbacks: [sched, spy], verbose: 0 });
    expect(seen).toEqual([0.1, 0.05, 0.1 / 3]);
    expect(h.history.lr).toEqual(seen);

    const opt2 = new SGD({ learningRate: 0.1 });
    m.compile({ optimizer: opt2, loss: 'mse' });
    const fixed = new LambdaCallback({ onEpochEnd: (_e, logs) => void (logs.val_loss = 1) });
    const plateau = new ReduceLROnPlateau({ patience: 2, factor: 0.5 });
    const h2 = await m.fit(x, y, { epochs: 6, batchSize: 32, callbacks: [fixed, plateau], verbose: 0 });
    // epoch 0 sets the best; epochs 1, 2 do not improve → halve after epoch 2; again after epoch 4.
    expect(h2.history.lr).toEqual([0.1, 0.1, 0.1, 0.05, 0.05, 0.025]);
    expect(opt2.learningRate).toBe(0.025);
  });

  it('ModelCheckpoint (saveBestOnly), CSVLogger and JSONLLogger write their files', async () => {
    const [x, y] = regression(40, 3);
    const m = linear(4);
    m.compile({ optimizer: new SGD({ learningRate: 0.05 }), loss: 'mse', metrics: ['mae'] });
    const dir = tmp();
    const script = [3, 2, 2.5, 1];
    const inject = new LambdaCallback({ onEpochEnd: (e, logs) => void (logs.val_loss = script[e]) });
    const ckpt = new ModelCheckpoint(join(dir, 'ckpt-{epoch}'), { saveBestOnly: true });
    const csv = new CSVLogger(join(dir, 'log.csv'));
    const jsonl = new JSONLLogger(join(dir, 'log.jsonl'));
    await m.fit(x, y, { epochs: 4, batchSize: 8, callbacks: [inject, ckpt, csv, jsonl], verbose: 0 });
    expect(ckpt.saved.map((p) => p.slice(dir.length + 1))).toEqual(['ckpt-1', 'ckpt-2', 'ckpt-4']);
    expect(existsSync(join(dir, 'ckpt-3'))).toBe(false);
    const best = await loadModel(join(dir, 'ckpt-4'));
    expect(best.namedVariables().map(([, v]: [string, Tensor]) => Array.from(v.data as Float32Array))).toEqual(
      m.namedVariables().map(([, v]) => Array.from(v.data as Float32Array)),
    );
    const lines = readFileSync(join(dir, 'log.csv'), 'utf8').trim().split('\n');
    expect(lines[0]).toBe('epoch,loss,mae,val_loss');
    expect(lines.length).toBe(5);
    expect(lines[4].split(',')[3]).toBe('1');
    const records = readFileSync(join(dir, 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records.map((r) => r.epoch)).toEqual([0, 1, 2, 3]);
    expect(records[3]).toMatchObject({ event: 'epoch', val_loss: 1 });
    expect(typeof records[0].loss).toBe('number');
  });
});

describe('schedules, datasets and errors inside fit', () => {
  it('a learning-rate schedule is applied per step (lr 0 after the first step freezes the weights)', async () => {
    const [x, y] = regression(24, 10);
    const m = linear(11);
    m.compile({
      optimizer: new SGD({ learningRate: new StepDecay({ initial: 0.1, stepSize: 1, gamma: 0 }) }),
      loss: 'mse',
    });
    await m.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    const once = linear(11);
    once.compile({ optimizer: new SGD({ learningRate: 0.1 }), loss: 'mse' });
    await once.fit(takeFirst(x, 8), takeFirst(y, 8), { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    expect(m.namedVariables().map(([, v]) => Array.from(v.data as Float32Array))).toEqual(
      once.namedVariables().map(([, v]) => Array.from(v.data as Float32Array)),
    );
  });

  it('datasets of {x, y} elements work for training and validation', async () => {
    const [x, y] = regression(40, 12);
    const m = linear(13);
    m.compile({ optimizer: new SGD({ learningRate: 0.1 }), loss: 'mse', metrics: ['mae'] });
    const ds = Dataset.fromTensorSlices({ x, y }).batch(10);
    const h = await m.fit(ds, { epochs: 2, validationData: ds, verbose: 0 });
    expect(Object.keys(h.history).sort()).toEqual(['loss', 'mae', 'val_loss', 'val_mae']);
    const direct = await m.evaluate(x, y, { batchSize: 7 });
    expect(h.history.val_loss[1]).toBeCloseTo(direct.loss, 5);
  });

  it('clear errors: fit before compile, missing targets, bad batch size', async () => {
    const [x, y] = regression(8, 14);
    const m = linear(15);
    await expect(fit(m as any, x, y, { verbose: 0 })).rejects.toThrow(/compile the model first/);
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    await expect(m.fit(x, undefined, { verbose: 0 })).rejects.toThrow(/targets y are required/);
    await expect(m.fit(x, y, { batchSize: 0, verbose: 0 })).rejects.toThrow(/batchSize must be a positive integer/);
    await expect(m.fit(x, takeFirst(y, 4), { verbose: 0 })).rejects.toThrow(/same number of rows/);
  });
});

function takeFirst(t: Tensor, n: number): Tensor {
  const row = t.size / (t.shape[0] as number);
  return tensor((t.data as Float32Array).slice(0, n * row), { shape: [n, ...(t.shape.slice(1) as number[])] });
}

describe('other model kinds', () => {
  it('a PyTorch-style Module trains through compileModel/fit', async () => {
    class Linear extends Module {
      w = new Variable(zeros([2, 1]), { name: 'w' });
      b = new Variable(zeros([1]), { name: 'b' });
      override forward(x: Tensor): Tensor {
        return add(matmul(x, this.w), this.b);
      }
    }
    const [x, y] = regression(64, 5);
    const net = new Linear();
    compileModel(net as any, { optimizer: new SGD({ learningRate: 0.1 }), loss: 'mse' });
    const h = await fit(net as any, x, y, { epochs: 30, batchSize: 16, verbose: 0 });
    expect(h.history.loss[29]).toBeLessThan(1e-3);
    expect(Array.from(net.w.data as Float32Array)).toEqual([expect.closeTo(2, 1), expect.closeTo(-1, 1)]);
    expect(net.b.item()).toBeCloseTo(0.5, 1);
    const p = await predict(net as any, x);
    expect(p.shape).toEqual([64, 1]);
  });

  it('a functional model with two inputs (given as a record) trains and predicts', async () => {
    setSeed(6);
    const a = input({ shape: [1], name: 'a' });
    const b = input({ shape: [1], name: 'b' });
    const out = new Dense(1).apply(new Concatenate().apply([a, b]));
    const m = functional({ inputs: { a, b }, outputs: out });
    const [x, y] = regression(48, 7);
    const d = x.data as Float32Array;
    const xa = tensor(Array.from({ length: 48 }, (_, i) => [d[2 * i]]));
    const xb = tensor(Array.from({ length: 48 }, (_, i) => [d[2 * i + 1]]));
    m.compile({ optimizer: new SGD({ learningRate: 0.1 }), loss: 'mse' });
    const h = await m.fit({ a: xa, b: xb }, y, { epochs: 30, batchSize: 16, verbose: 0 });
    expect(h.history.loss[29]).toBeLessThan(1e-3);
    const p = await m.predict({ b: xb, a: xa });
    (p.data as Float32Array).forEach((v, i) => expect(v).toBeCloseTo((y.data as Float32Array)[i], 1));
  });

  it('a two-output functional model: per-output losses, weights, metrics, targets by name, predict structure', async () => {
    setSeed(20);
    const inp = input({ shape: [2], name: 'x' });
    const hidden = new Dense(8, { activation: 'tanh' }).apply(inp);
    const value = new Dense(1, { name: 'value' }).apply(hidden);
    const cls = new Dense(2, { name: 'cls' }).apply(hidden);
    const m = functional({ inputs: inp, outputs: { value, cls } });
    const [x, y] = regression(40, 21);
    const labels = tensor(Int32Array.from(y.data as Float32Array, (v) => (v > 0.5 ? 1 : 0)));
    m.compile({
      optimizer: new SGD({ learningRate: 0 }),
      loss: { value: 'mse', cls: { className: 'sparseCategoricalCrossentropy', fromLogits: true } },
      lossWeights: { value: 0.5, cls: 2 },
      metrics: { cls: ['accuracy'] },
    });
    const h = await m.fit(x, { value: y, cls: labels }, { epochs: 1, batchSize: 40, verbose: 0 });
    expect(Object.keys(h.history).sort()).toEqual(['cls_accuracy', 'cls_loss', 'loss', 'value_loss']);
    expect(h.history.loss[0]).toBeCloseTo(0.5 * h.history.value_loss[0] + 2 * h.history.cls_loss[0], 5);
    const out = await m.predict(x, { batchSize: 16 });
    expect(Object.keys(out)).toEqual(['value', 'cls']);
    expect(out.value.shape).toEqual([40, 1]);
    expect(out.cls.shape).toEqual([40, 2]);
    const d = out.value.data as Float32Array;
    let mse = 0;
    for (let i = 0; i < 40; i++) mse += (d[i] - (y.data as Float32Array)[i]) ** 2;
    expect(h.history.value_loss[0]).toBeCloseTo(mse / 40, 5);
    const c = out.cls.data as Float32Array;
    let correct = 0;
    for (let i = 0; i < 40; i++)
      correct += Number((c[2 * i + 1] > c[2 * i] ? 1 : 0) === (labels.data as Int32Array)[i]);
    expect(h.history.cls_accuracy[0]).toBeCloseTo(correct / 40, 10);
    const dir = join(tmp(), 'two');
    await m.save(dir);
    const back = await loadModel(dir);
    const again = await back.evaluate(x, { value: y, cls: labels }, { batchSize: 40 });
    expect(again.loss).toBeCloseTo(h.history.loss[0], 5);
  });

  it('weight regularization is part of the training loss', async () => {
    const [x, y] = regression(16, 8);
    setSeed(9);
    const m = sequential([input({ shape: [2] }), new Dense(1, { kernelRegularizer: 'l2' })]);
    m.compile({ optimizer: new SGD({ learningRate: 0 }), loss: 'mse' });
    const h = await m.fit(x, y, { epochs: 1, batchSize: 16, verbose: 0 });
    const [k, bias] = m.namedVariables().map(([, v]) => v.data as Float32Array);
    const d = x.data as Float32Array;
    let mse = 0;
    for (let i = 0; i < 16; i++)
      mse += (d[2 * i] * k[0] + d[2 * i + 1] * k[1] + bias[0] - (y.data as Float32Array)[i]) ** 2;
    expect(h.history.loss[0]).toBeCloseTo(mse / 16 + 0.01 * (k[0] ** 2 + k[1] ** 2), 5);
  });
});
