/** Small layers: activation layers with parameters, Rescaling, RepeatVector, Cropping2D, noise and spatial dropout, Lambda. */
import { type Dim, Tensor, add, broadcastTo, mul, randn, reshape } from '../../engine/index.js';
import { elu, leakyRelu, relu, softmax } from '../../engine/ops/activations.js';
import { clip } from '../../engine/ops/elementwise.js';
import { dropout } from '../../engine/ops/nn.js';
import { slice } from '../../engine/ops/shape.js';
import { currentTrace } from '../../engine/trace.js';
import { type CallOptions, Layer, type LayerOptions, registerLayer } from '../layer.js';
import { channelsFirstSource, toChannelsLast } from './util.js';
import { shapeStr } from '../../engine/shape.js';

/** relu with optional maxValue (ReLU(6) = relu6), negativeSlope and threshold, as Keras' ReLU layer. */
export class ReLU extends Layer {
  static override className = 'ReLU';
  override get supportsMasking(): boolean {
    return true;
  }
  readonly maxValue?: number;
  readonly negativeSlope: number;
  readonly threshold: number;
  constructor(options: LayerOptions & { maxValue?: number; negativeSlope?: number; threshold?: number } = {}) {
    super(options);
    this.maxValue = options.maxValue ?? undefined;
    this.negativeSlope = options.negativeSlope ?? 0;
    this.threshold = options.threshold ?? 0;
    if (this.threshold !== 0) throw new Error('ReLU: only threshold 0 is supported');
  }
  override call(x: Tensor): Tensor {
    const cf = channelsFirstSource(x);
    const f = (t: Tensor): Tensor => {
      let y = this.negativeSlope ? leakyRelu(t, this.negativeSlope) : relu(t);
      if (this.maxValue !== undefined) y = clip(y, undefined, this.maxValue);
      return y;
    };
    return cf ? toChannelsLast(f(cf)) : f(x);
  }
  override getConfig(): Record<string, any> {
    return {
      ...super.getConfig(),
      maxValue: this.maxValue,
      negativeSlope: this.negativeSlope,
      threshold: this.threshold,
    };
  }
  static override fromConfig(c: Record<string, any>): ReLU {
    return new ReLU(c);
  }
}
registerLayer(ReLU);

export class LeakyReLU extends Layer {
  static override className = 'LeakyReLU';
  override get supportsMasking(): boolean {
    return true;
  }
  readonly negativeSlope: number;
  constructor(options: LayerOptions & { negativeSlope?: number } = {}) {
    super(options);
    this.negativeSlope = options.negativeSlope ?? 0.3; // Keras' default
  }
  override call(x: Tensor): Tensor {
    return leakyRelu(x, this.negativeSlope);
  }
  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), negativeSlope: this.negativeSlope };
  }
  static override fromConfig(c: Record<string, any>): LeakyReLU {
    return new LeakyReLU(c);
  }
}
registerLayer(LeakyReLU);

export class ELU extends Layer {
  static override className = 'ELU';
  override get supportsMasking(): boolean {
    return true;
  }
  readonly alpha: number;
  constructor(options: LayerOptions & { alpha?: number } = {}) {
    super(options);
    this.alpha = options.alpha ?? 1;
  }
  override call(x: Tensor): Tensor {
    return elu(x, this.alpha);
  }
  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), alpha: this.alpha };
  }
  static override fromConfig(c: Record<string, any>): ELU {
    return new ELU(c);
  }
}
registerLayer(ELU);

export class Softmax extends Layer {
  static override className = 'Softmax';
  override get supportsMasking(): boolean {
    return true;
  }
  readonly axis: number;
  constructor(options: LayerOptions & { axis?: number } = {}) {
    super(options);
    this.axis = options.axis ?? -1;
  }
  override call(x: Tensor): Tensor {
    return softmax(x, this.axis);
  }
  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), axis: this.axis };
  }
  static override fromConfig(c: Record<string, any>): Softmax {
    return new Softmax(c);
  }
}
registerLayer(Softmax);

/** x * scale + offset (e.g. scale 1/255 for 8-bit images). */
export class Rescaling extends Layer {
  static override className = 'Rescaling';
  override get supportsMasking(): boolean {
    return true;
  }
  constructor(
    readonly scale: number,
    readonly offset = 0,
    options: LayerOptions = {},
  ) {
    super(options);
  }
  override call(x: Tensor): Tensor {
    const y = mul(x, this.scale);
    return this.offset ? add(y, this.offset) : y;
  }
  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), scale: this.scale, offset: this.offset };
  }
  static override fromConfig(c: Record<string, any>): Rescaling {
    return new Rescaling(c.scale, c.offset, c);
  }
}
registerLayer(Rescaling);

