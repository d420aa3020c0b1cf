/**
 * A small causal Transformer language model on Jane Austen (Debian `r-cran-janeaustenr`, read
 * without R): byte-level BPE trained on five novels, a GPT-style decoder trained with Lepton on
 * 64-token windows, perplexity on the held-out sixth novel (Persuasion), and text sampled greedily
 * and with temperature / top-k / top-p. Saves the model with its tokenizer.json for
 * `pipeline('text-generation', dir)` and as the pretrained encoder of examples/sentiment.ts.
 *   npx tsx examples/austen-lm.ts [--steps 1200] [--minutes 25] [--out ~/.cache/lepton/austen-lm]
 * Trains `steps` batches of 32 windows (stopping early, and saying so, when `minutes` have passed).
 * Ends with one line: perplexity=… (per BPE token on Persuasion), the steps done and the sizes.
 */
import { join } from 'node:path';
import { Adam, Generator, type Tensor, dataHome, setSeed, tensor } from '../src/index.js';
import {
  causalLanguageModel,
  CausalLMDecoding,
  generateTokens,
  loadJaneAusten,
  saveTextModel,
  trainTokenizer,
} from '../src/text/index.js';
import { option } from './options.js';

const maxSteps = Number(option('steps') ?? 1200);
const maxMinutes = Number(option('minutes') ?? 25);
const outDir = option('out') ?? join(dataHome(), 'austen-lm');
const T = 64; // window length
const VOCAB = 2000;
const HIDDEN = 64;
const BATCH = 32;
const CHUNK = 50; // steps per fit call: the time cap and progress are checked between chunks
const started = Date.now();
const seconds = (t0: number) => ((Date.now() - t0) / 1000).toFixed(1);
setSeed(1);

const novels = await loadJaneAusten();
const heldOut = novels.filter((n) => n.name === 'persuasion');
const training = novels.filter((n) => n.name !== 'persuasion');

let t0 = Date.now();
const trainParagraphs = training.flatMap((n) => n.paragraphs);
const tokenizer = await trainTokenizer('bpe', trainParagraphs, { vocabSize: VOCAB });
const eos = tokenizer.tokenToId('</s>') as number;
/** One token stream: each paragraph's ids followed by '</s>'. */
async function stream(paragraphs: string[]): Promise<Int32Array> {
  const ids: number[] = [];
  for (const e of await tokenizer.encodeBatch(paragraphs)) ids.push(...e.ids, eos);
  return Int32Array.from(ids);
}
const trainIds = await stream(trainParagraphs);
const testIds = await stream(heldOut.flatMap((n) => n.paragraphs));
console.log(
  `BPE tokenizer (${tokenizer.vocabSize} tokens) on ${training.map((n) => n.name).join(', ')}: ${trainIds.length} training tokens, ` +
    `${testIds.length} held-out tokens (persuasion); ${seconds(t0)} s`,
);

/** Non-overlapping windows of T+1 tokens starting at `offset`: inputs [N, T] and next tokens [N, T]. */
function windows(ids: Int32Array, offset: number): [Tensor, Tensor] {
  const n = Math.floor((ids.length - offset - 1) / T);
  const x = new Int32Array(n * T);
  const y = new Int32Array(n * T);
  for (let w = 0; w < n; w++) {
    x.set(ids.subarray(offset + w * T, offset + w * T + T), w * T);
    y.set(ids.subarray(offset + w * T + 1, offset + w * T + T + 1), w * T);
  }
  return [tensor(x, { shape: [n, T] }), tensor(y, { shape: [n, T] })];
}

const model = causalLanguageModel({
  vocabularySize: tokenizer.vocabSize,
  sequenceLength: T,
  hiddenDim: HIDDEN,
  numLayers: 2,
  numHeads: 4,
});
model.compile({
  optimizer: new Adam({ learningRate: 1e-3 }),
  loss: { className: 'sparseCategoricalCrossentropy', fromLogits: true },
});
const parameters = model.countParams();
console.log(`model: ${parameters} parameters (d ${HIDDEN}, 2 decoder blocks, 4 heads, window ${T})`);

