// A worker thread that owns ONNX Runtime sessions. It is plain JavaScript so that it runs the same
// from TypeScript sources (tsx, vitest) and from the built package. Messages: see pool.ts.
import { parentPort } from 'node:worker_threads';
import ort from 'onnxruntime-node';

/** @type {Map<string, import('onnxruntime-node').InferenceSession>} */
const sessions = new Map();
/** Tensors kept in this worker between runs (training state), by key. */
const state = new Map();
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
      const fetch = [
        ...new Set([...msg.fetch, ...Object.keys(msg.stateOut ?? {}), ...Object.keys(msg.sharedOut ?? {})]),
      ];
      let results;
      try {
        results = await session.run(feeds, fetch);
      } finally {
        for (const b of taken) giveUnshared(b);
      }
      // Preallocated outputs would not save a copy here: onnxruntime-node 1.30 returns every fetched
      // output in a new ArrayBuffer, copied from the one given (docs/PERFORMANCE.md).
      for (const [name, key] of Object.entries(msg.stateOut ?? {})) state.set(key, results[name]);
      // Outputs copied into shared memory the caller owns (no buffer to send back and collect).
      for (const [name, into] of Object.entries(msg.sharedOut ?? {})) into.set(results[name].data);
      const outputs = {};
      for (const name of msg.fetch) outputs[name] = fromOrt(results[name]);
      // Staging buffers the caller lent for the feeds go back to it (see RemoteSession.run).
      const lent = (msg.lent ?? []).map((name) => msg.feeds[name].data);
      return { outputs, lent };
    }
    case 'setState': {
      for (const [key, t] of Object.entries(msg.entries)) {
        state.set(key, toOrt(t.data.buffer instanceof SharedArrayBuffer ? { ...t, data: t.data.slice() } : t));
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
      for (const key of msg.keys) state.delete(key);
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
