import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from '../../src/registry/registry.js';
import { createStudio } from '../../src/studio/server.js';
import type { ModelServer } from '../../src/serve/server.js';
import { makeImageModel, makeTabularModel, softmaxReference, tabularReference } from './fixtures.js';
import { tempDir } from '../helpers/temp.js';

const CHROMIUM = '/usr/bin/chromium';
const shots = join(process.cwd(), 'artifacts', 'screenshots');
let root: string;
let registry: Registry;
let studio: ModelServer;
let url: string;
let browser: Browser;
let page: Page;
let finishedRun: number;
let liveRun: number;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)`);
  mkdirSync(shots, { recursive: true });
  root = tempDir('lepton-studio-');
  registry = new Registry(join(root, 'home'));
  finishedRun = registry.createRun('cnn-adam', { optimizer: 'adam', lr: 0.001, batchSize: 64 });
  [2.1, 1.2, 0.8, 0.6, 0.5].forEach((loss, e) => registry.logEpoch(finishedRun, e, { loss, accuracy: 0.5 + e * 0.09, val_loss: loss + 0.1, val_accuracy: 0.48 + e * 0.085 }));
  registry.finishRun(finishedRun, 'completed');
  liveRun = registry.createRun('cnn-sgd', { optimizer: 'sgd', lr: 0.01, batchSize: 64 });
  registry.logEpoch(liveRun, 0, { loss: 2.3, accuracy: 0.3 });
  await registry.registerModel(await makeImageModel(join(root, 'brightness')), { runId: finishedRun, metrics: { accuracy: 0.86 } });
  await registry.registerModel(await makeTabularModel(join(root, 'tabular'), { labels: ['setosa', 'versicolor', 'virginica'] }), { name: 'iris-mlp' });
  studio = await createStudio({ registry, pollMs: 100 });
  url = await studio.listen(0);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (e) => {
    throw e;
  });
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
    expect(await page.locator('#chart-0 polyline').count()).toBe(2); // loss and val_loss
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
    await page.screenshot({ path: join(shots, 'compare.png'), fullPage: true });
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
    await sharp({ create: { width: 10, height: 10, channels: 3, background: '#ffffff' } }).png().toFile(white);
    await page.setInputFiles('#file', white);
    await page.waitForSelector('#prediction');
    expect(await page.locator('#prediction').textContent()).toBe(`bright ${(100 * softmaxReference([-0.5, 0.5])[1]).toFixed(1)}%`);
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
    await page.waitForFunction(() => document.querySelector('#prediction')?.textContent?.startsWith('bright') && document.querySelectorAll('.bars .row').length === 2);
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
    expect(await page.locator('#prediction').textContent()).toBe(`${['setosa', 'versicolor', 'virginica'][best]} ${(100 * probs[best]).toFixed(1)}%`);
    await page.screenshot({ path: join(shots, 'playground-tabular.png'), fullPage: true });
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
      for (const path of ['/', '/models', '/static/studio.js']) expect((await fetch(`${surl}${path}`)).status, path).toBe(200);

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
