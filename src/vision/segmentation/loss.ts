/**
 * The training loss of the segmentation builders: per-pixel softmax cross entropy plus soft
 * multi-class Dice (the usual U-Net recipe: CE for calibrated per-pixel gradients, Dice so small
 * objects weigh as much as the background).
 */
import {
  Loss,
  add,
  cast,
  mean,
  mul,
  oneHot,
  reshape,
  softmax,
  sparseCategoricalCrossentropy,
  type Tensor,
} from '../../index.js';
import { diceLoss } from '../losses.js';

export interface SegmentationLossOptions {
  /** Weight of the Dice term (default 1); 0 = cross entropy only. */
  diceWeight?: number;
  /** Weight of the cross-entropy term (default 1). */
  ceWeight?: number;
  /** Dice smoothing (default 1). */
  smooth?: number;
}

/**
 * ceWeight · mean CE(logits, labels) + diceWeight · (1 − mean per-class soft Dice), for logits
 * [N, H, W, K] and integer labels [N, H, W] (or [N, H, W, 1]); Dice is taken over the whole batch.
 */
export function segmentationLoss(labels: Tensor, logits: Tensor, options: SegmentationLossOptions = {}): Tensor {
  if (logits.rank < 3)
    throw new Error(
      `segmentationLoss: logits must be [N, ..., K] per-pixel class scores, got [${logits.shape.join(', ')}]`,
    );
  const K = logits.shape[logits.rank - 1];
  if (typeof K !== 'number') throw new Error('segmentationLoss: the class axis of the logits must have a known size');
  const ceWeight = options.ceWeight ?? 1,
    diceWeight = options.diceWeight ?? 1;
  // Labels [N, H, W] are cast and checked by the cross entropy (sparseLabels): the same rules, one place.
  const ce = mean(sparseCategoricalCrossentropy(labels, logits, { fromLogits: true }));
  if (!diceWeight) return mul(ce, ceWeight);
  const flat = labels.rank === logits.rank ? reshape(labels, logits.shape.slice(0, -1)) : labels;
  const target = oneHot(cast(flat, 'int64'), K, { dtype: logits.dtype });
  const dice = diceLoss(softmax(logits, -1), target, { classAxis: -1, smooth: options.smooth });
  return add(mul(ce, ceWeight), mul(dice, diceWeight));
}

/** `segmentationLoss` as a Loss object for `model.compile({ loss })`. */
export class SegmentationLoss extends Loss {
  constructor(options: SegmentationLossOptions & { name?: string } = {}) {
    super('SegmentationLoss', (t, p) => segmentationLoss(t, p, options), { ...options });
  }
}
