// The streaming recognizer against the offline transcription of the same model: fed in small
// chunks, a conv-stack CTC model gives the same words and timings (the windows hold each output's
// whole receptive field), and the energy VAD ends an utterance at a long enough silence. The model
// has random weights: the property is about windowing, not about what was learned, and a random
// model still emits a varied label sequence to compare. Speech comes from espeak-ng (skipped with
// a notice where it is not installed).
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { layers, sequential } from '../../src/index.js';
import { ASR_ALPHABET, AsrModel, StreamingRecognizer, synthesize, type AsrResult } from '../../src/audio/index.js';
import { BINS, randomAsr } from './random-asr.js';

let espeak = true;
try {
  execFileSync('espeak-ng', ['--version']);
} catch {
  espeak = false;
  console.warn('espeak-ng is not installed: skipping the streaming recognizer tests');
}

/** Feeds `audio` in `chunk`-sample pieces, reading partials; returns the finals of the endpoints found. */
function accept(rec: StreamingRecognizer, audio: Float32Array, chunk: number): AsrResult[] {
  const finals: AsrResult[] = [];
  for (let at = 0; at < audio.length; at += chunk) {
    if (rec.acceptWaveform(audio.subarray(at, at + chunk)))
      for (let r = rec.result(); r; r = rec.result()) finals.push(r);
    rec.partialResult();
  }
  return finals;
}

/** Feeds `audio` and ends the stream; returns every final result in order. */
const stream = (rec: StreamingRecognizer, audio: Float32Array, chunk: number): AsrResult[] => [
  ...accept(rec, audio, chunk),
  ...rec.endStream(),
];

const voice = { engine: 'espeak-ng', name: 'en-us', variant: 'm3', speed: 170, pitch: 50 } as const;

describe.skipIf(!espeak)('StreamingRecognizer', () => {
  it('gives the offline transcript and word timings when fed in 20 ms chunks', async () => {
    const asr = randomAsr();
    const audio = (await synthesize('and he said to them when they had come to the house', voice)).channels[0]!;
    const offline = asr.transcribe(audio);
    // A random model still emits a long, varied label sequence: the comparison is not vacuous.
    expect(offline.text.length).toBeGreaterThan(20);
    expect(new Set(offline.text).size).toBeGreaterThan(3);
    const rec = new StreamingRecognizer(asr, { chunk: 4 });
    const finals = stream(rec, audio, 320);
    expect(finals.map((r) => r.text).join(' ')).toBe(offline.text);
    const words = finals.flatMap((r) => r.words);
    expect(words.map((w) => w.word)).toEqual(offline.words.map((w) => w.word));
    words.forEach((w, i) => {
      expect(w.start).toBeCloseTo(offline.words[i]!.start, 6);
      expect(w.end).toBeCloseTo(offline.words[i]!.end, 6);
    });
    // After reset the recognizer starts over: the same stream gives the same words again.
    rec.reset();
    expect(stream(rec, audio, 1000).flatMap((r) => r.words.map((w) => w.word))).toEqual(
      offline.words.map((w) => w.word),
    );
  }, 120_000);

  it('ends an utterance at a silence (endpointing) and times the two segments', async () => {
    const asr = randomAsr();
    const a = (await synthesize('he answered them', voice)).channels[0]!;
    const b = (await synthesize('and went their way', voice)).channels[0]!;
    const gap = 16000 * 1.5;
    const audio = new Float32Array(a.length + gap + b.length + gap);
    audio.set(a);
    audio.set(b, a.length + gap);
    const rec = new StreamingRecognizer(asr, { endpointSilence: 0.5 });
    const finals = accept(rec, audio, 1600);
    // Two endpoints: one in the gap after each utterance.
    expect(finals).toHaveLength(2);
    const aEnd = a.length / 16000;
    const bStart = (a.length + gap) / 16000;
    const bEnd = (a.length + gap + b.length) / 16000;
    expect(finals[0]!.end!).toBeGreaterThan(aEnd);
    expect(finals[0]!.end!).toBeLessThan(bStart);
    // Silence after an endpoint is dropped, so the second segment starts inside the gap.
    expect(finals[1]!.start!).toBeGreaterThanOrEqual(finals[0]!.end!);
    expect(finals[1]!.start!).toBeLessThan(bStart);
    expect(finals[1]!.end!).toBeGreaterThan(bEnd);
    // The words of each segment lie inside it.
    for (const f of finals) for (const w of f.words) expect(w.start >= f.start! && w.end <= f.end!).toBe(true);
    expect(rec.finalResult().start!).toBeGreaterThanOrEqual(finals[1]!.end!);
  }, 120_000);

  it('finalResult returns the last utterance when the stream ends within its look-ahead', async () => {
    const asr = randomAsr();
    const a = (await synthesize('he answered them', voice)).channels[0]!;
    // Trailing silence longer than the endpoint but shorter than the look-ahead: the endpoint is
    // found only when finalResult flushes the stream.
    const audio = new Float32Array(a.length + 16000 * 0.7);
    audio.set(a);
    const rec = new StreamingRecognizer(asr, { endpointSilence: 0.5 });
    const finals = accept(rec, audio, 1600);
    expect(finals).toHaveLength(0);
    const last = rec.finalResult();
    expect(rec.result()).toBeUndefined();
    const aEnd = a.length / 16000;
    expect(last.start!).toBeLessThan(0.5);
    expect(last.end!).toBeGreaterThan(aEnd);
    expect(last.words.length).toBeGreaterThan(0);
  }, 120_000);

  it('rejects non-finite samples and models without a bounded receptive field', () => {
    const rec = new StreamingRecognizer(randomAsr());
    expect(() => rec.acceptWaveform([0, Number.NaN])).toThrow(/samples must be finite/);
    const m = sequential();
    m.add(layers.LSTM(8, { returnSequences: true, inputShape: [10, BINS] }));
    expect(() => new AsrModel(m, { alphabet: ASR_ALPHABET, numMelBins: BINS, sampleRate: 16000 })).toThrow(
      /LSTM.*bounded receptive field/,
    );
  });
});

describe('AsrModel.decode', () => {
  /** Log-probability rows whose best class spells `path` ('_' blank), one character per 30 ms output frame. */
  const rows = (path: string): Float32Array[] =>
    Array.from(path, (ch) => {
      const row = new Float32Array(ASR_ALPHABET.length + 1).fill(-10);
      row[ch === '_' ? 0 : ASR_ALPHABET.indexOf(ch) + 1] = 0;
      return row;
    });

  it('ends a word at a pause of 0.3 s or more between characters, not at a shorter one', () => {
    const asr = randomAsr(); // stride 3: 30 ms per output frame
    // "them", 9 blank frames (0.27 s from the end of "m" to "w"), "when": one word.
    expect(asr.decode(rows('th_em_________when'), 0).text).toBe('themwhen');
    // 10 blank frames (0.3 s): two words, with their own timings.
    const r = asr.decode(rows('th_em__________when'), 0);
    expect(r.text).toBe('them when');
    expect(r.words.map((w) => [w.word, +w.start.toFixed(2), +w.end.toFixed(2)])).toEqual([
      ['them', 0, 0.15],
      ['when', 0.45, 0.57],
    ]);
  });
});
