/** Plain-loop references for tests: every multi-index of a shape, element access by multi-index. */
import { expect } from 'vitest';
import type { Tensor } from '../../src/index.js';

export function allIndices(shape: readonly number[]): number[][] {
  let out: number[][] = [[]];
  for (const n of shape) out = out.flatMap((p) => Array.from({ length: n }, (_, i) => [...p, i]));
  return out;
}

/** Row-major flat offset of a multi-index. */
export function flatOf(shape: readonly number[], idx: readonly number[]): number {
  let flat = 0;
  for (let a = 0; a < shape.length; a++) flat = flat * shape[a] + idx[a];
  return flat;
}

export const at = (t: Tensor, idx: readonly number[]): number => Number(t.data[flatOf(t.shape as number[], idx)]);

/** Checks out[idx] == expected(idx) for every index of out's (expected) shape. */
export function expectElements(out: Tensor, shape: number[], expected: (idx: number[]) => number): void {
  expect(out.shape).toEqual(shape);
  for (const idx of allIndices(shape)) expect(at(out, idx)).toBeCloseTo(expected(idx), 12);
}
