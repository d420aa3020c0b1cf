/**
 * `lepton detect IMAGE --out annotated.png` and `lepton detect VIDEO --out annotated.mp4`: runs a
 * detector saved by `FcosDetector.save` (e.g. the one examples/detect-shapes.ts trains) on an
 * image file and draws the boxes, labels and scores, or on every frame of a video (through
 * ffmpeg), tracking the objects and drawing their track ids.
 */
import { existsSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { decodePixels } from '../data/image.js';
import { writeFileAtomic } from '../engine/files.js';
import { InferenceProgress } from '../train/progress.js';
import type { EvaluationReport } from '../registry/evaluation.js';
import {
  type CocoDataset,
  type CocoDetection,
  type Detection,
  FcosDetector,
  cocoResults,
  detectionReport,
  readCoco,
  type TrackVideoResult,
  type VideoInfo,
  drawDetections,
  isVideoPath,
  probeVideo,
  trackVideo,
} from '../vision/index.js';
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

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.gif', '.tif', '.tiff', '.avif', '.svg', '.bmp']);

/** A video by its extension; for an unknown extension, whatever ffprobe reads as more than one frame. */
export async function isVideoFile(path: string): Promise<boolean> {
  if (isVideoPath(path)) return true;
  if (IMAGE_EXTENSIONS.has(extname(path).toLowerCase()) || !existsSync(path)) return false;
  try {
    return (await probeVideo(path)).frames > 1;
  } catch {
    return false; // not something ffprobe reads (or no ffprobe): let the image decoder say what is wrong
  }
}

/** Checks the options shared by images and videos and loads the detector. */
async function loadDetector(opts: DetectOptions): Promise<FcosDetector> {
  const ref = resolveModelRef(opts.model);
  if (!existsSync(resolve(ref.dir, 'detector.json')))
    throw new CliError(
      `detect: '${opts.model}' is a model folder without detector.json (expected a detector saved by FcosDetector.save, e.g. by examples/detect-shapes.ts)`,
    );
  if (opts.out && !existsSync(dirname(resolve(opts.out))))
    throw new CliError(`detect: cannot write '${opts.out}': the folder '${dirname(opts.out)}' does not exist`);
  if (!(opts.score >= 0 && opts.score <= 1)) throw new CliError(`detect: --score must be in [0, 1], got ${opts.score}`);
  return FcosDetector.load(ref.dir);
}

export async function detectImage(image: string, opts: DetectOptions): Promise<DetectResult> {
  if (!existsSync(image)) throw new CliError(`detect: no image file '${image}'`);
  const detector = await loadDetector(opts);
  let pixels: Awaited<ReturnType<typeof decodePixels>>;
  try {
    pixels = await decodePixels(image, { channels: 3 });
  } catch (e) {
    throw new CliError(`detect: cannot decode '${image}': ${(e as Error).message}`);
  }
  const detections = (await detector.detect(pixels, { scoreThreshold: opts.score })).map((d) => ({
    ...d,
    className: detector.config.classNames[d.label],
  }));
  if (opts.out) {
    // Small images are drawn larger so the labels stay readable.
    const scale = opts.scale ?? Math.max(1, Math.min(4, Math.floor(512 / Math.max(pixels.width, pixels.height))));
    const png = await drawDetections(pixels, detections, { classNames: detector.config.classNames, scale });
    await writeFileAtomic(opts.out, png);
  }
  return { detections, width: pixels.width, height: pixels.height };
}

export interface EvaluateDetectorOptions {
  /** Evaluate only the first n images. */
  limit?: number;
  /** The confusion matrix's score threshold (default 0.25); COCO's AP uses every detection. */
  score?: number;
}

export interface DetectorEvaluation {
  images: number;
  /** COCO's 12 summary numbers (map, map50, map75, …, ar100, …). */
  metrics: Record<string, number>;
  report: EvaluationReport;
}

/** Detector class index → the COCO category id: by class name, else by position when the counts agree. */
function categoryIds(classNames: readonly string[], gt: CocoDataset, source: string): number[] {
  const byName = new Map(gt.categories.map((c) => [c.name, c.id]));
  if (classNames.every((n) => byName.has(n))) return classNames.map((n) => byName.get(n)!);
  const sorted = [...gt.categories].sort((a, b) => a.id - b.id);
  if (sorted.length === classNames.length) return sorted.map((c) => c.id);
  throw new CliError(
    `evaluate: the detector's classes (${classNames.join(', ')}) are not the categories of ${source} (${sorted.map((c) => c.name).join(', ')})`,
  );
}

/**
 * `lepton evaluate DETECTOR annotations.json`: runs the detector on every image of a COCO data set
 * (images in an `images/` folder beside the JSON, as writeSceneDataset writes them, or beside it)
 * and scores it with the pycocotools-exact evaluator; the report adds PR curves and the detection
 * confusion matrix for the studio.
 */
export async function evaluateDetector(
  model: string,
  annotations: string,
  opts: EvaluateDetectorOptions = {},
): Promise<DetectorEvaluation> {
  const detector = await loadDetector({ model, score: 0 });
  let gt: CocoDataset;
  try {
    gt = await readCoco(annotations);
  } catch (e) {
    throw new CliError(`evaluate: ${annotations}: ${(e as Error).message}`);
  }
  if (opts.limit !== undefined) {
    const keep = new Set(gt.images.slice(0, opts.limit).map((im) => im.id));
    gt = {
      ...gt,
      images: gt.images.filter((im) => keep.has(im.id)),
      annotations: gt.annotations.filter((a) => keep.has(a.image_id)),
    };
  }
  const score = opts.score ?? 0.25;
  if (!(score >= 0 && score <= 1)) throw new CliError(`evaluate: --score must be in [0, 1], got ${score}`);
  const ids = categoryIds(detector.config.classNames, gt, annotations);
  const root = dirname(resolve(annotations));
  const imagesDir = existsSync(join(root, 'images')) ? join(root, 'images') : root;
  const detections: CocoDetection[] = [];
  const batch = 16;
  for (let start = 0; start < gt.images.length; start += batch) {
    const images = gt.images.slice(start, start + batch);
    const pixels = await Promise.all(
      images.map((im) =>
        decodePixels(join(imagesDir, im.file_name), { channels: 3 }).catch((e: Error) => {
          throw new CliError(`evaluate: image ${im.id} '${join(imagesDir, im.file_name)}': ${e.message}`);
        }),
      ),
    );
    const found = await detector.detectBatch(pixels);
    images.forEach((im, i) => detections.push(...cocoResults(im.id, found[i], ids)));
  }
  const report = detectionReport(gt, detections, { scoreThreshold: score });
  return { images: gt.images.length, metrics: report.metrics, report };
}

export interface DetectVideoOptions extends DetectOptions {
  /** Print progress (a bar on a terminal) to stderr. */
  progress?: boolean;
}

export interface DetectVideoResult extends TrackVideoResult {
  out?: string;
}

/**
 * `lepton detect VIDEO [--out annotated.mp4]`: detects objects on every frame, links them into
 * tracks (lepton/vision's `trackVideo`) and draws boxes with track ids into a new video.
 * `--score` is the tracker's high score: detections at or above it start and continue tracks;
 * those down to a fifth of it only continue tracks (0.5 and 0.1 by default, ByteTrack's).
 */
export async function detectVideo(video: string, opts: DetectVideoOptions): Promise<DetectVideoResult> {
  if (!existsSync(video)) throw new CliError(`detect: no video file '${video}'`);
  const detector = await loadDetector(opts);
  let info: VideoInfo;
  try {
    info = await probeVideo(video);
  } catch (e) {
    throw new CliError(`detect: ${(e as Error).message}`);
  }
  const progress = opts.progress ? new InferenceProgress(1, info.frames || undefined) : undefined;
  let result: TrackVideoResult;
  try {
    result = await trackVideo(video, detector, {
      info,
      out: opts.out,
      scale: opts.scale,
      tracker: { highScore: opts.score, lowScore: opts.score / 5 },
      onFrame: (frame) => progress?.batch(frame.index, {}),
    });
  } catch (e) {
    throw new CliError(`detect: ${(e as Error).message}`);
  }
  progress?.end({});
  return { ...result, out: opts.out };
}
