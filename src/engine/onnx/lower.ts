/**
 * Lowering: a trace (or the part of it the outputs need) becomes one ONNX graph. Op definitions
 * emit nodes through LowerCtx; this module decides value names, graph inputs (placeholders,
 * variables, random inputs) and initializers (captured constants, variables when exporting).
 * Afterwards, nodes nobody reads are dropped and graph outputs are written by their producers.
 */
import { type DType, type TypedArray, ONNX_ELEM_TYPE, fromValues } from '../dtype.js';
import type { LoweredValue } from '../op.js';
import { type Dim, shapeStr } from '../shape.js';
import { Tensor, Variable, toHost } from '../tensor.js';
import type { Node, Trace } from '../trace.js';
import type { SessionOptions } from '../runtime/session.js';
import {
  type AttributeProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
  AttrType,
  encodeModel,
  tensorProtoFromHost,
} from './proto.js';

export const OPSET = 18;

/** Marks a number attribute as FLOAT even when it is a whole number. */
export class FloatAttr {
  constructor(readonly values: number | number[]) {}
}
export const float = (v: number | number[]): FloatAttr => new FloatAttr(v);

export type AttrValue = number | number[] | string | FloatAttr | TensorProto;

function encodeAttr(name: string, v: AttrValue): AttributeProto {
  if (v instanceof FloatAttr) {
    return Array.isArray(v.values)
      ? { name, type: AttrType.FLOATS, floats: v.values }
      : { name, type: AttrType.FLOAT, f: v.values };
  }
  if (typeof v === 'string') return { name, type: AttrType.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') {
    return Number.isInteger(v) ? { name, type: AttrType.INT, i: v } : { name, type: AttrType.FLOAT, f: v };
  }
  if (Array.isArray(v)) {
    return v.every(Number.isInteger) ? { name, type: AttrType.INTS, ints: v } : { name, type: AttrType.FLOATS, floats: v };
  }
  return { name, type: AttrType.TENSOR, t: v };
}

export class LowerCtx {
  readonly opset = OPSET;
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private counter = 0;
  private constCache = new Map<string, string>();
  /** Where each symbolic dimension can be read at run time: graph input name and axis. */
  private symbolSources = new Map<string, { name: string; axis: number }>();
  private symbolValues = new Map<string, string>();
  /** The op currently being lowered (used to name nodes for error messages). */
  currentOp = '';

  /**
   * Whether a value is fixed when the graph is built: an initializer, or computed from
   * initializers only (ORT folds those, e.g. a baked weight transposed to ONNX layout).
   */
  isConstant(name: string): boolean {
    if (this.initializers.some((t) => t.name === name)) return true;
    const producer = this.producer(name);
    return !!producer?.input.every((i) => i === '' || this.isConstant(i));
  }

  /** The node emitted so far that computes `name` (lowerings that look at how their input was made). */
  producer(name: string): NodeProto | undefined {
    return this.nodes.find((n) => n.output.includes(name));
  }

  private readonly usedNames = new Set<string>();

  /** A value name not used yet in this graph, derived from `base`. */
  unique(base: string): string {
    const clean = base.replace(/[^A-Za-z0-9_.:/-]/g, '_') || 'value';
    let n = clean;
    for (let i = 1; this.usedNames.has(n); i++) n = `${clean}_${i}`;
    this.usedNames.add(n);
    return n;
  }

  /** A fresh intermediate value name. */
  fresh(hint = 't'): string {
    let n: string;
    do n = `${hint}_${this.counter++}`;
    while (this.usedNames.has(n));
    this.usedNames.add(n);
    return n;
  }

  /** Emits one ONNX node and returns its output names. */
  node(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue | undefined> = {}, nOutputs = 1, domain = ''): string[] {
    const outputs = Array.from({ length: nOutputs }, () => this.fresh(opType.toLowerCase()));
    const attribute = Object.entries(attrs)
      .filter((e): e is [string, AttrValue] => e[1] !== undefined)
      .map(([k, v]) => encodeAttr(k, v));
    this.nodes.push({
      op_type: opType,
      domain,
      input: [...inputs],
      output: outputs,
      attribute,
      name: `${this.currentOp || opType}/${this.nodes.length}`,
    });
    return outputs;
  }

  /** Emits one single-output ONNX node. */
  node1(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue | undefined> = {}): string {
    return this.node(opType, inputs, attrs, 1)[0];
  }

  /** An initializer holding the given values (deduplicated for small constants). */
  constant(values: ArrayLike<number | bigint | boolean> | TypedArray, dtype: DType, shape: readonly number[] = [values.length]): string {
    const small = values.length <= 64;
    const key = small ? `${dtype}|${shape.join(',')}|${Array.from(values as ArrayLike<unknown>, String).join(',')}` : '';
    if (small && this.constCache.has(key)) return this.constCache.get(key)!;
    const data = ArrayBuffer.isView(values) ? (values as TypedArray) : fromValues(dtype, values as ArrayLike<number>);
    const name = this.fresh('const');
    this.initializers.push(tensorProtoFromHost({ dtype, shape: [...shape], data }, name));
    if (small) this.constCache.set(key, name);
    return name;
  }

