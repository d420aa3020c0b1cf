import { describe, expect, it } from 'vitest';
import { type AsrResult, type FeedObservation, editAlignment, partialLatencies } from '../../src/audio/index.js';

/** A result holding `text`'s words; `ends` are their end times (0 when a partial's timings do not matter). */
const result = (text: string, ends: number[] = []): AsrResult => {
  const words = text === '' ? [] : text.split(' ');
  return { text, words: words.map((word, i) => ({ word, start: 0, end: ends[i] ?? 0 })) };
};
/** A feed ending at `fed` s, costing `ms`, with a partial and optional finals. */
const feed = (fed: number, partial: string, finals: AsrResult[] = [], ms = 1): FeedObservation => ({
  fed,
  computeMs: ms,
  finals,
  partial: result(partial),
});
const latencies = (feeds: FeedObservation[], reference?: string) =>
  partialLatencies(feeds, reference).words.map((w) => [w.word, Math.round(w.latencyMs)]);

describe('partialLatencies', () => {
  it('measures from the word end in the final to the first feed holding it, plus that feed’s compute', () => {
    const final = result('you are good', [0.3, 0.5, 0.9]);
    const feeds = [
      feed(0.2, ''),
      feed(0.4, 'you', [], 3),
      feed(0.6, 'you are', [], 5),
      feed(0.8, 'you are go'),
      feed(1.0, 'you are good', [], 7),
      { fed: 1.6, computeMs: 2, finals: [final] },
    ];
    const report = partialLatencies(feeds);
    expect(latencies(feeds)).toEqual([
      ['you', 103], // held from the feed ending at 0.4 s: 100 ms after 0.3 s, plus 3 ms
      ['are', 105],
      ['good', 107], // 'go' at position 2 is not 'good'
    ]);
    expect(report.medianMs).toBeCloseTo(105, 9);
    expect(report).toMatchObject({ finalWords: 3, unmatched: 0, negative: 0 });
  });

  it('counts a word that vanished from a partial from its return', () => {
    const feeds = [
      feed(0.5, 'then'),
      feed(0.7, 'ten'),
      feed(0.9, 'then jesus'),
      { fed: 2, computeMs: 0, finals: [result('then jesus', [0.4, 0.8])] },
    ];
    expect(latencies(feeds)).toEqual([
      ['then', 501],
      ['jesus', 101],
    ]);
  });

  it('does not credit words that a merging partial shifted (where counting words misaligns)', () => {
    // The partial merges "and he" for a while. Counting words would take "andhe" (one word, at
    // 0.4 s) for "and" and "andhe said" (two words, at 0.6 s) for "he": 201 and 101 ms, "he" before
    // it was ever shown. By identity and position, "and", "he" and "said" are first held at 0.8 s.
    const feeds = [
      feed(0.4, 'andhe'),
      feed(0.6, 'andhe said'),
      feed(0.8, 'and he said'),
      { fed: 1.8, computeMs: 0, finals: [result('and he said', [0.2, 0.5, 0.7])] },
    ];
    expect(latencies(feeds, 'and he said')).toEqual([
      ['and', 601],
      ['he', 301],
      ['said', 101],
    ]);
  });

  it('keeps positions per utterance and reads the partial after the finals of the same feed', () => {
    const first = result('you are good', [0.3, 0.5, 0.8]);
    const feeds = [
      feed(0.6, 'you are'),
      feed(0.9, 'you are good'),
      // The first utterance ends in this feed; the partial already belongs to the second.
      feed(1.5, 'he', [first]),
      feed(1.7, 'he spoke'),
      { fed: 2.5, computeMs: 0, finals: [result('he spoke', [1.4, 1.75])] },
    ];
    const report = partialLatencies(feeds);
    expect(report.words.map((w) => [w.word, w.utterance, w.index, Math.round(w.latencyMs)])).toEqual([
      ['you', 0, 0, 301],
      ['are', 0, 1, 101],
      ['good', 0, 2, 101],
      ['he', 1, 0, 101],
      ['spoke', 1, 1, -49], // shown 50 ms before the end the final gives it: kept negative
    ]);
    expect(report.negative).toBe(1);
  });

  it('measures only the words the alignment to the reference matches', () => {
    const final = result('and he sad to them', [0.2, 0.4, 0.6, 0.8, 1.0]);
    const feeds = [feed(1.1, 'and he sad to them'), { fed: 2, computeMs: 0, finals: [final] }];
    const report = partialLatencies(feeds, 'and he said to them');
    expect(report.words.map((w) => w.word)).toEqual(['and', 'he', 'to', 'them']);
    expect(report.unmatched).toBe(1);
    // A model whose words are all wrong measures nothing (null, not a number).
    const none = partialLatencies([{ fed: 1, computeMs: 0, finals: [result('xq zz', [0.2, 0.4])] }], 'you are');
    expect(none).toMatchObject({ words: [], medianMs: null, unmatched: 2 });
  });

  it('rejects feeds whose audio goes backwards', () => {
    expect(() => partialLatencies([feed(1, ''), feed(0.5, '')])).toThrow(/feed 1 reports 0.5 s.*must not decrease/);
  });
});

describe('editAlignment', () => {
  it('aligns words with matches, substitutions, deletions and insertions', () => {
    expect(editAlignment('a b c d'.split(' '), 'a x c d e'.split(' '))).toEqual([
      { op: 'match', ref: 0, hyp: 0 },
      { op: 'substitution', ref: 1, hyp: 1 },
      { op: 'match', ref: 2, hyp: 2 },
      { op: 'match', ref: 3, hyp: 3 },
      { op: 'insertion', hyp: 4 },
    ]);
    expect(editAlignment(['a', 'b'], [])).toEqual([
      { op: 'deletion', ref: 0 },
      { op: 'deletion', ref: 1 },
    ]);
  });
});
