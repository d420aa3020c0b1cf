/**
 * Normalization: moments (mean and population variance), batchNorm (the normalize step given
 * statistics, any broadcastable shapes) and layerNorm (ONNX LayerNormalization). The VJPs are
 * written with core ops so gradients of gradients work.
 */
import { type DType, isFloat } from '../dtype.js';
import { type OpDef, apply, apply1, checkDtypes, defineOp, opError } from '../op.js';
import { float } from '../onnx/lower.js';
import { broadcastShapes, normalizeAxes, shapeStr } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { add, broadcastTo, div, mul, neg, reshape, sub, sum, sumToShape, transpose } from './core.js';

const FLOATS = ['float32', 'float64'] as const;

// ---------------------------------------------------------------------------------------------
// moments

/** Internal: the number of elements of x over `axes`, as a scalar of `dtype` (read at run time when symbolic). */
export const elementCountOp: OpDef<{ axes: number[]; dtype: DType }> = defineOp<{ axes: number[]; dtype: DType }>({
  name: 'elementCount',
  infer: (_x, { dtype }) => [{ shape: [], dtype }],
  lower: (ctx, [x], { axes, dtype }) => {
    const dims = ctx.node1('Gather', [ctx.node1('Shape', [x.name]), ctx.ints(axes)], { axis: 0 });
    const count = ctx.node1('ReduceProd', [dims], { keepdims: 0 });
    return [ctx.node1('Cast', [count], { to: dtype === 'float64' ? 11 : 1 })];
  },
  vjp: () => [null],
});

function elementCount(x: Tensor, axes: readonly number[]): Tensor | number {
  const dims = axes.map((a) => x.shape[a]);
  if (dims.every((d): d is number => typeof d === 'number')) return dims.reduce((p, d) => p * d, 1);
  return apply1(elementCountOp, [x], { axes: [...axes], dtype: x.dtype });
}

/**
 * Mean and population variance of x over `axes` (all by default). With keepDims the reduced axes
 * stay as size 1, so the results broadcast against x (what batchNorm expects).
 */
export function moments(x: Tensor, axes?: number | number[], keepDims = false): [Tensor, Tensor] {
  checkDtypes('moments', [x], FLOATS);
  const ax = normalizeAxes('moments', axes, x.rank);
  const n = elementCount(x, ax);
  const mean = div(sum(x, ax, true), n);
  const centered = sub(x, mean);
  const variance = div(sum(mul(centered, centered), ax, true), n);
  if (keepDims) return [mean, variance];
  const reduced = x.shape.filter((_, i) => !ax.includes(i));
  return [reshape(mean, reduced), reshape(variance, reduced)];
}

// ---------------------------------------------------------------------------------------------
// batchNorm

interface BatchNormAttrs {
  [k: string]: unknown;
  eps: number;
  hasScale: boolean;
  hasOffset: boolean;
}

/**
 * (x - mean) * invStd * scale + offset with invStd = 1/sqrt(variance + eps). Outputs [y, invStd]:
 * invStd is what the VJP needs, so it is computed once.
 */
