/**
 * pipeline('translation'): a small Seq2SeqTransformer saved with its two tokenizers by
 * saveTranslationModel and loaded back translates exactly as the in-memory model decoded by
 * Seq2SeqDecoding (greedy and beam); bad folders and inputs get clear errors.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Seq2SeqDecoding,
  Seq2SeqTransformer,
  type Tokenizer,
  beamSearch,
  greedySearch,
  pipeline,
} from '../../src/text/index.js';
import { tempDir } from '../helpers/temp.js';
import { saveTinyTranslationModel } from '../helpers/text-models.js';

let dir: string;
let model: Seq2SeqTransformer;
let en: Tokenizer;
let es: Tokenizer;
let bos: number;
let eos: number;

beforeAll(async () => {
  ({ dir, model, en, es, bos, eos } = await saveTinyTranslationModel(join(tempDir('lepton-translation-'), 'en-es')));
}, 120_000);

/** The in-memory model's translations, decoded directly. */
async function direct(texts: string[], beams: number, maxLength: number): Promise<string[]> {
  const sources = (await en.encodeBatch(texts)).map((e) => e.ids.filter((id) => id !== 0));
  const scorer = await new Seq2SeqDecoding(model).scorer(sources);
  const opts = { bos, eos, maxLength };
  const ids =
    beams === 1
      ? await greedySearch(scorer, sources.length, opts)
      : await beamSearch(scorer, sources.length, { ...opts, beamWidth: beams, lengthPenalty: 0.6 });
  return (await es.decodeBatch(ids)).map((t) => t.trim());
}

describe("pipeline('translation')", () => {
  it('loads the saved model and tokenizers and translates as the model itself decodes', async () => {
    const translate = await pipeline('translation', dir);
    expect(translate.model).toBeInstanceOf(Seq2SeqTransformer);
    const texts = ['the light', 'in the earth'];
    const greedy = await translate(texts, { maxNewTokens: 8 });
    expect(greedy.map((t) => t.translation_text)).toEqual(await direct(texts, 1, 8));
    const beam = await translate(texts, { numBeams: 3, maxNewTokens: 8 });
    expect(beam.map((t) => t.translation_text)).toEqual(await direct(texts, 3, 8));
    const one = await translate('and there was light', { maxNewTokens: 6 });
    expect(one).toHaveLength(1);
    expect(typeof one[0].translation_text).toBe('string');
  });

  it('rejects other tasks’ folders, empty texts and bad options clearly', async () => {
    const translate = await pipeline('translation', dir);
    await expect(translate('')).rejects.toThrow(/has no tokens/);
    await expect(translate('the light', { numBeams: 0 })).rejects.toThrow(/numBeams must be an integer ≥ 1/);
    await expect(pipeline('text-generation', dir)).rejects.toThrow(
      /holds a 'translation' model; this task needs a 'text-generation' model/,
    );
  });
});
