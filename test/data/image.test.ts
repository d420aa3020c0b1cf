import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  type ImagePreprocessing,
  decodePixels,
  pixelsToInput,
  preprocessImages,
  preprocessPixelBatch,
} from '../../src/data/image.js';
import { imageFolder } from '../../src/data/index.js';
import { imagesToTensor } from '../../src/serve/image.js';
import { tempDir } from '../helpers/temp.js';

/** Deterministic 0..255 pixels, channels last. */
const pixels = (n: number, h: number, w: number, c: number) =>
  Uint8Array.from({ length: n * h * w * c }, (_, i) => (i * 37 + 11) % 256);
const png = (px: Uint8Array, h: number, w: number, c: 1 | 3 | 4) =>
  sharp(Buffer.from(px), { raw: { width: w, height: h, channels: c } })
    .png()
    .toBuffer();

describe('image preprocessing (one module for data, evaluate and serve)', () => {
  it('normalizes with scale/mean/std and really moves data into NCHW (hand-computed reference)', () => {
    const [h, w, c] = [2, 3, 3];
    const px = pixels(1, h, w, c);
    const pre: ImagePreprocessing = {
      kind: 'image',
      height: h,
      width: w,
      channels: c,
      scale: 1 / 255,
      mean: [0.5, 0.4, 0.3],
      std: [0.2, 0.25, 0.5],
      layout: 'nchw',
    };
    const t = pixelsToInput(px, 1, pre);
    expect(t.shape).toEqual([1, 3, 2, 3]);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < c; ch++) {
          const want = (px[(y * w + x) * c + ch] / 255 - pre.mean![ch]) / pre.std![ch];
          expect(t.data[ch * h * w + y * w + x]).toBeCloseTo(want, 5);
        }
    const nhwc = pixelsToInput(px, 1, { ...pre, layout: 'nhwc' });
    expect(nhwc.shape).toEqual([1, 2, 3, 3]);
    expect(nhwc.data[1 * w * c + 2 * c + 1]).toBeCloseTo((px[(1 * w + 2) * c + 1] / 255 - 0.4) / 0.25, 5);
    expect(() => pixelsToInput(px, 1, { ...pre, mean: [1, 2] })).toThrow(
      /mean has 2 values but the model takes 3 channels/,
    );
  });

  it('evaluate (a data set in memory) and serve (an uploaded PNG) build identical input tensors', async () => {
    const [n, h, w] = [3, 6, 5];
    const c = 3 as const;
    const px = pixels(n, h, w, c);
    for (const pre of [
      {
        kind: 'image',
        height: h,
        width: w,
        channels: c,
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
        layout: 'nchw',
      },
      { kind: 'image', height: 4, width: 4, channels: c, scale: 2 / 255, mean: [1], layout: 'nhwc' },
      { kind: 'image', height: 4, width: 3, channels: c, resize: [5, 4], layout: 'nchw' },
    ] as ImagePreprocessing[]) {
      const fromMemory = await preprocessPixelBatch({ shape: [n, h, w, c], data: Float32Array.from(px) }, pre);
      const files = await Promise.all(
        Array.from({ length: n }, (_, i) => png(px.subarray(i * h * w * c, (i + 1) * h * w * c), h, w, c)),
      );
      const served = await imagesToTensor(
        files.map((bytes, i) => ({ bytes, field: `f${i}` })),
        pre,
      );
      expect(served.shape).toEqual(fromMemory.shape);
      expect(Array.from(served.data as Float32Array)).toEqual(Array.from(fromMemory.data as Float32Array));
    }
  });

  it('greyscale data sets ([N, H, W]) match greyscale uploads, colour uploads are converted to grey', async () => {
    const [n, h, w] = [2, 4, 4];
    const px = pixels(n, h, w, 1);
    const pre: ImagePreprocessing = { kind: 'image', height: h, width: w, channels: 1, layout: 'nhw' };
    const fromMemory = await preprocessPixelBatch({ shape: [n, h, w], data: px }, pre);
    expect(fromMemory.shape).toEqual([2, 4, 4]);
    expect(fromMemory.data[5]).toBeCloseTo(px[5] / 255, 6);
    const served = await preprocessImages(
      [await png(px.subarray(0, 16), h, w, 1), await png(px.subarray(16), h, w, 1)],
      pre,
    );
    expect(Array.from(served.data as Float32Array)).toEqual(Array.from(fromMemory.data as Float32Array));
    // grey (g, g, g) in RGB decodes to g
    const rgb = Uint8Array.from(Array.from(px.subarray(0, 16), (g) => [g, g, g]).flat());
    const grey = await decodePixels(await png(rgb, h, w, 3), { channels: 1 });
    Array.from(grey.data).forEach((g, i) => expect(Math.abs(g - px[i])).toBeLessThanOrEqual(1));
  });

  it('applies EXIF orientation, scales 16-bit images, composites alpha and replicates grey to RGB', async () => {
    // A 2×1 JPEG with a white left pixel and orientation 6 (rotate 90° clockwise to display): upright it is 1×2, white on top.
    const row = Buffer.from([255, 255, 255, 0, 0, 0]);
    const jpeg = await sharp(row, { raw: { width: 2, height: 1, channels: 3 } })
      .withMetadata({ orientation: 6 })
      .jpeg({ quality: 100 })
      .toBuffer();
    const upright = await decodePixels(jpeg, { channels: 1 });
    expect([upright.height, upright.width]).toEqual([2, 1]);
    expect(upright.data[0]).toBeGreaterThan(200);
    expect(upright.data[1]).toBeLessThan(55);
    // 16-bit: 65535 → 255, 0x8080 → 128 (v / 257)
    const sixteen = new Uint16Array([65535, 0, 0x8080]);
    const png16 = await sharp(sixteen, { raw: { width: 3, height: 1, channels: 1 } })
      .toColourspace('grey16')
      .png()
      .toBuffer();
    expect((await sharp(png16).metadata()).depth).toBe('ushort');
    expect(Array.from((await decodePixels(png16, { channels: 1 })).data)).toEqual([255, 0, 128]);
    // alpha: a transparent white pixel and a half-transparent one, composited onto black
    const rgba = Buffer.from([255, 255, 255, 0, 255, 255, 255, 128]);
    const t = await preprocessImages([await png(rgba, 1, 2, 4)], {
      kind: 'image',
      height: 1,
      width: 2,
      channels: 3,
      scale: 1,
    });
    expect(Array.from(t.data as Float32Array).slice(0, 3)).toEqual([0, 0, 0]);
    for (const v of Array.from(t.data as Float32Array).slice(3)) expect(Math.abs(v - 128)).toBeLessThanOrEqual(1);
    // grey → RGB: three equal channels
    const g = await decodePixels(await png(Uint8Array.of(10, 200), 1, 2, 1), { channels: 3 });
    expect(Array.from(g.data)).toEqual([10, 10, 10, 200, 200, 200]);
  });

  it('resize then centre-crop takes the middle window', async () => {
    // 4×4 grey image, no resize needed ([4, 4]), crop 2×2 from the middle
    const px = Uint8Array.from({ length: 16 }, (_, i) => i * 10);
    const t = await preprocessImages([await png(px, 4, 4, 1)], {
      kind: 'image',
      height: 2,
      width: 2,
      channels: 1,
      resize: [4, 4],
      scale: 1,
      layout: 'nhw',
    });
    expect(Array.from(t.data as Float32Array)).toEqual([50, 60, 90, 100]);
  });

  it('imageFolder with a model preprocessing yields the inputs the server builds from the same files', async () => {
    const root = tempDir('lepton-image-pre-');
    mkdirSync(join(root, 'a'));
    const px = pixels(1, 6, 5, 3);
    const file = await png(px, 6, 5, 3);
    writeFileSync(join(root, 'a', '0.png'), file);
    const pre: ImagePreprocessing = {
      kind: 'image',
      height: 4,
      width: 4,
      channels: 3,
      mean: [0.5, 0.5, 0.5],
      std: [0.25, 0.25, 0.25],
      layout: 'nchw',
    };
    const [[x]] = await imageFolder(root, { preprocessing: pre }).toArray();
    expect(x.shape).toEqual([3, 4, 4]);
    const served = await imagesToTensor([{ bytes: file, field: 'image' }], pre);
    expect(Array.from(x.data as Float32Array)).toEqual(Array.from(served.data as Float32Array));
  });
});
