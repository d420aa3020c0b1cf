// Speech streams over WebSocket (/v1/models/:name/stream): a saved streaming CTC model (random
// weights: what it writes is arbitrary but deterministic, so the streamed transcript must equal the
// model's offline transcription of the same audio), the protocol's messages and close codes, the
// limits, auth, bad input, and that every session is freed however it ends.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { saveModel } from '../../src/index.js';
import { AsrModel, resample, streamResampler, synthesize } from '../../src/audio/index.js';
import { type ModelServer, createModelServer } from '../../src/serve/server.js';
import { randomAsr } from '../audio/random-asr.js';
import { makeTabularModel } from '../platform/fixtures.js';
import { tempDir } from '../helpers/temp.js';

// espeak-ng is installed by .ci/run; the test needs it for speech-like audio.
execFileSync('espeak-ng', ['--version'], {
  stdio: 'ignore',
  env: { ...process.env, PULSE_RUNTIME_PATH: '/dev/null/pulse' },
});

interface Message {
  type: string;
  text?: string;
  words?: { word: string; start: number; end: number }[];
  error?: string;
  code?: number;
  [k: string]: unknown;
}

interface Outcome {
  messages: Message[];
  code: number;
  reason: string;
}

let main: ModelServer;
let limited: ModelServer;
let mainUrl: string;
let limitedUrl: string;
let asr: AsrModel;
let speech16k: Float32Array;
let speech22k: Float32Array;
const TOKEN = 'stream-secret';

/** Int16 LE bytes of samples in [-1, 1]. */
function pcm16(samples: Float32Array): Buffer {
  const b = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++)
    b.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(samples[i]! * 32768))), 2 * i);
  return b;
}

/** The samples a 16-bit stream carries (what the server decodes). */
const quantized = (samples: Float32Array): Float32Array => {
  const b = pcm16(samples);
  return Float32Array.from({ length: samples.length }, (_, i) => b.readInt16LE(2 * i) / 32768);
};

function frames(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(bytes.subarray(at, at + size));
  return out;
}

function connect(url: string, headers: Record<string, string> = {}): WebSocket {
  return new WebSocket(url, { headers });
}

/** Sends `script` (binary frames and text messages) after 'ready', then collects everything until close. */
function session(
  url: string,
  script: (Buffer | string)[],
  options: { headers?: Record<string, string>; waitReady?: boolean } = {},
): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const ws = connect(url, options.headers);
    const messages: Message[] = [];
    const run = () => {
      for (const m of script) ws.send(m, { binary: typeof m !== 'string' });
    };
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as Message;
      messages.push(m);
      if (m.type === 'ready' && options.waitReady !== false) run();
    });
    ws.on('open', () => {
      if (options.waitReady === false) run();
    });
    ws.on('close', (code, reason) => resolve({ messages, code, reason: String(reason) }));
    ws.on('error', reject);
  });
}

const finals = (o: Outcome) => o.messages.filter((m) => m.type === 'final');

/**
 * Each final result is one segment of the stream (start/end in seconds, whole output frames): its
 * text must be the greedy decoding of the offline log-probabilities over that segment.
 */
function expectSegmentsMatchOffline(o: Outcome, offline: Float32Array[]): void {
  const frame = asr.frameSeconds;
  let previousEnd = 0;
  for (const f of finals(o)) {
    const a = Math.round((f.start as number) / frame);
    const b = Math.round((f.end as number) / frame);
    expect(a).toBeGreaterThanOrEqual(previousEnd);
    expect(b).toBeLessThanOrEqual(offline.length);
    expect(f.text).toBe(asr.decode(offline.slice(a, b), a).text);
    expect(f.words).toEqual(asr.decode(offline.slice(a, b), a).words);
    previousEnd = b;
  }
  expect(previousEnd).toBe(offline.length);
}
const transcript = (o: Outcome) =>
  finals(o)
    .map((m) => m.text)
    .filter(Boolean)
    .join(' ');

async function streamsOpen(url: string): Promise<number> {
  const r = await fetch(`${url.replace(/^ws/, 'http')}/readyz`);
  return ((await r.json()) as { streams: number }).streams;
}

async function waitForStreams(url: string, n: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await streamsOpen(url)) === n) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  expect(await streamsOpen(url)).toBe(n);
}

beforeAll(async () => {
  const root = tempDir('lepton-stream-');
  const dir = join(root, 'asr');
  asr = randomAsr();
  await saveModel(asr.model, dir);
  await AsrModel.saveSpec(dir, asr.spec);
  await makeTabularModel(join(root, 'tabular'));
  // Two utterances with a second of silence between them: the recognizer ends the first at an endpoint.
  const a = await synthesize('and he said to them', { engine: 'espeak-ng', name: 'en-us' }, 22050);
  const b = await synthesize('go in peace', { engine: 'espeak-ng', name: 'en-us' }, 22050);
  const gap = new Float32Array(22050);
  speech22k = new Float32Array(a.channels[0]!.length + gap.length + b.channels[0]!.length + gap.length);
  speech22k.set(a.channels[0]!);
  speech22k.set(b.channels[0]!, a.channels[0]!.length + gap.length);
  speech16k = quantized(await resample(speech22k, 22050, 16000));
  const models = [
    { dir, name: 'asr' },
    { dir: join(root, 'tabular'), name: 'tabular' },
  ];
  main = await createModelServer({ models, stream: { idleSeconds: 10 } });
  mainUrl = (await main.listen(0)).replace(/^http/, 'ws');
  limited = await createModelServer({
    models,
    token: TOKEN,
    stream: { maxStreams: 1, maxSeconds: 1, idleSeconds: 0.5 },
  });
  limitedUrl = (await limited.listen(0)).replace(/^http/, 'ws');
}, 120_000);

