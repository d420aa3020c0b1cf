/**
 * Image requests → model input: decode (PNG, JPEG, WebP, GIF, …) and resize with sharp to the
 * model's preprocessing (height, width, channels), scale and normalize, lay out as NHWC or NCHW.
 * Decoding is bounded (pixel limit) and any undecodable or truncated image is a 400.
 */
import { decodeImage as decodePixels } from '../data/transforms.js';
import type { HostTensor } from '../engine/onnx/proto.js';
import type { ImagePreprocessing, TensorSignature } from '../registry/model-folder.js';
import { RequestError } from './tensors.js';

/** Largest decoded image accepted (pixels), so a small file claiming huge dimensions is refused. */
export const MAX_INPUT_PIXELS = 40_000_000;

/**
 * The model's image preprocessing: from config.json, or — when the config has none — inferred for a
 * single float32 input shaped [batch, H, W, 1|3] or [batch, H, W] (pixels scaled to 0..1).
 */
export function imagePreprocessing(pre: unknown, input: TensorSignature): ImagePreprocessing | undefined {
  const p = pre as ImagePreprocessing | undefined;
  if (p && p.kind === 'image') return { ...p, layout: p.layout ?? inferLayout(input, p.channels) };
  if (p || input.dtype !== 'float32' || input.shape[0] !== null) return undefined;
  const [, h, w, c] = input.shape;
  const fixed = (d: number | null | undefined): d is number => typeof d === 'number' && d >= 4 && d <= 4096;
  if (input.shape.length === 4 && fixed(h) && fixed(w) && (c === 1 || c === 3)) return { kind: 'image', height: h, width: w, channels: c, scale: 1 / 255, layout: 'nhwc' };
  if (input.shape.length === 3 && fixed(h) && fixed(w)) return { kind: 'image', height: h, width: w, channels: 1, scale: 1 / 255, layout: 'nhw' };
  return undefined;
}

function inferLayout(input: TensorSignature, channels: number): 'nhwc' | 'nchw' | 'nhw' {
  const s = input.shape;
  if (s.length === 3 && channels === 1) return 'nhw';
  if (s.length === 4 && s[1] === channels && s[3] !== channels) return 'nchw';
  return 'nhwc';
}

/** Decodes one image into the model's pixel layout (without the batch axis). */
export async function decodeImage(bytes: Buffer, pre: ImagePreprocessing, field = 'image'): Promise<Float32Array> {
  if (bytes.length === 0) throw new RequestError(400, `${field}: empty image`);
  const { height, width, channels } = pre;
  if (channels !== 1 && channels !== 3 && channels !== 4) throw new RequestError(500, `${field}: the model's image preprocessing asks for ${channels} channels; expected 1, 3 or 4`);
  let pixels: Float32Array;
  try {
    const decoded = await decodePixels(bytes, { size: [height, width], channels, fit: 'fill', background: '#000000', maxPixels: MAX_INPUT_PIXELS, failOn: 'truncated' });
    pixels = decoded.data as Float32Array;
  } catch (e) {
    throw new RequestError(400, `${field}: could not decode the image (${(e as Error).message.split('\n')[0]})`);
  }
  const scale = pre.scale ?? 1 / 255;
  const out = new Float32Array(height * width * channels);
  const nchw = pre.layout === 'nchw';
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        let v = pixels[(y * width + x) * channels + c] * scale;
        if (pre.mean) v -= pre.mean[c] ?? 0;
        if (pre.std) v /= pre.std[c] ?? 1;
        out[nchw ? c * height * width + y * width + x : (y * width + x) * channels + c] = v;
      }
    }
  }
  return out;
}

/** Decodes several images into one batched input tensor. */
export async function imagesToTensor(images: { bytes: Buffer; field: string }[], pre: ImagePreprocessing): Promise<HostTensor> {
  const per = pre.height * pre.width * pre.channels;
  const data = new Float32Array(per * images.length);
  const decoded = await Promise.all(images.map((im) => decodeImage(im.bytes, pre, im.field)));
  decoded.forEach((d, i) => data.set(d, i * per));
  const shape =
    pre.layout === 'nchw' ? [images.length, pre.channels, pre.height, pre.width] : pre.layout === 'nhw' ? [images.length, pre.height, pre.width] : [images.length, pre.height, pre.width, pre.channels];
  return { dtype: 'float32', shape, data };
}

/** Decodes a base64 string or data URL. */
export function decodeBase64Image(value: unknown, field: string): Buffer {
  if (typeof value !== 'string') throw new RequestError(400, `${field}: expected a base64 string or data URL, received ${value === null ? 'null' : typeof value}`);
  const comma = value.startsWith('data:') ? value.indexOf(',') : -1;
  const b64 = comma >= 0 ? value.slice(comma + 1) : value;
  if (!/^[A-Za-z0-9+/=\s_-]*$/.test(b64)) throw new RequestError(400, `${field}: not valid base64`);
  return Buffer.from(b64, 'base64');
}
