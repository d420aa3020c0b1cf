/**
 * Image requests → model input through the one preprocessing module (src/data/image.ts), with the
 * server's limits: decoding is bounded (pixel limit), and any undecodable or truncated image is a
 * 400 naming the field. Also base64 / data-URL decoding for JSON bodies.
 */
import { type ImagePreprocessing, imagePixels, pixelsToInput } from '../data/image.js';
import type { HostTensor } from '../engine/onnx/proto.js';
import { RequestError } from './tensors.js';

export { imagePreprocessing } from '../data/image.js';

/** Largest decoded image accepted (pixels), so a small file claiming huge dimensions is refused. */
export const MAX_INPUT_PIXELS = 40_000_000;

async function pixelsOf(bytes: Buffer, pre: ImagePreprocessing, field: string): Promise<Uint8Array> {
  if (bytes.length === 0) throw new RequestError(400, `${field}: empty image`);
  if (pre.channels !== 1 && pre.channels !== 3 && pre.channels !== 4)
    throw new RequestError(
      500,
      `${field}: the model's image preprocessing asks for ${pre.channels} channels; expected 1, 3 or 4`,
    );
  try {
    return (await imagePixels(bytes, pre, { maxPixels: MAX_INPUT_PIXELS, failOn: 'truncated' })).data;
  } catch (e) {
    throw new RequestError(400, `${field}: could not decode the image (${(e as Error).message.split('\n')[0]})`);
  }
}

/** Decodes one image into the model's input layout (without the batch axis). */
export async function decodeImage(bytes: Buffer, pre: ImagePreprocessing, field = 'image'): Promise<Float32Array> {
  return pixelsToInput(await pixelsOf(bytes, pre, field), 1, pre).data as Float32Array;
}

/** Decodes several images into one batched input tensor. */
export async function imagesToTensor(
  images: { bytes: Buffer; field: string }[],
  pre: ImagePreprocessing,
): Promise<HostTensor> {
  const decoded = await Promise.all(images.map((im) => pixelsOf(im.bytes, pre, im.field)));
  const per = pre.height * pre.width * pre.channels;
  const all = new Uint8Array(per * decoded.length);
  decoded.forEach((d, i) => all.set(d, i * per));
  return pixelsToInput(all, decoded.length, pre);
}

/** Decodes a base64 string or data URL. */
export function decodeBase64Image(value: unknown, field: string): Buffer {
  if (typeof value !== 'string')
    throw new RequestError(
      400,
      `${field}: expected a base64 string or data URL, received ${value === null ? 'null' : typeof value}`,
    );
  const comma = value.startsWith('data:') ? value.indexOf(',') : -1;
  const b64 = comma >= 0 ? value.slice(comma + 1) : value;
  if (!/^[A-Za-z0-9+/=\s_-]*$/.test(b64)) throw new RequestError(400, `${field}: not valid base64`);
  return Buffer.from(b64, 'base64');
}
