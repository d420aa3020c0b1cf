/**
 * Synchronous data parallelism for fit over worker threads. Every worker holds a replica of the
 * weights and optimizer state and runs one session with cores / workers intra-op threads (one on a
 * 2-core machine); a batch is split into one shard per worker. One run of one graph per worker and
 * step: "apply the optimizer update with the previous step's summed gradients (unless it is the
 * first step of an epoch), then forward + backward on this step's shard, output the gradients".
 * The host adds the shard gradients (weighted by shard size, so the sum is the full batch's
 * gradient) and feeds the sum to every worker at the next step; the replicas therefore apply the
 * same update and stay identical. The last update of an epoch is flushed (`flush`) before weights
 * are read back. Same maths as the full batch, except that layers with batch statistics
 * (BatchNormalization) normalise each shard by its own statistics and keep worker 0's moving
 * averages (replicas are re-synchronised from them at epoch end), like PyTorch's DDP.
 *
 * Why: a second ORT intra-op thread speeds the seed CNN's step up by only 1.15–1.6× (small
 * convolutions, serial glue ops), and a multi-threaded session degrades badly when the cores are
 * shared; single-threaded sessions on half batches keep both cores busy with no synchronisation
 * inside a step (docs/PERFORMANCE.md, "A slow mode of 2-thread ORT on this machine").
 */
import { availableParallelism } from 'node:os';
import { type DType, type TypedArray, allocate, dtypeOfArray } from '../engine/dtype.js';
import type { HostTensor } from '../engine/onnx/proto.js';
import { OrtWorker } from '../engine/runtime/pool.js';
import { Tensor } from '../engine/tensor.js';
import type { Batch } from './data.js';
import type { WorkerProgram } from './graph.js';
import type { StepResult, TrainMode } from './steps.js';

/** How many workers fit uses: a number, or 'auto' (data parallel when it is expected to pay). */
export type WorkersOption = number | 'auto';

/**
 * When 'auto' trains data parallel: a step must be long (forward FLOPs per batch) and compute
 * must dominate the gradient exchange (forward FLOPs per trainable parameter; dense layers alone
 * have 2 × batch size, convolutions far more). Below these, the extra messages and the exchange
 * cost more than the second core gives (an MLP 784-128-10 at batch 64 stepped ~3× slower).
 */
export const AUTO_PARALLEL_MIN_FLOPS = 100e6;
export const AUTO_PARALLEL_MIN_FLOPS_PER_PARAM = 1000;

/** What choosing the worker count needs to know about the model and its compile state. */
export interface WorkerChoiceInfo {
  readonly state: { readonly losses: readonly { readonly reduction: string }[] };
  /** The trainable Variables (their sizes). */
  readonly trainable: readonly { readonly size: number }[];
  /** Every Variable (trainable or not). */
  readonly variables: readonly unknown[];
}

/**
 * What data-parallel training needs from the runner (runner.ts implements it): the worker and
 * replica workers, copying state into a replica, the train programs per worker, and turning a
 * batch into feeds and a run's outputs into a StepResult.
 */
export interface ReplicaHost extends WorkerChoiceInfo {
  readonly state: WorkerChoiceInfo['state'] & { readonly optimizer: { nextScalars(): Record<string, number> } };
  readonly trainable: readonly {
    readonly size: number;
    readonly shape: readonly (number | string)[];
    readonly dtype: DType;
  }[];
  /** The worker holding the weights and optimizer state. */
  readonly worker: OrtWorker;
  /** Extra workers (replicas); data-parallel training adds to them, the runner terminates them. */
  readonly replicas: OrtWorker[];
  /** Copies the host's weights (and optimizer slots) into `worker`. */
  push(withSlots: boolean, worker?: OrtWorker): Promise<void>;
  program(kind: 'train', batch: Batch | undefined, mode: TrainMode, worker: OrtWorker): Promise<WorkerProgram>;
  batchFeeds(batch: Batch, withTargets: boolean): Record<string, HostTensor>;
  /** The outputs a train step fetches (loss, per-output losses, metric statistics). */
  fetchNames(): string[];
  collect(results: Record<string, HostTensor>): StepResult;
}

