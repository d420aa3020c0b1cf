import { afterAll, describe, expect, it } from 'vitest';
import {
  Add,
  BatchNormalization,
  Conv2D,
  Dense,
  Dropout,
  Flatten,
  Layer,
  MaxPooling2D,
  Model,
  Sequential,
  Tensor,
  clearSession,
  Conv2DTranspose,
  GlobalAveragePooling2D,
  UpSampling2D,
  ZeroPadding2D,
  collectUpdates,
  compileSync,
  Concatenate,
  Variable,
  input,
  layerFromConfig,
  shutdownWorkers,
  toOnnx,
  model,
  mul,
  registerLayer,
  sequential,
  setSeed,
} from '../../src/index.js';
import { randomTensor } from '../helpers/gradcheck.js';
import { decodeModel } from '../../src/engine/onnx/proto.js';
import { expectClose } from './reference.js';

const f32 = (shape: number[], seed: number): Tensor => randomTensor(shape, seed, 'float32');

function seedCnn(): Sequential {
  return sequential([
    input({ shape: [32, 32, 3] }),
    new Conv2D(32, 3, { activation: 'relu' }),
    new MaxPooling2D(2),
    new Conv2D(64, 3, { activation: 'relu' }),
    new MaxPooling2D(2),
    new Conv2D(64, 3, { activation: 'relu' }),
    new Flatten(),
    new Dense(64, { activation: 'relu' }),
    new Dense(10),
  ]);
}

describe('Sequential', () => {
  it("summary of the seed CNN: Keras' 122,570 parameters and output shapes", () => {
    const m = seedCnn();
    const text = m.summary({ print: false });
    expect(text).toMatch(/Total params: 122,570/);
    expect(text).toMatch(/Trainable params: 122,570/);
    expect(text).toMatch(/Non-trainable params: 0/);
    expect(text).toMatch(/\(None, 30, 30, 32\)\s+896/);
    expect(text).toMatch(/\(None, 4, 4, 64\)\s+36,928/);
    expect(text).toMatch(/\(None, 1024\)\s+0/);
    expect(text).toMatch(/\(None, 64\)\s+65,600/);
    expect(m.inputSpecs).toEqual([{ name: expect.any(String), shape: [null, 32, 32, 3], dtype: 'float32' }]);
    expect(m.outputSpecs.map((s) => s.shape)).toEqual([[null, 10]]);
    expect((m.apply(f32([2, 32, 32, 3], 1)) as Tensor).shape).toEqual([2, 10]);
  });

  it('non-trainable BatchNorm statistics are counted apart; inputShape on the first layer builds at once', () => {
    const m = sequential([new Dense(8, { inputShape: [4] }), new BatchNormalization(), new Dense(1)]);
    expect(m.built).toBe(true);
    const text = m.summary({ print: false });
    // 4*8+8 + 2*8 (gamma, beta) + 2*8 (moving) + 8+1
    expect(text).toMatch(/Total params: 81/);
    expect(text).toMatch(/Trainable params: 65/);
    expect(text).toMatch(/Non-trainable params: 16/);
  });

  it('builds lazily from the first input and supports add()', () => {
    const m = new Sequential();
    m.add(new Dense(5, { activation: 'tanh' }));
    m.add(new Dense(2));
    expect(m.built).toBe(false);
    const y = m.apply(f32([3, 7], 2)) as Tensor;
    expect(y.shape).toEqual([3, 2]);
    expect(m.inputSpecs[0].shape).toEqual([null, 7]);
    expect(m.countParams()).toBe(7 * 5 + 5 + 5 * 2 + 2);
  });

  it('automatic names are unique per session like Keras', () => {
    clearSession();
    const a = new Dense(1);
    const b = new Dense(1);
    const c = new Conv2D(1, 1);
    const d = new MaxPooling2D();
    const e = new BatchNormalization();
    expect([a.name, b.name, c.name, d.name, e.name]).toEqual([
      'dense',
      'dense_1',
      'conv2d',
      'max_pooling2d',
      'batch_normalization',
    ]);
  });

  it('config round trip: same architecture, and the same outputs given the same weights', () => {
    setSeed(7);
    const m = sequential([
      input({ shape: [8, 8, 2] }),
      new Conv2D(4, 3, { padding: 'same', activation: 'relu', kernelInitializer: 'heNormal' }),
      new BatchNormalization(),
      new MaxPooling2D(2),
      new Flatten(),
      new Dropout(0.3),
      new Dense(3, { activation: 'softmax' }),
    ]);
    const config = JSON.parse(JSON.stringify(m.getConfig()));
    const rebuilt = Sequential.fromConfig(config);
    expect(rebuilt.layers.map((l) => l.className)).toEqual(m.layers.map((l) => l.className));
    expect(Object.keys(rebuilt.stateDict())).toEqual(Object.keys(m.stateDict()));
    rebuilt.loadStateDict(m.stateDict());
    const x = f32([2, 8, 8, 2], 3);
    expectClose((rebuilt.apply(x) as Tensor).data as Float32Array, (m.apply(x) as Tensor).data as Float32Array, 1e-6);
    expect(layerFromConfig({ className: 'Sequential', config })).toBeInstanceOf(Sequential);
  });
});

