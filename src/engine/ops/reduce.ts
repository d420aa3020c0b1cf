/**
 * Reductions over axes (a number, a list, or undefined = all; negative axes count from the end)
 * with keepDims: mean, max, min, prod, argmax/argmin, and the compositions logSumExp, variance, std, moments.
 * `sum` lives in core.ts (autodiff needs it).
 */
import { type DType, ONNX_ELEM_TYPE } from '../dtype.js';
import { type OpDef, type TensorType, apply, apply1, checkDtypes, defineOp, opError } from '../op.js';
import { type Dim, normalizeAxes, normalizeAxis, numel } from '../shape.js';
import type { Tensor } from '../tensor.js';
import {
  type ReduceAttrs,
  add,
  broadcastTo,
  cast,
  div,
  inferReduce,
  keepDimsShape,
  mul,
  reducedShape,
  reshape,
  stopGradient,
  sub,
  sum,
} from './core.js';
import {
  FLOAT_DTYPES,
  NUMERIC_DTYPES,
  abs,
  equal,
  exp,
  less,
  log,
  logicalAnd,
  sqrt,
  square,
  where,
} from './elementwise.js';

// ---------------------------------------------------------------------------------------------
// Axis arguments

function rethrowWithShape(op: string, x: Tensor, e: unknown): never {
  throw opError(op, (e as Error).message.replace(new RegExp(`^${op}: `), ''), [x]);
}

/** One axis of x in [0, rank); errors name the op and x's shape. */
export function axisFor(op: string, x: Tensor, axis: number): number {
  try {
    return normalizeAxis(op, axis, x.rank);
  } catch (e) {
    rethrowWithShape(op, x, e);
  }
}

/** Reduction axes of x (undefined = all), sorted, in [0, rank); errors name the op and x's shape. */
export function axesFor(op: string, x: Tensor, axes: number | readonly number[] | undefined): number[] {
  try {
    return normalizeAxes(op, axes, x.rank);
  } catch (e) {
    rethrowWithShape(op, x, e);
  }
}

/** A reduction's cotangent (or output) reshaped so it broadcasts against the input. */
function unreduce(t: Tensor, x: Tensor, axes: readonly number[]): Tensor {
  return reshape(t, keepDimsShape(x.shape, axes));
}

// ---------------------------------------------------------------------------------------------
// Number of elements along axes (symbolic dims are read at run time)

export const reducedSizeOp = defineOp<{ axes: number[]; dtype: DType }>({
  name: 'reducedSize',
  infer: (_inputs, { dtype }) => [{ shape: [], dtype }],
  lower: (ctx, [x], { axes, dtype }) => {
    const dims = axes.map((a) => x.shape[a]);
    if (dims.every((d): d is number => typeof d === 'number')) return [ctx.scalar(numel(dims), dtype)];
    const picked = ctx.node1('Gather', [ctx.node1('Shape', [x.name]), ctx.ints(axes)], { axis: 0 });
    return [ctx.node1('Cast', [ctx.node1('ReduceProd', [picked], { keepdims: 0 })], { to: ONNX_ELEM_TYPE[dtype] })];
  },
  vjp: () => [null],
});
/**
 * How many elements of x lie along `axes` (the divisor of a mean): a JS number when those dims
 * are concrete, else a 0-d tensor of `dtype` computed from x's run-time shape.
 */
export function reducedSize(x: Tensor, axes: readonly number[], dtype: DType = x.dtype): number | Tensor {
  const dims = axes.map((a) => x.shape[a]);
  if (dims.every((d): d is number => typeof d === 'number')) return numel(dims);
  return apply1(reducedSizeOp, [x], { axes: [...axes], dtype });
}

// ---------------------------------------------------------------------------------------------
// mean, max, min, prod

function defineReduce(
  name: string,
  onnx: string,
  dtypes: readonly DType[],
  vjp: OpDef<ReduceAttrs>['vjp'],
): OpDef<ReduceAttrs> {
  return defineOp<ReduceAttrs>({
    name,
    infer: inferReduce(name, dtypes),
    lower: (ctx, [x], { axes, keepDims }) =>
      axes.length === 0
        ? [ctx.node1('Identity', [x.name])]
        : [ctx.node1(onnx, [x.name, ctx.ints(axes)], { keepdims: keepDims ? 1 : 0 })],
    vjp,
  });
}

