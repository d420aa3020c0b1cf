/**
 * compile / fit / evaluate / predict. The whole train step — forward, loss, regularization,
 * backward, clipping, optimizer update, BatchNorm statistic updates and per-batch metric
 * statistics — is ONE ONNX graph run in a worker thread. Weights, buffers and optimizer state
 * live in the worker between steps (state keys); a step sends only the batch and a few scalars
 * and fetches the loss and metric statistics. Variables are synchronised back at epoch end.
 */
import type { DType } from '../engine/dtype.js';
import { type HostTensor } from '../engine/onnx/proto.js';
import { type OrtWorker, getWorker } from '../engine/runtime/pool.js';
import type { SessionOptions } from '../engine/runtime/session.js';
import type { Dim } from '../engine/shape.js';
import { Tensor, Variable, ones } from '../engine/tensor.js';
import { add, backward, fullLike, stopGradient } from '../engine/index.js';
import { allocate, convertArray, isFloat } from '../engine/dtype.js';
import { collectUpdates } from '../nn/updates.js';
import { type Callback, CallbackList, type CallbackModel, History, type Logs } from './callbacks.js';
import { type Batch, type BatchSource, type InputData, inputList, isAsyncIterable, iterableSource, rowWeights, takeRows, tensorSource } from './data.js';
import { GraphBuilder, type GraphProgram, type WorkerProgram, fromHost, toHost } from './graph.js';
import { type Loss, type LossSpec, getLoss } from './losses.js';
import { type Metric, type MetricSpec, getMetric } from './metrics.js';
import { type Optimizer, type OptimizerSpec, getOptimizer } from './optimizers.js';
import { ProgressLogger } from './progress.js';

/** What the training API needs from a model (nn's Model and Module provide it). */
export interface TrainableModel extends CallbackModel {
  apply(inputs: any, options?: { training?: boolean }): any;
  namedVariables(): [string, Variable][];
  trainableParameters(): Variable[];
  regularizationLoss?(): Tensor;
  built?: boolean;
  inputSpecs?: { name: string; shape: (number | null)[]; dtype: DType }[];
  outputSpecs?: { name: string; shape: (number | null)[]; dtype: DType }[];
  getConfig?(): Record<string, any>;
  className?: string;
}

export interface ModelCompileOptions {
  optimizer?: OptimizerSpec;
  loss: LossSpec;
  metrics?: MetricSpec[];
  /** ONNX Runtime options for the training worker's sessions. */
  session?: SessionOptions;
}

export interface CompileState {
  optimizer: Optimizer;
  loss: Loss;
  metrics: Metric[];
  /** How the metrics were given (saved in config.json). */
  metricSpecs: unknown[];
  session?: SessionOptions;
  runner?: Runner;
  /** Epochs completed so far (saved for resume). */
  epoch: number;
  /** Input shapes/dtypes seen by fit (for saving models without a declared input signature). */
  seenInputs?: { shape: (number | null)[]; dtype: DType }[];
}

export function compileModel(model: TrainableModel, options: ModelCompileOptions): CompileState {
  if (!options || options.loss === undefined) throw new Error(`compile: a loss is required, e.g. {optimizer: 'adam', loss: 'sparseCategoricalCrossentropy'}`);
  const loss = getLoss(options.loss);
  const metrics = (options.metrics ?? []).map((m) => getMetric(m, { className: loss.className, fromLogits: loss.fromLogits }));
  const names = new Set<string>();
  for (const m of metrics) {
    if (names.has(m.name) || m.name === 'loss') throw new Error(`compile: two metrics are named '${m.name}'; give them distinct names`);
    names.add(m.name);
  }
  const prev = model.compileState as CompileState | undefined;
  void prev?.runner?.release();
  const state: CompileState = {
    optimizer: getOptimizer(options.optimizer ?? 'rmsprop'),
    loss,
    metrics,
    metricSpecs: (options.metrics ?? []).map((m) => (typeof m === 'string' ? m : m instanceof Object && 'getConfig' in m ? (m as Metric).getConfig() : null)),
    session: options.session,
    epoch: prev?.epoch ?? 0,
  };
  model.compileState = state;
  return state;
}

function compiled(model: TrainableModel, who: string): CompileState {
  const s = model.compileState as CompileState | undefined;
  if (!s || !(s.loss && s.optimizer)) throw new Error(`${who}: compile the model first: model.compile({optimizer, loss, metrics})`);
  return s;
}

