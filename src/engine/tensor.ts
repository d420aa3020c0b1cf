/**
 * Tensors and the IR over them. A tensor is either *concrete* (it owns a typed array) or *symbolic*
 * (a value inside a Trace: a placeholder input, a captured concrete tensor, or the output of an op
 * node). Ops accept both: on concrete inputs they run at once (eager mode); when any input is
 * symbolic they add a node to the trace. One op definition serves both paths (see op.ts). The op
 * methods (`x.add(1)`) are added to Tensor by ops/methods.ts, so this module imports no op.
 */
import { inspect } from 'node:util';
import { type DType, type TypedArray, allocate, dtypeOfArray, fromValues, isFloat } from './dtype.js';
import { type Dim, type Shape, numel, shapeStr, strides } from './shape.js';
import { type Generator, globalGenerator } from './random.js';
import type { HostTensor } from './onnx/proto.js';
import type { LowerCtx } from './onnx/ctx.js';

let nextTensorId = 1;

/** Where a symbolic tensor comes from. */
export type SymbolicSource =
  | { kind: 'input'; name: string; index: number }
  | { kind: 'capture'; value: Tensor }
  | { kind: 'random'; distribution: 'uniform' | 'normal'; index: number }
  | { kind: 'node'; node: Node; index: number };

// The op methods (`x.add(1).relu()`) join the class's type and prototype in ops/methods.ts, which
// augments this module: the ops depend on Tensor, never the reverse.
export class Tensor {
  readonly id = nextTensorId++;
  readonly shape: readonly Dim[];
  readonly dtype: DType;
  /** Concrete storage (undefined for symbolic tensors). */
  protected _data: TypedArray | undefined;
  /** For symbolic tensors: the trace they live in and where they come from. */
  readonly trace: Trace | undefined;
  readonly source: SymbolicSource | undefined;

  /** @internal use `tensor()` and the other creation functions. */
  constructor(shape: readonly Dim[], dtype: DType, data?: TypedArray, trace?: Trace, source?: SymbolicSource) {
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this._data = data;
    this.trace = trace;
    this.source = source;
    if (data) {
      const n = numel(this.shape as number[]);
      if (data.length !== n) {
        throw new Error(`tensor: data has ${data.length} elements but shape ${shapeStr(shape)} needs ${n}`);
      }
    }
  }

  get isSymbolic(): boolean {
    return this._data === undefined;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Number of elements (concrete shapes only). */
  get size(): number {
    if (!this.shape.every((d) => typeof d === 'number')) {
      throw new Error(`size: shape ${shapeStr(this.shape)} has symbolic dimensions`);
    }
    return numel(this.shape as number[]);
  }

  /** The underlying typed array (concrete tensors only). Do not mutate it. */
  get data(): TypedArray {
    if (this._data === undefined) {
      throw new Error(
        `tensor ${shapeStr(this.shape)} ${this.dtype} is symbolic (it lives inside grad/compile tracing): ` +
          `its values exist only when the compiled function runs. Return it from the function instead of reading it.`,
      );
    }
    return this._data;
  }

  /**
   * Values as nested JS arrays: numbers for float and int32 tensors, booleans for bool, and for
   * int64 (argmax, argmin, oneHot indices…) `bigint` by default — exact, as the typed array holds
   * them — or numbers with `{ bigint: false }` (throws for values beyond ±2^53, which a number
   * cannot hold exactly).
   */
  toArray(options: ArrayOptions = {}): NestedArray {
    const data = this.data;
    const shape = this.shape as number[];
    const asNumber = this.dtype === 'int64' && options.bigint === false;
    const get = (i: number): number | boolean | bigint => {
      if (this.dtype === 'bool') return data[i] !== 0;
      if (asNumber) return int64ToNumber(data[i] as bigint);
      return data[i] as number | bigint;
    };
    if (shape.length === 0) return get(0) as NestedArray;
    const st = strides(shape);
    const build = (axis: number, offset: number): NestedArray => {
      const out: NestedArray[] = [];
      for (let i = 0; i < shape[axis]; i++) {
        const o = offset + i * st[axis];
        out.push(axis === shape.length - 1 ? (get(o) as NestedArray) : build(axis + 1, o));
      }
      return out;
    };
    return build(0, 0);
  }

  /** The single value of a one-element tensor, as a JS number (or boolean for bool tensors). */
  item(): number {
    const data = this.data;
    if (data.length !== 1)
      throw new Error(`item: tensor has ${data.length} elements (shape ${shapeStr(this.shape)}), expected 1`);
    return Number(data[0]);
  }

  toString(): string {
    return formatTensor(this);
  }

  [inspect.custom](): string {
    return formatTensor(this);
  }
}

export type NestedArray = number | boolean | bigint | NestedArray[];

/** Options of `Tensor.toArray`. */
export interface ArrayOptions {
  /** int64 values as `bigint` (the default, exact) or, with `false`, as numbers. */
  bigint?: boolean;
}

function int64ToNumber(v: bigint): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) {
    throw new RangeError(
      `toArray({ bigint: false }): int64 value ${v} is beyond ±2^53 and has no exact number form; use toArray() for bigint values`,
    );
  }
  return n;
}

