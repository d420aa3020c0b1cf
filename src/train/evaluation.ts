/**
 * Precision–recall curves and per-class reports of a classifier's predictions, for `lepton
 * evaluate` and the studio. Curves use COCO's 101-point interpolated precision (the precision
 * envelope sampled at recall 0, 0.01, …, 1) — the same routine the COCO detection evaluator
 * (vision/metrics/coco.ts) samples its curves with — so a classifier's one-vs-rest AP and a
 * detector's AP mean the same thing. The confusion matrix is `confusionMatrix` (metrics.ts).
 */
import { tensor } from '../engine/index.js';
import type { ClassScores, EvaluationReport, PrCurve } from '../registry/evaluation.js';
import { confusionMatrix } from './metrics.js';

export type {
  ClassScores,
  ConfusionData,
  EvaluationReport,
  PrCurve,
  PrCurveSet,
} from '../registry/evaluation.js';

/** numpy.linspace(start, stop, n) as plain numbers: i*step + start, with the last value exactly `stop`. */
export function numpyLinspace(start: number, stop: number, n: number): number[] {
  const step = (stop - start) / (n - 1);
  const out = Array.from({ length: n }, (_, i) => i * step + start);
  out[n - 1] = stop;
  return out;
}

/** The 101 recall points of COCOeval (0, 0.01, …, 1). */
export const RECALL_POINTS: readonly number[] = numpyLinspace(0, 1, 101);

/**
 * Interpolated precision at each recall threshold, as pycocotools' accumulate(): `recall` and
 * `precision` follow a ranking (highest score first); precision becomes its envelope (the best
 * precision at this or any higher recall — `precision` is overwritten) and is read at the first
 * rank whose recall reaches each threshold, 0 beyond the last recall reached.
 */
export function interpolatedPrecision(
  recall: ArrayLike<number>,
  precision: Float64Array,
  thresholds: readonly number[] = RECALL_POINTS,
): Float64Array {
  const nd = recall.length;
  if (precision.length !== nd)
    throw new Error(`interpolatedPrecision: ${nd} recall values but ${precision.length} precision values`);
  for (let n = nd - 1; n > 0; n--) if (precision[n] > precision[n - 1]) precision[n - 1] = precision[n];
  const out = new Float64Array(thresholds.length);
  let pi = 0;
  for (let r = 0; r < thresholds.length; r++) {
    while (pi < nd && recall[pi] < thresholds[r]) pi++;
    out[r] = pi < nd ? precision[pi] : 0;
  }
  return out;
}

/**
 * The precision–recall curve of scores against binary truth: samples ranked by score (ties keep
 * their order, as COCOeval's stable sort), precision interpolated at `RECALL_POINTS`; AP is its
 * mean. Null when there are no positives (recall is undefined).
 */
export function precisionRecallCurve(
  scores: ArrayLike<number>,
  positive: ArrayLike<boolean | number>,
): { precision: Float64Array; ap: number } | null {
  const n = scores.length;
  if (positive.length !== n) throw new Error(`precisionRecallCurve: ${n} scores but ${positive.length} truth values`);
  let npos = 0;
  for (let i = 0; i < n; i++) if (positive[i]) npos++;
  if (npos === 0) return null;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  const rc = new Float64Array(n);
  const pr = new Float64Array(n);
  let tp = 0;
  order.forEach((i, rank) => {
    if (positive[i]) tp++;
    rc[rank] = tp / npos;
    pr[rank] = tp / (rank + 1);
  });
  const precision = interpolatedPrecision(rc, pr);
  return { precision, ap: precision.reduce((s, v) => s + v, 0) / precision.length };
}

/**
 * Precision, recall, F1 and support per class from a confusion matrix (rows true, columns
 * predicted). Rows/columns past `names.length` (a detector's background) count as misses and
 * false positives. 0 where a ratio has nothing to divide (scikit-learn's zero_division=0).
 */
export function classScores(counts: readonly (readonly number[])[], names: readonly string[]): ClassScores[] {
  return names.map((name, k) => {
    const tp = counts[k][k];
    const support = counts[k].reduce((s, v) => s + v, 0);
    const predicted = counts.reduce((s, row) => s + row[k], 0);
    const precision = predicted ? tp / predicted : 0;
    const recall = support ? tp / support : 0;
    return {
      name,
      precision,
      recall,
      f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0,
      support,
      ap: null,
    };
  });
}

/** Rounds curve values for storage (4 decimals: well below a pixel of any plot). */
export function roundCurve(values: ArrayLike<number>): number[] {
  return Array.from(values, (v) => Math.round(v * 1e4) / 1e4);
}

/**
 * A classifier's evaluation report: `probs` [n, k] row-major (class scores; the predicted class is
 * the argmax), `labels` the true class of each sample. One-vs-rest PR curves per class with
 * positives; metrics accuracy, macro_f1 and macro_ap (over classes with positives).
 */
export function classificationReport(
  labels: ArrayLike<number>,
  probs: ArrayLike<number>,
  numClasses: number,
  classNames?: readonly string[],
): EvaluationReport {
  const n = labels.length;
  const k = numClasses;
  if (probs.length !== n * k)
    throw new Error(
      `classificationReport: expected ${n} × ${k} = ${n * k} scores for ${n} labels, got ${probs.length}`,
    );
  for (let i = 0; i < n; i++)
    if (!(Number.isInteger(labels[i]) && labels[i] >= 0 && labels[i] < k))
      throw new Error(`classificationReport: label ${labels[i]} of sample ${i} is not a class index in [0, ${k})`);
  const names = Array.from({ length: k }, (_, c) => classNames?.[c] ?? String(c));
  const counts =
    n === 0
      ? names.map(() => names.map(() => 0))
      : confusionMatrix(tensor(Int32Array.from(labels)), tensor(Float32Array.from(probs), { shape: [n, k] }), k);
  const perClass = classScores(counts, names);
  const curves: PrCurve[] = [];
  const column = new Float64Array(n);
  const truth = new Uint8Array(n);
  names.forEach((name, c) => {
    for (let i = 0; i < n; i++) {
      column[i] = probs[i * k + c];
      truth[i] = labels[i] === c ? 1 : 0;
    }
    const curve = precisionRecallCurve(column, truth);
    if (!curve) return;
    perClass[c].ap = curve.ap;
    curves.push({ name, ap: curve.ap, precision: roundCurve(curve.precision) });
  });
  const correct = counts.reduce((s, row, c) => s + row[c], 0);
  const mean = (v: number[]) => (v.length ? v.reduce((s, x) => s + x, 0) / v.length : 0);
  return {
    task: 'classification',
    classNames: names,
    samples: n,
    metrics: {
      accuracy: n ? correct / n : 0,
      macro_f1: mean(perClass.map((p) => p.f1)),
      macro_ap: mean(curves.map((c) => c.ap)),
    },
    perClass,
    confusion: { labels: names, counts },
    prCurves: [{ label: 'one-vs-rest', curves }],
  };
}