function inputNames(model: TrainableModel): string[] {
  return (model.inputSpecs ?? []).map((s) => s.name);
}

/** Runs the model once eagerly on one row so lazily built layers create their weights. */
function ensureBuilt(model: TrainableModel, xs: Tensor[]): void {
  if (model.built !== false && model.namedVariables().length > 0) return;
  const first = xs.map((t) => takeRows(t, [0], 0, 1));
  model.apply(first.length === 1 ? first[0] : first, { training: false });
}

let nextRunnerId = 1;

interface Signature {
  xs: { shape: Dim[]; dtype: DType }[];
  y?: { shape: Dim[]; dtype: DType };
}

function signatureOf(batch: Batch, symbolic: boolean): Signature {
  const dims = (t: Tensor): Dim[] => (symbolic ? ['batch', ...t.shape.slice(1)] : [...t.shape]);
  return { xs: batch.xs.map((t) => ({ shape: dims(t), dtype: t.dtype })), y: batch.y && { shape: dims(batch.y), dtype: batch.y.dtype } };
}

function sigKey(kind: string, s: Signature): string {
  return `${kind}|${s.xs.map((x) => `${x.dtype}[${x.shape}]`).join(';')}|${s.y ? `${s.y.dtype}[${s.y.shape}]` : ''}`;
}

/** The model's compiled programs in one worker, with its weights and optimizer state kept there. */
export class Runner {
  readonly id = `model${nextRunnerId++}`;
  readonly worker: OrtWorker = getWorker();
  readonly variables: [string, Variable][];
  readonly trainable: Variable[];
  private readonly programs = new Map<string, Promise<WorkerProgram>>();
  /** Whether a fit is running (the worker then holds the newest weights). */
  training = false;
  private symbolicWorks = true;

  constructor(readonly model: TrainableModel, readonly state: CompileState) {
    this.variables = model.namedVariables();
    const trainable = new Set(model.trainableParameters());
    this.trainable = this.variables.map(([, v]) => v).filter((v) => trainable.has(v));
  }

  /** Whether the model's variables or trainable flags changed since this runner was made. */
  isStale(): boolean {
    const now = this.model.namedVariables();
    const trainable = new Set(this.model.trainableParameters());
    return now.length !== this.variables.length || now.some(([, v], i) => v !== this.variables[i][1]) || this.trainable.some((v) => !trainable.has(v)) || trainable.size !== this.trainable.length;
  }

  private varKey(i: number): string {
    return `${this.id}/v${i}`;
  }

  private slotKey(i: number, j: number): string {
    return `${this.id}/s${i}_${j}`;
  }

  /** Copies weights (and optionally optimizer state) from the host into the worker. */
  async push(withSlots: boolean): Promise<void> {
    const entries: Record<string, HostTensor> = {};
    this.variables.forEach(([, v], i) => (entries[this.varKey(i)] = toHost(v)));
    if (withSlots) {
      this.trainable.forEach((v, i) => this.state.optimizer.slotsFor(v).forEach((s, j) => (entries[this.slotKey(i, j)] = toHost(s))));
    }
    await this.worker.setState(entries);
  }

  /** Copies weights (and optionally optimizer state) from the worker into the host Variables. */
  async pull(withSlots: boolean): Promise<void> {
    const keys = this.variables.map((_, i) => this.varKey(i));
    const slotKeys: string[] = [];
    if (withSlots) this.trainable.forEach((v, i) => this.state.optimizer.slotNames().forEach((_, j) => slotKeys.push(this.slotKey(i, j))));
    const got = await this.worker.getState([...keys, ...slotKeys]);
    this.variables.forEach(([, v], i) => v.assign(got[keys[i]].data));
    if (withSlots) {
      const n = this.state.optimizer.slotNames().length;
      this.trainable.forEach((v, i) => this.state.optimizer.slots.set(v, Array.from({ length: n }, (_, j) => fromHost(got[this.slotKey(i, j)]))));
    }
  }

  /** Frees this runner's sessions and the state it keeps in the worker. */
  async release(): Promise<void> {
    const programs = [...this.programs.values()];
    this.programs.clear();
    for (const p of programs) await (await p.catch(() => undefined))?.release();
    const keys = this.variables.map((_, i) => this.varKey(i));
    this.trainable.forEach((_, i) => this.state.optimizer.slotNames().forEach((__, j) => keys.push(this.slotKey(i, j))));
    await this.worker.deleteState(keys);
  }

