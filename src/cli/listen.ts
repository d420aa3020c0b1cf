/**
 * `lepton listen FILE`: transcribes an audio file with a streaming CTC model (see
 * src/audio/streaming.ts), feeding it in real-time-sized chunks and printing partial results as
 * they change, each utterance's final result at its endpoint, and the whole transcript last.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CliError } from './output.js';

export interface ListenOptions {
  model?: string;
  chunkMs: number;
  endpointSilence: number;
  partials: boolean;
  json?: boolean;
}

const seconds = (s: number | undefined): string => (s ?? 0).toFixed(2);

export async function listen(file: string, opts: ListenOptions): Promise<void> {
  if (!existsSync(file)) throw new CliError(`listen: no such file: ${file}`);
  const { dataHome } = await import('../data/loaders/locate.js');
  const dir = opts.model ?? join(dataHome(), 'asr-model');
  if (!existsSync(join(dir, 'asr.json')))
    throw new CliError(
      `listen: ${dir} is not a speech model (no asr.json); train one with 'npx tsx examples/asr.ts' or pass --model DIR`,
    );
  const { AsrModel, StreamingRecognizer, loadAudio } = await import('../audio/index.js');
  const asr = await AsrModel.load(dir);
  let samples: Float32Array;
  try {
    samples = (await loadAudio(file, { sampleRate: asr.spec.sampleRate })).channels[0]!;
  } catch (e) {
    throw new CliError(`listen: ${(e as Error).message}`);
  }
  const rec = new StreamingRecognizer(asr, { endpointSilence: opts.endpointSilence });
  const step = Math.max(1, Math.round((asr.spec.sampleRate * opts.chunkMs) / 1000));
  const finals: { text: string; start?: number; end?: number; words: unknown[] }[] = [];
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  let shown = '';
  const final = (r: (typeof finals)[number]): void => {
    if (!r.text) return;
    finals.push(r);
    if (!opts.json) out(`[${seconds(r.start)}–${seconds(r.end)}] ${r.text}`);
    shown = '';
  };
  for (let at = 0; at < samples.length; at += step) {
    if (rec.acceptWaveform(samples.subarray(at, at + step))) for (let r = rec.result(); r; r = rec.result()) final(r);
    const partial = rec.partialResult().text;
    if (opts.partials && !opts.json && partial && partial !== shown) out(`… ${partial}`);
    shown = partial;
  }
  final(rec.finalResult());
  const transcript = finals.map((r) => r.text).join(' ');
  if (opts.json) out(JSON.stringify({ text: transcript, utterances: finals }));
  else out(transcript);
}
