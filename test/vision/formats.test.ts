/** COCO JSON and YOLO folders: round trips, hand-checked label lines and clear errors on bad data. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCoco, readYolo, validateCoco, writeCoco, writeYolo, type CocoDataset } from '../../src/vision/index.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lepton-vision-formats-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const png = (path: string, width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: { r: 40, g: 80, b: 120 } } })
    .png()
    .toFile(path);

const sample = (): CocoDataset => ({
  images: [
    { id: 1, file_name: 'a.png', width: 200, height: 100 },
    { id: 2, file_name: 'b.png', width: 64, height: 48 },
  ],
  categories: [
    { id: 1, name: 'circle' },
    { id: 2, name: 'square' },
  ],
  annotations: [
    { id: 1, image_id: 1, category_id: 2, bbox: [20, 10, 50, 40], area: 2000, iscrowd: 0 },
    { id: 2, image_id: 1, category_id: 1, bbox: [100.5, 0, 99.5, 100], area: 9950, iscrowd: 0 },
    { id: 3, image_id: 1, category_id: 1, bbox: [0, 60, 30, 30], area: 900, iscrowd: 1 },
  ],
});

describe('COCO JSON', () => {
  it('round-trips through writeCoco/readCoco', async () => {
    const path = join(dir, 'ann.json');
    await writeCoco(path, sample());
    expect(await readCoco(path)).toEqual(sample());
  });

  it('names the bad annotation: outside, degenerate, unknown ids, duplicates, missing arrays and files', async () => {
    const bad = (f: (d: CocoDataset) => void) => {
      const d = sample();
      f(d);
      return () => validateCoco(d);
    };
    expect(bad((d) => (d.annotations[0].bbox = [180, 10, 50, 40]))).toThrow(
      /annotation 1: box \[180, 10, 50, 40\].*outside image 'a.png' of size 200x100/,
    );
    expect(bad((d) => (d.annotations[0].bbox = [20, 10, 0, 40]))).toThrow(/annotation 1.*degenerate box/);
    expect(bad((d) => (d.annotations[0].image_id = 9))).toThrow(/annotation 1 refers to image_id 9/);
    expect(bad((d) => (d.annotations[0].category_id = 9))).toThrow(/category_id 9/);
    expect(bad((d) => (d.annotations[1].id = 1))).toThrow(/annotation 1 appears twice/);
    expect(bad((d) => delete (d as Partial<CocoDataset>).annotations)).toThrow(/missing the 'annotations' array/);
    const clipped = validateCoco(
      { ...sample(), annotations: [{ ...sample().annotations[0], bbox: [180, -5, 50, 40] }] },
      { outside: 'clip' },
    );
    expect(clipped.annotations[0].bbox).toEqual([180, 0, 20, 35]);
    await expect(readCoco(join(dir, 'nope.json'))).rejects.toThrow(/cannot read .*nope.json/);
    expect(() => validateCoco(sample(), { imagesDir: dir })).toThrow(/2 image file\(s\) missing .*a.png, b.png/);
  });

  it('an image without annotations is valid (a negative example)', () => {
    const d = sample();
    d.annotations = [];
    expect(validateCoco(d).annotations).toEqual([]);
  });
});

describe('YOLO folders', () => {
  it('COCO -> YOLO: hand-checked label lines, data.yaml, copied images; YOLO -> COCO recovers the boxes', async () => {
    const src = join(dir, 'src');
    mkdirSync(src, { recursive: true });
    await png(join(src, 'a.png'), 200, 100);
    await png(join(src, 'b.png'), 64, 48);
    const root = join(dir, 'yolo');
    const res = await writeYolo(root, sample(), { split: 'train', imagesDir: src });
    expect(res).toEqual({ images: 2, labels: 2, droppedCrowd: 1 });
    // [20,10,50,40] in 200x100: centre (45, 30) -> 0.225 0.3, size 0.25 0.4; category 2 -> class 1.
    expect(readFileSync(join(root, 'labels/train/a.txt'), 'utf8')).toBe(
      '1 0.225 0.3 0.25 0.4\n0 0.75125 0.5 0.4975 1\n',
    );
    expect(readFileSync(join(root, 'labels/train/b.txt'), 'utf8')).toBe('');
    expect(readFileSync(join(root, 'data.yaml'), 'utf8')).toMatch(
      /train: images\/train[\s\S]*names:\s+"?0"?: circle\s+"?1"?: square/,
    );
    const back = await readYolo(root, { split: 'train' });
    expect(back.categories).toEqual(sample().categories);
    expect(back.images).toEqual(sample().images);
    const want = sample().annotations.filter((a) => !a.iscrowd);
    expect(back.annotations.length).toBe(want.length);
    back.annotations.forEach((a, i) => {
      expect(a.category_id).toBe(want[i].category_id);
      a.bbox.forEach((v, k) => expect(v).toBeCloseTo(want[i].bbox[k], 9));
    });
  });

  it('clear errors for bad label lines and label files without images', async () => {
    const root = join(dir, 'bad');
    mkdirSync(join(root, 'images/val'), { recursive: true });
    mkdirSync(join(root, 'labels/val'), { recursive: true });
    writeFileSync(join(root, 'data.yaml'), 'names: [a, b]\n');
    await png(join(root, 'images/val/x.png'), 10, 10);
    const label = (text: string) => writeFileSync(join(root, 'labels/val/x.txt'), text);
    label('0 0.9 0.5 0.4 0.2\n');
    await expect(readYolo(root, { split: 'val' })).rejects.toThrow(/x.txt:1: box .* reaches outside the image/);
    label('1 0.5 0.5 0 0.2\n');
    await expect(readYolo(root, { split: 'val' })).rejects.toThrow(/x.txt:1: degenerate box/);
    label('\n2 0.5 0.5 0.1 0.1\n');
    await expect(readYolo(root, { split: 'val' })).rejects.toThrow(/x.txt:2: class 2 is not an index into the 2 names/);
    label('0 0.5 0.5 0.1\n');
    await expect(readYolo(root, { split: 'val' })).rejects.toThrow(/expected 'class cx cy w h'/);
    label('');
    expect((await readYolo(root, { split: 'val' })).annotations).toEqual([]);
    writeFileSync(join(root, 'labels/val/orphan.txt'), '0 0.5 0.5 0.1 0.1\n');
    await expect(readYolo(root, { split: 'val' })).rejects.toThrow(/orphan.txt has no image/);
    await expect(readYolo(join(dir, 'nothing'))).rejects.toThrow(/no data.yaml/);
  });
});
