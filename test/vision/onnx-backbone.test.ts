/**
 * An ONNX model exported from PyTorch as a trainable backbone (importOnnxLayer). The fixture
 * test/fixtures/small-cnn.onnx + small-cnn.json was written by scripts/make-backbone-fixtures.py:
 * a small PyTorch CNN (conv/BN/ReLU stem with the BatchNorm kept as a node, residual block, max pool, depthwise conv, hardswish,
 * global pooling, linear head; fixed seeds) exported with torch.onnx.export, with the input batch
 * and the logits and intermediate features PyTorch computed for it — the independent reference.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  Dense,
  GlobalAveragePooling2D,
  ShapeError,
  type Tensor,
  UnsupportedOnnxError,
  importOnnxLayer,
  input,
  loadModel,
  model,
  optimizers,
  randn,
  setSeed,
  tensor,
} from '../../src/index.js';
import { decodeModel, encodeModel } from '../../src/engine/onnx/proto.js';
import { SegmentationLoss, fcn, onnxBackbone } from '../../src/vision/index.js';

const bytes = new Uint8Array(readFileSync(new URL('../fixtures/small-cnn.onnx', import.meta.url)));
const fixture = JSON.parse(readFileSync(new URL('../fixtures/small-cnn.json', import.meta.url), 'utf8'));
const f32 = (b64: string) => {
  const buf = Buffer.from(b64, 'base64');
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
};
const maxDiff = (a: ArrayLike<number> | ArrayLike<bigint>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(Number(a[i]) - b[i]));
  return worst;
};
const x = tensor(f32(fixture.input.data), { shape: fixture.input.shape });

describe('importOnnxLayer on a PyTorch export', () => {
  it("gives PyTorch's logits and features; initializers are its weights", () => {
    const layer = importOnnxLayer(bytes);
    const [logits, features] = layer.apply(x) as any[];
    expect(logits.shape).toEqual(fixture.logits.shape);
    expect(features.shape).toEqual(fixture.features.shape);
    expect(maxDiff(logits.data, f32(fixture.logits.data))).toBeLessThan(1e-4);
    expect(maxDiff(features.data, f32(fixture.features.data))).toBeLessThan(1e-4);
    // 15 float initializers: 13 trained, the BatchNorm's running mean and variance are not.
    expect(layer.trainableWeights.length).toBe(13);
    expect(layer.nonTrainableWeights.map((v) => v.shape)).toEqual([[16], [16]]);
    expect(layer.weightByOnnxName('stem.1.running_var')!.trainable).toBe(false);
    expect(layer.weightByOnnxName('head.weight')!.shape).toEqual([5, 32]);
  });

  it('an intermediate value as the output, channels-last in and out; the head is dropped', () => {
    const layer = importOnnxLayer(bytes, { outputs: ['features'], channelsLast: true });
    const y = layer.apply(x.transpose([0, 2, 3, 1])) as any;
    const [n, c, h, w] = fixture.features.shape;
    expect(y.shape).toEqual([n, h, w, c]);
    expect(maxDiff(y.transpose([0, 3, 1, 2]).data, f32(fixture.features.data))).toBeLessThan(1e-4);
    expect(layer.weightByOnnxName('head.weight')).toBeUndefined();
    expect(layer.trainableWeights.length).toBe(11);
  });

  it('clear errors: wrong input shape, unknown value, unsupported op (unless cut off)', () => {
    const layer = importOnnxLayer(bytes);
    const nhwc = x.transpose([0, 2, 3, 1]);
    expect(() => layer.apply(nhwc)).toThrow(ShapeError);
    expect(() => layer.apply(nhwc)).toThrow(
      /graph input 'image' expects \[batch, 3, 16, 16\], got \[3, 16, 16, 3\]; channels-last images need importOnnxLayer\(bytes, \{ channelsLast: true \}\)/,
    );
    expect(() => importOnnxLayer(bytes, { outputs: ['nope'] })).toThrow(/the graph has no value named 'nope'/);
    const fixedBatch = decodeModel(bytes);
    fixedBatch.graph.input[0].type!.tensor_type!.shape!.dim[0] = { dim_value: 1 };
    expect(() => importOnnxLayer(encodeModel(fixedBatch)).apply(x)).toThrow(
      /expects \[1, 3, 16, 16\], got \[3, 3, 16, 16\]; the graph was exported for batch 1 only \(export with dynamic_axes=\{'image': \{0: 'batch'\}\}/,
    );
    const proto = decodeModel(bytes);
    proto.graph.node.push({ op_type: 'FancyPool', input: ['features'], output: ['fancy'], name: 'fancy_pool' });
    proto.graph.output.push({ name: 'fancy' });
    const withOp = encodeModel(proto);
    expect(() => importOnnxLayer(withOp)).toThrow(UnsupportedOnnxError);
    expect(() => importOnnxLayer(withOp)).toThrow(/ONNX op 'FancyPool' \(node 'fancy_pool'\) is not supported/);
    expect(importOnnxLayer(withOp, { outputs: ['logits'] }).trainableWeights.length).toBe(13);
  });
});

describe('importOnnxLayer on a torchvision ViT export', () => {
  // test/fixtures/small-vit.onnx + .json (same script): torchvision's VisionTransformer (patch 8,
  // dim 32, 2 blocks, 2 heads, 5 classes) exported by torch.onnx.export, with PyTorch's logits.
  const vitBytes = new Uint8Array(readFileSync(new URL('../fixtures/small-vit.onnx', import.meta.url)));
  const vitFixture = JSON.parse(readFileSync(new URL('../fixtures/small-vit.json', import.meta.url), 'utf8'));

  it("gives PyTorch's logits; its weights are exactly PyTorch's parameters (untied)", () => {
    const layer = importOnnxLayer(vitBytes);
    const y = layer.apply(tensor(f32(vitFixture.input.data), { shape: vitFixture.input.shape })) as any;
    expect(y.shape).toEqual(vitFixture.logits.shape);
    expect(maxDiff(y.data, f32(vitFixture.logits.data))).toBeLessThan(1e-4);
    // The exporter stores equal parameters (zero biases, unit LayerNorm scales) once; each is its own weight here.
    expect(layer.countWeights()).toBe(vitFixture.parameters);
    expect(layer.nonTrainableWeights.length).toBe(0);
    expect(layer.weightByOnnxName('class_token')!.shape).toEqual([1, 1, 32]);
    expect(layer.weightByOnnxName('encoder.layers.encoder_layer_1.ln_2.bias')!.shape).toEqual([32]);
  });

  it('fine-tunes through fit (attention, LayerNorm, GELU and the class token differentiate)', async () => {
    setSeed(2);
    const layer = importOnnxLayer(vitBytes, { channelsLast: true });
    const image = input({ shape: [32, 32, 3] });
    const m = model({
      inputs: image,
      outputs: new Dense(2, { activation: 'softmax' }).apply(layer.apply(image) as any),
    });
    m.compile({ optimizer: optimizers.Adam({ learningRate: 3e-3 }), loss: 'sparseCategoricalCrossentropy' });
    const N = 8;
    const xs = randn([N, 32, 32, 3]).data as Float32Array;
    const ys = Int32Array.from({ length: N }, (_, n) => n % 2);
    for (let n = 0; n < N; n++) for (let i = 0; i < 32 * 32 * 3; i++) xs[n * 3072 + i] += ys[n] ? 1 : -1;
    const token = Float32Array.from(layer.weightByOnnxName('class_token')!.data as Float32Array);
    const h = await m.fit(tensor(xs, { shape: [N, 32, 32, 3] }), tensor(ys, { shape: [N] }), {
      epochs: 5,
      batchSize: N,
      verbose: 0,
    });
    const loss = h.history.loss as number[];
    expect(loss[loss.length - 1]).toBeLessThan(loss[0] * 0.7);
    expect(maxDiff(layer.weightByOnnxName('class_token')!.data, token)).toBeGreaterThan(0);
  });
});

describe('fine-tuning an imported backbone with fit', () => {
  // Synthetic task: is the top half of the image brighter than the bottom half?
  const N = 32;
  const xs = new Float32Array(N * 16 * 16 * 3);
  const ys = new Float32Array(N);
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  for (let n = 0; n < N; n++) {
    ys[n] = n % 2;
    for (let i = 0; i < 16; i++)
      for (let j = 0; j < 16; j++)
        for (let c = 0; c < 3; c++)
          xs[((n * 16 + i) * 16 + j) * 3 + c] = rand() * 0.5 + (i < 8 === (n % 2 === 1) ? 0.8 : -0.8);
  }
  const images = tensor(xs, { shape: [N, 16, 16, 3] });
  const labels = tensor(Int32Array.from(ys), { shape: [N] });

  const build = (trainable: boolean) => {
    setSeed(11);
    const backbone = importOnnxLayer(bytes, { outputs: ['features'], channelsLast: true, name: 'backbone' });
    backbone.trainable = trainable;
    const image = input({ shape: [16, 16, 3] });
    const pooled = new GlobalAveragePooling2D().apply(backbone.apply(image) as any);
    const m = model({
      inputs: image,
      outputs: new Dense(2, { activation: 'softmax', name: 'new_head' }).apply(pooled),
    });
    m.compile({ optimizer: optimizers.Adam({ learningRate: 3e-3 }), loss: 'sparseCategoricalCrossentropy' });
    return { m, backbone };
  };
  const snapshot = (vs: Tensor[]) => vs.map((v) => Float32Array.from(v.data as Float32Array));

  it('the loss goes down and the backbone weights move (trainable)', async () => {
    const { m, backbone } = build(true);
    const before = snapshot(backbone.weights);
    const h = await m.fit(images, labels, { epochs: 6, batchSize: 8, verbose: 0 });
    const loss = h.history.loss as number[];
    expect(loss[loss.length - 1]).toBeLessThan(loss[0] * 0.7);
    expect(backbone.trainableWeights.every((v) => maxDiff(v.data, before[backbone.weights.indexOf(v)]) > 0)).toBe(true);
    // The imported BatchNorm runs in inference mode: its statistics are saved, never trained.
    for (const v of backbone.nonTrainableWeights) expect(maxDiff(v.data, before[backbone.weights.indexOf(v)])).toBe(0);
  });

  it('trainable = false keeps every backbone weight bit-identical; save and load round-trip', async () => {
    const { m, backbone } = build(false);
    expect(m.trainableWeights.length).toBe(2); // the new head only
    const before = snapshot(backbone.weights);
    const headBefore = snapshot(m.getLayer('new_head').weights);
    await m.fit(images, labels, { epochs: 2, batchSize: 8, verbose: 0 });
    backbone.weights.forEach((v, i) =>
      expect(Buffer.from(Float32Array.from(v.data as Float32Array).buffer).equals(Buffer.from(before[i].buffer))).toBe(
        true,
      ),
    );
    expect(maxDiff(m.getLayer('new_head').weights[0].data, headBefore[0])).toBeGreaterThan(0);

    const dir = mkdtempSync(join(tmpdir(), 'lepton-onnx-layer-'));
    try {
      await m.save(join(dir, 'm'));
      const back = await loadModel(join(dir, 'm'));
      const want = (await m.predict(images)) as any;
      const got = (await back.predict(images)) as any;
      expect(maxDiff(got.data, want.data)).toBe(0);
      // The config carries the graph without the weights' bytes (they live in the weights file).
      expect(JSON.stringify(back.getConfig()).length).toBeLessThan(bytes.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('an ONNX graph as the backbone of an FCN head', () => {
  it('feature maps cut from the graph, strides from their sizes; trains with the backbone frozen', async () => {
    setSeed(5);
    let frozen: any;
    const m = fcn({
      inputShape: [16, 16, 3],
      numClasses: 2,
      backbone: onnxBackbone(bytes, {
        outputs: ['/pool/MaxPool_output_0', 'features'],
        onLayer: (layer) => {
          layer.trainable = false;
          frozen = layer;
        },
      }),
    });
    expect(m.getLayer('score2')).toBeDefined(); // the stride-2 map (max pool) and stride 4 ('features')
    expect(m.getLayer('score4')).toBeDefined();
    const N = 4;
    const xs = new Float32Array(N * 16 * 16 * 3);
    const ys = new Int32Array(N * 16 * 16);
    for (let p = 0; p < N * 256; p++) {
      const i = Math.floor((p % 256) / 16);
      ys[p] = i < 8 ? 1 : 0;
      for (let c = 0; c < 3; c++) xs[p * 3 + c] = ys[p] ? 1 : -1;
    }
    const before = frozen.weights.map((v: Tensor) => Float32Array.from(v.data as Float32Array));
    m.compile({ optimizer: optimizers.Adam({ learningRate: 0.01 }), loss: new SegmentationLoss() });
    const h = await m.fit(tensor(xs, { shape: [N, 16, 16, 3] }), tensor(ys, { shape: [N, 16, 16] }), {
      epochs: 20,
      batchSize: N,
      verbose: 0,
    });
    const loss = h.history.loss as number[];
    expect(loss[loss.length - 1]).toBeLessThan(loss[0] * 0.5);
    frozen.weights.forEach((v: Tensor, i: number) => expect(maxDiff(v.data, before[i])).toBe(0));
  });
});
