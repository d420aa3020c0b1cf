/**
 * Functions whose state stays in a worker thread between calls. `compile` ships every input and
 * every variable to its worker at each call and every output back; that is right for a step that
 * consumes fresh data, and wasteful for a loop that feeds its own outputs back in: a decoder's
 * key/value cache grows by one position per step and would cross threads twice per step.
 *
 * A `WorkerScope` owns named tensors ("state") in one worker; a `ResidentFunction` is a function
 * traced once for given input specs and run in that worker, each input fed from the caller or from
 * state, each output returned or kept as state. Variables the function reads are copied into the
 * scope by `syncVariables`, again only after they were assigned new values.
 */
import { type TensorSpec, TracedProgram, runFeeds } from './compile.js';
import type { HostTensor } from './onnx/proto.js';
import { type OrtWorker, type RemoteSession, getWorker } from './runtime/pool.js';
import { mergeSessionOptions, type SessionOptions } from './runtime/session.js';
import { Tensor, type Variable, toHost } from './tensor.js';

let nextScope = 1;

/** A tensor kept in a worker by a WorkerScope (an input or output of a ResidentFunction). */
export interface StateRef {
  readonly state: string;
}

/** Named tensors in one worker, released together. */
export class WorkerScope {
  readonly worker: OrtWorker;
  private readonly prefix = `scope${nextScope++}/`;
  private readonly keys = new Set<string>();
  /** Each synced variable's state key and the value array copied there. */
  private readonly variableKeys = new Map<Variable, { key: string; data: Variable['data'] }>();
  private released = false;

  constructor(worker: OrtWorker = getWorker()) {
    this.worker = worker;
  }

  /** A reference to the state `name` of this scope (set by a ResidentFunction output or `set`). */
  ref(name: string): StateRef {
    if (this.released) throw new Error(`WorkerScope: state '${name}' used after release()`);
    const key = this.prefix + name;
    this.keys.add(key);
    return { state: key };
  }

  /** Sets state from host tensors. */
  async set(entries: Record<string, HostTensor>): Promise<void> {
    const keyed: Record<string, HostTensor> = {};
    for (const [name, t] of Object.entries(entries)) keyed[this.ref(name).state] = t;
    await this.worker.setState(keyed);
  }

  /** The state key holding a variable's value in this scope (copied there by syncVariables). */
  variableKey(v: Variable): string | undefined {
    return this.variableKeys.get(v)?.key;
  }

  /**
   * Copies the values of these variables into the scope: those not there yet, and those assigned
   * new values since (`Variable.assign`, which fit, load and optimizers use, replaces the array).
   */
  async syncVariables(variables: Iterable<Variable>): Promise<void> {
    const entries: Record<string, HostTensor> = {};
    for (const v of variables) {
      if (this.variableKeys.get(v)?.data === v.data) continue;
      const key = this.ref(`variable${v.id}`).state;
      this.variableKeys.set(v, { key, data: v.data });
      entries[key] = toHost(v);
    }
    if (Object.keys(entries).length) await this.worker.setState(entries);
  }

  /** Deletes these states of the scope. */
  async delete(names: readonly string[]): Promise<void> {
    if (this.released) return;
    const keys = names.map((n) => this.prefix + n).filter((k) => this.keys.delete(k));
    if (keys.length) await this.worker.deleteState(keys);
  }

  /** Deletes every tensor this scope holds in the worker. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const keys = [...this.keys];
    this.keys.clear();
    this.variableKeys.clear();
    if (keys.length) await this.worker.deleteState(keys);
  }
}

/** An input of a ResidentFunction call: a host tensor, a Lepton tensor, or state of the scope. */
export type ResidentInput = HostTensor | Tensor | StateRef;

const isState = (x: ResidentInput): x is StateRef => typeof (x as StateRef).state === 'string';

/** A function traced once and run in a scope's worker, with inputs and outputs optionally in state. */
export class ResidentFunction {
  private constructor(
    readonly scope: WorkerScope,
    readonly program: TracedProgram,
    private readonly session: RemoteSession,
    readonly context: string,
  ) {}

  /**
   * Traces fn for the given input specs (symbolic dims allowed) and loads it in the scope's worker.
   * The function must be deterministic (no dropout or other random ops: call layers in inference mode).
   * With `bake`, the variables it reads become constants of the graph, with the values they have
   * now: nothing to sync, and ONNX Runtime pre-packs weight matrices and folds ops on them once
   * instead of at every call — for functions called many times with the same weights.
   */
  static async create(
    scope: WorkerScope,
    fn: (...args: Tensor[]) => unknown,
    specs: readonly TensorSpec[],
    options: { context?: string; session?: SessionOptions; bake?: boolean } = {},
  ): Promise<ResidentFunction> {
    const context = options.context ?? (fn.name || 'resident function');
    const program = TracedProgram.fromSpecs(fn, specs, options.bake ? { variables: 'bake' } : {});
    if (program.lowered.inputBindings.some((b) => b.kind === 'random'))
      throw new Error(`${context}: a resident function must be deterministic (it draws random numbers, e.g. dropout)`);
    const session = await scope.worker.load(
      program.lowered.bytes,
      mergeSessionOptions(program.lowered.sessionOptions, options.session),
      context,
    );
    return new ResidentFunction(scope, program, session, context);
  }

  /** The variables the function reads (to pass to `scope.syncVariables`). */
  get variables(): Variable[] {
    return this.program.lowered.inputBindings.flatMap((b) => (b.kind === 'variable' ? [b.variable] : []));
  }

  /**
   * Runs the function. `inputs` follow the specs; `keep[i]`, when given, names the state that output
   * i is written to instead of being returned, and null drops output i (it is not copied out of ONNX
   * Runtime). Returns the outputs neither kept nor dropped (undefined for the others).
   */
  async call(
    inputs: readonly ResidentInput[],
    keep: readonly (string | null | undefined)[] = [],
  ): Promise<(HostTensor | undefined)[]> {
    const lowered = this.program.lowered;
    const specCount = this.program.trace.inputs.length;
    if (inputs.length !== specCount)
      throw new Error(`${this.context}: expected ${specCount} inputs, got ${inputs.length}`);
    const stateIn: Record<string, string> = {};
    const feeds = runFeeds(
      lowered,
      (index) => {
        const x = inputs[index];
        return isState(x) ? undefined : x instanceof Tensor ? toHost(x) : x;
      },
      this.context,
    );
    lowered.inputBindings.forEach((b, i) => {
      const name = lowered.inputNames[i];
      if (b.kind === 'input') {
        const x = inputs[b.index];
        if (isState(x)) stateIn[name] = x.state;
      } else if (b.kind === 'variable') {
        const key = this.scope.variableKey(b.variable);
        if (!key)
          throw new Error(`${this.context}: variable '${b.variable.name}' is not in the scope (syncVariables first)`);
        delete feeds[name];
        stateIn[name] = key;
      }
    });
    const stateOut: Record<string, string> = {};
    const fetch: string[] = [];
    lowered.outputNames.forEach((name, i) => {
      const k = keep[i];
      if (typeof k === 'string') stateOut[name] = this.scope.ref(k).state;
      else if (k === undefined) fetch.push(name);
    });
    const results = await this.session.run(feeds, fetch, { stateIn, stateOut });
    return lowered.outputNames.map((name, i) => (keep[i] === undefined ? results[name] : undefined));
  }

  /** Unloads the session (the scope's state stays until scope.release()). */
  async release(): Promise<void> {
    await this.session.release();
  }
}
