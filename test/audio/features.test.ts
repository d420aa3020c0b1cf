// Audio features against torchaudio 0.13 itself (committed fixtures written by
// scripts/make-audio-fixtures.py in float64), plus the properties that make them usable in
// graphs: batching, tracing through compile, and gradients.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileSync, grad, sum, tensor, type Tensor } from '../../src/index.js';
import {
  amplitudeToDb,
  fbank,
  fbankClips,
  logMelClips,
  melSpectrogram,
  mfcc,
  spectrogram,
} from '../../src/audio/index.js';

interface Feature {
  options: Record<string, unknown>;
  shape: number[];
  values: number[];
}
interface Case {
  name: string;
  waveform: number[];
  [feature: string]: Feature | number[] | string;
}
const fixtures = JSON.parse(readFileSync(new URL('../fixtures/audio-features.json', import.meta.url), 'utf8')) as {
  cases: Case[];
};

/** Largest error relative to the reference's own scale: |a − b| / max(|b|, floor·max|b|). */
function relativeError(actual: Tensor, ref: Feature, floor: number): number {
  expect(actual.shape).toEqual(ref.shape);
  const a = actual.data as Float32Array;
  const peak = Math.max(...ref.values.map(Math.abs));
  let worst = 0;
  ref.values.forEach((b, i) => {
    worst = Math.max(worst, Math.abs(a[i]! - b) / Math.max(Math.abs(b), floor * peak));
  });
  return worst;
}

const wave = (c: Case): Tensor => tensor(Float32Array.from(c.waveform));

describe('audio features match torchaudio', () => {
  for (const c of fixtures.cases) {
    const f = (k: string): Feature => c[k] as Feature;
    it(`${c.name}: Spectrogram (power, centred, hann)`, () => {
      // Power spans ~12 decades; float32 input rounding alone moves the smallest bins, so bins are
      // compared relative to max(|ref|, 1e-6·peak).
      expect(
        relativeError(spectrogram(wave(c), f('spectrogram').options as never), f('spectrogram'), 1e-6),
      ).toBeLessThan(1e-4);
    });
    it(`${c.name}: MelSpectrogram (htk) and (slaney, norm, fMin/fMax, winLength < nFft)`, () => {
      expect(
        relativeError(melSpectrogram(wave(c), f('melSpectrogram').options as never), f('melSpectrogram'), 1e-6),
      ).toBeLessThan(1e-4);
      expect(
        relativeError(
          melSpectrogram(wave(c), f('melSpectrogramSlaney').options as never),
          f('melSpectrogramSlaney'),
          1e-6,
        ),
      ).toBeLessThan(1e-4);
    });
    it(`${c.name}: MFCC (dB, top_db 80, ortho DCT)`, () => {
      // Cepstral coefficients are DCT sums that cross zero: near zero they are compared with 1% of
      // the peak (the absolute error stays below 1e-6 of the peak, float32's share of 40 dB terms).
      expect(relativeError(mfcc(wave(c), f('mfcc').options as never), f('mfcc'), 1e-2)).toBeLessThan(1e-4);
    });
    it(`${c.name}: kaldi.fbank (povey, DC removal, pre-emphasis) and (hamming, none, band limits)`, () => {
      expect(relativeError(fbank(wave(c), f('fbank').options as never), f('fbank'), 1e-3)).toBeLessThan(1e-4);
      expect(relativeError(fbank(wave(c), f('fbankOptions').options as never), f('fbankOptions'), 1e-3)).toBeLessThan(
        1e-4,
      );
    });
  }
});

