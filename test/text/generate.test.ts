/**
 * Greedy and beam search (src/text/generate.ts) on scripted next-token distributions whose best
 * sequences are worked out by hand, beam width 1 against greedy, and a Seq2SeqTransformer that
 * learns to reverse sequences through fit and decodes held-out ones exactly.
 */
import { describe, expect, it } from 'vitest';
import { Adam, setSeed, tensor } from '../../src/index.js';
import {
  type NextTokenScorer,
  Seq2SeqDecoding,
  beamSearch,
  greedySearch,
  lengthPenalty,
} from '../../src/text/generate.js';
import { Seq2SeqTransformer } from '../../src/text/seq2seq.js';

const [PAD, BOS, EOS, A, B] = [0, 1, 2, 3, 4];

/** Next-token probabilities by prefix (after `<s>`): [P(eos), P(a), P(b)]; unknown prefixes end. */
function tableScorer(table: Record<string, [number, number, number]>): NextTokenScorer {
  return {
    vocabSize: 5,
    async logProbs(_rows, prefixes) {
      const out = new Float32Array(prefixes.length * 5).fill(Number.NEGATIVE_INFINITY);
      prefixes.forEach((p, i) => {
        const [e, a, b] = table[p.slice(1).join(',')] ?? [1, 0, 0];
        out.set([Math.log(e), Math.log(a), Math.log(b)], i * 5 + EOS);
      });
      return out;
    },
  };
}

// Greedy takes a (0.6) then a (0.4) then ends: P = 0.24. The best sequence is b, end: P = 0.36.
const table = tableScorer({
  '': [0, 0.6, 0.4],
  [A]: [0.3, 0.4, 0.3],
  [B]: [0.9, 0.05, 0.05],
  [`${A},${A}`]: [1, 0, 0],
  [`${A},${B}`]: [1, 0, 0],
});
const opts = { bos: BOS, eos: EOS, maxLength: 5 };

describe('greedy and beam search', () => {
  it('greedy follows the most probable token; beam search finds the more probable sequence', async () => {
    expect(await greedySearch(table, 1, opts)).toEqual([[A, A]]);
    expect(await beamSearch(table, 1, { ...opts, beamWidth: 2, lengthPenalty: 0 })).toEqual([[B]]);
    expect(await beamSearch(table, 1, { ...opts, beamWidth: 1 })).toEqual([[A, A]]);
  });

  it('the length penalty ((5 + |y|) / 6)^α can prefer the longer hypothesis', async () => {
    expect(lengthPenalty(2, 0.6)).toBeCloseTo((7 / 6) ** 0.6, 12);
    // log 0.36 / (7/6)^α vs log 0.24 / (8/6)^α: a, a wins once α > ln(ln .24 / ln .36) / ln(8/7) ≈ 2.50.
    expect(await beamSearch(table, 1, { ...opts, beamWidth: 2, lengthPenalty: 2 })).toEqual([[B]]);
    expect(await beamSearch(table, 1, { ...opts, beamWidth: 2, lengthPenalty: 3 })).toEqual([[A, A]]);
  });

  it('beam width 1 equals greedy search (pseudo-random distributions, many rows, ties included)', async () => {
    const V = 7;
    const scorer: NextTokenScorer = {
      vocabSize: V,
      async logProbs(rows, prefixes) {
        const out = new Float32Array(rows.length * V);
        prefixes.forEach((p, i) => {
          let h = 2166136261 ^ rows[i];
          for (const t of p) h = Math.imul(h ^ t, 16777619) >>> 0;
          // Coarse values (multiples of 1/4) make ties common; first maximum wins in both searches.
          for (let j = 0; j < V; j++) out[i * V + j] = -(((h >>> (j * 3)) & 7) / 4) - (j === EOS ? 0.3 : 0);
        });
        return out;
      },
    };
    const options = { bos: BOS, eos: EOS, maxLength: 9 };
    const greedy = await greedySearch(scorer, 40, options);
    expect(await beamSearch(scorer, 40, { ...options, beamWidth: 1, lengthPenalty: 0.6 })).toEqual(greedy);
    expect(new Set(greedy.map((g) => g.length)).size).toBeGreaterThan(1); // some end early, some run on
  });

  it('rejects bad options with messages naming them', async () => {
    await expect(beamSearch(table, 1, { ...opts, beamWidth: 0 })).rejects.toThrow(/beamWidth/);
    await expect(greedySearch(table, 1, { ...opts, maxLength: -1 })).rejects.toThrow(/maxLength/);
  });
});

describe('Seq2SeqTransformer', () => {
  it('learns to reverse sequences through fit and decodes held-out ones exactly (greedy, beam 1 and 4)', async () => {
    setSeed(3);
    const [V, L] = [13, 8];
    let seed = 7;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const make = (n: number) =>
      Array.from({ length: n }, () =>
        Array.from({ length: 2 + Math.floor(rnd() * 5) }, () => 3 + Math.floor(rnd() * 10)),
      );
    const pad = (rows: number[][]) => {
      const a = new Int32Array(rows.length * L);
      rows.forEach((r, i) => a.set(r, i * L));
      return tensor(a, { shape: [rows.length, L] });
    };
    const train = make(2048);
    const reversed = (s: number[]) => [...s].reverse();
    const model = new Seq2SeqTransformer({
      sourceVocabSize: V,
      targetVocabSize: V,
      maxLength: L,
      modelDim: 32,
      numHeads: 2,
      intermediateDim: 64,
      encoderLayers: 1,
      decoderLayers: 1,
      dropout: 0,
    });
    model.compile({
      optimizer: new Adam({ learningRate: 3e-3 }),
      loss: { className: 'sparseCategoricalCrossentropy', fromLogits: true, ignoreClass: PAD },
    });
    await model.fit(
      [pad(train), pad(train.map((s) => [BOS, ...reversed(s)]))],
      pad(train.map((s) => [...reversed(s), EOS])),
      { epochs: 10, batchSize: 64, verbose: 0 },
    );
    const test = make(48);
    const decoding = new Seq2SeqDecoding(model);
    const scorer = await decoding.scorer(test);
    const options = { bos: BOS, eos: EOS, maxLength: L - 1 };
    const greedy = await greedySearch(scorer, test.length, options);
    expect(greedy).toEqual(test.map(reversed));
    expect(await beamSearch(scorer, test.length, { ...options, beamWidth: 1 })).toEqual(greedy);
    expect(await beamSearch(scorer, test.length, { ...options, beamWidth: 4 })).toEqual(greedy);
    // One encoder graph (one source bucket); decoder graphs: prefix buckets (here one: 8) × hypothesis
    // counts padded to powers of two (8 … 256 for up to 48 × 4 hypotheses).
    const graphs = decoding.graphs();
    expect(graphs.encoder).toBe(1);
    expect(graphs.decoder).toBeLessThanOrEqual(6);
  }, 120_000);
});