  scalar(value: number, dtype: DType): string {
    return this.constant([value], dtype, []);
  }

  /** A 1-D int64 tensor; shorthand for axes, pads, shapes. */
  ints(values: readonly number[]): string {
    return this.constant(values, 'int64', [values.length]);
  }

  registerSymbols(name: string, shape: readonly Dim[]): void {
    shape.forEach((d, axis) => {
      if (typeof d === 'string' && !this.symbolSources.has(d)) this.symbolSources.set(d, { name, axis });
    });
  }

  /**
   * A 1-D int64 tensor holding `dims`. Concrete dims become a constant; a symbolic dim is read at
   * run time from a graph input that has it; one unknown derived dim becomes -1 (for Reshape).
   */
  shape(dims: readonly Dim[]): string {
    if (dims.every((d) => typeof d === 'number')) return this.ints(dims as number[]);
    const parts: string[] = [];
    let unknown = 0;
    for (const d of dims) {
      if (typeof d === 'number') parts.push(this.ints([d]));
      else if (this.symbolSources.has(d)) parts.push(this.symbol(d));
      else {
        unknown++;
        parts.push(this.ints([-1]));
      }
    }
    if (unknown > 1) throw new Error(`${this.currentOp}: cannot express shape ${shapeStr(dims)} (more than one unknown dimension)`);
    return this.node1('Concat', parts, { axis: 0 });
  }

  private symbol(sym: string): string {
    let v = this.symbolValues.get(sym);
    if (!v) {
      const src = this.symbolSources.get(sym)!;
      v = this.node1('Shape', [src.name], { start: src.axis, end: src.axis + 1 });
      this.symbolValues.set(sym, v);
    }
    return v;
  }
}

/** How each ONNX graph input gets its value at run time. */
export type InputBinding =
  | { kind: 'input'; index: number }
  | { kind: 'variable'; variable: Variable }
  | { kind: 'random'; distribution: 'uniform' | 'normal'; shape: readonly Dim[]; dtype: DType };

export interface LoweredGraph {
  model: ModelProto;
  bytes: Uint8Array;
  inputNames: string[];
  inputBindings: InputBinding[];
  outputNames: string[];
  /** Session options this graph needs (e.g. fusions to avoid for float64 graphs). */
  sessionOptions: SessionOptions;
}

export interface LowerOptions {
  /** Names for the graph outputs (default output_0, output_1, ...). */
  outputNames?: string[];
  /** 'feed': variables are graph inputs fed at each run; 'bake': they become initializers (export). */
  variables?: 'feed' | 'bake';
  graphName?: string;
  docString?: string;
  metadata?: Record<string, string>;
}

