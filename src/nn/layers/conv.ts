/**
 * Convolution layers, channels-last at the API (Keras): inputs [N, ...spatial, C], kernels in
 * Keras layout [...kernel, Cin/groups, filters]. The engine's conv ops are NCHW, so layers
 * permute around them; `permute` drops the transposes between consecutive spatial layers.
 */
import { type Dim, Tensor, type Variable, reshape, transpose } from '../../engine/index.js';
import { conv1d, conv2d, convTranspose2d } from '../../engine/ops/conv.js';
import {
  type ActivationFn,
  type ActivationSpec,
  getActivation,
  isElementwise,
  serializeActivation,
} from '../activations.js';
import { type InitializerSpec, getInitializer, serializeInitializer } from '../initializers.js';
import { Layer, type LayerOptions, registerLayer, requireDim } from '../layer.js';
import { type RegularizerSpec, getRegularizer, serializeRegularizer } from '../regularizers.js';
import { paddingOption, perAxis, toChannelsFirst, toChannelsLast } from './util.js';

export type ConvPadding = 'valid' | 'same';

export interface ConvLayerOptions extends LayerOptions {
  strides?: number | number[];
  padding?: ConvPadding;
  dilationRate?: number | number[];
  groups?: number;
  activation?: ActivationSpec;
  useBias?: boolean;
  kernelInitializer?: InitializerSpec;
  biasInitializer?: InitializerSpec;
  kernelRegularizer?: RegularizerSpec;
  biasRegularizer?: RegularizerSpec;
}

/** Shared machinery of Conv1D / Conv2D / DepthwiseConv2D / Conv2DTranspose. */
abstract class BaseConv extends Layer {
  readonly kernelSize: number[];
  readonly strides: number[];
  readonly padding: ConvPadding;
  readonly dilationRate: number[];
  readonly activation: ActivationFn;
  readonly useBias: boolean;
  protected readonly opts: ConvLayerOptions;
  kernel!: Variable;
  bias?: Variable;

  constructor(
    readonly rank: number,
    kernelSize: number | number[],
    options: ConvLayerOptions,
  ) {
    super(options);
    const who = (this.constructor as typeof Layer).className;
    this.kernelSize = perAxis(kernelSize, rank, 'kernelSize', who);
    this.strides = perAxis(options.strides ?? 1, rank, 'strides', who);
    this.dilationRate = perAxis(options.dilationRate ?? 1, rank, 'dilationRate', who);
    this.padding = paddingOption(options.padding, who);
    this.activation = getActivation(options.activation ?? 'linear');
    this.useBias = options.useBias ?? true;
    this.opts = options;
  }

  protected addKernel(shape: number[], biasSize: number): void {
    this.kernel = this.addWeight('kernel', shape, this.opts.kernelInitializer ?? 'glorotUniform', {
      regularizer: this.opts.kernelRegularizer,
    });
    if (this.useBias)
      this.bias = this.addWeight('bias', [biasSize], this.opts.biasInitializer ?? 'zeros', {
        regularizer: this.opts.biasRegularizer,
      });
  }

  protected checkRank(inputShape: readonly (Dim | null)[]): number {
    if (inputShape.length !== this.rank + 2) {
      throw new Error(
        `expected input of rank ${this.rank + 2} ([batch, ${this.rank === 1 ? 'steps' : 'height, width'}, channels]), got shape [${inputShape.map((d) => d ?? 'None').join(', ')}]`,
      );
    }
    return requireDim(this, inputShape, -1, 'channel dimension');
  }

  protected finish(yChannelsFirst: Tensor): Tensor {
    // Element-wise activations run before the layout change, so the transpose stays last and
    // the next spatial layer can drop it; softmax & co. need the channels-last axis.
    if (isElementwise(this.activation)) return toChannelsLast(this.activation(yChannelsFirst));
    return this.activation(toChannelsLast(yChannelsFirst));
  }

  override getConfig(): Record<string, any> {
    const o = this.opts;
    return {
      ...super.getConfig(),
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
      dilationRate: this.dilationRate,
      activation: serializeActivation(o.activation ?? 'linear'),
      useBias: this.useBias,
      kernelInitializer: serializeInitializer(getInitializer(o.kernelInitializer ?? 'glorotUniform')),
      biasInitializer: serializeInitializer(getInitializer(o.biasInitializer ?? 'zeros')),
      kernelRegularizer: o.kernelRegularizer ? serializeRegularizer(getRegularizer(o.kernelRegularizer)) : undefined,
      biasRegularizer: o.biasRegularizer ? serializeRegularizer(getRegularizer(o.biasRegularizer)) : undefined,
    };
  }
}

export interface ConvOptionsWithGroups extends ConvLayerOptions {
  groups?: number;
}

