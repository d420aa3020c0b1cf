/**
 * Box utilities on plain arrays (host side, float64): format conversions, areas and IoU matrices.
 * Used by metrics, data formats and NMS, where boxes are data rather than graph tensors; the
 * differentiable versions are the ops in `boxes/ops.ts`.
 *
 * Boxes are flat arrays of 4 numbers per box. Formats: `xyxy` (corners), `xywh` (top-left +
 * size, COCO), `cxcywh` (centre + size, YOLO/DETR).
 */

export type BoxFormat = 'xyxy' | 'xywh' | 'cxcywh';
export type BoxArray = ArrayLike<number>;

function checkBoxes(where: string, boxes: BoxArray): number {
  if (boxes.length % 4 !== 0) {
    throw new Error(`${where}: expected 4 numbers per box, got an array of length ${boxes.length}`);
  }
  return boxes.length / 4;
}

/** Converts a flat box array between formats (returns a new Float64Array). */
export function convertBoxes(boxes: BoxArray, from: BoxFormat, to: BoxFormat): Float64Array {
  const n = checkBoxes('convertBoxes', boxes);
  const out = new Float64Array(n * 4);
  for (let i = 0; i < n; i++) {
    const a = boxes[i * 4],
      b = boxes[i * 4 + 1],
      c = boxes[i * 4 + 2],
      d = boxes[i * 4 + 3];
    let x1: number, y1: number, x2: number, y2: number;
    if (from === 'xyxy') [x1, y1, x2, y2] = [a, b, c, d];
    else if (from === 'xywh') [x1, y1, x2, y2] = [a, b, a + c, b + d];
    else if (from === 'cxcywh') [x1, y1, x2, y2] = [a - c / 2, b - d / 2, a + c / 2, b + d / 2];
    else throw new Error(`convertBoxes: unknown format '${from}' (expected xyxy, xywh or cxcywh)`);
    const o = i * 4;
    if (to === 'xyxy') [out[o], out[o + 1], out[o + 2], out[o + 3]] = [x1, y1, x2, y2];
    else if (to === 'xywh') [out[o], out[o + 1], out[o + 2], out[o + 3]] = [x1, y1, x2 - x1, y2 - y1];
    else if (to === 'cxcywh')
      [out[o], out[o + 1], out[o + 2], out[o + 3]] = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1];
    else throw new Error(`convertBoxes: unknown format '${to}' (expected xyxy, xywh or cxcywh)`);
  }
  return out;
}

/** Areas of xyxy boxes; a box with x2 < x1 or y2 < y1 has area 0. */
export function boxAreas(boxes: BoxArray): Float64Array {
  const n = checkBoxes('boxAreas', boxes);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = Math.max(0, boxes[i * 4 + 2] - boxes[i * 4]) * Math.max(0, boxes[i * 4 + 3] - boxes[i * 4 + 1]);
  }
  return out;
}

/** IoU of two xyxy boxes given by offsets into their arrays (0 when the union is empty). */
export function iouAt(a: BoxArray, i: number, b: BoxArray, j: number): number {
  const w = Math.min(a[i + 2], b[j + 2]) - Math.max(a[i], b[j]);
  const h = Math.min(a[i + 3], b[j + 3]) - Math.max(a[i + 1], b[j + 1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const areaA = Math.max(0, a[i + 2] - a[i]) * Math.max(0, a[i + 3] - a[i + 1]);
  const areaB = Math.max(0, b[j + 2] - b[j]) * Math.max(0, b[j + 3] - b[j + 1]);
  const union = areaA + areaB - inter;
  return union > 0 ? inter / union : 0;
}

/** IoU matrix [N, M] (row-major) between two sets of xyxy boxes. */
export function boxIou(a: BoxArray, b: BoxArray): Float64Array {
  const n = checkBoxes('boxIou', a);
  const m = checkBoxes('boxIou', b);
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) out[i * m + j] = iouAt(a, i * 4, b, j * 4);
  return out;
}

/**
 * COCO's box IoU (pycocotools maskApi `bbIou`): boxes are xywh; for a crowd ground truth the
 * "union" is the detection's own area, so a detection inside a crowd region scores 1. Returns a
 * [D, G] row-major matrix. Same operation order as the C code, so results are bit-identical.
 */
export function cocoBoxIou(
  dts: readonly ArrayLike<number>[],
  gts: readonly ArrayLike<number>[],
  iscrowd: readonly number[],
): Float64Array {
  const D = dts.length,
    G = gts.length;
  const out = new Float64Array(D * G);
  for (let g = 0; g < G; g++) {
    const gb = gts[g];
    const ga = gb[2] * gb[3];
    const crowd = !!iscrowd[g];
    for (let d = 0; d < D; d++) {
      const db = dts[d];
      const w = Math.min(db[2] + db[0], gb[2] + gb[0]) - Math.max(db[0], gb[0]);
      if (w <= 0) continue;
      const h = Math.min(db[3] + db[1], gb[3] + gb[1]) - Math.max(db[1], gb[1]);
      if (h <= 0) continue;
      const i = w * h;
      const da = db[2] * db[3];
      out[d * G + g] = i / (crowd ? da : da + ga - i);
    }
  }
  return out;
}
