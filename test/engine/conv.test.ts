import { describe, expect, it } from 'vitest';
import { decodeModel } from '../../src/engine/onnx/proto.js';
import { nchwcBlockSize } from '../../src/engine/runtime/nchwc.js';
import {
  Tensor,
  TracedProgram,
  compileSync,
  toOnnx,
  conv1d,
  conv2d,
  conv3d,
  convTranspose1d,
  convTranspose2d,
  grad,
  valueAndGrad,
  mul,
  sum,
  tensor,
  transpose,
  unfold,
} from '../../src/index.js';
import { randomTensor } from '../helpers/gradcheck.js';

/**
 * Independent float64 references (plain loops). 1-D cases run through the 2-D loops with H = 1.
 * pads = [top, left, bottom, right].
 */
interface Geometry {
  stride: [number, number];
  pads: [number, number, number, number];
  dilation: [number, number];
  groups: number;
}

function refConv2d(
  x: Float64Array,
  xs: number[],
  w: Float64Array,
  ws: number[],
  b: Float64Array | null,
  g: Geometry,
): { y: Float64Array; shape: number[] } {
  const [n, cin, h, wd] = xs;
  const [cout, cinG, kh, kw] = ws;
  const [sh, sw] = g.stride;
  const [pt, pl, pb, pr] = g.pads;
  const [dh, dw] = g.dilation;
  const oh = Math.floor((h + pt + pb - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((wd + pl + pr - dw * (kw - 1) - 1) / sw) + 1;
  const coutG = cout / g.groups;
  const y = new Float64Array(n * cout * oh * ow);
  for (let b0 = 0; b0 < n; b0++)
    for (let co = 0; co < cout; co++)
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          let s = b ? b[co] : 0;
          const grp = Math.floor(co / coutG);
          for (let ci = 0; ci < cinG; ci++)
            for (let u = 0; u < kh; u++)
              for (let v = 0; v < kw; v++) {
                const yy = i * sh - pt + u * dh;
                const xx = j * sw - pl + v * dw;
                if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
                s += x[((b0 * cin + grp * cinG + ci) * h + yy) * wd + xx] * w[((co * cinG + ci) * kh + u) * kw + v];
              }
          y[((b0 * cout + co) * oh + i) * ow + j] = s;
        }
  return { y, shape: [n, cout, oh, ow] };
}

/** Transposed conv by scattering each input element through the kernel; w is [Cin, Cout/groups, kh, kw]. */
function refConvTranspose2d(
  x: Float64Array,
  xs: number[],
  w: Float64Array,
  ws: number[],
  b: Float64Array | null,
  g: Geometry,
  outPad: [number, number],
): { y: Float64Array; shape: number[] } {
  const [n, cin, h, wd] = xs;
  const [, coutG, kh, kw] = ws;
  const [sh, sw] = g.stride;
  const [pt, pl, pb, pr] = g.pads;
  const [dh, dw] = g.dilation;
  const cout = coutG * g.groups;
  const cinG = cin / g.groups;
  const oh = sh * (h - 1) + outPad[0] + dh * (kh - 1) + 1 - pt - pb;
  const ow = sw * (wd - 1) + outPad[1] + dw * (kw - 1) + 1 - pl - pr;
  const y = new Float64Array(n * cout * oh * ow);
  for (let b0 = 0; b0 < n; b0++)
    for (let co = 0; co < cout; co++)
      for (let i = 0; i < oh * ow; i++) y[(b0 * cout + co) * oh * ow + i] = b ? b[co] : 0;
  for (let b0 = 0; b0 < n; b0++)
    for (let ci = 0; ci < cin; ci++)
      for (let i = 0; i < h; i++)
        for (let j = 0; j < wd; j++) {
          const grp = Math.floor(ci / cinG);
          const xv = x[((b0 * cin + ci) * h + i) * wd + j];
          for (let co = 0; co < coutG; co++)
            for (let u = 0; u < kh; u++)
              for (let v = 0; v < kw; v++) {
                const yy = i * sh - pt + u * dh;
                const xx = j * sw - pl + v * dw;
                if (yy < 0 || yy >= oh || xx < 0 || xx >= ow) continue;
                y[((b0 * cout + grp * coutG + co) * oh + yy) * ow + xx] +=
                  xv * w[((ci * coutG + co) * kh + u) * kw + v];
              }
        }
  return { y, shape: [n, cout, oh, ow] };
}

const f32 = (t: Tensor): Tensor => tensor(Float32Array.from(t.data as Float64Array), { shape: t.shape as number[] });

/** Central differences of Σ ref(inputs) · r in float64 (exact up to rounding: the loss is linear in each input). */
function numericGrads(
  ref: (xs: Float64Array[]) => Float64Array,
  inputs: Float64Array[],
  r: Float64Array,
): Float64Array[] {
  const loss = (xs: Float64Array[]): number => ref(xs).reduce((s, v, i) => s + v * r[i], 0);
  return inputs.map((inp, k) => {
    const out = new Float64Array(inp.length);
    for (let i = 0; i < inp.length; i++) {
      const plus = inputs.map((t) => t.slice());
      const minus = inputs.map((t) => t.slice());
      plus[k][i] += 1e-3;
      minus[k][i] -= 1e-3;
      out[i] = (loss(plus) - loss(minus)) / 2e-3;
    }
    return out;
  });
}

/** float32 results vs float64 references: absolute tolerance scaled by the reference's magnitude. */
function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length).toBe(want.length);
  let scale = 1;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= 2e-5 * scale)) throw new Error(`${what}[${i}]: got ${got[i]}, want ${want[i]}`);
  }
}

