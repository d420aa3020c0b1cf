/**
 * Models: a Model is a Layer made of layers. Functional models are graphs recorded by calling
 * layers on symbolic Keras tensors (`input()` → layers → `model({inputs, outputs})`); Sequential
 * models are linear graphs built from a list of layers. Subclassed models override `call`.
 * This package knows nothing of training: src/train/trainer.ts mixes compile/fit/evaluate/
 * predict/save/exportOnnx into Model (Keras 3: `class Model(Trainer, Layer)`).
 */
import type { DType } from '../engine/dtype.js';
import { shapeStr } from '../engine/shape.js';
import { Tensor } from '../engine/tensor.js';
import { isPlainObject } from '../engine/tree.js';
import {
  type CallOptions,
  type KerasShape,
  KerasTensor,
  Layer,
  type LayerConfig,
  type LayerNode,
  type LayerOptions,
  layerFromConfig,
  registerLayer,
  serializeLayer,
} from './layer.js';
import { Module } from './module.js';

// ---------------------------------------------------------------------------------------------
// Input

export interface InputOptions {
  /** Shape of one example, without the batch dimension (null for unknown sizes). */
  shape: KerasShape;
  dtype?: DType;
  name?: string;
  batchSize?: number;
}

/** The layer behind `input()`: it has no weights; its node starts the graph. */
export class InputLayer extends Layer {
  static override className = 'InputLayer';
  readonly batchShape: KerasShape;
  readonly output: KerasTensor;

  constructor(options: InputOptions & LayerOptions) {
    super({ name: options.name, dtype: options.dtype });
    if (!Array.isArray(options.shape))
      throw new Error(`input: 'shape' must be an array (one example, without the batch dimension)`);
    this.batchShape = [options.batchSize ?? null, ...options.shape];
    this.built = true;
    const outputs: KerasTensor[] = [];
    const node: LayerNode = { layer: this, inputs: [], inputIsList: false, outputs, outputIsList: false, callArgs: {} };
    this.output = new KerasTensor(this.batchShape, this.dtype, node, 0, this.name);
    outputs.push(this.output);
  }

  override call(inputs: Tensor): Tensor {
    return inputs;
  }

  override getConfig(): Record<string, any> {
    return {
      name: this.name,
      dtype: this.dtype,
      shape: this.batchShape.slice(1),
      batchSize: this.batchShape[0] ?? undefined,
    };
  }

  static override fromConfig(config: Record<string, any>): InputLayer {
    return new InputLayer(config as InputOptions);
  }
}
registerLayer(InputLayer);

/** A symbolic input of a functional model (Keras `keras.Input`). */
export function input(options: InputOptions): KerasTensor {
  return new InputLayer(options).output;
}

// ---------------------------------------------------------------------------------------------
// Graph

interface Graph {
  inputs: KerasTensor[];
  outputs: KerasTensor[];
  /** Nodes in execution order (input nodes excluded). */
  nodes: LayerNode[];
  /** Layers in order of first use, input layers first. */
  layers: Layer[];
}

function buildGraph(inputs: KerasTensor[], outputs: KerasTensor[], who: string): Graph {
  const inputSet = new Set(inputs);
  const order: LayerNode[] = [];
  const visited = new Set<LayerNode>();
  const reachedInputs = new Set<KerasTensor>();
  const visit = (t: KerasTensor, path: string[]): void => {
    if (inputSet.has(t)) {
      reachedInputs.add(t);
      return;
    }
    const node = t.node;
    if (!node || node.inputs.length === 0) {
      throw new Error(
        `${who}: output depends on ${t.name} (${node?.layer.describe() ?? 'unknown'}), which is not among the model inputs ` +
          `[${inputs.map((i) => i.name).join(', ')}]`,
      );
    }
    if (visited.has(node)) return;
    visited.add(node);
    for (const i of node.inputs) visit(i, [...path, node.layer.name]);
    order.push(node);
  };
  for (const o of outputs) {
    if (!(o instanceof KerasTensor))
      throw new Error(`${who}: outputs must be symbolic tensors from layers called on input() tensors`);
    visit(o, []);
  }
  for (const i of inputs) {
    if (!(i instanceof KerasTensor) || !(i.node?.layer instanceof InputLayer)) {
      throw new Error(`${who}: inputs must be tensors created by input()`);
    }
  }
  const layers: Layer[] = [];
  const seen = new Set<Layer>();
  for (const l of [...inputs.map((i) => i.node!.layer), ...order.map((n) => n.layer)]) {
    if (!seen.has(l)) {
      seen.add(l);
      layers.push(l);
    }
  }
  return { inputs, outputs, nodes: order, layers };
}