describe('many clips in one graph run (fbankClips, logMelClips)', () => {
  const clips = fixtures.cases.map((c) => Float32Array.from(c.waveform));
  it('give each fixture clip the features torchaudio computed for it', () => {
    const fb = fixtures.cases[0]!.fbank as Feature;
    const out = fbankClips(clips, fb.options as never);
    fixtures.cases.forEach((c, i) => expect(relativeError(out[i]!, c.fbank as Feature, 1e-3)).toBeLessThan(1e-4));
    const mel = fixtures.cases[0]!.melSpectrogram as Feature;
    const db = logMelClips(clips, mel.options as never);
    fixtures.cases.forEach((c, i) => {
      const ref = c.melSpectrogram as Feature;
      // AmplitudeToDB's formula applied to torchaudio's own mel powers.
      const want = { ...ref, values: ref.values.map((v) => 10 * Math.log10(Math.max(v, 1e-10))) };
      expect(relativeError(db[i]!, want, 1e-2)).toBeLessThan(1e-4);
    });
  });
  it('clips spanning several packed rows and shorter than one row equal per-clip features', () => {
    let seed = 3;
    const noise = (n: number) =>
      Float32Array.from({ length: n }, (_, k) => {
        seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
        return 0.3 * Math.sin(k * 0.03) + 0.1 * (seed / 2 ** 32 - 0.5);
      });
    const long = [noise(40000), noise(401), noise(17000), noise(3333)];
    const out = fbankClips(long, { numMelBins: 40, scale: 32768, threads: 1 });
    const mels = logMelClips(long, { sampleRate: 16000, nFft: 512, winLength: 400, hopLength: 160, nMels: 40 });
    long.forEach((c, i) => {
      const fbRef = fbank(tensor(c), { numMelBins: 40, scale: 32768 });
      const melRef = amplitudeToDb(
        melSpectrogram(tensor(c), { sampleRate: 16000, nFft: 512, winLength: 400, hopLength: 160, nMels: 40 }),
      );
      for (const [got, want] of [
        [out[i]!, fbRef],
        [mels[i]!, melRef],
      ] as const) {
        expect(got.shape).toEqual(want.shape);
        const a = got.data as Float32Array;
        const b = want.data as Float32Array;
        for (let k = 0; k < a.length; k++)
          expect(Math.abs(a[k]! - b[k]!)).toBeLessThan(1e-3 * Math.max(1, Math.abs(b[k]!)));
      }
    });
  });
  it('reject a clip shorter than one frame, naming it, and a bad thread count', () => {
    expect(() => fbankClips([new Float32Array(1000)], { threads: 0 })).toThrow(
      /fbankClips: threads must be a positive integer, got 0/,
    );
    expect(() => fbankClips([new Float32Array(1000), new Float32Array(399)])).toThrow(
      /fbankClips: clip 1 has 399 samples, fewer than one frame \(400 samples\)/,
    );
  });
});

describe('audio features in graphs', () => {
  const c = fixtures.cases[0]!;
  const n = 4000;
  const a = Float32Array.from(c.waveform.slice(0, n));
  const b = Float32Array.from(c.waveform.slice(n, 2 * n));
  it('a batch gives each waveform its own features', () => {
    const batch = tensor(Float32Array.from([...a, ...b]), { shape: [2, n] });
    const both = fbank(batch, { numMelBins: 40, scale: 32768 }).toArray() as number[][][];
    expect(both.length).toBe(2);
    const one = fbank(tensor(b), { numMelBins: 40, scale: 32768 }).toArray() as number[][];
    expect(both[1]).toEqual(one);
  });
  it('traces into a compiled graph with the same values', () => {
    const f = compileSync((x: Tensor) =>
      melSpectrogram(x, { sampleRate: 16000, nFft: 400, hopLength: 160, nMels: 40 }),
    );
    const eager = melSpectrogram(tensor(a), { sampleRate: 16000, nFft: 400, hopLength: 160, nMels: 40 });
    const compiled = f(tensor(a)) as Tensor;
    expect(compiled.shape).toEqual(eager.shape);
    const e = eager.data as Float32Array;
    (compiled.data as Float32Array).forEach((v, i) =>
      expect(Math.abs(v - e[i]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(e[i]!))),
    );
  });
  it('differentiates: gradient of a log-mel energy matches central differences', () => {
    const x = Float32Array.from(c.waveform.slice(0, 800));
    const loss = (w: Tensor): Tensor =>
      sum(amplitudeToDb(melSpectrogram(w, { sampleRate: 16000, nFft: 256, hopLength: 128, nMels: 8 })));
    const g = grad(loss)(tensor(x)).data as Float32Array;
    const h = 1e-2;
    for (const i of [5, 130, 400, 777]) {
      const plus = Float32Array.from(x);
      plus[i]! += h;
      const minus = Float32Array.from(x);
      minus[i]! -= h;
      const numeric = ((loss(tensor(plus)).item() as number) - (loss(tensor(minus)).item() as number)) / (2 * h);
      expect(Math.abs(g[i]! - numeric)).toBeLessThanOrEqual(2e-2 * Math.max(1, Math.abs(numeric)));
    }
  });
  it('rejects waveforms of the wrong rank, dtype or length with the shape in the message', () => {
    expect(() => fbank(tensor([[[1, 2]]]))).toThrow(/\[samples\] or \[batch, samples\].*\[1, 1, 2\]/);
    expect(() => fbank(tensor(new Float32Array(100)))).toThrow(
      /100 samples, fewer than one 25 ms frame \(400 samples\)/,
    );
    expect(() => spectrogram(tensor(new Float32Array(100)), { nFft: 64, winLength: 128 })).toThrow(
      /winLength \(128\) cannot exceed nFft \(64\)/,
    );
  });
});
