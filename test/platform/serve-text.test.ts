/**
 * The model server with text models saved by saveTextModel: strings in, the saved tokenizer runs
 * in the server. Classification answers equal the softmax of the model's own logits (run in
 * process) and pipeline()'s labels; generation equals pipeline()'s, as JSON and as a server-sent
 * event stream whose tokens add up to the final text; a client that disconnects mid-stream stops
 * the generation; limits and wrong requests get 4xx answers that say what was expected.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ModelServer, createModelServer } from '../../src/serve/server.js';
import { pipeline } from '../../src/text/index.js';
import { tempDir } from '../helpers/temp.js';
import { type TinyTextModels, trainTinyTextModels } from '../helpers/text-models.js';

let models: TinyTextModels;
let server: ModelServer;

beforeAll(async () => {
  models = await trainTinyTextModels(tempDir('lepton-serve-text-'));
  server = await createModelServer({
    models: [
      { dir: models.classifierDir, name: 'sentiment' },
      { dir: models.lmDir, name: 'lm' },
    ],
    text: { maxChars: 200, maxNewTokens: 2000 },
  });
}, 240_000);
afterAll(async () => {
  await server?.close();
});

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  server.app.inject({ method: 'POST', url, payload: body as object, headers });

/** The server-sent events of a response body, in order. */
function events(body: string): { event: string; data: Record<string, unknown> }[] {
  return body
    .split('\n\n')
    .filter((block) => block.trim())
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? '';
      const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null');
      return { event, data };
    });
}

