/** VOC AP@.5 (all-point interpolation) on hand-computed cases. */
import { describe, expect, it } from 'vitest';
import { evaluateVoc, vocAveragePrecision } from '../../src/vision/index.js';

describe('evaluateVoc', () => {
  it('matches a hand-computed three-class case (duplicates, difficult, a class without detections)', () => {
    const gts = [
      { imageId: 'a', label: 0, box: [0, 0, 10, 10] },
      { imageId: 'a', label: 0, box: [20, 20, 30, 30] },
      { imageId: 'b', label: 0, box: [0, 0, 10, 10] },
      { imageId: 'a', label: 1, box: [40, 40, 60, 60] },
      { imageId: 'b', label: 1, box: [40, 40, 60, 60], difficult: true },
      { imageId: 'b', label: 2, box: [5, 5, 15, 15] },
    ];
    const dets = [
      { imageId: 'a', label: 0, box: [0, 0, 10, 10], score: 0.9 }, // TP
      { imageId: 'b', label: 0, box: [50, 50, 60, 60], score: 0.8 }, // FP
      { imageId: 'a', label: 0, box: [20, 20, 30, 30], score: 0.7 }, // TP
      { imageId: 'a', label: 0, box: [1, 1, 10, 10], score: 0.6 }, // duplicate of the first: FP
      { imageId: 'b', label: 1, box: [40, 40, 60, 60], score: 0.95 }, // on a difficult object: ignored
      { imageId: 'a', label: 1, box: [41, 40, 60, 60], score: 0.5 }, // TP
    ];
    // Class 0: recall 1/3,1/3,2/3,2/3 precision 1,1/2,2/3,1/2 -> envelope 1,2/3,2/3,1/2 ->
    // AP = 1/3*1 + 1/3*2/3 = 5/9. Class 1: AP 1. Class 2: no detections, AP 0.
    const r = evaluateVoc(gts, dets);
    expect(r.perClass.map((c) => c.label)).toEqual([0, 1, 2]);
    expect(r.perClass[0].ap).toBeCloseTo(5 / 9, 14);
    expect(r.perClass[1].ap).toBeCloseTo(1, 14);
    expect(r.perClass[2].ap).toBe(0);
    expect(r.map).toBeCloseTo((5 / 9 + 1) / 3, 14);
  });

  it('IoU must exceed the threshold; the devkit +1 convention changes borderline matches', () => {
    const gts = [{ imageId: 1, label: 0, box: [0, 0, 10, 5] }];
    const dets = [{ imageId: 1, label: 0, box: [0, 0, 10, 10], score: 1 }];
    expect(evaluateVoc(gts, dets).map).toBe(0); // IoU exactly 0.5
    expect(evaluateVoc(gts, dets, { pixelInclusive: true }).map).toBe(1); // 66/121 > 0.5
  });

  it('vocAveragePrecision integrates the envelope', () => {
    expect(vocAveragePrecision([0.5, 1], [1, 0.5])).toBeCloseTo(0.75, 15);
    expect(vocAveragePrecision([], [])).toBe(0);
  });
});
