/**
 * Speech recognition with a character CTC model built from 1-D convolutions over Kaldi fbanks
 * (examples/asr.ts trains one): offline transcription of a whole utterance, and a streaming
 * recognizer with the sherpa-onnx/Vosk API shape (`acceptWaveform`, `partialResult`, `result`,
 * `finalResult`, `reset`).
 *
 * Why streaming is exact: a convolution stack sees a bounded window of frames (its receptive
 * field), so an output frame computed from a window that holds its whole receptive field equals
 * the one computed over the whole utterance. The recognizer runs the model over fixed-size windows
 * (left context + a chunk + right look-ahead) and keeps only the outputs whose receptive field lay
 * inside the window; the outputs nearer the window's right edge (truncated look-ahead) are shown
 * only in partial results, and replaced once more audio arrives. Only the first convolution may
 * stride, and windows start at multiples of its stride, so every window sees the same frame phase.
 *
 * Voice activity is an energy detector on 10 ms frames with an adaptive noise floor; an utterance
 * ends (endpoint) after `endpointSilence` seconds of non-speech once the exact outputs cover it.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tensor, type Tensor } from '../engine/tensor.js';
import type { Layer } from '../nn/layer.js';
import { Conv1D } from '../nn/layers/conv.js';
import { Dense, Dropout } from '../nn/layers/core.js';
import { ReLU } from '../nn/layers/misc.js';
import { BatchNormalization, Normalization } from '../nn/layers/normalization.js';
import { sequential, type Model, type Sequential } from '../nn/model.js';
import { loadModel } from '../train/save.js';
import { fbank } from './features.js';
import { concatSamples, streamSamples } from './wav.js';

/** Characters of class 1, 2, …; class 0 is the CTC blank. */
export const ASR_ALPHABET = " abcdefghijklmnopqrstuvwxyz'";

/** What the recognizer needs to know besides the network (saved as asr.json beside the model). */
export interface AsrSpec {
  /** Characters of classes 1..n (class 0 is blank). */
  alphabet: string;
  /** Kaldi fbank bins the model reads ([frames, bins] input). */
  numMelBins: number;
  /** Input sample rate (16000). */
  sampleRate: number;
}

export interface WordTiming {
  word: string;
  /** Seconds from the start of the stream. */
  start: number;
  end: number;
}

export interface AsrResult {
  text: string;
  words: WordTiming[];
  /** Segment boundaries in seconds from the start of the stream (final results only). */
  start?: number;
  end?: number;
}

/** Fbank frame geometry (Kaldi defaults: 25 ms frames every 10 ms). */
const FRAME_SHIFT = 160;
const FRAME_LENGTH = 400;

/** Silence between two characters that ends a word in greedy decoding (see AsrModel.decode). */
const WORD_GAP_SECONDS = 0.3;

/** Kaldi fbank rows [frames, bins] of 16 kHz samples in [-1, 1] (empty when shorter than one frame). */
export function asrFeatures(samples: Float32Array, numMelBins: number): Float32Array {
  if (samples.length < FRAME_LENGTH) return new Float32Array(0);
  const fb = fbank(tensor(samples, { shape: [samples.length] }), { numMelBins, scale: 32768 });
  return fb.data as Float32Array;
}

export interface ConvAsrOptions {
  /** Training clip length in fbank frames (a multiple of `stride`; inference takes any length). */
  frames: number;
  /** Fbank bins. */
  bins: number;
  /** Per-bin statistics of the training features (the input is standardised with them). */
  mean: number[];
  variance: number[];
  /** Output classes: blank + the alphabet. */
  classes: number;
  /** Channels of every block (default 96). */
  channels?: number;
  /** Kernel sizes of the separable blocks (default [11, 13, 15, 17, 19]). */
  kernels?: number[];
  /** Subsampling of the first convolution (default 3: 30 ms output frames). */
  stride?: number;
}

/**
 * A QuartzNet-style CTC acoustic model without residuals: a strided convolution, then blocks of
 * depthwise (over time) + pointwise (across channels) convolutions with batch norm and ReLU, and a
 * per-frame classifier. No recurrence, so training unrolls nothing but the CTC loss and streaming
 * needs no carried state (see the file comment).
 */
