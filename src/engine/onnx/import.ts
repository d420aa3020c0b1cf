/**
 * The ONNX importer: an ONNX graph becomes a plain function over Lepton's own ops, so that an
 * imported model runs eagerly, compiles (compile/compileSync) and differentiates like any
 * function written by hand — there is no second execution path.
 *
 * `ONNX_OPS` maps each ONNX op type to a converter `(node) => outputs`; a converter reads the
 * node's attributes and inputs through `NodeContext`. Inputs that ONNX passes as tensors but that
 * are really parameters (axes, shapes, pads, starts...) are read as JS values: they must be
 * constants (initializers, Constant nodes, or anything computed from them, which runs eagerly
 * even while tracing). Older opsets pass some of them as attributes; converters check
 * `ctx.opset` for that. Shapes read at run time from tensors with symbolic dims (a batch size)
 * flow as `ShapeValue`s through Shape/Gather/Slice/Concat into Reshape/Expand. Composite
 * converters (losses, RNNs, Resize, DFT...) are plain compositions of ops, so they differentiate
 * too. `functionalCall(params, ...)` replaces initializers (weights) for gradients or fine-tuning.
 * Add an op by adding an entry to the table.
 */
import { UnsupportedOnnxError } from '../errors.js';
import { type DType, DTYPES, ONNX_ELEM_TYPE, dtypeFromOnnx, isFloat } from '../dtype.js';
import { apply, apply1 } from '../op.js';
import * as ops from '../ops/index.js';
import { type Dim, normalizeAxis, shapeStr } from '../shape.js';
import { Tensor, full, scalar, tensor } from '../tensor.js';
import type { TensorSpec } from '../compile.js';
import {
  type AttributeProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  decodeModel,
  hostFromTensorProto,
} from './proto.js';

const { add, sub, mul, div, neg, matmul, reshape, transpose, cast, identity, broadcastTo, sum } = ops;

export { UnsupportedOnnxError };

export interface ImportedModel {
  /** Graph inputs that are not initializers, in graph order (symbolic dims named by dim_param). */
  readonly inputs: TensorSpec[];
  /** Graph output names, in the order `fn` returns them. */
  readonly outputs: string[];
  /** Initializers (weights and constants) as tensors, by name. */
  readonly initializers: ReadonlyMap<string, Tensor>;
  /** The default-domain opset the model was written for. */
  readonly opset: number;
  /** Runs the graph through Lepton ops: one tensor per graph input, one result per graph output. */
  readonly fn: (...inputs: Tensor[]) => Tensor[];
  /** The float initializers (weights), by name: the values `functionalCall` can replace. */
  readonly parameters: Readonly<Record<string, Tensor>>;
  /**
   * Like fn with some initializers replaced (as `functionalCall(module, values, fn)` does for
   * modules, PyTorch's torch.func.functional_call), e.g. to differentiate with respect to the
   * weights (`grad((p, x) => loss(m.functionalCall(p, x)[0]))(m.parameters, x)`) or to fine-tune them.
   */
  readonly functionalCall: (params: Readonly<Record<string, Tensor>>, ...inputs: Tensor[]) => Tensor[];
  /** @deprecated the old name of functionalCall (`apply` is a layer's call). */
  readonly apply: (params: Readonly<Record<string, Tensor>>, ...inputs: Tensor[]) => Tensor[];
}

export interface ImportOptions {
  /** Values for graph inputs that should be baked in as constants (e.g. a shape input). */
  constants?: Record<string, Tensor>;
}

