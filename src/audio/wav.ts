/**
 * Audio in and out: WAV decoding/encoding (`wavefile` parses and writes the RIFF container),
 * channel mixing, resampling (libsamplerate's band-limited sinc converters, through
 * `@alexanderolsen/libsamplerate-js`, its WebAssembly build), and other formats through Debian's `ffmpeg` when it is installed
 * (spawned, raw float PCM piped back). Samples are float32 in [-1, 1): integer PCM is divided by
 * 2^(bits−1), as torchaudio, soundfile and Kaldi do.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { writeFileAtomic } from '../engine/files.js';
import { runFfmpeg } from '../io/ffmpeg.js';

// Both are CommonJS; createRequire keeps their typings usable under NodeNext ESM.
const require = createRequire(import.meta.url);
const { WaveFile } = require('wavefile') as typeof import('wavefile');
const libsamplerate = require('@alexanderolsen/libsamplerate-js') as {
  create(
    channels: number,
    from: number,
    to: number,
    options: { converterType: number },
  ): Promise<{ simple(x: Float32Array): Float32Array; full(x: Float32Array): Float32Array; destroy(): void }>;
  ConverterType: Record<'SRC_SINC_BEST_QUALITY' | 'SRC_SINC_MEDIUM_QUALITY' | 'SRC_SINC_FASTEST', number>;
};

/** Decoded audio: one Float32Array per channel, all of the same length. */
export interface Audio {
  sampleRate: number;
  channels: Float32Array[];
}

interface Fmt {
  audioFormat: number;
  numChannels: number;
  sampleRate: number;
  bitsPerSample: number;
}

/** Decodes a WAV file's bytes (PCM 8/16/24/32-bit, float 32/64, A-law, µ-law, IMA ADPCM). */
export function decodeWav(bytes: Uint8Array, source = 'WAV data'): Audio {
  let wav: InstanceType<typeof WaveFile>;
  try {
    wav = new WaveFile(bytes);
  } catch (e) {
    throw new Error(
      `decodeWav: ${source} is not a readable WAV file (${(e as Error).message}); expected a RIFF/WAVE file with 'fmt ' and 'data' chunks`,
    );
  }
  const fmt = wav.fmt as Fmt;
  // Companded and ADPCM files are expanded to 16-bit PCM first.
  if (fmt.audioFormat === 6) wav.fromALaw();
  else if (fmt.audioFormat === 7) wav.fromMuLaw();
  else if (fmt.audioFormat === 17) wav.fromIMAADPCM();
  const bits = Number.parseInt(wav.bitDepth, 10);
  const isFloat = wav.bitDepth === '32f' || wav.bitDepth === '64';
  if (!isFloat && !(bits >= 8 && bits <= 32))
    throw new Error(
      `decodeWav: ${source} has unsupported sample format (bit depth '${wav.bitDepth}', audio format ${fmt.audioFormat})`,
    );
  const raw = wav.getSamples(false, Float64Array) as unknown as Float64Array | Float64Array[];
  const perChannel = Array.isArray(raw) ? (raw as Float64Array[]) : [raw as Float64Array];
  const channels = perChannel.map((ch) => {
    const out = new Float32Array(ch.length);
    if (isFloat) out.set(ch);
    else if (bits === 8)
      for (let i = 0; i < ch.length; i++) out[i] = (ch[i]! - 128) / 128; // 8-bit WAV is unsigned
    else {
      const scale = 2 ** (bits - 1);
      for (let i = 0; i < ch.length; i++) out[i] = ch[i]! / scale;
    }
    return out;
  });
  if (channels.length === 0 || fmt.sampleRate <= 0)
    throw new Error(`decodeWav: ${source} declares ${channels.length} channels at ${fmt.sampleRate} Hz`);
  return { sampleRate: fmt.sampleRate, channels };
}

export interface EncodeWavOptions {
  /** '16' (default) integer PCM, or '32f' float. */
  bitDepth?: '16' | '32f';
}

