/**
 * Worker threads that run ONNX Runtime sessions, so that long computations never block the main
 * event loop (ORT's session creation and run are synchronous native calls). A compiled function is
 * pinned to one worker; tensors can stay inside a worker between runs as named state (training).
 */
import { Worker } from 'node:worker_threads';
import type { HostTensor } from '../onnx/proto.js';
import { DEFAULT_SESSION_OPTIONS, OrtError, type SessionOptions, mergeSessionOptions } from './session.js';

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
      const r = await this.request<{ inputNames: string[]; outputNames: string[] }>({
        type: 'load',
        key,
        model,
        options: mergeSessionOptions(DEFAULT_SESSION_OPTIONS, options),
      });
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

/** A parameter the worker updates in place after a run: its state key, the output holding its gradient, its slots' keys. */
export interface KernelItem {
  param: string;
  grad: string;
  slots: string[];
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
  /**
   * Large feeds the caller keeps (the user's tensors) are copied into staging buffers that move to
   * the worker and come back with the results, reused from call to call. Without it they are
   * structured-cloned: serialised and deserialised into fresh memory on both sides, which on
   * machines where first-touch page faults are slow costs several times the copy itself.
   */
  stage?: boolean;
  /**
   * After the run, an optimizer kernel (kernels.wat) updates these parameters and their slots in
   * place from their gradient outputs (float32 state, moved into the kernels' memory on first use).
   */
  update?: { kind: string; args: number[]; items: KernelItem[] };
}

/** Feeds at least this large are staged (smaller ones clone cheaply). */
const STAGE_MIN_BYTES = 64 * 1024;

/**
 * ArrayBuffers lent to a worker for feeds, by byte length. A call takes one per large feed and gets
 * it back with the results, so a function called again with same-sized inputs reuses memory that
 * is already mapped.
 */
class StagingBuffers {
  private readonly free = new Map<number, ArrayBuffer[]>();

  take(bytes: number): ArrayBuffer {
    return this.free.get(bytes)?.pop() ?? new ArrayBuffer(bytes);
  }

  give(buffer: ArrayBuffer): void {
    const list = this.free.get(buffer.byteLength) ?? [];
    // Two per size serve a call in flight while the next one is prepared.
    if (list.length < 2) list.push(buffer);
    this.free.set(buffer.byteLength, list);
  }

  /** Feeds with large arrays replaced by copies in taken buffers; `lent` names them. */
  stage(feeds: Record<string, HostTensor>): {
    feeds: Record<string, HostTensor>;
    lent: string[];
    buffers: ArrayBuffer[];
  } {
    const out: Record<string, HostTensor> = {};
    const lent: string[] = [];
    const buffers: ArrayBuffer[] = [];
    for (const [name, t] of Object.entries(feeds)) {
      if (t.data.byteLength < STAGE_MIN_BYTES) {
        out[name] = t;
        continue;
      }
      const buffer = this.take(t.data.byteLength);
      const Ctor = t.data.constructor as new (b: ArrayBuffer, offset: number, length: number) => HostTensor['data'];
      const data = new Ctor(buffer, 0, t.data.length);
      (data as Float32Array).set(t.data as Float32Array);
      out[name] = { dtype: t.dtype, shape: t.shape, data };
      lent.push(name);
      buffers.push(buffer);
    }
    return { feeds: out, lent, buffers };
  }
}

/** The buffers of `feeds` that can move to a worker: whole ArrayBuffers, each once. */
function movableBuffers(feeds: Record<string, HostTensor>): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const { data } of Object.values(feeds)) {
    if (data.buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength)
      out.add(data.buffer);
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

  private readonly staging = new StagingBuffers();

  async run(
    feeds: Record<string, HostTensor>,
    fetch: readonly string[] = this.outputNames,
    options: RunOptions = {},
  ): Promise<Record<string, HostTensor>> {
    const staged = options.stage ? this.staging.stage(feeds) : undefined;
    const sent = staged?.feeds ?? feeds;
    const transfer = [...new Set([...(options.transferFeeds ? movableBuffers(sent) : []), ...(staged?.buffers ?? [])])];
    try {
      const r = await this.worker.request<{ outputs: Record<string, HostTensor>; lent: HostTensor['data'][] }>(
        {
          type: 'run',
          key: this.key,
          feeds: sent,
          lent: staged?.lent,
          fetch,
          stateIn: options.stateIn,
          stateOut: options.stateOut,
          sharedOut: options.sharedOut,
          update: options.update,
        },
        transfer,
      );
      for (const a of r.lent ?? []) if (a.buffer instanceof ArrayBuffer) this.staging.give(a.buffer);
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
