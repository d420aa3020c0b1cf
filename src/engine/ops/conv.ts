/**
 * Convolutions (NCHW / NCL, ONNX layout): conv (1-D/2-D/3-D), convTranspose, their weight gradient
 * (convWeightGrad), and im2col `unfold`. Each op is defined once: shape rule, ONNX lowering, VJP.
 *
 * Gradients: input gradient = ConvTranspose (conv) / Conv (convTranspose); weight gradient =
 * convWeightGrad, lowered as unfold (a grouped Conv with fixed one-hot kernels) + batched MatMul +
 * sum over the batch, which measured faster than Einsum, one Gemm over N*L, strided-Slice im2col or
 * a Conv over batch/channel-swapped tensors (docs/PERFORMANCE.md).
 *
 * The trace holds these plain ops whatever the CPU. When lowering for 'ort-cpu' on a CPU with
 * NCHWc kernels (passes/nchwc.ts), ungrouped 2-D convs whose channel counts are whole blocks and
 * whose weights arrive at run time (training graphs) use ORT's blocked kernel: the forward
 * (lowerNchwcConv), a stride-1 ConvTranspose as a conv with the flipped kernel, and the stride-1
 * weight gradient with the batch as channels. Their filters are reordered by block-preserving
 * Transposes (the nchwcFilters pass, cotangentAsFilter): ORT's general Transpose moves single floats.
 */
import type { LowerCtx } from '../onnx/ctx.js';
import { type LoweredValue, type OpDef, type TensorType, apply1, checkDtypes, defineOp, opError } from '../op.js';
import {
  NCHWC_DOMAIN,
  blockedDepthwiseFilter,
  blockedFilter,
  flipAxes,
  fromBlocked,
  nchwcKind,
  toBlocked,
} from '../passes/nchwc.js';
import { type Dim, shapeStr } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { sum } from './core.js';

/** ORT's CPU EP has Conv/ConvTranspose kernels for float32 only. */
const CONV_DTYPES = ['float32'] as const;

export interface ConvAttrs {
  [k: string]: unknown;
  /** Per spatial axis. */
  strides: number[];
  /** ONNX order: all begins, then all ends. */
  pads: number[];
  dilations: number[];
  group: number;
}

export interface ConvTransposeAttrs extends ConvAttrs {
  outputPadding: number[];
}

export type Padding = number | readonly (number | readonly [number, number])[] | 'valid' | 'same';

export interface ConvOptions {
  stride?: number | readonly number[];
  padding?: Padding;
  dilation?: number | readonly number[];
  groups?: number;
}

export interface ConvTransposeOptions extends ConvOptions {
  outputPadding?: number | readonly number[];
}

// ---------------------------------------------------------------------------------------------
// Shared shape helpers

/** Expands a number or per-axis list to one positive integer per spatial axis. */
export function perAxis(
  op: string,
  what: string,
  v: number | readonly number[] | undefined,
  rank: number,
  dflt: number,
  min = 1,
): number[] {
  const list =
    v === undefined
      ? new Array<number>(rank).fill(dflt)
      : typeof v === 'number'
        ? new Array<number>(rank).fill(v)
        : [...v];
  if (list.length !== rank || list.some((d) => !Number.isInteger(d) || d < min)) {
    throw new Error(
      `${op}: ${what} must be an integer >= ${min} or a list of ${rank} such integers, got ${JSON.stringify(v)}`,
    );
  }
  return list;
}

function concreteSpatial(op: string, x: TensorType, what: string): number[] {
  const sp = x.shape.slice(2);
  if (!sp.every((d): d is number => typeof d === 'number')) {
    throw opError(op, `the spatial dimensions of ${what} must be concrete (only the batch axis may be symbolic)`, [x]);
  }
  return sp;
}

/** Size of one spatial output axis of a convolution / pooling window sweep. */
export function windowOutputSize(
  input: number,
  kernel: number,
  stride: number,
  padBegin: number,
  padEnd: number,
  dilation = 1,
): number {
  return Math.floor((input + padBegin + padEnd - dilation * (kernel - 1) - 1) / stride) + 1;
}

/**
 * Resolves a padding spec into ONNX pads ([begins..., ends...]). 'same' pads so that
 * out = ceil(in / stride), putting the odd extra element at the end (like Keras/TF and PyTorch).
 */
export function resolvePads(
  op: string,
  padding: Padding | undefined,
  input: readonly number[],
  kernel: readonly number[],
  strides: readonly number[],
  dilations: readonly number[],
): number[] {
  const n = kernel.length;
  if (padding === undefined || padding === 'valid') return new Array<number>(2 * n).fill(0);
  if (padding === 'same') {
    const begins: number[] = [];
    const ends: number[] = [];
    for (let i = 0; i < n; i++) {
      const out = Math.ceil(input[i] / strides[i]);
      const total = Math.max((out - 1) * strides[i] + dilations[i] * (kernel[i] - 1) + 1 - input[i], 0);
      begins.push(Math.floor(total / 2));
      ends.push(total - Math.floor(total / 2));
    }
    return [...begins, ...ends];
  }
  if (typeof padding === 'number') {
    if (!Number.isInteger(padding) || padding < 0)
      throw new Error(`${op}: padding must be a non-negative integer, got ${padding}`);
    return new Array<number>(2 * n).fill(padding);
  }
  if (!Array.isArray(padding) || padding.length !== n) {
    throw new Error(
      `${op}: padding must be a number, 'valid', 'same', or a list of ${n} numbers or [begin, end] pairs, got ${JSON.stringify(padding)}`,
    );
  }
  const pairs: readonly number[][] = padding.map((p) => (typeof p === 'number' ? [p, p] : [...p]));
  if (pairs.some((p) => p.length !== 2 || p.some((v) => !Number.isInteger(v) || v < 0))) {
    throw new Error(
      `${op}: padding entries must be non-negative integers or [begin, end] pairs, got ${JSON.stringify(padding)}`,
    );
  }
  return [...pairs.map((p) => p[0]), ...pairs.map((p) => p[1])];
}

