/**
 * pipeline(): a tiny classifier and a tiny causal LM trained here, saved with their tokenizer,
 * loaded back; outputs have Transformers.js' shapes, scores are the softmax of the model's own
 * logits, generation equals the sampling loop run on the model directly, and bad folders/inputs
 * get clear errors.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Adam, type Tensor, setSeed, tensor } from '../../src/index.js';
import {
  type Tokenizer,
  causalLanguageModel,
  generateTokens,
  pipeline,
  saveTextModel,
  sequenceClassifier,
  trainTokenizer,
} from '../../src/text/index.js';

const dir = mkdtempSync(join(tmpdir(), 'lepton-pipeline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const T = 8;
const small = { sequenceLength: T, hiddenDim: 16, numLayers: 1, numHeads: 2, intermediateDim: 32, dropout: 0 };

const GOOD = ['good phone', 'great sound', 'good and great', 'love it', 'great battery', 'love the sound'];
const BAD = ['bad phone', 'awful sound', 'bad and awful', 'hate it', 'awful battery', 'hate the sound'];
const CYCLE = 'one two three four five six ';
let tokenizer: Tokenizer;
let classifierLogits: (texts: string[]) => Promise<Float32Array>;

beforeAll(async () => {
  setSeed(3);
  tokenizer = await trainTokenizer('bpe', [...GOOD, ...BAD, CYCLE.repeat(4)], { vocabSize: 300 });
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
  classifierLogits = async (texts) =>
    ((await classifier.predict(await encode(texts), { verbose: 0 })) as Tensor).data as Float32Array;
  await saveTextModel(classifier, tokenizer, join(dir, 'classifier'), {
    task: 'text-classification',
    sequenceLength: T,
    labels: ['NEGATIVE', 'POSITIVE'],
  });

  // The LM learns a cycle of six words, so its greedy continuation is known.
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
  await saveTextModel(lm, tokenizer, join(dir, 'lm'), {
    task: 'text-generation',
    sequenceLength: T,
    eosId: tokenizer.tokenToId('</s>'),
  });
}, 240_000);

describe('pipeline', () => {
  it("'sentiment-analysis' returns [{label, score}]: the softmax of the model's logits, labels from config.json", async () => {
    const classify = await pipeline('sentiment-analysis', join(dir, 'classifier'));
    const texts = ['great sound', 'awful phone'];
    const logits = await classifierLogits(texts);
    const out = await classify(texts[0]);
    const [l0, l1] = [logits[0], logits[1]];
    const pPositive = 1 / (1 + Math.exp(l0 - l1));
    expect(out).toHaveLength(1);
    expect(out[0].label).toBe(pPositive >= 0.5 ? 'POSITIVE' : 'NEGATIVE');
    expect(out[0].score).toBeCloseTo(Math.max(pPositive, 1 - pPositive), 5);
    expect(out[0].label).toBe('POSITIVE'); // what it was trained on
    const both = (await classify(texts)) as { label: string; score: number }[];
    expect(both.map((r) => r.label)).toEqual(['POSITIVE', 'NEGATIVE']);
    const top2 = await classify(texts[1], { topK: 2 });
    expect(top2.map((r) => r.label)).toEqual(['NEGATIVE', 'POSITIVE']);
    expect(top2[0].score + top2[1].score).toBeCloseTo(1, 6);
    // 'text-classification' is the same task
    expect((await (await pipeline('text-classification', join(dir, 'classifier')))('love it'))[0].label).toBe(
      'POSITIVE',
    );
  });

  it("'text-generation' returns [{generated_text}] = prompt + the sampling loop's tokens", async () => {
    const generate = await pipeline('text-generation', join(dir, 'lm'));
    const out = await generate('one two', { maxNewTokens: 6 });
    expect(out).toHaveLength(1);
    expect(out[0].generated_text).toBe('one two three four five six one two');
    const direct = await generateTokens(generate.model, (await tokenizer.encode('three')).ids, {
      sequenceLength: T,
      maxNewTokens: 5,
      topK: 3,
      seed: 5,
    });
    const sampled = await generate('three', { maxNewTokens: 5, doSample: true, topK: 3, seed: 5 });
    expect(sampled[0].generated_text).toBe(`three${await tokenizer.decode(direct, { skipSpecialTokens: true })}`);
    const pieces: string[] = [];
    const streamed = await generate('four', { maxNewTokens: 3, onText: (s) => void pieces.push(s) });
    expect(`four${pieces.join('')}`).toBe(streamed[0].generated_text);
  });

  it('rejects the wrong task, a foreign tokenizer, empty text and translation with clear errors', async () => {
    await expect(pipeline('text-generation', join(dir, 'classifier'))).rejects.toThrow(
      /holds a 'text-classification' model; this task needs a 'text-generation' model/,
    );
    await expect(pipeline('translation', join(dir, 'lm'))).rejects.toThrow(/not yet/);
    await expect(pipeline('summarization' as never, join(dir, 'lm'))).rejects.toThrow(/unknown task 'summarization'/);
    await expect(pipeline('text-generation', join(dir, 'nowhere'))).rejects.toThrow(/no model folder/);
    const classify = await pipeline('sentiment-analysis', join(dir, 'classifier'));
    await expect(classify('')).rejects.toThrow(/has no tokens/);
    await expect(classify(42 as never)).rejects.toThrow(/expected a string/);
    // a bigger vocabulary than the model's embedding
    const foreign = join(dir, 'foreign');
    cpSync(join(dir, 'classifier'), foreign, { recursive: true });
    const big = await trainTokenizer('bpe', [...GOOD, ...BAD, CYCLE, 'many more different words here'], {
      vocabSize: 400,
    });
    expect(big.vocabSize).toBeGreaterThan(tokenizer.vocabSize);
    big.save(join(foreign, 'tokenizer.json'));
    await expect(pipeline('sentiment-analysis', foreign)).rejects.toThrow(/another vocabulary/);
  });
});
