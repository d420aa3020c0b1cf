/**
 * The model server with an object detector saved by FcosDetector.save: POST …/detect answers the
 * detections FcosDetector gives in process for the same images (boxes in each image's pixels, class
 * names from the folder), for raw, base64 and multipart images; ?format=png draws them; wrong
 * requests get 4xx answers that name what was wrong.
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePixels } from '../../src/data/image.js';
import { setSeed } from '../../src/index.js';
import { type ModelServer, createModelServer } from '../../src/serve/server.js';
import { FcosDetector } from '../../src/vision/detection/detector.js';
import { tempDir } from '../helpers/temp.js';
import { makeTabularModel } from './fixtures.js';

let server: ModelServer;
let detector: FcosDetector;
const images: Buffer[] = [];

/** A PNG of w × h pixels of seeded noise. */
async function noisePng(w: number, h: number, seed: number): Promise<Buffer> {
  let s = seed;
  const data = Buffer.alloc(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = (s = (s * 16807) % 2147483647) & 255;
  return sharp(data, { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toBuffer();
}

beforeAll(async () => {
  setSeed(8);
  const root = tempDir('lepton-serve-detect-');
  detector = new FcosDetector({
    numClasses: 2,
    imageSize: [64, 64],
    strides: [16, 32],
    classNames: ['circle', 'square'],
  });
  await detector.save(join(root, 'shapes'));
  images.push(await noisePng(80, 60, 3), await noisePng(64, 64, 4));
  server = await createModelServer({
    models: [
      { dir: join(root, 'shapes'), name: 'shapes' },
      { dir: await makeTabularModel(join(root, 'tabular')), name: 'tabular' },
    ],
  });
}, 120_000);
afterAll(async () => {
  await server?.close();
});

const options = { scoreThreshold: 0, maxDetections: 20 };
const query = '?score=0&max_detections=20';

describe('model server: object detectors', () => {
  it('answers what FcosDetector.detect gives in process, for raw, base64 and multipart images', async () => {
    const pixels = await Promise.all(images.map((b) => decodePixels(b, { channels: 3 })));
    const want = await detector.detectBatch(pixels, options);
    expect(want[0].length).toBeGreaterThan(0);
    const asJson = (list: (typeof want)[number]) =>
      list.map((d) => ({ box: d.box, label: d.label, class_name: ['circle', 'square'][d.label], score: d.score }));

    const raw = await server.app.inject({
      method: 'POST',
      url: `/v1/models/shapes/detect${query}`,
      headers: { 'content-type': 'image/png' },
      payload: images[0],
    });
    expect(raw.statusCode).toBe(200);
    const one = raw.json() as { detections: unknown[][]; sizes: number[][] };
    expect(one.sizes).toEqual([[80, 60]]);
    expect(one.detections[0]).toEqual(asJson(want[0]));

    const base64 = await server.app.inject({
      method: 'POST',
      url: `/v1/models/shapes/detect${query}`,
      payload: { images: images.map((b) => b.toString('base64')) },
    });
    expect(base64.statusCode).toBe(200);
    expect((base64.json() as { detections: unknown[][] }).detections).toEqual(want.map(asJson));

    const boundary = 'lepton-boundary';
    const multipart = Buffer.concat([
      ...images.flatMap((b, i) => [
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="${i}.png"\r\nContent-Type: image/png\r\n\r\n`,
        ),
        b,
        Buffer.from('\r\n'),
      ]),
      Buffer.from(`--${boundary}--\r\n`),
    ]);
    const form = await server.app.inject({
      method: 'POST',
      url: `/v1/models/shapes/detect${query}`,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      payload: multipart,
    });
    expect(form.statusCode).toBe(200);
    expect((form.json() as { detections: unknown[][] }).detections).toEqual(want.map(asJson));
  });

  it('draws the boxes with ?format=png', async () => {
    const r = await server.app.inject({
      method: 'POST',
      url: `/v1/models/shapes/detect${query}&format=png`,
      headers: { 'content-type': 'image/png' },
      payload: images[0],
    });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('image/png');
    const meta = await sharp(r.rawPayload).metadata();
    // Small images are drawn larger (as `lepton detect` does): 80 × 60 at 6 → capped at 4×.
    expect([meta.width, meta.height]).toEqual([320, 240]);
  });

  it('rejects wrong requests with 4xx answers', async () => {
    const post = (url: string, payload: unknown, type = 'image/png') =>
      server.app.inject({
        method: 'POST',
        url,
        headers: { 'content-type': type },
        payload: payload as Buffer,
      });
    const cases: [Awaited<ReturnType<typeof post>>, number, RegExp][] = [
      [await post('/v1/models/tabular/detect', images[0]), 400, /not an object detector/],
      [await post('/v1/models/shapes/detect?score=2', images[0]), 400, /score: expected a number in 0\.\.1/],
      [await post('/v1/models/shapes/detect?format=gif', images[0]), 400, /format: expected 'json' or 'png'/],
      [await post('/v1/models/shapes/detect', Buffer.from('not an image')), 400, /body: not a decodable image/],
      [
        await post('/v1/models/shapes/detect', JSON.stringify({ inputs: [[1]] }), 'application/json'),
        400,
        /detects objects in images/,
      ],
      [
        await post(
          '/v1/models/shapes/detect?format=png',
          JSON.stringify({ images: images.map((b) => b.toString('base64')) }),
          'application/json',
        ),
        400,
        /format=png answers one image; received 2/,
      ],
      [await post('/v1/models/missing/detect', images[0]), 404, /missing/],
    ];
    for (const [r, status, message] of cases) {
      expect(r.statusCode, r.body).toBe(status);
      expect((r.json() as { error: string }).error).toMatch(message);
    }
  });
});