/** Imports an ONNX model (bytes or a decoded ModelProto) as a function over Lepton ops. */
export function importOnnx(model: Uint8Array | ModelProto, options: ImportOptions = {}): ImportedModel {
  const proto = model instanceof Uint8Array ? decodeModel(model) : model;
  const graph = proto.graph;
  if (!graph) throw new Error('importOnnx: the model has no graph');
  const opsetEntry = (proto.opset_import ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  const opset = Number(opsetEntry?.version ?? 1);
  for (const node of graph.node ?? []) {
    if (node.domain && node.domain !== 'ai.onnx') {
      throw new UnsupportedOnnxError(
        node.op_type,
        `ONNX op ${node.domain}::${node.op_type} (node '${node.name ?? ''}'): only the default ONNX domain is supported`,
      );
    }
    if (!ONNX_OPS[node.op_type]) {
      throw new UnsupportedOnnxError(
        node.op_type,
        `ONNX op '${node.op_type}' (node '${node.name ?? ''}') is not supported by the Lepton importer`,
      );
    }
  }
  const initializers = new Map<string, Tensor>();
  for (const t of graph.initializer ?? [])
    initializers.set(t.name ?? '', tensorFromProto(t, `initializer '${t.name}'`));
  for (const [name, value] of Object.entries(options.constants ?? {})) initializers.set(name, value);

  const inputs: TensorSpec[] = [];
  for (const vi of graph.input ?? []) {
    if (initializers.has(vi.name)) continue;
    const tt = vi.type?.tensor_type;
    if (!tt)
      throw new UnsupportedOnnxError(
        'input',
        `graph input '${vi.name}' is not a tensor (sequences/maps are not supported)`,
      );
    const dtype = dtypeOf(tt.elem_type, `graph input '${vi.name}'`);
    const shape: Dim[] = (tt.shape?.dim ?? []).map((d, i) =>
      d.dim_value !== undefined ? Number(d.dim_value) : d.dim_param || `${vi.name}_${i}`,
    );
    inputs.push({ name: vi.name, dtype, shape });
  }
  const outputs = (graph.output ?? []).map((o) => o.name);
  const nodes = graph.node ?? [];

  const run = (params: Readonly<Record<string, Tensor>>, args: Tensor[]): Tensor[] => {
    if (args.length !== inputs.length) {
      throw new Error(
        `imported ONNX graph '${graph.name ?? ''}': expected ${inputs.length} inputs (${inputs.map((s) => s.name).join(', ')}), got ${args.length}`,
      );
    }
    const env = new Map<string, Value>(initializers);
    for (const [name, value] of Object.entries(params)) {
      const init = initializers.get(name);
      if (!init)
        throw new Error(
          `imported ONNX graph: '${name}' is not an initializer (known: ${[...initializers.keys()].join(', ')})`,
        );
      if (value.dtype !== init.dtype || value.shape.join() !== init.shape.join()) {
        throw new Error(
          `imported ONNX graph: parameter '${name}' must be ${shapeStr(init.shape)} ${init.dtype}, got ${shapeStr(value.shape)} ${value.dtype}`,
        );
      }
      env.set(name, value);
    }
    inputs.forEach((spec, i) => {
      const a = args[i];
      if (a.dtype !== spec.dtype)
        throw new Error(`imported ONNX graph: input '${spec.name}' must be ${spec.dtype}, got ${a.dtype}`);
      env.set(spec.name!, a);
    });
    for (const node of nodes) {
      const ctx = new NodeContext(node, opset, env);
      let results: Value | Value[];
      try {
        results = ONNX_OPS[node.op_type](ctx);
      } catch (e) {
        if (e instanceof UnsupportedOnnxError) throw e;
        const err = e as Error;
        err.message = `ONNX ${node.op_type} node '${node.name ?? ''}' (inputs ${ctx.describeInputs()}): ${err.message}`;
        throw err;
      }
      const list = Array.isArray(results) ? results : [results];
      node.output.forEach((name, i) => {
        if (!name) return;
        if (!list[i])
          throw new UnsupportedOnnxError(
            node.op_type,
            `ONNX ${node.op_type} node '${node.name ?? ''}': output ${i} ('${name}') is not supported`,
          );
        env.set(name, list[i]);
      });
    }
    return outputs.map((name) => {
      const t = env.get(name);
      if (!t) throw new Error(`imported ONNX graph: output '${name}' is never computed`);
      if (t instanceof ShapeValue) return t.toTensor(`graph output '${name}'`);
      return t;
    });
  };
  const parameters = Object.fromEntries([...initializers].filter(([, t]) => isFloat(t.dtype)));
  return {
    inputs,
    outputs,
    initializers,
    opset,
    parameters,
    fn: (...args: Tensor[]) => run({}, args),
    functionalCall: (params: Readonly<Record<string, Tensor>>, ...args: Tensor[]) => run(params, args),
    apply: (params: Readonly<Record<string, Tensor>>, ...args: Tensor[]) => run(params, args),
  };
}

function dtypeOf(code: number, what: string): DType {
  if (!DTYPES.some((d) => ONNX_ELEM_TYPE[d] === code)) {
    throw new UnsupportedOnnxError(
      'dtype',
      `${what}: ONNX element type ${code} is not supported (Lepton supports ${DTYPES.join(', ')})`,
    );
  }
  return dtypeFromOnnx(code);
}

/** A TensorProto as a concrete tensor. */
export function tensorFromProto(t: TensorProto, what = 'tensor'): Tensor {
  dtypeOf(t.data_type, what);
  const h = hostFromTensorProto(t);
  return new Tensor(h.shape, h.dtype, h.data);
}

/**
 * An int64 shape-like value (the output of Shape and of Gather/Slice/Concat/Unsqueeze over it)
 * that may hold symbolic dimensions, such as a batch size only known at run time. Kept as JS
 * values so that Reshape/Expand downstream can still be built; as data it must be concrete.
 */
export class ShapeValue {
  constructor(
    readonly dims: readonly Dim[],
    /** A 0-d value (one dimension picked with a scalar index). */
    readonly scalar = false,
  ) {}

  get concrete(): boolean {
    return this.dims.every((d) => typeof d === 'number');
  }

  toTensor(what: string): Tensor {
    if (!this.concrete) {
      throw new UnsupportedOnnxError(
        'Shape',
        `${what} uses the symbolic dimensions [${this.dims.join(', ')}] as data; only shapes built from them are supported`,
      );
    }
    const t = tensor(
      this.dims.map((d) => BigInt(d)),
      { dtype: 'int64', shape: [this.dims.length] },
    );
    return this.scalar ? reshape(t, []) : t;
  }
}

export type Value = Tensor | ShapeValue;

/** What a converter sees: one node's inputs, attributes and the opset. */
export class NodeContext {
  constructor(
    readonly node: NodeProto,
    readonly opset: number,
    private readonly env: ReadonlyMap<string, Value>,
  ) {}

  /** Input i as a shape value (symbolic dims allowed) when it is one or a constant integer tensor. */
  shapeValue(i: number): ShapeValue | undefined {
    const name = this.node.input[i];
    const v = name ? this.env.get(name) : undefined;
    if (v instanceof ShapeValue) return v;
    if (v && !v.isSymbolic && (v.dtype === 'int64' || v.dtype === 'int32') && v.rank <= 1) {
      return new ShapeValue(Array.from(v.data as ArrayLike<number | bigint>, Number), v.rank === 0);
    }
    return undefined;
  }

  /** Input i as dims (numbers, or names of symbolic dims); it must be known when the graph is built. */
  constDims(i: number): Dim[] | undefined {
    const sv = this.shapeValue(i);
    return sv ? [...sv.dims] : this.constInts(i);
  }

  get opType(): string {
    return this.node.op_type;
  }

  /** Input i as it is held: a tensor or a shape value (undefined when omitted). */
  value(i: number): Value | undefined {
    const name = this.node.input[i];
    return name ? this.env.get(name) : undefined;
  }

  /** Input i, or undefined when it is omitted (missing or empty name). */
  optional(i: number): Tensor | undefined {
    const name = this.node.input[i];
    if (!name) return undefined;
    const t = this.env.get(name);
    if (!t) throw new Error(`input ${i} ('${name}') is not defined before this node`);
    return t instanceof ShapeValue ? t.toTensor(`ONNX ${this.opType} node '${this.node.name ?? ''}'`) : t;
  }

  input(i: number): Tensor {
    const t = this.optional(i);
    if (!t) throw new Error(`input ${i} is required`);
    return t;
  }

  /** All (present) inputs, for variadic ops. */
  inputs(): Tensor[] {
    return this.node.input.map((_, i) => this.optional(i)).filter((t): t is Tensor => t !== undefined);
  }

  /** Input i as JS numbers (integers or floats); it must be known before the graph runs (a constant). */
  constNumbers(i: number): number[] | undefined {
    return this.constInts(i);
  }

  /** Input i as JS numbers; it must be known before the graph runs (a constant). */
  constInts(i: number): number[] | undefined {
    const t = this.optional(i);
    if (!t) return undefined;
    if (t.isSymbolic) {
      throw new Error(
        `input ${i} ('${this.node.input[i]}') must be a constant (an initializer, a Constant node, or computed from them) ` +
          'because Lepton needs its value to build the graph; it is a run-time value here. ' +
          'Pass its value through importOnnx(model, { constants }) or run the model eagerly.',
      );
    }
    return Array.from(t.data as ArrayLike<number | bigint>, Number);
  }

  constScalar(i: number): number | undefined {
    const v = this.constInts(i);
    return v === undefined ? undefined : v[0];
  }

  outputWanted(i: number): boolean {
    return !!this.node.output[i];
  }

  private attribute(name: string): AttributeProto | undefined {
    return this.node.attribute?.find((a) => a.name === name);
  }

  has(name: string): boolean {
    return this.attribute(name) !== undefined;
  }

  int(name: string, dflt: number): number;
  int(name: string): number | undefined;
  int(name: string, dflt?: number): number | undefined {
    const a = this.attribute(name);
    return a?.i !== undefined ? Number(a.i) : dflt;
  }

  float(name: string, dflt: number): number;
  float(name: string): number | undefined;
  float(name: string, dflt?: number): number | undefined {
    const a = this.attribute(name);
    return a?.f !== undefined ? a.f : dflt;
  }

  ints(name: string): number[] | undefined {
    const a = this.attribute(name);
    return a ? (a.ints ?? []).map(Number) : undefined;
  }

  floats(name: string): number[] | undefined {
    const a = this.attribute(name);
    return a ? [...(a.floats ?? [])] : undefined;
  }

  string(name: string, dflt: string): string;
  string(name: string): string | undefined;
  string(name: string, dflt?: string): string | undefined {
    const a = this.attribute(name);
    return a?.s !== undefined ? new TextDecoder().decode(a.s) : dflt;
  }

  tensorAttr(name: string): Tensor | undefined {
    const a = this.attribute(name);
    return a?.t ? tensorFromProto(a.t, `attribute '${name}'`) : undefined;
  }

  /** Fails with UnsupportedOnnxError (the conformance runner skips those). */
  unsupported(what: string): never {
    throw new UnsupportedOnnxError(
      this.opType,
      `ONNX ${this.opType} node '${this.node.name ?? ''}': ${what} is not supported by the Lepton importer`,
    );
  }

  describeInputs(): string {
    return this.node.input
      .map((name) => {
        const t = name ? this.env.get(name) : undefined;
        if (t instanceof ShapeValue) return `shape value [${t.dims.join(', ')}]`;
        return t ? `${shapeStr(t.shape)} ${t.dtype}` : '-';
      })
      .join(', ');
  }
}

export type OnnxConverter = (ctx: NodeContext) => Value | Value[];

// ---------------------------------------------------------------------------------------------
// Access to ops that may not exist in every build (helpers add them over time): a missing one
// makes the node unsupported instead of breaking the importer.

type AnyFn = (...args: any[]) => any;
const lib = ops as unknown as Record<string, AnyFn | undefined>;
function need(ctx: NodeContext, name: string): AnyFn {
  const f = lib[name];
  if (typeof f !== 'function') ctx.unsupported(`(needs the Lepton op '${name}', which is not available)`);
  return f;
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

const dims = (t: Tensor, ctx: NodeContext): number[] => {
  if (!t.shape.every((d) => typeof d === 'number')) ctx.unsupported(`a symbolic shape ${shapeStr(t.shape)} here`);
  return t.shape as number[];
};
const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

function onnxDtype(ctx: NodeContext, code: number): DType {
  if (!DTYPES.some((d) => ONNX_ELEM_TYPE[d] === code)) ctx.unsupported(`element type ${code}`);
  return dtypeFromOnnx(code);
}

/** Axes of a node: from the `axes` attribute (older opsets) or from input `inputIndex` (newer). */
function axesOf(ctx: NodeContext, inputIndex: number, inputSinceOpset: number): number[] | undefined {
  return ctx.opset >= inputSinceOpset ? ctx.constInts(inputIndex) : ctx.ints('axes');
}

/** Concrete spatial dims (axes 2..) of an [N, C, ...] tensor; the batch axis may be symbolic. */
const spatial = (ctx: NodeContext, x: Tensor): number[] => {
  const sp = x.shape.slice(2);
  if (!sp.every((d) => typeof d === 'number')) ctx.unsupported(`symbolic spatial dimensions ${shapeStr(x.shape)}`);
  return sp as number[];
};

/** One dim for the product of `ds`: the number, a lone symbolic dim, or -1 (inferred by reshape). */
function productDim(ds: readonly Dim[]): Dim {
  if (ds.every((d) => typeof d === 'number')) return prod(ds as number[]);
  return ds.length === 1 ? ds[0] : -1;
}

/** Coerces x to 2-D at `axis` in [0, rank] ([prod(:axis), prod(axis:)]), like Flatten and opset<13 Softmax. */
function to2d(ctx: NodeContext, x: Tensor, axis: number): Tensor {
  const target = [productDim(x.shape.slice(0, axis)), productDim(x.shape.slice(axis))];
  if (target[0] === -1 && target[1] === -1)
    ctx.unsupported(`flattening ${shapeStr(x.shape)} at axis ${axis} (symbolic dims on both sides)`);
  return reshape(x, target);
}

function softmaxLike(ctx: NodeContext, fnName: 'softmax' | 'logSoftmax'): Tensor {
  const x = ctx.input(0);
  const f = fnName === 'softmax' ? ops.softmax : ops.logSoftmax;
  if (ctx.opset >= 13) return f(x, ctx.int('axis', -1));
  const axis = ctx.int('axis', 1);
  const y = f(to2d(ctx, x, axis < 0 ? axis + x.rank : axis), 1);
  return reshape(y, x.shape);
}

/** Reduction over `axes` with ONNX's keepdims / noop_with_empty_axes rules. */
function reduction(
  inputSinceOpset: number,
  reduce: (ctx: NodeContext, x: Tensor, axes: number[], keepDims: boolean) => Tensor,
): OnnxConverter {
  return (ctx) => {
    const x = ctx.input(0);
    const given = axesOf(ctx, 1, inputSinceOpset);
    const keepDims = ctx.int('keepdims', 1) === 1;
    if ((!given || given.length === 0) && ctx.int('noop_with_empty_axes', 0) === 1) return identity(x);
    const axes =
      given && given.length > 0
        ? given.map((a) => normalizeAxis(ctx.opType, a, x.rank))
        : Array.from({ length: x.rank }, (_, i) => i);
    return reduce(
      ctx,
      x,
      [...new Set(axes)].sort((a, b) => a - b),
      keepDims,
    );
  };
}

/** A one-input op found by name (trigonometric ops and the like light up once Lepton has them). */
const unary =
  (name: string): OnnxConverter =>
  (ctx) =>
    need(ctx, name)(ctx.input(0));
/**
 * Before opset 7, binary ops broadcast only with `broadcast=1`, aligning b at `axis` (not at the
 * end); opset 7+ uses NumPy rules. Returns b reshaped so that NumPy rules give the old meaning.
 */
function legacyBroadcast(ctx: NodeContext, a: Tensor, b: Tensor): Tensor {
  if (ctx.opset >= 7 || !ctx.int('broadcast', 0) || !ctx.has('axis')) return b;
  const axis = normalizeAxis(ctx.opType, ctx.int('axis')!, a.rank);
  return reshape(b, [...b.shape, ...new Array<number>(a.rank - axis - b.rank).fill(1)]);
}
const binary =
  (f: (a: Tensor, b: Tensor) => Tensor): OnnxConverter =>
  (ctx) =>
    f(ctx.input(0), legacyBroadcast(ctx, ctx.input(0), ctx.input(1)));
/** Max/Min/Sum/Mean take any number of inputs. */
const variadic =
  (combine: (ctx: NodeContext) => (a: Tensor, b: Tensor) => Tensor): OnnxConverter =>
  (ctx) => {
    const xs = ctx.inputs();
    const f = combine(ctx);
    return xs.slice(1).reduce((acc, x) => f(acc, x), xs.length === 1 ? identity(xs[0]) : xs[0]);
  };

/** Spatial attributes of Conv/ConvTranspose/pools, with auto_pad resolved into explicit pads. */
function windowAttrs(ctx: NodeContext, x: Tensor, kernel: number[], transposed = false) {
  const n = kernel.length;
  const strides = ctx.ints('strides') ?? new Array<number>(n).fill(1);
  const dilations = ctx.ints('dilations') ?? new Array<number>(n).fill(1);
  let pads = ctx.ints('pads') ?? new Array<number>(2 * n).fill(0);
  const autoPad = ctx.string('auto_pad', 'NOTSET');
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const sp = spatial(ctx, x);
    const begins: number[] = [];
    const ends: number[] = [];
    for (let i = 0; i < n; i++) {
      const total = transposed
        ? Math.max(
            strides[i] * (sp[i] - 1) +
              (ctx.ints('output_padding')?.[i] ?? 0) +
              ((kernel[i] - 1) * dilations[i] + 1) -
              sp[i] * strides[i],
            0,
          )
        : Math.max((Math.ceil(sp[i] / strides[i]) - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - sp[i], 0);
      const small = Math.floor(total / 2);
      const upper = autoPad === 'SAME_UPPER';
      begins.push(upper ? small : total - small);
      ends.push(upper ? total - small : small);
    }
    pads = [...begins, ...ends];
  } else if (autoPad === 'VALID') {
    pads = new Array<number>(2 * n).fill(0);
  }
  return { strides, dilations, pads };
}

const padPairs = (pads: number[]): [number, number][] => {
  const n = pads.length / 2;
  return Array.from({ length: n }, (_, i) => [pads[i], pads[n + i]]);
};

function conv(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const w = ctx.input(1);
  const b = ctx.optional(2);
  const kernel = ctx.ints('kernel_shape') ?? dims(w, ctx).slice(2);
  const { strides, dilations, pads } = windowAttrs(ctx, x, kernel);
  const n = kernel.length;
  const f = [undefined, ops.conv1d, ops.conv2d, ops.conv3d][n];
  if (!f) ctx.unsupported(`a ${n}-D convolution`);
  return f(x, w, b, { stride: strides, dilation: dilations, padding: padPairs(pads), groups: ctx.int('group', 1) });
}

function convTranspose(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const w = ctx.input(1);
  const b = ctx.optional(2);
  const kernel = ctx.ints('kernel_shape') ?? dims(w, ctx).slice(2);
  const n = kernel.length;
  const { strides, dilations } = windowAttrs(ctx, x, kernel);
  let { pads } = windowAttrs(ctx, x, kernel, true);
  let outputPadding = ctx.ints('output_padding') ?? new Array<number>(n).fill(0);
  const outputShape = ctx.ints('output_shape');
  if (outputShape) {
    // Explicit output size: total padding follows from it (ONNX: SAME_UPPER-style split unless SAME_LOWER).
    const sp = spatial(ctx, x);
    const os = outputShape.slice(-n);
    const begins: number[] = [];
    const ends: number[] = [];
    for (let i = 0; i < n; i++) {
      const total = strides[i] * (sp[i] - 1) + outputPadding[i] + ((kernel[i] - 1) * dilations[i] + 1) - os[i];
      if (total < 0) {
        outputPadding = [...outputPadding];
        outputPadding[i] += -total;
        begins.push(0);
        ends.push(0);
        continue;
      }
      const lower = ctx.string('auto_pad', 'NOTSET') === 'SAME_LOWER';
      begins.push(lower ? total - Math.floor(total / 2) : Math.floor(total / 2));
      ends.push(lower ? Math.floor(total / 2) : total - Math.floor(total / 2));
    }
    pads = [...begins, ...ends];
  }
  return apply1(ops.convTransposeOp, b ? [x, w, b] : [x, w], {
    strides,
    pads,
    dilations,
    group: ctx.int('group', 1),
    outputPadding,
  });
}

function poolAttrs(ctx: NodeContext, x: Tensor, countsPadding = false) {
  const kernel = ctx.ints('kernel_shape');
  if (!kernel) throw new Error('kernel_shape is required');
  const { strides, dilations, pads } = windowAttrs(ctx, x, kernel);
  if (dilations.some((d) => d !== 1)) ctx.unsupported('pooling with dilations');
  if (ctx.int('ceil_mode', 0) === 1) {
    // Ceil mode = floor mode with extra end padding covering the last partial window (which must
    // start inside the input or the begin padding).
    const sp = spatial(ctx, x);
    const n = kernel.length;
    for (let i = 0; i < n; i++) {
      const padded = sp[i] + pads[i] + pads[n + i];
      let out = Math.ceil((padded - kernel[i]) / strides[i]) + 1;
      if ((out - 1) * strides[i] >= sp[i] + pads[i]) out--;
      const extra = Math.max(0, (out - 1) * strides[i] + kernel[i] - padded);
      if (extra > 0 && countsPadding) ctx.unsupported('ceil_mode=1 with count_include_pad=1');
      pads[n + i] += extra;
    }
  }
  return { kernel, strides, pads };
}

function maxPool(ctx: NodeContext): Tensor[] {
  if (ctx.outputWanted(1)) ctx.unsupported('the Indices output');
  const x = ctx.input(0);
  if (!isFloat(x.dtype)) ctx.unsupported(`dtype ${x.dtype}`);
  return [apply1(ops.maxPoolOp, [x], poolAttrs(ctx, x))];
}

function averagePool(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const countIncludePad = ctx.int('count_include_pad', 0) === 1;
  return apply1(ops.avgPoolOp, [x], { ...poolAttrs(ctx, x, countIncludePad), countIncludePad });
}

function globalPool(kind: 'avg' | 'max'): OnnxConverter {
  return (ctx) => {
    const x = ctx.input(0);
    const sp = spatial(ctx, x);
    if (kind === 'max')
      return apply1(ops.maxPoolOp, [x], { kernel: sp, strides: sp.map(() => 1), pads: [...sp, ...sp].map(() => 0) });
    const axes = sp.map((_, i) => i + 2);
    return div(sum(x, axes, true), prod(sp));
  };
}

function gemm(ctx: NodeContext): Tensor {
  let a = ctx.input(0);
  let b = ctx.input(1);
  const c = ctx.optional(2);
  if (ctx.int('transA', 0)) a = transpose(a);
  if (ctx.int('transB', 0)) b = transpose(b);
  const alpha = ctx.float('alpha', 1);
  const beta = ctx.float('beta', 1);
  let y = matmul(a, b);
  if (alpha !== 1) y = mul(y, alpha);
  if (c) y = add(y, beta === 1 ? c : mul(c, beta));
  return y;
}

function reshapeNode(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const target = ctx.opset >= 5 ? ctx.constDims(1) : ctx.ints('shape');
  if (!target) throw new Error('the target shape is required');
  const allowZero = ctx.int('allowzero', 0) === 1;
  const shape: Dim[] = target.map((d, i) => (d === 0 && !allowZero ? x.shape[i] : d));
  return reshape(x, shape);
}

function squeeze(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const given = axesOf(ctx, 1, 13);
  const axes = given
    ? given.map((a) => normalizeAxis('Squeeze', a, x.rank))
    : x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
  for (const a of axes) if (x.shape[a] !== 1) throw new Error(`cannot squeeze axis ${a} of size ${x.shape[a]}`);
  return reshape(
    x,
    x.shape.filter((_, i) => !axes.includes(i)),
  );
}

function unsqueeze(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const given = axesOf(ctx, 1, 13);
  if (!given) throw new Error('axes are required');
  const rank = x.rank + given.length;
  const axes = given.map((a) => normalizeAxis('Unsqueeze', a, rank));
  const shape: Dim[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) shape.push(axes.includes(i) ? 1 : x.shape[k++]);
  return reshape(x, shape);
}

function clipNode(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  if (ctx.opset < 11) {
    return ops.clip(x, ctx.float('min', -Infinity), ctx.float('max', Infinity));
  }
  const lo = ctx.optional(1);
  const hi = ctx.optional(2);
  // Constant bounds become attributes (one Clip node); tensor bounds still work through clip().
  const bound = (t: Tensor | undefined) => (t && !t.isSymbolic ? Number(t.data[0]) : t);
  return ops.clip(x, bound(lo), bound(hi));
}

function castNode(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const to = onnxDtype(ctx, ctx.int('to') ?? NaN);
  return cast(x, to);
}

function constantNode(ctx: NodeContext): Tensor {
  const t = ctx.tensorAttr('value');
  if (t) return t;
  if (ctx.has('value_float')) return scalar(ctx.float('value_float')!, 'float32');
  if (ctx.has('value_floats')) return tensor(ctx.floats('value_floats')!, { dtype: 'float32' });
  if (ctx.has('value_int')) return scalar(ctx.int('value_int')!, 'int64');
  if (ctx.has('value_ints')) return tensor(ctx.ints('value_ints')!, { dtype: 'int64' });
  return ctx.unsupported('this kind of Constant (sparse or string)');
}

function shapeNode(ctx: NodeContext): Value {
  // The shape of a shape value (a 1-D vector of its length) is known even when its dims are not.
  const v = ctx.value(0);
  if (v instanceof ShapeValue)
    return tensor(BigInt64Array.from(v.scalar ? [] : [BigInt(v.dims.length)]), { shape: [v.scalar ? 0 : 1] });
  const x = ctx.input(0);
  const r = x.rank;
  const clampAxis = (a: number) => Math.min(Math.max(a < 0 ? a + r : a, 0), r);
  const start = clampAxis(ctx.int('start', 0));
  const end = clampAxis(ctx.int('end', r));
  const part = new ShapeValue(x.shape.slice(start, Math.max(start, end)));
  return part.concrete ? part.toTensor('Shape') : part;
}

/**
 * Gather/Slice/Concat/Unsqueeze/Squeeze/Cast/Reshape and Mul by a constant over shape values with
 * symbolic dims stay shape values; Equal against constants and Where choosing between shape values are decided
 * while importing (torch.onnx.export writes `x.expand(n, -1, -1)` as Where(Equal(shape, -1), 1, shape)).
 */
function symbolicShapeOp(ctx: NodeContext): Value | undefined {
  if (ctx.opType === 'Where') {
    const cond = ctx.node.input[0] ? ctx.optional(0) : undefined;
    const [a, b] = [ctx.shapeValue(1), ctx.shapeValue(2)];
    if (!cond || cond.isSymbolic || !a || !b || (a.concrete && b.concrete)) return undefined;
    const n = Math.max(a.dims.length, b.dims.length, cond.size);
    const at = (v: ShapeValue, i: number) => v.dims[v.dims.length === 1 ? 0 : i];
    const pick = Array.from({ length: n }, (_, i) => (cond.data[cond.size === 1 ? 0 : i] ? at(a, i) : at(b, i)));
    return new ShapeValue(pick);
  }
  if (ctx.opType === 'Mul') {
    // batch × heads for an attention reshape: a product dimension the reshape can resolve.
    const [a, b] = [ctx.shapeValue(0), ctx.shapeValue(1)];
    if (!a || !b || (a.concrete && b.concrete)) return undefined;
    const [sv, k] = a.concrete ? [b, a] : [a, b];
    if (!k.concrete || k.dims.length !== 1) return undefined;
    const f = k.dims[0] as number;
    return new ShapeValue(
      sv.dims.map((d) => (typeof d === 'number' ? d * f : f === 1 ? d : `${d}*${f}`)),
      sv.scalar && k.scalar,
    );
  }
  if (ctx.opType === 'Concat') {
    const parts = ctx.node.input.map((_, i) => ctx.shapeValue(i));
    if (!parts.some((p) => p && !p.concrete) || parts.some((p) => !p)) return undefined;
    return new ShapeValue(parts.flatMap((p) => p!.dims));
  }
  const sv = ctx.shapeValue(0);
  if (!sv || sv.concrete) return undefined;
  switch (ctx.opType) {
    case 'Gather': {
      const idx = ctx.shapeValue(1);
      if (!idx?.concrete) return undefined;
      const picked = (idx.dims as number[]).map((k) => sv.dims[k < 0 ? k + sv.dims.length : k]);
      return new ShapeValue(picked, idx.scalar);
    }
    case 'Slice': {
      const [starts, ends, axes, steps] = [1, 2, 3, 4].map((i) => ctx.constInts(i));
      if (!starts || !ends || (axes && axes[0] !== 0 && axes[0] !== -1) || (steps && steps[0] !== 1)) return undefined;
      const n = sv.dims.length;
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + n : v, 0), n);
      return new ShapeValue(sv.dims.slice(clamp(starts[0]), clamp(ends[0])));
    }
    case 'Unsqueeze':
      return sv.scalar ? new ShapeValue(sv.dims) : undefined;
    case 'Squeeze':
      return sv.dims.length === 1 && !sv.scalar ? new ShapeValue(sv.dims, true) : undefined;
    case 'Cast':
    case 'Identity':
      return sv;
    case 'Reshape': {
      // A shape vector reshaped to one axis ([-1] or its own length) is the same vector.
      const target = ctx.constInts(1);
      if (target?.length !== 1 || (target[0] !== -1 && target[0] !== sv.dims.length)) return undefined;
      return new ShapeValue(sv.dims);
    }
    case 'Equal': {
      // A symbolic dimension is a size (≥ 1): never equal to 0 or a negative constant.
      const other = ctx.shapeValue(1);
      if (!other?.concrete) return undefined;
      const n = Math.max(sv.dims.length, other.dims.length);
      const at = (v: ShapeValue, i: number) => v.dims[v.dims.length === 1 ? 0 : i];
      const out: boolean[] = [];
      for (let i = 0; i < n; i++) {
        const [d, c] = [at(sv, i), at(other, i) as number];
        if (typeof d === 'number') out.push(d === c);
        else if (c <= 0) out.push(false);
        else return undefined;
      }
      return tensor(out, { dtype: 'bool', shape: sv.scalar && other.scalar ? [] : [n] });
    }
    default:
      return undefined;
  }
}

