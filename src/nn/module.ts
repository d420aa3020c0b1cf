/**
 * PyTorch-style modules. State is registered, never discovered: like PyTorch's
 * `Module.__setattr__`, assigning to a module routes the value by its type — a Variable becomes a
 * parameter (or stays a buffer, see `registerBuffer`), a Module or a non-empty array of Modules a
 * submodule — and anything else is a plain attribute that is never state. The routing happens in
 * a Proxy's set/defineProperty traps (the only way to see `this.fc = new Linear(...)` and class
 * fields in JavaScript); `registerParameter/registerBuffer/registerModule` do the same explicitly.
 * A name holds one kind: assigning a Module to a parameter's name (or a number to a submodule's)
 * is an error, as is registering a name that a method or another attribute already uses. Names
 * are dotted paths ("encoder.layers.0.weight"); a Variable or Module reachable twice (shared
 * weights) is listed once, under the first name found.
 */
import { sameShape, shapeStr } from '../engine/shape.js';
import { Tensor, Variable } from '../engine/tensor.js';
import { add, scalar } from '../engine/index.js';

export interface LoadStateDictOptions {
  /** Require the dictionary and the module to have exactly the same keys (default true). */
  strict?: boolean;
}

export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

type VariableKind = 'parameter' | 'buffer';
/** What a registered name holds. */
type StateKind = VariableKind | 'module';

// Inside functionalCall, parameters may hold plain tensors (the substituted values).
let substituting = 0;

function isModuleList(value: unknown): value is Module[] {
  return Array.isArray(value) && value.length > 0 && value.every((v) => v instanceof Module);
}

function describeKind(value: unknown): string {
  if (value instanceof Variable) return 'a Variable';
  if (value instanceof Module) return `a Module (${value.constructor.name})`;
  if (value instanceof Tensor) return 'a Tensor';
  if (Array.isArray(value)) return 'an array';
  return value === null ? 'null' : `a ${typeof value}`;
}

/** Each module's registered names and their kinds (PyTorch's _parameters/_buffers/_modules), by module. */
const registries = new WeakMap<object, Map<string, StateKind>>();
/** The object behind each module's Proxy: methods see the proxy as `this`, the traps the target. */
const targets = new WeakMap<object, object>();
function registryOf(module: object): Map<string, StateKind> {
  const key = targets.get(module) ?? module;
  let r = registries.get(key);
  if (!r) registries.set(key, (r = new Map()));
  return r;
}

/**
 * Routes an assignment of `value` to `name` (PyTorch's __setattr__): registers Variables and
 * Modules under their kind and rejects values of another kind for a registered name.
 */
function route(target: Module, name: string, value: unknown): void {
  const registry = registryOf(target);
  const kind = registry.get(name);
  const who = `${target.constructor.name}: cannot assign ${describeKind(value)} to '${name}'`;
  if (value === undefined || value === null) return; // an empty slot (e.g. no bias); the name keeps its kind
  if (value instanceof Variable) {
    if (kind === 'module') throw new Error(`${who}, which is a submodule`);
    if (!kind) {
      checkFreeName(target, name, 'parameter');
      registry.set(name, 'parameter');
    }
  } else if (value instanceof Module || isModuleList(value)) {
    if (kind === 'parameter' || kind === 'buffer') throw new Error(`${who}, which is a ${kind}`);
    if (!kind) {
      checkFreeName(target, name, 'submodule');
      registry.set(name, 'module');
    }
  } else if (kind === 'module') {
    // An emptied list of submodules is still a list of submodules.
    if (!(Array.isArray(value) && value.length === 0)) throw new Error(`${who}, which is a submodule`);
  } else if (kind) {
    if (!(value instanceof Tensor && substituting > 0))
      throw new Error(`${who}, which is a ${kind} (assign a Variable)`);
  }
}

/** A new state name must not shadow a method or accessor of the class (e.g. a field named 'train' or 'layers'). */
function checkFreeName(target: Module, name: string, what: string): void {
  if (name in Object.getPrototypeOf(target)) {
    throw new Error(
      `${target.constructor.name}: cannot register a ${what} named '${name}': ${target.constructor.name} already has a member of that name`,
    );
  }
}

const registration: ProxyHandler<Module> = {
  set(target, key, value, receiver) {
    if (typeof key === 'string') route(target, key, value);
    return Reflect.set(target, key, value, receiver);
  },
  defineProperty(target, key, descriptor) {
    if (typeof key === 'string' && 'value' in descriptor) route(target, key, descriptor.value);
    return Reflect.defineProperty(target, key, descriptor);
  },
  deleteProperty(target, key) {
    if (typeof key === 'string') registryOf(target).delete(key);
    return Reflect.deleteProperty(target, key);
  },
};

export class Module {
  /** Training mode (dropout active, batch statistics used). PyTorch default: true. */
  training = true;

