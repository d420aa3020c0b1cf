/**
 * A detector's evaluation report for the studio (`lepton evaluate`, examples/detect-shapes.ts):
 * per-class precision–recall curves read from the COCO evaluator's accumulated precision (area
 * all, 100 detections: at IoU 0.5, and the mean over IoU .50:.95 — their means are exactly
 * pycocotools' per-class AP50 and AP), and a detection confusion matrix as YOLO's validator
 * builds it, with a background row (false detections) and column (missed objects).
 */
import { type ConfusionData, type EvaluationReport, type PrCurveSet, classScores, roundCurve } from '../../index.js';
import { cocoBoxIou } from '../boxes/host.js';
import type { CocoDataset, CocoDetection } from '../formats/coco-types.js';
import {
  COCO_AREA_RANGES,
  COCO_IOU_THRESHOLDS,
  COCO_MAX_DETS,
  COCO_RECALL_THRESHOLDS,
  type CocoEvalResult,
  evaluateCocoBoxes,
} from './coco.js';

/** The row/column label of missed objects and false detections. */
export const BACKGROUND = 'background';

/**
 * Per-class PR curves from `evaluateCocoBoxes`' precision array (area 'all', maxDets 100): one set
 * at IoU 0.5 and one averaged over the ten IoU thresholds. Classes without ground truth have no
 * curve. `names` label the curves in category-id order (default: the result's category ids).
 */
export function cocoPrCurves(result: CocoEvalResult, names?: readonly string[]): PrCurveSet[] {
  const T = COCO_IOU_THRESHOLDS.length,
    R = COCO_RECALL_THRESHOLDS.length,
    K = result.categoryIds.length,
    A = COCO_AREA_RANGES.length,
    M = COCO_MAX_DETS.length;
  const a = COCO_AREA_RANGES.findIndex((r) => r.name === 'all');
  const m = COCO_MAX_DETS.indexOf(100);
  const at = (t: number, r: number, k: number) => result.precision[(((t * R + r) * K + k) * A + a) * M + m];
  const sets: PrCurveSet[] = [
    { label: 'IoU 0.5', curves: [] },
    { label: 'IoU 0.5:0.95 (mean)', curves: [] },
  ];
  for (let k = 0; k < K; k++) {
    // -1 marks a category without ground truth (pycocotools' convention): no curve.
    if (at(0, 0, k) < 0) continue;
    const name = names?.[k] ?? String(result.categoryIds[k]);
    const at50 = Array.from({ length: R }, (_, r) => at(0, r, k));
    const mean = Array.from({ length: R }, (_, r) => {
      let s = 0;
      for (let t = 0; t < T; t++) s += at(t, r, k);
      return s / T;
    });
    for (const [set, values] of [
      [sets[0], at50],
      [sets[1], mean],
    ] as const)
      set.curves.push({ name, ap: values.reduce((s, v) => s + v, 0) / R, precision: roundCurve(values) });
  }
  return sets;
}

/** How detections match objects in the detection confusion matrix. */
export interface DetectionConfusionOptions {
  /** IoU a detection needs with an object to match it (default 0.5). */
  iouThreshold?: number;
  /** Detections scoring below this are left out (default 0.25, YOLO's). */
  scoreThreshold?: number;
}

/**
 * Confusion matrix of detections against ground truth, as YOLO's `ConfusionMatrix.process_batch`:
 * in each image, (object, detection) pairs with IoU ≥ the threshold, whatever their classes, are
 * taken by decreasing IoU, each detection keeping its best object, then each object its best
 * remaining detection; a matched object counts at [its class][the detection's class], an unmatched
 * object at [its class][background], an unmatched detection at [background][its class]. Crowd
 * regions match nothing, and a detection inside one (COCO's crowd IoU ≥ the threshold) is not
 * counted as a false detection, as in COCOeval. Rows/columns follow the categories by ascending id,
 * then background.
 */
