/**
 * Keras-style layers. A Layer creates its weights lazily in `build(inputShape)` on first call,
 * computes in `call(inputs, {training})`, and serializes as `{className, config}`. Calling a layer
 * (`layer.apply(x)`) on real tensors computes; calling it on symbolic Keras tensors (from
 * `input()`) records the layer graph for the functional API. Output shapes are inferred by
 * tracing `call` on placeholders (no computation runs), so layers need no shape rules of their own.
 */
import { type DType, isFloat } from '../engine/dtype.js';
import { LeptonError } from '../engine/errors.js';
import { cast } from '../engine/ops/core.js';
import type { Dim } from '../engine/shape.js';
import { Tensor, Variable } from '../engine/tensor.js';
import { Trace, withTrace } from '../engine/trace.js';
import { describeValue, isPlainObject } from '../engine/tree.js';
import { type Initializer, type InitializerSpec, getInitializer } from './initializers.js';
import { Module } from './module.js';
import { type Regularizer, type RegularizerSpec, getRegularizer } from './regularizers.js';
import { discardUpdates } from './updates.js';
import { getMask, setMask } from './mask.js';

/** A shape with the batch (and any unknown) dimension as null, Keras style. */
export type KerasShape = (number | null)[];

export interface CallOptions {
  /** Training mode: dropout active, BatchNormalization uses and updates batch statistics. */
  training?: boolean;
  [key: string]: unknown;
}

/** A node of the functional graph: one call of a layer on symbolic tensors. */
export interface LayerNode {
  readonly layer: Layer;
  readonly inputs: KerasTensor[];
  /** Whether the layer received a list (true) or a single tensor. */
  readonly inputIsList: boolean;
  readonly outputs: KerasTensor[];
  readonly outputIsList: boolean;
  /** Extra call arguments (besides training), replayed when the graph runs. */
  readonly callArgs: Record<string, unknown>;
}

let nextKerasTensorId = 1;

/** A symbolic tensor of the functional API: a shape (batch = null), a dtype and where it comes from. */
export class KerasTensor {
  readonly id = nextKerasTensorId++;
  constructor(
    readonly shape: KerasShape,
    readonly dtype: DType,
    readonly node: LayerNode | undefined,
    readonly index: number,
    readonly name: string,
  ) {}
  get rank(): number {
    return this.shape.length;
  }
  toString(): string {
    return `KerasTensor(shape=[${this.shape.map((d) => d ?? 'None').join(', ')}], dtype=${this.dtype}, name=${this.name})`;
  }
}

export type LayerInput = Tensor | Tensor[] | KerasTensor | KerasTensor[];

// ---------------------------------------------------------------------------------------------
// Names

const nameCounts = new Map<string, number>();

