import { describe, expect, it } from 'vitest';
import {
  type Tensor,
  compile,
  compileSync,
  dropout,
  embedding,
  grad,
  linear,
  mul,
  ones,
  setSeed,
  sum,
  tensor,
} from '../../src/index.js';
import { checkGrad, randomTensor } from '../helpers/gradcheck.js';
import { at, expectElements } from '../helpers/elements.js';

describe('linear', () => {
  const w = randomTensor([3, 4], 1);
  const b = randomTensor([3], 2);
  const ref = (x: Tensor, lead: number[], o: number, bias = true) => {
    let s = bias ? at(b, [o]) : 0;
    for (let k = 0; k < 4; k++) s += at(x, [...lead, k]) * at(w, [o, k]);
    return s;
  };

  it('matches x · Wᵀ + b for 1-D, 2-D (Gemm) and 3-D (MatMul) inputs', () => {
    const x2 = randomTensor([5, 4], 3);
    expectElements(linear(x2, w, b), [5, 3], ([i, o]) => ref(x2, [i], o));
    expectElements(linear(x2, w), [5, 3], ([i, o]) => ref(x2, [i], o, false));
    const x3 = randomTensor([2, 3, 4], 4);
    expectElements(linear(x3, w, b), [2, 3, 3], ([i, j, o]) => ref(x3, [i, j], o));
    const x1 = randomTensor([4], 5);
    expectElements(linear(x1, w, b), [3], ([o]) => ref(x1, [], o));
  });

  it('gradients w.r.t. input, weight and bias', () => {
    checkGrad((x, ww, bb) => linear(x, ww, bb), [randomTensor([5, 4], 6), w, b]);
    checkGrad((x, ww) => linear(x, ww), [randomTensor([2, 3, 4], 7), w]);
    checkGrad((x, ww, bb) => linear(x, ww, bb), [randomTensor([2, 1, 2, 4], 8), w, b]);
    checkGrad((x, ww, bb) => linear(x, ww, bb), [randomTensor([4], 9), w, b]);
  });

  it('one graph with a symbolic batch gives the same values and gradients as eager calls', () => {
    const loss = (x: Tensor, ww: Tensor) => sum(mul(linear(x, ww, b), linear(x, ww, b)));
    // w is captured (not an argument) so that only x gets the symbolic batch axis.
    const f = compileSync((x: Tensor) => [linear(x, w, b), grad(loss, { argnums: [0, 1] })(x, w)], {
      symbolicBatch: true,
    });
    for (const n of [1, 3]) {
      const x = randomTensor([n, 2, 4], 10 + n);
      const [y, [gx, gw]] = f(x) as [Tensor, Tensor[]];
      const [ex, ew] = grad(loss, { argnums: [0, 1] })(x, w) as Tensor[];
      expect(y.shape).toEqual([n, 2, 3]);
      linear(x, w, b).data.forEach((v, i) => expect(y.data[i]).toBeCloseTo(Number(v), 12));
      ex.data.forEach((v, i) => expect(gx.data[i]).toBeCloseTo(Number(v), 12));
      ew.data.forEach((v, i) => expect(gw.data[i]).toBeCloseTo(Number(v), 12));
    }
  });

  it('errors name the op and the shapes', () => {
    expect(() => linear(randomTensor([2, 5], 1), w)).toThrow(
      /linear: input features 5 .* do not match weight \[out, in\] = \[3, 4\]/,
    );
    expect(() => linear(randomTensor([2, 4], 1), w, randomTensor([4], 2))).toThrow(
      /linear: bias must be \[3\].*got \[4\]/,
    );
  });
});

describe('embedding', () => {
  it('looks up rows; the gradient accumulates repeated indices', () => {
    const table = randomTensor([5, 3], 1);
    const ids = tensor(
      [
        [4, 0, 4],
        [1, 4, 0],
      ],
      { dtype: 'int64' },
    );
    expectElements(embedding(ids, table), [2, 3, 3], ([i, j, k]) => at(table, [at(ids, [i, j]), k]));
    checkGrad((t) => embedding(ids, t), [table]);
    // Row 4 appears three times, rows 0 twice, row 1 once, rows 2-3 never.
    const g = grad((t: Tensor) => sum(embedding(ids, t)))(table);
    expect(g.toArray()).toEqual([
      [2, 2, 2],
      [1, 1, 1],
      [0, 0, 0],
      [0, 0, 0],
      [3, 3, 3],
    ]);
    expect(() => embedding(randomTensor([2], 1), table)).toThrow(
      /embedding: indices must be int32 or int64, got float64/,
    );
  });
});

