/**
 * MobileNetV2 (Sandler et al. 2018) and MobileNetV3-Small (Howard et al. 2019) as torchvision 0.14
 * builds them: inverted residual blocks (1×1 expansion, depthwise 3×3/5×5 — a grouped Conv2D with
 * groups = channels — and a linear 1×1 projection, residual when shapes allow), ReLU6 (V2) or
 * ReLU/hardswish with squeeze-excitation gated by a hard sigmoid (V3). `widthMultiplier` rounds
 * channels to multiples of 8 exactly as torchvision does, so parameter counts agree at any width.
 */
import { Add, Conv2D, GlobalAveragePooling2D, type KerasTensor, type Model, Multiply, ReLU } from '../../index.js';
import {
  type ActivationName,
  type BackboneOptions,
  StrideRecorder,
  type WidthOptions,
  activationLayer,
  checkWidth,
  convBn,
  finish,
  imageInput,
  linear,
  makeDivisible,
  resolveOptions,
} from './common.js';

export interface MobileNetOptions extends BackboneOptions, WidthOptions {
  /** Dropout before the last classifier layer (default 0.2, torchvision's). */
  dropout?: number;
}

function checkDropout(builder: string, rate: number): number {
  if (!(rate >= 0 && rate < 1)) throw new Error(`${builder}: dropout must be in [0, 1), got ${rate}`);
  return rate;
}

// t (expansion), c (channels), n (blocks), s (first block's stride): torchvision's table.
const V2_SETTINGS = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/** MobileNetV2 (torchvision's `mobilenet_v2`: 3,504,872 parameters at width 1 with 1000 classes). */
export function mobilenetV2(options: MobileNetOptions = {}): Model {
  const builder = options.name ?? 'mobilenet_v2';
  const alpha = checkWidth(builder, options.widthMultiplier ?? 1);
  const dropout = checkDropout(builder, options.dropout ?? 0.2);
  const r = resolveOptions(builder, options, 32);
  const image = imageInput(r.inputShape);
  const rec = new StrideRecorder(r.inputShape[0]);
  let inC = makeDivisible(32 * alpha);
  let x = rec.note(convBn(image, inC, 3, { stride: 2, activation: 'relu6', conv: 'features.0.0', bn: 'features.0.1' }));
  let index = 1;
  for (const [t, c, n, s] of V2_SETTINGS) {
    const outC = makeDivisible(c * alpha);
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1;
      const name = `features.${index++}.conv`;
      const hidden = Math.round(inC * t);
      let y = x;
      let j = 0;
      if (t !== 1) {
        y = convBn(y, hidden, 1, { activation: 'relu6', conv: `${name}.${j}.0`, bn: `${name}.${j}.1` });
        j++;
      }
      y = convBn(y, hidden, 3, {
        stride,
        groups: hidden,
        activation: 'relu6',
        conv: `${name}.${j}.0`,
        bn: `${name}.${j}.1`,
      });
      y = convBn(y, outC, 1, { conv: `${name}.${j + 1}`, bn: `${name}.${j + 2}` });
      x = stride === 1 && inC === outC ? (new Add({ name: `${name}.add` }).apply([x, y]) as KerasTensor) : y;
      inC = outC;
      rec.note(x);
    }
  }
  const lastC = makeDivisible(1280 * Math.max(1, alpha));
  const conv = `features.${index}`;
  x = rec.note(convBn(x, lastC, 1, { activation: 'relu6', conv: `${conv}.0`, bn: `${conv}.1` }));
  return finish(builder, options, image, x, rec, (pooled) => linear(pooled, r.classes, 'classifier.1', dropout), r);
}

/** Squeeze-excitation (torchvision's SqueezeExcitation with a hard-sigmoid gate). */
function squeezeExcite(x: KerasTensor, channels: number, squeeze: number, name: string): KerasTensor {
  let s = new GlobalAveragePooling2D({ keepdims: true, name: `${name}.avgpool` }).apply(x);
  s = new Conv2D(squeeze, 1, { name: `${name}.fc1` }).apply(s);
  s = new ReLU({ name: `${name}.relu` }).apply(s);
  s = new Conv2D(channels, 1, { activation: 'hardSigmoid', name: `${name}.fc2` }).apply(s);
  return new Multiply({ name: `${name}.scale` }).apply([x, s]) as KerasTensor;
}

