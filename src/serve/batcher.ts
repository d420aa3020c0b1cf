/**
 * Dynamic batching: requests for one model queue up and run together, concatenated along axis 0.
 * A batch is dispatched as soon as it holds maxBatchSize rows, or maxWaitMs after its first request
 * arrived — but never more batches at once than there are execution slots (workers); while all
 * slots are busy, the queue keeps filling, so batching grows with load and costs nothing when idle.
 */
import type { HostTensor } from '../engine/onnx/proto.js';
import { concatRows, sliceRows } from './tensors.js';

export type Feeds = Record<string, HostTensor>;
export type Outputs = Record<string, HostTensor>;

export interface BatcherOptions {
  /** Rows per batch (1 disables batching). */
  maxBatchSize: number;
  /** How long the first queued request may wait for others (ms). */
  maxWaitMs: number;
  /** Batches that may run at the same time (one per worker). */
  slots: number;
  /** Called with every dispatched batch's row count (metrics). */
  onBatch?: (rows: number) => void;
}

interface Item {
  feeds: Feeds;
  rows: number;
  at: number;
  resolve: (o: Outputs) => void;
  reject: (e: Error) => void;
}

export class Batcher {
  private queue: Item[] = [];
  private queuedRows = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = 0;
  private idleWaiters: (() => void)[] = [];

  /**
   * @param run executes one batch on a free slot (slot index given)
   * @param batchable whether requests may be concatenated (all inputs/outputs have a batch axis)
   */
  constructor(
    private readonly run: (feeds: Feeds, slot: number) => Promise<Outputs>,
    private readonly options: BatcherOptions,
    private readonly batchable: boolean,
  ) {}

  /** Rows waiting to be dispatched. */
  get queueLength(): number {
    return this.queuedRows;
  }

  get inFlight(): number {
    return this.running + this.queue.length;
  }

  submit(feeds: Feeds, rows: number): Promise<Outputs> {
    return new Promise<Outputs>((resolve, reject) => {
      this.queue.push({ feeds, rows, at: performance.now(), resolve, reject });
      this.queuedRows += rows;
      this.pump();
    });
  }

  /** Resolves once nothing is queued or running. */
  drain(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private freeSlots = new Set<number>();
  private slotsInitialized = false;

  private takeSlot(): number {
    if (!this.slotsInitialized) {
      for (let i = 0; i < this.options.slots; i++) this.freeSlots.add(i);
      this.slotsInitialized = true;
    }
    const s = this.freeSlots.values().next().value as number;
    this.freeSlots.delete(s);
    return s;
  }

  private pump(): void {
    while (this.queue.length && this.running < this.options.slots) {
      const full = !this.batchable || this.queuedRows >= this.options.maxBatchSize;
      const waited = performance.now() - this.queue[0].at;
      if (!full && waited < this.options.maxWaitMs) {
        if (!this.timer) {
          this.timer = setTimeout(
            () => {
              this.timer = undefined;
              this.pump();
            },
            Math.max(0, this.options.maxWaitMs - waited),
          );
        }
        return;
      }
      this.dispatch(this.takeBatch());
    }
  }

  private takeBatch(): Item[] {
    const batch: Item[] = [this.queue.shift()!];
    let rows = batch[0].rows;
    if (this.batchable) {
      while (this.queue.length && rows + this.queue[0].rows <= this.options.maxBatchSize) {
        const it = this.queue.shift()!;
        rows += it.rows;
        batch.push(it);
      }
    }
    this.queuedRows -= rows;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    return batch;
  }

  private dispatch(batch: Item[]): void {
    const rows = batch.reduce((a, b) => a + b.rows, 0);
    this.running++;
    const slot = this.takeSlot();
    this.options.onBatch?.(rows);
    const names = Object.keys(batch[0].feeds);
    const feeds: Feeds = {};
    for (const n of names) feeds[n] = concatRows(batch.map((it) => it.feeds[n]));
    this.run(feeds, slot)
      .then((outputs) => {
        let offset = 0;
        for (const it of batch) {
          const part: Outputs = {};
          for (const [n, t] of Object.entries(outputs)) {
            if (batch.length === 1) part[n] = t;
            else if (t.shape[0] !== rows)
              throw new Error(
                `output '${n}' has ${t.shape[0]} rows for a batch of ${rows}: this model cannot be batched`,
              );
            else part[n] = sliceRows(t, offset, offset + it.rows);
          }
          offset += it.rows;
          it.resolve(part);
        }
      })
      .catch((e: Error) => {
        for (const it of batch) it.reject(e);
      })
      .finally(() => {
        this.running--;
        this.freeSlots.add(slot);
        this.pump();
        if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
  }
}
