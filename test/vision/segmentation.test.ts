/**
 * Segmentation metrics on a hand-computed confusion matrix; Dice and sigmoid focal losses against
 * hand/independently computed values (focal: torchvision's formula evaluated with Python's math
 * module, naive log form) and finite-difference gradients.
 */
import { describe, expect, it } from 'vitest';
import { tensor } from '../../src/index.js';
import { SegmentationMetrics, diceLoss, segmentationScores, sigmoidFocalLoss } from '../../src/vision/index.js';
import { checkGrad, randomTensor } from '../helpers/gradcheck.js';

describe('segmentation metrics', () => {
  // target 0 0 1 1 2 2 void; prediction 0 1 1 1 0 2 (0)
  // class 0: TP 1, FN 1, FP 1 -> IoU 1/3, Dice 1/2; class 1: TP 2, FP 1 -> 2/3, 4/5; class 2: TP 1, FN 1 -> 1/2, 2/3.
  const target = [0, 0, 1, 1, 2, 2, 255];
  const pred = [0, 1, 1, 1, 0, 2, 0];
  it('per-class IoU, mIoU, pixel accuracy and Dice', () => {
    const s = segmentationScores(pred, target, 3, 255);
    [1 / 3, 2 / 3, 1 / 2].forEach((v, k) => expect(s.iou[k]).toBeCloseTo(v, 15));
    [1 / 2, 4 / 5, 2 / 3].forEach((v, k) => expect(s.dice[k]).toBeCloseTo(v, 15));
    expect(s.miou).toBeCloseTo(0.5, 15);
    expect(s.pixelAccuracy).toBeCloseTo(4 / 6, 15);
    expect(s.meanDice).toBeCloseTo((1 / 2 + 4 / 5 + 2 / 3) / 3, 15);
    expect([...s.classAccuracy]).toEqual([0.5, 1, 0.5]);
  });

  it('absent classes are NaN and left out of the means; accumulates over updates', () => {
    const m = new SegmentationMetrics(4, 255);
    m.update(pred.slice(0, 3), target.slice(0, 3)).update(pred.slice(3), target.slice(3));
    const s = m.compute();
    expect(Number.isNaN(s.iou[3])).toBe(true);
    expect(s.miou).toBeCloseTo(0.5, 15);
    expect(() => m.update([0], [7])).toThrow(/target value 7 at 0 is not a class in \[0, 4\)/);
    expect(() => m.update([0, 1], [0])).toThrow(/prediction has 2 pixels, target 1/);
  });
});

describe('dice and focal losses', () => {
  it('dice loss: hand-computed value, global and per class', () => {
    const p = tensor(Float64Array.from([0.9, 0.2, 0.6, 0.1]), { shape: [4] });
    const t = tensor(Float64Array.from([1, 0, 1, 0]), { shape: [4] });
    // intersection 1.5, sums 1.8 + 2: 1 - (3 + 1) / (3.8 + 1)
    expect(diceLoss(p, t).item()).toBeCloseTo(1 - 4 / 4.8, 14);
    // Two classes (channels last): class 0 = [0.9, 0.6] vs [1, 1]; class 1 = [0.2, 0.1] vs [0, 0].
    const p2 = tensor(Float64Array.from([0.9, 0.2, 0.6, 0.1]), { shape: [2, 2] });
    const t2 = tensor(Float64Array.from([1, 0, 1, 0]), { shape: [2, 2] });
    const d0 = (2 * 1.5 + 1) / (1.5 + 2 + 1),
      d1 = 1 / (0.3 + 1);
    expect(diceLoss(p2, t2, { classAxis: -1 }).item()).toBeCloseTo(1 - (d0 + d1) / 2, 14);
    expect(() => diceLoss(p2, p)).toThrow(/same shape/);
  });

  it('sigmoid focal loss equals the torchvision formula on hand-picked points', () => {
    const x = tensor(Float64Array.from([0, 2, -1.5, 3, 0.5]), { shape: [5] });
    const t = tensor(Float64Array.from([1, 0, 1, 1, 0.3]), { shape: [5] });
    const want = [
      0.04332169878499658, 1.2375586345660556, 0.28431807890479416, 2.732083112424913e-5, 0.14901774472877433,
    ];
    const got = sigmoidFocalLoss(x, t).data as Float64Array;
    want.forEach((w, i) => expect(Math.abs(got[i] - w)).toBeLessThan(1e-12 * Math.max(1, w)));
    expect(sigmoidFocalLoss(x, t, { reduction: 'sum' }).item()).toBeCloseTo(
      want.reduce((a, b) => a + b),
      12,
    );
    // alpha < 0 and gamma 0 is plain BCE: log(1 + e^2) for x = 2, t = 0
    expect((sigmoidFocalLoss(x, t, { alpha: -1, gamma: 0 }).data as Float64Array)[1]).toBeCloseTo(
      2.1269280110429727,
      12,
    );
    expect((sigmoidFocalLoss(x, t, { alpha: 0.5, gamma: 1 }).data as Float64Array)[2]).toBeCloseTo(
      0.6955160347678295,
      12,
    );
  });

  it('gradients match finite differences', () => {
    const logits = randomTensor([3, 4], 2, 'float64', 3);
    const targets = tensor(Float64Array.from([1, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0.5]), { shape: [3, 4] });
    checkGrad((x) => sigmoidFocalLoss(x, targets), [logits]);
    const probs = tensor(
      Float64Array.from({ length: 12 }, (_, i) => 0.05 + (0.9 * ((i * 7) % 12)) / 11),
      { shape: [3, 4] },
    );
    checkGrad((p) => diceLoss(p, targets, { classAxis: -1 }), [probs]);
  });
});
