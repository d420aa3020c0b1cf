import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage, transforms } from '../../src/data/index.js';
import { Generator } from '../../src/engine/random.js';
import { Tensor } from '../../src/engine/tensor.js';

/** An [h, w, c] image (or [n, h, w, c]) whose values come from f(n, y, x, ch). */
function image(shape: number[], f: (n: number, y: number, x: number, ch: number) => number): Tensor {
  const [n, h, w, c] = shape.length === 3 ? [1, ...shape] : shape;
  const data = new Float32Array(n * h * w * c);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < c; ch++) {
          data[((b * h + y) * w + x) * c + ch] = f(b, y, x, ch);
        }
  return new Tensor(shape, 'float32', data);
}

/** Value at (n, y, x, ch). */
function at(t: Tensor, n: number, y: number, x: number, ch: number): number {
  const s = t.shape as number[];
  const [h, w, c] = s.length === 3 ? s : s.slice(1);
  return (t.data as Float32Array)[((n * h + y) * w + x) * c + ch];
}

const seq = (shape: number[]): Tensor => image(shape, (n, y, x, ch) => n * 1000 + y * 100 + x * 10 + ch);

describe('value transforms', () => {
  it('toFloat, scale and per-channel normalize match plain arithmetic', () => {
    const raw = Uint8Array.from([0, 51, 255, 128, 10, 20]);
    const t = transforms.toFloat(raw, [1, 2, 3], { scale: 1 / 255 });
    expect(t.shape).toEqual([1, 2, 3]);
    Array.from(raw).forEach((v, i) => expect(t.data[i]).toBeCloseTo(v / 255, 6));
    const s = transforms.scale(transforms.toFloat(raw, [1, 2, 3]), 2, -1);
    Array.from(raw).forEach((v, i) => expect(s.data[i]).toBe(2 * v - 1));
    const x = seq([2, 3, 3]);
    const mean = [1, 2, 3];
    const std = [2, 4, 8];
    const out = transforms.normalize(x, mean, std);
    for (let y = 0; y < 2; y++)
      for (let xx = 0; xx < 3; xx++)
        for (let c = 0; c < 3; c++) {
          expect(at(out, 0, y, xx, c)).toBeCloseTo((at(x, 0, y, xx, c) - mean[c]) / std[c], 5);
        }
    expect(() => transforms.normalize(x, [1, 2], 1)).toThrow(/mean has 2 values but the image has 3 channels/);
  });
});

