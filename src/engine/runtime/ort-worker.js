// A worker thread that owns ONNX Runtime sessions. It is plain JavaScript so that it runs the same
// from TypeScript sources (tsx, vitest) and from the built package. Messages: see pool.ts.
//
// Sessions run through onnxruntime-node's native binding synchronously (its public `run()` only
// defers the same call by a tick): a message is handled start to end before the next one, so
// training state can change under no run in flight (see Arena).
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { kernelsWasmBase64 } from './kernels-wasm.js';
import { nativeKernels } from './native-kernels.js';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');
const { binding, initOrt } = require('onnxruntime-node/dist/binding');

/**
 * The collector, called after each in-place update. ORT hands every fetched output back in a new
 * buffer, so a train step allocates a gradient-sized block per parameter; malloc reuses the last
 * step's blocks only once the collector has freed them, and otherwise maps fresh pages, whose
 * first-touch faults cost several times the whole step on the VMs measured (docs/PERFORMANCE.md).
 * A minor collection takes ~0.3 ms. Undefined where V8 refuses to expose it.
 */
const collectGarbage = (() => {
  try {
    require('node:v8').setFlagsFromString('--expose-gc');
    const gc = require('node:vm').runInNewContext('gc');
    return typeof gc === 'function' ? () => gc({ type: 'minor' }) : undefined;
  } catch {
    return undefined;
  }
})();

/** Native sessions by key. */
const sessions = new Map();
/**
 * Threads for a session's native optimizer kernels: its intra-op thread count (ORT's threads are
 * idle while the update runs).
 */
const kernelThreads = new Map();
/**
 * Tensors kept in this worker between runs (training state), by key: an ort.Tensor, or an
 * ArenaTensor (float32 state that optimizer kernels update in place).
 */
const state = new Map();
const toOrt = (t) => new ort.Tensor(t.dtype, t.data, t.shape);
const fromOrt = (t) => ({ dtype: t.type, shape: Array.from(t.dims, Number), data: t.data });

/**
 * Float32 training state in the memory of the optimizer kernels (kernels.wat): weights and
 * optimizer slots that a train step updates in place, so they are neither graph outputs copied out
 * of ORT every step nor passed through 13 whole-tensor ops per parameter. ORT reads the weights
 * from here as feeds without a copy. Growing the memory detaches the old buffer, so views are made
 * afresh for every use; nothing holds one across messages.
 */
class Arena {
  constructor() {
    const bytes = Buffer.from(kernelsWasmBase64, 'base64');
    this.kernels = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports;
    this.memory = this.kernels.memory;
    /** Free blocks as [offset, bytes], by offset. */
    this.free = [];
    this.top = 64;
  }

  alloc(bytes) {
    const size = Math.ceil(bytes / 64) * 64 || 64;
    const i = this.free.findIndex(([, b]) => b >= size);
    if (i >= 0) {
      const [offset, b] = this.free[i];
      if (b === size) this.free.splice(i, 1);
      else this.free[i] = [offset + size, b - size];
      return offset;
    }
    const offset = this.top;
    const end = offset + size;
    if (end > 2 ** 32 - 65536)
      throw new Error(
        `optimizer state of ${end} bytes in this worker exceeds the 4 GB memory of the in-place optimizer kernels (set LEPTON_OPTIMIZER_KERNELS=0 to update inside the graph)`,
      );
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      // Grow geometrically: each growth copies nothing but faults its pages in on first use.
      const want = Math.min(Math.max(end, Math.floor(have * 1.5)), 2 ** 32 - 65536);
      this.memory.grow(Math.ceil((want - have) / 65536));
    }
    this.top = end;
    return offset;
  }

  release(offset, bytes) {
    const size = Math.ceil(bytes / 64) * 64 || 64;
    this.free.push([offset, size]);
    this.free.sort((a, b) => a[0] - b[0]);
    const merged = [];
    for (const block of this.free) {
      const last = merged[merged.length - 1];
      if (last && last[0] + last[1] === block[0]) last[1] += block[1];
      else merged.push([...block]);
    }
    if (merged.length && merged[merged.length - 1][0] + merged[merged.length - 1][1] === this.top) {
      this.top = merged.pop()[0];
    }
    this.free = merged;
  }

  view(offset, length) {
    return new Float32Array(this.memory.buffer, offset, length);
  }
}

