import { describe, expect, it } from 'vitest';
import {
  type Tensor,
  compile,
  compileSync,
  concat,
  expand,
  flatten,
  flip,
  grad,
  mul,
  oneHot,
  pad,
  permute,
  slice,
  split,
  squeeze,
  stack,
  sum,
  tensor,
  tile,
  unsqueeze,
  zeros,
} from '../../src/index.js';
import { checkGrad, randomTensor } from '../helpers/gradcheck.js';
import { at, expectElements } from '../helpers/elements.js';

describe('squeeze / unsqueeze / permute / expand / flatten', () => {
  it('move axes of size 1 and keep values in order', () => {
    const x = randomTensor([2, 1, 3, 1], 1);
    expectElements(squeeze(x), [2, 3], ([i, j]) => at(x, [i, 0, j, 0]));
    expectElements(squeeze(x, -1), [2, 1, 3], ([i, k, j]) => at(x, [i, k, j, 0]));
    const y = randomTensor([2, 3], 2);
    expectElements(unsqueeze(y, [0, -1]), [1, 2, 3, 1], ([, i, j]) => at(y, [i, j]));
    expectElements(unsqueeze(y, -2), [2, 1, 3], ([i, , j]) => at(y, [i, j]));
    expect(() => squeeze(x, 0)).toThrow(/squeeze: axis 0 has size 2.*\[2, 1, 3, 1\]/);
    expect(() => unsqueeze(y, 3)).toThrow(/unsqueeze: axis 3 is out of range/);
  });

  it('permute matches a loop and accepts negative axes', () => {
    const x = randomTensor([2, 3, 4], 3);
    expectElements(permute(x, [2, 0, -2]), [4, 2, 3], ([k, i, j]) => at(x, [i, j, k]));
    expect(() => permute(x, [0, 0, 1])).toThrow(/permute: .*duplicates/);
    expect(() => permute(x, [0, 1])).toThrow(/permute: perm \[0, 1\] must list each of the 3 axes/);
  });

  it('expand keeps -1 axes and adds leading ones; flatten merges axes like torch.flatten', () => {
    const x = randomTensor([3, 1], 4);
    expectElements(expand(x, [2, -1, 4]), [2, 3, 4], ([, i]) => at(x, [i, 0]));
    expect(() => expand(x, [-1, 3, 4])).toThrow(/expand: -1 at axis 0/);
    const y = randomTensor([2, 3, 4, 5], 5);
    expectElements(flatten(y), [2, 60], ([i, r]) => at(y, [i, Math.floor(r / 20), Math.floor(r / 5) % 4, r % 5]));
    expectElements(flatten(y, 1, -2), [2, 12, 5], ([i, r, l]) => at(y, [i, Math.floor(r / 4), r % 4, l]));
    expect(flatten(y, 0).shape).toEqual([120]);
  });

  it('gradients of squeeze, unsqueeze, permute, expand, flatten', () => {
    checkGrad((x) => squeeze(x, [1, -1]), [randomTensor([2, 1, 3, 1], 6)]);
    checkGrad((x) => unsqueeze(x, [-1, 0]), [randomTensor([2, 3], 7)]);
    checkGrad((x) => permute(x, [-1, 0, 1]), [randomTensor([2, 3, 2], 8)]);
    checkGrad((x) => expand(x, [2, -1, 3]), [randomTensor([2, 1], 9)]);
    checkGrad((x) => flatten(x, 0, 1), [randomTensor([2, 2, 3], 10)]);
  });
});