export interface TensorSpecInfo {
  name: string;
  shape: KerasShape;
  dtype: DType;
}

export interface ModelArgs {
  inputs?: KerasTensor | KerasTensor[] | Record<string, KerasTensor>;
  outputs?: KerasTensor | KerasTensor[] | Record<string, KerasTensor>;
  name?: string;
}

export type ModelInputs = Tensor | Tensor[] | Record<string, Tensor>;

export class Model extends Layer {
  static override className = 'Functional';
  // The recorded graph (functional and sequential models); undefined for subclassed models.
  protected layerGraph?: Graph;
  // How the graph's inputs and outputs are given and returned: a tensor, a list, or a record (names).
  private outputNames?: string[];
  private outputsAsList = false;
  private inputsAsList = false;
  private inputNames?: string[];
  // Subclassed models: the input dtypes of the first call (for inputSpecs).
  private inputDtypes?: DType[];
  protected override get autocastInputs(): boolean {
    return false;
  }

  constructor(args: ModelArgs & LayerOptions = {}) {
    super({ ...args, name: args.name ?? undefined });
    if (args.inputs !== undefined || args.outputs !== undefined) {
      if (args.inputs === undefined || args.outputs === undefined)
        throw new Error(`model '${this.name}': give both inputs and outputs`);
      const ins = asKerasList(args.inputs);
      const outs = asKerasList(args.outputs);
      this.inputsAsList = Array.isArray(args.inputs) || isPlainObject(args.inputs);
      if (isPlainObject(args.inputs)) this.inputNames = Object.keys(args.inputs);
      this.outputsAsList = Array.isArray(args.outputs);
      if (isPlainObject(args.outputs)) this.outputNames = Object.keys(args.outputs);
      this.setGraph(buildGraph(ins, outs, `model '${this.name}'`));
    }
  }

  protected setGraph(graph: Graph | undefined): void {
    this.layerGraph = graph;
    this.built = graph !== undefined || this.built;
  }

  protected get graph(): Graph | undefined {
    return this.layerGraph;
  }

  /** The layers of the model (functional: including input layers; sequential: excluding them). */
  get layers(): Layer[] {
    return (
      this.graph?.layers ??
      this.namedChildren()
        .map(([, m]) => m)
        .filter((m): m is Layer => m instanceof Layer)
    );
  }

  /** Graph models name their sublayers by position: "layers.3.kernel". */
  override namedChildren(): [string, Module][] {
    if (!this.graph) return super.namedChildren();
    return this.graph.layers.map((l, i) => [`layers.${i}`, l]);
  }

  getLayer(name: string): Layer {
    const l = this.layers.find((x) => x.name === name);
    if (!l)
      throw new Error(
        `model '${this.name}' has no layer named '${name}' (layers: ${this.layers.map((x) => x.name).join(', ')})`,
      );
    return l;
  }

  /** Symbolic inputs of a graph model. */
  get inputs(): KerasTensor[] {
    return this.graph?.inputs ?? [];
  }

  get outputs(): KerasTensor[] {
    return this.graph?.outputs ?? [];
  }

  /** Names, shapes (batch = null) and dtypes of the inputs; subclassed models know them once called. */
  get inputSpecs(): TensorSpecInfo[] {
    if (this.graph)
      return this.inputs.map((t, i) => ({ name: this.inputNames?.[i] ?? t.name, shape: [...t.shape], dtype: t.dtype }));
    const built = this.buildInputShape as (number | string | null)[] | (number | string | null)[][] | undefined;
    if (!built) return [];
    const list = Array.isArray(built[0])
      ? (built as (number | string | null)[][])
      : [built as (number | string | null)[]];
    const dtypes = this.inputDtypes ?? [];
    return list.map((shape, i) => ({
      name: list.length === 1 ? 'input' : `input_${i}`,
      shape: shape.map((d, axis) => (axis === 0 || typeof d !== 'number' ? null : d)),
      dtype: dtypes[i] ?? this.dtype,
    }));
  }