export const meanOp = defineReduce('mean', 'ReduceMean', FLOAT_DTYPES, ([g], [x], _o, { axes }) => {
  const n = reducedSize(x, axes);
  return [broadcastTo(div(unreduce(g!, x, axes), n), x.shape)];
});
/** Mean over `axes` (all by default). */
export const mean = (x: Tensor, axes?: number | number[], keepDims = false): Tensor =>
  apply1(meanOp, [x], { axes: axesFor('mean', x, axes), keepDims });

/** Gradient of max/min: shared equally by the elements equal to the result (like PyTorch amax/amin). */
const extremumVjp: OpDef<ReduceAttrs>['vjp'] = ([g], [x], [y], { axes }) => {
  const hit = cast(equal(x, unreduce(y, x, axes)), x.dtype);
  const share = div(unreduce(g!, x, axes), sum(hit, axes, true));
  return [mul(hit, share)];
};
export const maxOp = defineReduce('max', 'ReduceMax', NUMERIC_DTYPES, extremumVjp);
export const minOp = defineReduce('min', 'ReduceMin', NUMERIC_DTYPES, extremumVjp);
/** Maximum over `axes`. When several elements tie for the maximum, they share the gradient equally. */
export const max = (x: Tensor, axes?: number | number[], keepDims = false): Tensor =>
  apply1(maxOp, [x], { axes: axesFor('max', x, axes), keepDims });
/** Minimum over `axes`. When several elements tie for the minimum, they share the gradient equally. */
export const min = (x: Tensor, axes?: number | number[], keepDims = false): Tensor =>
  apply1(minOp, [x], { axes: axesFor('min', x, axes), keepDims });

export const prodOp = defineReduce('prod', 'ReduceProd', NUMERIC_DTYPES, ([g], [x], _o, { axes }) => {
  // d prod / d x_i = product of the others. Computed without dividing by zero: with no zero in the
  // slice it is prod / x_i; with exactly one zero, only that element gets a gradient (the product
  // of the non-zero others); with two or more zeros every gradient is 0.
  const isZero = equal(x, 0);
  const zeros = sum(cast(isZero, x.dtype), axes, true);
  const safeX = where(isZero, 1, x);
  const nonZeroProduct = prod(safeX, axes, true);
  const others = where(
    equal(zeros, 0),
    div(nonZeroProduct, safeX),
    where(logicalAnd(isZero, equal(zeros, 1)), broadcastTo(nonZeroProduct, x.shape), 0),
  );
  return [mul(others, unreduce(g!, x, axes))];
});
/** Product over `axes`; its gradient is exact also when elements are 0. */
export const prod = (x: Tensor, axes?: number | number[], keepDims = false): Tensor =>
  apply1(prodOp, [x], { axes: axesFor('prod', x, axes), keepDims });

// ---------------------------------------------------------------------------------------------
// argmax / argmin

function defineArgReduce(name: string, onnx: string): OpDef<{ axis: number; keepDims: boolean }> {
  return defineOp<{ axis: number; keepDims: boolean }>({
    name,
    infer: (inputs, { axis, keepDims }): TensorType[] => {
      checkDtypes(name, inputs, NUMERIC_DTYPES);
      return [{ shape: reducedShape(inputs[0].shape, [axis], keepDims), dtype: 'int64' }];
    },
    lower: (ctx, [x], { axis, keepDims }) => [
      ctx.node1(onnx, [x.name], { axis, keepdims: keepDims ? 1 : 0, select_last_index: 0 }),
    ],
  });
}
export const argmaxOp = defineArgReduce('argmax', 'ArgMax');
export const argminOp = defineArgReduce('argmin', 'ArgMin');

function argReduce(op: OpDef, x: Tensor, axis: number | undefined, keepDims: boolean): Tensor {
  if (axis === undefined) {
    // Over all elements, as an index into the flattened tensor.
    if (x.rank === 0) throw opError(op.name, 'needs a tensor with at least one dimension', [x]);
    const flatIndex = apply1(op, [reshape(x, [-1])], { axis: 0, keepDims: false });
    return keepDims
      ? reshape(
          flatIndex,
          x.shape.map(() => 1),
        )
      : flatIndex;
  }
  return apply1(op, [x], { axis: axisFor(op.name, x, axis), keepDims });
}
/** Index (int64) of the maximum along `axis` (first one on ties); without axis, into the flattened tensor. */
export const argmax = (x: Tensor, axis?: number, keepDims = false): Tensor => argReduce(argmaxOp, x, axis, keepDims);
/** Index (int64) of the minimum along `axis` (first one on ties); without axis, into the flattened tensor. */
export const argmin = (x: Tensor, axis?: number, keepDims = false): Tensor => argReduce(argminOp, x, axis, keepDims);

