/**
 * `lepton segment`: a saved U-Net on an image larger than its input (tiled), the class-map PNG
 * against the same tiling run in process on the Lepton model, the RLE file decoding back to the
 * class map, the overlay picture, and a clear error for a classifier.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { Generator, decodePixels, setSeed } from '../../src/index.js';
import { decodeRle, modelSegmenter, tiledSegment, unet } from '../../src/vision/index.js';
import { tempDir } from '../helpers/temp.js';
import { makeImageModel } from './fixtures.js';

const W = 90,
  H = 50;
const pre = { kind: 'image' as const, height: 32, width: 32, channels: 3, scale: 1 / 255 };
let root: string, modelDir: string, imagePath: string;
let rgb: Uint8Array;
let net: ReturnType<typeof unet>;

beforeAll(async () => {
  root = tempDir('lepton-segment-');
  process.env.LEPTON_HOME = join(root, 'home');
  setSeed(5);
  net = unet({ inputShape: [32, 32, 3], numClasses: 3, depth: 2, filters: 4 });
  modelDir = join(root, 'unet');
  await net.save(modelDir, { labels: ['background', 'a', 'b'], preprocessing: pre });
  const g = new Generator(1);
  // Smooth blobs so the untrained net's classes form regions, not noise.
  rgb = Uint8Array.from({ length: W * H * 3 }, (_, i) => {
    const p = Math.floor(i / 3),
      x = p % W,
      y = Math.floor(p / W);
    return Math.round(127 + 100 * Math.sin(x / 9 + (i % 3)) * Math.cos(y / 7)) + g.int(0, 3);
  });
  imagePath = join(root, 'in.png');
  await sharp(Buffer.from(rgb), { raw: { width: W, height: H, channels: 3 } })
    .png()
    .toFile(imagePath);
});

describe('lepton segment', () => {
  it('writes the class map of a tiled pass, its RLE masks and an overlay', async () => {
    const out = join(root, 'mask.png'),
      rle = join(root, 'mask.json'),
      overlay = join(root, 'overlay.png');
    const r = await cli('segment', imagePath, '--model', modelDir, '--out', out, '--rle', rle, '--overlay', overlay);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    // 90×50 with 32-px windows and overlap 8: 4 columns × 2 rows.
    expect(r.out).toMatch(/in\.png: 90x50 in 8 window\(s\)/);
    const meta = await sharp(out).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([W, H, 1]);
    const { data } = await decodePixels(out, { channels: 1 });
    // The same tiling in process, through the Lepton model instead of the saved ONNX file.
    const want = await tiledSegment({ data: rgb, width: W, height: H, channels: 3 }, modelSegmenter(net, pre), {
      tileSize: 32,
      numClasses: 3,
    });
    let same = 0;
    for (let p = 0; p < W * H; p++) if (data[p] === want[p]) same++;
    expect(same).toBeGreaterThanOrEqual(W * H - 5); // float rounding may flip a near-tie
    const masks = JSON.parse(readFileSync(rle, 'utf8')) as {
      width: number;
      height: number;
      masks: { class: number; label: string; area: number; segmentation: { size: [number, number]; counts: string } }[];
    };
    expect([masks.width, masks.height]).toEqual([W, H]);
    expect(masks.masks.length).toBeGreaterThan(0);
    for (const m of masks.masks) {
      const decoded = decodeRle(m.segmentation);
      let area = 0;
      for (let p = 0; p < W * H; p++) {
        expect(decoded[p]).toBe(data[p] === m.class ? 1 : 0);
        area += decoded[p];
      }
      expect(m.area).toBe(area);
      expect(m.label).toBe(['background', 'a', 'b'][m.class]);
    }
    const o = await sharp(overlay).metadata();
    expect([o.width, o.height]).toEqual([W, H]);
  });

  it('has --help naming the required options', async () => {
    const r = await cli('segment', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Usage: lepton segment/);
    expect(r.out).toMatch(/--model <model>/);
    const missing = await cli('segment', imagePath);
    expect(missing.code).not.toBe(0);
    expect(missing.err).toMatch(/required option '-m, --model <model>' not specified/);
  });

  it('refuses a classifier with a clear message', async () => {
    const classifier = await makeImageModel(join(root, 'classifier'));
    const png = join(root, 'small.png');
    writeFileSync(
      png,
      await sharp({ create: { width: 4, height: 4, channels: 3, background: '#808080' } })
        .png()
        .toBuffer(),
    );
    const r = await cli('segment', png, '--model', classifier, '--out', join(root, 'x.png'));
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/is not a segmentation model: its output is \[batch, 2\]/);
  });
});
