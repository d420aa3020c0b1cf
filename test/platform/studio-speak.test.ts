// The studio's speak page in Chromium: the fake microphone plays an espeak-ng WAV
// (--use-file-for-fake-audio-capture), the page streams it over the WebSocket to a registered speech
// model (random weights: what it writes is arbitrary), and the transcript shown must be the final
// results the server sent, covering the whole utterance, each equal to the model's offline
// transcription of that stretch of the audio the browser sent.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../src/index.js';
import { AsrModel, pcm16ToFloat, synthesize, writeWav } from '../../src/audio/index.js';
import { Registry } from '../../src/registry/registry.js';
import type { ModelServer } from '../../src/serve/server.js';
import { createStudio } from '../../src/studio/server.js';
import { randomAsr } from '../audio/random-asr.js';
import { tempDir } from '../helpers/temp.js';
import { makeTabularModel } from './fixtures.js';

// espeak-ng is installed by .ci/run; the fake microphone plays what it says.
execFileSync('espeak-ng', ['--version'], {
  stdio: 'ignore',
  env: { ...process.env, PULSE_RUNTIME_PATH: '/dev/null/pulse' },
});

let registry: Registry;
let studio: ModelServer;
let url: string;
let browser: Browser;
let speechSeconds: number;
let asr: AsrModel;

beforeAll(async () => {
  const root = tempDir('lepton-speak-');
  const dir = join(root, 'asr');
  asr = randomAsr();
  await saveModel(asr.model, dir);
  await AsrModel.saveSpec(dir, asr.spec);
  registry = new Registry(join(root, 'home'));
  await registry.registerModel(dir, { name: 'talk' });
  await registry.registerModel(await makeTabularModel(join(root, 'tabular')), { name: 'iris' });
  // Half a second of silence, the sentence, then silence: the fake device plays it once (%noloop).
  const spoken = (await synthesize('and he said to them go in peace', { engine: 'espeak-ng', name: 'en-us' }, 16000))
    .channels[0]!;
  speechSeconds = spoken.length / 16000;
  const samples = new Float32Array(spoken.length + 16000 * 3);
  samples.set(spoken, 8000);
  const wav = join(root, 'mic.wav');
  await writeWav(wav, { sampleRate: 16000, channels: [samples] });
  studio = await createStudio({ registry });
  url = await studio.listen(0);
  browser = await launchChromium([
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${wav}%noloop`,
    '--autoplay-policy=no-user-gesture-required',
  ]);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await studio?.close();
  registry?.close();
});

describe('studio speak page', () => {
  it('streams the microphone and shows partial and final transcripts', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const sent: { type: string; text?: string; start?: number; end?: number; sampleRate?: number }[] = [];
    page.on('websocket', (ws) =>
      ws.on('framereceived', (f) => {
        if (typeof f.payload === 'string') sent.push(JSON.parse(f.payload));
      }),
    );
    const audio: Buffer[] = [];
    const control: { type: string; sampleRate?: number }[] = [];
    page.on('websocket', (ws) =>
      ws.on('framesent', (f) => {
        if (typeof f.payload === 'string') control.push(JSON.parse(f.payload));
        else audio.push(f.payload);
      }),
    );
    await page.goto(`${url}/speak?model=talk`);
    // Only speech models are offered.
    expect(await page.locator('#model option').allTextContents()).toEqual(['talk']);
    await page.click('#start');
    await page.waitForSelector('#status[data-state=listening]', { timeout: 20_000 });
    // A partial transcript appears while the audio plays…
    await page.waitForFunction(() => (document.getElementById('partial')?.textContent ?? '') !== '', null, {
      timeout: 20_000,
    });
    // …and a final one at the endpoint after the sentence (the audio plays in real time).
    await page.waitForSelector('#finals li', { timeout: 30_000 });
    await page.click('#stop');
    await page.waitForSelector('#status[data-state=done]', { timeout: 20_000 });
    const shown = await page.locator('#finals li').allTextContents();
    expect(shown.length).toBeGreaterThan(0);
    expect(shown.every((t) => t.trim().length > 0)).toBe(true);
    // What the page shows is exactly the server's non-empty finals, in order.
    const finals = sent.filter((m) => m.type === 'final' && m.text);
    expect(shown).toEqual(finals.map((m) => m.text));
    expect(sent.some((m) => m.type === 'partial' && m.text)).toBe(true);
    // The stream carried the whole utterance: the first final ends after the speech did.
    expect(finals[0]!.end!).toBeGreaterThan(speechSeconds);
    const pcm = pcm16ToFloat(Buffer.concat(audio));
    expect(pcm.length / 16000).toBeGreaterThan(speechSeconds);
    // The fake microphone's speech reached the server (not only silence).
    expect(pcm.reduce((m, v) => Math.max(m, Math.abs(v)), 0)).toBeGreaterThan(0.05);
    // Each final equals the offline decoding of its stretch of the audio the page sent (the context ran at 16 kHz).
    expect(control[0]).toEqual({ type: 'start', sampleRate: 16000 });
    const offline = asr.transcribe(pcm).logProbs;
    for (const f of finals) {
      const a = Math.round(f.start! / asr.frameSeconds);
      const b = Math.round(f.end! / asr.frameSeconds);
      expect(f.text).toBe(asr.decode(offline.slice(a, b), a).text);
    }
    expect(errors).toEqual([]);
    // The session is closed on the server.
    const ready = (await (await fetch(`${url}/readyz`)).json()) as { streams: number };
    expect(ready.streams).toBe(0);
    await page.close();
  }, 90_000);

  it('links a speech model playground to the speak page', async () => {
    const page = await browser.newPage();
    await page.goto(`${url}/models/talk`);
    expect(await page.locator('#speak').getAttribute('href')).toBe('/speak?model=talk');
    await page.goto(`${url}/models/iris`);
    expect(await page.locator('#speak').count()).toBe(0);
    await page.close();
  });

  it('fits a phone screen', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    await page.goto(`${url}/speak`);
    await page.waitForSelector('#start');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await context.close();
  });
});