describe('functional API', () => {
  it('multi-input, multi-output with a shared layer: one set of weights, used twice', () => {
    const a = input({ shape: [4], name: 'left' });
    const b = input({ shape: [4], name: 'right' });
    const shared = new Dense(3, { activation: 'relu', biasInitializer: 'randomNormal' });
    const ha = shared.apply(a);
    const hb = shared.apply(b);
    const sum = new Add().apply([ha, hb]);
    const head = new Dense(1, { name: 'score' }).apply(sum);
    const m = model({ inputs: [a, b], outputs: [head, ha], name: 'siamese' });
    expect(m.parameters().length).toBe(4); // shared kernel+bias once, head kernel+bias
    expect(m.inputSpecs.map((s) => s.name)).toEqual(['left', 'right']);
    expect(m.outputSpecs.map((s) => s.shape)).toEqual([
      [null, 1],
      [null, 3],
    ]);

    const xa = f32([2, 4], 4);
    const xb = f32([2, 4], 5);
    const [score, leftHidden] = m.apply([xa, xb]) as Tensor[];
    // Independent computation with the same weights.
    const dense = (x: Float32Array, k: Float32Array, bias: Float32Array, inF: number, outF: number, relu: boolean) => {
      const out = new Float64Array((x.length / inF) * outF);
      for (let r = 0; r < x.length / inF; r++)
        for (let j = 0; j < outF; j++) {
          let s = bias[j];
          for (let q = 0; q < inF; q++) s += x[r * inF + q] * k[q * outF + j];
          out[r * outF + j] = relu ? Math.max(0, s) : s;
        }
      return out;
    };
    const sk = shared.kernel.data as Float32Array;
    const sb = shared.bias!.data as Float32Array;
    const la = dense(xa.data as Float32Array, sk, sb, 4, 3, true);
    const lb = dense(xb.data as Float32Array, sk, sb, 4, 3, true);
    const headLayer = m.getLayer('score') as Dense;
    const expected = dense(
      Float32Array.from(la, (v, i) => v + lb[i]),
      headLayer.kernel.data as Float32Array,
      headLayer.bias!.data as Float32Array,
      3,
      1,
      false,
    );
    expectClose(leftHidden.data as Float32Array, la, 1e-6);
    expectClose(score.data as Float32Array, expected, 1e-5);
    // Inputs by name work too.
    const byName = m.apply({ right: xb, left: xa }) as Tensor[];
    expect(Array.from(byName[0].data as Float32Array)).toEqual(Array.from(score.data as Float32Array));
    const summary = m.summary({ print: false });
    expect(summary).toMatch(/left \(InputLayer\)/);
    expect(summary).toMatch(/Total params: 19/);
  });

  it('config round trip of a functional model with shared layers and a nested model', () => {
    setSeed(11);
    const inner = sequential([input({ shape: [3] }), new Dense(3, { activation: 'tanh' })], { name: 'inner' });
    const a = input({ shape: [3], name: 'a' });
    const b = input({ shape: [3], name: 'b' });
    const merged = new Add().apply([inner.apply(a), inner.apply(b)]);
    const out = new Dense(2).apply(merged);
    const m = model({ inputs: [a, b], outputs: out });
    const config = JSON.parse(JSON.stringify(m.getConfig()));
    const rebuilt = Model.fromConfig(config);
    expect(rebuilt.parameters().length).toBe(4);
    rebuilt.loadStateDict(m.stateDict());
    const xa = f32([2, 3], 6);
    const xb = f32([2, 3], 7);
    expectClose(
      (rebuilt.apply([xa, xb]) as Tensor).data as Float32Array,
      (m.apply([xa, xb]) as Tensor).data as Float32Array,
      1e-6,
    );
  });

  it('a model is a layer: calling it on symbolic tensors nests it, on tensors computes', () => {
    const base = seedCnnBody();
    const x = input({ shape: [8, 8, 1] });
    const y = new Dense(2).apply(base.apply(x));
    const m = model({ inputs: x, outputs: y });
    expect(m.outputSpecs[0].shape).toEqual([null, 2]);
    expect((m.apply(f32([3, 8, 8, 1], 8)) as Tensor).shape).toEqual([3, 2]);
  });

  it('clear errors for wrong inputs and disconnected graphs', () => {
    const a = input({ shape: [4], name: 'a' });
    const other = input({ shape: [4], name: 'other' });
    const y = new Add().apply([a, other]);
    expect(() => model({ inputs: a, outputs: y })).toThrow(/not among the model inputs/);
    const m = model({ inputs: a, outputs: new Dense(2).apply(a) });
    expect(() => m.apply(f32([2, 5], 1))).toThrow(/input 'a' expects shape \[None, 4\], got \[2, 5\]/);
    expect(() => layerFromConfig({ className: 'NoSuchLayer', config: {} })).toThrow(
      /unknown layer class 'NoSuchLayer'/,
    );
  });

  it('custom layers: addWeight in build, registerLayer for configs', () => {
    class Scale extends Layer {
      static override className = 'Scale';
      declare factor: Variable;
      override build(shape: (number | null)[]): void {
        this.addWeight('factor', [shape[shape.length - 1]!], 'ones');
      }
      override call(x: Tensor): Tensor {
        return mul(x, this.factor);
      }
    }
    registerLayer(Scale);
    const a = input({ shape: [3] });
    const m = model({ inputs: a, outputs: new Scale().apply(new Dense(3).apply(a)) });
    expect(m.namedParameters().map(([k]) => k)).toEqual(['layers.1.kernel', 'layers.1.bias', 'layers.2.factor']);
    const rebuilt = Model.fromConfig(JSON.parse(JSON.stringify(m.getConfig())));
    expect(rebuilt.layers[2]).toBeInstanceOf(Scale);
    rebuilt.loadStateDict(m.stateDict());
    const x = f32([2, 3], 9);
    expect(Array.from((rebuilt.apply(x) as Tensor).data as Float32Array)).toEqual(
      Array.from((m.apply(x) as Tensor).data as Float32Array),
    );
  });
});

