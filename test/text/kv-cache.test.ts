/**
 * Incremental decoding with a key/value cache: TransformerDecoder.step against the full causal
 * call at every position (with and without cross-attention, pre- and post-norm, beam reordering),
 * position embeddings at a tensor position, the worker-resident functions the cache lives in, and
 * Seq2SeqDecoding with the cache against recomputing every prefix (log-probabilities, greedy and
 * beam results, fallback, reuse, weights changed after training).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { PositionEmbedding, type Tensor, TransformerDecoder, add, gather, setSeed, tensor } from '../../src/index.js';
import { ResidentFunction, WorkerScope } from '../../src/engine/resident.js';
import { dropout } from '../../src/engine/ops/nn.js';
import {
  CausalLMDecoding,
  Seq2SeqDecoding,
  beamSearch,
  causalLMScorer,
  greedySearch,
  topTokens,
} from '../../src/text/generate.js';
import { causalLanguageModel, sequenceClassifier } from '../../src/text/models.js';
import { generateTokens } from '../../src/text/sampling.js';
import { tempDir } from '../helpers/temp.js';
import { Seq2SeqTransformer, paddingMask } from '../../src/text/seq2seq.js';

const ids = (rows: number[][]) => tensor(Int32Array.from(rows.flat()), { shape: [rows.length, rows[0].length] });
const ints = (v: number[]) => tensor(Int32Array.from(v), { shape: [v.length] });

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Rows t of [N, T, D] as [N, 1, D] data. */
function position(x: Tensor, t: number): Float32Array {
  const [n, T, d] = x.shape as number[];
  const out = new Float32Array(n * d);
  const data = x.data as Float32Array;
  for (let i = 0; i < n; i++) out.set(data.subarray((i * T + t) * d, (i * T + t + 1) * d), i * d);
  return out;
}

function randomSequence(n: number, d: number, seed: number): Tensor {
  let s = seed;
  const next = () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
  return tensor(Float32Array.from({ length: n * d }, next), { shape: [n, 1, d] }).reshape([n, 1, d]);
}

describe('TransformerDecoder.step (key/value cache)', () => {
  for (const normalizeFirst of [false, true])
    it(`equals the full causal call at every position, with cross-attention (${normalizeFirst ? 'pre' : 'post'}-norm)`, () => {
      setSeed(11);
      const [N, T, S, D] = [3, 5, 4, 16];
      const x = tensor(
        Float32Array.from({ length: N * T * D }, (_, i) => Math.sin(i * 0.37)),
        { shape: [N, T, D] },
      );
      const encoder = tensor(
        Float32Array.from({ length: N * S * D }, (_, i) => Math.cos(i * 0.21)),
        { shape: [N, S, D] },
      );
      const encoderMask = tensor([
        [true, true, true, false],
        [true, true, true, true],
        [true, false, false, false],
      ]);
      const block = new TransformerDecoder({ intermediateDim: 32, numHeads: 4, normalizeFirst });
      const full = block.apply([x, encoder], { encoderPaddingMask: encoderMask }) as Tensor;
      const enc = block.encoderKeysAndValues(encoder);
      let cache: { keys: Tensor; values: Tensor } | undefined;
      const rows = ints([0, 1, 2]);
      for (let t = 0; t < T; t++) {
        const xt = tensor(position(x, t), { shape: [N, 1, D] });
        const r = block.step(xt, { cache, encoder: enc, rows, encoderMask });
        expect(r.cache.keys.shape).toEqual([N, 4, t + 1, 4]);
        expect(maxDiff(r.output.data as Float32Array, position(full, t))).toBeLessThan(1e-5);
        cache = r.cache;
      }
    });

  it('decoder-only blocks step too, and `parents` reorders the cache as beam search does', () => {
    setSeed(12);
    const [N, D] = [3, 8];
    const block = new TransformerDecoder({ intermediateDim: 16, numHeads: 2 });
    const x0 = randomSequence(N, D, 5);
    const x1 = randomSequence(N, D, 6);
    block.apply(x0); // builds the weights
    const first = block.step(x0);
    // Hypotheses 0, 1, 2 continue cache rows 2, 0, 0: the same as stepping those rows' own histories.
    const parents = [2, 0, 0];
    const reordered = block.step(x1, { cache: first.cache, parents: ints(parents) });
    const history = tensor(
      Float32Array.from(
        parents.flatMap((p, i) => [
          ...(x0.data as Float32Array).subarray(p * D, (p + 1) * D),
          ...(x1.data as Float32Array).subarray(i * D, (i + 1) * D),
        ]),
      ),
      { shape: [N, 2, D] },
    );
    const full = block.apply(history) as Tensor;
    expect(maxDiff(reordered.output.data as Float32Array, position(full, 1))).toBeLessThan(1e-5);
    expect(() => block.step(x0, { encoder: first.cache })).toThrow(/no cross-attention/);
    expect(() => block.step(tensor(new Float32Array(N * 2 * D), { shape: [N, 2, D] }))).toThrow(
      /one position \[hypotheses, 1, features\], got \[3,2,8\]/,
    );
  });

  it('position embeddings take a tensor position (one graph for every step) and reject bad ones', () => {
    setSeed(13);
    const layer = new PositionEmbedding(10);
    const x = tensor(new Float32Array(2 * 3 * 4), { shape: [2, 3, 4] });
    const byNumber = layer.apply(x, { startIndex: 6 }) as Tensor;
    const byTensor = layer.apply(x, { startIndex: ints([6]) }) as Tensor;
    expect(Array.from(byTensor.data as Float32Array)).toEqual(Array.from(byNumber.data as Float32Array));
    expect(() => layer.apply(x, { startIndex: tensor([1.5]) })).toThrow(/one int32\/int64 position/);
  });
});

