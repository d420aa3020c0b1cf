/**
 * Decoding for sequence-to-sequence models: greedy search and beam search with a length penalty,
 * written against one small interface (`NextTokenScorer`: next-token log-probabilities for a set of
 * hypotheses), plus `seq2seqScorer`, which serves that interface from a Seq2SeqTransformer through
 * compiled graphs (encoder once per batch; decoder on the hypotheses' prefixes).
 *
 * Decoding is incremental: each step runs the decoder on one new position per hypothesis against
 * a key/value cache of the earlier positions (TransformerDecoder.step), and the cache, like the
 * encoder's cross-attention keys and values, stays in the ONNX Runtime worker between steps
 * (engine/resident.ts): a step ships token ids in and log-probabilities out. Graphs are traced with
 * symbolic hypothesis, source and cache lengths, so one encoder graph per source bucket and two
 * step graphs serve every decode. Scorers called with prefixes that do not extend the previous
 * call's by one token (not how the searches here call them) recompute whole prefixes instead.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Tensor, cast, compile, gather, logSoftmax, mul, reshape, sum, tensor, topK } from '../index.js';
import { ResidentFunction, type SessionOptions, type TensorSpec, WorkerScope, toOnnx } from '../engine/index.js';
import { writeFileAtomic } from '../engine/files.js';
import type { HostTensor } from '../engine/onnx/proto.js';
import {
  type AttentionCache,
  type Layer,
  Sequential,
  TokenAndPositionEmbedding,
  TransformerDecoder,
} from '../nn/index.js';
import { type Seq2SeqTransformer, paddingMask } from './seq2seq.js';

/** What the searches need from a model. */
export interface NextTokenScorer {
  /** Size of the output vocabulary (known after the first `logProbs` call at the latest). */
  readonly vocabSize: number;
  /**
   * Log-probabilities of the next token, [hypotheses × vocabSize] row-major, for hypotheses given
   * as (row of the batch being decoded, token ids so far — `<s>` first).
   */
  logProbs(rows: readonly number[], prefixes: readonly (readonly number[])[]): Promise<Float32Array>;
  /**
   * The k most probable next tokens of each hypothesis (k ≤ vocabSize), as `topTokens` picks them
   * from `logProbs`: scorers that compute them where the log-probabilities are (in the graph) ship
   * k candidates per hypothesis instead of the vocabulary. Optional: the searches use it when given.
   */
  topK?(rows: readonly number[], prefixes: readonly (readonly number[])[], k: number): Promise<TopTokens>;
  /** Frees what the scorer holds (its key/value cache); the searches call it when they finish. */
  release?(): Promise<void>;
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

/** The k best next tokens of each of n hypotheses: [n × k] each, best first. */
export interface TopTokens {
  k: number;
  logProbs: Float32Array;
  tokens: Int32Array;
}

/**
 * The k largest of each row of n × V log-probabilities, best first, equal values in token order
 * (as ONNX TopK, which `topK` scorers run in their graphs).
 */
export function topTokens(lp: Float32Array, n: number, V: number, k: number): TopTokens {
  const out: TopTokens = { k, logProbs: new Float32Array(n * k), tokens: new Int32Array(n * k) };
  const top: number[] = [];
  for (let i = 0; i < n; i++) {
    const base = i * V;
    top.length = 0;
    for (let j = 0; j < V; j++) {
      if (top.length < k || lp[base + j] > lp[base + top[top.length - 1]]) {
        let p = top.length < k ? top.length : top.length - 1;
        if (top.length < k) top.push(j);
        while (p > 0 && lp[base + j] > lp[base + top[p - 1]]) {
          top[p] = top[p - 1];
          p--;
        }
        top[p] = j;
      }
    }
    top.forEach((j, r) => {
      out.tokens[i * k + r] = j;
      out.logProbs[i * k + r] = lp[base + j];
    });
  }
  return out;
}

/** The k (at most the vocabulary) best next tokens per hypothesis, from the scorer's topK when it has one. */
async function bestTokens(
  scorer: NextTokenScorer,
  rows: readonly number[],
  prefixes: readonly (readonly number[])[],
  k: number,
): Promise<TopTokens> {
  if (scorer.topK && scorer.vocabSize > 0) return scorer.topK(rows, prefixes, Math.min(k, scorer.vocabSize));
  const lp = await scorer.logProbs(rows, prefixes);
  return topTokens(lp, rows.length, scorer.vocabSize, Math.min(k, scorer.vocabSize));
}

/** Greedy search: the most probable token at each step. Returns the token ids of each row. */
export async function greedySearch(
  scorer: NextTokenScorer,
  count: number,
  options: SearchOptions,
): Promise<number[][]> {
  checkSearch('greedySearch', count, options);
  try {
    return await greedyTokens(scorer, count, options);
  } finally {
    await scorer.release?.();
  }
}

async function greedyTokens(scorer: NextTokenScorer, count: number, options: SearchOptions): Promise<number[][]> {
  const out: number[][] = Array.from({ length: count }, () => []);
  let live = Array.from({ length: count }, (_, i) => i);
  for (let step = 0; step < options.maxLength && live.length > 0; step++) {
    const best = await bestTokens(
      scorer,
      live,
      live.map((r) => [options.bos, ...out[r]]),
      1,
    );
    const next: number[] = [];
    live.forEach((r, i) => {
      const token = best.tokens[i];
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
  try {
    return await beamTokens(scorer, count, options, k, alpha);
  } finally {
    await scorer.release?.();
  }
}

async function beamTokens(
  scorer: NextTokenScorer,
  count: number,
  options: BeamSearchOptions,
  k: number,
  alpha: number,
): Promise<number[][]> {
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
    // Candidates per row: the best k + 1 of each hypothesis suffice for the best k that do not end.
    const top = await bestTokens(scorer, rows, prefixes, k + 1);
    const candidates = new Map<number, { h: Hypothesis; token: number; logProb: number }[]>();
    owners.forEach(([r, h], i) => {
      let list = candidates.get(r);
      if (!list) candidates.set(r, (list = []));
      for (let j = i * top.k; j < (i + 1) * top.k; j++)
        list.push({ h, token: top.tokens[j], logProb: h.logProb + top.logProbs[j] });
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
  /** Padded lengths of sources (and of prefixes when recomputed): each is padded to the first bound that holds it. */
  lengthBuckets?: readonly number[];
  /** Pad every source batch to this length (one encoder graph) instead of to its bucket. */
  sourceLength?: number;
  /**
   * Without the cache only: pad the hypothesis count of each step up to this many (one decoder
   * graph per prefix bucket for batches of one size) when it is not larger; default: the next
   * power of two (≥ 8).
   */
  hypotheses?: number;
  /**
   * Incremental decoding with a key/value cache kept in the worker (default true); false
   * recomputes every prefix at every step (the reference the cached path is tested against).
   */
  cache?: boolean;
  /** ONNX Runtime options of the cached decoding graphs (default DECODING_SESSION: one intra-op thread). */
  session?: SessionOptions;
}

/**
 * Session options of incremental decoding graphs: one intra-op thread. A decoding step is ~100
 * kernels on one position per hypothesis, too small to split; a second thread only adds a wake-up
 * per kernel, which costs most when the machine is busy (docs/PERFORMANCE.md, session 8).
 */
export const DECODING_SESSION: SessionOptions = { intraOpNumThreads: 1 };

/** The smallest bucket bound ≥ n (the model's maxLength beyond the last bucket). */
function bucketOf(n: number, buckets: readonly number[], max: number): number {
  for (const b of buckets) if (n <= b) return Math.min(b, max);
  return max;
}

const DEFAULT_BUCKETS = [8, 16, 24, 32, 48, 64, 96, 128, 192, 256];

const int32 = (values: ArrayLike<number>, shape: number[]) => ({
  dtype: 'int32' as const,
  shape,
  data: Int32Array.from(values),
});

/** The graphs of cached seq2seq decoding for one set of weights, loaded in one worker. */
interface CachedGraphs {
  scope: WorkerScope;
  /** Source ids [N, S] → per decoder layer the cross-attention keys and values. */
  encoders: Map<number, Promise<ResidentFunction>>;
  /** Those keys, values and the source mask for each hypothesis's row. */
  byRows: Promise<ResidentFunction>;
  /** The first position (`<s>` at 0): no cache in, the cache out. */
  first: Promise<ResidentFunction>;
  /** Any later position, against the cache. */
  next: Promise<ResidentFunction>;
}

let nextScorer = 1;

/**
 * Decoding graphs that hold a model's weights as constants (ONNX Runtime pre-packs them), loaded in
 * one worker scope. They are traced again when the model's weight arrays change (training, load);
 * a decode holds the set it started with (`hold`, then the handle's `release`), and an outdated set
 * is unloaded once no decode holds it.
 */
class BakedGraphs<G> {
  private scope?: WorkerScope;
  private current?: { weights: readonly unknown[]; holders: number; graphs: G };

  constructor(
    private readonly model: { readonly weights: readonly { readonly data: unknown }[] },
    private readonly trace: (scope: WorkerScope) => G,
    /** The resident functions of a set (unloaded together). */
    private readonly functions: (graphs: G) => readonly Promise<ResidentFunction>[],
  ) {}

  /** The worker scope the graphs and the decodes' states live in. */
  workerScope(): WorkerScope {
    this.scope ??= new WorkerScope();
    return this.scope;
  }

  /** The loaded set, if any (nothing is traced). */
  loaded(): G | undefined {
    return this.current?.graphs;
  }

  /** The set for the weights as they are now, traced and loaded if they changed. */
  get(): G {
    return this.entry().graphs;
  }

  /** The current set, held by a decode until the handle's release. */
  hold(): { graphs: G; release(): Promise<void> } {
    const e = this.entry();
    e.holders++;
    let held = true;
    return {
      graphs: e.graphs,
      release: async () => {
        if (!held) return;
        held = false;
        if (--e.holders === 0 && e !== this.current) await this.unload(e.graphs);
      },
    };
  }

  /** Unloads the current set and frees the scope; both come back on next use. */
  async release(): Promise<void> {
    const e = this.current;
    const scope = this.scope;
    this.current = undefined;
    this.scope = undefined;
    if (e) await this.unload(e.graphs);
    await scope?.release();
  }

  private entry() {
    const weights = this.model.weights.map((v) => v.data);
    const old = this.current;
    if (old && old.weights.length === weights.length && old.weights.every((w, i) => w === weights[i])) return old;
    this.current = { weights, holders: 0, graphs: this.trace(this.workerScope()) };
    // Outdated graphs go now unless a decode still holds them (its release unloads them).
    if (old && old.holders === 0) void this.unload(old.graphs);
    return this.current;
  }

  /** Unloads a set's sessions, loaded or loading (ones that failed to load are skipped). */
  private async unload(graphs: G): Promise<void> {
    await Promise.all(this.functions(graphs).map(async (p) => (await p.catch(() => undefined))?.release()));
  }
}

/**
 * A NextTokenScorer over a Seq2SeqTransformer for one batch of source sequences: the sources are
 * encoded once (padded to a bucket length); each call returns log-softmax of the logits for the
 * next token of each hypothesis. The cached decoding graphs hold the weights as constants (ONNX
 * Runtime pre-packs them): each decode runs with the weights as they are when it starts, and
 * graphs are traced again after the weights change (training, load) — `graphs()` says how many
 * are loaded.
 */
export class Seq2SeqDecoding {
  readonly buckets: readonly number[];
  private readonly sourceLength?: number;
  private readonly hypotheses?: number;
  private readonly useCache: boolean;
  private readonly session: SessionOptions;
  private readonly encodeFn;
  private readonly stepFn;
  /** The traced functions of cached decoding (run in the worker, or exported). */
  private readonly steps: ReturnType<typeof seq2seqStepFunctions>;
  private readonly baked: BakedGraphs<CachedGraphs>;

  constructor(
    readonly model: Seq2SeqTransformer,
    options: Seq2SeqScorerOptions = {},
  ) {
    this.buckets = options.lengthBuckets ?? DEFAULT_BUCKETS;
    this.sourceLength = options.sourceLength;
    this.hypotheses = options.hypotheses;
    this.useCache = options.cache ?? true;
    this.session = options.session ?? DECODING_SESSION;
    this.steps = seq2seqStepFunctions(model);
    this.baked = new BakedGraphs(
      model,
      (scope) => this.traceCached(scope),
      (c) => [...c.encoders.values(), c.byRows, c.first, c.next],
    );
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

  /** Number of compiled graphs so far (encoder, decoder step; with the cache, its graphs count). */
  graphs(): { encoder: number; decoder: number } {
    const c = this.baked.loaded();
    return {
      encoder: this.encodeFn.programs.size + (c?.encoders.size ?? 0),
      decoder: this.stepFn.programs.size + (c ? 2 : 0),
    };
  }

  /** Frees the worker state and graphs of cached decoding (they are traced again if decoding resumes). */
  async release(): Promise<void> {
    await this.baked.release();
  }

  /** Pads source id sequences to one bucket length: ids [N, S]. */
  private sourceIds(sources: readonly (readonly number[])[]): Tensor {
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
    return tensor(ids, { shape: [sources.length, S] });
  }

  /** Encodes a batch of source id sequences and returns a scorer for it. */
  async scorer(sources: readonly (readonly number[])[]): Promise<NextTokenScorer> {
    const sourceIds = this.sourceIds(sources);
    const recompute = this.recomputingScorer(sourceIds);
    if (!this.useCache) return recompute();
    return this.cachedScorer(sourceIds, recompute);
  }

  /** Scores hypotheses by running the decoder over their whole prefixes (padded to a bucket). */
  private recomputingScorer(sourceIds: Tensor): () => Promise<NextTokenScorer> {
    const max = this.model.config.maxLength;
    const V = this.model.config.targetVocabSize;
    const step = this.stepFn;
    const buckets = this.buckets;
    const capacity = this.hypotheses;
    return async () => {
      const memory = await this.encodeFn(sourceIds);
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
            throw new Error(
              `Seq2SeqDecoding: a prefix of ${longestPrefix} tokens exceeds the model's maxLength ${max}`,
            );
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
    };
  }

  /** The cached decoding graphs for the model's current weights (the encoders are added per source length). */
  private traceCached(scope: WorkerScope): CachedGraphs {
    const f = this.steps;
    const create = (g: { fn: (...args: Tensor[]) => unknown; specs: readonly TensorSpec[] }, context: string) =>
      ResidentFunction.create(scope, g.fn, g.specs, { context, session: this.session, bake: true });
    return {
      scope,
      encoders: new Map(),
      byRows: create(f.byRows, 'Seq2SeqDecoding encoder states by row'),
      first: create(f.hypothesisFirst, 'Seq2SeqDecoding first step'),
      next: create(f.hypothesisNext, 'Seq2SeqDecoding step'),
    };
  }

  private encoderGraph(c: CachedGraphs, S: number): Promise<ResidentFunction> {
    let g = c.encoders.get(S);
    if (!g) {
      const f = this.steps.encoder(S);
      g = ResidentFunction.create(c.scope, f.fn, f.specs, {
        context: 'Seq2SeqDecoding encoder',
        session: this.session,
        bake: true,
      });
      c.encoders.set(S, g);
    }
    return g;
  }

  /**
   * Writes the model as three ONNX files for incremental decoding in any ONNX runtime (e.g.
   * onnxruntime-web), the layout of Hugging Face Optimum's seq2seq exports: `encoder.onnx`
   * (source_ids [n, maxLength], padded with 0 → the cross-attention keys/values of every decoder
   * layer and the source mask), `decoder_first.onnx` (position 0) and `decoder_step.onnx` (any later
   * position, against the self-attention cache the previous call returned, `parents` choosing each
   * hypothesis's cache row). Inputs and outputs are named (`tokens`, `index`, `parents`, `rows`,
   * `past_key_L`/`past_value_L`, `encoder_key_L`/`encoder_value_L`, `encoder_mask`, `log_probs`,
   * `present_key_L`/`present_value_L`); `decoding.json` lists them with the model's sizes.
   * Files are written atomically.
   */
  async exportOnnx(dir: string): Promise<void> {
    const f = this.steps;
    const S = this.model.config.maxLength;
    const L = this.model.decoderBlocks.length;
    const perLayer = (a: string, b: string) => Array.from({ length: L }, (_, l) => [`${a}_${l}`, `${b}_${l}`]).flat();
    const encoderOut = [...perLayer('encoder_key', 'encoder_value'), 'encoder_mask'];
    const present = perLayer('present_key', 'present_value');
    const named = (specs: TensorSpec[], names: string[]) => specs.map((spec, i) => ({ ...spec, name: names[i] }));
    const enc = f.encoder(S);
    const files = {
      'encoder.onnx': await toOnnx(enc.fn, named(enc.specs, ['source_ids']), { outputNames: encoderOut }),
      'decoder_first.onnx': await toOnnx(f.first.fn, named(f.first.specs, ['tokens', 'rows', ...encoderOut]), {
        outputNames: ['log_probs', ...present],
      }),
      'decoder_step.onnx': await toOnnx(
        f.next.fn,
        named(f.next.specs, [
          'tokens',
          'index',
          'parents',
          'rows',
          ...perLayer('past_key', 'past_value'),
          ...encoderOut,
        ]),
        { outputNames: ['log_probs', ...present] },
      ),
    };
    await mkdir(dir, { recursive: true });
    for (const [name, bytes] of Object.entries(files)) await writeFileAtomic(join(dir, name), bytes);
    const { config } = this.model;
    await writeFileAtomic(
      join(dir, 'decoding.json'),
      `${JSON.stringify(
        {
          sourceLength: S,
          maxLength: config.maxLength,
          targetVocabSize: config.targetVocabSize,
          decoderLayers: L,
          numHeads: config.numHeads,
          headDim: config.modelDim / config.numHeads,
          encoderOutputs: encoderOut,
          decoderOutputs: ['log_probs', ...present],
        },
        null,
        2,
      )}\n`,
    );
  }

  /** A scorer whose decoder caches keys and values in the worker (see `incrementalScorer`). */
  private async cachedScorer(sourceIds: Tensor, recompute: () => Promise<NextTokenScorer>): Promise<NextTokenScorer> {
    const S = sourceIds.shape[1] as number;
    // Traced and loaded now, so that the first step is not slower and errors surface here.
    const loaded = this.baked.get();
    await Promise.all([this.encoderGraph(loaded, S), loaded.byRows, loaded.first, loaded.next]);
    const scope = loaded.scope;
    const id = nextScorer++;
    const L = this.model.decoderBlocks.length;
    const encoderState = (prefix: string) => [
      ...Array.from({ length: L }, (_, l) => [`d${id}/${prefix}k${l}`, `d${id}/${prefix}v${l}`]).flat(),
      `d${id}/${prefix}mask`,
    ];
    const encNames = encoderState('e');
    // The encoder's keys, values and mask for each hypothesis's row, picked again when the rows change.
    const hypNames = encoderState('h');
    const cacheNames = Array.from({ length: L }, (_, l) => [`d${id}/k${l}`, `d${id}/v${l}`]).flat();
    const encRefs = encNames.map((n) => scope.ref(n));
    const hypRefs = hypNames.map((n) => scope.ref(n));
    const cacheRefs = cacheNames.map((n) => scope.ref(n));
    // The graphs the running decode holds (those of the weights when it started) and its functions.
    let held: ReturnType<typeof this.baked.hold> | undefined;
    let fns: Record<'encoder' | 'byRows' | 'first' | 'next', ResidentFunction>;
    let hypRows: Int32Array | undefined;
    const pickRows = (rows: HostTensor) => {
      const r = rows.data as Int32Array;
      if (hypRows?.length === r.length && hypRows.every((v, i) => v === r[i])) return;
      hypRows = r;
      // Not awaited here: the worker runs messages in order, so the step sent next reads the result.
      return fns.byRows.call([rows, ...encRefs], hypNames);
    };
    // With k, the log-probabilities stay in the worker and the best k tokens come back.
    const keep = (k?: number) =>
      k ? [null, undefined, undefined, ...cacheNames] : [undefined, null, null, ...cacheNames];
    const width = (k?: number) => int32(new Array(k ?? 1).fill(0), [k ?? 1]);
    const result = (k: number | undefined, out: (HostTensor | undefined)[]): StepOutput =>
      k
        ? { k, logProbs: out[1]!.data as Float32Array, tokens: out[2]!.data as Int32Array }
        : (out[0]!.data as Float32Array);
    const step = async (k: number | undefined, rows: HostTensor, call: () => Promise<(HostTensor | undefined)[]>) => {
      const picked = pickRows(rows);
      const [, out] = await Promise.all([picked, call()]);
      return result(k, out);
    };
    return incrementalScorer({
      vocabSize: this.model.config.targetVocabSize,
      maxLength: this.model.config.maxLength,
      scope,
      names: [...encNames, ...hypNames, ...cacheNames],
      prepare: async () => {
        hypRows = undefined;
        held = this.baked.hold();
        const g = held.graphs;
        const [encoder, byRows, first, next] = await Promise.all([this.encoderGraph(g, S), g.byRows, g.first, g.next]);
        fns = { encoder, byRows, first, next };
        return encoder.call([sourceIds], encNames);
      },
      finish: async () => {
        const h = held;
        held = undefined;
        await h?.release();
      },
      first: (tokens, rows, k) => step(k, rows, () => fns.first.call([tokens, width(k), ...hypRefs], keep(k))),
      next: (tokens, index, parents, rows, k) =>
        step(k, rows, () => fns.next.call([tokens, width(k), index, parents, ...cacheRefs, ...hypRefs], keep(k))),
      topK: true,
      recompute,
    });
  }
}

/**
 * The traced functions of cached seq2seq decoding, with their input specs (symbolic hypothesis
 * count h, cache rows p and length t, source rows n and length s): the encoder for a source length,
 * and two pairs of step functions (the first position, every later one). `first`/`next` take the
 * encoder's keys and values per source row with each hypothesis's `rows` and return
 * log-probabilities: the exported layout. The worker runs `hypothesisFirst`/`hypothesisNext`:
 * they take the encoder's keys, values and mask per hypothesis (picked by `byRows` when the
 * hypotheses' rows change, not at every step) and a `width` input whose length k (its values are
 * unused) sets how many best tokens they return besides the log-probabilities, so a search can
 * fetch k candidates per hypothesis instead of the vocabulary (one graph for every k).
 */
function seq2seqStepFunctions(model: Seq2SeqTransformer) {
  const layers = model.decoderBlocks;
  // The hidden state of one new position [H, 1, D] → log-probabilities [H, V] (as [H, D] rows, so
  // the output projection is one Gemm).
  const logProbs = (h: Tensor) => {
    const rows = reshape(h, [h.shape[0], model.config.modelDim]);
    return logSoftmax(model.logits(model.decoderNorm ? (model.decoderNorm.apply(rows) as Tensor) : rows), -1);
  };
  // Log-probabilities, then the best `width.shape[0]` of them and their tokens.
  const withTop = (lp: Tensor, width: Tensor) => {
    const top = topK(lp, width.shape[0]);
    return [lp, top.values, cast(top.indices, 'int32')];
  };
  // Step inputs after the per-step ones: the encoder's keys and values per layer, then its mask.
  const encoderInputs = (args: Tensor[]) => ({
    encoder: layers.map((_, l) => ({ keys: args[2 * l], values: args[2 * l + 1] })),
    mask: args[2 * layers.length],
  });
  const run = (
    x: Tensor,
    rows: Tensor | undefined,
    enc: { encoder: AttentionCache[]; mask: Tensor },
    caches?: AttentionCache[],
    parents?: Tensor,
  ) => {
    const out: Tensor[] = [];
    let h = x;
    layers.forEach((b, l) => {
      const r = b.step(h, { cache: caches?.[l], parents, encoder: enc.encoder[l], rows, encoderMask: enc.mask });
      h = r.output;
      out.push(r.cache.keys, r.cache.values);
    });
    return { logProbs: logProbs(h), caches: out };
  };
  const { numHeads, modelDim } = model.config;
  const headDim = modelDim / numHeads;
  const kv = (n: string, t: string): TensorSpec => ({ shape: [n, numHeads, t, headDim], dtype: 'float32' });
  const encoderSpecs = (n: string): TensorSpec[] => [
    ...layers.flatMap(() => [kv(n, 's'), kv(n, 's')]),
    { shape: [n, 's'], dtype: 'bool' },
  ];
  const ids: TensorSpec = { shape: ['h', 1], dtype: 'int32' };
  const indices: TensorSpec = { shape: ['h'], dtype: 'int32' };
  const width: TensorSpec = { shape: ['k'], dtype: 'int32' };
  const index: TensorSpec = { shape: [1], dtype: 'int32' };
  const cacheSpecs = layers.flatMap(() => [kv('p', 't'), kv('p', 't')]);
  const cachesOf = (args: Tensor[]) => layers.map((_, l) => ({ keys: args[2 * l], values: args[2 * l + 1] }));
  const embed = (tokens: Tensor, at?: Tensor) =>
    model.targetEmbedding.apply(tokens, at ? { startIndex: at } : {}) as Tensor;
  return {
    encoder: (S: number) => ({
      fn: function encodeForCache(src: Tensor) {
        const memory = model.encode(src);
        return [
          ...layers.flatMap((b) => {
            const e = b.encoderKeysAndValues(memory);
            return [e.keys, e.values];
          }),
          paddingMask(src),
        ];
      },
      specs: [{ shape: ['n', S], dtype: 'int32' }] as TensorSpec[],
    }),
    first: {
      fn: function decodeFirst(tokens: Tensor, rows: Tensor, ...rest: Tensor[]) {
        const r = run(embed(tokens), rows, encoderInputs(rest));
        return [r.logProbs, ...r.caches];
      },
      specs: [ids, indices, ...encoderSpecs('n')],
    },
    next: {
      fn: function decodeNext(tokens: Tensor, at: Tensor, parents: Tensor, rows: Tensor, ...rest: Tensor[]) {
        const enc = encoderInputs(rest.slice(2 * layers.length));
        const r = run(embed(tokens, at), rows, enc, cachesOf(rest), parents);
        return [r.logProbs, ...r.caches];
      },
      specs: [ids, index, indices, indices, ...cacheSpecs, ...encoderSpecs('n')] as TensorSpec[],
    },
    byRows: {
      fn: function encoderByRows(rows: Tensor, ...enc: Tensor[]) {
        return enc.map((t) => gather(t, rows, 0));
      },
      specs: [indices, ...encoderSpecs('n')],
    },
    hypothesisFirst: {
      fn: function decodeFirstTop(tokens: Tensor, k: Tensor, ...rest: Tensor[]) {
        const r = run(embed(tokens), undefined, encoderInputs(rest));
        return [...withTop(r.logProbs, k), ...r.caches];
      },
      specs: [ids, width, ...encoderSpecs('h')],
    },
    hypothesisNext: {
      fn: function decodeNextTop(tokens: Tensor, k: Tensor, at: Tensor, parents: Tensor, ...rest: Tensor[]) {
        const enc = encoderInputs(rest.slice(2 * layers.length));
        const r = run(embed(tokens, at), undefined, enc, cachesOf(rest), parents);
        return [...withTop(r.logProbs, k), ...r.caches];
      },
      specs: [ids, width, index, indices, ...cacheSpecs, ...encoderSpecs('h')] as TensorSpec[],
    },
  };
}

/** Log-probabilities [n × V] of the last position of each row of logits [n, T, V]. */
function lastLogProbs(logits: Float32Array, n: number, T: number, V: number, lengths: readonly number[]): Float32Array {
  const out = new Float32Array(n * V);
  for (let i = 0; i < n; i++) {
    const row = logits.subarray((i * T + lengths[i] - 1) * V, (i * T + lengths[i]) * V);
    let max = Number.NEGATIVE_INFINITY;
    for (const v of row) if (v > max) max = v;
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    const lse = max + Math.log(sum);
    for (let j = 0; j < V; j++) out[i * V + j] = row[j] - lse;
  }
  return out;
}

/** A causal LM as `generateTokens` and `causalLMScorer` run it: ids [N, T] → logits [N, T, V]. */
export interface CausalLM {
  predict(x: Tensor, options?: { verbose?: 0 }): Promise<unknown>;
}

/**
 * A NextTokenScorer that runs a causal LM (ids [n, T] → logits [n, T, V]) on whole prefixes: the
 * last `sequenceLength` tokens of each, right-padded with `padId` (causal attention keeps the
 * padding after the last real token from changing its logits).
 */
export function causalLMScorer(model: CausalLM, sequenceLength: number, padId = 0): NextTokenScorer {
  let vocabSize = 0;
  return {
    get vocabSize() {
      return vocabSize;
    },
    async logProbs(_rows, prefixes) {
      const n = prefixes.length;
      const T = sequenceLength;
      const x = new Int32Array(n * T).fill(padId);
      const lengths = prefixes.map((p, i) => {
        const context = p.slice(-T);
        x.set(context, i * T);
        return context.length;
      });
      const y = await model.predict(tensor(x, { shape: [n, T] }), { verbose: 0 });
      const logits = (Array.isArray(y) ? y[0] : y) as Tensor;
      const V = logits.shape[2];
      if (logits.rank !== 3 || typeof V !== 'number')
        throw new Error(
          `causal LM: the model should return logits [${n}, ${T}, vocabulary], got [${logits.shape.join(', ')}]`,
        );
      vocabSize = V;
      return lastLogProbs(logits.data as Float32Array, n, T, V, lengths);
    },
  };
}

/**
 * Incremental decoding for decoder-only language models built like `causalLanguageModel`: a
 * Sequential of TokenAndPositionEmbedding, TransformerDecoder blocks without cross-attention, and
 * per-position layers after them (a final norm, the Dense head). Scorers keep each layer's
 * keys and values in an inference worker, as Seq2SeqDecoding does; prompts are run through the cache
 * one position at a time, and prefixes longer than the position table fall back to a sliding
 * window over the last `maxLength` tokens (recomputed at each step).
 */
export class CausalLMDecoding {
  readonly maxLength: number;
  readonly vocabSize: number;
  private readonly embedding: TokenAndPositionEmbedding;
  private readonly blocks: TransformerDecoder[];
  private readonly head: Layer[];
  private readonly baked: BakedGraphs<LMGraphs>;

  /** Throws when `model` is not such a language model (CausalLMDecoding.supports says so without throwing). */
  constructor(readonly model: Sequential) {
    const why = CausalLMDecoding.unsupported(model);
    if (why) throw new Error(`CausalLMDecoding: ${why}`);
    const layers = model.layers;
    this.embedding = layers[0] as TokenAndPositionEmbedding;
    const end = layers.findIndex((l, i) => i > 0 && !(l instanceof TransformerDecoder));
    this.blocks = layers.slice(1, end) as TransformerDecoder[];
    this.head = layers.slice(end);
    this.maxLength = this.embedding.sequenceLength;
    const out = model.outputs?.[0]?.shape;
    this.vocabSize = Number(out?.[out.length - 1]);
    this.baked = new BakedGraphs(
      model,
      (scope) => this.traceSteps(scope),
      (g) => [g.first, g.next],
    );
  }

  /** Why `model` cannot be decoded incrementally, or undefined when it can. */
  static unsupported(model: unknown): string | undefined {
    if (!(model instanceof Sequential)) return 'the model is not a Sequential';
    const layers = model.layers;
    if (!(layers[0] instanceof TokenAndPositionEmbedding)) return 'the first layer is not a TokenAndPositionEmbedding';
    const blocks = layers.slice(1).filter((l) => l instanceof TransformerDecoder) as TransformerDecoder[];
    if (blocks.length === 0 || !(layers[1] instanceof TransformerDecoder))
      return 'no TransformerDecoder blocks follow the embedding';
    if (blocks.some((b) => b.crossAttention)) return 'its decoder blocks have cross-attention';
    if (!model.built) return 'the model has no weights yet (call or fit it first)';
    const out = model.outputs?.[0]?.shape;
    if (out?.length !== 3 || typeof out[2] !== 'number') return 'its output is not logits [batch, time, vocabulary]';
    return undefined;
  }

  /** The step graphs for the model's current weights (baked in: see BakedGraphs). */
  private traceSteps(scope: WorkerScope): LMGraphs {
    const { embedding, blocks, head } = this;
    const V = this.vocabSize;
    const run = (x: Tensor, caches?: AttentionCache[], parents?: Tensor) => {
      const out: Tensor[] = [];
      let h = x;
      blocks.forEach((b, l) => {
        const r = b.step(h, { cache: caches?.[l], parents });
        h = r.output;
        out.push(r.cache.keys, r.cache.values);
      });
      for (const layer of head) h = layer.apply(h) as Tensor;
      return [logSoftmax(reshape(h, [x.shape[0], V]), -1), ...out];
    };
    const block = blocks[0];
    const headDim = (embedding.embeddingDim / block.numHeads) | 0;
    const kv = { shape: ['p', block.numHeads, 't', headDim], dtype: 'float32' as const };
    const ids = { shape: ['h', 1], dtype: 'int32' as const };
    const first = ResidentFunction.create(
      scope,
      function lmFirst(tokens: Tensor, _rows: Tensor) {
        return run(embedding.apply(tokens) as Tensor);
      },
      [ids, { shape: ['h'], dtype: 'int32' }],
      { context: 'CausalLMDecoding first step', session: DECODING_SESSION, bake: true },
    );
    const next = ResidentFunction.create(
      scope,
      function lmNext(tokens: Tensor, index: Tensor, parents: Tensor, _rows: Tensor, ...rest: Tensor[]) {
        const caches = blocks.map((_, l) => ({ keys: rest[2 * l], values: rest[2 * l + 1] }));
        return run(embedding.apply(tokens, { startIndex: index }) as Tensor, caches, parents);
      },
      [
        ids,
        { shape: [1], dtype: 'int32' },
        { shape: ['h'], dtype: 'int32' },
        { shape: ['h'], dtype: 'int32' },
        ...blocks.flatMap(() => [kv, kv]),
      ],
      { context: 'CausalLMDecoding step', session: DECODING_SESSION, bake: true },
    );
    return { first, next };
  }

  /**
   * A scorer for hypotheses of this model (row numbers only tell hypotheses apart). Each decode
   * runs with the weights as they are when it starts.
   */
  async scorer(): Promise<NextTokenScorer> {
    // Traced and loaded now, so that the first step is not slower and errors surface here.
    const loaded = this.baked.get();
    await Promise.all([loaded.first, loaded.next]);
    const scope = this.baked.workerScope();
    const id = nextScorer++;
    const names = this.blocks.flatMap((_, l) => [`lm${id}/k${l}`, `lm${id}/v${l}`]);
    const refs = names.map((n) => scope.ref(n));
    const keep = [undefined, ...names];
    const logProbs = (out: (HostTensor | undefined)[]) => out[0]!.data as Float32Array;
    // The graphs the running decode holds (those of the weights when it started).
    let held: ReturnType<typeof this.baked.hold> | undefined;
    let fns: { first: ResidentFunction; next: ResidentFunction };
    return incrementalScorer({
      vocabSize: this.vocabSize,
      maxLength: this.maxLength,
      scope,
      names,
      prepare: async () => {
        held = this.baked.hold();
        const [first, next] = await Promise.all([held.graphs.first, held.graphs.next]);
        fns = { first, next };
      },
      finish: async () => {
        const h = held;
        held = undefined;
        await h?.release();
      },
      first: async (tokens, rows) => logProbs(await fns.first.call([tokens, rows], keep)),
      next: async (tokens, index, parents, rows) =>
        logProbs(await fns.next.call([tokens, index, parents, rows, ...refs], keep)),
      recompute: async () => causalLMScorer(this.model, this.maxLength),
    });
  }

  /** Frees the worker state and graphs; they are traced again if decoding resumes. */
  async release(): Promise<void> {
    await this.baked.release();
  }
}

/** CausalLMDecoding's step graphs for one set of weights (baked in). */
interface LMGraphs {
  first: Promise<ResidentFunction>;
  next: Promise<ResidentFunction>;
}

/** What a step returns: log-probabilities [H × V], or the best k tokens when asked for k. */
type StepOutput = Float32Array | TopTokens;

/** What `incrementalScorer` runs: one position at a time against a cache kept in a WorkerScope. */
interface IncrementalSteps {
  vocabSize: number;
  /** Longest prefix the graphs can take (the position table); longer ones are recomputed. */
  maxLength: number;
  scope: WorkerScope;
  /** The scope's states this scorer owns (deleted on release). */
  names: string[];
  /** Sets up per-scorer state before the first position (e.g. encodes the sources); again after release. */
  prepare?: () => Promise<unknown>;
  /** Called by release after a prepare (the decode is over). */
  finish?: () => Promise<void>;
  /** Position 0: tokens [H, 1], rows [H] → log-probabilities [H × V], or with k the best k (the cache starts). */
  first: (tokens: HostTensor, rows: HostTensor, k?: number) => Promise<StepOutput>;
  /** Position `index` [1]: hypothesis i continues cache row parents[i]. */
  next: (
    tokens: HostTensor,
    index: HostTensor,
    parents: HostTensor,
    rows: HostTensor,
    k?: number,
  ) => Promise<StepOutput>;
  /** Whether first and next take k (else the scorer has no topK). */
  topK?: boolean;
  /** A scorer that recomputes whole prefixes, for calls the cache cannot serve. */
  recompute: () => Promise<NextTokenScorer>;
}

/**
 * A NextTokenScorer over incremental steps. Each call must extend every hypothesis of the previous
 * call by one token; the first call may give whole prompts (they are run through the cache one
 * position at a time). Hypotheses find their cache row by prefix, so the searches need not know
 * about the cache. Other calls (prefixes of different lengths, ones that extend no earlier
 * hypothesis, or longer than maxLength) fall back to `recompute` for the rest of the decode.
 */
function incrementalScorer(s: IncrementalSteps): NextTokenScorer {
  // "row:prefix" → its hypothesis index in the last call (rows may share a prefix, e.g. `<s>`).
  let previous = new Map<string, number>();
  let prepared: Promise<unknown> | undefined;
  let fallback: NextTokenScorer | undefined;
  const key = (row: number, prefix: readonly number[]) => `${row}:${prefix.join(',')}`;
  const run = async (rows: readonly number[], prefixes: readonly (readonly number[])[], k?: number) => {
    const n = rows.length;
    const length = prefixes[0].length;
    const rowIds = int32(rows, [n]);
    const tokensAt = (t: number) =>
      int32(
        prefixes.map((p) => p[t]),
        [n, 1],
      );
    let parents: number[] | undefined;
    if (length > 1 && previous.size > 0) {
      parents = [];
      for (const [i, p] of prefixes.entries()) {
        const parent = previous.get(key(rows[i], p.slice(0, -1)));
        if (parent === undefined) return undefined;
        parents.push(parent);
      }
    }
    prepared ??= s.prepare?.();
    await prepared;
    if (parents) return s.next(tokensAt(length - 1), int32([length - 1], [1]), int32(parents, [n]), rowIds, k);
    if (previous.size > 0 && length > 1) return undefined;
    // The start of a decode: the whole prefixes, one position at a time.
    const identity = int32(
      Array.from({ length: n }, (_, i) => i),
      [n],
    );
    let out = await s.first(tokensAt(0), rowIds, k);
    for (let t = 1; t < length; t++) out = await s.next(tokensAt(t), int32([t], [1]), identity, rowIds, k);
    return out;
  };
  const scored = async (rows: readonly number[], prefixes: readonly (readonly number[])[], k?: number) => {
    if (!fallback) {
      const length = prefixes[0]?.length ?? 0;
      const uniform = length > 0 && prefixes.every((p) => p.length === length);
      const out = uniform && length <= s.maxLength ? await run(rows, prefixes, k) : undefined;
      if (out) {
        previous = new Map(prefixes.map((p, i) => [key(rows[i], p), i]));
        return out;
      }
      fallback = await s.recompute();
    }
    const lp = await fallback.logProbs(rows, prefixes);
    return k ? topTokens(lp, rows.length, fallback.vocabSize, k) : lp;
  };
  return {
    vocabSize: s.vocabSize,
    logProbs: async (rows, prefixes) => (await scored(rows, prefixes)) as Float32Array,
    topK: s.topK ? async (rows, prefixes, k) => (await scored(rows, prefixes, k)) as TopTokens : undefined,
    async release() {
      const started = prepared;
      prepared = undefined;
      fallback = undefined;
      previous = new Map();
      await s.scope.delete(s.names);
      if (started) await s.finish?.();
    },
  };
}