/**
 * A concrete tensor whose value can be replaced (model parameters, optimizer state, BatchNorm
 * statistics). Traces capture variables by reference: a compiled function reads a variable's
 * current value at every call, while other captured tensors are baked in as constants.
 */
export class Variable extends Tensor {
  name: string;
  trainable: boolean;

  constructor(value: Tensor, options: { name?: string; trainable?: boolean } = {}) {
    super(value.shape, value.dtype, value.data);
    this.name = options.name ?? `var${this.id}`;
    this.trainable = options.trainable ?? isFloat(value.dtype);
  }

  /** Replaces the value; shape and dtype must stay the same. */
  assign(value: Tensor | TypedArray): this {
    const data = value instanceof Tensor ? value.data : value;
    if (value instanceof Tensor && (value.dtype !== this.dtype || value.shape.join() !== this.shape.join())) {
      throw new Error(
        `Variable ${this.name}.assign: got ${shapeStr(value.shape)} ${value.dtype}, expected ${shapeStr(this.shape)} ${this.dtype}`,
      );
    }
    if (data.length !== this.data.length || dtypeOfArray(data) !== this.dtype) {
      throw new Error(
        `Variable ${this.name}.assign: got ${data.length} ${dtypeOfArray(data)} values, expected ${this.data.length} ${this.dtype}`,
      );
    }
    this._data = data;
    return this;
  }

  /** A plain (immutable) tensor holding a snapshot of the current value. */
  value(): Tensor {
    return new Tensor(this.shape, this.dtype, this.data);
  }
}

// ---------------------------------------------------------------------------------------------
// The IR: op nodes over symbolic tensors and the trace that records them. They live here because
// a symbolic tensor and the node producing it point at each other; trace.ts re-exports them.

export interface TensorType {
  readonly shape: readonly Dim[];
  readonly dtype: DType;
}

/** A value during lowering: its ONNX name plus its type. */
export interface LoweredValue extends TensorType {
  readonly name: string;
}

export type Attrs = Record<string, unknown>;

/** An op as the IR knows it; defined and registered with defineOp (op.ts). */
export interface OpDef<A extends Attrs = any> {
  readonly name: string;
  /** Checks the inputs and attributes, returns the output types. Errors name the op. */
  infer(inputs: readonly TensorType[], attrs: A): TensorType[];
  /** Emits ONNX nodes computing the outputs; returns one value name per output. */
  lower(ctx: LowerCtx, inputs: readonly LoweredValue[], attrs: A, outputs: readonly TensorType[]): string[];
  /**
   * Cotangents of the inputs given cotangents of the outputs (null = zero / not needed).
   * Omitted for ops that are not differentiable.
   */
  vjp?(
    cotangents: readonly (Tensor | null)[],
    inputs: readonly Tensor[],
    outputs: readonly Tensor[],
    attrs: A,
  ): (Tensor | null)[];
}

export interface Node {
  readonly id: number;
  readonly op: OpDef;
  readonly inputs: readonly Tensor[];
  readonly attrs: Readonly<Record<string, unknown>>;
  readonly outputs: Tensor[];
}

export class Trace {
  readonly nodes: Node[] = [];
  readonly inputs: Tensor[] = [];
  /** Concrete tensors used by the traced function, keyed by the concrete tensor. */
  readonly captures = new Map<Tensor, Tensor>();
  /** Random inputs drawn fresh at every call of the compiled function. */
  readonly randoms: Tensor[] = [];
  private nextNodeId = 0;

  /** A placeholder input of the given type. */
  input(shape: readonly Dim[], dtype: DType, name = `input_${this.inputs.length}`): Tensor {
    const t = new Tensor(shape, dtype, undefined, this, { kind: 'input', name, index: this.inputs.length });
    this.inputs.push(t);
    return t;
  }