export function convAsrModel(options: ConvAsrOptions): Sequential {
  const {
    frames,
    bins,
    mean,
    variance,
    classes,
    channels: c = 96,
    kernels = [11, 13, 15, 17, 19],
    stride = 3,
  } = options;
  if (frames % stride !== 0)
    throw new Error(`convAsrModel: frames (${frames}) must be a multiple of stride (${stride})`);
  const model = sequential();
  model.add(new Normalization({ mean, variance, inputShape: [frames, bins] }));
  model.add(new Conv1D(c, 9, { strides: stride, padding: 'same', useBias: false }));
  model.add(new BatchNormalization());
  model.add(new ReLU());
  for (const k of kernels) {
    model.add(new Conv1D(c, k, { padding: 'same', groups: c, useBias: false }));
    model.add(new Conv1D(c, 1, { useBias: false }));
    model.add(new BatchNormalization());
    model.add(new ReLU());
  }
  model.add(new Conv1D(2 * c, 1, { activation: 'relu' }));
  model.add(new Dropout(0.1));
  model.add(new Dense(classes));
  return model;
}

/** The temporal geometry of a conv stack: its stride and how far an output frame reaches, in input frames. */
interface Geometry {
  stride: number;
  /** Output frames of context needed on each side for an output to be exact. */
  context: number;
}

function geometry(model: Model): Geometry {
  let stride = 1;
  let reach = 0; // input frames an output reaches on each side (conservative)
  for (const layer of model.layers as Layer[]) {
    if (layer instanceof Conv1D) {
      const [k] = layer.kernelSize as [number];
      const [s] = layer.strides as [number];
      const [d] = layer.dilationRate as [number];
      if (s > 1 && stride > 1)
        throw new Error(
          `streaming ASR: only the first strided Conv1D may subsample (layer '${layer.name}' strides ${s})`,
        );
      reach += Math.ceil(((k - 1) * d) / 2) * stride + (s > 1 ? s : 0);
      stride *= s;
    } else if (/LSTM|GRU|RNN|Attention|Transformer|Pooling|Flatten/.test(layer.className)) {
      throw new Error(
        `streaming ASR: layer '${layer.name}' (${layer.className}) has no bounded receptive field; the recognizer needs a Conv1D stack`,
      );
    }
  }
  return { stride, context: Math.ceil(reach / stride) + 1 };
}

/** A trained CTC model and its spec. */
export class AsrModel {
  readonly stride: number;
  readonly context: number;
  constructor(
    readonly model: Model,
    readonly spec: AsrSpec,
  ) {
    ({ stride: this.stride, context: this.context } = geometry(model));
  }

  /** Seconds per output frame. */
  get frameSeconds(): number {
    return (this.stride * FRAME_SHIFT) / this.spec.sampleRate;
  }

  /** Log-probabilities [outFrames][classes] of feature rows [frames, bins] (frames a multiple of the stride). */
  logProbs(features: Float32Array, frames: number): Float32Array[] {
    const bins = this.spec.numMelBins;
    let x: Tensor = tensor(features.subarray(0, frames * bins), { shape: [1, frames, bins] });
    // Layer by layer, eagerly: the saved model's input layer fixes the training length.
    for (const layer of this.model.layers as Layer[]) x = layer.apply(x, { training: false }) as Tensor;
    const [, t, c] = x.shape as number[];
    const data = x.data as Float32Array;
    const rows: Float32Array[] = [];
    for (let i = 0; i < t!; i++) {
      const row = data.slice(i * c!, (i + 1) * c!);
      let m = -Infinity;
      for (const v of row) m = Math.max(m, v);
      let s = 0;
      for (const v of row) s += Math.exp(v - m);
      const lse = m + Math.log(s);
      for (let k = 0; k < row.length; k++) row[k] = row[k]! - lse;
      rows.push(row);
    }
    return rows;
  }

  /** Offline: the transcript of a whole utterance (16 kHz mono samples). */
  transcribe(samples: Float32Array): AsrResult & { logProbs: Float32Array[] } {
    const feats = asrFeatures(samples, this.spec.numMelBins);
    const frames = Math.floor(feats.length / this.spec.numMelBins / this.stride) * this.stride;
    const rows = frames > 0 ? this.logProbs(feats, frames) : [];
    return { ...this.decode(rows, 0), logProbs: rows };
  }

