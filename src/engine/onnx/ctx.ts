/**
 * The lowering context: what an op's `lower` rule writes ONNX nodes into. It names values, dedups
 * small constants, reads symbolic dimensions at run time, and carries the lowering target (its
 * NCHWc block size, 0 when the target has no blocked kernels), the values also held in NCHWc
 * channel blocks, and hints that the graph passes (src/engine/passes) act on.
 */
import { type DType, type TypedArray, fromValues } from '../dtype.js';
import { type Dim, shapeStr } from '../shape.js';
import { type AttributeProto, type NodeProto, type TensorProto, AttrType, tensorProtoFromHost } from './proto.js';

/**
 * What a graph is lowered for: 'ort-cpu' runs in this process's onnxruntime (it may use ORT's
 * internal NCHWc kernels); 'portable' is a file for any ONNX runtime (standard operators only).
 */
export type Target = 'ort-cpu' | 'portable';

/**
 * A note a lowering leaves for a graph pass: `windowMax` says that `max` holds maxPool(x) = y,
 * computed from x's window pieces (in NCHWc blocks of `blocks.channels` channels when set, with
 * the pooled spatial size `pooled`).
 */
export interface WindowMaxHint {
  kind: 'windowMax';
  x: string;
  y: string;
  max: string;
  pooled: number[];
  blocks?: { channels: number };
}
export type GraphHint = WindowMaxHint;

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
    return v.every(Number.isInteger)
      ? { name, type: AttrType.INTS, ints: v }
      : { name, type: AttrType.FLOATS, floats: v };
  }
  return { name, type: AttrType.TENSOR, t: v };
}

export class LowerCtx {
  readonly opset = OPSET;
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly hints: GraphHint[] = [];
  /** Values that also exist in NCHWc channel blocks: NCHW name → blocked name. */
  private readonly blockedForms = new Map<string, string>();

  /**
   * `nchwcBlock`: channels per NCHWc block the target's kernels use (0: none, e.g. for 'portable').
   */
  constructor(
    readonly target: Target = 'portable',
    readonly nchwcBlock = 0,
  ) {}

  /** The blocked form of an NCHW value, if a lowering produced one (see setBlockedForm). */
  blockedForm(name: string): string | undefined {
    return this.blockedForms.get(name);
  }

  /** Records that `name` (NCHW, whole channel blocks) was reordered from the blocked value `blocked`. */
  setBlockedForm(name: string, blocked: string): void {
    this.blockedForms.set(name, blocked);
  }
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

  private producer(name: string): NodeProto | undefined {
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
  node(
    opType: string,
    inputs: readonly string[],
    attrs: Record<string, AttrValue | undefined> = {},
    nOutputs = 1,
    domain = '',
  ): string[] {
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
  constant(
    values: ArrayLike<number | bigint | boolean> | TypedArray,
    dtype: DType,
    shape: readonly number[] = [values.length],
  ): string {
    const small = values.length <= 64;
    const key = small
      ? `${dtype}|${shape.join(',')}|${Array.from(values as ArrayLike<unknown>, String).join(',')}`
      : '';
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
    if (unknown > 1)
      throw new Error(`${this.currentOp}: cannot express shape ${shapeStr(dims)} (more than one unknown dimension)`);
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