// ---------------------------------------------------------------------------------------------
// topK

export const topKOp = defineOp<{ k: Dim; axis: number }>({
  name: 'topK',
  infer: (inputs, { k, axis }): TensorType[] => {
    checkDtypes('topK', inputs, NUMERIC_DTYPES);
    const n = inputs[0].shape[axis];
    if (typeof n === 'number' && typeof k === 'number' && n < k)
      throw opError('topK', `k = ${k} exceeds the ${n} elements along axis ${axis}`, inputs);
    const shape = inputs[0].shape.map((d, i) => (i === axis ? k : d));
    return [
      { shape, dtype: inputs[0].dtype },
      { shape, dtype: 'int64' },
    ];
  },
  // A symbolic k is read at run time from a graph input that has that dimension.
  lower: (ctx, [x], { k, axis }) => ctx.node('TopK', [x.name, ctx.shape([k])], { axis, largest: 1, sorted: 1 }, 2),
});

/**
 * The k largest values along `axis` (default the last), in descending order, and their indices
 * (int64); equal values come in index order (ONNX TopK). `k` may be a symbolic dimension of a
 * traced function's inputs (one graph for every k). Not differentiable: it serves search heads
 * (greedy and beam decoding), not losses.
 */
export function topK(x: Tensor, k: Dim, axis = -1): { values: Tensor; indices: Tensor } {
  if (typeof k === 'number' && (!Number.isInteger(k) || k < 1))
    throw opError('topK', `k must be a positive integer, got ${k}`, [x]);
  const [values, indices] = apply(topKOp, [x], { k, axis: axisFor('topK', x, axis) });
  return { values, indices };
}

// ---------------------------------------------------------------------------------------------
// Compositions: logSumExp, variance, std, moments

/** log(sum(exp(x))) over `axes`, computed stably by shifting with the (non-differentiated) max. */
export function logSumExp(x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  checkDtypes('logSumExp', [x], FLOAT_DTYPES);
  const ax = axesFor('logSumExp', x, axes);
  const m = stopGradient(max(x, ax, true));
  // An all -inf (or inf) slice would give inf - inf = NaN: shift by 0 there instead.
  const shift = where(less(abs(m), Infinity), m, 0);
  const s = sum(exp(sub(x, shift)), ax, keepDims);
  return add(log(s), keepDims ? shift : reshape(shift, reducedShape(x.shape, ax, false)));
}

export interface VarianceOptions {
  keepDims?: boolean;
  /** Subtracted from the element count in the divisor: 0 = population (default), 1 = unbiased. */
  correction?: number;
}

/** [mean, sum((x - mean)^2) / (n - correction)] over `axes`, from one mean. */
function meanAndVariance(
  op: string,
  x: Tensor,
  axes: number | number[] | undefined,
  keepDims: boolean,
  correction: number,
): [Tensor, Tensor] {
  const ax = axesFor(op, x, axes);
  const m = mean(x, ax, true);
  const n = reducedSize(x, ax);
  const v = div(sum(square(sub(x, m)), ax, keepDims), typeof n === 'number' ? n - correction : sub(n, correction));
  return [keepDims ? m : reshape(m, reducedShape(x.shape, ax, false)), v];
}

/** Variance over `axes`: sum((x - mean)^2) / (n - correction). */
export function variance(
  x: Tensor,
  axes?: number | number[],
  { keepDims = false, correction = 0 }: VarianceOptions = {},
): Tensor {
  checkDtypes('variance', [x], FLOAT_DTYPES);
  return meanAndVariance('variance', x, axes, keepDims, correction)[1];
}

/**
 * Mean and population variance of x over `axes` (all by default), sharing one mean. With keepDims
 * the reduced axes stay as size 1, so the results broadcast against x (what batchNorm expects).
 */
export function moments(x: Tensor, axes?: number | number[], keepDims = false): [Tensor, Tensor] {
  checkDtypes('moments', [x], FLOAT_DTYPES);
  return meanAndVariance('moments', x, axes, keepDims, 0);
}

/** Standard deviation over `axes`: sqrt(variance(x, axes, options)). */
export function std(x: Tensor, axes?: number | number[], options: VarianceOptions = {}): Tensor {
  checkDtypes('std', [x], FLOAT_DTYPES);
  return sqrt(variance(x, axes, options));
}
