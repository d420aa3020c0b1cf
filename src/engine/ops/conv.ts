/**
 * Convolutions (NCHW / NCL, ONNX layout): conv (1-D/2-D/3-D), convTranspose, and the im2col
 * `unfold` used by their weight gradients. Each op is defined once: shape rule, ONNX lowering, VJP.
 *
 * Gradients, in general: input gradient = ConvTranspose (conv) / Conv (convTranspose); weight
 * gradient = unfold (a grouped Conv with fixed one-hot kernels) + batched MatMul + sum over the
 * batch. Measured on the seed CNN's three 3x3 convs, forward+backward, CPU ms, one thread: this
 * 33.6; transposing the other MatMul operand 33.6-33.9 (ORT fuses either transpose); im2col by
 * strided Slices 33.5; one Gemm over N*L after transposes 36.0; Einsum 39.0; Conv over
 * batch/channel-swapped tensors 36.1; input gradient as a plain Conv with flipped weights 38.5.
 *
 * Ungrouped 2-D convs whose channel counts are whole NCHWc blocks (runtime/nchwc.ts) use ORT's
 * blocked kernel instead when their weights arrive at run time (training graphs): the forward
 * (lowerNchwcConv), the stride-1 input gradient as a conv with the flipped kernel
 * (convInputGrad), and the stride-1 weight gradient with the batch as channels (convFilterGradOp).
 * Their filters are reordered by block-preserving Transposes only (blockedFromSpatialFirst,
 * cotangentAsFilter): ORT's general Transpose moves single floats. docs/PERFORMANCE.md has the
 * measurements.
 */
import type { LowerCtx } from '../onnx/lower.js';
import { type LoweredValue, type OpDef, type TensorType, apply1, checkDtypes, defineOp, opError } from '../op.js';
import { NCHWC_DOMAIN, fromBlocked, nchwcBlockSize, nchwcConvApplies, toBlocked } from '../runtime/nchwc.js';
import { type Dim, shapeStr } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { matmul, reshape, sum, transpose, transposeOp } from './core.js';
import { flip } from './shape.js';
// pool.ts imports this module too; maxPoolGradOp is only read inside biasGrad, at trace time.
import { maxPoolGradOp } from './pool.js';

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
export function perAxis(op: string, what: string, v: number | readonly number[] | undefined, rank: number, dflt: number, min = 1): number[] {
  const list = v === undefined ? new Array<number>(rank).fill(dflt) : typeof v === 'number' ? new Array<number>(rank).fill(v) : [...v];
  if (list.length !== rank || list.some((d) => !Number.isInteger(d) || d < min)) {
    throw new Error(`${op}: ${what} must be an integer >= ${min} or a list of ${rank} such integers, got ${JSON.stringify(v)}`);
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
export function windowOutputSize(input: number, kernel: number, stride: number, padBegin: number, padEnd: number, dilation = 1): number {
  return Math.floor((input + padBegin + padEnd - dilation * (kernel - 1) - 1) / stride) + 1;
}

/**
 * Resolves a padding spec into ONNX pads ([begins..., ends...]). 'same' pads so that
 * out = ceil(in / stride), putting the odd extra element at the end (like Keras/TF and PyTorch).
 */
export function resolvePads(op: string, padding: Padding | undefined, input: readonly number[], kernel: readonly number[], strides: readonly number[], dilations: readonly number[]): number[] {
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
    if (!Number.isInteger(padding) || padding < 0) throw new Error(`${op}: padding must be a non-negative integer, got ${padding}`);
    return new Array<number>(2 * n).fill(padding);
  }
  if (!Array.isArray(padding) || padding.length !== n) {
    throw new Error(`${op}: padding must be a number, 'valid', 'same', or a list of ${n} numbers or [begin, end] pairs, got ${JSON.stringify(padding)}`);
  }
  const pairs: readonly number[][] = padding.map((p) => (typeof p === 'number' ? [p, p] : [...p]));
  if (pairs.some((p) => p.length !== 2 || p.some((v) => !Number.isInteger(v) || v < 0))) {
    throw new Error(`${op}: padding entries must be non-negative integers or [begin, end] pairs, got ${JSON.stringify(padding)}`);
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
    throw opError(op, `bias must have shape [${channels}] (one value per output channel), got ${shapeStr(b.shape)}`, inputs);
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
      throw opError('conv', `weight must be [Cout, Cin/groups, ...kernel] = [?, ${(x.shape[1] as number) / a.group}, ...]`, inputs);
    }
    if (ws[0] % a.group !== 0) throw opError('conv', `output channels (${ws[0]}) must be divisible by groups (${a.group})`, inputs);
    checkBias('conv', inputs, ws[0]);
    const sp = concreteSpatial('conv', x, 'x');
    const out = sp.map((d, i) => windowOutputSize(d, ws[2 + i], a.strides[i], a.pads[i], a.pads[n + i], a.dilations[i]));
    if (out.some((d) => d < 1)) throw opError('conv', `the kernel (dilated) is larger than the padded input: output would be ${shapeStr(out)}`, inputs);
    return [{ shape: [x.shape[0], ws[0], ...out], dtype: x.dtype }];
  },
  lower: (ctx, inputs, a) => {
    const [x, w] = inputs;
    const ws = w.shape as number[];
    // Weights that arrive at run time (training graphs) miss ORT's own NCHWc rewrite, which only
    // handles constant weights; call its NCHWc kernel directly. Constant weights keep plain Conv.
    if (nchwcConvApplies(x.shape[1] as number, ws[0], ws.length - 2, a.group) && !ctx.isConstant(w.name)) return [lowerNchwcConv(ctx, inputs, a)];
    return [
      ctx.node1('Conv', inputs.map((t) => t.name), {
        kernel_shape: ws.slice(2),
        strides: a.strides,
        pads: a.pads,
        dilations: a.dilations,
        group: a.group,
      }),
    ];
  },
  vjp: ([g], [x, w, b], _o, a) => {
    const sp = x.shape.slice(2) as number[];
    const ks = (w.shape as number[]).slice(2);
    const gx = convInputGrad(g!, w, sp, ks, a);
    const gw = convWeightGrad(x, g!, ks, a);
    return b ? [gx, gw, biasGrad(g!, sp.length)] : [gx, gw];
  },
});

