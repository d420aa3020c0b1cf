/**
 * Image transforms for data pipelines. They take float tensors in channels-last layout, one image
 * [H, W, C] or a batch [N, H, W, C] (random transforms then draw separately for every image), and
 * return new tensors. They are plain loops over typed arrays — pipeline preprocessing, not graph
 * ops — meant for `dataset.map(...)`. Random ones draw from the project PRNG (`generator`, default
 * the global one seeded by `setSeed`). Decoding files is image.ts's (sharp).
 */
import { Generator, globalGenerator } from '../engine/random.js';
import { shapeStr, numel } from '../engine/shape.js';
import { Tensor } from '../engine/tensor.js';
import { type DecodePixelOptions, decodePixels } from './image.js';

type FloatArray = Float32Array | Float64Array;

interface ImageDims {
  n: number;
  h: number;
  w: number;
  c: number;
  batched: boolean;
}

function dims(op: string, img: Tensor): ImageDims {
  if (img.dtype !== 'float32' && img.dtype !== 'float64') {
    throw new Error(
      `${op}: expected a float32 or float64 image, got ${img.dtype} ${shapeStr(img.shape)} (convert with toFloat first)`,
    );
  }
  if (img.rank !== 3 && img.rank !== 4) {
    throw new Error(`${op}: expected an image [H, W, C] or a batch [N, H, W, C], got shape ${shapeStr(img.shape)}`);
  }
  const s = img.shape as number[];
  return img.rank === 3
    ? { n: 1, h: s[0], w: s[1], c: s[2], batched: false }
    : { n: s[0], h: s[1], w: s[2], c: s[3], batched: true };
}

function output(img: Tensor, d: ImageDims, h: number, w: number): { data: FloatArray; tensor: Tensor } {
  const data = img.dtype === 'float64' ? new Float64Array(d.n * h * w * d.c) : new Float32Array(d.n * h * w * d.c);
  const shape = d.batched ? [d.n, h, w, d.c] : [h, w, d.c];
  return { data, tensor: new Tensor(shape, img.dtype, data) };
}

function checkSize(op: string, size: readonly number[]): [number, number] {
  if (size.length !== 2 || !size.every((v) => Number.isInteger(v) && v > 0)) {
    throw new Error(`${op}: size must be [height, width] with positive integers, got [${size.join(', ')}]`);
  }
  return [size[0], size[1]];
}

// ---------------------------------------------------------------------------------------------
// Conversions

/** Raw pixel bytes (e.g. from sharp or a dataset file) → float32 tensor of `shape`, times `scale`. */
export function toFloat(data: ArrayLike<number>, shape: readonly number[], options: { scale?: number } = {}): Tensor {
  const n = numel(shape);
  if (data.length !== n)
    throw new Error(`toFloat: got ${data.length} values for shape ${shapeStr(shape)} (${n} needed)`);
  const scale = options.scale ?? 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = data[i] * scale;
  return new Tensor(shape, 'float32', out);
}

/** `img * factor + offset` (Keras' Rescaling), e.g. `scale(img, 1 / 255)`. */
export function scale(img: Tensor, factor: number, offset = 0): Tensor {
  const d = dims('scale', img);
  const src = img.data as FloatArray;
  const { data, tensor } = output(img, d, d.h, d.w);
  for (let i = 0; i < src.length; i++) data[i] = src[i] * factor + offset;
  return tensor;
}

/** Per-channel `(img - mean) / std`; mean and std are numbers or one value per channel. */
export function normalize(img: Tensor, mean: number | readonly number[], std: number | readonly number[]): Tensor {
  const d = dims('normalize', img);
  const perChannel = (v: number | readonly number[], name: string): number[] => {
    const a = typeof v === 'number' ? Array(d.c).fill(v) : [...v];
    if (a.length !== d.c)
      throw new Error(
        `normalize: ${name} has ${a.length} values but the image has ${d.c} channels (shape ${shapeStr(img.shape)})`,
      );
    return a;
  };
  const m = perChannel(mean, 'mean');
  const s = perChannel(std, 'std');
  if (s.some((v) => v === 0)) throw new Error('normalize: std must not contain 0');
  const src = img.data as FloatArray;
  const { data, tensor } = output(img, d, d.h, d.w);
  const n = src.length;
  for (let ch = 0; ch < d.c; ch++) {
    const mean = m[ch];
    const inv = 1 / s[ch];
    for (let i = ch; i < n; i += d.c) data[i] = (src[i] - mean) * inv;
  }
  return tensor;
}

