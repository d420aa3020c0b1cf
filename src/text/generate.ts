/**
 * Decoding for sequence-to-sequence models: greedy search and beam search with a length penalty,
 * written against one small interface (`NextTokenScorer`: next-token log-probabilities for a set of
 * hypotheses), plus `seq2seqScorer`, which serves that interface from a Seq2SeqTransformer through
 * compiled graphs (encoder once per batch; decoder on the hypotheses' prefixes).
 *
 * Prefixes are recomputed at every step (no key/value cache): a compiled function has no state that
 * stays in the ONNX Runtime worker between calls, so a cache would cross threads at every step —
 * layers × 2 × hypotheses × steps × modelDim floats, more than recomputing the prefix costs for
 * verse-length outputs. Prefix lengths are padded to a few bucket lengths (causal attention makes
 * padding after the last real token invisible), so the number of compiled graphs stays bounded.
 */
import { type Tensor, compile, gather, logSoftmax, mul, sum, tensor } from '../index.js';
import { type Seq2SeqTransformer, paddingMask } from './seq2seq.js';

/** What the searches need from a model. */
export interface NextTokenScorer {
  /** Size of the output vocabulary. */
  readonly vocabSize: number;
  /**
   * Log-probabilities of the next token, [hypotheses × vocabSize] row-major, for hypotheses given
   * as (row of the batch being decoded, token ids so far — `<s>` first).
   */
  logProbs(rows: readonly number[], prefixes: readonly (readonly number[])[]): Promise<Float32Array>;
}

export interface SearchOptions {
  /** Start token (`<s>`). */
  bos: number;
  /** End token (`</s>`): a hypothesis ends when it emits it (it is not part of the output). */
  eos: number;
  /** Most tokens generated per row (end token excluded). */
  maxLength: number;
}

export interface BeamSearchOptions extends SearchOptions {
  /** Hypotheses kept per row (default 4). */
  beamWidth?: number;
  /**
   * α of the length penalty: a finished hypothesis scores logP / lp(|y|) with GNMT's
   * lp = ((5 + |y|) / 6)^α (|y| counting the end token); 0 ranks by raw log-probability (default 0.6).
   */
  lengthPenalty?: number;
}

function checkSearch(who: string, count: number, o: SearchOptions): void {
  if (!Number.isInteger(count) || count < 0)
    throw new Error(`${who}: row count must be a non-negative integer, got ${count}`);
  for (const k of ['bos', 'eos', 'maxLength'] as const)
    if (!Number.isInteger(o?.[k]) || o[k] < 0)
      throw new Error(`${who}: ${k} must be a non-negative integer, got ${o?.[k]}`);
}

/** Index of the largest of n values at `offset` (first one on ties). */
function argmaxAt(v: Float32Array, offset: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (v[offset + j] > v[offset + best]) best = j;
  return best;
}

/** Greedy search: the most probable token at each step. Returns the token ids of each row. */
export async function greedySearch(
  scorer: NextTokenScorer,
  count: number,
  options: SearchOptions,
): Promise<number[][]> {
  checkSearch('greedySearch', count, options);
  const out: number[][] = Array.from({ length: count }, () => []);
  let live = Array.from({ length: count }, (_, i) => i);
  for (let step = 0; step < options.maxLength && live.length > 0; step++) {
    const lp = await scorer.logProbs(
      live,
      live.map((r) => [options.bos, ...out[r]]),
    );
    const next: number[] = [];
    live.forEach((r, i) => {
      const token = argmaxAt(lp, i * scorer.vocabSize, scorer.vocabSize);
      if (token === options.eos) return;
      out[r].push(token);
      next.push(r);
    });
    live = next;
  }
  return out;
}

/** GNMT length penalty ((5 + length) / 6)^α. */
export function lengthPenalty(length: number, alpha: number): number {
  return ((5 + length) / 6) ** alpha;
}

interface Hypothesis {
  tokens: number[];
  logProb: number;
}

/**
 * Beam search: keeps the `beamWidth` most probable prefixes of each row; a prefix that emits the
 * end token is finished and scored logP / lp(length). A row stops when it has `beamWidth`
 * finished hypotheses and no live prefix can beat the best of them, or at maxLength (live prefixes
 * then count as finished). Returns the best hypothesis of each row. Beam width 1 is greedy search.
 */