/** Wraps a converter so that it first handles shape values with symbolic dims. */
const shapeAware =
  (convert: OnnxConverter): OnnxConverter =>
  (ctx) =>
    symbolicShapeOp(ctx) ?? convert(ctx);

function flattenNode(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  let axis = ctx.int('axis', 1);
  if (axis < 0) axis += x.rank;
  if (axis < 0 || axis > x.rank) throw new Error(`axis ${ctx.int('axis', 1)} is out of range for rank ${x.rank}`);
  return to2d(ctx, x, axis);
}

function expandNode(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const target = ctx.constDims(1)!;
  // ONNX Expand broadcasts both ways: target dims of 1 keep x's dims.
  const rank = Math.max(x.rank, target.length);
  const xs = [...new Array<Dim>(rank - x.rank).fill(1), ...x.shape];
  const ts = [...new Array<Dim>(rank - target.length).fill(1), ...target];
  const out = xs.map((d, i) => (ts[i] === 1 ? d : ts[i]));
  return broadcastTo(x.rank < rank ? reshape(x, xs) : x, out);
}

function constantOfShape(ctx: NodeContext): Tensor {
  const shape = ctx.constInts(0)!;
  const v = ctx.tensorAttr('value');
  const dtype = v?.dtype ?? 'float32';
  const value = v ? Number(v.data[0]) : 0;
  return full(shape, value, dtype);
}

