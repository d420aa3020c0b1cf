import { describe, expect, it } from 'vitest';
import {
  BatchNormalization,
  Conv2D,
  Dense,
  Flatten,
  Module,
  Tensor,
  Variable,
  add,
  compileSync,
  functionalCall,
  grad,
  input,
  matmul,
  mean,
  mul,
  relu,
  sequential,
  setSeed,
  tensor,
  initializers,
  regularizers,
  zeros,
} from '../../src/index.js';
import { checkGrad, randomTensor } from '../helpers/gradcheck.js';

class Linear extends Module {
  weight: Variable;
  bias: Variable;
  constructor(inF: number, outF: number, seed: number) {
    super();
    this.weight = new Variable(randomTensor([inF, outF], seed));
    this.bias = new Variable(randomTensor([outF], seed + 1));
  }
  override forward(x: Tensor): Tensor {
    return add(matmul(x, this.weight), this.bias);
  }
}

class Net extends Module {
  first: Linear;
  blocks: Linear[];
  steps: Variable;
  constructor(seed: number) {
    super();
    this.first = new Linear(3, 4, seed);
    this.blocks = [new Linear(4, 4, seed + 10), new Linear(4, 2, seed + 20)];
    this.steps = this.registerBuffer('steps', new Variable(zeros([1], 'float64')));
  }
  override forward(x: Tensor): Tensor {
    let h = relu(this.first.call(x));
    for (const b of this.blocks) h = b.call(h);
    return h;
  }
}

describe('Module (PyTorch style)', () => {
  it('registers parameters, submodules and buffers by assignment, with dotted names', () => {
    const net = new Net(1);
    expect(net.namedParameters().map(([k]) => k)).toEqual([
      'first.weight',
      'first.bias',
      'blocks.0.weight',
      'blocks.0.bias',
      'blocks.1.weight',
      'blocks.1.bias',
    ]);
    expect(net.namedBuffers().map(([k]) => k)).toEqual(['steps']);
    // The module's own variables first, then each submodule's.
    expect(Object.keys(net.stateDict())).toEqual([
      'steps',
      'first.weight',
      'first.bias',
      'blocks.0.weight',
      'blocks.0.bias',
      'blocks.1.weight',
      'blocks.1.bias',
    ]);
    expect(net.countParams()).toBe(3 * 4 + 4 + 16 + 4 + 8 + 2);
  });

  it('lists a shared parameter once', () => {
    const net = new Net(1);
    net.blocks[1] = net.blocks[0];
    expect(net.parameters().length).toBe(4);
  });

  it('train()/eval() set the flag recursively', () => {
    const net = new Net(1);
    expect(net.training).toBe(true);
    net.eval();
    expect(net.modules().every((m) => !m.training)).toBe(true);
    net.train();
    expect(net.blocks[1].training).toBe(true);
  });

  it('stateDict round trip gives identical outputs', () => {
    const a = new Net(1);
    const b = new Net(100);
    const x = randomTensor([5, 3], 7);
    expect(Array.from(a.call(x).data)).not.toEqual(Array.from(b.call(x).data));
    const result = b.loadStateDict(a.stateDict());
    expect(result).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(Array.from(b.call(x).data)).toEqual(Array.from(a.call(x).data));
  });

  it('loadStateDict errors name missing and unexpected keys and shape mismatches', () => {
    const net = new Net(1);
    const dict = net.stateDict();
    const { 'first.bias': _dropped, ...missing } = dict;
    expect(() => net.loadStateDict(missing)).toThrow(/missing from the dictionary: first\.bias/);
    expect(() => net.loadStateDict({ ...dict, extra: tensor([1]) })).toThrow(/not in the module: extra/);
    expect(() => net.loadStateDict({ ...dict, 'first.weight': randomTensor([4, 3], 1) })).toThrow(
      /'first\.weight': dictionary has shape \[4, 3\], module has \[3, 4\]/,
    );
    expect(net.loadStateDict({ ...missing, extra: tensor([1]) }, { strict: false })).toEqual({
      missingKeys: ['first.bias'],
      unexpectedKeys: ['extra'],
    });
  });

  it('gradients w.r.t. module parameters via functionalCall match finite differences', () => {
    const net = new Net(3);
    const x = randomTensor([5, 3], 8);
    const params = net.parameters();
    checkGrad(
      (...ps: Tensor[]) =>
        functionalCall(
          net,
          params.map((p, i) => [p, ps[i]] as [Variable, Tensor]),
          () => net.call(x),
        ),
      params,
    );
  });
});

