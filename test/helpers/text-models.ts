/**
 * Two tiny text models trained here and saved with their tokenizer by saveTextModel: a sentiment
 * classifier (POSITIVE/NEGATIVE on a dozen phrases) and a causal LM that learned a cycle of six
 * words, so its greedy continuation is known ('one two' → 'one two three four five six one two').
 * Used by the pipeline and model-server tests; and a tiny EN → ES translation model (untrained).
 */
import { join } from 'node:path';
import { Adam, type Tensor, setSeed, tensor } from '../../src/index.js';
import {
  Seq2SeqTransformer,
  type Tokenizer,
  causalLanguageModel,
  saveTextModel,
  saveTranslationModel,
  sequenceClassifier,
  trainTokenizer,
} from '../../src/text/index.js';

export const T = 8;
export const GOOD = ['good phone', 'great sound', 'good and great', 'love it', 'great battery', 'love the sound'];
export const BAD = ['bad phone', 'awful sound', 'bad and awful', 'hate it', 'awful battery', 'hate the sound'];
export const CYCLE = 'one two three four five six ';

export interface TinyTextModels {
  tokenizer: Tokenizer;
  /** The classifier's logits for texts, run in process (what a served answer must match). */
  classifierLogits: (texts: string[]) => Promise<Float32Array>;
  /** Folders: `${dir}/classifier` and `${dir}/lm`. */
  classifierDir: string;
  lmDir: string;
}

export async function trainTinyTextModels(dir: string): Promise<TinyTextModels> {
  setSeed(3);
  const small = { sequenceLength: T, hiddenDim: 16, numLayers: 1, numHeads: 2, intermediateDim: 32, dropout: 0 };
  const tokenizer = await trainTokenizer('bpe', [...GOOD, ...BAD, CYCLE.repeat(4)], { vocabSize: 300 });
  const encode = async (texts: string[]) => {
    const x = new Int32Array(texts.length * T);
    (await tokenizer.encodeBatch(texts)).forEach((e, i) => x.set(e.ids.slice(0, T), i * T));
    return tensor(x, { shape: [texts.length, T] });
  };

  const classifier = sequenceClassifier({ ...small, vocabularySize: tokenizer.vocabSize, numClasses: 2 });
  classifier.compile({
    optimizer: new Adam({ learningRate: 0.01 }),
    loss: { className: 'sparseCategoricalCrossentropy', fromLogits: true },
  });
  const y = tensor(Int32Array.from([...GOOD.map(() => 1), ...BAD.map(() => 0)]));
  await classifier.fit(await encode([...GOOD, ...BAD]), y, { epochs: 40, batchSize: 12, verbose: 0 });
  const classifierLogits = async (texts: string[]) =>
    ((await classifier.predict(await encode(texts), { verbose: 0 })) as Tensor).data as Float32Array;
  const classifierDir = join(dir, 'classifier');
  await saveTextModel(classifier, tokenizer, classifierDir, {
    task: 'text-classification',
    sequenceLength: T,
    labels: ['NEGATIVE', 'POSITIVE'],
  });

  const lm = causalLanguageModel({ ...small, vocabularySize: tokenizer.vocabSize });
  lm.compile({
    optimizer: new Adam({ learningRate: 0.01 }),
    loss: { className: 'sparseCategoricalCrossentropy', fromLogits: true },
  });
  const ids = (await tokenizer.encode(CYCLE.repeat(30))).ids;
  const windows = Array.from({ length: 60 }, (_, k) => ids.slice(k, k + T + 1));
  const x = tensor(Int32Array.from(windows.flatMap((w) => w.slice(0, T))), { shape: [60, T] });
  const yy = tensor(Int32Array.from(windows.flatMap((w) => w.slice(1))), { shape: [60, T] });
  await lm.fit(x, yy, { epochs: 40, batchSize: 20, verbose: 0 });
  const lmDir = join(dir, 'lm');
  await saveTextModel(lm, tokenizer, lmDir, {
    task: 'text-generation',
    sequenceLength: T,
    eosId: tokenizer.tokenToId('</s>'),
  });
  return { tokenizer, classifierLogits, classifierDir, lmDir };
}

/** English and Spanish sentences the tiny translation model's tokenizers are trained on. */
export const EN = ['the light is good', 'in the beginning', 'the earth was empty', 'and there was light'];
export const ES = ['la luz es buena', 'en el principio', 'la tierra estaba vacía', 'y hubo luz'];

export interface TinyTranslationModel {
  dir: string;
  model: Seq2SeqTransformer;
  en: Tokenizer;
  es: Tokenizer;
  bos: number;
  eos: number;
}

/**
 * An untrained Seq2SeqTransformer (d 16, 1 + 1 layers) with BPE tokenizers for EN → ES, saved by
 * saveTranslationModel in `dir`: what the translation pipeline, server and studio tests load.
 */
export async function saveTinyTranslationModel(dir: string, seed = 4): Promise<TinyTranslationModel> {
  setSeed(seed);
  const en = await trainTokenizer('bpe', EN, { vocabSize: 120 });
  const es = await trainTokenizer('bpe', ES, { vocabSize: 120 });
  const [bos, eos] = ['<s>', '</s>'].map((t) => es.tokenToId(t) as number);
  const model = new Seq2SeqTransformer({
    sourceVocabSize: en.vocabSize,
    targetVocabSize: es.vocabSize,
    maxLength: 24,
    modelDim: 16,
    numHeads: 2,
    encoderLayers: 1,
    decoderLayers: 1,
    dropout: 0,
  });
  await saveTranslationModel(model, en, es, dir, { bosId: bos, eosId: eos });
  return { dir, model, en, es, bos, eos };
}
