import { describe, expect, it } from 'vitest';
import {
  add,
  compile,
  div,
  grad,
  matmul,
  mul,
  reshape,
  sub,
  sum,
  tensor,
  transpose,
  valueAndGrad,
  Variable,
  broadcastTo,
} from '../../src/index.js';
import { checkGrad, randomTensor } from '../helpers/gradcheck.js';
import { clip, compileSync, sigmoid } from '../../src/index.js';

describe('core ops', () => {
  it('broadcasting arithmetic matches plain loops', () => {
    const a = randomTensor([2, 3], 1);
    const b = randomTensor([3], 2);
    const out = add(mul(a, b), div(a, 2)).data;
    const ad = a.data as Float64Array;
    const bd = b.data as Float64Array;
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 3; j++) {
        expect(out[i * 3 + j]).toBeCloseTo(ad[i * 3 + j] * bd[j] + ad[i * 3 + j] / 2, 12);
      }
  });

  it('matmul matches a naive triple loop, including 1-D operands', () => {
    const a = randomTensor([3, 4], 3);
    const b = randomTensor([4, 5], 4);
    const c = matmul(a, b).data as Float64Array;
    const ad = a.data as Float64Array;
    const bd = b.data as Float64Array;
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 5; j++) {
        let s = 0;
        for (let k = 0; k < 4; k++) s += ad[i * 4 + k] * bd[k * 5 + j];
        expect(c[i * 5 + j]).toBeCloseTo(s, 12);
      }
    expect(matmul(randomTensor([4], 5), b).shape).toEqual([5]);
    expect(matmul(a, randomTensor([4], 6)).shape).toEqual([3]);
  });

  it('gradients of add/sub/mul/div with broadcasting match finite differences', () => {
    const a = randomTensor([2, 3], 11);
    const b = randomTensor([1, 3], 12);
    checkGrad((x, y) => add(x, y), [a, b]);
    checkGrad((x, y) => sub(x, y), [a, b]);
    checkGrad((x, y) => mul(x, y), [a, b]);
    checkGrad((x, y) => div(x, add(mul(y, y), 1)), [a, b]);
  });

  it('gradients of matmul (batched, broadcast), reshape, transpose, sum with keepDims/negative axes', () => {
    checkGrad((x, y) => matmul(x, y), [randomTensor([2, 3, 4], 1), randomTensor([4, 2], 2)]);
    // A matrix shared by a rank-4 batch: its gradient is one product over all rows.
    checkGrad((x, y) => matmul(x, y), [randomTensor([2, 2, 3, 4], 7), randomTensor([4, 2], 8)]);
    checkGrad((x) => reshape(transpose(x, [1, 0, 2]), [3, -1]), [randomTensor([2, 3, 2], 3)]);
    checkGrad((x) => sum(x, -1, true), [randomTensor([2, 3], 4)]);
    checkGrad((x) => sum(x, [0, 2]), [randomTensor([2, 3, 2], 5)]);
    checkGrad((x) => broadcastTo(x, [4, 2, 3]), [randomTensor([2, 1], 6)]);
  });

  it('second-order gradients work (grad of grad)', () => {
    // f(x) = sum(x^3) → f'' = 6x
    const x = randomTensor([4], 9);
    const g2 = grad((t) => sum(grad((u) => sum(mul(mul(u, u), u)))(t)))(x);
    const xd = x.data as Float64Array;
    (g2.data as Float64Array).forEach((v, i) => expect(v).toBeCloseTo(6 * xd[i], 10));
  });

  it('valueAndGrad over nested parameter objects', () => {
    const params = { w: randomTensor([3, 2], 1), b: randomTensor([2], 2) };
    const x = randomTensor([4, 3], 3);
    const [loss, g] = valueAndGrad((p: typeof params) => sum(mul(add(matmul(x, p.w), p.b), 0.5)))(params);
    expect(loss.shape).toEqual([]);
    expect(g.w.shape).toEqual([3, 2]);
    // d/db of 0.5 * sum(xW + b) = 0.5 * batch
    expect(Array.from(g.b.data as Float64Array)).toEqual([2, 2]);
  });

  it('compiled functions equal eager results and read variables at each call', async () => {
    const w = new Variable(
      tensor([
        [1, 2],
        [3, 4],
      ]),
    );
    const f = compile((x) => matmul(x, w));
    const x = tensor([
      [1, 0],
      [0, 1],
    ]);
    expect((await f(x)).toArray()).toEqual(matmul(x, w).toArray());
    w.assign(
      tensor([
        [5, 6],
        [7, 8],
      ]),
    );
    expect((await f(x)).toArray()).toEqual([
      [5, 6],
      [7, 8],
    ]);
  });

  it('errors name the op and shapes', () => {
    expect(() => add(tensor([1, 2, 3]), tensor([1, 2]))).toThrow(/add: shapes \[3\] and \[2\] cannot be broadcast/);
    expect(() => matmul(tensor([[1, 2]]), tensor([[1, 2]]))).toThrow(/matmul: inner dimensions differ/);
  });

  it('captured constants never share a name with constants emitted by lowerings', () => {
    const early = tensor([10, 20, 30], { dtype: 'int32' });
    const f = compileSync((x) => add(clip(x, 0, 5), early));
    expect(f(tensor([1, 7, -2], { dtype: 'int32' })).toArray()).toEqual([11, 25, 30]);
  });

  it('float64 graphs with the x*sigmoid(x) pattern load (ORT would fuse it into a float32-only kernel)', () => {
    const x = randomTensor([5], 3);
    const y = compileSync((t) => mul(t, sigmoid(t)))(x).data as Float64Array;
    (x.data as Float64Array).forEach((v, i) => expect(y[i]).toBeCloseTo(v / (1 + Math.exp(-v)), 12));
  });
});
