/** Core layers: Dense, Activation, Flatten, Reshape, Dropout. */
import { type Dim, add, matmul, reshape, transpose, Tensor, type Variable } from '../../engine/index.js';
import {
  type ActivationSpec,
  type ActivationFn,
  getActivation,
  isElementwise,
  serializeActivation,
} from '../activations.js';
import { type InitializerSpec, getInitializer, serializeInitializer } from '../initializers.js';
import { type CallOptions, Layer, type LayerOptions, registerLayer, requireDim } from '../layer.js';
import { type RegularizerSpec, getRegularizer, serializeRegularizer } from '../regularizers.js';
import { channelsFirstSource, toChannelsLast } from './util.js';
import { dropout } from '../../engine/ops/nn.js';

export interface DenseOptions extends LayerOptions {
  activation?: ActivationSpec;
  useBias?: boolean;
  kernelInitializer?: InitializerSpec;
  biasInitializer?: InitializerSpec;
  kernelRegularizer?: RegularizerSpec;
  biasRegularizer?: RegularizerSpec;
}

/** y = activation(x @ kernel + bias); kernel is [inputDim, units] (Keras layout), applied to the last axis. */
export class Dense extends Layer {
  static override className = 'Dense';
  override get supportsMasking(): boolean {
    return true;
  }
  readonly units: number;
  readonly activation: ActivationFn;
  readonly useBias: boolean;
  private readonly opts: DenseOptions;
  kernel!: Variable;
  bias?: Variable;

  constructor(units: number, options: DenseOptions = {}) {
    super(options);
    if (!Number.isInteger(units) || units <= 0)
      throw new Error(`Dense: units must be a positive integer, got ${units}`);
    this.units = units;
    this.activation = getActivation(options.activation ?? 'linear');
    this.useBias = options.useBias ?? true;
    this.opts = options;
  }

  override build(inputShape: (Dim | null)[]): void {
    const inputDim = requireDim(this, inputShape, -1, 'last dimension');
    this.kernel = this.addWeight('kernel', [inputDim, this.units], this.opts.kernelInitializer ?? 'glorotUniform', {
      regularizer: this.opts.kernelRegularizer,
    });
    if (this.useBias) {
      this.bias = this.addWeight('bias', [this.units], this.opts.biasInitializer ?? 'zeros', {
        regularizer: this.opts.biasRegularizer,
      });
    }
  }

  override call(x: Tensor): Tensor {
    let y = matmul(x, this.kernel);
    if (this.bias) y = add(y, this.bias);
    return this.activation(y);
  }

  override getConfig(): Record<string, any> {
    const o = this.opts;
    return {
      ...super.getConfig(),
      units: this.units,
      activation: serializeActivation(o.activation ?? 'linear'),
      useBias: this.useBias,
      kernelInitializer: serializeInitializer(getInitializer(o.kernelInitializer ?? 'glorotUniform')),
      biasInitializer: serializeInitializer(getInitializer(o.biasInitializer ?? 'zeros')),
      kernelRegularizer: o.kernelRegularizer ? serializeRegularizer(getRegularizer(o.kernelRegularizer)) : undefined,
      biasRegularizer: o.biasRegularizer ? serializeRegularizer(getRegularizer(o.biasRegularizer)) : undefined,
    };
  }

  static override fromConfig(config: Record<string, any>): Dense {
    return new Dense(config.units, config);
  }
}
registerLayer(Dense);

/** Applies an activation function. */
export class Activation extends Layer {
  static override className = 'Activation';
  override get supportsMasking(): boolean {
    return true;
  }
  readonly fn: ActivationFn;
  constructor(
    readonly activation: ActivationSpec,
    options: LayerOptions = {},
  ) {
    super(options);
    this.fn = getActivation(activation);
  }
  override call(x: Tensor): Tensor {
    const cf = isElementwise(this.fn) ? channelsFirstSource(x) : undefined;
    return cf ? toChannelsLast(this.fn(cf)) : this.fn(x);
  }
  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), activation: serializeActivation(this.activation) };
  }
  static override fromConfig(config: Record<string, any>): Activation {
    return new Activation(config.activation, config);
  }
}
registerLayer(Activation);

/** Flattens all axes but the batch axis, in channels-last (Keras) element order. */
export class Flatten extends Layer {
  static override className = 'Flatten';
  override call(x: Tensor): Tensor {
    if (x.rank <= 1) return reshape(x, [x.shape[0] ?? 1, 1]);
    return reshape(x, [x.shape[0], -1]);
  }
  static override fromConfig(config: Record<string, any>): Flatten {
    return new Flatten(config);
  }
}
registerLayer(Flatten);

/** Reshapes each example to `targetShape` (one entry may be -1). */
export class Reshape extends Layer {
  static override className = 'Reshape';
  constructor(
    readonly targetShape: number[],
    options: LayerOptions = {},
  ) {
    super(options);
  }
  override call(x: Tensor): Tensor {
    return reshape(x, [x.shape[0], ...this.targetShape]);
  }
  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), targetShape: this.targetShape };
  }
  static override fromConfig(config: Record<string, any>): Reshape {
    return new Reshape(config.targetShape, config);
  }
}
registerLayer(Reshape);

/** Permutes the non-batch axes (1-based, like Keras: dims [2, 1] swaps the two axes after batch). */
export class Permute extends Layer {
  static override className = 'Permute';
  constructor(
    readonly dims: number[],
    options: LayerOptions = {},
  ) {
    super(options);
  }
  override call(x: Tensor): Tensor {
    return transpose(x, [0, ...this.dims]);
  }
  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), dims: this.dims };
  }
  static override fromConfig(config: Record<string, any>): Permute {
    return new Permute(config.dims, config);
  }
}
registerLayer(Permute);

export interface DropoutOptions extends LayerOptions {
  /** Axes that share one mask value have size 1 here, e.g. [null, 1, 1, null] (SpatialDropout). */
  noiseShape?: (number | null)[];
}

/** Zeroes a fraction `rate` of the inputs during training and scales the rest by 1/(1-rate). */
export class Dropout extends Layer {
  static override className = 'Dropout';
  override get supportsMasking(): boolean {
    return true;
  }
  constructor(
    readonly rate: number,
    private readonly opts: DropoutOptions = {},
  ) {
    super(opts);
    if (!(rate >= 0 && rate < 1)) throw new Error(`Dropout: rate must be in [0, 1), got ${rate}`);
  }
  override call(x: Tensor, options: CallOptions = {}): Tensor {
    if (!options.training || this.rate === 0) return x;
    const cf = this.opts.noiseShape ? undefined : channelsFirstSource(x);
    if (cf) return toChannelsLast(dropout(cf, this.rate, true));
    return dropout(x, this.rate, true, { noiseShape: this.opts.noiseShape });
  }
  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), rate: this.rate, noiseShape: this.opts.noiseShape };
  }
  static override fromConfig(config: Record<string, any>): Dropout {
    return new Dropout(config.rate, config);
  }
}
registerLayer(Dropout);
