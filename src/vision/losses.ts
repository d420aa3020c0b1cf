/**
 * Dense-prediction losses as compositions of ops (so they differentiate and export): soft Dice
 * and torchvision's sigmoid focal loss.
 */
import { abs, add, div, mean, mul, pow, relu, sigmoid, softplus, sub, sum, neg, type Tensor } from '../index.js';

function sameShape(where: string, a: Tensor, b: Tensor): void {
  if (a.rank !== b.rank || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(
      `${where}: prediction ${a.dtype} [${a.shape.join(', ')}] and target ${b.dtype} [${b.shape.join(', ')}] must have the same shape`,
    );
  }
  if (!a.dtype.startsWith('float') || a.dtype !== b.dtype)
    throw new Error(`${where}: prediction and target must be the same float dtype, got ${a.dtype} and ${b.dtype}`);
}

export interface DiceOptions {
  /** Added to numerator and denominator (default 1): empty masks score 1, gradients stay finite. */
  smooth?: number;
  /**
   * Axis holding the classes (channels-last: -1). Dice is computed per class over all other
   * axes and averaged; null = one Dice over all elements (binary masks).
   */
  classAxis?: number | null;
}

/**
 * 1 − soft Dice between probabilities and a (one-hot or binary) target of the same shape:
 * 1 − (2 Σ p·t + s) / (Σ p + Σ t + s).
 */
export function diceLoss(probabilities: Tensor, target: Tensor, options: DiceOptions = {}): Tensor {
  sameShape('diceLoss', probabilities, target);
  const s = options.smooth ?? 1;
  const classAxis = options.classAxis === undefined ? null : options.classAxis;
  const rank = probabilities.rank;
  let axes: number[];
  if (classAxis === null) axes = Array.from({ length: rank }, (_, i) => i);
  else {
    const c = classAxis < 0 ? classAxis + rank : classAxis;
    if (!(c >= 0 && c < rank))
      throw new Error(`diceLoss: classAxis ${classAxis} is out of range for shape [${probabilities.shape.join(', ')}]`);
    axes = Array.from({ length: rank }, (_, i) => i).filter((i) => i !== c);
  }
  const inter = sum(mul(probabilities, target), axes);
  const total = add(sum(probabilities, axes), sum(target, axes));
  const dice = div(add(mul(inter, 2), s), add(total, s));
  return sub(1, classAxis === null ? dice : mean(dice));
}

export interface FocalOptions {
  /** Weight of positives (negatives get 1 − alpha); negative = no weighting. Default 0.25. */
  alpha?: number;
  /** Focusing exponent (default 2). */
  gamma?: number;
  reduction?: 'none' | 'mean' | 'sum';
}

/**
 * torchvision's `sigmoid_focal_loss` (RetinaNet): with p = σ(x),
 * ce = BCE-with-logits(x, t), p_t = p·t + (1−p)(1−t), loss = α_t · ce · (1 − p_t)^γ,
 * α_t = α·t + (1−α)(1−t). Targets in [0, 1]; default reduction 'none' as torchvision.
 */
export function sigmoidFocalLoss(logits: Tensor, targets: Tensor, options: FocalOptions = {}): Tensor {
  sameShape('sigmoidFocalLoss', logits, targets);
  const alpha = options.alpha ?? 0.25;
  const gamma = options.gamma ?? 2;
  if (!(gamma >= 0)) throw new Error(`sigmoidFocalLoss: gamma must be >= 0, got ${gamma}`);
  const p = sigmoid(logits);
  // Stable BCE with logits: max(x, 0) − x·t + log(1 + e^−|x|).
  const ce = add(sub(relu(logits), mul(logits, targets)), softplus(neg(abs(logits))));
  const pT = add(mul(p, targets), mul(sub(1, p), sub(1, targets)));
  let loss = gamma === 0 ? ce : mul(ce, pow(sub(1, pT), gamma));
  if (alpha >= 0) loss = mul(add(mul(targets, alpha), mul(sub(1, targets), 1 - alpha)), loss);
  const reduction = options.reduction ?? 'none';
  return reduction === 'none' ? loss : reduction === 'sum' ? sum(loss) : mean(loss);
}
