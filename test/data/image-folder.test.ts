import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { imageFolder } from '../../src/data/index.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { tempDir } from '../helpers/temp.js';

let root: string;
/** The raw RGB pixels written into each PNG, by file name. */
const pngPixels = new Map<string, Buffer>();
const JPEG_COLOUR = [200, 40, 90];

beforeAll(async () => {
  root = tempDir('lepton-images-');
  // cat: 3 PNGs (one in a nested folder); dog: 2 JPEGs of a solid colour; .hidden and notes.txt are ignored
  for (const dir of ['cat', 'cat/more', 'dog', '.hidden']) mkdirSync(join(root, dir), { recursive: true });
  for (const [k, name] of ['cat/a.png', 'cat/b.png', 'cat/more/c.png'].entries()) {
    const px = Buffer.from(Array.from({ length: 6 * 4 * 3 }, (_, i) => (i * 13 + k * 50) % 256));
    pngPixels.set(name, px);
    await sharp(px, { raw: { width: 4, height: 6, channels: 3 } })
      .png()
      .toFile(join(root, name));
  }
  const solid = Buffer.from(Array.from({ length: 6 * 4 }, () => JPEG_COLOUR).flat());
  for (const name of ['dog/x.jpg', 'dog/y.jpeg']) {
    await sharp(solid, { raw: { width: 4, height: 6, channels: 3 } })
      .jpeg({ quality: 95 })
      .toFile(join(root, name));
  }
  writeFileSync(join(root, 'dog', 'notes.txt'), 'not an image');
  writeFileSync(join(root, '.hidden', 'z.png'), 'x');
});

describe('imageFolder', () => {
  it('lists one class per subfolder (sorted), files recursively, and decodes lazily to [H, W, C] float32', async () => {
    const ds = imageFolder(root);
    expect(ds.classNames).toEqual(['cat', 'dog']);
    expect(ds.files.map((f) => [f.path.slice(root.length + 1), f.label])).toEqual([
      ['cat/a.png', 0],
      ['cat/b.png', 0],
      ['cat/more/c.png', 0],
      ['dog/x.jpg', 1],
      ['dog/y.jpeg', 1],
    ]);
    expect(ds.cardinality).toBe(5);
    const elements = await ds.toArray();
    elements.slice(0, 3).forEach(([x, y], i) => {
      expect(x.shape).toEqual([6, 4, 3]);
      expect(x.dtype).toBe('float32');
      expect(y.shape).toEqual([]);
      expect(y.item()).toBe(0);
      // PNG is lossless: exactly the pixels written, in HWC order
      expect(Array.from(x.data as ArrayLike<number>)).toEqual(
        Array.from(pngPixels.get(ds.files[i].path.slice(root.length + 1))!),
      );
    });
    for (const [x, y] of elements.slice(3)) {
      expect(y.item()).toBe(1);
      const d = x.data as Float32Array;
      for (let p = 0; p < 24; p++)
        for (let c = 0; c < 3; c++) expect(Math.abs(d[3 * p + c] - JPEG_COLOUR[c])).toBeLessThanOrEqual(3);
    }
  });

  it('resizes, normalizes, shuffles file names, batches and prefetches', async () => {
    const ds = imageFolder(root, { size: [8, 8], normalize: true, channels: 1 });
    const batches: [Tensor, Tensor][] = [];
    for await (const b of ds.shuffle(5, { seed: 2 }).batch(2).prefetch(2)) batches.push(b);
    expect(batches.map(([x]) => x.shape)).toEqual([
      [2, 8, 8, 1],
      [2, 8, 8, 1],
      [1, 8, 8, 1],
    ]);
    const labels = batches.flatMap(([, y]) => Array.from(y.data as Int32Array));
    expect([...labels].sort()).toEqual([0, 0, 0, 1, 1]);
    for (const [x] of batches) for (const v of x.data as Float32Array) expect(v >= 0 && v <= 1).toBe(true);
  });

  it('validationSplit gives disjoint training and validation subsets that cover every file', () => {
    const train = imageFolder(root, { validationSplit: 0.4, subset: 'training', seed: 3 });
    const valid = imageFolder(root, { validationSplit: 0.4, subset: 'validation', seed: 3 });
    expect(train.files).toHaveLength(3);
    expect(valid.files).toHaveLength(2);
    const all = [...train.files, ...valid.files].map((f) => f.path).sort();
    expect(all).toEqual(
      imageFolder(root)
        .files.map((f) => f.path)
        .sort(),
    );
    expect(() => imageFolder(root, { validationSplit: 0.4 })).toThrow(/subset 'training' or 'validation'/);
  });

  it('fails clearly for missing folders, unknown classes and undecodable files', async () => {
    expect(() => imageFolder(join(root, 'nope'))).toThrow(
      /is not a folder \(expected one subfolder of images per class/,
    );
    expect(() => imageFolder(root, { classNames: ['cat', 'bird'] })).toThrow(
      /class folder "bird" does not exist.*found: cat, dog/,
    );
    const bad = tempDir('lepton-bad-images-');
    mkdirSync(join(bad, 'a'));
    writeFileSync(join(bad, 'a', 'broken.png'), 'not a png');
    await expect(imageFolder(bad).toArray()).rejects.toThrow(/decodeImage: cannot decode .*broken\.png/);
  });
});