export function detectionConfusionMatrix(
  gt: CocoDataset,
  detections: readonly CocoDetection[],
  options: DetectionConfusionOptions = {},
): ConfusionData {
  const iouThreshold = options.iouThreshold ?? 0.5;
  const scoreThreshold = options.scoreThreshold ?? 0.25;
  const categories = [...gt.categories].sort((x, y) => x.id - y.id);
  const index = new Map(categories.map((c, i) => [c.id, i]));
  const K = categories.length;
  const counts = Array.from({ length: K + 1 }, () => new Array<number>(K + 1).fill(0));
  const classOf = (categoryId: number, what: string) => {
    const k = index.get(categoryId);
    if (k === undefined)
      throw new Error(
        `detectionConfusionMatrix: ${what} has category_id ${categoryId}, which is not in the categories`,
      );
    return k;
  };
  const byImage = new Map<number, { gts: CocoDataset['annotations']; crowds: number[][]; dts: CocoDetection[] }>();
  const entry = (id: number) => {
    let e = byImage.get(id);
    if (!e) byImage.set(id, (e = { gts: [], crowds: [], dts: [] }));
    return e;
  };
  for (const im of gt.images) entry(im.id);
  for (const g of gt.annotations) {
    if (g.iscrowd) entry(g.image_id).crowds.push(g.bbox);
    else entry(g.image_id).gts.push(g);
  }
  detections.forEach((d, i) => {
    if (!byImage.has(d.image_id))
      throw new Error(
        `detectionConfusionMatrix: detection ${i} refers to image_id ${d.image_id}, which is not in the ground truth's images`,
      );
    if (d.score >= scoreThreshold) entry(d.image_id).dts.push(d);
  });
  for (const { gts, crowds, dts } of byImage.values()) {
    const G = gts.length,
      D = dts.length;
    const ious = cocoBoxIou(
      dts.map((d) => d.bbox),
      gts.map((g) => g.bbox),
      new Array(G).fill(0),
    );
    const pairs: { g: number; d: number; iou: number }[] = [];
    for (let g = 0; g < G; g++)
      for (let d = 0; d < D; d++) if (ious[d * G + g] >= iouThreshold) pairs.push({ g, d, iou: ious[d * G + g] });
    pairs.sort((p, q) => q.iou - p.iou);
    const bestOfDetection = new Map<number, number>();
    for (const p of pairs) if (!bestOfDetection.has(p.d)) bestOfDetection.set(p.d, p.g);
    const gtMatch = new Int32Array(G).fill(-1);
    const dtMatched = new Uint8Array(D);
    for (const p of pairs) {
      if (bestOfDetection.get(p.d) !== p.g || gtMatch[p.g] !== -1) continue;
      gtMatch[p.g] = p.d;
      dtMatched[p.d] = 1;
    }
    gts.forEach((g, j) => {
      const t = classOf(g.category_id, `annotation ${g.id}`);
      counts[t][gtMatch[j] === -1 ? K : classOf(dts[gtMatch[j]].category_id, 'a detection')]++;
    });
    const inCrowd = cocoBoxIou(
      dts.map((d) => d.bbox),
      crowds,
      new Array(crowds.length).fill(1),
    );
    dts.forEach((d, j) => {
      if (dtMatched[j]) return;
      for (let c = 0; c < crowds.length; c++) if (inCrowd[j * crowds.length + c] >= iouThreshold) return;
      counts[K][classOf(d.category_id, `detection on image ${d.image_id}`)]++;
    });
  }
  return { labels: [...categories.map((c) => c.name), BACKGROUND], counts, iouThreshold, scoreThreshold };
}

/**
 * The studio's report of a detector: COCO summary numbers (`evaluateCocoBoxes`), PR curves
 * (`cocoPrCurves`), the confusion matrix (`detectionConfusionMatrix`) and per-class precision,
 * recall and F1 at its score threshold, with per-class AP@[.5:.95].
 */
export function detectionReport(
  gt: CocoDataset,
  detections: readonly CocoDetection[],
  options: DetectionConfusionOptions = {},
): EvaluationReport {
  const coco = evaluateCocoBoxes(gt, detections);
  const names = coco.perCategory.map((c) => c.name);
  const confusion = detectionConfusionMatrix(gt, detections, options);
  const perClass = classScores(confusion.counts, names).map((s, k) => ({
    ...s,
    ap: coco.perCategory[k].ap < 0 ? null : coco.perCategory[k].ap,
  }));
  return {
    task: 'detection',
    classNames: names,
    samples: gt.images.length,
    metrics: { ...coco.summary },
    perClass,
    confusion,
    prCurves: cocoPrCurves(coco, names),
  };
}
