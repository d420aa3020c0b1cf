import { afterAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Dense,
  Module,
  type Tensor,
  Variable,
  add,
  input,
  matmul,
  randn,
  sequential,
  setSeed,
  shutdownWorkers,
  tensor,
  zeros,
} from '../../src/index.js';
import { SGD, addDefaultCallback, compileModel, evaluate, fit, loadModel, predict } from '../../src/train/index.js';
import { checkOptions } from '../../src/engine/options.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await shutdownWorkers();
});

function data(n: number, seed: number): [Tensor, Tensor] {
  setSeed(seed);
  const x = randn([n, 2]);
  const d = x.data as Float32Array;
  return [x, tensor(Array.from({ length: n }, (_, i) => [2 * d[2 * i] - d[2 * i + 1] + 0.5]))];
}

function compiledModel() {
  setSeed(1);
  const m = sequential([input({ shape: [2] }), new Dense(1)]);
  m.compile({ optimizer: new SGD({ learningRate: 0.1 }), loss: 'mse' });
  return m;
}

describe('checkOptions', () => {
  it('names the call, the unknown key and the closest known key', () => {
    expect(() => checkOptions('fit', { epoch: 3 }, ['epochs', 'batchSize'])).toThrow(
      "fit: unknown option 'epoch' — did you mean 'epochs'?",
    );
    expect(() => checkOptions('fit', { batch_size: 3 }, ['epochs', 'batchSize'])).toThrow(/did you mean 'batchSize'\?/);
    // Nothing close: no suggestion, but the list of options.
    expect(() => checkOptions('fit', { colour: 'red' }, ['epochs', 'batchSize'])).toThrow(
      "fit: unknown option 'colour' (options: epochs, batchSize)",
    );
    expect(() => checkOptions('fit', [1] as unknown as object, ['epochs'])).toThrow(
      /options must be an object, got an array/,
    );
  });

  it('accepts known keys, undefined values and missing options', () => {
    expect(() => checkOptions('fit', { epochs: 1, batchSize: undefined }, ['epochs'])).not.toThrow();
    expect(() => checkOptions('fit', undefined, ['epochs'])).not.toThrow();
  });
});

describe('the training API rejects unknown options (compile time and run time)', () => {
  it('fit / evaluate / predict / compile', async () => {
    const m = compiledModel();
    const [x, y] = data(8, 2);
    // @ts-expect-error 'epoch' is not a FitOptions key (TypeScript's excess-property check)
    await expect(m.fit(x, y, { epoch: 3, verbose: 0 })).rejects.toThrow(
      "fit: unknown option 'epoch' — did you mean 'epochs'?",
    );
    // @ts-expect-error 'batchsize' is not an EvaluateOptions key
    await expect(m.evaluate(x, y, { batchsize: 4, verbose: 0 })).rejects.toThrow(
      /evaluate: unknown option 'batchsize' — did you mean 'batchSize'\?/,
    );
    // @ts-expect-error 'verbos' is not a PredictOptions key
    await expect(m.predict(x, { verbos: 0 })).rejects.toThrow(
      /predict: unknown option 'verbos' — did you mean 'verbose'\?/,
    );
    // @ts-expect-error 'metric' is not a compile option
    expect(() => m.compile({ loss: 'mse', metric: ['mae'] })).toThrow(
      /compile: unknown option 'metric' — did you mean 'metrics'\?/,
    );
    // The same through the functions.
    await expect(fit(m, x, y, { epochs: 1, verbose: 0, shufle: false } as never)).rejects.toThrow(
      /did you mean 'shuffle'\?/,
    );
    // @ts-expect-error verbose is 0, 1 or 2
    await expect(m.evaluate(x, y, { verbose: 3 })).rejects.toThrow(
      /verbose must be 0 \(silent\), 1 \(progress bar\) or 2 \(one line\), got 3/,
    );
  });

  it('save / loadModel', async () => {
    const m = compiledModel();
    const dir = mkdtempSync(join(tmpdir(), 'lepton-options-'));
    dirs.push(dir);
    // @ts-expect-error 'label' is not a SaveOptions key
    await expect(m.save(join(dir, 'm'), { label: ['a'] })).rejects.toThrow(
      /save: unknown option 'label' — did you mean 'labels'\?/,
    );
    await m.save(join(dir, 'm'), { inputs: [{ name: 'x', shape: [null, 2], dtype: 'float32' }] });
    // @ts-expect-error 'restoreRandom' is not a LoadOptions key
    await expect(loadModel(join(dir, 'm'), { restoreRandom: true })).rejects.toThrow(
      /loadModel: unknown option 'restoreRandom' — did you mean 'restoreRandomState'\?/,
    );
    const loaded = await loadModel(join(dir, 'm'));
    // loadModel gives a typed Model: the training API is there without casts.
    const [x, y] = data(8, 3);
    const result = await loaded.evaluate(x, y, { verbose: 0 });
    expect(Number.isFinite(result.loss)).toBe(true);
  });
});