function batchNormalization(ctx: NodeContext): Tensor[] {
  const x = ctx.input(0);
  const c = x.shape[1];
  const perChannel = (t: Tensor) => reshape(t, [c, ...new Array<number>(Math.max(x.rank - 2, 0)).fill(1)]);
  const [scale, bias, runMean, runVar] = [1, 2, 3, 4].map((i) => ctx.input(i));
  const eps = ctx.float('epsilon', 1e-5);
  if (ctx.int('training_mode', 0) !== 1) {
    if (ctx.outputWanted(1)) ctx.unsupported('running statistics outputs outside training mode');
    return [ops.batchNorm(x, perChannel(runMean), perChannel(runVar), perChannel(scale), perChannel(bias), eps)];
  }
  // Training mode: normalize with the batch statistics and update the running ones.
  const axes = Array.from({ length: x.rank }, (_, i) => i).filter((i) => i !== 1);
  const [mean, variance] = ops.moments(x, axes, true);
  const y = ops.batchNorm(x, mean, variance, perChannel(scale), perChannel(bias), eps);
  const momentum = ctx.float('momentum', 0.9);
  const flat = (t: Tensor) => reshape(t, [c]);
  const newMean = add(mul(runMean, momentum), mul(flat(mean), 1 - momentum));
  const newVar = add(mul(runVar, momentum), mul(flat(variance), 1 - momentum));
  return [y, newMean, newVar];
}

function layerNormalization(ctx: NodeContext): Tensor[] {
  const x = ctx.input(0);
  let axis = ctx.int('axis', -1);
  if (axis < 0) axis += x.rank;
  const bias = ctx.optional(2);
  // layerNormOp gives ONNX's three outputs (y, mean, invStdDev).
  return apply(ops.layerNormOp, [x, ctx.input(1), ...(bias ? [bias] : [])], {
    axis,
    eps: ctx.float('epsilon', 1e-5),
    hasWeight: true,
    hasBias: !!bias,
  });
}

function instanceNormalization(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const axes = Array.from({ length: x.rank - 2 }, (_, i) => i + 2);
  const [mean, variance] = ops.moments(x, axes, true);
  const perChannel = (t: Tensor) => reshape(t, [x.shape[1], ...axes.map(() => 1)]);
  return ops.batchNorm(
    x,
    mean,
    variance,
    perChannel(ctx.input(1)),
    perChannel(ctx.input(2)),
    ctx.float('epsilon', 1e-5),
  );
}

function dropout(ctx: NodeContext): Tensor[] {
  const x = ctx.input(0);
  const training = ctx.opset >= 12 ? (ctx.constScalar(2) ?? 0) : 0;
  const ratio = ctx.opset >= 12 ? (ctx.constScalar(1) ?? 0.5) : ctx.float('ratio', 0.5);
  // Random masks come from ONNX's own generator and cannot be reproduced; ratio 0 is the identity.
  if (training && ratio !== 0) ctx.unsupported('training_mode=true with a non-zero ratio');
  if (ctx.opset < 7 && ctx.int('is_test', 0) === 0) ctx.unsupported('training-mode Dropout (opset < 7, is_test=0)');
  const mask = ctx.outputWanted(1) ? full(dims(x, ctx), true, 'bool') : undefined;
  return mask ? [identity(x), mask] : [identity(x)];
}

function powNode(ctx: NodeContext): Tensor {
  const a = ctx.input(0);
  const b = ctx.input(1);
  // ONNX Pow's result has the base's dtype whatever the exponent's dtype.
  if (a.dtype === b.dtype) return ops.pow(a, b);
  if (isFloat(a.dtype)) return ops.pow(a, cast(b, a.dtype));
  return cast(ops.pow(cast(a, 'float64'), cast(b, 'float64')), a.dtype);
}

/** PRelu / LeakyRelu-style composite: where(x < 0, slope * x, x). */
function prelu(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  let slope = ctx.input(1);
  // Before opset 7 a [C] slope applies per channel (axis 1).
  if (ctx.opset < 7 && slope.rank === 1 && x.rank > 2 && slope.shape[0] === x.shape[1])
    slope = reshape(slope, [slope.shape[0], ...new Array<number>(x.rank - 2).fill(1)]);
  return ops.where(ops.less(x, 0), mul(x, slope), x);
}

function selu(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  // biome-ignore lint/correctness/noPrecisionLoss: ONNX's float32 default, written out exactly as its spec does
  const alpha = ctx.float('alpha', 1.67326319217681884765625);
  // biome-ignore lint/correctness/noPrecisionLoss: ONNX's float32 default, written out exactly as its spec does
  const gamma = ctx.float('gamma', 1.05070102214813232421875);
  if (Math.fround(alpha) === Math.fround(1.6732632423543772) && Math.fround(gamma) === Math.fround(1.0507009873554805))
    return ops.selu(x);
  return mul(ops.where(ops.greater(x, 0), x, mul(sub(ops.exp(x), 1), alpha)), gamma);
}

function thresholdedRelu(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  return ops.where(ops.greater(x, ctx.float('alpha', 1)), x, 0);
}

function celu(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const alpha = ctx.float('alpha', 1);
  return add(ops.maximum(x, 0), ops.minimum(mul(sub(ops.exp(div(x, alpha)), 1), alpha), 0));
}

function shrink(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const lambd = ctx.float('lambd', 0.5);
  const bias = ctx.float('bias', 0);
  return ops.where(ops.less(x, -lambd), add(x, bias), ops.where(ops.greater(x, lambd), sub(x, bias), 0));
}

function meanNode(ctx: NodeContext): Tensor {
  const xs = ctx.inputs();
  return div(
    xs.slice(1).reduce((acc, x) => add(acc, x), xs[0]),
    xs.length,
  );
}

function logicalXor(a: Tensor, b: Tensor): Tensor {
  return ops.notEqual(a, b);
}

function whereNode(ctx: NodeContext): Tensor {
  return ops.where(ctx.input(0), ctx.input(1), ctx.input(2));
}

function isInf(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const pos = ctx.int('detect_positive', 1) === 1;
  const negative = ctx.int('detect_negative', 1) === 1;
  const p = ops.equal(x, Infinity);
  const n = ops.equal(x, -Infinity);
  if (pos && negative) return ops.logicalOr(p, n);
  if (pos) return p;
  if (negative) return n;
  return ops.logicalAnd(p, n);
}

function rangeNode(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const [start, limit, delta] = [0, 1, 2].map((i) => ctx.constScalar(i)!);
  const n = Math.max(Math.ceil((limit - start) / delta), 0);
  const values = Array.from({ length: n }, (_, i) => start + i * delta);
  return tensor(x.dtype === 'float32' ? Float32Array.from(values) : values, { dtype: x.dtype, shape: [n] });
}

function concatNode(ctx: NodeContext): Tensor {
  const xs = ctx.inputs();
  return ops.concat(xs, ctx.int('axis') ?? 0);
}

function reductionAttr(ctx: NodeContext): 'mean' | 'sum' | 'none' {
  const r = ctx.string('reduction', 'mean');
  if (r !== 'mean' && r !== 'sum' && r !== 'none') throw new Error(`reduction must be mean, sum or none, got '${r}'`);
  return r;
}

function softmaxCrossEntropyLoss(ctx: NodeContext): Tensor[] {
  const weight = ctx.optional(2);
  const inputs = [ctx.input(0), ctx.input(1), ...(weight ? [weight] : [])];
  return apply(ops.softmaxCrossEntropyOp, inputs, {
    reduction: reductionAttr(ctx),
    ignoreIndex: ctx.int('ignore_index'),
    hasWeight: !!weight,
  });
}

/**
 * NegativeLogLikelihoodLoss from ops: loss_i = -input[i, target_i] * weight[target_i], picked with
 * a one-hot mask (targets equal to ignore_index pick nothing and weigh 0); 'mean' divides by the
 * total weight of the kept targets.
 */
function negativeLogLikelihoodLoss(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const target = ctx.input(1);
  const weight = ctx.optional(2);
  const classes = x.shape[1];
  if (typeof classes !== 'number') ctx.unsupported('a symbolic class axis');
  const classShape = x.shape.map((_, i) => (i === 1 ? classes : 1));
  const t = reshape(target, [target.shape[0], 1, ...target.shape.slice(1)]);
  const oneHot = ops.equal(
    t,
    reshape(
      cast(
        tensor(
          Array.from({ length: classes }, (_, i) => i),
          { dtype: 'int64' },
        ),
        target.dtype,
      ),
      classShape,
    ),
  );
  const zero = scalar(0, x.dtype);
  let w: Tensor = weight ? ops.where(oneHot, reshape(weight, classShape), zero) : cast(oneHot, x.dtype);
  const ignore = ctx.int('ignore_index');
  if (ignore !== undefined) w = mul(w, cast(ops.notEqual(t, ignore), x.dtype));
  const perTarget = neg(sum(mul(ops.where(oneHot, x, zero), w), [1]));
  const reduction = reductionAttr(ctx);
  if (reduction === 'none') return perTarget;
  if (reduction === 'sum') return sum(perTarget);
  return div(sum(perTarget), sum(w));
}

/** Indices 0..n-1 laid along `axis` of a rank-`rank` tensor (other dims 1), as a constant. */
function indicesAlong(n: number, axis: number, rank: number, dtype: DType = 'int64'): Tensor {
  const shape = Array.from({ length: rank }, (_, i) => (i === axis ? n : 1));
  return cast(
    tensor(
      Array.from({ length: n }, (_, i) => BigInt(i)),
      { dtype: 'int64', shape },
    ),
    dtype,
  );
}

function argReduceLast(
  ctx: NodeContext,
  x: Tensor,
  axis: number,
  keepDims: boolean,
  kind: 'argmax' | 'argmin',
): Tensor {
  // The last index among the positions holding the extreme value: max of where(x == extreme, i, -1).
  const extreme = (kind === 'argmax' ? ops.max : ops.min)(x, [axis], true);
  const n = dims(x, ctx)[axis];
  const idx = ops.where(ops.equal(x, extreme), indicesAlong(n, axis, x.rank), scalar(-1, 'int64'));
  return ops.max(idx, [axis], keepDims);
}

function argReduce(name: 'argmax' | 'argmin'): OnnxConverter {
  return (ctx) => {
    const x = ctx.input(0);
    const axis = normalizeAxis(ctx.opType, ctx.int('axis', 0), x.rank);
    const keepDims = ctx.int('keepdims', 1) === 1;
    if (ctx.int('select_last_index', 0) === 1) return argReduceLast(ctx, x, axis, keepDims, name);
    return cast((name === 'argmax' ? ops.argmax : ops.argmin)(x, axis, keepDims), 'int64');
  };
}