  /**
   * Greedy CTC decoding of rows whose first row is output frame `first`, with word timings. A
   * pause of `WORD_GAP_SECONDS` or more between two characters ends a word even without a space:
   * models trained on single sentences never emit a space across the silence after one, so a
   * partial spanning a pause would otherwise join the last word with the next ("themwhen").
   */
  decode(rows: readonly Float32Array[], first: number): AsrResult {
    const words: WordTiming[] = [];
    let word = '';
    let start = 0;
    let end = 0;
    let prev = -1;
    const close = (): void => {
      if (word) words.push({ word, start: start * this.frameSeconds, end: end * this.frameSeconds });
      word = '';
    };
    rows.forEach((row, i) => {
      let best = 0;
      for (let c = 1; c < row.length; c++) if (row[c]! > row[best]!) best = c;
      if (best !== prev && best !== 0) {
        const ch = this.spec.alphabet[best - 1] ?? '';
        if (ch === ' ') close();
        else {
          if (word && (first + i - end) * this.frameSeconds >= WORD_GAP_SECONDS - 1e-9) close();
          if (!word) start = first + i;
          word += ch;
        }
      }
      if (best !== 0 && this.spec.alphabet[best - 1] !== ' ') end = first + i + 1;
      prev = best;
    });
    close();
    return { text: words.map((w) => w.word).join(' '), words };
  }

  /** Saves the spec beside a model folder written by saveModel. */
  static async saveSpec(dir: string, spec: AsrSpec): Promise<void> {
    await writeFile(join(dir, 'asr.json'), `${JSON.stringify(spec, null, 2)}\n`);
  }

  /** Loads a model folder (saveModel + asr.json). */
  static async load(dir: string): Promise<AsrModel> {
    let spec: AsrSpec;
    try {
      spec = JSON.parse(await readFile(join(dir, 'asr.json'), 'utf8')) as AsrSpec;
    } catch (e) {
      throw new Error(
        `AsrModel.load: ${dir} has no readable asr.json (train one with examples/asr.ts): ${(e as Error).message}`,
      );
    }
    return new AsrModel(await loadModel(dir), spec);
  }
}

export interface StreamingOptions {
  /** New exact output frames per model run (default 8; with stride 3, 240 ms). */
  chunk?: number;
  /** Seconds of non-speech that end an utterance (default 0.5). */
  endpointSilence?: number;
  /** A 10 ms frame is speech when its level is this many dB above the noise floor (default 12)… */
  speechAboveFloorDb?: number;
  /** …and above this absolute level in dBFS (default -50). */
  minSpeechDb?: number;
}

/**
 * A streaming recognizer over one audio stream (16 kHz mono Float32 samples in [-1, 1]).
 * `acceptWaveform` returns true when an utterance ended; its final result is then read with
 * `result()`. `partialResult()` is the current utterance so far; `finalResult()` flushes the
 * stream's end and returns the last utterance's result (flushing may end earlier ones too, which
 * wait in `result()`; `endStream()` returns them all).
 */
export class StreamingRecognizer {
  private readonly chunk: number;
  private readonly endpointFrames: number;
  private readonly aboveFloor: number;
  private readonly minDb: number;
  private readonly bins: number;
  // Audio and features.
  private samples = new Float32Array(0); // from absolute sample samplesBase
  private samplesBase = 0;
  private feats: number[] = []; // fbank rows from absolute frame featsBase, flattened
  private featsBase = 0;
  private featFrames = 0; // absolute fbank frames computed
  private levels: number[] = []; // dBFS of each fbank frame from absolute frame vadFrames
  // Model outputs.
  private done = 0; // absolute output frames whose exact log-probabilities are known
  private rows: Float32Array[] = []; // exact rows of the current segment, from segStart
  private segStart = 0;
  private provisional: Float32Array[] = []; // rows after `done` from the last window (partial only)
  private computedEnd = 0; // absolute output frame where the last window ended
  // Voice activity, on 10 ms frames.
  private vadFrames = 0;
  private noiseDb = -60;
  private speechSeen = false;
  private silenceStart = -1; // absolute 10 ms frame where the current non-speech run began
  private readonly finals: AsrResult[] = [];

