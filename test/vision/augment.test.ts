/**
 * Augmentations move boxes, masks and class maps with the pixels. Each case draws solid-coloured
 * rectangles whose boxes are known, transforms the image, and finds each colour again in the
 * output's pixels: the box the transform reports must be where that colour now is (to a pixel),
 * independently of how the box was computed.
 */
import { describe, expect, it } from 'vitest';
import { Generator } from '../../src/index.js';
import {
  type AnnotatedImage,
  colorJitter,
  flipAnnotated,
  letterbox,
  mosaic,
  randomAffine,
  randomResizedCrop,
  unletterboxBox,
  warpAffine,
} from '../../src/vision/index.js';

const COLORS = [
  [255, 0, 0],
  [0, 255, 0],
  [0, 0, 255],
  [255, 255, 0],
];

/** A grey image with one solid rectangle per box (colour k for box k), its masks and class map. */
function scene(width: number, height: number, boxes: number[][], withMasks = false): AnnotatedImage {
  const image = new Uint8Array(width * height * 3).fill(40);
  const classMap = new Uint8Array(width * height);
  const masks = boxes.map(() => new Uint8Array(width * height));
  boxes.forEach(([x1, y1, x2, y2], k) => {
    for (let y = y1; y < y2; y++)
      for (let x = x1; x < x2; x++) {
        image.set(COLORS[k], (y * width + x) * 3);
        classMap[y * width + x] = k + 1;
        masks[k][y * width + x] = 1;
      }
  });
  return {
    width,
    height,
    image,
    boxes: Float32Array.from(boxes.flat()),
    labels: Int32Array.from(boxes.map((_, k) => k)),
    ...(withMasks ? { masks, classMap } : {}),
  };
}

/** The box around the output pixels close to colour k (undefined when none is left). */
function colourBox(a: AnnotatedImage, k: number): number[] | undefined {
  let [x1, y1, x2, y2] = [Infinity, Infinity, -1, -1];
  for (let y = 0; y < a.height; y++)
    for (let x = 0; x < a.width; x++) {
      const o = (y * a.width + x) * 3;
      if (COLORS[k].every((v, ch) => Math.abs(a.image[o + ch] - v) < 60)) {
        x1 = Math.min(x1, x);
        y1 = Math.min(y1, y);
        x2 = Math.max(x2, x + 1);
        y2 = Math.max(y2, y + 1);
      }
    }
  return x2 < 0 ? undefined : [x1, y1, x2, y2];
}

/** Every reported box sits on its colour (to `tol` pixels); every colour big enough has a box. */
function expectBoxesOnPixels(a: AnnotatedImage, tol = 1.5): void {
  for (let i = 0; i < a.labels.length; i++) {
    const found = colourBox(a, a.labels[i]);
    expect(found, `object ${a.labels[i]} is reported but its colour is gone`).toBeDefined();
    const box = Array.from(a.boxes.subarray(i * 4, i * 4 + 4));
    box.forEach((v, j) => expect(Math.abs(v - found![j]), `box ${box} vs pixels ${found}`).toBeLessThanOrEqual(tol));
  }
}

const rng = (seed: number) => {
  const g = new Generator(seed);
  return () => g.random();
};