describe('resident functions (state kept in a worker)', () => {
  it('feeds inputs from state, keeps outputs as state, and frees them', async () => {
    const scope = new WorkerScope();
    const v = tensor([10, 20, 30]);
    const accumulate = await ResidentFunction.create(
      scope,
      (total: Tensor, x: Tensor) => [add(total, x), gather(total, ints([0]), 0)],
      [{ shape: [3] }, { shape: [3] }],
    );
    await scope.set({ total: { dtype: 'float32', shape: [3], data: new Float32Array(3) } });
    for (let i = 0; i < 3; i++) {
      const [kept, first] = await accumulate.call([scope.ref('total'), v], ['total']);
      expect(kept).toBeUndefined();
      expect(Array.from(first!.data as Float32Array)).toEqual([10 * i]);
    }
    const [sum] = await accumulate.call([scope.ref('total'), tensor([0, 0, 0])]);
    expect(Array.from(sum!.data as Float32Array)).toEqual([30, 60, 90]);
    await expect(accumulate.call([v])).rejects.toThrow(/expected 2 inputs, got 1/);
    await scope.release();
    expect(() => scope.ref('total')).toThrow(/used after release/);
    await accumulate.release();
  });

  it('refuses random ops and unsynced variables with clear errors', async () => {
    const scope = new WorkerScope();
    await expect(
      ResidentFunction.create(scope, (x: Tensor) => dropout(x, 0.5, true), [{ shape: [4] }]),
    ).rejects.toThrow(/must be deterministic/);
    const block = new TransformerDecoder({ intermediateDim: 8, numHeads: 2 });
    const x = randomSequence(2, 4, 3);
    block.apply(x);
    const f = await ResidentFunction.create(scope, (h: Tensor) => block.step(h).output, [{ shape: [2, 1, 4] }]);
    await expect(f.call([x])).rejects.toThrow(/is not in the scope \(syncVariables first\)/);
    await scope.syncVariables(f.variables);
    const [out] = await f.call([x]);
    expect(maxDiff(out!.data as Float32Array, block.step(x).output.data as Float32Array)).toBeLessThan(1e-6);
    await scope.release();
  });
});

