/**
 * PyTorch-style modules (exported as the `torch` namespace): NCHW layouts, PyTorch weight shapes,
 * parameter names and default initializations, so PyTorch state dicts load by key
 * (`weight`, `bias`, `running_mean`, `running_var`, `num_batches_tracked`). Dropout and
 * BatchNorm follow `module.training` (train()/eval()).
 */
import { type DType, Tensor, Variable, add, mul, rand, zeros, ones, full } from '../engine/index.js';
import { elu, gelu, relu, sigmoid, silu, softmax, tanh } from '../engine/ops/activations.js';
import { conv1d, conv2d, convTranspose2d } from '../engine/ops/conv.js';
import { dropout, embedding, linear } from '../engine/ops/nn.js';
import { layerNorm } from '../engine/ops/norm.js';
import { avgPool2d, maxPool2d } from '../engine/ops/pool.js';
import { flatten } from '../engine/ops/shape.js';
import { randn } from '../engine/tensor.js';
import { batchNormalize, perAxis } from './layers/util.js';
import { Module } from './module.js';
import { addUpdate } from './updates.js';
import { numel } from '../engine/shape.js';

/** PyTorch's default for Linear/Conv: kaiming_uniform(a=√5) = U(±1/√fanIn), bias U(±1/√fanIn). */
function uniformParam(shape: number[], fanIn: number, dtype: DType): Variable {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return new Variable(rand(shape, { low: -bound, high: bound, dtype: dtype as 'float32' | 'float64' }));
}

export interface TorchOptions {
  bias?: boolean;
  dtype?: 'float32' | 'float64';
}

/** y = x Wᵀ + b with weight [out, in] (one Gemm). */
export class Linear extends Module {
  weight: Variable;
  bias?: Variable;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: TorchOptions = {},
  ) {
    super();
    const dtype = options.dtype ?? 'float32';
    this.weight = uniformParam([outFeatures, inFeatures], inFeatures, dtype);
    if (options.bias ?? true) this.bias = uniformParam([outFeatures], inFeatures, dtype);
  }
  override forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

export interface TorchConvOptions extends TorchOptions {
  stride?: number | number[];
  padding?: number | number[] | 'valid' | 'same';
  dilation?: number | number[];
  groups?: number;
}

abstract class ConvNd extends Module {
  weight: Variable;
  bias?: Variable;
  constructor(
    n: number,
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: number | number[],
    protected readonly options: TorchConvOptions,
  ) {
    super();
    const groups = options.groups ?? 1;
    const ks = perAxis(kernelSize, n, 'kernelSize', new.target.name);
    const fanIn = (inChannels / groups) * numel(ks);
    const dtype = options.dtype ?? 'float32';
    this.weight = uniformParam([outChannels, inChannels / groups, ...ks], fanIn, dtype);
    if (options.bias ?? true) this.bias = uniformParam([outChannels], fanIn, dtype);
  }
  protected convOptions() {
    const o = this.options;
    return { stride: o.stride, padding: o.padding as any, dilation: o.dilation, groups: o.groups };
  }
}

/** 1-D convolution over [N, C, L]; weight [out, in/groups, k]. */
export class Conv1d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: number | number[], options: TorchConvOptions = {}) {
    super(1, inChannels, outChannels, kernelSize, options);
  }
  override forward(x: Tensor): Tensor {
    return conv1d(x, this.weight, this.bias, this.convOptions());
  }
}

/** 2-D convolution over [N, C, H, W]; weight [out, in/groups, kh, kw]. */
export class Conv2d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: number | number[], options: TorchConvOptions = {}) {
    super(2, inChannels, outChannels, kernelSize, options);
  }
  override forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, this.convOptions());
  }
}

/** Transposed 2-D convolution; weight [in, out/groups, kh, kw]. */
export class ConvTranspose2d extends Module {
  weight: Variable;
  bias?: Variable;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: number | number[],
    private readonly options: TorchConvOptions & { outputPadding?: number | number[] } = {},
  ) {
    super();
    const groups = options.groups ?? 1;
    const ks = perAxis(kernelSize, 2, 'kernelSize', new.target.name);
    // PyTorch computes the fan from weight.size(1) * kernel for transposed convs.
    const fanIn = (outChannels / groups) * ks[0] * ks[1];
    const dtype = options.dtype ?? 'float32';
    this.weight = uniformParam([inChannels, outChannels / groups, ...ks], fanIn, dtype);
    if (options.bias ?? true) this.bias = uniformParam([outChannels], fanIn, dtype);
  }
  override forward(x: Tensor): Tensor {
    const o = this.options;
    return convTranspose2d(x, this.weight, this.bias, {
      stride: o.stride,
      padding: o.padding as any,
      dilation: o.dilation,
      groups: o.groups,
      outputPadding: o.outputPadding,
    });
  }
}

/**
 * Batch normalization over the channel axis 1 ([N, C] or [N, C, ...]). Training: batch statistics,
 * running = (1 - momentum) * running + momentum * batch with the unbiased batch variance
 * (PyTorch semantics); eval: running statistics.
 */
