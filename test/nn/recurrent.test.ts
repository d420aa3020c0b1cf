import { describe, expect, it } from 'vitest';
import {
  Bidirectional,
  TimeDistributed,
  layerFromConfig,
  serializeLayer,
  GRU,
  LSTM,
  Layer,
  SimpleRNN,
  Tensor,
  Variable,
  compileSync,
  functionalCall,
  input,
  model,
  sequential,
  Dense,
  setSeed,
} from '../../src/index.js';
import { checkGrad, randomTensor } from '../helpers/gradcheck.js';
import { expectClose } from './reference.js';

const sig = (v: number) => 1 / (1 + Math.exp(-v));

/** Plain-loop reference of one recurrent layer over x [N, T, F] using the layer's weights (Keras equations). */
function reference(
  kind: 'rnn' | 'lstm' | 'gru',
  x: Tensor,
  W: Float64Array,
  U: Float64Array,
  b: Float64Array,
  units: number,
  resetAfter = true,
) {
  const [n, t, f] = x.shape as number[];
  const xd = x.data as Float64Array;
  const g = kind === 'rnn' ? 1 : kind === 'lstm' ? 4 : 3;
  const outs: number[][][] = [];
  for (let s = 0; s < n; s++) {
    let h = new Array(units).fill(0);
    let c = new Array(units).fill(0);
    const seq: number[][] = [];
    for (let step = 0; step < t; step++) {
      const xw = new Array(g * units).fill(0);
      const hu = new Array(g * units).fill(0);
      for (let j = 0; j < g * units; j++) {
        for (let q = 0; q < f; q++) xw[j] += xd[(s * t + step) * f + q] * W[q * g * units + j];
        for (let q = 0; q < units; q++) hu[j] += h[q] * U[q * g * units + j];
        if (kind === 'gru' && resetAfter) {
          xw[j] += b[j];
          hu[j] += b[g * units + j];
        } else xw[j] += b[j];
      }
      const next = new Array(units);
      const nextC = new Array(units);
      for (let k = 0; k < units; k++) {
        if (kind === 'rnn') next[k] = Math.tanh(xw[k] + hu[k]);
        else if (kind === 'lstm') {
          const i = sig(xw[k] + hu[k]);
          const fg = sig(xw[units + k] + hu[units + k]);
          const cc = Math.tanh(xw[2 * units + k] + hu[2 * units + k]);
          const o = sig(xw[3 * units + k] + hu[3 * units + k]);
          nextC[k] = fg * c[k] + i * cc;
          next[k] = o * Math.tanh(nextC[k]);
        } else {
          const z = sig(xw[k] + hu[k]);
          const r = sig(xw[units + k] + hu[units + k]);
          const cand = Math.tanh(xw[2 * units + k] + r * hu[2 * units + k]);
          next[k] = z * h[k] + (1 - z) * cand;
        }
      }
      h = next;
      if (kind === 'lstm') c = nextC;
      seq.push(h);
    }
    outs.push(seq);
  }
  return outs;
}

const f64 = (v: Variable) => v.data as Float64Array;

