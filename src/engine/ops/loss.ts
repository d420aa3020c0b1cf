/**
 * Losses that ONNX Runtime computes with one fused kernel. softmaxCrossEntropy lowers to ONNX
 * SoftmaxCrossEntropyLoss and also takes its log_prob output, from which the VJP builds
 * (softmax(logits) - onehot(labels)) * weight * g / normalizer with other ops.
 * Higher-level losses (nn/) are compositions of ops and never lower to ONNX themselves.
 */
import { isInteger } from '../dtype.js';
import { type TensorType, apply, defineOp, opError } from '../op.js';
import { DtypeError } from '../errors.js';
import { type Dim, shapeStr } from '../shape.js';
import { type Tensor, arange } from '../tensor.js';
import { add, cast, div, mul, reshape, sub, sum } from './core.js';
import { FLOAT_DTYPES, equal, exp, notEqual } from './elementwise.js';
import { reducedSize } from './reduce.js';

export type LossReduction = 'mean' | 'sum' | 'none';

export interface SoftmaxCrossEntropyOptions {
  /** 'mean' (default): weighted mean over the non-ignored targets; 'sum'; 'none': per-target losses. */
  reduction?: LossReduction;
  /** Targets with this label contribute nothing (neither loss nor gradient) and are not counted by 'mean'. */
  ignoreIndex?: number;
  /** Per-class weights, shape [C], same dtype as the logits (not differentiated). */
  weight?: Tensor;
}

interface SceAttrs {
  [k: string]: unknown;
  reduction: LossReduction;
  ignoreIndex?: number;
  hasWeight: boolean;
}

/** [N, d...] → [N, 1, d...]: a per-target tensor that broadcasts against [N, C, d...]. */
function withClassAxis(t: Tensor): Tensor {
  return reshape(t, [t.shape[0], 1, ...t.shape.slice(1)]);
}

export const softmaxCrossEntropyOp = defineOp<SceAttrs>({
  name: 'softmaxCrossEntropy',
  infer: (inputs, { reduction, hasWeight }): TensorType[] => {
    const op = 'softmaxCrossEntropy';
    const [logits, labels, weight] = inputs;
    if (!FLOAT_DTYPES.includes(logits.dtype))
      throw opError(op, `logits must be float32 or float64, got ${logits.dtype}`, inputs, DtypeError);
    if (!isInteger(labels.dtype))
      throw opError(op, `labels must be int32 or int64 class indices, got ${labels.dtype}`, inputs, DtypeError);
    if (logits.shape.length < 2)
      throw opError(op, `logits must be [N, C] or [N, C, d...], got ${shapeStr(logits.shape)}`, inputs);
    const want: Dim[] = [logits.shape[0], ...logits.shape.slice(2)];
    if (labels.shape.length !== want.length || labels.shape.some((d, i) => d !== want[i])) {
      throw opError(
        op,
        `labels must have shape ${shapeStr(want)} for logits ${shapeStr(logits.shape)}, got ${shapeStr(labels.shape)}`,
        inputs,
      );
    }
    if (hasWeight !== (weight !== undefined))
      throw opError(op, 'internal: weight input and hasWeight disagree', inputs);
    if (weight && (weight.dtype !== logits.dtype || weight.shape.length !== 1 || weight.shape[0] !== logits.shape[1])) {
      throw opError(
        op,
        `weight must be [${logits.shape[1]}] ${logits.dtype} (one per class), got ${shapeStr(weight.shape)} ${weight.dtype}`,
        inputs,
      );
    }
    return [
      { shape: reduction === 'none' ? labels.shape : [], dtype: logits.dtype },
      { shape: logits.shape, dtype: logits.dtype },
    ];
  },
  lower: (ctx, ins, { reduction, ignoreIndex }) =>
    ctx.node(
      'SoftmaxCrossEntropyLoss',
      ins.map((v) => v.name),
      { reduction, ignore_index: ignoreIndex },
      2,
    ),
  vjp: ([gLoss, gLogProb], [logits, labels, weight], [, logProb], { reduction, ignoreIndex }) => {
    const classes = logits.shape[1];
    if (typeof classes !== 'number') {
      throw opError('softmaxCrossEntropy', 'the gradient needs a concrete number of classes (axis 1)', [logits]);
    }
    const probs = exp(logProb);
    let grad: Tensor | null = null;
    if (gLoss) {
      const classShape = logits.shape.map((_, i) => (i === 1 ? classes : 1));
      const target = withClassAxis(labels);
      const oneHot = cast(equal(target, reshape(arange(0, classes, 1, labels.dtype), classShape)), logits.dtype);
      // Per-target weight: weight[label] (0 for out-of-range labels), times 0 for ignored targets.
      let w: Tensor | null = weight ? sum(mul(oneHot, reshape(weight, classShape)), 1, true) : null;
      if (ignoreIndex !== undefined) {
        const kept = cast(notEqual(target, ignoreIndex), logits.dtype);
        w = w ? mul(w, kept) : kept;
      }
      let scale: Tensor;
      if (reduction === 'none') scale = withClassAxis(gLoss);
      else if (reduction === 'sum') scale = gLoss;
      else
        scale = div(
          gLoss,
          w
            ? sum(w)
            : reducedSize(
                labels,
                labels.shape.map((_, i) => i),
                logits.dtype,
              ),
        );
      grad = mul(sub(probs, oneHot), w ? mul(scale, w) : scale);
    }
    if (gLogProb) {
      const viaLogProb = sub(gLogProb, mul(probs, sum(gLogProb, 1, true)));
      grad = grad ? add(grad, viaLogProb) : viaLogProb;
    }
    return [grad, null, null];
  },
});

/**
 * Cross entropy between softmax(logits) and integer class labels, fused (ONNX
 * SoftmaxCrossEntropyLoss). logits: [N, C] or [N, C, d...]; labels: int32/int64 [N] or [N, d...].
 * Like PyTorch's F.cross_entropy with class-index targets. Gradients flow to the logits only.
 */
export function softmaxCrossEntropy(logits: Tensor, labels: Tensor, options: SoftmaxCrossEntropyOptions = {}): Tensor {
  const { reduction = 'mean', ignoreIndex, weight } = options;
  const op = 'softmaxCrossEntropy';
  if (!['mean', 'sum', 'none'].includes(reduction))
    throw opError(op, `reduction must be 'mean', 'sum' or 'none', got '${reduction}'`);
  if (ignoreIndex !== undefined && !Number.isInteger(ignoreIndex))
    throw opError(op, `ignoreIndex must be an integer, got ${ignoreIndex}`);
  const classes = logits.shape[1];
  if (!labels.isSymbolic && typeof classes === 'number' && isInteger(labels.dtype)) {
    // ORT does not range-check labels; catch bad ones here when their values are known.
    const values = labels.data as ArrayLike<number | bigint>;
    for (let i = 0; i < values.length; i++) {
      const label = Number(values[i]);
      if ((label < 0 || label >= classes) && label !== ignoreIndex) {
        throw opError(
          op,
          `label ${label} is out of range for ${classes} classes (expected 0..${classes - 1}${ignoreIndex === undefined ? '' : ` or ignoreIndex ${ignoreIndex}`})`,
          [logits, labels],
        );
      }
    }
  }
  const inputs = weight ? [logits, labels, weight] : [logits, labels];
  return apply(softmaxCrossEntropyOp, inputs, { reduction, ignoreIndex, hasWeight: weight !== undefined })[0];
}
