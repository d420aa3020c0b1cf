/**
 * Segmentation builders: output shapes of the U-Net (both upsampling kinds) and the FCN head, the
 * CE + Dice loss against a float64 hand computation, argmaxClasses, and a small U-Net overfitting
 * a few synthetic scenes to a high mIoU (the whole path: scenes → fit → predict → metrics).
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { optimizers, setSeed, tensor, zeros } from '../../src/index.js';
import {
  SceneGenerator,
  SegmentationLoss,
  SegmentationMetrics,
  argmaxClasses,
  convBackbone,
  drawSegmentation,
  fcn,
  segmentationLoss,
  unet,
} from '../../src/vision/index.js';

describe('segmentation model builders', () => {
  it('U-Net outputs per-pixel logits at the input resolution (transpose and nearest upsampling)', () => {
    for (const upsampling of ['transpose', 'nearest'] as const) {
      const m = unet({ inputShape: [16, 24, 3], numClasses: 5, depth: 2, filters: 4, upsampling });
      const y = m.apply(zeros([2, 16, 24, 3]));
      expect(y.shape).toEqual([2, 16, 24, 5]);
    }
    // depth 2, filters 4: encoder 4, 8, bottleneck 16; a deeper net has more weights.
    const small = unet({ inputShape: [16, 16, 1], numClasses: 2, depth: 1, filters: 4 });
    const deep = unet({ inputShape: [16, 16, 1], numClasses: 2, depth: 3, filters: 4 });
    expect(deep.countParams()).toBeGreaterThan(small.countParams());
  });

  it('FCN head on the conv backbone outputs logits at the input resolution', () => {
    const m = fcn({ inputShape: [32, 32, 3], numClasses: 4, backbone: convBackbone({ widths: [4, 8, 8, 8] }) });
    expect(m.apply(zeros([1, 32, 32, 3])).shape).toEqual([1, 32, 32, 4]);
    const two = fcn({ inputShape: [16, 16, 3], numClasses: 3, backbone: convBackbone({ widths: [4, 8] }), fuse: 1 });
    expect(two.apply(zeros([1, 16, 16, 3])).shape).toEqual([1, 16, 16, 3]);
  });

  it('clear errors for sizes the network cannot downsample and bad options', () => {
    expect(() => unet({ inputShape: [20, 20, 3], numClasses: 3, depth: 3 })).toThrow(
      /unet: height and width must be multiples of 8 \(2\^depth\), got 20x20/,
    );
    expect(() => unet({ inputShape: [16, 16, 3], numClasses: 1 })).toThrow(/numClasses must be an integer >= 2/);
    expect(() => unet({ inputShape: [16, 16, 3], numClasses: 3, upsampling: 'bilinear' as any })).toThrow(
      /upsampling must be 'transpose' or 'nearest'/,
    );
  });
});

describe('segmentation loss', () => {
  it('equals mean cross entropy + (1 - mean per-class soft Dice), computed by hand in float64', () => {
    const N = 2,
      P = 3,
      K = 3; // 2 images of 1×3 pixels
    const logits = [0.5, -1, 2, 1, 1, 0, -0.3, 0.2, 0.9, 2, 0, -2, 0.1, 0.1, 0.4, -1, 3, 0];
    const labels = [2, 0, 2, 0, 1, 1];
    let ce = 0;
    const probs: number[] = [];
    for (let p = 0; p < N * P; p++) {
      const z = logits.slice(p * K, p * K + K);
      const denom = z.reduce((s, v) => s + Math.exp(v), 0);
      z.forEach((v) => probs.push(Math.exp(v) / denom));
      ce -= Math.log(Math.exp(z[labels[p]]) / denom);
    }
    ce /= N * P;
    let dice = 0;
    for (let k = 0; k < K; k++) {
      let inter = 0,
        total = 0;
      for (let p = 0; p < N * P; p++) {
        const t = labels[p] === k ? 1 : 0;
        inter += probs[p * K + k] * t;
        total += probs[p * K + k] + t;
      }
      dice += (2 * inter + 1) / (total + 1);
    }
    const want = ce + 0.5 * (1 - dice / K);
    const x = tensor(Float64Array.from(logits), { shape: [N, 1, P, K] });
    const y = tensor(Int32Array.from(labels), { shape: [N, 1, P] });
    expect(segmentationLoss(y, x, { diceWeight: 0.5 }).item()).toBeCloseTo(want, 12);
    expect(segmentationLoss(y, x, { diceWeight: 0 }).item()).toBeCloseTo(ce, 12);
    // Labels with a trailing 1 axis are the same labels.
    const y1 = tensor(Int32Array.from(labels), { shape: [N, 1, P, 1] });
    expect(segmentationLoss(y1, x, { diceWeight: 0.5 }).item()).toBeCloseTo(want, 12);
    expect(() => segmentationLoss(y, tensor(Float64Array.from([1, 2]), { shape: [2] }))).toThrow(
      /segmentationLoss: logits must be \[N, \.\.\., K\]/,
    );
  });

  it('drawSegmentation blends each class in its palette colour, background untouched', async () => {
    const image = { data: new Uint8Array(2 * 1 * 3).fill(100), width: 2, height: 1 };
    const png = await drawSegmentation(image, [0, 2], 3, { maskAlpha: 0.5 });
    const { data } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    // Class 2 is scene label 1: PALETTE[1] = (255, 127, 14), blended half and half with 100.
    expect([...data]).toEqual([100, 100, 100, Math.round(177.5), Math.round(113.5), 57]);
    expect(() => drawSegmentation(image, [0], 3)).toThrow(/class map has 1 values; the image is 2x1/);
  });

  it('argmaxClasses picks the first maximum per pixel', () => {
    expect([...argmaxClasses([0, 2, 1, 5, 5, 0, -1, -2, -3], 3)]).toEqual([1, 0, 0]);
    expect(() => argmaxClasses([1, 2, 3], 2)).toThrow(/3 scores is not a multiple of 2 classes/);
  });
});

describe('U-Net training', () => {
  it('overfits a few scenes to a high mIoU', async () => {
    setSeed(3);
    const S = 32,
      n = 4,
      K = 3;
    const gen = new SceneGenerator(
      { width: S, height: S, classes: ['circle', 'frame'], minSize: 10, maxSize: 20, noise: 2, clutter: 1 },
      5,
    );
    const x = new Float32Array(n * S * S * 3),
      y = new Int32Array(n * S * S);
    for (let i = 0; i < n; i++) {
      const s = gen.next();
      s.image.forEach((v, j) => (x[i * S * S * 3 + j] = v / 255));
      y.set(s.semantic, i * S * S);
    }
    // Without BatchNorm: 160 steps are too few for its moving statistics to match the batch ones.
    const m = unet({ inputShape: [S, S, 3], numClasses: K, depth: 2, filters: 8, batchNorm: false });
    m.compile({ optimizer: optimizers.Adam({ learningRate: 3e-3 }), loss: new SegmentationLoss() });
    const X = tensor(x, { shape: [n, S, S, 3] }),
      Y = tensor(y, { shape: [n, S, S] });
    await m.fit(X, Y, { epochs: 160, batchSize: n, verbose: 0, workers: 1 });
    const logits = await m.predict(X, { batchSize: n, verbose: 0 });
    const scores = new SegmentationMetrics(K).update(argmaxClasses(logits.data, K), y).compute();
    expect(scores.miou).toBeGreaterThan(0.9);
  }, 120_000);
});