  private feedsInput(b: GraphBuilder, sig: Signature) {
    const xs = sig.xs.map((s, i) => b.feed(`x${i}`, s.shape, s.dtype));
    return xs.length === 1 && inputNames(this.model).length <= 1 ? xs[0] : xs;
  }

  private bindVariables(b: GraphBuilder, differentiable: boolean): Map<Variable, Tensor> {
    const trainable = new Set(this.trainable);
    return new Map(this.variables.map(([, v], i) => [v, b.bindVariable(v, this.varKey(i), differentiable && trainable.has(v))]));
  }

  private singleOutput(out: unknown, who: string): Tensor {
    if (out instanceof Tensor) return out;
    throw new Error(`${who}: models with several outputs are not supported by compile/fit yet (the model returned ${Array.isArray(out) ? `${out.length} tensors` : typeof out})`);
  }

  private buildTrain(sig: Signature): GraphProgram {
    const { optimizer, loss, metrics } = this.state;
    const b = new GraphBuilder();
    const x = this.feedsInput(b, sig);
    if (!sig.y) throw new Error('fit: targets y are required');
    const y = b.feed('y', sig.y.shape, sig.y.dtype);
    const sw = b.feed('sw', [sig.xs[0].shape[0]], 'float32');
    const scalars = Object.fromEntries(Object.keys(optimizer.nextScalars()).map((k) => [k, b.feed(`s_${k}`, [], 'float32')]));
    const vars = this.bindVariables(b, true);
    const slots = this.trainable.map((v, i) => optimizer.slotNames().map((_, j) => b.state(this.slotKey(i, j), v.shape, v.dtype)));
    const outputs: [string, Tensor][] = [];
    const stateOut: Record<string, string> = {};
    b.run(() => {
      const { result, updates } = collectUpdates(() => this.model.apply(x, { training: true }));
      const pred = this.singleOutput(result, 'fit');
      let total = loss.call(y, pred, sw);
      const reg = this.model.regularizationLoss?.();
      if (reg && (reg.isSymbolic || reg.item() !== 0)) total = add(total, reg);
      const params = this.trainable.map((v) => vars.get(v)!);
      const grads = backward(b.symbolicTrace, [total], [fullLike(total, 1)], params);
      const next = optimizer.applyGradients(params, grads, slots, scalars);
      outputs.push(['loss', total]);
      const fixed = stopGradient(pred);
      metrics.forEach((m, k) => m.batchStats(y, fixed).forEach((t, j) => outputs.push([`m${k}_${j}`, t])));
      this.trainable.forEach((v, i) => {
        const vi = this.variables.findIndex(([, w]) => w === v);
        outputs.push([`p${vi}`, next.params[i]]);
        stateOut[`p${vi}`] = this.varKey(vi);
        next.slots[i].forEach((t, j) => {
          outputs.push([`s${i}_${j}`, t]);
          stateOut[`s${i}_${j}`] = this.slotKey(i, j);
        });
      });
      for (const [v, value] of updates) {
        const vi = this.variables.findIndex(([, w]) => w === v);
        if (vi < 0) throw new Error(`fit: a layer updated variable '${v.name}', which is not part of the model`);
        outputs.push([`u${vi}`, value]);
        stateOut[`u${vi}`] = this.varKey(vi);
      }
    });
    return b.build(outputs, stateOut, `train step of ${this.model.name ?? 'model'}`);
  }

  private buildEval(sig: Signature, kind: 'eval' | 'predict'): GraphProgram {
    const { loss, metrics } = this.state;
    const b = new GraphBuilder();
    const x = this.feedsInput(b, sig);
    const y = kind === 'eval' ? b.feed('y', sig.y!.shape, sig.y!.dtype) : undefined;
    const sw = kind === 'eval' ? b.feed('sw', [sig.xs[0].shape[0]], 'float32') : undefined;
    this.bindVariables(b, false);
    const outputs: [string, Tensor][] = [];
    b.run(() => {
      const pred = this.singleOutput(this.model.apply(x, { training: false }), kind === 'eval' ? 'evaluate' : 'predict');
      if (kind === 'predict') {
        outputs.push(['pred', pred]);
        return;
      }
      let total = loss.call(y!, pred, sw);
      const reg = this.model.regularizationLoss?.();
      if (reg && (reg.isSymbolic || reg.item() !== 0)) total = add(total, reg);
      outputs.push(['loss', total]);
      metrics.forEach((m, k) => m.batchStats(y!, pred).forEach((t, j) => outputs.push([`m${k}_${j}`, t])));
    });
    return b.build(outputs, {}, `${kind === 'eval' ? 'evaluation' : 'prediction'} of ${this.model.name ?? 'model'}`);
  }

