/**
 * compile / fit / evaluate / predict. The whole train step — forward, loss, regularization,
 * backward, clipping, optimizer update, BatchNorm statistic updates and per-batch metric
 * statistics — is ONE ONNX graph run in a worker thread. Weights, buffers and optimizer state
 * live in the worker between steps (state keys); a step sends only the batch and a few scalars
 * and fetches the loss and metric statistics. Variables are synchronised back at epoch end.
 * With several workers (`fit(..., {workers})`, 'auto' by default: two for compute-heavy models on
 * multi-core machines) each batch is split into shards trained data parallel (parallel.ts).
 * Prediction outside fit runs graphs with the weights baked in as constants (faster in ORT).
 */
import { availableParallelism } from 'node:os';
import type { DType } from '../engine/dtype.js';
import { type HostTensor } from '../engine/onnx/proto.js';
import { type OrtWorker, getWorker } from '../engine/runtime/pool.js';
import { type SessionOptions, mergeSessionOptions } from '../engine/runtime/session.js';
import type { Dim } from '../engine/shape.js';
import { Tensor, Variable, ones } from '../engine/tensor.js';
import { add, backward, fullLike, identity, mul, stopGradient } from '../engine/index.js';
import { allocate, convertArray, isFloat } from '../engine/dtype.js';
import { collectUpdates } from '../nn/updates.js';
import { type Callback, CallbackList, type CallbackModel, History, type Logs } from './callbacks.js';
import { type Batch, type BatchSource, type InputData, inputList, isAsyncIterable, iterableSource, rowWeights, takeRows, targetList, tensorSource } from './data.js';
import { GraphBuilder, type GraphProgram, type WorkerProgram } from './graph.js';
import { fromHost, toHost } from '../engine/tensor.js';
import { type Loss, type LossSpec, expectsProbabilities, getLoss, lossInputProblem } from './losses.js';
import { Metric, type MetricSpec, getMetric } from './metrics.js';
import { type Optimizer, type OptimizerSpec, getOptimizer } from './optimizers.js';
import { DataParallelTrainer, type WorkersOption, chooseWorkers, forwardFlops } from './parallel.js';
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
  /** One loss for every output, or one per output (array in output order, or record by output name). */
  loss: LossSpec | LossSpec[] | Record<string, LossSpec>;
  /** Weights of the per-output losses in the total (default 1 each). */
  lossWeights?: number[] | Record<string, number>;
  /** Metrics for every output, or per output (record by output name). */
  metrics?: MetricSpec[] | Record<string, MetricSpec[]>;
  /** ONNX Runtime options for the training worker's sessions. */
  session?: SessionOptions;
}

