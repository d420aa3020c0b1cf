/**
 * COCO bbox evaluation against pycocotools' own numbers: `test/fixtures/coco-bbox-cases.json` (a
 * copy of the shared `../shared/fixtures/coco-bbox-cases.json`, produced by pycocotools) holds ground truth, detections and the output of `COCOeval(gt, dets, 'bbox')` (the 12 summary
 * numbers and per-category AP) for cases with crowd regions, all sizes, misses, confusions and
 * false positives. Plus small hand-computed cases for crowd and area handling.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { evaluateCocoBoxes, type CocoDataset, type CocoDetection } from '../../src/vision/index.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const fixturePath = resolve(repoRoot, 'test/fixtures/coco-bbox-cases.json');

interface Case {
  gt: CocoDataset;
  dets: CocoDetection[];
  stats: number[];
  per_category_ap: number[];
}

describe('evaluateCocoBoxes', () => {
  it('equals pycocotools COCOeval on every fixture case (12 stats and per-category AP, 1e-9)', () => {
    const fixture = JSON.parse(readFileSync(fixturePath, 'utf8')) as { cases: Case[]; stats_order: string[] };
    expect(fixture.cases.length).toBeGreaterThan(0);
    for (const c of fixture.cases) {
      const r = evaluateCocoBoxes(c.gt, c.dets);
      expect(r.stats.length).toBe(12);
      r.stats.forEach((v, i) => expect(Math.abs(v - c.stats[i]), `stat ${fixture.stats_order[i]}`).toBeLessThan(1e-9));
      r.perCategory.forEach((p, k) => expect(Math.abs(p.ap - c.per_category_ap[k])).toBeLessThan(1e-9));
    }
  });

  const gtOf = (annotations: Partial<CocoDataset['annotations'][number]>[]): CocoDataset => ({
    images: [{ id: 1, file_name: 'a.png', width: 200, height: 200 }],
    categories: [{ id: 1, name: 'thing' }],
    annotations: annotations.map((a, i) => ({
      id: i + 1,
      image_id: 1,
      category_id: 1,
      iscrowd: 0,
      area: a.bbox![2] * a.bbox![3],
      ...a,
    })) as CocoDataset['annotations'],
  });

  it('perfect detections give AP 1 and AR 1', () => {
    const gt = gtOf([{ bbox: [10, 10, 50, 50] }, { bbox: [100, 100, 60, 40] }]);
    const r = evaluateCocoBoxes(gt, [
      { image_id: 1, category_id: 1, bbox: [10, 10, 50, 50], score: 0.9 },
      { image_id: 1, category_id: 1, bbox: [100, 100, 60, 40], score: 0.8 },
    ]);
    expect(r.summary.map).toBeCloseTo(1, 12); // precision is tp/(tp+fp+eps), as pycocotools
    expect(r.summary.ar100).toBe(1);
    expect(r.summary.ar1).toBe(0.5); // one detection per image can only find one of two objects
    expect(r.summary.mapSmall).toBe(-1); // no small objects
  });

  it('a detection inside a crowd region is ignored, not a false positive', () => {
    const gt = gtOf([{ bbox: [10, 10, 40, 40] }, { bbox: [100, 100, 90, 90], iscrowd: 1 }]);
    // Hand-computed: the TP at 0.9 and a crowd-covered detection at 0.95 (IoU with the crowd = 1).
    const r = evaluateCocoBoxes(gt, [
      { image_id: 1, category_id: 1, bbox: [120, 120, 20, 20], score: 0.95 },
      { image_id: 1, category_id: 1, bbox: [10, 10, 40, 40], score: 0.9 },
    ]);
    expect(r.summary.map).toBeCloseTo(1, 12); // precision is tp/(tp+fp+eps), as pycocotools
    // Without the crowd flag it is an ordinary false positive ranked first: precision 1/2 at recall 1.
    const gt2 = gtOf([{ bbox: [10, 10, 40, 40] }]);
    const r2 = evaluateCocoBoxes(gt2, [
      { image_id: 1, category_id: 1, bbox: [120, 120, 20, 20], score: 0.95 },
      { image_id: 1, category_id: 1, bbox: [10, 10, 40, 40], score: 0.9 },
    ]);
    expect(r2.summary.map).toBeCloseTo(0.5, 12);
  });

  it('rejects detections on unknown images and malformed boxes', () => {
    const gt = gtOf([{ bbox: [10, 10, 40, 40] }]);
    expect(() => evaluateCocoBoxes(gt, [{ image_id: 7, category_id: 1, bbox: [0, 0, 1, 1], score: 1 }])).toThrow(
      /image_id 7/,
    );
    expect(() => evaluateCocoBoxes(gt, [{ image_id: 1, category_id: 1, bbox: [0, 0, 1] as never, score: 1 }])).toThrow(
      /4 finite numbers/,
    );
  });
});
