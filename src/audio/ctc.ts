/**
 * Connectionist Temporal Classification: the loss (PyTorch's `ctc_loss` semantics) built from
 * Lepton ops, so its gradient comes from autodiff and it trains inside `fit`'s one-graph step;
 * and the decoders (greedy and prefix beam search with an optional word-level scorer for
 * lexicon/hotword biasing).
 *
 * The loss runs Graves' scaled forward recursion over the extended label sequence
 * (blank, l1, blank, l2, …, blank; S = 2L + 1 states) in probability space: at each frame
 * α ← (α · A) ⊙ e_t, then α is renormalised and the log of the scale is accumulated. A (stay,
 * advance, and skip a blank between different labels) is applied as α plus α shifted by one state
 * plus α shifted by two masked by the skip flags — a third of the graph a log-space recursion
 * needs, and O(S) per frame where a dense [S, S] MatMul was O(S²). Each
 * frame's emissions are shifted by their maximum before exp, so they cannot all underflow.
 * Time is unrolled: the frame count must be static (bucket utterances by length).
 */
import { Tensor } from '../engine/tensor.js';
import {
  add,
  cast,
  fullLike,
  matmul,
  mul,
  neg,
  reshape,
  div,
  stopGradient,
  sum,
  transpose,
} from '../engine/ops/core.js';
import { exp, greater, less, log, logicalAnd, maximum, notEqual, where } from '../engine/ops/elementwise.js';
import { max, mean } from '../engine/ops/reduce.js';
import { concat, oneHot, pad, slice, split, squeeze, stack, unsqueeze } from '../engine/ops/shape.js';
import { logSoftmax } from '../engine/ops/activations.js';
import { Loss, type LossFn, type LossOptions } from '../train/losses.js';

export interface CtcLossOptions {
  /** Index of the blank class (default 0). */
  blank?: number;
  /** 'mean' (default: each loss divided by its target length, then the batch mean, as PyTorch), 'sum' or 'none'. */
  reduction?: 'mean' | 'sum' | 'none';
  /** Replace the infinite loss of impossible alignments (target too long for the input) by 0. */
  zeroInfinity?: boolean;
}

/** Smallest scale kept, per dtype: below it a frame has no reachable path left (the alignment is impossible). */
const TINY = { float32: 1e-37, float64: 1e-300 } as const;

/**
 * CTC loss. `logProbs` [batch, time, classes] are log-probabilities (log-softmax outputs; PyTorch
 * takes [time, batch, classes] — transpose first); `targets` [batch, maxTargetLength] int labels,
 * padded past each `targetLengths[b]`; `inputLengths` [batch] frames used per example.
 */
export function ctcLoss(
  logProbs: Tensor,
  targets: Tensor,
  inputLengths: Tensor,
  targetLengths: Tensor,
  options: CtcLossOptions = {},
): Tensor {
  return ctcLossOf(logProbs, targets, inputLengths, targetLengths, options);
}

