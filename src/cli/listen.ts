/**
 * `lepton listen [FILE]`: transcribes an audio file, or the microphone, with a streaming CTC model
 * (see src/audio/streaming.ts), feeding it in real-time-sized chunks and printing partial results
 * as they change, each utterance's final result at its endpoint, and the whole transcript last.
 *
 * The microphone is read through a recorder program writing raw 16-bit little-endian mono PCM to
 * stdout: ALSA's `arecord` (Debian alsa-utils) or SoX's `rec` (Debian sox), whichever is on PATH,
 * or any command given with --recorder / $LEPTON_RECORDER (e.g. one that plays a file).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { AsrModel, AsrResult } from '../audio/streaming.js';
import { CliError } from './output.js';

export interface ListenOptions {
  model?: string;
  chunkMs: number;
  endpointSilence: number;
  partials: boolean;
  json?: boolean;
  /** Read the microphone even when a file is given (the default without one). */
  mic?: boolean;
  /** Recorder command line writing raw 16-bit LE mono PCM at the model's rate to stdout. */
  recorder?: string;
  /** Stop the microphone after this many seconds (default: until Ctrl-C or the recorder ends). */
  seconds?: number;
}

const seconds = (s: number | undefined): string => (s ?? 0).toFixed(2);

export async function listen(file: string | undefined, opts: ListenOptions): Promise<void> {
  const useMic = opts.mic || file === undefined;
  if (!useMic && !existsSync(file!)) throw new CliError(`listen: no such file: ${file}`);
  const { dataHome } = await import('../data/loaders/locate.js');
  const dir = opts.model ?? join(dataHome(), 'asr-model');
  if (!existsSync(join(dir, 'asr.json')))
    throw new CliError(
      `listen: ${dir} is not a speech model (no asr.json); train one with 'npx tsx examples/asr.ts' or pass --model DIR`,
    );
  const { AsrModel, StreamingRecognizer, loadAudio, pcm16ToFloat } = await import('../audio/index.js');
  const asr = await AsrModel.load(dir);
  const rate = asr.spec.sampleRate;
  const rec = new StreamingRecognizer(asr, { endpointSilence: opts.endpointSilence });
  const step = Math.max(1, Math.round((rate * opts.chunkMs) / 1000));
  const finals: AsrResult[] = [];
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  let shown = '';
  const final = (r: AsrResult): void => {
    if (!r.text) return;
    finals.push(r);
    if (!opts.json) out(`[${seconds(r.start)}–${seconds(r.end)}] ${r.text}`);
    shown = '';
  };
  const feed = (samples: Float32Array): void => {
    for (let at = 0; at < samples.length; at += step) {
      if (rec.acceptWaveform(samples.subarray(at, at + step))) for (let r = rec.result(); r; r = rec.result()) final(r);
      const partial = rec.partialResult().text;
      if (opts.partials && !opts.json && partial && partial !== shown) out(`… ${partial}`);
      shown = partial;
    }
  };

  if (useMic) await fromRecorder(opts, asr, feed, pcm16ToFloat);
  else {
    let samples: Float32Array;
    try {
      samples = (await loadAudio(file!, { sampleRate: rate })).channels[0]!;
    } catch (e) {
      throw new CliError(`listen: ${(e as Error).message}`);
    }
    feed(samples);
  }
  for (const r of rec.endStream()) final(r);
  const transcript = finals.map((r) => r.text).join(' ');
  if (opts.json) out(JSON.stringify({ text: transcript, utterances: finals }));
  else out(transcript);
}

function onPath(program: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, program), constants.X_OK);
      return true;
    } catch {
      // not in this folder
    }
  }
  return false;
}

/** The recorder command: --recorder / $LEPTON_RECORDER, else arecord, else sox's rec, at `rate` Hz. */
export function recorderCommand(rate: number, given = process.env.LEPTON_RECORDER): string[] {
  if (given?.trim()) return given.trim().split(/\s+/);
  if (onPath('arecord')) return ['arecord', '-q', '-t', 'raw', '-f', 'S16_LE', '-c', '1', '-r', String(rate), '-'];
  if (onPath('rec'))
    return ['rec', '-q', '-t', 'raw', '-b', '16', '-e', 'signed-integer', '-L', '-c', '1', '-r', String(rate), '-'];
  throw new CliError(
    "listen: no microphone recorder found: install Debian's alsa-utils (arecord) or sox (rec), or pass --recorder CMD (a command writing raw 16-bit little-endian mono PCM to stdout)",
  );
}

/** Spawns the recorder and feeds its PCM until it ends, Ctrl-C, or `opts.seconds` of audio. */
function fromRecorder(
  opts: ListenOptions,
  asr: AsrModel,
  feed: (samples: Float32Array) => void,
  pcm16ToFloat: (bytes: Uint8Array) => Float32Array,
): Promise<void> {
  const rate = asr.spec.sampleRate;
  const [cmd, ...args] = recorderCommand(rate, opts.recorder ?? process.env.LEPTON_RECORDER);
  const limit = opts.seconds !== undefined ? Math.round(opts.seconds * rate) : Infinity;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    if (!opts.json) process.stderr.write(`listening through ${cmd} at ${rate} Hz (Ctrl-C ends)\n`);
    let carry: Buffer | undefined; // an odd byte waiting for the other half of its sample
    let received = 0;
    let stopped = false;
    let err = '';
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      child.kill('SIGTERM');
    };
    const onSigint = (): void => stop();
    process.once('SIGINT', onSigint);
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.stdout.on('data', (chunk: Buffer) => {
      if (stopped) return;
      let bytes = carry ? Buffer.concat([carry, chunk]) : chunk;
      carry = undefined;
      if (bytes.length % 2) {
        carry = bytes.subarray(bytes.length - 1);
        bytes = bytes.subarray(0, bytes.length - 1);
      }
      let samples = pcm16ToFloat(bytes);
      if (received + samples.length > limit) samples = samples.subarray(0, limit - received);
      received += samples.length;
      try {
        feed(samples);
      } catch (e) {
        stop();
        reject(e);
      }
      if (received >= limit) stop();
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      process.removeListener('SIGINT', onSigint);
      reject(
        new CliError(
          e.code === 'ENOENT'
            ? `listen: recorder '${cmd}' not found (install Debian's alsa-utils for arecord or sox for rec)`
            : `listen: recorder '${cmd}': ${e.message}`,
        ),
      );
    });
    child.on('close', (code, signal) => {
      process.removeListener('SIGINT', onSigint);
      // Killed by us (Ctrl-C, --seconds) or ended by itself: both end the stream normally.
      if (stopped || code === 0) return resolve();
      reject(
        new CliError(
          `listen: recorder '${[cmd, ...args].join(' ')}' failed (${signal ?? `exit ${code}`})${err.trim() ? `: ${err.trim()}` : ''}`,
        ),
      );
    });
  });
}
