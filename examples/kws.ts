/**
 * Keyword spotting on synthesized speech: 20 command words (yes/no/up/down/left/right/on/off/
 * stop/go and the digits) spoken by Debian's espeak-ng in 7 English accents × voice variants, and
 * by flite's voices. Whole voices are held out: the test set is spoken by variants and flite
 * voices that never occur in training. Features are Kaldi fbanks (lepton/audio), the model a small
 * CNN trained with `fit`, augmented with time shifts and noise.
 *   npx tsx examples/kws.ts [--epochs 12] [--seed 1]
 * Needs: apt-get install espeak-ng flite. The clips are cached under ~/.cache/lepton/kws-tts.
 * Ends with one line: accuracy=… (held-out voices).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Generator, dataHome, layers, losses, optimizers, sequential, setSeed, tensor } from '../src/index.js';
import {
  addNoise,
  decodeWav,
  fbank,
  fitLength,
  mapConcurrent,
  synthesize,
  timeShift,
  voiceId,
  writeWav,
  type Voice,
} from '../src/audio/index.js';
import { numberOption } from './options.js';

const epochs = numberOption('epochs', 12);
const seed = numberOption('seed', 1);
setSeed(seed);

const WORDS = [
  'yes',
  'no',
  'up',
  'down',
  'left',
  'right',
  'on',
  'off',
  'stop',
  'go',
  'zero',
  'one',
  'two',
  'three',
  'four',
  'five',
  'six',
  'seven',
  'eight',
  'nine',
];
const ACCENTS = ['en-us', 'en-gb', 'en-gb-scotland', 'en-gb-x-rp', 'en-gb-x-gbclan', 'en-gb-x-gbcwmd', 'en-029'];
const TRAIN_VARIANTS = ['m1', 'm2', 'm3', 'm4', 'm5', 'f1', 'f2', 'f3', 'klatt', 'klatt2'];
const TEST_VARIANTS = ['m6', 'm7', 'f4', 'f5']; // never heard in training
/** Each accent × variant, at each (speed in words/min, pitch) setting. */
const voices = (variants: string[], settings: [number, number][]): Voice[] =>
  ACCENTS.flatMap((name) =>
    variants.flatMap((variant) =>
      settings.map(([speed, pitch]) => ({ engine: 'espeak-ng' as const, name, variant, speed, pitch })),
    ),
  );
const trainVoices: Voice[] = [
  ...voices(TRAIN_VARIANTS, [
    [140, 40],
    [185, 65],
  ]),
  { engine: 'flite', name: 'kal16' },
  { engine: 'flite', name: 'awb' },
];
const testVoices: Voice[] = [
  ...voices(TEST_VARIANTS, [[165, 50]]),
  { engine: 'flite', name: 'slt' },
  { engine: 'flite', name: 'rms' },
];

const RATE = 16000;
const CLIP = RATE; // one second
const cache = join(dataHome(), 'kws-tts');

/** Speaks every word with every voice once, caching the WAVs. */
async function corpus(vs: Voice[]): Promise<{ audio: Float32Array; label: number; voice: string }[]> {
  const jobs = vs.flatMap((v) => WORDS.map((w, label) => ({ v, w, label })));
  let done = 0;
  return mapConcurrent(jobs, 4, async ({ v, w, label }) => {
    const dir = join(cache, voiceId(v).replace(/[^a-zA-Z0-9+.-]/g, '_'));
    const path = join(dir, `${w}.wav`);
    let audio: Float32Array;
    if (existsSync(path)) audio = decodeWav(await readFile(path), path).channels[0]!;
    else {
      mkdirSync(dir, { recursive: true });
      const spoken = await synthesize(w, v, RATE);
      await writeWav(path, spoken, { bitDepth: '32f' });
      audio = spoken.channels[0]!;
    }
    if (++done % 500 === 0) process.stdout.write(`  ${done}/${jobs.length} clips\n`);
    return { audio, label, voice: voiceId(v) };
  });
}

