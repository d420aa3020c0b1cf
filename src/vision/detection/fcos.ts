/**
 * FCOS-style anchor-free detection targets (Tian et al., 2019): every feature-map location of every
 * pyramid level is a point at the centre of its cell; a point is a positive for a ground-truth box
 * when it lies inside the box (or, with centre sampling, inside a radius·stride square around the
 * box centre, clipped to the box) and its largest distance to the box sides falls in the level's
 * size range. A point claimed by several boxes takes the smallest (then the first). Targets: the
 * class, the distances (left, top, right, bottom) to the box sides — divided by the level's stride
 * when `normalize` — and the centerness sqrt(min(l,r)/max(l,r) · min(t,b)/max(t,b)).
 *
 * The box coder converts between boxes and ltrb distances, on the host (targets) and as ops
 * (decoding predictions inside a graph, e.g. for a GIoU loss).
 */
import { add, concat, mul, split, sub, type Tensor } from '../../index.js';

export interface PyramidLevel {
  stride: number;
  height: number;
  width: number;
  /** Objects whose largest point-to-side distance is in (lo, hi] are assigned to this level. */
  range: [number, number];
}

/**
 * Levels for an image: feature sizes ceil(size / stride); default ranges split at 64, 128, 256, 512
 * as in FCOS (the first level starts at 0, the last is unbounded).
 */
export function pyramidLevels(
  imageHeight: number,
  imageWidth: number,
  strides: readonly number[] = [8, 16, 32],
  bounds?: readonly number[],
): PyramidLevel[] {
  const cuts = bounds ?? [64, 128, 256, 512].slice(0, strides.length - 1);
  if (cuts.length !== strides.length - 1)
    throw new Error(
      `pyramidLevels: ${strides.length} levels need ${strides.length - 1} size bounds, got ${cuts.length}`,
    );
  return strides.map((stride, i) => ({
    stride,
    height: Math.ceil(imageHeight / stride),
    width: Math.ceil(imageWidth / stride),
    range: [i === 0 ? 0 : cuts[i - 1], i === strides.length - 1 ? Infinity : cuts[i]] as [number, number],
  }));
}

/** Cell-centre points of all levels, level by level, row-major: [P*2] (x, y) and each point's stride. */
export function pyramidPoints(levels: readonly PyramidLevel[]): {
  points: Float32Array;
  strides: Float32Array;
  level: Int32Array;
} {
  const total = levels.reduce((s, l) => s + l.height * l.width, 0);
  const points = new Float32Array(total * 2),
    strides = new Float32Array(total),
    level = new Int32Array(total);
  let p = 0;
  levels.forEach((l, li) => {
    for (let y = 0; y < l.height; y++) {
      for (let x = 0; x < l.width; x++, p++) {
        points[p * 2] = (x + 0.5) * l.stride;
        points[p * 2 + 1] = (y + 0.5) * l.stride;
        strides[p] = l.stride;
        level[p] = li;
      }
    }
  });
  return { points, strides, level };
}

export interface FcosTargetOptions {
  /** Centre-sampling radius in strides (default 1.5, as FCOS' improved version); 0 = whole box. */
  centerRadius?: number;
  /** Divide ltrb targets by the level's stride (default true). */
  normalize?: boolean;
}

export interface FcosTargets {
  /** Class per point, -1 for background. */
  labels: Int32Array;
  /** Index of the assigned box per point, -1 for background. */
  gtIndex: Int32Array;
  /** ltrb per point [P*4] (zeros for background). */
  boxTargets: Float32Array;
  /** Centerness per point (0 for background). */
  centerness: Float32Array;
  numPositives: number;
}