describe('compiled use (what the train step does)', () => {
  it('one graph with a symbolic batch serves several batch sizes; training mode collects BatchNorm updates', () => {
    setSeed(2);
    const m = sequential([
      input({ shape: [6, 6, 2] }),
      new ZeroPadding2D(1),
      new Conv2D(3, 3, { activation: 'relu' }),
      new BatchNormalization(),
      new MaxPooling2D(2),
      new UpSampling2D(2),
      new Conv2DTranspose(2, 3, { strides: 2, padding: 'same' }),
      new Dropout(0.5),
      new GlobalAveragePooling2D(),
      new Dense(2),
    ]);
    const bn = m.layers[2] as BatchNormalization;
    const trainStep = compileSync(
      (x: Tensor) => {
        const { result, updates } = collectUpdates(() => m.apply(x, { training: true }));
        return { result, updates: updates.map(([, v]) => v) };
      },
      { symbolicBatch: true },
    );
    const small = trainStep(f32([2, 6, 6, 2], 1));
    const large = trainStep(f32([5, 6, 6, 2], 2));
    expect(small.result.shape).toEqual([2, 2]);
    expect(large.result.shape).toEqual([5, 2]);
    expect(large.updates.map((u: Tensor) => u.shape)).toEqual([[3], [3]]);
    expect(Array.from(bn.movingVariance.data as Float32Array)).toEqual([1, 1, 1]);
    const infer = compileSync((x: Tensor) => m.apply(x), { symbolicBatch: true });
    const x = f32([3, 6, 6, 2], 3);
    expectClose(infer(x).data as Float32Array, (m.apply(x) as Tensor).data as Float32Array, 1e-5);
  });
});