interface Case2d {
  name: string;
  x: number[];
  w: number[];
  bias: boolean;
  options: Parameters<typeof conv2d>[3];
  geometry: Geometry;
}

const cases2d: Case2d[] = [
  {
    name: 'stride 1, no padding, bias',
    x: [2, 3, 6, 5],
    w: [4, 3, 3, 3],
    bias: true,
    options: {},
    geometry: { stride: [1, 1], pads: [0, 0, 0, 0], dilation: [1, 1], groups: 1 },
  },
  {
    name: 'stride 2, padding 1 (odd remainder)',
    x: [2, 3, 8, 7],
    w: [4, 3, 3, 3],
    bias: true,
    options: { stride: 2, padding: 1 },
    geometry: { stride: [2, 2], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 1 },
  },
  // 'same' with stride 2 and an even kernel: total padding 2 on H (1/1), 1 on W (0 before, 1 after).
  {
    name: "'same', stride 2, even kernel (asymmetric pads)",
    x: [1, 2, 7, 6],
    w: [3, 2, 4, 2],
    bias: false,
    options: { stride: 2, padding: 'same' },
    geometry: { stride: [2, 2], pads: [1, 0, 2, 1], dilation: [1, 1], groups: 1 },
  },
  {
    name: 'dilation 2, per-axis padding pairs',
    x: [2, 2, 7, 7],
    w: [3, 2, 3, 2],
    bias: true,
    options: {
      dilation: [2, 1],
      padding: [
        [2, 1],
        [0, 1],
      ],
    },
    geometry: { stride: [1, 1], pads: [2, 0, 1, 1], dilation: [2, 1], groups: 1 },
  },
  {
    name: 'groups 2, stride (1, 2)',
    x: [2, 4, 6, 7],
    w: [6, 2, 3, 3],
    bias: true,
    options: { groups: 2, stride: [1, 2], padding: 1 },
    geometry: { stride: [1, 2], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 2 },
  },
  {
    name: 'depthwise (groups = channels)',
    x: [1, 3, 5, 5],
    w: [3, 1, 3, 3],
    bias: false,
    options: { groups: 3, padding: 'same' },
    geometry: { stride: [1, 1], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 3 },
  },
  // Whole channel blocks: ORT's NCHWc kernel for the forward and (stride 1) the input gradient.
  {
    name: 'NCHWc: 16 → 16 channels, padding same',
    x: [1, 16, 5, 5],
    w: [16, 16, 3, 3],
    bias: true,
    options: { padding: 'same' },
    geometry: { stride: [1, 1], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 1 },
  },
  {
    name: 'NCHWc: 16 → 32 channels, dilation 2, asymmetric padding',
    x: [1, 16, 6, 5],
    w: [32, 16, 3, 2],
    bias: false,
    options: {
      dilation: [2, 1],
      padding: [
        [2, 1],
        [0, 1],
      ],
    },
    geometry: { stride: [1, 1], pads: [2, 0, 1, 1], dilation: [2, 1], groups: 1 },
  },
  // Four window positions and 32 × 9 inputs per output channel: the weight gradient is one Gemm
  // over N·L rows instead of per-image products summed over the batch.
  {
    name: 'few positions, many channels: 32 → 32, 3×3 input, stride 2 (weight gradient as one Gemm)',
    x: [1, 32, 3, 3],
    w: [32, 32, 3, 3],
    bias: false,
    options: { stride: 2, padding: 1 },
    geometry: { stride: [2, 2], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 1 },
  },
  // Depthwise with whole channel blocks: ORT's NCHWc depthwise kernel for the forward, the stride-1
  // input gradient and (images as channels) the weight gradient.
  {
    name: 'NCHWc depthwise: 16 channels, padding same, bias',
    x: [2, 16, 6, 5],
    w: [16, 1, 3, 3],
    bias: true,
    options: { groups: 16, padding: 'same' },
    geometry: { stride: [1, 1], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 16 },
  },
  {
    name: 'NCHWc depthwise: 32 channels, stride 2 (weight gradient dilated, last column unread)',
    x: [3, 32, 7, 6],
    w: [32, 1, 3, 3],
    bias: false,
    options: { groups: 32, stride: 2, padding: 1 },
    geometry: { stride: [2, 2], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 32 },
  },
  {
    name: 'NCHWc depthwise: 16 channels, stride (2, 3), kernel 5×3, even input (input gradient with output padding)',
    x: [2, 16, 8, 9],
    w: [16, 1, 5, 3],
    bias: true,
    options: {
      groups: 16,
      stride: [2, 3],
      padding: [
        [2, 1],
        [1, 0],
      ],
    },
    geometry: { stride: [2, 3], pads: [2, 1, 1, 0], dilation: [1, 1], groups: 16 },
  },
  {
    name: 'NCHWc depthwise: 16 channels, dilation 2, asymmetric padding, 3×2 kernel',
    x: [2, 16, 7, 6],
    w: [16, 1, 3, 2],
    bias: false,
    options: {
      groups: 16,
      dilation: [2, 1],
      padding: [
        [2, 1],
        [0, 1],
      ],
    },
    geometry: { stride: [1, 1], pads: [2, 0, 1, 1], dilation: [2, 1], groups: 16 },
  },
  {
    name: 'NCHWc: 16 → 16 channels, stride 2 (input gradient by ConvTranspose)',
    x: [1, 16, 7, 6],
    w: [16, 16, 3, 3],
    bias: true,
    options: { stride: 2, padding: 1 },
    geometry: { stride: [2, 2], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 1 },
  },
];

