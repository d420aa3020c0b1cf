/**
 * Speech recognition on synthesized speech: a character-level CTC model (a QuartzNet-style stack
 * of depthwise-separable 1-D convolutions over Kaldi fbanks — no recurrence, so nothing unrolls
 * time but the CTC loss) trained on sentences spoken by Debian's espeak-ng (7 English accents ×
 * voice variants, random speed and pitch) and flite voices. Whole voices are held out: the test
 * sentences are spoken by variants and flite voices never heard in training, and the test
 * sentences themselves never occur in training. The peer is Debian's pocketsphinx (en-us acoustic
 * model, its general en-us language model and dictionary) on the same test audio.
 *
 * The corpus: clauses of 3–8 words from the World English Bible (Debian sword-text-web, through
 * diatheke) whose words are all among the 200 most frequent — a closed vocabulary of ordinary
 * English words ("and he said to them", "when they had come").
 *
 *   npx tsx examples/asr.ts [--epochs 12] [--seed 1] [--voices 2] [--beam 8] [--save DIR]
 * (--epochs 0 evaluates the model an earlier run saved in DIR.)
 * Needs: apt-get install espeak-ng flite diatheke sword-text-web pocketsphinx pocketsphinx-en-us.
 * Caches clips under ~/.cache/lepton/asr-tts; saves the model (for `lepton listen`) to
 * ~/.cache/lepton/asr-model. Ends with one line: wer=… cer=… stream_wer=… (the same clips through the
 * StreamingRecognizer, greedy, fed in 100 ms pieces) … pocketsphinx_wer=…
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Generator, dataHome, loadModel, setSeed } from '../src/index.js';
import {
  ASR_ACCENTS,
  ASR_ALPHABET,
  ASR_HELD_OUT_VARIANTS,
  type AsrModel,
  StreamingRecognizer,
  asrTrainingSet,
  asrTrainingVoice,
  compileAsrModel,
  concatSamples,
  convAsrModel,
  charErrorRate,
  ctcPrefixBeamSearch,
  mapConcurrent,
  saveAsrModel,
  speakClips,
  type SpokenClip,
  wordErrorRate,
  type Voice,
} from '../src/audio/index.js';
import { numberOption } from './options.js';

const epochs = numberOption('epochs', 12);
const seed = numberOption('seed', 1);
const voicesPerSentence = numberOption('voices', 2);
const beamWidth = numberOption('beam', 8);
const saveAt = process.argv.indexOf('--save');
const saveDir = saveAt > 0 ? process.argv[saveAt + 1]! : join(dataHome(), 'asr-model');
setSeed(seed);
const rng = new Generator(seed);

const RATE = 16000;
const BINS = 40;
const FRAMES = 384; // training clips: 3.84 s of fbank frames (a multiple of the stride, 3)
const VOCAB = 200;
const TEST_SENTENCES = 120;
const cache = join(dataHome(), 'asr-tts');
mkdirSync(cache, { recursive: true });

// ---- Sentences -------------------------------------------------------------------------------
const BOOKS = ['Genesis', 'Exodus', 'Matthew', 'Mark', 'Luke', 'John', 'Acts', 'Psalms', 'Proverbs'];

async function sentences(): Promise<string[]> {
  const file = join(cache, 'sentences.json');
  if (existsSync(file)) return JSON.parse(await readFile(file, 'utf8')) as string[];
  const clauses: string[][] = [];
  for (const book of BOOKS) {
    const out = spawnSync('diatheke', ['-b', 'engWEB2015eb', '-f', 'plain', '-k', book], { encoding: 'utf8' });
    if (out.error || out.status !== 0)
      throw new Error(`diatheke failed (apt-get install diatheke sword-text-web): ${out.error?.message ?? out.stderr}`);
    for (const line of out.stdout.split('\n')) {
      const verse = line.replace(/^[^:]+ \d+:\d+: /, '');
      for (const part of verse.split(/[.,;:!?“”‘"()]+/)) {
        const c = part.toLowerCase().replace(/’/g, "'").trim();
        if (c && !/[^a-z ]/.test(c)) clauses.push(c.split(/\s+/));
      }
    }
  }
  const counts = new Map<string, number>();
  for (const c of clauses) for (const w of c) counts.set(w, (counts.get(w) ?? 0) + 1);
  const vocab = new Set(
    [...counts.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, VOCAB)
      .map(([w]) => w),
  );
  const kept = [
    ...new Set(
      clauses.filter((c) => c.length >= 3 && c.length <= 8 && c.every((w) => vocab.has(w))).map((c) => c.join(' ')),
    ),
  ].sort();
  await writeFile(file, JSON.stringify(kept));
  return kept;
}

// ---- Voices ----------------------------------------------------------------------------------
// Training voices: asrTrainingVoice (espeak-ng accents × training variants, flite kal16/awb).
// Test voices: the variants never heard in training, and two other flite voices.
const TEST_VOICES: Voice[] = [
  ...ASR_ACCENTS.flatMap((name) =>
    ASR_HELD_OUT_VARIANTS.map((variant) => ({ engine: 'espeak-ng' as const, name, variant, speed: 165, pitch: 50 })),
  ),
  { engine: 'flite', name: 'slt' },
  { engine: 'flite', name: 'rms' },
];
type Clip = SpokenClip;

/** Speaks each (sentence, voice) once, caching 16 kHz 16-bit WAVs (pocketsphinx reads them too). */
const speak = (jobs: { text: string; voice: Voice }[]): Promise<Clip[]> =>
  speakClips(jobs, {
    cacheDir: cache,
    sampleRate: RATE,
    onProgress: (done, total) => done % 1000 === 0 && console.log(`  ${done}/${total} clips`),
  });

