import { describe, expect, it } from 'vitest';
import {
  type Tensor,
  compileSync,
  gather,
  gatherElements,
  grad,
  indexAdd,
  indexSelect,
  mul,
  scatterAdd,
  sum,
  take,
  tensor,
} from '../../src/index.js';
import { checkGrad, randomTensor } from '../helpers/gradcheck.js';
import { at, expectElements } from '../helpers/elements.js';

const wrap = (i: number, n: number) => (i < 0 ? i + n : i);

describe('gather', () => {
  it('matches a loop on every axis, with 2-D and negative indices, int32 and int64', () => {
    const x = randomTensor([3, 4, 2], 1);
    for (const dtype of ['int32', 'int64'] as const) {
      const idx = tensor(
        [
          [2, -1],
          [0, 2],
        ],
        { dtype },
      );
      expectElements(gather(x, idx, 0), [2, 2, 4, 2], ([p, q, j, k]) => at(x, [wrap(at(idx, [p, q]), 3), j, k]));
      expectElements(gather(x, idx, 1), [3, 2, 2, 2], ([i, p, q, k]) => at(x, [i, wrap(at(idx, [p, q]), 4), k]));
      const v = tensor([1, 1, 0], { dtype });
      expectElements(gather(x, v, -1), [3, 4, 3], ([i, j, p]) => at(x, [i, j, at(v, [p])]));
    }
    const s = gather(x, tensor(2, { dtype: 'int64' }), 1); // 0-d index drops the axis
    expectElements(s, [3, 2], ([i, k]) => at(x, [i, 2, k]));
  });

  it('gradient sums repeated indices, on the first, a middle and the last axis', () => {
    const x = randomTensor([3, 4, 2], 2);
    const rep = tensor(
      [
        [2, 0, 2],
        [2, -1, 0],
      ],
      { dtype: 'int64' },
    );
    checkGrad((t) => gather(t, rep, 0), [x]);
    checkGrad((t) => gather(t, rep, 1), [x]);
    checkGrad((t) => gather(t, tensor([1, 1, 1, 0], { dtype: 'int32' }), -1), [x]);
    checkGrad((t) => gather(t, tensor(3, { dtype: 'int64' }), 1), [x]);
    // Exact count: d/dx sum(gather(x, [2, 2, 2, 0])) puts 3 on row 2 and 1 on row 0.
    const g = grad((t: Tensor) => sum(gather(t, tensor([2, 2, 2, 0], { dtype: 'int64' }), 0)))(randomTensor([3, 2], 3));
    expect(g.toArray()).toEqual([
      [1, 1],
      [0, 0],
      [3, 3],
    ]);
  });

  it('second-order gradients flow through the gather / index-add pair', () => {
    const idx = tensor([1, 1, 0, 2], { dtype: 'int64' });
    const cube = (t: Tensor) => {
      const y = gather(t, idx, 1);
      return sum(mul(mul(y, y), y));
    };
    checkGrad((t) => grad(cube)(t), [randomTensor([2, 3], 4)]);
  });

  it('take, indexSelect and errors', () => {
    const x = randomTensor([3, 4], 5);
    const idx = tensor(
      [
        [11, 0],
        [5, -1],
      ],
      { dtype: 'int64' },
    );
    expectElements(take(x, idx), [2, 2], ([p, q]) => Number(x.data[wrap(at(idx, [p, q]), 12)]));
    const sel = tensor([3, 1], { dtype: 'int32' });
    expectElements(indexSelect(x, sel, 1), [3, 2], ([i, p]) => at(x, [i, at(sel, [p])]));
    expect(() => gather(x, randomTensor([2], 1))).toThrow(
      /gather: indices must be int32 or int64, got float64 \(got \[3, 4\] float64, \[2\] float64\)/,
    );
    expect(() => gather(x, sel, 2)).toThrow(/gather: axis 2 is out of range for a tensor of rank 2/);
    expect(() => indexSelect(x, idx)).toThrow(/indexSelect: indices must be 1-D, got \[2, 2\]/);
  });

  it('embedding-style gather under a symbolic batch axis', () => {
    const table = randomTensor([5, 3], 6);
    const f = compileSync((ids: Tensor) => gather(table, ids, 0), { symbolicBatch: true });
    for (const b of [1, 4]) {
      const ids = tensor(
        Array.from({ length: b * 2 }, (_, i) => (i * 3) % 5),
        { dtype: 'int64', shape: [b, 2] },
      );
      expectElements(f(ids), [b, 2, 3], ([i, j, k]) => at(table, [at(ids, [i, j]), k]));
    }
  });
});