/** Assigns ground-truth boxes (xyxy [G*4]) with labels [G] to the points of `levels`. */
export function assignFcosTargets(
  levels: readonly PyramidLevel[],
  boxes: ArrayLike<number>,
  labels: ArrayLike<number>,
  options: FcosTargetOptions = {},
): FcosTargets {
  const G = labels.length;
  if (boxes.length !== G * 4)
    throw new Error(`assignFcosTargets: expected ${G * 4} box coordinates (xyxy) for ${G} labels, got ${boxes.length}`);
  for (let g = 0; g < G; g++) {
    if (!(boxes[g * 4 + 2] > boxes[g * 4] && boxes[g * 4 + 3] > boxes[g * 4 + 1])) {
      throw new Error(
        `assignFcosTargets: box ${g} [${Array.from({ length: 4 }, (_, k) => boxes[g * 4 + k]).join(', ')}] is degenerate (need x2 > x1 and y2 > y1)`,
      );
    }
  }
  const radius = options.centerRadius ?? 1.5;
  const normalize = options.normalize ?? true;
  const { points, strides, level } = pyramidPoints(levels);
  const P = strides.length;
  const out: FcosTargets = {
    labels: new Int32Array(P).fill(-1),
    gtIndex: new Int32Array(P).fill(-1),
    boxTargets: new Float32Array(P * 4),
    centerness: new Float32Array(P),
    numPositives: 0,
  };
  for (let p = 0; p < P; p++) {
    const px = points[p * 2],
      py = points[p * 2 + 1],
      s = strides[p];
    const [lo, hi] = levels[level[p]].range;
    let best = -1,
      bestArea = Infinity;
    for (let g = 0; g < G; g++) {
      const x1 = boxes[g * 4],
        y1 = boxes[g * 4 + 1],
        x2 = boxes[g * 4 + 2],
        y2 = boxes[g * 4 + 3];
      const l = px - x1,
        t = py - y1,
        r = x2 - px,
        b = y2 - py;
      if (Math.min(l, t, r, b) <= 0) continue;
      if (radius > 0) {
        const cx = (x1 + x2) / 2,
          cy = (y1 + y2) / 2;
        const sx1 = Math.max(x1, cx - radius * s),
          sy1 = Math.max(y1, cy - radius * s);
        const sx2 = Math.min(x2, cx + radius * s),
          sy2 = Math.min(y2, cy + radius * s);
        if (!(px > sx1 && px < sx2 && py > sy1 && py < sy2)) continue;
      }
      const m = Math.max(l, t, r, b);
      if (!(m > lo && m <= hi)) continue;
      const area = (x2 - x1) * (y2 - y1);
      if (area < bestArea) [best, bestArea] = [g, area];
    }
    if (best < 0) continue;
    const x1 = boxes[best * 4],
      y1 = boxes[best * 4 + 1],
      x2 = boxes[best * 4 + 2],
      y2 = boxes[best * 4 + 3];
    const l = px - x1,
      t = py - y1,
      r = x2 - px,
      b = y2 - py;
    const k = normalize ? 1 / s : 1;
    out.boxTargets.set([l * k, t * k, r * k, b * k], p * 4);
    out.centerness[p] = Math.sqrt((Math.min(l, r) / Math.max(l, r)) * (Math.min(t, b) / Math.max(t, b)));
    out.labels[p] = labels[best];
    out.gtIndex[p] = best;
    out.numPositives++;
  }
  return out;
}

/** One-hot classification targets [P*C] for focal loss (background rows all zero). */
export function oneHotTargets(labels: ArrayLike<number>, numClasses: number): Float32Array {
  const out = new Float32Array(labels.length * numClasses);
  for (let p = 0; p < labels.length; p++) {
    const c = labels[p];
    if (c < 0) continue;
    if (!(Number.isInteger(c) && c < numClasses))
      throw new Error(`oneHotTargets: label ${c} at ${p} is not in [0, ${numClasses})`);
    out[p * numClasses + c] = 1;
  }
  return out;
}

/** Host box coder: xyxy boxes [N*4] → ltrb distances from points [N*2], divided by strides. */
export function encodeLtrb(
  points: ArrayLike<number>,
  boxes: ArrayLike<number>,
  strides?: ArrayLike<number>,
): Float32Array {
  const n = points.length / 2;
  if (boxes.length !== n * 4)
    throw new Error(`encodeLtrb: ${n} points need ${n * 4} box coordinates, got ${boxes.length}`);
  const out = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    const k = strides ? 1 / strides[i] : 1,
      px = points[i * 2],
      py = points[i * 2 + 1];
    out[i * 4] = (px - boxes[i * 4]) * k;
    out[i * 4 + 1] = (py - boxes[i * 4 + 1]) * k;
    out[i * 4 + 2] = (boxes[i * 4 + 2] - px) * k;
    out[i * 4 + 3] = (boxes[i * 4 + 3] - py) * k;
  }
  return out;
}

/** Host box coder: ltrb distances (times strides) from points → xyxy boxes. */
export function decodeLtrb(
  points: ArrayLike<number>,
  ltrb: ArrayLike<number>,
  strides?: ArrayLike<number>,
): Float32Array {
  const n = points.length / 2;
  if (ltrb.length !== n * 4) throw new Error(`decodeLtrb: ${n} points need ${n * 4} distances, got ${ltrb.length}`);
  const out = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    const k = strides ? strides[i] : 1,
      px = points[i * 2],
      py = points[i * 2 + 1];
    out[i * 4] = px - ltrb[i * 4] * k;
    out[i * 4 + 1] = py - ltrb[i * 4 + 1] * k;
    out[i * 4 + 2] = px + ltrb[i * 4 + 2] * k;
    out[i * 4 + 3] = py + ltrb[i * 4 + 3] * k;
  }
  return out;
}

/**
 * Box coder as ops: ltrb [..., P, 4] predictions, points [P, 2] and strides [P, 1] (tensors, same
 * float dtype) → xyxy boxes [..., P, 4]. Differentiable in ltrb.
 */
export function decodeLtrbOp(ltrb: Tensor, points: Tensor, strides?: Tensor): Tensor {
  if (ltrb.rank < 2 || ltrb.shape[ltrb.rank - 1] !== 4)
    throw new Error(`decodeLtrbOp: ltrb must be [..., P, 4], got ${ltrb.dtype} [${ltrb.shape.join(', ')}]`);
  if (points.rank !== 2 || points.shape[1] !== 2 || points.shape[0] !== ltrb.shape[ltrb.rank - 2]) {
    throw new Error(
      `decodeLtrbOp: points must be [P, 2] with P = ${ltrb.shape[ltrb.rank - 2]}, got [${points.shape.join(', ')}]`,
    );
  }
  const d = strides ? mul(ltrb, strides) : ltrb;
  const [lt, rb] = split(d, 2, -1);
  return concat([sub(points, lt), add(points, rb)], -1);
}