afterAll(async () => {
  await main?.close();
  await limited?.close();
});

describe('speech stream', () => {
  it('answers partials and finals; the transcript equals the offline one of the same audio', async () => {
    const expected = asr.transcribe(speech16k);
    expect(expected.text.length).toBeGreaterThan(5);
    // 100 ms frames, as a microphone would send them.
    const o = await session(`${mainUrl}/v1/models/asr/stream`, [...frames(pcm16(speech16k), 3200), '{"type":"end"}']);
    expect(o.code).toBe(1000);
    expect(o.messages[0]).toMatchObject({ type: 'ready', model: 'asr', version: 1, sampleRate: 16000 });
    expect(o.messages.some((m) => m.type === 'partial' && m.text)).toBe(true);
    expect(o.messages.some((m) => m.type === 'error')).toBe(false);
    // The silence between the utterances is an endpoint: a final arrives before the stream ends.
    const fs = finals(o);
    expect(fs.length).toBeGreaterThanOrEqual(2);
    expect(o.messages.at(-1)!.type).toBe('final');
    expectSegmentsMatchOffline(o, expected.logProbs);
    // Word timings: within the audio, ordered, the same words as the text.
    const words = fs.flatMap((f) => f.words!);
    expect(words.map((w) => w.word).join(' ')).toBe(transcript(o));
    const seconds = speech16k.length / 16000;
    for (const [i, w] of words.entries()) {
      expect(w.start).toBeGreaterThanOrEqual(i ? words[i - 1]!.end - 1e-9 : 0);
      expect(w.end).toBeGreaterThan(w.start);
      expect(w.end).toBeLessThanOrEqual(seconds + 0.1);
    }
    await waitForStreams(mainUrl, 0);
    const metrics = await (await fetch(`${mainUrl.replace(/^ws/, 'http')}/metrics`)).text();
    expect(metrics).toMatch(/^lepton_streams_active 0$/m);
    expect(metrics).toMatch(/^lepton_streams_total\{code="1000",model="asr"\} [1-9]/m);
  }, 60_000);

  it('resamples a stream that names its rate in a start message', async () => {
    // The server's resampler carries its filter state across frames: its output for the whole stream.
    const r = await streamResampler(22050, 16000);
    const pieces = frames(pcm16(speech22k), 4410).map((f) =>
      r.push(Float32Array.from({ length: f.length / 2 }, (_, i) => f.readInt16LE(2 * i) / 32768)),
    );
    r.close();
    const resampled = new Float32Array(pieces.reduce((n, p) => n + p.length, 0));
    pieces.reduce((at, p) => (resampled.set(p, at), at + p.length), 0);
    // …agrees with the one-shot converter on the same audio (a few samples stay in the filter at the end).
    expect(Math.abs(resampled.length - speech16k.length)).toBeLessThan(200);
    let diff = 0;
    for (let i = 0; i < resampled.length; i++) diff = Math.max(diff, Math.abs(resampled[i]! - speech16k[i]!));
    expect(diff).toBeLessThan(0.01);
    const o = await session(`${mainUrl}/v1/models/asr/stream`, [
      JSON.stringify({ type: 'start', sampleRate: 22050 }),
      ...frames(pcm16(speech22k), 4410),
      '{"type":"end"}',
    ]);
    expect(o.code).toBe(1000);
    expect(o.messages[1]).toEqual({ type: 'started', sampleRate: 22050 });
    expectSegmentsMatchOffline(o, asr.transcribe(resampled).logProbs);
    expect(transcript(o)).not.toBe('');
  }, 60_000);

  it('ends the stream with a final result when no audio came', async () => {
    const o = await session(`${mainUrl}/v1/models/asr/stream`, ['{"type":"end"}']);
    expect(o.code).toBe(1000);
    expect(o.messages.map((m) => m.type)).toEqual(['ready', 'final']);
    expect(o.messages[1]).toMatchObject({ text: '', words: [] });
  });

  it.each([
    ['an odd number of PCM bytes', [Buffer.alloc(3201)], 1007, /3201 bytes stops mid-sample/],
    ['text that is not JSON', ['hello?'], 1007, /text messages must be JSON objects.*"hello\?"/],
    ['a JSON array', ['[1,2]'], 1007, /must be JSON objects/],
    ['an unknown message type', ['{"type":"pause"}'], 1007, /unknown message type "pause"/],
    ['a sample rate out of range', ['{"type":"start","sampleRate":100}'], 4400, /8000\.\.192000, received 100/],
    ['a start after audio', [Buffer.alloc(320), '{"sampleRate":8000}'], 4400, /before any audio/],
  ])('closes on %s with a clear error', async (_what, script, code, message) => {
    const o = await session(`${mainUrl}/v1/models/asr/stream`, script as (Buffer | string)[]);
    expect(o.code).toBe(code);
    const err = o.messages.find((m) => m.type === 'error')!;
    expect(err.code).toBe(code);
    expect(err.error).toMatch(message);
    await waitForStreams(mainUrl, 0);
  });

  it('refuses models that are not speech recognizers, and unknown models', async () => {
    const tab = await session(`${mainUrl}/v1/models/tabular/stream`, []);
    expect(tab.code).toBe(4415);
    expect(tab.messages[0]!.error).toMatch(/model 'tabular' is not a speech recognition model \(.*no asr\.json\)/);
    const none = await session(`${mainUrl}/v1/models/nope/stream`, []);
    expect(none.code).toBe(4404);
    expect(none.messages[0]!.error).toMatch(/no model 'nope' \(available: asr, tabular\)/);
    const v = await session(`${mainUrl}/v1/models/asr/versions/7/stream`, []);
    expect(v.code).toBe(4404);
    await waitForStreams(mainUrl, 0);
  });

  it('answers a plain GET with 426 Upgrade Required', async () => {
    const r = await fetch(`${mainUrl.replace(/^ws/, 'http')}/v1/models/asr/stream`);
    expect(r.status).toBe(426);
    expect(((await r.json()) as { error: string }).error).toMatch(/is a WebSocket endpoint/);
  });

  it('frees the session of a client that disconnects mid-stream, and stays up', async () => {
    const ws = connect(`${mainUrl}/v1/models/asr/stream`);
    await new Promise<void>((resolve) =>
      ws.on('message', (d) => {
        if (JSON.parse(String(d)).type === 'ready') resolve();
      }),
    );
    ws.send(pcm16(speech16k.subarray(0, 8000)));
    expect(await streamsOpen(mainUrl)).toBe(1);
    // The connection drops without a close handshake.
    ws.terminate();
    await waitForStreams(mainUrl, 0);
    const o = await session(`${mainUrl}/v1/models/asr/stream`, [pcm16(speech16k.subarray(0, 16000)), '{"type":"end"}']);
    expect(o.code).toBe(1000);
  });
});