describe('training methods delegate to src/train', () => {
  afterAll(() => shutdownWorkers());
  it('compile / fit / evaluate / predict on a Sequential model', async () => {
    setSeed(3);
    const m = sequential([input({ shape: [3] }), new Dense(4, { activation: 'tanh' }), new Dense(1)]);
    m.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    const x = f32([32, 3], 1);
    const y = f32([32, 1], 2);
    const history = await m.fit(x, y, { epochs: 2, batchSize: 8, verbose: 0 });
    expect(history.history.loss).toHaveLength(2);
    expect(((await m.predict(x)) as Tensor).shape).toEqual([32, 1]);
    expect(typeof (await m.evaluate(x, y, { verbose: 0 })).loss).toBe('number');
  });
});

describe('subclassed models', () => {
  it('a Model subclass registers its layers by assignment and knows its specs once called', () => {
    class TwoLayer extends Model {
      hidden = new Dense(5, { activation: 'relu' });
      out = new Dense(2);
      override call(x: Tensor, options: { training?: boolean } = {}): Tensor {
        return this.out.apply(this.hidden.apply(x, options), options);
      }
    }
    const m = new TwoLayer();
    expect(m.inputSpecs).toEqual([]);
    const y = m.apply(f32([3, 4], 1)) as Tensor;
    expect(y.shape).toEqual([3, 2]);
    expect(m.namedParameters().map(([k]) => k)).toEqual(['hidden.kernel', 'hidden.bias', 'out.kernel', 'out.bias']);
    expect(m.inputSpecs).toEqual([{ name: 'input', shape: [null, 4], dtype: 'float32' }]);
    expect(m.outputSpecs).toEqual([{ name: 'output', shape: [null, 2], dtype: 'float32' }]);
    expect(m.summary({ print: false })).toMatch(/Total params: 37/);
  });

  it('a subclass may define forward() instead of call()', () => {
    class Net extends Model {
      fc = new Dense(3);
      override forward(x: Tensor): Tensor {
        return this.fc.apply(x) as Tensor;
      }
    }
    const net = new Net();
    expect((net.apply(f32([2, 5], 3)) as Tensor).shape).toEqual([2, 3]);
    expect(net.parameters().length).toBe(2);
    expect(() => new Model().apply(f32([1, 1], 1))).toThrow(/override call\(\)/);
  });
});

function seedCnnBody(): Sequential {
  return sequential([new Conv2D(2, 3, { inputShape: [8, 8, 1] }), new MaxPooling2D(2), new Flatten()]);
}

describe('layout inside compiled graphs', () => {
  it('conv → residual Add → Concatenate → BatchNorm → pooling stays NCHW: only the input and kernels are transposed', async () => {
    setSeed(9);
    const x = input({ shape: [6, 6, 3] });
    const a = new Conv2D(4, 3, { padding: 'same', activation: 'relu' }).apply(x);
    const b = new Conv2D(4, 3, { padding: 'same' }).apply(a);
    const merged = new Concatenate().apply([new Add().apply([a, b]), a]);
    const pooled = new GlobalAveragePooling2D().apply(
      new MaxPooling2D(2).apply(new BatchNormalization().apply(merged)),
    );
    const m = model({ inputs: x, outputs: pooled });
    const xs = f32([2, 6, 6, 3], 10);
    expectClose(
      (compileSync((t: Tensor) => m.apply(t))(xs) as Tensor).data as Float32Array,
      (m.apply(xs) as Tensor).data as Float32Array,
      1e-5,
    );
    const bytes = await toOnnx((t: Tensor) => m.apply(t) as Tensor, [{ shape: ['batch', 6, 6, 3] }]);
    const ops = decodeModel(bytes).graph.node.map((n) => n.op_type);
    expect(ops.filter((o) => o === 'Transpose').length).toBe(3); // input + two kernels (constant-folded by ORT)
  });
});
