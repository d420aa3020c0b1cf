/**
 * The loops: fit, evaluate and predict (Keras' Trainer.fit/evaluate/predict). They turn the data
 * into batches (data.ts), drive the runner's steps (runner.ts; data parallel through parallel.ts),
 * keep running means of the loss and the metrics, and call the callbacks. The graphs a step runs
 * are built in steps.ts; compile() is compile-spec.ts.
 */
import { allocate, convertArray, isFloat } from '../engine/dtype.js';
import { checkOptions } from '../engine/options.js';
import { Tensor } from '../engine/tensor.js';
import { type Callback, CallbackList, History, type Logs, defaultCallbacks } from './callbacks.js';
import { type CompileState, type TrainableModel, compiled, stateForInference } from './compile-spec.js';
import {
  type Batch,
  type BatchSource,
  type InputData,
  inputList,
  isAsyncIterable,
  iterableSource,
  rowWeights,
  takeRows,
  targetList,
  tensorSource,
} from './data.js';
import { classNamesOf } from '../data/labels.js';
import type { Metric } from './metrics.js';
import { DataParallelTrainer, type WorkersOption, chooseWorkers } from './parallel.js';
import { InferenceProgress, ProgressLogger } from './progress.js';
import { type Runner, checkLossInputs, ensureBuilt, runnerFor } from './runner.js';
import type { StepResult } from './steps.js';

/** Targets: one Tensor, or one per model output (an array in output order or a record by output name). */
export type Targets = Tensor | Tensor[] | Record<string, Tensor>;

/** A data set for fit/evaluate/predict: an async iterable of [x, y], [x, y, sampleWeight] or {x, y, sampleWeight} (e.g. a Dataset). */
export type BatchIterable = AsyncIterable<unknown>;

/** 0 silent, 1 progress bar (on a TTY; elsewhere as 2), 2 one line per epoch (Keras). */
export type Verbosity = 0 | 1 | 2;

export interface FitOptions {
  /** Number of epochs (default 1). */
  epochs?: number;
  /** Rows per batch for tensor data (default 32). */
  batchSize?: number;
  /** Data evaluated at each epoch end (val_* logs): [x, y], [x, y, sampleWeight] or a data set. */
  validationData?: [InputData, Targets] | [InputData, Targets, Tensor] | BatchIterable;
  /** Fraction of the rows (the last ones, before shuffling) held out for validation. */
  validationSplit?: number;
  /** Shuffle tensor rows at each epoch (default true). */
  shuffle?: boolean;
  /** Weight of each class in the loss (single-output classifiers). */
  classWeight?: Record<number, number>;
  /** Weight of each row in the loss. */
  sampleWeight?: Tensor;
  callbacks?: Callback[];
  /** 0 silent, 1 progress bar (on a TTY), 2 one line per epoch (default 1). */
  verbose?: Verbosity;
  /** The epoch to start at (resuming a run). */
  initialEpoch?: number;
  /** Batches per epoch when the data is an endless iterable. */
  stepsPerEpoch?: number;
  validationBatchSize?: number;
  /**
   * Worker threads to train on (default 'auto'). With n > 1, each batch is split into n shards
   * trained data parallel, one single-threaded ONNX Runtime session per worker (see parallel.ts);
   * 'auto' uses 2 on multi-core machines when the model is large enough for it to pay.
   */
  workers?: WorkersOption;
}

export interface EvaluateOptions {
  /** Rows per batch for tensor data (default 32). */
  batchSize?: number;
  /** Weight of each row in the loss and the metrics. */
  sampleWeight?: Tensor;
  /** 0 silent, 1 progress bar (on a TTY; elsewhere as 2), 2 one summary line (default 1, as in Keras). */
  verbose?: Verbosity;
}

export interface PredictOptions {
  /** Rows per batch for tensor data (default 32). */
  batchSize?: number;
  /** 0 silent, 1 progress bar (on a TTY; elsewhere as 2), 2 one summary line (default 1, as in Keras). */
  verbose?: Verbosity;
}

/** What evaluate returns: the loss and every metric (per output for several outputs), by log name. */
export type EvaluateResult = Logs & { loss: number };

/** What predict returns: a Tensor, or an array/record of Tensors for models with several outputs. */
export type Prediction = Tensor | Tensor[] | Record<string, Tensor>;