/** exp(mean −log p(next token)) over non-overlapping held-out windows (each token sees its window's earlier tokens). */
async function perplexity(ids: Int32Array): Promise<number> {
  const [x, y] = windows(ids, 0);
  const n = x.shape[0] as number;
  const targets = y.data as Int32Array;
  const v = tokenizer.vocabSize;
  let nll = 0;
  const chunk = 64;
  for (let start = 0; start < n; start += chunk) {
    const rows = Math.min(chunk, n - start);
    const xs = tensor((x.data as Int32Array).slice(start * T, (start + rows) * T), { shape: [rows, T] });
    const logits = (await model.predict(xs, { batchSize: rows, verbose: 0 })) as Tensor;
    const d = logits.data as Float32Array;
    for (let p = 0; p < rows * T; p++) {
      const row = d.subarray(p * v, (p + 1) * v);
      let max = -Infinity;
      for (let i = 0; i < v; i++) max = Math.max(max, row[i]);
      let sum = 0;
      for (let i = 0; i < v; i++) sum += Math.exp(row[i] - max);
      nll += max + Math.log(sum) - row[targets[start * T + p]];
    }
  }
  return Math.exp(nll / (n * T));
}

const shuffleRng = new Generator(7);
t0 = Date.now();
let steps = 0;
let epoch = 0;
let stoppedEarly = false;
while (steps < maxSteps && !stoppedEarly) {
  // a new window offset each pass over the text, so windows do not always break it at the same places
  epoch++;
  const [x, y] = windows(trainIds, Math.floor(shuffleRng.random() * T));
  const n = x.shape[0] as number;
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(shuffleRng.random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  for (let start = 0; start + BATCH <= n && steps < maxSteps; start += CHUNK * BATCH) {
    const rows = order.slice(start, Math.min(n, start + CHUNK * BATCH, start + (maxSteps - steps) * BATCH));
    const pick = (t: Tensor) => {
      const d = t.data as Int32Array;
      const out = new Int32Array(rows.length * T);
      rows.forEach((r, k) => out.set(d.subarray(r * T, (r + 1) * T), k * T));
      return tensor(out, { shape: [rows.length, T] });
    };
    await model.fit(pick(x), pick(y), { epochs: 1, batchSize: BATCH, shuffle: false, verbose: 0 });
    steps += Math.ceil(rows.length / BATCH);
    console.log(`pass ${epoch}, step ${steps}/${maxSteps}: ${seconds(t0)} s`);
    if (Date.now() - t0 > maxMinutes * 60_000) {
      stoppedEarly = true;
      console.log(`stopping early: the ${maxMinutes}-minute cap was reached after ${steps} steps`);
      break;
    }
  }
}
const ppl = await perplexity(testIds);
console.log(
  `held-out perplexity ${ppl.toFixed(2)} after ${steps} steps (${((steps * BATCH) / (trainIds.length / T)).toFixed(2)} passes over the training text)`,
);
const trainingSeconds = seconds(t0);

await saveTextModel(model, tokenizer, outDir, { task: 'text-generation', sequenceLength: T, eosId: eos });
console.log(`saved the model and tokenizer.json in ${outDir}`);

const prompt = 'It is a truth universally acknowledged, that';
const promptIds = (await tokenizer.encode(prompt)).ids;
// Generation with a key/value cache kept in the inference worker (each step runs one position).
const decoding = new CausalLMDecoding(model);
const generationStart = Date.now();
let generated = 0;
for (const [label, options] of [
  ['greedy', { doSample: false }],
  ['temperature 0.8, top-k 40', { temperature: 0.8, topK: 40, seed: 1 }],
  ['top-p 0.9', { topP: 0.9, seed: 2 }],
] as const) {
  const ids = await generateTokens(await decoding.scorer(), promptIds, {
    ...options,
    sequenceLength: T,
    maxNewTokens: 40,
    eosId: eos,
  });
  generated += ids.length;
  console.log(`[${label}] ${prompt}${await tokenizer.decode(ids, { skipSpecialTokens: true })}`);
}
console.log(`generated ${generated} tokens in ${seconds(generationStart)} s (key/value cache)`);
await decoding.release();

console.log(`wall time ${seconds(started)} s (training ${trainingSeconds} s)`);
console.log(
  `perplexity=${ppl.toFixed(2)} steps=${steps} train_tokens=${trainIds.length} test_tokens=${testIds.length} parameters=${parameters}`,
);