  get outputSpecs(): TensorSpecInfo[] {
    if (this.graph)
      return this.outputs.map((t, i) => ({
        name: this.outputNames?.[i] ?? t.name,
        shape: [...t.shape],
        dtype: t.dtype,
      }));
    const ins = this.inputSpecs;
    if (ins.length === 0) return [];
    const out = this.inferOutputs(
      ins.map((s) => ({ shape: s.shape, dtype: s.dtype })),
      ins.length > 1,
      {},
    );
    return out.specs.map((s, i) => ({ name: out.specs.length === 1 ? 'output' : `output_${i}`, ...s }));
  }

  override apply(inputs: any, options: CallOptions = {}): any {
    // Subclassed models remember their input dtypes for inputSpecs.
    if (!this.graph && !this.inputDtypes) {
      const list: unknown[] = Array.isArray(inputs) ? inputs : [inputs];
      if (list.every((t) => t instanceof Tensor)) this.inputDtypes = (list as Tensor[]).map((t) => t.dtype);
    }
    return super.apply(inputs, options);
  }

  override call(inputs: any, options: CallOptions = {}): any {
    const graph = this.graph;
    if (!graph) {
      // PyTorch habits: a subclass may define forward() instead of call().
      if (this.forward !== Layer.prototype.forward) return this.forward(inputs, options);
      throw new Error(
        `${this.describe()}: subclassed models must override call() (or forward()); functional models need inputs and outputs`,
      );
    }
    const given = this.inputList(inputs);
    const values = new Map<KerasTensor, Tensor>();
    graph.inputs.forEach((kt, i) => values.set(kt, checkInput(this, kt, given[i], i)));
    for (const node of graph.nodes) {
      const args = node.inputs.map((kt) => values.get(kt)!);
      const result = node.layer.apply(node.inputIsList ? args : args[0], {
        ...node.callArgs,
        training: options.training,
      });
      const outs: Tensor[] = node.outputIsList ? result : [result];
      node.outputs.forEach((kt, j) => values.set(kt, outs[j]));
    }
    const outs = graph.outputs.map((kt) => values.get(kt)!);
    if (this.outputNames) return Object.fromEntries(this.outputNames.map((n, i) => [n, outs[i]]));
    return this.outputsAsList ? outs : outs[0];
  }

  private inputList(inputs: ModelInputs): Tensor[] {
    const graph = this.graph!;
    if (inputs instanceof Tensor) return [inputs];
    if (Array.isArray(inputs)) {
      if (inputs.length !== graph.inputs.length) {
        throw new Error(
          `${this.describe()}: expected ${graph.inputs.length} input(s) (${graph.inputs.map((t) => t.name).join(', ')}), got ${inputs.length}`,
        );
      }
      return inputs;
    }
    if (isPlainObject(inputs)) {
      return graph.inputs.map((kt, i) => {
        const name = this.inputNames?.[i] ?? kt.name;
        const t = (inputs as Record<string, Tensor>)[name];
        if (!t)
          throw new Error(`${this.describe()}: missing input '${name}' (got keys ${Object.keys(inputs).join(', ')})`);
        return t;
      });
    }
    throw new Error(`${this.describe()}: inputs must be a Tensor, an array or a record of Tensors`);
  }

  /** Builds a subclassed or sequential model for inputs of this shape (batch first, may be null). */
  override build(inputShape: any): void {
    if (this.graph) return;
    super.build(inputShape);
  }

  // ---- Summary

