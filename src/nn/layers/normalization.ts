/** BatchNormalization and LayerNormalization with Keras semantics and defaults. */
import {
  type Dim,
  Tensor,
  type Variable,
  add,
  cast,
  div,
  mul,
  reshape,
  stopGradient,
  sub,
  tensor,
} from '../../engine/index.js';
import { maximum, sqrt } from '../../engine/ops/elementwise.js';
import { layerNorm } from '../../engine/ops/norm.js';
import { moments } from '../../engine/ops/reduce.js';
import { type InitializerSpec, getInitializer, serializeInitializer } from '../initializers.js';
import { type CallOptions, Layer, type LayerOptions, registerLayer, requireDim } from '../layer.js';
import { type RegularizerSpec, getRegularizer, serializeRegularizer } from '../regularizers.js';
import { addUpdate } from '../updates.js';
import { batchNormalize, channelsFirstSource, toChannelsLast } from './util.js';
import { numel } from '../../engine/shape.js';

export interface BatchNormalizationOptions extends LayerOptions {
  /** The feature axis (default -1, channels last). */
  axis?: number;
  /** moving = moving * momentum + batch * (1 - momentum); Keras default 0.99. */
  momentum?: number;
  epsilon?: number;
  center?: boolean;
  scale?: boolean;
  betaInitializer?: InitializerSpec;
  gammaInitializer?: InitializerSpec;
  movingMeanInitializer?: InitializerSpec;
  movingVarianceInitializer?: InitializerSpec;
  betaRegularizer?: RegularizerSpec;
  gammaRegularizer?: RegularizerSpec;
}

/**
 * Normalizes each feature with batch statistics in training (and moves the moving statistics
 * towards them through addUpdate; the variance is the biased batch variance, as in Keras) and with
 * the moving statistics in inference.
 */
export class BatchNormalization extends Layer {
  static override className = 'BatchNormalization';
  override get supportsMasking(): boolean {
    return true;
  }
  readonly axis: number;
  readonly momentum: number;
  readonly epsilon: number;
  readonly center: boolean;
  readonly scale: boolean;
  private readonly opts: BatchNormalizationOptions;
  gamma?: Variable;
  beta?: Variable;
  movingMean!: Variable;
  movingVariance!: Variable;

  constructor(options: BatchNormalizationOptions = {}) {
    super(options);
    this.axis = options.axis ?? -1;
    this.momentum = options.momentum ?? 0.99;
    this.epsilon = options.epsilon ?? 1e-3;
    this.center = options.center ?? true;
    this.scale = options.scale ?? true;
    this.opts = options;
  }

  override build(inputShape: (Dim | null)[]): void {
    const c = requireDim(this, inputShape, this.axis, 'feature dimension');
    const o = this.opts;
    if (this.scale)
      this.gamma = this.addWeight('gamma', [c], o.gammaInitializer ?? 'ones', { regularizer: o.gammaRegularizer });
    if (this.center)
      this.beta = this.addWeight('beta', [c], o.betaInitializer ?? 'zeros', { regularizer: o.betaRegularizer });
    this.movingMean = this.addWeight('movingMean', [c], o.movingMeanInitializer ?? 'zeros', { trainable: false });
    this.movingVariance = this.addWeight('movingVariance', [c], o.movingVarianceInitializer ?? 'ones', {
      trainable: false,
    });
  }

  override call(x: Tensor, options: CallOptions = {}): Tensor {
    // Channels-last input computed as NCHW (after a conv): normalize there, no transposes.
    const cf = this.axis === -1 || this.axis === x.rank - 1 ? channelsFirstSource(x) : undefined;
    const input = cf ?? x;
    const axis = cf ? 1 : this.axis < 0 ? this.axis + x.rank : this.axis;
    // Keras: a frozen BatchNormalization (trainable = false) always uses its moving statistics.
    const y = this.normalize(input, axis, options.training === true && this.trainable);
    return cf ? toChannelsLast(y) : y;
  }

  private normalize(x: Tensor, axis: number, training: boolean): Tensor {
    const m = this.momentum;
    const step = (moving: Variable, batch: Tensor): Tensor => add(mul(moving, m), mul(stopGradient(batch), 1 - m));
    const update = (mean: Tensor, variance: Tensor): void => {
      addUpdate(this.movingMean, step(this.movingMean, mean));
      addUpdate(this.movingVariance, step(this.movingVariance, variance));
    };
    const running = { mean: this.movingMean, variance: this.movingVariance };
    return batchNormalize(
      x,
      axis,
      running,
      { scale: this.gamma, offset: this.beta },
      this.epsilon,
      training ? { update } : undefined,
    );
  }

  override getConfig(): Record<string, any> {
    const o = this.opts;
    const init = (s: InitializerSpec | undefined, d: string) => serializeInitializer(getInitializer(s ?? d));
    return {
      ...super.getConfig(),
      axis: this.axis,
      momentum: this.momentum,
      epsilon: this.epsilon,
      center: this.center,
      scale: this.scale,
      betaInitializer: init(o.betaInitializer, 'zeros'),
      gammaInitializer: init(o.gammaInitializer, 'ones'),
      movingMeanInitializer: init(o.movingMeanInitializer, 'zeros'),
      movingVarianceInitializer: init(o.movingVarianceInitializer, 'ones'),
      betaRegularizer: o.betaRegularizer ? serializeRegularizer(getRegularizer(o.betaRegularizer)) : undefined,
      gammaRegularizer: o.gammaRegularizer ? serializeRegularizer(getRegularizer(o.gammaRegularizer)) : undefined,
    };
  }