/** Why a model cannot be trained data parallel (undefined when it can). */
export function dataParallelObstacle(runner: WorkerChoiceInfo): string | undefined {
  const reductions = runner.state.losses.map((l) => l.reduction);
  if (reductions.some((r) => r !== 'sumOverBatchSize')) {
    return `the losses must average over the batch (reduction 'sumOverBatchSize'); got ${reductions.join(', ')}`;
  }
  return undefined;
}

/**
 * The number of workers for this fit. Explicit numbers are checked; 'auto' picks 2 on machines
 * with at least 2 cores when the model has no non-trainable state (batch statistics are per shard)
 * and a step is large enough (`flops` = forward FLOPs of one batch).
 */
export function chooseWorkers(
  runner: WorkerChoiceInfo,
  requested: WorkersOption | undefined,
  flops: () => number,
): number {
  if (typeof requested === 'number') {
    if (!Number.isInteger(requested) || requested < 1)
      throw new Error(`fit: workers must be a positive integer or 'auto', got ${requested}`);
    if (requested > 1) {
      const obstacle = dataParallelObstacle(runner);
      if (obstacle)
        throw new Error(`fit: cannot train data parallel (workers: ${requested}): ${obstacle}. Use workers: 1.`);
    }
    return requested;
  }
  if (requested !== undefined && requested !== 'auto')
    throw new Error(`fit: workers must be a positive integer or 'auto', got ${String(requested)}`);
  if (availableParallelism() < 2 || dataParallelObstacle(runner)) return 1;
  if (runner.variables.length !== runner.trainable.length) return 1;
  const params = runner.trainable.reduce((n, v) => n + v.size, 0);
  const f = flops();
  return f >= AUTO_PARALLEL_MIN_FLOPS && f >= AUTO_PARALLEL_MIN_FLOPS_PER_PARAM * params ? 2 : 1;
}

/** Where a shard's rows are copied: `into(key, dtype, length)` returns the array to fill. */
type ShardStorage = (key: string, dtype: DType, length: number) => TypedArray;

const freshStorage: ShardStorage = (_key, dtype, length) => allocate(dtype, length);

/** Rows [start, end) of every tensor of the batch, copied into `into` arrays. */
function shardOf(batch: Batch, start: number, end: number, into: ShardStorage): Batch {
  const rows = (t: Tensor, key: string): Tensor => {
    const rowSize = t.size / (t.shape[0] as number);
    const data = into(key, t.dtype, (end - start) * rowSize);
    (data as Float32Array).set((t.data as Float32Array).subarray(start * rowSize, end * rowSize));
    return new Tensor([end - start, ...t.shape.slice(1)], t.dtype, data);
  };
  return {
    xs: batch.xs.map((t, i) => rows(t, `x${i}`)),
    ys: batch.ys?.map((t, i) => rows(t, `y${i}`)),
    sampleWeight: batch.sampleWeight && rows(batch.sampleWeight, 'sw'),
    size: end - start,
  };
}

/** Splits a batch into `n` shards of nearly equal size (larger ones first; empty ones undefined). */
export function splitBatch(
  batch: Batch,
  n: number,
  storage: (shard: number) => ShardStorage = () => freshStorage,
): (Batch | undefined)[] {
  const shards: (Batch | undefined)[] = [];
  let start = 0;
  for (let k = 0; k < n; k++) {
    const size = Math.floor(batch.size / n) + (k < batch.size % n ? 1 : 0);
    shards.push(size > 0 ? shardOf(batch, start, start + size, storage(k)) : undefined);
    start += size;
  }
  return shards;
}

export class DataParallelTrainer {
  readonly workers: OrtWorker[];
  /** The summed gradients and optimizer scalars of the last step, not yet applied. */
  private pending?: Record<string, HostTensor>;

