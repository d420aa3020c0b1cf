import { describe, expect, it } from 'vitest';
import {
  Activation,
  Add,
  Average,
  AveragePooling2D,
  BatchNormalization,
  Conv1D,
  Conv2D,
  Conv2DTranspose,
  Dense,
  DepthwiseConv2D,
  Dropout,
  Flatten,
  GlobalAveragePooling2D,
  GlobalMaxPooling2D,
  LayerNormalization,
  MaxPooling1D,
  MaxPooling2D,
  Multiply,
  Concatenate,
  Embedding,
  Normalization,
  SeparableConv2D,
  ZeroPadding2D,
  Reshape,
  Tensor,
  UpSampling2D,
  Variable,
  collectUpdates,
  compileSync,
  floatx,
  input,
  sequential,
  setFloatx,
  setSeed,
  tensor,
} from '../../src/index.js';
import { randomTensor } from '../helpers/gradcheck.js';
import { type Arr, conv2dRef, expectClose, pool2dRef } from './reference.js';

const f32 = (shape: number[], seed: number): Tensor => randomTensor(shape, seed, 'float32');
const arr = (t: Tensor): Arr => ({ data: t.data as Float32Array, shape: t.shape as number[] });
const shapeAfter = (layer: { computeOutputShape(s: (number | null)[]): unknown }, s: (number | null)[]) =>
  layer.computeOutputShape(s);

describe('Dense', () => {
  it('matches x @ kernel + bias with relu, computed in plain loops', () => {
    const layer = new Dense(3, { activation: 'relu', biasInitializer: 'randomNormal' });
    const x = f32([4, 5], 1);
    const y = layer.apply(x) as Tensor;
    const k = layer.kernel.data as Float32Array;
    const b = layer.bias!.data as Float32Array;
    const xd = x.data as Float32Array;
    const expected = new Float64Array(12);
    for (let i = 0; i < 4; i++)
      for (let j = 0; j < 3; j++) {
        let s = b[j];
        for (let q = 0; q < 5; q++) s += xd[i * 5 + q] * k[q * 3 + j];
        expected[i * 3 + j] = Math.max(0, s);
      }
    expect(layer.kernel.shape).toEqual([5, 3]);
    expectClose(y.data as Float32Array, expected, 1e-6);
  });

  it('applies to the last axis of higher-rank inputs and reports shapes like Keras', () => {
    const layer = new Dense(7, { useBias: false });
    expect(shapeAfter(layer, [null, 3, 4])).toEqual([null, 3, 7]);
    expect(layer.bias).toBeUndefined();
    expect((layer.apply(f32([2, 3, 4], 2)) as Tensor).shape).toEqual([2, 3, 7]);
  });

  it('casts float inputs to the dtype of its weights (Keras autocasting); setFloatx changes the default', () => {
    const layer = new Dense(2, { dtype: 'float64' });
    const y = layer.apply(f32([3, 4], 4)) as Tensor;
    expect(y.dtype).toBe('float64');
    setFloatx('float64');
    try {
      expect(new Dense(1).dtype).toBe('float64');
    } finally {
      setFloatx('float32');
    }
    expect(floatx()).toBe('float32');
    // Layers without weights keep the input dtype.
    expect((new Flatten().apply(randomTensor([2, 2, 2], 5)) as Tensor).dtype).toBe('float64');
  });

  it('names the layer and the shapes when called on an incompatible input', () => {
    const layer = new Dense(2, { name: 'head' });
    layer.apply(f32([1, 4], 3));
    expect(() => layer.apply(f32([1, 5], 3))).toThrow(/layer 'head' \(Dense\).*\[1, 5\]/);
  });
});

