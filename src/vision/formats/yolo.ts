/**
 * YOLO (Ultralytics/darknet) detection folders, read into and written from the COCO data model:
 *
 *   root/data.yaml             names (list or {index: name}) and split folders
 *   root/images/<split>/a.png  images
 *   root/labels/<split>/a.txt  one line per object: `class cx cy w h`, normalised to [0, 1]
 *
 * An image without a label file (or with an empty one) has no objects. Category ids in the COCO
 * view are the YOLO class index + 1 (COCO ids start at 1); writing maps categories in ascending
 * id order to indices 0..K-1. YOLO has no crowd flag: crowd annotations are not written (the
 * count is returned). Image sizes come from the image headers (sharp).
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { writeFileAtomic } from '../../index.js';
import type { CocoAnnotation, CocoDataset } from './coco-types.js';
import { validateCoco } from './coco.js';

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.bmp', '.webp', '.tif', '.tiff', '.gif']);

async function imageSize(path: string): Promise<{ width: number; height: number }> {
  const sharp = (await import('sharp')).default;
  try {
    const m = await sharp(path).metadata();
    if (!m.width || !m.height) throw new Error('no dimensions in the header');
    // EXIF orientations 5-8 swap width and height once the image is shown upright.
    return (m.orientation ?? 1) >= 5 ? { width: m.height, height: m.width } : { width: m.width, height: m.height };
  } catch (e) {
    throw new Error(`readYolo: cannot read the size of image ${path}: ${(e as Error).message}`);
  }
}

/** Class names from data.yaml: a list, or a mapping from index to name. */
async function readNames(root: string): Promise<string[]> {
  for (const file of ['data.yaml', 'data.yml', 'dataset.yaml']) {
    const path = join(root, file);
    if (!existsSync(path)) continue;
    const doc = parseYaml(await readFile(path, 'utf8')) as { names?: string[] | Record<string, string> } | null;
    const names = doc?.names;
    if (Array.isArray(names)) return names.map(String);
    if (names && typeof names === 'object') {
      const entries = Object.entries(names).map(([k, v]) => [Number(k), String(v)] as const);
      const out: string[] = [];
      for (const [k, v] of entries) {
        if (!Number.isInteger(k) || k < 0) throw new Error(`readYolo: ${path}: names key '${k}' is not a class index`);
        out[k] = v;
      }
      for (let i = 0; i < out.length; i++)
        if (out[i] === undefined) throw new Error(`readYolo: ${path}: names has no entry for class ${i}`);
      return out;
    }
    throw new Error(`readYolo: ${path} has no 'names' (a list of class names, or {0: name, ...})`);
  }
  const classes = join(root, 'classes.txt'); // darknet-style
  if (existsSync(classes))
    return (await readFile(classes, 'utf8'))
      .split(/\r?\n/)
      .map((s) => s.trim())
      .filter(Boolean);
  throw new Error(`readYolo: ${root} has no data.yaml (with 'names') or classes.txt`);
}

export interface YoloReadOptions {
  /** Split folder under images/ and labels/ (default 'train'); '' for images/ and labels/ themselves. */
  split?: string;
}

