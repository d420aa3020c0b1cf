/**
 * Metrics with Keras semantics, accumulated over an epoch. A metric computes small per-batch
 * statistics with ops (`batchStats`: counts, sums — traced into the train-step graph, so only a
 * few numbers leave the worker per batch); the host adds them up in float64 (`accumulate`) and
 * `result()` turns the totals into the value. `update(yTrue, yPred)` does both eagerly.
 */
import {
  Tensor,
  abs,
  argmax,
  cast,
  equal,
  greater,
  matmul,
  mul,
  oneHot,
  reducedSize,
  reshape,
  sigmoid,
  square,
  sub,
  sum,
  tensor,
  transpose,
} from '../engine/index.js';
import { alignTarget, sparseLabels } from './losses.js';
import type { TypedArray } from '../engine/dtype.js';
import { nameKey } from '../nn/names.js';

export abstract class Metric {
  readonly name: string;
  private totals: Float64Array[] | undefined;

  constructor(name: string) {
    this.name = name;
  }

  /** Per-batch statistics (float32 tensors) that add up over batches. */
  abstract batchStats(yTrue: Tensor, yPred: Tensor): Tensor[];

  /** The metric value from the accumulated totals. */
  protected abstract compute(totals: Float64Array[]): number;

  accumulate(stats: readonly (TypedArray | Tensor)[]): void {
    const arrays = stats.map((s) => (s instanceof Tensor ? s.data : s));
    if (!this.totals) this.totals = arrays.map((a) => new Float64Array(a.length));
    arrays.forEach((a, i) => {
      const t = this.totals![i];
      for (let k = 0; k < t.length; k++) t[k] += Number(a[k]);
    });
  }

  /** Eager update from concrete tensors. */
  update(yTrue: Tensor, yPred: Tensor): this {
    this.accumulate(this.batchStats(yTrue, yPred));
    return this;
  }

  reset(): void {
    this.totals = undefined;
  }

  /** The accumulated totals, to put back later with restoreState (validation inside fit uses this). */
  saveState(): Float64Array[] | undefined {
    return this.totals?.map((t) => t.slice());
  }

  restoreState(saved: Float64Array[] | undefined): void {
    this.totals = saved?.map((t) => t.slice());
  }

  /** Current value (0 before any update). */
  result(): number {
    return this.totals ? this.compute(this.totals) : 0;
  }

  /** The accumulated statistics (for metrics whose value is not one number). */
  protected get accumulated(): Float64Array[] | undefined {
    return this.totals;
  }

  /** Values to log under this metric (one entry by default; none for non-scalar metrics). */
  logValues(): Record<string, number> {
    return { [this.name]: this.result() };
  }

  /** Constructor options, saved with the model (subclasses set them). */
  protected configOptions: Record<string, unknown> = {};

  getConfig(): { className: string; config: Record<string, unknown> } {
    return { className: this.constructor.name, config: { ...this.configOptions, name: this.name } };
  }
}

const f32 = (x: Tensor): Tensor => (x.dtype === 'float32' ? x : cast(x, 'float32'));
const divideOrZero = (a: number, b: number): number => (b === 0 ? 0 : a / b);

/** Mean of a per-sample value over all samples seen. */
export class MeanMetric extends Metric {
  constructor(
    name: string,
    private readonly fn: (yTrue: Tensor, yPred: Tensor) => Tensor,
  ) {
    super(name);
  }
  batchStats(yTrue: Tensor, yPred: Tensor): Tensor[] {
    const v = f32(this.fn(yTrue, yPred));
    return [reshape(sum(v), [1]), elementCount(v)];
  }
  protected compute([s, n]: Float64Array[]): number {
    return divideOrZero(s[0], n[0]);
  }
}

/** Number of elements of v as a [1] float32 tensor (read at run time for a symbolic batch size). */
function elementCount(v: Tensor): Tensor {
  const n = reducedSize(
    v,
    v.shape.map((_, i) => i),
    'float32',
  );
  return n instanceof Tensor ? reshape(n, [1]) : tensor([n]);
}

/** Float32 predictions and the targets in their shape ([B] vs [B, 1]); a real shape mismatch is an error naming `who`. */
function flatPair(who: string, yTrue: Tensor, yPred: Tensor): [Tensor, Tensor] {
  const p = f32(yPred);
  return [alignTarget(who, yTrue, p), p];
}

/** Fraction of predictions on the right side of `threshold` (labels 0/1). */
export class BinaryAccuracy extends MeanMetric {
  constructor(options: { threshold?: number; name?: string } = {}) {
    const threshold = options.threshold ?? 0.5;
    super(options.name ?? 'binary_accuracy', (yTrue, yPred) => {
      const [t, p] = flatPair('binary_accuracy', yTrue, yPred);
      return cast(equal(cast(greater(p, threshold), 'float32'), cast(greater(t, 0.5), 'float32')), 'float32');
    });
    this.configOptions = { ...options };
  }
}

