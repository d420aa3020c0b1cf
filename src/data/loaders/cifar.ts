/**
 * CIFAR-10 and CIFAR-100 in their binary ("suitable for C programs") format, loaded like Keras'
 * `datasets.cifar10.load_data()`: images float32 NHWC [N, 32, 32, 3] (raw 0–255, or [0, 1] with
 * `normalize`), labels int32 [N]. Each record is the label byte(s) (CIFAR-100: coarse, fine)
 * followed by 3072 pixel bytes stored channel-planar: 1024 red, 1024 green, 1024 blue, each
 * row-major 32×32. Reads an extracted folder or the .tar.gz archive directly.
 */
import { withClassNames } from '../labels.js';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Tensor } from '../../engine/tensor.js';
import { type DataSpec, type LocateOptions, firstExisting, locate } from './locate.js';
import type { Split } from './mnist.js';
import { readTar } from './tar.js';

const SIDE = 32;
const PLANE = SIDE * SIDE;
const PIXELS = 3 * PLANE;

export interface CifarLoadOptions extends LocateOptions {
  /** Scale pixels to [0, 1] (default: raw 0–255 values as float32). */
  normalize?: boolean;
}

export interface Cifar100LoadOptions extends CifarLoadOptions {
  /** Which label to return: 'fine' (100 classes, default) or 'coarse' (20 superclasses). */
  labelMode?: 'fine' | 'coarse';
}

export interface CifarData {
  train: [images: Tensor, labels: Tensor];
  test: [images: Tensor, labels: Tensor];
  classNames: string[];
}

/**
 * Decodes concatenated CIFAR binary records into NHWC float32 pixels and int32 labels.
 * `labelBytes` is 1 for CIFAR-10 and 2 for CIFAR-100; `labelIndex` picks which of them is returned.
 */
export function parseCifarRecords(
  bytes: Uint8Array,
  options: { labelBytes: 1 | 2; labelIndex?: number; normalize?: boolean; source?: string },
): { images: Tensor; labels: Tensor } {
  const { labelBytes, labelIndex = labelBytes - 1 } = options;
  const recordSize = labelBytes + PIXELS;
  if (bytes.length % recordSize !== 0) {
    throw new Error(
      `parseCifarRecords: ${options.source ?? 'data'} has ${bytes.length} bytes, not a multiple of the ${recordSize}-byte record ` +
        `(${labelBytes} label byte(s) + 3072 pixels)`,
    );
  }
  const n = bytes.length / recordSize;
  const scale = options.normalize ? 1 / 255 : 1;
  const images = new Float32Array(n * PIXELS);
  const labels = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    const rec = r * recordSize;
    labels[r] = bytes[rec + labelIndex];
    const px = rec + labelBytes;
    const out = r * PIXELS;
    // planar (c, h, w) → interleaved (h, w, c)
    for (let i = 0; i < PLANE; i++) {
      const o = out + 3 * i;
      images[o] = bytes[px + i];
      images[o + 1] = bytes[px + PLANE + i];
      images[o + 2] = bytes[px + 2 * PLANE + i];
    }
  }
  if (scale !== 1) for (let i = 0, len = images.length; i < len; i++) images[i] *= scale;
  return { images: new Tensor([n, SIDE, SIDE, 3], 'float32', images), labels: new Tensor([n], 'int32', labels) };
}

type Source = { kind: 'dir'; dir: string } | { kind: 'archive'; path: string };

interface CifarVariant {
  title: string;
  cacheName: string;
  folder: string; // the folder inside the archive
  archive: string;
  md5: string;
  trainFiles: string[];
  testFiles: string[];
  labelBytes: 1 | 2;
}

const CIFAR10: CifarVariant = {
  title: 'CIFAR-10',
  cacheName: 'cifar10',
  folder: 'cifar-10-batches-bin',
  archive: 'cifar-10-binary.tar.gz',
  md5: 'c32a1d4ab5d03f1284b67883e8d87530',
  trainFiles: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
  testFiles: ['test_batch.bin'],
  labelBytes: 1,
};

const CIFAR100: CifarVariant = {
  title: 'CIFAR-100',
  cacheName: 'cifar100',
  folder: 'cifar-100-binary',
  archive: 'cifar-100-binary.tar.gz',
  md5: '03b5dce01913d631647c71ecec9e9cb8',
  trainFiles: ['train.bin'],
  testFiles: ['test.bin'],
  labelBytes: 2,
};

const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

