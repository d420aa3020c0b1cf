/**
 * A folder with one subfolder of images per class (Keras' `image_dataset_from_directory`):
 * a Dataset of `[image, label]` with image float32 [H, W, C] and label an int32 scalar. Images are
 * decoded lazily inside `map`, so `prefetch()` overlaps decoding with training, and `shuffle()`
 * shuffles file names (cheap) rather than decoded images.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { Generator } from '../../engine/random.js';
import { Tensor } from '../../engine/tensor.js';
import { Dataset } from '../dataset.js';
import { type DecodeOptions, decodeImage } from '../transforms.js';
import { type ImagePreprocessing, imagePixels, pixelsToInput } from '../image.js';

export interface ImageFolderOptions extends DecodeOptions {
  /** File extensions to include (default png, jpg, jpeg, webp, gif, tif, tiff, avif). */
  extensions?: string[];
  /** Class folders to use, in label order (default: every subfolder, sorted by name). */
  classNames?: string[];
  /** Images decoded at once (default 2; decoding runs on libuv's thread pool). */
  parallel?: number;
  /** Hold out this fraction of the files (after a seeded shuffle) as a validation set; pick the part with `subset`. */
  validationSplit?: number;
  subset?: 'training' | 'validation';
  /** Seed of the shuffle that precedes the split (default 1337). Use the same seed for both subsets. */
  seed?: number;
  /**
   * A model's image preprocessing (size, crop, scale/mean/std, layout): each image becomes exactly the
   * input the server builds from the same file (data/image.ts). Replaces size/channels/fit/normalize.
   */
  preprocessing?: ImagePreprocessing;
}

export interface ImageFile {
  path: string;
  label: number;
}

export type ImageFolderDataset = Dataset<[Tensor, Tensor]> & {
  /** Class names by label index. */
  readonly classNames: string[];
  /** Every image file with its label, in dataset order. */
  readonly files: ImageFile[];
};

const DEFAULT_EXTENSIONS = ['png', 'jpg', 'jpeg', 'webp', 'gif', 'tif', 'tiff', 'avif'];

export function imageFolder(dir: string, options: ImageFolderOptions = {}): ImageFolderDataset {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new Error(
      `imageFolder: ${dir} is not a folder (expected one subfolder of images per class, e.g. ${join(dir, 'cat', '001.jpg')})`,
    );
  }
  const extensions = new Set((options.extensions ?? DEFAULT_EXTENSIONS).map((e) => e.replace(/^\./, '').toLowerCase()));
  const subfolders = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  const classNames = options.classNames ?? subfolders;
  for (const name of classNames) {
    if (!subfolders.includes(name))
      throw new Error(
        `imageFolder: class folder "${name}" does not exist in ${dir} (found: ${subfolders.join(', ') || 'none'})`,
      );
  }
  if (classNames.length === 0)
    throw new Error(`imageFolder: ${dir} has no subfolders; put each class's images in its own subfolder`);
  const files: ImageFile[] = [];
  classNames.forEach((name, label) => {
    for (const path of listImages(join(dir, name), extensions)) files.push({ path, label });
  });
  if (files.length === 0) throw new Error(`imageFolder: no images (${[...extensions].join(', ')}) under ${dir}`);
  if (options.validationSplit !== undefined) {
    const fraction = options.validationSplit;
    if (!(fraction > 0 && fraction < 1) || !options.subset) {
      throw new Error(
        `imageFolder: validationSplit must be in (0, 1) and come with subset 'training' or 'validation' (got ${fraction}, ${options.subset})`,
      );
    }
    new Generator(options.seed ?? 1337).shuffle(files);
    const nValidation = Math.round(files.length * fraction);
    const kept =
      options.subset === 'validation'
        ? files.slice(files.length - nValidation)
        : files.slice(0, files.length - nValidation);
    files.splice(0, files.length, ...kept);
  }
  const decodeOptions: DecodeOptions = {
    size: options.size,
    channels: options.channels,
    fit: options.fit,
    normalize: options.normalize,
  };
  const pre = options.preprocessing;
  const decode = async (path: string): Promise<Tensor> => {
    if (!pre) return decodeImage(path, decodeOptions);
    const t = pixelsToInput((await imagePixels(path, pre)).data, 1, pre);
    return new Tensor(t.shape.slice(1), 'float32', t.data as Float32Array);
  };
  const dataset = Dataset.fromArray(files).map(
    async ({ path, label }): Promise<[Tensor, Tensor]> => [
      await decode(path),
      new Tensor([], 'int32', Int32Array.of(label)),
    ],
    { parallel: options.parallel ?? 2 },
  );
  return Object.assign(dataset, { classNames: [...classNames], files });
}

/** Image files under `dir` (recursively), sorted by path. */
function listImages(dir: string, extensions: Set<string>): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    )) {
      if (e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (extensions.has(extname(e.name).slice(1).toLowerCase())) out.push(p);
    }
  };
  walk(dir);
  return out;
}
