/** TextVectorization (Keras semantics, hand-computed vocabularies and outputs) and the text dataset helpers. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { Dataset } from '../../src/data/index.js';
import {
  TextVectorization,
  bucketByLength,
  csvColumns,
  jsonLines,
  padSequences,
  textLines,
} from '../../src/text/index.js';

const dir = mkdtempSync(join(tmpdir(), 'lepton-textdata-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CORPUS = ['The cat sat.', 'The cat ran!', 'A dog ran, the END', "It's the cat's toy"];

describe('TextVectorization', () => {
  it("'int': lowercases, strips punctuation, orders by frequency, pads and truncates", async () => {
    const v = await new TextVectorization({ maxTokens: 6 }).adapt(CORPUS);
    // counts: the 4, cat 2, ran 2, then a/cats/dog/end/its/sat/toy 1 (ties in code-unit order).
    expect(v.getVocabulary()).toEqual(['', '[UNK]', 'the', 'cat', 'ran', 'a']);
    const ids = v.apply(['the cat ate', 'A DOG!']);
    expect(ids.dtype).toBe('int32');
    expect(ids.toArray()).toEqual([
      [2, 3, 1],
      [5, 1, 0],
    ]);
    const fixed = new TextVectorization({ vocabulary: ['the', 'cat'], outputSequenceLength: 2 });
    expect(fixed.apply(['the cat the', '']).toArray()).toEqual([
      [2, 3],
      [0, 0],
    ]);
  });

  it("'multi_hot', 'count' and 'tf_idf' (Keras idf: log(1 + docs / (1 + df)), OOV column = mean idf)", async () => {
    const multi = await new TextVectorization({ outputMode: 'multi_hot', maxTokens: 4 }).adapt(CORPUS);
    expect(multi.getVocabulary()).toEqual(['[UNK]', 'the', 'cat', 'ran']);
    expect(multi.apply(['the the cat zebra']).toArray()).toEqual([[1, 1, 1, 0]]);
    const count = new TextVectorization({
      outputMode: 'count',
      vocabulary: ['the', 'cat', 'ran'],
      maxTokens: 6,
      padToMaxTokens: true,
    });
    expect(count.apply(['the the cat zebra quux']).toArray()).toEqual([[2, 2, 1, 0, 0, 0]]);
    const tfidf = await new TextVectorization({ outputMode: 'tf_idf', maxTokens: 4 }).adapt(CORPUS);
    const idf = [4, 2, 2].map((df) => Math.log(1 + 4 / (1 + df))); // the, cat, ran
    const oov = idf.reduce((a, b) => a + b, 0) / 3;
    const row = tfidf.apply(['the the cat zebra']).toArray() as number[][];
    [oov, 2 * idf[0], idf[1], 0].forEach((e, i) => expect(row[0][i]).toBeCloseTo(e, 6));
    const again = TextVectorization.fromConfig(JSON.parse(JSON.stringify(tfidf.getConfig())));
    expect(again.apply(['the the cat zebra']).toArray()).toEqual(row);
  });

  it('other standardize/split choices, n-grams, and errors', () => {
    const chars = new TextVectorization({ standardize: null, split: 'character', vocabulary: ['a', 'B'] });
    expect(chars.apply(['aBc']).toArray()).toEqual([[2, 3, 1]]);
    expect(new TextVectorization({ ngrams: 2 }).tokenize('New York city')).toEqual([
      'new',
      'york',
      'city',
      'new york',
      'york city',
    ]);
    expect(new TextVectorization({ standardize: 'lower' }).tokenize('Hi, There')).toEqual(['hi,', 'there']);
    expect(() => new TextVectorization({ outputMode: 'bag' as 'int' })).toThrow(/outputMode must be/);
    expect(() => new TextVectorization({ maxTokens: 2 })).toThrow(/maxTokens must be an integer above 2/);
    expect(() => new TextVectorization({ outputMode: 'count', outputSequenceLength: 4 })).toThrow(
      /needs outputMode 'int'/,
    );
    expect(() => new TextVectorization({ outputMode: 'count' }).apply(['x'])).toThrow(/no vocabulary yet/);
    expect(() => new TextVectorization().apply(['ok', 3 as unknown as string])).toThrow(
      /expected a string, got number \(item 1\)/,
    );
    expect(() => new TextVectorization({ vocabulary: ['a', 'a'] })).toThrow(/token 'a' is repeated/);
    expect(() => new TextVectorization({ outputMode: 'tf_idf', vocabulary: ['a'] })).toThrow(
      /one idf weight per token/,
    );
  });
});

describe('text datasets', () => {
  it('reads lines (plain and gzipped), JSON Lines and CSV columns', async () => {
    const txt = join(dir, 'a.txt');
    writeFileSync(txt, 'first line\r\n\nsecond 😀\nthird');
    expect(await textLines(txt).toArray()).toEqual(['first line', 'second 😀', 'third']);
    expect((await textLines(txt, { keepEmpty: true }).toArray()).length).toBe(4);
    const gz = join(dir, 'a.txt.gz');
    writeFileSync(gz, gzipSync('x\ny\n'));
    expect(await textLines(gz).toArray()).toEqual(['x', 'y']);

    const jl = join(dir, 'a.jsonl');
    writeFileSync(jl, '{"text": "hi", "label": 1}\n\n{"text": "yo", "label": 0}\n');
    expect(await jsonLines(jl).toArray()).toEqual([
      { text: 'hi', label: 1 },
      { text: 'yo', label: 0 },
    ]);
    writeFileSync(jl, '{"text": "hi"}\n{broken\n');
    await expect(jsonLines(jl).toArray()).rejects.toThrow(/line 2 of .* is not JSON/);

    const csv = join(dir, 'a.csv');
    writeFileSync(csv, 'id,text,label\n1,"hello, world",pos\n2,"say ""hi""",neg\n');
    expect(await (await csvColumns(csv, ['text', 'label'])).toArray()).toEqual([
      { text: 'hello, world', label: 'pos' },
      { text: 'say "hi"', label: 'neg' },
    ]);
    await expect(csvColumns(csv, ['body'])).rejects.toThrow(/no column 'body' .* \(columns: id, text, label\)/);
    expect(() => textLines(join(dir, 'missing.txt'))).toThrow(/no file at/);
  });

  it('buckets by length: bounded pad lengths, every element once, and pads sequences', async () => {
    const seqs = [3, 9, 1, 4, 12, 2, 7, 5, 8, 3].map((n, i) => Array.from({ length: n }, (_, k) => i * 100 + k + 1));
    const buckets = await bucketByLength(Dataset.fromArray(seqs), {
      length: (s) => s.length,
      boundaries: [4, 8],
      batchSize: [2, 2, 3],
      maxLength: 16,
    }).toArray();
    expect(buckets.flatMap((b) => b.items).sort()).toEqual([...seqs].sort());
    for (const b of buckets) {
      expect([4, 8, 16]).toContain(b.length);
      for (const s of b.items) expect(s.length).toBeLessThanOrEqual(b.length);
      expect(b.items.length).toBeLessThanOrEqual(b.length === 16 ? 3 : 2);
    }
    expect(buckets[0]).toEqual({ items: [seqs[0], seqs[2]], length: 4 });
    const padded = padSequences(buckets[0].items, { length: buckets[0].length });
    expect(padded.toArray()).toEqual([
      [1, 2, 3, 0],
      [201, 0, 0, 0],
    ]);
    expect(padSequences([[1, 2, 3]], { length: 2, truncating: 'pre', padding: 'pre' }).toArray()).toEqual([[2, 3]]);
    expect(padSequences([[1]], { length: 3, padding: 'pre' }).toArray()).toEqual([[0, 0, 1]]);
    await expect(
      bucketByLength(Dataset.fromArray(seqs), {
        length: (s) => s.length,
        boundaries: [4],
        batchSize: 2,
        maxLength: 8,
      }).toArray(),
    ).rejects.toThrow(/length 9 exceeds maxLength 8/);
    expect(() =>
      bucketByLength(Dataset.fromArray(seqs), { length: (s) => s.length, boundaries: [8, 4], batchSize: 2 }),
    ).toThrow(/increasing positive integers/);
  });
});