function hardmax(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const flat = ctx.opset < 13;
  let axis = ctx.int('axis', flat ? 1 : -1);
  if (axis < 0) axis += x.rank;
  const src = flat ? to2d(ctx, x, axis) : x;
  const ax = flat ? 1 : axis;
  const first = ops.argmax(src, ax, true);
  const y = cast(ops.equal(indicesAlong(dims(src, ctx)[ax], ax, src.rank), first), x.dtype);
  return flat ? reshape(y, x.shape) : y;
}

function trilu(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const k = ctx.constScalar(1) ?? 0;
  const s = dims(x, ctx);
  const [rows, cols] = s.slice(-2);
  const r = indicesAlong(rows, 0, 2);
  const c = indicesAlong(cols, 1, 2);
  // upper: j - i >= k; lower: j - i <= k.
  const diff = sub(c, r);
  const keep =
    ctx.int('upper', 1) === 1 ? ops.greaterEqual(diff, scalar(k, 'int64')) : ops.lessEqual(diff, scalar(k, 'int64'));
  return ops.where(keep, x, scalar(0, x.dtype));
}

/** CumSum as a matmul with a (strictly) triangular ones matrix along the axis. */
function cumSum(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const axis = normalizeAxis('CumSum', ctx.constScalar(1)!, x.rank);
  const n = dims(x, ctx)[axis];
  const exclusive = ctx.int('exclusive', 0) === 1;
  const reverse = ctx.int('reverse', 0) === 1;
  const m = new Array<number>(n * n).fill(0);
  // out[j] = sum_i x[i] * m[i, j]
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      const inRange = reverse ? (exclusive ? i > j : i >= j) : exclusive ? i < j : i <= j;
      if (inRange) m[i * n + j] = 1;
    }
  const perm = Array.from({ length: x.rank }, (_, i) => i)
    .filter((i) => i !== axis)
    .concat(axis);
  const inverse = perm.map((_, i) => perm.indexOf(i));
  const moved = transpose(x, perm);
  const tri = tensor(m, { dtype: 'float64', shape: [n, n] });
  const y = isFloat(x.dtype) ? matmul(moved, cast(tri, x.dtype)) : cast(matmul(cast(moved, 'float64'), tri), x.dtype);
  return transpose(y, inverse);
}

/** Mod: fmod=1 is C's fmod (sign of the dividend); fmod=0 is Python's (sign of the divisor, integers). */
function modNode(ctx: NodeContext): Tensor {
  const a = ctx.input(0);
  const b = ctx.input(1);
  const fmod = ctx.int('fmod', 0) === 1;
  const zero = scalar(0, a.dtype);
  let r: Tensor;
  if (isFloat(a.dtype)) {
    const q = div(a, b);
    const trunc = ops.where(ops.less(q, zero), ops.ceil(q), ops.floor(q));
    r = sub(a, mul(trunc, b));
  } else {
    r = sub(a, mul(div(a, b), b)); // integer Div truncates toward zero
  }
  if (fmod) return r;
  const fix = ops.logicalAnd(ops.notEqual(r, zero), ops.notEqual(ops.less(r, zero), ops.less(b, zero)));
  return ops.where(fix, add(r, b), r);
}

function depthToSpace(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const [n, c, h, w] = dims(x, ctx);
  const b = ctx.int('blocksize')!;
  if (ctx.string('mode', 'DCR') === 'DCR') {
    const t = transpose(reshape(x, [n, b, b, c / (b * b), h, w]), [0, 3, 4, 1, 5, 2]);
    return reshape(t, [n, c / (b * b), h * b, w * b]);
  }
  const t = transpose(reshape(x, [n, c / (b * b), b, b, h, w]), [0, 1, 4, 2, 5, 3]);
  return reshape(t, [n, c / (b * b), h * b, w * b]);
}

function spaceToDepth(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const [n, c, h, w] = dims(x, ctx);
  const b = ctx.int('blocksize')!;
  const t = transpose(reshape(x, [n, c, h / b, b, w / b, b]), [0, 3, 5, 1, 2, 4]);
  return reshape(t, [n, c * b * b, h / b, w / b]);
}

function oneHot(ctx: NodeContext): Tensor {
  const indices = ctx.input(0);
  const depth = ctx.constScalar(1)!;
  const values = ctx.input(2);
  const rank = indices.rank + 1;
  const axis = normalizeAxis('OneHot', ctx.int('axis', -1), rank);
  const idx = cast(indices, 'int64');
  // Negative indices count from the end.
  const wrapped = ops.where(ops.less(idx, scalar(0, 'int64')), add(idx, scalar(depth, 'int64')), idx);
  const expanded = reshape(wrapped, [...indices.shape.slice(0, axis), 1, ...indices.shape.slice(axis)]);
  const hot = ops.equal(expanded, indicesAlong(depth, axis, rank));
  // values = [off, on]; picked with a dot product so that a run-time values input works too.
  const pick = (i: number) =>
    sum(mul(values, cast(tensor(i === 0 ? [1, 0] : [0, 1], { dtype: 'float64' }), values.dtype)));
  return ops.where(hot, pick(1), pick(0));
}

function eyeLike(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const [rows, cols] = dims(x, ctx);
  const dtype = ctx.has('dtype') ? onnxDtype(ctx, ctx.int('dtype')!) : x.dtype;
  const k = ctx.int('k', 0);
  const values = Array.from({ length: rows * cols }, (_, i) => (Math.floor(i / cols) + k === i % cols ? 1 : 0));
  return tensor(values, { dtype, shape: [rows, cols] });
}

function meanVarianceNormalization(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const axes = (ctx.ints('axes') ?? [0, 2, 3]).map((a) => normalizeAxis('MeanVarianceNormalization', a, x.rank));
  const [mean, variance] = ops.moments(x, axes, true);
  return div(sub(x, mean), add(ops.sqrt(variance), 1e-9));
}

/** Local response normalization: the channel-window sum of squares is an average pool over channels. */
function lrn(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const s = dims(x, ctx);
  const size = ctx.int('size')!;
  const alpha = ctx.float('alpha', 1e-4);
  const beta = ctx.float('beta', 0.75);
  const bias = ctx.float('bias', 1);
  const [n, c] = s;
  const rest = prod(s.slice(2));
  const sq = reshape(mul(x, x), [n, 1, c, rest]);
  const before = Math.floor((size - 1) / 2);
  const after = Math.ceil((size - 1) / 2);
  const pooled = apply1(ops.avgPoolOp, [sq], {
    kernel: [size, 1],
    strides: [1, 1],
    pads: [before, 0, after, 0],
    countIncludePad: true,
  });
  const windowSum = reshape(pooled, s);
  return div(x, ops.pow(add(mul(windowSum, alpha), bias), scalar(beta, x.dtype)));
}

function sliceNode(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const old = ctx.opset < 10;
  const starts = old ? ctx.ints('starts') : ctx.constInts(1);
  const ends = old ? ctx.ints('ends') : ctx.constInts(2);
  if (!starts || !ends) throw new Error('starts and ends are required');
  const axes = (old ? ctx.ints('axes') : ctx.constInts(3)) ?? starts.map((_, i) => i);
  const steps = old ? undefined : ctx.constInts(4);
  return ops.slice(x, { starts, ends, axes, steps });
}

function padNode(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const old = ctx.opset < 11;
  const mode = ctx.string('mode', 'constant');
  if (mode !== 'constant' && mode !== 'reflect' && mode !== 'edge') ctx.unsupported(`mode '${mode}'`);
  const pads = old ? ctx.ints('pads') : ctx.constInts(1);
  if (!pads) throw new Error('pads are required');
  const value = old ? ctx.float('value', 0) : (ctx.constScalar(2) ?? 0);
  const axes =
    (old ? undefined : ctx.constInts(3))?.map((a) => normalizeAxis('Pad', a, x.rank)) ??
    Array.from({ length: x.rank }, (_, i) => i);
  const perAxis: ([number, number] | null)[] = new Array(x.rank).fill(null);
  axes.forEach((a, i) => (perAxis[a] = [pads[i], pads[axes.length + i]]));
  if (pads.some((p) => p < 0)) ctx.unsupported('negative pads (cropping)');
  return ops.pad(x, perAxis, { mode, value });
}

function splitNode(ctx: NodeContext): Tensor[] {
  const x = ctx.input(0);
  const axis = normalizeAxis('Split', ctx.int('axis', 0), x.rank);
  const d = dims(x, ctx)[axis];
  const outputs = ctx.node.output.length;
  let sizes = ctx.opset < 13 ? ctx.ints('split') : ctx.constInts(1);
  if (!sizes || sizes.length === 0) {
    const parts = ctx.int('num_outputs') ?? outputs;
    const chunk = Math.ceil(d / parts);
    sizes = Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(chunk, d - i * chunk)));
  }
  return ops.split(x, sizes, axis);
}

/** ScatterElements: 'add' is scatterAdd; 'none' (unique indices) replaces through a scattered mask. */
function scatterElements(ctx: NodeContext): Tensor {
  const [x, indices, updates] = [ctx.input(0), ctx.input(1), ctx.input(2)];
  const axis = ctx.int('axis', 0);
  const reduction = ctx.string('reduction', 'none');
  const scatterAdd = ops.scatterAdd;
  if (reduction === 'add') return scatterAdd(x, indices, updates, axis);
  if (reduction !== 'none') ctx.unsupported(`reduction '${reduction}'`);
  const hit = ops.greater(scatterAdd(ops.zerosLike(x, 'float32'), indices, ops.onesLike(updates, 'float32'), axis), 0);
  return add(ops.where(hit, ops.zerosLike(x), x), scatterAdd(ops.zerosLike(x), indices, updates, axis));
}

/** Hann/Hamming/Blackman windows of a constant size, computed when the graph is built. */
function windowFunction(kind: 'hann' | 'hamming' | 'blackman'): OnnxConverter {
  return (ctx) => {
    const size = ctx.constScalar(0)!;
    const periodic = ctx.int('periodic', 1) === 1;
    const dtype = onnxDtype(ctx, ctx.int('output_datatype', 1));
    const n1 = periodic ? size : size - 1;
    const values = Array.from({ length: size }, (_, n) => {
      const a = (2 * Math.PI * n) / n1;
      if (kind === 'hann') return 0.5 - 0.5 * Math.cos(a);
      if (kind === 'hamming') return 25 / 46 - (21 / 46) * Math.cos(a);
      return 0.42 - 0.5 * Math.cos(a) + 0.08 * Math.cos(2 * a);
    });
    return tensor(values, { dtype, shape: [size] });
  };
}

/**
 * Einsum without repeated indices within an operand or ellipses: each operand is permuted and
 * reshaped onto one axis per letter, the product broadcasts, and letters missing from the output
 * are summed out.
 */
function einsum(ctx: NodeContext): Tensor {
  const equation = ctx.string('equation', '').replace(/\s+/g, '');
  const [lhs, rhsGiven] = equation.split('->');
  const terms = lhs.split(',');
  const xs = ctx.inputs();
  if (equation.includes('.') || terms.some((t) => new Set(t).size !== t.length))
    ctx.unsupported(`equation '${equation}' (ellipsis or repeated indices)`);
  if (terms.length !== xs.length)
    throw new Error(`equation '${equation}' has ${terms.length} operands, got ${xs.length} inputs`);
  const letters = [...new Set(terms.join(''))];
  const rhs =
    rhsGiven ??
    letters
      .filter((l) => terms.join('').split(l).length === 2)
      .sort()
      .join('');
  const aligned = xs.map((x, k) => {
    const term = terms[k];
    const present = letters.filter((l) => term.includes(l));
    const moved = transpose(
      x,
      present.map((l) => term.indexOf(l)),
    );
    return reshape(
      moved,
      letters.map((l) => (term.includes(l) ? x.shape[term.indexOf(l)] : 1)),
    );
  });
  let product = aligned.slice(1).reduce((acc, t) => mul(acc, t), aligned[0]);
  const summed = letters.flatMap((l, i) => (rhs.includes(l) ? [] : [i]));
  if (summed.length > 0) product = sum(product, summed);
  const remaining = letters.filter((l) => rhs.includes(l));
  return transpose(
    product,
    [...rhs].map((l) => remaining.indexOf(l)),
  );
}