// The keys each options object may have (checked at run time; TypeScript checks literals).
const FIT_OPTIONS: readonly (keyof FitOptions)[] = [
  'epochs',
  'batchSize',
  'validationData',
  'validationSplit',
  'shuffle',
  'classWeight',
  'sampleWeight',
  'callbacks',
  'verbose',
  'initialEpoch',
  'stepsPerEpoch',
  'validationBatchSize',
  'workers',
];
const EVALUATE_OPTIONS: readonly (keyof EvaluateOptions)[] = ['batchSize', 'sampleWeight', 'verbose'];
const PREDICT_OPTIONS: readonly (keyof PredictOptions)[] = ['batchSize', 'verbose'];

function inputNames(model: TrainableModel): string[] {
  return (model.inputSpecs ?? []).map((s) => s.name);
}

function outputNamesOf(model: TrainableModel): string[] {
  return (model.compileState as CompileState | undefined)?.outputNames ?? (model.outputSpecs ?? []).map((s) => s.name);
}

function verbosity(v: unknown, who: string, fallback: Verbosity): Verbosity {
  if (v === undefined) return fallback;
  if (v === 0 || v === 1 || v === 2) return v;
  throw new Error(`${who}: verbose must be 0 (silent), 1 (progress bar) or 2 (one line), got ${String(v)}`);
}

/** fit(x, y, options) or fit(dataset, options): tells targets (tensors, arrays or records of them) from options. */
function splitArgs(y: unknown, options: unknown): [Targets | undefined, Record<string, unknown>] {
  const isTargets =
    y instanceof Tensor ||
    (Array.isArray(y) && y.every((t) => t instanceof Tensor)) ||
    (y !== null &&
      typeof y === 'object' &&
      Object.keys(y).length > 0 &&
      Object.values(y).every((t) => t instanceof Tensor));
  if (isTargets) return [y as Targets, (options as Record<string, unknown>) ?? {}];
  if (y === undefined || y === null) return [undefined, (options as Record<string, unknown>) ?? {}];
  if (typeof y === 'object' && !Array.isArray(y)) return [undefined, y as Record<string, unknown>];
  throw new Error(
    `expected targets y to be a Tensor (or an array/record of Tensors for several outputs), got ${String(y)}`,
  );
}

function sourceFor(
  model: TrainableModel,
  x: unknown,
  y: Targets | undefined,
  sampleWeight: Tensor | undefined,
  classWeight: Record<number, number> | undefined,
  batchSize: number,
  who: string,
): BatchSource {
  if (isAsyncIterable(x)) return iterableSource(x, inputNames(model), outputNamesOf(model), classWeight, who);
  const xs = asModelDtypes(model, inputList(x as InputData, inputNames(model), who));
  const ys = targetList(y, outputNamesOf(model), who);
  if (classWeight && ys && ys.length > 1)
    throw new Error(`${who}: classWeight needs a single-output model; use sampleWeight`);
  return tensorSource(xs, ys, rowWeights(ys?.[0], sampleWeight, classWeight), batchSize, who);
}

/** Inputs converted to the dtypes the model declares (e.g. float64 or integer data for a float32 model), like Keras. */
function asModelDtypes(model: TrainableModel, xs: Tensor[]): Tensor[] {
  const specs = model.inputSpecs ?? [];
  return xs.map((t, i) => {
    const want = specs[i]?.dtype;
    if (!want || want === t.dtype || !isFloat(want)) return t;
    return new Tensor(t.shape, want, convertArray(t.data, want));
  });
}

class LossMeter {
  private sum = 0;
  private n = 0;
  add(loss: number, size: number): void {
    this.sum += loss * size;
    this.n += size;
  }
  get value(): number {
    return this.n ? this.sum / this.n : 0;
  }
}

/** Running means of the total loss and, for several outputs, of each output's loss. */
class LossLogs {
  private readonly total = new LossMeter();
  private readonly perOutput: LossMeter[];
  constructor(private readonly outputNames: string[]) {
    this.perOutput = outputNames.map(() => new LossMeter());
  }
  add(r: StepResult, size: number): void {
    this.total.add(r.loss, size);
    r.outputLosses.forEach((l, i) => this.perOutput[i].add(l, size));
  }
  logs(prefix = ''): Logs {
    const logs: Logs = { [`${prefix}loss`]: this.total.value };
    if (this.outputNames.length > 1)
      this.outputNames.forEach((n, i) => (logs[`${prefix}${n}_loss`] = this.perOutput[i].value));
    return logs;
  }
}