function cifarSpec(v: CifarVariant): DataSpec<Source> {
  const hasAll = (dir: string): boolean => [...v.trainFiles, ...v.testFiles].every((f) => existsSync(join(dir, f)));
  const isArchive = (p: string): boolean => /\.(tar\.gz|tgz|tar)$/i.test(p);
  const url = `https://www.cs.toronto.edu/~kriz/${v.archive}`;
  return {
    title: v.title,
    cacheName: v.cacheName,
    findInDir: (dir) => {
      if (hasAll(dir)) return { kind: 'dir', dir };
      if (hasAll(join(dir, v.folder))) return { kind: 'dir', dir: join(dir, v.folder) };
      const archive = firstExisting(dir, [v.archive]);
      return archive ? { kind: 'archive', path: archive } : undefined;
    },
    findFile: (file) => (isArchive(file) ? { kind: 'archive', path: file } : undefined),
    downloads: [{ name: v.archive, url, md5: v.md5 }],
    howToGet:
      `To get ${v.title}: download ${url} (binary version, md5 ${v.md5}) and put it, or its extracted ${v.folder}/ folder, ` +
      `into ~/.cache/lepton/${v.cacheName}/ (or $LEPTON_DATA/${v.cacheName}/), or pass { path: "<the archive or the folder>" }.`,
  };
}

/** Reads the named files from a folder or an archive (matching archive members by file name). */
async function readMembers(source: Source, names: string[]): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  if (source.kind === 'dir') {
    await Promise.all(
      names.map(async (name) => {
        const p = join(source.dir, name);
        if (existsSync(p)) out.set(name, await readFile(p));
      }),
    );
    return out;
  }
  for (const entry of await readTar(source.path)) {
    const name = basename(entry.name);
    if (entry.type === 'file' && names.includes(name) && !out.has(name)) out.set(name, entry.data);
  }
  return out;
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

async function loadCifar(
  v: CifarVariant,
  options: CifarLoadOptions,
  labelIndex: number,
  namesFile: string | undefined,
): Promise<CifarData> {
  const source = await locate(cifarSpec(v), options);
  const wanted = [...v.trainFiles, ...v.testFiles, ...(namesFile ? [namesFile] : [])];
  const members = await readMembers(source, wanted);
  const where = source.kind === 'dir' ? source.dir : source.path;
  const split = (files: string[], name: Split): [Tensor, Tensor] => {
    const missing = files.filter((f) => !members.has(f));
    if (missing.length) throw new Error(`${v.title}: ${where} lacks ${missing.join(', ')}`);
    const { images, labels } = parseCifarRecords(concatBytes(files.map((f) => members.get(f)!)), {
      labelBytes: v.labelBytes,
      labelIndex,
      normalize: options.normalize,
      source: `${v.title} ${name} (${where})`,
    });
    return [images, labels];
  };
  const namesBytes = namesFile ? members.get(namesFile) : undefined;
  const classNames = namesBytes
    ? new TextDecoder()
        .decode(namesBytes)
        .split(/\r?\n/)
        .map((s) => s.trim())
        .filter((s) => s.length > 0)
    : undefined;
  return { train: split(v.trainFiles, 'train'), test: split(v.testFiles, 'test'), classNames: classNames ?? [] };
}

/** The label tensors carry the class names (fit records them, save writes them). */
function tagged(data: CifarData): CifarData {
  if (data.classNames.length > 0)
    for (const [, labels] of [data.train, data.test]) withClassNames(labels, data.classNames);
  return data;
}

export const cifar10 = {
  title: CIFAR10.title,
  classNames: CIFAR10_CLASSES as readonly string[],
  /** `{ train: [x, y], test: [x, y], classNames }` with x float32 [N, 32, 32, 3], y int32 [N]. */
  async loadData(options: CifarLoadOptions = {}): Promise<CifarData> {
    const data = await loadCifar(CIFAR10, options, 0, undefined);
    return tagged({ ...data, classNames: [...CIFAR10_CLASSES] });
  },
};

export const cifar100 = {
  title: CIFAR100.title,
  /** `{ train: [x, y], test: [x, y], classNames }`; labels are fine (0–99) or coarse (0–19). Class
   *  names come from the dataset's label-name files. */
  async loadData(options: Cifar100LoadOptions = {}): Promise<CifarData> {
    const coarse = options.labelMode === 'coarse';
    return tagged(
      await loadCifar(CIFAR100, options, coarse ? 0 : 1, coarse ? 'coarse_label_names.txt' : 'fine_label_names.txt'),
    );
  },
};
