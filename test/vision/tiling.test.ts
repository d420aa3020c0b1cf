/**
 * Tiled inference: the window grid and crops on hand cases; the segmentation merge against an
 * independent full-image float64 accumulation of the documented weights; and a 4000×3000 image
 * with small objects that a downscaled pass misses and the tiled passes find (deterministic
 * window 'models': a colour-threshold segmenter and a connected-component detector with a minimum
 * object size, like a real detector's smallest anchor), with the library's real merge logic.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { Generator, setSeed, tensor } from '../../src/index.js';
import {
  type DetectedBox,
  type TilePixels,
  argmaxClasses,
  boxIou,
  cropTile,
  modelSegmenter,
  tileGrid,
  tiledDetect,
  tiledSegment,
  unet,
} from '../../src/vision/index.js';

describe('tileGrid and cropTile', () => {
  it('covers the image with equal windows, the last flush with the edge', () => {
    const t = tileGrid(100, 50, { tileSize: [32, 40], overlap: 8 });
    // x: step 32 → 0, 32, then flush 60; y: step 24 → 0, then flush 18.
    expect(t.map((w) => [w.x, w.y])).toEqual([
      [0, 0],
      [32, 0],
      [60, 0],
      [0, 18],
      [32, 18],
      [60, 18],
    ]);
    expect(t.every((w) => w.width === 40 && w.height === 32)).toBe(true);
    expect(tileGrid(20, 10, { tileSize: 32 })).toEqual([{ x: 0, y: 0, width: 32, height: 32 }]);
    expect(() => tileGrid(10, 10, { tileSize: 8, overlap: 8 })).toThrow(/overlap must be an integer in \[0, 8\)/);
    expect(() => tileGrid(0, 10, { tileSize: 8 })).toThrow(/positive integers, got 0x10/);
  });

  it('crops windows and pads outside the image', () => {
    const image: TilePixels = { data: Uint8Array.from([1, 2, 3, 4, 5, 6]), width: 3, height: 2, channels: 1 };
    expect([...cropTile(image, { x: 1, y: 0, width: 2, height: 2 }).data]).toEqual([2, 3, 5, 6]);
    expect([...cropTile(image, { x: 2, y: 1, width: 2, height: 2 }, 9).data]).toEqual([6, 9, 9, 9]);
  });
});

describe('tiledSegment merge', () => {
  // Scores depend on the pixel and on its position inside the window, so overlapping windows disagree.
  const K = 3;
  const W = 100,
    H = 70,
    th = 32,
    tw = 40,
    overlap = 8;
  const g = new Generator(4);
  const data = Uint8Array.from({ length: W * H }, () => g.int(0, 256));
  const image: TilePixels = { data, width: W, height: H, channels: 1 };
  const score = (v: number, r: number, c: number, k: number) => Math.sin(v * 0.05 * (k + 1) + r * 0.11 - c * 0.07 * k);
  const segmenter = (tiles: TilePixels[]) => {
    const out = new Float32Array(tiles.length * th * tw * K);
    tiles.forEach((t, i) => {
      expect([t.width, t.height]).toEqual([tw, th]);
      for (let r = 0; r < th; r++)
        for (let c = 0; c < tw; c++)
          for (let k = 0; k < K; k++) out[((i * th + r) * tw + c) * K + k] = score(t.data[r * tw + c], r, c, k);
    });
    return out;
  };

  /** Independent reference: every window's weighted scores summed into full-image float64 arrays. */
  function reference(blend: 'ramp' | 'mean') {
    const acc = new Float64Array(W * H * K);
    const ramp = (i: number, size: number, inner0: boolean, inner1: boolean) =>
      blend === 'mean' ? 1 : Math.min(1, inner0 ? (i + 1) / (overlap + 1) : 1, inner1 ? (size - i) / (overlap + 1) : 1);
    for (const y0 of [0, 24, 38])
      for (const x0 of [0, 32, 60])
        for (let r = 0; r < th; r++)
          for (let c = 0; c < tw; c++) {
            const w = ramp(r, th, y0 > 0, y0 + th < H) * ramp(c, tw, x0 > 0, x0 + tw < W);
            const p = (y0 + r) * W + x0 + c;
            for (let k = 0; k < K; k++) acc[p * K + k] += w * score(data[p], r, c, k);
          }
    return acc;
  }

  for (const blend of ['ramp', 'mean'] as const) {
    it(`equals a full-image accumulation of the weighted window scores (${blend})`, async () => {
      expect(tileGrid(W, H, { tileSize: [th, tw], overlap }).map((t) => t.y)).toEqual([
        0, 0, 0, 24, 24, 24, 38, 38, 38,
      ]);
      const got = await tiledSegment(image, segmenter, {
        tileSize: [th, tw],
        overlap,
        numClasses: K,
        batchSize: 2,
        blend,
      });
      const acc = reference(blend);
      const want = argmaxClasses(acc, K);
      let checked = 0;
      for (let p = 0; p < W * H; p++) {
        // Skip near-ties, where float32 and float64 sums may order the classes differently.
        const s = [...acc.subarray(p * K, p * K + K)].sort((a, b) => b - a);
        if (s[0] - s[1] < 1e-4) continue;
        checked++;
        expect(got[p]).toBe(want[p]);
      }
      expect(checked).toBeGreaterThan(0.99 * W * H);
    });
  }

  it('checks what the segmenter returns', async () => {
    await expect(tiledSegment(image, () => new Float32Array(5), { tileSize: 32, numClasses: K })).rejects.toThrow(
      /the segmenter returned 5 scores for 4 tile\(s\) of 32x32 and 3 classes/,
    );
  });

  it('a U-Net through modelSegmenter: one window equals the model applied directly', async () => {
    setSeed(2);
    const m = unet({ inputShape: [16, 16, 3], numClasses: 3, depth: 2, filters: 4 });
    const g2 = new Generator(9);
    const rgb = Uint8Array.from({ length: 16 * 16 * 3 }, () => g2.int(0, 256));
    const pre = { kind: 'image' as const, height: 16, width: 16, channels: 3, scale: 1 / 255 };
    const got = await tiledSegment({ data: rgb, width: 16, height: 16, channels: 3 }, modelSegmenter(m, pre), {
      tileSize: 16,
      numClasses: 3,
    });
    const x = tensor(
      Float32Array.from(rgb, (v) => v / 255),
      { shape: [1, 16, 16, 3] },
    );
    expect([...got]).toEqual([...argmaxClasses(m.apply(x).data as Float32Array, 3)]);
  });
});

