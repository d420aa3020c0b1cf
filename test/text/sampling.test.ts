/** Temperature, top-k and top-p on hand-made distributions; the generation loop on a stub model whose logits are known. */
import { describe, expect, it } from 'vitest';
import { type Tensor, tensor } from '../../src/engine/index.js';
import {
  argmax,
  drawIndex,
  generateTokens,
  sampleNextToken,
  samplingDistribution,
  softmaxWithTemperature,
  topKFilter,
  topPFilter,
} from '../../src/text/index.js';

const P = [0.1, 0.4, 0.05, 0.3, 0.15]; // sorted: 1 (0.4), 3 (0.3), 4 (0.15), 0 (0.1), 2 (0.05)

describe('sampling filters', () => {
  it('softmax with temperature: T = 1 is the softmax, T → small sharpens, T large flattens', () => {
    const logits = [Math.log(1), Math.log(2), Math.log(5)];
    expect(Array.from(softmaxWithTemperature(logits))).toEqual([0.125, 0.25, 0.625].map((v) => expect.closeTo(v, 12)));
    // T = 2 is the softmax of half the logits: weights 1, √2, √5
    const z = 1 + Math.SQRT2 + Math.sqrt(5);
    const half = softmaxWithTemperature(logits, 2);
    expect(half[2]).toBeCloseTo(Math.sqrt(5) / z, 12);
    expect(softmaxWithTemperature(logits, 0.01)[2]).toBeGreaterThan(0.999999);
    expect(() => softmaxWithTemperature(logits, 0)).toThrow(/temperature must be > 0/);
  });

  it('top-k keeps the k most likely tokens, renormalized', () => {
    expect(Array.from(topKFilter(P, 2))).toEqual([0, 0.4 / 0.7, 0, 0.3 / 0.7, 0].map((v) => expect.closeTo(v, 12)));
    expect(Array.from(topKFilter(P, 0))).toEqual(P);
    expect(Array.from(topKFilter(P, 9))).toEqual(P);
    expect(() => topKFilter(P, 1.5)).toThrow(/k must be an integer/);
  });

  it('top-k = 1 picks the argmax, whatever the random number', () => {
    const logits = [0.3, -1, 2.5, 2.4, 0];
    for (const u of [0, 0.3, 0.999999]) expect(sampleNextToken(logits, { topK: 1, random: () => u })).toBe(2);
    expect(argmax(logits)).toBe(2);
    expect(sampleNextToken(logits, { doSample: false })).toBe(2);
    expect(sampleNextToken(logits, { temperature: 0 })).toBe(2);
  });

  it('top-p keeps the smallest most-likely set whose mass reaches p', () => {
    // 0.4 < 0.5 → also 0.3: mass 0.7 ≥ 0.5
    expect(Array.from(topPFilter(P, 0.5))).toEqual([0, 0.4 / 0.7, 0, 0.3 / 0.7, 0].map((v) => expect.closeTo(v, 12)));
    // exactly reaching p stops there: 0.4 + 0.3 = 0.7
    expect(Array.from(topPFilter(P, 0.7)).filter((v) => v > 0)).toHaveLength(2);
    // 0.85 needs 0.4 + 0.3 + 0.15
    expect(Array.from(topPFilter(P, 0.85))).toEqual(
      [0, 0.4 / 0.85, 0, 0.3 / 0.85, 0.15 / 0.85].map((v) => expect.closeTo(v, 12)),
    );
    expect(Array.from(topPFilter(P, 0.4))).toEqual([0, 1, 0, 0, 0]);
    expect(Array.from(topPFilter(P, 1)).every((v, i) => Math.abs(v - P[i]) < 1e-12)).toBe(true);
    expect(() => topPFilter(P, 0)).toThrow(/p must be in \(0, 1\]/);
  });

  it('applies temperature, then top-k, then top-p', () => {
    const logits = P.map(Math.log);
    // top-k 3 → {0.4, 0.3, 0.15}/0.85; then top-p 0.8 needs 0.4/0.85 + 0.3/0.85 = 0.82 → two tokens
    const d = samplingDistribution(logits, { topK: 3, topP: 0.8 });
    expect(Array.from(d)).toEqual([0, 4 / 7, 0, 3 / 7, 0].map((v) => expect.closeTo(v, 12)));
  });

  it('draws by the cumulative distribution and skips zero-probability tokens', () => {
    const p = [0, 0.25, 0, 0.75];
    expect(drawIndex(p, 0)).toBe(1);
    expect(drawIndex(p, 0.2499)).toBe(1);
    expect(drawIndex(p, 0.25)).toBe(3);
    expect(drawIndex(p, 0.9999999)).toBe(3);
  });

  it('sampled frequencies follow the filtered distribution', () => {
    const counts = [0, 0, 0, 0, 0];
    let s = 0;
    const n = 20000;
    for (let i = 0; i < n; i++)
      counts[sampleNextToken(P.map(Math.log), { topP: 0.85, random: () => ((s = (s + 0.6180339887) % 1), s) })]++;
    // the golden-ratio sequence is equidistributed, so frequencies match to ~1/n
    expect(counts[0] + counts[2]).toBe(0);
    expect(counts[1] / n).toBeCloseTo(0.4 / 0.85, 2);
    expect(counts[4] / n).toBeCloseTo(0.15 / 0.85, 2);
  });
});

describe('generateTokens', () => {
  /** A stub causal LM over a vocabulary of 5: at each position the next token is (last token + 1) mod 5. */
  const stub = {
    seen: [] as number[][],
    async predict(x: Tensor): Promise<Tensor> {
      const [n, t] = x.shape as number[];
      const ids = x.data as Int32Array;
      this.seen.push(Array.from(ids));
      const out = new Float32Array(n * t * 5);
      for (let p = 0; p < n * t; p++) out[p * 5 + ((ids[p] + 1) % 5)] = 10;
      return tensor(out, { shape: [n, t, 5] });
    },
  };

  it('reads the logits after the last real token, slides the window and stops at eos', async () => {
    stub.seen = [];
    const out = await generateTokens(stub, [1, 2], { sequenceLength: 4, maxNewTokens: 3, doSample: false });
    expect(out).toEqual([3, 4, 0]);
    expect(stub.seen[0]).toEqual([1, 2, 0, 0]); // right-padded with 0
    expect(stub.seen[2]).toEqual([1, 2, 3, 4]);
    const streamed: number[] = [];
    const capped = await generateTokens(stub, [1, 2, 3, 4], {
      sequenceLength: 4,
      maxNewTokens: 5,
      eosId: 2,
      doSample: false,
      onToken: (id) => void streamed.push(id),
    });
    expect(capped).toEqual([0, 1, 2]);
    expect(streamed).toEqual(capped);
    expect(stub.seen.at(-1)).toEqual([3, 4, 0, 1]); // the last 4 of 1 2 3 4 0 1
  });

  it('rejects an empty prompt and bad options', async () => {
    await expect(generateTokens(stub, [], { sequenceLength: 4 })).rejects.toThrow(/at least one token/);
    await expect(generateTokens(stub, [1], { sequenceLength: 4, topP: 2 })).rejects.toThrow(/topP must be in/);
  });
});