describe('indexAdd / gatherElements / scatterAdd', () => {
  it('indexAdd accumulates repeated indices (axis 0 and 1)', () => {
    const x = randomTensor([3, 4], 1);
    const src = randomTensor([3, 5], 2);
    const idx = tensor([1, 3, 1, -1, 0], { dtype: 'int64' });
    const expected = (i: number, j: number) => {
      let v = at(x, [i, j]);
      for (let p = 0; p < 5; p++) if (wrap(at(idx, [p]), 4) === j) v += at(src, [i, p]);
      return v;
    };
    expectElements(indexAdd(x, idx, src, 1), [3, 4], ([i, j]) => expected(i, j));
    const src0 = randomTensor([2, 4], 3);
    const idx0 = tensor([2, 2], { dtype: 'int32' });
    expectElements(
      indexAdd(x, idx0, src0),
      [3, 4],
      ([i, j]) => at(x, [i, j]) + (i === 2 ? at(src0, [0, j]) + at(src0, [1, j]) : 0),
    );
    expect(() => indexAdd(x, idx, randomTensor([3, 4], 4), 1)).toThrow(/indexAdd: source must be \[3, 5\] float64/);
  });

  it('gatherElements and scatterAdd match loops (torch.gather / scatter_add semantics)', () => {
    const x = randomTensor([3, 4], 1);
    const idx = tensor(
      [
        [3, 0],
        [1, 1],
        [-1, 2],
      ],
      { dtype: 'int64' },
    );
    expectElements(gatherElements(x, idx, 1), [3, 2], ([i, j]) => at(x, [i, wrap(at(idx, [i, j]), 4)]));
    const rows = tensor([[2, 0, 2, 2]], { dtype: 'int32' });
    expectElements(gatherElements(x, rows, 0), [1, 4], ([, j]) => at(x, [at(rows, [0, j]), j]));

    const upd = randomTensor([3, 2], 2);
    const expected = (i: number, j: number) => {
      let v = at(x, [i, j]);
      for (let q = 0; q < 2; q++) if (wrap(at(idx, [i, q]), 4) === j) v += at(upd, [i, q]);
      return v;
    };
    expectElements(scatterAdd(x, idx, upd, 1), [3, 4], ([i, j]) => expected(i, j));
    const dup = tensor([[1, 1, 1]], { dtype: 'int64' });
    const u = randomTensor([1, 3], 3);
    expectElements(
      scatterAdd(x, dup, u, -1),
      [3, 4],
      ([i, j]) => at(x, [i, j]) + (i === 0 && j === 1 ? at(u, [0, 0]) + at(u, [0, 1]) + at(u, [0, 2]) : 0),
    );
    expect(() => scatterAdd(x, idx, randomTensor([2, 2], 4), 1)).toThrow(
      /scatterAdd: updates must have the indices' shape \[3, 2\]/,
    );
    expect(() => gatherElements(x, tensor([1, 2], { dtype: 'int64' }), 0)).toThrow(
      /gatherElements: indices must have the same rank as the data/,
    );
  });

  it('gradients of indexAdd, gatherElements and scatterAdd with repeated indices', () => {
    const idx = tensor([1, 3, 1, 0, 1], { dtype: 'int64' });
    checkGrad((x, s) => indexAdd(x, idx, s, 1), [randomTensor([2, 4], 1), randomTensor([2, 5], 2)]);
    checkGrad((x, s) => indexAdd(x, idx, s, 0), [randomTensor([4, 2], 3), randomTensor([5, 2], 4)]);
    const e = tensor(
      [
        [3, 3],
        [1, 0],
        [0, 0],
      ],
      { dtype: 'int64' },
    );
    checkGrad((x) => gatherElements(x, e, 1), [randomTensor([3, 4], 5)]);
    checkGrad((x, u) => scatterAdd(x, e, u, 1), [randomTensor([3, 4], 6), randomTensor([3, 2], 7)]);
    checkGrad(
      (x) =>
        gatherElements(
          x,
          tensor(
            [
              [2, 2],
              [2, 0],
            ],
            { dtype: 'int32' },
          ),
          0,
        ),
      [randomTensor([3, 2], 8)],
    );
  });
});