/** argmax(yPred) == argmax(yTrue) for one-hot targets. */
export class CategoricalAccuracy extends MeanMetric {
  constructor(options: { name?: string } = {}) {
    super(options.name ?? 'categorical_accuracy', (yTrue, yPred) =>
      cast(equal(argmax(yPred, -1), argmax(yTrue, -1)), 'float32'),
    );
    this.configOptions = { ...options };
  }
}

/** argmax(yPred) == label for integer labels. */
export class SparseCategoricalAccuracy extends MeanMetric {
  constructor(options: { name?: string } = {}) {
    super(options.name ?? 'sparse_categorical_accuracy', (yTrue, yPred) =>
      cast(equal(argmax(yPred, -1), sparseLabels(yTrue, yPred, 'sparse_categorical_accuracy')), 'float32'),
    );
    this.configOptions = { ...options };
  }
}

/** The true class's score is among the k largest: fewer than k classes score strictly higher (tf.math.in_top_k). */
function inTopK(scores: Tensor, labels: Tensor, k: number): Tensor {
  const classes = scores.shape[scores.rank - 1] as number;
  const trueScore = sum(mul(f32(scores), oneHot(labels, classes)), -1, true);
  const higher = sum(f32(greater(f32(scores), trueScore)), -1);
  return f32(greater(k - 0.5, higher));
}

export class TopKCategoricalAccuracy extends MeanMetric {
  constructor(options: { k?: number; name?: string } = {}) {
    const k = options.k ?? 5;
    super(options.name ?? 'top_k_categorical_accuracy', (yTrue, yPred) => inTopK(yPred, argmax(yTrue, -1), k));
    this.configOptions = { ...options };
  }
}

export class SparseTopKCategoricalAccuracy extends MeanMetric {
  constructor(options: { k?: number; name?: string } = {}) {
    const k = options.k ?? 5;
    super(options.name ?? 'sparse_top_k_categorical_accuracy', (yTrue, yPred) =>
      inTopK(yPred, sparseLabels(yTrue, yPred, 'sparse_top_k_categorical_accuracy'), k),
    );
    this.configOptions = { ...options };
  }
}

export class MeanSquaredErrorMetric extends MeanMetric {
  constructor(options: { name?: string } = {}) {
    super(options.name ?? 'mse', (yTrue, yPred) => {
      const [t, p] = flatPair('mse', yTrue, yPred);
      return square(sub(p, t));
    });
    this.configOptions = { ...options };
  }
}

export class MeanAbsoluteErrorMetric extends MeanMetric {
  constructor(options: { name?: string } = {}) {
    super(options.name ?? 'mae', (yTrue, yPred) => {
      const [t, p] = flatPair('mae', yTrue, yPred);
      return abs(sub(p, t));
    });
    this.configOptions = { ...options };
  }
}

export interface ThresholdOptions {
  /** Predictions above this count as positive (default 0.5). */
  threshold?: number;
  /** Apply a sigmoid to the predictions first (they are logits). */
  fromLogits?: boolean;
  name?: string;
}

/** [tp, fp, fn] counts over all elements, predictions thresholded (Keras Precision/Recall). */
function confusionCounts(yTrue: Tensor, yPred: Tensor, threshold: number, fromLogits: boolean): Tensor[] {
  const [t, p0] = flatPair('precision/recall', yTrue, yPred);
  const p = fromLogits ? sigmoid(p0) : p0;
  const pos = f32(greater(p, threshold));
  const actual = f32(greater(t, 0.5));
  const tp = sum(mul(pos, actual));
  const fp = sum(mul(pos, sub(1, actual)));
  const fn = sum(mul(sub(1, pos), actual));
  return [reshape(tp, [1]), reshape(fp, [1]), reshape(fn, [1])];
}

export class Precision extends Metric {
  constructor(private readonly options: ThresholdOptions = {}) {
    super(options.name ?? 'precision');
    this.configOptions = { ...options };
  }
  batchStats(yTrue: Tensor, yPred: Tensor): Tensor[] {
    return confusionCounts(yTrue, yPred, this.options.threshold ?? 0.5, !!this.options.fromLogits);
  }
  protected compute([tp, fp]: Float64Array[]): number {
    return divideOrZero(tp[0], tp[0] + fp[0]);
  }
}

export class Recall extends Metric {
  constructor(private readonly options: ThresholdOptions = {}) {
    super(options.name ?? 'recall');
    this.configOptions = { ...options };
  }
  batchStats(yTrue: Tensor, yPred: Tensor): Tensor[] {
    return confusionCounts(yTrue, yPred, this.options.threshold ?? 0.5, !!this.options.fromLogits);
  }
  protected compute([tp, , fn]: Float64Array[]): number {
    return divideOrZero(tp[0], tp[0] + fn[0]);
  }
}