// ---------------------------------------------------------------------------------------------
// Geometry

/**
 * Writes the bilinear value at (y, x) of every channel of image `base` (an offset into src) to
 * out[o..o+c). Neighbours outside the image count as `fill`, or with 'edge' the point is clamped
 * into the image first.
 */
function sampleBilinear(
  src: FloatArray,
  base: number,
  d: ImageDims,
  y: number,
  x: number,
  fill: number | 'edge',
  out: FloatArray,
  o: number,
): void {
  const { h, w, c } = d;
  // Snap to the grid when within rounding error, so exact rotations (90°) and identities stay exact.
  const ry = Math.round(y);
  if (Math.abs(y - ry) < 1e-6) y = ry;
  const rx = Math.round(x);
  if (Math.abs(x - rx) < 1e-6) x = rx;
  if (fill === 'edge') {
    y = Math.min(Math.max(y, 0), h - 1);
    x = Math.min(Math.max(x, 0), w - 1);
  }
  const y0 = Math.floor(y);
  const x0 = Math.floor(x);
  const fy = y - y0;
  const fx = x - x0;
  const w00 = (1 - fy) * (1 - fx);
  const w01 = (1 - fy) * fx;
  const w10 = fy * (1 - fx);
  const w11 = fy * fx;
  // -1 marks a neighbour outside the image (or one with zero weight)
  const rowIn0 = y0 >= 0 && y0 < h;
  const rowIn1 = fy > 0 && y0 + 1 >= 0 && y0 + 1 < h;
  const colIn0 = x0 >= 0 && x0 < w;
  const colIn1 = fx > 0 && x0 + 1 >= 0 && x0 + 1 < w;
  const p00 = rowIn0 && colIn0 ? base + (y0 * w + x0) * c : -1;
  const p01 = rowIn0 && colIn1 ? base + (y0 * w + x0 + 1) * c : -1;
  const p10 = rowIn1 && colIn0 ? base + ((y0 + 1) * w + x0) * c : -1;
  const p11 = rowIn1 && colIn1 ? base + ((y0 + 1) * w + x0 + 1) * c : -1;
  const f = fill === 'edge' ? 0 : fill;
  // weight of the outside neighbours, which all take the fill value
  const outside =
    (p00 < 0 ? w00 : 0) +
    (p01 < 0 && fx > 0 ? w01 : 0) +
    (p10 < 0 && fy > 0 ? w10 : 0) +
    (p11 < 0 && fx > 0 && fy > 0 ? w11 : 0);
  const filled = outside * f;
  for (let ch = 0; ch < c; ch++) {
    let v = filled;
    if (p00 >= 0) v += w00 * src[p00 + ch];
    if (p01 >= 0) v += w01 * src[p01 + ch];
    if (p10 >= 0) v += w10 * src[p10 + ch];
    if (p11 >= 0) v += w11 * src[p11 + ch];
    out[o + ch] = v;
  }
}

/**
 * Resizes to [height, width] by bilinear interpolation with half-pixel centres and no
 * antialiasing (TensorFlow's `resize(..., antialias=False)`, PyTorch's `align_corners=False`), or
 * `method: 'nearest'`. For high-quality downscaling of files, resize while decoding (`decodeImage`).
 */
export function resize(
  img: Tensor,
  size: readonly number[],
  options: { method?: 'bilinear' | 'nearest' } = {},
): Tensor {
  const d = dims('resize', img);
  const [h, w] = checkSize('resize', size);
  const src = img.data as FloatArray;
  const { data, tensor } = output(img, d, h, w);
  const sy = d.h / h;
  const sx = d.w / w;
  const nearest = options.method === 'nearest';
  let o = 0;
  for (let n = 0; n < d.n; n++) {
    const base = n * d.h * d.w * d.c;
    for (let i = 0; i < h; i++) {
      const y = (i + 0.5) * sy - 0.5;
      for (let j = 0; j < w; j++) {
        const x = (j + 0.5) * sx - 0.5;
        if (nearest) {
          const yy = Math.min(d.h - 1, Math.floor((i + 0.5) * sy));
          const xx = Math.min(d.w - 1, Math.floor((j + 0.5) * sx));
          for (let ch = 0; ch < d.c; ch++) data[o + ch] = src[base + (yy * d.w + xx) * d.c + ch];
        } else {
          sampleBilinear(src, base, d, y, x, 'edge', data, o);
        }
        o += d.c;
      }
    }
  }
  return tensor;
}