abstract class ConvND extends BaseConv {
  readonly groups: number;
  constructor(
    rank: number,
    readonly filters: number,
    kernelSize: number | number[],
    options: ConvOptionsWithGroups,
  ) {
    super(rank, kernelSize, options);
    if (!Number.isInteger(filters) || filters <= 0)
      throw new Error(`${this.className}: filters must be a positive integer, got ${filters}`);
    this.groups = options.groups ?? 1;
    if (filters % this.groups !== 0)
      throw new Error(`${this.className}: filters (${filters}) must be divisible by groups (${this.groups})`);
  }

  override build(inputShape: (Dim | null)[]): void {
    const channels = this.checkRank(inputShape);
    if (channels % this.groups !== 0)
      throw new Error(`input channels (${channels}) must be divisible by groups (${this.groups})`);
    this.addKernel([...this.kernelSize, channels / this.groups, this.filters], this.filters);
  }

  /** Keras kernel [...k, Cin/g, Cout] → ONNX weight [Cout, Cin/g, ...k]. */
  protected onnxWeight(): Tensor {
    const r = this.rank;
    return transpose(this.kernel, [r + 1, r, ...Array.from({ length: r }, (_, i) => i)]);
  }

  override call(x: Tensor): Tensor {
    const xf = toChannelsFirst(x);
    const opts = { stride: this.strides, padding: this.padding, dilation: this.dilationRate, groups: this.groups };
    const conv = this.rank === 1 ? conv1d : conv2d;
    return this.finish(conv(xf, this.onnxWeight(), this.bias, opts));
  }

  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), filters: this.filters, groups: this.groups };
  }
}

/** 1-D convolution over [N, steps, C]. */
export class Conv1D extends ConvND {
  static override className = 'Conv1D';
  constructor(filters: number, kernelSize: number | number[], options: ConvOptionsWithGroups = {}) {
    super(1, filters, kernelSize, options);
  }
  static override fromConfig(c: Record<string, any>): Conv1D {
    return new Conv1D(c.filters, c.kernelSize, c);
  }
}
registerLayer(Conv1D);

/** 2-D convolution over [N, H, W, C]. */
export class Conv2D extends ConvND {
  static override className = 'Conv2D';
  constructor(filters: number, kernelSize: number | number[], options: ConvOptionsWithGroups = {}) {
    super(2, filters, kernelSize, options);
  }
  static override fromConfig(c: Record<string, any>): Conv2D {
    return new Conv2D(c.filters, c.kernelSize, c);
  }
}
registerLayer(Conv2D);

export interface DepthwiseConv2DOptions extends ConvLayerOptions {
  depthMultiplier?: number;
  depthwiseInitializer?: InitializerSpec;
}

/** Per-channel 2-D convolution; kernel [kh, kw, C, depthMultiplier], output channel c*m + j. */
export class DepthwiseConv2D extends BaseConv {
  static override className = 'DepthwiseConv2D';
  readonly depthMultiplier: number;
  private channels = 0;
  constructor(kernelSize: number | number[], options: DepthwiseConv2DOptions = {}) {
    super(2, kernelSize, { ...options, kernelInitializer: options.depthwiseInitializer ?? options.kernelInitializer });
    this.depthMultiplier = options.depthMultiplier ?? 1;
  }
  override build(inputShape: (Dim | null)[]): void {
    this.channels = this.checkRank(inputShape);
    this.addKernel([...this.kernelSize, this.channels, this.depthMultiplier], this.channels * this.depthMultiplier);
  }
  override call(x: Tensor): Tensor {
    const [kh, kw] = this.kernelSize;
    const w = reshape(transpose(this.kernel, [2, 3, 0, 1]), [this.channels * this.depthMultiplier, 1, kh, kw]);
    const y = conv2d(toChannelsFirst(x), w, this.bias, {
      stride: this.strides,
      padding: this.padding,
      dilation: this.dilationRate,
      groups: this.channels,
    });
    return this.finish(y);
  }
  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), depthMultiplier: this.depthMultiplier };
  }
  static override fromConfig(c: Record<string, any>): DepthwiseConv2D {
    return new DepthwiseConv2D(c.kernelSize, c);
  }
}
registerLayer(DepthwiseConv2D);

/**
 * Transposed 2-D convolution; kernel [kh, kw, filters, Cin] (Keras layout). Output size per axis:
 * 'valid' → (in - 1) * stride + dilation * (k - 1) + 1, 'same' → in * stride.
 */
