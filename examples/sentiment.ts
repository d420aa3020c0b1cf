/**
 * Sentiment of the 1,000 Amazon sentences of UCI "Sentiment Labelled Sentences" (shipped in npm
 * `wink-sentiment` under test/data): 10-fold accuracy (folds from a fixed seed) of a small
 * Transformer classifier trained from scratch with Lepton, of the same classifier whose backbone
 * starts from the Austen language model (examples/austen-lm.ts, if it has been run), and of the two
 * lexicon baselines users know, AFINN (npm `sentiment`) and VADER (npm `vader-sentiment`), on the
 * same folds. Saves a model trained on all 1,000 sentences with its tokenizer.json for
 * `pipeline('sentiment-analysis', dir)`.
 *   npx tsx examples/sentiment.ts [--epochs 8] [--lm ~/.cache/lepton/austen-lm] [--save ~/.cache/lepton/sentiment]
 * Ends with one line: accuracy=… (from scratch) pretrained_accuracy=… afinn_accuracy=… vader_accuracy=….
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Adam, Generator, type Model, type Tensor, dataHome, loadModel, setSeed, tensor } from '../src/index.js';
import {
  Tokenizer,
  loadJaneAusten,
  padSequences,
  saveTextModel,
  sequenceClassifier,
  trainTokenizer,
  transferBackbone,
} from '../src/text/index.js';
import { option } from './options.js';

const epochs = Number(option('epochs') ?? 8);
const lmDir = option('lm') ?? join(dataHome(), 'austen-lm');
const saveDir = option('save') ?? join(dataHome(), 'sentiment');
const FOLDS = 10;
const T = 48; // sentences are truncated/padded to 48 tokens (~97% fit)
const POSITIONS = 64; // the LM's window: the size of the position table
const HIDDEN = 64; // as examples/austen-lm.ts
const started = Date.now();
const seconds = (t0: number) => ((Date.now() - t0) / 1000).toFixed(1);

const require = createRequire(import.meta.url);
const dataFile = join(dirname(require.resolve('wink-sentiment/package.json')), 'test/data/amazon_cells_labelled.txt');
const rows = readFileSync(dataFile, 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => {
    const tab = l.lastIndexOf('\t');
    return { text: l.slice(0, tab).trim(), label: Number(l.slice(tab + 1)) };
  });
if (rows.length !== 1000 || rows.some((r) => r.label !== 0 && r.label !== 1))
  throw new Error(`expected 1,000 sentences labelled 0/1 in ${dataFile}, got ${rows.length}`);

// Folds: a seeded permutation dealt round-robin, so each fold has 100 sentences.
const order = Array.from({ length: rows.length }, (_, i) => i);
const rng = new Generator(2026);
for (let i = order.length - 1; i > 0; i--) {
  const j = Math.floor(rng.random() * (i + 1));
  [order[i], order[j]] = [order[j], order[i]];
}
const foldOf = new Int32Array(rows.length);
order.forEach((row, k) => (foldOf[row] = k % FOLDS));
console.log(`${rows.length} sentences (${rows.filter((r) => r.label === 1).length} positive), ${FOLDS} folds`);

// --- Tokenizer: the Austen LM's when it exists (pretraining needs it), else the same BPE trained here.
const haveLM = existsSync(join(lmDir, 'config.json')) && existsSync(join(lmDir, 'tokenizer.json'));
let t0 = Date.now();
const tokenizer = haveLM
  ? Tokenizer.load(join(lmDir, 'tokenizer.json'))
  : await trainTokenizer(
      'bpe',
      (await loadJaneAusten()).filter((n) => n.name !== 'persuasion').flatMap((n) => n.paragraphs),
      { vocabSize: 2000 },
    );
console.log(
  haveLM
    ? `tokenizer and LM from ${lmDir}`
    : `no LM in ${lmDir} (run examples/austen-lm.ts for the pretrained model); BPE trained on Austen in ${seconds(t0)} s`,
);
const ids = padSequences(
  (await tokenizer.encodeBatch(rows.map((r) => r.text))).map((e) => e.ids),
  { length: T },
).data as Int32Array;
const labels = Int32Array.from(rows.map((r) => r.label));
const lm = haveLM ? await loadModel(lmDir) : undefined;

/** Rows of the fold (test) or of the other folds (train) as tensors. */
function split(fold: number, test: boolean): { x: Tensor; y: Tensor; idx: number[] } {
  const idx = rows.map((_, i) => i).filter((i) => (foldOf[i] === fold) === test);
  const x = new Int32Array(idx.length * T);
  idx.forEach((r, k) => x.set(ids.subarray(r * T, (r + 1) * T), k * T));
  return { x: tensor(x, { shape: [idx.length, T] }), y: tensor(Int32Array.from(idx.map((i) => labels[i]))), idx };
}

