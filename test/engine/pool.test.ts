import { describe, expect, it } from 'vitest';
import {
  Generator,
  Tensor,
  TracedProgram,
  avgPool1d,
  conv2d,
  identity,
  avgPool2d,
  compileSync,
  globalAvgPool2d,
  globalMaxPool2d,
  grad,
  maxPool1d,
  maxPool2d,
  mul,
  relu,
  sum,
  tensor,
  valueAndGrad,
} from '../../src/index.js';
import { checkGrad, randomTensor } from '../helpers/gradcheck.js';
import { nchwcBlockSize } from '../../src/engine/runtime/nchwc.js';

type Pool2dConfig = { kernel: [number, number]; stride: [number, number]; pads: [number, number, number, number] };

/** Plain-loop 2-D pooling windows: for each output, the flat input indices it covers (row-major window order). */
function windows(shape: number[], c: Pool2dConfig): { out: number[]; cells: number[][] } {
  const [n, ch, h, w] = shape;
  const [kh, kw] = c.kernel;
  const [sh, sw] = c.stride;
  const [pt, pl, pb, pr] = c.pads;
  const oh = Math.floor((h + pt + pb - kh) / sh) + 1;
  const ow = Math.floor((w + pl + pr - kw) / sw) + 1;
  const cells: number[][] = [];
  for (let b = 0; b < n; b++)
    for (let k = 0; k < ch; k++)
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          const cell: number[] = [];
          for (let di = 0; di < kh; di++)
            for (let dj = 0; dj < kw; dj++) {
              const y = i * sh - pt + di;
              const x = j * sw - pl + dj;
              if (y >= 0 && y < h && x >= 0 && x < w) cell.push(((b * ch + k) * h + y) * w + x);
            }
          cells.push(cell);
        }
  return { out: [n, ch, oh, ow], cells };
}

/** Reference max pool and its PyTorch-style gradient (first maximum in window order takes it all). */
function refMaxPool(
  x: ArrayLike<number>,
  shape: number[],
  c: Pool2dConfig,
  r: ArrayLike<number>,
): { y: number[]; dx: Float64Array } {
  const { cells } = windows(shape, c);
  const dx = new Float64Array(x.length);
  const y = cells.map((cell, o) => {
    let best = cell[0];
    for (const i of cell) if (x[i] > x[best]) best = i;
    dx[best] += r[o];
    return x[best];
  });
  return { y, dx };
}

