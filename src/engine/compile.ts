/**
 * compile(fn): trace fn once per input signature, lower the trace to ONNX, cache the ORT session,
 * run it in a worker thread. toOnnx(fn, specs): the same trace written as a standalone ONNX model
 * (variables become initializers). The traced-program machinery here is also what eager `grad`
 * uses, synchronously, on the calling thread.
 */
import { type DType, allocate } from './dtype.js';
import { writeFileAtomic } from './files.js';
import { type LowerOptions, type LoweredGraph, lowerTrace } from './onnx/lower.js';
import type { HostTensor } from './onnx/proto.js';
import type { Dim } from './shape.js';
import { getWorker, type RemoteSession } from './runtime/pool.js';
import { NativeSession, mergeSessionOptions, type SessionOptions } from './runtime/session.js';
import { globalGenerator } from './random.js';
import { Tensor, fromHost, toHost } from './tensor.js';
import { type Flat, flatten } from './tree.js';
import { Trace, currentTrace, withTrace } from './trace.js';

export interface TraceOptions {
  /** Make axis 0 of every argument tensor symbolic ("batch"), so one graph serves any batch size. */
  symbolicBatch?: boolean;
}

/** A function traced for one input signature and lowered to ONNX. */
export class TracedProgram {
  private constructor(
    readonly trace: Trace,
    readonly lowered: LoweredGraph,
    readonly outputFlat: Flat,
  ) {}

  static build(
    fn: (...args: any[]) => unknown,
    args: readonly unknown[],
    options: TraceOptions & LowerOptions = {},
  ): TracedProgram {
    const flat = flatten(args);
    const trace = new Trace();
    const placeholders = flat.leaves.map((t, i) =>
      trace.input(
        options.symbolicBatch && t.rank > 0 ? ['batch', ...t.shape.slice(1)] : t.shape,
        t.dtype,
        `input_${i}`,
      ),
    );
    return TracedProgram.fromPlaceholders(fn, flat, trace, placeholders, options);
  }

  /**
   * Traces fn on placeholders of the given specs (shapes may hold symbolic dims). Graphs with baked
   * variables are files for any ONNX runtime: they are lowered for the 'portable' target.
   */
  static fromSpecs(
    fn: (...args: any[]) => unknown,
    specs: readonly TensorSpec[],
    options: LowerOptions = {},
  ): TracedProgram {
    const trace = new Trace();
    const placeholders = specs.map((s, i) => trace.input(s.shape, s.dtype ?? 'float32', s.name ?? `input_${i}`));
    const lowering: LowerOptions = options.variables === 'bake' ? { target: 'portable', ...options } : options;
    return TracedProgram.fromPlaceholders(fn, flatten(placeholders), trace, placeholders, lowering);
  }

  private static fromPlaceholders(
    fn: (...args: any[]) => unknown,
    flat: Flat,
    trace: Trace,
    placeholders: Tensor[],
    options: LowerOptions,
  ): TracedProgram {
    const symArgs = flat.rebuild(placeholders) as unknown[];
    const result = withTrace(trace, () => fn(...symArgs));
    const outputFlat = flatten(result);
    const lowered = lowerTrace(trace, outputFlat.leaves, options);
    return new TracedProgram(trace, lowered, outputFlat);
  }

  /** The feeds for one call: argument tensors, current variable values, fresh random numbers. */
  feeds(argLeaves: readonly Tensor[]): Record<string, HostTensor> {
    return runFeeds(this.lowered, (index) => toHost(argLeaves[index]), 'compiled function');
  }

  /** Output tensors rebuilt into the structure the traced function returned. */
  unpack(results: Record<string, HostTensor>): unknown {
    const leaves = this.lowered.outputNames.map((n) => fromHost(results[n]));
    return this.outputFlat.rebuild(leaves);
  }
}

/**
 * The feeds of one run of a lowered graph (by ONNX input name): trace input `index` gets
 * `input(index)` (undefined leaves it out, for inputs fed some other way, e.g. from worker state);
 * captured variables give their current values; random inputs get fresh numbers from the global
 * generator, their symbolic dimensions read from the shapes of the inputs given.
 */
export function runFeeds(
  lowered: LoweredGraph,
  input: (index: number) => HostTensor | undefined,
  context: string,
): Record<string, HostTensor> {
  const feeds: Record<string, HostTensor> = {};
  const symbols = new Map<string, number>();
  lowered.inputBindings.forEach((b, i) => {
    if (b.kind !== 'input') return;
    const t = input(b.index);
    if (!t) return;
    feeds[lowered.inputNames[i]] = t;
    const dims = lowered.model.graph.input[i].type?.tensor_type?.shape?.dim ?? [];
    dims.forEach((d, axis) => {
      if (d.dim_param) symbols.set(d.dim_param, t.shape[axis]);
    });
  });
  lowered.inputBindings.forEach((b, i) => {
    const name = lowered.inputNames[i];
    if (b.kind === 'variable') {
      feeds[name] = toHost(b.variable);
    } else if (b.kind === 'random') {
      const shape = b.shape.map((d) => {
        if (typeof d === 'number') return d;
        const v = symbols.get(d);
        if (v === undefined) throw new Error(`${context}: cannot resolve symbolic dimension '${d}' of a random input`);
        return v;
      });
      const data = allocate(
        b.dtype,
        shape.reduce((a, c) => a * c, 1),
      ) as Float32Array | Float64Array;
      if (b.distribution === 'uniform') globalGenerator.fillUniform(data);
      else globalGenerator.fillNormal(data);
      feeds[name] = { dtype: b.dtype, shape, data };
    }
  });
  return feeds;
}

