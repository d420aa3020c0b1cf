import { describe, expect, it } from 'vitest';
import {
  arange,
  eye,
  full,
  linspace,
  ones,
  rand,
  randint,
  randn,
  scalar,
  setSeed,
  tensor,
  zeros,
  Generator,
} from '../../src/index.js';

describe('tensor creation', () => {
  it('infers shape and dtype from nested arrays', () => {
    const t = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(t.toArray()).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(tensor([true, false]).dtype).toBe('bool');
    expect(tensor([true, false]).toArray()).toEqual([true, false]);
    expect(tensor([1, 2], { dtype: 'int64' }).data).toBeInstanceOf(BigInt64Array);
    expect(scalar(3).shape).toEqual([]);
    expect(scalar(3).item()).toBe(3);
  });

  it('rejects ragged arrays and mismatched shapes with clear errors', () => {
    expect(() => tensor([[1, 2], [3]])).toThrow(/ragged/);
    expect(() => tensor([1, 2, 3], { shape: [2, 2] })).toThrow(/do not fill shape \[2, 2\]/);
  });

  it('creation helpers produce the documented values', () => {
    expect(zeros([2]).toArray()).toEqual([0, 0]);
    expect(ones([1, 2]).toArray()).toEqual([[1, 1]]);
    expect(full([2], 7, 'int32').toArray()).toEqual([7, 7]);
    expect(arange(5).toArray()).toEqual([0, 1, 2, 3, 4]);
    expect(arange(1, 2, 0.25).toArray()).toEqual([1, 1.25, 1.5, 1.75]);
    expect(linspace(0, 1, 5).toArray()).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(eye(2, 3).toArray()).toEqual([
      [1, 0, 0],
      [0, 1, 0],
    ]);
  });

  it('setSeed makes random tensors repeatable; the distributions have the right moments', () => {
    setSeed(42);
    const a = randn([10000]);
    setSeed(42);
    const b = randn([10000]);
    expect(Array.from(a.data as Float32Array)).toEqual(Array.from(b.data as Float32Array));
    const d = a.data as Float32Array;
    const mean = d.reduce((s, v) => s + v, 0) / d.length;
    const variance = d.reduce((s, v) => s + (v - mean) ** 2, 0) / d.length;
    // 10,000 samples: the standard error of the mean is 0.01, so 0.05 is 5 standard errors.
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.abs(variance - 1)).toBeLessThan(0.06);
    const u = rand([10000], { low: 2, high: 4 }).data as Float32Array;
    expect(Math.min(...u)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...u)).toBeLessThan(4);
    const ints = randint(0, 3, [3000]).data as Int32Array;
    const counts = [0, 0, 0];
    ints.forEach((v) => counts[v]++);
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(150);
  });

  it('independent generators do not disturb each other', () => {
    const g1 = new Generator(5);
    const first = g1.random();
    const g2 = new Generator(5);
    rand([10]);
    expect(g2.random()).toBe(first);
  });

  it('prints readably', () => {
    const s = tensor([
      [1, 2],
      [3, 4],
    ]).toString();
    expect(s).toContain('Tensor([2, 2], float32');
    expect(s).toContain('[1., 2.]');
  });
});

describe('toArray and int64', () => {
  it('returns int64 values as bigint by default and as numbers with { bigint: false }', () => {
    const idx = tensor([
      [0.1, 0.9],
      [0.8, 0.2],
    ]).argmax(-1);
    expect(idx.dtype).toBe('int64');
    expect(idx.toArray()).toEqual([1n, 0n]);
    expect(idx.toArray({ bigint: false })).toEqual([1, 0]);
    expect(tensor([[3, -4]], { dtype: 'int64' }).toArray({ bigint: false })).toEqual([[3, -4]]);
    // other dtypes are unaffected by the option
    expect(tensor([1.5]).toArray({ bigint: false })).toEqual([1.5]);
  });

  it('refuses int64 values a number cannot hold exactly', () => {
    const big = tensor([2n ** 60n]);
    expect(big.toArray()).toEqual([2n ** 60n]);
    expect(() => big.toArray({ bigint: false })).toThrow(/beyond ±2\^53/);
  });
});
