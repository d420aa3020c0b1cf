/**
 * Gradient checking against central finite differences. The function is evaluated through
 * compileSync (one graph per check); analytic gradients come from grad(). For functions with
 * non-scalar outputs, the loss is a fixed random projection sum(f(x) * r).
 */
import { expect } from 'vitest';
import { Generator, Tensor, compileSync, grad, mul, sum, tensor } from '../../src/index.js';

export interface GradCheckOptions {
  eps?: number;
  rtol?: number;
  atol?: number;
  /** Indices of the inputs to check (default: all float inputs). */
  argnums?: number[];
  seed?: number;
}

/** Random float64 tensor with values in [-1, 1) from a seeded generator (or `dtype`). */
export function randomTensor(shape: number[], seed = 1, dtype: 'float32' | 'float64' = 'float64', scale = 1): Tensor {
  const g = new Generator(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = (g.random() * 2 - 1) * scale;
  return tensor(data, { shape });
}

export function checkGrad(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], options: GradCheckOptions = {}): void {
  const eps = options.eps ?? 1e-6;
  const rtol = options.rtol ?? 1e-5;
  const atol = options.atol ?? 1e-7;
  const argnums = options.argnums ?? inputs.map((t, i) => (t.dtype.startsWith('float') ? i : -1)).filter((i) => i >= 0);

  // Fix a random cotangent so non-scalar outputs reduce to a scalar loss.
  const probe = compileSync(fn)(...inputs);
  const r = randomTensor(probe.shape as number[], options.seed ?? 7, probe.dtype as 'float32' | 'float64');
  const loss = (...xs: Tensor[]) => sum(mul(fn(...xs), r));
  const evalLoss = compileSync(loss);
  const analytic = grad(loss, { argnums })(...inputs) as Tensor[];

  argnums.forEach((argIndex, k) => {
    const x = inputs[argIndex];
    const base = x.data as Float64Array;
    const numeric = new Float64Array(base.length);
    for (let i = 0; i < base.length; i++) {
      const plus = Float64Array.from(base);
      const minus = Float64Array.from(base);
      plus[i] += eps;
      minus[i] -= eps;
      const args = [...inputs];
      args[argIndex] = tensor(plus, { shape: x.shape as number[] });
      const fp = evalLoss(...args).item();
      args[argIndex] = tensor(minus, { shape: x.shape as number[] });
      const fm = evalLoss(...args).item();
      numeric[i] = (fp - fm) / (2 * eps);
    }
    const got = analytic[k].data as Float64Array;
    expect(analytic[k].shape).toEqual(x.shape);
    for (let i = 0; i < numeric.length; i++) {
      const tol = atol + rtol * Math.abs(numeric[i]);
      if (!(Math.abs(got[i] - numeric[i]) <= tol)) {
        throw new Error(
          `gradient mismatch for input ${argIndex} element ${i}: analytic ${got[i]}, numeric ${numeric[i]} (tolerance ${tol})`,
        );
      }
    }
  });
}
