/**
 * The ASR model of the streaming bench (bench/speech.ts). In order of preference:
 * 1. the model examples/asr.ts saves (dataHome()/asr-model: 20 min of training on 3,800 clips of a
 *    198-word Bible corpus);
 * 2. a model this bench trained earlier (dataHome()/asr-bench-model);
 * 3. otherwise the bench trains one now, for a bounded time (`--asr-train-minutes`, default 10,
 *    after synthesizing and computing features: ~2 min on a fresh machine), and caches it there
 *    (`--asr-train-clips`, default 2000, sets how many clips it speaks).
 * Either training option skips the example's model; `--asr-model example|bench|random` forces one
 * (bench: trains when none is cached, or when a training option given differs from the cached
 * model's); random weights measure the cost (stream_rtf) only.
 *
 * What the bench trains on: random sequences of 3–7 words drawn from the bench sentences'
 * vocabulary (29 words), each spoken by a random voice — espeak-ng's 7 English accents × every
 * variant but the held-out ones (so never the bench's test voice en-us+m7), or flite kal16/awb —
 * through examples/asr.ts's pipeline (src/audio/asr-training.ts). Random word order, not the
 * bench sentences themselves: a model that had memorized the sentences could complete one from
 * its first words, which would show words in partials before they are spoken and make the
 * latency look better than recognition. The budget is wall time: under load fewer epochs fit. */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Generator, dataHome, setSeed } from '../src/index.js';
import {
  ASR_ALPHABET,
  ASR_HELD_OUT_VARIANTS,
  AsrModel,
  asrTrainingSet,
  asrTrainingVoice,
  compileAsrModel,
  convAsrModel,
  espeakVariants,
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
const VERSION = 2; // bump when the recipe changes: a cached model of another recipe is retrained

interface BenchModelInfo {
  version: number;
  budgetMinutes: number;
  trainSeconds: number;
  epochs: number;
  steps: number;
  /** Clips spoken, and used (those that fit the training length). */
  clipsSpoken: number;
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

async function train(
  sentences: readonly string[],
  budgetMinutes: number,
  clipCount: number,
  dir: string,
): Promise<BenchAsrModel> {
  const t0 = performance.now();
  const secs = (): string => ((performance.now() - t0) / 1000).toFixed(0);
  setSeed(1);
  const rng = new Generator(1);
  // Every espeak-ng variant but the held-out ones (the bench's m7 among them): many speakers for few clips.
  const variants = (await espeakVariants()).filter((v) => !ASR_HELD_OUT_VARIANTS.includes(v));
  const jobs = wordSequences(sentences, clipCount, rng).map((text) => ({
    text,
    voice: asrTrainingVoice(rng, variants),
  }));
  console.log(
    `  no trained ASR model cached: training one for ${budgetMinutes} min on ${clipCount} clips of random word sequences over the bench's words, by ${variants.length} espeak-ng variants (never m7) and 2 flite voices`,
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
  // A cosine schedule over the time budget: after each epoch its length is set so that the
  // fraction of it done equals the fraction of the budget spent (the step time varies with load).
  const schedule = compileAsrModel(model, { decaySteps: 1000 * perEpoch });
  const t1 = performance.now();
  let epochs = 0;
  let planned = Infinity;
  let loss = NaN;
  let epochSeconds = 0;
  let firstEpoch = 0;
  let printed = 0;
  for (;;) {
    const e0 = performance.now();
    const h = await model.fit(set.x, set.y, { epochs: 1, batchSize: BATCH, verbose: 0 });
    epochs++;
    epochSeconds = (performance.now() - e0) / 1000;
    if (epochs === 1) firstEpoch = epochSeconds;
    loss = (h.history.loss as number[]).at(-1)!;
    const spent = (performance.now() - t1) / 1000;
    if (epochs >= 2) {
      // The first epoch compiles the step: plan from the second on.
      planned = epochs + Math.max(0, Math.floor((budget - spent) / epochSeconds));
      schedule.options.decaySteps = Math.max(
        epochs * perEpoch,
        perEpoch + Math.round(((epochs - 1) * perEpoch * (budget - firstEpoch)) / (spent - firstEpoch)),
      );
    }
    const last = epochs >= planned || spent + epochSeconds > budget;
    if (epochs <= 2 || spent - printed >= 20 || last) {
      printed = spent;
      console.log(
        `  training the bench's ASR model: epoch ${epochs}${Number.isFinite(planned) ? `/${planned}` : ''}, loss ${loss.toFixed(2)}, ${spent.toFixed(0)}/${budget} s`,
      );
    }
    if (last) break;
  }
  const trainSeconds = (performance.now() - t1) / 1000;
  const info: BenchModelInfo = {
    version: VERSION,
    budgetMinutes,
    trainSeconds,
    epochs,
    steps: epochs * perEpoch,
    clipsSpoken: clipCount,
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
  const minutes = minutesText === undefined ? 10 : Number(minutesText);
  if (!(minutes > 0))
    throw new Error(`bench speech: --asr-train-minutes must be a positive number, got '${minutesText}'`);
  const clipsText = extra['asr-train-clips'];
  const clips = clipsText === undefined ? 2000 : Number(clipsText);
  if (!(Number.isInteger(clips) && clips >= 32))
    throw new Error(`bench speech: --asr-train-clips must be an integer ≥ 32, got '${clipsText}'`);
  if (want === 'random') return randomModel();
  const example = join(dataHome(), 'asr-model');
  const trainingAsked = minutesText !== undefined || clipsText !== undefined;
  if ((want === undefined && !trainingAsked) || want === 'example') {
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
    if (
      info.version === VERSION &&
      (minutesText === undefined || info.budgetMinutes === minutes) &&
      (clipsText === undefined || info.clipsSpoken === clips)
    )
      return {
        asr: await AsrModel.load(dir),
        source: 'bench',
        description: `trained by the bench in ${info.trainSeconds.toFixed(0)} s (${info.epochs} epochs, cached in ${dir})`,
        trainSeconds: info.trainSeconds,
        buildSeconds: 0,
      };
  }
  return train(sentences, minutes, clips, dir);
}
