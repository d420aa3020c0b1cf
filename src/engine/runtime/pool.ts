/**
 * Worker threads that run ONNX Runtime sessions, so that long computations never block the main
 * event loop (ORT's session creation and run are synchronous native calls). A compiled function is
 * pinned to one worker; tensors can stay inside a worker between runs as named state (training).
 */
import { Worker } from 'node:worker_threads';
import type { HostTensor } from '../onnx/proto.js';
import { OrtError, type SessionOptions } from './session.js';

interface Pending {
  resolve: (v: any) => void;
  reject: (e: Error) => void;
}

export class OrtWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private nextKey = 1;

  constructor() {
    this.worker = new Worker(new URL('./ort-worker.js', import.meta.url));
    this.worker.unref();
    this.worker.on('message', (msg: { id: number; ok: boolean; error?: string }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (this.pending.size === 0) this.worker.unref();
      if (msg.ok) p.resolve(msg);
      else p.reject(new OrtError(msg.error));
    });
    this.worker.on('error', (e) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    });
  }

  request<T>(msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<T> {
    const id = this.nextId++;
    if (this.pending.size === 0) this.worker.ref();
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  async load(model: Uint8Array, options: SessionOptions = {}, context = 'graph'): Promise<RemoteSession> {
    const key = `s${this.nextKey++}`;
    try {
      const r = await this.request<{ inputNames: string[]; outputNames: string[] }>({ type: 'load', key, model, options });
      return new RemoteSession(this, key, r.inputNames, r.outputNames, context);
    } catch (e) {
      throw new OrtError(`ONNX Runtime could not load the graph for ${context}: ${(e as Error).message}`);
    }
  }

  async setState(entries: Record<string, HostTensor>): Promise<void> {
    await this.request({ type: 'setState', entries });
  }

  async getState(keys: string[]): Promise<Record<string, HostTensor>> {
    return (await this.request<{ outputs: Record<string, HostTensor> }>({ type: 'getState', keys })).outputs;
  }

  async deleteState(keys: string[]): Promise<void> {
    await this.request({ type: 'deleteState', keys });
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

export interface RunOptions {
  /** Graph inputs fed from tensors kept in the worker: input name → state key. */
  stateIn?: Record<string, string>;
  /** Graph outputs kept in the worker as state: output name → state key. */
  stateOut?: Record<string, string>;
  /** Graph outputs copied into these arrays over shared memory (SharedArrayBuffer) instead of being returned. */
  sharedOut?: Record<string, HostTensor['data']>;
  /**
   * The caller hands the feed arrays over: their buffers move to the worker instead of being copied,
   * and are detached on this thread. Only arrays that span a whole, unshared buffer move.
   */
  transferFeeds?: boolean;
}

/** The buffers of `feeds` that can move to a worker: whole ArrayBuffers, each once. */
function movableBuffers(feeds: Record<string, HostTensor>): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const { data } of Object.values(feeds)) {
    if (data.buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) out.add(data.buffer);
  }
  return [...out];
}

export class RemoteSession {
  constructor(
    readonly worker: OrtWorker,
    readonly key: string,
    readonly inputNames: string[],
    readonly outputNames: string[],
    readonly context: string,
  ) {}

  async run(feeds: Record<string, HostTensor>, fetch: readonly string[] = this.outputNames, options: RunOptions = {}): Promise<Record<string, HostTensor>> {
    try {
      const r = await this.worker.request<{ outputs: Record<string, HostTensor> }>({
        type: 'run',
        key: this.key,
        feeds,
        fetch,
        stateIn: options.stateIn,
        stateOut: options.stateOut,
        sharedOut: options.sharedOut,
      }, options.transferFeeds ? movableBuffers(feeds) : []);
      return r.outputs;
    } catch (e) {
      throw new OrtError(`ONNX Runtime failed running ${this.context}: ${(e as Error).message}`);
    }
  }

  async release(): Promise<void> {
    await this.worker.request({ type: 'release', key: this.key });
  }
}

let pool: OrtWorker[] = [];
let nextWorker = 0;
let poolSize = 1;

/** Number of worker threads compiled functions are spread over (default 1). */
export function setWorkerCount(n: number): void {
  poolSize = Math.max(1, n);
}

/** A worker from the shared pool (round-robin). */
export function getWorker(): OrtWorker {
  if (pool.length < poolSize) {
    const w = new OrtWorker();
    pool.push(w);
    return w;
  }
  return pool[nextWorker++ % pool.length];
}

/** Stops all shared workers (they are unref'd, so this is only needed for a clean shutdown). */
export async function shutdownWorkers(): Promise<void> {
  const ws = pool;
  pool = [];
  await Promise.all(ws.map((w) => w.terminate()));
}
