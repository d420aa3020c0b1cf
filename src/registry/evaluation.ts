/**
 * What an evaluation of a model on a data set leaves in the registry for the studio's pictures:
 * the confusion matrix, per-class precision/recall/F1 and precision–recall curves. Classifiers
 * (train/evaluation.ts) and detectors (vision/metrics/detection-report.ts) fill the same shape, so
 * the studio draws both with one piece of code. Kept small: curves are sampled at 101 evenly spaced
 * recall points (COCOeval's), so a report is a few kilobytes per class.
 */

/** Counts of true (rows) against predicted (columns) labels. */
export interface ConfusionData {
  /** Row and column labels: the classes, then 'background' for a detector (misses and false detections). */
  labels: string[];
  /** counts[t][p]: samples (objects) of true label t predicted as p. */
  counts: number[][];
  /** Detectors: the IoU a detection needs to match an object. */
  iouThreshold?: number;
  /** Detectors: detections scoring below this are left out. */
  scoreThreshold?: number;
}

/** One class's precision at recall 0, 1/(n−1), …, 1 (COCO's interpolated precision). */
export interface PrCurve {
  name: string;
  /** The mean of `precision`: COCO-style average precision. */
  ap: number;
  precision: number[];
}

/** Curves drawn in one plot (e.g. a detector's curves at IoU 0.5). */
export interface PrCurveSet {
  label: string;
  curves: PrCurve[];
}

/** One class's scores from the confusion matrix (and AP when curves exist). */
export interface ClassScores {
  name: string;
  precision: number;
  recall: number;
  f1: number;
  /** True samples (objects) of this class. */
  support: number;
  /** Average precision (classifier: one-vs-rest; detector: AP@[.5:.95]); null without positives. */
  ap: number | null;
}

export interface EvaluationReport {
  task: 'classification' | 'detection';
  classNames: string[];
  /** Samples (classifier) or images (detector) evaluated. */
  samples: number;
  /** Summary numbers (accuracy, macro_f1, … or map, map50, …). */
  metrics: Record<string, number>;
  perClass: ClassScores[];
  confusion: ConfusionData;
  prCurves: PrCurveSet[];
}

/** A recorded evaluation: which model version (and run) on which data. */
export interface EvaluationRecord {
  id: number;
  model: string | null;
  version: number | null;
  runId: number | null;
  dataset: string;
  createdAt: string;
  report: EvaluationReport;
}