describe('geometric transforms', () => {
  it('resize by half with half-pixel centres averages 2×2 blocks; identity size is exact', () => {
    const x = image([4, 6, 2], (_n, y, xx, c) => ((y * 7 + xx * 3 + c * 5) % 11) * 1.5);
    const half = transforms.resize(x, [2, 3]);
    expect(half.shape).toEqual([2, 3, 2]);
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 3; j++)
        for (let c = 0; c < 2; c++) {
          const mean =
            (at(x, 0, 2 * i, 2 * j, c) +
              at(x, 0, 2 * i + 1, 2 * j, c) +
              at(x, 0, 2 * i, 2 * j + 1, c) +
              at(x, 0, 2 * i + 1, 2 * j + 1, c)) /
            4;
          expect(at(half, 0, i, j, c)).toBeCloseTo(mean, 5);
        }
    expect(Array.from(transforms.resize(x, [4, 6]).data as ArrayLike<number>)).toEqual(
      Array.from(x.data as ArrayLike<number>),
    );
  });

  it('bilinear upsampling reproduces a linear ramp inside the image and repeats the edge outside', () => {
    const f = (y: number, x: number): number => 3 * y - 2 * x + 1;
    const x = image([3, 4, 1], (_n, y, xx) => f(y, xx));
    const up = transforms.resize(x, [7, 9]);
    for (let i = 0; i < 7; i++)
      for (let j = 0; j < 9; j++) {
        // source coordinate of output pixel (i, j), clamped to the image
        const sy = Math.min(Math.max(((i + 0.5) * 3) / 7 - 0.5, 0), 2);
        const sx = Math.min(Math.max(((j + 0.5) * 4) / 9 - 0.5, 0), 3);
        expect(at(up, 0, i, j, 0)).toBeCloseTo(f(sy, sx), 4);
      }
    const nearest = transforms.resize(x, [6, 8], { method: 'nearest' });
    expect(at(nearest, 0, 5, 7, 0)).toBe(f(2, 3));
    expect(at(nearest, 0, 1, 1, 0)).toBe(f(0, 0));
  });

  it('centerCrop and crop pick the right window (batches too)', () => {
    const x = seq([2, 5, 6, 1]);
    const c = transforms.centerCrop(x, [3, 2]);
    expect(c.shape).toEqual([2, 3, 2, 1]);
    for (let n = 0; n < 2; n++)
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 2; j++) {
          expect(at(c, n, i, j, 0)).toBe(at(x, n, 1 + i, 2 + j, 0));
        }
    const off = transforms.crop(seq([3, 3, 1]), -1, 2, [2, 2], { fill: -5 });
    expect(Array.from(off.data as ArrayLike<number>)).toEqual([-5, -5, 20, -5]); // only (y 0, x 2) is inside;
    expect(() => transforms.centerCrop(x, [6, 2])).toThrow(/larger than the image/);
  });

  it('randomCrop with padding returns windows of the padded image and reaches every offset', () => {
    const x = seq([4, 4, 1]);
    const g = new Generator(1);
    const offsets = new Set<string>();
    for (let k = 0; k < 200; k++) {
      const out = transforms.randomCrop(x, [4, 4], { padding: 1, generator: g });
      // find the offset (dy, dx) in [-1, 1]² that explains the output; padding is 0
      const match = [-1, 0, 1]
        .flatMap((dy) => [-1, 0, 1].map((dx) => [dy, dx]))
        .filter(([dy, dx]) => {
          for (let i = 0; i < 4; i++)
            for (let j = 0; j < 4; j++) {
              const y = i + dy;
              const xx = j + dx;
              const want = y < 0 || y > 3 || xx < 0 || xx > 3 ? 0 : at(x, 0, y, xx, 0);
              if (at(out, 0, i, j, 0) !== want) return false;
            }
          return true;
        });
      expect(match.length).toBeGreaterThanOrEqual(1);
      offsets.add(match[0].join());
    }
    expect(offsets.size).toBe(9);
  });

  it('flip mirrors; randomFlip draws per image with the given probability, repeatably', () => {
    const x = seq([3, 4, 2]);
    const h = transforms.flip(x);
    const v = transforms.flip(x, 'vertical');
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 4; j++)
        for (let c = 0; c < 2; c++) {
          expect(at(h, 0, i, j, c)).toBe(at(x, 0, i, 3 - j, c));
          expect(at(v, 0, i, j, c)).toBe(at(x, 0, 2 - i, j, c));
        }
    const batch = seq([400, 2, 3, 1]);
    const out = transforms.randomFlip(batch, { generator: new Generator(3) });
    let flipped = 0;
    for (let n = 0; n < 400; n++) {
      const same = [0, 1].every((i) => [0, 1, 2].every((j) => at(out, n, i, j, 0) === at(batch, n, i, j, 0)));
      const mirrored = [0, 1].every((i) => [0, 1, 2].every((j) => at(out, n, i, j, 0) === at(batch, n, i, 2 - j, 0)));
      expect(same || mirrored).toBe(true);
      if (mirrored) flipped++;
    }
    expect(flipped).toBeGreaterThan(150); // Binomial(400, 0.5): mean 200, sd 10
    expect(flipped).toBeLessThan(250);
    const again = transforms.randomFlip(batch, { generator: new Generator(3) });
    expect(Array.from(again.data as ArrayLike<number>)).toEqual(Array.from(out.data as ArrayLike<number>));
    expect(Array.from(transforms.randomFlip(x, { probability: 1 }).data as ArrayLike<number>)).toEqual(
      Array.from(h.data as ArrayLike<number>),
    );
    expect(Array.from(transforms.randomFlip(x, { probability: 0 }).data as ArrayLike<number>)).toEqual(
      Array.from(x.data as ArrayLike<number>),
    );
  });

  it('rotate by 90° is numpy rot90 (counter-clockwise), 180° flips both axes, 0° is identity', () => {
    const x = seq([5, 5, 2]);
    const r = transforms.rotate(x, 90);
    for (let i = 0; i < 5; i++)
      for (let j = 0; j < 5; j++)
        for (let c = 0; c < 2; c++) {
          expect(at(r, 0, i, j, c)).toBe(at(x, 0, j, 4 - i, c)); // rot90: out[i, j] = in[j, n-1-i]
        }
    const r180 = transforms.rotate(x, 180);
    for (let i = 0; i < 5; i++)
      for (let j = 0; j < 5; j++) expect(at(r180, 0, i, j, 1)).toBe(at(x, 0, 4 - i, 4 - j, 1));
    expect(Array.from(transforms.rotate(x, 0).data as ArrayLike<number>)).toEqual(
      Array.from(x.data as ArrayLike<number>),
    );
    const fixed = transforms.randomRotation(x, [90, 90]);
    expect(Array.from(fixed.data as ArrayLike<number>)).toEqual(Array.from(r.data as ArrayLike<number>));
  });

  it('bilinear rotation of a linear ramp equals the ramp at the rotated coordinates; outside is the fill', () => {
    const f = (y: number, x: number): number => 2 * y + 0.5 * x + 3;
    const x = image([9, 9, 1], (_n, y, xx) => f(y, xx));
    const deg = 17;
    const out = transforms.rotate(x, deg, { fill: -1 });
    const t = (deg * Math.PI) / 180;
    let inside = 0;
    for (let i = 0; i < 9; i++)
      for (let j = 0; j < 9; j++) {
        // inverse map (y down): a counter-clockwise turn on screen
        const sx = 4 + (j - 4) * Math.cos(t) - (i - 4) * Math.sin(t);
        const sy = 4 + (j - 4) * Math.sin(t) + (i - 4) * Math.cos(t);
        if (sx >= 0 && sx <= 8 && sy >= 0 && sy <= 8) {
          inside++;
          expect(at(out, 0, i, j, 0)).toBeCloseTo(f(sy, sx), 4);
        } else if (sx < -1 || sx > 9 || sy < -1 || sy > 9) {
          expect(at(out, 0, i, j, 0)).toBe(-1);
        }
      }
    expect(inside).toBeGreaterThan(50);
    // counter-clockwise on screen: a marker at the right edge moves to the top edge
    const marker = image([5, 5, 1], (_n, y, xx) => (y === 2 && xx === 4 ? 1 : 0)); // right edge, middle row
    const turned = transforms.rotate(marker, 90);
    expect(at(turned, 0, 0, 2, 0)).toBe(1); // moves to the top edge, middle column
  });

  it('randomRotation draws angles in range per image from the generator', () => {
    const x = seq([2, 7, 7, 1]);
    const a = transforms.randomRotation(x, 30, { generator: new Generator(5) });
    const b = transforms.randomRotation(x, 30, { generator: new Generator(5) });
    expect(Array.from(a.data as ArrayLike<number>)).toEqual(Array.from(b.data as ArrayLike<number>));
    // the centre pixel of an odd-sized image stays put for any angle
    for (let n = 0; n < 2; n++) expect(at(a, n, 3, 3, 0)).toBeCloseTo(at(x, n, 3, 3, 0), 4);
    // the two images got different angles
    const differ = Array.from(
      { length: 49 },
      (_, k) => at(a, 0, Math.floor(k / 7), k % 7, 0) - at(x, 0, Math.floor(k / 7), k % 7, 0),
    ).some(
      (d, k) => Math.abs(d - (at(a, 1, Math.floor(k / 7), k % 7, 0) - at(x, 1, Math.floor(k / 7), k % 7, 0))) > 1e-3,
    );
    expect(differ).toBe(true);
  });
});

