/**
 * Segmentation model builders on Lepton's functional API: a U-Net (Ronneberger et al. 2015:
 * an encoder of conv blocks and 2× poolings, a decoder that upsamples and concatenates the
 * encoder's features of the same scale) and an FCN-style head (Long et al. 2015, FCN-8s: class
 * scores read off a backbone at several strides, upsampled and summed coarse to fine). Both end
 * in per-pixel class logits [N, H, W, K] (channels-last), trained with `segmentationLoss`.
 */
import {
  BatchNormalization,
  Concatenate,
  Conv2D,
  Conv2DTranspose,
  Add,
  type KerasTensor,
  MaxPooling2D,
  type Model,
  ReLU,
  UpSampling2D,
  input,
  model,
} from '../../index.js';

export interface ConvBlockOptions {
  /** BatchNormalization after each convolution (default true). */
  batchNorm?: boolean;
  /** Convolutions per block (default 2, as in the U-Net paper). */
  convs?: number;
}

/** `convs` × (3×3 'same' conv → [BatchNorm] → ReLU): the unit both builders stack. */
export function convBlock(x: KerasTensor, filters: number, options: ConvBlockOptions & { name: string }): KerasTensor {
  const bn = options.batchNorm ?? true;
  for (let i = 0; i < (options.convs ?? 2); i++) {
    x = new Conv2D(filters, 3, { padding: 'same', useBias: !bn, name: `${options.name}_conv${i + 1}` }).apply(x);
    if (bn) x = new BatchNormalization({ name: `${options.name}_bn${i + 1}` }).apply(x);
    x = new ReLU({ name: `${options.name}_relu${i + 1}` }).apply(x);
  }
  return x;
}

function checkInput(builder: string, shape: readonly number[], stride: number, numClasses: number): void {
  if (shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0))
    throw new Error(
      `${builder}: inputShape must be [height, width, channels] of positive integers, got [${shape.join(', ')}]`,
    );
  if (shape[0] % stride !== 0 || shape[1] % stride !== 0)
    throw new Error(
      `${builder}: height and width must be multiples of ${stride} (2^depth), got ${shape[0]}x${shape[1]}; pad or crop the images (or use tiledSegment)`,
    );
  if (!(Number.isInteger(numClasses) && numClasses >= 2))
    throw new Error(`${builder}: numClasses must be an integer >= 2 (background counts), got ${numClasses}`);
}

export interface UNetOptions extends ConvBlockOptions {
  /** [height, width, channels] of one image; height and width multiples of 2^depth. */
  inputShape: [number, number, number];
  /** Classes including background; the model outputs this many logits per pixel. */
  numClasses: number;
  /** Number of 2× downsamplings (default 4, the paper's). */
  depth?: number;
  /** Filters of the first block, doubled at every level (default 32; the paper uses 64). */
  filters?: number;
  /**
   * How the decoder doubles the resolution: 'transpose' (learned 2×2 stride-2 Conv2DTranspose, the
   * paper's up-convolution; default) or 'nearest' (UpSampling2D then a 3×3 conv).
   */
  upsampling?: 'transpose' | 'nearest';
  name?: string;
}

/** A U-Net returning logits [N, H, W, numClasses]. */
export function unet(options: UNetOptions): Model {
  const depth = options.depth ?? 4;
  const base = options.filters ?? 32;
  const up = options.upsampling ?? 'transpose';
  if (!(Number.isInteger(depth) && depth >= 1 && depth <= 6))
    throw new Error(`unet: depth must be an integer in [1, 6], got ${depth}`);
  if (!(Number.isInteger(base) && base >= 1)) throw new Error(`unet: filters must be a positive integer, got ${base}`);
  if (up !== 'transpose' && up !== 'nearest')
    throw new Error(`unet: upsampling must be 'transpose' or 'nearest', got '${up}'`);
  checkInput('unet', options.inputShape, 2 ** depth, options.numClasses);
  const block = { batchNorm: options.batchNorm, convs: options.convs };
  const image = input({ shape: options.inputShape, name: 'image' });
  let x = image;
  const skips: KerasTensor[] = [];
  for (let level = 0; level < depth; level++) {
    x = convBlock(x, base * 2 ** level, { ...block, name: `enc${level}` });
    skips.push(x);
    x = new MaxPooling2D(2, { name: `pool${level}` }).apply(x);
  }
  x = convBlock(x, base * 2 ** depth, { ...block, name: 'bottleneck' });
  for (let level = depth - 1; level >= 0; level--) {
    const f = base * 2 ** level;
    if (up === 'transpose') x = new Conv2DTranspose(f, 2, { strides: 2, name: `up${level}` }).apply(x);
    else {
      x = new UpSampling2D(2, { name: `up${level}` }).apply(x);
      x = new Conv2D(f, 3, { padding: 'same', activation: 'relu', name: `up${level}_conv` }).apply(x);
    }
    x = new Concatenate({ name: `skip${level}` }).apply([skips[level], x]) as KerasTensor;
    x = convBlock(x, f, { ...block, name: `dec${level}` });
  }
  const logits = new Conv2D(options.numClasses, 1, { name: 'logits' }).apply(x);
  return model({ inputs: image, outputs: logits, name: options.name ?? 'unet' });
}