// ---- Data ------------------------------------------------------------------------------------
const t0 = performance.now();
const all = await sentences();
const order = all.map((_, i) => i);
rng.shuffle(order);
const testText = order.slice(0, TEST_SENTENCES).map((i) => all[i]!);
const trainText = order.slice(TEST_SENTENCES).map((i) => all[i]!);
const vocabulary = new Set(all.flatMap((s) => s.split(' ')));
console.log(
  `${all.length} sentences (${vocabulary.size} words): ${trainText.length} for training × ${voicesPerSentence} voices, ${testText.length} held out × 2 held-out voices`,
);
const trainClips = await speak(
  trainText.flatMap((text) =>
    Array.from({ length: voicesPerSentence }, () => ({ text, voice: asrTrainingVoice(rng) })),
  ),
);
const testClips = await speak(
  testText.flatMap((text) => [0, 1].map(() => ({ text, voice: TEST_VOICES[rng.int(0, TEST_VOICES.length)]! }))),
);
console.log(`synthesis ${((performance.now() - t0) / 1000).toFixed(0)} s`);

/** Fbanks of a clip padded with silence to the training length; half the clips get noise at 10–30 dB SNR (cached). */
const SAMPLES = (FRAMES - 1) * 160 + 400;
const featureFile = join(
  cache,
  `features-${seed}-${voicesPerSentence}-${trainClips.filter((c) => c.audio.length <= SAMPLES).length}.f32`,
);
const cachedFeatures = existsSync(featureFile)
  ? Float32Array.from(new Float32Array((await readFile(featureFile)).buffer))
  : undefined;
