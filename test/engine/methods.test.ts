import { describe, expect, it } from 'vitest';
import { type Tensor, Variable, grad, tensor, tensorMethodNames } from '../../src/index.js';
import { checkGrad, randomTensor } from '../helpers/gradcheck.js';

const values = (t: Tensor): number[] => Array.from(t.data as Float64Array, Number);

describe('Tensor methods', () => {
  it('are installed, non-enumerable, on tensors and variables', () => {
    const x = tensor([1, 2]);
    for (const name of tensorMethodNames)
      expect(typeof (x as unknown as Record<string, unknown>)[name]).toBe('function');
    expect(Object.keys(Object.getPrototypeOf(x))).not.toContain('add');
    const v = new Variable(tensor([3, 4]));
    expect(v.mul(2).toArray()).toEqual([6, 8]);
    expect(tensorMethodNames).toEqual(
      expect.arrayContaining([
        'add',
        'sub',
        'mul',
        'div',
        'neg',
        'matmul',
        'reshape',
        'transpose',
        'sum',
        'mean',
        'max',
        'min',
        'exp',
        'log',
        'sqrt',
        'abs',
        'pow',
        'relu',
        'sigmoid',
        'tanh',
        'softmax',
        'logSoftmax',
        'cast',
        'squeeze',
        'unsqueeze',
        'flatten',
        'slice',
        'gather',
        'argmax',
        'equal',
      ]),
    );
  });

  it('chained arithmetic and reductions match plain loops', () => {
    const a = randomTensor([2, 3], 1);
    const b = randomTensor([3], 2);
    const ad = values(a);
    const bd = values(b);
    // ((a - b) * 2 + 1) / 4, then |.|, then the row sums
    const out = a.sub(b).mul(2).add(1).div(4).abs().sum(-1);
    for (let i = 0; i < 2; i++) {
      let s = 0;
      for (let j = 0; j < 3; j++) s += Math.abs(((ad[i * 3 + j] - bd[j]) * 2 + 1) / 4);
      expect(values(out)[i]).toBeCloseTo(s, 12);
    }
    const m = a.max(1);
    const am = a.argmax(1);
    for (let i = 0; i < 2; i++) {
      const row = ad.slice(i * 3, i * 3 + 3);
      expect(values(m)[i]).toBe(Math.max(...row));
      expect(Number(am.data[i])).toBe(row.indexOf(Math.max(...row)));
    }
    expect(a.mean().item()).toBeCloseTo(ad.reduce((p, v) => p + v, 0) / 6, 12);
    values(a.neg().exp().log().neg()).forEach((v, i) => expect(v).toBeCloseTo(ad[i], 12));
  });

  it('activations and softmax', () => {
    const x = randomTensor([2, 4], 3);
    const xd = values(x);
    values(x.relu()).forEach((v, i) => expect(v).toBe(Math.max(xd[i], 0)));
    values(x.sigmoid()).forEach((v, i) => expect(v).toBeCloseTo(1 / (1 + Math.exp(-xd[i])), 12));
    values(x.tanh()).forEach((v, i) => expect(v).toBeCloseTo(Math.tanh(xd[i]), 12));
    const sm = values(x.softmax(-1));
    const lsm = values(x.logSoftmax(-1));
    for (let i = 0; i < 2; i++) {
      const z = xd.slice(i * 4, i * 4 + 4).reduce((p, v) => p + Math.exp(v), 0);
      for (let j = 0; j < 4; j++) {
        expect(sm[i * 4 + j]).toBeCloseTo(Math.exp(xd[i * 4 + j]) / z, 12);
        expect(lsm[i * 4 + j]).toBeCloseTo(xd[i * 4 + j] - Math.log(z), 12);
      }
    }
  });

  it('shape and indexing methods', () => {
    const x = randomTensor([2, 3, 4], 4);
    const xd = values(x);
    expect(x.reshape([6, 4]).shape).toEqual([6, 4]);
    expect(x.transpose([2, 0, 1]).shape).toEqual([4, 2, 3]);
    expect(x.unsqueeze(0).squeeze(0).shape).toEqual([2, 3, 4]);
    expect(x.flatten().shape).toEqual([2, 12]);
    const s = x.slice([1, null, [null, null, -1]]); // x[1, :, ::-1]
    for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) expect(values(s)[j * 4 + k]).toBe(xd[12 + j * 4 + (3 - k)]);
    const g = x.gather(tensor([2, 0], { dtype: 'int64' }), 1);
    expect(g.shape).toEqual([2, 2, 4]);
    for (let i = 0; i < 2; i++) for (let k = 0; k < 4; k++) expect(values(g)[i * 8 + k]).toBe(xd[i * 12 + 8 + k]);
    expect(x.split(2, -1).map((t) => t.shape)).toEqual([
      [2, 3, 2],
      [2, 3, 2],
    ]);
    expect(x.cast('float32').dtype).toBe('float32');
    expect(
      tensor([1, 2, 3])
        .equal(tensor([1, 5, 3]))
        .toArray(),
    ).toEqual([true, false, true]);
    expect(
      tensor([
        [1, 2],
        [3, 4],
      ])
        .matmul(tensor([[1], [1]]))
        .toArray(),
    ).toEqual([[3], [7]]);
  });

  it('chains differentiate like the functions (and detach stops the gradient)', () => {
    checkGrad(
      (x, w) =>
        x
          .matmul(w)
          .tanh()
          .mul(x.slice([null, [0, 2]]).sum(-1, true)),
      [randomTensor([3, 4], 5), randomTensor([4, 2], 6)],
    );
    const x = randomTensor([3], 7);
    const g = grad((t: Tensor) => t.mul(t.detach()).sum())(x);
    expect(values(g)).toEqual(values(x));
  });
});

