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
  /** The class. */
  name: string;
  /** The mean of `precision`: COCO-style average precision. */
  ap: number;
  /** Interpolated precision at each recall point (4 decimals). */
  precision: number[];
}

/** Curves drawn in one plot (e.g. a detector's curves at IoU 0.5). */
export interface PrCurveSet {
  /** What the curves share (e.g. 'IoU 0.5'). */
  label: string;
  /** One per class with positives. */
  curves: PrCurve[];
}

/** One class's scores from the confusion matrix (and AP when curves exist). */
export interface ClassScores {
  name: string;
  /** Correct predictions of the class over all its predictions (0 when it is never predicted). */
  precision: number;
  /** Correct predictions of the class over its true samples (0 without samples). */
  recall: number;
  /** 2·precision·recall/(precision + recall), 0 when both are 0. */
  f1: number;
  /** True samples (objects) of this class. */
  support: number;
  /** Average precision (classifier: one-vs-rest; detector: AP@[.5:.95]); null without positives. */
  ap: number | null;
}

/** An evaluation of a classifier or detector: what the studio's model and run pages draw. */
export interface EvaluationReport {
  task: 'classification' | 'detection';
  /** The classes, in label (classifier) or category-id (detector) order. */
  classNames: string[];
  /** Samples (classifier) or images (detector) evaluated. */
  samples: number;
  /** Summary numbers (accuracy, macro_f1, … or map, map50, …). */
  metrics: Record<string, number>;
  /** Precision, recall and F1 from the confusion matrix, support and AP, per class. */
  perClass: ClassScores[];
  confusion: ConfusionData;
  /** One plot each (a classifier: one-vs-rest; a detector: IoU 0.5 and the mean over .5:.95). */
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
