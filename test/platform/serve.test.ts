import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelServer, type ModelServer } from '../../src/serve/server.js';
import { Registry } from '../../src/registry/registry.js';
import { makeImageModel, makeTabularModel, makeTwoInputModel, softmaxReference, tabularReference } from './fixtures.js';
import { tempDir } from '../helpers/temp.js';

let root: string;
let tabularDir: string;
let imageDir: string;
let server: ModelServer;

const close = (a: number[][], b: number[][], tol = 1e-5) =>
  a.every((row, i) => row.every((v, j) => Math.abs(v - b[i][j]) <= tol * (1 + Math.abs(b[i][j]))));

async function png(width: number, height: number, value: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: value, g: value, b: value } } })
    .png()
    .toBuffer();
}

beforeAll(async () => {
  root = tempDir('lepton-serve-');
  tabularDir = await makeTabularModel(join(root, 'tabular'), { labels: ['a', 'b', 'c'] });
  imageDir = await makeImageModel(join(root, 'brightness'));
  server = await createModelServer({
    models: [{ dir: tabularDir }, { dir: imageDir }],
    bodyLimit: 64 * 1024,
    maxRequestRows: 64,
  });
});
afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

const predict = (name: string, payload: unknown, headers: Record<string, string> = {}) =>
  server.app.inject({
    method: 'POST',
    url: `/v1/models/${name}/predict`,
    payload: payload as never,
    headers: { 'content-type': 'application/json', ...headers },
  });