describe('Seq2SeqDecoding with the key/value cache', () => {
  const V = 40;
  const model = (() => {
    setSeed(21);
    const m = new Seq2SeqTransformer({
      sourceVocabSize: V,
      targetVocabSize: V,
      maxLength: 24,
      modelDim: 32,
      numHeads: 4,
      intermediateDim: 64,
      encoderLayers: 2,
      decoderLayers: 2,
      dropout: 0,
    });
    m.apply([ids([[3, 4, 5]]), ids([[1]])]);
    return m;
  })();
  let seed = 7;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  // Sources of different lengths (so padding is masked).
  const sources = Array.from({ length: 6 }, (_, i) =>
    Array.from({ length: 2 + ((i * 5) % 9) }, () => 3 + Math.floor(rnd() * (V - 3))),
  );
  const endless = { bos: 1, eos: V, maxLength: 14 }; // the end token is outside the vocabulary

  it('gives the log-probabilities of recomputing every prefix', async () => {
    const cached = await new Seq2SeqDecoding(model).scorer(sources);
    const plain = await new Seq2SeqDecoding(model, { cache: false }).scorer(sources);
    const rows = [0, 1, 2, 3, 4, 5, 2];
    let prefixes = rows.map(() => [1]);
    for (let step = 0; step < 5; step++) {
      const a = await cached.logProbs(rows, prefixes);
      const b = await plain.logProbs(rows, prefixes);
      expect(maxDiff(a, b)).toBeLessThan(2e-5);
      prefixes = prefixes.map((p, i) => [...p, 3 + ((step * 7 + i * 3) % (V - 3))]);
    }
    await cached.release?.();
  });

  it('returns in-graph top-k candidates equal to the host-side top-k of its log-probabilities', async () => {
    const decoding = new Seq2SeqDecoding(model);
    const full = await decoding.scorer(sources);
    const top = await decoding.scorer(sources);
    const plain = await new Seq2SeqDecoding(model, { cache: false }).scorer(sources);
    expect(top.topK).toBeDefined();
    // Hypotheses drop out after step 2, so the encoder states are picked for new rows mid-decode.
    let rows = [0, 1, 2, 3, 4, 5, 2];
    let prefixes = rows.map(() => [1]);
    for (let step = 0; step < 5; step++) {
      const k = 1 + (step % 4);
      const lp = await full.logProbs(rows, prefixes);
      const got = await top.topK!(rows, prefixes, k);
      const want = topTokens(lp, rows.length, V, k);
      expect(got.k).toBe(k);
      expect(Array.from(got.tokens)).toEqual(Array.from(want.tokens));
      expect(Array.from(got.logProbs)).toEqual(Array.from(want.logProbs));
      const ref = topTokens(await plain.logProbs(rows, prefixes), rows.length, V, k);
      expect(maxDiff(got.logProbs, ref.logProbs)).toBeLessThan(2e-5);
      prefixes = prefixes.map((p, i) => [...p, 3 + ((step * 7 + i * 3) % (V - 3))]);
      if (step === 2) {
        const kept = [0, 2, 3, 6];
        rows = kept.map((i) => rows[i]);
        prefixes = kept.map((i) => prefixes[i]);
      }
    }
    // A search through log-probabilities alone (host-side top-k) finds the same hypotheses.
    const logProbsOnly = (s: Awaited<ReturnType<Seq2SeqDecoding['scorer']>>) => ({
      vocabSize: s.vocabSize,
      logProbs: s.logProbs.bind(s),
      release: s.release?.bind(s),
    });
    for (const beamWidth of [1, 4]) {
      const options = { ...endless, beamWidth };
      expect(await beamSearch(await decoding.scorer(sources), sources.length, options)).toEqual(
        await beamSearch(logProbsOnly(await decoding.scorer(sources)), sources.length, options),
      );
    }
    expect(await greedySearch(await decoding.scorer(sources), sources.length, endless)).toEqual(
      await greedySearch(logProbsOnly(await decoding.scorer(sources)), sources.length, endless),
    );
    await decoding.release();
  });

  it('greedy and beam search give the same tokens with and without the cache', async () => {
    const cached = new Seq2SeqDecoding(model);
    const plain = new Seq2SeqDecoding(model, { cache: false });
    // The end token: the one greedy decoding emits 4th in row 0, so rows end at different steps.
    const eos = (await greedySearch(await plain.scorer(sources), sources.length, endless))[0][3];
    const options = { ...endless, eos };
    const greedy = await greedySearch(await cached.scorer(sources), sources.length, options);
    expect(greedy).toEqual(await greedySearch(await plain.scorer(sources), sources.length, options));
    expect(new Set(greedy.map((g) => g.length)).size).toBeGreaterThan(1);
    for (const beamWidth of [1, 3])
      expect(await beamSearch(await cached.scorer(sources), sources.length, { ...options, beamWidth })).toEqual(
        await beamSearch(await plain.scorer(sources), sources.length, { ...options, beamWidth }),
      );
    // Encoder graphs: one per source bucket; decoder: the first-step and the later-step graph.
    expect(cached.graphs()).toEqual({ encoder: 1, decoder: 2 });
    await cached.release();
  });

  it('falls back to recomputing for prefixes that do not extend the last call, and can be reused', async () => {
    const decoding = new Seq2SeqDecoding(model);
    const plain = await new Seq2SeqDecoding(model, { cache: false }).scorer(sources);
    const scorer = await decoding.scorer(sources);
    await scorer.logProbs([0, 1], [[1], [1]]);
    const jump = [
      [1, 5, 6],
      [1, 7, 8],
    ];
    expect(maxDiff(await scorer.logProbs([0, 1], jump), await plain.logProbs([0, 1], jump))).toBeLessThan(2e-5);
    // A scorer the search released encodes again when used again.
    const again = await decoding.scorer(sources);
    const first = await greedySearch(again, sources.length, endless);
    expect(await greedySearch(again, sources.length, endless)).toEqual(first);
  });

  it('reads the weights as they are when the scorer is made', async () => {
    setSeed(22);
    const m = new Seq2SeqTransformer({
      sourceVocabSize: 12,
      targetVocabSize: 12,
      maxLength: 8,
      modelDim: 8,
      numHeads: 2,
      encoderLayers: 1,
      decoderLayers: 1,
      dropout: 0,
    });
    const src = [[3, 4, 5]];
    m.apply([ids(src), ids([[1]])]);
    const decoding = new Seq2SeqDecoding(m);
    const eager = () => {
      const s = ids(src);
      const h = m.decodeHidden(ids([[1]]), m.encode(s), paddingMask(s));
      return Float32Array.from(m.logits(h).data as Float32Array);
    };
    const logSoftmaxOf = (z: Float32Array) => {
      const mx = Math.max(...z);
      const lse = mx + Math.log(z.reduce((a, v) => a + Math.exp(v - mx), 0));
      return z.map((v) => v - lse);
    };
    const first = await decoding.scorer(src);
    const before = await first.logProbs([0], [[1]]);
    expect(maxDiff(before, logSoftmaxOf(eager()))).toBeLessThan(1e-5);
    const idle = await decoding.scorer(src);
    const oldNext = await (await new Seq2SeqDecoding(m, { cache: false }).scorer(src)).logProbs([0], [[1, 5]]);
    const bias = m.outputDense.weights.find((w) => w.name.endsWith('bias'))!;
    bias.assign(tensor(Float32Array.from({ length: 12 }, (_, i) => i * 0.5)));
    const after = await (await decoding.scorer(src)).logProbs([0], [[1]]);
    expect(maxDiff(after, logSoftmaxOf(eager()))).toBeLessThan(1e-5);
    expect(maxDiff(after, before)).toBeGreaterThan(0.1);
    // A decode reads the weights as they are when it starts: the one running goes on with the old
    // weights (its graphs stay loaded until it ends), one starting now takes the new ones.
    expect(maxDiff(await first.logProbs([0], [[1, 5]]), oldNext)).toBeLessThan(1e-5);
    expect(maxDiff(await idle.logProbs([0], [[1]]), after)).toBe(0);
    await first.release?.();
    expect(maxDiff(await first.logProbs([0], [[1]]), after)).toBe(0);
    await decoding.release();
  });
});