function checkGroups(op: string, inputs: readonly TensorType[], channels: Dim, group: number, what: string): void {
  if (typeof channels !== 'number') throw opError(op, 'the channel axis (1) must be concrete', inputs);
  if (!Number.isInteger(group) || group < 1 || channels % group !== 0) {
    throw opError(op, `${what} (${channels}) must be divisible by groups (${group})`, inputs);
  }
}

function checkBias(op: string, inputs: readonly TensorType[], channels: number): void {
  const b = inputs[2];
  if (b && (b.shape.length !== 1 || b.shape[0] !== channels)) {
    throw opError(
      op,
      `bias must have shape [${channels}] (one value per output channel), got ${shapeStr(b.shape)}`,
      inputs,
    );
  }
}

function checkConvInputs(op: string, inputs: readonly TensorType[]): number {
  const [x, w] = inputs;
  if (inputs.length < 2 || inputs.length > 3) throw opError(op, 'expected inputs (x, weight[, bias])', inputs);
  checkDtypes(op, inputs, CONV_DTYPES);
  const n = x.shape.length - 2;
  if (n < 1 || n > 3) throw opError(op, 'x must have rank 3, 4 or 5 ([N, C, ...spatial])', inputs);
  if (w.shape.length !== x.shape.length) throw opError(op, `weight must have rank ${x.shape.length} like x`, inputs);
  if (!w.shape.every((d) => typeof d === 'number')) throw opError(op, 'weight shape must be concrete', inputs);
  return n;
}