/** A float32 state tensor living in the arena. */
class ArenaTensor {
  constructor(arena, dims, length) {
    this.arena = arena;
    this.dims = dims;
    this.length = length;
    this.offset = arena.alloc(length * 4);
  }
  get data() {
    return this.arena.view(this.offset, this.length);
  }
  toOrt() {
    return new ort.Tensor('float32', this.data, this.dims);
  }
  release() {
    this.arena.release(this.offset, this.length * 4);
  }
}

let arena;
/**
 * A gradient block in the arena per optimizer-updated parameter, by session key and gradient
 * output name: ORT writes the gradient there (a preallocated output), where the kernel reads it.
 * Freed with the session.
 */
const gradients = new Map();
const gradientKey = (session, item) => `${session}\u0000${item.grad}`;

function stateTensor(key, what) {
  const t = state.get(key);
  if (!t) throw new Error(`state '${key}' (${what}) was never set`);
  return t instanceof ArenaTensor ? t.toOrt() : t;
}

/** Sets state `key`; a tensor living in the arena is overwritten in place when the size matches. */
function putState(key, t) {
  const old = state.get(key);
  if (old instanceof ArenaTensor) {
    if (t.type === 'float32' && t.data.length === old.length) {
      old.data.set(t.data);
      return;
    }
    old.release();
  }
  state.set(key, t);
}

function deleteState(key) {
  const old = state.get(key);
  if (old instanceof ArenaTensor) old.release();
  state.delete(key);
}

/** Moves state `key` into the arena (once), returning its ArenaTensor. */
function inArena(key) {
  const t = state.get(key);
  if (!t) throw new Error(`state '${key}' (optimizer update) was never set`);
  if (t instanceof ArenaTensor) return t;
  if (t.type !== 'float32') throw new Error(`state '${key}' is ${t.type}; the in-place optimizer update needs float32`);
  arena ??= new Arena();
  const moved = new ArenaTensor(arena, Array.from(t.dims, Number), t.data.length);
  moved.data.set(t.data);
  state.set(key, moved);
  return moved;
}

/**
 * Places every tensor an update touches in the arena (parameters, slots, gradient blocks) before
 * the run, so that no allocation (which may grow the memory and detach its buffer) happens between
 * handing ORT the gradient views and the kernel reading them.
 */
function prepareUpdate(session, update) {
  for (const item of update.items) {
    const p = inArena(item.param);
    item.slots.forEach(inArena);
    const key = gradientKey(session, item);
    const g = gradients.get(key);
    if (!g || g.length !== p.length) {
      g?.release();
      gradients.set(key, new ArenaTensor(arena, p.dims, p.length));
    }
  }
}

/** Preallocated outputs for the gradients of an update: views of their arena blocks. */
function gradientFetches(session, update, fetches) {
  for (const item of update.items) fetches[item.grad] = gradients.get(gradientKey(session, item)).toOrt();
}

function releaseGradients(session) {
  for (const [key, g] of gradients)
    if (key.startsWith(`${session}\u0000`)) {
      g.release();
      gradients.delete(key);
    }
}

/**
 * Applies an optimizer update in place: `items` name each parameter's state key, the run's output
 * holding its gradient (already in its arena block), and its slot keys; `args` are the kernel's
 * scalar arguments.
 */
