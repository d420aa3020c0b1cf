import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  type Tensor,
  argmax,
  argmin,
  compileSync,
  grad,
  logSumExp,
  max,
  mean,
  min,
  prod,
  std,
  sum,
  tensor,
  toOnnx,
  topK,
  variance,
} from '../../src/index.js';
import { checkGrad, randomTensor } from '../helpers/gradcheck.js';

const values = (t: Tensor): number[] => Array.from(t.data as Float64Array | Float32Array);

/**
 * Independent reference: groups the elements of a row-major array of `shape` by their index with
 * `axes` removed, and folds each group with `f`. Returns [outputShape (keepDims = false), values].
 */
function reduceRef(
  data: number[],
  shape: number[],
  axes: number[],
  f: (group: number[]) => number,
): [number[], number[]] {
  const ax = axes.map((a) => (a < 0 ? a + shape.length : a));
  const outShape = shape.filter((_, i) => !ax.includes(i));
  const groups = new Map<number, number[]>();
  data.forEach((v, flat) => {
    let rest = flat;
    const idx = new Array<number>(shape.length);
    for (let i = shape.length - 1; i >= 0; i--) {
      idx[i] = rest % shape[i];
      rest = Math.floor(rest / shape[i]);
    }
    let key = 0;
    shape.forEach((d, i) => {
      if (!ax.includes(i)) key = key * d + idx[i];
    });
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(v);
  });
  return [outShape, [...groups.keys()].sort((a, b) => a - b).map((k) => f(groups.get(k)!))];
}

const total = (g: number[]): number => g.reduce((a, b) => a + b, 0);
const avg = (g: number[]): number => total(g) / g.length;
const varianceOf = (g: number[], correction: number): number =>
  total(g.map((v) => (v - avg(g)) ** 2)) / (g.length - correction);
const lse = (g: number[]): number => {
  const m = Math.max(...g);
  return m + Math.log(total(g.map((v) => Math.exp(v - m))));
};