describe('decodeImage', () => {
  it('decodes PNG bytes exactly, to grey, and resizes while decoding', async () => {
    const w = 5;
    const h = 3;
    const rgb = Buffer.from(Array.from({ length: w * h * 3 }, (_, i) => (i * 17) % 256));
    const png = await sharp(rgb, { raw: { width: w, height: h, channels: 3 } })
      .png()
      .toBuffer();
    const x = await decodeImage(png);
    expect(x.shape).toEqual([3, 5, 3]);
    expect(Array.from(x.data as ArrayLike<number>)).toEqual(Array.from(rgb));
    const norm = await decodeImage(png, { normalize: true });
    expect(norm.data[5]).toBeCloseTo(rgb[5] / 255, 6);
    // an RGB file whose pixels are grey (r = g = b) decodes to those grey levels with channels: 1
    const levels = Array.from({ length: w * h }, (_, i) => (i * 37) % 256);
    const greyRgb = Buffer.from(levels.flatMap((v) => [v, v, v]));
    const greyPng = await sharp(greyRgb, { raw: { width: w, height: h, channels: 3 } })
      .png()
      .toBuffer();
    const grey = await decodeImage(greyPng, { channels: 1 });
    expect(grey.shape).toEqual([3, 5, 1]);
    levels.forEach((v, p) => expect(Math.abs(Number(grey.data[p]) - v)).toBeLessThanOrEqual(1));
    const small = await decodeImage(png, { size: [2, 4], channels: 4 });
    expect(small.shape).toEqual([2, 4, 4]);
    expect(small.data[3]).toBe(255); // opaque alpha added
    await expect(decodeImage(Buffer.from('not an image'))).rejects.toThrow(/decodeImage: cannot decode 12 bytes/);
  });
});