  constructor(
    private readonly runner: ReplicaHost,
    count: number,
  ) {
    while (runner.replicas.length < count - 1) runner.replicas.push(new OrtWorker());
    this.workers = [runner.worker, ...runner.replicas.slice(0, count - 1)];
  }

  /** Copies weights and optimizer state into the replicas (the runner's own worker is pushed by fit). */
  async begin(): Promise<void> {
    await Promise.all(this.workers.slice(1).map((w) => this.runner.push(true, w)));
  }

  /** One training step over the batch; loss and metric statistics are those of the whole batch. */
  async step(batch: Batch): Promise<StepResult> {
    const { runner } = this;
    // Scalars of this step's update (learning rate, bias corrections): captured now, applied next step.
    const scalars = runner.state.optimizer.nextScalars();
    const pending = this.pending;
    this.pending = undefined;
    const gradNames = runner.trainable.map((_, i) => `g${i}`);
    const fetch = runner.fetchNames();
    const shards = splitBatch(batch, this.workers.length, (k) => this.shardStorage(k));
    const results = await Promise.all(
      this.workers.map(async (worker, k) => {
        const shard = shards[k];
        if (!shard) {
          if (pending) await (await runner.program('train', undefined, 'apply', worker)).run(pending, []);
          return undefined;
        }
        // With an update pending, apply it first; right after a flush there is none.
        const program = await runner.program('train', shard, pending ? 'shard' : 'grads', worker);
        const feeds = { ...runner.batchFeeds(shard, true), ...pending };
        return {
          size: shard.size,
          grads: this.gradBuffers(k),
          out: await program.run(feeds, fetch, { sharedOut: this.gradBuffers(k) }),
        };
      }),
    );
    const done = results.filter(
      (r): r is { size: number; grads: Record<string, Float32Array>; out: Record<string, HostTensor> } =>
        r !== undefined,
    );

    // Shard losses average over their rows: the batch's gradient is the size-weighted sum.
    const weights = done.map((r) => r.size / batch.size);
    const next: Record<string, HostTensor> = {};
    gradNames.forEach((name, i) => {
      const v = runner.trainable[i];
      next[name] = this.weightedSum(
        name,
        done.map((r) => ({ dtype: v.dtype, shape: v.shape as number[], data: r.grads[name] })),
        weights,
      );
    });
    Object.assign(next, scalarFeeds(scalars));
    this.pending = next;

    const parts = done.map((r) => runner.collect(r.out));
    return {
      loss: parts.reduce((a, p, i) => a + weights[i] * p.loss, 0),
      outputLosses: parts[0].outputLosses.map((_, j) =>
        parts.reduce((a, p, i) => a + weights[i] * p.outputLosses[j], 0),
      ),
      // Metric statistics add up over batches, so they add up over shards too.
      stats: parts[0].stats.map((metric, m) => metric.map((_, j) => addStats(parts.map((p) => p.stats[m][j])))),
    };
  }

  /** Applies the last step's update in every worker (before weights are read or evaluated). */
  async flush(): Promise<void> {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    await Promise.all(
      this.workers.map(async (w) => (await this.runner.program('train', undefined, 'apply', w)).run(pending, [])),
    );
  }

  /** Per worker and batch tensor: shared memory the shard rows are copied into, reused every step. */
  private readonly shardMemory: Map<string, TypedArray>[] = [];

  /**
   * Shards live in shared memory: posting them shares the buffer (no copy, no new buffer per step
   * for the garbage collector; fresh buffers made it run full collections every few steps). A
   * worker copies its shard when the run message arrives, and the next shard is written only
   * after that run has finished.
   */
  private shardStorage(k: number): ShardStorage {
    const memory = (this.shardMemory[k] ??= new Map());
    return (key, dtype, length) => {
      let a = memory.get(key);
      if (!a || dtypeOfArray(a) !== dtype || a.length < length) {
        const ctor = allocate(dtype, 0).constructor as new (buffer: SharedArrayBuffer) => TypedArray;
        const bytes = (allocate(dtype, 1) as Uint8Array).byteLength;
        a = new ctor(new SharedArrayBuffer(bytes * length));
        memory.set(key, a);
      }
      return a.length === length ? a : a.subarray(0, length);
    };
  }