describe('reduction forward values', () => {
  const shape = [2, 3, 4];
  const x = randomTensor(shape, 1, 'float64', 3);
  const xd = values(x);
  const cases: [string, (t: Tensor, axes: number[], keepDims: boolean) => Tensor, (g: number[]) => number][] = [
    ['mean', mean, avg],
    ['max', max, (g) => Math.max(...g)],
    ['min', min, (g) => Math.min(...g)],
    ['prod', prod, (g) => g.reduce((a, b) => a * b, 1)],
    ['logSumExp', logSumExp, lse],
    ['variance', (t, a, k) => variance(t, a, { keepDims: k }), (g) => varianceOf(g, 0)],
    ['variance unbiased', (t, a, k) => variance(t, a, { keepDims: k, correction: 1 }), (g) => varianceOf(g, 1)],
    ['std unbiased', (t, a, k) => std(t, a, { keepDims: k, correction: 1 }), (g) => Math.sqrt(varianceOf(g, 1))],
  ];
  for (const [name, op, ref] of cases) {
    it(`${name} over several axis sets, negative axes, keepDims`, () => {
      for (const axes of [[0], [-1], [0, 2], [-2, -1], [0, 1, 2]]) {
        const [outShape, want] = reduceRef(xd, shape, axes, ref);
        const out = op(x, axes, false);
        expect(out.shape).toEqual(outShape);
        values(out).forEach((v, i) => expect(v).toBeCloseTo(want[i], 12));
        const kept = op(x, axes, true);
        expect(kept.shape).toEqual(shape.map((d, i) => (axes.map((a) => (a + 3) % 3).includes(i) ? 1 : d)));
      }
    });
  }

  it('reducing over all axes by default', () => {
    expect(mean(x).shape).toEqual([]);
    expect(mean(x).item()).toBeCloseTo(avg(xd), 13);
    expect(max(x, undefined, true).shape).toEqual([1, 1, 1]);
    expect(variance(x).item()).toBeCloseTo(varianceOf(xd, 0), 13);
  });

  it('logSumExp is stable for huge values and -inf rows', () => {
    const out = values(
      logSumExp(tensor(new Float64Array([1000, 1000, -Infinity, -Infinity, 3, -Infinity]), { shape: [3, 2] }), 1),
    );
    expect(out[0]).toBeCloseTo(1000 + Math.LN2, 10);
    expect(out[1]).toBe(-Infinity);
    expect(out[2]).toBe(3);
  });

  it('argmax / argmin: int64 indices, first index on ties, flattened without axis', () => {
    const t = tensor([
      [1, 5, 5, 0],
      [7, 0, 7, 0],
      [2, 2, 2, 2],
    ]);
    expect(argmax(t, 1).dtype).toBe('int64');
    expect(argmax(t, 1).toArray()).toEqual([1n, 0n, 0n]);
    expect(argmin(t, 1).toArray()).toEqual([3n, 1n, 0n]);
    expect(argmax(t, 0).toArray()).toEqual([1n, 0n, 1n, 2n]);
    expect(argmax(t, -1, true).shape).toEqual([3, 1]);
    expect(argmax(t).toArray()).toBe(4n);
    expect(argmin(t, undefined, true).toArray()).toEqual([[3n]]);
    expect(argmax(tensor([3, 9, 1], { dtype: 'int32' }), 0).toArray()).toBe(1n);
  });

  it('topK: the k largest in descending order, equal values in index order, int64 indices', () => {
    const t = tensor([
      [3, 1, 3, 2, 5, 5],
      [0, 0, 0, 0, 0, 0],
      [-1, 4, -2, 8, 4, 7],
    ]);
    const r = topK(t, 3);
    expect(r.values.shape).toEqual([3, 3]);
    expect(r.indices.dtype).toBe('int64');
    expect(r.values.toArray()).toEqual([
      [5, 5, 3],
      [0, 0, 0],
      [8, 7, 4],
    ]);
    expect(r.indices.toArray()).toEqual([
      [4n, 5n, 0n],
      [0n, 1n, 2n],
      [3n, 5n, 1n],
    ]);
    const down = topK(tensor([3, 9, 1, 9], { dtype: 'int32' }).reshape([4, 1]), 2, 0);
    expect(down.values.toArray()).toEqual([[9], [9]]);
    expect(down.indices.toArray()).toEqual([[1n], [3n]]);
    expect(() => topK(t, 7)).toThrow(/topK: k = 7 exceeds the 6 elements along axis 1/);
    expect(() => topK(t, 0)).toThrow(/topK: k must be a positive integer, got 0/);
  });

  it('topK with a symbolic k: one graph whose k is the length of an input', async () => {
    const bytes = await toOnnx(
      (x: Tensor, width: Tensor) => {
        const r = topK(x, width.shape[0]);
        return [r.values, r.indices];
      },
      [
        { shape: ['n', 5], dtype: 'float32' },
        { shape: ['k'], dtype: 'int32' },
      ],
    );
    const session = await ort.InferenceSession.create(bytes);
    const x = new ort.Tensor('float32', Float32Array.from([1, 4, 2, 4, 0, 9, 8, 7, 6, 5]), [2, 5]);
    for (const k of [1, 4]) {
      const out = await session.run({
        [session.inputNames[0]]: x,
        [session.inputNames[1]]: new ort.Tensor('int32', new Int32Array(k), [k]),
      });
      const [values, indices] = session.outputNames.map((n) => Array.from(out[n].data as ArrayLike<number | bigint>));
      const expected = [
        [4, 1, 4, 3, 2, 2, 1, 0],
        [9, 0, 8, 1, 7, 2, 6, 3],
      ];
      expect(values).toEqual(expected.flatMap((row) => row.filter((_, i) => i % 2 === 0).slice(0, k)));
      expect(indices.map(Number)).toEqual(expected.flatMap((row) => row.filter((_, i) => i % 2 === 1).slice(0, k)));
    }
  });

  it('max/min/prod work on integer tensors', () => {
    const t = tensor(
      [
        [3, -2],
        [4, 5],
      ],
      { dtype: 'int32' },
    );
    expect(max(t, 1).toArray()).toEqual([3, 5]);
    expect(min(t).toArray()).toEqual(-2);
    expect(prod(t, 0).toArray()).toEqual([12, -10]);
  });
});