// ---------------------------------------------------------------------------------------------
// Resize / Upsample: separable per axis; each output position reads a few input positions
// (nearest 1, linear 2, cubic 4) with weights computed here, applied with gather + mul + add.

interface Taps {
  indices: number[][];
  weights: number[][];
}

/**
 * `lengthResized` is the output length for align_corners / pytorch_half_pixel: in * scale (not
 * floored) when scales are given, the output size when sizes are.
 */
function resizeTaps(
  ctx: NodeContext,
  mode: string,
  transform: string,
  nearestMode: string,
  inSize: number,
  outSize: number,
  scale: number,
  lengthResized: number,
): Taps {
  const toOriginal = (x: number): number => {
    switch (transform) {
      case 'half_pixel':
        return (x + 0.5) / scale - 0.5;
      case 'pytorch_half_pixel':
        return lengthResized > 1 ? (x + 0.5) / scale - 0.5 : 0;
      case 'align_corners':
        return lengthResized === 1 ? 0 : (x * (inSize - 1)) / (lengthResized - 1);
      case 'asymmetric':
        return x / scale;
      case 'tf_half_pixel_for_nn':
        return (x + 0.5) / scale;
      default:
        return ctx.unsupported(`coordinate_transformation_mode '${transform}'`);
    }
  };
  const clampIndex = (i: number) => Math.min(Math.max(i, 0), inSize - 1);
  const taps: Taps = { indices: [], weights: [] };
  const a = ctx.float('cubic_coeff_a', -0.75);
  const excludeOutside = ctx.int('exclude_outside', 0) === 1;
  for (let o = 0; o < outSize; o++) {
    const x = toOriginal(o);
    let idx: number[];
    let w: number[];
    if (mode === 'nearest') {
      const frac = x - Math.floor(x);
      const i =
        nearestMode === 'floor'
          ? Math.floor(x)
          : nearestMode === 'ceil'
            ? Math.ceil(x)
            : frac === 0.5
              ? nearestMode === 'round_prefer_ceil'
                ? Math.ceil(x)
                : Math.floor(x)
              : Math.round(x);
      [idx, w] = [[i], [1]];
    } else if (mode === 'linear') {
      const i0 = Math.floor(x);
      [idx, w] = [
        [i0, i0 + 1],
        [1 - (x - i0), x - i0],
      ];
    } else if (mode === 'cubic') {
      const i0 = Math.floor(x);
      const r = x - i0;
      const c = (d: number) => {
        const t = Math.abs(d);
        return t <= 1 ? ((a + 2) * t - (a + 3)) * t * t + 1 : t < 2 ? ((a * t - 5 * a) * t + 8 * a) * t - 4 * a : 0;
      };
      idx = [i0 - 1, i0, i0 + 1, i0 + 2];
      w = [c(r + 1), c(r), c(1 - r), c(2 - r)];
      if (excludeOutside) {
        w = w.map((v, k) => (idx[k] < 0 || idx[k] >= inSize ? 0 : v));
        const total = w.reduce((p, v) => p + v, 0);
        w = w.map((v) => v / total);
      }
    } else {
      return ctx.unsupported(`mode '${mode}'`);
    }
    taps.indices.push(idx.map(clampIndex));
    taps.weights.push(w);
  }
  return taps;
}

function resizeAxis(x: Tensor, axis: number, taps: Taps): Tensor {
  const n = taps.indices[0].length;
  let out: Tensor | undefined;
  for (let k = 0; k < n; k++) {
    const idx = tensor(
      taps.indices.map((t) => BigInt(t[k])),
      { dtype: 'int64' },
    );
    const picked = ops.gather(x, idx, axis);
    if (n === 1) return picked;
    const shape = x.shape.map((_, i) => (i === axis ? taps.weights.length : 1));
    const w = cast(
      tensor(
        taps.weights.map((t) => t[k]),
        { dtype: 'float64', shape },
      ),
      x.dtype,
    );
    const term = mul(picked, w);
    out = out ? add(out, term) : term;
  }
  return out!;
}

function resize(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const upsample = ctx.opType === 'Upsample';
  const mode = ctx.string('mode', 'nearest');
  if (
    !upsample &&
    ctx.opset >= 11 &&
    ctx.string('coordinate_transformation_mode', 'half_pixel') === 'tf_crop_and_resize'
  )
    ctx.unsupported("coordinate_transformation_mode 'tf_crop_and_resize'");
  if (ctx.int('antialias', 0) === 1) ctx.unsupported('antialias');
  if (ctx.has('axes') || ctx.string('keep_aspect_ratio_policy', 'stretch') !== 'stretch')
    ctx.unsupported('axes / keep_aspect_ratio_policy');
  // Upsample and Resize-10 use asymmetric coordinates; Resize-11+ defaults to half_pixel.
  const transform =
    upsample || ctx.opset < 11 ? 'asymmetric' : ctx.string('coordinate_transformation_mode', 'half_pixel');
  const inDims = dims(x, ctx);
  const scalesIndex = upsample || ctx.opset < 11 ? 1 : 2;
  const givenScales = upsample && ctx.opset < 9 ? ctx.floats('scales') : ctx.constNumbers(scalesIndex);
  const sizes = !upsample && ctx.opset >= 11 ? ctx.constInts(3) : undefined;
  let scales: number[];
  let outDims: number[];
  if (sizes && sizes.length > 0) {
    outDims = sizes;
    scales = sizes.map((d, i) => d / inDims[i]);
  } else if (givenScales && givenScales.length > 0) {
    scales = givenScales;
    outDims = inDims.map((d, i) => Math.floor(d * scales[i]));
  } else {
    throw new Error('needs scales or sizes');
  }
  // Upsample and Resize-10 pick the floor of the source coordinate.
  const nearestMode = upsample || ctx.opset < 11 ? 'floor' : ctx.string('nearest_mode', 'round_prefer_floor');
  let y = x;
  inDims.forEach((d, axis) => {
    if (outDims[axis] === d && scales[axis] === 1) return;
    const lengthResized = sizes && sizes.length > 0 ? outDims[axis] : d * scales[axis];
    y = resizeAxis(
      y,
      axis,
      resizeTaps(ctx, mode, transform, nearestMode, d, outDims[axis], scales[axis], lengthResized),
    );
  });
  return y === x ? identity(x) : y;
}

// ---------------------------------------------------------------------------------------------
// Index-valued ops. GatherND/ScatterND address the leading k axes with k-tuples: they become a
// Gather/scatter over those axes flattened into one. Data-dependent shapes (NonZero, Compress's
// condition) need their input's values when the graph is built.

/** data [d0..dk-1, ...rest] → [prod(d0..dk-1), ...rest]; k-tuples → flat int64 indices. */
function flattenLeading(ctx: NodeContext, data: Tensor, indices: Tensor) {
  const shape = dims(data, ctx);
  const k = dims(indices, ctx).at(-1)!;
  const leading = shape.slice(0, k);
  let stride = 1;
  const strides = leading.map(() => 0);
  for (let j = k - 1; j >= 0; j--) {
    strides[j] = stride;
    stride *= leading[j];
  }
  const idx = cast(indices, 'int64');
  // Negative indices count from the end of their axis.
  const dimsT = tensor(leading.map(BigInt), { dtype: 'int64' });
  const wrapped = ops.where(ops.less(idx, scalar(0, 'int64')), add(idx, dimsT), idx);
  const flatIdx = sum(mul(wrapped, tensor(strides.map(BigInt), { dtype: 'int64' })), [indices.rank - 1]);
  return { flatData: reshape(data, [prod(leading), ...shape.slice(k)]), flatIdx, rest: shape.slice(k) };
}

function gatherND(ctx: NodeContext): Tensor {
  if (ctx.int('batch_dims', 0) !== 0) ctx.unsupported('batch_dims > 0');
  const { flatData, flatIdx } = flattenLeading(ctx, ctx.input(0), ctx.input(1));
  return ops.gather(flatData, flatIdx, 0);
}

function scatterND(ctx: NodeContext): Tensor {
  const [data, indices, updates] = [ctx.input(0), ctx.input(1), ctx.input(2)];
  const reduction = ctx.string('reduction', 'none');
  if (reduction !== 'none' && reduction !== 'add') ctx.unsupported(`reduction '${reduction}'`);
  const { flatData, flatIdx, rest } = flattenLeading(ctx, data, indices);
  const u = dims(flatIdx, ctx).length === 0 ? 1 : prod(dims(flatIdx, ctx));
  const rows = reshape(updates, [u, ...rest]);
  // Every element of an updated row is addressed: the row index broadcast over the row.
  const rowIdx = broadcastTo(reshape(flatIdx, [u, ...rest.map(() => 1)]), [u, ...rest]);
  const scatterAdd = ops.scatterAdd;
  let out: Tensor;
  if (reduction === 'add') out = scatterAdd(flatData, rowIdx, rows, 0);
  else {
    const hit = ops.greater(
      scatterAdd(ops.zerosLike(flatData, 'float32'), rowIdx, ops.onesLike(rows, 'float32'), 0),
      0,
    );
    out = add(ops.where(hit, ops.zerosLike(flatData), flatData), scatterAdd(ops.zerosLike(flatData), rowIdx, rows, 0));
  }
  return reshape(out, data.shape);
}

function compress(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const cond = ctx.constNumbers(1)!;
  const picked = cond.flatMap((c, i) => (c ? [BigInt(i)] : []));
  const idx = tensor(picked, { dtype: 'int64', shape: [picked.length] });
  const axis = ctx.int('axis');
  if (axis === undefined) return ops.gather(reshape(x, [-1]), idx, 0);
  return ops.gather(x, idx, normalizeAxis('Compress', axis, x.rank));
}

function nonZero(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const values = ctx.constNumbers(0)!;
  const shape = dims(x, ctx);
  const hits: number[][] = [];
  values.forEach((v, flat) => {
    if (!v) return;
    let rem = flat;
    const coord = new Array<number>(shape.length);
    for (let a = shape.length - 1; a >= 0; a--) {
      coord[a] = rem % shape[a];
      rem = Math.floor(rem / shape[a]);
    }
    hits.push(coord);
  });
  const out = shape.flatMap((_, a) => hits.map((c) => BigInt(c[a])));
  return tensor(out, { dtype: 'int64', shape: [shape.length, hits.length] });
}

/**
 * TopK for a constant k: k rounds picking the first not-yet-picked extreme along the axis, so
 * ties go to the lower index as ONNX requires. Fine for the small k of classification and
 * detection heads.
 */
