/**
 * Transformer layers against an independent float64 plain-loop reference (KerasHub block
 * structure, Keras weight layouts), finite-difference gradients, and masks that really mask:
 * padding and future positions change nothing in the outputs they must not reach.
 */
import { describe, expect, it } from 'vitest';
import {
  GlobalAveragePooling1D,
  PositionEmbedding,
  SinusoidalPositionEncoding,
  Tensor,
  TokenAndPositionEmbedding,
  TransformerDecoder,
  TransformerEncoder,
  Adam,
  Dense,
  getMask,
  input,
  layerFromConfig,
  layers,
  sequential,
  serializeLayer,
  setSeed,
  tensor,
} from '../../src/index.js';
import { checkGrad, randomTensor } from '../helpers/gradcheck.js';
import { expectClose } from './reference.js';

type Mat = number[][]; // [T, D] for one example

const data = (v: { data: unknown }) => Array.from(v.data as Float64Array);
const rows = (flat: number[], t: number, d: number, offset = 0): Mat =>
  Array.from({ length: t }, (_, i) => flat.slice(offset + i * d, offset + (i + 1) * d));

function dense(x: Mat, kernel: number[], bias: number[] | undefined, out: number, act?: (v: number) => number): Mat {
  const d = x[0].length;
  return x.map((row) =>
    Array.from({ length: out }, (_, o) => {
      let s = bias ? bias[o] : 0;
      for (let c = 0; c < d; c++) s += row[c] * kernel[c * out + o];
      return act ? act(s) : s;
    }),
  );
}

function layerNorm(x: Mat, gamma: number[], beta: number[], eps: number): Mat {
  return x.map((row) => {
    const m = row.reduce((a, b) => a + b, 0) / row.length;
    const v = row.reduce((a, b) => a + (b - m) ** 2, 0) / row.length;
    return row.map((e, i) => ((e - m) / Math.sqrt(v + eps)) * gamma[i] + beta[i]);
  });
}

const addM = (a: Mat, b: Mat): Mat => a.map((r, i) => r.map((e, j) => e + b[i][j]));

/** Multi-head attention of one example; allowed(i, j) says whether query i may see key j. */
function mha(layer: any, q: Mat, kv: Mat, allowed: (i: number, j: number) => boolean): Mat {
  const h = layer.numHeads as number;
  const kd = layer.keyDim as number;
  const out = layer.outputKernel.shape[2] as number;
  const proj = (x: Mat, w: any, b: any) => dense(x, data(w), data(b), h * kd); // [T, h*kd], column = head*kd + j
  const Q = proj(q, layer.queryKernel, layer.queryBias);
  const K = proj(kv, layer.keyKernel, layer.keyBias);
  const V = proj(kv, layer.valueKernel, layer.valueBias);
  const merged: Mat = q.map(() => new Array(h * kd).fill(0));
  for (let head = 0; head < h; head++) {
    for (let i = 0; i < q.length; i++) {
      const logits = kv.map((_, j) => {
        let s = 0;
        for (let c = 0; c < kd; c++) s += Q[i][head * kd + c] * K[j][head * kd + c];
        return allowed(i, j) ? s / Math.sqrt(kd) : -1e9;
      });
      const m = Math.max(...logits);
      const e = logits.map((l) => Math.exp(l - m));
      const z = e.reduce((a, b) => a + b, 0);
      for (let c = 0; c < kd; c++)
        merged[i][head * kd + c] = kv.reduce((s, _, j) => s + (e[j] / z) * V[j][head * kd + c], 0);
    }
  }
  return dense(merged, data(layer.outputKernel), data(layer.outputBias), out);
}

function residual(block: any, norm: any, x: Mat, f: (h: Mat) => Mat): Mat {
  const ln = (m: Mat) => layerNorm(m, data(norm.gamma), data(norm.beta), block.layerNormEpsilon);
  if (block.normalizeFirst) return addM(x, f(ln(x)));
  return ln(addM(x, f(x)));
}

function feedforward(block: any, x: Mat): Mat {
  const inner = block.feedforwardIntermediate;
  const outer = block.feedforwardOutput;
  return residual(block, block.feedforwardNorm, x, (h) =>
    dense(
      dense(h, data(inner.kernel), data(inner.bias), inner.units, (v) => Math.max(v, 0)),
      data(outer.kernel),
      data(outer.bias),
      outer.units,
    ),
  );
}

function encoderRef(block: any, x: Mat, valid: boolean[]): Mat {
  const y = residual(block, block.selfAttentionNorm, x, (h) => mha(block.selfAttention, h, h, (_, j) => valid[j]));
  return feedforward(block, y);
}