describe('Keras layers as modules', () => {
  it('gradient flows to every trainable parameter of a CNN (and not to BatchNorm moving statistics)', () => {
    setSeed(5);
    const model = sequential([
      input({ shape: [6, 6, 2] }),
      new Conv2D(3, 3, { padding: 'same' }),
      new BatchNormalization(),
      new Conv2D(2, 3),
      new Flatten(),
      new Dense(2),
    ]);
    const x = randomTensor([3, 6, 6, 2], 9, 'float32');
    const named = Object.fromEntries(model.namedParameters().map(([k, v]) => [k, v as Tensor]));
    expect(Object.keys(named)).toEqual([
      'layers.0.kernel',
      'layers.0.bias',
      'layers.1.gamma',
      'layers.1.beta',
      'layers.2.kernel',
      'layers.2.bias',
      'layers.4.kernel',
      'layers.4.bias',
    ]);
    expect(model.namedBuffers().map(([k]) => k)).toEqual(['layers.1.movingMean', 'layers.1.movingVariance']);
    const loss = (ps: Record<string, Tensor>) =>
      functionalCall(model, ps, () =>
        mean(mul(model.apply(x, { training: true }), model.apply(x, { training: true }))),
      );
    const grads = grad(loss)(named) as Record<string, Tensor>;
    for (const [k, g] of Object.entries(grads)) {
      expect(g.shape, k).toEqual(named[k].shape);
      expect(
        Array.from(g.data as Float32Array).some((v) => v !== 0),
        `gradient of ${k} is all zero`,
      ).toBe(true);
    }
    // Directional finite difference along the full gradient (float32: loose tolerance).
    const f = compileSync(loss);
    const eps = 1e-2;
    let norm2 = 0;
    for (const g of Object.values(grads)) for (const v of g.data as Float32Array) norm2 += v * v;
    const shifted = (s: number) =>
      Object.fromEntries(
        Object.entries(named).map(([k, v]) => [k, add(v, mul(grads[k], (s * eps) / Math.sqrt(norm2)))]),
      );
    const fd = ((f(shifted(1)) as Tensor).item() - (f(shifted(-1)) as Tensor).item()) / (2 * eps);
    expect(Math.abs(fd - Math.sqrt(norm2)) / Math.sqrt(norm2)).toBeLessThan(2e-2);
  });

  it('regularizationLoss sums the weight penalties (l2 = factor * sum(w²))', () => {
    const layer = new Dense(3, {
      kernelRegularizer: regularizers.l2(0.1),
      biasRegularizer: regularizers.l1(0.5),
      biasInitializer: 'randomNormal',
    });
    const model = sequential([input({ shape: [4] }), layer]);
    const k = layer.kernel.data as Float32Array;
    const b = layer.bias!.data as Float32Array;
    const expected = 0.1 * k.reduce((s, v) => s + v * v, 0) + 0.5 * b.reduce((s, v) => s + Math.abs(v), 0);
    expect(model.regularizationLoss().item()).toBeCloseTo(expected, 5);
    expect(
      sequential([input({ shape: [4] }), new Dense(2)])
        .regularizationLoss()
        .item(),
    ).toBe(0);
  });

  it('trainable = false freezes a layer: its weights become non-trainable', () => {
    const model = sequential([input({ shape: [4] }), new Dense(3), new Dense(2)]);
    model.layers[0].trainable = false;
    expect(model.trainableWeights.length).toBe(2);
    expect(model.nonTrainableWeights.length).toBe(2);
    expect(model.parameters().length).toBe(4);
    model.trainable = false;
    expect(model.layers.every((l) => !l.trainable)).toBe(true);
    expect(model.trainableWeights.length).toBe(0);
  });

  it('a frozen BatchNormalization runs in inference mode even when training', () => {
    const bn = new BatchNormalization({ trainable: false });
    const x = randomTensor([4, 3], 3, 'float32');
    const y = bn.apply(x, { training: true }) as Tensor;
    // Moving statistics 0 / 1: y = x / sqrt(1 + eps), and nothing is updated.
    const xd = x.data as Float32Array;
    Array.from(y.data as Float32Array).forEach((v, i) => expect(v).toBeCloseTo(xd[i] / Math.sqrt(1 + 1e-3), 6));
    expect(Array.from(bn.movingMean.data as Float32Array)).toEqual([0, 0, 0]);
  });
});

