/**
 * `lepton detect IMAGE --out annotated.png`: runs a detector saved by `FcosDetector.save` (e.g. the
 * one examples/detect-shapes.ts trains) on an image file and draws the boxes, labels and scores.
 */
import { writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { decodePixels } from '../data/image.js';
import { type Detection, FcosDetector, drawDetections } from '../vision/index.js';
import { resolveModelRef } from './model-ref.js';
import { CliError } from './output.js';

export interface DetectOptions {
  model: string;
  out?: string;
  score: number;
  scale?: number;
}

export interface DetectResult {
  detections: (Detection & { className: string })[];
  width: number;
  height: number;
}

export async function detectImage(image: string, opts: DetectOptions): Promise<DetectResult> {
  if (!existsSync(image)) throw new CliError(`detect: no image file '${image}'`);
  const ref = resolveModelRef(opts.model);
  if (!existsSync(resolve(ref.dir, 'detector.json')))
    throw new CliError(
      `detect: '${opts.model}' is a model folder without detector.json (expected a detector saved by FcosDetector.save, e.g. by examples/detect-shapes.ts)`,
    );
  if (opts.out && !existsSync(dirname(resolve(opts.out))))
    throw new CliError(`detect: cannot write '${opts.out}': the folder '${dirname(opts.out)}' does not exist`);
  if (!(opts.score >= 0 && opts.score <= 1)) throw new CliError(`detect: --score must be in [0, 1], got ${opts.score}`);
  let pixels: Awaited<ReturnType<typeof decodePixels>>;
  try {
    pixels = await decodePixels(image, { channels: 3 });
  } catch (e) {
    throw new CliError(`detect: cannot decode '${image}': ${(e as Error).message}`);
  }
  const detector = await FcosDetector.load(ref.dir);
  const detections = (await detector.detect(pixels, { scoreThreshold: opts.score })).map((d) => ({
    ...d,
    className: detector.config.classNames[d.label],
  }));
  if (opts.out) {
    // Small images are drawn larger so the labels stay readable.
    const scale = opts.scale ?? Math.max(1, Math.min(4, Math.floor(512 / Math.max(pixels.width, pixels.height))));
    const png = await drawDetections(pixels, detections, { classNames: detector.config.classNames, scale });
    await writeFile(opts.out, png);
  }
  return { detections, width: pixels.width, height: pixels.height };
}