describe('convolutions (channels last, Keras kernel layout) vs plain loops', () => {
  const cases: { name: string; opts: Record<string, any>; k: number; f: number; groups?: number }[] = [
    { name: 'valid', opts: {}, k: 3, f: 4 },
    { name: 'same, stride 2', opts: { padding: 'same', strides: 2 }, k: 3, f: 3 },
    { name: 'dilation 2', opts: { dilationRate: 2 }, k: 2, f: 2 },
    { name: 'groups 2, same', opts: { groups: 2, padding: 'same' }, k: 3, f: 4, groups: 2 },
  ];
  for (const c of cases) {
    it(`Conv2D ${c.name}`, () => {
      const layer = new Conv2D(c.f, c.k, { ...c.opts, biasInitializer: 'randomNormal' });
      const x = f32([2, 7, 6, 4], 5);
      const y = layer.apply(x) as Tensor;
      const s = c.opts.strides ?? 1;
      const d = c.opts.dilationRate ?? 1;
      const ref = conv2dRef(arr(x), arr(layer.kernel), layer.bias!.data as Float32Array, {
        strides: [s, s],
        padding: c.opts.padding,
        dilation: [d, d],
        groups: c.groups,
      });
      expect(y.shape).toEqual(ref.shape);
      expect(shapeAfter(layer, [null, 7, 6, 4])).toEqual([null, ...ref.shape.slice(1)]);
      expectClose(y.data as Float32Array, ref.data, 1e-5);
    });
  }

  it('Conv1D equals a Conv2D over a height-1 image', () => {
    const layer = new Conv1D(3, 3, { padding: 'same' });
    const x = f32([2, 9, 2], 6);
    const y = layer.apply(x) as Tensor;
    const k = arr(layer.kernel);
    const ref = conv2dRef(
      { data: x.data as Float32Array, shape: [2, 1, 9, 2] },
      { data: k.data, shape: [1, 3, 2, 3] },
      undefined,
      { padding: 'same' },
    );
    expect(y.shape).toEqual([2, 9, 3]);
    expectClose(y.data as Float32Array, ref.data, 1e-5);
  });

  it('DepthwiseConv2D: output channel c*m + j uses kernel[..., c, j]', () => {
    const layer = new DepthwiseConv2D(3, { depthMultiplier: 2 });
    const x = f32([1, 5, 5, 3], 7);
    const y = layer.apply(x) as Tensor;
    expect(y.shape).toEqual([1, 3, 3, 6]);
    const k = layer.kernel.data as Float32Array; // [3,3,3,2]
    const xd = x.data as Float32Array;
    const expected = new Float64Array(54);
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++)
        for (let c = 0; c < 3; c++)
          for (let m = 0; m < 2; m++) {
            let s = 0;
            for (let a = 0; a < 3; a++)
              for (let b = 0; b < 3; b++) s += xd[((i + a) * 5 + (j + b)) * 3 + c] * k[((a * 3 + b) * 3 + c) * 2 + m];
            expected[(i * 3 + j) * 6 + c * 2 + m] = s;
          }
    expectClose(y.data as Float32Array, expected, 1e-5);
  });

  it('Conv2DTranspose: Keras output sizes, and values equal the scatter definition', () => {
    expect(shapeAfter(new Conv2DTranspose(2, 3, { strides: 2, padding: 'same' }), [null, 7, 5, 3])).toEqual([
      null,
      14,
      10,
      2,
    ]);
    expect(shapeAfter(new Conv2DTranspose(2, 3, { strides: 2 }), [null, 7, 5, 3])).toEqual([null, 15, 11, 2]);
    expect(shapeAfter(new Conv2DTranspose(2, 2, { strides: 3, padding: 'same' }), [null, 4, 4, 1])).toEqual([
      null,
      12,
      12,
      2,
    ]);
    const layer = new Conv2DTranspose(2, 3, { strides: 2 });
    const x = f32([1, 3, 3, 2], 8);
    const y = layer.apply(x) as Tensor;
    const k = layer.kernel.data as Float32Array; // [3,3,2(out),2(in)]
    const xd = x.data as Float32Array;
    const out = new Float64Array(7 * 7 * 2);
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++)
        for (let ci = 0; ci < 2; ci++) {
          for (let a = 0; a < 3; a++)
            for (let b = 0; b < 3; b++)
              for (let co = 0; co < 2; co++) {
                out[((i * 2 + a) * 7 + (j * 2 + b)) * 2 + co] +=
                  xd[(i * 3 + j) * 2 + ci] * k[((a * 3 + b) * 2 + co) * 2 + ci];
              }
        }
    expect(y.shape).toEqual([1, 7, 7, 2]);
    expectClose(y.data as Float32Array, out, 1e-5);
  });
});

