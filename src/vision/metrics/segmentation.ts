/**
 * Semantic-segmentation metrics from a confusion matrix accumulated over images: per-class IoU,
 * mean IoU, pixel accuracy and Dice. Classes that appear in neither prediction nor target have no
 * IoU/Dice (NaN) and are left out of the means, as mmsegmentation and torchmetrics do.
 */

export interface SegmentationScores {
  /** Mean IoU over classes present in prediction or target. */
  miou: number;
  /** Correct pixels / labelled pixels. */
  pixelAccuracy: number;
  /** Mean Dice (F1) over classes present. */
  meanDice: number;
  /** Per class; NaN where the class is absent from both prediction and target. */
  iou: number[];
  dice: number[];
  /** Per class: correct / labelled pixels of that class (NaN if none). */
  classAccuracy: number[];
  /** Row = target class, column = predicted class. */
  confusion: Float64Array;
}

export class SegmentationMetrics {
  readonly confusion: Float64Array;

  /** `ignoreIndex`: target value whose pixels are not scored (e.g. 255 for "void"). */
  constructor(
    readonly numClasses: number,
    readonly ignoreIndex?: number,
  ) {
    if (!(Number.isInteger(numClasses) && numClasses > 0))
      throw new Error(`SegmentationMetrics: numClasses must be a positive integer, got ${numClasses}`);
    this.confusion = new Float64Array(numClasses * numClasses);
  }

  /** Adds one prediction/target pair of class-index maps (same length, any layout). */
  update(prediction: ArrayLike<number>, target: ArrayLike<number>): this {
    const K = this.numClasses;
    if (prediction.length !== target.length) {
      throw new Error(
        `SegmentationMetrics.update: prediction has ${prediction.length} pixels, target ${target.length}; they must match`,
      );
    }
    for (let i = 0; i < target.length; i++) {
      const t = target[i];
      if (t === this.ignoreIndex) continue;
      const p = prediction[i];
      if (!(Number.isInteger(t) && t >= 0 && t < K))
        throw new Error(
          `SegmentationMetrics.update: target value ${t} at ${i} is not a class in [0, ${K})${this.ignoreIndex === undefined ? ' (set ignoreIndex for void labels)' : ''}`,
        );
      if (!(Number.isInteger(p) && p >= 0 && p < K))
        throw new Error(`SegmentationMetrics.update: predicted value ${p} at ${i} is not a class in [0, ${K})`);
      this.confusion[t * K + p]++;
    }
    return this;
  }

  compute(): SegmentationScores {
    const K = this.numClasses,
      cm = this.confusion;
    const iou: number[] = [],
      dice: number[] = [],
      classAccuracy: number[] = [];
    let correct = 0,
      total = 0;
    for (let k = 0; k < K; k++) {
      let rowSum = 0,
        colSum = 0;
      for (let j = 0; j < K; j++) {
        rowSum += cm[k * K + j];
        colSum += cm[j * K + k];
      }
      const tp = cm[k * K + k];
      const fn = rowSum - tp,
        fp = colSum - tp;
      correct += tp;
      total += rowSum;
      iou.push(tp + fp + fn > 0 ? tp / (tp + fp + fn) : NaN);
      dice.push(tp + fp + fn > 0 ? (2 * tp) / (2 * tp + fp + fn) : NaN);
      classAccuracy.push(rowSum > 0 ? tp / rowSum : NaN);
    }
    const nanMean = (v: number[]) => {
      const ok = v.filter((x) => !Number.isNaN(x));
      return ok.length ? ok.reduce((s, x) => s + x, 0) / ok.length : NaN;
    };
    return {
      miou: nanMean(iou),
      pixelAccuracy: total ? correct / total : NaN,
      meanDice: nanMean(dice),
      iou,
      dice,
      classAccuracy,
      confusion: Float64Array.from(cm),
    };
  }

  reset(): void {
    this.confusion.fill(0);
  }
}

/** Scores one prediction/target pair (or flattened batch) of class-index maps. */
export function segmentationScores(
  prediction: ArrayLike<number>,
  target: ArrayLike<number>,
  numClasses: number,
  ignoreIndex?: number,
): SegmentationScores {
  return new SegmentationMetrics(numClasses, ignoreIndex).update(prediction, target).compute();
}
