/**
 * Data augmentation for speech, on host arrays inside a data pipeline (seeded through Lepton's
 * `Generator`, so a run repeats): additive noise at a chosen SNR, gain, time shift, speed
 * perturbation (resampling, as Kaldi's 0.9/1.0/1.1 recipe), a synthetic room reverberation, and
 * SpecAugment's frequency and time masks on features.
 */
import { Generator, globalGenerator } from '../engine/random.js';
import { resample } from './wav.js';

function power(x: Float32Array): number {
  let p = 0;
  for (const v of x) p += v * v;
  return p / Math.max(1, x.length);
}

/**
 * Adds `noise` (looped or cut to length; white Gaussian noise when omitted) scaled so the result
 * has the given signal-to-noise ratio in dB.
 */
export function addNoise(
  signal: Float32Array,
  snrDb: number,
  noise?: Float32Array,
  rng: Generator = globalGenerator,
): Float32Array {
  if (!Number.isFinite(snrDb)) throw new Error(`addNoise: snrDb must be a finite number of dB, got ${snrDb}`);
  let n = noise;
  if (!n) {
    n = new Float32Array(signal.length);
    rng.fillNormal(n);
  } else if (n.length === 0) throw new Error('addNoise: the noise clip is empty');
  const offset = noise ? rng.int(0, n.length) : 0;
  const seg = Float32Array.from({ length: signal.length }, (_, i) => n![(offset + i) % n!.length]!);
  const ps = power(signal);
  const pn = power(seg);
  if (pn === 0 || ps === 0) return Float32Array.from(signal);
  const scale = Math.sqrt(ps / (pn * 10 ** (snrDb / 10)));
  return Float32Array.from(signal, (v, i) => v + scale * seg[i]!);
}

/** Multiplies by a gain in dB. */
export function applyGain(signal: Float32Array, gainDb: number): Float32Array {
  const g = 10 ** (gainDb / 20);
  return Float32Array.from(signal, (v) => v * g);
}

/** Shifts by `samples` (positive: later), filling with zeros; keeps the length. */
export function timeShift(signal: Float32Array, samples: number): Float32Array {
  const out = new Float32Array(signal.length);
  const s = Math.trunc(samples);
  for (let i = 0; i < signal.length; i++) {
    const j = i - s;
    if (j >= 0 && j < signal.length) out[i] = signal[j]!;
  }
  return out;
}

/** Centres `signal` in exactly `length` samples: pads with zeros or cuts both ends evenly. */
export function fitLength(signal: Float32Array, length: number): Float32Array {
  const out = new Float32Array(length);
  const offset = Math.floor((length - signal.length) / 2);
  if (offset >= 0) out.set(signal, offset);
  else out.set(signal.subarray(-offset, -offset + length));
  return out;
}

/**
 * Speed perturbation: plays the audio `factor` times faster (pitch and tempo both change, as
 * Kaldi's and torchaudio's speed perturbation do), by resampling.
 */
export async function changeSpeed(signal: Float32Array, sampleRate: number, factor: number): Promise<Float32Array> {
  if (!(factor > 0.5 && factor < 2)) throw new Error(`changeSpeed: factor must be in (0.5, 2), got ${factor}`);
  // Treat the samples as recorded at rate·factor and bring them back to rate.
  return resample(signal, Math.round(sampleRate * factor), sampleRate);
}

/**
 * A room-like reverberation: convolves with an exponentially decaying noise impulse response
 * whose energy falls by 60 dB in `rt60` seconds, mixed `wet` with the dry signal.
 */
export function reverberate(
  signal: Float32Array,
  sampleRate: number,
  rt60 = 0.3,
  wet = 0.3,
  rng: Generator = globalGenerator,
): Float32Array {
  const length = Math.max(1, Math.round(rt60 * sampleRate));
  const ir = new Float32Array(length);
  rng.fillNormal(ir);
  const decay = Math.log(1000) / length; // amplitude falls 1000× (60 dB) over rt60
  let energy = 0;
  for (let i = 0; i < length; i++) {
    ir[i]! *= Math.exp(-decay * i);
    energy += ir[i]! * ir[i]!;
  }
  const norm = 1 / Math.sqrt(energy);
  const out = Float32Array.from(signal, (v) => (1 - wet) * v);
  for (let i = 0; i < signal.length; i++) {
    const x = signal[i]!;
    if (x === 0) continue;
    const end = Math.min(length, signal.length - i);
    for (let k = 0; k < end; k++) out[i + k]! += wet * norm * ir[k]! * x;
  }
  return out;
}

export interface SpecAugmentOptions {
  /** Number of frequency masks (default 2) and their maximum width in bins (default 8). */
  freqMasks?: number;
  freqWidth?: number;
  /** Number of time masks (default 2) and their maximum width in frames (default 10). */
  timeMasks?: number;
  timeWidth?: number;
  /** Fill value (default: the features' mean, which keeps normalised statistics). */
  value?: number;
}

/**
 * SpecAugment masks on a [frames, bins] feature matrix (row-major): up to `freqMasks` bands of
 * bins and `timeMasks` spans of frames are set to `value`. Returns a new array.
 */
export function specAugment(
  features: Float32Array,
  frames: number,
  bins: number,
  options: SpecAugmentOptions = {},
  rng: Generator = globalGenerator,
): Float32Array {
  if (features.length !== frames * bins)
    throw new Error(`specAugment: ${features.length} values are not [${frames}, ${bins}]`);
  const { freqMasks = 2, freqWidth = 8, timeMasks = 2, timeWidth = 10 } = options;
  const out = Float32Array.from(features);
  let fill = options.value;
  if (fill === undefined) {
    fill = 0;
    for (const v of features) fill += v / features.length;
  }
  for (let m = 0; m < freqMasks; m++) {
    const w = rng.int(0, Math.min(freqWidth, bins) + 1);
    const f0 = rng.int(0, bins - w + 1);
    for (let t = 0; t < frames; t++) out.fill(fill, t * bins + f0, t * bins + f0 + w);
  }
  for (let m = 0; m < timeMasks; m++) {
    const w = rng.int(0, Math.min(timeWidth, frames) + 1);
    const t0 = rng.int(0, frames - w + 1);
    out.fill(fill, t0 * bins, (t0 + w) * bins);
  }
  return out;
}
