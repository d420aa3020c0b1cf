/**
 * English→Spanish machine translation on the Bible (Debian `sword-text-web` → `sword-text-sparv`,
 * verse-aligned with diatheke; held-out books for test): byte-level BPE tokenizers, a Transformer
 * encoder–decoder trained with teacher forcing through `fit` on length buckets, greedy and beam
 * decoding, sacreBLEU-exact BLEU / chrF / chrF++, and Apertium's rule-based `eng-spa` on the same
 * source verses as the peer.
 *   npx tsx examples/translate-en-es.ts [--epochs 4] [--dim 256] [--layers 3] [--vocab 6000] [--beam 4]
 * Ends with one line: bleu=… chrf=… chrfpp=… greedy_bleu=… apertium_bleu=… apertium_chrf=….
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Adam, CosineDecay, Dataset, LinearWarmup, type Tensor, setSeed, tensor } from '../src/index.js';
import {
  Seq2SeqDecoding,
  Seq2SeqTransformer,
  beamSearch,
  bucketByLength,
  corpusBleu,
  corpusChrf,
  greedySearch,
  loadBibleParallel,
  splitByBook,
  trainTokenizer,
} from '../src/text/index.js';
import { numberOption } from './options.js';

const epochs = numberOption('epochs', 4);
const dim = numberOption('dim', 256);
const layers = numberOption('layers', 3);
const vocab = numberOption('vocab', 6000);
const beamWidth = numberOption('beam', 4);
const maxLen = numberOption('max-len', 128);
const tokensPerBatch = numberOption('batch-tokens', 4000);
const trainLimit = numberOption('train-limit', 0); // 0: every training verse (quick trials use fewer)
const testLimit = numberOption('test-limit', 0);
const trainMinutes = numberOption('train-minutes', 0); // 0: no time budget (stop after --epochs)
const chunk = numberOption('chunk', 100); // steps between progress lines (and budget checks)
const withDev = numberOption('dev', 1) !== 0; // dev loss after each chunk (0: skip; saves the eval graphs)
const started = Date.now();
const secs = (t: number) => ((Date.now() - t) / 1000).toFixed(1);
setSeed(1);

// --- Data ---------------------------------------------------------------------------------------
let t0 = Date.now();
const pairs = await loadBibleParallel();
const split = splitByBook(pairs);
const train = trainLimit > 0 ? split.train.slice(0, trainLimit) : split.train;
const test = testLimit > 0 ? split.test.slice(0, testLimit) : split.test;
console.log(
  `${pairs.length} verse pairs: ${train.length} train, ${split.dev.length} dev, ${test.length} test ` +
    `(books ${[...new Set(test.map((p) => p.book))].join(', ')}) in ${secs(t0)} s`,
);

t0 = Date.now();
const [enTok, esTok] = await Promise.all([
  trainTokenizer(
    'bpe',
    train.map((p) => p.source),
    { vocabSize: vocab },
  ),
  trainTokenizer(
    'bpe',
    train.map((p) => p.target),
    { vocabSize: vocab },
  ),
]);
const [PAD, BOS, EOS] = ['<pad>', '<s>', '</s>'].map((t) => esTok.tokenToId(t) as number);
const ids = async (tok: typeof enTok, texts: string[], room: number) =>
  (await tok.encodeBatch(texts)).map((e) => e.ids.slice(0, room));
// Sources get maxLen tokens; targets maxLen − 1 (plus `<s>` in the input and `</s>` in the labels).
const [trainSrc, trainTgt, devSrc, devTgt, testSrc] = await Promise.all([
  ids(
    enTok,
    train.map((p) => p.source),
    maxLen,
  ),
  ids(
    esTok,
    train.map((p) => p.target),
    maxLen - 1,
  ),
  ids(
    enTok,
    split.dev.map((p) => p.source),
    maxLen,
  ),
  ids(
    esTok,
    split.dev.map((p) => p.target),
    maxLen - 1,
  ),
  ids(
    enTok,
    test.map((p) => p.source),
    maxLen,
  ),
]);
const meanLen = (xs: number[][]) => (xs.reduce((s, x) => s + x.length, 0) / xs.length).toFixed(1);
console.log(
  `BPE tokenizers (${enTok.vocabSize} English, ${esTok.vocabSize} Spanish tokens) in ${secs(t0)} s; ` +
    `mean length ${meanLen(trainSrc)} / ${meanLen(trainTgt)} tokens`,
);

// --- Length buckets: a few padded lengths, batches of about `tokensPerBatch` tokens -----------
// Few buckets: each is one train graph, and each graph's ONNX Runtime session keeps its own
// memory arena (measured ~1–2 GB per graph at 6,000 tokens per batch with a 4,000-token vocabulary).
const boundaries = [24, 40, 64].filter((b) => b < maxLen);
const batchSizes = [...boundaries, maxLen].map((b) => Math.max(8, Math.floor(tokensPerBatch / b)));
interface Example {
  src: number[];
  tgt: number[];
}
function toBatch(items: Example[], length: number): { x: Tensor[]; y: Tensor } {
  const n = items.length;
  const [src, tin, lab] = [0, 1, 2].map(() => new Int32Array(n * length).fill(PAD));
  items.forEach((e, i) => {
    src.set(e.src, i * length);
    tin.set([BOS, ...e.tgt], i * length);
    lab.set([...e.tgt, EOS], i * length);
  });
  const t = (a: Int32Array) => tensor(a, { shape: [n, length] });
  return { x: [t(src), t(tin)], y: t(lab) };
}
const bucketed = (examples: Example[], shuffle: boolean) =>
  bucketByLength(shuffle ? Dataset.fromArray(examples).shuffle(examples.length) : Dataset.fromArray(examples), {
    length: (e) => Math.max(e.src.length, e.tgt.length + 1),
    boundaries,
    batchSize: batchSizes,
    maxLength: maxLen,
  }).map((b) => toBatch(b.items, b.length));
const trainExamples = trainSrc.map((src, i) => ({ src, tgt: trainTgt[i] }));
const devExamples = devSrc.map((src, i) => ({ src, tgt: devTgt[i] }));
const stepsPerEpoch = await (async () => {
  let n = 0;
  for await (const _ of bucketByLength(Dataset.fromArray(trainExamples), {
    length: (e) => Math.max(e.src.length, e.tgt.length + 1),
    boundaries,
    batchSize: batchSizes,
    maxLength: maxLen,
  }))
    n++;
  return n;
})();

// --- Model and training -------------------------------------------------------------------------
const model = new Seq2SeqTransformer({
  sourceVocabSize: enTok.vocabSize,
  targetVocabSize: esTok.vocabSize,
  maxLength: maxLen,
  modelDim: dim,
  numHeads: dim >= 256 ? 8 : 4,
  intermediateDim: 4 * dim,
  encoderLayers: layers,
  decoderLayers: layers,
  dropout: 0.1,
});
const totalSteps = epochs * stepsPerEpoch;
model.compile({
  optimizer: new Adam({
    learningRate: new LinearWarmup({
      warmupSteps: Math.min(400, Math.floor(totalSteps / 10)),
      after: new CosineDecay({ initial: 1e-3, decaySteps: totalSteps, minimum: 5e-5 }),
    }),
    clipNorm: 1,
  }),
  loss: { className: 'sparseCategoricalCrossentropy', fromLogits: true, ignoreClass: PAD },
});
t0 = Date.now();
// fit's "epochs" are chunks of --chunk steps over the endlessly reshuffled data, so progress, the
// dev loss and the optional wall-time budget (--train-minutes) come every chunk.
const history = await model.fit(bucketed(trainExamples, true).repeat(), {
  epochs: Math.ceil(totalSteps / chunk),
  stepsPerEpoch: chunk,
  // One worker: data-parallel replicas would hold a second copy of every graph's arena.
  workers: 1,
  validationData: withDev ? bucketed(devExamples, false) : undefined,
  verbose: 2,
  callbacks: [
    {
      onEpochEnd() {
        if (trainMinutes > 0 && Date.now() - t0 > trainMinutes * 60_000) model.stopTraining = true;
      },
    },
  ],
});
const trainSeconds = (Date.now() - t0) / 1000;
const params = model.parameters().reduce((s, p) => s + p.size, 0);
console.log(
  `trained ${(params / 1e6).toFixed(2)}M parameters, ${history.history.loss.length * chunk} steps (${stepsPerEpoch} per pass over the data) in ${trainSeconds.toFixed(0)} s; ` +
    `final loss ${history.history.loss.at(-1)?.toFixed(3)}${withDev ? `, dev loss ${history.history.val_loss?.at(-1)?.toFixed(3)}` : ''}`,
);

// --- Decoding the held-out books ----------------------------------------------------------------
// Few decoder graphs: every source batch padded to one length, 64 hypotheses per step (64 rows
// greedy, 16 rows × beam 4), prefixes padded to 16/32/64/128 tokens.
const testMax = Math.max(...testSrc.map((s) => s.length));
const prefixBuckets = [16, 32, 64, 128, 256].filter((b) => b < maxLen);
const decoding = new Seq2SeqDecoding(model, {
  sourceLength: prefixBuckets.find((b) => b >= testMax) ?? maxLen,
  hypotheses: 64,
  lengthBuckets: prefixBuckets,
});
/** Decodes sources in batches of similar length (sorted), returning texts in the original order. */
async function translate(search: 'greedy' | 'beam', batch: number): Promise<string[]> {
  const order = testSrc.map((_, i) => i).sort((a, b) => testSrc[a].length - testSrc[b].length);
  const out: string[] = new Array(testSrc.length);
  for (let s = 0; s < order.length; s += batch) {
    const rows = order.slice(s, s + batch);
    const sources = rows.map((i) => testSrc[i]);
    const scorer = await decoding.scorer(sources);
    // Spanish verses run a little longer than English ones: room for 1.5× the source + 10 tokens.
    const maxLength = Math.min(maxLen - 1, Math.ceil(1.5 * Math.max(...sources.map((x) => x.length))) + 10);
    const opts = { bos: BOS, eos: EOS, maxLength };
    const tokens =
      search === 'greedy'
        ? await greedySearch(scorer, sources.length, opts)
        : await beamSearch(scorer, sources.length, { ...opts, beamWidth, lengthPenalty: 0.6 });
    const texts = await esTok.decodeBatch(tokens);
    rows.forEach((i, k) => (out[i] = texts[k].trim()));
  }
  return out;
}
const refs = [test.map((p) => p.target)];
t0 = Date.now();
const greedy = await translate('greedy', 64);
const greedySeconds = secs(t0);
t0 = Date.now();
const beam = await translate('beam', Math.max(1, Math.floor(64 / beamWidth)));
const beamSeconds = secs(t0);
const graphs = decoding.graphs();
console.log(
  `decoded ${test.length} verses: greedy ${greedySeconds} s, beam ${beamWidth} ${beamSeconds} s ` +
    `(${graphs.encoder} encoder + ${graphs.decoder} decoder-step graphs compiled)`,
);

