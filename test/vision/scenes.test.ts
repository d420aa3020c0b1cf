/**
 * Synthetic scenes: deterministic per seed; masks, boxes and semantic maps agree exactly with the
 * painted pixels; the COCO folder round-trips (RLE, semantic PNGs); drawing puts the expected
 * colours where boxes and masks are.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import {
  PALETTE,
  SceneGenerator,
  decodeRle,
  drawDetections,
  loadSceneDigits,
  readCoco,
  renderDetections,
  rleArea,
  writeSceneDataset,
} from '../../src/vision/index.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('SceneGenerator', () => {
  it('is deterministic per seed and different across seeds', async () => {
    const digits = await loadSceneDigits('test');
    const a = new SceneGenerator({ digits }, 7).next();
    const b = new SceneGenerator({ digits }, 7).next();
    const c = new SceneGenerator({ digits }, 8).next();
    expect(a.image).toEqual(b.image);
    expect(a.objects.map((o) => o.box)).toEqual(b.objects.map((o) => o.box));
    expect(a.image).not.toEqual(c.image);
  });

  it('masks are the painted pixels: disjoint, one colour each (no noise), boxes tight, semantic consistent', async () => {
    const digits = await loadSceneDigits('test');
    const gen = new SceneGenerator(
      { digits, noise: 0, clutter: 0, minObjects: 3, maxObjects: 6, width: 96, height: 80, minSize: 10, maxSize: 40 },
      1,
    );
    const seen = new Set<string>();
    for (let s = 0; s < 25; s++) {
      const sc = gen.next();
      const W = sc.width;
      const owner = new Int32Array(W * sc.height);
      sc.objects.forEach((o, i) => {
        seen.add(o.className);
        let xs = W,
          ys = sc.height,
          xe = 0,
          ye = 0,
          area = 0;
        const colours = new Set<number>();
        for (let p = 0; p < o.mask.length; p++) {
          if (!o.mask[p]) continue;
          if (owner[p] !== 0) throw new Error(`pixel ${p} belongs to two objects`);
          owner[p] = i + 1;
          const x = p % W,
            y = Math.floor(p / W);
          [xs, ys, xe, ye] = [Math.min(xs, x), Math.min(ys, y), Math.max(xe, x + 1), Math.max(ye, y + 1)];
          area++;
          colours.add((sc.image[p * 3] << 16) | (sc.image[p * 3 + 1] << 8) | sc.image[p * 3 + 2]);
          if (sc.semantic[p] !== o.label + 1)
            throw new Error(`semantic ${sc.semantic[p]} at pixel ${p} inside a ${o.className}`);
        }
        expect(o.area).toBe(area);
        expect(o.box).toEqual([xs, ys, xe, ye]);
        expect(colours.size).toBe(1);
        expect(area).toBeGreaterThanOrEqual(7); // 60% of at least 12 pixels
      });
      expect(owner.every((id, p) => id !== 0 || sc.semantic[p] === 0)).toBe(true);
    }
    expect([...seen].sort()).toEqual(['circle', 'digit', 'frame', 'ring', 'square', 'triangle']);
  });

  it('clear errors for bad options', () => {
    expect(() => new SceneGenerator()).toThrow(/'digit' class needs MNIST digits/);
    expect(() => new SceneGenerator({ classes: ['circle'], minSize: 50, maxSize: 20 })).toThrow(/minSize <= maxSize/);
    expect(() => new SceneGenerator({ classes: ['blob' as 'circle'] })).toThrow(/unknown class 'blob'/);
  });
});

describe('writeSceneDataset and drawDetections', () => {
  it('writes a COCO folder whose RLE masks, boxes and semantic PNGs agree', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lepton-scenes-'));
    dirs.push(dir);
    const data = await writeSceneDataset(dir, { count: 4, seed: 3, width: 64, height: 48, minSize: 10, maxSize: 30 });
    const back = await readCoco(join(dir, 'annotations.json'), { imagesDir: join(dir, 'images') });
    expect(back).toEqual(data);
    expect(back.categories.map((c) => c.name)).toEqual(['circle', 'square', 'triangle', 'ring', 'frame', 'digit']);
    for (const im of back.images) {
      const meta = await sharp(join(dir, 'masks', im.file_name)).metadata();
      expect([meta.width, meta.height, meta.channels]).toEqual([64, 48, 1]); // single-channel PNG
      const sem = await sharp(join(dir, 'masks', im.file_name))
        .extractChannel(0)
        .raw()
        .toBuffer({ resolveWithObject: true });
      for (const a of back.annotations.filter((x) => x.image_id === im.id)) {
        const rle = a.segmentation as { size: [number, number]; counts: string };
        expect(rle.size).toEqual([48, 64]);
        expect(rleArea(rle)).toBe(a.area);
        const m = decodeRle(rle);
        expect(m.every((v, p) => !v || sem.data[p] === a.category_id)).toBe(true);
      }
    }
  });

  it('draws box outlines and blended masks in the class colour', async () => {
    const W = 40,
      H = 30;
    const data = new Uint8Array(W * H * 3).fill(100);
    const mask = new Uint8Array(W * H);
    mask[20 * W + 20] = 1;
    const png = await drawDetections({ data, width: W, height: H }, [{ box: [5, 10, 30, 28], label: 1, mask }], {
      lineWidth: 2,
      maskAlpha: 0.5,
    });
    const { data: out, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([W, H]);
    const px = (x: number, y: number) => [
      ...out.subarray((y * W + x) * info.channels, (y * W + x) * info.channels + 3),
    ];
    const [r, g, b] = PALETTE[1];
    expect(px(5, 20)).toEqual([r, g, b]); // left edge of the box
    expect(px(20, 20)).toEqual([
      Math.round(100 * 0.5 + r * 0.5),
      Math.round(100 * 0.5 + g * 0.5),
      Math.round(100 * 0.5 + b * 0.5),
    ]);
    expect(px(2, 2)).toEqual([100, 100, 100]);
    await expect(drawDetections({ data, width: 10, height: 10 }, [])).rejects.toThrow(/expected 10x10x3 RGB bytes/);
  });

  it('renderDetections: raw RGB at the scale, track ids pick the colour', async () => {
    const W = 40,
      H = 30;
    const data = new Uint8Array(W * H * 3).fill(100);
    const out = await renderDetections({ data, width: W, height: H }, [{ box: [5, 10, 30, 28], label: 1, id: 3 }], {
      lineWidth: 2,
      scale: 2,
    });
    expect([out.width, out.height, out.data.length]).toEqual([80, 60, 80 * 60 * 3]);
    const at = (2 * 20 * 80 + 2 * 5) * 3; // left edge of the box, scaled
    expect([...out.data.subarray(at, at + 3)]).toEqual([...PALETTE[3]]); // the id's colour, not the class's
    expect([...out.data.subarray(0, 3)]).toEqual([100, 100, 100]);
  });
});