export interface CompileState {
  optimizer: Optimizer;
  /** The loss of each model output. */
  losses: Loss[];
  lossWeights: number[];
  /** Names of the model outputs (for per-output logs and record targets). */
  outputNames: string[];
  metrics: Metric[];
  /** Which model output each metric watches. */
  metricOutputs: number[];
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
  const specNames = model.outputSpecs?.map((o) => o.name) ?? [];
  const lossSpec = options.loss;
  const outputCount = Math.max(1, specNames.length, Array.isArray(lossSpec) ? lossSpec.length : 0);
  const outputNames = specNames.length ? specNames : Array.from({ length: outputCount }, (_, i) => (outputCount === 1 ? 'output' : `output_${i}`));
  // A plain object whose keys are all output names gives one entry per output (otherwise it is, e.g., loss options).
  const isPerOutput = (v: unknown): v is Record<string, any> =>
    v !== null && typeof v === 'object' && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype &&
    Object.keys(v).length > 0 && Object.keys(v).every((k) => outputNames.includes(k));
  const perOutput = <T>(spec: T | T[] | Record<string, T>, what: string, fallback?: T): T[] =>
    outputNames.map((name, i) => {
      if (Array.isArray(spec)) {
        if (spec.length !== outputNames.length) throw new Error(`compile: ${what} has ${spec.length} entries but the model has ${outputNames.length} outputs (${outputNames.join(', ')})`);
        return spec[i];
      }
      if (isPerOutput(spec)) {
        if (!(name in spec) && fallback === undefined) throw new Error(`compile: ${what} has no entry for output '${name}' (outputs: ${outputNames.join(', ')})`);
        return (spec as Record<string, T>)[name] ?? fallback!;
      }
      return spec as T;
    });
  const losses = perOutput(lossSpec as LossSpec | LossSpec[] | Record<string, LossSpec>, 'loss').map(getLoss);
  const lossWeights = options.lossWeights ? perOutput(options.lossWeights as number[] | Record<string, number>, 'lossWeights', 1) : outputNames.map(() => 1);
  const metricSpecs = options.metrics ?? [];
  const metrics: Metric[] = [];
  const metricOutputs: number[] = [];
  const specsByOutput: MetricSpec[][] = Array.isArray(metricSpecs) ? outputNames.map(() => metricSpecs) : outputNames.map((n) => metricSpecs[n] ?? []);
  specsByOutput.forEach((specs, i) =>
    specs.forEach((spec) => {
      if (typeof spec !== 'string' && typeof spec !== 'function' && outputNames.length > 1 && Array.isArray(metricSpecs)) {
        throw new Error('compile: a Metric object cannot watch several outputs; give metrics per output: {outputName: [metric]}');
      }
      const base = getMetric(spec, { className: losses[i].className, fromLogits: losses[i].fromLogits });
      const m = outputNames.length > 1 && typeof spec !== 'object' ? renamed(base, `${outputNames[i]}_${base.name}`) : base;
      metrics.push(m);
      metricOutputs.push(i);
    }),
  );
  const names = new Set<string>();
  for (const m of metrics) {
    if (names.has(m.name) || m.name === 'loss') throw new Error(`compile: two metrics are named '${m.name}'; give them distinct names`);
    names.add(m.name);
  }
  const prev = model.compileState as CompileState | undefined;
  void prev?.runner?.release();
  const state: CompileState = {
    optimizer: getOptimizer(options.optimizer ?? 'rmsprop'),
    losses,
    lossWeights,
    outputNames,
    metrics,
    metricOutputs,
    metricSpecs: Array.isArray(metricSpecs) ? metricSpecs.map(serializeMetricSpec) : Object.fromEntries(Object.entries(metricSpecs).map(([k, v]) => [k, v.map(serializeMetricSpec)])) as any,
    session: options.session,
    epoch: prev?.epoch ?? 0,
  };
  model.compileState = state;
  return state;
}

function serializeMetricSpec(m: MetricSpec): unknown {
  return typeof m === 'string' ? m : m instanceof Metric ? m.getConfig() : null;
}

/** A metric with another log name (per-output metrics of multi-output models). */
function renamed(m: Metric, name: string): Metric {
  (m as { name: string }).name = name;
  return m;
}

function compiled(model: TrainableModel, who: string): CompileState {
  const s = model.compileState as CompileState | undefined;
  if (!s || !(s.losses && s.optimizer)) throw new Error(`${who}: compile the model first: model.compile({optimizer, loss, metrics})`);
  return s;
}

function inputNames(model: TrainableModel): string[] {
  return (model.inputSpecs ?? []).map((s) => s.name);
}

function outputNamesOf(model: TrainableModel): string[] {
  return (model.compileState as CompileState | undefined)?.outputNames ?? (model.outputSpecs ?? []).map((s) => s.name);
}

/** Runs the model once eagerly on one row so lazily built layers create their weights. */
/**
 * A cross entropy on probabilities fed logits trains badly without failing; the model's outputs
 * on a few rows of the first batch show it (values outside [0, 1]): say so before training.
 */
function checkLossInputs(model: TrainableModel, state: CompileState, xs: Tensor[]): void {
  if (!state.losses.some(expectsProbabilities)) return;
  const n = Math.min(8, xs[0].shape[0] as number);
  const rows = xs.map((t) => takeRows(t, Array.from({ length: n }, (_, i) => i), 0, n));
  const out = model.apply(rows.length === 1 ? rows[0] : rows, { training: false });
  const preds: unknown[] = Array.isArray(out) ? out : out instanceof Tensor ? [out] : Object.values(out as object);
  state.losses.forEach((loss, i) => {
    const p = preds[i];
    const problem = p instanceof Tensor ? lossInputProblem(loss, p) : undefined;
    if (problem) throw new Error(`fit: the model's outputs${preds.length > 1 ? ` (output ${state.outputNames[i]})` : ''} on the first batch: ${problem}`);
  });
}

function ensureBuilt(model: TrainableModel, xs: Tensor[]): void {
  if (model.built !== false && model.namedVariables().length > 0) return;
  const first = xs.map((t) => takeRows(t, [0], 0, 1));
  model.apply(first.length === 1 ? first[0] : first, { training: false });
}

let nextRunnerId = 1;

/** Train-step graph variants: the fused step, and the pieces of a data-parallel step (parallel.ts). */
export type TrainMode = 'step' | 'shard' | 'grads' | 'apply';