describe('typed results and verbose output', () => {
  it('evaluate/predict with verbose 2 print one Keras-style summary line; verbose 0 prints nothing', async () => {
    const m = compiledModel();
    const [x, y] = data(10, 4);
    const lines: string[] = [];
    const spy = vi
      .spyOn(process.stderr, 'write')
      .mockImplementation((chunk: string | Uint8Array) => (lines.push(String(chunk)), true));
    try {
      const { loss } = await m.evaluate(x, y, { batchSize: 4, verbose: 2 });
      // Three batches (4 + 4 + 2 rows): "3/3 - <time> - <n>ms/step - loss: <loss with 4 decimals>".
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^3/3 - [0-9.]+s - \\d+ms/step - loss: ${loss.toFixed(4)}\\n$`));
      lines.length = 0;
      await m.predict(x, { batchSize: 5, verbose: 2 });
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^2\/2 - [0-9.]+s - \d+ms\/step\n$/);
      lines.length = 0;
      await m.evaluate(x, y, { verbose: 0 });
      await m.predict(x, { verbose: 0 });
      expect(lines).toEqual([]);
    } finally {
      spy.mockRestore();
    }
  });

  it('a PyTorch-style Module compiles and fits without casts', async () => {
    class Affine extends Module {
      w = new Variable(zeros([2, 1]));
      b = new Variable(zeros([1]));
      override forward(x: Tensor): Tensor {
        return add(matmul(x, this.w), this.b);
      }
    }
    const net = new Affine();
    compileModel(net, { optimizer: new SGD({ learningRate: 0.1 }), loss: 'mse' });
    const [x, y] = data(32, 5);
    const history = await fit(net, x, y, { epochs: 20, batchSize: 8, verbose: 0 });
    // The data is y = 2 x0 - x1 + 0.5: the fitted weights approach it and the loss falls.
    expect(history.history.loss[19]).toBeLessThan(history.history.loss[0]);
    expect(Array.from(net.w.data as Float32Array)).toEqual([expect.closeTo(2, 1), expect.closeTo(-1, 1)]);
    expect((await evaluate(net, x, y, { verbose: 0 })).loss).toBeLessThan(history.history.loss[0]);
    expect((await predict<Tensor>(net, x)).shape).toEqual([32, 1]);
  });

  it('default callbacks (how lepton train tracks runs) join every fit until removed, and hear about failures', async () => {
    const m = compiledModel();
    const [x, y] = data(8, 6);
    const events: string[] = [];
    const remove = addDefaultCallback((params) => ({
      onTrainBegin: () => void events.push(`begin ${params.epochs}`),
      onTrainEnd: () => void events.push('end'),
      onTrainError: (e) => void events.push(`error ${(e as Error).message.slice(0, 14)}`),
    }));
    try {
      await m.fit(x, y, { epochs: 2, verbose: 0 });
      const bad = tensor(Array.from({ length: 8 }, () => [Number.NaN]));
      await expect(m.fit(x, bad, { epochs: 1, verbose: 0 })).rejects.toThrow(/loss became NaN/);
    } finally {
      remove();
    }
    await m.fit(x, y, { epochs: 1, verbose: 0 });
    expect(events).toEqual(['begin 2', 'end', 'begin 1', 'error fit: the loss ']);
  });
});
