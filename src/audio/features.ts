/**
 * Audio features as compositions of Lepton ops, so they run eagerly, trace into compiled and
 * exported graphs, batch, and differentiate: STFT power spectrogram, mel spectrogram, dB scaling,
 * MFCC (torchaudio.transforms semantics) and Kaldi-compatible fbank
 * (torchaudio.compliance.kaldi.fbank semantics).
 *
 * Why a convolution: framing, windowing and the real DFT are one linear map per frame, so an STFT
 * is a strided Conv1d whose filters are the windowed cosine and sine rows of the DFT. That is one
 * MatMul-class kernel in ORT, exports as a standard ONNX Conv, and needs no complex dtype. Kaldi's
 * per-frame DC removal and pre-emphasis are linear too, so they fold into the same filters.
 *
 * Shapes: a waveform is [samples] or [batch, samples]; features come back with the same leading
 * batch axis (or none): spectrogram/mel/mfcc [..., channels, frames] like torchaudio, fbank
 * [..., frames, bins] like Kaldi.
 */
import { Tensor, tensor } from '../engine/tensor.js';
import { compileSync } from '../engine/compile.js';
import { add, matmul, mul, reshape, transpose } from '../engine/ops/core.js';
import { conv1d } from '../engine/ops/conv.js';
import { log, maximum, sqrt, square } from '../engine/ops/elementwise.js';
import { max } from '../engine/ops/reduce.js';
import { pad, slice, squeeze } from '../engine/ops/shape.js';
import { dctMatrix, kaldiMelFilterbank, melFilterbank, windowFunction, type WindowType } from './filterbanks.js';

export interface StftOptions {
  /** FFT size (number of frequency bins is nFft / 2 + 1). */
  nFft: number;
  /** Window length in samples (default nFft); a shorter window is centred inside nFft, as torch does. */
  winLength?: number;
  /** Samples between frames (default winLength / 2, torchaudio's default). */
  hopLength?: number;
  /** Analysis window (default 'hann', periodic as torch.hann_window). */
  window?: WindowType;
  /** Pad nFft / 2 on both sides so frame t is centred on sample t·hop (default true). */
  center?: boolean;
  /** Padding mode when centring (default 'reflect'). */
  padMode?: 'reflect' | 'constant';
}

export interface SpectrogramOptions extends StftOptions {
  /** 2 for power (default), 1 for magnitude. */
  power?: 1 | 2;
}

export interface MelSpectrogramOptions extends SpectrogramOptions {
  sampleRate: number;
  nMels?: number;
  fMin?: number;
  fMax?: number;
  norm?: 'slaney' | null;
  melScale?: 'htk' | 'slaney';
}

export interface MfccOptions extends MelSpectrogramOptions {
  nMfcc?: number;
  /** Use log(mel + 1e-6) instead of dB with a top-dB floor (torchaudio's `log_mels`). */
  logMels?: boolean;
}

export interface AmplitudeToDbOptions {
  /** 10 for power spectrograms (default), 20 for magnitudes. */
  multiplier?: number;
  /** Floor before the logarithm (default 1e-10). */
  amin?: number;
  /** Reference value: 0 dB (default 1). */
  ref?: number;
  /** Clamp to (max - topDb) per example, torchaudio's `top_db`; null (default) keeps everything. */
  topDb?: number | null;
}

export interface FbankOptions {
  /** Number of mel bins (Kaldi's default 23; 80 is common for ASR). */
  numMelBins?: number;
  sampleRate?: number;
  /** Frame length in ms (default 25). */
  frameLength?: number;
  /** Frame shift in ms (default 10). */
  frameShift?: number;
  preemphasis?: number;
  removeDcOffset?: boolean;
  windowType?: Exclude<WindowType, 'hann'> | 'hanning';
  roundToPowerOfTwo?: boolean;
  lowFreq?: number;
  /** Upper edge in Hz; <= 0 means Nyquist plus this (Kaldi's convention, default 0). */
  highFreq?: number;
  /** Multiply the waveform first (Kaldi works on 16-bit sample values: pass 32768 for [-1, 1] audio). */
  scale?: number;
  /** Log of the mel energies (default true). */
  useLogFbank?: boolean;
  /** Power (default true) or magnitude spectrum. */
  usePower?: boolean;
}

