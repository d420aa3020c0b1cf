// A worker thread that owns ONNX Runtime sessions. It is plain JavaScript so that it runs the same
// from TypeScript sources (tsx, vitest) and from the built package. Messages: see pool.ts.
import { parentPort } from 'node:worker_threads';
import ort from 'onnxruntime-node';

/** @type {Map<string, import('onnxruntime-node').InferenceSession>} */
const sessions = new Map();
/** Tensors kept in this worker between runs (training state), by key. */
const state = new Map();

// ORT rejects typed arrays over shared memory: those (data shared by several workers) are copied.
const toOrt = (t) => new ort.Tensor(t.dtype, t.data.buffer instanceof SharedArrayBuffer ? t.data.slice() : t.data, t.shape);
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
      for (const [name, t] of Object.entries(msg.feeds)) feeds[name] = toOrt(t);
      for (const [name, key] of Object.entries(msg.stateIn ?? {})) {
        const t = state.get(key);
        if (!t) throw new Error(`state '${key}' (input ${name}) was never set`);
        feeds[name] = t;
      }
      const fetch = [...new Set([...msg.fetch, ...Object.keys(msg.stateOut ?? {}), ...Object.keys(msg.sharedOut ?? {})])];
      const results = await session.run(feeds, fetch);
      for (const [name, key] of Object.entries(msg.stateOut ?? {})) state.set(key, results[name]);
      // Outputs copied into shared memory the caller owns (no buffer to send back and collect).
      for (const [name, into] of Object.entries(msg.sharedOut ?? {})) into.set(results[name].data);
      const outputs = {};
      for (const name of msg.fetch) outputs[name] = fromOrt(results[name]);
      return { outputs };
    }
    case 'setState': {
      for (const [key, t] of Object.entries(msg.entries)) state.set(key, toOrt(t));
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
    try {
      parentPort.postMessage({ id: msg.id, ok: true, ...result }, transfer);
    } catch {
      parentPort.postMessage({ id: msg.id, ok: true, ...result });
    }
  } catch (e) {
    parentPort.postMessage({ id: msg.id, ok: false, error: e instanceof Error ? e.message : String(e) });
  }
});