/** Keras' to_snake_case: Conv2D → conv2d, MaxPooling2D → max_pooling2d. */
export function toSnakeCase(name: string): string {
  return name
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

/** A name unique in this session: base, base_1, base_2, ... */
export function uniqueLayerName(base: string): string {
  const n = nameCounts.get(base) ?? 0;
  nameCounts.set(base, n + 1);
  return n === 0 ? base : `${base}_${n}`;
}

/** Resets automatic layer names (like keras.backend.clear_session). */
export function clearSession(): void {
  nameCounts.clear();
}

let defaultFloatType: DType = 'float32';

/** The default dtype of new layers' weights (Keras `set_floatx`): 'float32' or 'float64'. */
export function setFloatx(dtype: 'float32' | 'float64'): void {
  if (dtype !== 'float32' && dtype !== 'float64')
    throw new Error(`setFloatx: expected 'float32' or 'float64', got '${String(dtype)}'`);
  defaultFloatType = dtype;
}

export function floatx(): DType {
  return defaultFloatType;
}

// ---------------------------------------------------------------------------------------------
// Training-mode context: layers called inside another layer's call inherit its training flag.

const trainingStack: boolean[] = [];

function withTraining<T>(training: boolean, fn: () => T): T {
  trainingStack.push(training);
  try {
    return fn();
  } finally {
    trainingStack.pop();
  }
}

// ---------------------------------------------------------------------------------------------

export interface LayerOptions {
  name?: string;
  trainable?: boolean;
  dtype?: DType;
  /** Shape of one example (no batch dimension); lets a Sequential model build at once. */
  inputShape?: KerasShape;
  batchSize?: number;
}

export interface AddWeightOptions {
  trainable?: boolean;
  regularizer?: RegularizerSpec;
  dtype?: DType;
}

export type LayerClass = { className: string; fromConfig(config: Record<string, any>): Layer };

const registry = new Map<string, LayerClass>();

/** Makes a layer class available to `layerFromConfig` (built-in layers register themselves). */
export function registerLayer(cls: LayerClass, className: string = cls.className): void {
  registry.set(className, cls);
}

export interface LayerConfig {
  className: string;
  config: Record<string, any>;
}

/** Rebuilds a layer (or model) from `{className, config}`. */
export function layerFromConfig(serialized: LayerConfig): Layer {
  const cls = registry.get(serialized.className);
  if (!cls) {
    throw new Error(
      `layerFromConfig: unknown layer class '${serialized.className}'; register custom layers with registerLayer(cls) ` +
        `(known: ${[...registry.keys()].join(', ')})`,
    );
  }
  return cls.fromConfig(serialized.config);
}

export function serializeLayer(layer: Layer): LayerConfig {
  return { className: layer.className, config: layer.getConfig() };
}

export class Layer extends Module {
  /** Serialization name (not affected by minifiers). Subclasses set their own. */
  static className = 'Layer';
  name: string;
  built = false;
  // Backing field of `trainable` (a getter/setter: setting it recurses into sublayers).
  private trainableFlag = true;
  dtype: DType;
  /** Shape of one example given at construction (Keras `inputShape`). */
  inputShapeHint?: KerasShape;
  batchSizeHint?: number;
  /** The input shape(s) the layer was built for (batch first). */
  buildInputShape?: any;
  /** Weight regularizers by weight name (addWeight's `regularizer`). */
  private readonly regularizers: [string, Regularizer][] = [];

  constructor(options: LayerOptions = {}) {
    super();
    // Keras layers run in inference mode unless told otherwise (fit passes training: true).
    this.training = false;
    this.name = options.name ?? uniqueLayerName(toSnakeCase(this.className));
    this.trainableFlag = options.trainable ?? true;
    this.dtype = options.dtype ?? defaultFloatType;
    if (options.inputShape) this.inputShapeHint = [...options.inputShape];
    if (options.batchSize !== undefined) this.batchSizeHint = options.batchSize;
    // A direct build(shape) call (as in Keras) marks the layer built, like the first call does.
    const build = this.build;
    Object.defineProperty(this, 'build', {
      enumerable: false,
      configurable: true,
      value: (inputShape: any): void => {
        this.buildInputShape = inputShape;
        build.call(this, inputShape);
        this.built = true;
      },
    });
  }

  /**
   * false freezes every weight of the layer and of its sublayers (set recursively, as in Keras);
   * a frozen BatchNormalization also runs in inference mode.
   */
  get trainable(): boolean {
    return this.trainableFlag;
  }

  set trainable(value: boolean) {
    for (const m of this.modules()) if (m instanceof Layer) m.trainableFlag = value;
  }

  get className(): string {
    return (this.constructor as typeof Layer).className;
  }

  /** Creates the layer's weights for inputs of this shape (batch dimension first, null if unknown). */
  build(_inputShape: any): void {}

  /** The computation, on real (or engine-traced) tensors. */
  override call(_inputs: any, _options: CallOptions = {}): any {
    throw new Error(`${this.className}: subclasses of Layer must override call()`);
  }

  /** PyTorch-style entry point: the same as apply. */
  override forward(inputs: any, options: CallOptions = {}): any {
    return this.apply(inputs, options);
  }

  /**
   * Calls the layer (Keras `layer(x)`): builds it on first use, then computes on tensors or, given
   * symbolic Keras tensors, records a node of the functional graph and returns symbolic outputs.
   */
  override apply(inputs: any, options: CallOptions = {}): any {
    const flat: unknown[] = Array.isArray(inputs) ? inputs : isPlainObject(inputs) ? Object.values(inputs) : [inputs];
    if (flat.some((t) => t instanceof KerasTensor)) {
      if (!flat.every((t) => t instanceof KerasTensor)) {
        throw new Error(
          `${this.describe()}: cannot mix symbolic Keras tensors (from input()) and real tensors in one call`,
        );
      }
      return this.symbolicApply(inputs as KerasTensor | KerasTensor[], options);
    }
    for (const t of flat) {
      if (!(t instanceof Tensor))
        throw new Error(`${this.describe()}: expected Tensor inputs, got ${describeValue(t)}`);
    }
    this.maybeBuild(shapeOfInputs(inputs as Tensor | Tensor[] | Record<string, Tensor>));
    // Keras masks (e.g. from Embedding({maskZero})) travel beside the tensors they belong to.
    const mask =
      options.mask !== undefined
        ? (options.mask as Tensor | undefined)
        : inputs instanceof Tensor
          ? getMask(inputs)
          : undefined;
    const original = inputs;
    if (this.autocastInputs) inputs = this.autocast(inputs);
    const training = options.training ?? trainingStack[trainingStack.length - 1] ?? this.training;
    const callOptions: CallOptions = { ...options, training };
    if (mask) callOptions.mask = mask;
    return this.withLayerErrors(() =>
      withTraining(training, () => {
        const out = this.call(inputs, callOptions);
        if (out instanceof Tensor && !getMask(out)) {
          const outMask = this.computeMask(original, mask);
          if (outMask) setMask(out, outMask);
        }
        return out;
      }),
    );
  }

  /** Whether the layer passes its input's mask on unchanged (element-wise and per-step layers). */
  get supportsMasking(): boolean {
    return false;
  }

  /** The mask of the output given the input's (default: passed on if supportsMasking). */
  computeMask(_inputs: any, mask: Tensor | undefined): Tensor | undefined {
    return this.supportsMasking ? mask : undefined;
  }

  /**
   * Layers with weights cast float inputs to their dtype (Keras autocasting); layers without
   * weights (pooling, dropout, reshapes) and models pass dtypes through.
   */
  protected get autocastInputs(): boolean {
    return isFloat(this.dtype) && this.ownVariables().some(([, v]) => isFloat(v.dtype));
  }

  private autocast(inputs: any): any {
    const fix = (t: Tensor): Tensor => (isFloat(t.dtype) && t.dtype !== this.dtype ? cast(t, this.dtype) : t);
    if (inputs instanceof Tensor) return fix(inputs);
    if (Array.isArray(inputs)) return inputs.map(fix);
    return Object.fromEntries(Object.entries(inputs as Record<string, Tensor>).map(([k, t]) => [k, fix(t)]));
  }

  /** Builds the layer unless it is built already. */
  maybeBuild(inputShape: any): void {
    if (this.built) return;
    this.withLayerErrors(() => this.build(inputShape));
  }

  protected withLayerErrors<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof LeptonError && !e.message.startsWith(`${this.describe()}:`)) {
        // Typed errors keep their class (callers branch on it); only the message gains the layer.
        e.message = `${this.describe()}: ${e.message}`;
        throw e;
      }
      if (e instanceof Error && !e.message.startsWith(`${this.describe()}:`)) {
        const wrapped = new Error(`${this.describe()}: ${e.message}`, { cause: e });
        wrapped.stack = `${wrapped.message}\n${(e.stack ?? '').split('\n').slice(1).join('\n')}`;
        throw wrapped;
      }
      throw e;
    }
  }

  /** "layer 'dense_1' (Dense)" for error messages. */
  describe(): string {
    return `layer '${this.name}' (${this.className})`;
  }

  /**
   * Creates a weight. Non-trainable weights (moving statistics) are buffers: saved, but not
   * differentiated. The Variable is registered as `this[name]`.
   */
  addWeight(
    name: string,
    shape: readonly number[],
    initializer: InitializerSpec = 'glorotUniform',
    options: AddWeightOptions = {},
  ): Variable {
    const init: Initializer = getInitializer(initializer);
    const dtype = options.dtype ?? this.dtype;
    const variable = new Variable(init.init(shape, dtype), {
      name: `${this.name}/${name}`,
      trainable: options.trainable ?? true,
    });
    if (options.trainable === false) this.registerBuffer(name, variable);
    else (this as any)[name] = variable;
    if (options.regularizer) this.regularizers.push([name, getRegularizer(options.regularizer)]);
    return variable;
  }

  override ownRegularizationTerms(): Tensor[] {
    // Read the property at call time: functionalCall may have substituted the weight.
    return this.regularizers.map(([name, r]) => r.apply((this as any)[name] as Tensor));
  }

  /** All weights: trainable ones first, then non-trainable (Keras order). */
  get weights(): Variable[] {
    return [...this.trainableWeights, ...this.nonTrainableWeights];
  }

  get trainableWeights(): Variable[] {
    return this.trainableParameters();
  }

  get nonTrainableWeights(): Variable[] {
    const trainable = new Set(this.trainableWeights);
    return this.namedVariables()
      .map(([, v]) => v)
      .filter((v) => !trainable.has(v));
  }

  /** Number of weight elements (trainable and not), as Keras' count_params. */
  countWeights(): number {
    return this.weights.reduce((n, v) => n + v.size, 0);
  }

  /** Constructor arguments, JSON-serializable; `fromConfig(getConfig())` rebuilds the layer. */
  getConfig(): Record<string, any> {
    const config: Record<string, any> = { name: this.name, trainable: this.trainable, dtype: this.dtype };
    if (this.inputShapeHint) config.inputShape = this.inputShapeHint;
    if (this.batchSizeHint !== undefined) config.batchSize = this.batchSizeHint;
    return config;
  }

  /** Output shape(s) for inputs of the given shape(s) (batch dimension null or a number). */
  computeOutputShape(inputShape: KerasShape | KerasShape[], inputDtype: DType = this.dtype): KerasShape | KerasShape[] {
    const multi = Array.isArray(inputShape[0]);
    const specs = (multi ? (inputShape as KerasShape[]) : [inputShape as KerasShape]).map((shape) => ({
      shape,
      dtype: inputDtype,
    }));
    const outs = this.inferOutputs(specs, multi, {});
    const shapes = outs.specs.map((s) => s.shape);
    return outs.isList ? shapes : shapes[0];
  }

  /** Infers output shapes/dtypes by tracing `call` on placeholders; nothing is computed. */
  inferOutputs(
    specs: { shape: KerasShape; dtype: DType }[],
    asList: boolean,
    callArgs: Record<string, unknown>,
  ): { specs: { shape: KerasShape; dtype: DType }[]; isList: boolean } {
    const trace = new Trace();
    const placeholders = specs.map((s, i) =>
      trace.input(
        s.shape.map((d, axis): Dim => (d === null ? (axis === 0 ? 'batch' : `unknown_${i}_${axis}`) : d)),
        s.dtype,
      ),
    );
    this.maybeBuild(asList ? specs.map((s) => s.shape) : specs[0].shape);
    const result = withTrace(trace, () =>
      discardUpdates(() =>
        this.withLayerErrors(() => {
          const args = this.autocastInputs
            ? this.autocast(asList ? placeholders : placeholders[0])
            : asList
              ? placeholders
              : placeholders[0];
          return withTraining(false, () => this.call(args, { ...callArgs, training: false }));
        }),
      ),
    );
    const outs: unknown[] = Array.isArray(result) ? result : [result];
    return {
      isList: Array.isArray(result),
      specs: outs.map((o) => {
        if (!(o instanceof Tensor))
          throw new Error(
            `${this.describe()}: call must return a Tensor or an array of Tensors, got ${describeValue(o)}`,
          );
        return { shape: o.shape.map((d) => (typeof d === 'number' ? d : null)), dtype: o.dtype };
      }),
    };
  }

  private symbolicApply(inputs: KerasTensor | KerasTensor[], options: CallOptions): KerasTensor | KerasTensor[] {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const { training: _ignored, ...callArgs } = options;
    const out = this.inferOutputs(
      list.map((t) => ({ shape: t.shape, dtype: t.dtype })),
      Array.isArray(inputs),
      callArgs,
    );
    const outputs: KerasTensor[] = [];
    const node: LayerNode = {
      layer: this,
      inputs: list,
      inputIsList: Array.isArray(inputs),
      outputs,
      outputIsList: out.isList,
      callArgs,
    };
    out.specs.forEach((s, i) =>
      outputs.push(
        new KerasTensor(s.shape, s.dtype, node, i, out.specs.length === 1 ? this.name : `${this.name}_${i}`),
      ),
    );
    return out.isList ? outputs : outputs[0];
  }

  static fromConfig(config: Record<string, any>): Layer {
    return new (this as any)(config);
  }
}

function shapeOfInputs(inputs: Tensor | Tensor[] | Record<string, Tensor>): any {
  if (Array.isArray(inputs)) return inputs.map((t) => [...t.shape]);
  if (inputs instanceof Tensor) return [...inputs.shape];
  return Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, [...t.shape]]));
}

/** Keras shape of a real tensor: the batch axis (and symbolic axes) become null. */
export function kerasShapeOf(shape: readonly Dim[]): KerasShape {
  return shape.map((d, i) => (i === 0 || typeof d !== 'number' ? null : d));
}

/** Concrete dimension of a built input shape, with an error naming the layer if unknown. */
export function requireDim(layer: Layer, shape: readonly (Dim | null)[], axis: number, what: string): number {
  const a = axis < 0 ? shape.length + axis : axis;
  const d = shape[a];
  if (typeof d !== 'number') {
    throw new Error(
      `${layer.describe()}: the ${what} (axis ${a} of input shape [${shape.map((x) => x ?? 'None').join(', ')}]) must be known to build the layer`,
    );
  }
  return d;
}