  /** A Keras-like table of layers, output shapes and parameter counts; printed unless print=false. */
  summary(options: { print?: boolean; lineLength?: number } = {}): string {
    const rows: [string, string, string][] = [];
    const graph = this.graph;
    const fmtShape = (s: KerasShape): string => `(${s.map((d) => d ?? 'None').join(', ')}${s.length === 1 ? ',' : ''})`;
    if (graph) {
      const showInputs = !(this instanceof Sequential);
      for (const layer of graph.layers) {
        if (layer instanceof InputLayer && !showInputs) continue;
        const outs =
          layer instanceof InputLayer
            ? [layer.output]
            : graph.nodes.filter((n) => n.layer === layer).flatMap((n) => n.outputs);
        const shapes = [...new Set(outs.map((o) => fmtShape(o.shape)))];
        rows.push([
          `${layer.name} (${layer.className})`,
          shapes.join(', '),
          layer.countWeights().toLocaleString('en-US'),
        ]);
      }
    } else {
      for (const layer of this.layers)
        rows.push([
          `${layer.name} (${layer.className})`,
          '?',
          layer.built ? layer.countWeights().toLocaleString('en-US') : '0 (unbuilt)',
        ]);
    }
    const total = this.weights.reduce((n, v) => n + v.size, 0);
    const trainable = this.trainableWeights.reduce((n, v) => n + v.size, 0);
    const head: [string, string, string] = ['Layer (type)', 'Output Shape', 'Param #'];
    const w0 = Math.max(head[0].length, ...rows.map((r) => r[0].length)) + 3;
    const w1 = Math.max(head[1].length, ...rows.map((r) => r[1].length)) + 3;
    const w2 = Math.max(head[2].length, ...rows.map((r) => r[2].length));
    const width = options.lineLength ?? w0 + w1 + w2;
    const line = (r: [string, string, string]): string => r[0].padEnd(w0) + r[1].padEnd(w1) + r[2].padStart(w2);
    const lines = [
      `Model: "${this.name}"`,
      '─'.repeat(width),
      line(head),
      '═'.repeat(width),
      ...rows.flatMap((r, i) => [line(r), i < rows.length - 1 ? '─'.repeat(width) : '']).filter((l) => l !== ''),
      '═'.repeat(width),
      ` Total params: ${total.toLocaleString('en-US')}`,
      ` Trainable params: ${trainable.toLocaleString('en-US')}`,
      ` Non-trainable params: ${(total - trainable).toLocaleString('en-US')}`,
      '─'.repeat(width),
    ];
    const text = lines.join('\n');
    if (options.print ?? true) console.log(text);
    return text;
  }

  // ---- Serialization

  override getConfig(): Record<string, any> {
    const graph = this.graph;
    if (!graph) return super.getConfig();
    // Node indices count the calls of each layer within this model (shared layers have several).
    const nodeIndex = new Map<LayerNode, number>();
    const perLayer = new Map<Layer, number>();
    const indexOf = (node: LayerNode): number => {
      let k = nodeIndex.get(node);
      if (k === undefined) {
        k = perLayer.get(node.layer) ?? 0;
        perLayer.set(node.layer, k + 1);
        nodeIndex.set(node, k);
      }
      return k;
    };
    graph.inputs.forEach((t) => indexOf(t.node!));
    graph.nodes.forEach(indexOf);
    const ref = (t: KerasTensor): [string, number, number] => [t.node!.layer.name, indexOf(t.node!), t.index];
    const layers = graph.layers.map((layer) => ({
      ...serializeLayer(layer),
      name: layer.name,
      inboundNodes: graph.nodes
        .filter((n) => n.layer === layer)
        .map((n) => ({ args: n.inputs.map(ref), inputIsList: n.inputIsList, callArgs: n.callArgs })),
    }));
    return {
      name: this.name,
      trainable: this.trainable,
      layers,
      inputLayers: graph.inputs.map(ref),
      outputLayers: graph.outputs.map(ref),
      inputsAsList: this.inputsAsList,
      outputsAsList: this.outputsAsList,
      outputNames: this.outputNames,
      inputNames: this.inputNames,
    };
  }