  constructor() {
    // Assignments to the module (and subclass fields) go through `route` from here on.
    const proxy = new Proxy(this, registration);
    targets.set(proxy, this);
    // biome-ignore lint/correctness/noConstructorReturn: the registration Proxy is the module (PyTorch's __setattr__ routing)
    return proxy;
  }

  /** The computation. Subclasses override forward (PyTorch style) or call (Keras style). */
  forward(..._args: any[]): any {
    throw new Error(`${this.constructor.name}: subclasses of Module must override forward()`);
  }

  /** Runs the module (`module(...)` in PyTorch). */
  call(...args: any[]): any {
    return this.forward(...args);
  }

  /** Runs the module; the same as call for plain modules, `__call__` for Keras layers. */
  apply(...args: any[]): any {
    return this.call(...args);
  }

  /** Registers `name` as a parameter holding `value` (the same as assigning a Variable to it). */
  registerParameter(name: string, value: Variable): Variable {
    this.register(name, 'parameter', value);
    return value;
  }

  /** Registers a non-trainable Variable as state (saved in stateDict, not returned by parameters()). */
  registerBuffer(name: string, value: Variable): Variable {
    value.trainable = false;
    this.register(name, 'buffer', value);
    return value;
  }

  /** Registers `name` as a submodule (or a list of them); the same as assigning it. */
  registerModule<M extends Module | Module[]>(name: string, value: M): M {
    this.register(name, 'module', value);
    return value;
  }

  private register(name: string, kind: StateKind, value: Variable | Module | Module[]): void {
    const ok = kind === 'module' ? value instanceof Module || isModuleList(value) : value instanceof Variable;
    if (!ok)
      throw new Error(
        `${this.constructor.name}.register: '${name}' must be ${kind === 'module' ? 'a Module or a non-empty array of Modules' : 'a Variable'}, got ${describeKind(value)}`,
      );
    const registry = registryOf(this);
    const current = registry.get(name);
    if (current !== undefined && current !== kind)
      throw new Error(
        `${this.constructor.name}: '${name}' is already a ${current === 'module' ? 'submodule' : current}`,
      );
    if (current === undefined) {
      if (Object.hasOwn(this, name) && (this as Record<string, unknown>)[name] !== undefined) {
        throw new Error(`${this.constructor.name}: attribute '${name}' already exists`);
      }
      checkFreeName(this, name, kind === 'module' ? 'submodule' : kind);
      registry.set(name, kind);
    }
    (this as Record<string, unknown>)[name] = value;
  }