/** Encodes audio as a WAV file; integer output is clipped to [-1, 1) and rounded. */
export function encodeWav(audio: Audio, options: EncodeWavOptions = {}): Uint8Array {
  const { bitDepth = '16' } = options;
  checkAudio('encodeWav', audio);
  const wav = new WaveFile();
  const samples =
    bitDepth === '32f'
      ? audio.channels.map((c) => Float64Array.from(c))
      : audio.channels.map((c) =>
          Float64Array.from(c, (v) => Math.max(-32768, Math.min(32767, Math.round(v * 32768)))),
        );
  wav.fromScratch(audio.channels.length, audio.sampleRate, bitDepth, samples);
  return wav.toBuffer();
}

/** Writes a WAV file atomically (temp file + rename). */
export async function writeWav(path: string, audio: Audio, options: EncodeWavOptions = {}): Promise<void> {
  await writeFileAtomic(path, encodeWav(audio, options));
}

/** The average of the channels. */
export function toMono(audio: Audio): Float32Array {
  checkAudio('toMono', audio);
  if (audio.channels.length === 1) return audio.channels[0]!;
  const out = new Float32Array(audio.channels[0]!.length);
  for (const c of audio.channels) for (let i = 0; i < out.length; i++) out[i]! += c[i]! / audio.channels.length;
  return out;
}

export type ResampleQuality = 'best' | 'medium' | 'fastest';

const CONVERTERS = {
  best: 'SRC_SINC_BEST_QUALITY',
  medium: 'SRC_SINC_MEDIUM_QUALITY',
  fastest: 'SRC_SINC_FASTEST',
} as const;

function checkRates(fn: string, fromRate: number, toRate: number): void {
  for (const [k, v] of [
    ['fromRate', fromRate],
    ['toRate', toRate],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0 || v > 192000)
      throw new Error(`${fn}: ${k} must be an integer number of Hz in 1..192000, got ${v}`);
  }
}

/**
 * Resamples one channel with libsamplerate's band-limited sinc converter: 'medium' (default) keeps
 * a tone's amplitude and phase to ~1e-4, 'best' to float precision at ~6x the cost.
 */
export async function resample(
  samples: Float32Array,
  fromRate: number,
  toRate: number,
  quality: ResampleQuality = 'medium',
): Promise<Float32Array> {
  checkRates('resample', fromRate, toRate);
  if (fromRate === toRate || samples.length === 0) return samples;
  const converter = await converterFor(fromRate, toRate, quality);
  return Float32Array.from(converter.simple(samples));
}

type Converter = Awaited<ReturnType<typeof libsamplerate.create>>;
const converters = new Map<string, Promise<Converter>>();

/** Converters are costly to create (a WebAssembly instance each) and stateless in `simple()`: one per rate pair and quality. */
function converterFor(fromRate: number, toRate: number, quality: ResampleQuality): Promise<Converter> {
  const key = `${fromRate}:${toRate}:${quality}`;
  let c = converters.get(key);
  if (!c) {
    c = libsamplerate.create(1, fromRate, toRate, {
      converterType: libsamplerate.ConverterType[CONVERTERS[quality]],
    });
    converters.set(key, c);
  }
  return c;
}

/** A resampler for one audio stream fed in pieces (its filter state carries across pieces). */
export interface StreamResampler {
  /** Resampled output for the next piece of input (a few ms of it lag behind, inside the filter). */
  push(samples: Float32Array): Float32Array;
  /** Frees the converter (its WebAssembly memory). */
  close(): void;
}

/**
 * A resampler for a stream: libsamplerate's `full` API keeps the filter state between pieces, so
 * the joined output equals one conversion of the joined input (`resample` converts one whole buffer).
 */
export async function streamResampler(
  fromRate: number,
  toRate: number,
  quality: ResampleQuality = 'medium',
): Promise<StreamResampler> {
  checkRates('streamResampler', fromRate, toRate);
  if (fromRate === toRate) return { push: (x) => x, close: () => {} };
  const converter = await libsamplerate.create(1, fromRate, toRate, {
    converterType: libsamplerate.ConverterType[CONVERTERS[quality]],
  });
  let closed = false;
  return {
    push: (x) => {
      if (closed) throw new Error('streamResampler: push after close');
      return x.length ? Float32Array.from(converter.full(x)) : new Float32Array(0);
    },
    close: () => {
      if (!closed) converter.destroy();
      closed = true;
    },
  };
}

