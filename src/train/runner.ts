/**
 * The Runner: a compiled model's programs in one worker thread, with its weights and optimizer
 * state kept there between steps (state keys). It syncs state between the host Variables and the
 * worker (push/pull), caches one program per kind and input signature (built by steps.ts), and
 * runs a batch through them (trainStep/evalStep/predictStep). Data-parallel training
 * (parallel.ts) drives it through the narrow ReplicaHost interface.
 */
import { availableParallelism } from 'node:os';
import type { HostTensor } from '../engine/onnx/proto.js';
import { type OrtWorker, getWorker } from '../engine/runtime/pool.js';
import { type SessionOptions, mergeSessionOptions } from '../engine/runtime/session.js';
import { Tensor, type Variable, fromHost, ones, toHost } from '../engine/tensor.js';
import { expectsProbabilities, lossInputProblem } from './losses.js';
import type { Metric } from './metrics.js';
import { type CompileState, type TrainableModel, releaseInBackground } from './compile-spec.js';
import { type Batch, takeRows } from './data.js';
import type { GraphProgram, WorkerProgram } from './graph.js';
import type { ReplicaHost } from './parallel.js';
import {
  type OutputStructure,
  type Signature,
  type StepContext,
  type StepResult,
  type TrainMode,
  buildEvalStep,
  buildTrainStep,
  sigKey,
  signatureOf,
  traceForwardFlops,
  traceMetricStatCounts,
} from './steps.js';

let nextRunnerId = 1;

/** The model's compiled programs in one worker, with its weights and optimizer state kept there. */
export class Runner implements StepContext, ReplicaHost {
  readonly id = `model${nextRunnerId++}`;
  readonly worker: OrtWorker = getWorker();
  readonly variables: [string, Variable][];
  readonly trainable: Variable[];
  private readonly programs = new Map<string, Promise<WorkerProgram>>();
  /** Whether a fit is running (the worker then holds the newest weights). */
  training = false;
  private symbolicWorks = true;
  /** How the model returns its outputs (a tensor, an array, or a record), seen when tracing. */
  outputStructure: OutputStructure = { kind: 'tensor' };

  constructor(
    readonly model: TrainableModel,
    readonly state: CompileState,
  ) {
    this.variables = model.namedVariables();
    const trainable = new Set(model.trainableParameters());
    this.trainable = this.variables.map(([, v]) => v).filter((v) => trainable.has(v));
  }

  /** Whether the model's variables or trainable flags changed since this runner was made. */
  isStale(): boolean {
    const now = this.model.namedVariables();
    const trainable = new Set(this.model.trainableParameters());
    return (
      now.length !== this.variables.length ||
      now.some(([, v], i) => v !== this.variables[i][1]) ||
      this.trainable.some((v) => !trainable.has(v)) ||
      trainable.size !== this.trainable.length
    );
  }

  varKey(i: number): string {
    return `${this.id}/v${i}`;
  }

  slotKey(i: number, j: number): string {
    return `${this.id}/s${i}_${j}`;
  }

  // ---- State sync

  /** Copies weights (and optionally optimizer state) from the host into the worker (or a replica). */
  async push(withSlots: boolean, worker: OrtWorker = this.worker): Promise<void> {
    const entries: Record<string, HostTensor> = {};
    this.variables.forEach(([, v], i) => (entries[this.varKey(i)] = toHost(v)));
    if (withSlots) {
      this.trainable.forEach((v, i) =>
        this.state.optimizer.slotsFor(v).forEach((s, j) => (entries[this.slotKey(i, j)] = toHost(s))),
      );
    }
    await worker.setState(entries);
  }

  /** Copies weights (and optionally optimizer state) from the worker into the host Variables. */
  async pull(withSlots: boolean): Promise<void> {
    const keys = this.variables.map((_, i) => this.varKey(i));
    const slotKeys: string[] = [];
    if (withSlots)
      this.trainable.forEach((_v, i) =>
        this.state.optimizer.slotNames().forEach((_, j) => slotKeys.push(this.slotKey(i, j))),
      );
    const got = await this.worker.getState([...keys, ...slotKeys]);
    this.variables.forEach(([, v], i) => v.assign(got[keys[i]].data));
    if (withSlots) {
      const n = this.state.optimizer.slotNames().length;
      this.trainable.forEach((v, i) =>
        this.state.optimizer.slots.set(
          v,
          Array.from({ length: n }, (_, j) => fromHost(got[this.slotKey(i, j)])),
        ),
      );
    }
  }

  /** Frees this runner's sessions and the state it keeps in the worker. */
  async release(): Promise<void> {
    const programs = [...this.programs.values()];
    this.programs.clear();
    for (const p of programs) await (await p.catch(() => undefined))?.release();
    const keys = this.variables.map((_, i) => this.varKey(i));
    this.trainable.forEach((_, i) =>
      this.state.optimizer.slotNames().forEach((__, j) => keys.push(this.slotKey(i, j))),
    );
    await this.worker.deleteState(keys);
    const replicas = this.replicas.splice(0);
    await Promise.all(replicas.map((w) => w.terminate()));
  }