describe('arguments a signature does not take are rejected with the expected form', () => {
  // Calls as JavaScript (or code typed `any`) makes them; TypeScript callers get compile errors.
  const x = tensor([
    [1, 2, 3],
    [4, 5, 6],
  ]) as unknown as Record<string, (...a: unknown[]) => unknown>;
  const cases: [string, () => unknown, RegExp][] = [
    [
      "TF.js's x.slice(begin, size)",
      () => x.slice([0, 0], [3, 2]),
      /slice: got 2 argument\(s\), expected 1: x\.slice\(spec\).*slice\(\{ starts: begin, ends: begin \+ size \}\)/,
    ],
    [
      "torch's x.reshape(3, 2)",
      () => x.reshape(3, 2),
      /reshape: got 2 argument\(s\), expected 1.*x\.reshape\(\[3, 2\]\)/,
    ],
    ['x.reshape(6)', () => x.reshape(6), /reshape: the target shape must be an array of sizes/],
    ["torch's x.transpose(1, 0)", () => x.transpose(1, 0), /transpose: got 2 argument\(s\), expected 0 to 1/],
    ['x.tile(2, 2)', () => x.tile(2, 2), /tile: got 2 argument\(s\), expected 1.*x\.tile\(\[2, 2\]\)/],
    ['x.softmax(1, 2)', () => x.softmax(1, 2), /softmax: got 2 argument\(s\), expected 0 to 1/],
    ['x.gather() without indices', () => x.gather(), /gather: got 0 argument\(s\), expected 1 to 2/],
    ['x.gather(1): a number for a tensor', () => x.gather(1), /gather: input 1 must be a Tensor, got number 1/],
    ["x.cast('int')", () => x.cast('int'), /cast: unknown dtype "int"; expected one of float32/],
  ];
  for (const [label, fn, message] of cases) it(label, () => expect(fn).toThrow(message));

  it('the functional slice(x, begin, size) is rejected too; optional arguments passed as undefined are fine', async () => {
    const { slice } = await import('../../src/index.js');
    const t = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(() => (slice as (...a: unknown[]) => unknown)(t, [0, 0], [3, 2])).toThrow(
      /slice: expected slice\(x, spec\)/,
    );
    expect(
      t
        .slice([
          [0, 1],
          [1, 3],
        ])
        .toArray(),
    ).toEqual([[2, 3]]);
    expect(t.sum(undefined, undefined).item()).toBe(21);
  });
});
