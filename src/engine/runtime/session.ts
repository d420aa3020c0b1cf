/**
 * ONNX Runtime sessions on the calling thread. onnxruntime-node's public `run()` only defers a
 * synchronous native call, so eager ops and `grad` call the native binding directly: no promise,
 * no extra tick. Long-running work goes to worker threads instead (see pool.ts).
 */
import { createRequire } from 'node:module';
import type { HostTensor } from '../onnx/proto.js';
import { dtypeOfArray } from '../dtype.js';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
const { binding, initOrt } = require('onnxruntime-node/dist/binding') as {
  binding: { InferenceSession: new () => NativeInferenceSession };
  initOrt: () => void;
};

interface NativeInferenceSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: Record<string, unknown>, fetches: Record<string, null>, options: object): Record<string, OrtTensorLike>;
  readonly inputMetadata: { name: string }[];
  readonly outputMetadata: { name: string }[];
  dispose(): void;
}

interface OrtTensorLike {
  type: string;
  dims: readonly number[];
  data: unknown;
}

export interface SessionOptions {
  /** Threads for one op (default: ORT's choice, the number of physical cores). */
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  executionMode?: 'sequential' | 'parallel';
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** ORT session config entries (see onnxruntime's session options "extra"). */
  extra?: Record<string, unknown>;
}

/**
 * Options every session starts from. ORT's intra-op threads spin after each parallel section by
 * default, waiting for the next one; on a machine with as many cores as those threads they take
 * the cores the JavaScript threads need between runs (the optimizer kernel, the next batch, the
 * messages), which cost the MLP's train step far more than the spin saves
 * (docs/PERFORMANCE.md, "ORT threads spinning"). `extra: {'session.intra_op.allow_spinning': '1'}`
 * turns it back on.
 */
export const DEFAULT_SESSION_OPTIONS: SessionOptions = {
  extra: { 'session.intra_op.allow_spinning': '0' },
};

/** Merges session options; `extra` entries are merged too. */
export function mergeSessionOptions(...all: (SessionOptions | undefined)[]): SessionOptions {
  const out: SessionOptions = {};
  for (const o of all) {
    if (!o) continue;
    const extra = o.extra ? { ...(out.extra ?? {}), ...o.extra } : out.extra;
    Object.assign(out, o);
    if (extra) out.extra = extra;
  }
  return out;
}

export class OrtError extends Error {}

export class NativeSession {
  private readonly session: NativeInferenceSession;
  readonly inputNames: string[];
  readonly outputNames: string[];

  constructor(
    model: Uint8Array,
    options: SessionOptions = {},
    readonly context = 'session',
  ) {
    initOrt();
    this.session = new binding.InferenceSession();
    try {
      this.session.loadModel(model.buffer, model.byteOffset, model.byteLength, {
        logSeverityLevel: 3,
        ...mergeSessionOptions(DEFAULT_SESSION_OPTIONS, options),
      });
    } catch (e) {
      throw new OrtError(`ONNX Runtime could not load the graph for ${context}: ${(e as Error).message}`);
    }
    this.inputNames = this.session.inputMetadata.map((m) => m.name);
    this.outputNames = this.session.outputMetadata.map((m) => m.name);
  }

  run(feeds: Record<string, HostTensor>, fetch: readonly string[] = this.outputNames): Record<string, HostTensor> {
    const ortFeeds: Record<string, unknown> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = toOrt(t);
    const fetches: Record<string, null> = {};
    for (const name of fetch) fetches[name] = null;
    let results: Record<string, OrtTensorLike>;
    try {
      results = this.session.run(ortFeeds, fetches, {});
    } catch (e) {
      throw new OrtError(`ONNX Runtime failed running ${this.context}: ${(e as Error).message}`);
    }
    const out: Record<string, HostTensor> = {};
    for (const name of fetch) out[name] = fromOrt(results[name]);
    return out;
  }

  dispose(): void {
    this.session.dispose();
  }
}

export function toOrt(t: HostTensor): unknown {
  return new ort.Tensor(t.dtype, t.data as never, t.shape);
}

export function fromOrt(t: OrtTensorLike): HostTensor {
  const data = t.data as HostTensor['data'];
  return { dtype: dtypeOfArray(data), shape: [...t.dims].map(Number), data };
}

export const ortVersion = ort.env.versions.node;