  constructor(
    readonly asr: AsrModel,
    options: StreamingOptions = {},
  ) {
    this.chunk = options.chunk ?? 8;
    if (!Number.isInteger(this.chunk) || this.chunk < 1)
      throw new Error(`StreamingRecognizer: chunk must be a positive integer of output frames, got ${options.chunk}`);
    this.endpointFrames = Math.round((options.endpointSilence ?? 0.5) * 100);
    this.aboveFloor = options.speechAboveFloorDb ?? 12;
    this.minDb = options.minSpeechDb ?? -50;
    this.bins = asr.spec.numMelBins;
  }

  /** Input frames per model window: context + chunk + look-ahead output frames. */
  private get windowFrames(): number {
    return (2 * this.asr.context + this.chunk) * this.asr.stride;
  }

  /** Feeds samples; true when at least one utterance ended (read it with `result()`). */
  acceptWaveform(samples: Float32Array | ArrayLike<number>): boolean {
    this.samples = concatSamples([this.samples, streamSamples('StreamingRecognizer.acceptWaveform', samples)]);
    const before = this.finals.length;
    this.advance(false);
    return this.finals.length > before;
  }

  /** The next ended utterance's final result (undefined when none is waiting). */
  result(): AsrResult | undefined {
    return this.finals.shift();
  }

  /** The current utterance so far: exact outputs plus the provisional ones near the audio's end. */
  partialResult(): AsrResult {
    return this.asr.decode([...this.rows, ...this.provisional], this.segStart);
  }

  /**
   * Ends the stream: decodes the remaining audio as the offline transcription of the stream's
   * end would, and returns the final result of the last utterance (waiting finals stay in `result()`).
   */
  finalResult(): AsrResult {
    const queued = this.finals.length;
    this.advance(true);
    const restHasSpeech = this.speechSeen;
    const rest = this.closeSegment();
    // Flushing the look-ahead can reach the endpoint after the last utterance (its trailing silence
    // was shorter than the look-ahead when the stream ended): that utterance is the last one, not
    // the silence after it.
    if (!restHasSpeech && this.finals.length > queued) return this.finals.pop()!;
    return rest;
  }

  /**
   * Ends the stream and returns every final result not read yet, in order: those waiting in
   * `result()` (flushing may end several utterances), then `finalResult()`'s, last (possibly empty).
   */
  endStream(): AsrResult[] {
    const last = this.finalResult();
    return [...this.finals.splice(0), last];
  }

  /** Forgets the stream (keeps the model). */
  reset(): void {
    this.samples = new Float32Array(0);
    this.samplesBase = 0;
    this.feats = [];
    this.featsBase = 0;
    this.featFrames = 0;
    this.levels = [];
    this.done = 0;
    this.rows = [];
    this.segStart = 0;
    this.provisional = [];
    this.computedEnd = 0;
    this.vadFrames = 0;
    this.noiseDb = -60;
    this.speechSeen = false;
    this.silenceStart = -1;
    this.finals.length = 0;
  }

  private advance(flush: boolean): void {
    this.computeFeatures();
    const { stride, context } = this.asr;
    const usable = Math.floor(this.featFrames / stride) * stride; // whole strides only, as offline
    const step = this.chunk * stride;
    for (;;) {
      const start = stride * Math.max(0, this.done - context);
      let end = start + this.windowFrames;
      if (end > usable) {
        // The audio does not fill a window yet (the stream's start): a shorter one, a whole number
        // of chunks long (few distinct shapes), still gives partials when it reaches new audio.
        end = start + Math.floor((usable - start) / step) * step;
        if (flush || end < (this.computedEnd + this.chunk) * stride) break;
      }
      const rows = this.runWindow(start, end);
      const exactEnd = Math.max(this.done, end / stride - context);
      this.emit(rows.slice(this.done - start / stride, exactEnd - start / stride));
      this.provisional = rows.slice(exactEnd - start / stride);
      this.computedEnd = end / stride;
      this.vad(false);
      if (end < start + this.windowFrames) break;
    }
    if (flush && usable / stride > this.done) {
      const start = stride * Math.max(0, this.done - context);
      const rows = this.runWindow(start, usable);
      this.emit(rows.slice(this.done - start / stride));
      this.provisional = [];
    }
    this.vad(flush);
    this.trimFeatures();
  }