describe('SeparableConv2D and Normalization', () => {
  it('SeparableConv2D = per-channel conv then a 1×1 conv (plain loops)', () => {
    const layer = new SeparableConv2D(3, 3, { depthMultiplier: 2, padding: 'same', biasInitializer: 'randomNormal' });
    const x = f32([1, 4, 4, 2], 30);
    const y = layer.apply(x) as Tensor;
    expect(y.shape).toEqual([1, 4, 4, 3]);
    const dk = layer.depthwiseKernel.data as Float32Array; // [3,3,2,2]
    const pk = layer.pointwiseKernel.data as Float32Array; // [1,1,4,3]
    const b = layer.bias!.data as Float32Array;
    const xd = x.data as Float32Array;
    const expected: number[] = [];
    for (let i = 0; i < 4; i++)
      for (let j = 0; j < 4; j++) {
        const mid = new Array(4).fill(0);
        for (let c = 0; c < 2; c++)
          for (let m = 0; m < 2; m++)
            for (let a = 0; a < 3; a++)
              for (let e = 0; e < 3; e++) {
                const yy = i + a - 1;
                const zz = j + e - 1;
                if (yy >= 0 && yy < 4 && zz >= 0 && zz < 4)
                  mid[c * 2 + m] += xd[(yy * 4 + zz) * 2 + c] * dk[((a * 3 + e) * 2 + c) * 2 + m];
              }
        for (let f = 0; f < 3; f++) expected.push(b[f] + mid.reduce((s, v, k) => s + v * pk[k * 3 + f], 0));
      }
    expectClose(y.data as Float32Array, expected, 1e-5);
    expect(layer.countWeights()).toBe(3 * 3 * 2 * 2 + 4 * 3 + 3);
  });

  it('Normalization.adapt standardizes each feature; statistics are saved as non-trainable weights', () => {
    const data = f32([50, 3], 31);
    const norm = new Normalization().adapt(data);
    const y = (norm.apply(data) as Tensor).data as Float32Array;
    for (let c = 0; c < 3; c++) {
      const col = Array.from({ length: 50 }, (_, r) => y[r * 3 + c]);
      const m = col.reduce((a, v) => a + v, 0) / 50;
      const sd = Math.sqrt(col.reduce((a, v) => a + (v - m) ** 2, 0) / 50);
      expect(m).toBeCloseTo(0, 5);
      expect(sd).toBeCloseTo(1, 4);
    }
    expect(norm.trainableWeights.length).toBe(0);
    expect(Object.keys(norm.stateDict())).toEqual(['mean', 'variance']);
    const given = new Normalization({ mean: [1, 2], variance: [4, 9] });
    expect((given.apply(tensor([[3, 8]])) as Tensor).toArray()).toEqual([[1, 2]]);
  });
});

