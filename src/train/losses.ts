/**
 * Losses (Keras semantics). Each loss function maps (yTrue, yPred) to per-sample losses [batch]
 * (the mean over the non-batch axes); the Loss classes add sample weights and the reduction
 * (default: sum over the batch / batch size, like Keras' SUM_OVER_BATCH_SIZE). All are
 * compositions of ops, so they trace into train-step graphs and get gradients for free.
 */
import {
  Tensor,
  abs,
  add,
  cast,
  clip,
  div,
  equal,
  log,
  logSoftmax,
  maximum,
  mean,
  minimum,
  mul,
  neg,
  notEqual,
  oneHot,
  reshape,
  softmaxCrossEntropy,
  square,
  sub,
  sum,
  transpose,
  where,
  softplus,
  isFloat,
} from '../engine/index.js';
import { nameKey } from '../nn/names.js';
import { reducedSize } from '../engine/ops/reduce.js';

/** Keras' backend epsilon: probabilities are clipped to [EPSILON, 1 - EPSILON] before log. */
export const EPSILON = 1e-7;

export type LossFn = (yTrue: Tensor, yPred: Tensor) => Tensor;

/** Mean over all axes but the batch axis: [B, ...] → [B]; [B] stays [B]. */
export function perSample(x: Tensor): Tensor {
  if (x.rank <= 1) return x;
  return mean(
    x,
    Array.from({ length: x.rank - 1 }, (_, i) => i + 1),
  );
}

/** yTrue in yPred's shape and dtype when they hold the same number of elements ([B] vs [B, 1]). */
export function alignTarget(op: string, yTrue: Tensor, yPred: Tensor): Tensor {
  let t = yTrue.dtype === yPred.dtype ? yTrue : cast(yTrue, yPred.dtype);
  if (t.shape.join() !== yPred.shape.join()) {
    const a = t.shape.filter((d) => d !== 1).join();
    const b = yPred.shape.filter((d) => d !== 1).join();
    if (a !== b) {
      throw new Error(`${op}: targets of shape [${yTrue.shape}] do not match predictions of shape [${yPred.shape}]`);
    }
    t = reshape(t, yPred.shape);
  }
  return t;
}

export function meanSquaredError(yTrue: Tensor, yPred: Tensor): Tensor {
  return perSample(square(sub(yPred, alignTarget('meanSquaredError', yTrue, yPred))));
}

export function meanAbsoluteError(yTrue: Tensor, yPred: Tensor): Tensor {
  return perSample(abs(sub(yPred, alignTarget('meanAbsoluteError', yTrue, yPred))));
}

/** 0.5·d² for |d| ≤ delta, delta·(|d| − 0.5·delta) beyond (written without branches: exact gradients). */
export function huber(yTrue: Tensor, yPred: Tensor, delta = 1): Tensor {
  const a = abs(sub(yPred, alignTarget('huber', yTrue, yPred)));
  const q = minimum(a, delta);
  return perSample(add(mul(square(q), 0.5), mul(sub(a, q), delta)));
}

export interface CrossentropyOptions {
  /** yPred holds logits (pre-sigmoid/softmax scores) rather than probabilities. */
  fromLogits?: boolean;
  /** Keras label smoothing: targets move towards uniform by this amount. */
  labelSmoothing?: number;
}

/**
 * What is wrong when a probability loss gets values outside [0, 1] (logits, most likely), or
 * undefined when they are fine. Symbolic predictions (inside a traced train step) are not checked:
 * fit checks the model's outputs on the first batch instead.
 */
export function probabilityProblem(op: string, yPred: Tensor): string | undefined {
  if (yPred.isSymbolic || !isFloat(yPred.dtype)) return undefined;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of yPred.data as Float32Array | Float64Array) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  // A little slack: softmax/sigmoid outputs may round a hair past 1.
  if (lo >= -1e-6 && hi <= 1 + 1e-6) return undefined;
  return (
    `${op} expects probabilities in [0, 1] (fromLogits is false) but got values in [${lo.toPrecision(4)}, ${hi.toPrecision(4)}]` +
    ` — did you mean fromLogits: true? (e.g. losses.${op[0].toUpperCase()}${op.slice(1)}({ fromLogits: true }), or end the model with a softmax/sigmoid)`
  );
}

function checkProbabilities(op: string, yPred: Tensor): void {
  const problem = probabilityProblem(op, yPred);
  if (problem) throw new Error(problem);
}