  /** Per worker: shared memory its run writes the shard gradients into (nothing to send back or collect). */
  private readonly grads: Record<string, Float32Array>[] = [];

  private gradBuffers(k: number): Record<string, Float32Array> {
    this.grads[k] ??= Object.fromEntries(
      this.runner.trainable.map((v, i) => {
        const bytes = v.dtype === 'float64' ? 8 : 4;
        const buf = new SharedArrayBuffer(bytes * v.size);
        return [`g${i}`, (v.dtype === 'float64' ? new Float64Array(buf) : new Float32Array(buf)) as Float32Array];
      }),
    );
    return this.grads[k];
  }

  /** Shared memory for the summed gradients, reused every step (see weightedSum). */
  private readonly sums = new Map<string, Float32Array | Float64Array>();

  /**
   * Σ weights[k]·parts[k] into shared memory: posting it then shares the buffer with the workers
   * instead of copying it once per worker. Each worker copies it before its run starts, and the
   * next sum is written only after every run of the step has finished, so one buffer per gradient
   * serves all steps.
   */
  private weightedSum(name: string, parts: HostTensor[], weights: number[]): HostTensor {
    const { dtype, shape } = parts[0];
    const n = parts[0].data.length;
    if (dtype !== 'float32' && dtype !== 'float64')
      throw new Error(`data-parallel fit: gradients must be float32 or float64, got ${dtype}`);
    let out = this.sums.get(name);
    if (!out) {
      out =
        dtype === 'float32'
          ? new Float32Array(new SharedArrayBuffer(4 * n))
          : new Float64Array(new SharedArrayBuffer(8 * n));
      this.sums.set(name, out);
    }
    const d = parts.map((p) => p.data as Float32Array);
    // One pass over two inputs (the common case) runs ~3× faster than accumulating in place.
    if (d.length === 2) weightedSum2(out as Float32Array, d[0], d[1], weights[0], weights[1]);
    else {
      out.fill(0);
      d.forEach((a, k) => addScaled(out as Float32Array, a, weights[k]));
    }
    return { dtype, shape, data: out };
  }

  /**
   * After the host pulled worker 0's variables: copies them to the replicas, so non-trainable
   * state (moving statistics updated per shard) is the same everywhere for the next epoch.
   */
  async resync(): Promise<void> {
    if (this.runner.variables.length === this.runner.trainable.length) return;
    await Promise.all(this.workers.slice(1).map((w) => this.runner.push(false, w)));
  }
}

function scalarFeeds(scalars: Record<string, number>): Record<string, HostTensor> {
  return Object.fromEntries(
    Object.entries(scalars).map(([k, v]) => [`s_${k}`, { dtype: 'float32', shape: [], data: new Float32Array([v]) }]),
  );
}

// Typed as Float32Array; float64 data takes the same code path (V8 specialises per element kind).
function weightedSum2(out: Float32Array, a: Float32Array, b: Float32Array, wa: number, wb: number): void {
  for (let i = 0; i < out.length; i++) out[i] = wa * a[i] + wb * b[i];
}
function addScaled(out: Float32Array, d: Float32Array, w: number): void {
  for (let i = 0; i < out.length; i++) out[i] += w * d[i];
}

function addStats(parts: HostTensor[]): HostTensor {
  if (parts.length === 1) return parts[0];
  const out = new Float64Array(parts[0].data.length);
  for (const p of parts) for (let i = 0; i < out.length; i++) out[i] += Number(p.data[i]);
  return { dtype: 'float64', shape: parts[0].shape, data: out };
}