/** The [height, width] window at (top, left); parts outside the image are `fill`. */
export function crop(
  img: Tensor,
  top: number,
  left: number,
  size: readonly number[],
  options: { fill?: number } = {},
): Tensor {
  const d = dims('crop', img);
  return cropEach(img, d, checkSize('crop', size), () => [top, left], options.fill ?? 0);
}

function cropEach(
  img: Tensor,
  d: ImageDims,
  [h, w]: [number, number],
  origin: (n: number) => [number, number],
  fill: number,
): Tensor {
  const src = img.data as FloatArray;
  const { data, tensor } = output(img, d, h, w);
  let o = 0;
  for (let n = 0; n < d.n; n++) {
    const [top, left] = origin(n);
    const base = n * d.h * d.w * d.c;
    for (let i = 0; i < h; i++) {
      const y = top + i;
      for (let j = 0; j < w; j++) {
        const x = left + j;
        const inside = y >= 0 && y < d.h && x >= 0 && x < d.w;
        const at = base + (y * d.w + x) * d.c;
        for (let ch = 0; ch < d.c; ch++) data[o++] = inside ? src[at + ch] : fill;
      }
    }
  }
  return tensor;
}

/** The central [height, width] window (rounded towards the top-left when the margin is odd). */
export function centerCrop(img: Tensor, size: readonly number[]): Tensor {
  const d = dims('centerCrop', img);
  const [h, w] = checkSize('centerCrop', size);
  if (h > d.h || w > d.w)
    throw new Error(`centerCrop: crop [${h}, ${w}] is larger than the image ${shapeStr(img.shape)}`);
  const top = Math.floor((d.h - h) / 2);
  const left = Math.floor((d.w - w) / 2);
  return cropEach(img, d, [h, w], () => [top, left], 0);
}

export interface RandomTransformOptions {
  generator?: Generator;
}

/**
 * A random [height, width] window, after padding every side by `padding` pixels of `fill`
 * (the classic CIFAR augmentation: `randomCrop(x, [32, 32], { padding: 4 })`).
 */
export function randomCrop(
  img: Tensor,
  size: readonly number[],
  options: RandomTransformOptions & { padding?: number; fill?: number } = {},
): Tensor {
  const d = dims('randomCrop', img);
  const [h, w] = checkSize('randomCrop', size);
  const pad = options.padding ?? 0;
  if (h > d.h + 2 * pad || w > d.w + 2 * pad) {
    throw new Error(`randomCrop: crop [${h}, ${w}] is larger than the image ${shapeStr(img.shape)} padded by ${pad}`);
  }
  const g = options.generator ?? globalGenerator;
  return cropEach(
    img,
    d,
    [h, w],
    () => [g.int(0, d.h + 2 * pad - h + 1) - pad, g.int(0, d.w + 2 * pad - w + 1) - pad],
    options.fill ?? 0,
  );
}

/** Mirrors left–right (`axis: 'horizontal'`, default) or top–bottom (`'vertical'`). */
export function flip(img: Tensor, axis: 'horizontal' | 'vertical' = 'horizontal'): Tensor {
  const d = dims('flip', img);
  return flipEach(
    img,
    d,
    () => axis === 'horizontal',
    () => axis === 'vertical',
  );
}

function flipEach(
  img: Tensor,
  d: ImageDims,
  horizontal: (n: number) => boolean,
  vertical: (n: number) => boolean,
): Tensor {
  const src = img.data as FloatArray;
  const { data, tensor } = output(img, d, d.h, d.w);
  let o = 0;
  for (let n = 0; n < d.n; n++) {
    const base = n * d.h * d.w * d.c;
    const fh = horizontal(n);
    const fv = vertical(n);
    for (let i = 0; i < d.h; i++) {
      const y = fv ? d.h - 1 - i : i;
      for (let j = 0; j < d.w; j++) {
        const at = base + (y * d.w + (fh ? d.w - 1 - j : j)) * d.c;
        for (let ch = 0; ch < d.c; ch++) data[o++] = src[at + ch];
      }
    }
  }
  return tensor;
}