function checkAttrs(op: string, a: ConvAttrs, n: number): void {
  if (a.strides.length !== n || a.dilations.length !== n || a.pads.length !== 2 * n) {
    throw new Error(`${op}: internal: attributes do not match ${n} spatial axes: ${JSON.stringify(a)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// conv

export const convOp: OpDef<ConvAttrs> = defineOp<ConvAttrs>({
  name: 'conv',
  infer: (inputs, a) => {
    const n = checkConvInputs('conv', inputs);
    checkAttrs('conv', a, n);
    const [x, w] = inputs;
    const ws = w.shape as number[];
    checkGroups('conv', inputs, x.shape[1], a.group, 'input channels');
    if (ws[1] * a.group !== x.shape[1]) {
      throw opError(
        'conv',
        `weight must be [Cout, Cin/groups, ...kernel] = [?, ${(x.shape[1] as number) / a.group}, ...]`,
        inputs,
      );
    }
    if (ws[0] % a.group !== 0)
      throw opError('conv', `output channels (${ws[0]}) must be divisible by groups (${a.group})`, inputs);
    checkBias('conv', inputs, ws[0]);
    const sp = concreteSpatial('conv', x, 'x');
    const out = sp.map((d, i) =>
      windowOutputSize(d, ws[2 + i], a.strides[i], a.pads[i], a.pads[n + i], a.dilations[i]),
    );
    if (out.some((d) => d < 1))
      throw opError(
        'conv',
        `the kernel (dilated) is larger than the padded input: output would be ${shapeStr(out)}`,
        inputs,
      );
    return [{ shape: [x.shape[0], ws[0], ...out], dtype: x.dtype }];
  },
  lower: (ctx, inputs, a) => {
    const [x, w] = inputs;
    const ws = w.shape as number[];
    // Weights that arrive at run time (training graphs) miss ORT's own NCHWc rewrite, which only
    // handles constant weights; call its NCHWc kernel directly. Constant weights keep plain Conv.
    if (nchwcKind(ctx, x.shape[1] as number, ws[0], a.group) && !ctx.isConstant(w.name)) {
      if (ws.length === 4) return [lowerNchwcConv(ctx, inputs, a)];
      if (ws.length === 3) {
        const [, , b] = inputs;
        const lifted = [heightOne(ctx, x), heightOne(ctx, w), ...(b ? [b] : [])];
        return [dropHeight(ctx, lowerNchwcConv(ctx, lifted, liftAttrs(a)))];
      }
    }
    return [
      ctx.node1(
        'Conv',
        inputs.map((t) => t.name),
        {
          kernel_shape: ws.slice(2),
          strides: a.strides,
          pads: a.pads,
          dilations: a.dilations,
          group: a.group,
        },
      ),
    ];
  },
  vjp: ([g], [x, w, b], _o, a) => {
    const sp = x.shape.slice(2) as number[];
    const ks = (w.shape as number[]).slice(2);
    const gx = convInputGrad(g!, w, sp, a);
    const gw = apply1(convWeightGradOp, [x, g!], { ...a, kernel: ks });
    return b ? [gx, gw, sum(g!, [0, ...sp.map((_d, i) => i + 2)])] : [gx, gw];
  },
});

// ---------------------------------------------------------------------------------------------
// convTranspose

export const convTransposeOp: OpDef<ConvTransposeAttrs> = defineOp<ConvTransposeAttrs>({
  name: 'convTranspose',
  infer: (inputs, a) => {
    const n = checkConvInputs('convTranspose', inputs);
    checkAttrs('convTranspose', a, n);
    const [x, w] = inputs;
    const ws = w.shape as number[];
    checkGroups('convTranspose', inputs, x.shape[1], a.group, 'input channels');
    if (ws[0] !== x.shape[1])
      throw opError('convTranspose', `weight must be [Cin, Cout/groups, ...kernel] with Cin = ${x.shape[1]}`, inputs);
    const cout = ws[1] * a.group;
    checkBias('convTranspose', inputs, cout);
    a.outputPadding.forEach((p, i) => {
      if (!(p >= 0 && (p < a.strides[i] || p < a.dilations[i]))) {
        throw opError(
          'convTranspose',
          `outputPadding (${p}) must be smaller than the stride or the dilation of axis ${i}`,
          inputs,
        );
      }
    });
    const sp = concreteSpatial('convTranspose', x, 'x');
    const out = sp.map(
      (d, i) =>
        a.strides[i] * (d - 1) + a.outputPadding[i] + a.dilations[i] * (ws[2 + i] - 1) + 1 - a.pads[i] - a.pads[n + i],
    );
    if (out.some((d) => d < 1))
      throw opError('convTranspose', `padding removes the whole output: output would be ${shapeStr(out)}`, inputs);
    return [{ shape: [x.shape[0], cout, ...out], dtype: x.dtype }];
  },
  lower: (ctx, inputs, a) => {
    const [x, w, b] = inputs;
    if ((w.shape as number[]).length === 3 && nchwcFlippedConvApplies(ctx, liftValueShape(w), liftAttrs(a))) {
      const lifted = [heightOne(ctx, x), heightOne(ctx, w), ...(b ? [b] : [])];
      return [dropHeight(ctx, nchwcFlippedConv(ctx, lifted, liftAttrs(a))!)];
    }
    const flipped = nchwcFlippedConv(ctx, inputs, a) ?? flippedConv1d(ctx, inputs, a);
    if (flipped) return [flipped];
    return [
      ctx.node1(
        'ConvTranspose',
        inputs.map((t) => t.name),
        {
          kernel_shape: (inputs[1].shape as number[]).slice(2),
          strides: a.strides,
          pads: a.pads,
          dilations: a.dilations,
          group: a.group,
          output_padding: a.outputPadding.some((p) => p !== 0) ? a.outputPadding : undefined,
        },
      ),
    ];
  },
  vjp: ([g], [x, w, b], _o, a) => {
    const { outputPadding: _, ...convAttrs } = a;
    const ks = (w.shape as number[]).slice(2);
    // convTranspose is the adjoint of conv(·, w): its input gradient is that conv, and its weight
    // gradient is conv's weight gradient with the roles of input and output swapped.
    const gx = apply1(convOp, [g!, w], convAttrs);
    const gw = apply1(convWeightGradOp, [g!, x], { ...convAttrs, kernel: ks });
    const gb = b ? sum(g!, [0, ...ks.map((_k, i) => i + 2)]) : null;
    return b ? [gx, gw, gb] : [gx, gw];
  },
});

/**
 * A stride-1 ConvTranspose is a conv of x with the kernel flipped in space and its channel axes
 * swapped, padded by dilation·(k-1) - pad. On the NCHWc kernel that is faster than ConvTranspose
 * (as a plain Conv it is slower), so it is used only there: undefined when it does not apply.
 */
function nchwcFlippedConv(
  ctx: LowerCtx,
  [x, w, b]: readonly LoweredValue[],
  a: ConvTransposeAttrs,
): string | undefined {
  if (!nchwcFlippedConvApplies(ctx, w, a)) return undefined;
  const ws = w.shape as number[];
  const ks = ws.slice(2);
  const pads = flippedPads(ks, a);
  const depthwise = nchwcKind(ctx, ws[0], ws[1] * a.group, a.group) === 'depthwise';
  // Depthwise: one channel in and out per group, so only the flip ([C, 1, kh, kw] either way).
  const flipped = flipAxes(ctx, w.name, [2, 3]);
  const kernel = depthwise ? flipped : ctx.node1('Transpose', [flipped], { perm: [1, 0, 2, 3] });
  const swapped = { name: kernel, shape: [ws[1] * a.group, ws[0] / a.group, ...ks], dtype: w.dtype };
  return lowerNchwcConv(ctx, b ? [x, swapped, b] : [x, swapped], {
    strides: a.strides,
    pads,
    dilations: a.dilations,
    group: a.group,
  });
}

/** The pads of the flipped-kernel conv that computes a stride-1 ConvTranspose. */
function flippedPads(ks: readonly number[], a: ConvTransposeAttrs): number[] {
  const n = ks.length;
  return [
    ...ks.map((k, i) => a.dilations[i] * (k - 1) - a.pads[i]),
    ...ks.map((k, i) => a.dilations[i] * (k - 1) - a.pads[n + i]),
  ];
}

/** Whether nchwcFlippedConv lowers a ConvTranspose with this weight and these attributes. */
function nchwcFlippedConvApplies(ctx: LowerCtx, w: LoweredValue, a: ConvTransposeAttrs): boolean {
  const ws = w.shape as number[];
  const unit =
    a.strides.every((s) => s === 1) &&
    a.outputPadding.every((p) => p === 0) &&
    flippedPads(ws.slice(2), a).every((p) => p >= 0);
  const blocked = ws.length === 4 && nchwcKind(ctx, ws[0], ws[1] * a.group, a.group) !== undefined;
  return unit && blocked && !ctx.isConstant(w.name);
}

// 1-D convs whose channels are whole blocks run as 2-D convs of height 1, so that the NCHWc kernels
// and the gradient forms built on them apply: [N, C, L] values become [N, C, 1, L] and back.

/** A 1-D conv's attributes as those of the same 2-D conv of height 1. */
function liftAttrs<A extends ConvAttrs & { outputPadding?: number[]; kernel?: number[] }>(a: A): A {
  return {
    ...a,
    strides: [1, ...a.strides],
    dilations: [1, ...a.dilations],
    pads: [0, a.pads[0], 0, a.pads[1]],
    ...(a.outputPadding ? { outputPadding: [0, ...a.outputPadding] } : {}),
    ...(a.kernel ? { kernel: [1, ...a.kernel] } : {}),
  };
}

/** A 3-D value's type with a height axis of 1 inserted before its last axis. */
function liftValueShape<V extends LoweredValue>(v: V): V {
  return { ...v, shape: [...v.shape.slice(0, 2), 1, v.shape[2]] };
}

/** [N, C, L] → [N, C, 1, L] (its blocked form, when a lowering recorded one, carries over). */
function heightOne(ctx: LowerCtx, v: LoweredValue): LoweredValue {
  const name = ctx.node1('Reshape', [v.name, ctx.ints([0, 0, 1, -1])]);
  const blocked = ctx.blockedForm(v.name);
  if (blocked) ctx.setBlockedForm(name, blocked);
  return { ...liftValueShape(v), name };
}

/** [N, C, 1, L] → [N, C, L] (its blocked form carries over). */
function dropHeight(ctx: LowerCtx, name: string): string {
  const out = ctx.node1('Reshape', [name, ctx.ints([0, 0, -1])]);
  const blocked = ctx.blockedForm(name);
  if (blocked) ctx.setBlockedForm(out, blocked);
  return out;
}

/**
 * The same flipped-kernel conv as a plain Conv, for 1-D: ORT's 1-D ConvTranspose is several times
 * slower than its Conv, and for grouped (depthwise) weights tens of times (docs/PERFORMANCE.md).
 * Any group count: [Cin, Cout/g, k] → [g, Cin/g, Cout/g, k] → [Cout, Cin/g, k], flipped in k.
 */
function flippedConv1d(ctx: LowerCtx, [x, w, b]: readonly LoweredValue[], a: ConvTransposeAttrs): string | undefined {
  const ws = w.shape as number[];
  if (ws.length !== 3 || x.dtype !== 'float32') return undefined;
  const [cin, perGroupOut, k] = ws as [number, number, number];
  const pads = [a.dilations[0] * (k - 1) - a.pads[0], a.dilations[0] * (k - 1) - a.pads[1] + a.outputPadding[0]];
  if (a.strides[0] !== 1 || pads.some((p) => p < 0)) return undefined;
  const g = a.group;
  const flipped = flipAxes(ctx, w.name, [2]);
  const kernel =
    cin / g === 1
      ? ctx.node1('Reshape', [flipped, ctx.ints([perGroupOut * g, 1, k])])
      : ctx.node1('Reshape', [
          ctx.node1('Transpose', [ctx.node1('Reshape', [flipped, ctx.ints([g, cin / g, perGroupOut, k])])], {
            perm: [0, 2, 1, 3],
          }),
          ctx.ints([perGroupOut * g, cin / g, k]),
        ]);
  return ctx.node1('Conv', [x.name, kernel, ...(b ? [b.name] : [])], {
    kernel_shape: [k],
    strides: [1],
    pads,
    dilations: a.dilations,
    group: g,
  });
}

// ---------------------------------------------------------------------------------------------
// unfold (im2col) and the weight gradient

/** [C*K, 1, ...kernel] with a single 1 per output channel: channel c*K+k picks kernel offset k of channel c. */
function oneHotKernel(channels: number, kernel: readonly number[]): Float32Array {
  const k = kernel.reduce((p, d) => p * d, 1);
  const data = new Float32Array(channels * k * k);
  for (let c = 0; c < channels; c++) for (let j = 0; j < k; j++) data[(c * k + j) * k + j] = 1;
  return data;
}

export interface UnfoldAttrs {
  [k: string]: unknown;
  kernel: number[];
  strides: number[];
  pads: number[];
  dilations: number[];
}

/** Internal: im2col as a grouped Conv with one-hot kernels: [N, C, ...sp] → [N, C*K, L]. */
export const unfoldOp: OpDef<UnfoldAttrs> = defineOp<UnfoldAttrs>({
  name: 'unfold',
  infer: ([x], a) => {
    checkDtypes('unfold', [x], CONV_DTYPES);
    checkGroups('unfold', [x], x.shape[1], 1, 'channels');
    const sp = concreteSpatial('unfold', x, 'x');
    const n = sp.length;
    const out = sp.map((d, i) =>
      windowOutputSize(d, a.kernel[i], a.strides[i], a.pads[i], a.pads[n + i], a.dilations[i]),
    );
    if (out.some((d) => d < 1)) throw opError('unfold', `the kernel is larger than the padded input`, [x]);
    const k = a.kernel.reduce((p, d) => p * d, 1);
    return [{ shape: [x.shape[0], (x.shape[1] as number) * k, out.reduce((p, d) => p * d, 1)], dtype: x.dtype }];
  },
  lower: (ctx, [x], a, [out]) => [lowerUnfold(ctx, x, a, out.shape[2] as number)],
  vjp: ([g], [x], _o, a) => [apply1(foldOp, [g!], { ...a, outputShape: x.shape.slice(1) as number[] })],
});

/** unfold's nodes: [N, C, ...sp] → [N, C*K, L] (L window positions). */
function lowerUnfold(ctx: LowerCtx, x: LoweredValue, a: UnfoldAttrs, l: number): string {
  const c = x.shape[1] as number;
  const rows = c * a.kernel.reduce((p, d) => p * d, 1);
  const weight = ctx.constant(oneHotKernel(c, a.kernel), 'float32', [rows, 1, ...a.kernel]);
  const cols = ctx.node1('Conv', [x.name, weight], {
    kernel_shape: a.kernel,
    strides: a.strides,
    pads: a.pads,
    dilations: a.dilations,
    group: c,
  });
  return ctx.node1('Reshape', [cols, ctx.ints([0, rows, l])]);
}

/** Internal: col2im, the adjoint of unfold: [N, C*K, L] → [N, ...outputShape] summing overlapping windows. */
export const foldOp: OpDef<UnfoldAttrs & { outputShape: number[] }> = defineOp<UnfoldAttrs & { outputShape: number[] }>(
  {
    name: 'fold',
    infer: ([cols], a) => [{ shape: [cols.shape[0], ...a.outputShape], dtype: cols.dtype }],
    lower: (ctx, [cols], a) => {
      const [c, ...sp] = a.outputShape;
      const n = sp.length;
      const out = sp.map((d, i) =>
        windowOutputSize(d, a.kernel[i], a.strides[i], a.pads[i], a.pads[n + i], a.dilations[i]),
      );
      const weight = ctx.constant(oneHotKernel(c, a.kernel), 'float32', [cols.shape[1] as number, 1, ...a.kernel]);
      const outputPadding = convOutputPadding(sp, out, a.kernel, a);
      const grid = ctx.node1('Reshape', [cols.name, ctx.ints([0, cols.shape[1] as number, ...out])]);
      return [
        ctx.node1('ConvTranspose', [grid, weight], {
          kernel_shape: a.kernel,
          strides: a.strides,
          pads: a.pads,
          dilations: a.dilations,
          group: c,
          output_padding: outputPadding.some((p) => p !== 0) ? outputPadding : undefined,
        }),
      ];
    },
    vjp: ([g], _i, _o, { outputShape: _, ...a }) => [apply1(unfoldOp, [g!], a)],
  },
);

/**
 * Conv through ORT's NCHWc kernel (passes/nchwc.ts), ungrouped or depthwise: the input is reordered
 * into channel blocks, the weights into the kernel's filter order (blockedFilter,
 * blockedDepthwiseFilter), and the output back to NCHW. With
 * weights fed at run time it beats Conv, whose run-time-weight path is one skinny GEMM per image.
 */
function lowerNchwcConv(ctx: LowerCtx, [x, w, b]: readonly LoweredValue[], a: ConvAttrs): string {
  const [o, , kh, kw] = w.shape as number[];
  const blockedX = toBlocked(ctx, x.name);
  const filter = a.group === 1 ? blockedFilter(ctx, w.name, o, kh, kw) : blockedDepthwiseFilter(ctx, w.name, o, kw);
  const y = ctx.node(
    'Conv',
    [blockedX, filter, ...(b ? [b.name] : [])],
    { kernel_shape: [kh, kw], strides: a.strides, pads: a.pads, dilations: a.dilations, group: a.group },
    1,
    NCHWC_DOMAIN,
  )[0];
  return fromBlocked(ctx, y, o);
}

/**
 * Gradient of conv(x, w) w.r.t. x given the output cotangent gy: ConvTranspose, whose
 * outputPadding restores the rows a forward stride skipped at the end. (Lowered for 'ort-cpu' as
 * an NCHWc conv with the flipped kernel when stride 1 allows it: nchwcFlippedConv.)
 */
function convInputGrad(gy: Tensor, w: Tensor, sp: readonly number[], a: ConvAttrs): Tensor {
  const ks = (w.shape as number[]).slice(2);
  const outputPadding = convOutputPadding(sp, gy.shape.slice(2) as number[], ks, a);
  return apply1(convTransposeOp, [gy, w], { ...a, outputPadding });
}

/** The ConvTranspose output padding that maps a conv's output grid back onto its full input. */
export function convOutputPadding(
  input: readonly number[],
  output: readonly number[],
  kernel: readonly number[],
  a: { strides: number[]; pads: number[]; dilations: number[] },
): number[] {
  const n = input.length;
  return input.map(
    (d, i) => d - ((output[i] - 1) * a.strides[i] + a.dilations[i] * (kernel[i] - 1) + 1 - a.pads[i] - a.pads[n + i]),
  );
}

export interface UnfoldOptions {
  kernel: number | readonly number[];
  stride?: number | readonly number[];
  padding?: Padding;
  dilation?: number | readonly number[];
}

/**
 * im2col: x [N, C, ...spatial] → [N, C * prod(kernel), L] where L is the number of window
 * positions. Row c*K + k holds kernel offset k (row-major) of channel c. Differentiable (its VJP is
 * col2im, a ConvTranspose with the same one-hot kernels).
 */
export function unfold(x: Tensor, options: UnfoldOptions): Tensor {
  const n = x.rank - 2;
  if (n < 1) throw opError('unfold', 'x must be [N, C, ...spatial]', [x]);
  const kernel = perAxis('unfold', 'kernel', options.kernel, n, 1);
  const strides = perAxis('unfold', 'stride', options.stride, n, 1);
  const dilations = perAxis('unfold', 'dilation', options.dilation, n, 1);
  const sp = concreteSpatial('unfold', x, 'x');
  const pads = resolvePads('unfold', options.padding, sp, kernel, strides, dilations);
  return apply1(unfoldOp, [x], { kernel, strides, pads, dilations });
}

export interface WeightGradAttrs extends ConvAttrs {
  kernel: number[];
}

/**
 * Internal: the weight gradient of conv(x, w) with attributes `a` given the output cotangent gy,
 * (x, gy) → dW [Cout, Cin/groups, ...kernel]:
 * dW[g] = Σ_n gy[n, g] · unfold(x)[n, g]ᵀ, one batched MatMul over (N, groups), then a sum over N
 * (ORT fuses the Transpose into the MatMul, so operand orientation costs nothing); when the window
 * positions are few and the channels many, one Gemm over all N·L rows instead. Lowered for
 * 'ort-cpu' as one NCHWc conv with the batch as channels when that applies (lowerNchwcWeightGrad).
 */
export const convWeightGradOp: OpDef<WeightGradAttrs> = defineOp<WeightGradAttrs>({
  name: 'convWeightGrad',
  infer: ([x, gy], a) => [{ shape: [gy.shape[1], (x.shape[1] as number) / a.group, ...a.kernel], dtype: x.dtype }],
  lower: (ctx, [x, gy], a, [dw]) => {
    const cin = x.shape[1] as number;
    const cout = gy.shape[1] as number;
    // The dense NCHWc form needs unit strides and dilations; the depthwise one takes any.
    const unitSteps = [...a.strides, ...a.dilations].every((v) => v === 1);
    const kind = nchwcKind(ctx, cin, cout, a.group);
    const blocked =
      kind === 'depthwise'
        ? lowerNchwcDepthwiseWeightGrad
        : kind === 'dense' && unitSteps
          ? lowerNchwcWeightGrad
          : undefined;
    if (blocked && a.kernel.length === 2) return [blocked(ctx, x, gy, a)];
    if (blocked && a.kernel.length === 1) {
      const lifted = blocked(ctx, heightOne(ctx, x), heightOne(ctx, gy), liftAttrs(a));
      return [ctx.node1('Reshape', [lifted, ctx.ints(dw.shape as number[])])];
    }
    if (a.kernel.length === 1 && a.group === cin && a.group > 1 && x.dtype === 'float32')
      return [lowerDepthwiseWeightGrad1d(ctx, x, gy, a)];
    const g = a.group;
    const k = a.kernel.reduce((p, d) => p * d, 1);
    const l = (gy.shape.slice(2) as number[]).reduce((p, d) => p * d, 1);
    const cols = lowerUnfold(ctx, x, { kernel: a.kernel, strides: a.strides, pads: a.pads, dilations: a.dilations }, l); // [N, Cin*K, L]
    // Few window positions and many channels (deep, strided layers: ResNet's last stage has L = 4):
    // the per-image products [N, Cout, Cin*K] would dwarf their operands, so one Gemm over N*L rows.
    if (g === 1 && cout * cin * k > 4 * l * (cout + cin * k)) {
      const rows = (t: string, width: number) =>
        ctx.node1('Reshape', [ctx.node1('Transpose', [t], { perm: [0, 2, 1] }), ctx.ints([-1, width])]);
      const dyRows = rows(ctx.node1('Reshape', [gy.name, ctx.ints([0, cout, l])]), cout); // [N*L, Cout]
      const product = ctx.node1('Gemm', [dyRows, rows(cols, cin * k)], { transA: 1 }); // [Cout, Cin*K]
      return [ctx.node1('Reshape', [product, ctx.ints(dw.shape as number[])])];
    }
    const grouped = (t: string, rows: number): string =>
      ctx.node1('Reshape', [t, ctx.ints(g === 1 ? [0, rows, l] : [0, g, rows / g, l])]);
    const u = grouped(cols, cin * k);
    const dy = grouped(gy.name, cout);
    const uT = ctx.node1('Transpose', [u], { perm: g === 1 ? [0, 2, 1] : [0, 1, 3, 2] });
    const perImage = ctx.node1('MatMul', [dy, uT]);
    const summed = ctx.node1('ReduceSum', [perImage, ctx.ints([0])], { keepdims: 0 });
    return [ctx.node1('Reshape', [summed, ctx.ints(dw.shape as number[])])];
  },
  // Bilinear: <h, dW(x, gy)> = <conv(x, h), gy> = <x, convᵀ(gy, h)>.
  vjp: ([h], [x, gy], _o, { kernel: _, ...a }) => [
    convInputGrad(gy, h!, x.shape.slice(2) as number[], a),
    apply1(convOp, [x, h!], a),
  ],
});

/**
 * The weight gradient of a 1-D depthwise conv (group = Cin, any channel multiplier m) as one
 * grouped Conv with the cotangent as its kernel: x as [1, C·N, L] (each channel's images are its
 * group's input channels), gy as [Cout, N, Lo]; dW[co, j] = Σ_n,t gy[n, co, t] · xpad[n, c, t·s + j·d]
 * is that conv with dilation s and stride d. ORT's grouped Conv with C·K one-hot output channels
 * (the unfold path) was several times slower (docs/PERFORMANCE.md).
 */
function lowerDepthwiseWeightGrad1d(ctx: LowerCtx, x: LoweredValue, gy: LoweredValue, a: WeightGradAttrs): string {
  const c = x.shape[1] as number;
  const cout = gy.shape[1] as number;
  const [k] = a.kernel as [number];
  const [l] = x.shape.slice(2) as [number];
  const [lo] = gy.shape.slice(2) as [number];
  const input = ctx.node1('Reshape', [ctx.node1('Transpose', [x.name], { perm: [1, 0, 2] }), ctx.ints([1, -1, l])]);
  const kernel = ctx.node1('Transpose', [gy.name], { perm: [1, 0, 2] });
  const [s] = a.strides as [number];
  const [d] = a.dilations as [number];
  const out = windowOutputSize(l, lo, d, a.pads[0], a.pads[1], s);
  let dw = ctx.node1('Conv', [input, kernel], {
    kernel_shape: [lo],
    strides: [d],
    pads: a.pads,
    dilations: [s],
    group: c,
  });
  // The forward's last window may leave samples unread: keep the K taps.
  if (out > k) dw = ctx.node1('Slice', [dw, ctx.ints([0]), ctx.ints([k]), ctx.ints([2])]);
  return ctx.node1('Reshape', [dw, ctx.ints([cout, 1, k])]);
}

/**
 * The weight gradient of a depthwise 2-D conv on the NCHWc depthwise kernel, any batch (symbolic
 * too): dW[c, i, j] = Σ_n,y,x gy[n, c, y, x] · xpad[n, c, y·s + i·d, x·s + j·d]. Each channel's
 * padded images are stacked vertically into one tall image, and its cotangents into one tall kernel
 * with zero rows between images, so that a single depthwise conv (dilation = the forward stride,
 * stride = the forward dilation) sums over the batch: kernel rows of image n meet only rows of
 * image n, because each image is padded to a whole number of strides. The kernel's height follows
 * the batch, so the Conv takes it from the filter's shape.
 */
function lowerNchwcDepthwiseWeightGrad(ctx: LowerCtx, x: LoweredValue, gy: LoweredValue, a: WeightGradAttrs): string {
  const c = x.shape[1] as number;
  const [h, w] = x.shape.slice(2) as number[];
  const [ho, wo] = gy.shape.slice(2) as number[];
  const [kh, kw] = a.kernel as [number, number];
  const [sh, sw] = a.strides as [number, number];
  const [pt, pl, pb, pr] = a.pads as [number, number, number, number];
  const rowsPerImage = Math.ceil((h + pt + pb) / sh); // in strides
  const extra = rowsPerImage * sh - (h + pt + pb);
  // All in the blocked layout ([N, C/B, rows, cols, B]), where moving the batch behind the channel
  // blocks and padding rows move whole rows of cols·B floats: the tall image [C/B, N·rows, W, B] is
  // the blocked [1, C, N·rows, W], and the tall kernel [C/B, K, Wo, B] the depthwise filter order.
  const block = ctx.nchwcBlock;
  const tallRows = (t: LoweredValue, rows: number, cols: number, top: number, bottom: number) => {
    const byRow = ctx.node1('Reshape', [toBlocked(ctx, t.name), ctx.ints([0, c / block, rows, cols * block])]);
    const blocksFirst = ctx.node1('Transpose', [byRow], { perm: [1, 0, 2, 3] }); // [C/B, N, rows, cols·B]
    return top || bottom ? ctx.node1('Pad', [blocksFirst, ctx.ints([0, 0, top, 0, 0, 0, bottom, 0])]) : blocksFirst;
  };
  const tall = ctx.node1('Reshape', [tallRows(x, h, w, pt, pb + extra), ctx.ints([1, c, -1, w])]);
  // The cotangents' rows sit one stride apart in the kernel: rowsPerImage kernel rows per image, the
  // last image's trailing zero rows cut.
  const gap = rowsPerImage - ho;
  let kernel = ctx.node1('Reshape', [tallRows(gy, ho, wo, 0, gap), ctx.ints([c / block, -1, wo * block])]);
  if (gap > 0) kernel = ctx.node1('Slice', [kernel, ctx.ints([0]), ctx.ints([-gap]), ctx.ints([1])]);
  const y = ctx.node(
    'Conv',
    [tall, ctx.node1('Reshape', [kernel, ctx.ints([c, 1, -1, wo])])],
    { strides: a.dilations, pads: [0, pl, 0, pr], dilations: a.strides, group: c },
    1,
    NCHWC_DOMAIN,
  )[0];
  // The forward's last window may leave rows or columns unread: keep the kh × kw taps.
  const oh = Math.floor((rowsPerImage * sh - (ho - 1) * sh - 1) / a.dilations[0]) + 1;
  const ow = windowOutputSize(w, wo, a.dilations[1], pl, pr, sw);
  let dw = ctx.node('ReorderOutput', [y], { channels: c }, 1, NCHWC_DOMAIN)[0]; // [1, C, oh, ow]
  if (oh > kh || ow > kw) dw = ctx.node1('Slice', [dw, ctx.ints([0, 0]), ctx.ints([kh, kw]), ctx.ints([2, 3])]);
  return ctx.node1('Reshape', [dw, ctx.ints([c, 1, kh, kw])]);
}

/**
 * The NCHWc weight gradient of an ungrouped stride-1, dilation-1 2-D conv: x as [Cin, N, H, W]
 * convolved with gy as the kernel [Cout, N, Ho, Wo]. The batch is padded with zeros to whole
 * channel blocks (at run time when it is symbolic). Faster than im2col + batched MatMul
 * (docs/PERFORMANCE.md).
 */
function lowerNchwcWeightGrad(ctx: LowerCtx, x: LoweredValue, gy: LoweredValue, a: WeightGradAttrs): string {
  const block = ctx.nchwcBlock;
  const [cout, ho, wo] = gy.shape.slice(1) as number[];
  const input = ctx.node('ReorderInput', [batchAsChannels(ctx, x, block)], {}, 1, NCHWC_DOMAIN)[0];
  const filter = cotangentAsFilter(ctx, gy, block);
  const y = ctx.node(
    'Conv',
    [input, filter],
    { kernel_shape: [ho, wo], strides: [1, 1], pads: a.pads, dilations: [1, 1], group: 1 },
    1,
    NCHWC_DOMAIN,
  )[0];
  // Channels last ([Cin, kh, kw, Cout]): the usual next step, the Transpose into a Keras kernel
  // ([kh, kw, Cin, Cout]), then merges with this one into a Transpose that moves whole rows.
  const dwT = ctx.node('ReorderOutput', [y], { channels: cout, channels_last: 1 }, 1, NCHWC_DOMAIN)[0];
  return ctx.node1('Transpose', [dwT], { perm: [3, 0, 1, 2] });
}

/**
 * gy [N, Cout, Ho, Wo] as the blocked filter [Cout, N', Ho, Wo] (OIHWBiBo, N' = N rounded up to
 * whole blocks): ReorderInput gives [N, Cout/B, Ho, Wo, Bc], the same node as the input gradient's
 * (ORT computes it once), and one Transpose that keeps Bc innermost finishes the job.
 */
function cotangentAsFilter(ctx: LowerCtx, gy: LoweredValue, block: number): string {
  const [cout, ho, wo] = gy.shape.slice(1) as number[];
  const rows = toBlocked(ctx, gy.name);
  const padded = padBatch(ctx, rows, gy.shape[0], block);
  const split = ctx.node1('Reshape', [padded, ctx.ints([-1, block, cout / block, ho, wo, block])]);
  const blocked = ctx.node1('Transpose', [split], { perm: [2, 0, 3, 4, 1, 5] });
  return ctx.node1('Reshape', [blocked, ctx.ints([cout, -1, ho, wo])]);
}

/** t [N, C, H, W] → [C, N', H, W] with N' = N rounded up to whole blocks (zero rows added). */
function batchAsChannels(ctx: LowerCtx, t: LoweredValue, block: number): string {
  const swapped = ctx.node1('Transpose', [t.name], { perm: [1, 0, 2, 3] });
  return padBatch(ctx, swapped, t.shape[0], block, 1);
}

/** Zero rows appended along `axis` of a 4-D value so that its size n becomes whole blocks (at run time when n is symbolic). */
function padBatch(ctx: LowerCtx, value: string, n: Dim, block: number, axis = 0): string {
  const padsFor = (extra: number) => [0, 0, 0, 0, ...[0, 1, 2, 3].map((a) => (a === axis ? extra : 0))];
  if (typeof n === 'number')
    return n % block === 0 ? value : ctx.node1('Pad', [value, ctx.ints(padsFor((block - (n % block)) % block))]);
  const blockSize = ctx.ints([block]);
  const batch = ctx.node1('Shape', [value], { start: axis, end: axis + 1 });
  const extra = ctx.node1('Mod', [ctx.node1('Sub', [blockSize, ctx.node1('Mod', [batch, blockSize])]), blockSize]);
  const before = ctx.ints(padsFor(0).slice(0, 4 + axis));
  const after = ctx.ints(padsFor(0).slice(5 + axis));
  return ctx.node1('Pad', [value, ctx.node1('Concat', [before, extra, after], { axis: 0 })]);
}

// ---------------------------------------------------------------------------------------------
// Public functions

function convNd(op: string, n: number, x: Tensor, w: Tensor, b: Tensor | undefined, options: ConvOptions): Tensor {
  if (x.rank !== n + 2)
    throw opError(op, `x must have rank ${n + 2} ([N, C, ${n === 1 ? 'L' : n === 2 ? 'H, W' : 'D, H, W'}])`, [x, w]);
  if (w.rank !== n + 2) throw opError(op, `weight must have rank ${n + 2} ([Cout, Cin/groups, ...kernel])`, [x, w]);
  const strides = perAxis(op, 'stride', options.stride, n, 1);
  const dilations = perAxis(op, 'dilation', options.dilation, n, 1);
  const ks = (w.shape as number[]).slice(2);
  const sp = concreteSpatial(op, x, 'x');
  const pads = resolvePads(op, options.padding, sp, ks, strides, dilations);
  return apply1(convOp, b ? [x, w, b] : [x, w], { strides, pads, dilations, group: options.groups ?? 1 });
}

/** 1-D convolution: x [N, Cin, L], w [Cout, Cin/groups, k], b [Cout]. */
export const conv1d = (x: Tensor, w: Tensor, b?: Tensor, options: ConvOptions = {}): Tensor =>
  convNd('conv1d', 1, x, w, b, options);
/** 2-D convolution: x [N, Cin, H, W], w [Cout, Cin/groups, kH, kW], b [Cout]. */
export const conv2d = (x: Tensor, w: Tensor, b?: Tensor, options: ConvOptions = {}): Tensor =>
  convNd('conv2d', 2, x, w, b, options);
/** 3-D convolution: x [N, Cin, D, H, W], w [Cout, Cin/groups, kD, kH, kW], b [Cout]. */
export const conv3d = (x: Tensor, w: Tensor, b?: Tensor, options: ConvOptions = {}): Tensor =>
  convNd('conv3d', 3, x, w, b, options);

function convTransposeNd(
  op: string,
  n: number,
  x: Tensor,
  w: Tensor,
  b: Tensor | undefined,
  options: ConvTransposeOptions,
): Tensor {
  if (x.rank !== n + 2) throw opError(op, `x must have rank ${n + 2}`, [x, w]);
  if (w.rank !== n + 2) throw opError(op, `weight must have rank ${n + 2} ([Cin, Cout/groups, ...kernel])`, [x, w]);
  const strides = perAxis(op, 'stride', options.stride, n, 1);
  const dilations = perAxis(op, 'dilation', options.dilation, n, 1);
  const outputPadding = perAxis(op, 'outputPadding', options.outputPadding, n, 0, 0);
  const ks = (w.shape as number[]).slice(2);
  if (options.padding === 'same') {
    throw new Error(`${op}: padding 'same' is not defined for transposed convolutions; give explicit padding`);
  }
  const pads = resolvePads(op, options.padding, [], ks, strides, dilations);
  return apply1(convTransposeOp, b ? [x, w, b] : [x, w], {
    strides,
    pads,
    dilations,
    group: options.groups ?? 1,
    outputPadding,
  });
}

/**
 * Transposed 1-D convolution (the gradient of conv1d w.r.t. its input): w [Cin, Cout/groups, k].
 * Output length = stride*(L-1) + outputPadding + dilation*(k-1) + 1 - padBegin - padEnd.
 */
export const convTranspose1d = (x: Tensor, w: Tensor, b?: Tensor, options: ConvTransposeOptions = {}): Tensor =>
  convTransposeNd('convTranspose1d', 1, x, w, b, options);
/** Transposed 2-D convolution: x [N, Cin, H, W], w [Cin, Cout/groups, kH, kW], b [Cout]. */
export const convTranspose2d = (x: Tensor, w: Tensor, b?: Tensor, options: ConvTransposeOptions = {}): Tensor =>
  convTransposeNd('convTranspose2d', 2, x, w, b, options);
