/**
 * An ONNX model as a trainable layer (`importOnnxLayer(bytes)`): the graph runs through the
 * importer's function over Lepton ops, and its float initializers become the layer's weights —
 * registered, so `fit` trains them, the model's weights file saves them and `trainable = false`
 * freezes them. How a network exported from PyTorch (torch.onnx.export) is fine-tuned in Lepton.
 *
 * Which initializers are weights: float tensors of more than one element read by a node at a
 * data position (Conv/ConvTranspose weight and bias, Gemm/MatMul operands, element-wise operands,
 * normalization scales and biases, Concat and Gather data, the data input of shape ops). Values
 * the exporter stored once for several equal parameters are untied again (`untieInitializers`). BatchNormalization's mean and variance
 * are non-trainable weights (saved, never differentiated: imported BatchNorm runs in inference
 * mode, as exported). Everything else (shapes, axes, pads, Clip bounds, Resize scales, scalars)
 * stays a constant of the graph, because the importer needs those values to build it.
 */
import { ShapeError, UnsupportedOnnxError } from '../../engine/errors.js';
import { type ImportedModel, importOnnx } from '../../engine/onnx/import.js';
import { type ModelProto, type TensorProto, decodeModel, encodeModel } from '../../engine/onnx/proto.js';
import { shapeStr } from '../../engine/shape.js';
import { Tensor, Variable } from '../../engine/tensor.js';
import { Layer, type LayerOptions, registerLayer } from '../layer.js';
import { toChannelsFirst, toChannelsLast } from './util.js';

export interface OnnxLayerOptions extends LayerOptions {
  /**
   * Values of the graph to return, by name: graph outputs or any intermediate value (e.g. the
   * features before a classifier). Default: the graph's outputs. Nodes that no requested value
   * needs are dropped, so ops after the cut need no support.
   */
  outputs?: string[];
  /**
   * true: rank-4 inputs arrive channels-last ([N, H, W, C], Lepton's image layout) and are
   * transposed to the graph's NCHW; rank-4 outputs are transposed back. Default false: tensors
   * pass in the graph's own layout.
   */
  channelsLast?: boolean;
}

// Node input positions that carry learnable data (any other position is read as a constant or
// is an activation). '*' = every input.
const WEIGHT_INPUTS: Record<string, number[] | '*'> = {
  Conv: [1, 2],
  ConvTranspose: [1, 2],
  Gemm: [0, 1, 2],
  MatMul: [0, 1],
  Add: '*',
  Sub: '*',
  Mul: '*',
  Div: '*',
  BatchNormalization: [1, 2, 3, 4],
  LayerNormalization: [1, 2],
  InstanceNormalization: [1, 2],
  PRelu: [1],
  Concat: '*',
  Gather: [0],
  Einsum: '*',
  // Data moved by shape ops (a class token expanded to the batch, a transposed weight).
  Expand: [0],
  Tile: [0],
  Reshape: [0],
  Transpose: [0],
  Unsqueeze: [0],
  Squeeze: [0],
  Flatten: [0],
  Slice: [0],
  Split: [0],
  Where: [1, 2],
};
// Inputs that are state but not trained: BatchNormalization's running mean and variance.
const BUFFER_INPUTS: Record<string, number[]> = { BatchNormalization: [3, 4] };

/**
 * torch.onnx.export stores parameters with equal values once (all-zero biases, all-one norm
 * scales) and names the others by `Identity(stored)` nodes. Those are separate parameters in the
 * model that was exported: each Identity becomes its own initializer again (under the parameter's
 * name), so fine-tuning does not tie them.
 */
function untieInitializers(proto: ModelProto): ModelProto {
  const graph = proto.graph;
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const copies: TensorProto[] = [];
  const node = graph.node.filter((n) => {
    const source = n.op_type === 'Identity' ? inits.get(n.input[0]) : undefined;
    if (!source || inits.has(n.output[0])) return true;
    copies.push({ ...source, name: n.output[0] });
    return false;
  });
  return { ...proto, graph: { ...graph, node, initializer: [...(graph.initializer ?? []), ...copies] } };
}