  static override fromConfig(config: Record<string, any>): Model {
    if (!Array.isArray(config.layers) || !config.inputLayers) {
      throw new Error('Model.fromConfig: expected a functional model config with layers, inputLayers and outputLayers');
    }
    type Entry = LayerConfig & {
      name: string;
      inboundNodes: { args: [string, number, number][]; inputIsList: boolean; callArgs: Record<string, unknown> }[];
    };
    const entries = config.layers as Entry[];
    const layers = new Map<string, Layer>();
    // Output tensors of each (layer, node index).
    const produced = new Map<string, KerasTensor[]>();
    for (const e of entries) {
      const layer = layerFromConfig(e);
      layers.set(e.name, layer);
      if (layer instanceof InputLayer) produced.set(`${e.name}#0`, [layer.output]);
    }
    // Replay the calls; a shared layer's later call may wait for layers listed after it.
    const pending = entries.flatMap((e) => e.inboundNodes.map((n, k) => ({ layer: layers.get(e.name)!, k, ...n })));
    let progress = true;
    while (pending.length && progress) {
      progress = false;
      for (let i = 0; i < pending.length; i++) {
        const p = pending[i];
        const offset = p.layer instanceof InputLayer ? 1 : 0;
        const args = p.args.map(([name, node, index]) => produced.get(`${name}#${node}`)?.[index]);
        if (args.some((a) => a === undefined)) continue;
        const out = p.layer.apply(p.inputIsList ? args : args[0], p.callArgs);
        produced.set(`${p.layer.name}#${p.k + offset}`, Array.isArray(out) ? out : [out]);
        pending.splice(i--, 1);
        progress = true;
      }
    }
    if (pending.length)
      throw new Error(`Model.fromConfig: could not connect layers ${pending.map((p) => p.layer.name).join(', ')}`);
    const pick = (refs: [string, number, number][]): KerasTensor[] =>
      refs.map(([name, node, index]) => {
        const t = produced.get(`${name}#${node}`)?.[index];
        if (!t) throw new Error(`Model.fromConfig: unknown tensor ${name}[${node}][${index}]`);
        return t;
      });
    const ins = pick(config.inputLayers);
    const outs = pick(config.outputLayers);
    const outputs = config.outputNames
      ? Object.fromEntries((config.outputNames as string[]).map((n, i) => [n, outs[i]]))
      : config.outputsAsList
        ? outs
        : outs[0];
    const inputs = config.inputNames
      ? Object.fromEntries((config.inputNames as string[]).map((n, i) => [n, ins[i]]))
      : config.inputsAsList
        ? ins
        : ins[0];
    const model = new Model({ inputs, outputs, name: config.name });
    if (config.trainable === false) model.trainable = false;
    return model;
  }
}
registerLayer(Model);
registerLayer(Model, 'Model');

function asKerasList(v: KerasTensor | KerasTensor[] | Record<string, KerasTensor>): KerasTensor[] {
  if (v instanceof KerasTensor) return [v];
  if (Array.isArray(v)) return v;
  return Object.values(v);
}

function checkInput(model: Model, spec: KerasTensor, t: Tensor | undefined, i: number): Tensor {
  if (!(t instanceof Tensor))
    throw new Error(`${model.describe()}: input ${i} ('${spec.name}') is missing or not a Tensor`);
  const ok =
    t.rank === spec.rank &&
    spec.shape.every((d, axis) => d === null || typeof t.shape[axis] !== 'number' || d === t.shape[axis]);
  if (!ok) {
    throw new Error(
      `${model.describe()}: input '${spec.name}' expects shape [${spec.shape.map((d) => d ?? 'None').join(', ')}], got ${shapeStr(t.shape)}`,
    );
  }
  return t;
}

/** A functional model: `model({inputs, outputs, name})`. */
export function model(args: ModelArgs): Model {
  return new Model(args);
}

// ---------------------------------------------------------------------------------------------
// Sequential

export class Sequential extends Model {
  static override className = 'Sequential';
  // Layers in order (input layer excluded); the graph is rebuilt from them when the input shape is
  // known. Sequential names its children itself (namedChildren), so this list is not registered.
  private readonly stackLayers: Layer[] = [];
  // The input() tensor fixing the input shape (a KerasTensor, so not a child module).
  private stackInput?: KerasTensor;