/**
 * F1 = 2·P·R/(P+R). Binary/multi-label predictions are thresholded; with `threshold: null` the
 * predictions are one-hot of the argmax (multi-class). 'micro' pools counts over classes,
 * 'macro' averages per-class F1 (columns of yPred).
 */
export class F1Score extends Metric {
  constructor(
    private readonly options: {
      threshold?: number | null;
      average?: 'micro' | 'macro';
      fromLogits?: boolean;
      name?: string;
    } = {},
  ) {
    super(options.name ?? 'f1');
    this.configOptions = { ...options };
  }
  batchStats(yTrue: Tensor, yPred: Tensor): Tensor[] {
    const threshold = this.options.threshold === undefined ? 0.5 : this.options.threshold;
    let p = f32(yPred);
    let t = f32(yTrue);
    if (p.rank === 1) p = reshape(p, [p.shape[0], 1]);
    if (t.shape.join() !== p.shape.join()) t = reshape(t, p.shape);
    const classes = p.shape[p.rank - 1] as number;
    let pos: Tensor;
    if (threshold === null) pos = oneHot(argmax(p, -1), classes);
    else pos = f32(greater(this.options.fromLogits ? sigmoid(p) : p, threshold));
    const actual = f32(greater(t, 0.5));
    const tp = sum(mul(pos, actual), 0);
    const fp = sum(mul(pos, sub(1, actual)), 0);
    const fn = sum(mul(sub(1, pos), actual), 0);
    return [tp, fp, fn];
  }
  protected compute([tp, fp, fn]: Float64Array[]): number {
    const f1 = (a: number, b: number, c: number): number => divideOrZero(2 * a, 2 * a + b + c);
    if ((this.options.average ?? 'micro') === 'micro') {
      const s = (x: Float64Array): number => x.reduce((u, v) => u + v, 0);
      return f1(s(tp), s(fp), s(fn));
    }
    let total = 0;
    for (let i = 0; i < tp.length; i++) total += f1(tp[i], fp[i], fn[i]);
    return total / tp.length;
  }
}

/**
 * Area under the ROC (or precision–recall) curve, approximated like Keras: confusion counts at
 * `numThresholds` evenly spaced thresholds in [0, 1] (plus −ε and 1+ε), trapezoidal summation.
 */
export class AUC extends Metric {
  readonly thresholds: number[];
  constructor(
    private readonly options: {
      numThresholds?: number;
      curve?: 'ROC' | 'PR';
      fromLogits?: boolean;
      name?: string;
    } = {},
  ) {
    super(options.name ?? 'auc');
    this.configOptions = { ...options };
    const n = options.numThresholds ?? 200;
    if (n < 2) throw new Error(`AUC: numThresholds must be at least 2, got ${n}`);
    const eps = 1e-7;
    this.thresholds = [0 - eps, ...Array.from({ length: n - 2 }, (_, i) => (i + 1) / (n - 1)), 1 + eps];
  }
  batchStats(yTrue: Tensor, yPred: Tensor): Tensor[] {
    const [t0, p0] = flatPair('AUC', yTrue, yPred);
    const p = reshape(this.options.fromLogits ? sigmoid(p0) : p0, [-1, 1]);
    const t = reshape(f32(greater(t0, 0.5)), [1, -1]);
    const above = f32(greater(p, tensor(this.thresholds)));
    const tp = reshape(matmul(t, above), [-1]);
    const predPos = sum(above, 0);
    const positives = reshape(sum(t), [1]);
    return [tp, predPos, positives, elementCount(t)];
  }
  protected compute([tpArr, predPos, [positives], [total]]: Float64Array[]): number {
    const n = this.thresholds.length;
    const negatives = total - positives;
    const x: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < n; i++) {
      const tp = tpArr[i];
      const fp = predPos[i] - tp;
      const fn = positives - tp;
      const recall = divideOrZero(tp, tp + fn);
      if ((this.options.curve ?? 'ROC') === 'ROC') {
        x.push(divideOrZero(fp, negatives));
        y.push(recall);
      } else {
        x.push(recall);
        y.push(divideOrZero(tp, tp + fp));
      }
    }
    let area = 0;
    for (let i = 0; i < n - 1; i++) area += (x[i] - x[i + 1]) * ((y[i] + y[i + 1]) / 2);
    return area;
  }
}

