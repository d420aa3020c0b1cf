/**
 * Host helpers between a segmentation model's logits and pictures: class maps (per-pixel argmax)
 * a translucent overlay of a class map on its image (PNG, through drawDetections), and a model as
 * the window segmenter of tiled inference.
 */
import { type ImagePreprocessing, type Tensor, fromHost, pixelsToInput } from '../../index.js';
import { type DrawOptions, drawDetections } from '../draw.js';
import type { CocoRle } from '../formats/coco-types.js';
import { encodeRle } from '../masks/rle.js';
import type { TileSegmenter } from '../tiling.js';

/** Per-pixel argmax of channels-last logits/probabilities [..., K] given as a flat array: class indices. */
export function argmaxClasses(scores: ArrayLike<number>, numClasses: number): Uint8Array {
  if (scores.length % numClasses !== 0)
    throw new Error(`argmaxClasses: ${scores.length} scores is not a multiple of ${numClasses} classes`);
  if (numClasses > 256) throw new Error(`argmaxClasses: at most 256 classes fit a Uint8Array, got ${numClasses}`);
  const out = new Uint8Array(scores.length / numClasses);
  for (let p = 0, o = 0; p < out.length; p++, o += numClasses) {
    let best = 0;
    for (let k = 1; k < numClasses; k++) if (scores[o + k] > scores[o + best]) best = k;
    out[p] = best;
  }
  return out;
}

/**
 * PNG of an RGB image (row-major H×W×3) with each non-background class of `classMap` (H×W class
 * indices; 0 = background unless `background` says otherwise) blended in its palette colour.
 * Colours follow `label = class - 1`, the scene generator's labels of its semantic maps.
 */
export function drawSegmentation(
  image: { data: Uint8Array; width: number; height: number },
  classMap: ArrayLike<number>,
  numClasses: number,
  options: DrawOptions & { background?: number } = {},
): Promise<Buffer> {
  const { background = 0, ...draw } = options;
  if (classMap.length !== image.width * image.height)
    throw new Error(
      `drawSegmentation: the class map has ${classMap.length} values; the image is ${image.width}x${image.height}`,
    );
  const items = [];
  for (let k = 0; k < numClasses; k++) {
    if (k === background) continue;
    const mask = new Uint8Array(classMap.length);
    let any = false;
    for (let p = 0; p < mask.length; p++)
      if (classMap[p] === k) {
        mask[p] = 1;
        any = true;
      }
    if (any) items.push({ label: k - 1, mask });
  }
  return drawDetections(image, items, draw);
}

/**
 * A `TileSegmenter` (for `tiledSegment`) running a segmentation model: the windows go through the
 * model's image preprocessing (data's `pixelsToInput`, as in serving) and one `predict` call.
 */
export function modelSegmenter(
  model: { predict(x: Tensor, options?: { batchSize?: number; verbose?: 0 }): Promise<Tensor> },
  preprocessing: ImagePreprocessing,
): TileSegmenter {
  return async (tiles) => {
    const per = preprocessing.height * preprocessing.width * preprocessing.channels;
    const bytes = new Uint8Array(per * tiles.length);
    tiles.forEach((t, i) => {
      if (t.data.length !== per)
        throw new Error(
          `modelSegmenter: a ${t.width}x${t.height}x${t.channels} tile does not fit the model's ${preprocessing.width}x${preprocessing.height}x${preprocessing.channels} input`,
        );
      bytes.set(t.data, i * per);
    });
    const out = await model.predict(fromHost(pixelsToInput(bytes, tiles.length, preprocessing)), {
      batchSize: tiles.length,
      verbose: 0,
    });
    return out.data as Float32Array;
  };
}

/** One class of a class map as a COCO RLE mask. */
export interface ClassRle {
  class: number;
  /** Pixels of the class. */
  area: number;
  segmentation: CocoRle;
}

/** COCO RLE masks (compressed counts) of the classes present in an H×W class map, background left out. */
export function classMapToRle(
  classMap: ArrayLike<number>,
  height: number,
  width: number,
  numClasses: number,
  background = 0,
): ClassRle[] {
  if (classMap.length !== height * width)
    throw new Error(`classMapToRle: the class map has ${classMap.length} values, expected ${height}x${width}`);
  const counts = new Array<number>(numClasses).fill(0);
  for (let p = 0; p < classMap.length; p++) counts[classMap[p]]++;
  const out: ClassRle[] = [];
  for (let k = 0; k < numClasses; k++) {
    if (k === background || !counts[k]) continue;
    const mask = new Uint8Array(classMap.length);
    for (let p = 0; p < mask.length; p++) if (classMap[p] === k) mask[p] = 1;
    out.push({ class: k, area: counts[k], segmentation: encodeRle(mask, height, width) });
  }
  return out;
}