describe('CausalLMDecoding (decoder-only language models)', () => {
  const model = new Seq2SeqTransformer({ sourceVocabSize: 5, targetVocabSize: 5, maxLength: 4 });
  const V = 30;
  const T = 12;
  const lm = (() => {
    setSeed(31);
    const m = causalLanguageModel({
      vocabularySize: V,
      sequenceLength: T,
      hiddenDim: 16,
      numLayers: 2,
      numHeads: 2,
      dropout: 0,
    });
    m.apply(ids([[1, 2, 3]].map((r) => [...r, ...new Array(T - 3).fill(0)])));
    return m;
  })();

  it('scores like rerunning the model, for prompts, steps and beyond the position table', async () => {
    const decoding = new CausalLMDecoding(lm);
    const cached = await decoding.scorer();
    const plain = causalLMScorer(lm, T);
    // Two hypotheses with prompts of 4 tokens, then one token at a time past T (sliding window).
    let prefixes = [
      [1, 5, 7, 9],
      [1, 6, 8, 2],
    ];
    for (let step = 0; step < T + 2; step++) {
      const a = await cached.logProbs([0, 1], prefixes);
      const b = await plain.logProbs([0, 1], prefixes);
      expect(cached.vocabSize).toBe(V);
      expect(maxDiff(a, b)).toBeLessThan(2e-5);
      prefixes = prefixes.map((p, i) => [...p, 3 + ((step * 5 + i) % (V - 3))]);
    }
    await cached.release?.();
    await decoding.release();
  });

  it('reads the weights as they are when a decode starts (the graphs hold them as constants)', async () => {
    setSeed(33);
    const m = causalLanguageModel({ vocabularySize: V, sequenceLength: T, hiddenDim: 8, numLayers: 1, numHeads: 2 });
    m.apply(ids([[1, 2, 3, ...new Array(T - 3).fill(0)]]));
    const decoding = new CausalLMDecoding(m);
    const plain = () => causalLMScorer(m, T);
    const running = await decoding.scorer();
    const before = await running.logProbs([0], [[1, 4]]);
    expect(maxDiff(before, await plain().logProbs([0], [[1, 4]]))).toBeLessThan(2e-5);
    const oldNext = await plain().logProbs([0], [[1, 4, 7]]);
    const head = m.layers[m.layers.length - 1].weights.find((w) => w.name.endsWith('bias'))!;
    head.assign(tensor(Float32Array.from({ length: V }, (_, i) => (i % 7) * 0.5)));
    const after = await (await decoding.scorer()).logProbs([0], [[1, 4]]);
    expect(maxDiff(after, await plain().logProbs([0], [[1, 4]]))).toBeLessThan(2e-5);
    expect(maxDiff(after, before)).toBeGreaterThan(0.1);
    // The decode that started before goes on with the old weights until it is released.
    expect(maxDiff(await running.logProbs([0], [[1, 4, 7]]), oldNext)).toBeLessThan(2e-5);
    await running.release?.();
    expect(maxDiff(await running.logProbs([0], [[1, 4]]), after)).toBeLessThan(2e-5);
    await decoding.release();
  });

  it('generateTokens gives the same tokens with the cache as with the model, greedy and sampled', async () => {
    const decoding = new CausalLMDecoding(lm);
    for (const sampling of [{}, { doSample: true, temperature: 0.8, topK: 10, seed: 4 }]) {
      const options = { sequenceLength: T, maxNewTokens: 8, ...sampling };
      expect(await generateTokens(await decoding.scorer(), [1, 4, 9], options)).toEqual(
        await generateTokens(lm, [1, 4, 9], options),
      );
    }
    await decoding.release();
  });

  it('tells which models it cannot decode', () => {
    expect(CausalLMDecoding.unsupported(model)).toMatch(/not a Sequential/);
    const classifier = sequenceClassifier({
      vocabularySize: V,
      sequenceLength: T,
      hiddenDim: 8,
      numHeads: 2,
      numLayers: 1,
      numClasses: 2,
    });
    classifier.apply(ids([new Array(T).fill(1)]));
    expect(CausalLMDecoding.unsupported(classifier)).toMatch(/not logits \[batch, time, vocabulary\]/);
    expect(() => new CausalLMDecoding(classifier)).toThrow(/CausalLMDecoding: its output is not logits/);
  });
});