  /** The symbolic stand-in for a concrete tensor used inside this trace. */
  capture(value: Tensor): Tensor {
    if (value.trace === this) return value;
    if (value.isSymbolic) {
      throw new Error(
        'a symbolic tensor from another trace was used here: tensors created inside one grad/compile ' +
          'call cannot leak into another (return them instead)',
      );
    }
    let t = this.captures.get(value);
    if (!t) {
      t = new Tensor(value.shape, value.dtype, undefined, this, { kind: 'capture', value });
      this.captures.set(value, t);
    }
    return t;
  }

  /** A tensor of fresh random numbers at every call (uniform in [0,1) or standard normal). */
  random(shape: readonly Dim[], dtype: DType, distribution: 'uniform' | 'normal'): Tensor {
    const t = new Tensor(shape, dtype, undefined, this, { kind: 'random', distribution, index: this.randoms.length });
    this.randoms.push(t);
    return t;
  }

  addNode(
    op: OpDef,
    inputs: Tensor[],
    attrs: Record<string, unknown>,
    outTypes: { shape: readonly Dim[]; dtype: DType }[],
  ): Node {
    const node: Node = { id: this.nextNodeId++, op, inputs, attrs, outputs: [] };
    node.outputs.push(
      ...outTypes.map((t, index) => new Tensor(t.shape, t.dtype, undefined, this, { kind: 'node', node, index })),
    );
    this.nodes.push(node);
    return node;
  }

  /**
   * Makes `node` compute its outputs another way (a trace pass's rewrite): its output tensors stay
   * the same objects, so every holder of them (later nodes, callers' handles) sees the new definition.
   * The caller guarantees equal values and that `inputs` are defined before the node.
   */
  redefine(node: Node, op: OpDef, inputs: readonly Tensor[], attrs: Readonly<Record<string, unknown>>): void {
    const editable = node as { op: OpDef; inputs: readonly Tensor[]; attrs: Readonly<Record<string, unknown>> };
    editable.op = op;
    editable.inputs = inputs;
    editable.attrs = attrs;
  }

  /** Variables captured by this trace (their values are fed at every call). */
  variables(): Variable[] {
    return [...this.captures.keys()].filter((t): t is Variable => t instanceof Variable);
  }
}

// ---------------------------------------------------------------------------------------------
// Creation

export interface TensorOptions {
  dtype?: DType;
  shape?: readonly number[];
}

export type TensorLike = Tensor | NestedArray | TypedArray;

/** A concrete tensor as ONNX Runtime feeds and worker messages carry it (shares the data, no copy). */
export function toHost(t: Tensor): HostTensor {
  return { dtype: t.dtype, shape: t.shape as number[], data: t.data };
}

/** A tensor over a host tensor's data (no copy). */
export function fromHost(h: HostTensor): Tensor {
  return new Tensor(h.shape, h.dtype, h.data);
}

/** Creates a concrete tensor from nested arrays, a typed array, or a scalar. */
export function tensor(value: TensorLike, options: TensorOptions = {}): Tensor {
  if (value instanceof Tensor) {
    if (options.dtype && options.dtype !== value.dtype) throw new Error('tensor: use cast() to change a tensor dtype');
    return value;
  }
  if (ArrayBuffer.isView(value)) {
    const arr = value as TypedArray;
    const dtype = options.dtype ?? dtypeOfArray(arr);
    const data = dtypeOfArray(arr) === dtype ? arr : fromValues(dtype, arr as ArrayLike<number>);
    return new Tensor(options.shape ?? [arr.length], dtype, data);
  }
  const shape: number[] = [];
  let probe: NestedArray = value;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = probe[0] as NestedArray;
  }
  const flat: (number | boolean | bigint)[] = [];
  const walk = (v: NestedArray, axis: number): void => {
    if (axis === shape.length) {
      if (Array.isArray(v)) throw new Error(`tensor: ragged nested array (more nesting than shape ${shapeStr(shape)})`);
      flat.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[axis]) {
      throw new Error(`tensor: ragged nested array at axis ${axis}: expected ${shape[axis]} elements`);
    }
    for (const x of v) walk(x, axis + 1);
  };
  walk(value, 0);
  const inferred: DType = typeof probe === 'boolean' ? 'bool' : typeof probe === 'bigint' ? 'int64' : 'float32';
  const dtype = options.dtype ?? inferred;
  const finalShape = options.shape ?? shape;
  if (numel(finalShape) !== flat.length) {
    throw new Error(`tensor: ${flat.length} values do not fill shape ${shapeStr(finalShape)}`);
  }
  return new Tensor(finalShape, dtype, fromValues(dtype, flat));
}

/** A 0-d tensor. */
export function scalar(value: number | boolean | bigint, dtype?: DType): Tensor {
  return tensor(value as NestedArray, { dtype });
}

