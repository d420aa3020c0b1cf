/**
 * COCO-style bounding-box evaluation that reproduces pycocotools' `COCOeval(gt, dt, 'bbox')`
 * with default parameters: 10 IoU thresholds .50:.05:.95, 101-point interpolated precision,
 * area ranges all/small/medium/large, maxDets 1/10/100, crowd regions (a detection inside one
 * is ignored, never a false positive) and the same stable (mergesort) tie order. The 12 numbers
 * of `summarize()` and per-category AP come out equal to pycocotools' to rounding.
 *
 * One deliberate difference: pycocotools records a match by the ground truth's id, so a
 * ground truth with id 0 silently counts as unmatched; here matches are recorded by index.
 */
import { RECALL_POINTS, interpolatedPrecision, numpyLinspace } from '../../index.js';
import { cocoBoxIou } from '../boxes/host.js';
import type { CocoAnnotation, CocoDataset, CocoDetection } from '../formats/coco-types.js';

export const COCO_IOU_THRESHOLDS: readonly number[] = numpyLinspace(0.5, 0.95, 10);
export const COCO_RECALL_THRESHOLDS: readonly number[] = RECALL_POINTS;
export const COCO_MAX_DETS: readonly number[] = [1, 10, 100];
export const COCO_AREA_RANGES: readonly { name: 'all' | 'small' | 'medium' | 'large'; range: [number, number] }[] = [
  { name: 'all', range: [0, 1e10] },
  { name: 'small', range: [0, 32 ** 2] },
  { name: 'medium', range: [32 ** 2, 96 ** 2] },
  { name: 'large', range: [96 ** 2, 1e10] },
];
/** The order of `stats` (pycocotools' `summarize()`). */
export const COCO_STATS_NAMES = [
  'map',
  'map50',
  'map75',
  'mapSmall',
  'mapMedium',
  'mapLarge',
  'ar1',
  'ar10',
  'ar100',
  'arSmall',
  'arMedium',
  'arLarge',
] as const;
export type CocoStatName = (typeof COCO_STATS_NAMES)[number];

export interface CocoEvalResult {
  /** The 12 summary numbers in pycocotools' order (-1 where nothing could be measured). */
  stats: number[];
  /** The same numbers by name (`map` = AP@[.5:.95], `map50`, `ar100`, ...). */
  summary: Record<CocoStatName, number>;
  /** AP@[.5:.95] (area all, 100 detections) per category, in ascending category id order; -1 if the category has no ground truth. */
  perCategory: { categoryId: number; name: string; ap: number; ap50: number }[];
  /** Interpolated precision, [T=10, R=101, K, A=4, M=3] row-major; -1 where undefined. */
  precision: Float64Array;
  /** Recall, [T, K, A, M] row-major; -1 where undefined. */
  recall: Float64Array;
  categoryIds: number[];
}

interface ImageEval {
  scores: number[]; // detections sorted by score, at most maxDets[-1]
  matched: Uint8Array; // [T, D]
  ignored: Uint8Array; // [T, D]
  gtCount: number; // ground truths that are not ignored
}