function valueInfo(name: string, shape: readonly Dim[], dtype: DType): ValueInfoProto {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: ONNX_ELEM_TYPE[dtype],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

/** Lowers the part of `trace` that `outputs` depend on into an ONNX model. */
export function lowerTrace(trace: Trace, outputs: readonly Tensor[], options: LowerOptions = {}): LoweredGraph {
  const ctx = new LowerCtx();
  const names = new Map<Tensor, string>();
  const graphInputs: ValueInfoProto[] = [];
  const inputNames: string[] = [];
  const inputBindings: InputBinding[] = [];
  const uniqueName = (base: string): string => ctx.unique(base);
  // Output names are reserved first so that no intermediate value can take them.
  const outputNames = outputs.map((_, i) => uniqueName(options.outputNames?.[i] ?? `output_${i}`));

  // Which nodes the outputs need (dead nodes are not lowered).
  const needed = new Set<Node>();
  const leaves = new Set<Tensor>();
  const stack = outputs.map((t) => trace.capture(t));
  while (stack.length) {
    const t = stack.pop()!;
    const src = t.source!;
    if (src.kind === 'node') {
      if (!needed.has(src.node)) {
        needed.add(src.node);
        stack.push(...src.node.inputs);
      }
    } else leaves.add(t);
  }

  // Graph inputs in a stable order: placeholders, variables, random inputs; constants as initializers.
  const bakeVariables = options.variables === 'bake';
  // Every placeholder is a graph input, used or not: callers feed every argument.
  for (const t of trace.inputs) {
    if (t.source?.kind !== 'input') continue;
    const name = uniqueName(t.source.name);
    names.set(t, name);
    graphInputs.push(valueInfo(name, t.shape, t.dtype));
    inputNames.push(name);
    inputBindings.push({ kind: 'input', index: t.source.index });
    ctx.registerSymbols(name, t.shape);
  }
  for (const [value, sym] of trace.captures) {
    if (!leaves.has(sym)) continue;
    if (value instanceof Variable && !bakeVariables) {
      const name = uniqueName(value.name);
      names.set(sym, name);
      graphInputs.push(valueInfo(name, value.shape, value.dtype));
      inputNames.push(name);
      inputBindings.push({ kind: 'variable', variable: value });
    } else {
      const name = uniqueName(value instanceof Variable ? value.name : `captured_${value.id}`);
      names.set(sym, name);
      ctx.initializers.push(tensorProtoFromHost(toHost(value), name));
    }
  }
  for (const t of trace.randoms) {
    if (!leaves.has(t) || t.source?.kind !== 'random') continue;
    const name = uniqueName(`random_${t.source.index}`);
    names.set(t, name);
    graphInputs.push(valueInfo(name, t.shape, t.dtype));
    inputNames.push(name);
    inputBindings.push({ kind: 'random', distribution: t.source.distribution, shape: t.shape, dtype: t.dtype });
  }

  for (const node of trace.nodes) {
    if (!needed.has(node)) continue;
    const ins: LoweredValue[] = node.inputs.map((t) => ({ name: names.get(t)!, shape: t.shape, dtype: t.dtype }));
    ctx.currentOp = node.op.name;
    let outs: string[];
    try {
      outs = node.op.lower(ctx, ins, node.attrs, node.outputs);
    } catch (e) {
      throw new Error(`lowering ${node.op.name} ${ins.map((v) => shapeStr(v.shape)).join(', ')}: ${(e as Error).message}`);
    }
    node.outputs.forEach((t, i) => names.set(t, outs[i]));
  }
  ctx.currentOp = '';

  const graphOutputs: ValueInfoProto[] = [];
  outputs.forEach((t, i) => {
    const sym = trace.capture(t);
    const name = outputNames[i];
    ctx.nodes.push({ op_type: 'Identity', domain: '', input: [names.get(sym)!], output: [name], name: `output/${i}` });
    graphOutputs.push(valueInfo(name, t.shape, t.dtype));
  });
  renameIntoOutputs(ctx.nodes, new Set(inputNames));
  removeDeadNodes(ctx.nodes, new Set(outputNames));

  const model: ModelProto = {
    ir_version: 8,
    producer_name: 'lepton',
    producer_version: '0.1.0',
    doc_string: options.docString,
    // Nodes of other domains (ORT's com.microsoft.nchwc kernels) are all at version 1.
    opset_import: [{ domain: '', version: OPSET }, ...[...new Set(ctx.nodes.map((n) => n.domain).filter((d): d is string => !!d))].map((domain) => ({ domain, version: 1 }))],
    graph: {
      name: options.graphName ?? 'lepton',
      node: ctx.nodes,
      initializer: ctx.initializers,
      input: graphInputs,
      output: graphOutputs,
    },
    metadata_props: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  return { model, bytes: encodeModel(model), inputNames, inputBindings, outputNames, sessionOptions: sessionOptionsFor(trace, needed) };
}

/**
 * Output Identity nodes whose input some node computes and no other output shares: that node writes
 * the output directly. ORT keeps an Identity that produces a graph output, and it copies (a train
 * step has one per updated weight and optimizer slot).
 */
function renameIntoOutputs(nodes: NodeProto[], graphInputs: ReadonlySet<string>): void {
  const identities = nodes.filter((n) => n.op_type === 'Identity' && n.name?.startsWith('output/'));
  const sources = new Map<string, number>();
  for (const n of identities) sources.set(n.input[0], (sources.get(n.input[0]) ?? 0) + 1);
  const producer = new Map<string, NodeProto>();
  for (const n of nodes) for (const o of n.output) producer.set(o, n);
  const drop = new Set<NodeProto>();
  for (const id of identities) {
    const from = id.input[0];
    const made = producer.get(from);
    if (!made || graphInputs.has(from) || sources.get(from) !== 1) continue;
    const to = id.output[0];
    made.output = made.output.map((o) => (o === from ? to : o));
    for (const n of nodes) n.input = n.input.map((i) => (i === from ? to : i));
    drop.add(id);
  }
  if (drop.size) nodes.splice(0, nodes.length, ...nodes.filter((n) => !drop.has(n)));
}

/**
 * Drops nodes none of whose outputs is read (lowerings may leave a layout step unused): one pass
 * from the outputs back, since nodes are in topological order.
 */
function removeDeadNodes(nodes: NodeProto[], graphOutputs: ReadonlySet<string>): void {
  const read = new Set(graphOutputs);
  const live = new Set<NodeProto>();
  for (let k = nodes.length - 1; k >= 0; k--) {
    if (!nodes[k].output.some((o) => o !== '' && read.has(o))) continue;
    live.add(nodes[k]);
    for (const i of nodes[k].input) read.add(i);
  }
  if (live.size < nodes.length) nodes.splice(0, nodes.length, ...nodes.filter((n) => live.has(n)));
}

/**
 * ORT fuses x*sigmoid(x) into QuickGelu, which has no float64 kernel: a float64 graph with that
 * pattern would fail to load. Graphs holding float64 values switch that one fusion off.
 */
function sessionOptionsFor(trace: Trace, needed: Set<Node>): SessionOptions {
  const float64 = [...needed].some((n) => n.outputs.some((t) => t.dtype === 'float64')) || trace.inputs.some((t) => t.dtype === 'float64');
  return float64 ? { extra: { optimization: { disable_specified_optimizers: 'QuickGeluFusion' } } } : {};
}