  /** Direct submodules with their names. Containers override this to name children their way. */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [key, kind] of registryOf(this)) {
      if (kind !== 'module') continue;
      const value = (this as Record<string, unknown>)[key];
      if (value instanceof Module) out.push([key, value]);
      else if (Array.isArray(value)) value.forEach((m, i) => m instanceof Module && out.push([`${key}.${i}`, m]));
    }
    return out;
  }

  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /** This module and all submodules (depth first, each once), with dotted names ('' for this one). */
  namedModules(): [string, Module][] {
    const out: [string, Module][] = [];
    const seen = new Set<Module>();
    const visit = (m: Module, prefix: string): void => {
      if (seen.has(m)) return;
      seen.add(m);
      out.push([prefix, m]);
      for (const [name, child] of m.namedChildren()) visit(child, prefix ? `${prefix}.${name}` : name);
    };
    visit(this, '');
    return out;
  }

  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** Own Variables of this module (not of submodules), in registration order. */
  ownVariables(): [string, Variable, VariableKind][] {
    const out: [string, Variable, VariableKind][] = [];
    for (const [key, kind] of registryOf(this)) {
      if (kind === 'module') continue;
      const value = (this as Record<string, unknown>)[key];
      if (value instanceof Variable) out.push([key, value, kind]);
    }
    return out;
  }

  /** All Variables (parameters and buffers) with dotted names, each listed once. */
  namedVariables(kind?: VariableKind): [string, Variable][] {
    const out: [string, Variable][] = [];
    const seen = new Set<Variable>();
    for (const [prefix, m] of this.namedModules()) {
      for (const [key, v, k] of m.ownVariables()) {
        if (seen.has(v)) continue;
        seen.add(v);
        if (!kind || k === kind) out.push([prefix ? `${prefix}.${key}` : key, v]);
      }
    }
    return out;
  }

  /** Parameters (everything but buffers; frozen parameters included) with dotted names. */
  namedParameters(): [string, Variable][] {
    return this.namedVariables('parameter');
  }

  parameters(): Variable[] {
    return this.namedParameters().map(([, v]) => v);
  }

  /** Parameters that receive gradients (trainable, and not inside a frozen layer). */
  trainableParameters(): Variable[] {
    // A Keras layer with `trainable = false` freezes every Variable under it.
    const frozen = new Set<Variable>();
    for (const [, m] of this.namedModules()) {
      if ((m as { trainable?: boolean }).trainable === false) for (const [, v] of m.namedVariables()) frozen.add(v);
    }
    return this.parameters().filter((v) => v.trainable && !frozen.has(v));
  }

  namedBuffers(): [string, Variable][] {
    return this.namedVariables('buffer');
  }

  buffers(): Variable[] {
    return this.namedBuffers().map(([, v]) => v);
  }

  /** Snapshot of every parameter and buffer by dotted name. */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries(this.namedVariables().map(([k, v]) => [k, v.value()]));
  }

  /**
   * Copies values into this module's Variables. Shape and dtype must match; with `strict`
   * (default) the keys must match exactly. Returns the missing and unexpected keys.
   */
  loadStateDict(dict: Record<string, Tensor>, options: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = options.strict ?? true;
    const own = new Map(this.namedVariables());
    const missingKeys = [...own.keys()].filter((k) => !(k in dict));
    const unexpectedKeys = Object.keys(dict).filter((k) => !own.has(k));
    const who = `${this.constructor.name}.loadStateDict`;
    if (strict && (missingKeys.length || unexpectedKeys.length)) {
      const lines = [`${who}: keys do not match`];
      if (missingKeys.length) lines.push(`  missing from the dictionary: ${missingKeys.join(', ')}`);
      if (unexpectedKeys.length) lines.push(`  not in the module: ${unexpectedKeys.join(', ')}`);
      if (own.size === 0)
        lines.push(
          '  the module has no weights yet: Keras-style layers create them when first called (or call model.build(inputShape))',
        );
      throw new Error(lines.join('\n'));
    }
    const errors: string[] = [];
    for (const [key, v] of own) {
      const t = dict[key];
      if (!t) continue;
      if (!(t instanceof Tensor) || t.isSymbolic) errors.push(`'${key}': expected a concrete Tensor`);
      else if (!sameShape(t.shape, v.shape))
        errors.push(`'${key}': dictionary has shape ${shapeStr(t.shape)}, module has ${shapeStr(v.shape)}`);
      else if (t.dtype !== v.dtype) errors.push(`'${key}': dictionary has dtype ${t.dtype}, module has ${v.dtype}`);
    }
    if (errors.length) throw new Error(`${who}: ${errors.join('; ')}`);
    for (const [key, v] of own) if (dict[key]) v.assign(dict[key]);
    return { missingKeys, unexpectedKeys };
  }

  /** Sets training mode on this module and all submodules. */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  /** Inference mode (dropout off, moving statistics used). */
  eval(): this {
    return this.train(false);
  }

  /** Penalty terms of this module only (Keras layers add their weight regularizers). */
  ownRegularizationTerms(): Tensor[] {
    return [];
  }

  /** Sum of all regularization penalties of this module and its submodules (a scalar Tensor). */
  regularizationLoss(): Tensor {
    const terms = this.modules().flatMap((m) => m.ownRegularizationTerms());
    return terms.length === 0 ? scalar(0) : terms.reduce((a, b) => add(a, b));
  }

  /** Total number of elements over all parameters (or only trainable ones). */
  countParams(options: { trainableOnly?: boolean } = {}): number {
    const vs = options.trainableOnly ? this.trainableParameters() : this.parameters();
    return vs.reduce((n, v) => n + v.size, 0);
  }
}

/**
 * Runs fn with some Variables of `module` replaced by other tensors (PyTorch's functional_call):
 * the way to differentiate a module's output with respect to its parameters, e.g.
 * `grad((ps) => functionalCall(model, ps, () => loss(model.apply(x))))(model.stateDict())`.
 * `values` maps dotted names (as in namedVariables) or Variables to replacement tensors.
 */
export function functionalCall<T>(
  module: Module,
  values: Record<string, Tensor> | Map<Variable, Tensor> | [Variable, Tensor][],
  fn: () => T,
): T {
  let byVariable: Map<Variable, Tensor>;
  if (values instanceof Map) byVariable = values;
  else if (Array.isArray(values)) byVariable = new Map(values);
  else {
    const named = new Map(module.namedVariables());
    byVariable = new Map();
    for (const [key, t] of Object.entries(values)) {
      const v = named.get(key);
      if (!v)
        throw new Error(
          `functionalCall: '${key}' is not a variable of ${module.constructor.name} (known: ${[...named.keys()].join(', ')})`,
        );
      byVariable.set(v, t);
    }
  }
  for (const [v, t] of byVariable) {
    if (!sameShape(v.shape, t.shape) || v.dtype !== t.dtype) {
      throw new Error(
        `functionalCall: replacement for ${v.name} has ${shapeStr(t.shape)} ${t.dtype}, expected ${shapeStr(v.shape)} ${v.dtype}`,
      );
    }
  }
  const restore: [Module, string, Variable][] = [];
  substituting++;
  try {
    for (const m of module.modules()) {
      for (const [key, value] of m.ownVariables()) {
        if (byVariable.has(value)) {
          restore.push([m, key, value]);
          (m as unknown as Record<string, Tensor>)[key] = byVariable.get(value)!;
        }
      }
    }
    return fn();
  } finally {
    for (const [m, key, v] of restore) (m as unknown as Record<string, Tensor>)[key] = v;
    substituting--;
  }
}
