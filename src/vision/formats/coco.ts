/**
 * Reading, validating and writing COCO JSON detection data sets. Validation happens on read and
 * on write so bad data stops at the door with the annotation, image and numbers named: unknown
 * image or category ids, duplicate ids, degenerate boxes, boxes outside their image, missing
 * image files.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../index.js';
import type { Detection } from '../detection/detector.js';
import type { CocoDataset, CocoDetection } from './coco-types.js';

export interface CocoValidateOptions {
  /** Folder holding the images: every `file_name` must exist in it. */
  imagesDir?: string;
  /** What to do with a box reaching outside its image: 'error' (default) or 'clip' it to the image. */
  outside?: 'error' | 'clip';
  /** Pixels a box may overhang before it counts as outside (default 0.5: rounding in exporters). */
  tolerance?: number;
}

const fmt = (box: readonly number[]) => `[${box.map((v) => +v.toFixed(3)).join(', ')}]`;

/**
 * Checks a data set's structure and every annotation; returns it (with boxes clipped when
 * `outside: 'clip'`). Errors name the offending annotation and what was expected.
 */
export function validateCoco(data: CocoDataset, options: CocoValidateOptions = {}, source = 'COCO data'): CocoDataset {
  for (const key of ['images', 'annotations', 'categories'] as const) {
    if (!Array.isArray((data as unknown as Record<string, unknown>)?.[key])) {
      throw new Error(
        `${source}: missing the '${key}' array (a COCO file needs images, annotations and categories; an image without objects simply has no annotations)`,
      );
    }
  }
  const tol = options.tolerance ?? 0.5;
  const images = new Map<number, CocoDataset['images'][number]>();
  for (const im of data.images) {
    if (images.has(im.id)) throw new Error(`${source}: image id ${im.id} appears twice`);
    if (!(im.width > 0 && im.height > 0))
      throw new Error(
        `${source}: image ${im.id} ('${im.file_name}') has size ${im.width}x${im.height}; expected positive width and height`,
      );
    if (typeof im.file_name !== 'string' || !im.file_name)
      throw new Error(`${source}: image ${im.id} has no file_name`);
    images.set(im.id, im);
  }
  if (options.imagesDir) {
    const missing = data.images.filter((im) => !existsSync(join(options.imagesDir!, im.file_name)));
    if (missing.length) {
      throw new Error(
        `${source}: ${missing.length} image file(s) missing from ${options.imagesDir}: ${missing
          .slice(0, 5)
          .map((m) => m.file_name)
          .join(', ')}${missing.length > 5 ? ', ...' : ''}`,
      );
    }
  }
  const categories = new Set<number>();
  for (const c of data.categories) {
    if (categories.has(c.id)) throw new Error(`${source}: category id ${c.id} appears twice`);
    categories.add(c.id);
  }
  const annIds = new Set<number>();
  const annotations = data.annotations.map((a) => {
    const where = `${source}: annotation ${a.id}`;
    if (annIds.has(a.id)) throw new Error(`${where} appears twice (annotation ids must be unique)`);
    annIds.add(a.id);
    const im = images.get(a.image_id);
    if (!im) throw new Error(`${where} refers to image_id ${a.image_id}, which is not in 'images'`);
    if (!categories.has(a.category_id))
      throw new Error(`${where} refers to category_id ${a.category_id}, which is not in 'categories'`);
    const b = a.bbox;
    if (!Array.isArray(b) || b.length !== 4 || !b.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw new Error(`${where}: bbox must be [x, y, width, height] of 4 finite numbers, got ${JSON.stringify(b)}`);
    }
    if (!(b[2] > 0 && b[3] > 0))
      throw new Error(
        `${where} (image '${im.file_name}'): degenerate box ${fmt(b)}; width and height must be positive`,
      );
    const outside = b[0] < -tol || b[1] < -tol || b[0] + b[2] > im.width + tol || b[1] + b[3] > im.height + tol;
    if (outside && options.outside !== 'clip') {
      throw new Error(
        `${where}: box ${fmt(b)} (x, y, w, h) reaches outside image '${im.file_name}' of size ${im.width}x${im.height} (pass outside: 'clip' to clip such boxes)`,
      );
    }
    if (options.outside === 'clip') {
      const x1 = Math.max(0, b[0]),
        y1 = Math.max(0, b[1]);
      const x2 = Math.min(im.width, b[0] + b[2]),
        y2 = Math.min(im.height, b[1] + b[3]);
      if (!(x2 > x1 && y2 > y1))
        throw new Error(
          `${where}: box ${fmt(b)} lies entirely outside image '${im.file_name}' (${im.width}x${im.height})`,
        );
      if (x1 !== b[0] || y1 !== b[1] || x2 !== b[0] + b[2] || y2 !== b[1] + b[3])
        return { ...a, bbox: [x1, y1, x2 - x1, y2 - y1] as [number, number, number, number] };
    }
    return a;
  });
  return { ...data, annotations };
}

/** Reads and validates a COCO JSON file. */
export async function readCoco(path: string, options: CocoValidateOptions = {}): Promise<CocoDataset> {
  let data: CocoDataset;
  try {
    data = JSON.parse(await readFile(path, 'utf8')) as CocoDataset;
  } catch (e) {
    throw new Error(`readCoco: cannot read ${path} as JSON: ${(e as Error).message}`);
  }
  return validateCoco(data, options, path);
}

/** Validates and writes a COCO JSON file atomically. */
export async function writeCoco(path: string, data: CocoDataset, options: CocoValidateOptions = {}): Promise<void> {
  const checked = validateCoco(data, options, `writeCoco(${path})`);
  await writeFileAtomic(path, JSON.stringify(checked));
}

/**
 * One image's detections ({box: xyxy, label, score}) in COCO's results format (bbox [x, y, width,
 * height]), as `evaluateCocoBoxes` takes them. `categoryIds[label]` gives the category id (default
 * label + 1, as the scene writer numbers its categories).
 */
export function cocoResults(
  imageId: number,
  detections: readonly Detection[],
  categoryIds?: readonly number[],
): CocoDetection[] {
  return detections.map((d) => ({
    image_id: imageId,
    category_id: categoryIds ? categoryIds[d.label] : d.label + 1,
    bbox: [d.box[0], d.box[1], d.box[2] - d.box[0], d.box[3] - d.box[1]],
    score: d.score,
  }));
}