/**
 * Probabilities normalised over the last axis and clipped to [EPSILON, 1 − EPSILON] as Keras does.
 * Values are clipped to [EPSILON, 1] before the normalisation too, so the sum cannot be 0 or
 * negative (logits passed by mistake give a finite loss and gradient rather than NaN).
 */
function normalizedProbabilities(yPred: Tensor): Tensor {
  const p = clip(yPred, EPSILON, 1);
  return clip(div(p, sum(p, -1, true)), EPSILON, 1 - EPSILON);
}

/** Binary cross entropy per element, averaged over the non-batch axes. */
export function binaryCrossentropy(yTrue: Tensor, yPred: Tensor, options: CrossentropyOptions = {}): Tensor {
  let y = alignTarget('binaryCrossentropy', yTrue, yPred);
  if (!options.fromLogits) checkProbabilities('binaryCrossentropy', yPred);
  if (options.labelSmoothing) y = add(mul(y, 1 - options.labelSmoothing), 0.5 * options.labelSmoothing);
  if (options.fromLogits) {
    // max(x, 0) − x·y + log(1 + exp(−|x|)), the stable form of −y·log σ(x) − (1−y)·log(1−σ(x)).
    return perSample(sub(softplus(yPred), mul(yPred, y)));
  }
  const p = clip(yPred, EPSILON, 1 - EPSILON);
  const ll = add(mul(y, log(add(p, EPSILON))), mul(sub(1, y), log(add(sub(1, p), EPSILON))));
  return perSample(neg(ll));
}

/** Cross entropy against one-hot (or soft) targets over the last axis. */
export function categoricalCrossentropy(yTrue: Tensor, yPred: Tensor, options: CrossentropyOptions = {}): Tensor {
  let y = alignTarget('categoricalCrossentropy', yTrue, yPred);
  const classes = yPred.shape[yPred.rank - 1] as number;
  if (options.labelSmoothing) y = add(mul(y, 1 - options.labelSmoothing), options.labelSmoothing / classes);
  let logp: Tensor;
  if (options.fromLogits) logp = logSoftmax(yPred, -1);
  else {
    checkProbabilities('categoricalCrossentropy', yPred);
    logp = log(normalizedProbabilities(yPred));
  }
  return perSample(neg(sum(mul(y, logp), -1)));
}

/** Integer labels [B] (or [B, 1]) as int64 class indices for predictions [B, C]; `op` names the caller in errors. */
export function sparseLabels(yTrue: Tensor, yPred: Tensor, op = 'sparseCategoricalCrossentropy'): Tensor {
  let labels = yTrue;
  const want = yPred.shape.slice(0, -1);
  if (labels.rank === want.length + 1 && labels.shape[labels.rank - 1] === 1) labels = reshape(labels, want);
  if (labels.shape.join() !== want.join()) {
    throw new Error(
      `${op}: labels of shape [${yTrue.shape}] do not match predictions [${yPred.shape}] (expected [${want}])`,
    );
  }
  return labels.dtype === 'int64' ? labels : cast(labels, 'int64');
}

/** Cross entropy against integer class labels; with fromLogits it is the fused softmaxCrossEntropy op. */
export function sparseCategoricalCrossentropy(
  yTrue: Tensor,
  yPred: Tensor,
  options: { fromLogits?: boolean; ignoreClass?: number } = {},
): Tensor {
  let labels = sparseLabels(yTrue, yPred);
  const ignore = options.ignoreClass;
  const valid = ignore === undefined ? undefined : notEqual(labels, ignore);
  if (valid) labels = where(valid, labels, 0);
  let l: Tensor;
  if (options.fromLogits) {
    // The op wants classes on axis 1: [B, T, C] → [B, C, T].
    const logits =
      yPred.rank > 2
        ? transpose(yPred, [0, yPred.rank - 1, ...Array.from({ length: yPred.rank - 2 }, (_, i) => i + 1)])
        : yPred;
    l = softmaxCrossEntropy(logits, labels, { reduction: 'none' });
  } else {
    checkProbabilities('sparseCategoricalCrossentropy', yPred);
    const classes = yPred.shape[yPred.rank - 1] as number;
    const p = normalizedProbabilities(yPred);
    l = neg(sum(mul(oneHot(labels, classes, { dtype: yPred.dtype }), log(p)), -1));
  }
  if (!valid) return perSample(l);
  // Keras' ignore_class (e.g. padding in sequence targets): ignored positions add nothing, and the
  // batch mean becomes the mean over the valid positions of the batch: each sample's share is its
  // valid-position sum scaled by batch / (valid positions in the batch).
  const v = cast(valid, l.dtype);
  const axes = Array.from({ length: l.rank - 1 }, (_, i) => i + 1);
  const rowSums = axes.length ? sum(mul(l, v), axes) : mul(l, v);
  // The batch size is a run-time value when the batch axis is symbolic (fit's graphs).
  return mul(rowSums, div(reducedSize(l, [0]), maximum(sum(v), 1)));
}