function integerTensor(shape: number[], seed: number, levels: number): Tensor {
  const g = new Generator(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tensor(
    Float64Array.from({ length: n }, () => g.int(0, levels)),
    { shape },
  );
}

const configs: [string, Pool2dConfig][] = [
  ['2x2 stride 2 (non-overlapping)', { kernel: [2, 2], stride: [2, 2], pads: [0, 0, 0, 0] }],
  ['3x3 stride 3, input cropped', { kernel: [3, 3], stride: [3, 3], pads: [0, 0, 0, 0] }],
  ['2x3 stride (2,3), non-square', { kernel: [2, 3], stride: [2, 3], pads: [0, 0, 0, 0] }],
  ['3x3 stride 2 padding 1 (overlapping, padded)', { kernel: [3, 3], stride: [2, 2], pads: [1, 1, 1, 1] }],
  ['2x2 stride 1 (overlapping)', { kernel: [2, 2], stride: [1, 1], pads: [0, 0, 0, 0] }],
  ['5x5 window of 5 elements > chain limit', { kernel: [5, 4], stride: [5, 4], pads: [0, 0, 0, 0] }],
];

describe('maxPool2d', () => {
  for (const [name, c] of configs) {
    it(`${name}: forward and index-exact gradient with ties (float64, integer values)`, () => {
      const shape = [2, 3, 11, 10];
      const x = integerTensor(shape, 3, 3); // values 0..2: many ties in every window
      const opts = {
        kernel: c.kernel,
        stride: c.stride,
        padding: [
          [c.pads[0], c.pads[2]],
          [c.pads[1], c.pads[3]],
        ] as [number, number][],
      };
      const y = maxPool2d(x, opts);
      const { out, cells } = windows(shape, c);
      expect(y.shape).toEqual(out);
      const r = randomTensor(out, 5);
      const ref = refMaxPool(x.data as Float64Array, shape, c, r.data as Float64Array);
      expect(Array.from(y.data as Float64Array)).toEqual(ref.y);
      const dx = grad((t: Tensor, rr: Tensor) => sum(mul(maxPool2d(t, opts), rr)))(x, r).data as Float64Array;
      // Same values exactly: each window's cotangent lands, unsplit, on one element.
      for (let i = 0; i < dx.length; i++) expect(dx[i]).toBeCloseTo(ref.dx[i], 12);
      if (c.stride[0] === c.kernel[0] && c.stride[1] === c.kernel[1]) {
        // Non-overlapping: every window holds exactly one non-zero gradient.
        for (const cell of cells) expect(cell.filter((i) => dx[i] !== 0).length).toBe(1);
      }
      // float32 takes other lowerings for overlapping windows (strided slices + col2im): same answer.
      const f32 = (t: Tensor) => tensor(Float32Array.from(t.data as Float64Array), { shape: t.shape as number[] });
      const dx32 = grad((t: Tensor, rr: Tensor) => sum(mul(maxPool2d(t, opts), rr)))(f32(x), f32(r))
        .data as Float32Array;
      for (let i = 0; i < dx.length; i++)
        expect(Math.abs(dx32[i] - ref.dx[i])).toBeLessThan(1e-6 * Math.max(1, Math.abs(ref.dx[i])));
    });
  }

  it('a single window smaller than the plane (kernel 3, stride 3 on 4x5) only covers its own elements', () => {
    const shape = [1, 2, 4, 5];
    const c: Pool2dConfig = { kernel: [3, 3], stride: [3, 3], pads: [0, 0, 0, 0] };
    // The plane's largest value lies outside the window (row 3, column 4).
    const x = tensor(
      Float64Array.from(randomTensor(shape, 8).data as Float64Array, (v, i) => (i % 20 === 19 ? 5 : v)),
      { shape },
    );
    const r = randomTensor([1, 2, 1, 1], 9);
    const ref = refMaxPool(x.data as Float64Array, shape, c, r.data as Float64Array);
    const dx = grad((t: Tensor, rr: Tensor) => sum(mul(maxPool2d(t, { kernel: 3 }), rr)))(x, r).data as Float64Array;
    expect(Array.from(dx)).toEqual(Array.from(ref.dx));
  });

  it('gradient equals finite differences on random inputs (float64)', () => {
    for (const [, c] of configs.slice(0, 4)) {
      const opts = {
        kernel: c.kernel,
        stride: c.stride,
        padding: [
          [c.pads[0], c.pads[2]],
          [c.pads[1], c.pads[3]],
        ] as [number, number][],
      };
      checkGrad((t) => maxPool2d(t, opts), [randomTensor([1, 2, 7, 6], 11)]);
    }
  });

  it('float32 and symbolic batch: one compiled gradient serves two batch sizes', () => {
    const f = compileSync((t: Tensor) => grad((u: Tensor) => sum(maxPool2d(u, { kernel: 2 })))(t), {
      symbolicBatch: true,
    });
    for (const n of [1, 3]) {
      const x = integerTensor([n, 2, 4, 4], 8, 2);
      const x32 = tensor(Float32Array.from(x.data as Float64Array), { shape: [n, 2, 4, 4] });
      const dx = f(x32).data as Float32Array;
      const ref = refMaxPool(x.data as Float64Array, [n, 2, 4, 4], configs[0][1], new Float64Array(n * 8).fill(1));
      expect(Array.from(dx)).toEqual(Array.from(ref.dx));
    }
  });

  it("training graphs compute the forward from the gradient's window pieces; values stay exact, inference keeps MaxPool", () => {
    const shape = [2, 3, 9, 8];
    const x = integerTensor(shape, 12, 4);
    const c = configs[0][1];
    const r = randomTensor(windows(shape, c).out, 3);
    const ref = refMaxPool(x.data as Float64Array, shape, c, r.data as Float64Array);
    const fn = (t: Tensor, rr: Tensor) => valueAndGrad((u: Tensor) => sum(mul(maxPool2d(u, { kernel: 2 }), rr)))(t);
    const [value, dx] = fn(x, r) as [Tensor, Tensor];
    expect(value.item()).toBeCloseTo(
      ref.y.reduce((s, v, i) => s + v * (r.data as Float64Array)[i], 0),
      12,
    );
    expect(Array.from(dx.data as Float64Array)).toEqual(Array.from(ref.dx));
    const opTypes = (f: (...a: Tensor[]) => unknown, args: Tensor[]) =>
      TracedProgram.build(f, args).lowered.model.graph.node.map((n) => n.op_type);
    expect(opTypes(fn, [x, r])).not.toContain('MaxPool');
    expect(opTypes((t: Tensor) => maxPool2d(t, { kernel: 2 }), [x])).toContain('MaxPool');
  });

  it('maxPool2d(relu(x)) is pooled before the relu: same values and gradients as the loops on relu(x)', () => {
    const shape = [2, 3, 7, 6];
    const g = new Generator(5);
    const x = tensor(
      Float64Array.from({ length: 2 * 3 * 7 * 6 }, () => g.int(-3, 3)),
      { shape },
    ); // many negative and tied windows
    const xd = x.data as Float64Array;
    for (const [, c] of [configs[0], configs[3]]) {
      const opts = {
        kernel: c.kernel,
        stride: c.stride,
        padding: [
          [c.pads[0], c.pads[2]],
          [c.pads[1], c.pads[3]],
        ] as [number, number][],
      };
      const r = randomTensor(windows(shape, c).out, 6);
      const ref = refMaxPool(
        xd.map((v) => Math.max(v, 0)),
        shape,
        c,
        r.data as Float64Array,
      );
      const fn = (t: Tensor, rr: Tensor) => valueAndGrad((u: Tensor) => sum(mul(maxPool2d(relu(u), opts), rr)))(t);
      const [value, dx] = fn(x, r) as [Tensor, Tensor];
      expect(value.item()).toBeCloseTo(
        ref.y.reduce((s, v, i) => s + v * (r.data as Float64Array)[i], 0),
        12,
      );
      (dx.data as Float64Array).forEach((v, i) => expect(v).toBeCloseTo(xd[i] > 0 ? ref.dx[i] : 0, 12));
      const ops = TracedProgram.build(fn, [x, r]).lowered.model.graph.node.map((n) => n.op_type);
      expect(ops.indexOf('Relu')).toBeGreaterThan(Math.max(ops.indexOf('Max'), ops.indexOf('MaxPool')));
    }
  });

  it('a valid pooling that drops trailing rows makes the convolutions before it skip them: same values and gradients', () => {
    // conv 3x3 on 11x10 → 9x8, ReLU, pool 2x2 → 4x4 reads rows 0..7 and columns 0..7: the traced graph
    // runs the conv on the input's first 10x10 only; with an identity in between, the crop stays a Slice.
    const x = randomTensor([2, 3, 11, 10], 1, 'float32');
    const w = randomTensor([4, 3, 3, 3], 2, 'float32', 0.5);
    const b = randomTensor([4], 3, 'float32');
    const r = randomTensor([2, 4, 4, 4], 4, 'float32');
    const net = (inner: (t: Tensor) => Tensor) => (x: Tensor, w: Tensor, b: Tensor) =>
      sum(mul(maxPool2d(inner(relu(conv2d(x, w, b))), { kernel: 2 }), r));
    const step = (inner: (t: Tensor) => Tensor) => (x: Tensor, w: Tensor, b: Tensor) =>
      valueAndGrad(net(inner), { argnums: [0, 1, 2] })(x, w, b);
    const cropped = step((t) => t);
    const plain = step((t) => identity(t));
    const [v1, g1] = cropped(x, w, b) as [Tensor, Tensor[]];
    const [v2, g2] = plain(x, w, b) as [Tensor, Tensor[]];
    expect(v1.item()).toBeCloseTo(v2.item(), 4);
    g1.forEach((g, k) =>
      (g.data as Float32Array).forEach((v, i) => expect(v).toBeCloseTo((g2[k].data as Float32Array)[i], 4)),
    );
    // The rows the pooling drops get no gradient, and they are not computed at all.
    expect(
      Array.from(g1[0].data as Float32Array)
        .filter((_, i) => i % 110 >= 100)
        .every((v) => v === 0),
    ).toBe(true);
    const graph = (f: typeof cropped) => TracedProgram.build(f, [x, w, b]).lowered.model.graph.node;
    const convIn = (f: typeof cropped) => {
      const nodes = graph(f);
      const conv = nodes.find((n) => n.op_type === 'Conv')!;
      return nodes.find((n) => n.output.includes(conv.input[0]))?.op_type;
    };
    expect(convIn(cropped)).toBe('Slice');
    expect(convIn(plain)).not.toBe('Slice');
    // Training (gradients of the weights only): no Pad anywhere, where the plain graph pads the pooling's gradient back.
    const weightsOnly = (inner: (t: Tensor) => Tensor) => (x: Tensor, w: Tensor, b: Tensor) =>
      valueAndGrad(net(inner), { argnums: [1, 2] })(x, w, b);
    expect(graph(weightsOnly((t) => t)).some((n) => n.op_type === 'Pad')).toBe(false);
    expect(graph(weightsOnly((t) => identity(t))).some((n) => n.op_type === 'Pad')).toBe(true);
  });

  it("pooling an NCHWc conv's output works in its channel blocks: same values and gradients as pooling in NCHW", () => {
    // 32 channels (two blocks of 16, four of 8); an identity between conv and pool keeps the NCHW path.
    const x = randomTensor([2, 32, 8, 6], 5, 'float32');
    const w = randomTensor([32, 32, 3, 3], 6, 'float32', 0.2);
    const b = randomTensor([32], 7, 'float32');
    const r = randomTensor([2, 32, 4, 3], 8, 'float32');
    const net = (inner: (t: Tensor) => Tensor) => (x: Tensor, w: Tensor, b: Tensor) =>
      sum(mul(maxPool2d(inner(relu(conv2d(x, w, b, { padding: 'same' }))), { kernel: 2 }), r));
    const step = (inner: (t: Tensor) => Tensor) => (x: Tensor, w: Tensor, b: Tensor) =>
      valueAndGrad(net(inner), { argnums: [0, 1, 2] })(x, w, b);
    const [v1, g1] = step((t) => t)(x, w, b) as [Tensor, Tensor[]];
    const [v2, g2] = step((t) => identity(t))(x, w, b) as [Tensor, Tensor[]];
    expect(v1.item()).toBeCloseTo(v2.item(), 3);
    g1.forEach((g, k) => {
      const want = g2[k].data as Float32Array;
      const scale = Math.max(1, ...Array.from(want, Math.abs));
      (g.data as Float32Array).forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(1e-5 * scale));
    });
    if (nchwcBlockSize() > 0) {
      // The window pieces are cut from the conv's blocked output: no ReorderOutput in between.
      const nodes = TracedProgram.build(
        step((t) => t),
        [x, w, b],
      ).lowered.model.graph.node;
      const producer = (name: string) => nodes.find((n) => n.output.includes(name));
      const split = nodes.find((n) => n.op_type === 'Split')!;
      const source = producer(producer(split.input[0])!.input[0])!;
      expect(`${source.domain}:${source.op_type}`).toBe('com.microsoft.nchwc:Conv');
    }
  });

  it("'same' padding and errors", () => {
    expect(maxPool2d(randomTensor([1, 1, 5, 5]), { kernel: 2, stride: 2, padding: 'same' }).shape).toEqual([
      1, 1, 3, 3,
    ]);
    expect(() => maxPool2d(randomTensor([1, 5, 5]), { kernel: 2 })).toThrow(/maxPool2d: x must have rank 4/);
    expect(() => maxPool2d(randomTensor([1, 1, 5, 5]), { kernel: 2, padding: 2 })).toThrow(
      /maxPool: padding .* must be smaller than the kernel/,
    );
  });

  it('second order: the gradient is linear in the cotangent, and its adjoint gathers at the first maxima', () => {
    const x = integerTensor([1, 2, 6, 6], 4, 3);
    for (const [, c] of [configs[0], configs[3]]) {
      const opts = {
        kernel: c.kernel,
        stride: c.stride,
        padding: [
          [c.pads[0], c.pads[2]],
          [c.pads[1], c.pads[3]],
        ] as [number, number][],
      };
      const out = windows([1, 2, 6, 6], c).out;
      checkGrad((g) => grad((t: Tensor) => sum(mul(maxPool2d(t, opts), g)))(x), [randomTensor(out, 2)]);
    }
  });
});