export interface StepResult {
  loss: number;
  /** Per-output losses (multi-output models only). */
  outputLosses: number[];
  stats: HostTensor[][];
}

interface Signature {
  xs: { shape: Dim[]; dtype: DType }[];
  ys?: { shape: Dim[]; dtype: DType }[];
}

function signatureOf(batch: Batch, symbolic: boolean): Signature {
  const dims = (t: Tensor): Dim[] => (symbolic ? ['batch', ...t.shape.slice(1)] : [...t.shape]);
  return { xs: batch.xs.map((t) => ({ shape: dims(t), dtype: t.dtype })), ys: batch.ys?.map((t) => ({ shape: dims(t), dtype: t.dtype })) };
}

function sigKey(kind: string, s: Signature): string {
  const part = (l: { shape: Dim[]; dtype: DType }[] = []) => l.map((x) => `${x.dtype}[${x.shape}]`).join(';');
  return `${kind}|${part(s.xs)}|${part(s.ys)}`;
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

  /** Copies weights (and optionally optimizer state) from the host into the worker (or a replica). */
  async push(withSlots: boolean, worker: OrtWorker = this.worker): Promise<void> {
    const entries: Record<string, HostTensor> = {};
    this.variables.forEach(([, v], i) => (entries[this.varKey(i)] = toHost(v)));
    if (withSlots) {
      this.trainable.forEach((v, i) => this.state.optimizer.slotsFor(v).forEach((s, j) => (entries[this.slotKey(i, j)] = toHost(s))));
    }
    await worker.setState(entries);
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
    const replicas = this.replicas.splice(0);
    await Promise.all(replicas.map((w) => w.terminate()));
  }

  private feedsInput(b: GraphBuilder, sig: Signature) {
    const xs = sig.xs.map((s, i) => b.feed(`x${i}`, s.shape, s.dtype));
    return xs.length === 1 && inputNames(this.model).length <= 1 ? xs[0] : xs;
  }

  private bindVariables(b: GraphBuilder, differentiable: boolean): Map<Variable, Tensor> {
    const trainable = new Set(this.trainable);
    return new Map(this.variables.map(([, v], i) => [v, b.bindVariable(v, this.varKey(i), differentiable && trainable.has(v))]));
  }

  /** How the model returns its outputs (a tensor, an array, or a record), seen when tracing. */
  outputStructure: { kind: 'tensor' } | { kind: 'array'; length: number } | { kind: 'record'; keys: string[] } = { kind: 'tensor' };

  /** The model outputs as a list in output order. */
  private outputs(out: unknown, who: string): Tensor[] {
    let list: Tensor[];
    if (out instanceof Tensor) {
      this.outputStructure = { kind: 'tensor' };
      list = [out];
    } else if (Array.isArray(out) && out.every((t) => t instanceof Tensor)) {
      this.outputStructure = { kind: 'array', length: out.length };
      list = out;
    } else if (out && typeof out === 'object' && Object.values(out).every((t) => t instanceof Tensor)) {
      const rec = out as Record<string, Tensor>;
      const keys = this.state.outputNames.every((n) => n in rec) ? this.state.outputNames : Object.keys(rec);
      this.outputStructure = { kind: 'record', keys };
      list = keys.map((k) => rec[k]);
    } else {
      throw new Error(`${who}: the model must return a Tensor, an array or a record of Tensors, got ${typeof out}`);
    }
    return list;
  }

  /** Total loss (weighted sum over outputs, plus regularization) and the per-output losses. */
  private lossTerms(ys: Tensor[], preds: Tensor[], sw: Tensor, who: string): { total: Tensor; perOutput: Tensor[] } {
    const { losses, lossWeights } = this.state;
    if (preds.length !== losses.length || ys.length !== losses.length) {
      throw new Error(`${who}: the model has ${preds.length} output(s), the data ${ys.length} target(s), and ${losses.length} loss(es) were compiled (outputs: ${this.state.outputNames.join(', ')})`);
    }
    const perOutput = preds.map((p, i) => losses[i].call(ys[i], p, sw));
    let total = perOutput.map((l, i) => (lossWeights[i] === 1 ? l : mul(l, lossWeights[i]))).reduce((a, b) => add(a, b));
    const reg = this.model.regularizationLoss?.();
    if (reg && (reg.isSymbolic || reg.item() !== 0)) total = add(total, reg);
    return { total, perOutput };
  }

  private metricOutputs(outputs: [string, Tensor][], ys: Tensor[], preds: Tensor[]): void {
    this.state.metrics.forEach((m, k) => {
      const o = this.state.metricOutputs[k];
      m.batchStats(ys[o], preds[o]).forEach((t, j) => outputs.push([`m${k}_${j}`, t]));
    });
  }

  /**
   * The train-step graph. 'step' is the fused step (forward, loss, backward, optimizer update).
   * Data-parallel shards use the other modes (see parallel.ts): 'shard' first applies the
   * optimizer update with fed gradients (the previous step's sum over shards), then runs forward
   * and backward on the shard with the resulting weights and outputs the gradients; 'grads' is
   * that without the update (a shard's first step after a flush); 'apply' is the update alone
   * (flushing an epoch's last step). Two programs instead of one with a run-time switch: selecting
   * every weight and slot by a flag cost 0.4 ms of a 14 ms shard step.
   */
  private buildTrain(sig: Signature | undefined, mode: TrainMode = 'step'): GraphProgram {
    const { optimizer } = this.state;
    const b = new GraphBuilder();
    const outputs: [string, Tensor][] = [];
    const stateOut: Record<string, string> = {};
    const varIndex = new Map(this.variables.map(([, v], i) => [v, i]));
    const emitUpdate = (next: { params: Tensor[]; slots: Tensor[][] }): void => {
      this.trainable.forEach((v, i) => {
        const vi = varIndex.get(v)!;
        outputs.push([`p${vi}`, next.params[i]]);
        stateOut[`p${vi}`] = this.varKey(vi);
        next.slots[i].forEach((t, j) => {
          outputs.push([`s${i}_${j}`, t]);
          stateOut[`s${i}_${j}`] = this.slotKey(i, j);
        });
      });
    };
    // The optimizer's inputs, in the modes that update.
    const updating = mode !== 'grads';
    const scalars = updating ? Object.fromEntries(Object.keys(optimizer.nextScalars()).map((k) => [k, b.feed(`s_${k}`, [], 'float32')])) : {};
    const slots = updating ? this.trainable.map((v, i) => optimizer.slotNames().map((_, j) => b.state(this.slotKey(i, j), v.shape, v.dtype))) : [];
    // Gradients fed from the host (already summed over shards) for the update before the forward.
    const fedGrads = mode === 'shard' || mode === 'apply' ? this.trainable.map((v, i) => b.feed(`g${i}`, v.shape, v.dtype)) : [];
    const trainableSet = new Set(this.trainable);
    let vars: Map<Variable, Tensor>;
    let before: Tensor[] = [];
    if (fedGrads.length) {
      // Trainable weights are read as plain state here; the forward sees the updated values.
      before = this.trainable.map((v) => b.state(this.varKey(varIndex.get(v)!), v.shape, v.dtype));
      vars = new Map(this.variables.filter(([, v]) => !trainableSet.has(v)).map(([, v]) => [v, b.bindVariable(v, this.varKey(varIndex.get(v)!))]));
    } else {
      vars = this.bindVariables(b, true);
    }
    if (mode !== 'apply' && !sig?.ys) throw new Error('fit: targets y are required');
    const x = mode === 'apply' ? undefined : this.feedsInput(b, sig!);
    const ys = mode === 'apply' ? [] : sig!.ys!.map((s, i) => b.feed(`y${i}`, s.shape, s.dtype));
    const sw = mode === 'apply' ? undefined : b.feed('sw', [sig!.xs[0].shape[0]], 'float32');
    b.run(() => {
      if (fedGrads.length) {
        const next = optimizer.applyGradients(before, fedGrads, slots, scalars);
        emitUpdate(next);
        if (mode === 'apply') return;
        // Marked (identity) so that backward stops at the updated weights.
        this.trainable.forEach((v, i) => {
          const marked = identity(next.params[i]);
          vars.set(v, marked);
          b.substitute(v, marked);
        });
      }
      const { result, updates } = collectUpdates(() => this.model.apply(x, { training: true }));
      const preds = this.outputs(result, 'fit');
      const { total, perOutput } = this.lossTerms(ys, preds, sw!, 'fit');
      const params = this.trainable.map((v) => vars.get(v)!);
      const grads = backward(b.symbolicTrace, [total], [fullLike(total, 1)], params);
      if (mode === 'step') emitUpdate(optimizer.applyGradients(params, grads, slots, scalars));
      else grads.forEach((g, i) => outputs.push([`g${i}`, g]));
      outputs.push(['loss', total]);
      if (perOutput.length > 1) perOutput.forEach((l, i) => outputs.push([`l${i}`, l]));
      this.metricOutputs(outputs, ys, preds.map(stopGradient));
      for (const [v, value] of updates) {
        const vi = varIndex.get(v);
        if (vi === undefined) throw new Error(`fit: a layer updated variable '${v.name}', which is not part of the model`);
        outputs.push([`u${vi}`, value]);
        stateOut[`u${vi}`] = this.varKey(vi);
      }
    });
    const what = mode === 'step' ? 'train step' : mode === 'apply' ? 'optimizer update' : 'data-parallel train step';
    return b.build(outputs, stateOut, `${what} of ${this.model.name ?? 'model'}`);
  }

  /** Evaluation / prediction graphs; `bake`: the weights are constants of the graph instead of worker state. */
  private buildEval(sig: Signature, kind: 'eval' | 'predict', bake = false): GraphProgram {
    const b = new GraphBuilder();
    const x = this.feedsInput(b, sig);
    const ys = kind === 'eval' ? sig.ys!.map((s, i) => b.feed(`y${i}`, s.shape, s.dtype)) : [];
    const sw = kind === 'eval' ? b.feed('sw', [sig.xs[0].shape[0]], 'float32') : undefined;
    if (!bake) this.bindVariables(b, false);
    const outputs: [string, Tensor][] = [];
    b.run(() => {
      const preds = this.outputs(this.model.apply(x, { training: false }), kind === 'eval' ? 'evaluate' : 'predict');
      if (kind === 'predict') {
        preds.forEach((p, i) => outputs.push([`pred${i}`, p]));
        return;
      }
      const { total, perOutput } = this.lossTerms(ys, preds, sw!, 'evaluate');
      outputs.push(['loss', total]);
      if (perOutput.length > 1) perOutput.forEach((l, i) => outputs.push([`l${i}`, l]));
      this.metricOutputs(outputs, ys, preds);
    });
    return b.build(outputs, {}, `${kind === 'eval' ? 'evaluation' : 'prediction'} of ${this.model.name ?? 'model'}`, { bakeVariables: bake });
  }

  /**
   * The program for this batch (one per signature; a symbolic batch axis when the model allows).
   * Train programs of data-parallel shards (`mode`) load into `worker` (one single-threaded session each).
   */
  program(kind: 'train' | 'eval' | 'predict', batch: Batch | undefined, mode: TrainMode = 'step', worker: OrtWorker = this.worker): Promise<WorkerProgram> {
    const bake = this.bakesWeights(kind);
    const build = (sig: Signature | undefined): GraphProgram => (kind === 'train' ? this.buildTrain(sig, mode) : this.buildEval(sig!, kind, bake));
    const workerTag = worker === this.worker ? '' : `@${this.replicaIndex(worker)}`;
    const prefix = `${kind}${mode === 'step' ? '' : `:${mode}`}${bake ? ':baked' : ''}${workerTag}`;
    if (!batch) {
      // The optimizer update alone has no batch inputs.
      let p = this.programs.get(prefix);
      if (!p) this.programs.set(prefix, (p = build(undefined).load(worker, this.sessionOptions(mode))));
      return p;
    }
    let sig = signatureOf(batch, this.symbolicWorks);
    let key = sigKey(prefix, sig);
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
      key = sigKey(prefix, sig);
      p = this.programs.get(key);
      if (p) return p;
      graph = build(sig);
    }
    p = graph.load(worker, this.sessionOptions(mode));
    this.programs.set(key, p);
    return p;
  }

  /** The weight arrays the ':baked' programs hold as constants. */
  private bakedWith?: readonly unknown[];

  /**
   * Whether this program gets the weights as constants. Prediction outside fit does: ORT then
   * pre-packs the convolution and matrix weights and folds their layout transposes (the seed CNN
   * predicts ~1.6× faster than with weights fed from worker state). Baked programs are rebuilt when
   * the host Variables hold new arrays (assign, the sync after fit); during fit the newest weights
   * are in the worker, so prediction there reads worker state.
   */
  private bakesWeights(kind: 'train' | 'eval' | 'predict'): boolean {
    if (kind !== 'predict' || this.training) return false;
    const now = this.variables.map(([, v]) => v.data);
    if (!this.bakedWith || now.some((d, i) => d !== this.bakedWith![i])) {
      for (const [key, p] of [...this.programs]) {
        if (!key.includes(':baked')) continue;
        this.programs.delete(key);
        void p.then((w) => w.release()).catch(() => undefined);
      }
      this.bakedWith = now;
    }
    return true;
  }

  /**
   * Data-parallel workers share the cores: each session gets cores / workers intra-op threads (one
   * on a 2-core machine), whatever compile's session options asked for a single session.
   */
  private sessionOptions(mode: TrainMode): SessionOptions | undefined {
    if (mode === 'step') return this.state.session;
    return mergeSessionOptions(this.state.session, { intraOpNumThreads: Math.max(1, Math.floor(availableParallelism() / (1 + this.replicas.length))) });
  }

  /** Extra workers holding replicas of the weights and optimizer state (data-parallel training). */
  readonly replicas: OrtWorker[] = [];

  private replicaIndex(worker: OrtWorker): number {
    const i = this.replicas.indexOf(worker);
    if (i < 0) throw new Error('internal: worker is not a replica of this runner');
    return i + 1;
  }

  batchFeeds(batch: Batch, withTargets: boolean): Record<string, HostTensor> {
    const feeds: Record<string, HostTensor> = {};
    batch.xs.forEach((t, i) => (feeds[`x${i}`] = toHost(t)));
    if (withTargets) {
      if (!batch.ys) throw new Error('targets y are required');
      batch.ys.forEach((t, i) => (feeds[`y${i}`] = toHost(t)));
      feeds.sw = toHost(batch.sampleWeight ?? ones([batch.size]));
    }
    return feeds;
  }

  async trainStep(batch: Batch): Promise<StepResult> {
    const program = await this.program('train', batch);
    const feeds = this.batchFeeds(batch, true);
    for (const [k, v] of Object.entries(this.state.optimizer.nextScalars())) feeds[`s_${k}`] = { dtype: 'float32', shape: [], data: new Float32Array([v]) };
    return this.collect(await program.run(feeds, this.fetchNames(), { transferFeeds: batch.owned }));
  }

  async evalStep(batch: Batch): Promise<StepResult> {
    const program = await this.program('eval', batch);
    return this.collect(await program.run(this.batchFeeds(batch, true), this.fetchNames(), { transferFeeds: batch.owned }));
  }

  async predictStep(batch: Batch): Promise<Tensor[]> {
    const program = await this.program('predict', batch);
    const names = program.program.lowered.outputNames.map((_, i) => `pred${i}`);
    const results = await program.run(this.batchFeeds(batch, false), names, { transferFeeds: batch.owned });
    return names.map((n) => fromHost(results[n]));
  }

  fetchNames(): string[] {
    const names = ['loss'];
    if (this.state.losses.length > 1) this.state.losses.forEach((_, i) => names.push(`l${i}`));
    this.state.metrics.forEach((m, k) => {
      const n = this.statCounts.get(m) ?? 0;
      for (let j = 0; j < n; j++) names.push(`m${k}_${j}`);
    });
    return names;
  }

  private readonly flops = new Map<string, number>();

  /** Forward FLOPs of one batch (convolutions and matrix products), for choosing data parallelism. */
  forwardFlops(sample: Batch): number {
    const sig = signatureOf(sample, false);
    const key = sigKey('flops', sig);
    let f = this.flops.get(key);
    if (f === undefined) {
      const b = new GraphBuilder();
      const x = this.feedsInput(b, sig);
      this.bindVariables(b, false);
      b.run(() => this.model.apply(x, { training: false }));
      this.flops.set(key, (f = forwardFlops(b.symbolicTrace.nodes)));
    }
    return f;
  }

  /** Number of statistics each metric produces (found by tracing it once on placeholders). */
  private readonly statCounts = new Map<Metric, number>();

  countStats(sample: Batch): void {
    const missing = this.state.metrics.filter((m) => !this.statCounts.has(m));
    if (missing.length === 0) return;
    if (!sample.ys) throw new Error('targets y are required');
    const b = new GraphBuilder();
    const x = this.feedsInput(b, signatureOf(sample, false));
    this.bindVariables(b, false);
    const ys = sample.ys.map((t, i) => b.feed(`y${i}`, t.shape, t.dtype));
    b.run(() => {
      const preds = this.outputs(this.model.apply(x, { training: false }), 'fit');
      this.state.metrics.forEach((m, k) => {
        if (!this.statCounts.has(m)) this.statCounts.set(m, m.batchStats(ys[this.state.metricOutputs[k]], preds[this.state.metricOutputs[k]]).length);
      });
    });
  }

  collect(results: Record<string, HostTensor>): StepResult {
    const stats = this.state.metrics.map((m, k) => Array.from({ length: this.statCounts.get(m) ?? 0 }, (_, j) => results[`m${k}_${j}`]));
    const outputLosses = this.state.losses.length > 1 ? this.state.losses.map((_, i) => Number(results[`l${i}`].data[0])) : [];
    return { loss: Number(results.loss.data[0]), outputLosses, stats };
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
  validationData?: [InputData, Targets] | [InputData, Targets, Tensor] | AsyncIterable<unknown>;
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
  /**
   * Worker threads to train on (default 'auto'). With n > 1, each batch is split into n shards
   * trained data parallel, one single-threaded ONNX Runtime session per worker (see parallel.ts);
   * 'auto' uses 2 on multi-core machines when the model is large enough for it to pay.
   */
  workers?: WorkersOption;
}

