/**
 * BLEU, chrF and chrF++ against figures computed by sacreBLEU 2.6.0 itself
 * (`../shared/fixtures/sacrebleu-cases.json`, resolved from the repository root; a copy of that
 * file is committed as test/fixtures/sacrebleu-cases.json so a clone without ../shared still
 * checks them), plus hand-computed cases of the tokenizer and the smoothing methods.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { corpusBleu, corpusChrf, sentenceBleu, sentenceChrf, tokenize13a } from '../../src/text/metrics.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const candidates = [
  resolve(root, '../shared/fixtures/sacrebleu-cases.json'),
  resolve(root, 'test/fixtures/sacrebleu-cases.json'),
];
const fixturePath = candidates.find((p) => existsSync(p));

interface Case {
  hyps: string[];
  refs: string[][];
  bleu: number;
  bleu_precisions: number[];
  bp: number;
  sys_len: number;
  ref_len: number;
  bleu_lowercase: number;
  chrf: number;
  chrfpp: number;
  sentence_bleu: number[];
}

describe.skipIf(!fixturePath)('sacreBLEU 2.6.0 fixtures', () => {
  if (!fixturePath) {
    console.warn(`sacreBLEU fixtures skipped: none of ${candidates.join(', ')} exists`);
    return;
  }
  const data = JSON.parse(readFileSync(fixturePath, 'utf8')) as { signatures: Record<string, string>; cases: Case[] };
  const close = (a: number, b: number, what: string) =>
    expect(Math.abs(a - b), `${what}: ${a} vs ${b}`).toBeLessThanOrEqual(1e-9);

  it(`has cases (${fixturePath})`, () => expect(data.cases.length).toBeGreaterThan(10));

  it.each(data.cases.map((c, i) => [i, c] as const))('case %i: corpus BLEU, statistics, lowercased BLEU', (i, c) => {
    const b = corpusBleu(c.hyps, c.refs);
    close(b.score, c.bleu, `bleu ${i}`);
    b.precisions.forEach((p, n) => close(p, c.bleu_precisions[n], `precision ${n + 1}`));
    close(b.bp, c.bp, 'bp');
    expect([b.sysLen, b.refLen]).toEqual([c.sys_len, c.ref_len]);
    close(corpusBleu(c.hyps, c.refs, { lowercase: true }).score, c.bleu_lowercase, 'lowercase bleu');
  });

  it.each(data.cases.map((c, i) => [i, c] as const))('case %i: chrF, chrF++ and sentence BLEU', (i, c) => {
    close(corpusChrf(c.hyps, c.refs).score, c.chrf, `chrf ${i}`);
    close(corpusChrf(c.hyps, c.refs, { wordOrder: 2 }).score, c.chrfpp, `chrf++ ${i}`);
    c.hyps.forEach((h, k) =>
      close(
        sentenceBleu(
          h,
          c.refs.map((r) => r[k]),
        ).score,
        c.sentence_bleu[k],
        `sentence bleu ${k}`,
      ),
    );
  });

  it('signatures read as sacreBLEU writes them', () => {
    const one = data.cases.find((c) => c.refs.length === 1)!;
    expect(corpusBleu(one.hyps, one.refs).signature).toBe(data.signatures.bleu);
    expect(corpusChrf(one.hyps, one.refs).signature).toBe(data.signatures.chrf);
    expect(corpusChrf(one.hyps, one.refs, { wordOrder: 2 }).signature).toBe(data.signatures.chrfpp);
  });
});

describe('tokenize13a', () => {
  it('splits as mteval-v13a (hand-checked cases)', () => {
    expect(tokenize13a("It's 3.5 miles to the city -- isn't it?")).toBe("It's 3.5 miles to the city -- isn't it ?"); // ' and - are not symbols
    expect(tokenize13a('The U.S.A. (and Canada) signed in 1999/2000, 1,000 times.')).toBe(
      'The U . S . A . ( and Canada ) signed in 1999 / 2000 , 1,000 times .',
    );
    expect(tokenize13a('call 555-1234 &amp; &quot;x&quot; &lt;y&gt;')).toBe('call 555 - 1234 & " x " < y >');
    expect(tokenize13a('line-\nbreak\nnext <skipped>')).toBe('linebreak next');
    expect(tokenize13a('  «Sea la luz», ¡y fue! 😀.  ')).toBe('«Sea la luz» , ¡y fue ! 😀 .');
    expect(tokenize13a('')).toBe('');
    // Python's whitespace, not JavaScript's: \x1f separates, \ufeff does not.
    expect(tokenize13a('a\x1fb\ufeffc')).toBe('a b\ufeffc');
  });
});

describe('BLEU by hand', () => {
  // hyp "the cat sat" vs ref "the cat sat down": unigrams 3/3, bigrams 2/2, trigrams 1/1, 4-grams 0/0.
  it('a short hypothesis: brevity penalty, effective order and smoothing', () => {
    const bp = Math.exp(1 - 4 / 3);
    const corpus = corpusBleu(['the cat sat'], [['the cat sat down']]);
    // total 4-grams is 0: the loop stops, precision 4 stays 0 and the (non-effective) mean is ~-inf.
    expect(corpus.score).toBe(0 * bp + bp * Math.exp((3 * Math.log(100) - 9999999999) / 4));
    expect(corpus.bp).toBeCloseTo(bp, 15);
    const sentence = sentenceBleu('the cat sat', ['the cat sat down']);
    expect(sentence.score).toBeCloseTo(100 * bp, 12);
    expect(sentence.signature).toBe('nrefs:1|case:mixed|eff:yes|tok:13a|smooth:exp|version:2.6.0');
  });

  it('exp, floor, add-k and none smoothing of a zero precision', () => {
    // hyp "a b c d e" vs ref "a b x d e": 1-grams 4/5, 2-grams 2/4, 3-grams 0/3, 4-grams 0/2.
    const [h, r] = ['a b c d e', 'a b x d e'];
    const geo = (ps: number[]) => Math.exp(ps.reduce((s, p) => s + Math.log(p), 0) / ps.length);
    expect(sentenceBleu(h, [r]).score).toBeCloseTo(geo([80, 50, 100 / (2 * 3), 100 / (4 * 2)]), 10);
    expect(sentenceBleu(h, [r], { smoothMethod: 'floor' }).score).toBeCloseTo(geo([80, 50, 10 / 3, 10 / 2]), 10);
    expect(sentenceBleu(h, [r], { smoothMethod: 'add-k' }).score).toBeCloseTo(geo([80, 300 / 5, 100 / 4, 100 / 3]), 10);
    expect(sentenceBleu(h, [r], { smoothMethod: 'none' }).score).toBeLessThan(1e-100);
    expect(sentenceBleu(h, [r], { smoothMethod: 'floor', smoothValue: 0.5 }).signature).toContain('smooth:floor[0.50]');
    expect(corpusBleu([h], [[r]]).format()).toMatch(
      /^BLEU = \d+\.\d\d 80\.0\/50\.0\/16\.7\/12\.5 \(BP = 1\.000 ratio = 1\.000 hyp_len = 5 ref_len = 5\)$/,
    );
  });

  it('identical text scores 100; the closest reference length wins, ties to the shorter', () => {
    expect(sentenceBleu('a b c d', ['a b c d']).score).toBeCloseTo(100, 12);
    expect(corpusBleu(['a b c'], [['a b'], ['a b c d']]).refLen).toBe(2);
    expect(corpusBleu(['a b c'], [['a b c d e'], [null as unknown as string]]).signature).toContain('nrefs:1');
    expect(
      corpusBleu(
        ['x', 'y'],
        [
          ['x', 'y'],
          ['x', null as unknown as string],
        ],
      ).signature,
    ).toContain('nrefs:var');
  });
});

describe('chrF by hand', () => {
  it('an exact match is 100 and no overlap is 0; whitespace is ignored by default', () => {
    expect(sentenceChrf('abc def', ['abcdef']).score).toBeCloseTo(100, 12);
    expect(sentenceChrf('xyz', ['abc']).score).toBe(0);
    // "ab" vs "abc": char 1-grams P 2/2 R 2/3, 2-grams P 1/1 R 1/2; orders 3..6 lack hypothesis n-grams.
    const [p, r] = [1, (2 / 3 + 1 / 2) / 2];
    expect(sentenceChrf('ab', ['abc']).score).toBeCloseTo((100 * 5 * p * r) / (4 * p + r), 12);
    expect(sentenceChrf('ab', ['abc'], { wordOrder: 2 }).name).toBe('chrF2++');
  });
});

describe('metric input errors', () => {
  it('name the metric and what was expected', () => {
    expect(() => corpusBleu(['a', 'b'], [['a']])).toThrow(
      /corpusBleu: reference stream 0 has 1 segments, but there are 2 hypotheses/,
    );
    expect(() => corpusBleu(['a'], ['a'] as unknown as string[][])).toThrow(
      /corpusBleu: references must be an array of reference streams/,
    );
    expect(() => corpusChrf([3 as unknown as string], [['a']])).toThrow(/corpusChrf: hypothesis 0 is number/);
    expect(() => sentenceBleu('a', [])).toThrow(/sentenceBleu: references must be a non-empty array of strings/);
    expect(() => corpusBleu(['a'], [['a']], { smoothMethod: 'lin' as 'exp' })).toThrow(/unknown smoothMethod 'lin'/);
    expect(() => corpusChrf(['a'], [['a']], { charOrder: 0, wordOrder: 0 })).toThrow(/not both 0/);
  });
});