describe('maxPool1d and global max pooling', () => {
  it('maxPool1d: ties go to the first maximum; overlapping windows accumulate', () => {
    const x = tensor(new Float64Array([2, 2, 1, 3, 3, 3, 0]), { shape: [1, 1, 7] });
    expect(Array.from(maxPool1d(x, { kernel: 2 }).data as Float64Array)).toEqual([2, 3, 3]);
    expect(Array.from(grad((t: Tensor) => sum(maxPool1d(t, { kernel: 2 })))(x).data as Float64Array)).toEqual([
      1, 0, 0, 1, 1, 0, 0,
    ]);
    // windows [2,2] [2,1] [1,3] [3,3] [3,3] [3,0] → first maxima at 0, 1, 3, 3, 4, 5
    expect(
      Array.from(grad((t: Tensor) => sum(maxPool1d(t, { kernel: 2, stride: 1 })))(x).data as Float64Array),
    ).toEqual([1, 1, 0, 2, 1, 1, 0]);
    checkGrad((t) => maxPool1d(t, { kernel: 3, stride: 2, padding: 1 }), [randomTensor([2, 2, 9], 3)]);
  });

  it('globalMaxPool2d: first maximum over the whole plane', () => {
    const shape = [2, 3, 5, 4];
    const x = integerTensor(shape, 6, 3);
    const y = globalMaxPool2d(x);
    expect(y.shape).toEqual([2, 3]);
    expect(globalMaxPool2d(x, { keepDims: true }).shape).toEqual([2, 3, 1, 1]);
    const r = randomTensor([2, 3], 9);
    const ref = refMaxPool(
      x.data as Float64Array,
      shape,
      { kernel: [5, 4], stride: [5, 4], pads: [0, 0, 0, 0] },
      r.data as Float64Array,
    );
    expect(Array.from(y.data as Float64Array)).toEqual(ref.y);
    const dx = grad((t: Tensor) => sum(mul(globalMaxPool2d(t), r)))(x).data as Float64Array;
    expect(Array.from(dx)).toEqual(Array.from(ref.dx));
    checkGrad((t) => globalMaxPool2d(t), [randomTensor(shape, 2)]);
  });
});

