/**
 * Eager execution: an op on concrete tensors is lowered alone — through the same definition a
 * compiled graph uses — into a small ONNX graph whose session is cached by op, attributes and input
 * types, then run at once on this thread.
 */
import type { Attrs, OpDef, TensorType } from '../op.js';
import { lowerTrace } from '../onnx/lower.js';
import { Tensor, fromHost, toHost } from '../tensor.js';
import { Trace } from '../trace.js';
import { NativeSession, mergeSessionOptions } from './session.js';
import type { HostTensor } from '../onnx/proto.js';

interface CachedOp {
  session: NativeSession;
  inputNames: string[];
  outputNames: string[];
}

const cache = new Map<string, CachedOp>();
let eagerThreads = 1;

/** Threads used by eager ops (default 1: eager ops are small; compiled graphs get their own setting). */
export function setEagerThreads(n: number): void {
  eagerThreads = n;
  cache.clear();
}

export function runEager(op: OpDef, inputs: readonly Tensor[], attrs: Attrs, types: TensorType[]): Tensor[] {
  const key = `${op.name}|${attrsKey(attrs)}|${inputs.map((t) => `${t.dtype}[${t.shape.join(',')}]`).join(';')}`;
  let entry = cache.get(key);
  if (!entry) {
    const trace = new Trace();
    const placeholders = inputs.map((t, i) => trace.input(t.shape, t.dtype, `in${i}`));
    const outs = trace.addNode(op, placeholders, attrs, types).outputs;
    const lowered = lowerTrace(trace, outs);
    const session = new NativeSession(
      lowered.bytes,
      mergeSessionOptions(lowered.sessionOptions, { intraOpNumThreads: eagerThreads }),
      `op ${op.name}`,
    );
    entry = { session, inputNames: lowered.inputNames, outputNames: lowered.outputNames };
    cache.set(key, entry);
  }
  const feeds: Record<string, HostTensor> = {};
  inputs.forEach((t, i) => {
    feeds[entry!.inputNames[i]] = toHost(t);
  });
  const results = entry.session.run(feeds, entry.outputNames);
  return entry.outputNames.map((name) => fromHost(results[name]));
}

/** A cache key for attributes; unlike plain JSON it keeps ±Infinity and NaN apart. */
export function attrsKey(attrs: Attrs): string {
  return JSON.stringify(attrs, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? `#${v}` : v));
}
