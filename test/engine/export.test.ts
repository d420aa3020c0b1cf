import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { TracedProgram, Variable, add, broadcastTo, compile, compileSync, matmul, reshape, sum, tensor, toOnnx, randn, mul } from '../../src/index.js';
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
      (out.logits.data as Float32Array).forEach((v, i) => expect(Math.abs(v - expected[i])).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(expected[i]))));
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
    expect(out.map((t) => Array.from(t.data as Float32Array))).toEqual([[2, 3, 4], [2, 3, 4], [1, 2, 3], [4, 6, 8]]);
  });
});