  /** The program for this batch (one per signature; a symbolic batch axis when the model allows). */
  program(kind: 'train' | 'eval' | 'predict', batch: Batch): Promise<WorkerProgram> {
    const build = (sig: Signature): GraphProgram => (kind === 'train' ? this.buildTrain(sig) : this.buildEval(sig, kind));
    let sig = signatureOf(batch, this.symbolicWorks);
    let key = sigKey(kind, sig);
    let p = this.programs.get(key);
    if (p) return p;
    let graph: GraphProgram;
    try {
      graph = build(sig);
    } catch (e) {
      if (!this.symbolicWorks) throw e;
      // Some layers need concrete shapes: trace per batch size instead.
      this.symbolicWorks = false;
      sig = signatureOf(batch, false);
      key = sigKey(kind, sig);
      p = this.programs.get(key);
      if (p) return p;
      graph = build(sig);
    }
    p = graph.load(this.worker, this.state.session);
    this.programs.set(key, p);
    return p;
  }

  private batchFeeds(batch: Batch, withTargets: boolean): Record<string, HostTensor> {
    const feeds: Record<string, HostTensor> = {};
    batch.xs.forEach((t, i) => (feeds[`x${i}`] = toHost(t)));
    if (withTargets) {
      if (!batch.y) throw new Error('targets y are required');
      feeds.y = toHost(batch.y);
      feeds.sw = toHost(batch.sampleWeight ?? ones([batch.size]));
    }
    return feeds;
  }

  async trainStep(batch: Batch): Promise<{ loss: number; stats: HostTensor[][] }> {
    const program = await this.program('train', batch);
    const feeds = this.batchFeeds(batch, true);
    for (const [k, v] of Object.entries(this.state.optimizer.nextScalars())) feeds[`s_${k}`] = { dtype: 'float32', shape: [], data: new Float32Array([v]) };
    return this.collect(await program.run(feeds, this.fetchNames()));
  }

  async evalStep(batch: Batch): Promise<{ loss: number; stats: HostTensor[][] }> {
    const program = await this.program('eval', batch);
    return this.collect(await program.run(this.batchFeeds(batch, true), this.fetchNames()));
  }

  async predictStep(batch: Batch): Promise<Tensor> {
    const program = await this.program('predict', batch);
    return fromHost((await program.run(this.batchFeeds(batch, false), ['pred'])).pred);
  }

  private fetchNames(): string[] {
    const names = ['loss'];
    this.state.metrics.forEach((m, k) => {
      const n = this.statCounts.get(m) ?? 0;
      for (let j = 0; j < n; j++) names.push(`m${k}_${j}`);
    });
    return names;
  }

  /** Number of statistics each metric produces (found by tracing it once on placeholders). */
  private readonly statCounts = new Map<Metric, number>();

  countStats(sample: Batch): void {
    const missing = this.state.metrics.filter((m) => !this.statCounts.has(m));
    if (missing.length === 0) return;
    const b = new GraphBuilder();
    const x = this.feedsInput(b, signatureOf(sample, false));
    this.bindVariables(b, false);
    const y = b.feed('y', sample.y!.shape, sample.y!.dtype);
    b.run(() => {
      const pred = this.singleOutput(this.model.apply(x, { training: false }), 'fit');
      for (const m of missing) this.statCounts.set(m, m.batchStats(y, pred).length);
    });
  }

  private collect(results: Record<string, HostTensor>): { loss: number; stats: HostTensor[][] } {
    const stats = this.state.metrics.map((m, k) => Array.from({ length: this.statCounts.get(m) ?? 0 }, (_, j) => results[`m${k}_${j}`]));
    return { loss: Number(results.loss.data[0]), stats };
  }
}

function runnerFor(model: TrainableModel, state: CompileState): Runner {
  if (!state.runner || state.runner.isStale()) {
    void state.runner?.release();
    state.runner = new Runner(model, state);
  }
  return state.runner;
}

export interface FitOptions {
  epochs?: number;
  batchSize?: number;
  validationData?: [InputData, Tensor] | [InputData, Tensor, Tensor] | AsyncIterable<unknown>;
  validationSplit?: number;
  shuffle?: boolean;
  classWeight?: Record<number, number>;
  sampleWeight?: Tensor;
  callbacks?: Callback[];
  /** 0 silent, 1 progress bar (on a TTY), 2 one line per epoch. */
  verbose?: 0 | 1 | 2;
  initialEpoch?: number;
  /** Batches per epoch when the data is an endless iterable. */
  stepsPerEpoch?: number;
  validationBatchSize?: number;
}

