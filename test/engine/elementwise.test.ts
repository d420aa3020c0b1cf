import { describe, expect, it } from 'vitest';
import {
  type Tensor,
  abs,
  ceil,
  clip,
  equal,
  erf,
  exp,
  floor,
  grad,
  greater,
  greaterEqual,
  less,
  lessEqual,
  log,
  logicalAnd,
  logicalNot,
  logicalOr,
  maximum,
  minimum,
  mul,
  notEqual,
  pow,
  reciprocal,
  round,
  rsqrt,
  sign,
  sqrt,
  square,
  sum,
  tensor,
  where,
} from '../../src/index.js';
import { checkGrad, randomTensor } from '../helpers/gradcheck.js';

const f64 = (t: Tensor): number[] => Array.from(t.data as Float64Array);
const bools = (t: Tensor): boolean[] => Array.from(t.data as Uint8Array, (v) => v !== 0);
/** Positive float64 values in [lo, lo + 1). */
const positive = (shape: number[], seed: number, lo = 0.5): Tensor =>
  tensor(
    Float64Array.from(f64(randomTensor(shape, seed)), (v) => lo + (v + 1) / 2),
    { shape },
  );

/** NumPy-style broadcast of a binary JS function over two row-major arrays of shapes [m, n] and [n]. */
function rowBroadcast(a: number[], b: number[], n: number, f: (x: number, y: number) => number): number[] {
  return a.map((x, i) => f(x, b[i % n]));
}

