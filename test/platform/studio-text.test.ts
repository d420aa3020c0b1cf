/**
 * The studio's playground for text models, in Chromium: a classifier shows one bar per label with
 * the server's scores; a language model streams its continuation into the page token by token and
 * ends with what the server's JSON answer gives for the same request.
 */
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from '../../src/registry/registry.js';
import type { ModelServer } from '../../src/serve/server.js';
import { createStudio } from '../../src/studio/server.js';
import { launchChromium, newDesktopPage } from '../helpers/chromium.js';
import { tempDir } from '../helpers/temp.js';
import { trainTinyTextModels } from '../helpers/text-models.js';

let registry: Registry;
let studio: ModelServer;
let url: string;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  const root = tempDir('lepton-studio-text-');
  const models = await trainTinyTextModels(join(root, 'models'));
  registry = new Registry(join(root, 'home'));
  await registry.registerModel(models.classifierDir, { name: 'sentiment' });
  await registry.registerModel(models.lmDir, { name: 'lm' });
  studio = await createStudio({ registry, pollMs: 100 });
  url = await studio.listen(0);
  browser = await launchChromium();
  page = await newDesktopPage(browser);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await studio?.close();
  registry?.close();
});

const postJson = async (path: string, body: unknown) =>
  (await studio.app.inject({ method: 'POST', url: path, payload: body as object })).json() as Record<string, unknown>;

describe('studio playground for text models (Chromium)', () => {
  it('classifies the typed text: a bar per label with the server’s scores', async () => {
    await page.goto(`${url}/models/sentiment`);
    await page.fill('#text', 'awful phone');
    await page.click('#run');
    await page.waitForSelector('#prediction');
    const served = (await postJson('/v1/models/sentiment/predict', { text: 'awful phone', top_k: 2 })) as {
      predictions: { label: string; score: number }[][];
    };
    const best = served.predictions[0][0];
    expect(best.label).toBe('NEGATIVE');
    expect(await page.locator('#prediction').textContent()).toBe(`${best.label} ${(100 * best.score).toFixed(1)}%`);
    expect(await page.locator('.bars .row').count()).toBe(2);
  });

  it('streams generated text into the page; the result equals the JSON answer', async () => {
    await page.goto(`${url}/models/lm`);
    await page.fill('#text', 'one two');
    await page.fill('#tokens', '6');
    await page.click('#run');
    await page.waitForFunction(() => document.querySelector('#gen-status')?.textContent?.startsWith('done'));
    const served = (await postJson('/v1/models/lm/generate', { prompt: 'one two', max_new_tokens: 6 })) as {
      generated_text: string;
    };
    expect(served.generated_text).toBe('one two three four five six one two');
    const shown = `${await page.locator('.generated .prompt').textContent()}${await page.locator('#generated').textContent()}`;
    expect(shown).toBe(served.generated_text);
    expect(await page.locator('#run').isDisabled()).toBe(false);
  });
});
