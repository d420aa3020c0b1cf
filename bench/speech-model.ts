/**
 * The ASR model of the streaming bench (bench/speech.ts). In order of preference:
 * 1. the model examples/asr.ts saves (dataHome()/asr-model: 20 min of training on 3,800 clips of a
 *    198-word Bible corpus);
 * 2. a model this bench trained earlier (dataHome()/asr-bench-model);
 * 3. otherwise the bench trains one now, for a bounded time (`--asr-train-minutes`, default 4),
 *    and caches it there.
 * `--asr-model example|bench|random` forces one (bench: trains when none is cached, or when
 * `--asr-train-minutes` differs from the cached model's budget); random weights measure the cost
 * (stream_rtf) only.
 *
 * What the bench trains on: random sequences of 3–7 words drawn from the bench sentences'
 * vocabulary (29 words), each spoken by a random training voice (espeak-ng's training variants,
 * never the bench's test voice en-us+m7; flite kal16/awb), through examples/asr.ts's pipeline
 * (src/audio/asr-training.ts). Random word order, not the bench sentences themselves: a model
 * that had memorized the sentences could complete one from its first words, which would show
 * words in partials before they are spoken and make the latency look better than recognition.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Generator, dataHome, setSeed } from '../src/index.js';
import {
  ASR_ALPHABET,
  AsrModel,
  asrTrainingSet,
  asrTrainingVoice,
  compileAsrModel,
  convAsrModel,
  saveAsrModel,
  speakClips,
} from '../src/audio/index.js';

export type ModelSource = 'example' | 'bench' | 'random';

export interface BenchAsrModel {
  asr: AsrModel;
  source: ModelSource;
  /** How it came about, for the table. */
  description: string;
  /** Seconds the bench spent training it (this run or the run that cached it). */
  trainSeconds: number | null;
  /** Seconds this run spent synthesizing, computing features and training (0 when loaded). */
  buildSeconds: number;
}

const FRAMES = 384;
const BINS = 40;
const BATCH = 32;
const CLIPS = 600;
const VERSION = 1; // bump when the recipe changes: a cached model of another recipe is retrained

interface BenchModelInfo {
  version: number;
  budgetMinutes: number;
  trainSeconds: number;
  epochs: number;
  steps: number;
  clips: number;
  loss: number;
}

/** Random word sequences (3–7 words) over the words of `sentences`, none equal to one of them. */
function wordSequences(sentences: readonly string[], n: number, rng: Generator): string[] {
  const vocabulary = [...new Set(sentences.flatMap((s) => s.split(' ')))].sort();
  const out: string[] = [];
  while (out.length < n) {
    const length = rng.int(3, 8);
    const text = Array.from({ length }, () => vocabulary[rng.int(0, vocabulary.length)]!).join(' ');
    if (!sentences.includes(text)) out.push(text);
  }
  return out;
}

