/**
 * RunTracker: a fit() callback that records a run in the registry — hyper-parameters, per-epoch
 * metrics, per-step training curves, throttled batch progress (for live charts), status, duration
 * and the error if fit threw.
 *
 * Per-step values come from the batch logs fit already sends: those are running means over the
 * epoch (Keras' convention), so the mean over the batches since the previous record is recovered
 * exactly from two running means and their sample counts — no extra hook in the training loop.
 */
import { type Registry, type StepRecord, finiteMetrics, openRegistry } from './registry.js';

/** At most this many step records per epoch (longer epochs record means over several batches). */
const STEP_POINTS_PER_EPOCH = 100;
/** Batch-log keys that are sample means (so differencing running means is exact): losses and accuracies. */
const MEAN_KEY = /(^|_)(loss|acc|accuracy)$/;

type Logs = Record<string, unknown> | undefined;

export interface RunTrackerOptions {
  /** Run name (default: 'run'). */
  name?: string;
  /** Hyper-parameters to record (merged with whatever fit passes in onTrainBegin logs). */
  params?: Record<string, unknown>;
  registry?: Registry;
  /** Minimum milliseconds between batch-progress writes (default 500). */
  progressIntervalMs?: number;
}

export class RunTracker {
  readonly registry: Registry;
  runId: number | undefined;
  private readonly name: string;
  private readonly params: Record<string, unknown>;
  private readonly progressIntervalMs: number;
  private lastProgress = 0;
  private epoch = 0;
  private finished = false;
  private stepsPerEpoch: number | undefined;
  private stepCounter = 0;
  // Samples seen this epoch and the running sums (mean × samples) at the last step record.
  private seen = 0;
  private recordedSeen = 0;
  private recordedSums: Record<string, number> = {};
  private pendingSteps: StepRecord[] = [];

  constructor(options: RunTrackerOptions = {}) {
    this.registry = options.registry ?? openRegistry();
    this.name = options.name ?? 'run';
    this.params = options.params ?? {};
    this.progressIntervalMs = options.progressIntervalMs ?? 500;
  }

  /** Starts the run now (fit also starts it in onTrainBegin if this was not called). */
  start(extraParams: Record<string, unknown> = {}): number {
    if (this.runId === undefined) {
      this.runId = this.registry.createRun(this.name, { ...this.params, ...extraParams });
      this.watchProcess();
    }
    return this.runId;
  }

  /**
   * If the process dies while the run is open (fit threw and nothing caught it, or exit() was
   * called), record the run as failed — better-sqlite3 is synchronous, so this works in 'exit'.
   */
  private watchProcess(): void {
    const onCrash = (error: Error) => this.fail(error);
    const onExit = (code: number) => this.fail(new Error(`the process exited (code ${code}) before training finished`));
    process.on('uncaughtExceptionMonitor', onCrash);
    process.on('exit', onExit);
    this.unwatch = () => {
      process.off('uncaughtExceptionMonitor', onCrash);
      process.off('exit', onExit);
    };
  }

  private unwatch: () => void = () => {};

  setParams(params: { epochs?: number; steps?: number; initialEpoch?: number }): void {
    const p: Record<string, unknown> = {};
    if (params.epochs !== undefined) p.epochs = params.epochs;
    if (params.steps !== undefined) p.stepsPerEpoch = params.steps;
    if (params.steps !== undefined && params.steps > 0) this.stepsPerEpoch = params.steps;
    if (params.initialEpoch) p.initialEpoch = params.initialEpoch;
    this.start();
    this.registry.updateParams(this.runId!, p);
  }

  setModel(model: unknown): void {
    const m = model as { name?: unknown; countParams?: () => number } | undefined;
    const params: Record<string, unknown> = {};
    if (m && typeof m.name === 'string') params.model = m.name;
    if (m && typeof m.countParams === 'function') {
      try {
        params.parameters = m.countParams();
      } catch {
        // optional information only
      }
    }
    if (Object.keys(params).length) {
      this.start();
      this.registry.updateParams(this.runId!, params);
    }
  }

  onTrainBegin(logs?: Logs): void {
    const params = jsonSafe(logs ?? {});
    if (this.runId === undefined) this.start(params);
    else if (Object.keys(params).length) this.registry.updateParams(this.runId, params);
  }