describe('recurrent layers vs plain loops (Keras equations and layouts)', () => {
  const x = randomTensor([2, 4, 3], 1);
  const cases = [
    ['rnn', () => new SimpleRNN(5, { dtype: 'float64', returnSequences: true, biasInitializer: 'randomNormal' })],
    ['lstm', () => new LSTM(5, { dtype: 'float64', returnSequences: true, biasInitializer: 'randomNormal' })],
    ['gru', () => new GRU(5, { dtype: 'float64', returnSequences: true, biasInitializer: 'randomNormal' })],
  ] as const;
  for (const [kind, make] of cases) {
    it(`${kind}: every step's output`, () => {
      const layer = make() as SimpleRNN | LSTM | GRU;
      const y = layer.apply(x) as Tensor;
      expect(y.shape).toEqual([2, 4, 5]);
      const ref = reference(kind, x, f64(layer.kernel), f64(layer.recurrentKernel), f64(layer.bias!), 5);
      expectClose(y.data as Float64Array, ref.flat(2), 1e-10);
    });
  }

  it('LSTM defaults: forget bias 1, last output only, states with returnState, weight shapes', () => {
    const lstm = new LSTM(3, { returnState: true });
    const out = lstm.apply(randomTensor([2, 5, 4], 2, 'float32')) as Tensor[];
    expect(out.map((t) => t.shape)).toEqual([
      [2, 3],
      [2, 3],
      [2, 3],
    ]);
    expect(Array.from(out[0].data as Float32Array)).toEqual(Array.from(out[1].data as Float32Array)); // output = h
    expect(Array.from(lstm.bias!.data as Float32Array)).toEqual([0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
    expect(lstm.kernel.shape).toEqual([4, 12]);
    expect(lstm.recurrentKernel.shape).toEqual([3, 12]);
    expect(new GRU(3).computeOutputShape([null, 5, 4])).toEqual([null, 3]);
    const gru = new GRU(3);
    gru.build([null, 5, 4]);
    expect(gru.bias!.shape).toEqual([2, 9]);
  });

  it('goBackwards reads the sequence in reverse', () => {
    const fwd = new SimpleRNN(2, { dtype: 'float64' });
    const x2 = randomTensor([1, 3, 2], 3);
    fwd.build([null, 3, 2]);
    const bwd = new SimpleRNN(2, { dtype: 'float64', goBackwards: true });
    bwd.build([null, 3, 2]);
    bwd.loadStateDict(fwd.stateDict());
    const d = x2.data as Float64Array;
    const reversed = new Tensor([1, 3, 2], 'float64', Float64Array.from([d[4], d[5], d[2], d[3], d[0], d[1]]));
    expectClose(
      (bwd.apply(x2) as Tensor).data as Float64Array,
      (fwd.apply(reversed) as Tensor).data as Float64Array,
      1e-12,
    );
  });

  it('LSTM gradients w.r.t. all weights match finite differences (float64)', () => {
    const lstm = new LSTM(3, { dtype: 'float64', biasInitializer: 'randomNormal' });
    const xs = randomTensor([2, 3, 2], 4);
    lstm.build([null, 3, 2]);
    const ps = lstm.parameters();
    checkGrad(
      (...vs: Tensor[]) =>
        functionalCall(
          lstm,
          ps.map((p, i) => [p, vs[i]] as [Variable, Tensor]),
          () => lstm.apply(xs) as Tensor,
        ),
      ps,
    );
  });

  it('works in a functional model with a symbolic batch when compiled', () => {
    setSeed(1);
    const inp = input({ shape: [6, 3] });
    const m = model({
      inputs: inp,
      outputs: new Dense(1).apply(new GRU(4).apply(new LSTM(4, { returnSequences: true }).apply(inp))),
    });
    expect(m.outputSpecs[0].shape).toEqual([null, 1]);
    const f = compileSync((t: Tensor) => m.apply(t), { symbolicBatch: true });
    const xs = randomTensor([3, 6, 3], 5, 'float32');
    expectClose(f(xs).data as Float32Array, (m.apply(xs) as Tensor).data as Float32Array, 1e-5);
    expect(f(randomTensor([7, 6, 3], 6, 'float32')).shape).toEqual([7, 1]);
    const seq = sequential([new LSTM(2, { inputShape: [4, 3] })]);
    expect(seq.outputSpecs[0].shape).toEqual([null, 2]);
    expect((seq.layers[0] as Layer).className).toBe('LSTM');
  });
});

describe('wrappers', () => {
  it('Bidirectional concatenates the forward pass and the backward pass (re-aligned in time)', () => {
    const bi = new Bidirectional(new SimpleRNN(2, { dtype: 'float64', returnSequences: true }));
    const x = randomTensor([1, 3, 2], 7);
    const y = bi.apply(x) as Tensor;
    expect(y.shape).toEqual([1, 3, 4]);
    expect(bi.namedParameters().map(([k]) => k)).toEqual([
      'forwardLayer.kernel',
      'forwardLayer.recurrentKernel',
      'forwardLayer.bias',
      'backwardLayer.kernel',
      'backwardLayer.recurrentKernel',
      'backwardLayer.bias',
    ]);
    // Independent check: a plain forward RNN with the backward weights over the reversed sequence.
    const plain = new SimpleRNN(2, { dtype: 'float64', returnSequences: true });
    plain.build([null, 3, 2]);
    plain.loadStateDict(bi.backwardLayer.stateDict());
    const d = x.data as Float64Array;
    const rev = new Tensor([1, 3, 2], 'float64', Float64Array.from([d[4], d[5], d[2], d[3], d[0], d[1]]));
    const back = plain.apply(rev).data as Float64Array; // step s of the reversed sequence = original step 2 - s
    const fwd = bi.forwardLayer.apply(x).data as Float64Array;
    const expected: number[] = [];
    for (let t = 0; t < 3; t++) expected.push(fwd[t * 2], fwd[t * 2 + 1], back[(2 - t) * 2], back[(2 - t) * 2 + 1]);
    expectClose(y.data as Float64Array, expected, 1e-12);
    const rebuilt = layerFromConfig(JSON.parse(JSON.stringify(serializeLayer(bi))));
    rebuilt.build([null, 3, 2]);
    rebuilt.apply(x);
    rebuilt.loadStateDict(bi.stateDict());
    expectClose((rebuilt.apply(x) as Tensor).data as Float64Array, y.data as Float64Array, 1e-12);
  });

  it('TimeDistributed applies one layer to every step, also with a symbolic batch', () => {
    const td = new TimeDistributed(new Dense(3));
    const x = randomTensor([2, 4, 5], 8, 'float32');
    const y = td.apply(x) as Tensor;
    expect(y.shape).toEqual([2, 4, 3]);
    const dense = (td.layer as Dense).apply(x) as Tensor; // Dense acts on the last axis of any rank
    expectClose(y.data as Float32Array, dense.data as Float32Array, 1e-6);
    const f = compileSync((t: Tensor) => td.apply(t), { symbolicBatch: true });
    expectClose(f(x).data as Float32Array, y.data as Float32Array, 1e-6);
  });
});
