/**
 * A classifier's evaluation report: confusion counts and per-class precision/recall/F1 computed by
 * hand, and one-vs-rest PR curves against the definition of interpolated precision (the best
 * precision at any rank reaching the recall), computed here by brute force.
 */
import { describe, expect, it } from 'vitest';
import { RECALL_POINTS, classificationReport, precisionRecallCurve } from '../../src/index.js';

// 3 classes, 6 samples: argmax predictions 0, 0, 1, 2, 0, 1 against labels 0, 1, 1, 2, 2, 0.
const labels = [0, 1, 1, 2, 2, 0];
const probs = [
  [0.7, 0.2, 0.1],
  [0.5, 0.4, 0.1],
  [0.1, 0.8, 0.1],
  [0.2, 0.3, 0.5],
  [0.6, 0.1, 0.3],
  [0.3, 0.6, 0.1],
];

/** Interpolated precision by definition: max precision over ranks whose recall reaches r (0 if none). */
function bruteForceCurve(scores: number[], positive: boolean[]): number[] {
  const order = scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  const npos = positive.filter(Boolean).length;
  const points: [number, number][] = [];
  let tp = 0;
  order.forEach((i, rank) => {
    if (positive[i]) tp++;
    points.push([tp / npos, tp / (rank + 1)]);
  });
  return RECALL_POINTS.map((r) => Math.max(0, ...points.filter(([rc]) => rc >= r).map(([, p]) => p)));
}

describe('classificationReport', () => {
  const report = classificationReport(labels, probs.flat(), 3, ['cat', 'dog', 'bird']);

  it('counts true (rows) against predicted (columns) classes', () => {
    // Rows by hand: cat samples 0 (→cat) and 5 (→dog); dog samples 1 (→cat) and 2 (→dog);
    // bird samples 3 (→bird) and 4 (→cat).
    expect(report.confusion.counts).toEqual([
      [1, 1, 0],
      [1, 1, 0],
      [1, 0, 1],
    ]);
    expect(report.confusion.labels).toEqual(['cat', 'dog', 'bird']);
    expect(report.metrics.accuracy).toBeCloseTo(3 / 6, 12);
  });

  it('gives per-class precision, recall, F1 and support', () => {
    // cat: 1 of 3 predicted cats right, 1 of 2 cats found → F1 = 2·(1/3)(1/2)/(1/3 + 1/2) = 0.4.
    // dog: 1/2 and 1/2 → 0.5. bird: 1/1 and 1/2 → 2/3.
    const want = [
      [1 / 3, 1 / 2, 0.4],
      [1 / 2, 1 / 2, 0.5],
      [1, 1 / 2, 2 / 3],
    ];
    report.perClass.forEach((c, k) => {
      expect(c.precision).toBeCloseTo(want[k][0], 12);
      expect(c.recall).toBeCloseTo(want[k][1], 12);
      expect(c.f1).toBeCloseTo(want[k][2], 12);
      expect(c.support).toBe(2);
    });
    expect(report.metrics.macro_f1).toBeCloseTo((0.4 + 0.5 + 2 / 3) / 3, 12);
  });

  it('has one-vs-rest PR curves equal to the brute-force interpolated precision', () => {
    const [set] = report.prCurves;
    expect(set.curves.map((c) => c.name)).toEqual(['cat', 'dog', 'bird']);
    set.curves.forEach((curve, k) => {
      const want = bruteForceCurve(
        probs.map((p) => p[k]),
        labels.map((l) => l === k),
      );
      expect(curve.precision).toHaveLength(101);
      curve.precision.forEach((p, r) => expect(p).toBeCloseTo(want[r], 4));
      expect(curve.ap).toBeCloseTo(want.reduce((s, v) => s + v, 0) / 101, 12);
    });
    // cat by hand: ranked 0.7(+) 0.6 0.5 0.3(+): precision 1 up to recall 0.5 (51 points), then 1/2.
    expect(set.curves[0].ap).toBeCloseTo((51 * 1 + 50 * 0.5) / 101, 12);
  });

  it('leaves out the curve of a class without samples and rejects bad labels', () => {
    const r = classificationReport([0, 0, 1], [0.9, 0.1, 0.0, 0.6, 0.3, 0.1, 0.2, 0.7, 0.1], 3);
    expect(r.prCurves[0].curves.map((c) => c.name)).toEqual(['0', '1']);
    expect(r.perClass[2].ap).toBeNull();
    expect(precisionRecallCurve([0.1, 0.2], [0, 0])).toBeNull();
    expect(() => classificationReport([0, 3], [0.5, 0.5, 0.5, 0.5], 2)).toThrow(/label 3 of sample 1 .*\[0, 2\)/);
    expect(() => classificationReport([0], [0.5], 2)).toThrow(/expected 1 × 2 = 2 scores/);
  });
});
