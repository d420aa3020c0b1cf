/**
 * The training loss of the segmentation builders: per-pixel softmax cross entropy plus soft
 * multi-class Dice (the usual U-Net recipe: CE for calibrated per-pixel gradients, Dice so small
 * objects weigh as much as the background), and the host helpers turning logits into class maps.
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

/** Per-pixel argmax of channels-last logits/probabilities [..., K] given as a flat array: class indices. */
export function argmaxClasses(scores: ArrayLike<number>, numClasses: number): Uint8Array {
  if (scores.length % numClasses !== 0)
    throw new Error(`argmaxClasses: ${scores.length} scores is not a multiple of ${numClasses} classes`);
  if (numClasses > 256) throw new Error(`argmaxClasses: at most 256 classes fit a Uint8Array, got ${numClasses}`);
  const out = new Uint8Array(scores.length / numClasses);
  for (let p = 0, o = 0; p < out.length; p++, o += numClasses) {
    let best = 0;
    for (let k = 1; k < numClasses; k++) if (scores[o + k] > scores[o + best]) best = k;
    out[p] = best;
  }
  return out;
}
