import { describe, expect, it } from 'vitest';
import {
  acos,
  acosh,
  asin,
  asinh,
  atan,
  atanh,
  cos,
  cosh,
  grad,
  sin,
  sinh,
  sum,
  tan,
  tensor,
  type Tensor,
} from '../../src/index.js';
import { checkGrad, randomTensor } from '../helpers/gradcheck.js';

// [op, Math reference, derivative from calculus, input range]
const cases: [string, (x: Tensor) => Tensor, (v: number) => number, (v: number) => number, [number, number]][] = [
  ['sin', sin, Math.sin, Math.cos, [-3, 3]],
  ['cos', cos, Math.cos, (v) => -Math.sin(v), [-3, 3]],
  ['tan', tan, Math.tan, (v) => 1 / Math.cos(v) ** 2, [-1.2, 1.2]],
  ['asin', asin, Math.asin, (v) => 1 / Math.sqrt(1 - v * v), [-0.9, 0.9]],
  ['acos', acos, Math.acos, (v) => -1 / Math.sqrt(1 - v * v), [-0.9, 0.9]],
  ['atan', atan, Math.atan, (v) => 1 / (1 + v * v), [-3, 3]],
  ['sinh', sinh, Math.sinh, Math.cosh, [-2, 2]],
  ['cosh', cosh, Math.cosh, Math.sinh, [-2, 2]],
  ['asinh', asinh, Math.asinh, (v) => 1 / Math.sqrt(v * v + 1), [-3, 3]],
  ['acosh', acosh, Math.acosh, (v) => 1 / Math.sqrt(v * v - 1), [1.1, 4]],
  ['atanh', atanh, Math.atanh, (v) => 1 / (1 - v * v), [-0.9, 0.9]],
];

describe('trigonometric and hyperbolic ops', () => {
  it.each(cases)('%s: values match Math.*, gradients match the derivative', (_name, f, ref, deriv, [lo, hi]) => {
    const values = Array.from({ length: 9 }, (_, i) => lo + ((hi - lo) * i) / 8);
    const x = tensor(values);
    const y = f(x).data as Float32Array;
    const g = grad((t: Tensor) => sum(f(t)))(x).data as Float32Array;
    values.forEach((v, i) => {
      const v32 = Math.fround(v);
      expect(Math.abs(y[i] - ref(v32))).toBeLessThanOrEqual(2e-6 * (1 + Math.abs(ref(v32))));
      expect(Math.abs(g[i] - deriv(v32))).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(deriv(v32))));
    });
  });

  it('sin and cos gradients match finite differences in float64', () => {
    checkGrad((x) => sin(x), [randomTensor([5], 1)]);
    checkGrad((x) => cos(x), [randomTensor([5], 2)]);
  });

  it('float64 is refused with a message where ORT has only float32 kernels', () => {
    expect(() => tan(randomTensor([2], 3))).toThrow(/tan: .*float64.*float32/);
  });
});