function decoderRef(block: any, x: Mat, enc: Mat | undefined, encValid: boolean[] | undefined): Mat {
  let y = residual(block, block.selfAttentionNorm, x, (h) => mha(block.selfAttention, h, h, (i, j) => j <= i));
  if (enc)
    y = residual(block, block.crossAttentionNorm, y, (h) => mha(block.crossAttention, h, enc, (_, j) => encValid![j]));
  return feedforward(block, y);
}

function randomizeNorms(block: any, seed: number): void {
  let k = seed;
  for (const name of ['selfAttentionNorm', 'crossAttentionNorm', 'feedforwardNorm']) {
    const norm = block[name];
    if (!norm) continue;
    norm.gamma.assign(randomTensor([norm.gamma.shape[0]], k++));
    norm.beta.assign(randomTensor([norm.beta.shape[0]], k++));
  }
}

describe('TransformerEncoder', () => {
  for (const normalizeFirst of [false, true]) {
    it(`matches the plain-loop reference (${normalizeFirst ? 'pre' : 'post'}-norm, padding mask)`, () => {
      const [n, t, d] = [2, 5, 6];
      const enc = new TransformerEncoder({
        intermediateDim: 7,
        numHeads: 2,
        normalizeFirst,
        dtype: 'float64',
        biasInitializer: 'randomNormal',
      });
      const x = randomTensor([n, t, d], 11);
      const padding = [
        [1, 1, 1, 0, 0],
        [1, 1, 1, 1, 1],
      ];
      const y = enc.apply(x, { paddingMask: tensor(padding, { dtype: 'int32' }) }) as Tensor;
      randomizeNorms(enc, 40);
      const y2 = data(enc.apply(x, { paddingMask: tensor(padding, { dtype: 'int32' }) }) as Tensor);
      expect(y.shape).toEqual([n, t, d]);
      expect(enc.selfAttention.keyDim).toBe(3);
      const ref = [0, 1].flatMap((b) =>
        encoderRef(enc, rows(data(x), t, d, b * t * d), padding[b].map(Boolean)).flat(),
      );
      expectClose(y2, ref, 1e-10);
    });
  }

  it('padding positions change nothing in the unpadded outputs (explicit mask and Keras mask through pooling)', () => {
    const [t, d] = [6, 4];
    const enc = new TransformerEncoder({ intermediateDim: 8, numHeads: 2, dtype: 'float64' });
    const x = randomTensor([1, t, d], 3);
    const mask = tensor([[1, 1, 1, 1, 0, 0]], { dtype: 'int32' });
    const changed = Float64Array.from(x.data as Float64Array);
    for (let i = 4 * d; i < t * d; i++) changed[i] = 100 * Math.sin(i);
    const a = data(enc.apply(x, { paddingMask: mask }) as Tensor).slice(0, 4 * d);
    const b = data(enc.apply(tensor(changed, { shape: [1, t, d] }), { paddingMask: mask }) as Tensor).slice(0, 4 * d);
    expectClose(b, a, 1e-12);

    // ids padded with 0 to lengths 4 and 7: identical pooled outputs via the Keras mask.
    setSeed(5);
    const emb = new TokenAndPositionEmbedding(20, 8, 4, { maskZero: true, dtype: 'float64' });
    const block = new TransformerEncoder({ intermediateDim: 8, numHeads: 2, dtype: 'float64' });
    const pool = new GlobalAveragePooling1D();
    const run = (ids: number[]) => {
      const e = emb.apply(tensor([ids], { dtype: 'int32' })) as Tensor;
      const h = block.apply(e) as Tensor;
      expect(getMask(h)).toBeDefined();
      return data(pool.apply(h) as Tensor);
    };
    expectClose(run([5, 9, 2, 0, 0, 0, 0]), run([5, 9, 2, 0]), 1e-12);
    expect(Math.abs(run([5, 9, 2, 0])[0] - run([5, 9, 3, 0])[0])).toBeGreaterThan(1e-6);
  });

  it('input gradients match finite differences', () => {
    const enc = new TransformerEncoder({
      intermediateDim: 5,
      numHeads: 2,
      dtype: 'float64',
      biasInitializer: 'randomNormal',
    });
    const x = randomTensor([2, 3, 4], 8);
    enc.apply(x);
    randomizeNorms(enc, 60);
    const mask = tensor(
      [
        [1, 1, 0],
        [1, 1, 1],
      ],
      { dtype: 'int32' },
    );
    checkGrad((v: Tensor) => enc.apply(v, { paddingMask: mask }) as Tensor, [x], { rtol: 1e-5, atol: 1e-7 });
  });

  it('dropout is active only in training; bad options and inputs are named', () => {
    setSeed(3);
    const enc = new TransformerEncoder({ intermediateDim: 8, numHeads: 2, dropout: 0.5 });
    const x = randomTensor([2, 4, 4], 1, 'float32');
    const a = data(enc.apply(x) as Tensor);
    expect(data(enc.apply(x) as Tensor)).toEqual(a);
    expect(data(enc.apply(x, { training: true }) as Tensor)).not.toEqual(a);
    expect(() => new TransformerEncoder({ intermediateDim: 0, numHeads: 2 })).toThrow(
      /TransformerEncoder: intermediateDim must be a positive integer, got 0/,
    );
    expect(() => new TransformerEncoder({ intermediateDim: 4, numHeads: 3 }).apply(x)).toThrow(
      /hidden size 4 .* divisible by numHeads 3/,
    );
    expect(() =>
      new TransformerEncoder({ intermediateDim: 4, numHeads: 2 }).apply(randomTensor([2, 4], 1, 'float32')),
    ).toThrow(/TransformerEncoder.*(rank|axis)/);
  });

  it('serializes, and the Keras-style factory builds it', () => {
    const enc = layers.TransformerEncoder({ intermediateDim: 16, numHeads: 4, normalizeFirst: true, dropout: 0.1 });
    const again = layerFromConfig(serializeLayer(enc)) as TransformerEncoder;
    expect(again).toBeInstanceOf(TransformerEncoder);
    const { name: _a, ...c1 } = enc.getConfig();
    const { name: _b, ...c2 } = again.getConfig();
    expect(c2).toEqual(c1);
  });
});