/**
 * The bias gradient: gy summed over the batch and spatial axes. When gy is a max pool's gradient,
 * which hands each window's cotangent whole to one element, the pooled cotangent has the same sum
 * over 1/k of the elements (seed CNN: 0.4 M instead of 1.6 M floats for conv1), and a blocked
 * pooling's gradient then needs no reorder back to NCHW.
 */
function biasGrad(gy: Tensor, spatialRank: number): Tensor {
  const axes = [0, ...Array.from({ length: spatialRank }, (_, i) => i + 2)];
  const src = gy.source;
  return sum(src?.kind === 'node' && src.node.op === maxPoolGradOp ? src.node.inputs[2] : gy, axes);
}

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
    if (ws[0] !== x.shape[1]) throw opError('convTranspose', `weight must be [Cin, Cout/groups, ...kernel] with Cin = ${x.shape[1]}`, inputs);
    const cout = ws[1] * a.group;
    checkBias('convTranspose', inputs, cout);
    a.outputPadding.forEach((p, i) => {
      if (!(p >= 0 && (p < a.strides[i] || p < a.dilations[i]))) {
        throw opError('convTranspose', `outputPadding (${p}) must be smaller than the stride or the dilation of axis ${i}`, inputs);
      }
    });
    const sp = concreteSpatial('convTranspose', x, 'x');
    const out = sp.map((d, i) => a.strides[i] * (d - 1) + a.outputPadding[i] + a.dilations[i] * (ws[2 + i] - 1) + 1 - a.pads[i] - a.pads[n + i]);
    if (out.some((d) => d < 1)) throw opError('convTranspose', `padding removes the whole output: output would be ${shapeStr(out)}`, inputs);
    return [{ shape: [x.shape[0], cout, ...out], dtype: x.dtype }];
  },
  lower: (ctx, inputs, a) => [
    ctx.node1('ConvTranspose', inputs.map((t) => t.name), {
      kernel_shape: (inputs[1].shape as number[]).slice(2),
      strides: a.strides,
      pads: a.pads,
      dilations: a.dilations,
      group: a.group,
      output_padding: a.outputPadding.some((p) => p !== 0) ? a.outputPadding : undefined,
    }),
  ],
  vjp: ([g], [x, w, b], _o, a) => {
    const { outputPadding: _, ...convAttrs } = a;
    const ks = (w.shape as number[]).slice(2);
    // convTranspose is the adjoint of conv(·, w): its input gradient is that conv, and its weight
    // gradient is conv's weight gradient with the roles of input and output swapped.
    const gx = apply1(convOp, [g!, w], convAttrs);
    const gw = convWeightGrad(g!, x, ks, convAttrs);
    const gb = b ? sum(g!, [0, ...ks.map((_k, i) => i + 2)]) : null;
    return b ? [gx, gw, gb] : [gx, gw];
  },
});

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
    const out = sp.map((d, i) => windowOutputSize(d, a.kernel[i], a.strides[i], a.pads[i], a.pads[n + i], a.dilations[i]));
    if (out.some((d) => d < 1)) throw opError('unfold', `the kernel is larger than the padded input`, [x]);
    const k = a.kernel.reduce((p, d) => p * d, 1);
    return [{ shape: [x.shape[0], (x.shape[1] as number) * k, out.reduce((p, d) => p * d, 1)], dtype: x.dtype }];
  },
  lower: (ctx, [x], a, [out]) => {
    const c = x.shape[1] as number;
    const weight = ctx.constant(oneHotKernel(c, a.kernel), 'float32', [out.shape[1] as number, 1, ...a.kernel]);
    const cols = ctx.node1('Conv', [x.name, weight], { kernel_shape: a.kernel, strides: a.strides, pads: a.pads, dilations: a.dilations, group: c });
    return [ctx.node1('Reshape', [cols, ctx.ints([0, out.shape[1] as number, out.shape[2] as number])])];
  },
  vjp: ([g], [x], _o, a) => [apply1(foldOp, [g!], { ...a, outputShape: x.shape.slice(1) as number[] })],
});