/** Round half to even, written independently of the engine. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** erf by its Taylor series (accurate to ~1e-13 for |x| <= 3). */
function erfRef(x: number): number {
  let term = x;
  let total = x;
  for (let n = 1; n < 80; n++) {
    term *= (-x * x) / n;
    total += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * total;
}

describe('element-wise forward values', () => {
  it('unary ops match Math.* on float64', () => {
    const x = randomTensor([3, 4], 1, 'float64', 3);
    const p = positive([3, 4], 2);
    const cases: [(t: Tensor) => Tensor, (v: number) => number, Tensor][] = [
      [abs, Math.abs, x],
      [exp, Math.exp, x],
      [log, Math.log, p],
      [sqrt, Math.sqrt, p],
      [rsqrt, (v) => 1 / Math.sqrt(v), p],
      [square, (v) => v * v, x],
      [reciprocal, (v) => 1 / v, p],
      [floor, Math.floor, x],
      [ceil, Math.ceil, x],
      [sign, Math.sign, x],
    ];
    for (const [op, ref, input] of cases) {
      const got = f64(op(input));
      f64(input).forEach((v, i) => expect(got[i]).toBeCloseTo(ref(v), 13));
    }
  });

  it('round is half-to-even; floor/ceil/round keep integer tensors; sign handles 0 and ints', () => {
    const halves = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.4, 0.6, -0.6];
    expect(round(tensor(halves)).toArray()).toEqual(halves.map(roundHalfEven));
    const ints = tensor([-3, 0, 4], { dtype: 'int32' });
    expect(floor(ints)).toBe(ints);
    expect(round(ints)).toBe(ints);
    expect(sign(ints).toArray()).toEqual([-1, 0, 1]);
    expect(sign(ints).dtype).toBe('int32');
    expect(sign(tensor([-0.25, 0, 7])).toArray()).toEqual([-1, 0, 1]);
    expect(abs(tensor([-5n, 6n])).toArray()).toEqual([5n, 6n]);
  });

  it('erf (float32) matches an independent series', () => {
    const x = randomTensor([50], 3, 'float32', 3);
    const got = Array.from(erf(x).data as Float32Array);
    Array.from(x.data as Float32Array).forEach((v, i) => expect(Math.abs(got[i] - erfRef(v))).toBeLessThan(2e-7));
  });

  it('binary ops broadcast like NumPy', () => {
    const a = positive([2, 3], 4);
    const b = randomTensor([3], 5, 'float64', 2);
    const ad = f64(a);
    const bd = f64(b);
    const cases: [(x: Tensor, y: Tensor) => Tensor, (x: number, y: number) => number][] = [
      [pow, Math.pow],
      [maximum, Math.max],
      [minimum, Math.min],
    ];
    for (const [op, ref] of cases) {
      const out = op(a, b);
      expect(out.shape).toEqual([2, 3]);
      const want = rowBroadcast(ad, bd, 3, ref);
      f64(out).forEach((v, i) => expect(v).toBeCloseTo(want[i], 12));
    }
    expect(f64(pow(tensor(new Float64Array([2, 3])), 2))).toEqual([4, 9]);
    expect(pow(tensor([2, 3], { dtype: 'int32' }), 3).toArray()).toEqual([8, 27]);
    expect(maximum(tensor([1, 5], { dtype: 'int32' }), tensor([2.5, 0])).dtype).toBe('float32');
  });

  it('clip with number bounds, one bound, and tensor bounds', () => {
    const x = tensor(new Float64Array([-3, -1, -0.5, 0, 0.5, 1, 3]));
    const xs = f64(x);
    expect(f64(clip(x, -1, 1))).toEqual(xs.map((v) => Math.min(1, Math.max(-1, v))));
    expect(f64(clip(x, undefined, 0.5))).toEqual(xs.map((v) => Math.min(0.5, v)));
    expect(f64(clip(x, 0))).toEqual(xs.map((v) => Math.max(0, v)));
    expect(f64(clip(x, -Infinity, 1))).toEqual(xs.map((v) => Math.min(1, v)));
    expect(clip(tensor([-5, 0, 5], { dtype: 'int32' }), -Infinity, 2).toArray()).toEqual([-5, 0, 2]);
    const lo = tensor(new Float64Array([-2, 0]), { shape: [2, 1] });
    const out = clip(x, lo, 0.75);
    expect(out.shape).toEqual([2, 7]);
    const want = [-2, 0].flatMap((l) => xs.map((v) => Math.min(0.75, Math.max(l, v))));
    expect(f64(out)).toEqual(want);
  });

  it('where broadcasts condition and both branches', () => {
    const cond = tensor([[true], [false]]);
    const a = tensor(new Float64Array([1, 2, 3]));
    const out = where(cond, a, -1);
    expect(out.shape).toEqual([2, 3]);
    expect(f64(out)).toEqual([1, 2, 3, -1, -1, -1]);
  });

  it('comparisons and logic give bool tensors matching JS', () => {
    const a = tensor(
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      { dtype: 'int32' },
    );
    const b = tensor([3, 2, 7], { dtype: 'int32' });
    const av = [1, 2, 3, 4, 5, 6];
    const bv = [3, 2, 7];
    const cases: [(x: Tensor, y: Tensor) => Tensor, (x: number, y: number) => boolean][] = [
      [equal, (x, y) => x === y],
      [notEqual, (x, y) => x !== y],
      [less, (x, y) => x < y],
      [lessEqual, (x, y) => x <= y],
      [greater, (x, y) => x > y],
      [greaterEqual, (x, y) => x >= y],
    ];
    for (const [op, ref] of cases) {
      const out = op(a, b);
      expect(out.dtype).toBe('bool');
      expect(bools(out)).toEqual(av.map((x, i) => ref(x, bv[i % 3])));
    }
    expect(bools(greater(tensor([0.5, 1.5]), 1))).toEqual([false, true]);
    const p = tensor([true, true, false, false]);
    const q = tensor([true, false, true, false]);
    expect(bools(logicalAnd(p, q))).toEqual([true, false, false, false]);
    expect(bools(logicalOr(p, q))).toEqual([true, true, true, false]);
    expect(bools(logicalNot(p))).toEqual([false, false, true, true]);
    expect(bools(equal(p, true))).toEqual([true, true, false, false]);
  });
});

