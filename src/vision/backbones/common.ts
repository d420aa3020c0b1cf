/**
 * What every backbone builder shares: the options (input shape, classifier head or feature
 * extractor, multi-scale outputs), torchvision's channel rounding, conv → BatchNorm → activation
 * units with PyTorch's symmetric padding, and the recorder of feature maps by stride from which
 * the builders pick their outputs. Layers are named after torchvision's state_dict keys
 * ('layer1.0.conv1', 'features.3.conv.1.0') so `loadTorchvisionStateDict` can fill them.
 */
import {
  Activation,
  BatchNormalization,
  Conv2D,
  Dense,
  Dropout,
  GlobalAveragePooling2D,
  GlobalMaxPooling2D,
  type KerasTensor,
  type Model,
  ReLU,
  ZeroPadding2D,
  input,
  model,
} from '../../index.js';
import type { BackboneFeatures } from '../segmentation/unet.js';

export interface BackboneOptions {
  /** [height, width, channels] of one image, channels-last (default [224, 224, 3]). */
  inputShape?: [number, number, number];
  /** End in the classifier (default true); false ends at the last feature map (see `pooling`). */
  includeTop?: boolean;
  /** Classes of the classifier head (default 1000, ImageNet's). */
  classes?: number;
  /** Without the top: 'avg' or 'max' pools the last feature map to [N, C]; default none ([N, h, w, C]). */
  pooling?: 'avg' | 'max';
  /**
   * Output the feature maps at these strides (relative to the input, e.g. [8, 16, 32]; finest first)
   * instead of the classifier: a multi-output model for FPNs and segmentation heads (`fcn`).
   */
  featureStrides?: number[];
  /** Model name (default the builder's). */
  name?: string;
}

/** Options of the builders with a width multiplier (alpha). */
export interface WidthOptions {
  /** Scales every layer's channels (rounded to multiples of 8 as torchvision does); default 1. */
  widthMultiplier?: number;
}

