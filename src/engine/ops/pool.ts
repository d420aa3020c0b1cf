/**
 * Pooling (NCHW / NCL, ONNX layout): max and average pooling over windows, and global pooling.
 *
 * The max-pool gradient is index-exact: when several elements of a window tie for the maximum, the
 * whole gradient goes to the first of them in row-major window order (like PyTorch). An equality
 * mask (`x == max`) would wrongly give it to all of them. Formulations (in `maxPoolGrad`'s lowering):
 * - non-overlapping windows (stride = kernel, no padding), few elements per window: split the
 *   window offsets apart and hand the gradient down a first-max-wins chain — no MaxPool Indices
 *   (slow on ORT CPU), no scatter;
 * - one window per channel (global pooling): ArgMax (first index) + ScatterElements;
 * - otherwise (overlapping or padded windows): MaxPool's Indices + ScatterElements(add); strided
 *   Slices per offset + the chain + col2im measured slower (docs/PERFORMANCE.md).
 * Rewrites around pooling are passes (src/engine/passes): maxPool(relu(x)) pools first and an
 * unpadded pooling's unread trailing rows are cropped at their source (algebra.ts); training
 * graphs compute the forward from the chain's window pieces (windows.ts).
 */
import { type DType, FLOAT_DTYPES } from '../dtype.js';
import type { LowerCtx } from '../onnx/ctx.js';
import { type OpDef, type TensorType, apply1, checkDtypes, defineOp, opError } from '../op.js';
import { type Dim, shapeStr } from '../shape.js';
import { fromBlocked, toBlocked } from '../passes/nchwc.js';
import type { Tensor } from '../tensor.js';
import { reshape } from './core.js';
import { mean } from './reduce.js';
import { type Padding, convOutputPadding, perAxis, resolvePads, windowOutputSize } from './conv.js';

export interface PoolAttrs {
  [k: string]: unknown;
  kernel: number[];
  strides: number[];
  /** ONNX order: all begins, then all ends. */
  pads: number[];
}

export interface AvgPoolAttrs extends PoolAttrs {
  countIncludePad: boolean;
}

export interface PoolOptions {
  kernel: number | readonly number[];
  /** Defaults to the kernel size (non-overlapping windows). */
  stride?: number | readonly number[];
  padding?: Padding;
}

export interface AvgPoolOptions extends PoolOptions {
  /** Whether padded zeros count in the average's divisor (default false, like Keras; PyTorch's default is true). */
  countIncludePad?: boolean;
}

/** ORT's CPU EP has AveragePool (and the ConvTranspose of its gradient) for float32 only. */
const AVG_POOL_DTYPES = ['float32'] as const;

function spatialOf(op: string, x: TensorType): number[] {
  const sp = x.shape.slice(2);
  if (x.shape.length < 3) throw opError(op, 'x must be [N, C, ...spatial]', [x]);
  if (!sp.every((d): d is number => typeof d === 'number')) {
    throw opError(op, 'the spatial dimensions must be concrete (only the batch axis may be symbolic)', [x]);
  }
  return sp;
}

