/**
 * The optimizer kernels the training worker applies in place (src/engine/runtime/kernels.wat):
 * the committed WebAssembly is the .wat's, the Adam kernel reproduces PyTorch's updates (the
 * fixtures of scripts/make-optimizer-fixtures.py) through the worker's state, and `fit` with the
 * kernel ends with the same bits as `fit` with the update inside the graph.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { compileKernels } from '../../scripts/build-kernels.js';
import {
  Dense,
  Embedding,
  GlobalAveragePooling1D,
  type Tensor,
  input,
  identity,
  randn,
  sequential,
  setSeed,
  tensor,
} from '../../src/index.js';
import { getWorker } from '../../src/engine/runtime/pool.js';
import { type CompileState, GraphBuilder, getOptimizer } from '../../src/train/index.js';
import { expectPyTorchStep, optimizerCases } from '../helpers/optimizer-fixtures.js';

describe('optimizer kernels', () => {
  it('kernels-wasm.js holds the bytes of kernels.wat (run npm run build:kernels after editing it)', async () => {
    const modulePath = '../../src/engine/runtime/kernels-wasm.js'; // plain JS, no declarations
    const { kernelsWasmBase64 } = (await import(modulePath)) as { kernelsWasmBase64: string };
    expect(kernelsWasmBase64).toBe(await compileKernels());
  });

  // Clipping happens in the graph before the kernel (the fit tests below cover it).
  const withKernel = optimizerCases.filter(
    (c) =>
      c.options.clipValue === undefined &&
      c.options.clipNorm === undefined &&
      getOptimizer({ className: c.className, config: c.options }).kernelUpdate({ stepSize: 1, bc2Sqrt: 1, decay: 1 }),
  );
  it('covers the Adam and AdamW fixtures without amsgrad', () => {
    expect(withKernel.map((c) => c.className).sort()).toEqual(['Adam', 'Adam', 'AdamW']);
  });

  for (const c of withKernel) {
    it(`matches PyTorch in the worker's state: ${c.name}`, async () => {
      const opt = getOptimizer({ className: c.className, config: c.options });
      // A graph that hands the fed gradients back as its outputs: the worker then updates in place.
      const b = new GraphBuilder();
      const feeds = c.shapes.map((s, i) => b.feed(`g${i}`, s, 'float32'));
      const program = b.build(b.run(() => feeds.map((g, i): [string, Tensor] => [`out${i}`, identity(g)])));
      const key = `kernel-test/${c.name}`;
      program.kernelItems = c.shapes.map((_, i) => ({
        param: `${key}/p${i}`,
        grad: program.outputName(`out${i}`),
        slots: [`${key}/m${i}`, `${key}/v${i}`],
      }));
      const worker = getWorker();
      const zeros = (s: number[]) => ({
        dtype: 'float32' as const,
        shape: s,
        data: new Float32Array(s.reduce((a, d) => a * d, 1)),
      });
      await worker.setState(
        Object.fromEntries(
          c.shapes.flatMap((s, i) => [
            [`${key}/p${i}`, { dtype: 'float32' as const, shape: s, data: new Float32Array(c.initial[i]) }],
            [`${key}/m${i}`, zeros(s)],
            [`${key}/v${i}`, zeros(s)],
          ]),
        ),
      );
      const loaded = await program.load(worker);
      try {
        for (let step = 0; step < c.grads.length; step++) {
          const update = opt.kernelUpdate(opt.hostScalars(step + 1, opt.currentLearningRate()))!;
          const gradFeeds = Object.fromEntries(
            c.grads[step].map((g, i) => [
              `g${i}`,
              { dtype: 'float32' as const, shape: c.shapes[i], data: new Float32Array(g) },
            ]),
          );
          await loaded.run(gradFeeds, [], { update });
          opt.iterations++;
          const got = await worker.getState(c.shapes.map((_, i) => `${key}/p${i}`));
          c.shapes.forEach((_, i) => expectPyTorchStep(c, step, i, got[`${key}/p${i}`].data as Float32Array));
        }
      } finally {
        await loaded.release();
        await worker.deleteState(c.shapes.flatMap((_, i) => [`${key}/p${i}`, `${key}/m${i}`, `${key}/v${i}`]));
      }
    });
  }
});

describe('fit with the in-place Adam kernel', () => {
  afterEach(() => {
    delete process.env.LEPTON_OPTIMIZER_KERNELS;
  });

  /** Weights and optimizer slots after a few epochs of fit (sizes with a tail after the last 4-float block). */
  async function train(kernels: boolean, optimizer: Record<string, unknown>): Promise<Float32Array[]> {
    process.env.LEPTON_OPTIMIZER_KERNELS = kernels ? '1' : '0';
    setSeed(7);
    const model = sequential([
      input({ shape: [5] }),
      new Dense(7, { activation: 'relu' }),
      new Dense(3, { activation: 'softmax' }),
    ]);
    model.compile({ optimizer: getOptimizer(optimizer as never), loss: 'sparseCategoricalCrossentropy' });
    const x = randn([24, 5]);
    const y = tensor(Int32Array.from({ length: 24 }, (_, i) => i % 3));
    await model.fit(x, y, { epochs: 3, batchSize: 8, shuffle: false, verbose: 0 });
    const state = model.compileState as CompileState;
    const slots = model
      .trainableParameters()
      .flatMap((v) => state.optimizer.slotsFor(v).map((s) => s.data as Float32Array));
    return [...model.namedVariables().map(([, v]) => v.data as Float32Array), ...slots];
  }

  /**
   * Weights after fits on sequences of growing lengths: a train graph per length, each with its own
   * gradient blocks, whose allocation grows the kernels' memory between runs (the weights fed to the
   * next run must be views made after that growth).
   */
  async function trainLengths(kernels: boolean): Promise<Float32Array[]> {
    process.env.LEPTON_OPTIMIZER_KERNELS = kernels ? '1' : '0';
    setSeed(3);
    const model = sequential([
      input({ shape: [null], dtype: 'int32' }),
      new Embedding(3000, 48),
      new GlobalAveragePooling1D(),
      new Dense(4, { activation: 'softmax' }),
    ]);
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
    for (const length of [5, 9, 13, 17]) {
      const x = tensor(
        Int32Array.from({ length: 16 * length }, (_, i) => (i * 7919 + length) % 3000),
        {
          shape: [16, length],
        },
      );
      const y = tensor(Int32Array.from({ length: 16 }, (_, i) => i % 4));
      await model.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    }
    return model.namedVariables().map(([, v]) => v.data as Float32Array);
  }

  it('trains graphs of several lengths whose gradient blocks grow the kernel memory, as the graph update does', async () => {
    const graph = await trainLengths(false);
    const kernel = await trainLengths(true);
    kernel.forEach((k, i) => expect(Array.from(k)).toEqual(Array.from(graph[i])));
  });

  for (const optimizer of [
    { className: 'Adam', config: { learningRate: 0.01 } },
    { className: 'Adam', config: { learningRate: 0.02, weightDecay: 0.1, clipNorm: 0.5 } },
    { className: 'AdamW', config: { learningRate: 0.01, weightDecay: 0.3 } },
  ]) {
    it(`ends with the graph update's weights and slots, bit for bit: ${JSON.stringify(optimizer)}`, async () => {
      const graph = await train(false, optimizer);
      const kernel = await train(true, optimizer);
      expect(kernel.length).toBe(graph.length);
      kernel.forEach((k, i) => expect(Array.from(k)).toEqual(Array.from(graph[i])));
      // The weights moved (the comparison is not between two untouched models).
      expect(graph.slice(-4).some((s) => s.some((v) => v !== 0))).toBe(true);
    });
  }
});