describe('pooling and reshaping', () => {
  const x = f32([2, 7, 6, 3], 9);
  it('MaxPooling2D / AveragePooling2D valid and same', () => {
    for (const [kind, Cls] of [
      ['max', MaxPooling2D],
      ['avg', AveragePooling2D],
    ] as const) {
      for (const padding of ['valid', 'same'] as const) {
        const layer = new Cls(3, { strides: 2, padding });
        const y = layer.apply(x) as Tensor;
        const ref = pool2dRef(arr(x), kind, [3, 3], [2, 2], padding);
        expect(y.shape).toEqual(ref.shape);
        expectClose(y.data as Float32Array, ref.data, 1e-6);
      }
    }
    expect(shapeAfter(new MaxPooling2D(), [null, 7, 6, 3])).toEqual([null, 3, 3, 3]);
    expect(shapeAfter(new MaxPooling1D(2), [null, 9, 4])).toEqual([null, 4, 4]);
  });

  it('global pooling reduces height and width', () => {
    const xd = x.data as Float32Array;
    const mean = new Float64Array(6);
    const max = new Float64Array(6).fill(-Infinity);
    for (let b = 0; b < 2; b++)
      for (let p = 0; p < 42; p++)
        for (let c = 0; c < 3; c++) {
          mean[b * 3 + c] += xd[(b * 42 + p) * 3 + c] / 42;
          max[b * 3 + c] = Math.max(max[b * 3 + c], xd[(b * 42 + p) * 3 + c]);
        }
    expectClose((new GlobalAveragePooling2D().apply(x) as Tensor).data as Float32Array, mean, 1e-6);
    expectClose((new GlobalMaxPooling2D().apply(x) as Tensor).data as Float32Array, max, 1e-6);
    expect(shapeAfter(new GlobalAveragePooling2D({ keepdims: true }), [null, 7, 6, 3])).toEqual([null, 1, 1, 3]);
  });

  it('Flatten keeps channels-last element order, also right after a conv in a compiled graph', () => {
    const conv = new Conv2D(2, 2);
    const flat = new Flatten();
    const xin = f32([2, 4, 4, 3], 10);
    const convOut = conv.apply(xin) as Tensor; // eager: a plain channels-last tensor
    const compiled = compileSync((t: Tensor) => flat.apply(conv.apply(t)))(xin);
    expect(compiled.shape).toEqual([2, 18]);
    expectClose(compiled.data as Float32Array, convOut.data as Float32Array, 1e-6);
    expect(shapeAfter(new Reshape([3, -1]), [null, 4, 3])).toEqual([null, 3, 4]);
  });

  it('UpSampling2D repeats rows and columns', () => {
    const small = f32([1, 2, 3, 2], 11);
    const y = new UpSampling2D([2, 3]).apply(small) as Tensor;
    expect(y.shape).toEqual([1, 4, 9, 2]);
    const sd = small.data as Float32Array;
    const expected = new Float64Array(72);
    for (let i = 0; i < 4; i++)
      for (let j = 0; j < 9; j++)
        for (let c = 0; c < 2; c++) {
          expected[(i * 9 + j) * 2 + c] = sd[(Math.floor(i / 2) * 3 + Math.floor(j / 3)) * 2 + c];
        }
    expectClose(y.data as Float32Array, expected, 0);
  });

  it('merge layers combine lists of tensors', () => {
    const a = f32([2, 3], 12);
    const b = f32([2, 3], 13);
    const ad = a.data as Float32Array;
    const bd = b.data as Float32Array;
    expectClose(
      (new Add().apply([a, b]) as Tensor).data as Float32Array,
      Array.from(ad, (v, i) => v + bd[i]),
      1e-7,
    );
    expectClose(
      (new Multiply().apply([a, b]) as Tensor).data as Float32Array,
      Array.from(ad, (v, i) => v * bd[i]),
      1e-7,
    );
    expectClose(
      (new Average().apply([a, b]) as Tensor).data as Float32Array,
      Array.from(ad, (v, i) => (v + bd[i]) / 2),
      1e-7,
    );
    expect(() => new Add().apply([a])).toThrow(/at least 2/);
  });

  it('Concatenate joins along the channel axis; ZeroPadding2D pads height and width', () => {
    const a = f32([2, 3, 2], 20);
    const b = f32([2, 3, 1], 21);
    const y = new Concatenate().apply([a, b]) as Tensor;
    expect(y.shape).toEqual([2, 3, 3]);
    const ad = a.data as Float32Array;
    const bd = b.data as Float32Array;
    expectClose(
      y.data as Float32Array,
      Array.from({ length: 18 }, (_, i) => {
        const row = Math.floor(i / 3);
        const c = i % 3;
        return c < 2 ? ad[row * 2 + c] : bd[row];
      }),
      0,
    );
    const img = f32([1, 2, 2, 1], 22);
    const padded = new ZeroPadding2D([
      [1, 0],
      [0, 2],
    ]).apply(img) as Tensor;
    expect(padded.shape).toEqual([1, 3, 4, 1]);
    const d = img.data as Float32Array;
    expect(Array.from(padded.data as Float32Array)).toEqual([0, 0, 0, 0, d[0], d[1], 0, 0, d[2], d[3], 0, 0]);
    expect(shapeAfter(new ZeroPadding2D(2), [null, 5, 5, 3])).toEqual([null, 9, 9, 3]);
  });

  it('Embedding looks up rows of its table', () => {
    const layer = new Embedding(10, 4);
    const ids = input({ shape: [3], dtype: 'int32' });
    const out = layer.apply(ids);
    expect(out.shape).toEqual([null, 3, 4]);
    const y = layer.apply(tensor([[1, 9, 1]], { dtype: 'int32' })) as Tensor;
    const table = layer.embeddings.data as Float32Array;
    expect(Array.from(y.data as Float32Array)).toEqual([
      ...table.slice(4, 8),
      ...table.slice(36, 40),
      ...table.slice(4, 8),
    ]);
    expect(Array.from(table).every((v) => Math.abs(v) <= 0.05)).toBe(true);
    // Float indices (a float32 input layer) are cast, as in Keras.
    const seq = sequential([new Embedding(10, 2, { inputShape: [3] })]);
    expect(seq.outputSpecs[0].shape).toEqual([null, 3, 2]);
    expect((seq.apply(tensor([[1, 2, 3]])) as Tensor).shape).toEqual([1, 3, 2]);
  });

  it('Activation layer by name', () => {
    const a = tensor([[-1, 0, 2]]);
    expect((new Activation('relu').apply(a) as Tensor).toArray()).toEqual([[0, 0, 2]]);
    const s = (new Activation('softmax').apply(a) as Tensor).data as Float32Array;
    const z = Math.exp(-1) + 1 + Math.exp(2);
    expectClose(s, [Math.exp(-1) / z, 1 / z, Math.exp(2) / z], 1e-6);
    expect(() => new Activation('nope')).toThrow(/unknown activation 'nope'/);
  });
});