function poolOutputShape(op: string, x: TensorType, a: PoolAttrs): number[] {
  const sp = spatialOf(op, x);
  const n = sp.length;
  if (a.kernel.length !== n || a.strides.length !== n || a.pads.length !== 2 * n) {
    throw opError(op, `kernel/stride/padding must have ${n} spatial entries, got ${JSON.stringify(a)}`, [x]);
  }
  a.kernel.forEach((k, i) => {
    if (a.pads[i] >= k || a.pads[n + i] >= k) {
      throw opError(
        op,
        `padding (${a.pads[i]}, ${a.pads[n + i]}) must be smaller than the kernel (${k}) on axis ${i}`,
        [x],
      );
    }
  });
  const out = sp.map((d, i) => windowOutputSize(d, a.kernel[i], a.strides[i], a.pads[i], a.pads[n + i]));
  if (out.some((d) => d < 1))
    throw opError(op, `the window (${a.kernel}) is larger than the padded input ${shapeStr(sp)}`, [x]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// maxPool and its gradient ops

export const maxPoolOp: OpDef<PoolAttrs> = defineOp<PoolAttrs>({
  name: 'maxPool',
  infer: ([x], a) => {
    checkDtypes('maxPool', [x], FLOAT_DTYPES);
    return [{ shape: [x.shape[0], x.shape[1], ...poolOutputShape('maxPool', x, a)], dtype: x.dtype }];
  },
  // Training graphs replace this node by the gradient's window Max (passes/windows.ts).
  lower: (ctx, [x], a) => [
    ctx.node1('MaxPool', [x.name], { kernel_shape: a.kernel, strides: a.strides, pads: a.pads }),
  ],
  vjp: ([g], [x], [y], a) => [apply1(maxPoolGradOp, [x, y, g!], a)],
});

/**
 * Internal: the gradient of maxPool. Inputs (x, y = maxPool(x), g = cotangent of y) → dx, with each
 * window's gradient on the first maximal element (row-major window order).
 */
export const maxPoolGradOp: OpDef<PoolAttrs> = defineOp<PoolAttrs>({
  name: 'maxPoolGrad',
  infer: ([x, y, g], a) => {
    const out = poolOutputShape('maxPoolGrad', x, a);
    const want = [x.shape[0], x.shape[1], ...out].join();
    if (y.shape.join() !== want || g.shape.join() !== want || y.dtype !== x.dtype || g.dtype !== x.dtype) {
      throw opError('maxPoolGrad', `y and g must be ${shapeStr([x.shape[0], x.shape[1], ...out])} ${x.dtype}`, [
        x,
        y,
        g,
      ]);
    }
    return [{ shape: x.shape, dtype: x.dtype }];
  },
  lower: (ctx, [x, y, g], a) => {
    const sp = x.shape.slice(2) as number[];
    const out = y.shape.slice(2) as number[];
    if (a.kernel.every((k, i) => k === sp[i]) && a.pads.every((p) => p === 0)) return [globalMaxGrad(ctx, x, g, sp)];
    if (usesChain(a, out)) return [firstMaxChainGrad(ctx, x, y, g, a.kernel, sp, out)];
    return [scatterGrad(ctx, x, g, a)];
  },
  // Linear in g: its adjoint gathers the cotangent at each window's first maximum.
  vjp: ([h], [x], _o, a) => [null, null, apply1(maxPoolSelectOp, [x, h!], a)],
});

/**
 * Internal: h [N, C, ...spatial] → [N, C, ...pooled], the value of h at the first maximal element
 * of x in each window (the adjoint of maxPoolGrad w.r.t. g).
 */
export const maxPoolSelectOp: OpDef<PoolAttrs> = defineOp<PoolAttrs>({
  name: 'maxPoolSelect',
  infer: ([x, h], a) => {
    if (h.shape.join() !== x.shape.join() || h.dtype !== x.dtype)
      throw opError('maxPoolSelect', 'h must have the shape and dtype of x', [x, h]);
    return [{ shape: [x.shape[0], x.shape[1], ...poolOutputShape('maxPoolSelect', x, a)], dtype: x.dtype }];
  },
  lower: (ctx, [x, h], a) => {
    const [, indices] = ctx.node('MaxPool', [x.name], { kernel_shape: a.kernel, strides: a.strides, pads: a.pads }, 2);
    return [ctx.node1('Gather', [ctx.node1('Reshape', [h.name, ctx.ints([-1])]), indices], { axis: 0 })];
  },
  vjp: ([g], [x], _o, a) => [null, apply1(maxPoolGradOp, [x, apply1(maxPoolOp, [x], a), g!], a)],
});

/** Largest window (elements) handled by the first-max-wins chain; bigger ones scatter. */
const MAX_CHAIN_WINDOW = 16;

/** Non-overlapping, unpadded, small windows (not one window per plane): the split-chain formulation. */
function usesChain(a: PoolAttrs, out: readonly number[]): boolean {
  if (out.every((d) => d === 1)) return false;
  const nonOverlapping = a.strides.every((s, i) => s === a.kernel[i]) && a.pads.every((p) => p === 0);
  return nonOverlapping && a.kernel.reduce((p, k) => p * k, 1) <= MAX_CHAIN_WINDOW;
}

/**
 * Where the chain reads x: NCHW, or — for a 2-D x that an NCHWc conv left in channel blocks of B
 * ([N, C/B, H, W, B] in memory) — those blocks. Window pieces are then 16-float runs instead of
 * single floats, and the conv's ReorderOutput (and its gradient's ReorderInput) drop out; y, the
 * cotangent and dx cross between the layouts at the pooled size or not at all.
 */
interface Blocks {
  source: string;
  channels: number;
  block: number;
}

function blocksOf(
  ctx: LowerCtx,
  x: { name: string; shape: readonly Dim[] },
  n: number,
  cropped: boolean,
): Blocks | undefined {
  if (n !== 2 || cropped) return undefined;
  const source = ctx.blockedForm(x.name);
  return source ? { source, channels: x.shape[1] as number, block: ctx.nchwcBlock } : undefined;
}

/** Reshape target: [N, C, ...dims] in NCHW, [N, C/B, ...dims, B] in blocks. */
function viewShape(ctx: LowerCtx, blocks: Blocks | undefined, dims: number[]): string {
  return ctx.ints(blocks ? [0, blocks.channels / blocks.block, ...dims, blocks.block] : [0, 0, ...dims]);
}

/**
 * Non-overlapping windows as separate tensors: x (cropped to whole windows) viewed as
 * [N, C, O1, k1, O2, k2, ...]; splitting the k axes gives one [N, C, O1, O2, ...] tensor per window
 * offset, in row-major offset order. Emitted identically by the forward and the gradient so ORT's
 * common-subexpression elimination computes them once.
 */
function windowPieces(
  ctx: LowerCtx,
  x: { name: string },
  kernel: number[],
  sp: number[],
  out: number[],
  blocks?: Blocks,
): string[] {
  const n = kernel.length;
  const covered = out.map((o, i) => o * kernel[i]);
  const spatialAxes = Array.from({ length: n }, (_, i) => i + 2);
  const cropped = covered.some((c, i) => c !== sp[i]);
  const xc = blocks
    ? blocks.source
    : cropped
      ? ctx.node1('Slice', [x.name, ctx.ints(spatialAxes.map(() => 0)), ctx.ints(covered), ctx.ints(spatialAxes)])
      : x.name;
  let pieces = [
    ctx.node1('Reshape', [
      xc,
      viewShape(
        ctx,
        blocks,
        out.flatMap((o, i) => [o, kernel[i]]),
      ),
    ]),
  ];
  for (let i = 0; i < n; i++) {
    const axis = 3 + 2 * i;
    pieces =
      kernel[i] === 1
        ? pieces
        : pieces.flatMap((p) => ctx.node('Split', [p], { axis, num_outputs: kernel[i] }, kernel[i]));
  }
  const pooled = viewShape(ctx, blocks, out);
  return pieces.map((p) => ctx.node1('Reshape', [p, pooled]));
}

/**
 * The window pieces for the gradient and their Max (maxPool(x) in the pieces' layout). The Max is
 * left as a `windowMax` hint: the shareMaxPoolWindows pass lets it replace the forward MaxPool of
 * x, which then costs nothing extra (and neither do the NCHWc reorders ORT would put around it).
 */
function sharedWindowPieces(
  ctx: LowerCtx,
  x: { name: string },
  y: { name: string },
  kernel: number[],
  sp: number[],
  out: number[],
  blocks?: Blocks,
): { pieces: string[]; max: string } {
  const pieces = windowPieces(ctx, x, kernel, sp, out, blocks);
  const max = ctx.node1('Max', pieces);
  ctx.hints.push({
    kind: 'windowMax',
    x: x.name,
    y: y.name,
    max,
    pooled: out,
    blocks: blocks ? { channels: blocks.channels } : undefined,
  });
  return { pieces, max };
}

/**
 * Non-overlapping windows: in row-major offset order, each window offset equal to the max takes
 * whatever gradient is still unclaimed; the last offset takes the remainder (some offset always
 * holds the max).
 */
function firstMaxChainGrad(
  ctx: LowerCtx,
  x: { name: string; shape: readonly Dim[]; dtype: DType },
  y: { name: string },
  g: { name: string },
  kernel: number[],
  sp: number[],
  out: number[],
): string {
  const n = kernel.length;
  const covered = out.map((o, i) => o * kernel[i]);
  const cropped = covered.some((c, i) => c !== sp[i]);
  const spatialAxes = Array.from({ length: n }, (_, i) => i + 2);
  const blocks = blocksOf(ctx, x, n, cropped);
  const { pieces, max } = sharedWindowPieces(ctx, x, y, kernel, sp, out, blocks);
  const zero = ctx.scalar(0, x.dtype);
  let rest = blocks ? ctx.node1('Reshape', [toBlocked(ctx, g.name), viewShape(ctx, blocks, out)]) : g.name;
  const grads: string[] = [];
  pieces.forEach((p, k) => {
    if (k === pieces.length - 1) {
      grads.push(rest);
      return;
    }
    const isMax = ctx.node1('Equal', [p, max]);
    const taken = ctx.node1('Where', [isMax, rest, zero]);
    grads.push(taken);
    rest = ctx.node1('Sub', [rest, taken]);
  });
  // Reassemble: concatenate along the window axes, innermost first.
  const pieceShape = viewShape(
    ctx,
    blocks,
    out.flatMap((o) => [o, 1]),
  );
  let level = grads.map((t) => ctx.node1('Reshape', [t, pieceShape]));
  for (let i = n - 1; i >= 0; i--) {
    const k = kernel[i];
    if (k === 1) continue;
    const next: string[] = [];
    for (let j = 0; j < level.length; j += k)
      next.push(ctx.node1('Concat', level.slice(j, j + k), { axis: 3 + 2 * i }));
    level = next;
  }
  if (blocks)
    return fromBlocked(
      ctx,
      ctx.node1('Reshape', [level[0], ctx.ints([0, blocks.channels, ...covered])]),
      blocks.channels,
    );
  const dx = ctx.node1('Reshape', [level[0], ctx.ints([0, 0, ...covered])]);
  if (!cropped) return dx;
  const pads = [0, 0, ...spatialAxes.map(() => 0), 0, 0, ...sp.map((d, i) => d - covered[i])];
  return ctx.node1('Pad', [dx, ctx.ints(pads)]);
}

/** One window per channel: ArgMax gives the first maximum; the gradient is scattered there. */
function globalMaxGrad(ctx: LowerCtx, x: { name: string; dtype: DType }, g: { name: string }, sp: number[]): string {
  const flat = ctx.node1('Reshape', [x.name, ctx.ints([0, 0, sp.reduce((p, d) => p * d, 1)])]);
  const first = ctx.node1('ArgMax', [flat], { axis: 2, keepdims: 1, select_last_index: 0 });
  const zeros = ctx.node1('Expand', [ctx.scalar(0, x.dtype), ctx.node1('Shape', [flat])]);
  const gFlat = ctx.node1('Reshape', [g.name, ctx.ints([0, 0, 1])]);
  const dx = ctx.node1('ScatterElements', [zeros, first, gFlat], { axis: 2 });
  return ctx.node1('Reshape', [dx, ctx.node1('Shape', [x.name])]);
}

/** General windows: MaxPool's Indices (flat, first maximum) + ScatterElements with addition. */
function scatterGrad(ctx: LowerCtx, x: { name: string; dtype: DType }, g: { name: string }, a: PoolAttrs): string {
  const [, indices] = ctx.node('MaxPool', [x.name], { kernel_shape: a.kernel, strides: a.strides, pads: a.pads }, 2);
  const flatShape = ctx.ints([-1]);
  const xShape = ctx.node1('Shape', [x.name]);
  const zerosFlat = ctx.node1('Reshape', [ctx.node1('Expand', [ctx.scalar(0, x.dtype), xShape]), flatShape]);
  const dx = ctx.node1(
    'ScatterElements',
    [zerosFlat, ctx.node1('Reshape', [indices, flatShape]), ctx.node1('Reshape', [g.name, flatShape])],
    {
      axis: 0,
      reduction: 'add',
    },
  );
  return ctx.node1('Reshape', [dx, xShape]);
}

// ---------------------------------------------------------------------------------------------
// avgPool

export const avgPoolOp: OpDef<AvgPoolAttrs> = defineOp<AvgPoolAttrs>({
  name: 'avgPool',
  infer: ([x], a) => {
    checkDtypes('avgPool', [x], AVG_POOL_DTYPES);
    return [{ shape: [x.shape[0], x.shape[1], ...poolOutputShape('avgPool', x, a)], dtype: x.dtype }];
  },
  lower: (ctx, [x], a) => [
    ctx.node1('AveragePool', [x.name], {
      kernel_shape: a.kernel,
      strides: a.strides,
      pads: a.pads,
      count_include_pad: a.countIncludePad ? 1 : 0,
    }),
  ],
  vjp: ([g], [x], _o, a) => [apply1(avgPoolGradOp, [g!], { ...a, inputShape: x.shape.slice(1) as number[] })],
});

/**
 * Internal: the gradient of avgPool (g → dx; linear, its adjoint is avgPool). Each output spreads
 * g/count evenly over its window: a ConvTranspose with a ones kernel over [N*C, 1, ...] (one
 * channel at a time), after dividing by each window's element count.
 */
export const avgPoolGradOp: OpDef<AvgPoolAttrs & { inputShape: number[] }> = defineOp<
  AvgPoolAttrs & { inputShape: number[] }
>({
  name: 'avgPoolGrad',
  infer: ([g], a) => [{ shape: [g.shape[0], ...a.inputShape], dtype: g.dtype }],
  lower: (ctx, [g], a) => {
    const [c, ...sp] = a.inputShape;
    const out = g.shape.slice(2) as number[];
    const windowSize = a.kernel.reduce((p, k) => p * k, 1);
    const padded = a.pads.some((p) => p !== 0);
    const divisor =
      padded && !a.countIncludePad
        ? ctx.constant(inverseCounts(sp, out, a), g.dtype, out)
        : ctx.scalar(1 / windowSize, g.dtype);
    const scaled = ctx.node1('Mul', [g.name, divisor]);
    const ones = ctx.constant(new Float32Array(windowSize).fill(1), g.dtype, [1, 1, ...a.kernel]);
    const dilations = a.kernel.map(() => 1);
    const outputPadding = convOutputPadding(sp, out, a.kernel, { ...a, dilations });
    const spread = ctx.node1('ConvTranspose', [ctx.node1('Reshape', [scaled, ctx.ints([-1, 1, ...out])]), ones], {
      kernel_shape: a.kernel,
      strides: a.strides,
      pads: a.pads,
      output_padding: outputPadding.some((p) => p !== 0) ? outputPadding : undefined,
    });
    return [ctx.node1('Reshape', [spread, ctx.ints([-1, c, ...sp])])];
  },
  vjp: ([h], _i, _o, { inputShape: _, ...a }) => [apply1(avgPoolOp, [h!], a)],
});

/** 1 / (number of non-padding elements) of each window, shape [...pooled]. */
function inverseCounts(sp: number[], out: number[], a: PoolAttrs): Float32Array {
  const n = sp.length;
  const perAxisCounts = out.map((o, i) =>
    Array.from({ length: o }, (_, j) => {
      const start = j * a.strides[i] - a.pads[i];
      return Math.min(start + a.kernel[i], sp[i]) - Math.max(start, 0);
    }),
  );
  const total = out.reduce((p, d) => p * d, 1);
  const data = new Float32Array(total);
  for (let flat = 0; flat < total; flat++) {
    let rem = flat;
    let count = 1;
    for (let i = n - 1; i >= 0; i--) {
      count *= perAxisCounts[i][rem % out[i]];
      rem = Math.floor(rem / out[i]);
    }
    data[flat] = 1 / count;
  }
  return data;
}

// ---------------------------------------------------------------------------------------------
// Public functions

function poolAttrs(op: string, x: Tensor, n: number, options: PoolOptions): PoolAttrs {
  if (x.rank !== n + 2) throw opError(op, `x must have rank ${n + 2} ([N, C, ${n === 1 ? 'L' : 'H, W'}])`, [x]);
  if (options === undefined || options.kernel === undefined) throw new Error(`${op}: options.kernel is required`);
  const kernel = perAxis(op, 'kernel', options.kernel, n, 1);
  const strides = perAxis(op, 'stride', options.stride ?? kernel, n, 1);
  const pads = resolvePads(
    op,
    options.padding,
    spatialOf(op, x),
    kernel,
    strides,
    kernel.map(() => 1),
  );
  return { kernel, strides, pads };
}

/** 1-D max pooling over x [N, C, L]. */
export const maxPool1d = (x: Tensor, options: PoolOptions): Tensor =>
  apply1(maxPoolOp, [x], poolAttrs('maxPool1d', x, 1, options));
/** 2-D max pooling over x [N, C, H, W]; the gradient goes to the first maximum of each window. */
export const maxPool2d = (x: Tensor, options: PoolOptions): Tensor =>
  apply1(maxPoolOp, [x], poolAttrs('maxPool2d', x, 2, options));

function avgPoolNd(op: string, n: number, x: Tensor, options: AvgPoolOptions): Tensor {
  return apply1(avgPoolOp, [x], { ...poolAttrs(op, x, n, options), countIncludePad: options.countIncludePad ?? false });
}
/** 1-D average pooling over x [N, C, L] (float32). */
export const avgPool1d = (x: Tensor, options: AvgPoolOptions): Tensor => avgPoolNd('avgPool1d', 1, x, options);
/** 2-D average pooling over x [N, C, H, W] (float32). */
export const avgPool2d = (x: Tensor, options: AvgPoolOptions): Tensor => avgPoolNd('avgPool2d', 2, x, options);

export interface GlobalPoolOptions {
  /** Keep the pooled spatial axes as size 1 ([N, C, 1, 1]); default false ([N, C], like Keras). */
  keepDims?: boolean;
}

function globalSpatial(op: string, x: Tensor, n: number): number[] {
  if (x.rank !== n + 2) throw opError(op, `x must have rank ${n + 2}`, [x]);
  return spatialOf(op, x);
}

/** Mean over the spatial axes of x [N, C, H, W] → [N, C] (or [N, C, 1, 1] with keepDims). */
export function globalAvgPool2d(x: Tensor, options: GlobalPoolOptions = {}): Tensor {
  globalSpatial('globalAvgPool2d', x, 2);
  return mean(x, [2, 3], options.keepDims ?? false);
}

/** Max over the spatial axes of x [N, C, H, W] → [N, C] (or [N, C, 1, 1]); gradient to the first maximum. */
export function globalMaxPool2d(x: Tensor, options: GlobalPoolOptions = {}): Tensor {
  const sp = globalSpatial('globalMaxPool2d', x, 2);
  const y = apply1(maxPoolOp, [x], { kernel: sp, strides: sp, pads: [0, 0, 0, 0] });
  return options.keepDims ? y : reshape(y, [x.shape[0], x.shape[1]]);
}