/** [N, F] → [N, n, F]. */
export class RepeatVector extends Layer {
  static override className = 'RepeatVector';
  constructor(
    readonly n: number,
    options: LayerOptions = {},
  ) {
    super(options);
  }
  override call(x: Tensor): Tensor {
    if (x.rank !== 2) throw new Error(`expected input of rank 2 [batch, features], got ${shapeStr(x.shape)}`);
    const [b, f] = x.shape as Dim[];
    return broadcastTo(reshape(x, [b, 1, f]), [b, this.n, f]);
  }
  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), n: this.n };
  }
  static override fromConfig(c: Record<string, any>): RepeatVector {
    return new RepeatVector(c.n, c);
  }
}
registerLayer(RepeatVector);

/** Crops [N, H, W, C]: n, [h, w], or [[top, bottom], [left, right]]. */
export class Cropping2D extends Layer {
  static override className = 'Cropping2D';
  readonly cropping: [[number, number], [number, number]];
  constructor(
    cropping: number | [number, number] | [[number, number], [number, number]] = 0,
    options: LayerOptions = {},
  ) {
    super(options);
    const pair = (p: number | [number, number]): [number, number] => (typeof p === 'number' ? [p, p] : [p[0], p[1]]);
    this.cropping =
      typeof cropping === 'number'
        ? [
            [cropping, cropping],
            [cropping, cropping],
          ]
        : [pair(cropping[0] as number | [number, number]), pair(cropping[1] as number | [number, number])];
  }
  override call(x: Tensor): Tensor {
    if (x.rank !== 4) throw new Error(`expected input of rank 4 [N, H, W, C], got ${shapeStr(x.shape)}`);
    const [[t, b], [l, r]] = this.cropping;
    const [, h, w] = x.shape as number[];
    if (t + b >= h || l + r >= w)
      throw new Error(`cropping ${JSON.stringify(this.cropping)} leaves nothing of ${h}x${w}`);
    return slice(x, [null, [t, h - b], [l, w - r]]);
  }
  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), cropping: this.cropping };
  }
  static override fromConfig(c: Record<string, any>): Cropping2D {
    return new Cropping2D(c.cropping, c);
  }
}
registerLayer(Cropping2D);

/** Drops whole feature maps of [N, H, W, C] (one mask value per example and channel). */
export class SpatialDropout2D extends Layer {
  static override className = 'SpatialDropout2D';
  constructor(
    readonly rate: number,
    options: LayerOptions = {},
  ) {
    super(options);
    if (!(rate >= 0 && rate < 1)) throw new Error(`SpatialDropout2D: rate must be in [0, 1), got ${rate}`);
  }
  override call(x: Tensor, options: CallOptions = {}): Tensor {
    if (!options.training || this.rate === 0) return x;
    return dropout(x, this.rate, true, { noiseShape: [x.shape[0], 1, 1, x.shape[3]] });
  }
  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), rate: this.rate };
  }
  static override fromConfig(c: Record<string, any>): SpatialDropout2D {
    return new SpatialDropout2D(c.rate, c);
  }
}
registerLayer(SpatialDropout2D);

/** Adds zero-mean Gaussian noise with standard deviation `stddev` during training. */
export class GaussianNoise extends Layer {
  static override className = 'GaussianNoise';
  override get supportsMasking(): boolean {
    return true;
  }
  constructor(
    readonly stddev: number,
    options: LayerOptions = {},
  ) {
    super(options);
  }
  override call(x: Tensor, options: CallOptions = {}): Tensor {
    if (!options.training || this.stddev === 0) return x;
    const dtype = x.dtype === 'float64' ? 'float64' : 'float32';
    const trace = x.trace ?? currentTrace();
    const noise = trace ? trace.random(x.shape, dtype, 'normal') : randn(x.shape as number[], { dtype });
    return add(x, mul(noise, this.stddev));
  }
  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), stddev: this.stddev };
  }
  static override fromConfig(c: Record<string, any>): GaussianNoise {
    return new GaussianNoise(c.stddev, c);
  }
}
registerLayer(GaussianNoise);

/** Wraps a function of tensors as a layer (not serializable: configs cannot hold code). */
export class Lambda extends Layer {
  static override className = 'Lambda';
  constructor(
    readonly fn: (x: any, options: CallOptions) => any,
    options: LayerOptions = {},
  ) {
    super(options);
  }
  override call(x: any, options: CallOptions = {}): any {
    return this.fn(x, options);
  }
  override getConfig(): Record<string, any> {
    throw new Error(
      `Lambda layer '${this.name}' cannot be serialized (it holds a function); write a custom Layer class and registerLayer it`,
    );
  }
}
