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
  if (classes && classes.length !== n)
    throw new Error(`nms: expected ${n} classes (one per score), got ${classes.length}`);
  if (!(iouThreshold >= 0 && iouThreshold <= 1))
    throw new Error(`nms: iouThreshold must be in [0, 1], got ${iouThreshold}`);
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
    const x1 = new Float64Array(m),
      y1 = new Float64Array(m),
      x2 = new Float64Array(m),
      y2 = new Float64Array(m),
      area = new Float64Array(m);
    for (let k = 0; k < m; k++) {
      const o = g[k] * 4;
      (x1[k] = boxes[o]), (y1[k] = boxes[o + 1]), (x2[k] = boxes[o + 2]), (y2[k] = boxes[o + 3]);
      area[k] = Math.max(0, x2[k] - x1[k]) * Math.max(0, y2[k] - y1[k]);
    }
    const dead = new Uint8Array(m);
    const grid = buildGrid(x1, y1, x2, y2, m);
    for (let k = 0; k < m; k++) {
      if (dead[k]) continue;
      keep[g[k]] = 1;
      if (area[k] <= 0) continue; // an empty box overlaps nothing
      // Only boxes whose top-left corner lies in (x1 - maxW, x2) × (y1 - maxH, y2) can overlap box k.
      const cx0 = grid.cellX(x1[k] - grid.maxW),
        cx1 = grid.cellX(x2[k]);
      const cy0 = grid.cellY(y1[k] - grid.maxH),
        cy1 = grid.cellY(y2[k]);
      for (let cy = cy0; cy <= cy1; cy++) {
        for (let cx = cx0; cx <= cx1; cx++) {
          const cell = cy * grid.nx + cx;
          for (let t = grid.start[cell]; t < grid.start[cell + 1]; t++) {
            const j = grid.items[t];
            if (j <= k || dead[j]) continue;
            const w = Math.min(x2[k], x2[j]) - Math.max(x1[k], x1[j]);
            if (w <= 0) continue;
            const h = Math.min(y2[k], y2[j]) - Math.max(y1[k], y1[j]);
            if (h <= 0) continue;
            const inter = w * h;
            if (inter / (area[k] + area[j] - inter) > iouThreshold) dead[j] = 1;
          }
        }
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

/**
 * A uniform grid over the boxes' top-left corners (cells at least as large as the largest box,
 * and no more cells than about 4 per box), stored as cell offsets + box indices, so a box's
 * possible overlaps are found in a few neighbouring cells instead of among all boxes.
 */
function buildGrid(x1: Float64Array, y1: Float64Array, x2: Float64Array, y2: Float64Array, m: number) {
  let minX = Infinity,
    minY = Infinity,
    maxX = -Infinity,
    maxY = -Infinity,
    maxW = 0,
    maxH = 0;
  for (let i = 0; i < m; i++) {
    (minX = Math.min(minX, x1[i])), (minY = Math.min(minY, y1[i]));
    (maxX = Math.max(maxX, x1[i])), (maxY = Math.max(maxY, y1[i]));
    (maxW = Math.max(maxW, x2[i] - x1[i])), (maxH = Math.max(maxH, y2[i] - y1[i]));
  }
  if (m === 0 || !Number.isFinite(maxX - minX) || !Number.isFinite(maxY - minY))
    [minX, minY, maxX, maxY] = [0, 0, 0, 0];
  const spanX = maxX - minX,
    spanY = maxY - minY;
  const floorSize = Math.sqrt((spanX * spanY) / (4 * Math.max(1, m)));
  const csx = Math.max(maxW, floorSize, spanX / 1024, 1e-9),
    csy = Math.max(maxH, floorSize, spanY / 1024, 1e-9);
  const nx = Math.floor(spanX / csx) + 1,
    ny = Math.floor(spanY / csy) + 1;
  const clamp = (v: number, n: number) => (v < 0 ? 0 : v >= n ? n - 1 : v);
  const cellX = (x: number) => clamp(Math.floor((x - minX) / csx), nx);
  const cellY = (y: number) => clamp(Math.floor((y - minY) / csy), ny);
  const cellOf = new Int32Array(m);
  const start = new Int32Array(nx * ny + 1);
  for (let i = 0; i < m; i++) {
    // Non-finite coordinates land in cell 0 (such boxes overlap nothing anyway).
    const c = Number.isFinite(x1[i]) && Number.isFinite(y1[i]) ? cellY(y1[i]) * nx + cellX(x1[i]) : 0;
    cellOf[i] = c;
    start[c + 1]++;
  }
  for (let c = 0; c < nx * ny; c++) start[c + 1] += start[c];
  const fill = start.slice(0, nx * ny);
  const items = new Int32Array(m);
  for (let i = 0; i < m; i++) items[fill[cellOf[i]]++] = i; // ascending score rank within each cell
  return {
    nx,
    start,
    items,
    maxW,
    maxH,
    cellX: (x: number) => cellX(Number.isFinite(x) ? x : minX),
    cellY: (y: number) => cellY(Number.isFinite(y) ? y : minY),
  };
}