describe('model server: predictions', () => {
  it('answers JSON tensors with outputs matching an independent computation, plus labelled probabilities', async () => {
    const x = [
      [1, 2, 3, 4],
      [-1, 0.5, 0, 2],
      [0, 0, 0, 0],
    ];
    const res = await predict('tabular', { inputs: x, top_k: 2 });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    const expected = tabularReference(x);
    expect(close(body.outputs, expected)).toBe(true);
    const probs = expected.map(softmaxReference);
    expect(close(body.probabilities, probs)).toBe(true);
    body.predictions.forEach((p: { label: string; probability: number; top: { label: string }[] }, i: number) => {
      const best = probs[i].indexOf(Math.max(...probs[i]));
      expect(p.label).toBe(['a', 'b', 'c'][best]);
      expect(p.probability).toBeCloseTo(probs[i][best], 5);
      expect(p.top.length).toBe(2);
    });
    expect(body.model).toBe('tabular');
    expect(body.version).toBe(1);
  });

  it('accepts inputs by name and a versioned route', async () => {
    const res = await server.app.inject({
      method: 'POST',
      url: '/v1/models/tabular/versions/1/predict',
      payload: { inputs: { features: [[1, 1, 1, 1]] } },
    });
    expect(res.statusCode).toBe(200);
    expect(close(res.json().outputs, tabularReference([[1, 1, 1, 1]]))).toBe(true);
    expect(
      (
        await server.app.inject({
          method: 'POST',
          url: '/v1/models/tabular/versions/7/predict',
          payload: { inputs: [[1, 1, 1, 1]] },
        })
      ).statusCode,
    ).toBe(404);
  });

  it('batches concurrent requests and returns each caller its own rows', async () => {
    const rows = Array.from({ length: 40 }, (_, i) => [i, -i, i / 2, 1]);
    const before = server.metrics.batchSize.count({ model: 'tabular', version: '1' });
    const responses = await Promise.all(rows.map((r) => predict('tabular', { inputs: [r] })));
    responses.forEach((res, i) => {
      expect(res.statusCode).toBe(200);
      expect(close(res.json().outputs, tabularReference([rows[i]]))).toBe(true);
    });
    const batches = server.metrics.batchSize.count({ model: 'tabular', version: '1' }) - before;
    expect(batches).toBeLessThan(40);
  });

  it('spreads batches over several worker threads with correct results', async () => {
    const s = await createModelServer({ models: [{ dir: tabularDir }], workers: 2, maxBatchSize: 4, maxWaitMs: 1 });
    try {
      const rows = Array.from({ length: 30 }, (_, i) => [i % 7, 1 - i, i / 3, -2]);
      const responses = await Promise.all(
        rows.map((r) => s.app.inject({ method: 'POST', url: '/v1/models/tabular/predict', payload: { inputs: [r] } })),
      );
      responses.forEach((res, i) => expect(close(res.json().outputs, tabularReference([rows[i]]))).toBe(true));
      // Every batch respected the size limit.
      expect(s.metrics.render()).toMatch(/lepton_batch_size_bucket\{model="tabular",version="1",le="4"\} (\d+)/);
      const m =
        /lepton_batch_size_bucket\{model="tabular",version="1",le="4"\} (\d+)[\s\S]*lepton_batch_size_count\{model="tabular",version="1"\} (\d+)/.exec(
          s.metrics.render(),
        )!;
      expect(m[1]).toBe(m[2]);
    } finally {
      await s.close();
    }
  });

  it('classifies images sent as multipart, raw image/png and base64 JSON', async () => {
    const white = await png(9, 7, 255);
    const black = await png(5, 5, 0);
    const boundary = '----lepton';
    const multipart = Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="w.png"\r\nContent-Type: image/png\r\n\r\n`,
      ),
      white,
      Buffer.from(
        `\r\n--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="b.png"\r\nContent-Type: image/png\r\n\r\n`,
      ),
      black,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const m = await server.app.inject({
      method: 'POST',
      url: '/v1/models/brightness/predict',
      payload: multipart,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    expect(m.statusCode).toBe(200);
    expect(m.json().predictions.map((p: { label: string }) => p.label)).toEqual(['bright', 'dark']);
    // white pixels = 1 → logits [-0.5, 0.5]
    expect(
      close(m.json().outputs, [
        [-0.5, 0.5],
        [0.5, -0.5],
      ]),
    ).toBe(true);
    expect(m.json().predictions[0].probability).toBeCloseTo(softmaxReference([-0.5, 0.5])[1], 5);

    const raw = await server.app.inject({
      method: 'POST',
      url: '/v1/models/brightness/predict',
      payload: black,
      headers: { 'content-type': 'image/png' },
    });
    expect(raw.json().predictions[0].label).toBe('dark');
    const b64 = await predict('brightness', {
      images: [`data:image/png;base64,${white.toString('base64')}`, black.toString('base64')],
    });
    expect(b64.json().predictions.map((p: { label: string }) => p.label)).toEqual(['bright', 'dark']);
  });

  it('applies the saved preprocessing to JSON pixels of image models, like an upload; "preprocessed": true skips it', async () => {
    const grid = (n: number, v: number, channel = false) =>
      Array.from({ length: n }, () => Array.from({ length: n }, () => (channel ? [v] : v)));
    // The model scales by 1/255: white (255) pixels → mean 1 → logits [-0.5, 0.5], as for a white PNG.
    for (const inputs of [[grid(4, 255)], [grid(4, 255, true)], [grid(8, 255)], { image: [grid(4, 255)] }]) {
      const res = await predict('brightness', { inputs });
      expect(res.statusCode, JSON.stringify(inputs).slice(0, 40)).toBe(200);
      expect(close(res.json().outputs, [[-0.5, 0.5]])).toBe(true);
      expect(res.json().predictions[0].label).toBe('bright');
    }
    const upload = await server.app.inject({
      method: 'POST',
      url: '/v1/models/brightness/predict',
      payload: await png(4, 4, 51),
      headers: { 'content-type': 'image/png' },
    });
    const json = await predict('brightness', { inputs: [grid(4, 51)] });
    expect(json.json().outputs).toEqual(upload.json().outputs);
    // Model-ready tensors as they are: 1.0 is white; 255 is not scaled (logits 0.5 - 255).
    expect(
      close((await predict('brightness', { inputs: [grid(4, 1, true)], preprocessed: true })).json().outputs, [
        [-0.5, 0.5],
      ]),
    ).toBe(true);
    expect(
      close((await predict('brightness', { inputs: [grid(4, 255, true)], preprocessed: true })).json().outputs, [
        [0.5 - 255, 255 - 0.5],
      ]),
    ).toBe(true);
    const bad = await predict('brightness', { inputs: [grid(4, 300)] });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatch(/pixel values must lie in 0\.\.255, received 300/);
    const wrongShape = await predict('brightness', { inputs: [grid(4, 1, true)], preprocessed: 'yes' });
    expect(wrongShape.json().error).toMatch(/preprocessed: expected true or false/);
  });

  it('returns probabilities and class-index predictions for a classifier saved without class names', async () => {
    const dir = await makeTabularModel(join(root, 'unlabelled'), {});
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({
        ...config,
        compile: { loss: { className: 'SparseCategoricalCrossentropy', config: { fromLogits: true } } },
      }),
    );
    const plain = await makeTabularModel(join(root, 'regression'), {});
    const s = await createModelServer({ models: [{ dir }, { dir: plain }] });
    try {
      const x = [[1, 2, 3, 4]];
      const body = (
        await s.app.inject({ method: 'POST', url: '/v1/models/unlabelled/predict', payload: { inputs: x } })
      ).json();
      const probs = softmaxReference(tabularReference(x)[0]);
      expect(close(body.probabilities, [probs])).toBe(true);
      expect(body.predictions[0].label).toBe(String(probs.indexOf(Math.max(...probs))));
      // Without class names or a classification loss nothing says the outputs are class scores.
      const other = (
        await s.app.inject({ method: 'POST', url: '/v1/models/regression/predict', payload: { inputs: x } })
      ).json();
      expect(other.probabilities).toBeUndefined();
      expect(close(other.outputs, tabularReference(x))).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('counts requests rejected before the handler (malformed JSON, 415, 413, 401) in lepton_requests_total', async () => {
    const s = await createModelServer({ models: [{ dir: tabularDir }], bodyLimit: 1024, token: 't' });
    try {
      const send = (payload: string, type: string, auth = 'Bearer t') =>
        s.app.inject({
          method: 'POST',
          url: '/v1/models/tabular/predict',
          payload,
          headers: { 'content-type': type, authorization: auth },
        });
      expect((await send('{"inputs": [[1,2', 'application/json')).statusCode).toBe(400);
      expect((await send('hello', 'text/plain')).statusCode).toBe(415);
      expect((await send(`{"inputs": [[1,2,3,4]], "pad": "${'x'.repeat(2000)}"}`, 'application/json')).statusCode).toBe(
        413,
      );
      expect((await send('{"inputs": [[1,2,3,4]]}', 'application/json', 'Bearer wrong')).statusCode).toBe(401);
      expect((await send('{"inputs": [[1,2,3,4]]}', 'application/json')).statusCode).toBe(200);
      expect((await send('{"inputs": [[1,2]]}', 'application/json')).statusCode).toBe(400);
      const metrics = (await s.app.inject({ url: '/metrics', headers: { authorization: 'Bearer t' } })).body;
      for (const [code, n] of [
        ['400', 2],
        ['415', 1],
        ['413', 1],
        ['401', 1],
        ['200', 1],
      ]) {
        expect(metrics, code as string).toContain(`lepton_requests_total{code="${code}",model="tabular"} ${n}`);
      }
    } finally {
      await s.close();
    }
  });

  it('treats a [batch, H, W, 1|3] float32 model without preprocessing in its config as an image model (0..1 pixels)', async () => {
    const dir = await makeImageModel(join(root, 'no-pre'), { preprocessing: false });
    const s = await createModelServer({ models: [{ dir, name: 'nopre' }] });
    try {
      const res = await s.app.inject({
        method: 'POST',
        url: '/v1/models/nopre/predict',
        payload: await png(3, 3, 255),
        headers: { 'content-type': 'image/png' },
      });
      expect(res.statusCode).toBe(200);
      expect(close(res.json().outputs, [[-0.5, 0.5]])).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('takes named inputs for multi-input models (signature read from model.onnx, no config.json)', async () => {
    const dir = await makeTwoInputModel(join(root, 'two'));
    const s = await createModelServer({ models: [{ dir }] });
    try {
      const send = (inputs: unknown) =>
        s.app.inject({ method: 'POST', url: '/v1/models/two/predict', payload: { inputs } });
      const ok = await send({
        a: [
          [1, 1],
          [0, 3],
        ],
        b: [
          [1, 2, 3],
          [0, 0, 1],
        ],
      });
      expect(ok.statusCode).toBe(200);
      expect(ok.json().outputs).toEqual([[1 + 2 + 6], [6 + 1]]);
      const missing = await send({ a: [[1, 1]] });
      expect(missing.statusCode).toBe(400);
      expect(missing.json().error).toMatch(/inputs\.b: missing \(expected shape \[batch, 3\] float32\)/);
      const rows = await send({
        a: [[1, 1]],
        b: [
          [1, 2, 3],
          [1, 1, 1],
        ],
      });
      expect(rows.json().error).toMatch(/same batch size.*a: 1, b: 2/);
      expect((await send([[1, 1]])).json().error).toMatch(/this model has 2 inputs \(a, b\)/);
    } finally {
      await s.close();
    }
  });

  it('names a served folder after the folder', async () => {
    const dir = await makeTabularModel(join(root, 'my-folder'), { name: 'name-in-config' });
    const s = await createModelServer({ models: [{ dir }] });
    try {
      expect((await s.app.inject({ url: '/v1/models' })).json().models.map((m: { name: string }) => m.name)).toEqual([
        'my-folder',
      ]);
    } finally {
      await s.close();
    }
  });

  it('lists models with their signatures', async () => {
    const res = await server.app.inject({ method: 'GET', url: '/v1/models' });
    const models = res.json().models;
    expect(models.map((m: { name: string }) => m.name).sort()).toEqual(['brightness', 'tabular']);
    const tab = models.find((m: { name: string }) => m.name === 'tabular');
    expect(tab.signature.inputs[0]).toEqual({ name: 'features', shape: [null, 4], dtype: 'float32' });
    expect(tab.labels).toEqual(['a', 'b', 'c']);
  });
});

describe('model server: nothing a client sends crashes it', () => {
  const cases: [string, () => Promise<{ statusCode: number; json: () => { error: string } }>, number, RegExp][] = [
    [
      'malformed JSON',
      () =>
        server.app.inject({
          method: 'POST',
          url: '/v1/models/tabular/predict',
          payload: '{"inputs": [[1,2',
          headers: { 'content-type': 'application/json' },
        }),
      400,
      /JSON/,
    ],
    [
      'empty JSON body',
      () =>
        server.app.inject({
          method: 'POST',
          url: '/v1/models/tabular/predict',
          payload: '',
          headers: { 'content-type': 'application/json' },
        }),
      400,
      /empty|JSON/i,
    ],
    [
      'wrong shape',
      () => predict('tabular', { inputs: [[1, 2, 3]] }),
      400,
      /inputs\.features: expected shape \[batch, 4\] float32, received \[1, 3\]/,
    ],
    [
      'wrong rank',
      () => predict('tabular', { inputs: [1, 2, 3, 4] }),
      400,
      /inputs\.features: expected shape \[batch, 4\] float32 \(rank 2\), received shape \[4\]/,
    ],
    [
      'ragged rows',
      () =>
        predict('tabular', {
          inputs: [
            [1, 2, 3, 4],
            [1, 2],
          ],
        }),
      400,
      /ragged/,
    ],
    [
      'strings',
      () => predict('tabular', { inputs: [[1, 2, 'x', 4]] }),
      400,
      /expected a finite number \(float32\), received the string "x"/,
    ],
    ['NaN as a string', () => predict('tabular', { inputs: [[1, 2, 'NaN', 4]] }), 400, /finite number/],
    [
      'NaN literal (not JSON)',
      () =>
        server.app.inject({
          method: 'POST',
          url: '/v1/models/tabular/predict',
          payload: '{"inputs": [[NaN,1,2,3]]}',
          headers: { 'content-type': 'application/json' },
        }),
      400,
      /JSON/,
    ],
    // biome-ignore lint/correctness/noPrecisionLoss: 1e400 overflows to Infinity on purpose
    ['huge number', () => predict('tabular', { inputs: [[1e400, 0, 0, 0]] }), 400, /finite/],
    ['null', () => predict('tabular', { inputs: [[null, 0, 0, 0]] }), 400, /received null/],
    ['missing inputs', () => predict('tabular', { data: [] }), 400, /missing "inputs"/],
    [
      'unknown input name',
      () => predict('tabular', { inputs: { pixels: [[1, 2, 3, 4]] } }),
      400,
      /unknown input 'pixels'/,
    ],
    [
      'too many rows',
      () => predict('tabular', { inputs: Array.from({ length: 65 }, () => [0, 0, 0, 0]) }),
      413,
      /at most 64/,
    ],
    [
      'deep nesting',
      () =>
        server.app.inject({
          method: 'POST',
          url: '/v1/models/tabular/predict',
          payload: `{"inputs": ${'['.repeat(5000)}${']'.repeat(5000)}}`,
          headers: { 'content-type': 'application/json' },
        }),
      400,
      /rank/,
    ],
    [
      'body over the size limit',
      () => predict('tabular', { inputs: [[1, 2, 3, 4]], pad: 'x'.repeat(70 * 1024) }),
      413,
      /too large/i,
    ],
    [
      'text/plain',
      () =>
        server.app.inject({
          method: 'POST',
          url: '/v1/models/tabular/predict',
          payload: 'hello',
          headers: { 'content-type': 'text/plain' },
        }),
      415,
      /content.type|media type/i,
    ],
    [
      'image to a tensor model',
      () =>
        server.app.inject({
          method: 'POST',
          url: '/v1/models/tabular/predict',
          payload: Buffer.from([1, 2, 3]),
          headers: { 'content-type': 'image/png' },
        }),
      415,
      /takes tensors/,
    ],
    ['unknown model', () => predict('nope', { inputs: [[1]] }), 404, /no model 'nope'/],
    [
      'bad version',
      () =>
        server.app.inject({
          method: 'POST',
          url: '/v1/models/tabular/versions/x/predict',
          payload: { inputs: [[1, 2, 3, 4]] },
        }),
      400,
      /version/,
    ],
    [
      'truncated image',
      () =>
        png(8, 8, 200).then((b) =>
          server.app.inject({
            method: 'POST',
            url: '/v1/models/brightness/predict',
            payload: b.subarray(0, b.length - 20),
            headers: { 'content-type': 'image/png' },
          }),
        ),
      400,
      /could not decode/,
    ],
    [
      'garbage image',
      () =>
        server.app.inject({
          method: 'POST',
          url: '/v1/models/brightness/predict',
          payload: Buffer.from('not an image at all'),
          headers: { 'content-type': 'image/jpeg' },
        }),
      400,
      /could not decode/,
    ],
    [
      'truncated multipart',
      () =>
        server.app.inject({
          method: 'POST',
          url: '/v1/models/brightness/predict',
          payload: '--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\nabc',
          headers: { 'content-type': 'multipart/form-data; boundary=b' },
        }),
      400,
      /multipart body/,
    ],
    [
      'multipart without boundary',
      () =>
        server.app.inject({
          method: 'POST',
          url: '/v1/models/brightness/predict',
          payload: 'abc',
          headers: { 'content-type': 'multipart/form-data' },
        }),
      400,
      /multipart body/,
    ],
    [
      'bad top_k',
      () =>
        server.app.inject({
          method: 'POST',
          url: '/v1/models/tabular/predict?top_k=abc',
          payload: { inputs: [[1, 2, 3, 4]] },
        }),
      400,
      /top_k/,
    ],
    [
      'no content type',
      () =>
        server.app.inject({ method: 'POST', url: '/v1/models/tabular/predict', payload: '{"inputs": [[1,2,3,4]]}' }),
      415,
      /media type/i,
    ],
    ['bad base64', () => predict('brightness', { image: '!!!' }), 400, /base64/],
    [
      'image with huge claimed dimensions',
      () =>
        hugePng().then((b) =>
          server.app.inject({
            method: 'POST',
            url: '/v1/models/brightness/predict',
            payload: b,
            headers: { 'content-type': 'image/png' },
          }),
        ),
      400,
      /could not decode/,
    ],
  ];
  for (const [what, send, status, message] of cases) {
    it(`${what} → ${status}`, async () => {
      const res = await send();
      expect(res.statusCode).toBe(status);
      expect(res.json().error).toMatch(message);
    });
  }

  it('still serves after all of that', async () => {
    expect((await predict('tabular', { inputs: [[1, 2, 3, 4]] })).statusCode).toBe(200);
    expect((await server.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});

/** A valid PNG header claiming 100000×100000 pixels with almost no data. */
async function hugePng(): Promise<Buffer> {
  const small = await png(1, 1, 0);
  const b = Buffer.from(small);
  // IHDR width/height live at bytes 16..23; the CRC is then wrong, which decoders must also survive.
  b.writeUInt32BE(100000, 16);
  b.writeUInt32BE(100000, 20);
  return b;
}

describe('model server: operations', () => {
  it('exposes health, readiness, Prometheus metrics and OpenAPI', async () => {
    expect((await server.app.inject({ url: '/readyz' })).json().status).toBe('ready');
    const metrics = (await server.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/# TYPE lepton_request_duration_seconds histogram/);
    expect(metrics).toMatch(/lepton_batch_size_bucket\{model="tabular",version="1",le="1"\} \d+/);
    expect(metrics).toMatch(/lepton_queue_length\{model="tabular",version="1"\} 0/);
    expect(metrics).toMatch(/lepton_requests_total\{code="400",model="tabular"\} \d+/);
    const openapi = (await server.app.inject({ url: '/openapi.json' })).json();
    expect(openapi.openapi).toMatch(/^3/);
    expect(Object.keys(openapi.paths)).toContain('/v1/models/{name}/predict');
    const docs = await server.app.inject({ url: '/docs/' });
    expect(docs.statusCode).toBe(200);
    expect(docs.body).toMatch(/swagger/i);
  });

  it('requires the bearer token when one is configured (401 otherwise)', async () => {
    const s = await createModelServer({ models: [{ dir: tabularDir }], token: 's3cret-token' });
    try {
      const body = { inputs: [[1, 2, 3, 4]] };
      expect(
        (await s.app.inject({ method: 'POST', url: '/v1/models/tabular/predict', payload: body })).statusCode,
      ).toBe(401);
      expect(
        (
          await s.app.inject({
            method: 'POST',
            url: '/v1/models/tabular/predict',
            payload: body,
            headers: { authorization: 'Bearer wrong' },
          })
        ).statusCode,
      ).toBe(401);
      expect(
        (
          await s.app.inject({
            method: 'POST',
            url: '/v1/models/tabular/predict',
            payload: body,
            headers: { authorization: 'Bearer s3cret-token-longer' },
          })
        ).statusCode,
      ).toBe(401);
      expect((await s.app.inject({ method: 'GET', url: '/v1/models' })).statusCode).toBe(401);
      expect(
        (
          await s.app.inject({
            method: 'POST',
            url: '/v1/models/tabular/predict',
            payload: body,
            headers: { authorization: 'Bearer s3cret-token' },
          })
        ).statusCode,
      ).toBe(200);
      expect((await s.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await s.close();
    }
  });

  it('rate limits (429)', async () => {
    const s = await createModelServer({ models: [{ dir: tabularDir }], rateLimit: { max: 3, timeWindowMs: 60_000 } });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 5; i++)
        codes.push(
          (
            await s.app.inject({
              method: 'POST',
              url: '/v1/models/tabular/predict',
              payload: { inputs: [[1, 2, 3, 4]] },
            })
          ).statusCode,
        );
      expect(codes).toEqual([200, 200, 200, 429, 429]);
    } finally {
      await s.close();
    }
  });

  it('finishes in-flight requests on graceful shutdown', async () => {
    // A long batching wait keeps the request in flight while close() starts.
    const s = await createModelServer({ models: [{ dir: tabularDir }], maxWaitMs: 1000, maxBatchSize: 64 });
    const url = await s.listen(0);
    const pending = fetch(`${url}/v1/models/tabular/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [[1, 2, 3, 4]] }),
    });
    // Close only once the request has arrived and waits in the batcher.
    const batcher = s.store.latest('tabular')!.batcher;
    while (batcher.inFlight === 0) await new Promise((r) => setTimeout(r, 5));
    const closing = s.close();
    const res = await pending;
    expect(res.status).toBe(200);
    expect(close((await res.json()).outputs, tabularReference([[1, 2, 3, 4]]))).toBe(true);
    await closing;
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('loads a new model version without dropping requests', async () => {
    const s = await createModelServer({ models: [{ dir: tabularDir }], maxWaitMs: 1 });
    const url = await s.listen(0);
    try {
      const v2Dir = await makeTabularModel(join(root, 'tabular-v2'), { b: [10, 20, 30], labels: ['a', 'b', 'c'] });
      const x = [[1, 2, 3, 4]];
      const v1 = tabularReference(x);
      const v2 = tabularReference(x, undefined, [10, 20, 30]);
      let stop = false;
      const seen = { v1: 0, v2: 0, other: 0, errors: 0 };
      const client = async () => {
        while (!stop) {
          const res = await fetch(`${url}/v1/models/tabular/predict`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ inputs: x }),
          });
          if (res.status !== 200) {
            seen.errors++;
            continue;
          }
          const body = await res.json();
          if (body.version === 1 && close(body.outputs, v1)) seen.v1++;
          else if (body.version === 2 && close(body.outputs, v2)) seen.v2++;
          else seen.other++;
        }
      };
      const clients = Array.from({ length: 8 }, client);
      const until = async (cond: () => boolean) => {
        for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
      };
      await until(() => seen.v1 >= 10);
      const loaded = await s.load(v2Dir, 'tabular');
      expect(loaded.version).toBe(2);
      await until(() => seen.v2 >= 10);
      stop = true;
      await Promise.all(clients);
      expect(seen.errors).toBe(0);
      expect(seen.other).toBe(0);
      expect(seen.v1).toBeGreaterThan(0);
      expect(seen.v2).toBeGreaterThan(0);
      // The old version stays addressable.
      const old = await s.app.inject({
        method: 'POST',
        url: '/v1/models/tabular/versions/1/predict',
        payload: { inputs: x },
      });
      expect(close(old.json().outputs, v1)).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('serves registered models by name, loading new registered versions', async () => {
    const registry = new Registry(join(root, 'home'));
    await registry.registerModel(tabularDir, { name: 'reg' });
    const s = await createModelServer({ registry });
    try {
      const x = [[0, 1, 0, 1]];
      const r1 = await s.app.inject({ method: 'POST', url: '/v1/models/reg/predict', payload: { inputs: x } });
      expect(r1.json().version).toBe(1);
      await registry.registerModel(await makeTabularModel(join(root, 'reg-v2'), { b: [1, 1, 1] }), { name: 'reg' });
      const r2 = await s.app.inject({ method: 'POST', url: '/v1/models/reg/predict', payload: { inputs: x } });
      expect(r2.json().version).toBe(2);
      expect(close(r2.json().outputs, tabularReference(x, undefined, [1, 1, 1]))).toBe(true);
      const list = (await s.app.inject({ url: '/v1/models' })).json().models;
      expect(list.find((m: { name: string }) => m.name === 'reg').versions).toEqual([1, 2]);
    } finally {
      await s.close();
      registry.close();
    }
  });
});