describe('TransformerDecoder', () => {
  it('causal self-attention + cross-attention match the reference; the future and encoder padding are not seen', () => {
    const [t, s, d] = [4, 5, 4];
    const dec = new TransformerDecoder({
      intermediateDim: 6,
      numHeads: 2,
      dtype: 'float64',
      biasInitializer: 'randomNormal',
    });
    const x = randomTensor([1, t, d], 21);
    const e = randomTensor([1, s, d], 22);
    const encMask = tensor([[1, 1, 1, 0, 0]], { dtype: 'int32' });
    dec.apply([x, e], { encoderPaddingMask: encMask });
    randomizeNorms(dec, 80);
    const y = data(dec.apply([x, e], { encoderPaddingMask: encMask }) as Tensor);
    expectClose(
      y,
      decoderRef(dec, rows(data(x), t, d), rows(data(e), s, d), [true, true, true, false, false]).flat(),
      1e-10,
    );

    // Changing the last decoder step leaves earlier steps alone; changing padded encoder steps changes nothing.
    const x2 = Float64Array.from(x.data as Float64Array);
    for (let i = (t - 1) * d; i < t * d; i++) x2[i] += 3;
    const e2 = Float64Array.from(e.data as Float64Array);
    for (let i = 3 * d; i < s * d; i++) e2[i] -= 7;
    const y2 = data(
      dec.apply([tensor(x2, { shape: [1, t, d] }), tensor(e2, { shape: [1, s, d] })], {
        encoderPaddingMask: encMask,
      }) as Tensor,
    );
    expectClose(y2.slice(0, (t - 1) * d), y.slice(0, (t - 1) * d), 1e-12);
    expect(Math.abs(y2[(t - 1) * d] - y[(t - 1) * d])).toBeGreaterThan(1e-6);
  });

  it('decoder-only (GPT-style) and pre-norm; gradients of both inputs match finite differences', () => {
    const gpt = new TransformerDecoder({ intermediateDim: 6, numHeads: 1, normalizeFirst: true, dtype: 'float64' });
    const x = randomTensor([1, 3, 4], 31);
    gpt.apply(x);
    randomizeNorms(gpt, 90);
    expectClose(data(gpt.apply(x) as Tensor), decoderRef(gpt, rows(data(x), 3, 4), undefined, undefined).flat(), 1e-10);
    expect(gpt.crossAttention).toBeUndefined();
    expect(() => gpt.apply([x, x])).toThrow(/built without cross-attention/);

    const dec = new TransformerDecoder({
      intermediateDim: 5,
      numHeads: 2,
      dtype: 'float64',
      biasInitializer: 'randomNormal',
    });
    const e = randomTensor([2, 2, 4], 33);
    const xs = randomTensor([2, 3, 4], 34);
    dec.apply([xs, e]);
    randomizeNorms(dec, 100);
    checkGrad((a: Tensor, b: Tensor) => dec.apply([a, b]) as Tensor, [xs, e], { rtol: 1e-5, atol: 1e-7 });
  });
});