function splitArgs(y: unknown, options: unknown): [Tensor | undefined, Record<string, any>] {
  if (y instanceof Tensor || y === undefined || y === null) return [y ?? undefined, (options as Record<string, any>) ?? {}];
  if (typeof y === 'object' && !Array.isArray(y)) return [undefined, y as Record<string, any>];
  throw new Error(`expected targets y to be a Tensor, got ${String(y)}`);
}

function sourceFor(model: TrainableModel, x: unknown, y: Tensor | undefined, sampleWeight: Tensor | undefined, classWeight: Record<number, number> | undefined, batchSize: number, who: string): BatchSource {
  if (isAsyncIterable(x)) return iterableSource(x, inputNames(model), classWeight, who);
  const xs = asModelDtypes(model, inputList(x as InputData, inputNames(model), who));
  return tensorSource(xs, y, rowWeights(y, sampleWeight, classWeight), batchSize, who);
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

function metricLogs(metrics: Metric[], prefix = ''): Logs {
  const logs: Logs = {};
  for (const m of metrics) for (const [k, v] of Object.entries(m.logValues())) logs[prefix + k] = v;
  return logs;
}

/** Keras-style training. Returns the History (history.history.loss[epoch], val_loss, metrics...). */
export async function fit(model: TrainableModel, x: unknown, yOrOptions?: unknown, maybeOptions?: FitOptions): Promise<History> {
  const [y, options] = splitArgs(yOrOptions, maybeOptions) as [Tensor | undefined, FitOptions];
  const state = compiled(model, 'fit');
  const epochs = options.epochs ?? 1;
  const initialEpoch = options.initialEpoch ?? 0;
  const batchSize = options.batchSize ?? 32;
  const verbose = options.verbose ?? 1;

  // Data (validationSplit takes the last rows, before shuffling, like Keras).
  let trainX = x;
  let trainY = y;
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
    trainY = part(y, 0, cut);
    trainW = part(options.sampleWeight, 0, cut);
    validation = tensorSource(xs.map((t) => part(t, cut, n)!), part(y, cut, n), part(options.sampleWeight, cut, n), options.validationBatchSize ?? batchSize, 'fit (validation split)');
  }
  if (options.validationData) {
    const vd = options.validationData;
    validation = isAsyncIterable(vd)
      ? iterableSource(vd, inputNames(model), undefined, 'fit (validationData)')
      : tensorSource(inputList(vd[0], inputNames(model), 'fit (validationData)'), vd[1], vd[2], options.validationBatchSize ?? batchSize, 'fit (validationData)');
  }
  const train = sourceFor(model, trainX, trainY, trainW, options.classWeight, batchSize, 'fit');
  const steps = options.stepsPerEpoch ?? train.steps;

  const history = new History();
  const callbacks = new CallbackList([...(options.callbacks ?? []), history, ...(verbose ? [new ProgressLogger(verbose)] : [])]);
  callbacks.setModel(model);
  callbacks.setParams({ epochs, steps, verbose, initialEpoch });
  model.stopTraining = false;

  let runner: Runner | undefined;
  const prepare = async (batch: Batch): Promise<Runner> => {
    ensureBuilt(model, batch.xs);
    state.seenInputs ??= batch.xs.map((t) => ({ shape: [null, ...(t.shape.slice(1) as number[])], dtype: t.dtype }));
    const r = runnerFor(model, state);
    r.countStats(batch);
    await r.push(true);
    r.training = true;
    return r;
  };

  await callbacks.call('onTrainBegin', {});
  try {
    for (let epoch = initialEpoch; epoch < epochs; epoch++) {
      if (model.stopTraining) break;
      for (const m of state.metrics) m.reset();
      const meter = new LossMeter();
      await callbacks.call('onEpochBegin', epoch, {});
      let step = 0;
      for await (const batch of train.batches(options.shuffle ?? true)) {
        if (options.stepsPerEpoch !== undefined && step >= options.stepsPerEpoch) break;
        runner ??= await prepare(batch);
        await callbacks.call('onBatchBegin', step, { batch: step, size: batch.size });
        const { loss, stats } = await runner.trainStep(batch);
        state.optimizer.iterations++;
        if (!Number.isFinite(loss)) {
          throw new Error(`fit: the loss became ${loss} at epoch ${epoch + 1}, step ${step + 1} (batch of ${batch.size}); training stopped. Try a lower learning rate, gradient clipping (clipNorm) or check the data for NaN/Inf.`);
        }
        meter.add(loss, batch.size);
        state.metrics.forEach((m, k) => m.accumulate(stats[k].map((s) => s.data)));
        await callbacks.call('onBatchEnd', step, { batch: step, size: batch.size, loss: meter.value, ...metricLogs(state.metrics) });
        step++;
      }
      if (!runner) throw new Error('fit: the training data produced no batches');
      await runner.pull(true);
      state.epoch = epoch + 1;
      const logs: Logs = { loss: meter.value, ...metricLogs(state.metrics) };
      if (validation) Object.assign(logs, await runEvaluation(runner, validation, 'val_'));
      await callbacks.call('onEpochEnd', epoch, logs);
    }
  } finally {
    if (runner) runner.training = false;
  }
  await callbacks.call('onTrainEnd', {});
  return history;
}

