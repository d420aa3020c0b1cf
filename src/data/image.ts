/**
 * Image preprocessing, defined once for training data, evaluation and serving: decode (sharp:
 * PNG, JPEG, WebP, GIF, TIFF, AVIF; EXIF orientation applied; 16-bit scaled to 8-bit; alpha
 * composited onto a background), resize, centre-crop, scale/mean/std normalization and the model's
 * layout (NHWC, NCHW with the data really moved, or NHW). A model's `config.json` carries an
 * `ImagePreprocessing`; `lepton evaluate`, the server, `lepton predict` and `imageFolder` all turn
 * pixels into inputs through `pixelsToInput`, so they feed a model identical tensors.
 * This module imports only the engine's types: data, serve and cli may all import it.
 */
import type { HostTensor } from '../engine/onnx/proto.js';

/** How raw images become a model's input (stored in a model folder's config.json). */
export interface ImagePreprocessing {
  kind: 'image';
  /** Size of the model input. */
  height: number;
  width: number;
  /** 1 (grey), 3 (RGB) or 4 (RGBA). */
  channels: number;
  /** Pixel values (0..255) are multiplied by this first (default 1/255). */
  scale?: number;
  /** Per-channel (or one for all) values subtracted after scaling, then divided by `std`. */
  mean?: number[];
  std?: number[];
  /** 'nhwc' (default, Keras layout), 'nchw', or 'nhw' (greyscale without a channel axis); inferred from the input shape when absent. */
  layout?: 'nhwc' | 'nchw' | 'nhw';
  /** How a decoded image is fitted to `resize` (or to height × width): stretch ('fill', default), crop ('cover') or letterbox ('contain'). */
  fit?: 'fill' | 'cover' | 'contain';
  /** Resize to [h, w] first, then take the central height × width window (torchvision's Resize + CenterCrop). */
  resize?: [number, number];
  /** Colour transparent pixels are composited onto (default black). */
  background?: string;
}

/** The part of a tensor signature the inference of a preprocessing reads. */
export interface ImageInputSignature {
  shape: readonly (number | null)[];
  dtype: string;
}

export interface DecodePixelOptions {
  /** Resize to [height, width] while decoding (sharp's resampling). */
  size?: readonly [number, number];
  /** 1 (grey), 3 (RGB, default) or 4 (RGBA). */
  channels?: number;
  fit?: 'fill' | 'cover' | 'contain';
  /** Composite transparent pixels onto this colour instead of dropping the alpha channel. */
  background?: string;
  /** Refuse images with more pixels than this (a small file may claim huge dimensions). */
  maxPixels?: number;
  /** How damaged an image may be before decoding fails (sharp's failOn; default 'warning', the strictest). */
  failOn?: 'none' | 'truncated' | 'error' | 'warning';
}

/** 8-bit pixels, channels last ([height, width, channels]). */
export interface Pixels {
  data: Uint8Array;
  height: number;
  width: number;
  channels: number;
}

type Sharp = typeof import('sharp')['default'];
let sharpModule: Promise<Sharp> | undefined;
function loadSharp(): Promise<Sharp> {
  // loaded on first use, so importing Lepton does not load the native image library
  sharpModule ??= import('sharp').then((m) => m.default);
  return sharpModule;
}

function checkSize(what: string, size: readonly number[]): [number, number] {
  if (size.length !== 2 || !size.every((v) => Number.isInteger(v) && v > 0)) {
    throw new Error(`${what}: size must be [height, width] with positive integers, got [${size.join(', ')}]`);
  }
  return [size[0], size[1]];
}

/**
 * Decodes an image file or encoded bytes to 8-bit pixels [H, W, C]. EXIF orientation is applied
 * (a phone photo comes out upright), 16-bit images are scaled to 0..255, grey images are expanded
 * to RGB (and colour to grey) as `channels` asks.
 */
