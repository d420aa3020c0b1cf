/**
 * PyTorch's optimizer updates for given gradients (test/fixtures/optimizers.json, written by
 * scripts/make-optimizer-fixtures.py), and the tolerance both optimizer paths are held to.
 */
import { readFileSync } from 'node:fs';

export interface OptimizerCase {
  name: string;
  className: string;
  options: Record<string, unknown>;
  shapes: number[][];
  initial: number[][];
  grads: number[][][];
  expected: number[][][];
}

export const optimizerCases = (
  JSON.parse(readFileSync(new URL('../fixtures/optimizers.json', import.meta.url), 'utf8')) as {
    cases: OptimizerCase[];
  }
).cases;

/** Throws when `got` is not PyTorch's parameter `param` after step `step` (0-based) of case `c`. */
export function expectPyTorchStep(c: OptimizerCase, step: number, param: number, got: Float32Array): void {
  c.expected[step][param].forEach((want, k) => {
    const err = Math.abs(got[k] - want);
    if (err > 1e-6 * Math.abs(want) + 1e-7) {
      throw new Error(
        `${c.name}: step ${step + 1}, param ${param}[${k}]: got ${got[k]}, PyTorch ${want} (abs error ${err})`,
      );
    }
  });
}
