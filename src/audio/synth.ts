/**
 * Labelled speech without a download: Debian's speech synthesizers (`espeak-ng` with its accents
 * and voice variants, `flite` with its voices) spoken to WAV, resampled to a common rate, with
 * exact transcripts. A voice is an engine + voice name + speed + pitch, and has a stable id, so
 * whole voices can be held out for testing (WER on speakers a model never heard).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeWav, resample, toMono, type Audio } from './wav.js';

export interface Voice {
  engine: 'espeak-ng' | 'flite';
  /** espeak-ng: a language/accent ('en-us', 'en-gb-scotland', …); flite: a voice ('slt', 'kal16', 'awb', 'rms'). */
  name: string;
  /** espeak-ng voice variant ('m3', 'f2', 'klatt', …; see `espeak-ng --voices=variant`). */
  variant?: string;
  /** espeak-ng words per minute (default 175). */
  speed?: number;
  /** espeak-ng pitch 0–99 (default 50). */
  pitch?: number;
}

/** A stable name for a voice: 'espeak-ng:en-us+f3:s160:p60'. */
export function voiceId(v: Voice): string {
  const base = `${v.engine}:${v.name}${v.variant ? `+${v.variant}` : ''}`;
  return v.engine === 'espeak-ng' ? `${base}:s${v.speed ?? 175}:p${v.pitch ?? 50}` : base;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    // espeak-ng opens PulseAudio even when it only writes a file (-w), and libpulse then leaves a
    // pulse-* folder in $TMPDIR; a runtime path that cannot exist keeps it from writing anything.
    const env = { ...process.env, PULSE_RUNTIME_PATH: process.env.PULSE_RUNTIME_PATH ?? '/dev/null/pulse' };
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' ? new Error(`${cmd} is not installed: apt-get install ${cmd} (Debian)`) : e),
    );
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} failed (exit ${code}): ${err.trim()}`)),
    );
  });
}

/** espeak-ng's voice variants ('m1', 'f3', 'klatt', …). */
export async function espeakVariants(): Promise<string[]> {
  const out = await run('espeak-ng', ['--voices=variant']);
  return out
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/)[4]?.replace(/^!v\//, ''))
    .filter((v): v is string => !!v);
}

/** Speaks `text` with `voice` and returns mono audio at `sampleRate` (default 16 kHz). */
export async function synthesize(text: string, voice: Voice, sampleRate = 16000): Promise<Audio> {
  if (typeof text !== 'string' || text.trim() === '')
    throw new Error(`synthesize: text must be a non-empty string, got ${JSON.stringify(text)}`);
  const dir = await mkdtemp(join(tmpdir(), 'lepton-tts-'));
  try {
    const out = join(dir, 'speech.wav');
    if (voice.engine === 'espeak-ng') {
      const v = voice.variant ? `${voice.name}+${voice.variant}` : voice.name;
      await run('espeak-ng', [
        '-v',
        v,
        '-s',
        String(voice.speed ?? 175),
        '-p',
        String(voice.pitch ?? 50),
        '-w',
        out,
        '--',
        text,
      ]);
    } else if (voice.engine === 'flite') {
      await run('flite', ['-voice', voice.name, '-t', text, '-o', out]);
    } else {
      throw new Error(`synthesize: unknown engine '${(voice as Voice).engine}' (expected 'espeak-ng' or 'flite')`);
    }
    const audio = decodeWav(await readFile(out), `${voiceId(voice)} speaking ${JSON.stringify(text)}`);
    return { sampleRate, channels: [await resample(toMono(audio), audio.sampleRate, sampleRate)] };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs `task` over `items` with at most `concurrency` at a time, keeping order. */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  concurrency: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}