  // ---- Program cache

  /**
   * The program for this batch (one per signature; a symbolic batch axis when the model allows).
   * Train programs of data-parallel shards (`mode`) load into `worker` (one single-threaded session each).
   */
  program(
    kind: 'train' | 'eval' | 'predict',
    batch: Batch | undefined,
    mode: TrainMode = 'step',
    worker: OrtWorker = this.worker,
  ): Promise<WorkerProgram> {
    const bake = this.bakesWeights(kind);
    const build = (sig: Signature | undefined): GraphProgram =>
      kind === 'train' ? buildTrainStep(this, sig, mode) : buildEvalStep(this, sig!, kind, bake);
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
    return mergeSessionOptions(this.state.session, {
      intraOpNumThreads: Math.max(1, Math.floor(availableParallelism() / (1 + this.replicas.length))),
    });
  }

  /** Extra workers holding replicas of the weights and optimizer state (data-parallel training). */
  readonly replicas: OrtWorker[] = [];

  private replicaIndex(worker: OrtWorker): number {
    const i = this.replicas.indexOf(worker);
    if (i < 0) throw new Error('internal: worker is not a replica of this runner');
    return i + 1;
  }

  // ---- Steps

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
    const scalars = this.state.optimizer.nextScalars();
    // Either the worker's kernel updates in place (with these scalars) or the graph does (fed them).
    const update = program.program.kernelItems ? this.state.optimizer.kernelUpdate(scalars) : undefined;
    if (!update)
      for (const [k, v] of Object.entries(scalars))
        feeds[`s_${k}`] = { dtype: 'float32', shape: [], data: new Float32Array([v]) };
    return this.collect(await program.run(feeds, this.fetchNames(), { transferFeeds: batch.owned, update }));
  }

  async evalStep(batch: Batch): Promise<StepResult> {
    const program = await this.program('eval', batch);
    return this.collect(
      await program.run(this.batchFeeds(batch, true), this.fetchNames(), { transferFeeds: batch.owned }),
    );
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
    if (f === undefined) this.flops.set(key, (f = traceForwardFlops(this, sig)));
    return f;
  }

  /** Number of statistics each metric produces (found by tracing it once on placeholders). */
  private readonly statCounts = new Map<Metric, number>();

  countStats(sample: Batch): void {
    if (this.state.metrics.every((m) => this.statCounts.has(m))) return;
    const counts = traceMetricStatCounts(this, sample);
    this.state.metrics.forEach((m, k) => {
      if (!this.statCounts.has(m)) this.statCounts.set(m, counts[k]);
    });
  }

  collect(results: Record<string, HostTensor>): StepResult {
    const stats = this.state.metrics.map((m, k) =>
      Array.from({ length: this.statCounts.get(m) ?? 0 }, (_, j) => results[`m${k}_${j}`]),
    );
    const outputLosses =
      this.state.losses.length > 1 ? this.state.losses.map((_, i) => Number(results[`l${i}`].data[0])) : [];
    return { loss: Number(results.loss.data[0]), outputLosses, stats };
  }
}

/** The model's runner, made anew when its variables changed since the last one. */
export function runnerFor(model: TrainableModel, state: CompileState): Runner {
  const current = state.runner as Runner | undefined;
  if (current && !current.isStale()) return current;
  releaseInBackground(current, 'fit');
  const runner = new Runner(model, state);
  state.runner = runner;
  return runner;
}

/**
 * A cross entropy on probabilities fed logits trains badly without failing; the model's outputs
 * on a few rows of the first batch show it (values outside [0, 1]): say so before training. Once per
 * compile: later fit calls train the same model with the same losses.
 */
export function checkLossInputs(model: TrainableModel, state: CompileState, xs: Tensor[]): void {
  if (state.lossInputsChecked || !state.losses.some(expectsProbabilities)) return;
  const n = Math.min(8, xs[0].shape[0] as number);
  const rows = xs.map((t) =>
    takeRows(
      t,
      Array.from({ length: n }, (_, i) => i),
      0,
      n,
    ),
  );
  const out = model.apply(rows.length === 1 ? rows[0] : rows, { training: false });
  const preds: unknown[] = Array.isArray(out) ? out : out instanceof Tensor ? [out] : Object.values(out as object);
  state.losses.forEach((loss, i) => {
    const p = preds[i];
    const problem = p instanceof Tensor ? lossInputProblem(loss, p) : undefined;
    if (problem)
      throw new Error(
        `fit: the model's outputs${preds.length > 1 ? ` (output ${state.outputNames[i]})` : ''} on the first batch: ${problem}`,
      );
  });
  state.lossInputsChecked = true;
}

/** Runs the model once eagerly on one row so lazily built layers create their weights. */
export function ensureBuilt(model: TrainableModel, xs: Tensor[]): void {
  if (model.built !== false && model.namedVariables().length > 0) return;
  const first = xs.map((t) => takeRows(t, [0], 0, 1));
  model.apply(first.length === 1 ? first[0] : first, { training: false });
}