/** mean(max(1 − y·ŷ, 0)); labels in {−1, 1} (0 is read as −1, so {0, 1} labels work too). */
export function hinge(yTrue: Tensor, yPred: Tensor): Tensor {
  const t = alignTarget('hinge', yTrue, yPred);
  const y = where(equal(t, 0), -1, t);
  return perSample(maximum(sub(1, mul(y, yPred)), 0));
}

/** Kullback–Leibler divergence sum(y·log(y/ŷ)) over the last axis, both clipped to [ε, 1]. */
export function kld(yTrue: Tensor, yPred: Tensor): Tensor {
  const y = clip(alignTarget('kld', yTrue, yPred), EPSILON, 1);
  const p = clip(yPred, EPSILON, 1);
  return perSample(sum(mul(y, log(div(y, p))), -1));
}
export const kullbackLeiblerDivergence = kld;

// ---------------------------------------------------------------------------------------------
// Loss objects (for compile)

export type Reduction = 'sumOverBatchSize' | 'sum' | 'none';

export interface LossOptions {
  [k: string]: unknown;
  reduction?: Reduction;
  name?: string;
}

/** A loss with its reduction and sample weighting; `call` returns a scalar (or [B] for 'none'). */
export class Loss {
  readonly name: string;
  readonly reduction: Reduction;
  constructor(
    readonly className: string,
    readonly fn: LossFn,
    readonly options: LossOptions & { [k: string]: unknown } = {},
  ) {
    this.name = options.name ?? className;
    this.reduction = options.reduction ?? 'sumOverBatchSize';
  }

  /** Reduced loss; sampleWeight [B] scales each sample's loss (Keras: the sum is still divided by B). */
  call(yTrue: Tensor, yPred: Tensor, sampleWeight?: Tensor): Tensor {
    let l = this.fn(yTrue, yPred);
    if (l.rank === 0) return sampleWeight ? mul(l, mean(sampleWeight)) : l;
    if (l.rank > 1) l = perSample(l);
    if (sampleWeight)
      l = mul(
        l,
        sampleWeight.dtype === l.dtype ? reshape(sampleWeight, l.shape) : cast(reshape(sampleWeight, l.shape), l.dtype),
      );
    if (this.reduction === 'none') return l;
    return this.reduction === 'sum' ? sum(l) : mean(l);
  }

  /** Whether predictions are logits (used to pick matching accuracy metrics). */
  get fromLogits(): boolean {
    return !!this.options.fromLogits;
  }

  getConfig(): { className: string; config: Record<string, unknown> } {
    const { name: _n, ...rest } = this.options;
    return { className: this.className, config: rest };
  }
}

type LossFactory = (options: Record<string, any>) => LossFn;
const LOSSES: Record<string, LossFactory> = {
  MeanSquaredError: () => meanSquaredError,
  MeanAbsoluteError: () => meanAbsoluteError,
  Huber: (o) => (t, p) => huber(t, p, o.delta ?? 1),
  BinaryCrossentropy: (o) => (t, p) => binaryCrossentropy(t, p, o),
  CategoricalCrossentropy: (o) => (t, p) => categoricalCrossentropy(t, p, o),
  SparseCategoricalCrossentropy: (o) => (t, p) => sparseCategoricalCrossentropy(t, p, o),
  Hinge: () => hinge,
  KLDivergence: () => kld,
};

const ALIASES: Record<string, string> = {
  mse: 'MeanSquaredError',
  meansquarederror: 'MeanSquaredError',
  mae: 'MeanAbsoluteError',
  meanabsoluteerror: 'MeanAbsoluteError',
  huber: 'Huber',
  huberloss: 'Huber',
  binarycrossentropy: 'BinaryCrossentropy',
  bce: 'BinaryCrossentropy',
  categoricalcrossentropy: 'CategoricalCrossentropy',
  sparsecategoricalcrossentropy: 'SparseCategoricalCrossentropy',
  hinge: 'Hinge',
  kld: 'KLDivergence',
  kldivergence: 'KLDivergence',
  kullbackleiblerdivergence: 'KLDivergence',
};

