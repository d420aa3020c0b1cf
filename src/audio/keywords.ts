/**
 * Streaming keyword spotting: a clip classifier (e.g. the CNN examples/kws.ts trains on one-second
 * clips) run over a sliding window of a stream. Each window's class posteriors are averaged over
 * the last few windows (a keyword straddles several, and one noisy window should not fire), the
 * best keyword fires when its smoothed score reaches a threshold, and a refractory period keeps one
 * spoken word from firing again while the window slides over it. The API follows the recognizer's
 * (`acceptWaveform`, `result`, `reset`).
 */
import { concatSamples, streamSamples } from './wav.js';

/**
 * Scores windows of samples (each `windowSamples` long): per window, a probability per class in
 * label order. Called with every window that became complete during one `acceptWaveform`.
 */
export type WindowScorer = (windows: Float32Array[]) => ArrayLike<number>[];

export interface KeywordDetectorOptions {
  /** Class names in the scorer's output order. */
  labels: readonly string[];
  /** The classes that are keywords (default: every label that does not start with '_', e.g. '_silence_', '_unknown_'). */
  keywords?: readonly string[];
  /** Input sample rate (default 16000). */
  sampleRate?: number;
  /** Window length in seconds, the classifier's clip length (default 1). */
  windowSeconds?: number;
  /** Seconds between window starts (default 0.1). */
  hopSeconds?: number;
  /** Fire when a keyword's smoothed probability reaches this (default 0.8). */
  threshold?: number;
  /** Windows averaged, the newest and the ones before it (default 3). */
  smoothing?: number;
  /** Seconds after a detection during which nothing fires (default 1). */
  refractorySeconds?: number;
}

export interface KeywordDetection {
  keyword: string;
  /** The keyword's index in `labels`. */
  label: number;
  /** Its smoothed probability. */
  score: number;
  /** Seconds from the start of the stream: the span of the windows that were averaged (the word lies inside). */
  start: number;
  end: number;
}

export class KeywordDetector {
  readonly labels: readonly string[];
  readonly sampleRate: number;
  readonly windowSamples: number;
  readonly hopSamples: number;
  private readonly keywordIds: number[];
  private readonly threshold: number;
  private readonly smoothing: number;
  private readonly refractorySamples: number;
  private buffer = new Float32Array(0); // samples from absolute sample `bufferStart`
  private bufferStart = 0;
  private nextWindow = 0; // absolute start sample of the next window to score
  private recent: ArrayLike<number>[] = []; // posteriors of the last `smoothing` windows
  private quietUntil = -1; // absolute sample before which no detection fires (refractory)
  private readonly queue: KeywordDetection[] = [];
  /** Windows scored since the start (or the last reset). */
  windows = 0;
  /** Samples fed since the start (or the last reset). */
  samples = 0;

  constructor(
    private readonly score: WindowScorer,
    options: KeywordDetectorOptions,
  ) {
    const { labels } = options;
    if (!Array.isArray(labels) || labels.length === 0)
      throw new Error('KeywordDetector: labels must name the classes of the scorer, in order');
    this.labels = [...labels];
    const keywords = options.keywords ?? labels.filter((l) => !l.startsWith('_'));
    this.keywordIds = keywords.map((k) => {
      const i = labels.indexOf(k);
      if (i < 0) throw new Error(`KeywordDetector: keyword '${k}' is not one of the labels (${labels.join(', ')})`);
      return i;
    });
    if (this.keywordIds.length === 0) throw new Error('KeywordDetector: no keywords among the labels');
    this.sampleRate = options.sampleRate ?? 16000;
    const samplesOf = (name: string, seconds: number, min: number): number => {
      const n = Math.round(seconds * this.sampleRate);
      if (!Number.isFinite(seconds) || n < min)
        throw new Error(
          `KeywordDetector: ${name} must be at least ${min} sample(s) at ${this.sampleRate} Hz, got ${seconds} s`,
        );
      return n;
    };
    this.windowSamples = samplesOf('windowSeconds', options.windowSeconds ?? 1, 1);
    this.hopSamples = samplesOf('hopSeconds', options.hopSeconds ?? 0.1, 1);
    this.refractorySamples = samplesOf('refractorySeconds', options.refractorySeconds ?? 1, 0);
    this.threshold = options.threshold ?? 0.8;
    if (!(this.threshold > 0 && this.threshold <= 1))
      throw new Error(`KeywordDetector: threshold must be in (0, 1], got ${options.threshold}`);
    this.smoothing = options.smoothing ?? 3;
    if (!Number.isInteger(this.smoothing) || this.smoothing < 1)
      throw new Error(`KeywordDetector: smoothing must be a positive integer of windows, got ${options.smoothing}`);
  }