type Targets = Tensor | Tensor[] | Record<string, Tensor>;

/** fit(x, y, options) or fit(dataset, options): tells targets (tensors, arrays or records of them) from options. */
function splitArgs(y: unknown, options: unknown): [Targets | undefined, Record<string, any>] {
  const isTargets = y instanceof Tensor || (Array.isArray(y) && y.every((t) => t instanceof Tensor)) ||
    (y !== null && typeof y === 'object' && Object.keys(y).length > 0 && Object.values(y).every((t) => t instanceof Tensor));
  if (isTargets) return [y as Targets, (options as Record<string, any>) ?? {}];
  if (y === undefined || y === null) return [undefined, (options as Record<string, any>) ?? {}];
  if (typeof y === 'object' && !Array.isArray(y)) return [undefined, y as Record<string, any>];
  throw new Error(`expected targets y to be a Tensor (or an array/record of Tensors for several outputs), got ${String(y)}`);
}

function sourceFor(model: TrainableModel, x: unknown, y: Targets | undefined, sampleWeight: Tensor | undefined, classWeight: Record<number, number> | undefined, batchSize: number, who: string): BatchSource {
  if (isAsyncIterable(x)) return iterableSource(x, inputNames(model), outputNamesOf(model), classWeight, who);
  const xs = asModelDtypes(model, inputList(x as InputData, inputNames(model), who));
  const ys = targetList(y, outputNamesOf(model), who);
  if (classWeight && ys && ys.length > 1) throw new Error(`${who}: classWeight needs a single-output model; use sampleWeight`);
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
    if (this.outputNames.length > 1) this.outputNames.forEach((n, i) => (logs[`${prefix}${n}_loss`] = this.perOutput[i].value));
    return logs;
  }
}

