/**
 * Tiled (sliced) inference for images larger than a model's input, SAHI-style: the image is cut
 * into overlapping windows of the model's size, each window runs through the model at full
 * resolution (small objects keep their pixels, which a downscaled pass would average away), and
 * the results are merged back:
 * - segmentation: per-pixel logits of overlapping windows are averaged with weights that ramp
 *   down towards window edges inside the image (pixels near an edge saw less context); the merge
 *   runs band by band, so memory is one band of logits (tile height × image width × classes) plus
 *   the class map, whatever the image height;
 * - detection: boxes are shifted to image coordinates, boxes cut by a window edge inside the image
 *   are dropped when a neighbouring window sees the whole object (the overlap must exceed the
 *   largest object), and duplicates from overlapping windows are merged by class-aware NMS.
 * Windows are processed a batch at a time, so at most `batchSize` windows are in memory at once.
 */
import { nms } from './boxes/nms.js';

/** A window of the image, in pixels: top-left corner and size (the size of every window is the tile size). */
export interface Tile {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** 8-bit pixels, channels last, row-major (the shape of data's `Pixels`). */
export interface TilePixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

export interface TileOptions {
  /** Window size [height, width] (or one number for squares), usually the model's input size. */
  tileSize: number | readonly [number, number];
  /** Pixels shared by neighbouring windows (default a quarter of the tile). */
  overlap?: number;
}

function tileDims(where: string, options: TileOptions): { th: number; tw: number; overlap: number } {
  const [th, tw] = typeof options.tileSize === 'number' ? [options.tileSize, options.tileSize] : options.tileSize;
  if (!(Number.isInteger(th) && Number.isInteger(tw) && th > 0 && tw > 0))
    throw new Error(`${where}: tileSize must be positive integers [height, width], got ${String(options.tileSize)}`);
  const overlap = options.overlap ?? Math.floor(Math.min(th, tw) / 4);
  if (!(Number.isInteger(overlap) && overlap >= 0 && overlap < Math.min(th, tw)))
    throw new Error(
      `${where}: overlap must be an integer in [0, ${Math.min(th, tw)}) for tiles ${th}x${tw}, got ${overlap}`,
    );
  return { th, tw, overlap };
}

/** Window starts along one axis: step tile − overlap, the last window flush with the far edge. */
function starts(size: number, tile: number, overlap: number): number[] {
  if (size <= tile) return [0];
  const out: number[] = [];
  const step = tile - overlap;
  for (let s = 0; s + tile < size; s += step) out.push(s);
  out.push(size - tile);
  return out;
}

/**
 * The windows covering a width × height image, row by row (top to bottom, left to right). Every
 * window has the tile size; an image smaller than a tile gets one window reaching past its edge
 * (cropTile pads it).
 */
export function tileGrid(width: number, height: number, options: TileOptions): Tile[] {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0))
    throw new Error(`tileGrid: image size must be positive integers, got ${width}x${height}`);
  const { th, tw, overlap } = tileDims('tileGrid', options);
  const tiles: Tile[] = [];
  for (const y of starts(height, th, overlap))
    for (const x of starts(width, tw, overlap)) tiles.push({ x, y, width: tw, height: th });
  return tiles;
}

/** Copies a window out of an image; pixels outside the image are `fill` (default 0). */
export function cropTile(image: TilePixels, tile: Tile, fill = 0): TilePixels {
  const { width: W, height: H, channels: C } = image;
  if (image.data.length !== W * H * C)
    throw new Error(`cropTile: expected ${W}x${H}x${C} = ${W * H * C} bytes, got ${image.data.length}`);
  const out = new Uint8Array(tile.width * tile.height * C);
  if (fill) out.fill(fill);
  const x0 = Math.max(0, tile.x),
    x1 = Math.min(W, tile.x + tile.width);
  for (let r = 0; r < tile.height; r++) {
    const y = tile.y + r;
    if (y < 0 || y >= H || x1 <= x0) continue;
    out.set(image.data.subarray((y * W + x0) * C, (y * W + x1) * C), (r * tile.width + (x0 - tile.x)) * C);
  }
  return { data: out, width: tile.width, height: tile.height, channels: C };
}