  constructor(layers: (Layer | KerasTensor)[] = [], options: LayerOptions = {}) {
    super(options);
    for (const l of layers) this.add(l);
  }

  /** Appends a layer (or, first, an `input()` tensor fixing the input shape). */
  add(layer: Layer | KerasTensor): this {
    if (layer instanceof KerasTensor) {
      if (!(layer.node?.layer instanceof InputLayer))
        throw new Error(`${this.describe()}.add: only input() tensors or layers can be added`);
      layer = layer.node.layer;
    }
    if (layer instanceof InputLayer) {
      if (this.stackLayers.length || this.stackInput)
        throw new Error(`${this.describe()}.add: an input must come first`);
      this.stackInput = layer.output;
    } else if (layer instanceof Layer) {
      this.stackLayers.push(layer);
    } else {
      throw new Error(`${this.describe()}.add: expected a Layer, got ${String(layer)}`);
    }
    if (!this.stackInput && this.stackLayers.length === 1 && this.stackLayers[0].inputShapeHint) {
      const first = this.stackLayers[0];
      this.stackInput = new InputLayer({
        shape: first.inputShapeHint!,
        batchSize: first.batchSizeHint,
        dtype: first.dtype,
        name: `${first.name}_input`,
      }).output;
    }
    this.rebuildGraph();
    return this;
  }

  /** Removes the last layer. */
  pop(): Layer {
    const l = this.stackLayers.pop();
    if (!l) throw new Error(`${this.describe()}.pop: the model has no layers`);
    this.rebuildGraph();
    return l;
  }

  override get layers(): Layer[] {
    return [...this.stackLayers];
  }

  /** Sequential models name sublayers by position among the non-input layers: "layers.0.kernel". */
  override namedChildren(): [string, Module][] {
    return this.stackLayers.map((l, i) => [`layers.${i}`, l]);
  }

  private rebuildGraph(): void {
    const inp = this.stackInput;
    if (!inp || this.stackLayers.length === 0) {
      this.layerGraph = undefined;
      this.built = false;
      return;
    }
    let t: KerasTensor = inp;
    for (const l of this.stackLayers) {
      const out = l.apply(t);
      if (!(out instanceof KerasTensor)) {
        throw new Error(
          `${this.describe()}: ${l.describe()} has several outputs; Sequential layers must have one input and one output`,
        );
      }
      t = out;
    }
    this.setGraph(buildGraph([inp], [t], this.describe()));
  }

  /** Builds the model for inputs of this shape (batch dimension first). */
  override build(inputShape: any): void {
    if (this.graph) return;
    const shape = inputShape as (number | string | null)[];
    this.stackInput = new InputLayer({
      shape: shape.slice(1).map((d) => (typeof d === 'number' ? d : null)),
      dtype: this.dtype,
      name: `${this.name}_input`,
    }).output;
    this.rebuildGraph();
  }

  override call(inputs: any, options: CallOptions = {}): any {
    if (!this.graph) {
      if (!(inputs instanceof Tensor)) throw new Error(`${this.describe()}: expected one Tensor input`);
      if (this.stackLayers.length === 0) throw new Error(`${this.describe()}: the model has no layers`);
      this.build([...inputs.shape]);
    }
    return super.call(inputs, options);
  }

  override getConfig(): Record<string, any> {
    const layers = this.stackLayers.map(serializeLayer);
    const inp = this.stackInput?.node?.layer;
    return { name: this.name, trainable: this.trainable, layers: inp ? [serializeLayer(inp), ...layers] : layers };
  }

  static override fromConfig(config: Record<string, any>): Sequential {
    const layers = (config.layers as LayerConfig[]).map(layerFromConfig);
    const m = new Sequential(layers, { name: config.name });
    if (config.trainable === false) m.trainable = false;
    return m;
  }
}
registerLayer(Sequential);

/** A Sequential model from a list of layers (optionally starting with an `input()` tensor). */
export function sequential(layers: (Layer | KerasTensor)[] = [], options: LayerOptions = {}): Sequential {
  return new Sequential(layers, options);
}