function metricLogs(metrics: Metric[], prefix = ''): Logs {
  const logs: Logs = {};
  for (const m of metrics) for (const [k, v] of Object.entries(m.logValues())) logs[prefix + k] = v;
  return logs;
}

/** Keras-style training. Returns the History (history.history.loss[epoch], val_loss, metrics...). */
export async function fit(model: TrainableModel, x: unknown, yOrOptions?: unknown, maybeOptions?: FitOptions): Promise<History> {
  const [y, options] = splitArgs(yOrOptions, maybeOptions) as [Targets | undefined, FitOptions];
  const state = compiled(model, 'fit');
  const epochs = options.epochs ?? 1;
  const initialEpoch = options.initialEpoch ?? 0;
  const batchSize = options.batchSize ?? 32;
  const verbose = options.verbose ?? 1;

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
    validation = tensorSource(xs.map((t) => part(t, cut, n)!), ys?.map((t) => part(t, cut, n)!), part(options.sampleWeight, cut, n), options.validationBatchSize ?? batchSize, 'fit (validation split)');
  }
  if (options.validationData) {
    const vd = options.validationData;
    validation = isAsyncIterable(vd)
      ? iterableSource(vd, inputNames(model), outputNamesOf(model), undefined, 'fit (validationData)')
      : tensorSource(inputList(vd[0], inputNames(model), 'fit (validationData)'), targetList(vd[1], outputNamesOf(model), 'fit (validationData)'), vd[2], options.validationBatchSize ?? batchSize, 'fit (validationData)');
  }
  const train = sourceFor(model, trainX, trainY, trainW, options.classWeight, batchSize, 'fit');
  const steps = options.stepsPerEpoch ?? train.steps;

  const history = new History();
  // Runs started by the CLI (`lepton train`, `lepton start`) are recorded in the registry.
  const tracker = process.env.LEPTON_TRACK_RUNS === '1'
    ? (await import('../registry/tracker.js')).trackerFromEnvironment({ epochs, batchSize })
    : undefined;
  const callbacks = new CallbackList([...(options.callbacks ?? []), ...(tracker ? [tracker] : []), history, ...(verbose ? [new ProgressLogger(verbose)] : [])]);
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

  await callbacks.call('onTrainBegin', {});
  try {
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
          throw new Error(`fit: the loss became ${loss} at epoch ${epoch + 1}, step ${step + 1} (batch of ${batch.size}); training stopped. Try a lower learning rate, gradient clipping (clipNorm) or check the data for NaN/Inf.`);
        }
        meter.add(result, batch.size);
        state.metrics.forEach((m, k) => m.accumulate(stats[k].map((s) => s.data)));
        await callbacks.call('onBatchEnd', step, { batch: step, size: batch.size, ...meter.logs(), ...metricLogs(state.metrics) });
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
    tracker?.fail(error);
    throw error;
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
  const meter = new LossLogs(runner.state.outputNames);
  try {
    for (const m of metrics) m.reset();
    for await (const batch of source.batches(false)) {
      runner.countStats(batch);
      const result = await runner.evalStep(batch);
      meter.add(result, batch.size);
      metrics.forEach((m, k) => m.accumulate(result.stats[k].map((s) => s.data)));
    }
    return { ...meter.logs(prefix), ...metricLogs(metrics, prefix) };
  } finally {
    metrics.forEach((m, k) => m.restoreState(saved[k]));
  }
}

