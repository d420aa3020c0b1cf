/**
 * `lepton segment IMAGE --model M --out mask.png`: runs a segmentation model folder (per-pixel
 * logits [N, H, W, K], e.g. from examples/segment-shapes.ts) on an image of any size. The image is
 * decoded at full resolution and cut into windows of the model's input size (vision's
 * tiledSegment: overlapping windows, logits merged band by band, so a 4000×3000 photo runs in
 * bounded memory); writes the class map as an 8-bit grey PNG (pixel = class index), and optionally
 * an overlay picture and COCO RLE masks per class.
 */
import { writeFile } from 'node:fs/promises';
import { decodePixels, pixelsToInput } from '../data/image.js';
import { classMapToRle, drawSegmentation, tiledSegment } from '../vision/index.js';
import { CliError } from './output.js';
import { openLocalModel } from './predict.js';

export interface SegmentOptions {
  model: string;
  out: string;
  overlay?: string;
  rle?: string;
  overlap?: number;
  batch?: number;
}

/** Segments one image file; returns the pixel count of each class (for the summary line). */
export async function segmentImageFile(
  imagePath: string,
  options: SegmentOptions,
): Promise<{ width: number; height: number; counts: number[]; labels: string[]; tiles: number }> {
  const { model, done } = await openLocalModel(options.model);
  try {
    const pre = model.image;
    const out = model.signature.outputs[0];
    if (!pre)
      throw new CliError(
        `model '${model.name}' has no image input (its config.json has no image preprocessing and its input is not an image tensor)`,
      );
    if (out.shape.length !== 4 || typeof out.shape[3] !== 'number' || out.shape[1] !== pre.height)
      throw new CliError(
        `model '${model.name}' is not a segmentation model: its output is [${out.shape.map((d) => d ?? 'batch').join(', ')}], expected per-pixel scores [N, ${pre.height}, ${pre.width}, classes]`,
      );
    const K = out.shape[3];
    let image: Awaited<ReturnType<typeof decodePixels>>;
    try {
      image = await decodePixels(imagePath, { channels: pre.channels, background: pre.background });
    } catch (e) {
      throw new CliError((e as Error).message);
    }
    const inputName = model.signature.inputs[0].name;
    let tiles = 0;
    const classMap = await tiledSegment(
      image,
      async (windows) => {
        tiles += windows.length;
        const per = pre.height * pre.width * pre.channels;
        const bytes = new Uint8Array(per * windows.length);
        windows.forEach((w, i) => bytes.set(w.data, i * per));
        const outputs = await model.predict({ [inputName]: pixelsToInput(bytes, windows.length, pre) }, windows.length);
        return outputs[out.name].data as Float32Array;
      },
      {
        tileSize: [pre.height, pre.width],
        overlap: options.overlap,
        numClasses: K,
        batchSize: options.batch ?? 4,
      },
    );
    const sharp = (await import('sharp')).default;
    await sharp(Buffer.from(classMap), { raw: { width: image.width, height: image.height, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toFile(options.out);
    if (options.overlay) {
      const rgb =
        image.channels === 3
          ? image.data
          : (await decodePixels(imagePath, { channels: 3, background: pre.background })).data;
      await writeFile(
        options.overlay,
        await drawSegmentation({ data: rgb, width: image.width, height: image.height }, classMap, K),
      );
    }
    const counts = new Array<number>(K).fill(0);
    for (const c of classMap) counts[c]++;
    const labels = model.labels?.length === K ? model.labels : Array.from({ length: K }, (_, k) => String(k));
    if (options.rle) {
      const masks = classMapToRle(classMap, image.height, image.width, K).map((m) => ({
        ...m,
        label: labels[m.class],
      }));
      await writeFile(options.rle, `${JSON.stringify({ width: image.width, height: image.height, masks })}\n`);
    }
    return { width: image.width, height: image.height, counts, labels, tiles };
  } finally {
    await done();
  }
}
