/**
 * Training a character CTC recognizer (`convAsrModel`) on synthesized speech: the voices (whole
 * espeak-ng variants held out, so a test voice is one the model never heard), speaking clips with
 * a WAV cache, fixed-length fbank training sets, the optimizer and loss, and an atomic save with
 * the recognizer's spec. examples/asr.ts and the speech bench's own model (bench/speech.ts, when
 * no trained model is cached) both train through these.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Generator } from '../engine/random.js';
import { tensor, type Tensor } from '../engine/tensor.js';
import type { Model } from '../nn/model.js';
import { Adam } from '../train/optimizers.js';
import { saveModel } from '../train/save.js';
import { CosineDecay } from '../train/schedules.js';
import { addNoise } from './augment.js';
import { CTC } from './ctc.js';
import { ASR_ALPHABET, AsrModel, asrFeatures, type AsrSpec } from './streaming.js';
import { mapConcurrent, synthesize, voiceId, type Voice } from './synth.js';
import { decodeWav, writeWav } from './wav.js';

/** espeak-ng English accents of the ASR corpus. */
export const ASR_ACCENTS: readonly string[] = [
  'en-us',
  'en-gb',
  'en-gb-scotland',
  'en-gb-x-rp',
  'en-gb-x-gbclan',
  'en-gb-x-gbcwmd',
  'en-029',
];
/** espeak-ng variants spoken in training. */
export const ASR_TRAIN_VARIANTS: readonly string[] = [
  'm1',
  'm2',
  'm3',
  'm4',
  'm5',
  'f1',
  'f2',
  'f3',
  'klatt',
  'klatt2',
];
/** espeak-ng variants never spoken in training: test voices. */
export const ASR_HELD_OUT_VARIANTS: readonly string[] = ['m6', 'm7', 'f4', 'f5'];

/**
 * A random training voice: espeak-ng (an accent × one of `variants`, default the training variants,
 * 140–190 wpm, pitch 30–70) or, 8% of the time, flite kal16/awb.
 */
export function asrTrainingVoice(rng: Generator, variants: readonly string[] = ASR_TRAIN_VARIANTS): Voice {
  return rng.random() < 0.08
    ? { engine: 'flite', name: rng.random() < 0.5 ? 'kal16' : 'awb' }
    : {
        engine: 'espeak-ng',
        name: ASR_ACCENTS[rng.int(0, ASR_ACCENTS.length)]!,
        variant: variants[rng.int(0, variants.length)]!,
        speed: rng.int(140, 191),
        pitch: rng.int(30, 71),
      };
}

export interface SpokenClip {
  text: string;
  /** `voiceId` of the speaker. */
  voice: string;
  /** The cached 16-bit WAV (pocketsphinx and other tools can read it). */
  path: string;
  audio: Float32Array;
}

export interface SpeakOptions {
  /** Folder of the WAV cache (one subfolder per voice). */
  cacheDir: string;
  /** Sample rate (default 16000). */
  sampleRate?: number;
  /** Synthesizer processes at a time (default 8). */
  concurrency?: number;
  /** WAV sample format of the cache (default '16', which pocketsphinx reads too). */
  bitDepth?: '16' | '32f';
  /** Called after each clip with how many are done. */
  onProgress?: (done: number, total: number) => void;
}

/** Speaks each (text, voice) once, caching WAVs under `cacheDir` (examples/kws.ts and asr.ts); keeps the order of `jobs`. */
export async function speakClips(
  jobs: readonly { text: string; voice: Voice }[],
  options: SpeakOptions,
): Promise<SpokenClip[]> {
  const { cacheDir, sampleRate = 16000, concurrency = 8, bitDepth = '16', onProgress } = options;
  let done = 0;
  return mapConcurrent(jobs, concurrency, async ({ text, voice }) => {
    const id = voiceId(voice);
    const dir = join(cacheDir, id.replace(/[^a-zA-Z0-9+.-]/g, '_'));
    const path = join(dir, `${text.replace(/ /g, '_')}.wav`);
    let audio: Float32Array;
    if (existsSync(path)) audio = decodeWav(await readFile(path), path).channels[0]!;
    else {
      mkdirSync(dir, { recursive: true });
      const spoken = await synthesize(text, voice, sampleRate);
      await writeWav(path, spoken, { bitDepth });
      audio = spoken.channels[0]!;
    }
    onProgress?.(++done, jobs.length);
    return { text, voice: id, path, audio };
  });
}

export interface AsrTrainingSetOptions {
  /** Training length in fbank frames (clips longer than that are left out). */
  frames: number;
  /** Fbank bins. */
  bins: number;
  /** Places each clip at a random offset in the padded window and picks the noisy ones. */
  rng: Generator;
  /** Share of clips that get white noise at 10–30 dB SNR (default 0.5). */
  noiseShare?: number;
  /** Features an earlier call computed for the same clips (a cache): skips the audio work. */
  features?: Float32Array;
}

