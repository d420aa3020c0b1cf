/**
 * Streaming speech recognition: real-time factor (compute seconds per audio second, eager ops on
 * one thread) and partial-result latency of `StreamingRecognizer` over ~20 s of espeak-ng speech
 * (sentences separated by 0.7 s pauses). Uses the model examples/asr.ts saves
 * (~/.cache/lepton/asr-model) when present, otherwise the same architecture with random weights:
 * the cost (stream_rtf) is the same, but a random model's "words" have no timing to measure a
 * latency against, so partial_latency_ms is then null (run examples/asr.ts first).
 *
 * partial_latency_ms: audio fed in 20 ms steps as if live; for each word of the final results,
 * the time from the end of the word in the audio until a partial (or final) result first holds
 * that many words, plus the compute time of that step. Median over words.
 */
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { dataHome } from '../src/index.js';
import {
  ASR_ALPHABET,
  AsrModel,
  StreamingRecognizer,
  convAsrModel,
  synthesize,
  type AsrResult,
  concatSamples,
} from '../src/audio/index.js';
import { type BenchModule, type BenchOptions, type BenchResults, median, printTable } from './harness.js';
import { asrTraining, featureExtraction } from './speech-train.js';

const SENTENCES = [
  'and he said to them',
  'when they had come to the house',
  'then jesus answered them',
  'you are good',
  'and the people went their way',
  'he spoke to me in the night',
  'i say these things to you',
];

async function speech(): Promise<Float32Array> {
  const pause = new Float32Array(11200);
  const parts: Float32Array[] = [];
  for (const s of SENTENCES) {
    parts.push((await synthesize(s, { engine: 'espeak-ng', name: 'en-us', variant: 'm7', speed: 165 })).channels[0]!);
    parts.push(pause);
  }
  return concatSamples(parts);
}

async function model(): Promise<{ asr: AsrModel; trained: boolean }> {
  const dir = join(dataHome(), 'asr-model');
  if (existsSync(join(dir, 'asr.json'))) return { asr: await AsrModel.load(dir), trained: true };
  const m = convAsrModel({
    frames: 384,
    bins: 40,
    mean: new Array(40).fill(10),
    variance: new Array(40).fill(9),
    classes: ASR_ALPHABET.length + 1,
  });
  return { asr: new AsrModel(m, { alphabet: ASR_ALPHABET, numMelBins: 40, sampleRate: 16000 }), trained: false };
}

/** Feeds `audio` in `step`-sample pieces; returns compute ms and the per-word partial latencies. */
function run(asr: AsrModel, audio: Float32Array, step: number): { ms: number; latencies: number[]; words: number } {
  const rec = new StreamingRecognizer(asr);
  const finals: AsrResult[] = [];
  const firstSeen: { fed: number; compute: number }[] = []; // by word count
  let ms = 0;
  for (let at = 0; at < audio.length; at += step) {
    const t0 = performance.now();
    if (rec.acceptWaveform(audio.subarray(at, at + step)))
      for (let r = rec.result(); r; r = rec.result()) finals.push(r);
    const partial = rec.partialResult();
    const spent = performance.now() - t0;
    ms += spent;
    const count = finals.reduce((n, f) => n + f.words.length, 0) + partial.words.length;
    while (firstSeen.length < count) firstSeen.push({ fed: Math.min(at + step, audio.length) / 16000, compute: spent });
  }
  const t0 = performance.now();
  finals.push(...rec.endStream());
  ms += performance.now() - t0;
  const words = finals.flatMap((f) => f.words);
  const latencies = words
    .map((w, i) => (firstSeen[i] ? (firstSeen[i]!.fed - w.end) * 1000 + firstSeen[i]!.compute : undefined))
    .filter((v): v is number => v !== undefined);
  return { ms, latencies, words: words.length };
}

async function streaming(options: BenchOptions): Promise<BenchResults> {
  const audio = await speech();
  const seconds = audio.length / 16000;
  const { asr, trained } = await model();
  const rounds = options.quick ? 1 : 3;
  run(asr, audio, 1600); // warm-up: eager op sessions for every window shape
  const rtf: number[] = [];
  const lat: number[] = [];
  let words = 0;
  for (let r = 0; r < rounds; r++) {
    rtf.push(run(asr, audio, 1600).ms / 1000 / seconds);
    const live = run(asr, audio, 320);
    lat.push(median(live.latencies));
    words = live.words;
  }
  const results = {
    stream_rtf: median(rtf),
    partial_latency_ms: trained ? median(lat) : null,
    audio_seconds: seconds,
    words,
    model: trained ? 'trained (asr-model)' : 'random weights',
    chunk_ms: asr.frameSeconds * 8 * 1000,
  };
  printTable([
    ['metric', 'value'],
    ['stream_rtf (1 thread, 100 ms feeds)', results.stream_rtf.toFixed(4)],
    [
      'partial_latency_ms (20 ms feeds, median over words)',
      results.partial_latency_ms === null
        ? 'n/a (random weights: train with examples/asr.ts first)'
        : results.partial_latency_ms.toFixed(0),
    ],
    ['audio', `${seconds.toFixed(1)} s, ${words} words, model: ${results.model}`],
  ]);
  return results;
}

const PARTS: Record<string, (options: BenchOptions) => Promise<BenchResults>> = {
  stream: streaming,
  features: featureExtraction,
  train: asrTraining,
};

const bench: BenchModule = {
  description:
    'speech: streaming RTF and partial latency; fbank/log-mel throughput vs torchaudio; ASR training (fit) vs PyTorch; --only stream|features|train',
  async run(options) {
    const only = options.extra.only;
    if (only !== undefined && !PARTS[only])
      throw new Error(`bench speech: --only must be one of ${Object.keys(PARTS).join(', ')}, got '${only}'`);
    const [load] = loadavg();
    const results: BenchResults = { load_average_1m: Number(load!.toFixed(2)) };
    for (const [name, part] of Object.entries(PARTS)) {
      if (only && only !== name) continue;
      Object.assign(results, await part(options));
      console.log();
    }
    console.log(`load average at start: ${results.load_average_1m} (2 cores; the lead re-measures on a quiet machine)`);
    return results;
  },
};
export default bench;