/** Feature maps of a backbone, finest first, each with its stride relative to the input. */
export interface BackboneFeatures {
  features: KerasTensor[];
  strides: number[];
}

export interface ConvBackboneOptions extends ConvBlockOptions {
  /** Filters per stage; stage i has stride 2^(i+1) (default [32, 64, 128, 256]: strides 2..16). */
  widths?: number[];
}

/**
 * A plain VGG-style backbone (conv block → 2× max pool per stage) for `fcn`; any function from
 * the image tensor to `BackboneFeatures` (e.g. a pretrained network's stages) works the same way.
 */
export function convBackbone(options: ConvBackboneOptions = {}): (image: KerasTensor) => BackboneFeatures {
  const widths = options.widths ?? [32, 64, 128, 256];
  if (!widths.length || !widths.every((w) => Number.isInteger(w) && w > 0))
    throw new Error(`convBackbone: widths must be positive integers, got [${widths.join(', ')}]`);
  return (image) => {
    const features: KerasTensor[] = [],
      strides: number[] = [];
    let x = image;
    widths.forEach((w, i) => {
      x = convBlock(x, w, { batchNorm: options.batchNorm, convs: options.convs, name: `stage${i}` });
      x = new MaxPooling2D(2, { name: `stage${i}_pool` }).apply(x);
      features.push(x);
      strides.push(2 ** (i + 1));
    });
    return { features, strides };
  };
}

export interface FcnOptions {
  inputShape: [number, number, number];
  numClasses: number;
  /** Default `convBackbone()`. */
  backbone?: (image: KerasTensor) => BackboneFeatures;
  /** How many of the backbone's coarsest feature maps the head fuses (default 3, as FCN-8s). */
  fuse?: number;
  name?: string;
}

/**
 * FCN-style head: a 1×1 conv scores each of the `fuse` coarsest backbone features; starting from
 * the coarsest, the scores are upsampled by a learned Conv2DTranspose to the next finer stride and
 * added to its scores; the finest sum is upsampled to the input size. Returns logits [N, H, W, K].
 */
export function fcn(options: FcnOptions): Model {
  const image = input({ shape: options.inputShape, name: 'image' });
  const { features, strides } = (options.backbone ?? convBackbone())(image);
  if (features.length !== strides.length || !features.length)
    throw new Error(`fcn: the backbone returned ${features.length} features and ${strides.length} strides`);
  const fuse = Math.min(options.fuse ?? 3, features.length);
  checkInput('fcn', options.inputShape, strides[strides.length - 1], options.numClasses);
  const K = options.numClasses;
  const used = features.slice(-fuse),
    usedStrides = strides.slice(-fuse);
  let scores = new Conv2D(K, 1, { name: `score${usedStrides[fuse - 1]}` }).apply(used[fuse - 1]);
  for (let i = fuse - 2; i >= 0; i--) {
    const factor = usedStrides[i + 1] / usedStrides[i];
    if (!Number.isInteger(factor)) throw new Error(`fcn: backbone strides must divide each other, got ${strides}`);
    const upsampled = new Conv2DTranspose(K, 2 * factor, {
      strides: factor,
      padding: 'same',
      name: `up${usedStrides[i + 1]}to${usedStrides[i]}`,
    }).apply(scores);
    const here = new Conv2D(K, 1, { name: `score${usedStrides[i]}` }).apply(used[i]);
    scores = new Add({ name: `fuse${usedStrides[i]}` }).apply([here, upsampled]) as KerasTensor;
  }
  const s = usedStrides[0];
  const logits =
    s === 1 ? scores : new Conv2DTranspose(K, 2 * s, { strides: s, padding: 'same', name: `up${s}to1` }).apply(scores);
  return model({ inputs: image, outputs: logits, name: options.name ?? 'fcn' });
}