describe('Seq2SeqDecoding.exportOnnx (encoder, first step, step graphs for any ONNX runtime)', () => {
  it('decodes greedily in plain onnxruntime-node exactly as Seq2SeqDecoding does', async () => {
    setSeed(41);
    const V = 20;
    const m = new Seq2SeqTransformer({
      sourceVocabSize: V,
      targetVocabSize: V,
      maxLength: 10,
      modelDim: 16,
      numHeads: 2,
      encoderLayers: 1,
      decoderLayers: 2,
      dropout: 0,
    });
    m.apply([ids([[3, 4, 5]]), ids([[1]])]);
    const dir = join(tempDir('lepton-seq2seq-onnx-'), 'export');
    await new Seq2SeqDecoding(m).exportOnnx(dir);
    const meta = JSON.parse(readFileSync(join(dir, 'decoding.json'), 'utf8'));
    expect(meta).toMatchObject({ sourceLength: 10, decoderLayers: 2, numHeads: 2, headDim: 8, targetVocabSize: V });
    const sources = [
      [3, 9, 4],
      [7, 7, 12, 5, 6],
    ];
    const steps = 6;
    const want = await greedySearch(await new Seq2SeqDecoding(m).scorer(sources), 2, {
      bos: 1,
      eos: V,
      maxLength: steps,
    });

    // The consumer side, written against the files alone.
    const [encoder, first, next] = await Promise.all(
      ['encoder', 'decoder_first', 'decoder_step'].map((f) => ort.InferenceSession.create(join(dir, `${f}.onnx`))),
    );
    const i32 = (v: number[], dims: number[]) => new ort.Tensor('int32', Int32Array.from(v), dims);
    const padded = sources.flatMap((s) => [...s, ...new Array(meta.sourceLength - s.length).fill(0)]);
    const enc = await encoder.run({ source_ids: i32(padded, [2, meta.sourceLength]) });
    const encFeeds = Object.fromEntries(meta.encoderOutputs.map((n: string) => [n, enc[n]]));
    const rows = i32([0, 1], [2]);
    let out = await first.run({ tokens: i32([1, 1], [2, 1]), rows, ...encFeeds });
    const got: number[][] = [[], []];
    for (let t = 1; t <= steps; t++) {
      const lp = out.log_probs.data as Float32Array;
      const next2 = [0, 1].map((r) => {
        let best = 0;
        for (let j = 1; j < V; j++) if (lp[r * V + j] > lp[r * V + best]) best = j;
        return best;
      });
      next2.forEach((tok, r) => got[r].push(tok));
      if (t === steps) break;
      const past = Object.fromEntries(
        Array.from({ length: meta.decoderLayers }, (_, l) => [
          [`past_key_${l}`, out[`present_key_${l}`]],
          [`past_value_${l}`, out[`present_value_${l}`]],
        ]).flat(),
      );
      out = await next.run({
        tokens: i32(next2, [2, 1]),
        index: i32([t], [1]),
        parents: i32([0, 1], [2]),
        rows,
        ...past,
        ...encFeeds,
      });
    }
    expect(got).toEqual(want);
  });
});
