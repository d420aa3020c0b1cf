// A worker thread that owns ONNX Runtime sessions. It is plain JavaScript so that it runs the same
// from TypeScript sources (tsx, vitest) and from the built package. Messages: see pool.ts.
import { parentPort } from 'node:worker_threads';
import ort from 'onnxruntime-node';

/** @type {Map<string, import('onnxruntime-node').InferenceSession>} */
const sessions = new Map();
/** Tensors kept in this worker between runs (training state), by key. */
const state = new Map();
/**
 * Per state key, a second buffer of the same type and shape: a run writes the key's new value into
 * it (a preallocated output) while reading the current one, then the two swap. Training state thus
 * lives in two long-lived buffers per tensor instead of a fresh allocation per step.
 */
const spare = new Map();

const toOrt = (t) => new ort.Tensor(t.dtype, t.data, t.shape);

/**
 * ORT rejects typed arrays over shared memory, so feeds there (data shared by several workers) are
 * copied into buffers of this worker, reused across runs: fresh memory is costly (page faults), a
 * copy into memory already touched is not.
 */
const unshared = new Map();
function takeUnshared(bytes) {
  const free = unshared.get(bytes);
  return free?.pop() ?? new ArrayBuffer(bytes);
}
function giveUnshared(buffer) {
  const free = unshared.get(buffer.byteLength) ?? [];
  if (free.length < 2) free.push(buffer);
  unshared.set(buffer.byteLength, free);
}
function feedOf(t, taken) {
  if (!(t.data.buffer instanceof SharedArrayBuffer)) return toOrt(t);
  const buffer = takeUnshared(t.data.byteLength);
  taken.push(buffer);
  const data = new t.data.constructor(buffer, 0, t.data.length);
  data.set(t.data);
  return new ort.Tensor(t.dtype, data, t.shape);
}
const fromOrt = (t) => ({ dtype: t.type, shape: Array.from(t.dims, Number), data: t.data });

/** The buffer a run writes state `key` into: the spare of the current value, made on first use. */
function spareFor(key) {
  const current = state.get(key);
  if (!current) return undefined;
  let t = spare.get(key);
  if (!t || t.type !== current.type || t.dims.length !== current.dims.length || t.dims.some((d, i) => d !== current.dims[i])) {
    const Ctor = current.data.constructor;
    t = new ort.Tensor(current.type, new Ctor(current.data.length), current.dims);
    spare.set(key, t);
  }
  return t;
}

async function handle(msg) {
  switch (msg.type) {
    case 'load': {
      const session = await ort.InferenceSession.create(msg.model, { logSeverityLevel: 3, ...msg.options });
      sessions.set(msg.key, session);
      return { inputNames: session.inputNames, outputNames: session.outputNames };
    }
    case 'run': {
      const session = sessions.get(msg.key);
      if (!session) throw new Error(`no session '${msg.key}' in this worker`);
      const feeds = {};
      const taken = [];
      for (const [name, t] of Object.entries(msg.feeds)) feeds[name] = feedOf(t, taken);
      for (const [name, key] of Object.entries(msg.stateIn ?? {})) {
        const t = state.get(key);
        if (!t) throw new Error(`state '${key}' (input ${name}) was never set`);
        feeds[name] = t;
      }
      const names = [...new Set([...msg.fetch, ...Object.keys(msg.stateOut ?? {}), ...Object.keys(msg.sharedOut ?? {})])];
      const fetches = Object.fromEntries(names.map((n) => [n, null]));
      const written = new Map();
      for (const [name, key] of Object.entries(msg.stateOut ?? {})) {
        const into = spareFor(key);
        if (into) {
          fetches[name] = into;
          written.set(name, into);
        }
      }
      let results;
      try {
        results = await session.run(feeds, fetches);
      } finally {
        for (const b of taken) giveUnshared(b);
      }
      for (const [name, key] of Object.entries(msg.stateOut ?? {})) {
        const old = state.get(key);
        // ORT wrote the new value into the spare buffer (the result it returns is a copy of it).
        state.set(key, written.get(name) ?? results[name]);
        if (old && written.has(name)) spare.set(key, old);
        else spare.delete(key);
      }
      // Outputs copied into shared memory the caller owns (no buffer to send back and collect).
      for (const [name, into] of Object.entries(msg.sharedOut ?? {})) into.set(results[name].data);
      const outputs = {};
      for (const name of msg.fetch) outputs[name] = fromOrt(results[name]);
      // Staging buffers the caller lent for the feeds go back to it (see RemoteSession.run).
      const lent = (msg.lent ?? []).map((name) => msg.feeds[name].data);
      return { outputs, lent };
    }
    case 'setState': {
      // A state buffer is written in place later (as a spare): no two keys may share one.
      const seen = new Set();
      for (const [key, t] of Object.entries(msg.entries)) {
        const copy = seen.has(t.data.buffer) || t.data.buffer instanceof SharedArrayBuffer;
        seen.add(t.data.buffer);
        state.set(key, toOrt(copy ? { ...t, data: t.data.slice() } : t));
        spare.delete(key);
      }
      return {};
    }
    case 'getState': {
      const outputs = {};
      for (const key of msg.keys) {
        const t = state.get(key);
        if (!t) throw new Error(`state '${key}' was never set`);
        outputs[key] = { dtype: t.type, shape: Array.from(t.dims, Number), data: t.data.slice() };
      }
      return { outputs };
    }
    case 'deleteState': {
      for (const key of msg.keys) {
        state.delete(key);
        spare.delete(key);
      }
      return {};
    }
    case 'release': {
      const s = sessions.get(msg.key);
      sessions.delete(msg.key);
      if (s) await s.release();
      return {};
    }
    default:
      throw new Error(`unknown message type ${msg.type}`);
  }
}

parentPort.on('message', async (msg) => {
  try {
    const result = await handle(msg);
    const transfer = [];
    if (result.outputs && msg.type !== 'getState') {
      for (const t of Object.values(result.outputs)) transfer.push(t.data.buffer);
    }
    for (const a of result.lent ?? []) transfer.push(a.buffer);
    const unique = [...new Set(transfer)];
    try {
      parentPort.postMessage({ id: msg.id, ok: true, ...result }, unique);
    } catch {
      parentPort.postMessage({ id: msg.id, ok: true, ...result });
    }
  } catch (e) {
    parentPort.postMessage({ id: msg.id, ok: false, error: e instanceof Error ? e.message : String(e) });
  }
});