export interface TensorSpec {
  shape: readonly Dim[];
  dtype?: DType;
  name?: string;
}

function signatureKey(flat: Flat, symbolicBatch: boolean): string {
  const leaves = flat.leaves.map(
    (t) => `${t.dtype}[${(symbolicBatch && t.rank > 0 ? ['b', ...t.shape.slice(1)] : t.shape).join(',')}]`,
  );
  return `${flat.key}|${leaves.join(';')}`;
}

export interface CompileOptions extends TraceOptions {
  session?: SessionOptions;
}

export interface CompiledFunction<F extends (...args: any[]) => any> {
  (...args: Parameters<F>): Promise<ReturnType<F>>;
  /** The traced programs created so far, one per input signature. */
  readonly programs: ReadonlyMap<string, TracedProgram>;
}

/**
 * Compiles fn: traced once per input signature into one ONNX graph, run by ONNX Runtime in a worker
 * thread. Returns an async function with fn's signature. Variables fn uses are read at every call.
 */
export function compile<F extends (...args: any[]) => any>(fn: F, options: CompileOptions = {}): CompiledFunction<F> {
  const programs = new Map<string, TracedProgram>();
  const sessions = new Map<string, Promise<RemoteSession>>();
  const compiled = async (...args: Parameters<F>): Promise<ReturnType<F>> => {
    const flat = flatten(args);
    if (currentTrace() || flat.leaves.some((t) => t.isSymbolic)) {
      // Called while tracing (e.g. from another compiled function): inline.
      return fn(...args);
    }
    const key = signatureKey(flat, !!options.symbolicBatch);
    let program = programs.get(key);
    let session = sessions.get(key);
    if (!program || !session) {
      program = TracedProgram.build(fn, args, options);
      programs.set(key, program);
      session = getWorker().load(
        program.lowered.bytes,
        mergeSessionOptions(program.lowered.sessionOptions, options.session),
        `compiled ${fn.name || 'function'}`,
      );
      sessions.set(key, session);
    }
    const s = await session;
    // Large arguments travel in staging buffers reused from call to call (see RunOptions.stage).
    const results = await s.run(program.feeds(flat.leaves), program.lowered.outputNames, { stage: true });
    return program.unpack(results) as ReturnType<F>;
  };
  Object.defineProperty(compiled, 'programs', { value: programs });
  return compiled as CompiledFunction<F>;
}

type SyncCache = Map<string, { program: TracedProgram; session: NativeSession }>;

/** Runs fn traced and compiled on this thread, synchronously (used by eager grad and compileSync). */
export function runTracedSync(
  cache: SyncCache,
  fn: (...args: any[]) => unknown,
  args: readonly unknown[],
  options: CompileOptions = {},
): unknown {
  const flat = flatten(args);
  const key = signatureKey(flat, !!options.symbolicBatch);
  let entry = cache.get(key);
  if (!entry) {
    const program = TracedProgram.build(fn, args, options);
    entry = {
      program,
      session: new NativeSession(
        program.lowered.bytes,
        mergeSessionOptions(program.lowered.sessionOptions, options.session),
        fn.name || 'traced function',
      ),
    };
    cache.set(key, entry);
  }
  const results = entry.session.run(entry.program.feeds(flat.leaves), entry.program.lowered.outputNames);
  return entry.program.unpack(results);
}

/**
 * Like compile(), but runs on the calling thread and returns results synchronously. Meant for
 * short computations (tests, small helpers); long ones belong in compile() so the event loop stays free.
 */
export function compileSync<F extends (...args: any[]) => any>(
  fn: F,
  options: CompileOptions = {},
): (...args: Parameters<F>) => ReturnType<F> {
  const cache: SyncCache = new Map();
  return (...args: Parameters<F>): ReturnType<F> => {
    if (currentTrace() || flatten(args).leaves.some((t) => t.isSymbolic)) return fn(...args);
    return runTracedSync(cache, fn, args, options) as ReturnType<F>;
  };
}

/**
 * Traces fn on inputs of the given specs and returns a standalone ONNX model (variables it uses
 * become initializers). With `path`, also writes it atomically.
 */
export async function toOnnx(
  fn: (...args: Tensor[]) => unknown,
  specs: readonly TensorSpec[],
  options: LowerOptions & { path?: string } = {},
): Promise<Uint8Array> {
  const program = TracedProgram.fromSpecs(fn, specs, { variables: 'bake', ...options });
  if (options.path) await writeFileAtomic(options.path, program.lowered.bytes);
  return program.lowered.bytes;
}