describe('reduction gradients', () => {
  const x = randomTensor([2, 3, 4], 2);
  it('mean, max, min, prod vs finite differences (several axes, keepDims, negative axes)', () => {
    checkGrad((t) => mean(t), [x]);
    checkGrad((t) => mean(t, [0, -1], true), [x]);
    checkGrad((t) => max(t, -1), [x]);
    checkGrad((t) => max(t, [0, 2], true), [x]);
    checkGrad((t) => min(t, 1), [x]);
    checkGrad((t) => min(t), [x]);
    checkGrad((t) => prod(t, -1), [x]);
    checkGrad((t) => prod(t, [0, 1], true), [x]);
  });

  it('logSumExp, variance, std vs finite differences', () => {
    checkGrad((t) => logSumExp(t, -1), [x]);
    checkGrad((t) => logSumExp(t, [0, 2], true), [x]);
    checkGrad((t) => variance(t, 1), [x]);
    checkGrad((t) => variance(t, [-1, 0], { keepDims: true, correction: 1 }), [x]);
    checkGrad((t) => std(t, 2, { correction: 1 }), [x]);
  });

  it('second order: grad of grad of prod and logSumExp', () => {
    checkGrad((t) => grad((u: Tensor) => prod(u))(t), [randomTensor([4], 3)]);
    checkGrad((t) => grad((u: Tensor) => logSumExp(u))(t), [randomTensor([4], 4)]);
  });

  it('max/min share the gradient equally among tied elements', () => {
    const t = tensor(new Float64Array([1, 3, 3, 2, 2, 0]), { shape: [2, 3] });
    expect(values(grad((u: Tensor) => sum(max(u, 1)))(t))).toEqual([0, 0.5, 0.5, 0.5, 0.5, 0]);
    expect(values(grad((u: Tensor) => sum(min(u, 1)))(t))).toEqual([1, 0, 0, 0, 0, 1]);
    expect(values(grad((u: Tensor) => max(u))(t))).toEqual([0, 0.5, 0.5, 0, 0, 0]);
  });

  it('prod gradient is exact with one zero and with several zeros', () => {
    const t = tensor(new Float64Array([2, 0, 3, 0, 5, 0, 1, 2, 4]), { shape: [3, 3] });
    // rows: one zero → product of the others at the zero; two zeros → all 0; none → prod / x.
    expect(values(grad((u: Tensor) => sum(prod(u, 1)))(t))).toEqual([0, 6, 0, 0, 0, 0, 8, 4, 2]);
    checkGrad((u) => prod(u, 1), [tensor(new Float64Array([0.5, 0, -0.7, 0.3, 1.2, -0.4]), { shape: [2, 3] })]);
  });

  it('mean and variance over a symbolic batch axis divide by the run-time size', () => {
    const f = compileSync((t: Tensor) => [grad((u: Tensor) => mean(u))(t), variance(t, 0, { correction: 1 })], {
      symbolicBatch: true,
    });
    for (const n of [3, 5]) {
      const t = randomTensor([n, 2], n);
      const [g, v] = f(t) as Tensor[];
      expect(values(g)).toEqual(new Array(n * 2).fill(1 / (n * 2)));
      const td = values(t);
      [0, 1].forEach((c) =>
        expect(values(v)[c]).toBeCloseTo(
          varianceOf(
            td.filter((_, i) => i % 2 === c),
            1,
          ),
          12,
        ),
      );
    }
  });
});

describe('reductions over a symbolic batch axis', () => {
  it('gradients of every reduction match the fixed-shape gradients', () => {
    const losses: ((t: Tensor) => Tensor)[] = [
      (t) => sum(max(t, 0)),
      (t) => sum(min(t, [0, 1], true)),
      (t) => sum(prod(t, 0)),
      (t) => logSumExp(t),
      (t) => sum(std(t, 0, { correction: 1 })),
      (t) => sum(mean(t, -1)),
    ];
    for (const loss of losses) {
      const symbolic = compileSync((t: Tensor) => grad(loss)(t), { symbolicBatch: true });
      const t = randomTensor([4, 3], 7);
      const want = values(grad(loss)(t));
      values(symbolic(t)).forEach((v, i) => expect(v).toBeCloseTo(want[i], 13));
    }
  });
});

describe('reduction errors', () => {
  it('name the op, the input shape and the valid range or dtypes', () => {
    const t = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(() => mean(t, 2)).toThrow(
      /mean: axis 2 is out of range for a tensor of rank 2 \(expected -2\.\.1\) \(got \[2, 3\] float32\)/,
    );
    expect(() => max(t, [0, -3])).toThrow(/max: axis -3 is out of range.*\[2, 3\] float32/);
    expect(() => argmax(t, 5)).toThrow(/argmax: axis 5 is out of range.*\[2, 3\] float32/);
    expect(() => mean(tensor([1, 2], { dtype: 'int32' }))).toThrow(
      /mean: dtype int32 is not supported; expected one of float32, float64/,
    );
    expect(() => max(tensor([true]))).toThrow(/max: dtype bool is not supported/);
    expect(() => logSumExp(tensor([1, 2], { dtype: 'int64' }))).toThrow(/logSumExp: dtype int64 is not supported/);
    expect(() => variance(tensor([1], { dtype: 'int32' }))).toThrow(/variance: dtype int32 is not supported/);
  });
});
