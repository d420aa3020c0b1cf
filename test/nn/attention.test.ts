import { describe, expect, it } from 'vitest';
import {
  Dense,
  LayerNormalization,
  Add,
  MultiHeadAttention,
  Tensor,
  Variable,
  input,
  model,
  tensor,
} from '../../src/index.js';
import { randomTensor } from '../helpers/gradcheck.js';
import { expectClose } from './reference.js';

/** Plain-loop multi-head attention with Keras' weight layouts. */
function reference(q: Tensor, v: Tensor, layer: MultiHeadAttention, causal: boolean, mask?: number[][][]): number[] {
  const [n, tq, dq] = q.shape as number[];
  const [, tk, dv] = v.shape as number[];
  const h = layer.numHeads;
  const kd = layer.keyDim;
  const vd = layer.valueDim;
  const W = (x: Variable | undefined) => (x ? (x.data as Float64Array) : undefined);
  const [wq, wk, wv, wo] = [W(layer.queryKernel)!, W(layer.keyKernel)!, W(layer.valueKernel)!, W(layer.outputKernel)!];
  const [bq, bk, bv, bo] = [W(layer.queryBias)!, W(layer.keyBias)!, W(layer.valueBias)!, W(layer.outputBias)!];
  const out = (layer.outputKernel.shape as number[])[2];
  const qd = q.data as Float64Array;
  const vdData = v.data as Float64Array;
  const proj = (
    x: Float64Array,
    b: number,
    t: number,
    d: number,
    w: Float64Array,
    bias: Float64Array,
    head: number,
    size: number,
    j: number,
  ) => {
    let s = bias[head * size + j];
    for (let c = 0; c < d; c++) s += x[(b * (x.length / n / d) + t) * d + c] * w[(c * h + head) * size + j];
    return s;
  };
  const result: number[] = [];
  for (let b = 0; b < n; b++)
    for (let i = 0; i < tq; i++) {
      const acc = new Array(out).fill(0).map((_, o) => bo[o]);
      for (let head = 0; head < h; head++) {
        const qi = Array.from({ length: kd }, (_, j) => proj(qd, b, i, dq, wq, bq, head, kd, j) / Math.sqrt(kd));
        const logits = Array.from({ length: tk }, (_, t) => {
          let s = 0;
          for (let j = 0; j < kd; j++) s += qi[j] * proj(vdData, b, t, dv, wk, bk, head, kd, j);
          const allowed = (!causal || t <= i) && (!mask || mask[b][i][t] === 1);
          return allowed ? s : -1e9;
        });
        const m = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - m));
        const z = e.reduce((a, c) => a + c, 0);
        for (let j = 0; j < vd; j++) {
          let ctx = 0;
          for (let t = 0; t < tk; t++) ctx += (e[t] / z) * proj(vdData, b, t, dv, wv, bv, head, vd, j);
          for (let o = 0; o < out; o++) acc[o] += ctx * wo[(head * vd + j) * out + o];
        }
      }
      result.push(...acc);
    }
  return result;
}

describe('MultiHeadAttention', () => {
  it('cross-attention matches plain loops (Keras layouts), output takes the query size', () => {
    const layer = new MultiHeadAttention(2, 3, { dtype: 'float64', biasInitializer: 'randomNormal' });
    const q = randomTensor([2, 4, 5], 1);
    const v = randomTensor([2, 3, 6], 2);
    const y = layer.apply([q, v]) as Tensor;
    expect(y.shape).toEqual([2, 4, 5]);
    expect(layer.queryKernel.shape).toEqual([5, 2, 3]);
    expect(layer.outputKernel.shape).toEqual([2, 3, 5]);
    expectClose(y.data as Float64Array, reference(q, v, layer, false), 1e-10);
  });

  it('attends 2-D queries [N, D] as one position per row (keys/values per head, output [N, size])', () => {
    const layer = new MultiHeadAttention(2, 3, { dtype: 'float64', valueDim: 4, biasInitializer: 'randomNormal' });
    const q = randomTensor([3, 1, 5], 3);
    const v = randomTensor([3, 4, 5], 4);
    layer.apply([q, v]);
    const q2 = q.reshape([3, 5]);
    const self = layer.keysAndValues(q2);
    expect(self.keys.shape).toEqual([3, 2, 1, 3]);
    expectClose(self.keys.data as Float64Array, layer.keysAndValues(q).keys.data as Float64Array, 1e-12);
    expectClose(self.values.data as Float64Array, layer.keysAndValues(q).values.data as Float64Array, 1e-12);
    const { keys, values } = layer.keysAndValues(v);
    const y = layer.attend(q2, keys, values).output;
    expect(y.shape).toEqual([3, 5]);
    expectClose(y.data as Float64Array, reference(q, v, layer, false), 1e-10);
  });

  it('causal self-attention and an explicit mask', () => {
    const layer = new MultiHeadAttention(2, 2, { dtype: 'float64', valueDim: 3, outputShape: 4 });
    const x = randomTensor([1, 4, 3], 3);
    const y = layer.apply(x, { useCausalMask: true }) as Tensor;
    expect(y.shape).toEqual([1, 4, 4]);
    expectClose(y.data as Float64Array, reference(x, x, layer, true), 1e-10);
    const mask = [
      [
        [1, 1, 0, 0],
        [1, 1, 1, 0],
        [1, 0, 0, 1],
        [1, 1, 1, 1],
      ],
    ];
    const ym = layer.apply([x, x], { attentionMask: tensor(mask, { dtype: 'int32' }) }) as Tensor;
    expectClose(ym.data as Float64Array, reference(x, x, layer, false, mask), 1e-10);
    const [, scores] = layer.apply(x, { useCausalMask: true, returnAttentionScores: true }) as Tensor[];
    expect(scores.shape).toEqual([1, 2, 4, 4]);
    expect((scores.data as Float64Array)[1]).toBeCloseTo(0, 12); // row 0 sees only position 0
  });

  it('builds a transformer block in the functional API', () => {
    const x = input({ shape: [6, 8] });
    const attn = new MultiHeadAttention(2, 4).apply([x, x]);
    const h = new LayerNormalization().apply(new Add().apply([x, attn]));
    const out = new Dense(8).apply(h);
    const m = model({ inputs: x, outputs: out });
    expect(m.outputSpecs[0].shape).toEqual([null, 6, 8]);
    expect((m.apply(randomTensor([3, 6, 8], 4, 'float32')) as Tensor).shape).toEqual([3, 6, 8]);
    // 4 kernels 8*2*4 + biases (3 * 2*4 + 8), LayerNorm 16, Dense 72
    expect(m.countParams()).toBe(4 * 64 + 24 + 8 + 16 + 72);
  });
});
