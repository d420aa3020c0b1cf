// CTC against PyTorch's ctc_loss (committed float64 fixtures from scripts/make-ctc-fixtures.py:
// losses for every reduction and gradients with respect to the logits through log_softmax), and
// the decoders against brute-force enumeration of alignments.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { grad, logSoftmax, tensor, type Tensor } from '../../src/index.js';
import { ctcGreedyDecode, ctcLoss, ctcPadded, ctcPrefixBeamSearch } from '../../src/audio/index.js';

interface Case {
  name: string;
  logits: number[];
  shape: [number, number, number];
  targets: number[][];
  inputLengths: number[];
  targetLengths: number[];
  blank: number;
  [key: string]: unknown;
}
const fixtures = JSON.parse(readFileSync(new URL('../fixtures/ctc.json', import.meta.url), 'utf8')) as {
  cases: Case[];
};
const num = (v: unknown): number => (v === 'inf' ? Infinity : v === '-inf' ? -Infinity : (v as number));

function run(c: Case, dtype: 'float32' | 'float64', reduction: 'none' | 'mean' | 'sum', zeroInfinity: boolean) {
  const logits = tensor(c.logits, { shape: c.shape, dtype });
  const loss = (x: Tensor): Tensor =>
    ctcLoss(
      logSoftmax(x, -1),
      tensor(c.targets, { dtype: 'int64' }),
      tensor(c.inputLengths, { dtype: 'int64' }),
      tensor(c.targetLengths, { dtype: 'int64' }),
      { blank: c.blank, reduction, zeroInfinity },
    );
  return { loss, logits };
}

describe('ctcLoss matches torch.nn.functional.ctc_loss', () => {
  for (const c of fixtures.cases) {
    it(`${c.name}: losses (none/mean/sum, zeroInfinity off/on) in float64 and float32`, () => {
      for (const reduction of ['none', 'mean', 'sum'] as const) {
        for (const zeroInfinity of [false, true]) {
          const expected = (c[`${reduction}${zeroInfinity ? '-zeroinf' : ''}`] as unknown[]).map(num);
          for (const dtype of ['float64', 'float32'] as const) {
            const { loss, logits } = run(c, dtype, reduction, zeroInfinity);
            const got = Array.from(loss(logits).data as Float64Array);
            expect(got.length).toBe(expected.length);
            got.forEach((v, i) => {
              if (!Number.isFinite(expected[i]!)) expect(v).toBe(expected[i]);
              else
                expect(Math.abs(v - expected[i]!)).toBeLessThanOrEqual(
                  (dtype === 'float64' ? 1e-10 : 2e-5) * Math.max(1, Math.abs(expected[i]!)),
                );
            });
          }
        }
      }
    });
    it(`${c.name}: gradient with respect to the logits`, () => {
      for (const zeroInfinity of [false, true]) {
        const expected = c[`grad-sum${zeroInfinity ? '-zeroinf' : ''}`] as number[] | undefined;
        if (!expected) continue; // an infinite loss has no gradient to compare
        const { loss, logits } = run(c, 'float64', 'sum', zeroInfinity);
        const g = grad(loss)(logits).data as Float64Array;
        expected.forEach((v, i) => expect(Math.abs(g[i]! - v)).toBeLessThanOrEqual(1e-9));
      }
    });
  }
  it('rejects wrong ranks, dtypes and a blank outside the classes with the shapes in the message', () => {
    const lp = tensor(new Float32Array(2 * 3 * 4), { shape: [2, 3, 4] });
    const tg = tensor([[1], [2]], { dtype: 'int64' });
    const len = tensor([3, 3], { dtype: 'int64' });
    expect(() => ctcLoss(lp, tensor([1, 2], { dtype: 'int64' }), len, len)).toThrow(
      /targets \[batch, maxTargetLength\].*targets \[2\]/,
    );
    expect(() => ctcLoss(lp, tensor([[1], [2]]), len, len)).toThrow(/targets must be int32 or int64, got float32/);
    expect(() => ctcLoss(lp, tg, len, len, { blank: 4 })).toThrow(/blank 4 is not a class index \(0..3\)/);
  });
});