/** Flips each image with probability `probability` (default 0.5); horizontally unless `mode` says otherwise. */
export function randomFlip(
  img: Tensor,
  options: RandomTransformOptions & {
    mode?: 'horizontal' | 'vertical' | 'horizontal_and_vertical';
    probability?: number;
  } = {},
): Tensor {
  const d = dims('randomFlip', img);
  const g = options.generator ?? globalGenerator;
  const p = options.probability ?? 0.5;
  const mode = options.mode ?? 'horizontal';
  const draws = Array.from({ length: d.n }, () => ({
    h: mode !== 'vertical' && g.random() < p,
    v: mode !== 'horizontal' && g.random() < p,
  }));
  return flipEach(
    img,
    d,
    (n) => draws[n].h,
    (n) => draws[n].v,
  );
}

export interface RotateOptions {
  /** Value for pixels that come from outside the image (default 0) — or 'nearest' to repeat the edge. */
  fill?: number | 'nearest';
}

/** Rotates about the image centre by `degrees` (counter-clockwise for positive angles), bilinear. */
export function rotate(img: Tensor, degrees: number, options: RotateOptions = {}): Tensor {
  const d = dims('rotate', img);
  return rotateEach(img, d, () => degrees, options);
}

function rotateEach(img: Tensor, d: ImageDims, angle: (n: number) => number, options: RotateOptions): Tensor {
  const src = img.data as FloatArray;
  const fill = options.fill === 'nearest' ? 'edge' : (options.fill ?? 0);
  const { data, tensor } = output(img, d, d.h, d.w);
  const cy = (d.h - 1) / 2;
  const cx = (d.w - 1) / 2;
  let o = 0;
  for (let n = 0; n < d.n; n++) {
    const theta = (angle(n) * Math.PI) / 180;
    const cos = Math.cos(theta);
    const sin = Math.sin(theta);
    const base = n * d.h * d.w * d.c;
    for (let i = 0; i < d.h; i++) {
      const dy = i - cy;
      for (let j = 0; j < d.w; j++) {
        const dx = j - cx;
        // inverse rotation (y points down, so counter-clockwise on screen): where this pixel came from
        const x = cx + dx * cos - dy * sin;
        const y = cy + dx * sin + dy * cos;
        sampleBilinear(src, base, d, y, x, fill, data, o);
        o += d.c;
      }
    }
  }
  return tensor;
}

/**
 * Rotates each image by an angle drawn uniformly from [-degrees, degrees] (or from [min, max]);
 * positive is counter-clockwise, bilinear interpolation.
 */
export function randomRotation(
  img: Tensor,
  degrees: number | readonly [number, number],
  options: RandomTransformOptions & RotateOptions = {},
): Tensor {
  const d = dims('randomRotation', img);
  const [lo, hi] = typeof degrees === 'number' ? [-Math.abs(degrees), Math.abs(degrees)] : degrees;
  if (!(hi >= lo)) throw new Error(`randomRotation: degree range [${lo}, ${hi}] is empty`);
  const g = options.generator ?? globalGenerator;
  const angles = Array.from({ length: d.n }, () => lo + (hi - lo) * g.random());
  return rotateEach(img, d, (n) => angles[n], options);
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** decodePixels' options (size, fit, background, limits: see image.ts), plus scaling to 0..1. */
export interface DecodeOptions extends DecodePixelOptions {
  /** 1 (grey), 3 (RGB, default) or 4 (RGBA). */
  channels?: 1 | 3 | 4;
  /** Scale pixels to [0, 1] (default: 0–255 as float32). */
  normalize?: boolean;
}

/** Decodes an image file or encoded bytes (PNG, JPEG, WebP, GIF, TIFF, AVIF) to float32 [H, W, C] (EXIF orientation applied). */
export async function decodeImage(input: string | Uint8Array, options: DecodeOptions = {}): Promise<Tensor> {
  const px = await decodePixels(input, options);
  return toFloat(px.data, [px.height, px.width, px.channels], { scale: options.normalize ? 1 / 255 : 1 });
}