/** torchvision's `_make_divisible`: the nearest multiple of `divisor`, never below 90% of v. */
export function makeDivisible(v: number, divisor = 8, minValue = divisor): number {
  let rounded = Math.max(minValue, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (rounded < 0.9 * v) rounded += divisor;
  return rounded;
}

export function checkWidth(builder: string, alpha: number): number {
  if (!(typeof alpha === 'number' && alpha > 0 && Number.isFinite(alpha)))
    throw new Error(`${builder}: widthMultiplier must be a positive number, got ${alpha}`);
  return alpha;
}

export type ActivationName = 'relu' | 'relu6' | 'hardSwish' | null;

/** The activation as a layer (ReLU6 is Keras' ReLU({maxValue: 6})). */
export function activationLayer(kind: Exclude<ActivationName, null>, name?: string): ReLU | Activation {
  if (kind === 'relu') return new ReLU({ name });
  if (kind === 'relu6') return new ReLU({ maxValue: 6, name });
  return new Activation(kind, { name });
}

export interface ConvBnOptions {
  stride?: number;
  groups?: number;
  activation?: ActivationName;
  conv: string;
  bn: string;
  /** PyTorch BatchNorm2d eps (default 1e-5) and momentum (default 0.1; Keras' is 1 − it). */
  eps?: number;
  torchMomentum?: number;
}

/**
 * Conv (no bias) → BatchNorm → activation with PyTorch's padding ((k − 1) / 2 on every side):
 * 'same' for stride 1, explicit zero padding for strided convs, where Keras' 'same' pads only
 * bottom/right and would shift the sampling grid against torchvision's.
 */
export function convBn(x: KerasTensor, filters: number, kernel: number, o: ConvBnOptions): KerasTensor {
  const stride = o.stride ?? 1;
  const pad = (kernel - 1) / 2;
  if (stride > 1 && pad > 0) x = new ZeroPadding2D(pad, { name: `${o.conv}.pad` }).apply(x);
  x = new Conv2D(filters, kernel, {
    strides: stride,
    padding: stride > 1 ? 'valid' : 'same',
    groups: o.groups ?? 1,
    useBias: false,
    kernelInitializer: 'heNormal',
    name: o.conv,
  }).apply(x);
  x = new BatchNormalization({ epsilon: o.eps ?? 1e-5, momentum: 1 - (o.torchMomentum ?? 0.1), name: o.bn }).apply(x);
  return o.activation ? activationLayer(o.activation, `${o.conv}.act`).apply(x) : x;
}

/** Records the last feature map at each stride while a builder stacks its layers. */
export class StrideRecorder {
  private readonly byStride = new Map<number, KerasTensor>();
  constructor(readonly inputHeight: number) {}
  /** Notes x as the current deepest map of its stride (input height / map height). */
  note(x: KerasTensor): KerasTensor {
    const h = x.shape[1];
    if (typeof h === 'number' && h > 0) this.byStride.set(this.inputHeight / h, x);
    return x;
  }
  pick(builder: string, strides: number[]): KerasTensor[] {
    if (!strides.length) throw new Error(`${builder}: featureStrides is empty`);
    return strides.map((s, i) => {
      if (i > 0 && s <= strides[i - 1])
        throw new Error(`${builder}: featureStrides must increase (finest first), got [${strides.join(', ')}]`);
      const t = this.byStride.get(s);
      if (!t)
        throw new Error(
          `${builder}: no feature map at stride ${s}; this backbone has strides [${[...this.byStride.keys()].join(', ')}] for an input of height ${this.inputHeight}`,
        );
      return t;
    });
  }
}

export interface Resolved {
  inputShape: [number, number, number];
  includeTop: boolean;
  classes: number;
}

/** Checks the shared options; `minStride` is the backbone's total stride (the input must divide by it). */
export function resolveOptions(builder: string, o: BackboneOptions, minStride: number): Resolved {
  const inputShape = o.inputShape ?? [224, 224, 3];
  if (inputShape.length !== 3 || !inputShape.every((d) => Number.isInteger(d) && d > 0))
    throw new Error(
      `${builder}: inputShape must be [height, width, channels] of positive integers, got [${inputShape}]`,
    );
  if (inputShape[0] % minStride !== 0 || inputShape[1] % minStride !== 0)
    throw new Error(
      `${builder}: height and width must be multiples of ${minStride} (the backbone's total stride), got ${inputShape[0]}x${inputShape[1]}`,
    );
  const classes = o.classes ?? 1000;
  if (!(Number.isInteger(classes) && classes >= 1))
    throw new Error(`${builder}: classes must be a positive integer, got ${classes}`);
  if (o.featureStrides && o.includeTop) throw new Error(`${builder}: featureStrides replaces the top; drop includeTop`);
  if (o.pooling !== undefined && o.pooling !== 'avg' && o.pooling !== 'max')
    throw new Error(`${builder}: pooling must be 'avg' or 'max', got '${o.pooling}'`);
  return { inputShape, includeTop: !o.featureStrides && (o.includeTop ?? true), classes };
}

/** The image input of a builder. */
export function imageInput(shape: [number, number, number]): KerasTensor {
  return input({ shape, name: 'image' });
}

/**
 * The model's outputs without a top: the maps at `featureStrides`, or the last map (pooled when
 * asked). With a top, `head(last)` gives the logits.
 */
export function finish(
  builder: string,
  o: BackboneOptions,
  image: KerasTensor,
  last: KerasTensor,
  recorder: StrideRecorder,
  head: (pooled: KerasTensor) => KerasTensor,
  r: Resolved,
): Model {
  const name = o.name ?? builder;
  if (o.featureStrides) return model({ inputs: image, outputs: recorder.pick(builder, o.featureStrides), name });
  if (r.includeTop) {
    const pooled = new GlobalAveragePooling2D({ name: 'avgpool' }).apply(last);
    return model({ inputs: image, outputs: head(pooled), name });
  }
  if (o.pooling === 'avg') last = new GlobalAveragePooling2D({ name: 'avgpool' }).apply(last);
  else if (o.pooling === 'max') last = new GlobalMaxPooling2D({ name: 'maxpool' }).apply(last);
  return model({ inputs: image, outputs: last, name });
}

/** Dense classifier, optionally after dropout (torchvision's MobileNet heads). */
export function linear(x: KerasTensor, units: number, name: string, dropout = 0): KerasTensor {
  if (dropout > 0) x = new Dropout(dropout, { name: `${name}.dropout` }).apply(x);
  return new Dense(units, { name }).apply(x);
}

/**
 * A builder as a backbone function for `fcn` (and any head taking `BackboneFeatures`): the
 * network is built for the image's shape with outputs at `strides` and applied as one nested
 * model, so `backbone.trainable = false` (`model.getLayer(name)`) freezes it in one line.
 */
export function featureBackbone<B extends (options: any) => Model>(
  builder: B,
  options: Omit<NonNullable<Parameters<B>[0]>, 'featureStrides' | 'includeTop' | 'inputShape'> & { strides: number[] },
): (image: KerasTensor) => BackboneFeatures {
  return (image) => {
    const [, h, w, c] = image.shape;
    if (typeof h !== 'number' || typeof w !== 'number' || typeof c !== 'number')
      throw new Error(`featureBackbone: the image input needs a known [height, width, channels], got ${image}`);
    const { strides, ...rest } = options;
    const net = builder({ ...rest, inputShape: [h, w, c], featureStrides: strides });
    const out = net.apply(image) as KerasTensor | KerasTensor[];
    return { features: Array.isArray(out) ? out : [out], strides: [...strides] };
  };
}