function metricLogs(metrics: Metric[], prefix = ''): Logs {
  const logs: Logs = {};
  for (const m of metrics) for (const [k, v] of Object.entries(m.logValues())) logs[prefix + k] = v;
  return logs;
}

/**
 * Keras-style training: `fit(model, x, y, options)` or, for data sets yielding [x, y],
 * `fit(model, dataset, options)`. Returns the History (history.history.loss[epoch], val_loss, metrics...).
 */
export async function fit(
  model: TrainableModel,
  x: InputData,
  y: Targets | undefined,
  options?: FitOptions,
): Promise<History>;
export async function fit(model: TrainableModel, data: BatchIterable, options?: FitOptions): Promise<History>;
export async function fit(
  model: TrainableModel,
  x: InputData | BatchIterable,
  yOrOptions?: Targets | FitOptions,
  maybeOptions?: FitOptions,
): Promise<History>;
export async function fit(
  model: TrainableModel,
  x: unknown,
  yOrOptions?: unknown,
  maybeOptions?: FitOptions,
): Promise<History> {
  const [y, options] = splitArgs(yOrOptions, maybeOptions) as [Targets | undefined, FitOptions];
  const classNames = classNamesOf(y);
  checkOptions('fit', options, FIT_OPTIONS);
  const state = compiled(model, 'fit');
  if (classNames) state.classNames = classNames;
  const epochs = options.epochs ?? 1;
  const initialEpoch = options.initialEpoch ?? 0;
  const batchSize = options.batchSize ?? 32;
  const verbose = verbosity(options.verbose, 'fit', 1);

  // Data (validationSplit takes the last rows, before shuffling, like Keras).
  let trainX = x;
  let trainY: Targets | undefined = y;
  let trainW = options.sampleWeight;
  let validation: BatchSource | undefined;
  if (options.validationSplit) {
    if (isAsyncIterable(x)) throw new Error('fit: validationSplit needs tensors; pass validationData for datasets');
    const split = options.validationSplit;
    if (!(split > 0 && split < 1)) throw new Error(`fit: validationSplit must be in (0, 1), got ${split}`);
    const xs = inputList(x as InputData, inputNames(model));
    const n = xs[0].shape[0] as number;
    const cut = Math.floor(n * (1 - split));
    const all = Array.from({ length: n }, (_, i) => i);
    const part = (t: Tensor | undefined, a: number, b: number) => t && takeRows(t, all, a, b);
    trainX = xs.map((t) => part(t, 0, cut)!);
    const ys = targetList(y, outputNamesOf(model));
    trainY = ys?.map((t) => part(t, 0, cut)!);
    trainW = part(options.sampleWeight, 0, cut);
    validation = tensorSource(
      xs.map((t) => part(t, cut, n)!),
      ys?.map((t) => part(t, cut, n)!),
      part(options.sampleWeight, cut, n),
      options.validationBatchSize ?? batchSize,
      'fit (validation split)',
    );
  }
  if (options.validationData) {
    const vd = options.validationData;
    validation = isAsyncIterable(vd)
      ? iterableSource(vd, inputNames(model), outputNamesOf(model), undefined, 'fit (validationData)')
      : tensorSource(
          inputList(vd[0], inputNames(model), 'fit (validationData)'),
          targetList(vd[1], outputNamesOf(model), 'fit (validationData)'),
          vd[2],
          options.validationBatchSize ?? batchSize,
          'fit (validationData)',
        );
  }
  const train = sourceFor(model, trainX, trainY, trainW, options.classWeight, batchSize, 'fit');
  const steps = options.stepsPerEpoch ?? train.steps;

  const history = new History();
  // Callbacks installed for every fit of this process (e.g. `lepton train`'s run tracker) come after the caller's.
  const callbacks = new CallbackList([
    ...(options.callbacks ?? []),
    ...defaultCallbacks({ epochs, batchSize }),
    history,
    ...(verbose ? [new ProgressLogger(verbose)] : []),
  ]);
  callbacks.setModel(model);
  callbacks.setParams({ epochs, steps, verbose, initialEpoch });
  model.stopTraining = false;

  let runner: Runner | undefined;
  let parallel: DataParallelTrainer | undefined;
  const prepare = async (batch: Batch): Promise<Runner> => {
    ensureBuilt(model, batch.xs);
    checkLossInputs(model, state, batch.xs);
    state.seenInputs ??= batch.xs.map((t) => ({ shape: [null, ...(t.shape.slice(1) as number[])], dtype: t.dtype }));
    const r = runnerFor(model, state);
    r.countStats(batch);
    await r.push(true);
    const workers = chooseWorkers(r, options.workers, () => r.forwardFlops(batch));
    if (workers > 1) {
      parallel = new DataParallelTrainer(r, workers);
      await parallel.begin();
    }
    r.training = true;
    return r;
  };

  try {
    await callbacks.call('onTrainBegin', {});
    for (let epoch = initialEpoch; epoch < epochs; epoch++) {
      if (model.stopTraining) break;
      for (const m of state.metrics) m.reset();
      const meter = new LossLogs(state.outputNames);
      await callbacks.call('onEpochBegin', epoch, {});
      let step = 0;
      for await (const batch of train.batches(options.shuffle ?? true)) {
        if (options.stepsPerEpoch !== undefined && step >= options.stepsPerEpoch) break;
        runner ??= await prepare(batch);
        await callbacks.call('onBatchBegin', step, { batch: step, size: batch.size });
        const result = parallel ? await parallel.step(batch) : await runner.trainStep(batch);
        const { loss, stats } = result;
        state.optimizer.iterations++;
        if (!Number.isFinite(loss)) {
          throw new Error(
            `fit: the loss became ${loss} at epoch ${epoch + 1}, step ${step + 1} (batch of ${batch.size}); training stopped. Try a lower learning rate, gradient clipping (clipNorm) or check the data for NaN/Inf.`,
          );
        }
        meter.add(result, batch.size);
        state.metrics.forEach((m, k) => m.accumulate(stats[k].map((s) => s.data)));
        await callbacks.call('onBatchEnd', step, {
          batch: step,
          size: batch.size,
          ...meter.logs(),
          ...metricLogs(state.metrics),
        });
        step++;
      }
      if (!runner) throw new Error('fit: the training data produced no batches');
      await parallel?.flush();
      await runner.pull(true);
      await parallel?.resync();
      state.epoch = epoch + 1;
      const logs: Logs = { ...meter.logs(), ...metricLogs(state.metrics) };
      if (validation) Object.assign(logs, await runEvaluation(runner, validation, 'val_'));
      await callbacks.call('onEpochEnd', epoch, logs);
    }
  } catch (error) {
    await callbacks.call('onTrainError', error).catch(() => undefined); // the original error is the one to report
    throw error;
  } finally {
    if (runner) runner.training = false;
  }
  await callbacks.call('onTrainEnd', {});
  return history;
}