/** Keeps only the nodes the wanted values depend on (in graph order). */
function prune(proto: ModelProto, wanted: string[]): ModelProto {
  const graph = proto.graph;
  const produced = new Map<string, number>();
  graph.node.forEach((n, i) => n.output.forEach((o) => o && produced.set(o, i)));
  const known = new Set([
    ...(graph.input ?? []).map((v) => v.name),
    ...(graph.initializer ?? []).map((t) => t.name ?? ''),
  ]);
  for (const name of wanted) {
    if (!produced.has(name) && !known.has(name)) {
      const some = [...produced.keys()].slice(-12).join(', ');
      throw new Error(
        `importOnnxLayer: the graph has no value named '${name}' (graph outputs: ${graph.output.map((o) => o.name).join(', ')}; last node outputs: ${some})`,
      );
    }
  }
  const keep = new Set<number>();
  const stack = [...wanted];
  while (stack.length) {
    const i = produced.get(stack.pop()!);
    if (i === undefined || keep.has(i)) continue;
    keep.add(i);
    for (const input of graph.node[i].input) if (input) stack.push(input);
  }
  const used = new Set(graph.node.filter((_, i) => keep.has(i)).flatMap((n) => n.input));
  for (const w of wanted) used.add(w);
  return {
    ...proto,
    graph: {
      ...graph,
      node: graph.node.filter((_, i) => keep.has(i)),
      initializer: (graph.initializer ?? []).filter((t) => used.has(t.name ?? '')),
      input: (graph.input ?? []).filter((v) => used.has(v.name)),
      output: wanted.map((name) => ({ name })),
    },
  };
}

