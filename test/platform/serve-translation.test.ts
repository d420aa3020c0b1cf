/**
 * The model server with a translation model saved by saveTranslationModel: POST …/translate
 * answers pipeline('translation')'s translations (greedy and beam), and wrong requests get 4xx
 * answers that say what was expected; predict and generate on it point to translate.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ModelServer, createModelServer } from '../../src/serve/server.js';
import { pipeline } from '../../src/text/index.js';
import { tempDir } from '../helpers/temp.js';
import { saveTinyTranslationModel } from '../helpers/text-models.js';

let dir: string;
let server: ModelServer;

beforeAll(async () => {
  ({ dir } = await saveTinyTranslationModel(join(tempDir('lepton-serve-translation-'), 'en-es'), 5));
  server = await createModelServer({
    models: [{ dir, name: 'en-es' }],
    text: { maxChars: 100, maxNewTokens: 20, maxTexts: 8 },
  });
}, 120_000);
afterAll(async () => {
  await server?.close();
});

const post = (url: string, body: unknown) => server.app.inject({ method: 'POST', url, payload: body as object });

describe('model server: translation models', () => {
  it("translates as pipeline('translation') does, greedy and with beams", async () => {
    const translate = await pipeline('translation', dir);
    const texts = ['the light', 'in the earth was good'];
    const greedy = await post('/v1/models/en-es/translate', { texts, max_new_tokens: 8 });
    expect(greedy.statusCode).toBe(200);
    const body = greedy.json() as { model: string; translations: { translation_text: string }[] };
    expect(body.model).toBe('en-es');
    expect(body.translations).toEqual(await translate(texts, { maxNewTokens: 8 }));
    const beam = await post('/v1/models/en-es/translate', { text: 'the light', num_beams: 3, max_new_tokens: 8 });
    expect(beam.statusCode).toBe(200);
    expect((beam.json() as { translations: unknown[] }).translations).toEqual(
      await translate('the light', { numBeams: 3, maxNewTokens: 8 }),
    );
  });

  it('rejects wrong requests with 4xx answers naming the field', async () => {
    const cases: [unknown, number, RegExp][] = [
      [{}, 400, /translates: send \{"text": "…"\}/],
      [{ texts: ['a', 3] }, 400, /strings/],
      [{ text: 'x'.repeat(101) }, 413, /101 characters exceed the limit of 100/],
      [{ texts: ['a', 'b', 'c'], num_beams: 3 }, 413, /texts × num_beams: 3 × 3 hypotheses exceed the limit of 8/],
      [{ text: 'the light', num_beams: 0 }, 400, /num_beams: expected an integer in 1\.\.16/],
      [{ text: 'the light', max_new_tokens: 21 }, 400, /max_new_tokens: expected an integer in 1\.\.20/],
      [{ text: 'the light', length_penalty: -1 }, 400, /length_penalty: expected a number ≥ 0/],
    ];
    for (const [payload, status, message] of cases) {
      const r = await post('/v1/models/en-es/translate', payload);
      expect(r.statusCode, JSON.stringify(payload)).toBe(status);
      expect((r.json() as { error: string }).error).toMatch(message);
    }
    const predict = await post('/v1/models/en-es/predict', { text: 'the light' });
    expect(predict.statusCode).toBe(400);
    expect((predict.json() as { error: string }).error).toMatch(/translates: POST \/v1\/models\/en-es\/translate/);
    const generate = await post('/v1/models/en-es/generate', { prompt: 'the' });
    expect(generate.statusCode).toBe(400);
    expect((generate.json() as { error: string }).error).toMatch(/it translates: POST …\/translate/);
    expect((await post('/v1/models/missing/translate', { text: 'a' })).statusCode).toBe(404);
  });
});
