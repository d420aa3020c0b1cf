import { describe, expect, it } from 'vitest';
import { Tensor, batchNorm, compileSync, grad, layerNorm, moments, mul, sum, tensor } from '../../src/index.js';
import { checkGrad, randomTensor } from '../helpers/gradcheck.js';

/** Plain-loop mean and population variance over the elements picked by `group(i)` (one group per output). */
function refMoments(
  x: Float64Array,
  groups: number,
  group: (i: number) => number,
): { mean: Float64Array; variance: Float64Array } {
  const mean = new Float64Array(groups);
  const count = new Float64Array(groups);
  x.forEach((v, i) => {
    mean[group(i)] += v;
    count[group(i)]++;
  });
  mean.forEach((_, k) => (mean[k] /= count[k]));
  const variance = new Float64Array(groups);
  x.forEach((v, i) => (variance[group(i)] += (v - mean[group(i)]) ** 2));
  variance.forEach((_, k) => (variance[k] /= count[k]));
  return { mean, variance };
}

describe('moments', () => {
  it('per-channel mean and population variance of NCHW (axes 0, 2, 3) match loops; gradients match finite differences', () => {
    const x = randomTensor([3, 4, 2, 5], 1);
    const [m, v] = moments(x, [0, 2, 3]);
    expect(m.shape).toEqual([4]);
    const ref = refMoments(x.data as Float64Array, 4, (i) => Math.floor(i / 10) % 4);
    ref.mean.forEach((r, k) => expect((m.data as Float64Array)[k]).toBeCloseTo(r, 12));
    ref.variance.forEach((r, k) => expect((v.data as Float64Array)[k]).toBeCloseTo(r, 12));
    expect(moments(x, [0, 2, 3], true)[1].shape).toEqual([1, 4, 1, 1]);
    checkGrad((t) => moments(t, [0, 2, 3])[0], [x]);
    checkGrad((t) => moments(t, [0, 2, 3])[1], [x]);
    checkGrad((t) => moments(t, -1, true)[1], [randomTensor([3, 4], 2)]);
  });

  it('symbolic batch: the count over the batch axis is read at run time', () => {
    const f = compileSync((t: Tensor) => moments(t, [0, 1])[1], { symbolicBatch: true });
    for (const n of [2, 5]) {
      const x = randomTensor([n, 3, 2], n);
      const ref = refMoments(x.data as Float64Array, 2, (i) => i % 2);
      const got = f(x).data as Float64Array;
      ref.variance.forEach((r, k) => expect(got[k]).toBeCloseTo(r, 12));
    }
  });
});

describe('batchNorm', () => {
  it('normalizes with given statistics (broadcast [1, C, 1, 1]) like the formula in loops', () => {
    const x = randomTensor([2, 3, 2, 2], 1);
    const mean = randomTensor([1, 3, 1, 1], 2);
    const variance = tensor(new Float64Array([0.5, 1.5, 2]), { shape: [1, 3, 1, 1] });
    const scale = randomTensor([1, 3, 1, 1], 3);
    const offset = randomTensor([1, 3, 1, 1], 4);
    const y = batchNorm(x, mean, variance, scale, offset, 1e-3).data as Float64Array;
    const [xd, md, vd, sd, od] = [x, mean, variance, scale, offset].map((t) => t.data as Float64Array);
    xd.forEach((v, i) => {
      const c = Math.floor(i / 4) % 3;
      expect(y[i]).toBeCloseTo(((v - md[c]) / Math.sqrt(vd[c] + 1e-3)) * sd[c] + od[c], 12);
    });
  });

  it('gradients w.r.t. x, mean, variance, scale and offset match finite differences (also without scale/offset)', () => {
    const x = randomTensor([2, 3, 2, 2], 1);
    const mean = randomTensor([1, 3, 1, 1], 2);
    const variance = tensor(new Float64Array([0.5, 1.5, 2]), { shape: [1, 3, 1, 1] });
    const scale = randomTensor([3, 1, 1], 3);
    const offset = randomTensor([1, 3, 1, 1], 4);
    checkGrad((a, b, c, d, e) => batchNorm(a, b, c, d, e, 1e-3), [x, mean, variance, scale, offset]);
    checkGrad((a, b, c) => batchNorm(a, b, c), [x, mean, variance]);
  });

  it('training-mode composition with moments (gradient through the batch statistics) and second order', () => {
    const x = randomTensor([4, 3, 2, 2], 5);
    const scale = randomTensor([1, 3, 1, 1], 6);
    const offset = randomTensor([1, 3, 1, 1], 7);
    const train = (a: Tensor, s: Tensor, o: Tensor): Tensor => {
      const [m, v] = moments(a, [0, 2, 3], true);
      return batchNorm(a, m, v, s, o, 1e-3);
    };
    checkGrad(train, [x, scale, offset]);
    // The batch-normalized output has zero mean per channel, so the gradient of its sum w.r.t. x is 0.
    const g = grad((a: Tensor) => sum(train(a, scale, offset)))(x).data as Float64Array;
    g.forEach((v) => expect(Math.abs(v)).toBeLessThan(1e-10));
    // Second order: the VJP is built from differentiable ops (including the invStd output path).
    const r = randomTensor([4, 3, 2, 2], 8);
    checkGrad((s) => grad((a: Tensor) => sum(mul(train(a, s, offset), mul(r, train(a, s, offset)))))(x), [scale], {
      rtol: 1e-4,
    });
  });
});