/** Reads one split of a YOLO folder as a COCO data set (file_name relative to images/<split>). */
export async function readYolo(root: string, options: YoloReadOptions = {}): Promise<CocoDataset> {
  const split = options.split ?? 'train';
  const names = await readNames(root);
  const imagesDir = join(root, 'images', split);
  const labelsDir = join(root, 'labels', split);
  if (!existsSync(imagesDir)) throw new Error(`readYolo: no image folder ${imagesDir}`);
  const files = (await readdir(imagesDir)).filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase())).sort();
  const stems = new Map(files.map((f) => [basename(f, extname(f)), f]));
  if (existsSync(labelsDir)) {
    for (const l of (await readdir(labelsDir)).filter((f) => f.endsWith('.txt'))) {
      if (!stems.has(basename(l, '.txt')))
        throw new Error(`readYolo: label file ${join(labelsDir, l)} has no image in ${imagesDir}`);
    }
  }
  const data: CocoDataset = {
    images: [],
    annotations: [],
    categories: names.map((name, i) => ({ id: i + 1, name })),
  };
  let annId = 1;
  for (const [i, file] of files.entries()) {
    const { width, height } = await imageSize(join(imagesDir, file));
    const id = i + 1;
    data.images.push({ id, file_name: file, width, height });
    const labelPath = join(labelsDir, `${basename(file, extname(file))}.txt`);
    if (!existsSync(labelPath)) continue;
    const lines = (await readFile(labelPath, 'utf8')).split(/\r?\n/);
    lines.forEach((line, ln) => {
      if (!line.trim()) return;
      const where = `readYolo: ${labelPath}:${ln + 1}`;
      const f = line.trim().split(/\s+/).map(Number);
      if (f.length !== 5) {
        throw new Error(
          `${where}: expected 'class cx cy w h' (5 numbers), got ${f.length} fields${f.length > 5 ? ' (segmentation polygons are not supported)' : ''}`,
        );
      }
      const [c, cx, cy, w, h] = f;
      if (!Number.isInteger(c) || c < 0 || c >= names.length)
        throw new Error(`${where}: class ${line.split(/\s+/)[0]} is not an index into the ${names.length} names`);
      if (f.some((v) => !Number.isFinite(v))) throw new Error(`${where}: non-numeric value in '${line.trim()}'`);
      if (!(w > 0 && h > 0))
        throw new Error(`${where}: degenerate box (w ${w}, h ${h}); width and height must be positive`);
      const eps = 1e-6;
      if (cx - w / 2 < -eps || cy - h / 2 < -eps || cx + w / 2 > 1 + eps || cy + h / 2 > 1 + eps) {
        throw new Error(
          `${where}: box (cx ${cx}, cy ${cy}, w ${w}, h ${h}) reaches outside the image; YOLO coordinates are fractions of the image size in [0, 1]`,
        );
      }
      const bw = w * width,
        bh = h * height;
      const ann: CocoAnnotation = {
        id: annId++,
        image_id: id,
        category_id: c + 1,
        bbox: [cx * width - bw / 2, cy * height - bh / 2, bw, bh],
        area: bw * bh,
        iscrowd: 0,
      };
      data.annotations.push(ann);
    });
  }
  return data;
}

export interface YoloWriteOptions {
  split?: string;
  /** Copy the images from this folder (file_name relative to it) into images/<split>/. */
  imagesDir?: string;
}

const num = (v: number) => String(Number(v.toPrecision(8)));

/**
 * Writes a COCO data set as one split of a YOLO folder (labels, data.yaml, and the images when
 * `imagesDir` is given). Returns how many crowd annotations were left out.
 */
export async function writeYolo(
  root: string,
  data: CocoDataset,
  options: YoloWriteOptions = {},
): Promise<{ images: number; labels: number; droppedCrowd: number }> {
  const split = options.split ?? 'train';
  const checked = validateCoco(data, { imagesDir: options.imagesDir }, `writeYolo(${root})`);
  const cats = [...checked.categories].sort((a, b) => a.id - b.id);
  const index = new Map(cats.map((c, i) => [c.id, i]));
  const byImage = new Map<number, CocoAnnotation[]>();
  for (const a of checked.annotations)
    (byImage.get(a.image_id) ?? byImage.set(a.image_id, []).get(a.image_id)!).push(a);
  const imagesOut = join(root, 'images', split);
  const labelsOut = join(root, 'labels', split);
  await mkdir(imagesOut, { recursive: true });
  await mkdir(labelsOut, { recursive: true });
  const seen = new Set<string>();
  let labels = 0,
    droppedCrowd = 0;
  for (const im of checked.images) {
    const file = basename(im.file_name);
    const stem = basename(file, extname(file));
    if (seen.has(stem))
      throw new Error(`writeYolo: two images share the name '${stem}' (YOLO pairs images and labels by file name)`);
    seen.add(stem);
    if (options.imagesDir) await copyFile(join(options.imagesDir, im.file_name), join(imagesOut, file));
    const lines: string[] = [];
    for (const a of byImage.get(im.id) ?? []) {
      if (a.iscrowd) {
        droppedCrowd++;
        continue;
      }
      const [x, y, w, h] = a.bbox;
      lines.push(
        [
          index.get(a.category_id)!,
          num((x + w / 2) / im.width),
          num((y + h / 2) / im.height),
          num(w / im.width),
          num(h / im.height),
        ].join(' '),
      );
      labels++;
    }
    await writeFile(join(labelsOut, `${stem}.txt`), lines.length ? lines.join('\n') + '\n' : '');
  }
  const splits = existsSync(join(root, 'images'))
    ? (await readdir(join(root, 'images'), { withFileTypes: true }))
        .filter((d) => d.isDirectory())
        .map((d) => d.name)
        .sort()
    : [split];
  const yaml: Record<string, unknown> = { path: '.' };
  for (const s of splits) yaml[s] = `images/${s}`;
  yaml.names = Object.fromEntries(cats.map((c, i) => [i, c.name]));
  await writeFileAtomic(join(root, 'data.yaml'), stringifyYaml(yaml));
  return { images: checked.images.length, labels, droppedCrowd };
}