/** Initializer name → 'weight' | 'buffer' by how nodes read it (see the file comment). */
function classifyInitializers(proto: ModelProto): Map<string, 'weight' | 'buffer'> {
  const inits = new Map((proto.graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const kinds = new Map<string, 'weight' | 'buffer'>();
  const constant = new Set<string>();
  for (const node of proto.graph.node) {
    const positions = WEIGHT_INPUTS[node.op_type];
    node.input.forEach((name, i) => {
      if (!inits.has(name)) return;
      if (!(positions === '*' || positions?.includes(i))) constant.add(name);
      else if (BUFFER_INPUTS[node.op_type]?.includes(i)) kinds.set(name, 'buffer');
      else if (kinds.get(name) !== 'buffer') kinds.set(name, 'weight');
    });
  }
  for (const [name, t] of inits) {
    const size = (t.dims ?? []).reduce((a, b) => a * Number(b), 1);
    const float = t.data_type === 1 || t.data_type === 11 || t.data_type === 10 || t.data_type === 16;
    if (constant.has(name) || !float || size <= 1) kinds.delete(name);
  }
  return kinds;
}

/** A Module attribute name for an initializer ('layer1.0.conv1.weight' → 'w_layer1_0_conv1_weight'). */
function attributeName(onnxName: string, taken: Set<string>): string {
  const base = `w_${onnxName.replace(/[^A-Za-z0-9_]/g, '_')}`;
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** An ONNX graph as a Keras layer with trainable weights. */
export class OnnxLayer extends Layer {
  static override className = 'OnnxLayer';
  readonly channelsLast: boolean;
  readonly outputNames: string[];
  private readonly imported: ImportedModel;
  private readonly proto: ModelProto;
  /** [initializer name, attribute holding its Variable]. */
  private readonly slots: [string, string][] = [];

  constructor(model: Uint8Array | ModelProto, options: OnnxLayerOptions = {}) {
    super(options);
    const full = model instanceof Uint8Array ? decodeModel(model) : model;
    if (!full.graph) throw new Error('importOnnxLayer: the model has no graph');
    this.outputNames = options.outputs ?? full.graph.output.map((o) => o.name);
    if (!this.outputNames.length) throw new Error('importOnnxLayer: outputs is empty');
    this.proto = prune(untieInitializers(full), this.outputNames);
    this.channelsLast = options.channelsLast ?? false;
    try {
      this.imported = importOnnx(this.proto);
    } catch (e) {
      if (e instanceof UnsupportedOnnxError) throw new UnsupportedOnnxError(e.opType, `importOnnxLayer: ${e.message}`);
      throw e;
    }
    const taken = new Set<string>();
    for (const [name, kind] of classifyInitializers(this.proto)) {
      const value = this.imported.initializers.get(name)!;
      const attr = attributeName(name, taken);
      const v = new Variable(value, { name: `${this.name}/${name}`, trainable: kind === 'weight' });
      if (kind === 'buffer') this.registerBuffer(attr, v);
      else this.registerParameter(attr, v);
      this.slots.push([name, attr]);
    }
    this.built = true;
  }

  /** The graph's inputs (name, dtype, shape with symbolic dims), in the order `apply` takes them. */
  get graphInputs(): ImportedModel['inputs'] {
    return this.imported.inputs;
  }

  /** Variable by ONNX initializer name. */
  weightByOnnxName(name: string): Variable | undefined {
    const slot = this.slots.find(([n]) => n === name);
    return slot ? ((this as unknown as Record<string, Variable>)[slot[1]] ?? undefined) : undefined;
  }

  override call(inputs: Tensor | Tensor[]): Tensor | Tensor[] {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const specs = this.imported.inputs;
    if (list.length !== specs.length)
      throw new ShapeError(
        `expects ${specs.length} input(s) (${specs.map((s) => `'${s.name}' ${shapeStr(s.shape)}`).join(', ')}), got ${list.length}`,
      );
    const args = list.map((x, i) => {
      const spec = specs[i];
      const t = this.channelsLast && x.rank === 4 ? toChannelsFirst(x) : x;
      const bad =
        t.rank !== spec.shape.length ||
        spec.shape.some((d, a) => typeof d === 'number' && typeof t.shape[a] === 'number' && d !== t.shape[a]);
      if (bad) {
        const layout = this.channelsLast ? ' after the channels-last → NCHW transpose' : '';
        const onlyBatch =
          t.rank === spec.shape.length &&
          spec.shape.every((d, a) => a === 0 || typeof d !== 'number' || d === t.shape[a]);
        const hint = onlyBatch
          ? `; the graph was exported for batch ${spec.shape[0]} only (export with dynamic_axes={'${spec.name}': {0: 'batch'}} in torch.onnx.export)`
          : !this.channelsLast && x.rank === 4
            ? '; channels-last images need importOnnxLayer(bytes, { channelsLast: true })'
            : '';
        throw new ShapeError(
          `graph input '${spec.name}' expects ${shapeStr(spec.shape)}, got ${shapeStr(t.shape)}${layout}${hint}`,
        );
      }
      return t;
    });
    // Read each weight at call time: functionalCall (and fit's tracing) may substitute it.
    const params: Record<string, Tensor> = {};
    for (const [name, attr] of this.slots) params[name] = (this as unknown as Record<string, Tensor>)[attr];
    const outs = this.imported
      .functionalCall(params, ...args)
      .map((y) => (this.channelsLast && y.rank === 4 ? toChannelsLast(y) : y));
    return outs.length === 1 ? outs[0] : outs;
  }

  /**
   * The graph travels in the config with the weights' data left out (they are in the model's
   * weights file), so a saved model folder rebuilds the layer without the original .onnx file.
   */
  override getConfig(): Record<string, any> {
    const weights = new Set(this.slots.map(([n]) => n));
    const stripped: ModelProto = {
      ...this.proto,
      graph: {
        ...this.proto.graph,
        initializer: (this.proto.graph.initializer ?? []).map((t) =>
          weights.has(t.name ?? '') ? { name: t.name, dims: t.dims, data_type: t.data_type } : t,
        ),
      },
    };
    return {
      ...super.getConfig(),
      onnx: base64(encodeModel(stripped)),
      weightsOmitted: [...weights],
      outputs: this.outputNames,
      channelsLast: this.channelsLast,
    };
  }

  static override fromConfig(c: Record<string, any>): OnnxLayer {
    const { onnx, weightsOmitted, ...rest } = c;
    const proto = decodeModel(new Uint8Array(Buffer.from(onnx as string, 'base64')));
    // Zeros stand in for the omitted weights until the weights file is loaded over them.
    const omitted = new Set<string>(weightsOmitted ?? []);
    for (const t of proto.graph.initializer ?? []) {
      if (!omitted.has(t.name ?? '')) continue;
      const size = (t.dims ?? []).reduce((a, b) => a * Number(b), 1);
      t.raw_data = new Uint8Array(size * (t.data_type === 11 ? 8 : t.data_type === 1 ? 4 : 2));
    }
    return new OnnxLayer(proto, rest);
  }
}
registerLayer(OnnxLayer);

/**
 * Imports an ONNX model (e.g. from `torch.onnx.export`) as a trainable layer: use it alone
 * (`layer.apply(x)`) or as the backbone of a functional model, freeze it with `trainable = false`.
 * Errors: `UnsupportedOnnxError` names an op Lepton cannot import; input shapes that do not fit
 * the graph's are a ShapeError naming the graph input.
 */
export function importOnnxLayer(model: Uint8Array | ModelProto, options: OnnxLayerOptions = {}): OnnxLayer {
  return new OnnxLayer(model, options);
}