function canonicalLossName(name: string): string {
  const found = ALIASES[nameKey(name)];
  if (!found)
    throw new Error(
      `unknown loss '${name}' (known: ${Object.keys(LOSSES).join(', ')}; or pass a function (yTrue, yPred) => Tensor)`,
    );
  return found;
}

/** Creates a loss by name with options, e.g. makeLoss('sparseCategoricalCrossentropy', {fromLogits: true}). */
export function makeLoss(name: string, options: LossOptions = {}): Loss {
  const className = canonicalLossName(name);
  return new Loss(className, LOSSES[className](options), options);
}

export class MeanSquaredError extends Loss {
  constructor(o: LossOptions = {}) {
    super('MeanSquaredError', meanSquaredError, o);
  }
}
export class MeanAbsoluteError extends Loss {
  constructor(o: LossOptions = {}) {
    super('MeanAbsoluteError', meanAbsoluteError, o);
  }
}
export class Huber extends Loss {
  constructor(o: LossOptions & { delta?: number } = {}) {
    super('Huber', LOSSES.Huber(o), o);
  }
}
export class BinaryCrossentropy extends Loss {
  constructor(o: LossOptions & CrossentropyOptions = {}) {
    super('BinaryCrossentropy', LOSSES.BinaryCrossentropy(o), o);
  }
}
export class CategoricalCrossentropy extends Loss {
  constructor(o: LossOptions & CrossentropyOptions = {}) {
    super('CategoricalCrossentropy', LOSSES.CategoricalCrossentropy(o), o);
  }
}
export class SparseCategoricalCrossentropy extends Loss {
  constructor(o: LossOptions & { fromLogits?: boolean; ignoreClass?: number } = {}) {
    super('SparseCategoricalCrossentropy', LOSSES.SparseCategoricalCrossentropy(o), o);
  }
}
export class Hinge extends Loss {
  constructor(o: LossOptions = {}) {
    super('Hinge', hinge, o);
  }
}
export class KLDivergence extends Loss {
  constructor(o: LossOptions = {}) {
    super('KLDivergence', kld, o);
  }
}

export type LossSpec = string | Loss | LossFn | ({ className?: string; name?: string } & Record<string, unknown>);

/** Resolves what compile() accepts: a name, a Loss, a function, or {className|name, ...options}. */
export function getLoss(spec: LossSpec): Loss {
  if (spec instanceof Loss) return spec;
  if (typeof spec === 'string') return makeLoss(spec);
  if (typeof spec === 'function') return new Loss(spec.name || 'customLoss', spec);
  if (spec && typeof spec === 'object') {
    const { className, config, name, ...rest } = spec as Record<string, any>;
    const kind = className ?? name;
    if (typeof kind !== 'string')
      throw new Error(
        `loss: an options object needs 'className' (or 'name'), e.g. {className: 'sparseCategoricalCrossentropy', fromLogits: true}`,
      );
    return makeLoss(kind, { ...(config ?? {}), ...rest });
  }
  throw new Error(`loss: expected a name, a Loss, a function or an options object, got ${String(spec)}`);
}

/** {className, config} of a built-in loss, or null for custom functions (they cannot be saved). */
export function serializeLoss(loss: Loss): { className: string; config: Record<string, unknown> } | null {
  return loss.className in LOSSES ? loss.getConfig() : null;
}

const PROBABILITY_LOSSES: Record<string, string> = {
  BinaryCrossentropy: 'binaryCrossentropy',
  CategoricalCrossentropy: 'categoricalCrossentropy',
  SparseCategoricalCrossentropy: 'sparseCategoricalCrossentropy',
};

/** For a built-in cross entropy on probabilities (fromLogits false): what is wrong with these predictions, if anything. */
export function lossInputProblem(loss: Loss, yPred: Tensor): string | undefined {
  const op = PROBABILITY_LOSSES[loss.className];
  return op && !loss.fromLogits ? probabilityProblem(op, yPred) : undefined;
}

/** Whether this loss is a built-in cross entropy that takes probabilities (fromLogits false). */
export function expectsProbabilities(loss: Loss): boolean {
  return loss.className in PROBABILITY_LOSSES && !loss.fromLogits;
}

/** Whether labels for this loss are integer class indices. */
export function usesSparseLabels(loss: Loss): boolean {
  return loss.className === 'SparseCategoricalCrossentropy';
}