export interface AsrTrainingSet {
  /** [clips, frames, bins] fbank features. */
  x: Tensor;
  /** [clips, maxLabels] int64 labels (class = alphabet index + 1), padded with -1. */
  y: Tensor;
  /** The features of `x` (to cache). */
  features: Float32Array;
  /** Per-bin statistics of the features (for the model's fixed input normalisation). */
  mean: number[];
  variance: number[];
  /** The clips used, in order. */
  clips: SpokenClip[];
  /** Clips left out as longer than `frames`. */
  tooLong: number;
}

/**
 * Fbank features of clips padded with silence to `frames` frames (each at a random offset; a
 * share with added noise), their CTC label rows, and the features' per-bin mean and variance.
 */
export function asrTrainingSet(clips: readonly SpokenClip[], options: AsrTrainingSetOptions): AsrTrainingSet {
  const { frames, bins, rng, noiseShare = 0.5 } = options;
  const samples = (frames - 1) * 160 + 400;
  const fitting = clips.filter((c) => c.audio.length <= samples);
  if (fitting.length === 0)
    throw new Error(`asrTrainingSet: none of the ${clips.length} clips fits in ${frames} frames (${samples} samples)`);
  for (const c of fitting)
    for (const ch of c.text)
      if (!ASR_ALPHABET.includes(ch))
        throw new Error(
          `asrTrainingSet: '${ch}' in ${JSON.stringify(c.text)} is not in the alphabet ${JSON.stringify(ASR_ALPHABET)}`,
        );
  const size = fitting.length * frames * bins;
  if (options.features && options.features.length !== size)
    throw new Error(
      `asrTrainingSet: cached features hold ${options.features.length} values, expected ${size} ([${fitting.length}, ${frames}, ${bins}])`,
    );
  const x = options.features ?? new Float32Array(size);
  const maxLabels = Math.max(...fitting.map((c) => c.text.length));
  const y: number[][] = [];
  fitting.forEach((c, i) => {
    if (!options.features) {
      const padded = new Float32Array(samples);
      padded.set(c.audio, rng.int(0, samples - c.audio.length + 1));
      const audio = rng.random() < noiseShare ? addNoise(padded, 10 + 20 * rng.random(), undefined, rng) : padded;
      x.set(asrFeatures(audio, bins), i * frames * bins);
    }
    const labels = Array.from(c.text, (ch) => ASR_ALPHABET.indexOf(ch) + 1);
    y.push([...labels, ...new Array<number>(maxLabels - labels.length).fill(-1)]);
  });
  const mean = new Array<number>(bins).fill(0);
  const variance = new Array<number>(bins).fill(0);
  const rows = fitting.length * frames;
  for (let r = 0; r < rows; r++) for (let b = 0; b < bins; b++) mean[b]! += x[r * bins + b]! / rows;
  for (let r = 0; r < rows; r++)
    for (let b = 0; b < bins; b++) variance[b]! += (x[r * bins + b]! - mean[b]!) ** 2 / rows;
  return {
    x: tensor(x, { shape: [fitting.length, frames, bins] }),
    y: tensor(y, { dtype: 'int64' }),
    features: x,
    mean,
    variance,
    clips: fitting,
    tooLong: clips.length - fitting.length,
  };
}

export interface CompileAsrOptions {
  /** Steps of the cosine decay (the schedule's `options.decaySteps` may be changed later). */
  decaySteps: number;
  /** Initial learning rate (default 1.5e-3). */
  learningRate?: number;
}

/**
 * Compiles a CTC model for training: Adam with cosine decay and clipNorm 5, CTC loss with its
 * recursion in float64 (in float32 the true alignment underflows once the model is confident).
 * Returns the schedule, whose length a time-budgeted run can set once it knows its step time.
 */
export function compileAsrModel(model: Model, options: CompileAsrOptions): CosineDecay {
  const schedule = new CosineDecay({
    initial: options.learningRate ?? 1.5e-3,
    decaySteps: options.decaySteps,
    minimum: 5e-5,
  });
  model.compile({
    optimizer: new Adam({ learningRate: schedule, clipNorm: 5 }),
    loss: new CTC({ dtype: 'float64' }),
  });
  return schedule;
}

/**
 * Saves a model folder (`saveModel`) with its recognizer spec (asr.json) and any other small
 * files, atomically: everything is written to a temporary sibling folder that then replaces `dir`,
 * so a reader never sees a model without its spec. Returns the loaded recognizer.
 */
export async function saveAsrModel(
  model: Model,
  dir: string,
  spec: AsrSpec,
  files: Record<string, string> = {},
): Promise<AsrModel> {
  const target = resolve(dir);
  mkdirSync(dirname(target), { recursive: true });
  const staging = await mkdtemp(join(dirname(target), `.${basename(target)}.staging-`));
  const old = `${staging}.old`;
  try {
    const inner = join(staging, 'model');
    await saveModel(model, inner);
    await AsrModel.saveSpec(inner, spec);
    for (const [name, text] of Object.entries(files)) await writeFile(join(inner, name), text);
    if (existsSync(target)) await rename(target, old);
    await rename(inner, target);
  } finally {
    await rm(staging, { recursive: true, force: true });
    await rm(old, { recursive: true, force: true });
  }
  return AsrModel.load(target);
}
