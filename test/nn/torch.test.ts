import { describe, expect, it } from 'vitest';
import {
  Tensor,
  Variable,
  compileSync,
  collectUpdates,
  functionalCall,
  setSeed,
  tensor,
  torch,
} from '../../src/index.js';
import { checkGrad, randomTensor } from '../helpers/gradcheck.js';
import { expectClose } from './reference.js';

describe('PyTorch-style modules', () => {
  it('Linear: weight [out, in], U(±1/√in) init, y = x Wᵀ + b', () => {
    setSeed(1);
    const lin = new torch.Linear(20, 3);
    const bound = 1 / Math.sqrt(20);
    expect(lin.weight.shape).toEqual([3, 20]);
    expect(Array.from(lin.weight.data as Float32Array).every((v) => Math.abs(v) <= bound)).toBe(true);
    const x = randomTensor([2, 20], 2, 'float32');
    const y = lin.call(x) as Tensor;
    const w = lin.weight.data as Float32Array;
    const b = lin.bias!.data as Float32Array;
    const xd = x.data as Float32Array;
    const expected: number[] = [];
    for (let i = 0; i < 2; i++)
      for (let o = 0; o < 3; o++) {
        let s = b[o];
        for (let q = 0; q < 20; q++) s += xd[i * 20 + q] * w[o * 20 + q];
        expected.push(s);
      }
    expectClose(y.data as Float32Array, expected, 1e-6);
  });

  it('Conv2d on NCHW with padding matches a plain loop', () => {
    const conv = new torch.Conv2d(2, 3, 3, { padding: 1, stride: 2 });
    const x = randomTensor([1, 2, 5, 5], 3, 'float32');
    const y = conv.call(x) as Tensor;
    expect(y.shape).toEqual([1, 3, 3, 3]);
    const w = conv.weight.data as Float32Array;
    const b = conv.bias!.data as Float32Array;
    const xd = x.data as Float32Array;
    const expected: number[] = [];
    for (let o = 0; o < 3; o++)
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 3; j++) {
          let s = b[o];
          for (let c = 0; c < 2; c++)
            for (let a = 0; a < 3; a++)
              for (let e = 0; e < 3; e++) {
                const yy = i * 2 + a - 1;
                const zz = j * 2 + e - 1;
                if (yy >= 0 && yy < 5 && zz >= 0 && zz < 5)
                  s += xd[(c * 5 + yy) * 5 + zz] * w[((o * 2 + c) * 3 + a) * 3 + e];
              }
          expected.push(s);
        }
    expectClose(y.data as Float32Array, expected, 1e-5);
  });

  it('BatchNorm2d: unbiased running variance, momentum 0.1, num_batches_tracked; eval uses running stats', () => {
    const bn = new torch.BatchNorm2d(2);
    const x = randomTensor([3, 2, 2, 2], 4, 'float32');
    const xd = x.data as Float32Array;
    const y = bn.call(x) as Tensor; // training by default, like PyTorch
    const stats = [0, 1].map((c) => {
      const vals: number[] = [];
      for (let n = 0; n < 3; n++) for (let p = 0; p < 4; p++) vals.push(xd[(n * 2 + c) * 4 + p]);
      const m = vals.reduce((a, b) => a + b, 0) / vals.length;
      const v = vals.reduce((a, b) => a + (b - m) ** 2, 0) / vals.length;
      return { m, v };
    });
    expectClose(
      y.data as Float32Array,
      Array.from(xd, (v, i) => {
        const c = Math.floor(i / 4) % 2;
        return (v - stats[c].m) / Math.sqrt(stats[c].v + 1e-5);
      }),
      1e-5,
    );
    expectClose(
      bn.running_mean.data as Float32Array,
      stats.map((s) => 0.1 * s.m),
      1e-6,
    );
    expectClose(
      bn.running_var.data as Float32Array,
      stats.map((s) => 0.9 + 0.1 * s.v * (12 / 11)),
      1e-6,
    );
    expect(bn.num_batches_tracked.item()).toBe(1);
    bn.eval();
    const rm = Array.from(bn.running_mean.data as Float32Array);
    const rv = Array.from(bn.running_var.data as Float32Array);
    expectClose(
      (bn.call(x) as Tensor).data as Float32Array,
      Array.from(xd, (v, i) => {
        const c = Math.floor(i / 4) % 2;
        return (v - rm[c]) / Math.sqrt(rv[c] + 1e-5);
      }),
      1e-5,
    );
    expect(Object.keys(bn.stateDict())).toEqual([
      'weight',
      'bias',
      'running_mean',
      'running_var',
      'num_batches_tracked',
    ]);
  });

  it('Sequential names children 0, 1, ... like PyTorch; Dropout follows train()/eval(); grads via functionalCall', () => {
    const net = new torch.Sequential(
      new torch.Linear(3, 4, { dtype: 'float64' }),
      new torch.Tanh(),
      new torch.Dropout(0.5),
      new torch.Linear(4, 2, { dtype: 'float64' }),
    );
    expect(Object.keys(net.stateDict())).toEqual(['0.weight', '0.bias', '3.weight', '3.bias']);
    const x = randomTensor([4, 3], 5);
    net.eval();
    const a = net.call(x) as Tensor;
    expect(Array.from(a.data as Float64Array)).toEqual(Array.from((net.call(x) as Tensor).data as Float64Array));
    const ps = net.parameters();
    checkGrad(
      (...vs: Tensor[]) =>
        functionalCall(
          net,
          ps.map((p, i) => [p, vs[i]] as [Variable, Tensor]),
          () => net.call(x) as Tensor,
        ),
      ps,
    );
    net.train();
    const f = compileSync((t: Tensor) => net.call(t));
    expect(Array.from(f(x).data as Float64Array)).not.toEqual(Array.from(a.data as Float64Array));
  });

  it('BatchNorm updates are collected inside a compiled step', () => {
    const bn = new torch.BatchNorm1d(3);
    const step = compileSync((t: Tensor) => {
      const { result, updates } = collectUpdates(() => bn.call(t));
      return [result, updates.map(([, v]) => v)];
    });
    const [, updates] = step(randomTensor([4, 3], 6, 'float32')) as [Tensor, Tensor[]];
    expect(updates.map((u) => u.shape)).toEqual([[3], [3], []]);
    expect(updates[2].item()).toBe(1);
    expect(bn.num_batches_tracked.item()).toBe(0);
    expect(new torch.Embedding(5, 2).call(tensor([1, 4], { dtype: 'int32' })).shape).toEqual([2, 2]);
  });
});