describe('conv2d', () => {
  for (const c of cases2d) {
    it(`${c.name}: forward and gradients (x, w, b) vs float64 loops`, () => {
      const x64 = randomTensor(c.x, 1);
      const w64 = randomTensor(c.w, 2);
      const b64 = c.bias ? randomTensor([c.w[0]], 3) : null;
      const ref = refConv2d(
        x64.data as Float64Array,
        c.x,
        w64.data as Float64Array,
        c.w,
        b64 ? (b64.data as Float64Array) : null,
        c.geometry,
      );
      const args = [f32(x64), f32(w64), ...(b64 ? [f32(b64)] : [])];
      const y = conv2d(args[0], args[1], args[2], c.options);
      expect(y.shape).toEqual(ref.shape);
      expectClose(y.data as Float32Array, ref.y, 'y');

      const r64 = randomTensor(ref.shape, 4);
      const analytic = grad((x: Tensor, w: Tensor, r: Tensor, b?: Tensor) => sum(mul(conv2d(x, w, b, c.options), r)), {
        argnums: b64 ? [0, 1, 3] : [0, 1],
      })(args[0], args[1], f32(r64), ...(b64 ? [args[2]] : [])) as Tensor[];
      const inputs = [x64, w64, ...(b64 ? [b64] : [])].map((t) => t.data as Float64Array);
      const numeric = numericGrads(
        (xs) => refConv2d(xs[0], c.x, xs[1], c.w, xs[2] ?? null, c.geometry).y,
        inputs,
        r64.data as Float64Array,
      );
      numeric.forEach((want, k) => expectClose(analytic[k].data as Float32Array, want, `grad ${['x', 'w', 'b'][k]}`));
    });
  }

  it('the weight gradient of a conv with few window positions is one Gemm over all rows (no per-image products)', () => {
    const x = f32(randomTensor([2, 32, 3, 3], 7));
    const w = f32(randomTensor([32, 32, 3, 3], 8));
    const dw = (x: Tensor, w: Tensor) =>
      grad((v: Tensor) => sum(conv2d(x, v, undefined, { stride: 2, padding: 1 })))(w);
    const ops = TracedProgram.build(dw, [x, w]).lowered.model.graph.node.map((n) => n.op_type);
    expect(ops).toContain('Gemm');
    expect(ops).not.toContain('ReduceSum');
  });

  it('training graphs (weights fed at run time) use the NCHWc kernel when this CPU has it; baked weights keep Conv', () => {
    const x = f32(randomTensor([2, 16, 6, 6], 5));
    const w = f32(randomTensor([32, 16, 3, 3], 6));
    const domains = (program: TracedProgram) =>
      program.lowered.model.graph.node.map((n) => `${n.domain || 'ai.onnx'}:${n.op_type}`);
    const step = (x: Tensor, w: Tensor) =>
      valueAndGrad((x: Tensor, w: Tensor) => sum(conv2d(x, w, undefined, { padding: 1 })), { argnums: [0, 1] })(x, w);
    const trained = domains(TracedProgram.build(step, [x, w]));
    const baked = domains(TracedProgram.build((x: Tensor) => conv2d(x, w), [x]));
    expect(baked).toContain('ai.onnx:Conv');
    expect(baked.some((d) => d.startsWith('com.microsoft.nchwc'))).toBe(false);
    if (nchwcBlockSize() > 0) {
      // The forward conv, the input gradient (a conv with the flipped kernel) and the weight
      // gradient (batch as channels): three NCHWc Convs, no ConvTranspose, no im2col.
      expect(trained.filter((d) => d === 'com.microsoft.nchwc:Conv')).toHaveLength(3);
      expect(trained).not.toContain('ai.onnx:ConvTranspose');
      expect(trained).not.toContain('ai.onnx:Conv');
    } else {
      expect(trained).toContain('ai.onnx:ConvTranspose');
    }
  });

  for (const stride of [1, 2])
    it(`depthwise training graphs with whole channel blocks run on the NCHWc kernel, stride ${stride}: no grouped Conv or im2col`, () => {
      const x = f32(randomTensor([2, 16, 6, 6], 5));
      const w = f32(randomTensor([16, 1, 3, 3], 6));
      const step = (x: Tensor, w: Tensor) =>
        valueAndGrad((x: Tensor, w: Tensor) => sum(conv2d(x, w, undefined, { padding: 1, groups: 16, stride })), {
          argnums: [0, 1],
        })(x, w);
      const nodes = TracedProgram.build(step, [x, w]).lowered.model.graph.node;
      const convs = nodes.filter((n) => n.op_type === 'Conv' || n.op_type === 'ConvTranspose');
      if (nchwcBlockSize() > 0) {
        // Forward, input gradient (stride 1: the flipped kernel; stride 2: ORT's ConvTranspose, which
        // beat x spread out by zeros then the flipped kernel at MobileNetV2's larger stride-2 shapes)
        // and weight gradient (the batch's images stacked).
        const inputGrad = stride === 1 ? 'com.microsoft.nchwc:Conv' : ':ConvTranspose';
        expect(convs.map((n) => `${n.domain ?? ''}:${n.op_type}`)).toEqual([
          'com.microsoft.nchwc:Conv',
          inputGrad,
          'com.microsoft.nchwc:Conv',
        ]);
      } else {
        expect(convs.every((n) => !n.domain || n.domain === 'ai.onnx')).toBe(true);
      }
    });

  it('Keras-layout kernels ([kh, kw, Cin, Cout], transposed in the trace): values and gradients vs float64 loops, the transposes folded into the NCHWc filter order', () => {
    // Two channel blocks each way, so a mix-up of the block axes shows.
    const xs = [1, 32, 3, 4];
    const [kh, kw, ci, co] = [2, 1, 32, 32];
    const x64 = randomTensor(xs, 11);
    const k64 = randomTensor([kh, kw, ci, co], 12);
    const toOihw = (k: Float64Array): Float64Array => {
      const w = new Float64Array(k.length);
      for (let u = 0; u < kh; u++)
        for (let v = 0; v < kw; v++)
          for (let i = 0; i < ci; i++)
            for (let o = 0; o < co; o++) w[((o * ci + i) * kh + u) * kw + v] = k[((u * kw + v) * ci + i) * co + o];
      return w;
    };
    const geometry: Geometry = { stride: [1, 1], pads: [1, 0, 0, 0], dilation: [1, 1], groups: 1 };
    const refOf = (x: Float64Array, k: Float64Array) => refConv2d(x, xs, toOihw(k), [co, ci, kh, kw], null, geometry);
    const ref = refOf(x64.data as Float64Array, k64.data as Float64Array);
    const r64 = randomTensor(ref.shape, 13);
    const loss = (x: Tensor, k: Tensor, r: Tensor) =>
      sum(
        mul(
          conv2d(x, transpose(k, [3, 2, 0, 1]), undefined, {
            padding: [
              [1, 0],
              [0, 0],
            ],
          }),
          r,
        ),
      );
    const [value, [gx, gk]] = valueAndGrad(loss, { argnums: [0, 1] })(f32(x64), f32(k64), f32(r64)) as [
      Tensor,
      Tensor[],
    ];
    const want = ref.y.reduce((acc, v, i) => acc + v * (r64.data as Float64Array)[i], 0);
    expect(Math.abs((value.data as Float32Array)[0] - want)).toBeLessThan(1e-4 * (1 + Math.abs(want)));
    const numeric = numericGrads(
      (v) => refOf(v[0], v[1]).y,
      [x64.data as Float64Array, k64.data as Float64Array],
      r64.data as Float64Array,
    );
    expectClose(gx.data as Float32Array, numeric[0], 'grad x');
    expectClose(gk.data as Float32Array, numeric[1], 'grad k');
    if (nchwcBlockSize() > 0) {
      // The kernel's move into ONNX layout is not emitted: both NCHWc filters are built from it directly.
      const step = (x: Tensor, k: Tensor, r: Tensor) => valueAndGrad(loss, { argnums: [0, 1] })(x, k, r);
      const nodes = TracedProgram.build(step, [f32(x64), f32(k64), f32(r64)]).lowered.model.graph.node;
      const perms = nodes
        .filter((n) => n.op_type === 'Transpose')
        .map((n) =>
          n.attribute
            ?.find((a) => a.name === 'perm')
            ?.ints?.map(Number)
            .join(','),
        );
      expect(perms).not.toContain('3,2,0,1');
      expect(nodes.filter((n) => n.op_type === 'Conv' && n.domain === 'com.microsoft.nchwc')).toHaveLength(3);
    }
  });

  it('toOnnx files hold standard operators only, even for gradients of NCHWc-sized convolutions', async () => {
    const f = (x: Tensor, w: Tensor) =>
      grad((x: Tensor, w: Tensor) => sum(conv2d(x, w, undefined, { padding: 1 })), { argnums: [0, 1] })(x, w);
    const bytes = await toOnnx(f, [{ shape: ['batch', 16, 6, 6] }, { shape: [32, 16, 3, 3] }]);
    const nodes = decodeModel(bytes).graph.node;
    expect(nodes.some((n) => n.op_type === 'Conv')).toBe(true);
    expect(nodes.filter((n) => n.domain)).toEqual([]);
  });

  it("'same' keeps ceil(size / stride) and errors name the op and shapes", () => {
    const x = f32(randomTensor([1, 2, 9, 10]));
    expect(conv2d(x, f32(randomTensor([5, 2, 3, 3])), undefined, { padding: 'same' }).shape).toEqual([1, 5, 9, 10]);
    expect(conv2d(x, f32(randomTensor([5, 2, 4, 5])), undefined, { padding: 'same', stride: 3 }).shape).toEqual([
      1, 5, 3, 4,
    ]);
    expect(() => conv2d(x, f32(randomTensor([5, 3, 3, 3])))).toThrow(
      /conv: weight must be \[Cout, Cin\/groups, \.\.\.kernel\].*\(got \[1, 2, 9, 10\] float32, \[5, 3, 3, 3\] float32\)/,
    );
    expect(() => conv2d(randomTensor([1, 2, 9, 10]), randomTensor([5, 2, 3, 3]))).toThrow(
      /conv: dtype float64 is not supported; expected one of float32/,
    );
    expect(() => conv2d(x, f32(randomTensor([4, 1, 3, 3])), undefined, { groups: 3 })).toThrow(
      /input channels \(2\) must be divisible by groups \(3\)/,
    );
  });

  const symbolicCases = [
    { name: 'grouped', w: [4, 2, 3, 3], x: [4, 6, 6], options: { stride: 2, padding: 1, groups: 2 }, batches: [1, 3] },
    // Depthwise with whole channel blocks: the weight gradient stacks the batch's images vertically.
    {
      name: 'depthwise, whole channel blocks (NCHWc)',
      w: [16, 1, 3, 3],
      x: [16, 7, 6],
      options: { padding: 1, stride: 2, groups: 16 },
      batches: [1, 3],
    },
    // Whole channel blocks: the NCHWc weight gradient pads the batch to whole blocks at run time.
    {
      name: 'whole channel blocks (NCHWc)',
      w: [16, 16, 3, 3],
      x: [16, 5, 5],
      options: { padding: 1 },
      batches: [1, 17],
    },
  ];
  for (const c of symbolicCases) {
    it(`symbolic batch: one compiled forward+backward serves two batch sizes (${c.name})`, () => {
      const w = f32(randomTensor(c.w, 2, 'float64', 0.2));
      const loss = (xx: Tensor, ww: Tensor) =>
        sum(mul(conv2d(xx, ww, undefined, c.options), conv2d(xx, ww, undefined, c.options)));
      const step = compileSync((x: Tensor) => grad(loss, { argnums: [0, 1] })(x, w), { symbolicBatch: true });
      for (const n of c.batches) {
        const x = f32(randomTensor([n, ...c.x], n));
        const [gx, gw] = step(x) as Tensor[];
        const [ex, ew] = grad(loss, { argnums: [0, 1] })(x, w) as Tensor[];
        expectClose(gx.data as Float32Array, ex.data as Float32Array, 'symbolic gx');
        expectClose(gw.data as Float32Array, ew.data as Float32Array, 'symbolic gw');
      }
    });
  }

  it('second order through the NCHWc weight gradient: d<h, dW(x, r)> = (convᵀ(r, h), conv(x, h))', () => {
    // dW(x, r) = ∂/∂w <conv(x, w), r> is bilinear, so its gradients are the conv pair with h as the kernel.
    const opts = { padding: 1 };
    const x = f32(randomTensor([2, 16, 5, 5], 11));
    const r = f32(randomTensor([2, 16, 5, 5], 12));
    const h = f32(randomTensor([16, 16, 3, 3], 13));
    const w0 = f32(randomTensor([16, 16, 3, 3], 14));
    const dW = (x: Tensor, r: Tensor) => grad((w: Tensor) => sum(mul(conv2d(x, w, undefined, opts), r)))(w0) as Tensor;
    const [gx, gr] = grad((x: Tensor, r: Tensor) => sum(mul(dW(x, r), h)), { argnums: [0, 1] })(x, r) as Tensor[];
    const wantX = grad((x: Tensor) => sum(mul(conv2d(x, h, undefined, opts), r)))(x) as Tensor;
    const wantR = conv2d(x, h, undefined, opts);
    expectClose(gx.data as Float32Array, wantX.data as Float32Array, 'd/dx');
    expectClose(gr.data as Float32Array, wantR.data as Float32Array, 'd/dr');
  });

  it('conv3d with a depth-1 kernel on depth-1 input equals conv2d, gradients included', () => {
    const x = f32(randomTensor([2, 3, 5, 6], 21));
    const w = f32(randomTensor([4, 3, 2, 3], 22));
    const b = f32(randomTensor([4], 23));
    const r = f32(randomTensor([2, 4, 3, 2], 24));
    const opts2 = {
      stride: [2, 2],
      padding: [
        [1, 0],
        [1, 1],
      ] as [number, number][],
      dilation: [1, 2],
    };
    const opts3 = {
      stride: [1, 2, 2],
      padding: [0, [1, 0], [1, 1]] as (number | [number, number])[],
      dilation: [1, 1, 2],
    };
    const g2 = grad((a: Tensor, c: Tensor, d: Tensor) => sum(mul(conv2d(a, c, d, opts2), r)), { argnums: [0, 1, 2] })(
      x,
      w,
      b,
    ) as Tensor[];
    const lift = (t: Tensor) =>
      tensor(t.data as Float32Array, {
        shape: [t.shape[0] as number, t.shape[1] as number, 1, ...(t.shape.slice(2) as number[])],
      });
    const r3 = lift(r);
    const g3 = grad((a: Tensor, c: Tensor, d: Tensor) => sum(mul(conv3d(a, c, d, opts3), r3)), { argnums: [0, 1, 2] })(
      lift(x),
      lift(w),
      b,
    ) as Tensor[];
    expectClose(
      conv3d(lift(x), lift(w), b, opts3).data as Float32Array,
      conv2d(x, w, b, opts2).data as Float32Array,
      'conv3d y',
    );
    g2.forEach((g, k) => expectClose(g3[k].data as Float32Array, g.data as Float32Array, `conv3d grad ${k}`));
  });
});

