/**
 * PASCAL VOC detection AP at one IoU threshold (0.5 by default), VOC2010+ style: the area under
 * the monotone precision envelope at every recall change ("all-point" interpolation), with
 * `difficult` ground truths neither required nor penalised. Boxes are xyxy in continuous
 * coordinates; `pixelInclusive: true` adds the devkit's +1 to widths and heights.
 */
import type { BoxArray } from '../boxes/host.js';

export interface VocGroundTruth {
  imageId: number | string;
  label: number;
  box: BoxArray; // xyxy
  difficult?: boolean;
}

export interface VocDetection {
  imageId: number | string;
  label: number;
  box: BoxArray; // xyxy
  score: number;
}

export interface VocOptions {
  iouThreshold?: number;
  pixelInclusive?: boolean;
}

export interface VocResult {
  /** Mean AP over classes that have at least one non-difficult ground truth. */
  map: number;
  perClass: { label: number; ap: number; gtCount: number }[];
}

/** Area under the precision envelope, given cumulative recall/precision at each detection. */
export function vocAveragePrecision(recall: ArrayLike<number>, precision: ArrayLike<number>): number {
  const n = recall.length;
  const mrec = [0, ...Array.from(recall), 1];
  const mpre = [0, ...Array.from(precision), 0];
  for (let i = mpre.length - 2; i >= 0; i--) mpre[i] = Math.max(mpre[i], mpre[i + 1]);
  let ap = 0;
  for (let i = 0; i <= n; i++) if (mrec[i + 1] !== mrec[i]) ap += (mrec[i + 1] - mrec[i]) * mpre[i + 1];
  return ap;
}

export function evaluateVoc(
  gts: readonly VocGroundTruth[],
  dets: readonly VocDetection[],
  options: VocOptions = {},
): VocResult {
  const thr = options.iouThreshold ?? 0.5;
  const one = options.pixelInclusive ? 1 : 0;
  const labels = [...new Set(gts.map((g) => g.label))].sort((a, b) => a - b);
  const perClass: VocResult['perClass'] = [];
  for (const label of labels) {
    const byImage = new Map<number | string, { g: VocGroundTruth; used: boolean }[]>();
    let npos = 0;
    for (const g of gts) {
      if (g.label !== label) continue;
      if (!g.difficult) npos++;
      const list = byImage.get(g.imageId) ?? [];
      list.push({ g, used: false });
      byImage.set(g.imageId, list);
    }
    if (npos === 0) continue;
    const ds = dets.filter((d) => d.label === label).sort((a, b) => b.score - a.score);
    const tp: number[] = [],
      fp: number[] = [];
    for (const d of ds) {
      let best = -Infinity;
      let bestGt: { g: VocGroundTruth; used: boolean } | null = null;
      for (const entry of byImage.get(d.imageId) ?? []) {
        const a = d.box,
          b = entry.g.box;
        const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]) + one;
        const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]) + one;
        const inter = Math.max(iw, 0) * Math.max(ih, 0);
        const uni = (a[2] - a[0] + one) * (a[3] - a[1] + one) + (b[2] - b[0] + one) * (b[3] - b[1] + one) - inter;
        const iou = uni > 0 ? inter / uni : 0;
        if (iou > best) [best, bestGt] = [iou, entry];
      }
      if (bestGt && best > thr) {
        if (bestGt.g.difficult) continue; // neither TP nor FP
        if (!bestGt.used) {
          bestGt.used = true;
          tp.push(1), fp.push(0);
        } else tp.push(0), fp.push(1); // duplicate detection
      } else tp.push(0), fp.push(1);
    }
    const rec: number[] = [],
      prec: number[] = [];
    let ctp = 0,
      cfp = 0;
    for (let i = 0; i < tp.length; i++) {
      ctp += tp[i];
      cfp += fp[i];
      rec.push(ctp / npos);
      prec.push(ctp / Math.max(ctp + cfp, Number.MIN_VALUE));
    }
    perClass.push({ label, ap: vocAveragePrecision(rec, prec), gtCount: npos });
  }
  const map = perClass.length ? perClass.reduce((s, c) => s + c.ap, 0) / perClass.length : 0;
  return { map, perClass };
}