/** ctcLoss; `inputLengths` undefined means every frame counts (no per-frame masking in the graph). */
function ctcLossOf(
  logProbs: Tensor,
  targets: Tensor,
  inputLengths: Tensor | undefined,
  targetLengths: Tensor,
  options: CtcLossOptions,
): Tensor {
  const { blank = 0, reduction = 'mean', zeroInfinity = false } = options;
  const shapes = `logProbs [${logProbs.shape.join(', ')}], targets [${targets.shape.join(', ')}], inputLengths [${inputLengths?.shape.join(', ') ?? 'all frames'}], targetLengths [${targetLengths.shape.join(', ')}]`;
  if (
    logProbs.rank !== 3 ||
    targets.rank !== 2 ||
    (inputLengths && inputLengths.rank !== 1) ||
    targetLengths.rank !== 1
  ) {
    throw new Error(
      `ctcLoss: expected logProbs [batch, time, classes], targets [batch, maxTargetLength], inputLengths [batch], targetLengths [batch]; got ${shapes}`,
    );
  }
  if (logProbs.dtype !== 'float32' && logProbs.dtype !== 'float64')
    throw new Error(`ctcLoss: logProbs must be float, got ${logProbs.dtype}`);
  for (const [name, t] of [
    ['targets', targets],
    ['inputLengths', inputLengths],
    ['targetLengths', targetLengths],
  ] as const) {
    if (t && t.dtype !== 'int32' && t.dtype !== 'int64')
      throw new Error(`ctcLoss: ${name} must be int32 or int64, got ${t.dtype} (${shapes})`);
  }
  const [, T, C] = logProbs.shape;
  const L = targets.shape[1];
  if (typeof T !== 'number' || typeof C !== 'number' || typeof L !== 'number') {
    throw new Error(
      `ctcLoss: time, class and target-length axes must be static (bucket sequences by length); got ${shapes}`,
    );
  }
  if (!Number.isInteger(blank) || blank < 0 || blank >= C)
    throw new Error(`ctcLoss: blank ${blank} is not a class index (0..${C - 1})`);
  const dtype = logProbs.dtype;
  const S = 2 * L + 1;

  // Extended labels [B, S]: blank, t1, blank, t2, …, blank.
  const blanks = fullLike(targets, blank);
  const ext = concat([reshape(stack([blanks, targets], 2), [-1, 2 * L]), slice(blanks, [null, [0, 1]])], 1);
  // A label may be entered from two states back when it is not blank and differs from that state.
  const skipTail = logicalAnd(
    notEqual(slice(ext, [null, [2, S]]), blank),
    notEqual(slice(ext, [null, [2, S]]), slice(ext, [null, [0, S - 2]])),
  );
  const skip = cast(concat([slice(fullLike(ext, 0), [null, [0, 2]]), cast(skipTail, ext.dtype)], 1), dtype);
  // α·A, A the transition matrix (stay, advance, and skip a blank into a state whose skip is set),
  // as shifted copies of α: O(S) per frame where the [S, S] MatMul was O(S²).
  const shifted = (alpha: Tensor, by: number): Tensor => pad(slice(alpha, [null, [0, S - by]]), [null, [by, 0]]);
  const transition = (alpha: Tensor): Tensor => {
    if (S < 3) return S < 2 ? alpha : add(alpha, shifted(alpha, 1));
    return add(add(alpha, shifted(alpha, 1)), mul(shifted(alpha, 2), skip));
  };

  // Emission log-probabilities of each state [B, T, S] (a one-hot MatMul gathers them differentiably).
  const select = oneHot(ext, C, { dtype });
  const emit = matmul(logProbs, transpose(select, [0, 2, 1]));

  const initial = new Tensor(
    [1, S],
    dtype,
    floatArray(dtype, S, (s) => (s < 2 ? 1 : 0)),
  );
  // Each frame's emissions shifted by their maximum before exp, so they cannot all underflow; the
  // shifts come back in the log-likelihood. Done for all frames at once, outside the recursion.
  const peaks = stopGradient(max(emit, -1, true)); // [B, T, 1]
  const emits = exp(add(emit, neg(peaks)));
  // Frames past an example's input length leave its state alone (the first frame always counts).
  const active =
    inputLengths === undefined
      ? undefined
      : less(
          new Tensor(
            [1, T],
            dtype,
            floatArray(dtype, T, (t) => t),
          ),
          unsqueeze(maximum(cast(inputLengths, dtype), 1), 1),
        ); // [B, T]
  const activeFrames = active && T > 1 ? split(active, T, 1) : [];
  // One Split into frames (its gradient is one Concat; per-frame Slices would each pad back to [B, T, S]).
  const frameEmits = T > 1 ? split(emits, T, 1) : [emits];
  let alpha: Tensor | undefined;
  const scales: Tensor[] = [];
  for (let t = 0; t < T; t++) {
    const e = squeeze(frameEmits[t]!, 1);
    const moved = alpha === undefined ? mul(initial, e) : mul(transition(alpha), e);
    const scale = maximum(sum(moved, -1, true), TINY[dtype]); // [B, 1]
    const next = div(moved, scale);
    alpha = alpha === undefined || !active ? next : where(activeFrames[t]!, next, alpha);
    scales.push(scale);
  }
  const logScales = add(log(T > 1 ? concat(scales, 1) : scales[0]!), squeeze(peaks, 2)); // [B, T]
  const logScale = sum(active ? where(active, logScales, 0) : logScales, -1);
  // The path ends in the last label or the blank after it: states 2·len and 2·len − 1.
  const lengths = cast(targetLengths, 'int64');
  const last = oneHot(mul(lengths, 2), S, { dtype });
  const beforeLast = mul(
    oneHot(maximum(add(mul(lengths, 2), -1), 0), S, { dtype }),
    unsqueeze(cast(greater(lengths, 0), dtype), 1),
  );
  const end = sum(mul(alpha!, add(last, beforeLast)), -1);
  const finite = neg(add(logScale, log(maximum(end, TINY[dtype]))));
  const possible = greater(end, 0);
  const losses = where(possible, finite, zeroInfinity ? 0 : Infinity);
  if (reduction === 'none') return losses;
  if (reduction === 'sum') return sum(losses);
  return mean(div(losses, maximum(cast(targetLengths, dtype), 1)));
}