export class BatchNorm extends Module {
  weight?: Variable;
  bias?: Variable;
  running_mean: Variable;
  running_var: Variable;
  num_batches_tracked: Variable;
  constructor(
    readonly numFeatures: number,
    readonly options: { eps?: number; momentum?: number; affine?: boolean; dtype?: 'float32' | 'float64' } = {},
  ) {
    super();
    const dtype = options.dtype ?? 'float32';
    if (options.affine ?? true) {
      this.weight = new Variable(ones([numFeatures], dtype));
      this.bias = new Variable(zeros([numFeatures], dtype));
    }
    this.running_mean = this.registerBuffer('running_mean', new Variable(zeros([numFeatures], dtype)));
    this.running_var = this.registerBuffer('running_var', new Variable(ones([numFeatures], dtype)));
    this.num_batches_tracked = this.registerBuffer('num_batches_tracked', new Variable(full([], 0, 'int64')));
  }
  override forward(x: Tensor): Tensor {
    const count = numel(x.shape.filter((_, i) => i !== 1) as number[]);
    const m = this.options.momentum ?? 0.1;
    const update = (mean: Tensor, variance: Tensor): void => {
      const unbiased = mul(variance, count / Math.max(1, count - 1));
      addUpdate(this.running_mean, add(mul(this.running_mean, 1 - m), mul(mean, m)));
      addUpdate(this.running_var, add(mul(this.running_var, 1 - m), mul(unbiased, m)));
      addUpdate(this.num_batches_tracked, add(this.num_batches_tracked, full([], 1, 'int64')));
    };
    const running = { mean: this.running_mean, variance: this.running_var };
    return batchNormalize(
      x,
      1,
      running,
      { scale: this.weight, offset: this.bias },
      this.options.eps ?? 1e-5,
      this.training ? { update } : undefined,
    );
  }
}
export { BatchNorm as BatchNorm1d, BatchNorm as BatchNorm2d };

/** Layer normalization over the trailing `normalizedShape` axes. */
export class LayerNorm extends Module {
  weight?: Variable;
  bias?: Variable;
  readonly normalizedShape: number[];
  constructor(
    normalizedShape: number | number[],
    readonly options: { eps?: number; elementwiseAffine?: boolean; dtype?: 'float32' | 'float64' } = {},
  ) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape;
    const dtype = options.dtype ?? 'float32';
    if (options.elementwiseAffine ?? true) {
      this.weight = new Variable(ones(this.normalizedShape, dtype));
      this.bias = new Variable(zeros(this.normalizedShape, dtype));
    }
  }
  override forward(x: Tensor): Tensor {
    return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.options.eps ?? 1e-5);
  }
}

/** Inverted dropout while `training`. */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training);
  }
}

/** Lookup table [numEmbeddings, embeddingDim] initialized N(0, 1) like PyTorch. */
export class Embedding extends Module {
  weight: Variable;
  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    options: { dtype?: 'float32' | 'float64' } = {},
  ) {
    super();
    this.weight = new Variable(randn([numEmbeddings, embeddingDim], { dtype: options.dtype }));
  }
  override forward(indices: Tensor): Tensor {
    return embedding(indices, this.weight);
  }
}

export class MaxPool2d extends Module {
  constructor(
    readonly kernelSize: number | number[],
    readonly options: { stride?: number | number[]; padding?: number | number[] } = {},
  ) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return maxPool2d(x, { kernel: this.kernelSize, stride: this.options.stride, padding: this.options.padding as any });
  }
}

export class AvgPool2d extends Module {
  constructor(
    readonly kernelSize: number | number[],
    readonly options: { stride?: number | number[]; padding?: number | number[]; countIncludePad?: boolean } = {},
  ) {
    super();
  }
  override forward(x: Tensor): Tensor {
    // PyTorch counts padded zeros in the divisor by default.
    return avgPool2d(x, {
      kernel: this.kernelSize,
      stride: this.options.stride,
      padding: this.options.padding as any,
      countIncludePad: this.options.countIncludePad ?? true,
    });
  }
}

/** Flattens axes startDim..endDim (default 1..-1). */
export class Flatten extends Module {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return flatten(x, this.startDim, this.endDim);
  }
}

/**
 * A module wrapping an activation function. Like every module in this namespace, the named
 * activations are classes constructed with `new` (`new torch.ReLU()`, as `new torch.Linear(…)`).
 */
export class Activation extends Module {
  constructor(private readonly fn: (x: Tensor) => Tensor) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return this.fn(x);
  }
}
export class ReLU extends Activation {
  constructor() {
    super(relu);
  }
}
export class GELU extends Activation {
  constructor() {
    super((x) => gelu(x));
  }
}
export class Tanh extends Activation {
  constructor() {
    super(tanh);
  }
}
export class Sigmoid extends Activation {
  constructor() {
    super(sigmoid);
  }
}
export class SiLU extends Activation {
  constructor() {
    super(silu);
  }
}
export class ELU extends Activation {
  constructor(readonly alpha = 1) {
    super((x) => elu(x, alpha));
  }
}
export class Softmax extends Activation {
  constructor(readonly dim = -1) {
    super((x) => softmax(x, dim));
  }
}

/** Runs modules in order; children are named "0", "1", ... like torch.nn.Sequential. */
export class Sequential extends Module {
  readonly layers: Module[];
  constructor(...modules: Module[]) {
    super();
    this.layers = modules;
  }
  override namedChildren(): [string, Module][] {
    return this.layers.map((m, i) => [String(i), m]);
  }
  override forward(x: Tensor): Tensor {
    return this.layers.reduce((h, m) => m.call(h) as Tensor, x);
  }
}