export async function beamSearch(
  scorer: NextTokenScorer,
  count: number,
  options: BeamSearchOptions,
): Promise<number[][]> {
  checkSearch('beamSearch', count, options);
  const k = options.beamWidth ?? 4;
  const alpha = options.lengthPenalty ?? 0.6;
  if (!Number.isInteger(k) || k < 1) throw new Error(`beamSearch: beamWidth must be a positive integer, got ${k}`);
  if (!(alpha >= 0)) throw new Error(`beamSearch: lengthPenalty must be ≥ 0, got ${alpha}`);
  const V = scorer.vocabSize;
  const beams: Hypothesis[][] = Array.from({ length: count }, () => [{ tokens: [], logProb: 0 }]);
  const finished: { tokens: number[]; score: number }[][] = Array.from({ length: count }, () => []);
  const done = new Array<boolean>(count).fill(false);
  const score = (h: Hypothesis, ended: boolean) => h.logProb / lengthPenalty(h.tokens.length + (ended ? 1 : 0), alpha);
  for (let step = 0; step < options.maxLength; step++) {
    const rows: number[] = [];
    const prefixes: number[][] = [];
    const owners: [number, Hypothesis][] = [];
    for (let r = 0; r < count; r++) {
      if (done[r]) continue;
      for (const h of beams[r]) {
        rows.push(r);
        prefixes.push([options.bos, ...h.tokens]);
        owners.push([r, h]);
      }
    }
    if (rows.length === 0) break;
    const lp = await scorer.logProbs(rows, prefixes);
    // Candidates per row: the best k of each hypothesis suffice for the best k overall.
    const candidates = new Map<number, { h: Hypothesis; token: number; logProb: number }[]>();
    owners.forEach(([r, h], i) => {
      const base = i * V;
      const top: number[] = [];
      for (let j = 0; j < V; j++) {
        if (top.length < k + 1 || lp[base + j] > lp[base + top[top.length - 1]]) {
          let p = top.length < k + 1 ? top.length : top.length - 1;
          if (top.length < k + 1) top.push(j);
          while (p > 0 && lp[base + j] > lp[base + top[p - 1]]) {
            top[p] = top[p - 1];
            p--;
          }
          top[p] = j;
        }
      }
      let list = candidates.get(r);
      if (!list) candidates.set(r, (list = []));
      for (const j of top) list.push({ h, token: j, logProb: h.logProb + lp[base + j] });
    });
    for (const [r, list] of candidates) {
      // Stable sort: ties keep hypothesis order, then token order (as greedy's first maximum).
      list.sort((a, b) => b.logProb - a.logProb);
      const next: Hypothesis[] = [];
      for (const [rank, c] of list.entries()) {
        if (next.length === k) break;
        if (c.token !== options.eos) next.push({ tokens: [...c.h.tokens, c.token], logProb: c.logProb });
        else if (rank < k)
          finished[r].push({ tokens: c.h.tokens, score: score({ tokens: c.h.tokens, logProb: c.logProb }, true) });
      }
      finished[r].sort((a, b) => b.score - a.score);
      // A live prefix only loses log-probability; with α > 0 its penalty grows at most to lp(maxLength + 1).
      const bound = alpha > 0 ? lengthPenalty(options.maxLength + 1, alpha) : 1;
      const bestLive = Math.max(...next.map((h) => h.logProb / bound));
      const enough = finished[r].length >= k && finished[r][0].score >= bestLive;
      if (next.length === 0 || enough || (k === 1 && finished[r].length > 0)) {
        done[r] = true;
        beams[r] = [];
      } else beams[r] = next;
    }
  }
  return beams.map((live, r) => {
    const all = [...finished[r], ...live.map((h) => ({ tokens: h.tokens, score: score(h, false) }))];
    all.sort((a, b) => b.score - a.score);
    return all[0]?.tokens ?? [];
  });
}

export interface Seq2SeqScorerOptions {
  /** Padded lengths of prefixes (and sources): each is padded to the first bound that holds it. */
  lengthBuckets?: readonly number[];
  /** Pad every source batch to this length (one encoder graph) instead of to its bucket. */
  sourceLength?: number;
  /**
   * Pad the hypothesis count of each step up to this many (one decoder graph per prefix bucket
   * for batches of one size) when it is not larger; default: the next power of two (≥ 8).
   */
  hypotheses?: number;
}

/** The smallest bucket bound ≥ n (the model's maxLength beyond the last bucket). */
function bucketOf(n: number, buckets: readonly number[], max: number): number {
  for (const b of buckets) if (n <= b) return Math.min(b, max);
  return max;
}