function topK(ctx: NodeContext): Tensor[] {
  const x = ctx.input(0);
  const k = ctx.opset >= 10 ? ctx.constScalar(1)! : ctx.int('k')!;
  const axis = normalizeAxis('TopK', ctx.int('axis', -1), x.rank);
  const largest = ctx.int('largest', 1) === 1;
  if (!isFloat(x.dtype)) ctx.unsupported(`dtype ${x.dtype}`);
  const n = dims(x, ctx)[axis];
  const positions = indicesAlong(n, axis, x.rank);
  const exclude = scalar(largest ? -Infinity : Infinity, x.dtype);
  let picked = ops.less(positions, scalar(0, 'int64')); // all false
  const values: Tensor[] = [];
  const indices: Tensor[] = [];
  for (let j = 0; j < k; j++) {
    // The first not-yet-picked position holding the extreme of the rest (also right when x holds ±inf).
    const rest = ops.where(picked, exclude, x);
    const extreme = (largest ? ops.max : ops.min)(rest, [axis], true);
    const candidate = ops.logicalAnd(ops.equal(rest, extreme), ops.logicalNot(picked));
    const idx = cast(ops.argmax(cast(candidate, 'float32'), axis, true), 'int64');
    values.push(ops.gatherElements(x, idx, axis));
    indices.push(idx);
    picked = ops.logicalOr(picked, ops.equal(positions, idx));
  }
  const concat = ops.concat;
  return k === 1 ? [values[0], indices[0]] : [concat(values, axis), concat(indices, axis)];
}

/** ReverseSequence with constant lengths: a GatherElements along the time axis with reversed indices. */
function reverseSequence(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const lengths = ctx.constInts(1)!;
  const timeAxis = ctx.int('time_axis', 0);
  const batchAxis = ctx.int('batch_axis', 1);
  const shape = dims(x, ctx);
  const total = prod(shape);
  const idx: bigint[] = new Array(total);
  for (let flat = 0; flat < total; flat++) {
    let rem = flat;
    let t = 0;
    let b = 0;
    for (let a = shape.length - 1; a >= 0; a--) {
      const c = rem % shape[a];
      rem = Math.floor(rem / shape[a]);
      if (a === timeAxis) t = c;
      if (a === batchAxis) b = c;
    }
    idx[flat] = BigInt(t < lengths[b] ? lengths[b] - 1 - t : t);
  }
  return ops.gatherElements(x, tensor(idx, { dtype: 'int64', shape }), timeAxis);
}

/**
 * DFT as two matmuls with cos/sin matrices built here: for x = xr + i·xi along the axis,
 * X = Σ x[n]·e^{∓2πikn/N} (inverse: + and a 1/N scale). Real inputs have a last dim of 1,
 * complex ones 2; the output is complex (last dim 2), onesided keeps N/2+1 frequencies.
 */
function dft(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  if (ctx.opset >= 20) ctx.unsupported('DFT-20 (axis as an input)');
  const axis = normalizeAxis('DFT', ctx.int('axis', 1), x.rank - 1);
  return dftAlong(ctx, x, axis, ctx.int('inverse', 0) === 1, ctx.int('onesided', 0) === 1, ctx.constScalar(1));
}

function dftAlong(
  ctx: NodeContext,
  x: Tensor,
  axis: number,
  inverse: boolean,
  onesided: boolean,
  length: number | undefined,
): Tensor {
  const shape = dims(x, ctx);
  const rank = x.rank;
  // Move the signal axis next to the last (complex) axis: [..., N, C].
  const perm = Array.from({ length: rank }, (_, i) => i)
    .filter((i) => i !== axis && i !== rank - 1)
    .concat(axis, rank - 1);
  let moved = transpose(x, perm);
  let n = shape[axis];
  if (length !== undefined && length !== n) {
    const pads: ([number, number] | null)[] = moved.shape.map(() => null);
    if (length > n) {
      pads[rank - 2] = [0, length - n];
      moved = ops.pad(moved, pads);
    } else {
      moved = ops.slice(moved, { starts: [0], ends: [length], axes: [rank - 2] });
    }
    n = length;
  }
  const freqs = onesided ? Math.floor(n / 2) + 1 : n;
  const part = (c: number) =>
    reshape(ops.slice(moved, { starts: [c], ends: [c + 1], axes: [rank - 1] }), moved.shape.slice(0, -1));
  const real = part(0);
  const imag = shape[rank - 1] === 2 ? part(1) : undefined;
  const sign = inverse ? 1 : -1;
  const scale = inverse ? 1 / n : 1;
  const matrix = (f: (a: number) => number) => {
    const m: number[] = [];
    for (let t = 0; t < n; t++) for (let k = 0; k < freqs; k++) m.push(f((2 * Math.PI * k * t) / n) * scale);
    return cast(tensor(m, { dtype: 'float64', shape: [n, freqs] }), x.dtype);
  };
  const cos = matrix(Math.cos);
  const sin = matrix((a) => sign * Math.sin(a));
  // (xr + i xi)(cos + i·sin) with sin already carrying the direction's sign.
  let outReal = matmul(real, cos);
  let outImag = matmul(real, sin);
  if (imag) {
    outReal = sub(outReal, matmul(imag, sin));
    outImag = add(outImag, matmul(imag, cos));
  }
  const complexShape = [...outReal.shape, 1];
  const out = ops.concat([reshape(outReal, complexShape), reshape(outImag, complexShape)], rank - 1);
  const inversePerm = perm.map((_, i) => perm.indexOf(i));
  return transpose(out, inversePerm);
}

/** STFT: frames picked with a constant index matrix, windowed, then a DFT along the frame axis. */
function stft(ctx: NodeContext): Tensor {
  const signal = ctx.input(0);
  const step = ctx.constScalar(1)!;
  const window = ctx.optional(2);
  const frameLength = ctx.constScalar(3) ?? (window ? dims(window, ctx)[0] : undefined);
  if (frameLength === undefined) throw new Error('needs a window or a frame_length');
  const [, length] = dims(signal, ctx);
  const frames = Math.floor((length - frameLength) / step) + 1;
  const idx: bigint[] = [];
  for (let f = 0; f < frames; f++) for (let t = 0; t < frameLength; t++) idx.push(BigInt(f * step + t));
  // [batch, frames, frameLength, C]
  let framed = ops.gather(signal, tensor(idx, { dtype: 'int64', shape: [frames, frameLength] }), 1);
  if (window) framed = mul(framed, reshape(window, [1, 1, frameLength, 1]));
  return dftAlong(ctx, framed, 2, false, ctx.int('onesided', 1) === 1, undefined);
}

/** MaxUnpool: MaxPool's flat indices (into the whole output) scatter the values into zeros. */
function maxUnpool(ctx: NodeContext): Tensor {
  const x = ctx.input(0);
  const indices = ctx.input(1);
  const kernel = ctx.ints('kernel_shape')!;
  const n = kernel.length;
  const strides = ctx.ints('strides') ?? kernel.map(() => 1);
  const pads = ctx.ints('pads') ?? new Array<number>(2 * n).fill(0);
  const [batch, channels] = dims(x, ctx);
  const sp = spatial(ctx, x);
  // Indices address the default output shape; a larger output_shape pads zeros at the end.
  const inferred = [batch, channels, ...sp.map((d, i) => (d - 1) * strides[i] - pads[i] - pads[n + i] + kernel[i])];
  const flatOut = full([prod(inferred)], 0, x.dtype);
  const out = reshape(ops.scatterAdd(flatOut, reshape(indices, [-1]), reshape(x, [-1]), 0), inferred);
  const outShape = ctx.constInts(2);
  if (!outShape || outShape.join() === inferred.join()) return out;
  if (outShape.some((d, i) => d < inferred[i]))
    ctx.unsupported(`output_shape [${outShape}] smaller than the unpooled [${inferred}]`);
  return ops.pad(
    out,
    outShape.map((d, i) => [0, d - inferred[i]] as [number, number]),
  );
}

/** Unique over a constant input (data-dependent output size): computed here, values gathered from x. */
function unique(ctx: NodeContext): Tensor[] {
  const x = ctx.input(0);
  const values = ctx.constNumbers(0)!;
  const axisAttr = ctx.int('axis');
  const src = axisAttr === undefined ? reshape(x, [-1]) : x;
  const axis = axisAttr === undefined ? 0 : normalizeAxis('Unique', axisAttr, x.rank);
  const shape = dims(src, ctx);
  // Slice j along the axis, as a list of numbers (row-major over the other axes).
  const outer = prod(shape.slice(0, axis));
  const inner = prod(shape.slice(axis + 1));
  const sliceOf = (j: number): number[] => {
    const out: number[] = [];
    for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) out.push(values[(o * shape[axis] + j) * inner + i]);
    return out;
  };
  const slices = Array.from({ length: shape[axis] }, (_, j) => sliceOf(j));
  const keyOf = (v: number[]) => v.join(',');
  const first = new Map<string, number>();
  const counts = new Map<string, number>();
  slices.forEach((v, j) => {
    const k = keyOf(v);
    if (!first.has(k)) first.set(k, j);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  });
  let order = [...first.keys()];
  if (ctx.int('sorted', 1) === 1) {
    const compare = (a: number[], b: number[]) => {
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
      return 0;
    };
    order = order.sort((a, b) => compare(slices[first.get(a)!], slices[first.get(b)!]));
  }
  const position = new Map(order.map((k, i) => [k, i]));
  const int64 = (v: number[]) => tensor(v.map(BigInt), { dtype: 'int64', shape: [v.length] });
  const firstIdx = order.map((k) => first.get(k)!);
  return [
    ops.gather(src, int64(firstIdx), axis),
    int64(firstIdx),
    int64(slices.map((v) => position.get(keyOf(v))!)),
    int64(order.map((k) => counts.get(k)!)),
  ];
}

// ---------------------------------------------------------------------------------------------
// Recurrent layers (RNN, GRU, LSTM), unrolled over the (concrete) sequence length.

const RNN_ACTIVATIONS: Record<string, (ctx: NodeContext, x: Tensor) => Tensor> = {
  Tanh: (_ctx, x) => ops.tanh(x),
  Sigmoid: (_ctx, x) => ops.sigmoid(x),
  Relu: (_ctx, x) => ops.relu(x),
};

