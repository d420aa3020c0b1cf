/**
 * The model server with a segmentation model (a saved U-Net): JSON answers carry COCO RLE masks
 * per class, equal to the argmax of the Lepton model run in process; `?format=png` answers the
 * class map as a grey PNG equal to those masks; classifiers refuse `format=png` with a 400.
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Generator, decodePixels, setSeed, tensor } from '../../src/index.js';
import { type ModelServer, createModelServer } from '../../src/serve/server.js';
import { argmaxClasses, decodeRle, unet } from '../../src/vision/index.js';
import { tempDir } from '../helpers/temp.js';
import { makeImageModel } from './fixtures.js';

const S = 16;
let server: ModelServer;
let image: Buffer;
let want: Uint8Array;

beforeAll(async () => {
  const root = tempDir('lepton-serve-segment-');
  setSeed(7);
  const net = unet({ inputShape: [S, S, 3], numClasses: 3, depth: 2, filters: 4 });
  await net.save(join(root, 'unet'), {
    labels: ['background', 'a', 'b'],
    preprocessing: { kind: 'image', height: S, width: S, channels: 3, scale: 1 / 255 },
  });
  const g = new Generator(3);
  const rgb = Uint8Array.from({ length: S * S * 3 }, () => g.int(0, 256));
  image = await sharp(Buffer.from(rgb), { raw: { width: S, height: S, channels: 3 } })
    .png()
    .toBuffer();
  const x = tensor(
    Float32Array.from(rgb, (v) => v / 255),
    { shape: [1, S, S, 3] },
  );
  want = argmaxClasses(net.apply(x).data as Float32Array, 3);
  server = await createModelServer({
    models: [{ dir: join(root, 'unet') }, { dir: await makeImageModel(join(root, 'brightness')) }],
  });
});
afterAll(async () => {
  await server?.close();
});

const post = (url: string, payload: Buffer) =>
  server.app.inject({ method: 'POST', url, payload, headers: { 'content-type': 'image/png' } });

describe('model server: segmentation models', () => {
  it('answers RLE masks per class (JSON) and the class map as PNG', async () => {
    const r = await post('/v1/models/unet/predict', image);
    expect(r.statusCode).toBe(200);
    const body = r.json() as {
      segmentation: {
        width: number;
        height: number;
        masks: { class: number; label: string; area: number; segmentation: never }[];
      }[];
    };
    expect(body.segmentation).toHaveLength(1);
    const { width, height, masks } = body.segmentation[0];
    expect([width, height]).toEqual([S, S]);
    expect(masks.length).toBeGreaterThan(0);
    const fromRle = new Uint8Array(S * S);
    for (const m of masks) {
      expect(m.label).toBe(['background', 'a', 'b'][m.class]);
      decodeRle(m.segmentation).forEach((v, p) => {
        if (v) fromRle[p] = m.class;
      });
    }
    let same = 0;
    for (let p = 0; p < S * S; p++) if (fromRle[p] === want[p]) same++;
    expect(same).toBeGreaterThanOrEqual(S * S - 2); // ONNX Runtime vs in-process rounding may flip a near-tie

    const png = await post('/v1/models/unet/predict?format=png', image);
    expect(png.statusCode).toBe(200);
    expect(png.headers['content-type']).toBe('image/png');
    const { data } = await decodePixels(png.rawPayload, { channels: 1 });
    expect([...data]).toEqual([...fromRle]);
  });

  it('refuses format=png for a classifier and unknown formats', async () => {
    const r = await post('/v1/models/brightness/predict?format=png', image);
    expect(r.statusCode).toBe(400);
    expect(r.json().error ?? r.body).toMatch(/not a segmentation model/);
    const bad = await post('/v1/models/unet/predict?format=gif', image);
    expect(bad.statusCode).toBe(400);
  });
});