async function runEvaluation(runner: Runner, source: BatchSource, prefix = ''): Promise<Logs> {
  const { metrics } = runner.state;
  // Validation inside fit must not disturb the training metrics' epoch totals.
  const saved = metrics.map((m) => m.saveState());
  const meter = new LossMeter();
  try {
    for (const m of metrics) m.reset();
    for await (const batch of source.batches(false)) {
      runner.countStats(batch);
      const { loss, stats } = await runner.evalStep(batch);
      meter.add(loss, batch.size);
      metrics.forEach((m, k) => m.accumulate(stats[k].map((s) => s.data)));
    }
    return { [`${prefix}loss`]: meter.value, ...metricLogs(metrics, prefix) };
  } finally {
    metrics.forEach((m, k) => m.restoreState(saved[k]));
  }
}

async function readyRunner(model: TrainableModel, state: CompileState, first: Batch): Promise<Runner> {
  ensureBuilt(model, first.xs);
  const runner = runnerFor(model, state);
  if (!runner.training) await runner.push(false);
  return runner;
}

export interface EvaluateOptions {
  batchSize?: number;
  sampleWeight?: Tensor;
  verbose?: number;
}

/** Loss and metrics over the data (weights as they are now). Returns {loss, ...metrics}. */
export async function evaluate(model: TrainableModel, x: unknown, yOrOptions?: unknown, maybeOptions?: EvaluateOptions): Promise<Logs> {
  const [y, options] = splitArgs(yOrOptions, maybeOptions) as [Tensor | undefined, EvaluateOptions];
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
  return runEvaluation(runner, replay);
}

export interface PredictOptions {
  batchSize?: number;
  verbose?: number;
}

/** Model outputs for all rows of x (batched, in the worker, inference mode). */
export async function predict(model: TrainableModel, x: unknown, options: PredictOptions = {}): Promise<Tensor> {
  const state = (model.compileState as CompileState | undefined) ?? inferenceState(model);
  const source = sourceFor(model, x, undefined, undefined, undefined, options.batchSize ?? 32, 'predict');
  const parts: Tensor[] = [];
  let runner: Runner | undefined;
  for await (const batch of source.batches(false)) {
    runner ??= await readyRunner(model, state, batch);
    parts.push(await runner.predictStep(batch));
  }
  if (parts.length === 0) throw new Error('predict: the data produced no batches');
  return parts.length === 1 ? parts[0] : concatRows(parts);
}

// predict works on models that were never compiled: inference needs no loss or optimizer.
const inferenceStates = new WeakMap<TrainableModel, CompileState>();
function inferenceState(model: TrainableModel): CompileState {
  let s = inferenceStates.get(model);
  if (!s) {
    s = { optimizer: getOptimizer('sgd'), loss: getLoss('mse'), metrics: [], metricSpecs: [], epoch: 0 };
    inferenceStates.set(model, s);
  }
  return s;
}

/** Stacks batches along axis 0 on the host. */
export function concatRows(parts: Tensor[]): Tensor {
  const rows = parts.reduce((n, t) => n + (t.shape[0] as number), 0);
  const out = allocate(parts[0].dtype, parts.reduce((n, t) => n + t.size, 0));
  let offset = 0;
  for (const t of parts) {
    (out as any).set(t.data, offset);
    offset += t.size;
  }
  return new Tensor([rows, ...parts[0].shape.slice(1)], parts[0].dtype, out);
}