/** Reference average pooling (float64 loops). */
function refAvgPool(x: ArrayLike<number>, shape: number[], c: Pool2dConfig, includePad: boolean): number[] {
  const { cells } = windows(shape, c);
  return cells.map(
    (cell) => cell.reduce((s, i) => s + x[i], 0) / (includePad ? c.kernel[0] * c.kernel[1] : cell.length),
  );
}

describe('avgPool', () => {
  const avgConfigs: Pool2dConfig[] = [
    { kernel: [2, 2], stride: [2, 2], pads: [0, 0, 0, 0] },
    { kernel: [3, 3], stride: [2, 2], pads: [1, 1, 1, 1] },
    { kernel: [3, 2], stride: [1, 2], pads: [1, 0, 2, 1] },
  ];
  for (const c of avgConfigs) {
    for (const includePad of [false, true]) {
      it(`kernel ${c.kernel} stride ${c.stride} pads ${c.pads} countIncludePad=${includePad}: forward and gradient vs float64 loops`, () => {
        const shape = [2, 2, 7, 6];
        const x64 = randomTensor(shape, 1);
        const x = tensor(Float32Array.from(x64.data as Float64Array), { shape });
        const opts = {
          kernel: c.kernel,
          stride: c.stride,
          padding: [
            [c.pads[0], c.pads[2]],
            [c.pads[1], c.pads[3]],
          ] as [number, number][],
          countIncludePad: includePad,
        };
        const y = avgPool2d(x, opts);
        const ref = refAvgPool(x64.data as Float64Array, shape, c, includePad);
        expect(y.shape).toEqual(windows(shape, c).out);
        ref.forEach((v, i) => expect(y.data[i] as number).toBeCloseTo(v, 5));
        // The loss is linear in x: the reference gradient is r spread over each window / divisor.
        const r = randomTensor(y.shape as number[], 4);
        const rd = r.data as Float64Array;
        const refDx = new Float64Array(x64.size);
        windows(shape, c).cells.forEach((cell, o) => {
          for (const i of cell) refDx[i] += rd[o] / (includePad ? c.kernel[0] * c.kernel[1] : cell.length);
        });
        const r32 = tensor(Float32Array.from(rd), { shape: r.shape as number[] });
        const dx = grad((t: Tensor) => sum(mul(avgPool2d(t, opts), r32)))(x).data as Float32Array;
        refDx.forEach((v, i) => expect(dx[i]).toBeCloseTo(v, 5));
      });
    }
  }

  it('avgPool1d matches loops; float64 is refused with a clear message', () => {
    const x = tensor(new Float32Array([1, 2, 3, 4, 5, 6, 7]), { shape: [1, 1, 7] });
    expect(Array.from(avgPool1d(x, { kernel: 3, stride: 2, padding: 1 }).data as Float32Array)).toEqual([
      1.5, 3, 5, 6.5,
    ]);
    expect(
      Array.from(avgPool1d(x, { kernel: 3, stride: 2, padding: 1, countIncludePad: true }).data as Float32Array).map(
        (v) => +v.toFixed(5),
      ),
    ).toEqual([1, 3, 5, 4.33333]);
    expect(() => avgPool2d(randomTensor([1, 1, 4, 4]), { kernel: 2 })).toThrow(
      /avgPool: dtype float64 is not supported; expected one of float32/,
    );
  });

  it('globalAvgPool2d: mean over H, W with gradient (float64)', () => {
    const x = randomTensor([2, 3, 4, 5], 3);
    const y = globalAvgPool2d(x).data as Float64Array;
    const xd = x.data as Float64Array;
    for (let k = 0; k < 6; k++) {
      let s = 0;
      for (let i = 0; i < 20; i++) s += xd[k * 20 + i];
      expect(y[k]).toBeCloseTo(s / 20, 12);
    }
    checkGrad((t) => globalAvgPool2d(t, { keepDims: true }), [x]);
  });
});