async function runEvaluation(
  runner: Runner,
  source: BatchSource,
  prefix = '',
  progress?: InferenceProgress,
): Promise<Logs> {
  const { metrics } = runner.state;
  // Validation inside fit must not disturb the training metrics' epoch totals.
  const saved = metrics.map((m) => m.saveState());
  const meter = new LossLogs(runner.state.outputNames);
  try {
    for (const m of metrics) m.reset();
    let step = 0;
    for await (const batch of source.batches(false)) {
      runner.countStats(batch);
      const result = await runner.evalStep(batch);
      meter.add(result, batch.size);
      metrics.forEach((m, k) => m.accumulate(result.stats[k].map((s) => s.data)));
      progress?.batch(step++, { ...meter.logs(prefix), ...metricLogs(metrics, prefix) });
    }
    const logs = { ...meter.logs(prefix), ...metricLogs(metrics, prefix) };
    progress?.end(logs);
    return logs;
  } finally {
    metrics.forEach((m, k) => m.restoreState(saved[k]));
  }
}

async function readyRunner(
  model: TrainableModel,
  state: CompileState,
  first: Batch,
  needsWorkerWeights = true,
): Promise<Runner> {
  ensureBuilt(model, first.xs);
  const runner = runnerFor(model, state);
  if (!runner.training && needsWorkerWeights) await runner.push(false);
  return runner;
}