describe('element-wise gradients (float64 finite differences)', () => {
  it('unary ops', () => {
    const x = randomTensor([2, 3], 11, 'float64', 2);
    const p = positive([2, 3], 12);
    checkGrad((t) => abs(t), [x]);
    checkGrad((t) => exp(t), [x]);
    checkGrad((t) => square(t), [x]);
    checkGrad((t) => log(t), [p]);
    checkGrad((t) => sqrt(t), [p]);
    checkGrad((t) => rsqrt(t), [p]);
    checkGrad((t) => reciprocal(t), [p]);
  });

  it('pow w.r.t. base and exponent, with broadcasting', () => {
    checkGrad((a, b) => pow(a, b), [positive([2, 3], 13), randomTensor([1, 3], 14, 'float64', 2)]);
    checkGrad((a) => pow(a, 3), [randomTensor([4], 15)]);
    checkGrad((b) => pow(2, b), [randomTensor([4], 16)]);
  });

  it('maximum, minimum, clip, where with broadcasting', () => {
    const a = randomTensor([2, 3], 17);
    const b = randomTensor([3], 18);
    checkGrad((x, y) => maximum(x, y), [a, b]);
    checkGrad((x, y) => minimum(x, y), [a, b]);
    checkGrad((x) => clip(x, -0.5, 0.5), [a]);
    checkGrad((x, lo) => clip(x, lo, 0.6), [a, randomTensor([2, 1], 19, 'float64', 0.5)]);
    const cond = tensor([[true, false, true]]);
    checkGrad((x, y) => where(cond, x, y), [randomTensor([2, 1], 20), randomTensor([3], 21)]);
  });

  it('second order: grad of grad of pow and maximum', () => {
    checkGrad((x) => grad((t: Tensor) => sum(pow(t, 3)))(x), [positive([3], 22)]);
    checkGrad((x) => grad((t: Tensor) => sum(mul(maximum(t, 0.1), t)))(x), [randomTensor([4], 23)]);
  });

  it('documented gradients at special points', () => {
    const at = (fn: (t: Tensor) => Tensor, values: number[]): number[] =>
      f64(grad((t: Tensor) => sum(fn(t)))(tensor(new Float64Array(values))));
    // Ties in maximum/minimum split the gradient equally.
    const v = tensor(new Float64Array([1, 2]));
    const [ga, gb] = grad((x: Tensor, y: Tensor) => sum(maximum(x, y)), { argnums: [0, 1] })(
      v,
      tensor(new Float64Array([1, 3])),
    ) as Tensor[];
    expect(f64(ga)).toEqual([0.5, 0]);
    expect(f64(gb)).toEqual([0.5, 1]);
    const [ma, mb] = grad((x: Tensor, y: Tensor) => sum(minimum(x, y)), { argnums: [0, 1] })(
      v,
      tensor(new Float64Array([1, 3])),
    ) as Tensor[];
    expect(f64(ma)).toEqual([0.5, 1]);
    expect(f64(mb)).toEqual([0.5, 0]);
    // clip: 1 on the closed interval [min, max], 0 outside.
    expect(at((t) => clip(t, -1, 1), [-1.5, -1, 0, 1, 1.5])).toEqual([0, 1, 1, 1, 0]);
    expect(at(abs, [-2, 0, 3])).toEqual([-1, 0, 1]);
    // No gradient flows through rounding and sign (derivative 0 almost everywhere).
    expect(at((t) => mul(floor(t), t), [1.5, -2.25])).toEqual([1, -3]);
    expect(at((t) => mul(sign(t), t), [-2, 3])).toEqual([-1, 1]);
    // pow at base 0: d/db a^b = 0 (not NaN), d/da 0^2 = 0.
    const [pa, pb] = grad((a: Tensor, b: Tensor) => sum(pow(a, b)), { argnums: [0, 1] })(
      tensor(new Float64Array([0, 2])),
      tensor(new Float64Array([2, 3])),
    ) as Tensor[];
    expect(f64(pa)).toEqual([0, 12]);
    expect(f64(pb)[0]).toBe(0);
    expect(f64(pb)[1]).toBeCloseTo(8 * Math.log(2), 12);
  });

  it('erf gradient (float32) equals 2/sqrt(pi) exp(-x^2)', () => {
    const x = randomTensor([20], 24, 'float32', 2);
    const g = Array.from(grad((t: Tensor) => sum(erf(t)))(x).data as Float32Array);
    Array.from(x.data as Float32Array).forEach((v, i) =>
      expect(g[i]).toBeCloseTo((2 / Math.sqrt(Math.PI)) * Math.exp(-v * v), 6),
    );
  });
});

describe('element-wise errors', () => {
  it('name the op, the dtypes/shapes and what is expected', () => {
    const ints = tensor([1, 2], { dtype: 'int32' });
    expect(() => exp(ints)).toThrow(
      /exp: dtype int32 is not supported; expected one of float32, float64 \(got \[2\] int32\)/,
    );
    expect(() => erf(randomTensor([2], 1))).toThrow(
      /erf: dtype float64 is not supported; expected one of float32 \(ONNX Runtime's CPU provider has no float64 Erf kernel\)/,
    );
    expect(() => maximum(tensor([1, 2, 3]), tensor([1, 2]))).toThrow(
      /maximum: shapes \[3\] and \[2\] cannot be broadcast/,
    );
    expect(() => where(ints, 1, 0)).toThrow(/where: the condition must be bool, got int32.*\[2\] int32/);
    expect(() => logicalAnd(tensor([1, 0]), tensor([true, false]))).toThrow(
      /logicalAnd: expects bool tensors.*\[2\] float32, \[2\] bool/,
    );
    expect(() => less(tensor([true]), tensor([false]))).toThrow(/less: dtype bool is not supported/);
    expect(() => clip(tensor([1, 2]), 2, 1)).toThrow(/clip: min \(2\) is greater than max \(1\)/);
  });
});