// Per-bin statistics (mean, variance) for the model's input normalisation (fixed, so streaming windows agree).
const train = asrTrainingSet(trainClips, { frames: FRAMES, bins: BINS, rng, features: cachedFeatures });
if (!cachedFeatures) await writeFile(featureFile, train.features);
const fitting = train.clips;
const { mean, variance, x: xTrain, y: yTrain } = train;
console.log(
  `train ${fitting.length} clips (${train.tooLong} longer than ${FRAMES / 100} s left out), features [${FRAMES}, ${BINS}] (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
);

// ---- Model: QuartzNet-style 1-D separable convolutions ---------------------------------------
// --epochs 0: evaluate the model saved in the save folder by an earlier run, without training.
const model =
  epochs === 0
    ? await loadModel(saveDir)
    : convAsrModel({ frames: FRAMES, bins: BINS, mean, variance, classes: ASR_ALPHABET.length + 1 });
const BATCH = 32;
compileAsrModel(model, { decaySteps: Math.max(1, epochs * Math.ceil(fitting.length / BATCH)) });

/** Greedy transcripts of test clips by the model saved in saveDir. */
async function transcribeAll(clips: Clip[]): Promise<{ asr: AsrModel; texts: string[]; logProbs: Float32Array[][] }> {
  const asr = await saveAsrModel(model, saveDir, { alphabet: ASR_ALPHABET, numMelBins: BINS, sampleRate: RATE });
  const runs = clips.map((c) => asr.transcribe(c.audio));
  return { asr, texts: runs.map((r) => r.text), logProbs: runs.map((r) => r.logProbs) };
}

const t1 = performance.now();
const probe = testClips.filter((_, i) => i % 6 === 0);
for (let epoch = 1; epoch <= epochs; epoch++) {
  const h = await model.fit(xTrain, yTrain, { epochs: 1, batchSize: BATCH, verbose: 0 });
  const loss = (h.history.loss as number[]).at(-1)!;
  let line = `epoch ${epoch}/${epochs}: loss ${loss.toFixed(3)} (${((performance.now() - t1) / 1000).toFixed(0)} s)`;
  if (epoch % 3 === 0 && epoch < epochs) {
    // A checkpoint each few epochs, with greedy WER on a sixth of the held-out clips.
    const { texts } = await transcribeAll(probe);
    line += `, held-out WER ${wordErrorRate(
      probe.map((c) => c.text),
      texts,
    ).toFixed(3)} on ${probe.length} clips (checkpoint saved)`;
  }
  console.log(line);
}
const trainSeconds = (performance.now() - t1) / 1000;
const { asr, texts: greedy, logProbs } = await transcribeAll(testClips);

/**
 * The same test clips through the StreamingRecognizer, fed in 100 ms pieces as if live (with
 * 0.5 s of silence after each, as a speaker pausing): the transcript is its final results joined.
 */
function streamTranscript(audio: Float32Array): string {
  const rec = new StreamingRecognizer(asr);
  const texts: string[] = [];
  const padded = concatSamples([audio, new Float32Array(RATE / 2)]);
  for (let at = 0; at < padded.length; at += RATE / 10)
    if (rec.acceptWaveform(padded.subarray(at, at + RATE / 10)))
      for (let r = rec.result(); r; r = rec.result()) texts.push(r.text);
  for (const r of rec.endStream()) texts.push(r.text);
  return texts.join(' ').replace(/\s+/g, ' ').trim();
}
const streamed = testClips.map((c) => streamTranscript(c.audio));

// ---- Evaluation on held-out voices -----------------------------------------------------------
// Prefix beam search twice: plain, and with a lexicon (only words of the training sentences) and a
// word bigram language model estimated on the training sentences (the test sentences are unseen).
const words = new Set(trainText.flatMap((t) => t.split(' ')));
const prefixes = new Set([...words].flatMap((w) => Array.from({ length: w.length + 1 }, (_, i) => w.slice(0, i))));
const unigram = new Map<string, number>();
const bigram = new Map<string, number>();
let totalWords = 0;
for (const t of trainText) {
  const ws = ['<s>', ...t.split(' '), '</s>'];
  ws.forEach((w, i) => {
    unigram.set(w, (unigram.get(w) ?? 0) + 1);
    totalWords++;
    if (i > 0) bigram.set(`${ws[i - 1]} ${w}`, (bigram.get(`${ws[i - 1]} ${w}`) ?? 0) + 1);
  });
}
/** log P(word | previous): the bigram interpolated with the unigram (weights 0.7 / 0.3). */
const logP = (prev: string, word: string): number => {
  const uni = (unigram.get(word) ?? 0) / totalWords;
  const context = unigram.get(prev) ?? 0;
  const bi = context > 0 ? (bigram.get(`${prev} ${word}`) ?? 0) / context : 0;
  return Math.log(0.7 * bi + 0.3 * uni + 1e-12);
};
const LM_WEIGHT = 0.8;
/** A finite penalty for spellings outside the lexicon (-Infinity would make the beam's sort order undefined). */
const IMPOSSIBLE = -1e9;
const text = (labels: readonly number[]): string => labels.map((l) => ASR_ALPHABET[l - 1]).join('');
const lexiconScore = (prefix: readonly number[], label: number): number => {
  const sofar = text(prefix).split(' ');
  const current = sofar.at(-1)!;
  const ch = ASR_ALPHABET[label - 1]!;
  if (ch !== ' ') return prefixes.has(current + ch) ? 0 : IMPOSSIBLE;
  if (!words.has(current)) return IMPOSSIBLE; // a space closes a known word only
  return LM_WEIGHT * logP(sofar.length > 1 ? sofar.at(-2)! : '<s>', current);
};
const beamPlain: string[] = [];
const beamLm: string[] = [];
const tidy = (s: string): string => s.replace(/\s+/g, ' ').trim();
for (const rows of logProbs) {
  beamPlain.push(tidy(text(ctcPrefixBeamSearch(rows, { beamWidth, topK: 8 })[0]!.labels)));
  // The sentence end scores the last word (which must be complete) and </s>.
  const finished = ctcPrefixBeamSearch(rows, { beamWidth, topK: 8, score: lexiconScore })
    .map((h) => {
      const ws = tidy(text(h.labels)).split(' ');
      const last = ws.at(-1)!;
      if (!words.has(last) || h.logProb < IMPOSSIBLE / 2) return { h, total: -Infinity };
      const prev = ws.length > 1 ? ws.at(-2)! : '<s>';
      return { h, total: h.logProb + LM_WEIGHT * (logP(prev, last) + logP(last, '</s>')) };
    })
    .sort((a, b) => b.total - a.total);
  beamLm.push(finished[0] && finished[0].total > -Infinity ? tidy(text(finished[0].h.labels)) : '');
}
const refs = testClips.map((c) => c.text);

/** pocketsphinx_continuous on one 16 kHz WAV (cached next to it). */
async function pocketsphinx(path: string): Promise<string> {
  const out = `${path}.pocketsphinx.txt`;
  if (existsSync(out)) return (await readFile(out, 'utf8')).trim();
  const text = await new Promise<string>((resolve, reject) => {
    const child = spawn('pocketsphinx_continuous', ['-infile', path, '-logfn', '/dev/null'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let s = '';
    child.stdout.on('data', (d: Buffer) => (s += d.toString()));
    child.on('error', (e) =>
      reject(new Error(`pocketsphinx_continuous: ${e.message} (apt-get install pocketsphinx pocketsphinx-en-us)`)),
    );
    child.on('close', () => resolve(s.replace(/\s+/g, ' ').trim().toLowerCase()));
  });
  await writeFile(out, text);
  return text;
}
const t2 = performance.now();
const peer = await mapConcurrent(testClips, 2, (c) => pocketsphinx(c.path));
const peerSeconds = (performance.now() - t2) / 1000;

for (let i = 0; i < 6; i++)
  console.log(
    `  ${testClips[i]!.voice}\n    ref:          ${refs[i]}\n    greedy:       ${greedy[i]}\n    streamed:     ${streamed[i]}\n    beam+LM:      ${beamLm[i]}\n    pocketsphinx: ${peer[i]}`,
  );
const wer = wordErrorRate(refs, greedy);
const cer = charErrorRate(refs, greedy);
const streamWer = wordErrorRate(refs, streamed);
console.log(
  `training ${trainSeconds.toFixed(0)} s, pocketsphinx ${peerSeconds.toFixed(0)} s, total ${((performance.now() - t0) / 1000).toFixed(0)} s; model saved to ${saveDir}`,
);
console.log(
  `wer=${wer.toFixed(4)} cer=${cer.toFixed(4)} stream_wer=${streamWer.toFixed(4)} stream_to_offline=${(streamWer / wer).toFixed(3)} beam_wer=${wordErrorRate(refs, beamPlain).toFixed(4)} lm_wer=${wordErrorRate(refs, beamLm).toFixed(4)} lm_cer=${charErrorRate(refs, beamLm).toFixed(4)} pocketsphinx_wer=${wordErrorRate(refs, peer).toFixed(4)} pocketsphinx_cer=${charErrorRate(refs, peer).toFixed(4)} test_utterances=${testClips.length} held_out_voices=${new Set(testClips.map((c) => c.voice)).size}`,
);