// input, kernel, expanded, output, squeeze-excitation, activation, stride: torchvision's table.
const V3_SMALL: [number, number, number, number, boolean, ActivationName, number][] = [
  [16, 3, 16, 16, true, 'relu', 2],
  [16, 3, 72, 24, false, 'relu', 2],
  [24, 3, 88, 24, false, 'relu', 1],
  [24, 5, 96, 40, true, 'hardSwish', 2],
  [40, 5, 240, 40, true, 'hardSwish', 1],
  [40, 5, 240, 40, true, 'hardSwish', 1],
  [40, 5, 120, 48, true, 'hardSwish', 1],
  [48, 5, 144, 48, true, 'hardSwish', 1],
  [48, 5, 288, 96, true, 'hardSwish', 2],
  [96, 5, 576, 96, true, 'hardSwish', 1],
  [96, 5, 576, 96, true, 'hardSwish', 1],
];

/** MobileNetV3-Small (torchvision's `mobilenet_v3_small`: 2,542,856 parameters at width 1 with 1000 classes). */
export function mobilenetV3Small(options: MobileNetOptions = {}): Model {
  const builder = options.name ?? 'mobilenet_v3_small';
  const alpha = checkWidth(builder, options.widthMultiplier ?? 1);
  const dropout = checkDropout(builder, options.dropout ?? 0.2);
  const r = resolveOptions(builder, options, 32);
  const adjust = (c: number): number => makeDivisible(c * alpha);
  // torchvision's MobileNetV3 BatchNorm: eps 0.001, momentum 0.01.
  const bn = { eps: 1e-3, torchMomentum: 0.01 };
  const image = imageInput(r.inputShape);
  const rec = new StrideRecorder(r.inputShape[0]);
  let x = rec.note(
    convBn(image, adjust(16), 3, {
      ...bn,
      stride: 2,
      activation: 'hardSwish',
      conv: 'features.0.0',
      bn: 'features.0.1',
    }),
  );
  V3_SMALL.forEach(([cin, k, cexp, cout, se, act, stride], b) => {
    const [inC, expC, outC] = [adjust(cin), adjust(cexp), adjust(cout)];
    const name = `features.${b + 1}.block`;
    let y = x;
    let j = 0;
    if (expC !== inC) {
      y = convBn(y, expC, 1, { ...bn, activation: act, conv: `${name}.${j}.0`, bn: `${name}.${j}.1` });
      j++;
    }
    y = convBn(y, expC, k, {
      ...bn,
      stride,
      groups: expC,
      activation: act,
      conv: `${name}.${j}.0`,
      bn: `${name}.${j}.1`,
    });
    j++;
    if (se) y = squeezeExcite(y, expC, makeDivisible(Math.floor(expC / 4)), `${name}.${j++}`);
    y = convBn(y, outC, 1, { ...bn, conv: `${name}.${j}.0`, bn: `${name}.${j}.1` });
    x = stride === 1 && inC === outC ? (new Add({ name: `${name}.add` }).apply([x, y]) as KerasTensor) : y;
    rec.note(x);
  });
  const lastIn = adjust(96);
  const last = `features.${V3_SMALL.length + 1}`;
  x = rec.note(convBn(x, 6 * lastIn, 1, { ...bn, activation: 'hardSwish', conv: `${last}.0`, bn: `${last}.1` }));
  const hidden = adjust(1024);
  const head = (pooled: KerasTensor): KerasTensor => {
    let h = linear(pooled, hidden, 'classifier.0');
    h = activationLayer('hardSwish', 'classifier.1').apply(h);
    return linear(h, r.classes, 'classifier.3', dropout);
  };
  return finish(builder, options, image, x, rec, head, r);
}
