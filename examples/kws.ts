/**
 * Keyword spotting on synthesized speech: 20 command words (yes/no/up/down/left/right/on/off/
 * stop/go and the digits) spoken by Debian's espeak-ng in 7 English accents × voice variants, and
 * by flite's voices, plus two non-keyword classes: '_silence_' (noise) and '_unknown_' (one-second
 * crops of sentences without any keyword). Whole voices are held out: the test set is spoken by
 * variants and flite voices that never occur in training. Features are Kaldi fbanks (lepton/audio),
 * the model a small CNN trained with `fit`, augmented with time shifts, noise, and the end of a
 * sentence before the word (as a detector's window sees a word in running speech).
 *
 * Then the classifier runs as a streaming detector (`KeywordDetector`: 1 s windows every 100 ms,
 * posteriors averaged over 3 windows, a threshold, a 1 s refractory period) over
 * (a) the held-out keyword clips embedded in running audio — each after a non-keyword sentence,
 *     with pauses and white noise at 10–30 dB SNR — for the detection rate, and
 * (b) `--far-minutes` of non-keyword speech (clauses of the World English Bible's held-out books
 *     with no keyword or homophone of one, spoken by the held-out voices, with pauses and noise)
 *     for the false alarms per hour.
 *   npx tsx examples/kws.ts [--epochs 12] [--seed 1] [--threshold 0.8] [--far-minutes 60] [--unknown 1200]
 * Needs: apt-get install espeak-ng flite diatheke sword-text-web sword-text-sparv. The clips are
 * cached under ~/.cache/lepton/kws-tts. Ends with one line: accuracy=… (held-out voices)
 * detection_rate=… far_per_hour=….
 */
import { join } from 'node:path';
import {
  Generator,
  dataHome,
  layers,
  losses,
  optimizers,
  sequential,
  setSeed,
  softmax,
  tensor,
  type Tensor,
} from '../src/index.js';
import {
  KeywordDetector,
  addNoise,
  concatSamples,
  fbank,
  fitLength,
  speakClips,
  timeShift,
  voiceId,
  type KeywordDetection,
  type Voice,
  type WindowScorer,
} from '../src/audio/index.js';
import { DEFAULT_TEST_BOOKS, loadBibleParallel } from '../src/text/index.js';
import { numberOption } from './options.js';

const epochs = numberOption('epochs', 12);
const seed = numberOption('seed', 1);
const threshold = numberOption('threshold', 0.8);
const farMinutes = numberOption('far-minutes', 60);
const unknownSentences = numberOption('unknown', 1200);
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
const LABELS = [...WORDS, '_silence_', '_unknown_'];
const SILENCE = WORDS.length;
const UNKNOWN = WORDS.length + 1;
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
const rng = new Generator(seed);

/** Speaks each (text, voice) once, caching the WAVs. */
async function speak(jobs: { text: string; voice: Voice }[]): Promise<Float32Array[]> {
  const clips = await speakClips(jobs, {
    cacheDir: cache,
    sampleRate: RATE,
    concurrency: 4,
    bitDepth: '32f',
    onProgress: (done, total) => done % 1000 === 0 && process.stdout.write(`  ${done}/${total} clips\n`),
  });
  return clips.map((c) => c.audio);
}

/** Every word spoken by every voice once. */
async function corpus(vs: Voice[]): Promise<{ audio: Float32Array; label: number; voice: string }[]> {
  const jobs = vs.flatMap((voice) => WORDS.map((text, label) => ({ text, voice, label })));
  const audio = await speak(jobs);
  return jobs.map((j, i) => ({ audio: audio[i]!, label: j.label, voice: voiceId(j.voice) }));
}

// ---- Non-keyword sentences -------------------------------------------------------------------
/** Words that are, or sound like, a keyword: a sentence holding one is not non-keyword audio. */
const BANNED = new Set([...WORDS, 'to', 'too', 'for', 'fore', 'won', 'know', 'ate', 'write', 'rite', 'wright', 'oh']);