  private runWindow(start: number, end: number): Float32Array[] {
    const from = (start - this.featsBase) * this.bins;
    const window = Float32Array.from(this.feats.slice(from, from + (end - start) * this.bins));
    return this.asr.logProbs(window, end - start);
  }

  private emit(rows: Float32Array[]): void {
    for (const r of rows) this.rows.push(r);
    this.done += rows.length;
  }

  /** Fbank rows for every whole 25 ms frame received so far. */
  private computeFeatures(): void {
    const total = this.samplesBase + this.samples.length;
    const available = total < FRAME_LENGTH ? 0 : Math.floor((total - FRAME_LENGTH) / FRAME_SHIFT) + 1;
    if (available <= this.featFrames) return;
    const from = this.featFrames * FRAME_SHIFT - this.samplesBase;
    const to = (available - 1) * FRAME_SHIFT + FRAME_LENGTH - this.samplesBase;
    const rows = asrFeatures(this.samples.subarray(from, to), this.bins);
    for (const v of rows) this.feats.push(v);
    // The voice-activity level of each new frame: its window's mean square in dB full scale.
    for (let f = this.featFrames; f < available; f++) {
      const at = f * FRAME_SHIFT - this.samplesBase;
      let p = 0;
      for (let i = at; i < at + FRAME_LENGTH; i++) p += this.samples[i]! ** 2;
      this.levels.push(10 * Math.log10(p / FRAME_LENGTH + 1e-12));
    }
    this.featFrames = available;
    // Keep the samples the next frame needs.
    const keep = this.featFrames * FRAME_SHIFT - this.samplesBase;
    this.samples = this.samples.slice(keep);
    this.samplesBase += keep;
  }

  /** Drops feature rows no future window reads. */
  private trimFeatures(): void {
    const { stride, context } = this.asr;
    const first = stride * Math.max(0, this.done - context);
    if (first > this.featsBase) {
      this.feats.splice(0, (first - this.featsBase) * this.bins);
      this.featsBase = first;
    }
  }

  /** Energy VAD over 10 ms frames the exact outputs cover; closes a segment at an endpoint. */
  private vad(flush: boolean): void {
    const covered = Math.min(this.featFrames, this.done * this.asr.stride);
    for (; this.vadFrames < covered; this.vadFrames++) {
      const db = this.levels.shift()!;
      const speech = db > this.noiseDb + this.aboveFloor && db > this.minDb;
      if (!speech) this.noiseDb += (db < this.noiseDb ? 0.3 : 0.02) * (db - this.noiseDb);
      if (speech) {
        this.speechSeen = true;
        this.silenceStart = -1;
      } else if (this.silenceStart < 0) this.silenceStart = this.vadFrames;
      const silent = this.silenceStart >= 0 ? this.vadFrames + 1 - this.silenceStart : 0;
      if (this.speechSeen && silent >= this.endpointFrames) {
        this.cut(Math.ceil((this.vadFrames + 1) / this.asr.stride));
      } else if (!this.speechSeen && silent >= this.endpointFrames) {
        // Leading non-speech: drop it from the segment.
        this.cut(Math.ceil((this.vadFrames + 1) / this.asr.stride), false);
      }
    }
    if (flush) {
      this.levels = [];
      this.vadFrames = this.featFrames;
    }
  }

  /** Ends the current segment at output frame `at` (≤ done); queues its result when it had speech. */
  private cut(at: number, keep = true): void {
    const n = Math.min(at, this.done) - this.segStart;
    if (n <= 0) return;
    const head = this.rows.splice(0, n);
    const start = this.segStart;
    this.segStart += n;
    if (keep) {
      const r = this.asr.decode(head, start);
      this.finals.push({ ...r, start: start * this.asr.frameSeconds, end: this.segStart * this.asr.frameSeconds });
    }
    this.speechSeen = false;
    this.silenceStart = -1;
  }

  private closeSegment(): AsrResult {
    const start = this.segStart;
    const r = this.asr.decode(this.rows, start);
    this.segStart = this.done;
    this.rows = [];
    this.provisional = [];
    this.speechSeen = false;
    return { ...r, start: start * this.asr.frameSeconds, end: this.done * this.asr.frameSeconds };
  }
}