  static override fromConfig(c: Record<string, any>): BatchNormalization {
    return new BatchNormalization(c);
  }
}
registerLayer(BatchNormalization);

export interface LayerNormalizationOptions extends LayerOptions {
  /** Axis or axes to normalize over (default -1). */
  axis?: number | number[];
  epsilon?: number;
  center?: boolean;
  scale?: boolean;
  betaInitializer?: InitializerSpec;
  gammaInitializer?: InitializerSpec;
}

/** Normalizes each example over `axis` (default the last), then scales and shifts per feature. */
export class LayerNormalization extends Layer {
  static override className = 'LayerNormalization';
  override get supportsMasking(): boolean {
    return true;
  }
  readonly axis: number[];
  readonly epsilon: number;
  readonly center: boolean;
  readonly scale: boolean;
  private readonly opts: LayerNormalizationOptions;
  gamma?: Variable;
  beta?: Variable;

  constructor(options: LayerNormalizationOptions = {}) {
    super(options);
    this.axis = typeof options.axis === 'number' ? [options.axis] : (options.axis ?? [-1]);
    this.epsilon = options.epsilon ?? 1e-3;
    this.center = options.center ?? true;
    this.scale = options.scale ?? true;
    this.opts = options;
  }

  private axes(rank: number): number[] {
    return [...new Set(this.axis.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
  }

  override build(inputShape: (Dim | null)[]): void {
    const shape = this.axes(inputShape.length).map((a) => requireDim(this, inputShape, a, 'normalized dimension'));
    if (this.scale) this.gamma = this.addWeight('gamma', shape, this.opts.gammaInitializer ?? 'ones');
    if (this.center) this.beta = this.addWeight('beta', shape, this.opts.betaInitializer ?? 'zeros');
  }

  override call(x: Tensor): Tensor {
    return layerNorm(x, { axes: this.axes(x.rank) }, this.gamma, this.beta, this.epsilon);
  }

  override getConfig(): Record<string, any> {
    const o = this.opts;
    return {
      ...super.getConfig(),
      axis: this.axis,
      epsilon: this.epsilon,
      center: this.center,
      scale: this.scale,
      betaInitializer: serializeInitializer(getInitializer(o.betaInitializer ?? 'zeros')),
      gammaInitializer: serializeInitializer(getInitializer(o.gammaInitializer ?? 'ones')),
    };
  }

  static override fromConfig(c: Record<string, any>): LayerNormalization {
    return new LayerNormalization(c);
  }
}
registerLayer(LayerNormalization);

export interface NormalizationOptions extends LayerOptions {
  /** Feature axis or axes kept separate (default -1); statistics are over all other axes. */
  axis?: number | number[];
  /** Known statistics (otherwise call adapt(data) before use). */
  mean?: number | number[];
  variance?: number | number[];
}

/**
 * Feature-wise standardization (Keras' Normalization preprocessing layer):
 * (x - mean) / sqrt(variance), with statistics from `adapt(data)` or given. They are
 * non-trainable weights, so they are saved with the model.
 */
export class Normalization extends Layer {
  static override className = 'Normalization';
  readonly axis: number[];
  private readonly opts: NormalizationOptions;
  mean!: Variable;
  variance!: Variable;

  constructor(options: NormalizationOptions = {}) {
    super(options);
    this.axis = typeof options.axis === 'number' ? [options.axis] : (options.axis ?? [-1]);
    this.opts = options;
  }

  private featureShape(shape: readonly (Dim | null)[]): number[] {
    const axes = this.axis.map((a) => (a < 0 ? a + shape.length : a));
    return shape.map((_d, i) => (axes.includes(i) ? requireDim(this, shape, i, 'feature dimension') : 1)).slice(1);
  }

  override build(inputShape: (Dim | null)[]): void {
    const shape = this.featureShape(inputShape);
    const fill = (v: number | number[] | undefined, dflt: number) => {
      const values = v === undefined ? dflt : v;
      const n = numel(shape);
      const arr = typeof values === 'number' ? new Array<number>(n).fill(values) : values;
      if (arr.length !== n) throw new Error(`Normalization: expected ${n} statistics, got ${arr.length}`);
      return { className: 'Custom', getConfig: () => ({}), init: () => tensor(arr, { shape, dtype: this.dtype }) };
    };
    this.mean = this.addWeight('mean', shape, fill(this.opts.mean, 0), { trainable: false });
    this.variance = this.addWeight('variance', shape, fill(this.opts.variance, 1), { trainable: false });
  }

  /** Computes mean and variance of `data` (all examples at once) over the non-feature axes. */
  adapt(data: Tensor): this {
    this.maybeBuild([...data.shape]);
    const axes = this.axis.map((a) => (a < 0 ? a + data.rank : a));
    const reduce = data.shape.map((_, i) => i).filter((i) => !axes.includes(i));
    const [m, v] = moments(data.dtype === this.dtype ? data : cast(data, this.dtype), reduce, true);
    this.mean.assign(reshape(m, this.mean.shape));
    this.variance.assign(reshape(v, this.variance.shape));
    return this;
  }

  override call(x: Tensor): Tensor {
    return div(sub(x, this.mean), sqrt(maximum(this.variance, 1e-7)));
  }

  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), axis: this.axis };
  }

  static override fromConfig(c: Record<string, any>): Normalization {
    return new Normalization(c);
  }
}
registerLayer(Normalization);