/** −log p(target) by the textbook log-space CTC forward pass (an independent reference). */
function referenceNll(logProbs: number[][], target: number[]): number {
  const lse = (a: number, b: number): number =>
    a === -Infinity ? b : b === -Infinity ? a : Math.max(a, b) + Math.log1p(Math.exp(-Math.abs(a - b)));
  const ext = [0, ...target.flatMap((l) => [l, 0])];
  let alpha = ext.map((_, s) => (s < 2 ? logProbs[0]![ext[s]!]! : -Infinity));
  for (let t = 1; t < logProbs.length; t++) {
    alpha = ext.map((l, s) => {
      let a = alpha[s]!;
      if (s > 0) a = lse(a, alpha[s - 1]!);
      if (s > 1 && l !== 0 && l !== ext[s - 2]) a = lse(a, alpha[s - 2]!);
      return a + logProbs[t]![l]!;
    });
  }
  return -lse(alpha[ext.length - 1]!, alpha[ext.length - 2]!);
}

describe('ctcPadded in float64', () => {
  it('keeps a confident all-blank model trainable where float32 underflows', () => {
    // Blank logit 0, label logits -10, 60 frames, target 1,2,1,2,… (20 labels): the true
    // alignment is ~e^-160 as likely as the all-blank paths, below float32's range.
    const T = 60;
    const frame = [0, -10, -10];
    const logits = tensor(
      Float32Array.from({ length: T * 3 }, (_, i) => frame[i % 3]!),
      { shape: [1, T, 3] },
    );
    const target = Array.from({ length: 20 }, (_, i) => 1 + (i % 2));
    const y = tensor([target], { dtype: 'int64' });
    const norm = Math.log(1 + 2 * Math.exp(-10));
    const expected = referenceNll(
      Array.from({ length: T }, () => frame.map((v) => v - norm)),
      target,
    );
    const f64 = ctcPadded({ dtype: 'float64' })(y, logits);
    expect(f64.dtype).toBe('float32');
    expect((f64.data as Float32Array)[0]).toBeCloseTo(expected, 3);
    // In float32 the alignment's probability underflows: the example counts as impossible (0).
    expect((ctcPadded()(y, logits).data as Float32Array)[0]).toBe(0);
  });
});

describe('CTC decoding', () => {
  /** Collapses an alignment: merge repeats, drop blanks. */
  const collapse = (path: number[], blank: number): string =>
    path.filter((c, i) => c !== blank && c !== path[i - 1]).join(',');
  /** Exact label-sequence probabilities by enumerating every alignment (the independent reference). */
  function bruteForce(lp: number[][], blank: number): Map<string, number> {
    const C = lp[0]!.length;
    const out = new Map<string, number>();
    const walk = (t: number, path: number[], logp: number): void => {
      if (t === lp.length) {
        const k = collapse(path, blank);
        out.set(k, (out.get(k) ?? 0) + Math.exp(logp));
        return;
      }
      for (let c = 0; c < C; c++) walk(t + 1, [...path, c], logp + lp[t]![c]!);
    };
    walk(0, [], 0);
    return out;
  }
  const frames = (T: number, C: number, seed: number): number[][] =>
    Array.from({ length: T }, (_, t) => {
      const z = Array.from({ length: C }, (_, c) => 2 * Math.sin(seed * 7.1 + t * 3.3 + c * 1.7));
      const m = Math.log(z.reduce((s, v) => s + Math.exp(v), 0));
      return z.map((v) => v - m);
    });

  it('greedy decoding collapses repeats and removes blanks', () => {
    const onehot = (ids: number[]) => ids.map((i) => [0, 1, 2, 3].map((c) => (c === i ? 0 : -5)));
    expect(ctcGreedyDecode(onehot([0, 1, 1, 0, 1, 2, 2, 3, 0]))).toEqual([1, 1, 2, 3]);
    expect(ctcGreedyDecode(onehot([3, 3, 1]), 3)).toEqual([1]);
  });
  it('prefix beam search with a wide beam gives the exact label-sequence probabilities', () => {
    for (const seed of [1, 2, 3]) {
      const lp = frames(5, 3, seed);
      const exact = bruteForce(lp, 0);
      const beam = ctcPrefixBeamSearch(lp, { beamWidth: 1000 });
      for (const h of beam) expect(Math.exp(h.logProb)).toBeCloseTo(exact.get(h.labels.join(','))!, 12);
      const best = [...exact.entries()].sort((a, b) => b[1] - a[1])[0]!;
      expect(beam[0]!.labels.join(',')).toBe(best[0]);
    }
  });
  it('a scorer biases the search toward a hotword', () => {
    const lp = frames(5, 3, 2);
    const plain = ctcPrefixBeamSearch(lp, { beamWidth: 50 })[0]!.labels;
    const target = plain.join(',') === '2' ? 1 : 2;
    const biased = ctcPrefixBeamSearch(lp, { beamWidth: 50, score: (_p, label) => (label === target ? 5 : 0) })[0]!
      .labels;
    expect(biased).toContain(target);
  });
});
