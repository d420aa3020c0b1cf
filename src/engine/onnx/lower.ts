/**
 * Lowering: a trace (or the part of it the outputs need) becomes one ONNX graph for a target.
 * The trace is first simplified by the algebraic trace passes; op definitions then emit nodes
 * through LowerCtx; this module decides value names, graph inputs (placeholders, variables, random
 * inputs) and initializers (captured constants, variables when exporting). Afterwards the target's
 * graph passes run (src/engine/passes/pipeline.ts): e.g. nodes nobody reads are dropped and graph
 * outputs are written by their producers.
 */
import { type DType, ONNX_ELEM_TYPE } from '../dtype.js';
import type { LoweredValue } from '../op.js';
import { type Dim, shapeStr } from '../shape.js';
import { Tensor, Variable, toHost } from '../tensor.js';
import type { Node, Trace } from '../trace.js';
import { type GraphPass, OnnxGraph } from '../passes/graph.js';
import { runGraphPasses, simplifyTrace } from '../passes/pipeline.js';
import type { TracePass } from '../passes/trace.js';
import { nchwcBlockSize } from '../runtime/nchwc.js';
import type { SessionOptions } from '../runtime/session.js';
import { LowerCtx, OPSET, type Target } from './ctx.js';
import { type ModelProto, type ValueInfoProto, encodeModel, tensorProtoFromHost } from './proto.js';

export { LowerCtx, OPSET, FloatAttr, float, type AttrValue, type Target } from './ctx.js';

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
  /**
   * What the graph is for: 'ort-cpu' (default: run by this process's onnxruntime; may use ORT's
   * internal NCHWc kernels) or 'portable' (files for any ONNX runtime: standard operators only).
   */
  target?: Target;
  /** The passes to run instead of the defaults (tests compare graphs with and without a rewrite). */
  passes?: { trace?: readonly TracePass[]; graph?: readonly GraphPass[] };
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
  const target = options.target ?? 'ort-cpu';
  simplifyTrace(trace, options.passes?.trace);
  const ctx = new LowerCtx(target, target === 'ort-cpu' ? nchwcBlockSize() : 0);
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
      throw new Error(
        `lowering ${node.op.name} ${ins.map((v) => shapeStr(v.shape)).join(', ')}: ${(e as Error).message}`,
      );
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
  runGraphPasses(
    new OnnxGraph(target, ctx.nodes, ctx.initializers, inputNames, outputNames, ctx.hints),
    options.passes?.graph,
  );

  const model: ModelProto = {
    ir_version: 8,
    producer_name: 'lepton',
    producer_version: '0.1.0',
    doc_string: options.docString,
    // Nodes of other domains (ORT's com.microsoft.nchwc kernels) are all at version 1.
    opset_import: [
      { domain: '', version: OPSET },
      ...[...new Set(ctx.nodes.map((n) => n.domain).filter((d): d is string => !!d))].map((domain) => ({
        domain,
        version: 1,
      })),
    ],
    graph: {
      name: options.graphName ?? 'lepton',
      node: ctx.nodes,
      initializer: ctx.initializers,
      input: graphInputs,
      output: graphOutputs,
    },
    metadata_props: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  return {
    model,
    bytes: encodeModel(model),
    inputNames,
    inputBindings,
    outputNames,
    sessionOptions: sessionOptionsFor(trace, needed),
  };
}

/**
 * ORT fuses x*sigmoid(x) into QuickGelu, which has no float64 kernel: a float64 graph with that
 * pattern would fail to load. Graphs holding float64 values switch that one fusion off.
 */
function sessionOptionsFor(trace: Trace, needed: Set<Node>): SessionOptions {
  const float64 =
    [...needed].some((n) => n.outputs.some((t) => t.dtype === 'float64')) ||
    trace.inputs.some((t) => t.dtype === 'float64');
  return float64 ? { extra: { optimization: { disable_specified_optimizers: 'QuickGeluFusion' } } } : {};
}