describe('normalization and dropout', () => {
  it('BatchNormalization: batch statistics and moving-average update in training, moving statistics at inference', () => {
    const bn = new BatchNormalization({
      momentum: 0.9,
      epsilon: 1e-3,
      gammaInitializer: 'randomNormal',
      betaInitializer: 'randomNormal',
    });
    const x = f32([4, 3, 2], 14); // features on the last axis (2)
    const y = bn.apply(x, { training: true }) as Tensor;
    const xd = x.data as Float32Array;
    const g = bn.gamma!.data as Float32Array;
    const be = bn.beta!.data as Float32Array;
    const mean = [0, 0];
    const vars = [0, 0];
    for (let i = 0; i < 24; i++) mean[i % 2] += xd[i] / 12;
    for (let i = 0; i < 24; i++) vars[i % 2] += (xd[i] - mean[i % 2]) ** 2 / 12;
    expectClose(
      y.data as Float32Array,
      Array.from(xd, (v, i) => ((v - mean[i % 2]) / Math.sqrt(vars[i % 2] + 1e-3)) * g[i % 2] + be[i % 2]),
      1e-5,
    );
    // Moving statistics moved 10% of the way from their initial 0 / 1 (applied at once: eager call).
    expectClose(
      bn.movingMean.data as Float32Array,
      mean.map((m) => 0.1 * m),
      1e-6,
    );
    expectClose(
      bn.movingVariance.data as Float32Array,
      vars.map((v) => 0.9 + 0.1 * v),
      1e-6,
    );
    // Inference uses the moving statistics and changes nothing.
    const mm = Array.from(bn.movingMean.data as Float32Array);
    const mv = Array.from(bn.movingVariance.data as Float32Array);
    const yi = bn.apply(x) as Tensor;
    expectClose(
      yi.data as Float32Array,
      Array.from(xd, (v, i) => ((v - mm[i % 2]) / Math.sqrt(mv[i % 2] + 1e-3)) * g[i % 2] + be[i % 2]),
      1e-5,
    );
    expect(Array.from(bn.movingMean.data as Float32Array)).toEqual(mm);
    expect(bn.momentum).toBe(0.9);
    expect(new BatchNormalization().momentum).toBe(0.99);
  });

  it('BatchNormalization inside collectUpdates returns the new moving statistics instead of assigning them', () => {
    const model = sequential([
      input({ shape: [4, 4, 2] }),
      new Conv2D(3, 3, { padding: 'same' }),
      new BatchNormalization(),
    ]);
    const bn = model.layers[1] as BatchNormalization;
    const x = f32([2, 4, 4, 2], 15);
    const step = compileSync((t: Tensor) => {
      const { result, updates } = collectUpdates(() => model.apply(t, { training: true }));
      return [result, updates.map(([, v]) => v)];
    });
    const [out, [newMean, newVar]] = step(x) as [Tensor, Tensor[]];
    expect(Array.from(bn.movingMean.data as Float32Array)).toEqual([0, 0, 0]); // untouched
    const convOut = (model.layers[0].apply(x) as Tensor).data as Float32Array;
    const mean = [0, 0, 0];
    const vars = [0, 0, 0];
    for (let i = 0; i < convOut.length; i++) mean[i % 3] += convOut[i] / 32;
    for (let i = 0; i < convOut.length; i++) vars[i % 3] += (convOut[i] - mean[i % 3]) ** 2 / 32;
    expectClose(
      newMean.data as Float32Array,
      mean.map((m) => 0.01 * m),
      1e-5,
    );
    expectClose(
      newVar.data as Float32Array,
      vars.map((v) => 0.99 + 0.01 * v),
      1e-5,
    );
    expectClose(
      out.data as Float32Array,
      Array.from(convOut, (v, i) => (v - mean[i % 3]) / Math.sqrt(vars[i % 3] + 1e-3)),
      1e-4,
    );
  });

  it('LayerNormalization normalizes each example over the last axis', () => {
    const ln = new LayerNormalization({ gammaInitializer: 'randomNormal' });
    const x = f32([3, 5], 16);
    const y = ln.apply(x) as Tensor;
    const xd = x.data as Float32Array;
    const g = ln.gamma!.data as Float32Array;
    const expected: number[] = [];
    for (let r = 0; r < 3; r++) {
      const row = Array.from(xd.slice(r * 5, r * 5 + 5));
      const m = row.reduce((a, b) => a + b) / 5;
      const v = row.reduce((a, b) => a + (b - m) ** 2, 0) / 5;
      row.forEach((val, j) => expected.push(((val - m) / Math.sqrt(v + 1e-3)) * g[j]));
    }
    expectClose(y.data as Float32Array, expected, 1e-5);
  });

  it('Dropout is the identity at inference and drops with rescaling in training', () => {
    setSeed(3);
    const d = new Dropout(0.25);
    const x = tensor(new Float32Array(4000).fill(2), { shape: [4, 1000] });
    expect((d.apply(x) as Tensor).data).toEqual(x.data);
    const y = d.apply(x, { training: true }).data as Float32Array;
    const zeros = y.filter((v) => v === 0).length;
    expect(y.every((v) => v === 0 || Math.abs(v - 2 / 0.75) < 1e-6)).toBe(true);
    expect(zeros / 4000).toBeGreaterThan(0.2);
    expect(zeros / 4000).toBeLessThan(0.3);
    // Inside a compiled graph the mask is a fresh random input at every call.
    const f = compileSync((t: Tensor) => d.apply(t, { training: true }));
    const a = f(x).data as Float32Array;
    const b = f(x).data as Float32Array;
    expect(a.some((v, i) => v !== b[i])).toBe(true);
  });
});