  /** Seconds of audio fed so far. */
  get seconds(): number {
    return this.samples / this.sampleRate;
  }

  /** Feeds samples (mono, `sampleRate`); scores every window they complete; true when a keyword fired (read it with `result()`). */
  acceptWaveform(samples: Float32Array | ArrayLike<number>): boolean {
    const chunk = streamSamples('KeywordDetector.acceptWaveform', samples);
    this.buffer = concatSamples([this.buffer, chunk]);
    this.samples += chunk.length;
    const starts: number[] = [];
    for (let s = this.nextWindow; s + this.windowSamples <= this.samples; s += this.hopSamples) starts.push(s);
    const before = this.queue.length;
    if (starts.length > 0) {
      const windows = starts.map((s) =>
        this.buffer.slice(s - this.bufferStart, s - this.bufferStart + this.windowSamples),
      );
      const scores = this.score(windows);
      if (!Array.isArray(scores) || scores.length !== windows.length)
        throw new Error(
          `KeywordDetector: the scorer returned ${Array.isArray(scores) ? scores.length : typeof scores} results for ${windows.length} windows`,
        );
      starts.forEach((s, i) => this.step(s, scores[i]!));
      this.nextWindow = starts[starts.length - 1]! + this.hopSamples;
      // Keep only what the next window needs.
      const drop = Math.min(this.nextWindow, this.samples) - this.bufferStart;
      this.buffer = this.buffer.slice(drop);
      this.bufferStart += drop;
    }
    return this.queue.length > before;
  }

  private step(start: number, probs: ArrayLike<number>): void {
    if (probs.length !== this.labels.length)
      throw new Error(
        `KeywordDetector: the scorer gave ${probs.length} scores for a window, expected one per label (${this.labels.length})`,
      );
    this.windows++;
    this.recent.push(probs);
    if (this.recent.length > this.smoothing) this.recent.shift();
    let best = -1;
    let bestScore = -Infinity;
    for (const k of this.keywordIds) {
      let s = 0;
      for (const p of this.recent) s += p[k]!;
      s /= this.recent.length;
      if (s > bestScore) {
        bestScore = s;
        best = k;
      }
    }
    const end = start + this.windowSamples;
    if (bestScore >= this.threshold && end > this.quietUntil) {
      const first = start - (this.recent.length - 1) * this.hopSamples;
      this.queue.push({
        keyword: this.labels[best]!,
        label: best,
        score: bestScore,
        start: first / this.sampleRate,
        end: end / this.sampleRate,
      });
      this.quietUntil = end + this.refractorySamples;
      this.recent = []; // the next detection needs fresh evidence
    }
  }

  /** The next detection (undefined when none is waiting). */
  result(): KeywordDetection | undefined {
    return this.queue.shift();
  }

  /** Forgets the stream (keeps the scorer and options). */
  reset(): void {
    this.buffer = new Float32Array(0);
    this.bufferStart = 0;
    this.nextWindow = 0;
    this.recent = [];
    this.quietUntil = -1;
    this.queue.length = 0;
    this.windows = 0;
    this.samples = 0;
  }
}