describe('position layers', () => {
  it('SinusoidalPositionEncoding: sin at even features, cos at odd, wavelengths up to maxWavelength', () => {
    const x = randomTensor([2, 5, 6], 1);
    const enc = new SinusoidalPositionEncoding();
    const y = enc.apply(x) as Tensor;
    expect(y.shape).toEqual([2, 5, 6]);
    const v = data(y);
    for (let p = 0; p < 5; p++) {
      for (let i = 0; i < 6; i++) {
        const k = i - (i % 2); // 2 * floor(i / 2)
        const expected = i % 2 === 0 ? Math.sin(p / 10000 ** (k / 6)) : Math.cos(p / 10000 ** (k / 6));
        expect(v[p * 6 + i]).toBeCloseTo(expected, 12);
        expect(v[30 + p * 6 + i]).toBe(v[p * 6 + i]); // same for every example
      }
    }
    const shifted = data(new SinusoidalPositionEncoding({ maxWavelength: 100 }).apply(x, { startIndex: 3 }) as Tensor);
    expect(shifted[1]).toBeCloseTo(Math.cos(3), 12);
    expect(shifted[2]).toBeCloseTo(Math.sin(3 / 100 ** (2 / 6)), 12);
  });

  it('PositionEmbedding returns table rows in the input shape; TokenAndPositionEmbedding adds token rows', () => {
    const pe = new PositionEmbedding(6, { dtype: 'float64' });
    const x = randomTensor([2, 4, 3], 2);
    const y = data(pe.apply(x) as Tensor);
    const table = data(pe.positionEmbeddings);
    expect(y.slice(0, 12)).toEqual(table.slice(0, 12));
    expect(y.slice(12)).toEqual(table.slice(0, 12));
    expect(data(pe.apply(randomTensor([1, 2, 3], 3), { startIndex: 4 }) as Tensor)).toEqual(table.slice(12, 18));
    expect(() => pe.apply(randomTensor([1, 7, 3], 3))).toThrow(/positions 0\.\.6 exceed the table of 6 positions/);

    const tpe = new TokenAndPositionEmbedding(10, 5, 3, { maskZero: true, dtype: 'float64' });
    const ids = tensor([[4, 1, 0]], { dtype: 'int32' });
    const out = tpe.apply(ids) as Tensor;
    const tok = data(tpe.tokenEmbedding.embeddings);
    const pos = data(tpe.positionEmbedding.positionEmbeddings);
    const expected = [4, 1, 0].flatMap((id, p) => [0, 1, 2].map((j) => tok[id * 3 + j] + pos[p * 3 + j]));
    expectClose(data(out), expected, 1e-15);
    expect(getMask(out)!.toArray()).toEqual([[true, true, false]]);
    const again = layerFromConfig(serializeLayer(tpe)) as TokenAndPositionEmbedding;
    expect(again.getConfig().vocabularySize).toBe(10);
  });
});

describe('training a Transformer classifier with fit', () => {
  it('learns from padded token sequences (masks traced into the train-step graph)', async () => {
    setSeed(7);
    // Label: does token 7 occur? Sequences of 2..8 tokens from 1..9, padded with 0 to 8.
    const n = 256;
    const ids = new Int32Array(n * 8);
    const y = new Int32Array(n);
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let i = 0; i < n; i++) {
      const len = 2 + Math.floor(rand() * 7);
      for (let j = 0; j < len; j++) ids[i * 8 + j] = 1 + Math.floor(rand() * 9);
      // Half the examples get a 7, none elsewhere: put 7 in or replace any 7 by 8.
      for (let j = 0; j < len; j++) if (ids[i * 8 + j] === 7) ids[i * 8 + j] = 8;
      if (i % 2 === 0) ids[i * 8 + Math.floor(rand() * len)] = 7;
      y[i] = i % 2 === 0 ? 1 : 0;
    }
    const x = tensor(ids, { shape: [n, 8] });
    const model = sequential([
      input({ shape: [8], dtype: 'int32' }),
      new TokenAndPositionEmbedding(10, 8, 16, { maskZero: true }),
      new TransformerEncoder({ intermediateDim: 32, numHeads: 2 }),
      new GlobalAveragePooling1D(),
      new Dense(2),
    ]);
    model.compile({
      optimizer: new Adam({ learningRate: 0.01 }),
      loss: { className: 'sparseCategoricalCrossentropy', fromLogits: true },
      metrics: ['accuracy'],
    });
    const history = await model.fit(x, tensor(y), { epochs: 15, batchSize: 32, verbose: 0 });
    expect(history.history.accuracy.at(-1)).toBeGreaterThan(0.9);
  });
});