export const batchNormOp: OpDef<BatchNormAttrs> = defineOp<BatchNormAttrs>({
  name: 'batchNorm',
  infer: (inputs, a) => {
    const want = 3 + (a.hasScale ? 1 : 0) + (a.hasOffset ? 1 : 0);
    if (inputs.length !== want) throw opError('batchNorm', `internal: expected ${want} inputs`, inputs);
    checkDtypes('batchNorm', inputs, FLOATS);
    if (inputs.some((t) => t.dtype !== inputs[0].dtype)) throw opError('batchNorm', 'all inputs must have the same dtype', inputs);
    const [x, , variance] = inputs;
    for (const p of inputs.slice(1)) {
      const b = broadcastShapes('batchNorm', x.shape, p.shape);
      if (b.length !== x.shape.length || b.some((d, i) => d !== x.shape[i])) {
        throw opError('batchNorm', `statistics and parameters must broadcast to x's shape ${shapeStr(x.shape)} (e.g. [1, C, 1, 1] for NCHW), got ${shapeStr(p.shape)}`, inputs);
      }
    }
    return [
      { shape: x.shape, dtype: x.dtype },
      { shape: variance.shape, dtype: x.dtype },
    ];
  },
  lower: (ctx, inputs, a) => {
    const [x, mean, variance] = inputs;
    const invStd = ctx.node1('Reciprocal', [ctx.node1('Sqrt', [ctx.node1('Add', [variance.name, ctx.scalar(a.eps, x.dtype)])])]);
    // Scale the (small) statistics first, then touch x once: (x - mean) * (invStd * scale) + offset.
    const factor = a.hasScale ? ctx.node1('Mul', [invStd, inputs[3].name]) : invStd;
    let y = ctx.node1('Mul', [ctx.node1('Sub', [x.name, mean.name]), factor]);
    if (a.hasOffset) y = ctx.node1('Add', [y, inputs[a.hasScale ? 4 : 3].name]);
    return [y, invStd];
  },
  vjp: ([gy, gInvStd], inputs, [, invStd], a) => {
    const [x, mean, variance] = inputs;
    const scale = a.hasScale ? inputs[3] : undefined;
    const offset = a.hasOffset ? inputs[a.hasScale ? 4 : 3] : undefined;
    const centered = sub(x, mean);
    let gx: Tensor | null = null;
    let gMean: Tensor | null = null;
    let gScale: Tensor | null = null;
    let gOffset: Tensor | null = null;
    let gInv = gInvStd;
    if (gy) {
      const factor = scale ? mul(invStd, scale) : invStd;
      const gxFull = mul(gy, factor);
      gx = gxFull;
      gMean = neg(sumToShape(gxFull, mean.shape));
      const gyCentered = mul(gy, centered);
      if (scale) gScale = sumToShape(mul(gyCentered, invStd), scale.shape);
      if (offset) gOffset = sumToShape(gy, offset.shape);
      const fromY = sumToShape(scale ? mul(gyCentered, scale) : gyCentered, invStd.shape);
      gInv = gInv ? add(gInv, fromY) : fromY;
    }
    // invStd = (variance + eps)^(-1/2)  →  d invStd / d variance = -invStd³ / 2.
    const gVar = gInv ? sumToShape(mul(gInv, mul(mul(invStd, mul(invStd, invStd)), -0.5)), variance.shape) : null;
    const grads: (Tensor | null)[] = [gx, gMean, gVar];
    if (scale) grads.push(gScale);
    if (offset) grads.push(gOffset);
    return grads;
  },
});

/**
 * The batch-normalization step given statistics: (x - mean) / sqrt(variance + eps) * scale + offset.
 * mean, variance, scale and offset broadcast against x (e.g. [1, C, 1, 1] for NCHW, or the
 * keepDims results of `moments`). Differentiable w.r.t. all inputs, including the statistics.
 */
export function batchNorm(x: Tensor, mean: Tensor, variance: Tensor, scale?: Tensor, offset?: Tensor, eps = 1e-5): Tensor {
  const inputs = [x, mean, variance, ...(scale ? [scale] : []), ...(offset ? [offset] : [])];
  return apply(batchNormOp, inputs, { eps, hasScale: !!scale, hasOffset: !!offset })[0];
}

// ---------------------------------------------------------------------------------------------
// layerNorm

interface LayerNormAttrs {
  [k: string]: unknown;
  /** First normalized axis: normalization covers axes axis..rank-1. */
  axis: number;
  eps: number;
  hasWeight: boolean;
  hasBias: boolean;
}