describe('concat / stack / split', () => {
  it('concat and stack match loops, with negative axes', () => {
    const a = randomTensor([2, 3], 1);
    const b = randomTensor([2, 1], 2);
    const c = randomTensor([2, 2], 3);
    expectElements(concat([a, b, c], -1), [2, 6], ([i, j]) =>
      j < 3 ? at(a, [i, j]) : j < 4 ? at(b, [i, 0]) : at(c, [i, j - 4]),
    );
    const d = randomTensor([2, 3], 4);
    expectElements(stack([a, d], -1), [2, 3, 2], ([i, j, k]) => at(k === 0 ? a : d, [i, j]));
    expectElements(stack([a, d]), [2, 2, 3], ([k, i, j]) => at(k === 0 ? a : d, [i, j]));
  });

  it('split by sizes and by count matches loops', () => {
    const x = randomTensor([3, 6], 5);
    const [p, q] = split(x, [2, 4], -1);
    expectElements(p, [3, 2], ([i, j]) => at(x, [i, j]));
    expectElements(q, [3, 4], ([i, j]) => at(x, [i, j + 2]));
    const parts = split(x, 3, 0);
    expect(parts.length).toBe(3);
    parts.forEach((t, k) => expectElements(t, [1, 6], ([, j]) => at(x, [k, j])));
    expect(() => split(x, 4, 1)).toThrow(/split: cannot split axis 1 of size 6 into 4 equal parts/);
    expect(() => split(x, [2, 2], 1)).toThrow(/split: sizes \[2, 2\] add up to 4 but axis 1 has size 6/);
  });

  it('errors name the op and the shapes', () => {
    const a = randomTensor([2, 3], 1);
    expect(() => concat([a, randomTensor([3, 3], 2)], 1)).toThrow(
      /concat: tensors must have the same shape except along axis 1; tensor 1 \[3, 3\] differs from tensor 0 \[2, 3\] at axis 0/,
    );
    expect(() => concat([a, randomTensor([2, 3], 3, 'float32')])).toThrow(
      /concat: all inputs must have the same dtype/,
    );
    expect(() => stack([a, randomTensor([2, 2], 4)])).toThrow(
      /stack: all tensors must have the same shape; tensor 1 is \[2, 2\]/,
    );
  });

  it('gradients of concat, stack and split (also when only some pieces are used)', () => {
    checkGrad((a, b) => concat([a, b, a], -2), [randomTensor([2, 3, 2], 1), randomTensor([2, 1, 2], 2)]);
    checkGrad((a, b) => stack([a, b], 1), [randomTensor([2, 3], 3), randomTensor([2, 3], 4)]);
    checkGrad(
      (x) => mul(...(split(x, [1, 3], -1).map((t) => sum(t, -1, true)) as [Tensor, Tensor])),
      [randomTensor([2, 4], 5)],
    );
    checkGrad((x) => split(x, 3, 0)[1], [randomTensor([3, 2], 6)]);
  });
});