/** Per-utterance mean/variance-normalised fbanks [n, frames, 40, 1] of one-second clips (in chunks, to bound memory). */
function features(clips: Float32Array[]): ReturnType<typeof tensor> {
  const chunk = 256;
  const parts: Float32Array[] = [];
  let frames = 0;
  let bins = 0;
  for (let start = 0; start < clips.length; start += chunk) {
    const part = clips.slice(start, start + chunk);
    const flat = new Float32Array(part.length * CLIP);
    part.forEach((c, i) => flat.set(fitLength(c, CLIP), i * CLIP));
    const fb = fbank(tensor(flat, { shape: [part.length, CLIP] }), { numMelBins: 40, scale: 32768 });
    [, frames, bins] = fb.shape as number[] as [number, number, number];
    parts.push(fb.data as Float32Array);
  }
  const per = frames * bins;
  const data = new Float32Array(clips.length * per);
  let offset = 0;
  for (const p of parts) {
    data.set(p, offset);
    offset += p.length;
  }
  for (let i = 0; i < clips.length; i++) {
    const x = data.subarray(i * per, (i + 1) * per);
    const mean = x.reduce((s, v) => s + v, 0) / per;
    const std = Math.sqrt(x.reduce((s, v) => s + (v - mean) ** 2, 0) / per) || 1;
    for (let k = 0; k < per; k++) x[k] = (x[k]! - mean) / std;
  }
  return tensor(data, { shape: [clips.length, frames, bins, 1] });
}

const t0 = performance.now();
console.log(
  `synthesizing ${trainVoices.length} training and ${testVoices.length} held-out voices × ${WORDS.length} words…`,
);
const train = await corpus(trainVoices);
const test = await corpus(testVoices);
const rng = new Generator(seed);
// Augment: each training clip twice more, shifted up to ±100 ms, with noise at 5–30 dB SNR.
const augmented = train.flatMap((c) => [
  c,
  ...[0, 1].map(() => ({
    ...c,
    audio: addNoise(timeShift(fitLength(c.audio, CLIP), rng.int(-1600, 1601)), 5 + 25 * rng.random(), undefined, rng),
  })),
]);
const xTrain = features(augmented.map((c) => c.audio));
const yTrain = tensor(
  augmented.map((c) => c.label),
  { dtype: 'int64' },
);
const xTest = features(test.map((c) => c.audio));
const yTest = tensor(
  test.map((c) => c.label),
  { dtype: 'int64' },
);
console.log(
  `train ${xTrain.shape[0]} clips (with augmentation), test ${xTest.shape[0]} clips; features [${xTrain.shape.slice(1).join(', ')}] (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
);

const [frames, bins] = xTrain.shape.slice(1, 3) as number[];
const model = sequential();
model.add(layers.Conv2D(32, [3, 3], { activation: 'relu', inputShape: [frames!, bins!, 1] }));
model.add(layers.MaxPooling2D([2, 2]));
model.add(layers.Conv2D(64, [3, 3], { activation: 'relu' }));
model.add(layers.MaxPooling2D([2, 2]));
model.add(layers.Conv2D(64, [3, 3], { activation: 'relu' }));
model.add(layers.MaxPooling2D([2, 2]));
model.add(layers.Flatten());
model.add(layers.Dropout(0.3));
model.add(layers.Dense(64, { activation: 'relu' }));
model.add(layers.Dense(WORDS.length));
model.compile({
  optimizer: optimizers.Adam({ learningRate: 1e-3 }),
  loss: losses.SparseCategoricalCrossentropy({ fromLogits: true }),
  metrics: ['accuracy'],
});
const t1 = performance.now();
await model.fit(xTrain, yTrain, { epochs, batchSize: 64, validationData: [xTest, yTest], verbose: 2 });
const { accuracy } = await model.evaluate(xTest, yTest, { verbose: 0 });
console.log(
  `training ${((performance.now() - t1) / 1000).toFixed(0)} s, total ${((performance.now() - t0) / 1000).toFixed(0)} s`,
);
console.log(
  `accuracy=${accuracy.toFixed(4)} test_clips=${xTest.shape[0]} held_out_voices=${testVoices.length} words=${WORDS.length}`,
);
