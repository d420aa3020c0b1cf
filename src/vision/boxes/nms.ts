/**
 * Non-maximum suppression on the host: greedy, class-aware, over typed arrays. Boxes are xyxy;
 * the candidates are sorted once by score (descending, ties by lower index), split by class
 * (boxes of different classes never suppress each other), and a box is dropped when its IoU
 * with an already kept box of its class exceeds the threshold (torchvision's `batched_nms` rule).
 * Boxes with zero or negative width/height have IoU 0 with everything: kept if scored high enough,
 * never suppressing another box.
 */
import type { BoxArray } from './host.js';

export interface NmsOptions {
  /** Drop a box whose IoU with a kept box of the same class is greater than this. */
  iouThreshold: number;
  /** Ignore candidates scoring below this (default: keep all). */
  scoreThreshold?: number;
  /** Class of each box; absent = one class. */
  classes?: ArrayLike<number>;
  /** Keep at most this many boxes overall (highest scores first). */
  maxOutput?: number;
}

/** Indices of the kept boxes, highest score first. */
export function nms(boxes: BoxArray, scores: ArrayLike<number>, options: NmsOptions): Int32Array {
  const n = scores.length;
  const { iouThreshold, classes } = options;
  if (boxes.length !== n * 4) {
    throw new Error(`nms: expected ${n * 4} box coordinates (4 per score, xyxy) for ${n} scores, got ${boxes.length}`);
  }
  if (classes && classes.length !== n) throw new Error(`nms: expected ${n} classes (one per score), got ${classes.length}`);
  if (!(iouThreshold >= 0 && iouThreshold <= 1)) throw new Error(`nms: iouThreshold must be in [0, 1], got ${iouThreshold}`);
  const minScore = options.scoreThreshold ?? -Infinity;
  const maxOutput = options.maxOutput ?? n;

  // Candidates sorted once: score descending, ties by index (a deterministic, stable order).
  const cand: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = scores[i];
    if (Number.isNaN(s)) throw new Error(`nms: score ${i} is NaN`);
    if (s >= minScore) cand.push(i);
  }
  const order = Int32Array.from(cand).sort((a, b) => scores[b] - scores[a] || a - b);

  // Group by class, keeping the order; each group is copied to contiguous coordinates.
  const groups = new Map<number, number[]>();
  for (const i of order) {
    const c = classes ? classes[i] : 0;
    let g = groups.get(c);
    if (!g) groups.set(c, (g = []));
    g.push(i);
  }
  const keep = new Uint8Array(n);
  for (const g of groups.values()) {
    const m = g.length;
    const x1 = new Float64Array(m), y1 = new Float64Array(m), x2 = new Float64Array(m), y2 = new Float64Array(m), area = new Float64Array(m);
    for (let k = 0; k < m; k++) {
      const o = g[k] * 4;
      x1[k] = boxes[o], y1[k] = boxes[o + 1], x2[k] = boxes[o + 2], y2[k] = boxes[o + 3];
      area[k] = Math.max(0, x2[k] - x1[k]) * Math.max(0, y2[k] - y1[k]);
    }
    const dead = new Uint8Array(m);
    for (let k = 0; k < m; k++) {
      if (dead[k]) continue;
      keep[g[k]] = 1;
      if (area[k] <= 0) continue; // an empty box overlaps nothing
      for (let j = k + 1; j < m; j++) {
        if (dead[j]) continue;
        const w = Math.min(x2[k], x2[j]) - Math.max(x1[k], x1[j]);
        if (w <= 0) continue;
        const h = Math.min(y2[k], y2[j]) - Math.max(y1[k], y1[j]);
        if (h <= 0) continue;
        const inter = w * h;
        if (inter / (area[k] + area[j] - inter) > iouThreshold) dead[j] = 1;
      }
    }
  }
  const out: number[] = [];
  for (const i of order) {
    if (out.length >= maxOutput) break;
    if (keep[i]) out.push(i);
  }
  return Int32Array.from(out);
}