describe('slice', () => {
  // Index lists from Python's slicing rules, e.g. list(range(5))[-1:0:-2] == [4, 2].
  const cases: { spec: [number | null, number | null, number | null]; n: number; picked: number[] }[] = [
    { spec: [1, 4, 2], n: 5, picked: [1, 3] },
    { spec: [null, null, -1], n: 5, picked: [4, 3, 2, 1, 0] },
    { spec: [-1, 0, -2], n: 5, picked: [4, 2] },
    { spec: [-2, null, -3], n: 5, picked: [3, 0] },
    { spec: [-100, 100, null], n: 5, picked: [0, 1, 2, 3, 4] },
    { spec: [3, 1, null], n: 5, picked: [] },
    { spec: [null, -2, null], n: 5, picked: [0, 1, 2] },
    { spec: [0, null, 3], n: 7, picked: [0, 3, 6] },
    { spec: [10, -10, -1], n: 4, picked: [3, 2, 1, 0] },
  ];

  it('follows Python slicing (negative indices and steps, clamping, empty results)', () => {
    for (const { spec, n, picked } of cases) {
      const x = randomTensor([2, n], n);
      expectElements(slice(x, [null, spec]), [2, picked.length], ([i, j]) => at(x, [i, picked[j]]));
    }
  });

  it('slices several axes at once, drops indexed axes, accepts the ONNX-style form', () => {
    const x = randomTensor([4, 5, 3], 1);
    expectElements(slice(x, [[1, 3], [null, null, -2], -1]), [2, 3], ([i, j]) => at(x, [1 + i, 4 - 2 * j, 2]));
    expectElements(slice(x, [null, 0]), [4, 3], ([i, k]) => at(x, [i, 0, k]));
    expectElements(
      slice(x, { starts: [-1, 1], ends: [-100, 4], axes: [0, -1], steps: [-1, 1] }),
      [4, 5, 2],
      ([i, j, k]) => at(x, [3 - i, j, 1 + k]),
    );
    // A start before the front with a negative step: ONNX clamps it to 0, Python gives nothing.
    expectElements(slice(x, { starts: [-100], ends: [-100], axes: [1], steps: [-1] }), [4, 1, 3], ([i, , k]) =>
      at(x, [i, 0, k]),
    );
    expect(slice(x, [null, [-100, -100, -1]]).shape).toEqual([4, 0, 3]);
    expect(() => slice(x, [null, 5])).toThrow(/slice: index 5 is out of range for axis 1 of size 5.*\[4, 5, 3\]/);
    expect(() => slice(x, [[0, 1, 0]])).toThrow(/slice: step 0 along axis 0 must be a non-zero integer/);
  });

  it('gradients with positive and negative steps, trimming, indexing and several axes', () => {
    const x = randomTensor([4, 7], 2);
    checkGrad(
      (t) =>
        slice(t, [
          [1, 3],
          [2, 6],
        ]),
      [x],
    );
    checkGrad((t) => slice(t, [null, [0, null, 3]]), [x]); // covers 0,3,6: the interleaved zeros are trimmed
    checkGrad((t) => slice(t, [null, [1, null, 3]]), [x]);
    checkGrad(
      (t) =>
        slice(t, [
          [null, null, -1],
          [-2, 0, -2],
        ]),
      [x],
    );
    checkGrad(
      (t) =>
        slice(t, [
          [3, 0, -2],
          [null, null, -3],
        ]),
      [x],
    );
    checkGrad((t) => slice(t, [-1, [1, 5]]), [x]);
    checkGrad((t) => slice(t, [[3, 1]]), [x]); // empty slice: zero gradient
  });

  it('flip reverses axes; its gradient flips back', () => {
    const x = randomTensor([2, 3, 4], 9);
    expectElements(flip(x, [0, -1]), [2, 3, 4], ([i, j, k]) => at(x, [1 - i, j, 3 - k]));
    checkGrad((t) => flip(t, 1), [x]);
  });

  it('works under a symbolic batch axis and refuses to cut it', () => {
    const f = compileSync((t: Tensor) => slice(t, [null, [null, null, -1]]), { symbolicBatch: true });
    for (const b of [2, 3]) {
      const x = randomTensor([b, 3], b);
      expectElements(f(x), [b, 3], ([i, j]) => at(x, [i, 2 - j]));
    }
    const g = compileSync((t: Tensor) => slice(t, [[0, 1]]), { symbolicBatch: true });
    expect(() => g(randomTensor([2, 3], 1))).toThrow(/slice: axis 0 has symbolic size batch/);
  });
});