describe('initializers', () => {
  const stats = (t: Tensor) => {
    const d = Array.from(t.data as Float32Array);
    const m = d.reduce((a, b) => a + b, 0) / d.length;
    return {
      mean: m,
      std: Math.sqrt(d.reduce((a, b) => a + (b - m) ** 2, 0) / d.length),
      min: Math.min(...d),
      max: Math.max(...d),
    };
  };

  it('glorotUniform stays within sqrt(6 / (fanIn + fanOut)) with the uniform variance; conv fans include the receptive field', () => {
    const limit = Math.sqrt(6 / (200 + 300));
    const s = stats(initializers.glorotUniform().init([200, 300]));
    expect(s.max).toBeLessThanOrEqual(limit);
    expect(s.min).toBeGreaterThanOrEqual(-limit);
    expect(s.std).toBeCloseTo(limit / Math.sqrt(3), 3);
    expect(initializers.computeFans([3, 3, 16, 32])).toEqual([144, 288]);
  });

  it('heNormal / lecunNormal are truncated normals with std sqrt(2/fanIn) / sqrt(1/fanIn)', () => {
    const he = stats(initializers.heNormal().init([400, 300]));
    expect(he.std).toBeCloseTo(Math.sqrt(2 / 400), 3);
    expect(he.max).toBeLessThanOrEqual((2 * Math.sqrt(2 / 400)) / 0.87962566103423978 + 1e-6);
    const le = stats(initializers.lecunNormal().init([400, 300]));
    expect(le.std).toBeCloseTo(Math.sqrt(1 / 400), 3);
  });

  it('orthogonal gives orthonormal columns', () => {
    const q = initializers.orthogonal().init([6, 4]).data as Float32Array;
    for (let a = 0; a < 4; a++)
      for (let b = 0; b < 4; b++) {
        let dot = 0;
        for (let r = 0; r < 6; r++) dot += q[r * 4 + a] * q[r * 4 + b];
        expect(dot).toBeCloseTo(a === b ? 1 : 0, 5);
      }
  });

  it('setSeed makes model construction repeatable; names and configs resolve', () => {
    setSeed(42);
    const a = new Dense(4);
    a.build([null, 3]);
    setSeed(42);
    const b = new Dense(4);
    b.build([null, 3]);
    expect(Array.from(a.kernel.data as Float32Array)).toEqual(Array.from(b.kernel.data as Float32Array));
    expect(initializers.getInitializer('he_normal').className).toBe('HeNormal');
    expect(
      initializers
        .getInitializer({ className: 'Constant', config: { value: 3 } })
        .init([2])
        .toArray(),
    ).toEqual([3, 3]);
    expect(() => initializers.getInitializer('nope')).toThrow(/unknown initializer 'nope'/);
  });
});

describe('explicit registration (PyTorch __setattr__ routing)', () => {
  class Block extends Module {
    weight = new Variable(zeros([2]));
    inner = new Linear(2, 2, 3);
    // Helper objects that merely hold modules or numbers are plain attributes, never state.
    notes = { seen: new Linear(2, 2, 4), count: 0 };
    override forward(x: Tensor): Tensor {
      return this.inner.call(x);
    }
  }

  it('routes Variables to parameters and Modules to submodules; other values stay plain attributes', () => {
    const b = new Block();
    expect(b.namedParameters().map(([k]) => k)).toEqual(['weight', 'inner.weight', 'inner.bias']);
    expect(b.namedChildren().map(([k]) => k)).toEqual(['inner']);
    b.notes.count = 5;
    expect(b.namedParameters()).toHaveLength(3);
  });

  it('rejects a value of another kind for a registered name', () => {
    const b = new Block();
    expect(() => ((b as any).weight = new Linear(2, 2, 5))).toThrow(
      /Block: cannot assign a Module \(Linear\) to 'weight', which is a parameter/,
    );
    expect(() => ((b as any).inner = new Variable(zeros([1])))).toThrow(
      /Block: cannot assign a Variable to 'inner', which is a submodule/,
    );
    expect(() => ((b as any).weight = 3)).toThrow(
      /cannot assign a number to 'weight', which is a parameter \(assign a Variable\)/,
    );
    expect(() => b.registerBuffer('inner', new Variable(zeros([1])))).toThrow(/'inner' is already a submodule/);
    expect(() => b.registerBuffer('notes', new Variable(zeros([1])))).toThrow(/attribute 'notes' already exists/);
    // A state name may not shadow a method.
    expect(() => ((b as any).train = new Variable(zeros([1])))).toThrow(/cannot register a parameter named 'train'/);
    expect(() => b.registerModule('eval', new Linear(1, 1, 6))).toThrow(/cannot register a submodule named 'eval'/);
    // Replacing a parameter with another Variable, or emptying the slot, is fine.
    b.weight = new Variable(zeros([2]));
    expect(b.namedParameters()[0][1]).toBe(b.weight);
    (b as any).weight = undefined;
    expect(b.namedParameters().map(([k]) => k)).toEqual(['inner.weight', 'inner.bias']);
  });

  it('explicit registration equals assignment; functionalCall may substitute plain tensors', () => {
    const m = new Module();
    m.registerParameter('scale', new Variable(tensor([2])));
    m.registerModule('layers', [new Linear(1, 1, 7)]);
    expect(m.namedParameters().map(([k]) => k)).toEqual(['scale', 'layers.0.weight', 'layers.0.bias']);
    const seen = functionalCall(m, { scale: tensor([5]) }, () => ((m as any).scale as Tensor).item());
    expect(seen).toBe(5);
    expect(((m as any).scale as Variable).item()).toBe(2);
  });
});