/** Clauses of 3–12 plain words with no banned word, from the WEB verses of the chosen books. */
async function sentences(heldOut: boolean): Promise<string[]> {
  const books = new Set(DEFAULT_TEST_BOOKS);
  const out = new Set<string>();
  for (const v of await loadBibleParallel())
    if (books.has(v.book) === heldOut)
      for (const part of v.source.split(/[.,;:!?“”‘"()—]+/)) {
        const c = part.toLowerCase().replace(/’/g, "'").trim();
        const words = c.split(/\s+/);
        if (/^[a-z ]+$/.test(c) && words.length >= 3 && words.length <= 12 && !words.some((w) => BANNED.has(w)))
          out.add(words.join(' '));
      }
  return [...out].sort();
}

/** Per-utterance mean/variance-normalised fbanks [n, frames, 40, 1] of one-second clips (in chunks, to bound memory). */
function features(clips: Float32Array[]): Tensor {
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
const seconds = (from: number): string => ((performance.now() - from) / 1000).toFixed(0);
console.log(
  `synthesizing ${trainVoices.length} training and ${testVoices.length} held-out voices × ${WORDS.length} words…`,
);
const train = await corpus(trainVoices);
const test = await corpus(testVoices);
const trainSentences = await sentences(false);
const testSentences = await sentences(true);
// '_unknown_': two one-second crops of each of `--unknown` training-book sentences, spoken by training voices.
const unknownJobs = Array.from({ length: unknownSentences }, () => ({
  text: trainSentences[rng.int(0, trainSentences.length)]!,
  voice: trainVoices[rng.int(0, trainVoices.length)]!,
}));
const unknownAudio = await speak(unknownJobs);
for (const audio of unknownAudio)
  for (let k = 0; k < 2; k++) {
    const at = rng.int(0, Math.max(1, audio.length - CLIP));
    train.push({ audio: fitLength(audio.subarray(at, at + CLIP), CLIP), label: UNKNOWN, voice: 'sentence' });
  }
// '_silence_': white noise from −80 to −20 dBFS, and digital silence.
for (let k = 0; k < 300; k++) {
  const audio = new Float32Array(CLIP);
  if (k % 10 !== 0) {
    rng.fillNormal(audio);
    const std = 10 ** (-4 + 3 * rng.random());
    for (let i = 0; i < CLIP; i++) audio[i]! *= std;
  }
  train.push({ audio, label: SILENCE, voice: 'noise' });
}
/**
 * A keyword clip as a detector's window sees it in running speech: the end of a training sentence
 * before the word, 150–500 ms ahead of its onset (the first sample above −34 dBFS).
 */
function withContext(word: Float32Array): Float32Array {
  const out = Float32Array.from(word);
  const onset = out.findIndex((v) => Math.abs(v) > 0.02);
  const end = onset - Math.round((0.15 + 0.35 * rng.random()) * RATE);
  if (onset < 0 || end <= 0) return out;
  const sentence = unknownAudio[rng.int(0, unknownAudio.length)]!;
  const n = Math.min(end, sentence.length);
  out.set(sentence.subarray(sentence.length - n), end - n);
  return out;
}
// Augment: each training clip twice more, shifted up to ±100 ms, with noise at 5–30 dB SNR; the
// second copy of a keyword clip also gets the end of a sentence before the word.
const augmented = train.flatMap((c) => [
  c,
  ...[0, 1].map((copy) => {
    const shifted = timeShift(fitLength(c.audio, CLIP), rng.int(-1600, 1601));
    const audio = copy === 1 && c.label < WORDS.length ? withContext(shifted) : shifted;
    return { ...c, audio: addNoise(audio, 5 + 25 * rng.random(), undefined, rng) };
  }),
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
  `train ${xTrain.shape[0]} clips (with augmentation; ${LABELS.length} classes), test ${xTest.shape[0]} keyword clips; features [${xTrain.shape.slice(1).join(', ')}] (${seconds(t0)} s)`,
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
model.add(layers.Dense(LABELS.length));
model.compile({
  optimizer: optimizers.Adam({ learningRate: 1e-3 }),
  loss: losses.SparseCategoricalCrossentropy({ fromLogits: true }),
  metrics: ['accuracy'],
});
const t1 = performance.now();
await model.fit(xTrain, yTrain, { epochs, batchSize: 64, validationData: [xTest, yTest], verbose: 2 });
const { accuracy } = await model.evaluate(xTest, yTest, { verbose: 0 });
console.log(
  `training ${seconds(t1)} s; held-out accuracy ${accuracy.toFixed(4)} (argmax over all ${LABELS.length} classes)`,
);

// ---- Streaming detection ---------------------------------------------------------------------
const t2 = performance.now();
const pause = (lo: number, hi: number): Float32Array =>
  new Float32Array(Math.round((lo + (hi - lo) * rng.random()) * RATE));
/** A segment of the stream: its audio (pauses included) with white noise at 10–30 dB SNR. */
const noisy = (parts: Float32Array[]): Float32Array =>
  addNoise(concatSamples(parts), 10 + 20 * rng.random(), undefined, rng);

// (a) Each held-out keyword clip after a held-out sentence, in random order.
const order = test.map((_, i) => i);
rng.shuffle(order);
const lead = await speak(
  order.map(() => ({
    text: testSentences[rng.int(0, testSentences.length)]!,
    voice: testVoices[rng.int(0, testVoices.length)]!,
  })),
);
const keywordSegments: Float32Array[] = [];
const targets: { label: number; start: number; end: number }[] = [];
let at = 0;
order.forEach((i, k) => {
  const before = [pause(0.3, 1), lead[k]!, pause(0.2, 0.6)];
  const offset = at + before.reduce((n, p) => n + p.length, 0);
  const segment = noisy([...before, test[i]!.audio, pause(0.3, 0.8)]);
  targets.push({ label: test[i]!.label, start: offset / RATE, end: (offset + test[i]!.audio.length) / RATE });
  keywordSegments.push(segment);
  at += segment.length;
});
// (b) Non-keyword speech: held-out sentences by held-out voices until `farMinutes` are filled.
const farJobs: { text: string; voice: Voice }[] = [];
for (let est = 0; est < farMinutes * 60; est += 2.6)
  farJobs.push({
    text: testSentences[rng.int(0, testSentences.length)]!,
    voice: testVoices[rng.int(0, testVoices.length)]!,
  });
const farSegments = (await speak(farJobs)).map((s) => noisy([pause(0.2, 0.8), s]));
console.log(
  `${testSentences.length} held-out non-keyword sentences; streams: ${(at / RATE / 60).toFixed(1)} min with ${targets.length} keywords, ${(farSegments.reduce((n, s) => n + s.length, 0) / RATE / 60).toFixed(1)} min without (${seconds(t2)} s)`,
);

/** The classifier on windows: the features it was trained on, softmax posteriors. */
const scorer: WindowScorer = (windows) => {
  const p = softmax(model.apply(features(windows), { training: false }) as Tensor).data as Float32Array;
  return windows.map((_, i) => p.subarray(i * LABELS.length, (i + 1) * LABELS.length));
};
const detectorOptions = { labels: LABELS, threshold, smoothing: 3, hopSeconds: 0.1, refractorySeconds: 1 };

/** Streams segments through a detector in 1 s pieces (10 windows per scorer call); returns its detections. */
function run(det: KeywordDetector, segments: Float32Array[]): KeywordDetection[] {
  const found: KeywordDetection[] = [];
  let piece = new Float32Array(RATE);
  let fill = 0;
  const push = (x: Float32Array): void => {
    if (det.acceptWaveform(x)) for (let d = det.result(); d; d = det.result()) found.push(d);
  };
  for (const s of segments)
    for (let i = 0; i < s.length; ) {
      const n = Math.min(RATE - fill, s.length - i);
      piece.set(s.subarray(i, i + n), fill);
      fill += n;
      i += n;
      if (fill === RATE) {
        push(piece);
        piece = new Float32Array(RATE);
        fill = 0;
      }
    }
  if (fill > 0) push(piece.subarray(0, fill));
  return found;
}

/** Hits: a detection of the right keyword whose windows overlap the clip (each detection counts once). */
function score(found: KeywordDetection[]): { hits: number; other: number } {
  const used = new Set<number>();
  let hits = 0;
  for (const t of targets) {
    const k = found.findIndex((d, j) => !used.has(j) && d.label === t.label && d.start < t.end && d.end > t.start);
    if (k >= 0) {
      used.add(k);
      hits++;
    }
  }
  return { hits, other: found.length - used.size };
}

// One pass of the model over each stream; the posteriors are kept, so other thresholds replay them.
const posteriors: { keyword: ArrayLike<number>[]; far: ArrayLike<number>[] } = { keyword: [], far: [] };
const recording =
  (into: ArrayLike<number>[]): WindowScorer =>
  (w) => {
    const rows = scorer(w);
    into.push(...rows.map((r) => Float32Array.from(r)));
    return rows;
  };
const replaying = (rows: ArrayLike<number>[]): WindowScorer => {
  let next = 0;
  return (w) => rows.slice(next, (next += w.length));
};
const t3 = performance.now();
const keywordDet = new KeywordDetector(recording(posteriors.keyword), detectorOptions);
const keywordFound = run(keywordDet, keywordSegments);
const farDet = new KeywordDetector(recording(posteriors.far), detectorOptions);
const farFound = run(farDet, farSegments);
const streamed = keywordDet.seconds + farDet.seconds;
console.log(
  `streamed ${(streamed / 60).toFixed(1)} min of audio (${keywordDet.windows + farDet.windows} windows) in ${seconds(t3)} s: real-time factor ${((performance.now() - t3) / 1000 / streamed).toFixed(4)}`,
);
const farHours = farDet.seconds / 3600;
const { hits, other } = score(keywordFound);
const detectionRate = hits / targets.length;
const farPerHour = farFound.length / farHours;
for (const th of [0.5, 0.6, 0.7, 0.8, 0.9, 0.95]) {
  const k = run(
    new KeywordDetector(replaying(posteriors.keyword), { ...detectorOptions, threshold: th }),
    keywordSegments,
  );
  const f = run(new KeywordDetector(replaying(posteriors.far), { ...detectorOptions, threshold: th }), farSegments);
  console.log(
    `  threshold ${th.toFixed(2)}: detection rate ${(score(k).hits / targets.length).toFixed(4)}, false alarms ${(f.length / farHours).toFixed(1)}/hour`,
  );
}
const byWord = new Map<string, number>();
for (const d of farFound) byWord.set(d.keyword, (byWord.get(d.keyword) ?? 0) + 1);
console.log(
  `threshold ${threshold}: ${hits}/${targets.length} keywords detected, ${other} other detections in the keyword stream; ${farFound.length} false alarms in ${(farHours * 60).toFixed(1)} min of non-keyword audio (${[...byWord].map(([w, n]) => `${w} ${n}`).join(', ') || 'none'})`,
);
console.log(`total ${seconds(t0)} s`);
console.log(
  `accuracy=${accuracy.toFixed(4)} detection_rate=${detectionRate.toFixed(4)} far_per_hour=${farPerHour.toFixed(2)} threshold=${threshold} far_hours=${farHours.toFixed(3)} test_clips=${xTest.shape[0]} held_out_voices=${testVoices.length} words=${WORDS.length}`,
);