describe('conv1d', () => {
  const cases: {
    name: string;
    x: number[];
    w: number[];
    options: Parameters<typeof conv1d>[3];
    stride: number;
    pads: [number, number];
    dilation: number;
    groups: number;
  }[] = [
    {
      name: 'stride 2, padding 2, dilation 2',
      x: [2, 3, 11],
      w: [4, 3, 3],
      options: { stride: 2, padding: 2, dilation: 2 },
      stride: 2,
      pads: [2, 2],
      dilation: 2,
      groups: 1,
    },
    {
      name: "'same' with even kernel, groups 3",
      x: [2, 3, 8],
      w: [6, 1, 4],
      options: { padding: 'same', groups: 3 },
      stride: 1,
      pads: [1, 2],
      dilation: 1,
      groups: 3,
    },
    {
      name: 'depthwise, stride 2, dilation 2, asymmetric padding (the weight gradient skips unread samples)',
      x: [2, 4, 14],
      w: [4, 1, 3],
      options: { stride: 2, padding: [[3, 1]], dilation: 2, groups: 4 },
      stride: 2,
      pads: [3, 1],
      dilation: 2,
      groups: 4,
    },
    {
      name: 'depthwise, stride 1, kernel 5',
      x: [3, 5, 9],
      w: [5, 1, 5],
      options: { padding: 'same', groups: 5 },
      stride: 1,
      pads: [2, 2],
      dilation: 1,
      groups: 5,
    },
    // Whole channel blocks: run as 2-D convs of height 1 on the NCHWc kernels.
    {
      name: 'NCHWc (height 1): 16 → 32 channels, dilation 2, asymmetric padding',
      x: [2, 16, 12],
      w: [32, 16, 3],
      options: { padding: [[2, 1]], dilation: 2 },
      stride: 1,
      pads: [2, 1],
      dilation: 2,
      groups: 1,
    },
    {
      name: 'NCHWc (height 1): 16 → 16 channels, stride 2 (input gradient by ConvTranspose)',
      x: [2, 16, 11],
      w: [16, 16, 3],
      options: { stride: 2, padding: 1 },
      stride: 2,
      pads: [1, 1],
      dilation: 1,
      groups: 1,
    },
    {
      name: 'NCHWc (height 1): depthwise 32 channels, kernel 15, stride 2, dilation 2, unread tail',
      x: [3, 32, 40],
      w: [32, 1, 15],
      options: { stride: 2, padding: [[7, 6]], dilation: 2, groups: 32 },
      stride: 2,
      pads: [7, 6],
      dilation: 2,
      groups: 32,
    },
    {
      name: 'NCHWc (height 1): depthwise 16 channels, kernel 5, same padding',
      x: [2, 16, 9],
      w: [16, 1, 5],
      options: { padding: 'same', groups: 16 },
      stride: 1,
      pads: [2, 2],
      dilation: 1,
      groups: 16,
    },
    {
      name: 'stride 1, dilation 2, padding 1 (input gradient as a flipped conv)',
      x: [2, 3, 10],
      w: [5, 3, 3],
      options: { padding: 1, dilation: 2 },
      stride: 1,
      pads: [1, 1],
      dilation: 2,
      groups: 1,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: forward and gradients vs float64 loops`, () => {
      const geometry: Geometry = {
        stride: [1, c.stride],
        pads: [0, c.pads[0], 0, c.pads[1]],
        dilation: [1, c.dilation],
        groups: c.groups,
      };
      const x64 = randomTensor(c.x, 5);
      const w64 = randomTensor(c.w, 6);
      const b64 = randomTensor([c.w[0]], 7);
      const xs2 = [c.x[0], c.x[1], 1, c.x[2]];
      const ws2 = [c.w[0], c.w[1], 1, c.w[2]];
      const ref = refConv2d(
        x64.data as Float64Array,
        xs2,
        w64.data as Float64Array,
        ws2,
        b64.data as Float64Array,
        geometry,
      );
      const y = conv1d(f32(x64), f32(w64), f32(b64), c.options);
      expect(y.shape).toEqual([ref.shape[0], ref.shape[1], ref.shape[3]]);
      expectClose(y.data as Float32Array, ref.y, 'y');
      const r64 = randomTensor(y.shape as number[], 8);
      const analytic = grad((x: Tensor, w: Tensor, b: Tensor, r: Tensor) => sum(mul(conv1d(x, w, b, c.options), r)), {
        argnums: [0, 1, 2],
      })(f32(x64), f32(w64), f32(b64), f32(r64)) as Tensor[];
      const numeric = numericGrads(
        (xs) => refConv2d(xs[0], xs2, xs[1], ws2, xs[2], geometry).y,
        [x64, w64, b64].map((t) => t.data as Float64Array),
        r64.data as Float64Array,
      );
      numeric.forEach((want, k) => expectClose(analytic[k].data as Float32Array, want, `grad ${['x', 'w', 'b'][k]}`));
    });
  }
});

describe('conv1d on the NCHWc kernels', () => {
  it('a separable block (depthwise then pointwise) trains on NCHWc Convs only, reordering between them once', () => {
    const x = f32(randomTensor([2, 16, 20], 1));
    const dw = f32(randomTensor([16, 1, 5], 2));
    const pw = f32(randomTensor([32, 16, 1], 3));
    const block = (x: Tensor, dw: Tensor, pw: Tensor) =>
      conv1d(conv1d(x, dw, undefined, { padding: 'same', groups: 16 }), pw);
    const step = (x: Tensor, dw: Tensor, pw: Tensor) =>
      valueAndGrad((x: Tensor, dw: Tensor, pw: Tensor) => sum(block(x, dw, pw)), { argnums: [0, 1, 2] })(x, dw, pw);
    const nodes = TracedProgram.build(step, [x, dw, pw]).lowered.model.graph.node;
    const convs = nodes.filter((n) => n.op_type === 'Conv' || n.op_type === 'ConvTranspose');
    if (nchwcBlockSize() > 0) {
      // Two forwards, two input gradients (flipped kernels) and two weight gradients.
      expect(convs.map((n) => `${n.domain}:${n.op_type}`)).toEqual(Array(6).fill('com.microsoft.nchwc:Conv'));
      // The depthwise output feeds the pointwise conv in blocks: no ReorderOutput/ReorderInput pair between them.
      const dwOut = nodes.find((n) => n.domain === 'com.microsoft.nchwc' && n.op_type === 'Conv')!.output[0];
      expect(nodes.filter((n) => n.input.includes(dwOut)).map((n) => n.op_type)).toContain('Conv');
    } else {
      expect(convs.every((n) => !n.domain || n.domain === 'ai.onnx')).toBe(true);
    }
  });
});

describe('convTranspose', () => {
  const cases: {
    name: string;
    x: number[];
    w: number[];
    options: Parameters<typeof convTranspose2d>[3];
    geometry: Geometry;
    outPad: [number, number];
  }[] = [
    {
      name: 'stride 2, padding 1, outputPadding 1',
      x: [2, 3, 4, 5],
      w: [3, 2, 3, 3],
      options: { stride: 2, padding: 1, outputPadding: 1 },
      geometry: { stride: [2, 2], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 1 },
      outPad: [1, 1],
    },
    {
      name: 'groups 2, dilation (2, 1), asymmetric padding',
      x: [1, 4, 4, 3],
      w: [4, 3, 2, 3],
      options: {
        groups: 2,
        dilation: [2, 1],
        padding: [
          [1, 0],
          [0, 2],
        ],
        stride: [1, 2],
      },
      geometry: { stride: [1, 2], pads: [1, 0, 0, 2], dilation: [2, 1], groups: 2 },
      outPad: [0, 0],
    },
    // Whole channel blocks, stride 1: its gradients run on the NCHWc kernel (a conv, and the weight gradient with roles swapped).
    {
      name: 'NCHWc: 16 → 16 channels, stride 1, padding 1',
      x: [2, 16, 4, 4],
      w: [16, 16, 3, 3],
      options: { padding: 1 },
      geometry: { stride: [1, 1], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 1 },
      outPad: [0, 0],
    },
  ];
  for (const c of cases) {
    it(`${c.name}: forward and gradients vs float64 loops`, () => {
      const x64 = randomTensor(c.x, 9);
      const w64 = randomTensor(c.w, 10);
      const b64 = randomTensor([c.w[1] * c.geometry.groups], 11);
      const ref = refConvTranspose2d(
        x64.data as Float64Array,
        c.x,
        w64.data as Float64Array,
        c.w,
        b64.data as Float64Array,
        c.geometry,
        c.outPad,
      );
      const y = convTranspose2d(f32(x64), f32(w64), f32(b64), c.options);
      expect(y.shape).toEqual(ref.shape);
      expectClose(y.data as Float32Array, ref.y, 'y');
      const r64 = randomTensor(ref.shape, 12);
      const analytic = grad(
        (x: Tensor, w: Tensor, b: Tensor, r: Tensor) => sum(mul(convTranspose2d(x, w, b, c.options), r)),
        { argnums: [0, 1, 2] },
      )(f32(x64), f32(w64), f32(b64), f32(r64)) as Tensor[];
      const numeric = numericGrads(
        (xs) => refConvTranspose2d(xs[0], c.x, xs[1], c.w, xs[2], c.geometry, c.outPad).y,
        [x64, w64, b64].map((t) => t.data as Float64Array),
        r64.data as Float64Array,
      );
      numeric.forEach((want, k) => expectClose(analytic[k].data as Float32Array, want, `grad ${['x', 'w', 'b'][k]}`));
    });
  }

  it("convTranspose1d is conv1d's input gradient (adjoint identity <conv(x), y> = <x, convT(y)>)", () => {
    const x = f32(randomTensor([2, 3, 9], 1));
    const w = f32(randomTensor([4, 3, 3], 2));
    const opts = { stride: 2, padding: 1 };
    const y = conv1d(x, w, undefined, opts);
    const v = f32(randomTensor(y.shape as number[], 3));
    const back = convTranspose1d(v, w, undefined, { ...opts, outputPadding: 0 });
    expect(back.shape).toEqual([2, 3, 9]);
    const lhs = sum(mul(y, v)).item();
    const rhs = sum(mul(x, back)).item();
    expect(Math.abs(lhs - rhs)).toBeLessThan(1e-4 * Math.max(1, Math.abs(lhs)));
  });
});

describe('unfold (im2col)', () => {
  it('matches loops: row c*K + k holds kernel offset k of channel c; its gradient is col2im', () => {
    const x64 = randomTensor([2, 2, 5, 4], 3);
    const cols = unfold(f32(x64), { kernel: [2, 3], stride: [2, 1], padding: 1 });
    const xd = x64.data as Float64Array;
    // out grid: H (5+2-2)/2+1 = 3, W (4+2-3)/1+1 = 4
    expect(cols.shape).toEqual([2, 12, 12]);
    const cd = cols.data as Float32Array;
    const refGrad = new Float64Array(xd.length);
    for (let n = 0; n < 2; n++)
      for (let c = 0; c < 2; c++)
        for (let u = 0; u < 2; u++)
          for (let v = 0; v < 3; v++)
            for (let i = 0; i < 3; i++)
              for (let j = 0; j < 4; j++) {
                const yy = i * 2 - 1 + u;
                const xx = j - 1 + v;
                const inside = yy >= 0 && yy < 5 && xx >= 0 && xx < 4;
                const got = cd[(n * 12 + c * 6 + u * 3 + v) * 12 + i * 4 + j];
                expect(got).toBeCloseTo(inside ? xd[((n * 2 + c) * 5 + yy) * 4 + xx] : 0, 6);
                if (inside) refGrad[((n * 2 + c) * 5 + yy) * 4 + xx] += 1;
              }
    const g = grad((t: Tensor) => sum(unfold(t, { kernel: [2, 3], stride: [2, 1], padding: 1 })))(f32(x64));
    expect(Array.from(g.data as Float32Array)).toEqual(Array.from(refGrad));
  });
});