export async function decodePixels(input: string | Uint8Array, options: DecodePixelOptions = {}): Promise<Pixels> {
  const sharp = await loadSharp();
  const channels = options.channels ?? 3;
  if (channels !== 1 && channels !== 3 && channels !== 4)
    throw new Error(`decodeImage: channels must be 1, 3 or 4, got ${channels}`);
  const what = typeof input === 'string' ? input : `${input.length} bytes`;
  if (typeof input !== 'string' && input.length === 0)
    throw new Error('decodeImage: cannot decode 0 bytes: empty image');
  let pipeline = sharp(input, {
    failOn: options.failOn ?? 'warning',
    ...(options.maxPixels ? { limitInputPixels: options.maxPixels } : {}),
  }).rotate();
  if (options.background) pipeline = pipeline.flatten({ background: options.background });
  if (options.size) {
    const [h, w] = checkSize('decodeImage', options.size);
    pipeline = pipeline.resize({ width: w, height: h, fit: options.fit ?? 'fill' });
  }
  if (channels === 1) pipeline = pipeline.removeAlpha().toColourspace('b-w');
  else if (channels === 3) pipeline = pipeline.removeAlpha().toColourspace('srgb');
  else pipeline = pipeline.ensureAlpha().toColourspace('srgb');
  let result: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    result = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new Error(`decodeImage: cannot decode ${what}: ${(error as Error).message.split('\n')[0]}`);
  }
  const { data, info } = result;
  if (info.channels !== channels)
    throw new Error(`decodeImage: decoder produced ${info.channels} channels, expected ${channels}`);
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    height: info.height,
    width: info.width,
    channels,
  };
}

/**
 * The model's image preprocessing: from config.json, or — when the config has none — inferred for a
 * single float32 input shaped [batch, H, W, 1|3] or [batch, H, W] (pixels scaled to 0..1).
 */
export function imagePreprocessing(pre: unknown, input: ImageInputSignature): ImagePreprocessing | undefined {
  const p = pre as ImagePreprocessing | undefined;
  if (p && p.kind === 'image') return { ...p, layout: p.layout ?? inferLayout(input, p.channels) };
  if (p || input.dtype !== 'float32' || input.shape[0] !== null) return undefined;
  const [, h, w, c] = input.shape;
  const fixed = (d: number | null | undefined): d is number => typeof d === 'number' && d >= 4 && d <= 4096;
  if (input.shape.length === 4 && fixed(h) && fixed(w) && (c === 1 || c === 3))
    return { kind: 'image', height: h, width: w, channels: c, scale: 1 / 255, layout: 'nhwc' };
  if (input.shape.length === 3 && fixed(h) && fixed(w))
    return { kind: 'image', height: h, width: w, channels: 1, scale: 1 / 255, layout: 'nhw' };
  return undefined;
}

function inferLayout(input: ImageInputSignature, channels: number): 'nhwc' | 'nchw' | 'nhw' {
  const s = input.shape;
  if (s.length === 3 && channels === 1) return 'nhw';
  if (s.length === 4 && s[1] === channels && s[3] !== channels) return 'nchw';
  return 'nhwc';
}

/** The input shape for `n` images under `pre` (batch axis first). */
export function imageInputShape(pre: ImagePreprocessing, n: number): number[] {
  const { height: h, width: w, channels: c } = pre;
  return pre.layout === 'nchw' ? [n, c, h, w] : pre.layout === 'nhw' ? [n, h, w] : [n, h, w, c];
}

function perChannel(v: number[] | undefined, channels: number, name: string, fallback: number): number[] {
  if (v === undefined) return Array(channels).fill(fallback);
  if (v.length === 1) return Array(channels).fill(v[0]);
  if (v.length !== channels)
    throw new Error(`image preprocessing: ${name} has ${v.length} values but the model takes ${channels} channels`);
  return v;
}

/**
 * Pixel values (0..255, channels last: `n` images of [height, width, channels]) → the model's input
 * tensor: `(v * scale - mean[c]) / std[c]`, written in the model's layout (for 'nchw' the values
 * move: element (y, x, c) goes to c·H·W + y·W + x).
 */
export function pixelsToInput(pixels: ArrayLike<number>, n: number, pre: ImagePreprocessing): HostTensor {
  const { height: h, width: w, channels: c } = pre;
  const per = h * w * c;
  if (pixels.length !== n * per)
    throw new Error(
      `image preprocessing: ${pixels.length} pixel values for ${n} image(s) of ${h}×${w}×${c} (${n * per} expected)`,
    );
  const scale = pre.scale ?? 1 / 255;
  const mean = perChannel(pre.mean, c, 'mean', 0);
  const std = perChannel(pre.std, c, 'std', 1);
  if (std.some((s) => s === 0)) throw new Error('image preprocessing: std must not contain 0');
  const out = new Float32Array(n * per);
  const nchw = pre.layout === 'nchw';
  const plane = h * w;
  for (let i = 0; i < n; i++) {
    const base = i * per;
    for (let p = 0; p < plane; p++) {
      for (let ch = 0; ch < c; ch++) {
        const v = (pixels[base + p * c + ch] * scale - mean[ch]) / std[ch];
        out[base + (nchw ? ch * plane + p : p * c + ch)] = v;
      }
    }
  }
  return { dtype: 'float32', shape: imageInputShape(pre, n), data: out };
}