function recurrent(kind: 'RNN' | 'GRU' | 'LSTM'): OnnxConverter {
  const gates = { RNN: 1, GRU: 3, LSTM: 4 }[kind];
  const defaults = { RNN: ['Tanh'], GRU: ['Sigmoid', 'Tanh'], LSTM: ['Sigmoid', 'Tanh', 'Tanh'] }[kind];
  return (ctx) => {
    if (ctx.has('clip')) ctx.unsupported('clip');
    if (ctx.int('input_forget', 0) !== 0) ctx.unsupported('input_forget');
    const names = ctx.string('direction', 'forward') === 'bidirectional' ? [...defaults, ...defaults] : defaults;
    const given = ctx.node.attribute
      ?.find((a) => a.name === 'activations')
      ?.strings?.map((b) => new TextDecoder().decode(b));
    if (ctx.has('activation_alpha') || ctx.has('activation_beta')) ctx.unsupported('activation_alpha/beta');
    const acts = (given ?? names).map((n) => RNN_ACTIVATIONS[n] ?? ctx.unsupported(`activation '${n}'`));
    const batchFirst = ctx.int('layout', 0) === 1;
    const direction = ctx.string('direction', 'forward');
    const dirs = direction === 'bidirectional' ? 2 : 1;
    let x = ctx.input(0);
    if (batchFirst) x = transpose(x, [1, 0, 2]);
    const [seq, batch] = dims(x, ctx);
    // Per-sequence lengths are supported when every sequence is full length.
    if (ctx.optional(4) && ctx.constInts(4)!.some((n) => n !== seq))
      ctx.unsupported('sequence_lens shorter than the sequence');
    const w = ctx.input(1);
    const r = ctx.input(2);
    const hidden = ctx.int('hidden_size') ?? dims(r, ctx)[2];
    const b = ctx.optional(3);
    const h0 = ctx.optional(5);
    const c0 = kind === 'LSTM' ? ctx.optional(6) : undefined;
    const p = kind === 'LSTM' ? ctx.optional(7) : undefined;
    const split = ops.split;
    const concat = ops.concat;
    const pick = (t: Tensor, d: number): Tensor =>
      reshape(split(t, dims(t, ctx)[0] === 1 ? [1] : [1, 1], 0)[d], dims(t, ctx).slice(1));
    const steps: Tensor[] = seq === 1 ? [x] : split(x, new Array<number>(seq).fill(1), 0);
    const xs = steps.map((t) => reshape(t, [batch, dims(x, ctx)[2]]));
    const ys: Tensor[][] = [];
    const hs: Tensor[] = [];
    const cs: Tensor[] = [];
    for (let d = 0; d < dirs; d++) {
      const f = acts[d * defaults.length];
      const g = acts[d * defaults.length + 1];
      const hAct = acts[d * defaults.length + 2];
      const wT = transpose(pick(w, d)); // [input, G*hidden]
      const rParts: Tensor[] = gates === 1 ? [pick(r, d)] : split(pick(r, d), new Array<number>(gates).fill(hidden), 0);
      const rT = rParts.map((t) => transpose(t)); // each [hidden, hidden]
      let wb: Tensor | undefined;
      let rb: Tensor[] = [];
      if (b) {
        const [wbd, rbd] = split(pick(b, d), [gates * hidden, gates * hidden], 0);
        wb = wbd;
        rb = gates === 1 ? [rbd] : split(rbd, new Array<number>(gates).fill(hidden), 0);
      }
      const peep = p ? split(pick(p, d), [hidden, hidden, hidden], 0) : undefined;
      let h = h0 ? pick(h0, d) : full([batch, hidden], 0, x.dtype);
      let c = c0 ? pick(c0, d) : ops.zerosLike(h);
      const order = direction === 'reverse' || d === 1 ? [...xs.keys()].reverse() : [...xs.keys()];
      const out: Tensor[] = new Array(seq);
      for (const t of order) {
        let xw = matmul(xs[t], wT);
        if (wb) xw = add(xw, wb);
        const xg: Tensor[] = gates === 1 ? [xw] : split(xw, new Array<number>(gates).fill(hidden), 1);
        const rec = (k: number, hh: Tensor): Tensor => (rb[k] ? add(matmul(hh, rT[k]), rb[k]) : matmul(hh, rT[k]));
        if (kind === 'RNN') {
          h = f(ctx, add(xg[0], rec(0, h)));
        } else if (kind === 'GRU') {
          const z = f(ctx, add(xg[0], rec(0, h)));
          const rr = f(ctx, add(xg[1], rec(1, h)));
          const hh = ctx.int('linear_before_reset', 0)
            ? g(ctx, add(xg[2], mul(rr, rec(2, h))))
            : g(ctx, add(xg[2], rec(2, mul(rr, h))));
          h = add(mul(sub(1, z), hh), mul(z, h));
        } else {
          let i = add(xg[0], rec(0, h));
          let fg = add(xg[2], rec(2, h));
          if (peep) {
            i = add(i, mul(peep[0], c));
            fg = add(fg, mul(peep[2], c));
          }
          const cc = g(ctx, add(xg[3], rec(3, h)));
          c = add(mul(f(ctx, fg), c), mul(f(ctx, i), cc));
          let o = add(xg[1], rec(1, h));
          if (peep) o = add(o, mul(peep[1], c));
          h = mul(f(ctx, o), hAct(ctx, c));
        }
        out[t] = reshape(h, [1, 1, batch, hidden]);
      }
      ys.push(out);
      hs.push(reshape(h, [1, batch, hidden]));
      cs.push(reshape(c, [1, batch, hidden]));
    }
    const cat = (ts: Tensor[], axis: number) => (ts.length === 1 ? ts[0] : concat(ts, axis));
    let y = cat(
      ys.map((out) => cat(out, 0)),
      1,
    ); // [seq, dirs, batch, hidden]
    let yh = cat(hs, 0);
    let yc = cat(cs, 0);
    if (batchFirst) {
      y = transpose(y, [2, 0, 1, 3]);
      yh = transpose(yh, [1, 0, 2]);
      yc = transpose(yc, [1, 0, 2]);
    }
    return kind === 'LSTM' ? [y, yh, yc] : [y, yh];
  };
}

// ---------------------------------------------------------------------------------------------
// The table

export const ONNX_OPS: Record<string, OnnxConverter> = {
  // element-wise arithmetic
  Add: binary(add),
  Sub: binary(sub),
  Mul: shapeAware(binary(mul)),
  Div: binary(div),
  Pow: powNode,
  Neg: (ctx) => neg(ctx.input(0)),
  Abs: unary('abs'),
  Exp: unary('exp'),
  Log: unary('log'),
  Sqrt: unary('sqrt'),
  Reciprocal: unary('reciprocal'),
  Floor: unary('floor'),
  Ceil: unary('ceil'),
  Round: unary('round'),
  Sign: unary('sign'),
  Erf: unary('erf'),
  Sin: unary('sin'),
  Cos: unary('cos'),
  Tan: unary('tan'),
  Asin: unary('asin'),
  Acos: unary('acos'),
  Atan: unary('atan'),
  Sinh: unary('sinh'),
  Cosh: unary('cosh'),
  Asinh: unary('asinh'),
  Acosh: unary('acosh'),
  Atanh: unary('atanh'),
  Max: variadic(() => ops.maximum),
  Min: variadic(() => ops.minimum),
  Sum: variadic(() => add),
  Mean: meanNode,
  Mod: modNode,
  // comparisons and logic
  Equal: shapeAware(binary(ops.equal)),
  Less: binary(ops.less),
  LessOrEqual: binary(ops.lessEqual),
  Greater: binary(ops.greater),
  GreaterOrEqual: binary(ops.greaterEqual),
  And: binary(ops.logicalAnd),
  Or: binary(ops.logicalOr),
  Xor: binary(logicalXor),
  Not: unary('logicalNot'),
  Where: shapeAware(whereNode),
  IsInf: isInf,
  IsNaN: (ctx) => ops.notEqual(ctx.input(0), ctx.input(0)),
  Clip: clipNode,
  // activations
  Relu: unary('relu'),
  LeakyRelu: (ctx) => ops.leakyRelu(ctx.input(0), ctx.float('alpha', 0.01)),
  Elu: (ctx) => ops.elu(ctx.input(0), ctx.float('alpha', 1)),
  Selu: selu,
  Celu: celu,
  PRelu: prelu,
  ThresholdedRelu: thresholdedRelu,
  Shrink: shrink,
  Sigmoid: unary('sigmoid'),
  HardSigmoid: (ctx) => ops.hardSigmoid(ctx.input(0), { alpha: ctx.float('alpha', 0.2), beta: ctx.float('beta', 0.5) }),
  HardSwish: (ctx) => mul(ctx.input(0), ops.hardSigmoid(ctx.input(0), { alpha: 1 / 6, beta: 0.5 })),
  Tanh: unary('tanh'),
  Softplus: unary('softplus'),
  Softsign: unary('softsign'),
  Softmax: (ctx) => softmaxLike(ctx, 'softmax'),
  LogSoftmax: (ctx) => softmaxLike(ctx, 'logSoftmax'),
  // reductions
  ReduceSum: reduction(13, (_c, x, axes, keep) => sum(x, axes, keep)),
  ReduceMean: reduction(18, (_c, x, axes, keep) => ops.mean(x, axes, keep)),
  ReduceMax: reduction(18, (_c, x, axes, keep) => ops.max(x, axes, keep)),
  ReduceMin: reduction(18, (_c, x, axes, keep) => ops.min(x, axes, keep)),
  ReduceProd: reduction(18, (_c, x, axes, keep) => ops.prod(x, axes, keep)),
  ReduceL1: reduction(18, (_c, x, axes, keep) => sum(ops.abs(x), axes, keep)),
  ReduceL2: reduction(18, (_c, x, axes, keep) => ops.sqrt(sum(mul(x, x), axes, keep))),
  ReduceSumSquare: reduction(18, (_c, x, axes, keep) => sum(mul(x, x), axes, keep)),
  ReduceLogSum: reduction(18, (_c, x, axes, keep) => ops.log(sum(x, axes, keep))),
  ReduceLogSumExp: reduction(18, (_c, x, axes, keep) => ops.logSumExp(x, axes, keep)),
  ArgMax: argReduce('argmax'),
  ArgMin: argReduce('argmin'),
  // linear algebra
  MatMul: binary(matmul),
  Gemm: gemm,
  // shapes and data movement
  Identity: shapeAware((ctx) => identity(ctx.input(0))),
  Cast: shapeAware(castNode),
  CastLike: (ctx) => cast(ctx.input(0), ctx.input(1).dtype),
  Constant: constantNode,
  ConstantOfShape: constantOfShape,
  Shape: shapeNode,
  Size: (ctx) => scalar(prod(dims(ctx.input(0), ctx)), 'int64'),
  Reshape: shapeAware(reshapeNode),
  Flatten: flattenNode,
  Squeeze: shapeAware(squeeze),
  Unsqueeze: shapeAware(unsqueeze),
  Transpose: (ctx) => transpose(ctx.input(0), ctx.ints('perm')),
  Expand: expandNode,
  Concat: shapeAware(concatNode),
  Slice: shapeAware(sliceNode),
  Pad: padNode,
  Split: splitNode,
  Tile: (ctx) => ops.tile(ctx.input(0), ctx.constInts(1)!),
  Gather: shapeAware((ctx) => ops.gather(ctx.input(0), ctx.input(1), ctx.int('axis', 0))),
  ScatterElements: scatterElements,
  Scatter: scatterElements,
  GatherElements: (ctx) => ops.gatherElements(ctx.input(0), ctx.input(1), ctx.int('axis', 0)),
  Range: rangeNode,
  // convolution, pooling, normalization
  Conv: conv,
  ConvTranspose: convTranspose,
  MaxPool: maxPool,
  MaxUnpool: maxUnpool,
  AveragePool: averagePool,
  GlobalAveragePool: globalPool('avg'),
  GlobalMaxPool: globalPool('max'),
  BatchNormalization: batchNormalization,
  LayerNormalization: layerNormalization,
  InstanceNormalization: instanceNormalization,
  Dropout: dropout,
  Hardmax: hardmax,
  Trilu: trilu,
  CumSum: cumSum,
  DepthToSpace: depthToSpace,
  SpaceToDepth: spaceToDepth,
  OneHot: oneHot,
  EyeLike: eyeLike,
  MeanVarianceNormalization: meanVarianceNormalization,
  LRN: lrn,
  RNN: recurrent('RNN'),
  GRU: recurrent('GRU'),
  LSTM: recurrent('LSTM'),
  HannWindow: windowFunction('hann'),
  HammingWindow: windowFunction('hamming'),
  BlackmanWindow: windowFunction('blackman'),
  Einsum: einsum,
  Resize: resize,
  Upsample: resize,
  GatherND: gatherND,
  ScatterND: scatterND,
  Compress: compress,
  NonZero: nonZero,
  Unique: unique,
  TopK: topK,
  ReverseSequence: reverseSequence,
  DFT: dft,
  STFT: stft,
  // losses
  SoftmaxCrossEntropyLoss: softmaxCrossEntropyLoss,
  NegativeLogLikelihoodLoss: negativeLogLikelihoodLoss,
};

/** The ONNX op types the importer knows (some need ops that may be missing from this build). */
export function supportedOnnxOps(): string[] {
  return Object.keys(ONNX_OPS).sort();
}
