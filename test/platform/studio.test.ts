import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, newDesktopPage } from '../helpers/chromium.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from '../../src/registry/registry.js';
import { createStudio } from '../../src/studio/server.js';
import type { ModelServer } from '../../src/serve/server.js';
import { makeImageModel, makeTabularModel, softmaxReference, tabularReference } from './fixtures.js';
import { tempDir } from '../helpers/temp.js';

// Screenshots (desktop 1280 px and mobile 390 px) go to a temp folder, or to $LEPTON_SCREENSHOTS to keep them for a look.
let shots: string;
let root: string;
let registry: Registry;
let studio: ModelServer;
let url: string;
let browser: Browser;
let page: Page;
let finishedRun: number;
let liveRun: number;

beforeAll(async () => {
  root = tempDir('lepton-studio-');
  shots = process.env.LEPTON_SCREENSHOTS ?? join(root, 'screenshots');
  mkdirSync(shots, { recursive: true });
  registry = new Registry(join(root, 'home'));
  finishedRun = registry.createRun('cnn-adam', { optimizer: 'adam', lr: 0.001, batchSize: 64 });
  registry.updateParams(finishedRun, { epochs: 5, stepsPerEpoch: 20 });
  [2.1, 1.2, 0.8, 0.6, 0.5].forEach((loss, e) =>
    registry.logEpoch(finishedRun, e, {
      loss,
      accuracy: 0.5 + e * 0.09,
      val_loss: loss + 0.1,
      val_accuracy: 0.48 + e * 0.085,
    }),
  );
  // Per-step training curves: 20 noisy steps per epoch.
  registry.logSteps(
    finishedRun,
    Array.from({ length: 100 }, (_, i) => ({
      step: i + 1,
      epoch: (i + 1) / 20,
      metrics: {
        loss: 2.4 * Math.exp(-i / 30) + 0.3 + 0.25 * Math.sin(i * 1.7),
        accuracy: Math.min(0.98, 0.4 + i * 0.005 + 0.05 * Math.sin(i * 2.3)),
      },
    })),
  );
  registry.finishRun(finishedRun, 'completed');
  liveRun = registry.createRun('cnn-sgd', { optimizer: 'sgd', lr: 0.01, batchSize: 64 });
  registry.logEpoch(liveRun, 0, { loss: 2.3, accuracy: 0.3 });
  await registry.registerModel(await makeImageModel(join(root, 'brightness')), {
    runId: finishedRun,
    metrics: { accuracy: 0.86 },
  });
  await registry.registerModel(
    await makeTabularModel(join(root, 'tabular'), { labels: ['setosa', 'versicolor', 'virginica'] }),
    { name: 'iris-mlp' },
  );
  studio = await createStudio({ registry, pollMs: 100 });
  url = await studio.listen(0);
  browser = await launchChromium();
  page = await newDesktopPage(browser);
});