describe('dropout', () => {
  const p = 0.3;
  const scale = Math.fround(1 / (1 - p));

  it('keeps about 1-p of the elements and scales them by 1/(1-p)', () => {
    setSeed(1234);
    const y = dropout(ones([200, 100]), p);
    const data = y.data as Float32Array;
    let kept = 0;
    let other = 0;
    for (const v of data) {
      if (v === scale) kept++;
      else if (v !== 0) other++;
    }
    expect(other).toBe(0);
    // 20,000 Bernoulli(0.7) draws: the standard deviation of the fraction is 0.0032; 0.02 is > 6 sigma.
    expect(Math.abs(kept / data.length - (1 - p))).toBeLessThan(0.02);
  });

  it('setSeed makes eager dropout repeat; consecutive calls differ', () => {
    const x = randomTensor([50], 1, 'float32');
    setSeed(7);
    const a = dropout(x, 0.5).toArray();
    const b = dropout(x, 0.5).toArray();
    setSeed(7);
    expect(dropout(x, 0.5).toArray()).toEqual(a);
    expect(b).not.toEqual(a);
  });

  it('is the identity when not training or p = 0, and zero for p = 1', () => {
    const x = randomTensor([4], 2, 'float32');
    expect(dropout(x, 0.5, false)).toBe(x);
    expect(dropout(x, 0)).toBe(x);
    expect(Array.from(dropout(x, 1).data as Float32Array)).toEqual([0, 0, 0, 0]);
    expect(() => dropout(x, 1.5)).toThrow(/dropout: p must be in \[0, 1\], got 1.5/);
    expect(() => dropout(tensor([1, 2], { dtype: 'int32' }), 0.5)).toThrow(/dropout: dtype int32 is not supported/);
  });

  it('the gradient uses the same mask as the forward pass', () => {
    const x = randomTensor([400], 3); // float64, no zeros
    const c = randomTensor([400], 4);
    const [g, y] = grad(
      (t: Tensor) => {
        const out = dropout(t, p);
        return [sum(mul(out, c)), out];
      },
      { hasAux: true },
    )(x) as [Tensor, Tensor];
    const s = 1 / (1 - p);
    let kept = 0;
    for (let i = 0; i < 400; i++) {
      const on = at(y, [i]) !== 0;
      kept += on ? 1 : 0;
      expect(at(y, [i])).toBeCloseTo(on ? at(x, [i]) * s : 0, 12);
      expect(at(g, [i])).toBeCloseTo(on ? at(c, [i]) * s : 0, 12);
    }
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(400);
  });

  it('compiled functions draw a fresh mask at every call (fed random input, not a baked constant)', async () => {
    const x = ones([64]);
    const f = compileSync((t: Tensor) => dropout(t, 0.5));
    const a = f(x).toArray();
    const b = f(x).toArray();
    expect(a).not.toEqual(b);
    const g = compile((t: Tensor) => dropout(t, 0.5));
    const c = (await g(x)).toArray();
    const d = (await g(x)).toArray();
    expect(c).not.toEqual(d);
    const program = [...g.programs.values()][0];
    expect(program.lowered.inputBindings.filter((bnd) => bnd.kind === 'random').length).toBe(1);
  });

  it('noiseShape broadcasts one mask value over whole rows', () => {
    setSeed(3);
    const y = dropout(ones([20, 8]), 0.5, true, { noiseShape: [null, 1] });
    const rows = y.toArray() as number[][];
    for (const row of rows) expect(new Set(row).size).toBe(1);
    const distinct = new Set(rows.map((r) => r[0]));
    expect(distinct).toEqual(new Set([0, 2]));
  });
});