/** Pieces of audio joined end to end. */
export function concatSamples(parts: readonly Float32Array[]): Float32Array<ArrayBuffer> {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Samples fed to a stream as a Float32Array, checked finite (`who` names the caller in the error). */
export function streamSamples(who: string, samples: Float32Array | ArrayLike<number>): Float32Array {
  const chunk = samples instanceof Float32Array ? samples : Float32Array.from(samples);
  for (const v of chunk) if (!Number.isFinite(v)) throw new Error(`${who}: samples must be finite numbers`);
  return chunk;
}

/** Samples in [-1, 1) of 16-bit little-endian PCM bytes (an even number of them). */
export function pcm16ToFloat(bytes: Uint8Array): Float32Array {
  if (bytes.length % 2 !== 0)
    throw new Error(`pcm16ToFloat: 16-bit PCM needs an even number of bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt16(2 * i, true) / 32768;
  return out;
}

export interface LoadAudioOptions {
  /** Resample to this rate (default: keep the file's). */
  sampleRate?: number;
  /** Mix down to one channel (default true). */
  mono?: boolean;
}

/**
 * Loads an audio file: WAV directly, anything else through `ffmpeg` (Debian package `ffmpeg`)
 * when it is on PATH. Returns mono audio by default, resampled when `sampleRate` is given.
 */
export async function loadAudio(path: string, options: LoadAudioOptions = {}): Promise<Audio> {
  const { sampleRate, mono = true } = options;
  if (extname(path).toLowerCase() !== '.wav') {
    // ffmpeg resamples and mixes down itself.
    const rate = sampleRate ?? 16000;
    const pcm = await ffmpegDecode(path, rate, mono ? 1 : 2);
    return mono ? { sampleRate: rate, channels: [pcm] } : deinterleave(pcm, 2, rate);
  }
  const audio = decodeWav(await readFile(path), path);
  const channels = mono ? [toMono(audio)] : audio.channels;
  const rate = sampleRate ?? audio.sampleRate;
  return { sampleRate: rate, channels: await Promise.all(channels.map((c) => resample(c, audio.sampleRate, rate))) };
}

function deinterleave(pcm: Float32Array, n: number, sampleRate: number): Audio {
  const len = Math.floor(pcm.length / n);
  const channels = Array.from({ length: n }, (_, c) => Float32Array.from({ length: len }, (_, i) => pcm[i * n + c]!));
  return { sampleRate, channels };
}

/** ffmpeg decodes anything it knows to raw little-endian float32 on stdout. */
async function ffmpegDecode(path: string, sampleRate: number, channels: number): Promise<Float32Array> {
  const args = ['-nostdin', '-v', 'error', '-i', path, '-f', 'f32le', '-acodec', 'pcm_f32le'];
  const p = runFfmpeg('ffmpeg', [...args, '-ac', String(channels), '-ar', String(sampleRate), '-'], 'loadAudio');
  const chunks: Buffer[] = [];
  p.child.stdout!.on('data', (c: Buffer) => chunks.push(c));
  const { code, error } = await p.exited;
  if (error) throw new Error(`${error.message} (${path} is not a WAV file; or convert it to WAV first)`);
  if (code !== 0) throw new Error(`loadAudio: ffmpeg could not decode ${path}: ${p.lastLine()}`);
  const buf = Buffer.concat(chunks);
  const out = new Float32Array(Math.floor(buf.length / 4));
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}

function checkAudio(name: string, audio: Audio): void {
  if (!audio || !Array.isArray(audio.channels) || audio.channels.length === 0)
    throw new Error(`${name}: expected { sampleRate, channels: Float32Array[] } with at least one channel`);
  const n = audio.channels[0]!.length;
  if (audio.channels.some((c) => c.length !== n))
    throw new Error(`${name}: channels differ in length (${audio.channels.map((c) => c.length).join(', ')})`);
  if (!Number.isInteger(audio.sampleRate) || audio.sampleRate <= 0)
    throw new Error(`${name}: sampleRate must be a positive integer, got ${audio.sampleRate}`);
}
