import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  Conv2D,
  Dense,
  Flatten,
  MaxPooling2D,
  Tensor,
  TracedProgram,
  Variable,
  add,
  broadcastTo,
  compile,
  compileSync,
  input,
  matmul,
  reshape,
  sequential,
  SparseCategoricalCrossentropy,
  sum,
  tensor,
  toOnnx,
  randn,
  mul,
} from '../../src/index.js';
import { decodeModel } from '../../src/engine/onnx/proto.js';
import { tempDir } from '../helpers/temp.js';

describe('toOnnx and symbolic batch', () => {
  it('a written model runs in plain onnxruntime-node with identical outputs', async () => {
    const w = new Variable(randn([4, 3]), { name: 'dense.kernel' });
    const b = new Variable(randn([3]), { name: 'dense.bias' });
    const f = (x: ReturnType<typeof tensor>) => add(matmul(x, w), b);
    const dir = tempDir('lepton-export-');
    const path = join(dir, 'model.onnx');
    await toOnnx(f, [{ shape: ['batch', 4], name: 'features' }], { path, outputNames: ['logits'] });
    const session = await ort.InferenceSession.create(readFileSync(path));
    expect(session.inputNames).toEqual(['features']);
    expect(session.outputNames).toEqual(['logits']);
    for (const n of [1, 5]) {
      const x = randn([n, 4]);
      const out = await session.run({ features: new ort.Tensor('float32', x.data as Float32Array, [n, 4]) });
      expect(out.logits.dims).toEqual([n, 3]);
      // ORT may fuse MatMul+Add into one Gemm when the weights are baked in: equal up to float32 rounding.
      const expected = f(x).data as Float32Array;
      (out.logits.data as Float32Array).forEach((v, i) =>
        expect(Math.abs(v - expected[i])).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(expected[i]))),
      );
    }
  });

  it('one compiled graph with a symbolic batch serves batch 1, 8 and 64', async () => {
    const w = new Variable(randn([6, 2]));
    const f = compile((x) => sum(reshape(matmul(reshape(x, ['batch', -1]), w), [-1]), 0), { symbolicBatch: true });
    for (const n of [1, 8, 64]) {
      const x = randn([n, 2, 3]);
      const expected = sum(reshape(matmul(reshape(x, [n, 6]), w), [-1]), 0).item();
      expect((await f(x)).item()).toBeCloseTo(expected, 4);
    }
    expect(f.programs.size).toBe(1);
  });

  it('per-signature tracing caches one program per input shape', async () => {
    const f = compile((x) => mul(x, 2));
    await f(tensor([1, 2]));
    await f(tensor([3, 4]));
    await f(tensor([1, 2, 3]));
    expect(f.programs.size).toBe(2);
  });

  it('ops on concrete tensors with a symbolic result shape join the trace (broadcast a bias to the batch)', async () => {
    const bias = tensor([1, 2, 3, 4]);
    const f = compile((x) => add(x, broadcastTo(bias, [x.shape[0], 4])), { symbolicBatch: true });
    for (const n of [2, 3]) {
      const out = (await f(randn([n, 4]))).shape;
      expect(out).toEqual([n, 4]);
    }
  });

  it('graph outputs are written by the nodes computing them (no Identity copies); repeated and passed-through outputs still work', () => {
    const f = (x: ReturnType<typeof tensor>) => {
      const y = add(x, 1);
      return [y, y, x, mul(y, 2)];
    };
    const x = tensor([1, 2, 3]);
    const nodes = TracedProgram.build(f, [x]).lowered.model.graph.node;
    // y twice and x itself keep their Identity; the Mul writes its output directly.
    expect(nodes.filter((n) => n.op_type === 'Identity')).toHaveLength(3);
    expect(nodes.find((n) => n.op_type === 'Mul')!.output[0]).toBe('output_3');
    const out = compileSync(f)(x) as ReturnType<typeof tensor>[];
    expect(out.map((t) => Array.from(t.data as Float32Array))).toEqual([
      [2, 3, 4],
      [2, 3, 4],
      [1, 2, 3],
      [4, 6, 8],
    ]);
  });
});

describe('exported files are portable', () => {
  it("a CNN trained with ORT's NCHWc kernels exports standard operators only, and the file alone (fresh session, no graph optimizations) gives predict's outputs", async () => {
    // 16 and 32 channels: whole NCHWc blocks, so fit's train graph uses the blocked kernels on CPUs that have them.
    const model = sequential([
      input({ shape: [10, 10, 3] }),
      new Conv2D(16, [3, 3], { activation: 'relu', padding: 'same' }),
      new Conv2D(32, [3, 3], { activation: 'relu' }),
      new MaxPooling2D([2, 2]),
      new Flatten(),
      new Dense(4),
    ]);
    model.compile({ optimizer: 'adam', loss: new SparseCategoricalCrossentropy({ fromLogits: true }) });
    const n = 6;
    const x = new Tensor(
      [n, 10, 10, 3],
      'float32',
      Float32Array.from({ length: n * 300 }, (_, i) => Math.sin(i * 0.37)),
    );
    const y = new Tensor(
      [n],
      'int32',
      Int32Array.from({ length: n }, (_, i) => i % 4),
    );
    await model.fit(x, y, { epochs: 1, batchSize: 3, verbose: 0 });
    const dir = mkdtempSync(join(tmpdir(), 'lepton-portable-'));
    try {
      const path = join(dir, 'model.onnx');
      await model.exportOnnx(path);
      const bytes = readFileSync(path);
      const file = decodeModel(bytes);
      expect(file.opset_import.map((o) => o.domain || '')).toEqual(['']);
      expect(file.graph.node.filter((nd) => nd.domain)).toEqual([]);
      const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
      const out = await session.run({
        [session.inputNames[0]]: new ort.Tensor('float32', x.data as Float32Array, [n, 10, 10, 3]),
      });
      const got = out[session.outputNames[0]].data as Float32Array;
      const want = (await model.predict(x)).data as Float32Array;
      expect(got.length).toBe(want.length);
      got.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[i]))));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
