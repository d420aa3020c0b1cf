/**
 * The studio's playground for translation models and object detectors, in Chromium: translations
 * typed one per line come back as the server's JSON gives them; an uploaded image gets the
 * server's detections listed and their boxes drawn on a canvas, and the score slider asks again.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setSeed } from '../../src/index.js';
import { Registry } from '../../src/registry/registry.js';
import type { ModelServer } from '../../src/serve/server.js';
import { createStudio } from '../../src/studio/server.js';
import { FcosDetector } from '../../src/vision/detection/detector.js';
import { launchChromium, newDesktopPage } from '../helpers/chromium.js';
import { tempDir } from '../helpers/temp.js';
import { saveTinyTranslationModel } from '../helpers/text-models.js';

let registry: Registry;
let studio: ModelServer;
let url: string;
let browser: Browser;
let page: Page;
let imagePath: string;

beforeAll(async () => {
  setSeed(9);
  const root = tempDir('lepton-studio-vt-');
  await saveTinyTranslationModel(join(root, 'en-es'), 9);
  const detector = new FcosDetector({
    numClasses: 2,
    imageSize: [64, 64],
    strides: [16, 32],
    classNames: ['circle', 'square'],
  });
  await detector.save(join(root, 'shapes'));
  let s = 5;
  const noise = Buffer.alloc(72 * 56 * 3).map(() => (s = (s * 16807) % 2147483647) & 255);
  imagePath = join(root, 'scene.png');
  writeFileSync(
    imagePath,
    await sharp(noise, { raw: { width: 72, height: 56, channels: 3 } })
      .png()
      .toBuffer(),
  );
  registry = new Registry(join(root, 'home'));
  await registry.registerModel(join(root, 'en-es'), { name: 'en-es' });
  await registry.registerModel(join(root, 'shapes'), { name: 'shapes' });
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

describe('studio playground for translation and detection (Chromium)', () => {
  it('translates each typed line as the server does', async () => {
    await page.goto(`${url}/models/en-es`);
    await page.fill('#text', 'the light\nin the beginning');
    await page.fill('#beams', '2');
    await page.click('#run');
    await page.waitForSelector('ol.translations li b');
    const shown = await page.$$eval('ol.translations li b', (els) => els.map((e) => e.textContent));
    const served = (
      await studio.app.inject({
        method: 'POST',
        url: '/v1/models/en-es/translate',
        payload: { texts: ['the light', 'in the beginning'], num_beams: 2 },
      })
    ).json() as { translations: { translation_text: string }[] };
    expect(shown).toEqual(served.translations.map((t) => t.translation_text));
  });

  it('lists and draws the detections of an uploaded image; the slider asks again', async () => {
    await page.goto(`${url}/models/shapes`);
    await page.setInputFiles('#file', imagePath);
    await page.waitForSelector('#detections');
    // Every score: the server's list, in order, with class names and scores.
    await page.$eval('#score', (el: HTMLInputElement) => {
      el.value = '0';
      el.dispatchEvent(new Event('change'));
    });
    await page.waitForFunction(() =>
      /^[1-9]\d* detection/.test(document.getElementById('detections')?.textContent ?? ''),
    );
    const items = await page.$$eval('ol.detections li', (els) => els.map((e) => e.textContent));
    const served = (
      await studio.app.inject({
        method: 'POST',
        url: '/v1/models/shapes/detect?score=0',
        headers: { 'content-type': 'image/png' },
        payload: await sharp(imagePath).toBuffer(),
      })
    ).json() as { detections: { class_name: string; score: number }[][] };
    const want = served.detections[0];
    expect(items).toHaveLength(want.length);
    items.forEach((text, i) => expect(text).toContain(`${want[i].class_name} ${(100 * want[i].score).toFixed(1)}%`));
    // The canvas shows the image with boxes: some pixels carry the box colours.
    const coloured = await page.$eval('#boxes', (c: HTMLCanvasElement) => {
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] === 0xe6 && d[i + 1] === 0x19 && d[i + 2] === 0x4b) n++;
      for (let i = 0; i < d.length; i += 4) if (d[i] === 0x3c && d[i + 1] === 0xb4 && d[i + 2] === 0x4b) n++;
      return n;
    });
    expect(coloured).toBeGreaterThan(20);
  });
});
