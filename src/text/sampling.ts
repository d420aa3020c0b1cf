/**
 * Next-token choice for decoder-only language models: temperature, top-k and top-p (nucleus)
 * filtering over one step's logits, and a generation loop that feeds a causal LM its own output.
 * The distribution work is plain JS over one vocabulary row (a few thousand numbers per step);
 * the model runs through `predict`. Sequence-to-sequence decoding (greedy/beam) lives elsewhere.
 */
import { Generator } from '../engine/random.js';
import { type CausalLM, type NextTokenScorer, causalLMScorer } from './generate.js';

export type { CausalLM };

export interface SamplingOptions {
  /** Draw from the distribution (true, default) or take the most likely token (false: greedy). */
  doSample?: boolean;
  /** Logits are divided by this before the softmax (default 1); 0 means greedy. */
  temperature?: number;
  /** Keep only the k most likely tokens (default 0: all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (default 1: all). */
  topP?: number;
  /** Uniform numbers in [0, 1); default a Generator seeded with `seed`. */
  random?: () => number;
  /** Seed of the default random source (default 0). */
  seed?: number;
}

function checkSampling(o: SamplingOptions): void {
  const { temperature = 1, topK = 0, topP = 1 } = o;
  if (!(temperature >= 0) || !Number.isFinite(temperature))
    throw new Error(`sampling: temperature must be a finite number ≥ 0, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0) throw new Error(`sampling: topK must be an integer ≥ 0, got ${topK}`);
  if (!(topP > 0 && topP <= 1)) throw new Error(`sampling: topP must be in (0, 1], got ${topP}`);
}

/** softmax(logits / temperature) in float64. */
export function softmaxWithTemperature(logits: ArrayLike<number>, temperature = 1): Float64Array {
  if (!(temperature > 0)) throw new Error(`softmaxWithTemperature: temperature must be > 0, got ${temperature}`);
  const n = logits.length;
  if (n === 0) throw new Error('softmaxWithTemperature: empty logits');
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[i]);
  const p = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    p[i] = Math.exp((logits[i] - max) / temperature);
    sum += p[i];
  }
  for (let i = 0; i < n; i++) p[i] /= sum;
  return p;
}

/** Indices by decreasing probability; equal probabilities keep index order (so results do not depend on the sort). */
function byProbability(probs: ArrayLike<number>): number[] {
  return Array.from({ length: probs.length }, (_, i) => i).sort((a, b) => probs[b] - probs[a] || a - b);
}

function renormalized(probs: ArrayLike<number>, keep: readonly number[]): Float64Array {
  const out = new Float64Array(probs.length);
  let sum = 0;
  for (const i of keep) sum += probs[i];
  for (const i of keep) out[i] = probs[i] / sum;
  return out;
}

/** Zeroes all but the k most likely tokens and renormalizes (k = 0 or k ≥ vocabulary: unchanged). */
export function topKFilter(probs: ArrayLike<number>, k: number): Float64Array {
  if (!Number.isInteger(k) || k < 0) throw new Error(`topKFilter: k must be an integer ≥ 0, got ${k}`);
  if (k === 0 || k >= probs.length) return Float64Array.from(probs);
  return renormalized(probs, byProbability(probs).slice(0, k));
}

/** Keeps the smallest set of most likely tokens whose total probability is ≥ p, renormalized. */
export function topPFilter(probs: ArrayLike<number>, p: number): Float64Array {
  if (!(p > 0 && p <= 1)) throw new Error(`topPFilter: p must be in (0, 1], got ${p}`);
  const order = byProbability(probs);
  const keep: number[] = [];
  let mass = 0;
  for (const i of order) {
    keep.push(i);
    mass += probs[i];
    // a relative slack absorbs rounding in the running sum (p = 1 must keep, not exceed, the support)
    if (mass >= p * (1 - 1e-12) || probs[i] === 0) break;
  }
  return renormalized(probs, keep);
}

/** Index of the largest value (first one on ties). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** The distribution sampling draws from: softmax with temperature, then top-k, then top-p. */
export function samplingDistribution(logits: ArrayLike<number>, options: SamplingOptions = {}): Float64Array {
  checkSampling(options);
  let p = softmaxWithTemperature(logits, options.temperature || 1);
  if (options.topK) p = topKFilter(p, options.topK);
  if (options.topP !== undefined && options.topP < 1) p = topPFilter(p, options.topP);
  return p;
}

/** Draws index i with probability probs[i] (probs sums to 1) using one uniform number u. */
export function drawIndex(probs: ArrayLike<number>, u: number): number {
  let acc = 0;
  let last = 0;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] <= 0) continue;
    acc += probs[i];
    last = i;
    if (u < acc) return i;
  }
  return last; // u within rounding of 1
}

/** Picks the next token from one step's logits: greedy when doSample is false or temperature is 0. */
export function sampleNextToken(logits: ArrayLike<number>, options: SamplingOptions = {}): number {
  checkSampling(options);
  if (options.doSample === false || options.temperature === 0) return argmax(logits);
  const random = options.random ?? randomSource(options.seed ?? 0);
  return drawIndex(samplingDistribution(logits, options), random());
}

function randomSource(seed: number): () => number {
  const g = new Generator(seed);
  return () => g.random();
}

export interface GenerateOptions extends SamplingOptions {
  /** Tokens to add (default 50). */
  maxNewTokens?: number;
  /** The model's input length: the context is the last `sequenceLength` tokens, right-padded with `padId`. */
  sequenceLength: number;
  /** Padding id (default 0). */
  padId?: number;
  /** Stop after emitting this id (it is included in the output). */
  eosId?: number;
  /** Called with each new token id as it is chosen (streaming). */
  onToken?: (id: number) => void | Promise<void>;
  /** Stops generation before the next token when aborted (a client that went away); rejects with its reason. */
  signal?: AbortSignal;
}

/**
 * Extends `promptIds` with up to maxNewTokens tokens from a causal LM, given as a model (ids [N, T]
 * → logits [N, T, V]: each step reruns it on the last sequenceLength tokens, right-padded — causal
 * attention keeps padding after the last real token from changing its logits) or as a
 * NextTokenScorer (e.g. `new CausalLMDecoding(model).scorer()`, which keeps a key/value cache).
 * Returns only the new ids.
 */
export async function generateTokens(
  model: CausalLM | NextTokenScorer,
  promptIds: readonly number[],
  options: GenerateOptions,
): Promise<number[]> {
  const { sequenceLength: t, maxNewTokens = 50, padId = 0 } = options;
  if (!Number.isInteger(t) || t < 1)
    throw new Error(`generateTokens: sequenceLength must be a positive integer, got ${t}`);
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0)
    throw new Error(`generateTokens: maxNewTokens must be an integer ≥ 0, got ${maxNewTokens}`);
  if (promptIds.length === 0)
    throw new Error('generateTokens: the prompt needs at least one token (e.g. a begin/end-of-text id)');
  checkSampling(options);
  const random = options.random ?? randomSource(options.seed ?? 0);
  const ids = [...promptIds];
  const out: number[] = [];
  // A model reruns on the context window; log-probabilities sample as its logits would.
  const scorer = 'logProbs' in model ? model : causalLMScorer(model, t, padId);
  try {
    for (let step = 0; step < maxNewTokens; step++) {
      options.signal?.throwIfAborted();
      const next = sampleNextToken(await scorer.logProbs([0], [ids]), { ...options, random });
      ids.push(next);
      out.push(next);
      await options.onToken?.(next);
      if (next === options.eosId) break;
    }
  } finally {
    if ('logProbs' in model) await model.release?.();
  }
  return out;
}