afterAll(async () => {
  await browser?.close();
  await studio?.close();
  registry?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('studio in a real browser', () => {
  it('runs list shows every run with status and last metrics', async () => {
    await page.goto(`${url}/`);
    await page.waitForSelector('#runs tbody tr');
    const rows = await page.locator('#runs tbody tr').allTextContents();
    expect(rows.length).toBe(2);
    expect(rows[0]).toMatch(/cnn-sgd.*running/);
    expect(rows[1]).toMatch(/cnn-adam.*completed/);
    await page.screenshot({ path: join(shots, 'runs.png'), fullPage: true });
  });

  it('run page charts update live while the run is going (SSE)', async () => {
    await page.goto(`${url}/runs/${liveRun}`);
    await page.waitForSelector('#live:has-text("live")');
    expect(await page.locator('#epochs tbody tr').count()).toBe(1);
    // Another writer (the training process) records epochs while the page is open.
    registry.logEpoch(liveRun, 1, { loss: 1.6, accuracy: 0.45 });
    await page.waitForFunction(() => document.querySelectorAll('#epochs tbody tr').length === 2);
    registry.updateParams(liveRun, { stepsPerEpoch: 20 });
    registry.logProgress(liveRun, { epoch: 2, batch: 9, loss: 1.4 });
    await page.waitForSelector('#details:has-text("epoch 3, batch 10/20")');
    // The running epoch's batch-level loss extends the loss curve.
    await page.waitForFunction(() => document.querySelectorAll('#chart-0 circle').length === 3);
    await page.screenshot({ path: join(shots, 'run-live.png'), fullPage: true });
    registry.logEpoch(liveRun, 2, { loss: 1.1, accuracy: 0.62 });
    await page.waitForFunction(() => document.querySelectorAll('#epochs tbody tr').length === 3);
    expect(await page.locator('#details').textContent()).not.toMatch(/progress/);
    // The loss chart has one point per epoch.
    expect(await page.locator('#chart-0 circle').count()).toBe(3);
    registry.finishRun(liveRun, 'completed');
    await page.waitForSelector('#status .badge.completed');
    expect(await page.locator('#live').textContent()).toBe('');
    await page.goto(`${url}/runs/${finishedRun}`);
    await page.waitForSelector('#chart-1 svg');
    expect(await page.locator('#chart-0 polyline.epoch').count()).toBe(2); // loss and val_loss
    // Per-step loss: raw (faint) and smoothed; a legend entry only for series with data (no 'val_loss per step').
    expect(await page.locator('#chart-0 polyline.step').count()).toBe(2);
    expect(await page.locator('#chart-0 .legend span').allTextContents()).toEqual([
      'loss',
      'loss per step',
      'val_loss',
    ]);
    // Round ticks; the accuracy axis stops at 1 and the loss axis at 0.
    const ticks = async (chart: string) =>
      (await page.locator(`${chart} svg text[text-anchor=end]`).allTextContents()).map(Number);
    const lossTicks = await ticks('#chart-0');
    expect(Math.min(...lossTicks)).toBeGreaterThanOrEqual(0);
    for (const t of [...lossTicks, ...(await ticks('#chart-1'))])
      expect(
        Math.abs(t * 4 - Math.round(t * 4)) < 1e-9 || Math.abs(t * 10 - Math.round(t * 10)) < 1e-9,
        String(t),
      ).toBe(true);
    expect(Math.max(...(await ticks('#chart-1')))).toBeLessThanOrEqual(1);
    // The smoothing slider changes the smoothed curve, not the raw one.
    const smoothPoints = () => page.locator('#chart-0 polyline.step.smooth').getAttribute('points');
    const rawPoints = () => page.locator('#chart-0 polyline.step.raw').getAttribute('points');
    const [before, raw] = [await smoothPoints(), await rawPoints()];
    await page.locator('#smoothing').fill('0');
    expect(await smoothPoints()).toBe(raw);
    expect(await smoothPoints()).not.toBe(before);
    await page.locator('#smoothing').fill('0.9');
    await page.screenshot({ path: join(shots, 'run.png'), fullPage: true });
  });

  it('compares runs from the runs list', async () => {
    await page.goto(`${url}/`);
    await page.waitForSelector('#runs tbody tr');
    await page.locator('#runs input[type=checkbox]').nth(0).check();
    await page.locator('#runs input[type=checkbox]').nth(1).check();
    await page.click('#compare');
    await page.waitForURL(/\/compare\?ids=/);
    await page.waitForSelector('#cmp-0 svg');
    expect(await page.locator('#cmp-0 polyline').count()).toBe(2);
    expect(await page.locator('main table').textContent()).toMatch(/optimizer"sgd""adam"/);
    // Axes stay in range: accuracy never above 1, loss never below 0.
    const yTicks = async (chart: string) =>
      (await page.locator(`${chart} svg text[text-anchor=end]`).allTextContents()).map(Number);
    const metricNames = await page.locator('main .grid .card h2').allTextContents();
    const accuracyChart = `#cmp-${metricNames.indexOf('accuracy')}`;
    const lossChart = `#cmp-${metricNames.indexOf('loss')}`;
    expect(Math.max(...(await yTicks(accuracyChart)))).toBeLessThanOrEqual(1);
    expect(Math.min(...(await yTicks(lossChart)))).toBeGreaterThanOrEqual(0);
    // Normalised x: each run's epochs as a fraction of its own length.
    await page.selectOption('#xmode', 'fraction');
    const xTicks = (await page.locator(`${lossChart} svg text[text-anchor=middle]`).allTextContents())
      .slice(0, -1)
      .map(Number);
    expect(Math.max(...xTicks)).toBeLessThanOrEqual(1);
    expect(await page.locator(`${lossChart} svg text`).last().textContent()).toBe('fraction of the run');
    await page.screenshot({ path: join(shots, 'compare.png'), fullPage: true });
    await page.selectOption('#xmode', 'epoch');
  });

  it('model registry lists versions, signatures and metrics', async () => {
    await page.goto(`${url}/models`);
    await page.waitForSelector('#models tbody tr');
    const text = await page.locator('#models').textContent();
    expect(text).toMatch(/brightness/);
    expect(text).toMatch(/iris-mlp/);
    expect(text).toMatch(/image \[batch, 4, 4, 1\]/);
    await page.screenshot({ path: join(shots, 'models.png'), fullPage: true });
  });

  it('image playground: upload and draw an image and see class probabilities', async () => {
    await page.goto(`${url}/models/brightness`);
    await page.waitForSelector('canvas#canvas');
    const white = join(root, 'white.png');
    await sharp({ create: { width: 10, height: 10, channels: 3, background: '#ffffff' } })
      .png()
      .toFile(white);
    await page.setInputFiles('#file', white);
    await page.waitForSelector('#prediction');
    expect(await page.locator('#prediction').textContent()).toBe(
      `bright ${(100 * softmaxReference([-0.5, 0.5])[1]).toFixed(1)}%`,
    );
    // Draw: clear to black and paint over most of the canvas.
    await page.click('#clear');
    const box = (await page.locator('#canvas').boundingBox())!;
    for (let y = 10; y < 280; y += 20) {
      await page.mouse.move(box.x + 5, box.y + y);
      await page.mouse.down();
      await page.mouse.move(box.x + 275, box.y + y, { steps: 4 });
      await page.mouse.up();
    }
    await page.click('#predict');
    await page.waitForFunction(
      () =>
        document.querySelector('#prediction')?.textContent?.startsWith('bright') &&
        document.querySelectorAll('.bars .row').length === 2,
    );
    // A thin digit-like stroke on black is mostly dark.
    await page.click('#clear');
    await page.mouse.move(box.x + 70, box.y + 60);
    await page.mouse.down();
    await page.mouse.move(box.x + 210, box.y + 60, { steps: 5 });
    await page.mouse.move(box.x + 120, box.y + 230, { steps: 5 });
    await page.mouse.up();
    await page.click('#predict');
    await page.waitForFunction(() => document.querySelector('#prediction')?.textContent?.startsWith('dark'));
    await page.screenshot({ path: join(shots, 'playground-image.png'), fullPage: true });
  });

  it('API docs page (OpenAPI, swagger-ui) lists the prediction routes', async () => {
    await page.goto(`${url}/docs`);
    await page.waitForSelector('.swagger-ui .opblock');
    expect(await page.locator('body').textContent()).toMatch(/\/v1\/models\/\{name\}\/predict/);
    await page.screenshot({ path: join(shots, 'docs.png'), fullPage: false });
  });

  it('tabular playground: a form generated from the signature', async () => {
    await page.goto(`${url}/models/iris-mlp`);
    await page.waitForSelector('#form');
    expect(await page.locator('#form input').count()).toBe(4);
    const x = [0.5, 2, -1, 1];
    for (let i = 0; i < 4; i++) await page.fill(`input[name=f${i}]`, String(x[i]));
    await page.click('#predict');
    await page.waitForSelector('#prediction');
    const probs = softmaxReference(tabularReference([x])[0]);
    const best = probs.indexOf(Math.max(...probs));
    expect(await page.locator('#prediction').textContent()).toBe(
      `${['setosa', 'versicolor', 'virginica'][best]} ${(100 * probs[best]).toFixed(1)}%`,
    );
    await page.screenshot({ path: join(shots, 'playground-tabular.png'), fullPage: true });
  });
});

describe('studio at phone width (390 px)', () => {
  it('no page is wider than the screen, the header is whole, and there is a favicon', async () => {
    const icon = await fetch(`${url}/favicon.ico`);
    expect(icon.status).toBe(200);
    expect(icon.headers.get('content-type')).toMatch(/image\/svg\+xml/);
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    const p = await context.newPage();
    try {
      const pages: [string, string, string][] = [
        ['/', '#runs tbody tr', 'mobile-runs.png'],
        [`/runs/${finishedRun}`, '#chart-1 svg', 'mobile-run.png'],
        [`/compare?ids=${liveRun},${finishedRun}`, '#cmp-0 svg', 'mobile-compare.png'],
        ['/models', '#models tbody tr', 'mobile-models.png'],
        ['/models/brightness', 'canvas#canvas', 'mobile-playground.png'],
      ];
      for (const [path, ready, file] of pages) {
        await p.goto(`${url}${path}`);
        await p.waitForSelector(ready);
        const width = await p.evaluate(() => document.documentElement.scrollWidth);
        expect(width, path).toBeLessThanOrEqual(390);
        const header = (await p.locator('header').boundingBox())!;
        expect(header.x, path).toBeGreaterThanOrEqual(0);
        expect(header.x + header.width, path).toBeLessThanOrEqual(390);
        for (const link of await p.locator('header nav a').all()) {
          const b = (await link.boundingBox())!;
          expect(b.x + b.width, path).toBeLessThanOrEqual(390);
        }
        await p.screenshot({ path: join(shots, file), fullPage: true });
      }
    } finally {
      await context.close();
    }
  });
});

describe('studio behind --token', () => {
  it('requires the bearer token for /api (401 without, 200 with); pages load and ask for the token once', async () => {
    const secured = await createStudio({ registry, token: 's3cret', pollMs: 100 });
    const surl = await secured.listen(0);
    try {
      for (const path of ['/api/runs', '/api/models', `/api/runs/${finishedRun}`, '/api/models/brightness']) {
        expect((await fetch(`${surl}${path}`)).status, path).toBe(401);
        expect((await fetch(`${surl}${path}`, { headers: { authorization: 'Bearer wrong' } })).status, path).toBe(401);
        expect((await fetch(`${surl}${path}`, { headers: { authorization: 'Bearer s3cret' } })).status, path).toBe(200);
      }
      // The run page's EventSource cannot send headers: event streams take ?access_token=, other requests do not.
      const events = `${surl}/api/runs/${finishedRun}/events`;
      expect((await fetch(events, { headers: { accept: 'text/event-stream' } })).status).toBe(401);
      const stream = await fetch(`${events}?access_token=s3cret`, { headers: { accept: 'text/event-stream' } });
      expect(stream.status).toBe(200);
      await stream.body?.cancel();
      expect((await fetch(`${surl}/api/runs?access_token=s3cret`)).status).toBe(401);
      for (const path of ['/', '/models', '/static/studio.js'])
        expect((await fetch(`${surl}${path}`)).status, path).toBe(200);

      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const p = await context.newPage();
      let prompts = 0;
      p.on('dialog', (d) => {
        prompts++;
        void d.accept('s3cret');
      });
      await p.goto(`${surl}/`);
      await p.waitForSelector('#runs tbody tr');
      await p.goto(`${surl}/models`);
      await p.waitForSelector('#models tbody tr');
      expect(prompts).toBe(1);
      expect(await p.evaluate(() => localStorage.getItem('lepton-token'))).toBe('s3cret');
      await context.close();
    } finally {
      await secured.close();
    }
  });
});