/** Counts [numClasses, numClasses]: rows are true classes, columns predicted (argmax, or threshold 0.5 for one column). */
export class ConfusionMatrix extends Metric {
  constructor(
    readonly numClasses: number,
    options: { name?: string } = {},
  ) {
    super(options.name ?? 'confusion_matrix');
  }
  batchStats(yTrue: Tensor, yPred: Tensor): Tensor[] {
    const c = this.numClasses;
    const predicted =
      yPred.rank >= 2 && yPred.shape[yPred.rank - 1] !== 1
        ? argmax(yPred, -1)
        : cast(greater(reshape(f32(yPred), [-1]), 0.5), 'int64');
    let actual = yTrue;
    if (
      actual.rank >= 2 &&
      actual.shape[actual.rank - 1] !== 1 &&
      actual.shape[actual.rank - 1] === c &&
      yTrue.dtype !== 'int64' &&
      yTrue.dtype !== 'int32'
    )
      actual = argmax(actual, -1);
    actual = reshape(actual.dtype === 'int64' ? actual : cast(actual, 'int64'), [-1]);
    const a = oneHot(actual, c);
    const p = oneHot(reshape(predicted, [-1]), c);
    return [reshape(matmul(transpose(a, [1, 0]), p), [-1])];
  }
  protected compute(): number {
    return 0;
  }
  /** The accumulated matrix as rows of counts. */
  matrix(): number[][] {
    const acc = this.accumulated?.[0] ?? new Float64Array(this.numClasses * this.numClasses);
    return Array.from({ length: this.numClasses }, (_, i) =>
      Array.from(acc.subarray(i * this.numClasses, (i + 1) * this.numClasses)),
    );
  }
  override logValues(): Record<string, number> {
    return {};
  }
}

/** Confusion matrix of integer labels and predicted classes (or scores, argmax taken), eagerly. */
export function confusionMatrix(yTrue: Tensor, yPred: Tensor, numClasses: number): number[][] {
  return new ConfusionMatrix(numClasses).update(yTrue, yPred).matrix();
}

/** Metric classes by name, for rebuilding saved metric configs ({className, config: options}). */
export const METRIC_CLASSES: Record<string, new (options: any) => Metric> = {
  BinaryAccuracy,
  CategoricalAccuracy,
  SparseCategoricalAccuracy,
  TopKCategoricalAccuracy,
  SparseTopKCategoricalAccuracy,
  MeanSquaredErrorMetric,
  MeanAbsoluteErrorMetric,
  Precision,
  Recall,
  F1Score,
  AUC,
};

// ---------------------------------------------------------------------------------------------
// Resolution of compile's `metrics` entries

export type MetricFn = (yTrue: Tensor, yPred: Tensor) => Tensor;
export type MetricSpec = string | Metric | MetricFn;

export interface LossHints {
  className?: string;
  fromLogits?: boolean;
}

/** Resolves a metric name ('accuracy' follows the loss, like Keras), instance or function. */
export function getMetric(spec: MetricSpec, loss: LossHints = {}): Metric {
  if (spec instanceof Metric) return spec;
  if (typeof spec === 'function') return new MeanMetric(spec.name || 'metric', spec);
  const key = nameKey(spec);
  const logits = !!loss.fromLogits;
  switch (key) {
    case 'accuracy':
    case 'acc': {
      if (loss.className === 'SparseCategoricalCrossentropy') return new SparseCategoricalAccuracy({ name: spec });
      if (loss.className === 'CategoricalCrossentropy') return new CategoricalAccuracy({ name: spec });
      return new BinaryAccuracy({ name: spec, threshold: logits ? 0 : 0.5 });
    }
    case 'binaryaccuracy':
      return new BinaryAccuracy({ name: spec, threshold: logits ? 0 : 0.5 });
    case 'categoricalaccuracy':
      return new CategoricalAccuracy({ name: spec });
    case 'sparsecategoricalaccuracy':
      return new SparseCategoricalAccuracy({ name: spec });
    case 'topkcategoricalaccuracy':
      return new TopKCategoricalAccuracy({ name: spec });
    case 'sparsetopkcategoricalaccuracy':
      return new SparseTopKCategoricalAccuracy({ name: spec });
    case 'precision':
      return new Precision({ name: spec, fromLogits: logits });
    case 'recall':
      return new Recall({ name: spec, fromLogits: logits });
    case 'f1':
    case 'f1score':
      return new F1Score({ name: spec, fromLogits: logits });
    case 'auc':
      return new AUC({ name: spec, fromLogits: logits });
    case 'mse':
    case 'meansquarederror':
      return new MeanSquaredErrorMetric({ name: spec });
    case 'mae':
    case 'meanabsoluteerror':
      return new MeanAbsoluteErrorMetric({ name: spec });
    default:
      throw new Error(
        `unknown metric '${spec}' (known: accuracy, binaryAccuracy, categoricalAccuracy, sparseCategoricalAccuracy, ` +
          `topKCategoricalAccuracy, sparseTopKCategoricalAccuracy, precision, recall, f1, auc, mse, mae; or a Metric or function)`,
      );
  }
}