function checkImage(where: string, image: TilePixels): void {
  const { width: W, height: H, channels: C } = image;
  if (!(Number.isInteger(W) && Number.isInteger(H) && W > 0 && H > 0 && C > 0) || image.data.length !== W * H * C)
    throw new Error(`${where}: expected ${W}x${H}x${C} pixel bytes (${W * H * C}), got ${image.data.length}`);
}

// ---------------------------------------------------------------------------------------------
// Segmentation

/**
 * Scores a batch of windows: `tiles.length` windows of the tile size, returns their logits (or
 * probabilities), channels last, concatenated: tiles.length × height × width × numClasses values.
 */
export type TileSegmenter = (tiles: TilePixels[]) => Promise<ArrayLike<number>> | ArrayLike<number>;

export interface TiledSegmentOptions extends TileOptions {
  numClasses: number;
  /** Windows per call of the segmenter (default 4). */
  batchSize?: number;
  /**
   * How overlapping windows are weighted: 'ramp' (default) lowers the weight linearly to 1/(overlap+1)
   * over the last `overlap` pixels before a window edge that lies inside the image; 'mean' weighs all equally.
   */
  blend?: 'ramp' | 'mean';
}

/** Weight of position i in a window of `size` along one axis; `lowEdge`/`highEdge`: that edge is inside the image. */
function rampWeight(i: number, size: number, overlap: number, lowEdge: boolean, highEdge: boolean): number {
  let w = 1;
  if (overlap > 0) {
    if (lowEdge) w = Math.min(w, (i + 1) / (overlap + 1));
    if (highEdge) w = Math.min(w, (size - i) / (overlap + 1));
  }
  return w;
}

/**
 * Segments an image of any size with a model of a fixed input size: returns the class map
 * (H×W class indices, argmax of the merged scores; ties go to the lower class).
 */
export async function tiledSegment(
  image: TilePixels,
  segment: TileSegmenter,
  options: TiledSegmentOptions,
): Promise<Uint8Array> {
  checkImage('tiledSegment', image);
  const { th, tw, overlap } = tileDims('tiledSegment', options);
  const K = options.numClasses;
  if (!(Number.isInteger(K) && K >= 1 && K <= 256))
    throw new Error(`tiledSegment: numClasses must be an integer in [1, 256], got ${K}`);
  const batchSize = options.batchSize ?? 4;
  if (!(Number.isInteger(batchSize) && batchSize >= 1))
    throw new Error(`tiledSegment: batchSize must be a positive integer, got ${batchSize}`);
  const blend = options.blend ?? 'ramp';
  const { width: W, height: H } = image;
  const ys = starts(H, th, overlap),
    xs = starts(W, tw, overlap);
  const out = new Uint8Array(W * H);
  // One band of rows [bandTop, bandTop + th) of weighted scores and weights; rows above the next
  // band's top are final once a band is done, and move out to the class map.
  const rowsKept = Math.min(th, H);
  let scores = new Float32Array(rowsKept * W * K),
    weights = new Float32Array(rowsKept * W);
  let bandTop = 0;
  const finish = (from: number, to: number) => {
    for (let y = from; y < to; y++)
      for (let x = 0; x < W; x++) {
        const p = (y - bandTop) * W + x,
          o = p * K;
        let best = 0;
        for (let k = 1; k < K; k++) if (scores[o + k] > scores[o + best]) best = k;
        out[y * W + x] = weights[p] > 0 ? best : 0;
      }
  };
  for (let b = 0; b < ys.length; b++) {
    const y0 = ys[b];
    if (y0 !== bandTop) {
      // Slide the band down to y0: rows [bandTop, y0) are complete.
      finish(bandTop, y0);
      const shift = y0 - bandTop;
      const nextScores = new Float32Array(scores.length),
        nextWeights = new Float32Array(weights.length);
      nextScores.set(scores.subarray(shift * W * K));
      nextWeights.set(weights.subarray(shift * W));
      scores = nextScores;
      weights = nextWeights;
      bandTop = y0;
    }
    const band = xs.map((x) => ({ x, y: y0, width: tw, height: th }));
    for (let i = 0; i < band.length; i += batchSize) {
      const tiles = band.slice(i, i + batchSize);
      const result = await segment(tiles.map((t) => cropTile(image, t)));
      if (result.length !== tiles.length * th * tw * K)
        throw new Error(
          `tiledSegment: the segmenter returned ${result.length} scores for ${tiles.length} tile(s) of ${th}x${tw} and ${K} classes (expected ${tiles.length * th * tw * K})`,
        );
      tiles.forEach((t, j) => {
        const base = j * th * tw * K;
        for (let r = 0; r < th; r++) {
          const y = t.y + r;
          if (y >= H) break;
          const wy = blend === 'mean' ? 1 : rampWeight(r, th, overlap, t.y > 0, t.y + th < H);
          for (let c = 0; c < tw; c++) {
            const x = t.x + c;
            if (x >= W) break;
            const w = wy * (blend === 'mean' ? 1 : rampWeight(c, tw, overlap, t.x > 0, t.x + tw < W));
            const p = (y - bandTop) * W + x,
              src = base + (r * tw + c) * K;
            weights[p] += w;
            for (let k = 0; k < K; k++) scores[p * K + k] += w * result[src + k];
          }
        }
      });
    }
  }
  finish(bandTop, H);
  // Scores were summed with weights; the argmax of Σw·s equals that of Σw·s / Σw (weights > 0).
  return out;
}