const DEFAULT_BUCKETS = [8, 16, 24, 32, 48, 64, 96, 128, 192, 256];

/**
 * A NextTokenScorer over a Seq2SeqTransformer for one batch of source sequences: the sources are
 * encoded once (padded to a bucket length); each call runs the decoder on the hypotheses' prefixes
 * (padded to a bucket length) and returns log-softmax of the logits at each prefix's last token.
 * Make the scorers after training: the graphs read the weights at each call, so they are current,
 * but they are traced per shape — `graphs()` says how many were compiled.
 */
export class Seq2SeqDecoding {
  readonly buckets: readonly number[];
  private readonly sourceLength?: number;
  private readonly hypotheses?: number;
  private readonly encodeFn;
  private readonly stepFn;

  constructor(
    readonly model: Seq2SeqTransformer,
    options: Seq2SeqScorerOptions = {},
  ) {
    this.buckets = options.lengthBuckets ?? DEFAULT_BUCKETS;
    this.sourceLength = options.sourceLength;
    this.hypotheses = options.hypotheses;
    this.encodeFn = compile(function encode(src: Tensor) {
      return model.encode(src);
    });
    this.stepFn = compile(function decodeStep(
      memory: Tensor,
      sourceIds: Tensor,
      rows: Tensor,
      prefixes: Tensor,
      last: Tensor,
    ) {
      const m = gather(memory, rows, 0);
      const mask = paddingMask(gather(sourceIds, rows, 0));
      const h = model.decodeHidden(prefixes, m, mask);
      // The hidden state at each prefix's last token: `last` is one-hot over time [H, T, 1].
      const at = sum(mul(h, last), 1);
      return logSoftmax(model.logits(at), -1);
    });
  }

  /** Number of compiled graphs so far (encoder, decoder step). */
  graphs(): { encoder: number; decoder: number } {
    return { encoder: this.encodeFn.programs.size, decoder: this.stepFn.programs.size };
  }

  /** Encodes a batch of source id sequences and returns a scorer for it. */
  async scorer(sources: readonly (readonly number[])[]): Promise<NextTokenScorer> {
    const max = this.model.config.maxLength;
    const longest = Math.max(1, ...sources.map((s) => s.length));
    if (longest > max)
      throw new Error(`Seq2SeqDecoding: a source of ${longest} tokens exceeds the model's maxLength ${max}`);
    const S =
      this.sourceLength !== undefined && longest <= this.sourceLength
        ? this.sourceLength
        : bucketOf(longest, this.buckets, max);
    const ids = new Int32Array(sources.length * S);
    sources.forEach((s, i) => ids.set(s, i * S));
    const sourceIds = tensor(ids, { shape: [sources.length, S] });
    const memory = await this.encodeFn(sourceIds);
    const V = this.model.config.targetVocabSize;
    const step = this.stepFn;
    const buckets = this.buckets;
    const capacity = this.hypotheses;
    return {
      vocabSize: V,
      async logProbs(rows, prefixes) {
        // Hypothesis counts are padded to a power of two (extra rows decode `<s>` for row 0) so the
        // decoder graphs stay few: one per (source bucket, prefix bucket, padded count).
        const n = rows.length;
        const H =
          capacity !== undefined && n <= capacity ? capacity : Math.max(8, 2 ** Math.ceil(Math.log2(Math.max(1, n))));
        const longestPrefix = Math.max(...prefixes.map((p) => p.length));
        if (longestPrefix > max)
          throw new Error(`Seq2SeqDecoding: a prefix of ${longestPrefix} tokens exceeds the model's maxLength ${max}`);
        const T = bucketOf(longestPrefix, buckets, max);
        const p = new Int32Array(H * T);
        const last = new Float32Array(H * T);
        const allRows = new Int32Array(H);
        allRows.set(rows);
        for (let i = 0; i < H; i++) {
          const q = prefixes[i] ?? prefixes[0].slice(0, 1);
          p.set(q, i * T);
          last[i * T + q.length - 1] = 1;
        }
        const out = await step(
          memory,
          sourceIds,
          tensor(allRows, { shape: [H] }),
          tensor(p, { shape: [H, T] }),
          tensor(last, { shape: [H, T, 1] }),
        );
        return (out.data as Float32Array).subarray(0, n * V);
      },
    };
  }
}