export class Conv2DTranspose extends BaseConv {
  static override className = 'Conv2DTranspose';
  constructor(
    readonly filters: number,
    kernelSize: number | number[],
    options: ConvLayerOptions = {},
  ) {
    super(2, kernelSize, options);
    if (!Number.isInteger(filters) || filters <= 0)
      throw new Error(`Conv2DTranspose: filters must be a positive integer, got ${filters}`);
  }
  override build(inputShape: (Dim | null)[]): void {
    const channels = this.checkRank(inputShape);
    this.addKernel([...this.kernelSize, this.filters, channels], this.filters);
  }
  override call(x: Tensor): Tensor {
    const w = transpose(this.kernel, [3, 2, 0, 1]); // [Cin, Cout, kh, kw]
    let padding: [number, number][] = [
      [0, 0],
      [0, 0],
    ];
    let outputPadding = [0, 0];
    if (this.padding === 'same') {
      // The gradient of a 'same' conv whose input is in*stride: total padding k_eff - stride.
      const eff = this.kernelSize.map((k, i) => this.dilationRate[i] * (k - 1) + 1);
      const total = eff.map((k, i) => k - this.strides[i]);
      padding = total.map((t) => (t >= 0 ? [Math.floor(t / 2), t - Math.floor(t / 2)] : [0, 0]));
      outputPadding = total.map((t) => (t < 0 ? -t : 0));
    }
    const y = convTranspose2d(toChannelsFirst(x), w, this.bias, {
      stride: this.strides,
      dilation: this.dilationRate,
      padding,
      outputPadding,
    });
    return this.finish(y);
  }
  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), filters: this.filters };
  }
  static override fromConfig(c: Record<string, any>): Conv2DTranspose {
    return new Conv2DTranspose(c.filters, c.kernelSize, c);
  }
}
registerLayer(Conv2DTranspose);

export interface SeparableConv2DOptions extends ConvLayerOptions {
  depthMultiplier?: number;
  depthwiseInitializer?: InitializerSpec;
  pointwiseInitializer?: InitializerSpec;
}

/**
 * Depthwise 2-D convolution followed by a 1×1 convolution (MobileNet style). Keras layouts:
 * depthwiseKernel [kh, kw, C, depthMultiplier], pointwiseKernel [1, 1, C * depthMultiplier, filters].
 */
export class SeparableConv2D extends BaseConv {
  static override className = 'SeparableConv2D';
  readonly depthMultiplier: number;
  private channels = 0;
  depthwiseKernel!: Variable;
  pointwiseKernel!: Variable;
  constructor(
    readonly filters: number,
    kernelSize: number | number[],
    private readonly sepOpts: SeparableConv2DOptions = {},
  ) {
    super(2, kernelSize, sepOpts);
    this.depthMultiplier = sepOpts.depthMultiplier ?? 1;
  }
  override build(inputShape: (Dim | null)[]): void {
    this.channels = this.checkRank(inputShape);
    const m = this.depthMultiplier;
    this.depthwiseKernel = this.addWeight(
      'depthwiseKernel',
      [...this.kernelSize, this.channels, m],
      this.sepOpts.depthwiseInitializer ?? 'glorotUniform',
    );
    this.pointwiseKernel = this.addWeight(
      'pointwiseKernel',
      [1, 1, this.channels * m, this.filters],
      this.sepOpts.pointwiseInitializer ?? 'glorotUniform',
      {
        regularizer: this.opts.kernelRegularizer,
      },
    );
    if (this.useBias)
      this.bias = this.addWeight('bias', [this.filters], this.opts.biasInitializer ?? 'zeros', {
        regularizer: this.opts.biasRegularizer,
      });
  }
  override call(x: Tensor): Tensor {
    const [kh, kw] = this.kernelSize;
    const cm = this.channels * this.depthMultiplier;
    const dw = reshape(transpose(this.depthwiseKernel, [2, 3, 0, 1]), [cm, 1, kh, kw]);
    const mid = conv2d(toChannelsFirst(x), dw, undefined, {
      stride: this.strides,
      padding: this.padding,
      dilation: this.dilationRate,
      groups: this.channels,
    });
    const pw = transpose(this.pointwiseKernel, [3, 2, 0, 1]); // [filters, C*m, 1, 1]
    return this.finish(conv2d(mid, pw, this.bias));
  }
  override getConfig(): Record<string, any> {
    const o = this.sepOpts;
    return {
      ...super.getConfig(),
      filters: this.filters,
      depthMultiplier: this.depthMultiplier,
      depthwiseInitializer: serializeInitializer(getInitializer(o.depthwiseInitializer ?? 'glorotUniform')),
      pointwiseInitializer: serializeInitializer(getInitializer(o.pointwiseInitializer ?? 'glorotUniform')),
    };
  }
  static override fromConfig(c: Record<string, any>): SeparableConv2D {
    return new SeparableConv2D(c.filters, c.kernelSize, c);
  }
}
registerLayer(SeparableConv2D);