export interface CtcPaddedOptions {
  /** Index of the blank class (default 0). */
  blank?: number;
  /** Target entries equal to this are padding (default -1). */
  padValue?: number;
  /**
   * Precision of the forward recursion (default: the predictions' dtype). 'float64' keeps the
   * probability of the true alignment representable when a model grows confident early in training
   * (all blank), where float32 underflows and the example would count as impossible.
   */
  dtype?: 'float32' | 'float64';
}

/**
 * CTC for `compile`/`fit` (Keras' loss shape): yTrue [batch, maxLabels] holds label ids padded
 * with `padValue`, yPred [batch, frames, classes] holds logits (log-softmax is applied here);
 * every frame counts. Returns per-example negative log-likelihoods; impossible alignments give 0
 * (PyTorch's zero_infinity) so one bad example cannot turn a batch's loss infinite.
 */
export function ctcPadded(options: CtcPaddedOptions = {}): LossFn {
  const { blank = 0, padValue = -1, dtype } = options;
  return (yTrue: Tensor, yPred: Tensor): Tensor => {
    if (yPred.rank !== 3 || yTrue.rank !== 2) {
      throw new Error(
        `CTC loss: expected yTrue [batch, maxLabels] and yPred [batch, frames, classes] logits, got yTrue [${yTrue.shape.join(', ')}] and yPred [${yPred.shape.join(', ')}]`,
      );
    }
    const labels = cast(yTrue, 'int64');
    const valid = notEqual(labels, padValue);
    const targets = where(valid, labels, 0);
    const targetLengths = sum(cast(valid, 'int64'), -1);
    const logits = dtype && dtype !== yPred.dtype ? cast(yPred, dtype) : yPred;
    const losses = ctcLossOf(logSoftmax(logits, -1), targets, undefined, targetLengths, {
      blank,
      reduction: 'none',
      zeroInfinity: true,
    });
    return losses.dtype === yPred.dtype ? losses : cast(losses, yPred.dtype);
  };
}

/** The CTC loss as a Keras-style Loss object: `model.compile({ loss: new CTC(), ... })`. */
export class CTC extends Loss {
  constructor(options: CtcPaddedOptions & LossOptions = {}) {
    super('CTC', ctcPadded(options), options);
  }
}

function floatArray(
  dtype: 'float32' | 'float64',
  n: number,
  value: (i: number) => number,
): Float32Array | Float64Array {
  const a = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = value(i);
  return a;
}

// ---------------------------------------------------------------------------------------------
// Decoding (host side: after the network, on the [time, classes] scores of one utterance)

/** Rows of per-frame scores: [time][classes] (log-probabilities or probabilities; greedy needs only order). */
export type FrameScores = ArrayLike<ArrayLike<number>>;