function applyUpdate(session, update) {
  // The native kernel when built (same bits, faster), in one call for all parameters.
  if (nativeKernels && update.kind === 'adam') {
    const offsets = new Uint32Array(update.items.length * 5);
    update.items.forEach((item, i) => {
      const p = state.get(item.param);
      const [m, v] = item.slots.map((k) => state.get(k));
      offsets.set([p.offset, gradients.get(gradientKey(session, item)).offset, m.offset, v.offset, p.length], i * 5);
    });
    nativeKernels.adam(arena.memory.buffer, offsets, Float32Array.from(update.args), kernelThreads.get(session) ?? 1);
    return;
  }
  for (const item of update.items) {
    const p = state.get(item.param);
    const slots = item.slots.map((k) => state.get(k));
    const g = gradients.get(gradientKey(session, item));
    if (update.kind === 'adam') {
      arena.kernels.adam(p.offset, g.offset, slots[0].offset, slots[1].offset, p.length, ...update.args);
    } else {
      throw new Error(`unknown optimizer kernel '${update.kind}'`);
    }
  }
}

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

function handle(msg) {
  switch (msg.type) {
    case 'load': {
      initOrt();
      const session = new binding.InferenceSession();
      const model = msg.model;
      session.loadModel(model.buffer, model.byteOffset, model.byteLength, { logSeverityLevel: 3, ...msg.options });
      sessions.set(msg.key, session);
      kernelThreads.set(msg.key, msg.options?.intraOpNumThreads || Math.min(availableParallelism(), 4));
      return {
        inputNames: session.inputMetadata.map((m) => m.name),
        outputNames: session.outputMetadata.map((m) => m.name),
      };
    }
    case 'run': {
      const session = sessions.get(msg.key);
      if (!session) throw new Error(`no session '${msg.key}' in this worker`);
      // First, every arena allocation of this run: growing the arena detaches its buffer, so views of
      // it (weights fed from it, gradient outputs) are made only after.
      if (msg.update) prepareUpdate(msg.key, msg.update);
      const feeds = {};
      const taken = [];
      for (const [name, t] of Object.entries(msg.feeds)) feeds[name] = feedOf(t, taken);
      for (const [name, key] of Object.entries(msg.stateIn ?? {})) feeds[name] = stateTensor(key, `input ${name}`);
      const fetches = {};
      for (const name of msg.fetch) fetches[name] = null;
      for (const name of Object.keys(msg.stateOut ?? {})) fetches[name] = null;
      for (const name of Object.keys(msg.sharedOut ?? {})) fetches[name] = null;
      if (msg.update) gradientFetches(msg.key, msg.update, fetches);
      let results;
      try {
        results = session.run(feeds, fetches, {});
      } finally {
        for (const b of taken) giveUnshared(b);
      }
      // onnxruntime-node 1.30 also returns every preallocated output in a new ArrayBuffer, copied from
      // the one given; the gradients' copies are dropped unread.
      for (const [name, key] of Object.entries(msg.stateOut ?? {})) putState(key, toOrt(fromOrt(results[name])));
      if (msg.update) {
        applyUpdate(msg.key, msg.update);
        for (const item of msg.update.items) results[item.grad] = undefined;
        collectGarbage?.();
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
      for (const [key, t] of Object.entries(msg.entries)) {
        putState(key, toOrt(t.data.buffer instanceof SharedArrayBuffer ? { ...t, data: t.data.slice() } : t));
      }
      return {};
    }
    case 'getState': {
      const outputs = {};
      for (const key of msg.keys) {
        const t = stateTensor(key, 'read');
        outputs[key] = { dtype: t.type, shape: Array.from(t.dims, Number), data: t.data.slice() };
      }
      return { outputs };
    }
    case 'deleteState': {
      for (const key of msg.keys) deleteState(key);
      return {};
    }
    case 'release': {
      const s = sessions.get(msg.key);
      sessions.delete(msg.key);
      kernelThreads.delete(msg.key);
      s?.dispose();
      releaseGradients(msg.key);
      return {};
    }
    default:
      throw new Error(`unknown message type ${msg.type}`);
  }
}

parentPort.on('message', (msg) => {
  try {
    const result = handle(msg);
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