describe('model server: text models', () => {
  it('classifies strings: scores are the softmax of the model run in process, labels from the folder', async () => {
    const texts = ['great sound', 'awful phone'];
    const logits = await models.classifierLogits(texts);
    const r = await post('/v1/models/sentiment/predict', { texts, top_k: 2 });
    expect(r.statusCode).toBe(200);
    const { predictions } = r.json() as { predictions: { label: string; score: number }[][] };
    expect(predictions).toHaveLength(2);
    for (let i = 0; i < 2; i++) {
      const pPositive = 1 / (1 + Math.exp(logits[2 * i] - logits[2 * i + 1]));
      const positive = predictions[i].find((p) => p.label === 'POSITIVE')!;
      expect(positive.score).toBeCloseTo(pPositive, 5);
      expect(predictions[i][0].score).toBeGreaterThanOrEqual(predictions[i][1].score);
    }
    expect(predictions.map((p) => p[0].label)).toEqual(['POSITIVE', 'NEGATIVE']);
    // top_k beyond the classes gives all of them
    const all = await post('/v1/models/sentiment/predict', { text: 'good', top_k: 10 });
    expect((all.json() as { predictions: unknown[][] }).predictions[0]).toHaveLength(2);
    // one text, default top_k 1: the same label pipeline() gives
    const one = await post('/v1/models/sentiment/predict', { text: 'love it' });
    const classify = await pipeline('sentiment-analysis', models.classifierDir);
    expect((one.json() as { predictions: { label: string }[][] }).predictions[0][0].label).toBe(
      (await classify('love it'))[0].label,
    );
  });

  it("generates pipeline()'s text, as JSON and as server-sent events that add up to it", async () => {
    const r = await post('/v1/models/lm/generate', { prompt: 'one two', max_new_tokens: 6 });
    expect(r.statusCode).toBe(200);
    const generate = await pipeline('text-generation', models.lmDir);
    const want = (await generate('one two', { maxNewTokens: 6 }))[0].generated_text;
    expect(want).toBe('one two three four five six one two');
    expect((r.json() as { generated_text: string }).generated_text).toBe(want);

    const sampledArgs = { prompt: 'three', max_new_tokens: 5, do_sample: true, top_k: 3, seed: 5 };
    const sampled = await post('/v1/models/lm/generate', sampledArgs);
    expect((sampled.json() as { generated_text: string }).generated_text).toBe(
      (await generate('three', { maxNewTokens: 5, doSample: true, topK: 3, seed: 5 }))[0].generated_text,
    );

    const s = await post('/v1/models/lm/generate', { prompt: 'one two', max_new_tokens: 6, stream: true });
    expect(s.statusCode).toBe(200);
    expect(s.headers['content-type']).toMatch(/^text\/event-stream/);
    const ev = events(s.body);
    const tokens = ev.filter((e) => e.event === 'token').map((e) => e.data.text as string);
    expect(tokens).toHaveLength(6);
    expect(ev.at(-1)!.event).toBe('done');
    expect(ev.at(-1)!.data.generated_text).toBe(want);
    expect(`one two${tokens.join('')}`).toBe(want);
    // Accept: text/event-stream asks for the stream too
    const accept = await post(
      '/v1/models/lm/generate',
      { prompt: 'one', max_new_tokens: 2 },
      { accept: 'text/event-stream' },
    );
    expect(events(accept.body).map((e) => e.event)).toEqual(['token', 'token', 'done']);
  });

  it('stops generating when the client disconnects mid-stream', async () => {
    await server.listen(0);
    const port = (server.app.server.address() as AddressInfo).port;
    const inferences = async () => {
      const m = (await server.app.inject({ method: 'GET', url: '/metrics' })).body;
      return [...m.matchAll(/^lepton_inference_duration_seconds_count\{[^}]*model="lm"[^}]*\} (\d+)/gm)].reduce(
        (n, x) => n + Number(x[1]),
        0,
      );
    };
    const before = await inferences();
    const asked = 2000;
    await new Promise<void>((resolve, reject) => {
      const req = request(
        {
          port,
          method: 'POST',
          path: '/v1/models/lm/generate',
          headers: { 'content-type': 'application/json' },
        },
        (res) => {
          res.once('data', () => {
            // the first token arrived: hang up
            req.destroy();
            resolve();
          });
        },
      );
      req.on('error', (e) => (e.message.includes('socket hang up') ? undefined : reject(e)));
      req.end(JSON.stringify({ prompt: 'one', max_new_tokens: asked, stream: true }));
    });
    await new Promise((r) => setTimeout(r, 500));
    const afterHangUp = await inferences();
    await new Promise((r) => setTimeout(r, 500));
    expect(await inferences()).toBe(afterHangUp); // nothing runs any more
    expect(afterHangUp - before).toBeGreaterThan(0);
    expect(afterHangUp - before).toBeLessThan(asked);
    // and the server still answers
    expect((await post('/v1/models/lm/generate', { prompt: 'one', max_new_tokens: 1 })).statusCode).toBe(200);
  });

  it('answers bad requests with 4xx that say what was expected', async () => {
    const cases: [string, unknown, number, RegExp][] = [
      ['/v1/models/sentiment/predict', { text: 'x'.repeat(201) }, 413, /201 characters exceed the limit of 200/],
      ['/v1/models/sentiment/predict', { text: 42 }, 400, /classifies text: send \{"text"/],
      ['/v1/models/sentiment/predict', { inputs: [[1, 2, 3]] }, 400, /classifies text/],
      ['/v1/models/sentiment/predict', { text: '' }, 400, /has no tokens/],
      ['/v1/models/sentiment/predict', { text: 'good', top_k: 0 }, 400, /top_k: expected a positive integer/],
      ['/v1/models/lm/predict', { text: 'one' }, 400, /generates text: POST \/v1\/models\/lm\/generate/],
      ['/v1/models/sentiment/generate', { prompt: 'one' }, 400, /not a text-generation model/],
      ['/v1/models/lm/generate', {}, 400, /prompt: expected a string/],
      ['/v1/models/lm/generate', { prompt: 'x'.repeat(300) }, 413, /prompt: 300 characters/],
      ['/v1/models/lm/generate', { prompt: 'one', max_new_tokens: 5000 }, 400, /limit of 2000 tokens/],
      ['/v1/models/lm/generate', { prompt: 'one', top_p: 1.5 }, 400, /top_p: expected a number in \(0, 1\]/],
      ['/v1/models/lm/generate', { prompt: 'one', temperature: 0 }, 400, /temperature: expected a number > 0/],
      ['/v1/models/lm/generate', { prompt: 'one', stream: 'yes' }, 400, /stream: expected true or false/],
      ['/v1/models/nope/generate', { prompt: 'one' }, 404, /nope/],
    ];
    for (const [url, body, status, message] of cases) {
      const r = await post(url, body);
      expect({ url, body, status: r.statusCode }).toEqual({ url, body, status });
      expect((r.json() as { error: string }).error).toMatch(message);
    }
  });
});

describe('model server: a text model folder whose tokenizer does not fit its embedding', () => {
  it('answers 500 naming both sizes instead of gathering ids out of range', async () => {
    const dir = join(tempDir('lepton-serve-vocab-'), 'sentiment');
    cpSync(models.classifierDir, dir, { recursive: true });
    const configPath = join(dir, 'config.json');
    const config = JSON.parse(readFileSync(configPath, 'utf8'));
    // The embedding as if trained with a 3-token vocabulary.
    const text = JSON.stringify(config.architecture).replace(/"vocabularySize":\d+/, '"vocabularySize":3');
    expect(text).toContain('"vocabularySize":3');
    config.architecture = JSON.parse(text);
    writeFileSync(configPath, JSON.stringify(config));
    const other = await createModelServer({ models: [{ dir, name: 'mismatched' }] });
    try {
      const r = await other.app.inject({
        method: 'POST',
        url: '/v1/models/mismatched/predict',
        payload: { text: 'good' },
      });
      expect(r.statusCode).toBe(500);
      expect((r.json() as { error: string }).error).toMatch(
        /tokenizer\.json has \d+ tokens but the model's embedding has 3 rows — a tokenizer from another vocabulary\?/,
      );
    } finally {
      await other.close();
    }
  });
});