/** Internal: col2im, the adjoint of unfold: [N, C*K, L] → [N, ...outputShape] summing overlapping windows. */
export const foldOp: OpDef<UnfoldAttrs & { outputShape: number[] }> = defineOp<UnfoldAttrs & { outputShape: number[] }>({
  name: 'fold',
  infer: ([cols], a) => [{ shape: [cols.shape[0], ...a.outputShape], dtype: cols.dtype }],
  lower: (ctx, [cols], a) => {
    const [c, ...sp] = a.outputShape;
    const n = sp.length;
    const out = sp.map((d, i) => windowOutputSize(d, a.kernel[i], a.strides[i], a.pads[i], a.pads[n + i], a.dilations[i]));
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
});

/** The NCHWc block size, for lowerings that were chosen because the kernels exist. */
function requireBlockSize(): number {
  const block = nchwcBlockSize();
  if (block === 0) throw new Error('internal: an NCHWc lowering was reached with the NCHWc kernels off (traced and lowered under different settings?)');
  return block;
}

/**
 * Conv through ORT's NCHWc kernel (runtime/nchwc.ts): the input is reordered into channel blocks,
 * the weights into the kernel's filter order (blockedFilter), and the output back to NCHW. Seed CNN, batch
 * 64, weights fed at run time (scratch measurement, 2 threads): 32→64 at 15×15 2.6 vs 3.1 ms for
 * Conv, 64→64 at 6×6 0.6 vs 1.8–6.4 ms.
 */
function lowerNchwcConv(ctx: LowerCtx, [x, w, b]: readonly LoweredValue[], a: ConvAttrs): string {
  const [o, , kh, kw] = w.shape as number[];
  const blockedX = toBlocked(ctx, x.name);
  const filter = blockedFilter(ctx, w.name, o, kh, kw);
  const y = ctx.node('Conv', [blockedX, filter, ...(b ? [b.name] : [])], { kernel_shape: [kh, kw], strides: a.strides, pads: a.pads, dilations: a.dilations, group: 1 }, 1, NCHWC_DOMAIN)[0];
  return fromBlocked(ctx, y, o);
}

/**
 * A [O, I, kh, kw] filter in the NCHWc kernel's OIHWBiBo order ([O/B, I/B, kh, kw, Bi, Bo], kept
 * in the [O, I, kh, kw] shape the kernel checks). ReorderInput of the filter as an image batch
 * already gives [O, I/B, kh, kw, Bi]; moving Bo innermost is then one batched 2-D transpose (a
 * single 6-D Transpose took 3.6 of a 52 ms step, single-threaded, for the seed CNN's conv2 weight
 * gradient).
 */
function blockedFilter(ctx: LowerCtx, filter: string, o: number, kh: number, kw: number): string {
  const block = requireBlockSize();
  const fromKeras = blockedFromSpatialFirst(ctx, filter, o, kh, kw, block);
  if (fromKeras) return fromKeras;
  const rows = ctx.node('ReorderInput', [filter], {}, 1, NCHWC_DOMAIN)[0];
  const byOutBlock = ctx.node1('Reshape', [rows, ctx.ints([o / block, block, -1])]);
  return ctx.node1('Reshape', [ctx.node1('Transpose', [byOutBlock], { perm: [0, 2, 1] }), ctx.ints([o, -1, kh, kw])]);
}

/**
 * blockedFilter's short way for a filter that is a Transpose of a spatial-first kernel S (Keras'
 * [kh, kw, Cin, Cout], or [kh, kw, Cout, Cin] for an input gradient's swapped kernel): one Transpose
 * that keeps the innermost block in place, after a ReorderInput in the swapped case. ORT's
 * general Transpose moves single floats (~140 µs per 64×64×3×3 kernel, one thread); these run at
 * block speed (~15 µs), and the Transpose into ONNX layout is then left unused.
 */
function blockedFromSpatialFirst(ctx: LowerCtx, filter: string, o: number, kh: number, kw: number, block: number): string | undefined {
  const producer = ctx.producer(filter);
  const perm = producer?.op_type === 'Transpose' ? producer.attribute?.find((a) => a.name === 'perm')?.ints?.map(Number) : undefined;
  if (!producer || !perm || perm.length !== 4 || perm[2] !== 0 || perm[3] !== 1) return undefined;
  const source = producer.input[0];
  let blocked: string;
  if (perm[0] === 3 && perm[1] === 2) {
    // S = [kh·kw, I/B, Bi, O/B, Bo] → [O/B, I/B, kh·kw, Bi, Bo]
    const split = ctx.node1('Reshape', [source, ctx.ints([kh * kw, -1, block, o / block, block])]);
    blocked = ctx.node1('Transpose', [split], { perm: [3, 1, 0, 2, 4] });
  } else if (perm[0] === 2 && perm[1] === 3) {
    // S = [kh·kw, O, I]: ReorderInput of it as a [kh·kw, O, I, 1] image moves Bo innermost,
    // [kh·kw, O/B, I/B, Bi, Bo]. (Two Transposes here would be merged by ORT into a slow one.)
    const image = ctx.node1('Reshape', [source, ctx.ints([kh * kw, o, -1, 1])]);
    const rows = ctx.node('ReorderInput', [image], {}, 1, NCHWC_DOMAIN)[0];
    const split = ctx.node1('Reshape', [rows, ctx.ints([kh * kw, o / block, -1, block, block])]);
    blocked = ctx.node1('Transpose', [split], { perm: [1, 2, 0, 3, 4] });
  } else return undefined;
  return ctx.node1('Reshape', [blocked, ctx.ints([o, -1, kh, kw])]);
}

/**
 * Gradient of conv(x, w) w.r.t. x given the output cotangent gy. For stride 1 it is itself a
 * convolution: gy with the kernel flipped in space and its channel axes swapped, padded so the
 * output regains the input's size. That conv runs on the NCHWc kernel (seed CNN, 2 threads: 2.7 vs
 * 3.5 ms for ConvTranspose at 64→32 channels, 1.0 vs 1.5 ms at 64→64); as a plain Conv it would be
 * slower than ConvTranspose, so other cases use ConvTranspose, whose outputPadding restores the
 * rows a forward stride skipped at the end.
 */
function convInputGrad(gy: Tensor, w: Tensor, sp: readonly number[], ks: readonly number[], a: ConvAttrs): Tensor {
  const [cout, cinPerGroup] = w.shape as number[];
  const n = ks.length;
  const fullPads = [...ks.map((k, i) => a.dilations[i] * (k - 1) - a.pads[i]), ...ks.map((k, i) => a.dilations[i] * (k - 1) - a.pads[n + i])];
  if (a.strides.every((s) => s === 1) && fullPads.every((p) => p >= 0) && nchwcConvApplies(cout, cinPerGroup, n, a.group)) {
    const spatial = ks.map((_, i) => i + 2);
    // Flip and swap the channel axes of the layer's own kernel when w is a layout transpose of it:
    // one transpose instead of two (blockedFilter reorders a spatial-first kernel cheaply).
    const src = w.source?.kind === 'node' && w.source.node.op === transposeOp ? w.source.node : undefined;
    const p = (src?.attrs.perm as number[] | undefined) ?? [0, 1, ...spatial];
    const base = src ? src.inputs[0] : w;
    const kernel = transpose(flip(base, spatial.map((a) => p[a])), [1, 0, ...spatial].map((a) => p[a]));
    return apply1(convOp, [gy, kernel], { strides: a.strides, pads: fullPads, dilations: a.dilations, group: 1 });
  }
  const outputPadding = convOutputPadding(sp, gy.shape.slice(2) as number[], ks, a);
  return apply1(convTransposeOp, [gy, w], { ...a, outputPadding });
}

/** The ConvTranspose output padding that maps a conv's output grid back onto its full input. */
export function convOutputPadding(input: readonly number[], output: readonly number[], kernel: readonly number[], a: { strides: number[]; pads: number[]; dilations: number[] }): number[] {
  const n = input.length;
  return input.map((d, i) => d - ((output[i] - 1) * a.strides[i] + a.dilations[i] * (kernel[i] - 1) + 1 - a.pads[i] - a.pads[n + i]));
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

export interface FilterGradAttrs {
  [k: string]: unknown;
  kernel: number[];
  pads: number[];
}

/**
 * Internal: the weight gradient of an ungrouped stride-1, dilation-1 2-D conv, (x, gy) → dW
 * [Cout, Cin, kh, kw], as one NCHWc convolution with the batch as channels: x as [Cin, N, H, W]
 * convolved with gy as the kernel [Cout, N, Ho, Wo]. The batch is padded with zeros to whole
 * channel blocks (at run time when it is symbolic). Seed CNN, batch 64, 2 threads: 7.7–8.2 vs
 * 8.6–9.6 ms for im2col + batched MatMul at 32→64 channels, 1.0–1.5 vs 2.9–3.1 ms at 64→64.
 */
export const convFilterGradOp: OpDef<FilterGradAttrs> = defineOp<FilterGradAttrs>({
  name: 'convFilterGrad',
  infer: ([x, gy], a) => [{ shape: [gy.shape[1], x.shape[1], ...a.kernel], dtype: x.dtype }],
  lower: (ctx, [x, gy], a) => {
    const block = requireBlockSize();
    const [cout, ho, wo] = gy.shape.slice(1) as number[];
    const input = ctx.node('ReorderInput', [batchAsChannels(ctx, x, block)], {}, 1, NCHWC_DOMAIN)[0];
    const filter = cotangentAsFilter(ctx, gy, block);
    const y = ctx.node('Conv', [input, filter], { kernel_shape: [ho, wo], strides: [1, 1], pads: a.pads, dilations: [1, 1], group: 1 }, 1, NCHWC_DOMAIN)[0];
    // Channels last ([Cin, kh, kw, Cout]): the usual next step, the Transpose into a Keras kernel
    // ([kh, kw, Cin, Cout]), then merges with this one into a Transpose that moves whole rows.
    const dwT = ctx.node('ReorderOutput', [y], { channels: cout, channels_last: 1 }, 1, NCHWC_DOMAIN)[0];
    return [ctx.node1('Transpose', [dwT], { perm: [3, 0, 1, 2] })];
  },
  // Bilinear: <h, dW(x, gy)> = <conv(x, h), gy> = <x, convᵀ(gy, h)>.
  vjp: ([h], [x, gy], _o, a) => {
    const attrs: ConvAttrs = { strides: [1, 1], pads: a.pads, dilations: [1, 1], group: 1 };
    return [convInputGrad(gy, h!, x.shape.slice(2) as number[], a.kernel, attrs), apply1(convOp, [x, h!], attrs)];
  },
});

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
  if (typeof n === 'number') return n % block === 0 ? value : ctx.node1('Pad', [value, ctx.ints(padsFor((block - (n % block)) % block))]);
  const blockSize = ctx.ints([block]);
  const batch = ctx.node1('Shape', [value], { start: axis, end: axis + 1 });
  const extra = ctx.node1('Mod', [ctx.node1('Sub', [blockSize, ctx.node1('Mod', [batch, blockSize])]), blockSize]);
  const before = ctx.ints(padsFor(0).slice(0, 4 + axis));
  const after = ctx.ints(padsFor(0).slice(5 + axis));
  return ctx.node1('Pad', [value, ctx.node1('Concat', [before, extra, after], { axis: 0 })]);
}

/**
 * Gradient of conv(x, w) w.r.t. w (kernel `ks`) given the output cotangent gy. On the NCHWc
 * kernel when it applies (convFilterGradOp); otherwise
 * dW[g] = Σ_n gy[n, g] · unfold(x)[n, g]ᵀ, one batched MatMul over (N, groups) then a sum over N.
 */
function convWeightGrad(x: Tensor, gy: Tensor, ks: readonly number[], a: ConvAttrs): Tensor {
  const cin = x.shape[1] as number;
  const cout = gy.shape[1] as number;
  const unitSteps = [...a.strides, ...a.dilations].every((v) => v === 1);
  if (unitSteps && nchwcConvApplies(cin, cout, ks.length, a.group)) return apply1(convFilterGradOp, [x, gy], { kernel: [...ks], pads: a.pads });
  const g = a.group;
  const k = ks.reduce((p, d) => p * d, 1);
  const cols = apply1(unfoldOp, [x], { kernel: [...ks], strides: a.strides, pads: a.pads, dilations: a.dilations }); // [N, Cin*K, L]
  const l = cols.shape[2] as number;
  const nb = x.shape[0];
  const grouped = (t: Tensor, rows: number): Tensor => reshape(t, g === 1 ? [nb, rows, l] : [nb, g, rows / g, l]);
  const u = grouped(cols, cin * k);
  const dy = grouped(gy, cout);
  const swapLast = u.rank === 3 ? [0, 2, 1] : [0, 1, 3, 2];
  // ORT fuses the Transpose into the MatMul (FusedMatMul), so operand orientation costs nothing:
  // U·dyᵀ, dy·Uᵀ and a single Gemm over N*L measured within noise (scratch/conv-bench.ts).
  const dw = sum(matmul(dy, transpose(u, swapLast)), 0);
  return reshape(dw, [cout, cin / g, ...ks]);
}

// ---------------------------------------------------------------------------------------------
// Public functions

function convNd(op: string, n: number, x: Tensor, w: Tensor, b: Tensor | undefined, options: ConvOptions): Tensor {
  if (x.rank !== n + 2) throw opError(op, `x must have rank ${n + 2} ([N, C, ${n === 1 ? 'L' : n === 2 ? 'H, W' : 'D, H, W'}])`, [x, w]);
  if (w.rank !== n + 2) throw opError(op, `weight must have rank ${n + 2} ([Cout, Cin/groups, ...kernel])`, [x, w]);
  const strides = perAxis(op, 'stride', options.stride, n, 1);
  const dilations = perAxis(op, 'dilation', options.dilation, n, 1);
  const ks = (w.shape as number[]).slice(2);
  const sp = concreteSpatial(op, x, 'x');
  const pads = resolvePads(op, options.padding, sp, ks, strides, dilations);
  return apply1(convOp, b ? [x, w, b] : [x, w], { strides, pads, dilations, group: options.groups ?? 1 });
}

/** 1-D convolution: x [N, Cin, L], w [Cout, Cin/groups, k], b [Cout]. */
export const conv1d = (x: Tensor, w: Tensor, b?: Tensor, options: ConvOptions = {}): Tensor => convNd('conv1d', 1, x, w, b, options);
/** 2-D convolution: x [N, Cin, H, W], w [Cout, Cin/groups, kH, kW], b [Cout]. */
export const conv2d = (x: Tensor, w: Tensor, b?: Tensor, options: ConvOptions = {}): Tensor => convNd('conv2d', 2, x, w, b, options);
/** 3-D convolution: x [N, Cin, D, H, W], w [Cout, Cin/groups, kD, kH, kW], b [Cout]. */
export const conv3d = (x: Tensor, w: Tensor, b?: Tensor, options: ConvOptions = {}): Tensor => convNd('conv3d', 3, x, w, b, options);

function convTransposeNd(op: string, n: number, x: Tensor, w: Tensor, b: Tensor | undefined, options: ConvTransposeOptions): Tensor {
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
  return apply1(convTransposeOp, b ? [x, w, b] : [x, w], { strides, pads, dilations, group: options.groups ?? 1, outputPadding });
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