describe('output shapes through layers (Keras semantics)', () => {
  it('Conv2D same/valid with strides and dilation', () => {
    expect(shapeAfter(new Conv2D(8, 3, { padding: 'same', strides: 2 }), [null, 7, 7, 3])).toEqual([null, 4, 4, 8]);
    expect(shapeAfter(new Conv2D(8, 3, { strides: 2 }), [null, 7, 7, 3])).toEqual([null, 3, 3, 8]);
    expect(shapeAfter(new Conv2D(8, [3, 1], { dilationRate: 2 }), [null, 9, 9, 3])).toEqual([null, 5, 9, 8]);
    expect(shapeAfter(new MaxPooling2D(2, { padding: 'same' }), [null, 7, 7, 3])).toEqual([null, 4, 4, 3]);
    expect(shapeAfter(new Flatten(), [null, 4, 4, 3])).toEqual([null, 48]);
  });

  it('a layer built once keeps its weights; weights live as named Variables', () => {
    const layer = new Conv2D(4, 3);
    layer.build([null, 8, 8, 2]);
    expect(layer.kernel).toBeInstanceOf(Variable);
    expect(layer.namedParameters().map(([k, v]) => [k, v.shape])).toEqual([
      ['kernel', [3, 3, 2, 4]],
      ['bias', [4]],
    ]);
  });
});