describe('a 4000×3000 image with small objects', () => {
  const W = 4000,
    H = 3000;
  // Dark background; 60 objects of 8-14 px, red (label 0) or green (label 1), some placed across window edges.
  const g = new Generator(11);
  const rgb = new Uint8Array(W * H * 3).fill(30);
  const objects: { box: [number, number, number, number]; label: number }[] = [];
  const place = (x: number, y: number, s: number, label: number) => {
    for (let r = 0; r < s; r++)
      for (let c = 0; c < s; c++) {
        const p = ((y + r) * W + x + c) * 3;
        rgb[p] = label === 0 ? 230 : 40;
        rgb[p + 1] = label === 0 ? 40 : 230;
      }
    objects.push({ box: [x, y, x + s, y + s], label });
  };
  // Across the inner edges of 512-px windows with overlap 64 (windows start at 0, 448, 896, ...).
  place(505, 100, 12, 0);
  place(440, 900, 14, 1); // the window at 448 sees 6 of its 14 columns: a part too big to ignore
  place(1340, 1340, 14, 0);
  while (objects.length < 60) {
    const s = g.int(8, 15),
      x = g.int(0, W - s),
      y = g.int(0, H - s);
    const clear = objects.every(
      (o) => x + s + 4 < o.box[0] || x > o.box[2] + 4 || y + s + 4 < o.box[1] || y > o.box[3] + 4,
    );
    if (clear) place(x, y, s, g.int(0, 2));
  }
  const image: TilePixels = { data: rgb, width: W, height: H, channels: 3 };
  const semantic = new Uint8Array(W * H);
  for (const o of objects)
    for (let y = o.box[1]; y < o.box[3]; y++) semantic.fill(o.label + 1, y * W + o.box[0], y * W + o.box[2]);

  /** Colour threshold per pixel: background 0, red 1, green 2 (scores are one-hot). */
  const colourScores = (px: Uint8Array, n: number) => {
    const out = new Float32Array(n * 3);
    for (let p = 0; p < n; p++) {
      const [r, gr] = [px[p * 3], px[p * 3 + 1]];
      out[p * 3 + (r > 128 ? 1 : gr > 128 ? 2 : 0)] = 1;
    }
    return out;
  };
  /** Connected bright components of at least 60 pixels (a detector's smallest object size). */
  const componentDetector = (t: TilePixels): DetectedBox[] => {
    const { width: w, height: h, data } = t;
    const seen = new Uint8Array(w * h);
    const out: DetectedBox[] = [];
    const bright = (p: number) => data[p * 3] > 128 || data[p * 3 + 1] > 128;
    for (let s = 0; s < w * h; s++) {
      if (seen[s] || !bright(s)) continue;
      const stack = [s];
      seen[s] = 1;
      let [x0, y0, x1, y1, n, red] = [w, h, 0, 0, 0, 0];
      while (stack.length) {
        const p = stack.pop()!;
        const x = p % w,
          y = (p - x) / w;
        [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x + 1), Math.max(y1, y + 1)];
        n++;
        if (data[p * 3] > data[p * 3 + 1]) red++;
        for (const q of [x > 0 ? p - 1 : -1, x < w - 1 ? p + 1 : -1, y > 0 ? p - w : -1, y < h - 1 ? p + w : -1])
          if (q >= 0 && !seen[q] && bright(q)) {
            seen[q] = 1;
            stack.push(q);
          }
      }
      if (n >= 60) out.push({ box: [x0, y0, x1, y1], label: red * 2 > n ? 0 : 1, score: 0.5 + n / (4 * w * h) });
    }
    return out;
  };
  const downscaled = async (width: number, height: number) => {
    const { data } = await sharp(Buffer.from(rgb), { raw: { width: W, height: H, channels: 3 } })
      .resize(width, height)
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data), width, height, channels: 3 };
  };
  /** Objects matched one to one by a detection of the same class with IoU ≥ 0.9. */
  const matched = (dets: DetectedBox[]) =>
    objects.filter((o) => dets.some((d) => d.label === o.label && boxIou(d.box, o.box)[0] >= 0.9)).length;

  it('detection: the downscaled pass misses the objects, the tiled pass finds each once', async () => {
    const small = await downscaled(640, 480);
    const f = W / 640;
    const coarse = componentDetector(small).map((d) => ({ ...d, box: d.box.map((v) => v * f) as DetectedBox['box'] }));
    expect(matched(coarse)).toBe(0);
    const seen: [number, number][] = [];
    const dets = await tiledDetect(
      image,
      (t, where) => {
        seen.push([t.width, t.height]);
        expect(where.width).toBe(512);
        return componentDetector(t);
      },
      { tileSize: 512, overlap: 64, iouThreshold: 0.5 },
    );
    expect(seen.every(([w, h]) => w === 512 && h === 512)).toBe(true);
    expect(matched(dets)).toBe(objects.length);
    expect(dets.length).toBe(objects.length); // no duplicates, no cut-off parts
    // Without the edge rule, the parts of the straddling objects that windows cut off remain.
    const loose = await tiledDetect(image, componentDetector, { tileSize: 512, overlap: 64, edgeMargin: -1 });
    expect(loose.length).toBeGreaterThan(objects.length);
  });

  it('segmentation: the tiled class map is exact where the downscaled one loses the objects', async () => {
    /** Objects with at least half of their pixels given their class. */
    const found = (pred: Uint8Array) =>
      objects.filter((o) => {
        let hit = 0;
        for (let y = o.box[1]; y < o.box[3]; y++)
          for (let x = o.box[0]; x < o.box[2]; x++) if (pred[y * W + x] === o.label + 1) hit++;
        return hit * 2 >= (o.box[2] - o.box[0]) * (o.box[3] - o.box[1]);
      }).length;
    // A 256×192 model input (the whole picture, 15.6× smaller): the objects shrink below a pixel.
    const small = await downscaled(256, 192);
    const coarse = argmaxClasses(colourScores(small.data, 256 * 192), 3);
    const upsampled = new Uint8Array(W * H);
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++)
        upsampled[y * W + x] = coarse[Math.floor((y * 192) / H) * 256 + Math.floor((x * 256) / W)];
    expect(found(upsampled)).toBeLessThan(objects.length / 4);
    const tiled = await tiledSegment(
      image,
      (tiles) => {
        const out = new Float32Array(tiles.length * 256 * 256 * 3);
        tiles.forEach((t, i) => out.set(colourScores(t.data, 256 * 256), i * 256 * 256 * 3));
        return out;
      },
      { tileSize: 256, overlap: 32, numClasses: 3, batchSize: 8 },
    );
    expect(found(tiled)).toBe(objects.length);
    // Exact: every pixel has its true class (the segmenter is exact at full resolution).
    expect(tiled.every((v, p) => v === semantic[p])).toBe(true);
  });
});