async function train(sentences: readonly string[], budgetMinutes: number, dir: string): Promise<BenchAsrModel> {
  const t0 = performance.now();
  const secs = (): string => ((performance.now() - t0) / 1000).toFixed(0);
  setSeed(1);
  const rng = new Generator(1);
  const jobs = wordSequences(sentences, CLIPS, rng).map((text) => ({ text, voice: asrTrainingVoice(rng) }));
  console.log(
    `  no trained ASR model cached: training one for ${budgetMinutes} min on ${CLIPS} clips of random word sequences over the bench's words, by training voices (never en-us+m7)`,
  );
  const clips = await speakClips(jobs, {
    cacheDir: join(dataHome(), 'asr-tts'),
    onProgress: (done, total) => done % 200 === 0 && console.log(`  synthesized ${done}/${total} clips (${secs()} s)`),
  });
  const set = asrTrainingSet(clips, { frames: FRAMES, bins: BINS, rng });
  console.log(`  features of ${set.clips.length} clips (${set.tooLong} too long) (${secs()} s)`);
  const model = convAsrModel({
    frames: FRAMES,
    bins: BINS,
    mean: set.mean,
    variance: set.variance,
    classes: ASR_ALPHABET.length + 1,
  });
  const perEpoch = Math.ceil(set.clips.length / BATCH);
  const budget = budgetMinutes * 60;
  // The cosine schedule's length is set once an epoch's time is known (the first one compiles).
  const schedule = compileAsrModel(model, { decaySteps: 1000 * perEpoch });
  const t1 = performance.now();
  let epochs = 0;
  let planned = Infinity;
  let loss = NaN;
  let epochSeconds = 0;
  for (;;) {
    const e0 = performance.now();
    const h = await model.fit(set.x, set.y, { epochs: 1, batchSize: BATCH, verbose: 0 });
    epochs++;
    epochSeconds = (performance.now() - e0) / 1000;
    loss = (h.history.loss as number[]).at(-1)!;
    const spent = (performance.now() - t1) / 1000;
    if (epochs === 2) {
      planned = Math.max(2, epochs + Math.floor((budget - spent) / epochSeconds));
      schedule.options.decaySteps = planned * perEpoch;
    }
    console.log(
      `  training the bench's ASR model: epoch ${epochs}${Number.isFinite(planned) ? `/${planned}` : ''}, loss ${loss.toFixed(2)}, ${spent.toFixed(0)}/${budget} s`,
    );
    if (epochs >= planned || spent + epochSeconds > budget) break;
  }
  const trainSeconds = (performance.now() - t1) / 1000;
  const info: BenchModelInfo = {
    version: VERSION,
    budgetMinutes,
    trainSeconds,
    epochs,
    steps: epochs * perEpoch,
    clips: set.clips.length,
    loss,
  };
  const asr = await saveAsrModel(
    model,
    dir,
    { alphabet: ASR_ALPHABET, numMelBins: BINS, sampleRate: 16000 },
    { 'bench.json': `${JSON.stringify(info, null, 2)}\n` },
  );
  console.log(`  saved to ${dir} (${secs()} s in all)`);
  return {
    asr,
    source: 'bench',
    description: `trained by the bench in ${trainSeconds.toFixed(0)} s (${epochs} epochs, this run)`,
    trainSeconds,
    buildSeconds: (performance.now() - t0) / 1000,
  };
}

function randomModel(): BenchAsrModel {
  const m = convAsrModel({
    frames: FRAMES,
    bins: BINS,
    mean: new Array(BINS).fill(10),
    variance: new Array(BINS).fill(9),
    classes: ASR_ALPHABET.length + 1,
  });
  const asr = new AsrModel(m, { alphabet: ASR_ALPHABET, numMelBins: BINS, sampleRate: 16000 });
  return { asr, source: 'random', description: 'random weights', trainSeconds: null, buildSeconds: 0 };
}

/** The bench's model (see the file comment); `sentences` are what the bench's audio says. */
export async function benchAsrModel(
  sentences: readonly string[],
  extra: Record<string, string>,
): Promise<BenchAsrModel> {
  const want = extra['asr-model'];
  if (want !== undefined && !['example', 'bench', 'random'].includes(want))
    throw new Error(`bench speech: --asr-model must be example, bench or random, got '${want}'`);
  const minutesText = extra['asr-train-minutes'];
  const minutes = minutesText === undefined ? 4 : Number(minutesText);
  if (!(minutes > 0))
    throw new Error(`bench speech: --asr-train-minutes must be a positive number, got '${minutesText}'`);
  if (want === 'random') return randomModel();
  const example = join(dataHome(), 'asr-model');
  if ((want === undefined && minutesText === undefined) || want === 'example') {
    if (existsSync(join(example, 'asr.json')))
      return {
        asr: await AsrModel.load(example),
        source: 'example',
        description: `cached from examples/asr.ts (${example})`,
        trainSeconds: null,
        buildSeconds: 0,
      };
    if (want === 'example')
      throw new Error(`bench speech: --asr-model example, but ${example} holds no model (run examples/asr.ts)`);
  }
  const dir = join(dataHome(), 'asr-bench-model');
  const infoFile = join(dir, 'bench.json');
  if (existsSync(join(dir, 'asr.json')) && existsSync(infoFile)) {
    const info = JSON.parse(await readFile(infoFile, 'utf8')) as BenchModelInfo;
    if (info.version === VERSION && (minutesText === undefined || info.budgetMinutes === minutes))
      return {
        asr: await AsrModel.load(dir),
        source: 'bench',
        description: `trained by the bench in ${info.trainSeconds.toFixed(0)} s (${info.epochs} epochs, cached in ${dir})`,
        trainSeconds: info.trainSeconds,
        buildSeconds: 0,
      };
  }
  return train(sentences, minutes, dir);
}
