/**
 * Normalization: batchNorm (the normalize step given statistics, any broadcastable shapes) and
 * layerNorm (ONNX LayerNormalization). The statistics come from `moments` in reduce.ts. The VJPs
 * are written with core ops so gradients of gradients work.
 */
import { isFloat } from '../dtype.js';
import { type OpDef, apply, checkDtypes, defineOp, opError } from '../op.js';
import { DtypeError } from '../errors.js';
import { float } from '../onnx/ctx.js';
import { broadcastsTo, inversePermutation, numel, shapeStr } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { add, broadcastTo, div, mul, neg, sub, sum, sumToShape, transpose } from './core.js';
import { FLOAT_DTYPES as FLOATS } from './elementwise.js';
import { axesFor } from './reduce.js';

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
    if (inputs.some((t) => t.dtype !== inputs[0].dtype))
      throw opError('batchNorm', 'all inputs must have the same dtype', inputs);
    const [x, , variance] = inputs;
    for (const p of inputs.slice(1)) {
      if (!broadcastsTo(p.shape, x.shape)) {
        throw opError(
          'batchNorm',
          `statistics and parameters must broadcast to x's shape ${shapeStr(x.shape)} (e.g. [1, C, 1, 1] for NCHW), got ${shapeStr(p.shape)}`,
          inputs,
        );
      }
    }
    return [
      { shape: x.shape, dtype: x.dtype },
      { shape: variance.shape, dtype: x.dtype },
    ];
  },
  lower: (ctx, inputs, a) => {
    const [x, mean, variance] = inputs;
    const invStd = ctx.node1('Reciprocal', [
      ctx.node1('Sqrt', [ctx.node1('Add', [variance.name, ctx.scalar(a.eps, x.dtype)])]),
    ]);
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
      gx = mul(gy, factor);
      const gyCentered = mul(gy, centered);
      const perStat = [mean, scale, offset].every((t) => !t || t.shape.join() === invStd.shape.join());
      if (perStat) {
        // Statistics and parameters of one shape (per channel): two sums over x's size serve all
        // their gradients, Σgy and Σgy·(x − mean), before the per-channel factors multiply.
        const sumGy = sumToShape(gy, invStd.shape);
        const sumGyCentered = sumToShape(gyCentered, invStd.shape);
        gMean = neg(mul(sumGy, factor));
        if (scale) gScale = mul(sumGyCentered, invStd);
        if (offset) gOffset = sumGy;
        const fromY = scale ? mul(sumGyCentered, scale) : sumGyCentered;
        gInv = gInv ? add(gInv, fromY) : fromY;
      } else {
        gMean = neg(sumToShape(gx, mean.shape));
        if (scale) gScale = sumToShape(mul(gyCentered, invStd), scale.shape);
        if (offset) gOffset = sumToShape(gy, offset.shape);
        const fromY = sumToShape(scale ? mul(gyCentered, scale) : gyCentered, invStd.shape);
        gInv = gInv ? add(gInv, fromY) : fromY;
      }
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
export function batchNorm(
  x: Tensor,
  mean: Tensor,
  variance: Tensor,
  scale?: Tensor,
  offset?: Tensor,
  eps = 1e-5,
): Tensor {
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
    if (inputs.some((t) => t.dtype !== x.dtype))
      throw opError('layerNorm', 'all inputs must have the same dtype', inputs);
    const normalized = x.shape.slice(a.axis);
    if (!normalized.every((d) => typeof d === 'number'))
      throw opError('layerNorm', 'the normalized axes must be concrete', inputs);
    for (const p of inputs.slice(1)) {
      if (!broadcastsTo(p.shape, normalized)) {
        throw opError(
          'layerNorm',
          `weight and bias must broadcast to the normalized shape ${shapeStr(normalized)}`,
          inputs,
        );
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
    const size = numel(normalized);
    const weight = a.hasWeight ? inputs[1].name : ctx.constant(new Array<number>(size).fill(1), x.dtype, normalized);
    const bias = a.hasBias ? [inputs[a.hasWeight ? 2 : 1].name] : [];
    if (x.dtype === 'float32') {
      return ctx.node(
        'LayerNormalization',
        [x.name, weight, ...bias],
        { axis: a.axis, epsilon: float(a.eps), stash_type: 1 },
        3,
      );
    }
    // ORT's kernel returns float32 statistics even for float64 inputs (too coarse for the gradient
    // checks float64 exists for), so float64 is lowered to primitives.
    const axes = ctx.ints(Array.from({ length: x.shape.length - a.axis }, (_, i) => a.axis + i));
    const mean = ctx.node1('ReduceMean', [x.name, axes], { keepdims: 1 });
    const centered = ctx.node1('Sub', [x.name, mean]);
    const variance = ctx.node1('ReduceMean', [ctx.node1('Mul', [centered, centered]), axes], { keepdims: 1 });
    const invStd = ctx.node1('Reciprocal', [
      ctx.node1('Sqrt', [ctx.node1('Add', [variance, ctx.scalar(a.eps, x.dtype)])]),
    ]);
    let y = ctx.node1('Mul', [ctx.node1('Mul', [centered, invStd]), weight]);
    if (bias.length) y = ctx.node1('Add', [y, bias[0]]);
    return [y, mean, invStd];
  },
  vjp: ([gy, gMean, gInvStd], inputs, [, mean, invStd], a) => {
    const [x] = inputs;
    const weight = a.hasWeight ? inputs[1] : undefined;
    const bias = a.hasBias ? inputs[a.hasWeight ? 2 : 1] : undefined;
    const axes = Array.from({ length: x.rank - a.axis }, (_, i) => a.axis + i);
    const n = numel(x.shape.slice(a.axis) as number[]);
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
export function layerNorm(
  x: Tensor,
  normalized: readonly number[] | LayerNormAxes,
  weight?: Tensor,
  bias?: Tensor,
  eps = 1e-5,
): Tensor {
  if (!isFloat(x.dtype)) throw opError('layerNorm', 'x must be float32 or float64', [x], DtypeError);
  let axes: number[];
  if (Array.isArray(normalized)) {
    const trailing = x.shape.slice(x.rank - normalized.length);
    if (normalized.length === 0 || normalized.length > x.rank || trailing.some((d, i) => d !== normalized[i])) {
      throw opError('layerNorm', `normalizedShape ${shapeStr(normalized)} must equal the trailing dimensions of x`, [
        x,
      ]);
    }
    axes = normalized.map((_, i) => x.rank - normalized.length + i);
  } else {
    axes = axesFor('layerNorm', x, (normalized as LayerNormAxes).axes);
    if (axes.length === 0) throw opError('layerNorm', 'axes must not be empty', [x]);
  }
  const first = x.rank - axes.length;
  const trailing = axes.every((ax, i) => ax === first + i);
  const perm = trailing
    ? undefined
    : [...Array.from({ length: x.rank }, (_, i) => i).filter((i) => !axes.includes(i)), ...axes];
  const xt = perm ? transpose(x, perm) : x;
  const inputs = [xt, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  const y = apply(layerNormOp, inputs, { axis: first, eps, hasWeight: !!weight, hasBias: !!bias })[0];
  return perm ? transpose(y, inversePermutation(perm)) : y;
}
