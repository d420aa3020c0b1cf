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
import { type Tokenizer, generateTokens, pipeline, trainTokenizer } from '../../src/text/index.js';
import { BAD, CYCLE, GOOD, T, trainTinyTextModels } from '../helpers/text-models.js';

const dir = mkdtempSync(join(tmpdir(), 'lepton-pipeline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let tokenizer: Tokenizer;
let classifierLogits: (texts: string[]) => Promise<Float32Array>;

beforeAll(async () => {
  ({ tokenizer, classifierLogits } = await trainTinyTextModels(dir));
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