/** Filter tensors per configuration: built once, reused by every call and every trace. */
const filterCache = new Map<string, Tensor>();

function cached(key: string, build: () => Tensor): Tensor {
  let t = filterCache.get(key);
  if (!t) {
    t = build();
    filterCache.set(key, t);
  }
  return t;
}

function float32(values: Float64Array, shape: number[]): Tensor {
  return tensor(Float32Array.from(values), { shape });
}

/** Accepts [samples] or [batch, samples]; returns [batch, 1, samples] and whether a batch axis was added. */
function asBatch(name: string, wave: Tensor): [Tensor, boolean] {
  if (wave.dtype !== 'float32')
    throw new Error(`${name}: waveform must be float32, got ${wave.dtype} with shape [${wave.shape.join(', ')}]`);
  if (wave.rank === 1) return [reshape(wave, [1, 1, -1]), true];
  if (wave.rank === 2) return [reshape(wave, [wave.shape[0] as number, 1, -1]), false];
  throw new Error(`${name}: waveform must be [samples] or [batch, samples], got shape [${wave.shape.join(', ')}]`);
}

function unbatch(x: Tensor, added: boolean): Tensor {
  return added ? squeeze(x, 0) : x;
}

function stftConfig(
  name: string,
  o: StftOptions,
): Required<Omit<StftOptions, 'padMode'>> & { padMode: 'reflect' | 'constant' } {
  const nFft = o.nFft;
  const winLength = o.winLength ?? nFft;
  const hopLength = o.hopLength ?? Math.floor(winLength / 2);
  for (const [k, v] of [
    ['nFft', nFft],
    ['winLength', winLength],
    ['hopLength', hopLength],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${name}: ${k} must be a positive integer, got ${v}`);
  }
  if (winLength > nFft) throw new Error(`${name}: winLength (${winLength}) cannot exceed nFft (${nFft})`);
  return {
    nFft,
    winLength,
    hopLength,
    window: o.window ?? 'hann',
    center: o.center ?? true,
    padMode: o.padMode ?? 'reflect',
  };
}

/**
 * Conv1d filters [2·bins, 1, frameLength] computing the real and imaginary parts of the DFT of
 * `transform(frame)` for a linear per-frame `transform` given by its adjoint: `adjoint(row)` maps
 * a DFT row (already multiplied by nothing else) back onto frame samples.
 */
function dftFilters(nFft: number, frameLength: number, adjoint: (row: Float64Array) => Float64Array): Tensor {
  const bins = Math.floor(nFft / 2) + 1;
  const w = new Float64Array(2 * bins * frameLength);
  const row = new Float64Array(frameLength);
  for (let part = 0; part < 2; part++) {
    for (let k = 0; k < bins; k++) {
      for (let n = 0; n < frameLength; n++) {
        const angle = (2 * Math.PI * ((k * n) % nFft)) / nFft;
        row[n] = part === 0 ? Math.cos(angle) : -Math.sin(angle);
      }
      w.set(adjoint(row), (part * bins + k) * frameLength);
    }
  }
  return float32(w, [2 * bins, 1, frameLength]);
}

/** |DFT|² (or |DFT|) of the conv's output [batch, 2·bins, frames] → [batch, bins, frames]. */
function powerOf(z: Tensor, bins: number, power: 1 | 2): Tensor {
  const re = slice(z, [null, [0, bins]]);
  const im = slice(z, [null, [bins, 2 * bins]]);
  const p = add(square(re), square(im));
  return power === 2 ? p : sqrt(p);
}

/** Power (or magnitude) spectrogram, torchaudio.transforms.Spectrogram: [..., nFft/2+1, frames]. */
export function spectrogram(wave: Tensor, options: SpectrogramOptions): Tensor {
  const c = stftConfig('spectrogram', options);
  const power = options.power ?? 2;
  if (power !== 1 && power !== 2) throw new Error(`spectrogram: power must be 1 or 2, got ${power}`);
  const [x, added] = asBatch('spectrogram', wave);
  const key = `stft:${c.nFft}:${c.winLength}:${c.window}`;
  const filters = cached(key, () => {
    // torch centres a shorter window inside the nFft frame and zero-fills the rest.
    const win = new Float64Array(c.nFft);
    win.set(windowFunction(c.window, c.winLength, true), Math.floor((c.nFft - c.winLength) / 2));
    return dftFilters(c.nFft, c.nFft, (row) => row.map((v, n) => v * win[n]!));
  });
  const padded = c.center ? pad(x, [null, null, Math.floor(c.nFft / 2)], { mode: c.padMode }) : x;
  const z = conv1d(padded, filters, undefined, { stride: c.hopLength });
  return unbatch(powerOf(z, Math.floor(c.nFft / 2) + 1, power), added);
}

/** Mel spectrogram, torchaudio.transforms.MelSpectrogram: [..., nMels, frames]. */
export function melSpectrogram(wave: Tensor, options: MelSpectrogramOptions): Tensor {
  const nMels = options.nMels ?? 128;
  const nFreqs = Math.floor(options.nFft / 2) + 1;
  const { sampleRate, fMin = 0, fMax, norm = null, melScale = 'htk' } = options;
  const fb = cached(`mel:${nFreqs}:${nMels}:${sampleRate}:${fMin}:${fMax}:${norm}:${melScale}`, () =>
    float32(melFilterbank({ nFreqs, nMels, sampleRate, fMin, fMax, norm, melScale }), [nMels, nFreqs]),
  );
  return matmul(fb, spectrogram(wave, options));
}

/** Decibels: multiplier·log10(max(x, amin) / ref), optionally floored at (max − topDb) per example. */
export function amplitudeToDb(x: Tensor, options: AmplitudeToDbOptions = {}): Tensor {
  const { multiplier = 10, amin = 1e-10, ref = 1, topDb = null } = options;
  const db = mul(log(maximum(x, amin)), multiplier / Math.LN10);
  const shifted = ref === 1 ? db : add(db, -multiplier * Math.log10(Math.max(amin, ref)));
  if (topDb == null) return shifted;
  if (x.rank < 2)
    throw new Error(`amplitudeToDb: topDb needs a [..., channels, frames] input, got shape [${x.shape.join(', ')}]`);
  const peak = max(shifted, [x.rank - 2, x.rank - 1], true);
  return maximum(shifted, add(peak, -topDb));
}

/** MFCC, torchaudio.transforms.MFCC: dB-scaled (top 80 dB) mel spectrogram → orthonormal DCT-II: [..., nMfcc, frames]. */
export function mfcc(wave: Tensor, options: MfccOptions): Tensor {
  const nMfcc = options.nMfcc ?? 40;
  const nMels = options.nMels ?? 128;
  const mel = melSpectrogram(wave, { ...options, nMels });
  const logMel = options.logMels ? log(add(mel, 1e-6)) : amplitudeToDb(mel, { topDb: 80 });
  const dct = cached(`dct:${nMfcc}:${nMels}`, () => float32(dctMatrix(nMfcc, nMels), [nMfcc, nMels]));
  return matmul(dct, logMel);
}

const FLOAT32_EPSILON = 1.1920928955078125e-7;

/**
 * Kaldi filterbank features exactly as torchaudio.compliance.kaldi.fbank computes them (with
 * dither 0 and snip_edges true): frames of frameLength ms every frameShift ms, DC offset removed,
 * pre-emphasis, window, zero-padded FFT, power spectrum, Kaldi mel banks, log floored at float32
 * epsilon. Returns [..., frames, numMelBins]. Dithering is random and left to augmentation.
 */
export function fbank(wave: Tensor, options: FbankOptions = {}): Tensor {
  const {
    numMelBins = 23,
    sampleRate = 16000,
    frameLength = 25,
    frameShift = 10,
    preemphasis = 0.97,
    removeDcOffset = true,
    windowType = 'povey',
    roundToPowerOfTwo = true,
    lowFreq = 20,
    highFreq = 0,
    scale = 1,
    useLogFbank = true,
    usePower = true,
  } = options;
  const length = Math.trunc((sampleRate * frameLength) / 1000);
  const shift = Math.trunc((sampleRate * frameShift) / 1000);
  if (length < 2 || shift < 1)
    throw new Error(
      `fbank: frameLength ${frameLength} ms / frameShift ${frameShift} ms at ${sampleRate} Hz give ${length}/${shift} samples`,
    );
  const padded = roundToPowerOfTwo ? 2 ** Math.ceil(Math.log2(length)) : length;
  const bins = padded / 2 + 1;
  if (!Number.isInteger(bins)) throw new Error(`fbank: the FFT length ${padded} must be even (use roundToPowerOfTwo)`);
  const [x, added] = asBatch('fbank', wave);
  if (typeof x.shape[2] === 'number' && x.shape[2] < length) {
    throw new Error(
      `fbank: waveform has ${x.shape[2]} samples, fewer than one ${frameLength} ms frame (${length} samples)`,
    );
  }
  const win = windowFunction(windowType === 'hanning' ? 'hann' : windowType, length, false);
  const filters = cached(`fbank:${length}:${padded}:${windowType}:${preemphasis}:${removeDcOffset}:${scale}`, () =>
    // frame → (remove DC) → (pre-emphasis) → window → DFT, all linear: the filter for one DFT row
    // is that row pushed back through the adjoints, in reverse order.
    dftFilters(padded, length, (row) => {
      const r = row.slice(0, length).map((v, n) => v * win[n]!);
      // Pre-emphasis y[i] = x[i] − c·x[i−1], y[0] = x[0] − c·x[0]; its adjoint:
      const e = new Float64Array(length);
      for (let m = 0; m < length; m++)
        e[m] = (m === 0 ? 1 - preemphasis : 1) * r[m]! - (m + 1 < length ? preemphasis * r[m + 1]! : 0);
      if (removeDcOffset) {
        let mean = 0;
        for (const v of e) mean += v;
        mean /= length;
        for (let m = 0; m < length; m++) e[m]! -= mean;
      }
      return e.map((v) => v * scale);
    }),
  );
  const z = conv1d(x, filters, undefined, { stride: shift });
  const fb = cached(`kaldimel:${numMelBins}:${padded}:${sampleRate}:${lowFreq}:${highFreq}`, () =>
    float32(kaldiMelFilterbank(numMelBins, padded, sampleRate, lowFreq, highFreq), [numMelBins, bins]),
  );
  let mel = matmul(fb, powerOf(z, bins, usePower ? 2 : 1));
  if (useLogFbank) mel = log(maximum(mel, FLOAT32_EPSILON));
  return unbatch(transpose(mel, [0, 2, 1]), added);
}

// ---------------------------------------------------------------------------------------------
// Many clips of different lengths in one graph run

/** Frames computed per row of a packed batch: rows overlap by frameLength − hop samples. */
const ROW_FRAMES = 100;

/** Compiled feature functions per configuration (one graph with a symbolic row count serves every call). */
const compiledClips = new Map<string, (rows: Tensor) => Tensor>();

/**
 * Lays clips end to end on one frame grid (each starts on a hop boundary, with a gap so that no
 * frame mixes two clips), cuts the grid into rows of ROW_FRAMES frames, runs `features` (rows
 * [n, rowSamples] → [n, ROW_FRAMES, k]) once on all rows, and returns each clip's frames
 * [frames, k]. Exact because every frame is a function of its own samples only.
 */
function packedFrames(
  name: string,
  clips: readonly Float32Array[],
  frameLength: number,
  hop: number,
  key: string,
  features: (rows: Tensor) => Tensor,
  threads: number | undefined,
): { frames: number; data: Float32Array }[] {
  const counts = clips.map((c, i) => {
    if (!(c instanceof Float32Array))
      throw new Error(`${name}: clip ${i} must be a Float32Array of samples, got ${Object.prototype.toString.call(c)}`);
    if (c.length < frameLength)
      throw new Error(`${name}: clip ${i} has ${c.length} samples, fewer than one frame (${frameLength} samples)`);
    return 1 + Math.floor((c.length - frameLength) / hop);
  });
  const gap = Math.ceil((frameLength - hop) / hop);
  const starts: number[] = [];
  let total = 0;
  for (const n of counts) {
    starts.push(total);
    total += n + gap;
  }
  const rows = Math.max(1, Math.ceil(total / ROW_FRAMES));
  const rowSamples = (ROW_FRAMES - 1) * hop + frameLength;
  const stream = new Float32Array((rows * ROW_FRAMES - 1) * hop + frameLength);
  clips.forEach((c, i) => stream.set(c, starts[i]! * hop));
  const packed = new Float32Array(rows * rowSamples);
  for (let r = 0; r < rows; r++)
    packed.set(stream.subarray(r * ROW_FRAMES * hop, r * ROW_FRAMES * hop + rowSamples), r * rowSamples);
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1))
    throw new Error(`${name}: threads must be a positive integer, got ${threads}`);
  let run = compiledClips.get(`${key}:${threads}`);
  if (!run) {
    run = compileSync(features, { symbolicBatch: true, session: threads ? { intraOpNumThreads: threads } : undefined });
    compiledClips.set(`${key}:${threads}`, run);
  }
  const out = run(tensor(packed, { shape: [rows, rowSamples] }));
  const k = out.shape[2] as number;
  const data = out.data as Float32Array;
  return counts.map((n, i) => ({ frames: n, data: data.slice(starts[i]! * k, (starts[i]! + n) * k) }));
}

/** Options of the many-clip feature functions. */
export interface ClipsOptions {
  /** ONNX Runtime intra-op threads of the compiled graph (default: ORT's choice, one per core). */
  threads?: number;
}

/**
 * Kaldi fbank of many clips of any lengths (each [samples], e.g. 16 kHz in [-1, 1] with
 * `scale: 32768`) in one compiled graph run: the same values as `fbank` on each clip, returned as
 * [frames, numMelBins] tensors. The batched path for feature extraction over a data set.
 */
export function fbankClips(clips: readonly Float32Array[], options: FbankOptions & ClipsOptions = {}): Tensor[] {
  const { threads, ...fbankOptions } = options;
  const { sampleRate = 16000, frameLength = 25, frameShift = 10, numMelBins = 23 } = options;
  const length = Math.trunc((sampleRate * frameLength) / 1000);
  const shift = Math.trunc((sampleRate * frameShift) / 1000);
  if (length < 2 || shift < 1)
    throw new Error(
      `fbankClips: frameLength ${frameLength} ms / frameShift ${frameShift} ms at ${sampleRate} Hz give ${length}/${shift} samples`,
    );
  const key = `fbank:${JSON.stringify(Object.entries(fbankOptions).sort())}`;
  return packedFrames('fbankClips', clips, length, shift, key, (rows) => fbank(rows, fbankOptions), threads).map((c) =>
    tensor(c.data, { shape: [c.frames, numMelBins] }),
  );
}

/**
 * Log-mel spectrograms in dB (torchaudio's `MelSpectrogram` followed by `AmplitudeToDB()`, no
 * top-dB floor) of many clips of any lengths in one compiled graph run; each comes back
 * [nMels, frames] like torchaudio. With `center` (the default) each clip is reflect-padded on its
 * own first, as torch does.
 */
export function logMelClips(clips: readonly Float32Array[], options: MelSpectrogramOptions & ClipsOptions): Tensor[] {
  const { threads, ...melOptions } = options;
  const c = stftConfig('logMelClips', melOptions);
  const nMels = melOptions.nMels ?? 128;
  const half = Math.floor(c.nFft / 2);
  const padded = c.center
    ? clips.map((clip, i) => {
        if (c.padMode === 'reflect' && clip.length <= half)
          throw new Error(
            `logMelClips: clip ${i} has ${clip.length} samples; reflect padding needs more than nFft/2 (${half})`,
          );
        const out = new Float32Array(clip.length + 2 * half);
        out.set(clip, half);
        if (c.padMode === 'reflect')
          for (let k = 1; k <= half; k++) {
            out[half - k] = clip[k]!;
            out[half + clip.length - 1 + k] = clip[clip.length - 1 - k]!;
          }
        return out;
      })
    : clips;
  const key = `logmel:${JSON.stringify(Object.entries(melOptions).sort())}`;
  const features = (rows: Tensor): Tensor =>
    transpose(amplitudeToDb(melSpectrogram(rows, { ...melOptions, center: false })), [0, 2, 1]);
  return packedFrames('logMelClips', padded, c.nFft, c.hopLength, key, features, threads).map((f) => {
    // [frames, nMels] → [nMels, frames]
    const out = new Float32Array(f.data.length);
    for (let t = 0; t < f.frames; t++) for (let m = 0; m < nMels; m++) out[m * f.frames + t] = f.data[t * nMels + m]!;
    return tensor(out, { shape: [nMels, f.frames] });
  });
}