// ---------------------------------------------------------------------------------------------
// Detection

/** One detection, xyxy in pixels (torchvision's `{boxes, labels, scores}` per box). */
export interface DetectedBox {
  box: [number, number, number, number];
  label: number;
  score: number;
}

/** Detects objects in one window (coordinates relative to the window). */
export type TileDetector = (tile: TilePixels, where: Tile) => Promise<DetectedBox[]> | DetectedBox[];

export interface TiledDetectOptions extends TileOptions {
  /** IoU above which NMS merges same-class boxes from overlapping windows (default 0.5). */
  iouThreshold?: number;
  scoreThreshold?: number;
  maxDetections?: number;
  /**
   * Drop boxes within this many pixels of a window edge that lies inside the image (default 1):
   * they are cut-off parts of objects a neighbouring window sees whole, provided the overlap is
   * larger than the objects. -1 keeps them (NMS alone merges the duplicates).
   */
  edgeMargin?: number;
}

/**
 * Detects objects in an image of any size with a detector of a fixed input size: windows one at
 * a time, boxes shifted to image coordinates (clipped to the image), cut-off boxes at inner window
 * edges dropped, then class-aware NMS. Returns detections by descending score.
 */
export async function tiledDetect(
  image: TilePixels,
  detect: TileDetector,
  options: TiledDetectOptions,
): Promise<DetectedBox[]> {
  checkImage('tiledDetect', image);
  const margin = options.edgeMargin ?? 1;
  const { width: W, height: H } = image;
  const found: DetectedBox[] = [];
  for (const tile of tileGrid(W, H, options)) {
    const dets = await detect(cropTile(image, tile), tile);
    for (const d of dets) {
      const [a, b, c, e] = d.box;
      if (margin >= 0) {
        const cut =
          (tile.x > 0 && a < margin) ||
          (tile.y > 0 && b < margin) ||
          (tile.x + tile.width < W && c > tile.width - margin) ||
          (tile.y + tile.height < H && e > tile.height - margin);
        if (cut) continue;
      }
      const box: [number, number, number, number] = [
        Math.max(0, Math.min(W, a + tile.x)),
        Math.max(0, Math.min(H, b + tile.y)),
        Math.max(0, Math.min(W, c + tile.x)),
        Math.max(0, Math.min(H, e + tile.y)),
      ];
      if (box[2] <= box[0] || box[3] <= box[1]) continue; // entirely in a window's padding
      found.push({ box, label: d.label, score: d.score });
    }
  }
  const keep = nms(
    found.flatMap((d) => d.box),
    found.map((d) => d.score),
    {
      iouThreshold: options.iouThreshold ?? 0.5,
      classes: found.map((d) => d.label),
      scoreThreshold: options.scoreThreshold,
      maxOutput: options.maxDetections,
    },
  );
  return Array.from(keep, (i) => found[i]);
}