/** Best class per frame, repeats collapsed, blanks removed. */
export function ctcGreedyDecode(scores: FrameScores, blank = 0): number[] {
  const out: number[] = [];
  let prev = -1;
  for (let t = 0; t < scores.length; t++) {
    const row = scores[t]!;
    let best = 0;
    for (let c = 1; c < row.length; c++) if (row[c]! > row[best]!) best = c;
    if (best !== prev && best !== blank) out.push(best);
    prev = best;
  }
  return out;
}

export interface CtcBeamSearchOptions {
  blank?: number;
  /** Prefixes kept per frame (default 8). */
  beamWidth?: number;
  /** Classes tried per frame, the most likely first (default: all). */
  topK?: number;
  /**
   * Optional language/lexicon scorer: called when a prefix gains a label, with the prefix (label
   * ids) and that label; returns a log-score added to the path (weight it yourself). A word-level
   * n-gram LM or hotword bonus plugs in here.
   */
  score?: (prefix: readonly number[], label: number) => number;
}

export interface CtcHypothesis {
  labels: number[];
  /** log P(labels | audio) (plus scorer bonuses). */
  logProb: number;
}

const logAdd = (a: number, b: number): number => {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const m = Math.max(a, b);
  return m + Math.log(Math.exp(a - m) + Math.exp(b - m));
};

/**
 * CTC prefix beam search over log-probabilities [time][classes]: each prefix carries the
 * probability of paths ending in blank and in its last label separately, so repeats need a blank
 * between them. Returns the beam, best first.
 */
export function ctcPrefixBeamSearch(logProbs: FrameScores, options: CtcBeamSearchOptions = {}): CtcHypothesis[] {
  const { blank = 0, beamWidth = 8, topK, score } = options;
  if (!Number.isInteger(beamWidth) || beamWidth < 1)
    throw new Error(`ctcPrefixBeamSearch: beamWidth must be a positive integer, got ${beamWidth}`);
  interface Entry {
    labels: number[];
    blank: number;
    label: number;
    bonus: number;
  }
  let beam = new Map<string, Entry>([['', { labels: [], blank: 0, label: -Infinity, bonus: 0 }]]);
  for (let t = 0; t < logProbs.length; t++) {
    const row = logProbs[t]!;
    const classes = Array.from({ length: row.length }, (_, c) => c);
    if (topK !== undefined && topK < row.length) classes.sort((a, b) => row[b]! - row[a]!).splice(topK);
    const next = new Map<string, Entry>();
    const entry = (labels: number[], bonus: number): Entry => {
      const key = labels.join(',');
      let e = next.get(key);
      if (!e) next.set(key, (e = { labels, blank: -Infinity, label: -Infinity, bonus }));
      return e;
    };
    for (const p of beam.values()) {
      const total = logAdd(p.blank, p.label);
      for (const c of classes) {
        const lp = row[c]!;
        if (c === blank) {
          const e = entry(p.labels, p.bonus);
          e.blank = logAdd(e.blank, total + lp);
          continue;
        }
        const lastLabel = p.labels[p.labels.length - 1];
        const extended = [...p.labels, c];
        const bonus = score ? score(p.labels, c) : 0;
        const e = entry(extended, p.bonus + bonus);
        // A repeat extends only from paths that ended in blank; otherwise it stays on the prefix.
        e.label = logAdd(e.label, (c === lastLabel ? p.blank : total) + lp);
        if (c === lastLabel) {
          const same = entry(p.labels, p.bonus);
          same.label = logAdd(same.label, p.label + lp);
        }
      }
    }
    beam = new Map(
      [...next.entries()]
        .filter(([, e]) => logAdd(e.blank, e.label) > -Infinity)
        .sort(([, a], [, b]) => logAdd(b.blank, b.label) + b.bonus - (logAdd(a.blank, a.label) + a.bonus))
        .slice(0, beamWidth),
    );
  }
  return [...beam.values()].map((e) => ({ labels: e.labels, logProb: logAdd(e.blank, e.label) + e.bonus }));
}