  onEpochBegin(epoch: number): void {
    this.epoch = epoch;
    this.seen = 0;
    this.recordedSeen = 0;
    this.recordedSums = {};
  }

  onBatchEnd(batch: number, logs?: Logs): void {
    this.recordStep(batch, logs ?? {});
    const now = Date.now();
    if (this.runId === undefined || now - this.lastProgress < this.progressIntervalMs) return;
    this.lastProgress = now;
    this.flushSteps();
    this.registry.logProgress(this.runId, { epoch: this.epoch, batch, ...finiteMetrics(logs ?? {}) });
  }

  /** Turns the running means of this batch's logs into a step record every few batches. */
  private recordStep(batch: number, logs: Record<string, unknown>): void {
    this.stepCounter++;
    this.seen += typeof logs.size === 'number' && logs.size > 0 ? logs.size : 1;
    const steps = this.stepsPerEpoch;
    const every = steps ? Math.ceil(steps / STEP_POINTS_PER_EPOCH) : 1;
    if ((batch + 1) % every !== 0 && !(steps !== undefined && batch + 1 >= steps)) return;
    const metrics: Record<string, number> = {};
    const samples = this.seen - this.recordedSeen;
    for (const [key, value] of Object.entries(logs)) {
      if (!MEAN_KEY.test(key) || typeof value !== 'number' || !Number.isFinite(value)) continue;
      const sum = value * this.seen;
      metrics[key] = (sum - (this.recordedSums[key] ?? 0)) / samples;
      this.recordedSums[key] = sum;
    }
    this.recordedSeen = this.seen;
    const step = steps ? this.epoch * steps + batch + 1 : this.stepCounter;
    this.pendingSteps.push({ step, epoch: steps ? this.epoch + (batch + 1) / steps : this.epoch + 1, metrics });
  }

  private flushSteps(): void {
    if (this.runId === undefined || !this.pendingSteps.length || !this.registry.db.open) return;
    this.registry.logSteps(this.runId, this.pendingSteps);
    this.pendingSteps = [];
  }

  onEpochEnd(epoch: number, logs?: Logs): void {
    if (this.runId === undefined) this.start();
    this.flushSteps();
    this.registry.logEpoch(this.runId!, epoch, finiteMetrics(logs ?? {}));
  }

  onTrainEnd(logs?: Logs): void {
    if (this.runId === undefined || this.finished) return;
    this.finished = true;
    this.unwatch();
    this.flushSteps();
    const l = logs ?? {};
    const error = l.error instanceof Error ? l.error.message : typeof l.error === 'string' ? l.error : undefined;
    const status = error ? 'failed' : l.stopped === true || l.stopTraining === true ? 'stopped' : 'completed';
    this.registry.finishRun(this.runId, status, error);
  }

  /** fit calls this when it throws (onTrainEnd is not called then). */
  onTrainError(error: unknown): void {
    this.fail(error);
  }

  /** Marks the run failed (for callers whose fit threw before onTrainEnd ran). */
  fail(error: unknown): void {
    if (this.runId === undefined || this.finished) return;
    this.finished = true;
    this.unwatch();
    if (!this.registry.db.open) return;
    this.flushSteps();
    this.registry.finishRun(this.runId, 'failed', error instanceof Error ? error.message : String(error));
  }
}

function jsonSafe(logs: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(logs)) {
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) out[k] = v;
    else if (Array.isArray(v) && v.every((x) => ['string', 'number', 'boolean'].includes(typeof x))) out[k] = v;
  }
  return out;
}

/**
 * A tracker for scripts run by `lepton train`, which sets LEPTON_TRACK_RUNS=1 and LEPTON_RUN_NAME
 * (the CLI also preloads cli/track-runs.ts, which adds a tracker to every fit of the script);
 * undefined when the script was not started that way.
 */
export function trackerFromEnvironment(params: Record<string, unknown> = {}): RunTracker | undefined {
  if (process.env.LEPTON_TRACK_RUNS !== '1') return undefined;
  return new RunTracker({ name: process.env.LEPTON_RUN_NAME || 'run', params });
}
