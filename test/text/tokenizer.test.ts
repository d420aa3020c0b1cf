/**
 * Tokenizers: Lepton-trained tokenizer.json files must load in Hugging Face's own tokenizers (the
 * Rust binding, npm `tokenizers`, and the independent pure-JS Tokenizers.js, npm
 * `@huggingface/tokenizers`) and encode identically; tokenizers trained by Hugging Face must load
 * in Lepton. Offsets, round trips, unicode, padding/truncation and bad input are checked directly.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { Tokenizer as JsTokenizer } from '@huggingface/tokenizers';
import { Tokenizer, trainTokenizer, type TokenizerKind } from '../../src/text/index.js';

const hf = createRequire(import.meta.url)('tokenizers') as typeof import('tokenizers');
const dir = mkdtempSync(join(tmpdir(), 'lepton-tok-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LINES = [
  'In the beginning God created the heaven and the earth.',
  'En el principio creó Dios los cielos y la tierra.',
  "It's 3.5 miles to the city -- isn't it? ¿Verdad? ¡Sí!",
  'Café, naïve, façade, résumé; Ångström and Øresund.',
  '中文分词很难。日本語のテキストも。한국어 문장.',
  'Emoji: 😀 👍🏽 🇪🇸 ❤️ and family 👨‍👩‍👧 in a line.',
  'E-mail me at test@example.com or call 555-1234 now!!!',
  'the quick brown fox jumps over the lazy dog THE QUICK BROWN FOX',
];
// Repeated with variations so that pairs reach the default minimum frequency.
const CORPUS = Array.from(
  { length: 120 },
  (_, i) => `${LINES[i % LINES.length]} ${['alpha', 'beta', 'gamma'][i % 3]} ${i}`,
);
const PROBES = [
  ...LINES,
  'Unseen words: xylophone quizzically zephyr',
  '',
  ' ',
  '  leading and  double  spaces ',
  'Ünïcödé 😀😀 中文 👍🏽',
  '\ttabs\nand newlines\r\n',
];

const trained = new Map<TokenizerKind, Tokenizer>();
async function tokenizerFor(kind: TokenizerKind): Promise<Tokenizer> {
  if (!trained.has(kind)) trained.set(kind, await trainTokenizer(kind, CORPUS, { vocabSize: 400, lowercase: false }));
  return trained.get(kind)!;
}

describe.each(['bpe', 'wordpiece', 'unigram'] as TokenizerKind[])('trainTokenizer %s', (kind) => {
  it('saves a tokenizer.json that Hugging Face (Rust and pure JS) loads and encodes identically', async () => {
    const t = await tokenizerFor(kind);
    expect(t.vocabSize).toBeLessThanOrEqual(400);
    expect(t.vocabSize).toBeGreaterThan(kind === 'bpe' ? 300 : 100); // merges/pieces were learned
    const path = join(dir, `${kind}.json`);
    t.save(path);
    const rust = hf.Tokenizer.fromFile(path);
    const js = new JsTokenizer(t.toJSON(), {});
    for (const s of PROBES) {
      const mine = await t.encode(s);
      const theirs = await rust.encode(s);
      expect(mine.ids, s).toEqual(theirs.getIds());
      expect(mine.tokens, s).toEqual(theirs.getTokens());
      expect(js.encode(s).ids, s).toEqual(mine.ids);
    }
    // The reloaded file is the same tokenizer.
    const again = Tokenizer.load(path);
    expect((await again.encode(LINES[5])).ids).toEqual((await t.encode(LINES[5])).ids);
  });

  it('offsets index the original string', async () => {
    const t = await tokenizerFor(kind);
    for (const s of PROBES) {
      const e = await t.encode(s, null, { addSpecialTokens: false });
      let prevEnd = 0;
      // Tokens whose spans overlap (byte-level pieces of one multi-byte character) decode together.
      for (let i = 0; i < e.ids.length; ) {
        const start = e.offsets[i][0];
        let end = e.offsets[i][1];
        let j = i + 1;
        while (j < e.ids.length && e.offsets[j][0] < end) end = Math.max(end, e.offsets[j++][1]);
        expect(start).toBeGreaterThanOrEqual(prevEnd);
        expect(end).toBeLessThanOrEqual(s.length);
        const span = s.slice(start, end);
        const pieces = e.tokens.slice(i, j);
        if (kind === 'bpe') {
          const text = await t.decode(e.ids.slice(i, j));
          expect(text.trimStart(), `${s} / ${pieces}`).toBe(span.trimStart());
        } else if (kind === 'wordpiece') {
          // BERT's normalizer drops format characters (the zero-width joiners inside emoji sequences).
          if (pieces[0] !== '[UNK]') expect(pieces.join('').replace(/^##/, ''), s).toBe(span.replace(/\p{Cf}/gu, ''));
        } else {
          expect(pieces.join('').replace(/▁/g, ' ').trimStart(), s).toBe(span.normalize('NFKC').trimStart());
        }
        prevEnd = end;
        i = j;
      }
    }
  });

  it('decodes back to the text', async () => {
    const t = await tokenizerFor(kind);
    for (const s of LINES) {
      const e = await t.encode(s);
      const back = await t.decode(e.ids);
      if (kind === 'bpe') expect(back).toBe(s);
      else if (kind === 'unigram') expect(back).toBe(s.normalize('NFKC'));
      // WordPiece decoding joins words with spaces; up to spacing and unknown words it is the text.
      else
        expect(back.replace(/\s+/g, '')).toBe(
          (await t.encode(s)).tokens
            .filter((x) => !x.startsWith('['))
            .join('')
            .replace(/##/g, ''),
        );
    }
    expect(await t.decode([])).toBe('');
  });
});

describe('Tokenizer', () => {
  it('loads tokenizers trained by Hugging Face and encodes as Hugging Face does', async () => {
    const corpusFile = join(dir, 'corpus.txt');
    // Probes are in the corpus too: Hugging Face's WordPiece trainer adds no [UNK], so unseen characters would fail.
    writeFileSync(corpusFile, [...CORPUS, ...PROBES].join('\n'));
    for (const [name, model, pre] of [
      ['bpe', hf.BPE.empty(), hf.byteLevelPreTokenizer(false, true)],
      ['wordpiece', hf.WordPiece.empty(), hf.bertPreTokenizer()],
      ['unigram', hf.Unigram.empty(), hf.metaspacePreTokenizer()],
    ] as const) {
      const theirs = new hf.Tokenizer(model);
      theirs.setPreTokenizer(pre);
      theirs.train([corpusFile]);
      const path = join(dir, `hf-${name}.json`);
      theirs.save(path);
      const mine = Tokenizer.load(path);
      expect(mine.vocabSize).toBe(theirs.getVocabSize(true));
      for (const s of PROBES)
        expect((await mine.encode(s)).ids, `${name}: ${s}`).toEqual((await theirs.encode(s)).getIds());
    }
  });

  it('adds special tokens, pads and truncates batches, and saves those settings', async () => {
    const t = Tokenizer.fromJSON((await tokenizerFor('wordpiece')).toJSON());
    const single = await t.encode('the quick fox');
    expect(single.tokens[0]).toBe('[CLS]');
    expect(single.tokens.at(-1)).toBe('[SEP]');
    expect(single.specialTokensMask[0]).toBe(1);
    expect(single.offsets[0]).toEqual([0, 0]);
    const pair = await t.encode('the fox', 'the dog');
    expect(pair.typeIds).toEqual(pair.tokens.map((_, i) => (i <= pair.tokens.indexOf('[SEP]') ? 0 : 1)));
    expect(pair.sequenceIds.filter((x) => x === 1).length).toBeGreaterThan(0);
    const dogSpan = pair.offsets[pair.tokens.lastIndexOf('dog')];
    expect('the dog'.slice(...dogSpan)).toBe('dog');

    t.enablePadding().enableTruncation({ maxLength: 8 });
    const batch = await t.encodeBatch(['the quick brown fox jumps over the lazy dog', 'the dog', '']);
    expect(batch.map((e) => e.ids.length)).toEqual([8, 8, 8]);
    expect(batch[0].tokens.at(-1)).toBe('[SEP]'); // truncation keeps the special tokens
    expect(batch[1].attentionMask).toEqual([1, 1, 1, 1, 0, 0, 0, 0]);
    expect(batch[1].ids.slice(4)).toEqual([0, 0, 0, 0]); // [PAD] is id 0
    expect(batch[2].tokens.slice(0, 2)).toEqual(['[CLS]', '[SEP]']);
    const path = join(dir, 'padded.json');
    t.save(path);
    const rust = hf.Tokenizer.fromFile(path);
    const theirs = await rust.encodeBatch(['the quick brown fox jumps over the lazy dog', 'the dog', '']);
    expect(theirs.map((e) => e.getIds())).toEqual(batch.map((e) => e.ids));

    t.disableTruncation().enablePadding({ length: 12, direction: 'left' });
    const left = await t.encode('the dog');
    expect(left.ids.length).toBe(12);
    expect(left.attentionMask.slice(0, 8)).toEqual(new Array(8).fill(0));
  });

  it('accepts UTF-8 bytes and rejects what is not text, naming the problem', async () => {
    const t = await tokenizerFor('bpe');
    const s = 'Ünïcödé 😀 中文';
    expect((await t.encode(new TextEncoder().encode(s))).ids).toEqual((await t.encode(s)).ids);
    await expect(t.encode(new Uint8Array([0x61, 0xff, 0xfe]))).rejects.toThrow(/not valid UTF-8/);
    await expect(t.encode('ab\ud800cd')).rejects.toThrow(/lone surrogate \(U\+D800\) at index 2/);
    await expect(t.encode(42 as unknown as string)).rejects.toThrow(/expected a string .* got number/);
    await expect(t.encodeBatch(['ok', null as unknown as string])).rejects.toThrow(/item 1.*got null/);
    await expect(t.decode([0, t.vocabSize])).rejects.toThrow(
      new RegExp(`token id ${t.vocabSize} at position 1 is not in the vocabulary`),
    );
    await expect(t.decode([1.5])).rejects.toThrow(/token id 1.5/);
    expect(() => Tokenizer.fromJSON('{"nope": 1}')).toThrow(/with a 'model' section/);
    expect(() => Tokenizer.fromJSON('not json')).toThrow(/not JSON/);
    expect(() => Tokenizer.fromJSON({ model: { type: 'BPE', vocab: 3 } })).toThrow(
      /not a valid Hugging Face tokenizer.json \(model type 'BPE'\)/,
    );
    expect(() => Tokenizer.load(join(dir, 'missing.json'))).toThrow(/cannot read/);
    expect(() => t.enablePadding({ padToken: '<nothing>' })).toThrow(/'<nothing>' is not in the vocabulary/);
    expect(() => t.enableTruncation({ maxLength: 0 })).toThrow(/maxLength must be a positive integer/);
  });

  it('trainer errors name the problem', async () => {
    await expect(trainTokenizer('bpe', [])).rejects.toThrow(/no words to learn from/);
    await expect(trainTokenizer('bpe', ['ok', 3 as unknown as string])).rejects.toThrow(/corpus item 1 is number/);
    await expect(trainTokenizer('sentencepiece' as TokenizerKind, ['x'])).rejects.toThrow(
      /unknown kind 'sentencepiece'/,
    );
    await expect(trainTokenizer('wordpiece', ['x'], { specialTokens: ['[PAD]'] })).rejects.toThrow(
      /unknown-word special token/,
    );
    await expect(trainTokenizer('bpe', ['x'], { vocabSize: 0 })).rejects.toThrow(
      /vocabSize must be a positive integer/,
    );
  });

  it('trains from an async iterable, honours special tokens and unknown words', async () => {
    async function* lines() {
      for (const l of CORPUS) yield l;
    }
    const t = await trainTokenizer('unigram', lines(), {
      vocabSize: 200,
      specialTokens: ['<pad>', '<unk>', '<s>', '</s>', '<mask>'],
      addBosEos: true,
    });
    expect(t.specialTokens).toEqual(['<pad>', '<unk>', '<s>', '</s>', '<mask>']);
    expect(t.tokenToId('<mask>')).toBe(4);
    const e = await t.encode('the <mask> fox');
    expect(e.tokens).toContain('<mask>');
    expect(e.tokens[0]).toBe('<s>');
    const unk = await t.encode('ЖЖЖ'); // Cyrillic is outside the corpus' alphabet
    expect(unk.ids).toContain(t.tokenToId('<unk>'));
  });
});