async function readyRunner(model: TrainableModel, state: CompileState, first: Batch, needsWorkerWeights = true): Promise<Runner> {
  ensureBuilt(model, first.xs);
  const runner = runnerFor(model, state);
  if (!runner.training && needsWorkerWeights) await runner.push(false);
  return runner;
}

export interface EvaluateOptions {
  batchSize?: number;
  sampleWeight?: Tensor;
  verbose?: number;
}

/** Loss and metrics over the data (weights as they are now). Returns {loss, ...metrics}. */
export async function evaluate(model: TrainableModel, x: unknown, yOrOptions?: unknown, maybeOptions?: EvaluateOptions): Promise<Logs> {
  const [y, options] = splitArgs(yOrOptions, maybeOptions) as [Targets | undefined, EvaluateOptions];
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

/**
 * Model outputs for all rows of x (batched, in the worker, inference mode), in the structure the
 * model returns: a Tensor, or an array/record of Tensors for several outputs.
 */
export async function predict(model: TrainableModel, x: unknown, options: PredictOptions = {}): Promise<any> {
  const state = (model.compileState as CompileState | undefined) ?? inferenceState(model);
  const source = sourceFor(model, x, undefined, undefined, undefined, options.batchSize ?? 32, 'predict');
  const parts: Tensor[][] = [];
  let runner: Runner | undefined;
  // Two batches in flight: the next one is gathered and sent while the worker computes this one.
  const inFlight: Promise<Tensor[]>[] = [];
  for await (const batch of source.batches(false)) {
    // Outside fit, prediction graphs hold the weights themselves (see Runner.bakesWeights).
    runner ??= await readyRunner(model, state, batch, false);
    const p = runner.predictStep(batch);
    p.catch(() => undefined); // rejections surface when awaited below, in order
    inFlight.push(p);
    if (inFlight.length >= 2) parts.push(await inFlight.shift()!);
  }
  for (const p of inFlight) parts.push(await p);
  if (!runner) throw new Error('predict: the data produced no batches');
  const outputs = parts[0].map((_, i) => (parts.length === 1 ? parts[0][i] : concatRows(parts.map((p) => p[i]))));
  const structure = runner.outputStructure;
  if (structure.kind === 'tensor') return outputs[0];
  if (structure.kind === 'array') return outputs;
  return Object.fromEntries(structure.keys.map((k, i) => [k, outputs[i]]));
}

// predict works on models that were never compiled: inference needs no loss or optimizer.
const inferenceStates = new WeakMap<TrainableModel, CompileState>();
function inferenceState(model: TrainableModel): CompileState {
  let s = inferenceStates.get(model);
  if (!s) {
    const outputNames = (model.outputSpecs ?? []).map((o) => o.name);
    const n = Math.max(1, outputNames.length);
    s = { optimizer: getOptimizer('sgd'), losses: Array.from({ length: n }, () => getLoss('mse')), lossWeights: [], outputNames: outputNames.length ? outputNames : ['output'], metrics: [], metricOutputs: [], metricSpecs: [], epoch: 0 };
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