export function full(shape: readonly number[], value: number | boolean, dtype: DType = 'float32'): Tensor {
  const data = allocate(dtype, numel(shape));
  if (dtype === 'int64') (data as BigInt64Array).fill(BigInt(Math.trunc(Number(value))));
  else (data as Float32Array).fill(Number(value));
  return new Tensor(shape, dtype, data);
}

export function zeros(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  return full(shape, 0, dtype);
}

export function ones(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  return full(shape, 1, dtype);
}

/** Values from `start` up to (not including) `stop`, spaced by `step` (like NumPy). */
export function arange(start: number, stop?: number, step = 1, dtype?: DType): Tensor {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new Error('arange: step must not be 0');
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const dt: DType = dtype ?? ([start, stop, step].every(Number.isInteger) ? 'int32' : 'float32');
  const values = Array.from({ length: n }, (_, i) => start + i * step);
  return new Tensor([n], dt, fromValues(dt, values));
}

export function linspace(start: number, stop: number, num: number, dtype: DType = 'float32'): Tensor {
  const values = Array.from({ length: num }, (_, i) => (num === 1 ? start : start + ((stop - start) * i) / (num - 1)));
  return new Tensor([num], dtype, fromValues(dtype, values));
}

export function eye(n: number, m = n, dtype: DType = 'float32'): Tensor {
  const t = zeros([n, m], dtype);
  for (let i = 0; i < Math.min(n, m); i++) {
    if (dtype === 'int64') (t.data as BigInt64Array)[i * m + i] = 1n;
    else (t.data as Float32Array)[i * m + i] = 1;
  }
  return t;
}

export interface RandomOptions {
  dtype?: 'float32' | 'float64';
  /** The generator to draw from (default: the global one, seeded by setSeed). */
  generator?: Generator;
}

/** Uniform random values in [low, high). */
export function rand(shape: readonly number[], options: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  const dtype = options.dtype ?? 'float32';
  const data = allocate(dtype, numel(shape)) as Float32Array | Float64Array;
  (options.generator ?? globalGenerator).fillUniform(data, options.low ?? 0, options.high ?? 1);
  return new Tensor(shape, dtype, data);
}

/** Normally distributed random values (mean 0, std 1 unless given). */
export function randn(shape: readonly number[], options: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  const dtype = options.dtype ?? 'float32';
  const data = allocate(dtype, numel(shape)) as Float32Array | Float64Array;
  (options.generator ?? globalGenerator).fillNormal(data, options.mean ?? 0, options.std ?? 1);
  return new Tensor(shape, dtype, data);
}

/** Uniform random integers in [low, high). */
export function randint(
  low: number,
  high: number,
  shape: readonly number[],
  options: { dtype?: 'int32' | 'int64'; generator?: Generator } = {},
): Tensor {
  if (!(high > low)) throw new Error(`randint: high (${high}) must be greater than low (${low})`);
  const dtype = options.dtype ?? 'int32';
  const g = options.generator ?? globalGenerator;
  const n = numel(shape);
  const values = Array.from({ length: n }, () => g.int(low, high));
  return new Tensor(shape, dtype, fromValues(dtype, values));
}

// ---------------------------------------------------------------------------------------------
// Printing

function formatTensor(t: Tensor): string {
  const head = `Tensor(${shapeStr(t.shape)}, ${t.dtype}`;
  if (t.isSymbolic) return `${head}, symbolic)`;
  const data = t.data;
  const fmt = (v: number | bigint): string => {
    if (t.dtype === 'bool') return v ? 'true' : 'false';
    if (typeof v === 'bigint' || !isFloat(t.dtype)) return String(v);
    if (Number.isInteger(v) && Math.abs(v) < 1e6) return `${v}.`;
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-4 || a >= 1e6) ? v.toExponential(4) : v.toFixed(4);
  };
  const shape = t.shape as number[];
  const maxEdge = 3;
  const render = (axis: number, offset: number, st: number[], indent: string): string => {
    if (shape.length === 0) return fmt(data[0] as number);
    const n = shape[axis];
    const idx = n > 2 * maxEdge + 1 ? [...range(0, maxEdge), -1, ...range(n - maxEdge, n)] : range(0, n);
    if (axis === shape.length - 1) {
      return `[${idx.map((i) => (i < 0 ? '...' : fmt(data[offset + i] as number))).join(', ')}]`;
    }
    const rows = idx.map((i) => (i < 0 ? '...' : render(axis + 1, offset + i * st[axis], st, indent + ' ')));
    return `[${rows.join(`,\n${indent} `)}]`;
  };
  return `${head},\n${render(0, 0, strides(shape), '')})`;
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a }, (_, i) => a + i);
}

export type { Shape };