function groupKey(imageId: number, categoryId: number): string {
  return `${imageId}:${categoryId}`;
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** Indices that sort `keys` ascending, stable (numpy argsort kind='mergesort'). */
function stableArgsort(keys: ArrayLike<number>): number[] {
  const idx = Array.from({ length: keys.length }, (_, i) => i);
  return idx.sort((a, b) => keys[a] - keys[b] || a - b);
}

function checkBox(where: string, box: unknown): void {
  if (!Array.isArray(box) || box.length !== 4 || box.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
    throw new Error(`${where}: bbox must be [x, y, width, height] of 4 finite numbers, got ${JSON.stringify(box)}`);
  }
}

/**
 * Evaluates detections against COCO ground truth like `COCOeval(gt, dt, 'bbox')` followed by
 * `evaluate()`, `accumulate()`, `summarize()`.
 */
export function evaluateCocoBoxes(gt: CocoDataset, detections: readonly CocoDetection[]): CocoEvalResult {
  const imageIds = [...new Set(gt.images.map((im) => im.id))].sort((a, b) => a - b);
  const categoryIds = [...new Set(gt.categories.map((c) => c.id))].sort((a, b) => a - b);
  const imageSet = new Set(imageIds);
  const T = COCO_IOU_THRESHOLDS.length,
    R = COCO_RECALL_THRESHOLDS.length;
  const K = categoryIds.length,
    A = COCO_AREA_RANGES.length,
    M = COCO_MAX_DETS.length;
  const maxDetAll = COCO_MAX_DETS[M - 1];

  // Ground truths and detections per (image, category), in file order (as pycocotools' index).
  const gts = new Map<string, CocoAnnotation[]>();
  for (const a of gt.annotations) {
    checkBox(`evaluateCocoBoxes: ground-truth annotation ${a.id}`, a.bbox);
    push(gts, groupKey(a.image_id, a.category_id), a);
  }
  interface Det {
    score: number;
    bbox: number[];
    area: number;
  }
  const dts = new Map<string, Det[]>();
  detections.forEach((d, i) => {
    if (!imageSet.has(d.image_id)) {
      throw new Error(
        `evaluateCocoBoxes: detection ${i} refers to image_id ${d.image_id}, which is not in the ground truth's images`,
      );
    }
    checkBox(`evaluateCocoBoxes: detection ${i}`, d.bbox);
    if (typeof d.score !== 'number' || Number.isNaN(d.score)) {
      throw new Error(`evaluateCocoBoxes: detection ${i} has score ${d.score}; expected a number`);
    }
    // Result boxes get area w*h, as pycocotools' loadRes assigns.
    push(dts, groupKey(d.image_id, d.category_id), { score: d.score, bbox: d.bbox, area: d.bbox[2] * d.bbox[3] });
  });

  // evaluate(): per category, area range and image (order k, a, i as in pycocotools' evalImgs).
  const evalImgs: (ImageEval | null)[] = new Array(K * A * imageIds.length).fill(null);
  const I = imageIds.length;
  for (let k = 0; k < K; k++) {
    for (let i = 0; i < I; i++) {
      const key = groupKey(imageIds[i], categoryIds[k]);
      const g = gts.get(key) ?? [];
      const dAll = dts.get(key) ?? [];
      if (g.length === 0 && dAll.length === 0) continue;
      const order = stableArgsort(dAll.map((d) => -d.score));
      const d = order.slice(0, maxDetAll).map((j) => dAll[j]);
      const crowd = g.map((x) => (x.iscrowd ? 1 : 0));
      const ious = cocoBoxIou(
        d.map((x) => x.bbox),
        g.map((x) => x.bbox),
        crowd,
      );
      for (let a = 0; a < A; a++) {
        evalImgs[k * A * I + a * I + i] = evaluateImage(g, d, crowd, ious, COCO_AREA_RANGES[a].range, T);
      }
    }
  }

  // accumulate()
  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  for (let k = 0; k < K; k++) {
    for (let a = 0; a < A; a++) {
      const E: ImageEval[] = [];
      for (let i = 0; i < I; i++) {
        const e = evalImgs[k * A * I + a * I + i];
        if (e) E.push(e);
      }
      if (E.length === 0) continue;
      const npig = E.reduce((s, e) => s + e.gtCount, 0);
      for (let m = 0; m < M; m++) {
        const maxDet = COCO_MAX_DETS[m];
        if (npig === 0) continue;
        // Concatenate each image's first maxDet detections, then sort all by score (stable).
        const scores: number[] = [];
        const src: [ImageEval, number][] = [];
        for (const e of E) {
          const n = Math.min(maxDet, e.scores.length);
          for (let j = 0; j < n; j++) {
            scores.push(-e.scores[j]);
            src.push([e, j]);
          }
        }
        const inds = stableArgsort(scores);
        const nd = inds.length;
        for (let t = 0; t < T; t++) {
          const rc = new Float64Array(nd);
          const pr = new Float64Array(nd);
          let tp = 0,
            fp = 0;
          for (let n = 0; n < nd; n++) {
            const [e, j] = src[inds[n]];
            const D = e.scores.length;
            const matched = e.matched[t * D + j],
              ignored = e.ignored[t * D + j];
            if (!ignored) {
              if (matched) tp++;
              else fp++;
            }
            rc[n] = tp / npig;
            pr[n] = tp / (fp + tp + Number.EPSILON); // np.spacing(1)
          }
          recall[((t * K + k) * A + a) * M + m] = nd ? rc[nd - 1] : 0;
          // Precision envelope sampled at the recall thresholds (searchsorted, side left).
          const sampled = interpolatedPrecision(rc, pr, COCO_RECALL_THRESHOLDS);
          for (let r = 0; r < R; r++) precision[(((t * R + r) * K + k) * A + a) * M + m] = sampled[r];
        }
      }
    }
  }

  // summarize()
  const areaIndex = (name: string) => COCO_AREA_RANGES.findIndex((r) => r.name === name);
  const meanValid = (values: number[]) => {
    const v = values.filter((x) => x > -1);
    return v.length ? v.reduce((s, x) => s + x, 0) / v.length : -1;
  };
  const ap = (iouThr: number | null, area: string, maxDets: number, cats: number[] = categoryIds.map((_, k) => k)) => {
    const a = areaIndex(area),
      m = COCO_MAX_DETS.indexOf(maxDets);
    const ts =
      iouThr === null
        ? COCO_IOU_THRESHOLDS.map((_, t) => t)
        : COCO_IOU_THRESHOLDS.flatMap((v, t) => (v === iouThr ? [t] : []));
    const values: number[] = [];
    for (const t of ts)
      for (let r = 0; r < R; r++) for (const k of cats) values.push(precision[(((t * R + r) * K + k) * A + a) * M + m]);
    return meanValid(values);
  };
  const ar = (area: string, maxDets: number) => {
    const a = areaIndex(area),
      m = COCO_MAX_DETS.indexOf(maxDets);
    const values: number[] = [];
    for (let t = 0; t < T; t++) for (let k = 0; k < K; k++) values.push(recall[((t * K + k) * A + a) * M + m]);
    return meanValid(values);
  };
  const stats = [
    ap(null, 'all', 100),
    ap(0.5, 'all', 100),
    ap(0.75, 'all', 100),
    ap(null, 'small', 100),
    ap(null, 'medium', 100),
    ap(null, 'large', 100),
    ar('all', 1),
    ar('all', 10),
    ar('all', 100),
    ar('small', 100),
    ar('medium', 100),
    ar('large', 100),
  ];
  const summary = Object.fromEntries(COCO_STATS_NAMES.map((n, i) => [n, stats[i]])) as Record<CocoStatName, number>;
  const names = new Map(gt.categories.map((c) => [c.id, c.name]));
  const perCategory = categoryIds.map((id, k) => ({
    categoryId: id,
    name: names.get(id) ?? String(id),
    ap: ap(null, 'all', 100, [k]),
    ap50: ap(0.5, 'all', 100, [k]),
  }));
  return { stats, summary, perCategory, precision, recall, categoryIds };
}

/** pycocotools' evaluateImg for one image, category and area range (detections already sorted). */
function evaluateImage(
  gtAll: CocoAnnotation[],
  dt: { score: number; area: number }[],
  crowdAll: number[],
  iousAll: Float64Array,
  [lo, hi]: [number, number],
  T: number,
): ImageEval {
  const Gn = gtAll.length,
    D = dt.length;
  // Ground truths outside the area range or crowd are "ignore"; they go last (stable).
  const ignoreAll = gtAll.map((g) => (g.iscrowd || g.area < lo || g.area > hi ? 1 : 0));
  const gind = stableArgsort(ignoreAll);
  const gIgnore = gind.map((j) => ignoreAll[j]);
  const crowd = gind.map((j) => crowdAll[j]);
  const matched = new Uint8Array(T * D);
  const ignored = new Uint8Array(T * D);
  if (Gn > 0 && D > 0) {
    const gtMatched = new Uint8Array(T * Gn);
    for (let t = 0; t < T; t++) {
      for (let d = 0; d < D; d++) {
        let iou = Math.min(COCO_IOU_THRESHOLDS[t], 1 - 1e-10);
        let m = -1;
        for (let g = 0; g < Gn; g++) {
          // A matched ground truth is used once, except a crowd region, which absorbs any number.
          if (gtMatched[t * Gn + g] && !crowd[g]) continue;
          // Already matched a regular ground truth: ignored ones (sorted last) cannot replace it.
          if (m > -1 && gIgnore[m] === 0 && gIgnore[g] === 1) break;
          const v = iousAll[d * Gn + gind[g]];
          if (v < iou) continue;
          iou = v;
          m = g;
        }
        if (m === -1) continue;
        ignored[t * D + d] = gIgnore[m];
        matched[t * D + d] = 1;
        gtMatched[t * Gn + m] = 1;
      }
    }
  }
  // Unmatched detections outside the area range are ignored, not counted as false positives.
  for (let d = 0; d < D; d++) {
    if (dt[d].area < lo || dt[d].area > hi) for (let t = 0; t < T; t++) if (!matched[t * D + d]) ignored[t * D + d] = 1;
  }
  return { scores: dt.map((d) => d.score), matched, ignored, gtCount: gIgnore.filter((x) => x === 0).length };
}
