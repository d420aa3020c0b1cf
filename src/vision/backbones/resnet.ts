/**
 * ResNet-18/34 (He et al. 2015, torchvision's `resnet18`/`resnet34`): a 7×7 stride-2 stem and 3×3
 * max pool, then four stages of basic blocks (two 3×3 conv-BN, a residual add, ReLU) at strides
 * 4, 8, 16, 32; a 1×1 strided conv-BN projects the shortcut where the shape changes. Same layer
 * names, shapes and parameter counts as torchvision at width 1.
 */
import { Add, type KerasTensor, MaxPooling2D, type Model, ReLU, ZeroPadding2D } from '../../index.js';
import {
  type BackboneOptions,
  StrideRecorder,
  type WidthOptions,
  checkWidth,
  convBn,
  finish,
  imageInput,
  linear,
  makeDivisible,
  resolveOptions,
} from './common.js';

export interface ResNetOptions extends BackboneOptions, WidthOptions {
  /** Basic blocks per stage (resnet18: [2, 2, 2, 2], resnet34: [3, 4, 6, 3]). */
  blocks?: number[];
}

function basicBlock(x: KerasTensor, inC: number, planes: number, stride: number, name: string): KerasTensor {
  let y = convBn(x, planes, 3, { stride, activation: 'relu', conv: `${name}.conv1`, bn: `${name}.bn1` });
  y = convBn(y, planes, 3, { conv: `${name}.conv2`, bn: `${name}.bn2` });
  const shortcut =
    stride !== 1 || inC !== planes
      ? convBn(x, planes, 1, { stride, conv: `${name}.downsample.0`, bn: `${name}.downsample.1` })
      : x;
  const sum = new Add({ name: `${name}.add` }).apply([y, shortcut]) as KerasTensor;
  return new ReLU({ name: `${name}.relu` }).apply(sum);
}

/** A ResNet of basic blocks; `resnet18`/`resnet34` fix `blocks`. */
export function resnet(options: ResNetOptions = {}): Model {
  const builder = options.name ?? 'resnet';
  const blocks = options.blocks ?? [2, 2, 2, 2];
  if (blocks.length !== 4 || !blocks.every((b) => Number.isInteger(b) && b >= 1))
    throw new Error(`${builder}: blocks must be 4 positive integers (one per stage), got [${blocks.join(', ')}]`);
  const alpha = checkWidth(builder, options.widthMultiplier ?? 1);
  const r = resolveOptions(builder, options, 32);
  const widths = [64, 128, 256, 512].map((c) => makeDivisible(c * alpha));
  const stem = makeDivisible(64 * alpha);
  const image = imageInput(r.inputShape);
  const rec = new StrideRecorder(r.inputShape[0]);
  let x = convBn(image, stem, 7, { stride: 2, activation: 'relu', conv: 'conv1', bn: 'bn1' });
  rec.note(x);
  // PyTorch pads max pooling with -inf; after a ReLU zeros are never larger than a window's max.
  x = new ZeroPadding2D(1, { name: 'maxpool.pad' }).apply(x);
  x = rec.note(new MaxPooling2D(3, { strides: 2, name: 'maxpool' }).apply(x));
  let inC = stem;
  blocks.forEach((n, stage) => {
    for (let b = 0; b < n; b++) {
      const stride = stage > 0 && b === 0 ? 2 : 1;
      x = basicBlock(x, inC, widths[stage], stride, `layer${stage + 1}.${b}`);
      inC = widths[stage];
    }
    rec.note(x);
  });
  return finish(builder, options, image, x, rec, (pooled) => linear(pooled, r.classes, 'fc'), r);
}

/** ResNet-18: torchvision's `resnet18` (11,689,512 parameters with 1000 classes). */
export function resnet18(options: Omit<ResNetOptions, 'blocks'> = {}): Model {
  return resnet({ ...options, blocks: [2, 2, 2, 2], name: options.name ?? 'resnet18' });
}

/** ResNet-34: torchvision's `resnet34` (21,797,672 parameters with 1000 classes). */
export function resnet34(options: Omit<ResNetOptions, 'blocks'> = {}): Model {
  return resnet({ ...options, blocks: [3, 4, 6, 3], name: options.name ?? 'resnet34' });
}