/** Loss and metrics over the data (weights as they are now). Returns {loss, ...metrics}. */
export async function evaluate(
  model: TrainableModel,
  x: InputData,
  y: Targets | undefined,
  options?: EvaluateOptions,
): Promise<EvaluateResult>;
export async function evaluate(
  model: TrainableModel,
  data: BatchIterable,
  options?: EvaluateOptions,
): Promise<EvaluateResult>;
export async function evaluate(
  model: TrainableModel,
  x: InputData | BatchIterable,
  yOrOptions?: Targets | EvaluateOptions,
  maybeOptions?: EvaluateOptions,
): Promise<EvaluateResult>;
export async function evaluate(
  model: TrainableModel,
  x: unknown,
  yOrOptions?: unknown,
  maybeOptions?: EvaluateOptions,
): Promise<EvaluateResult> {
  const [y, options] = splitArgs(yOrOptions, maybeOptions) as [Targets | undefined, EvaluateOptions];
  checkOptions('evaluate', options, EVALUATE_OPTIONS);
  const verbose = verbosity(options.verbose, 'evaluate', 1);
  const state = compiled(model, 'evaluate');
  const source = sourceFor(model, x, y, options.sampleWeight, undefined, options.batchSize ?? 32, 'evaluate');
  const iterator = source.batches(false)[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) throw new Error('evaluate: the data produced no batches');
  const runner = await readyRunner(model, state, first.value);
  const replay: BatchSource = {
    async *batches() {
      yield first.value;
      for (let r = await iterator.next(); !r.done; r = await iterator.next()) yield r.value;
    },
  };
  const progress = verbose ? new InferenceProgress(verbose, source.steps) : undefined;
  return (await runEvaluation(runner, replay, '', progress)) as EvaluateResult;
}

/**
 * Model outputs for all rows of x (batched, in the worker, inference mode), in the structure the
 * model returns: a Tensor, or an array/record of Tensors for several outputs. `T` narrows the
 * result for callers that know the structure (`predict<Tensor>(model, x)`).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the structure is known only at run time; callers narrow it with T
export async function predict<T extends Prediction = any>(
  model: TrainableModel,
  x: InputData | BatchIterable,
  options: PredictOptions = {},
): Promise<T> {
  checkOptions('predict', options, PREDICT_OPTIONS);
  const verbose = verbosity(options.verbose, 'predict', 1);
  const state = stateForInference(model);
  const source = sourceFor(model, x, undefined, undefined, undefined, options.batchSize ?? 32, 'predict');
  const progress = verbose ? new InferenceProgress(verbose, source.steps) : undefined;
  const parts: Tensor[][] = [];
  let runner: Runner | undefined;
  // Two batches in flight: the next one is gathered and sent while the worker computes this one.
  const inFlight: Promise<Tensor[]>[] = [];
  const take = async (p: Promise<Tensor[]>): Promise<void> => {
    parts.push(await p);
    progress?.batch(parts.length - 1, {});
  };
  for await (const batch of source.batches(false)) {
    // Outside fit, prediction graphs hold the weights themselves (see Runner.bakesWeights).
    runner ??= await readyRunner(model, state, batch, false);
    const p = runner.predictStep(batch);
    p.catch(() => undefined); // rejections surface when awaited below, in order
    inFlight.push(p);
    if (inFlight.length >= 2) await take(inFlight.shift()!);
  }
  for (const p of inFlight) await take(p);
  if (!runner) throw new Error('predict: the data produced no batches');
  progress?.end({});
  const outputs = parts[0].map((_, i) => (parts.length === 1 ? parts[0][i] : concatRows(parts.map((p) => p[i]))));
  const structure = runner.outputStructure;
  if (structure.kind === 'tensor') return outputs[0] as T;
  if (structure.kind === 'array') return outputs as T;
  return Object.fromEntries(structure.keys.map((k, i) => [k, outputs[i]])) as T;
}

/** Stacks batches along axis 0 on the host. */
export function concatRows(parts: Tensor[]): Tensor {
  const rows = parts.reduce((n, t) => n + (t.shape[0] as number), 0);
  const out = allocate(
    parts[0].dtype,
    parts.reduce((n, t) => n + t.size, 0),
  );
  let offset = 0;
  for (const t of parts) {
    (out as any).set(t.data, offset);
    offset += t.size;
  }
  return new Tensor([rows, ...parts[0].shape.slice(1)], parts[0].dtype, out);
}