/** A classifier trained on `train` (from scratch, or with the LM's backbone as its starting point). */
async function train(x: Tensor, y: Tensor, pretrained: boolean, seed: number): Promise<Model> {
  setSeed(seed);
  const model = sequenceClassifier({
    vocabularySize: tokenizer.vocabSize,
    sequenceLength: POSITIONS,
    inputLength: T,
    hiddenDim: HIDDEN,
    numLayers: 2,
    numHeads: 4,
    numClasses: 2,
  });
  if (pretrained) {
    const copied = transferBackbone(lm!, model);
    if (copied.length !== model.namedVariables().length - 2)
      throw new Error(
        `the LM in ${lmDir} shares ${copied.length} weights with the classifier; expected all but the head`,
      );
  }
  model.compile({
    optimizer: new Adam({ learningRate: pretrained ? 5e-4 : 1e-3 }),
    loss: { className: 'sparseCategoricalCrossentropy', fromLogits: true },
  });
  await model.fit(x, y, { epochs, batchSize: 32, shuffle: true, verbose: 0 });
  return model;
}

async function predictLabels(model: Model, x: Tensor): Promise<number[]> {
  const logits = (await model.predict(x, { verbose: 0 })) as Tensor;
  const d = logits.data as Float32Array;
  return Array.from({ length: x.shape[0] as number }, (_, i) => (d[2 * i + 1] > d[2 * i] ? 1 : 0));
}

// --- Lexicon baselines: a positive score is positive, a negative one negative; a score of 0
// (no opinion word; VADER: |compound| < 0.05, its own neutral band) gets the training folds' majority.
const Sentiment = require('sentiment') as new () => { analyze(text: string): { score: number } };
const afinn = new Sentiment();
const vader = require('vader-sentiment') as {
  SentimentIntensityAnalyzer: { polarity_scores(text: string): { compound: number } };
};
const afinnScore = rows.map((r) => Math.sign(afinn.analyze(r.text).score));
const vaderScore = rows.map((r) => {
  const c = vader.SentimentIntensityAnalyzer.polarity_scores(r.text).compound;
  return c >= 0.05 ? 1 : c <= -0.05 ? -1 : 0;
});

const results: Record<string, number[]> = { scratch: [], pretrained: [], afinn: [], vader: [] };
const accuracy = (pred: number[], idx: number[]) => pred.filter((p, k) => p === labels[idx[k]]).length / idx.length;
for (let fold = 0; fold < FOLDS; fold++) {
  t0 = Date.now();
  const tr = split(fold, false);
  const te = split(fold, true);
  const majority = tr.idx.filter((i) => labels[i] === 1).length * 2 >= tr.idx.length ? 1 : 0;
  const lexicon = (score: number[]) => te.idx.map((i) => (score[i] > 0 ? 1 : score[i] < 0 ? 0 : majority));
  results.afinn.push(accuracy(lexicon(afinnScore), te.idx));
  results.vader.push(accuracy(lexicon(vaderScore), te.idx));
  results.scratch.push(accuracy(await predictLabels(await train(tr.x, tr.y, false, 100 + fold), te.x), te.idx));
  if (lm)
    results.pretrained.push(accuracy(await predictLabels(await train(tr.x, tr.y, true, 100 + fold), te.x), te.idx));
  const last = (k: string) => results[k].at(-1)?.toFixed(2) ?? '-';
  console.log(
    `fold ${fold + 1}/${FOLDS}: scratch ${last('scratch')} pretrained ${last('pretrained')} afinn ${last('afinn')} vader ${last('vader')} (${seconds(t0)} s)`,
  );
}
const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
const sd = (a: number[]) => Math.sqrt(a.reduce((s, v) => s + (v - mean(a)) ** 2, 0) / (a.length - 1));
for (const [k, a] of Object.entries(results))
  if (a.length)
    console.log(`${k.padEnd(10)} accuracy ${mean(a).toFixed(4)} ± ${sd(a).toFixed(4)} (mean ± sd over folds)`);

// The model kept for serving: trained on all 1,000 sentences (pretrained when the LM exists).
t0 = Date.now();
const all = tensor(ids, { shape: [rows.length, T] });
const final = await train(all, tensor(labels), lm !== undefined, 99);
await saveTextModel(final, tokenizer, saveDir, {
  task: 'text-classification',
  sequenceLength: T,
  labels: ['NEGATIVE', 'POSITIVE'],
});
console.log(`saved the classifier trained on all sentences and tokenizer.json in ${saveDir} (${seconds(t0)} s)`);

console.log(`wall time ${seconds(started)} s`);
const pretrainedField = results.pretrained.length ? ` pretrained_accuracy=${mean(results.pretrained).toFixed(4)}` : '';
console.log(
  `accuracy=${mean(results.scratch).toFixed(4)}${pretrainedField} afinn_accuracy=${mean(results.afinn).toFixed(4)} vader_accuracy=${mean(results.vader).toFixed(4)}`,
);