/** Options for decoding untrusted images (the server's limits). */
export interface PreprocessOptions {
  maxPixels?: number;
  failOn?: DecodePixelOptions['failOn'];
}

/** Decodes one image to the model's pixel grid (size, crop, channels), before normalization. */
export async function imagePixels(
  input: string | Uint8Array,
  pre: ImagePreprocessing,
  options: PreprocessOptions = {},
): Promise<Pixels> {
  const { height, width, channels } = pre;
  const background = pre.background ?? '#000000';
  if (!pre.resize)
    return decodePixels(input, { ...options, size: [height, width], channels, fit: pre.fit ?? 'fill', background });
  const [rh, rw] = checkSize('image preprocessing: resize', pre.resize);
  if (rh < height || rw < width)
    throw new Error(`image preprocessing: resize [${rh}, ${rw}] is smaller than the crop ${height}×${width}`);
  const big = await decodePixels(input, { ...options, size: [rh, rw], channels, fit: pre.fit ?? 'fill', background });
  return centerCropPixels(big, height, width);
}

function centerCropPixels(p: Pixels, h: number, w: number): Pixels {
  const top = Math.floor((p.height - h) / 2);
  const left = Math.floor((p.width - w) / 2);
  const out = new Uint8Array(h * w * p.channels);
  for (let y = 0; y < h; y++)
    out.set(
      p.data.subarray(((top + y) * p.width + left) * p.channels, ((top + y) * p.width + left + w) * p.channels),
      y * w * p.channels,
    );
  return { data: out, height: h, width: w, channels: p.channels };
}

/** Decodes, resizes and normalizes images into one batched model input. */
export async function preprocessImages(
  inputs: (string | Uint8Array)[],
  pre: ImagePreprocessing,
  options: PreprocessOptions = {},
): Promise<HostTensor> {
  const decoded = await Promise.all(inputs.map((x) => imagePixels(x, pre, options)));
  const per = pre.height * pre.width * pre.channels;
  const all = new Uint8Array(per * decoded.length);
  decoded.forEach((d, i) => all.set(d.data, i * per));
  return pixelsToInput(all, decoded.length, pre);
}

/**
 * A batch of images already in memory as pixel values (a data set's test split: [N, H, W] or
 * [N, H, W, C], 0..255) → the model input. Images of another size go through the same sharp
 * resize as decoded files; images of the model's size are used as they are (as a lossless file of
 * them would be).
 */
export async function preprocessPixelBatch(
  x: { shape: readonly number[]; data: ArrayLike<number> },
  pre: ImagePreprocessing,
): Promise<HostTensor> {
  const [n, h, w] = x.shape;
  const c = x.shape.length === 4 ? x.shape[3] : x.shape.length === 3 ? 1 : -1;
  if (c < 0)
    throw new Error(`image preprocessing: expected images [N, H, W] or [N, H, W, C], got [${x.shape.join(', ')}]`);
  if (c !== pre.channels)
    throw new Error(`image preprocessing: the images have ${c} channel(s) but the model takes ${pre.channels}`);
  if (h === pre.height && w === pre.width && !pre.resize) return pixelsToInput(x.data, n, pre);
  const per = h * w * c;
  const bytes = new Uint8Array(n * per);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.max(0, Math.min(255, Math.round(x.data[i])));
  const sharp = await loadSharp();
  const frames: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    // Re-encode as lossless PNG so the resize runs exactly as it does for an uploaded file.
    const png = await sharp(bytes.subarray(i * per, (i + 1) * per), {
      raw: { width: w, height: h, channels: c as 1 | 3 | 4 },
    })
      .png()
      .toBuffer();
    frames.push((await imagePixels(png, pre)).data);
  }
  const outPer = pre.height * pre.width * pre.channels;
  const all = new Uint8Array(n * outPer);
  frames.forEach((f, i) => all.set(f, i * outPer));
  return pixelsToInput(all, n, pre);
}