describe('speech stream limits and auth', () => {
  const auth = { authorization: `Bearer ${TOKEN}` };

  it('needs the bearer token (header or ?access_token=)', async () => {
    const status = await new Promise<number>((resolve) => {
      const ws = connect(`${limitedUrl}/v1/models/asr/stream`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => {});
    });
    expect(status).toBe(401);
    const viaHeader = await session(`${limitedUrl}/v1/models/asr/stream`, ['{"type":"end"}'], { headers: auth });
    expect(viaHeader.code).toBe(1000);
    const viaQuery = await session(`${limitedUrl}/v1/models/asr/stream?access_token=${TOKEN}`, ['{"type":"end"}']);
    expect(viaQuery.code).toBe(1000);
  });

  it('closes a stream longer than the limit after its final result (1008)', async () => {
    const o = await session(`${limitedUrl}/v1/models/asr/stream`, frames(pcm16(speech16k.subarray(0, 32000)), 3200), {
      headers: auth,
    });
    expect(o.code).toBe(1008);
    const types = o.messages.map((m) => m.type);
    expect(types.at(-2)).toBe('final');
    expect(o.messages.at(-1)!.error).toMatch(/exceeds the limit of 1 s of audio/);
    await waitForStreams(limitedUrl, 0);
  });

  it('refuses streams beyond the concurrency limit (1013) and closes idle ones (1008)', async () => {
    const first = session(`${limitedUrl}/v1/models/asr/stream`, [], { headers: auth });
    await waitForStreams(limitedUrl, 1);
    const second = await session(`${limitedUrl}/v1/models/asr/stream`, [], { headers: auth });
    expect(second.code).toBe(1013);
    expect(second.messages[0]!.error).toMatch(/too many streams: 1 of 1 are open/);
    // The first stream sends nothing: it is closed after the idle limit.
    const o = await first;
    expect(o.code).toBe(1008);
    expect(o.messages.at(-1)!.error).toMatch(/idle for 0.5 s/);
    await waitForStreams(limitedUrl, 0);
  });

  it('tells open streams the server is shutting down (1001)', async () => {
    const server = await createModelServer({ models: [{ dir: main.store.latest('asr')!.dir, name: 'asr' }] });
    const url = (await server.listen(0)).replace(/^http/, 'ws');
    const open = session(`${url}/v1/models/asr/stream`, [pcm16(speech16k.subarray(0, 3200))]);
    await waitForStreams(url, 1);
    await server.close();
    const o = await open;
    expect(o.code).toBe(1001);
    expect(o.messages.at(-1)!.error).toMatch(/server shutting down/);
  });
});