/** Outputs [y, mean, invStd] (ONNX LayerNormalization); mean and invStd keep the normalized axes as 1. */
export const layerNormOp: OpDef<LayerNormAttrs> = defineOp<LayerNormAttrs>({
  name: 'layerNorm',
  infer: (inputs, a) => {
    const [x] = inputs;
    checkDtypes('layerNorm', inputs, FLOATS);
    if (inputs.some((t) => t.dtype !== x.dtype)) throw opError('layerNorm', 'all inputs must have the same dtype', inputs);
    const normalized = x.shape.slice(a.axis);
    if (!normalized.every((d) => typeof d === 'number')) throw opError('layerNorm', 'the normalized axes must be concrete', inputs);
    for (const p of inputs.slice(1)) {
      const b = broadcastShapes('layerNorm', normalized, p.shape);
      if (b.length !== normalized.length || b.some((d, i) => d !== normalized[i])) {
        throw opError('layerNorm', `weight and bias must broadcast to the normalized shape ${shapeStr(normalized)}`, inputs);
      }
    }
    const statShape = x.shape.map((d, i) => (i >= a.axis ? 1 : d));
    return [
      { shape: x.shape, dtype: x.dtype },
      { shape: statShape, dtype: x.dtype },
      { shape: statShape, dtype: x.dtype },
    ];
  },
  lower: (ctx, inputs, a) => {
    const [x] = inputs;
    const normalized = x.shape.slice(a.axis) as number[];
    const size = normalized.reduce((p, d) => p * d, 1);
    const weight = a.hasWeight ? inputs[1].name : ctx.constant(new Array<number>(size).fill(1), x.dtype, normalized);
    const bias = a.hasBias ? [inputs[a.hasWeight ? 2 : 1].name] : [];
    return ctx.node('LayerNormalization', [x.name, weight, ...bias], { axis: a.axis, epsilon: float(a.eps), stash_type: 1 }, 3);
  },
  vjp: ([gy, gMean, gInvStd], inputs, [, mean, invStd], a) => {
    const [x] = inputs;
    const weight = a.hasWeight ? inputs[1] : undefined;
    const bias = a.hasBias ? inputs[a.hasWeight ? 2 : 1] : undefined;
    const axes = Array.from({ length: x.rank - a.axis }, (_, i) => a.axis + i);
    const n = (x.shape.slice(a.axis) as number[]).reduce((p, d) => p * d, 1);
    const meanOver = (t: Tensor): Tensor => div(sum(t, axes, true), n);
    const xhat = mul(sub(x, mean), invStd);
    const grads: (Tensor | null)[] = [];
    let gx: Tensor | null = null;
    if (gy) {
      const gxhat = weight ? mul(gy, weight) : gy;
      // dx = invStd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
      gx = mul(invStd, sub(sub(gxhat, meanOver(gxhat)), mul(xhat, meanOver(mul(gxhat, xhat)))));
    }
    if (gMean) {
      const part = broadcastTo(div(gMean, n), x.shape);
      gx = gx ? add(gx, part) : part;
    }
    if (gInvStd) {
      // d invStd / dx = -invStd² * xhat / n
      const part = mul(mul(gInvStd, mul(invStd, invStd)), div(xhat, -n));
      gx = gx ? add(gx, part) : part;
    }
    grads.push(gx);
    if (weight) grads.push(gy ? sumToShape(mul(gy, xhat), weight.shape) : null);
    if (bias) grads.push(gy ? sumToShape(gy, bias.shape) : null);
    return grads;
  },
});

export interface LayerNormAxes {
  axes: number | number[];
}

/**
 * Layer normalization over the trailing axes given by `normalized` — a normalized shape like
 * PyTorch's (e.g. [C] or [H, W]) — or over explicit `{ axes }` (moved last if they are not the
 * trailing axes). weight/bias broadcast to the normalized shape.
 */
export function layerNorm(x: Tensor, normalized: readonly number[] | LayerNormAxes, weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor {
  if (!isFloat(x.dtype)) throw opError('layerNorm', 'x must be float32 or float64', [x]);
  let axes: number[];
  if (Array.isArray(normalized)) {
    const trailing = x.shape.slice(x.rank - normalized.length);
    if (normalized.length === 0 || normalized.length > x.rank || trailing.some((d, i) => d !== normalized[i])) {
      throw opError('layerNorm', `normalizedShape ${shapeStr(normalized)} must equal the trailing dimensions of x`, [x]);
    }
    axes = normalized.map((_, i) => x.rank - normalized.length + i);
  } else {
    axes = normalizeAxes('layerNorm', (normalized as LayerNormAxes).axes, x.rank);
    if (axes.length === 0) throw opError('layerNorm', 'axes must not be empty', [x]);
  }
  const first = x.rank - axes.length;
  const trailing = axes.every((ax, i) => ax === first + i);
  const perm = trailing ? undefined : [...Array.from({ length: x.rank }, (_, i) => i).filter((i) => !axes.includes(i)), ...axes];
  const xt = perm ? transpose(x, perm) : x;
  const inputs = [xt, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  const y = apply(layerNormOp, inputs, { axis: first, eps, hasWeight: !!weight, hasBias: !!bias })[0];
  if (!perm) return y;
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => (inverse[p] = i));
  return transpose(y, inverse);
}
