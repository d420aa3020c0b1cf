/**
 * Streaming speech recognition: real-time factor (compute seconds per audio second, eager ops on
 * one thread) and partial-result latency of `StreamingRecognizer` over ~16 s of espeak-ng speech
 * (7 sentences by en-us+m7, a voice no model here trains on, separated by 0.7 s pauses).
 *
 * The model (bench/speech-model.ts): the one examples/asr.ts saves when cached, else one this
 * bench trained and cached earlier, else the bench trains one now for `--asr-train-minutes`
 * (default 10) and caches it; `--asr-model example|bench|random` forces a choice. The table says
 * which, and the WER of its streamed transcript of the bench audio.
 *
 * partial_latency_ms: the audio fed in 20 ms steps as if live; for each word of the final results
 * that the alignment to the spoken text matches, the time from the end of the word in the audio
 * (its end in the final result's word timings) until a partial result first holds that word at
 * that position in its utterance and keeps it until the final, plus the compute time of that
 * step (src/audio/latency.ts). Median over those words; `partial_latency_words` says how many.
 * A word can show before the end its final gives it (negative latency: CTC places the last
 * character anywhere near the end); those count as they are, and `partial_latency_negative`
 * says how many. A model that recognizes no word measures none (null).
 */
import { loadavg } from 'node:os';
import {
  type AsrModel,
  type AsrResult,
  type FeedObservation,
  StreamingRecognizer,
  concatSamples,
  partialLatencies,
  synthesize,
  wordErrorRate,
} from '../src/audio/index.js';
import { type BenchModule, type BenchOptions, type BenchResults, median, printTable } from './harness.js';
import { benchAsrModel } from './speech-model.js';
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

/** Feeds `audio` in `step`-sample pieces as a live client would; returns compute ms and what it saw after each feed. */
function run(asr: AsrModel, audio: Float32Array, step: number): { ms: number; feeds: FeedObservation[] } {
  const rec = new StreamingRecognizer(asr);
  const feeds: FeedObservation[] = [];
  let ms = 0;
  for (let at = 0; at < audio.length; at += step) {
    const t0 = performance.now();
    const finals: AsrResult[] = [];
    if (rec.acceptWaveform(audio.subarray(at, at + step)))
      for (let r = rec.result(); r; r = rec.result()) finals.push(r);
    const partial = rec.partialResult();
    const spent = performance.now() - t0;
    ms += spent;
    feeds.push({ fed: Math.min(at + step, audio.length) / 16000, computeMs: spent, finals, partial });
  }
  const t0 = performance.now();
  const finals = rec.endStream();
  const spent = performance.now() - t0;
  ms += spent;
  feeds.push({ fed: audio.length / 16000, computeMs: spent, finals });
  return { ms, feeds };
}

const transcript = (feeds: readonly FeedObservation[]): string =>
  feeds
    .flatMap((f) => f.finals.map((r) => r.text))
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim();

async function streaming(options: BenchOptions): Promise<BenchResults> {
  const audio = await speech();
  const seconds = audio.length / 16000;
  const reference = SENTENCES.join(' ');
  const model = await benchAsrModel(SENTENCES, options.extra);
  const { asr } = model;
  const rounds = options.quick ? 1 : 3;
  run(asr, audio, 1600); // warm-up: eager op sessions for every window shape
  const rtf: number[] = [];
  const lat: number[] = [];
  let report = partialLatencies([]);
  let text = '';
  for (let r = 0; r < rounds; r++) {
    rtf.push(run(asr, audio, 1600).ms / 1000 / seconds);
    const live = run(asr, audio, 320);
    report = partialLatencies(live.feeds, reference);
    if (report.medianMs !== null) lat.push(report.medianMs);
    text = transcript(live.feeds);
  }
  const wer = wordErrorRate(reference, text);
  const ms = report.words.map((w) => w.latencyMs).sort((a, b) => a - b);
  const referenceWords = reference.split(' ').length;
  const results = {
    stream_rtf: median(rtf),
    partial_latency_ms: lat.length > 0 ? median(lat) : null,
    partial_latency_words: report.words.length,
    partial_latency_negative: report.negative,
    partial_latency_min_ms: ms.length > 0 ? ms[0]! : null,
    partial_latency_max_ms: ms.length > 0 ? ms.at(-1)! : null,
    reference_words: referenceWords,
    stream_wer_bench_audio: wer,
    audio_seconds: seconds,
    asr_model: model.source,
    asr_model_train_s: model.trainSeconds,
    asr_model_build_s: model.buildSeconds,
    chunk_ms: asr.frameSeconds * 8 * 1000,
  };
  console.log(`  streamed transcript: ${text || '(empty)'}`);
  printTable([
    ['metric', 'value'],
    ['stream_rtf (1 thread, 100 ms feeds)', results.stream_rtf.toFixed(4)],
    [
      'partial_latency_ms (20 ms feeds, median over correctly recognized words)',
      results.partial_latency_ms === null
        ? 'n/a (no word of the audio recognized)'
        : `${results.partial_latency_ms.toFixed(0)} (min ${results.partial_latency_min_ms!.toFixed(0)}, max ${results.partial_latency_max_ms!.toFixed(0)}, ${results.partial_latency_negative} negative)`,
    ],
    ['words measured', `${results.partial_latency_words} of ${referenceWords} spoken`],
    ['WER of the streamed transcript of this audio', wer.toFixed(3)],
    ['model', model.description],
    ['audio', `${seconds.toFixed(1)} s, ${SENTENCES.length} sentences by espeak-ng en-us+m7`],
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
