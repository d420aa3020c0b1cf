// Augmentations checked by their defining property (measured SNR, gain, shift, masks) and the
// synthesizer wrapper on Debian's espeak-ng (skipped with a notice where it is not installed).
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Generator } from '../../src/index.js';
import {
  addNoise,
  applyGain,
  changeSpeed,
  fitLength,
  reverberate,
  specAugment,
  synthesize,
  timeShift,
  voiceId,
} from '../../src/audio/index.js';

const tone = (n: number, rate = 16000, f = 440): Float32Array =>
  Float32Array.from({ length: n }, (_, i) => 0.5 * Math.sin((2 * Math.PI * f * i) / rate));
const power = (x: Float32Array): number => x.reduce((s, v) => s + v * v, 0) / x.length;

describe('augmentations', () => {
  it('addNoise mixes at the requested SNR (white and given noise)', () => {
    const s = tone(16000);
    for (const snr of [0, 10, 20]) {
      const mixed = addNoise(s, snr, undefined, new Generator(snr + 1));
      const noise = mixed.map((v, i) => v - s[i]!);
      expect(10 * Math.log10(power(s) / power(noise))).toBeCloseTo(snr, 4);
    }
    const hum = tone(999, 16000, 50);
    const mixed = addNoise(s, 5, hum, new Generator(3));
    expect(10 * Math.log10(power(s) / power(mixed.map((v, i) => v - s[i]!)))).toBeCloseTo(5, 1);
    expect(() => addNoise(s, Number.NaN)).toThrow(/snrDb must be a finite number/);
  });
  it('gain, shift and length fitting do exactly what they say', () => {
    expect(Array.from(applyGain(Float32Array.from([1, -0.5]), 20))).toEqual([10, -5].map(Math.fround));
    expect(Array.from(timeShift(Float32Array.from([1, 2, 3, 4]), 1))).toEqual([0, 1, 2, 3]);
    expect(Array.from(timeShift(Float32Array.from([1, 2, 3, 4]), -2))).toEqual([3, 4, 0, 0]);
    expect(Array.from(fitLength(Float32Array.from([1, 2]), 5))).toEqual([0, 1, 2, 0, 0]);
    expect(Array.from(fitLength(Float32Array.from([1, 2, 3, 4, 5]), 3))).toEqual([2, 3, 4]);
  });
  it('speed perturbation shortens the audio and raises the pitch by the factor', async () => {
    const fast = await changeSpeed(tone(16000), 16000, 1.1);
    expect(Math.abs(fast.length - 16000 / 1.1)).toBeLessThan(3);
    // Zero crossings count the frequency: 440 Hz becomes 484 Hz.
    let crossings = 0;
    for (let i = 1; i < fast.length; i++) if (fast[i - 1]! < 0 !== fast[i]! < 0) crossings++;
    expect(crossings / 2 / (fast.length / 16000)).toBeCloseTo(484, -1);
  });
  it('reverberation spreads an impulse over rt60 with 60 dB of decay', () => {
    const impulse = new Float32Array(16000);
    impulse[0] = 1;
    const wet = reverberate(impulse, 16000, 0.25, 1, new Generator(5));
    const early = power(wet.subarray(1, 400));
    const late = power(wet.subarray(3600, 4000));
    expect(10 * Math.log10(early / late)).toBeGreaterThan(45); // ~54 dB between these windows
    expect(power(wet.subarray(4100))).toBe(0);
  });
  it('SpecAugment masks whole bands and spans with the fill value', () => {
    const frames = 20;
    const bins = 10;
    const x = Float32Array.from({ length: frames * bins }, (_, i) => i + 1);
    const y = specAugment(
      x,
      frames,
      bins,
      { freqMasks: 1, freqWidth: 3, timeMasks: 1, timeWidth: 4, value: 0 },
      new Generator(7),
    );
    const zeroCols = Array.from({ length: bins }, (_, b) => b).filter((b) =>
      Array.from({ length: frames }, (_, t) => y[t * bins + b]).every((v) => v === 0),
    );
    const zeroRows = Array.from({ length: frames }, (_, t) => t).filter((t) =>
      y.subarray(t * bins, (t + 1) * bins).every((v) => v === 0),
    );
    expect(zeroCols.length).toBeLessThanOrEqual(3);
    expect(zeroRows.length).toBeLessThanOrEqual(4);
    // Everything not in a masked band or span is untouched.
    y.forEach((v, i) => {
      if (!zeroCols.includes(i % bins) && !zeroRows.includes(Math.floor(i / bins))) expect(v).toBe(x[i]);
    });
    expect(() => specAugment(x, 3, 3)).toThrow(/200 values are not \[3, 3\]/);
  });
});

let espeak = true;
try {
  execFileSync('espeak-ng', ['--version']);
} catch {
  espeak = false;
}

describe.skipIf(!espeak)('synthesized speech (espeak-ng)', () => {
  it('speaks a word at 16 kHz with energy where the word is, and names the voice', async () => {
    const voice = { engine: 'espeak-ng', name: 'en-us', variant: 'f3', speed: 160, pitch: 60 } as const;
    expect(voiceId(voice)).toBe('espeak-ng:en-us+f3:s160:p60');
    const audio = await synthesize('seven', voice);
    expect(audio.sampleRate).toBe(16000);
    const x = audio.channels[0]!;
    expect(x.length).toBeGreaterThan(4000);
    expect(Math.sqrt(power(x))).toBeGreaterThan(0.01);
    await expect(synthesize('', voice)).rejects.toThrow(/non-empty string/);
  });
});
