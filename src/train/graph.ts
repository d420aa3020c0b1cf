/**
 * Train-step graphs. A GraphBuilder traces a function in which chosen Variables (model weights,
 * buffers) are replaced by graph inputs, so their values can live in a worker thread as state
 * between runs: a WorkerProgram binds those inputs to worker state keys (`stateIn`) and writes
 * chosen outputs back to state (`stateOut`), so each run only ships the batch and a few scalars.
 */
import type { DType } from '../engine/dtype.js';
import { runFeeds } from '../engine/compile.js';
import { type LoweredGraph, lowerTrace } from '../engine/onnx/lower.js';
import type { HostTensor } from '../engine/onnx/proto.js';
import type { KernelItem, OrtWorker, RemoteSession } from '../engine/runtime/pool.js';
import type { SessionOptions } from '../engine/runtime/session.js';
import type { Dim } from '../engine/shape.js';
import { Tensor, Variable } from '../engine/tensor.js';
import { Trace, withTrace } from '../engine/trace.js';
import { identity } from '../engine/index.js';

/** A trace in which some concrete tensors (Variables) stand for other symbolic values. */
class SubstitutingTrace extends Trace {
  readonly substitutes = new Map<Tensor, Tensor>();
  override capture(value: Tensor): Tensor {
    return this.substitutes.get(value) ?? super.capture(value);
  }
}

/** Where a graph input's value comes from at run time. */
export type InputSource = { kind: 'feed'; key: string } | { kind: 'state'; key: string };

export class GraphBuilder {
  private readonly trace = new SubstitutingTrace();
  private readonly sources: InputSource[] = [];

  /** A graph input fed from the host at every run under `key`. */
  feed(key: string, shape: readonly Dim[], dtype: DType): Tensor {
    this.sources.push({ kind: 'feed', key });
    return this.trace.input(shape, dtype, safeName(`in_${key}`));
  }

  /** A graph input read from worker state `key`. */
  state(key: string, shape: readonly Dim[], dtype: DType): Tensor {
    this.sources.push({ kind: 'state', key });
    return this.trace.input(shape, dtype, safeName(`state_${key}`));
  }

  /** Makes every use of `variable` inside `run` read the state input `key` (marked for grad when `differentiable`). */
  bindVariable(variable: Variable, key: string, differentiable = false): Tensor {
    const input = this.state(key, variable.shape, variable.dtype);
    const value = differentiable ? withTrace(this.trace, () => identity(input)) : input;
    this.trace.substitutes.set(variable, value);
    return value;
  }

  /** Makes every use of `variable` inside `run` read `value` (a tensor of this graph). */
  substitute(variable: Variable, value: Tensor): void {
    this.trace.substitutes.set(variable, value);
  }

  run<T>(fn: () => T): T {
    return withTrace(this.trace, fn);
  }

  get symbolicTrace(): Trace {
    return this.trace;
  }

  /**
   * Lowers the outputs (name → tensor) into ONNX; `stateOut` maps output names to state keys.
   * `bakeVariables`: Variables the graph reads (not bound to state) become constants (initializers).
   */
  build(
    outputs: [string, Tensor][],
    stateOut: Record<string, string> = {},
    context = 'train step',
    options: { bakeVariables?: boolean } = {},
  ): GraphProgram {
    const lowered = lowerTrace(
      this.trace,
      outputs.map(([, t]) => t),
      {
        outputNames: outputs.map(([n]) => safeName(n)),
        graphName: context,
        variables: options.bakeVariables ? 'bake' : undefined,
      },
    );
    const outputByName = new Map(outputs.map(([n], i) => [n, lowered.outputNames[i]]));
    const out: Record<string, string> = {};
    for (const [name, key] of Object.entries(stateOut)) out[outputByName.get(name)!] = key;
    return new GraphProgram(lowered, this.sources, outputByName, out, context);
  }
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9_]/g, '_');
}

/** A lowered graph plus how to feed it; `load` puts it into a worker. */
export class GraphProgram {
  /** Parameters the worker updates in place after each run, from the graph's gradient outputs (steps.ts). */
  kernelItems?: KernelItem[];

  constructor(
    readonly lowered: LoweredGraph,
    private readonly sources: InputSource[],
    private readonly outputByName: Map<string, string>,
    private readonly stateOut: Record<string, string>,
    readonly context: string,
  ) {}

  async load(worker: OrtWorker, options: SessionOptions = {}): Promise<WorkerProgram> {
    const session = await worker.load(this.lowered.bytes, options, this.context);
    return new WorkerProgram(this, session);
  }

  /** Feeds from host tensors (by key), the state bindings, and fresh random inputs. */
  plan(feeds: Record<string, HostTensor>): { feeds: Record<string, HostTensor>; stateIn: Record<string, string> } {
    const stateIn: Record<string, string> = {};
    this.lowered.inputBindings.forEach((b, i) => {
      if (b.kind === 'input' && this.sources[b.index].kind === 'state')
        stateIn[this.lowered.inputNames[i]] = this.sources[b.index].key;
    });
    const out = runFeeds(
      this.lowered,
      (index) => {
        const src = this.sources[index];
        if (src.kind === 'state') return undefined;
        const t = feeds[src.key];
        if (!t) throw new Error(`${this.context}: no value fed for '${src.key}'`);
        return t;
      },
      this.context,
    );
    return { feeds: out, stateIn };
  }

  outputName(name: string): string {
    const n = this.outputByName.get(name);
    if (!n) throw new Error(`${this.context}: no output '${name}'`);
    return n;
  }

  get stateOutputs(): Record<string, string> {
    return this.stateOut;
  }
}

export class WorkerProgram {
  constructor(
    readonly program: GraphProgram,
    readonly session: RemoteSession,
  ) {}

  /**
   * One run: `fetch` names outputs to bring back (by the names given to build); `sharedOut`
   * outputs are written into the given shared-memory arrays instead. With `transferFeeds`, the
   * feed arrays move to the worker (the caller must not use them afterwards). `update`: the
   * optimizer kernel and its arguments for the program's kernelItems.
   */
  async run(
    feeds: Record<string, HostTensor>,
    fetch: readonly string[],
    options: {
      sharedOut?: Record<string, HostTensor['data']>;
      transferFeeds?: boolean;
      update?: { kind: string; args: number[] };
    } = {},
  ): Promise<Record<string, HostTensor>> {
    const plan = this.program.plan(feeds);
    const names = fetch.map((f) => this.program.outputName(f));
    const { sharedOut, transferFeeds } = options;
    const items = this.program.kernelItems;
    if (items && !options.update)
      throw new Error(`${this.program.context}: the optimizer kernel's arguments are missing`);
    const shared =
      sharedOut && Object.fromEntries(Object.entries(sharedOut).map(([f, a]) => [this.program.outputName(f), a]));
    const results = await this.session.run(plan.feeds, names, {
      stateIn: plan.stateIn,
      stateOut: this.program.stateOutputs,
      sharedOut: shared,
      transferFeeds,
      update: items && options.update && { ...options.update, items },
    });
    return Object.fromEntries(fetch.map((f, i) => [f, results[names[i]]]));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