describe('layerNorm', () => {
  function refLayerNorm(
    x: Float64Array,
    rows: number,
    n: number,
    w: Float64Array | null,
    b: Float64Array | null,
    eps: number,
  ): Float64Array {
    const y = new Float64Array(x.length);
    const { mean, variance } = refMoments(x, rows, (i) => Math.floor(i / n));
    x.forEach((v, i) => {
      const r = Math.floor(i / n);
      const k = i % n;
      y[i] = ((v - mean[r]) / Math.sqrt(variance[r] + eps)) * (w ? w[k] : 1) + (b ? b[k] : 0);
    });
    return y;
  }

  it('forward over the normalized shape (ONNX LayerNormalization, float64) matches loops', () => {
    const x = randomTensor([3, 2, 4], 1);
    const w = randomTensor([2, 4], 2);
    const b = randomTensor([2, 4], 3);
    const y = layerNorm(x, [2, 4], w, b, 1e-5).data as Float64Array;
    const ref = refLayerNorm(x.data as Float64Array, 3, 8, w.data as Float64Array, b.data as Float64Array, 1e-5);
    ref.forEach((v, i) => expect(y[i]).toBeCloseTo(v, 10));
    const y2 = layerNorm(x, [4]).data as Float64Array;
    refLayerNorm(x.data as Float64Array, 6, 4, null, null, 1e-5).forEach((v, i) => expect(y2[i]).toBeCloseTo(v, 10));
  });

  it('gradients (x, weight, bias) match finite differences, incl. non-trailing axes and no affine', () => {
    const x = randomTensor([3, 5], 4);
    checkGrad((a, w, b) => layerNorm(a, [5], w, b), [x, randomTensor([5], 5), randomTensor([5], 6)]);
    checkGrad((a) => layerNorm(a, [5]), [x]);
    checkGrad((a, w) => layerNorm(a, { axes: [0, 2] }, w), [randomTensor([2, 3, 4], 7), randomTensor([2, 4], 8)]);
    // Weight broadcast over part of the normalized shape.
    checkGrad((a, w) => layerNorm(a, [2, 3], w), [randomTensor([2, 2, 3], 9), randomTensor([3], 10)]);
  });

  it('second order: gradients of the layerNorm gradient (through the mean/invStd outputs) match finite differences', () => {
    const x = randomTensor([2, 4], 11);
    const w = randomTensor([4], 12);
    const r = randomTensor([2, 4], 13);
    checkGrad((a) => grad((t: Tensor) => sum(mul(mul(layerNorm(t, [4], w), layerNorm(t, [4], w)), r)))(a), [x], {
      rtol: 1e-4,
    });
  });

  it('float32 (the fused ONNX LayerNormalization kernel): forward and gradients agree with the float64-checked path', () => {
    const x = randomTensor([4, 6], 14, 'float64', 3);
    const w = randomTensor([6], 15);
    const b = randomTensor([6], 16);
    const r = randomTensor([4, 6], 17);
    const f32 = (t: Tensor): Tensor =>
      tensor(Float32Array.from(t.data as Float64Array), { shape: t.shape as number[] });
    const loss = (a: Tensor, ww: Tensor, bb: Tensor, rr: Tensor): Tensor => sum(mul(layerNorm(a, [6], ww, bb), rr));
    const ref = refLayerNorm(x.data as Float64Array, 4, 6, w.data as Float64Array, b.data as Float64Array, 1e-5);
    const y = layerNorm(f32(x), [6], f32(w), f32(b)).data as Float32Array;
    ref.forEach((v, i) => expect(Math.abs(y[i] - v)).toBeLessThan(1e-5));
    const g64 = grad(loss, { argnums: [0, 1, 2] })(x, w, b, r) as Tensor[];
    const g32 = grad(loss, { argnums: [0, 1, 2] })(f32(x), f32(w), f32(b), f32(r)) as Tensor[];
    g64.forEach((g, k) =>
      (g.data as Float64Array).forEach((v, i) =>
        expect(Math.abs((g32[k].data as Float32Array)[i] - v)).toBeLessThan(1e-5 * Math.max(1, Math.abs(v))),
      ),
    );
  });

  it('errors name the op and shapes', () => {
    expect(() => layerNorm(randomTensor([2, 3]), [4])).toThrow(
      /layerNorm: normalizedShape \[4\] must equal the trailing dimensions of x/,
    );
    expect(() => layerNorm(randomTensor([2, 3]), [3], randomTensor([2]))).toThrow(
      /layerNorm.*weight and bias must broadcast to the normalized shape \[3\]/,
    );
    expect(() => batchNorm(randomTensor([2, 3, 2]), randomTensor([3]), randomTensor([3]))).toThrow(
      /batchNorm: .*must broadcast to x's shape/,
    );
  });
});