describe('augmentations that move boxes with the pixels', () => {
  const base = () =>
    scene(64, 48, [
      [5, 6, 20, 18],
      [30, 10, 50, 40],
      [12, 30, 22, 44],
    ]);

  it('the identity warp changes nothing', () => {
    const a = scene(32, 24, [[3, 4, 10, 12]], true);
    const b = warpAffine(a, [1, 0, 0, 0, 1, 0]);
    expect(b.image).toEqual(a.image);
    expect(Array.from(b.boxes)).toEqual(Array.from(a.boxes));
    expect(b.masks![0]).toEqual(a.masks![0]);
    expect(b.classMap).toEqual(a.classMap);
  });

  it('flips boxes, masks and class map with the image; twice is the identity', () => {
    const a = scene(64, 48, [[5, 6, 20, 18]], true);
    const f = flipAnnotated(a);
    expect(Array.from(f.boxes)).toEqual([44, 6, 59, 18]);
    expectBoxesOnPixels(f, 0);
    expect(f.classMap![6 * 64 + 44]).toBe(1);
    expect(f.classMap![6 * 64 + 43]).toBe(0);
    const back = flipAnnotated(f);
    expect(back.image).toEqual(a.image);
    expect(back.masks![0]).toEqual(a.masks![0]);
    const v = flipAnnotated(a, 'vertical');
    expect(Array.from(v.boxes)).toEqual([5, 30, 20, 42]);
  });

  it('random resized crops: boxes where their pixels went, cut-off objects dropped', () => {
    let kept = 0;
    for (let seed = 1; seed <= 8; seed++) {
      const out = randomResizedCrop(base(), [40, 40], { random: rng(seed), scale: [0.3, 0.8] });
      expect(out.width).toBe(40);
      expectBoxesOnPixels(out);
      kept += out.labels.length;
    }
    expect(kept).toBeGreaterThan(8); // the crops keep objects (the check above is not vacuous)
  });

  it('random affine with rotation and shear: boxes from masks hug the pixels', () => {
    for (let seed = 1; seed <= 6; seed++) {
      const a = scene(
        64,
        48,
        [
          [8, 8, 24, 20],
          [34, 14, 52, 34],
        ],
        true,
      );
      const out = randomAffine(a, { random: rng(seed), degrees: 30, shear: 10, translate: 0.1 });
      expectBoxesOnPixels(out, 1);
      // The class map moved with the pixels: every pixel of colour k is class k + 1.
      for (let i = 0; i < out.width * out.height; i++) {
        const k = COLORS.findIndex((c) => c.every((v, ch) => out.image[i * 3 + ch] === v));
        if (k >= 0) expect(out.classMap![i]).toBe(k + 1);
      }
    }
  });

  it('random affine without masks: the corners’ box contains the rotated rectangle', () => {
    const out = randomAffine(base(), { random: rng(3), degrees: 20, translate: 0, scale: [1, 1] });
    for (let i = 0; i < out.labels.length; i++) {
      const found = colourBox(out, out.labels[i])!;
      const box = out.boxes.subarray(i * 4, i * 4 + 4);
      expect(box[0]).toBeLessThanOrEqual(found[0] + 1);
      expect(box[1]).toBeLessThanOrEqual(found[1] + 1);
      expect(box[2]).toBeGreaterThanOrEqual(found[2] - 1);
      expect(box[3]).toBeGreaterThanOrEqual(found[3] - 1);
    }
  });

  it('letterbox keeps the aspect ratio and maps boxes back exactly', () => {
    const a = base();
    const { result, info } = letterbox(a, [96, 96]);
    expect(info.scale).toBe(1.5);
    expect(info.padY).toBe(12);
    expectBoxesOnPixels(result);
    for (let i = 0; i < a.labels.length; i++) {
      const back = unletterboxBox(Array.from(result.boxes.subarray(i * 4, i * 4 + 4)), info);
      back.forEach((v, j) => expect(v).toBeCloseTo(a.boxes[i * 4 + j], 4));
    }
    // the padding is the fill grey
    expect(Array.from(result.image.subarray(0, 3))).toEqual([114, 114, 114]);
  });

  it('mosaic puts four images around a centre with their boxes', () => {
    const parts = [0, 1, 2, 3].map(() => scene(40, 40, [[10, 10, 30, 30]]));
    // each part gets its own colour: relabel object 0 of part k as class k and recolour it
    parts.forEach((p, k) => {
      p.labels[0] = k;
      for (let i = 0; i < 40 * 40; i++)
        if (p.image[i * 3] === 255 && p.image[i * 3 + 1] === 0) p.image.set(COLORS[k], i * 3);
    });
    const out = mosaic(parts, [80, 80], { random: rng(4) });
    expect(out.labels.length).toBeGreaterThanOrEqual(3);
    expectBoxesOnPixels(out);
  });

  it('colour jitter changes pixels only; zero strength changes nothing', () => {
    const a = base();
    const same = colorJitter(a, { brightness: 0, contrast: 0, saturation: 0 });
    expect(same.image).toEqual(a.image);
    const j = colorJitter(a, { random: rng(2), brightness: 0.5 });
    expect(j.image).not.toEqual(a.image);
    expect(j.boxes).toBe(a.boxes);
  });

  it('rejects inconsistent inputs with clear errors', () => {
    const a = base();
    expect(() => warpAffine({ ...a, image: a.image.subarray(1) }, [1, 0, 0, 0, 1, 0])).toThrow(
      /expected 64×48×3 = 9216 RGB bytes, got 9215/,
    );
    expect(() => warpAffine(a, [0, 0, 0, 0, 0, 0])).toThrow(/not invertible/);
    expect(() => mosaic([a, a, a], [10, 10])).toThrow(/expected 4 images/);
  });
});
