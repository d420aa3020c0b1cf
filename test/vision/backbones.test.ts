/**
 * Backbone builders against torchvision 0.14 (the independent reference): parameter and buffer
 * counts at ImageNet size, output shapes per stage, and the logits of ResNet-18/34, MobileNetV2
 * (widths 1, 0.35) and MobileNetV3-Small (widths 1, 0.25) with torchvision's weights copied in
 * through loadTorchvisionStateDict (the weights come from a formula both sides compute, so the
 * fixture holds only keys, inputs and torchvision's logits). Then an FCN head on a MobileNetV2
 * backbone trains a few steps.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type Model,
  type Tensor,
  decodeSafetensors,
  encodeSafetensors,
  loadModel,
  optimizers,
  randn,
  setSeed,
  tensor,
  zeros,
} from '../../src/index.js';
import {
  FcosDetector,
  SegmentationLoss,
  fcosLoss,
  type TorchTensor,
  fcn,
  featureBackbone,
  loadTorchvisionStateDict,
  makeDivisible,
  mobilenetV2,
  mobilenetV3Small,
  resnet18,
  resnet34,
  vit,
  vitTiny,
} from '../../src/vision/index.js';

const f32 = (b64: string) => {
  const buf = Buffer.from(b64, 'base64');
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
};
const f64 = (b64: string) => {
  const buf = Buffer.from(b64, 'base64');
  return new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
};
const trainable = (m: Model) => m.trainableWeights.reduce((n, v) => n + v.size, 0);
const nonTrainable = (m: Model) => m.nonTrainableWeights.reduce((n, v) => n + v.size, 0);

describe('backbone parameter counts equal torchvision 0.14', () => {
  // sum(p.numel() for p in model.parameters()) and the BatchNorm running mean/var buffers, printed
  // by torchvision 0.14 (Debian python3-torchvision) for num_classes=1000.
  const cases: [string, () => Model, number, number][] = [
    ['resnet18', () => resnet18(), 11_689_512, 9_600],
    ['resnet34', () => resnet34(), 21_797_672, 17_024],
    ['mobilenet_v2', () => mobilenetV2(), 3_504_872, 34_112],
    ['mobilenet_v3_small', () => mobilenetV3Small(), 2_542_856, 12_112],
    // VisionTransformer(224, 16, num_layers=12, num_heads=3, hidden_dim=192, mlp_dim=768).
    ['vit tiny (DeiT-Tiny shape)', () => vitTiny(), 5_717_416, 0],
  ];
  for (const [name, build, params, buffers] of cases) {
    it(name, () => {
      const m = build();
      expect(trainable(m)).toBe(params);
      expect(nonTrainable(m)).toBe(buffers);
    });
  }

  it('width multipliers round channels like torchvision (mobilenet_v2 at 0.5 and 0.35)', () => {
    // torchvision.models.mobilenet_v2(width_mult=a): 1,968,680 (0.5), 1,677,128 (0.35).
    expect(trainable(mobilenetV2({ widthMultiplier: 0.5 }))).toBe(1_968_680);
    expect(trainable(mobilenetV2({ widthMultiplier: 0.35 }))).toBe(1_677_128);
    // A small ViT: VisionTransformer(32, 4, num_layers=2, num_heads=2, hidden_dim=64, mlp_dim=128, num_classes=10).
    const small = vit({ inputShape: [32, 32, 3], patchSize: 4, depth: 2, dim: 64, heads: 2, mlpDim: 128, classes: 10 });
    expect(trainable(small)).toBe(75_082);
    expect([makeDivisible(32 * 0.35), makeDivisible(1280 * 0.25), makeDivisible(10)]).toEqual([16, 320, 16]);
  });
});

describe('backbone outputs', () => {
  it('classifier logits, pooled features and feature maps per stride at 64×64', () => {
    const x = zeros([2, 64, 64, 3]);
    const r = resnet18({ inputShape: [64, 64, 3], widthMultiplier: 0.25, classes: 7 });
    expect(r.apply(x).shape).toEqual([2, 7]);
    const maps = resnet18({ inputShape: [64, 64, 3], widthMultiplier: 0.25, featureStrides: [4, 8, 16, 32] });
    expect((maps.apply(x) as any[]).map((t) => t.shape)).toEqual([
      [2, 16, 16, 16],
      [2, 8, 8, 32],
      [2, 4, 4, 64],
      [2, 2, 2, 128],
    ]);
    const v2 = mobilenetV2({ inputShape: [64, 64, 3], widthMultiplier: 0.25, featureStrides: [8, 16, 32] });
    expect((v2.apply(x) as any[]).map((t) => t.shape)).toEqual([
      [2, 8, 8, 8],
      [2, 4, 4, 24],
      [2, 2, 2, 1280],
    ]);
    const v3 = mobilenetV3Small({ inputShape: [64, 64, 3], widthMultiplier: 0.5, includeTop: false, pooling: 'avg' });
    expect(v3.apply(x).shape).toEqual([2, 6 * 48]);
    const v3maps = mobilenetV3Small({ inputShape: [64, 64, 3], featureStrides: [8, 16, 32] });
    expect((v3maps.apply(x) as any[]).map((t) => t.shape)).toEqual([
      [2, 8, 8, 24],
      [2, 4, 4, 48],
      [2, 2, 2, 576],
    ]);
    const vt = vit({ inputShape: [32, 32, 1], patchSize: 8, depth: 1, dim: 16, heads: 2, includeTop: false });
    expect(vt.apply(zeros([2, 32, 32, 1])).shape).toEqual([2, 16]);
    const grid = vit({ inputShape: [32, 32, 1], patchSize: 8, depth: 1, dim: 16, heads: 2, featureStrides: [8] });
    expect(grid.apply(zeros([2, 32, 32, 1])).shape).toEqual([2, 4, 4, 16]);
  });

  it('save and loadModel round-trip (every layer serializes, weights by position)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lepton-backbones-'));
    try {
      const x = randn([2, 32, 32, 3]);
      const models = [
        mobilenetV3Small({ inputShape: [32, 32, 3], widthMultiplier: 0.25, classes: 4 }),
        vit({ inputShape: [32, 32, 3], patchSize: 8, depth: 1, dim: 16, heads: 2, classes: 4 }),
        resnet18({ inputShape: [32, 32, 3], widthMultiplier: 0.125, featureStrides: [16, 32] }),
      ];
      for (const [i, m] of models.entries()) {
        await m.save(join(dir, `m${i}`));
        const back = await loadModel(join(dir, `m${i}`));
        const [a, b] = [m.apply(x), back.apply(x)].map((y) => (Array.isArray(y) ? y : [y]));
        expect(b.length).toBe(a.length);
        a.forEach((t, k) => expect([...(b[k].data as Float32Array)]).toEqual([...(t.data as Float32Array)]));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('clear errors for bad options', () => {
    expect(() => resnet18({ inputShape: [60, 60, 3] })).toThrow(/resnet18: height and width must be multiples of 32/);
    expect(() => mobilenetV2({ featureStrides: [8, 12] })).toThrow(
      /no feature map at stride 12; this backbone has strides \[2, 4, 8, 16, 32\]/,
    );
    expect(() => mobilenetV2({ widthMultiplier: 0 })).toThrow(/widthMultiplier must be a positive number/);
    expect(() => vit({ dim: 10, heads: 3 })).toThrow(/dim \(10\) must be divisible by heads \(3\)/);
    expect(() => vit({ featureStrides: [8] })).toThrow(/one feature map, at stride 16/);
  });
});

describe('forward equality with torchvision (same weights)', () => {
  // test/fixtures/torchvision-backbones.json (scripts/make-backbone-fixtures.py): torchvision's
  // models with 10 classes, every state_dict tensor k set from u = ((i * 2654435761 + k * 40503 +
  // 12345) mod 2^32) / 2^32 for element i (recomputed exactly here), and the logits torchvision
  // computes in eval mode for a random batch [2, 3, 32, 32].
  const fixture = JSON.parse(readFileSync(new URL('../fixtures/torchvision-backbones.json', import.meta.url), 'utf8'));
  const builders: Record<string, (o: any) => Model> = {
    resnet18,
    resnet34,
    mobilenet_v2: mobilenetV2,
    mobilenet_v3_small: mobilenetV3Small,
    vit,
  };
  const stateDict = (c: any): Record<string, TorchTensor> => {
    const dict: Record<string, TorchTensor> = {};
    c.keys.forEach(({ key, shape, kind }: { key: string; shape: number[]; kind: string }, k: number) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const fanIn = shape.length > 1 ? n / shape[0] : 1;
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const u = ((Math.imul(i, 2654435761 | 0) + k * 40503 + 12345) >>> 0) / 2 ** 32;
        if (kind === 'weight') data[i] = (u - 0.5) * 2 * Math.sqrt(6 / fanIn);
        else if (kind === 'bn_weight') data[i] = c.bn[0] + c.bn[1] * u;
        else if (kind === 'running_var') data[i] = 0.75 + 0.5 * u;
        else data[i] = (u - 0.5) * 0.2;
      }
      dict[key] = { shape, data };
    });
    return dict;
  };
  for (const c of fixture.cases) {
    it(`${c.name} ${JSON.stringify(c.options)} gives torchvision's logits (float32 error at most twice PyTorch's)`, () => {
      const m = builders[c.name]({ ...c.options, inputShape: [32, 32, 3], classes: fixture.classes });
      loadTorchvisionStateDict(m, stateDict(c));
      // PyTorch's NCHW batch → channels-last.
      const x = tensor(f32(c.input.data), { shape: c.input.shape }).transpose([0, 2, 3, 1]);
      const y = m.apply(x);
      expect(y.shape).toEqual(c.output.shape);
      const got = y.data as Float32Array;
      const want = f32(c.output.data);
      const exact = f64(c.output64);
      const scale = Math.max(1, ...exact.map(Math.abs));
      // float32 arithmetic in any summation order strays from the float64 logits: PyTorch's own
      // float32 logits by up to 1.1e-4 of the scale in the MobileNetV2s (deep plain stacks amplify
      // rounding), 2e-7 in the ResNets. Lepton's may stray twice as far as PyTorch's (at least a
      // few float32 ulps, 2e-6), and never more than 3e-4.
      const worst = (a: ArrayLike<number>) => {
        let w = 0;
        for (let i = 0; i < exact.length; i++) w = Math.max(w, Math.abs(a[i] - exact[i]));
        return w / scale;
      };
      expect(worst(got)).toBeLessThan(Math.min(3e-4, Math.max(2e-6, 2 * worst(want))));
      // The logits depend on the image (the two rows differ), so a wrong layer cannot go unseen.
      let rows = 0;
      for (let j = 0; j < 10; j++) rows = Math.max(rows, Math.abs(want[j] - want[10 + j]));
      expect(rows).toBeGreaterThan(0.1);
    });
  }

  it('a state_dict read from a safetensors file loads the same (int64 counters ignored)', () => {
    const c = fixture.cases.find((k: any) => k.name === 'mobilenet_v3_small' && k.options.widthMultiplier === 0.25);
    const tensors: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(stateDict(c)))
      tensors[k] = tensor(Float32Array.from(v.data), { shape: [...v.shape] });
    tensors['features.0.1.num_batches_tracked'] = tensor(BigInt64Array.from([5n]), { shape: [] });
    const { tensors: read } = decodeSafetensors(encodeSafetensors(tensors));
    const build = () => mobilenetV3Small({ inputShape: [32, 32, 3], widthMultiplier: 0.25, classes: 10 });
    const [a, b] = [build(), build()];
    loadTorchvisionStateDict(a, stateDict(c));
    loadTorchvisionStateDict(b, read);
    const x = tensor(f32(c.input.data), { shape: c.input.shape }).transpose([0, 2, 3, 1]);
    expect([...(b.apply(x).data as Float32Array)]).toEqual([...(a.apply(x).data as Float32Array)]);
  });

  it('loading names the key and shape that do not fit', () => {
    const m = mobilenetV3Small({ inputShape: [32, 32, 3], widthMultiplier: 0.25, classes: 10 });
    expect(() =>
      loadTorchvisionStateDict(m, { 'features.0.0.weight': { shape: [4, 3, 3, 3], data: new Float32Array(108) } }),
    ).toThrow(
      /'features.0.0.weight' has shape \[4,3,3,3\] \(PyTorch layout\), 'features.0.0\/kernel' expects \[3,3,3,8\] \(Keras layout; the PyTorch tensor gives \[3,3,3,4\]\)/,
    );
    expect(() => loadTorchvisionStateDict(m, { 'nope.weight': { shape: [1], data: [0] } })).toThrow(
      /has no layer 'nope'/,
    );
  });
});

describe('FCN on a MobileNetV2 backbone', () => {
  it('builds from featureBackbone and its loss goes down in a few fit steps', async () => {
    setSeed(3);
    const K = 3;
    const m = fcn({
      inputShape: [32, 32, 3],
      numClasses: K,
      backbone: featureBackbone(mobilenetV2, { widthMultiplier: 0.25, strides: [8, 16, 32] }),
    });
    // Images: left half bright → class 1, right half has a dark square → class 2, else 0.
    const N = 4;
    const xs = new Float32Array(N * 32 * 32 * 3);
    const ys = new Float32Array(N * 32 * 32);
    for (let n = 0; n < N; n++)
      for (let i = 0; i < 32; i++)
        for (let j = 0; j < 32; j++) {
          const label = j < 16 && i >= n * 4 ? 1 : j >= 16 && i >= 8 && i < 24 ? 2 : 0;
          ys[(n * 32 + i) * 32 + j] = label;
          for (let c = 0; c < 3; c++) xs[((n * 32 + i) * 32 + j) * 3 + c] = label === 1 ? 1 : label === 2 ? -1 : 0;
        }
    const x = tensor(xs, { shape: [N, 32, 32, 3] });
    const y = tensor(Int32Array.from(ys), { shape: [N, 32, 32] });
    m.compile({ optimizer: optimizers.Adam({ learningRate: 0.01 }), loss: new SegmentationLoss() });
    const h = await m.fit(x, y, { epochs: 8, batchSize: N, verbose: 0 });
    const loss = h.history.loss as number[];
    expect(loss[loss.length - 1]).toBeLessThan(loss[0] * 0.8);
    expect(m.apply(x).shape).toEqual([N, 32, 32, K]);
  });
});

describe('FCOS detector on a ResNet backbone', () => {
  it('builds the FPN on the backbone strides and its loss goes down in a few fit steps', async () => {
    setSeed(4);
    const det = new FcosDetector({
      numClasses: 2,
      imageSize: [64, 64],
      fpnChannels: 16,
      backbone: featureBackbone(resnet18, { widthMultiplier: 0.125, strides: [8, 16, 32] }),
    });
    expect(det.numPoints).toBe(64 + 16 + 4);
    // Two images, each a bright square (class 0) and a dark one (class 1).
    const N = 2;
    const xs = new Float32Array(N * 64 * 64 * 3).fill(0.5);
    const ys = new Float32Array(N * det.numPoints * 8);
    const squares = [
      [8, 8, 30, 30, 36, 20, 60, 44],
      [30, 34, 58, 62, 4, 6, 24, 26],
    ];
    squares.forEach((b, n) => {
      for (const [k, value] of [
        [0, 1],
        [1, 0],
      ]) {
        const [x1, y1, x2, y2] = b.slice(k * 4, k * 4 + 4);
        for (let i = y1; i < y2; i++)
          for (let j = x1; j < x2; j++) xs.fill(value, ((n * 64 + i) * 64 + j) * 3, ((n * 64 + i) * 64 + j) * 3 + 3);
      }
      det.targets(b, [0, 1], ys, n * det.numPoints * 8);
    });
    det.model.compile({ optimizer: optimizers.Adam({ learningRate: 3e-3 }), loss: fcosLoss(2) });
    const h = await det.model.fit(tensor(xs, { shape: [N, 64, 64, 3] }), tensor(ys, { shape: [N, det.numPoints, 8] }), {
      epochs: 8,
      batchSize: N,
      verbose: 0,
    });
    const loss = h.history.loss as number[];
    expect(loss[loss.length - 1]).toBeLessThan(loss[0] * 0.8);
    expect(
      () =>
        new FcosDetector({
          numClasses: 2,
          imageSize: [64, 64],
          backbone: featureBackbone(resnet18, { strides: [16, 32] }),
        }),
    ).toThrow(/the backbone gives feature maps at strides \[16, 32\], not at \[8\]/);
  });
});