describe('pad', () => {
  // NumPy np.pad semantics, per axis: where output position j (before-padding b, size n) reads from.
  const source = (mode: string, j: number, b: number, n: number): number | null => {
    const i = j - b;
    if (i >= 0 && i < n) return i;
    if (mode === 'constant') return null;
    if (mode === 'edge') return i < 0 ? 0 : n - 1;
    return i < 0 ? -i : 2 * (n - 1) - i; // reflect (edge not repeated)
  };

  it('constant, reflect and edge match NumPy semantics on two axes', () => {
    const x = randomTensor([3, 4], 1);
    const pads: [number, number][] = [
      [2, 1],
      [1, 3],
    ];
    for (const mode of ['constant', 'reflect', 'edge'] as const) {
      const out = pad(x, pads, { mode, value: 2.5 });
      expectElements(out, [6, 8], ([p, q]) => {
        const i = source(mode, p, 2, 3);
        const j = source(mode, q, 1, 4);
        return i === null || j === null ? 2.5 : at(x, [i, j]);
      });
    }
    expectElements(pad(x, 1), [5, 6], ([p, q]) =>
      p === 0 || q === 0 || p === 4 || q === 5 ? 0 : at(x, [p - 1, q - 1]),
    );
  });

  it('pads integer tensors and checks its arguments', () => {
    const x = tensor(
      [
        [1, 2],
        [3, 4],
      ],
      { dtype: 'int32' },
    );
    expect(pad(x, [null, [1, 0]], { value: 7 }).toArray()).toEqual([
      [7, 1, 2],
      [7, 3, 4],
    ]);
    expect(() => pad(x, [[2, 0], null], { mode: 'reflect' })).toThrow(
      /pad: reflect padding of axis 0 \(size 2\) by \[2, 0\] needs each side < 2/,
    );
    expect(() => pad(x, [1])).toThrow(/pad: got padding for 1 axes, expected one entry per axis \(2/);
    expect(() => pad(x, [[-1, 0], null])).toThrow(/pad: pads .* non-negative integers \(use slice\(\) to crop\)/);
  });

  it('gradients for every mode (asymmetric padding on several axes)', () => {
    const x = randomTensor([3, 4, 2], 3);
    for (const mode of ['constant', 'reflect', 'edge'] as const) {
      checkGrad(
        (t) =>
          pad(
            t,
            [
              [2, 1],
              [0, 3],
              [1, 1],
            ],
            { mode, value: 1 },
          ),
        [x],
      );
    }
  });
});

describe('second order', () => {
  it('gradients of gradients through slice, pad and concat/split', () => {
    const cube = (t: Tensor) => mul(mul(t, t), t);
    const f = (t: Tensor) =>
      sum(
        cube(
          pad(
            slice(t, [
              [null, null, -2],
              [1, null, 2],
            ]),
            [
              [1, 0],
              [0, 1],
            ],
            { mode: 'reflect' },
          ),
        ),
      );
    checkGrad((t) => grad(f)(t), [randomTensor([5, 4], 11)]);
    const g = (t: Tensor) => sum(cube(concat(split(t, [1, 2], 1).reverse(), 1)));
    checkGrad((t) => grad(g)(t), [randomTensor([2, 3], 12)]);
  });
});

describe('tile / oneHot', () => {
  it('tile matches numpy.tile, including shorter and longer reps', () => {
    const x = randomTensor([2, 3], 1);
    expectElements(tile(x, [2, 3]), [4, 9], ([i, j]) => at(x, [i % 2, j % 3]));
    expectElements(tile(x, 2), [2, 6], ([i, j]) => at(x, [i, j % 3]));
    expectElements(tile(x, [2, 1, 1]), [2, 2, 3], ([, i, j]) => at(x, [i, j]));
  });

  it('tile gradient sums over the repetitions', () => {
    checkGrad((t) => tile(t, [2, 1, 3]), [randomTensor([2, 2, 2], 2)]);
    checkGrad((t) => tile(t, [3, 2]), [randomTensor([2], 3)]);
  });

  it('oneHot matches a loop; out-of-range indices give zero rows', () => {
    for (const dtype of ['int32', 'int64'] as const) {
      const idx = tensor(
        [
          [0, 3],
          [5, -1],
          [2, 2],
        ],
        { dtype },
      );
      const out = oneHot(idx, 4);
      expect(out.dtype).toBe('float32');
      expectElements(out, [3, 2, 4], ([i, j, k]) => (Number(at(idx, [i, j])) === k ? 1 : 0));
    }
    expect(oneHot(tensor([1], { dtype: 'int64' }), 3, { dtype: 'int32' }).toArray()).toEqual([[0, 1, 0]]);
    expect(() => oneHot(zeros([2]), 3)).toThrow(/oneHot: dtype float32 is not supported/);
  });
});

describe('compiled use', () => {
  it('shape ops compose inside one compiled graph (worker) and agree with eager', async () => {
    const fn = (t: Tensor) =>
      concat([pad(slice(t, [null, [null, null, -1]]), [null, [1, 0]], { mode: 'edge' }), tile(t, [1, 2])], 1);
    const x = randomTensor([2, 3], 4, 'float32');
    const compiled = compile(fn);
    expect((await compiled(x)).toArray()).toEqual(fn(x).toArray());
  });
});
