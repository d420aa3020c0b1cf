/**
 * A detector's report: the YOLO-style detection confusion matrix on hand-made boxes (counts worked
 * out by hand below), and per-class PR curves read from the COCO evaluator, whose means must be
 * pycocotools' own per-class AP and mAP@.5 on `test/fixtures/coco-bbox-cases.json` (COCOeval's
 * numbers, copied from the shared fixtures).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  type CocoDataset,
  type CocoDetection,
  cocoPrCurves,
  detectionConfusionMatrix,
  detectionReport,
  evaluateCocoBoxes,
} from '../../src/vision/index.js';

const fixturePath = resolve(dirname(fileURLToPath(import.meta.url)), '../fixtures/coco-bbox-cases.json');

// Categories listed out of id order: rows/columns follow the ids (cat = 1, dog = 2), then background.
const gt: CocoDataset = {
  images: [1, 2, 3].map((id) => ({ id, file_name: `${id}.png`, width: 100, height: 100 })),
  categories: [
    { id: 2, name: 'dog' },
    { id: 1, name: 'cat' },
  ],
  annotations: [
    { id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], area: 100, iscrowd: 0 }, // A
    { id: 2, image_id: 1, category_id: 2, bbox: [20, 0, 10, 10], area: 100, iscrowd: 0 }, // B
    { id: 3, image_id: 1, category_id: 1, bbox: [40, 40, 10, 10], area: 100, iscrowd: 0 }, // C
    { id: 4, image_id: 2, category_id: 2, bbox: [0, 0, 20, 20], area: 400, iscrowd: 0 }, // D
    { id: 5, image_id: 2, category_id: 1, bbox: [50, 50, 40, 40], area: 1600, iscrowd: 1 }, // E, a crowd
  ],
};
const det = (image_id: number, category_id: number, bbox: CocoDetection['bbox'], score: number): CocoDetection => ({
  image_id,
  category_id,
  bbox,
  score,
});
const dets = [
  det(1, 1, [0, 0, 10, 10], 0.9), // d1: A exactly (IoU 1) → cat as cat
  det(1, 1, [21, 0, 10, 10], 0.8), // d2: B at IoU 90/110 → dog as cat
  det(1, 2, [60, 60, 10, 10], 0.7), // d3: nothing there → false dog
  det(1, 2, [0, 0, 10, 9], 0.1), // d4: A at IoU 0.9, below the 0.25 score threshold
  det(1, 1, [1, 0, 10, 10], 0.6), // d5: A at 90/110, but A keeps d1 (IoU 1) → false cat
  det(2, 2, [0, 0, 20, 10], 0.5), // d6: D at IoU 200/400 = 0.5 exactly
  det(2, 1, [55, 55, 10, 10], 0.9), // d7: inside the crowd E → not counted
  det(2, 1, [0, 0, 20, 20], 0.3), // d8: D at IoU 1, so D keeps d8 (dog as cat) and d6 is a false dog
  det(3, 1, [0, 0, 5, 5], 0.95), // d9: an image without objects → false cat
];

describe('detectionConfusionMatrix', () => {
  it('counts matches, confusions, misses and false detections like YOLO', () => {
    const m = detectionConfusionMatrix(gt, dets);
    expect(m.labels).toEqual(['cat', 'dog', 'background']);
    // rows true cat, dog, background; columns predicted cat, dog, background:
    // cat: A→cat (d1), C missed → [1, 0, 1]; dog: B→cat (d2), D→cat (d8) → [2, 0, 0];
    // background: false cats d5, d9 and false dogs d3, d6 → [2, 2, 0].
    expect(m.counts).toEqual([
      [1, 0, 1],
      [2, 0, 0],
      [2, 2, 0],
    ]);
    expect(m.iouThreshold).toBe(0.5);
    expect(m.scoreThreshold).toBe(0.25);
  });

  it('follows the score and IoU thresholds', () => {
    // Score 0.05 lets d4 in: A keeps d1 (IoU 1 > 0.9), so d4 is one more false dog.
    expect(detectionConfusionMatrix(gt, dets, { scoreThreshold: 0.05 }).counts[2]).toEqual([2, 3, 0]);
    // IoU 0.85: d2 (0.82) no longer matches B → B missed and d2 a false cat; d5 and d6 stay false;
    // D still goes to d8 (IoU 1). Rows: cat [1, 0, 1], dog [D→cat, 0, B missed], background [d2 d5 d9, d3 d6, 0].
    expect(detectionConfusionMatrix(gt, dets, { iouThreshold: 0.85 }).counts).toEqual([
      [1, 0, 1],
      [1, 0, 1],
      [3, 2, 0],
    ]);
  });

  it('rejects detections of unknown images or categories', () => {
    expect(() => detectionConfusionMatrix(gt, [det(9, 1, [0, 0, 1, 1], 0.9)])).toThrow(/image_id 9/);
    expect(() => detectionConfusionMatrix(gt, [det(1, 7, [0, 0, 1, 1], 0.9)])).toThrow(/category_id 7/);
  });
});

describe('cocoPrCurves', () => {
  interface Case {
    gt: CocoDataset;
    dets: CocoDetection[];
    stats: number[];
    per_category_ap: number[];
  }
  const fixture = JSON.parse(readFileSync(fixturePath, 'utf8')) as { cases: Case[] };

  it("averages to pycocotools' per-class AP (IoU .5:.95) and mAP@.5 on every fixture case", () => {
    for (const c of fixture.cases) {
      const result = evaluateCocoBoxes(c.gt, c.dets);
      const [at50, mean] = cocoPrCurves(
        result,
        result.perCategory.map((p) => p.name),
      );
      const withGt = c.per_category_ap.flatMap((ap, k) => (ap > -1 ? [k] : []));
      expect(mean.curves.map((x) => x.name)).toEqual(withGt.map((k) => result.perCategory[k].name));
      mean.curves.forEach((curve, i) => expect(Math.abs(curve.ap - c.per_category_ap[withGt[i]])).toBeLessThan(1e-9));
      const map50 = at50.curves.reduce((s, x) => s + x.ap, 0) / at50.curves.length;
      expect(Math.abs(map50 - c.stats[1])).toBeLessThan(1e-9);
      for (const curve of [...at50.curves, ...mean.curves]) {
        expect(curve.precision).toHaveLength(101);
        // The interpolated precision never rises with recall, and lies in [0, 1].
        curve.precision.forEach((p, r) => {
          expect(p).toBeGreaterThanOrEqual(0);
          expect(p).toBeLessThanOrEqual(1);
          if (r > 0) expect(p).toBeLessThanOrEqual(curve.precision[r - 1]);
        });
      }
    }
  });

  it('makes a report with COCO numbers, per-class scores at the threshold and both curve sets', () => {
    const r = detectionReport(gt, dets);
    expect(r.task).toBe('detection');
    expect(r.classNames).toEqual(['cat', 'dog']);
    expect(r.samples).toBe(3);
    expect(r.metrics.map).toBe(evaluateCocoBoxes(gt, dets).summary.map);
    // From the matrix above: cat precision 1/(1+2+2), recall 1/2; dog has no true positive.
    expect(r.perClass[0].precision).toBeCloseTo(1 / 5, 12);
    expect(r.perClass[0].recall).toBeCloseTo(1 / 2, 12);
    expect(r.perClass[1]).toMatchObject({ precision: 0, recall: 0, f1: 0, support: 2 });
    expect(r.prCurves.map((s) => s.label)).toEqual(['IoU 0.5', 'IoU 0.5:0.95 (mean)']);
  });
});