// --- Apertium on the same source verses ----------------------------------------------------------
t0 = Date.now();
/**
 * Apertium's translation of each line (one verse per line; -u: no unknown-word marks). The input
 * goes through a temporary file: the apertium script opens /dev/stdin, which fails on the socket
 * Node gives a child as stdin.
 */
async function apertium(lines: string[]): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'lepton-apertium-'));
  try {
    const input = join(dir, 'source.txt');
    await writeFile(input, `${lines.join('\n')}\n`);
    const { stdout } = await promisify(execFile)('apertium', ['-u', 'eng-spa', input], {
      maxBuffer: 1 << 26,
      encoding: 'utf8',
    }).catch((e: NodeJS.ErrnoException) => {
      throw e.code === 'ENOENT'
        ? new Error('apertium is not installed: `apt-get install apertium apertium-eng-spa` (Debian/Ubuntu)')
        : e;
    });
    const got = stdout.replace(/\n$/, '').split('\n');
    if (got.length !== lines.length)
      throw new Error(`apertium returned ${got.length} lines for ${lines.length} verses`);
    return got.map((l) => l.trim());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
const peer = await apertium(test.map((p) => p.source));
console.log(`Apertium eng-spa on the same ${test.length} verses in ${secs(t0)} s`);

// --- Scores -----------------------------------------------------------------------------------
const score = (hyps: string[]) => ({
  bleu: corpusBleu(hyps, refs),
  chrf: corpusChrf(hyps, refs),
  chrfpp: corpusChrf(hyps, refs, { wordOrder: 2 }),
});
const [sBeam, sGreedy, sPeer] = [score(beam), score(greedy), score(peer)];
for (const [name, s] of [
  [`Lepton beam ${beamWidth}`, sBeam],
  ['Lepton greedy', sGreedy],
  ['Apertium eng-spa', sPeer],
] as const) {
  console.log(`${name}:\n  ${s.bleu.format()}\n  ${s.chrf.format()}\n  ${s.chrfpp.format()}`);
}
console.log(
  `signatures: BLEU ${sBeam.bleu.signature} | chrF ${sBeam.chrf.signature} | chrF++ ${sBeam.chrfpp.signature}`,
);
for (const i of [0, Math.floor(test.length / 2), test.length - 1]) {
  console.log(
    `${test[i].ref}\n  source:   ${test[i].source}\n  lepton:   ${beam[i]}\n  apertium: ${peer[i]}\n  reference: ${test[i].target}`,
  );
}
console.log(`wall time ${secs(started)} s`);
const f = (x: number) => x.toFixed(2);
console.log(
  `bleu=${f(sBeam.bleu.score)} chrf=${f(sBeam.chrf.score)} chrfpp=${f(sBeam.chrfpp.score)} ` +
    `greedy_bleu=${f(sGreedy.bleu.score)} greedy_chrf=${f(sGreedy.chrf.score)} ` +
    `apertium_bleu=${f(sPeer.bleu.score)} apertium_chrf=${f(sPeer.chrf.score)}`,
);
process.exit(0);
