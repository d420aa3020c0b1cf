import { describe, expect, it } from 'vitest';
import {
  Dense,
  Dropout,
  Embedding,
  GlobalAveragePooling1D,
  LSTM,
  GRU,
  Tensor,
  compileSync,
  getMask,
  input,
  model,
  setSeed,
  tensor,
} from '../../src/index.js';
import { expectClose } from './reference.js';

describe('masking (Embedding maskZero → recurrent layers / pooling)', () => {
  it('padding steps are skipped: a post-padded sequence gives the result of the unpadded one', () => {
    setSeed(1);
    const emb = new Embedding(10, 4, { maskZero: true });
    const lstm = new LSTM(3);
    const padded = tensor(
      [
        [3, 7, 0, 0],
        [5, 0, 0, 0],
      ],
      { dtype: 'int32' },
    );
    const e = emb.apply(padded) as Tensor;
    expect(getMask(e)!.toArray()).toEqual([
      [true, true, false, false],
      [true, false, false, false],
    ]);
    const y = lstm.apply(e) as Tensor;
    const first = lstm.apply(emb.apply(tensor([[3, 7]], { dtype: 'int32' }))) as Tensor;
    const second = lstm.apply(emb.apply(tensor([[5]], { dtype: 'int32' }))) as Tensor;
    expectClose(y.data as Float32Array, [...(first.data as Float32Array), ...(second.data as Float32Array)], 1e-6);
  });

  it('returnSequences repeats the last valid output at masked steps (or zeros with zeroOutputForMask) and passes the mask on', () => {
    setSeed(2);
    const emb = new Embedding(10, 3, { maskZero: true });
    const ids = tensor([[4, 2, 0]], { dtype: 'int32' });
    const e = emb.apply(ids) as Tensor;
    const gru = new GRU(2, { returnSequences: true });
    const y = (gru.apply(e) as Tensor).data as Float32Array;
    expect([y[4], y[5]]).toEqual([y[2], y[3]]);
    expect(getMask(gru.apply(e) as Tensor)).toBeDefined();
    const zeroed = new GRU(2, { returnSequences: true, zeroOutputForMask: true });
    zeroed.build([null, 3, 3]);
    zeroed.loadStateDict(gru.stateDict());
    const z = (zeroed.apply(e) as Tensor).data as Float32Array;
    expect([z[4], z[5]]).toEqual([0, 0]);
    expectClose(z.slice(0, 4), y.slice(0, 4), 1e-7);
  });

  it('GlobalAveragePooling1D averages only the valid steps', () => {
    const emb = new Embedding(10, 2, { maskZero: true });
    const ids = tensor(
      [
        [1, 2, 0],
        [3, 0, 0],
      ],
      { dtype: 'int32' },
    );
    const e = emb.apply(ids) as Tensor;
    const pooled = (new GlobalAveragePooling1D().apply(e) as Tensor).data as Float32Array;
    const t = emb.embeddings.data as Float32Array;
    expectClose(pooled, [(t[2] + t[4]) / 2, (t[3] + t[5]) / 2, t[6], t[7]], 1e-6);
  });

  it('masks flow through a compiled functional model (Embedding → Dropout → LSTM → Dense)', () => {
    setSeed(3);
    const ids = input({ shape: [5], dtype: 'int32' });
    const out = new Dense(1).apply(
      new LSTM(4).apply(new Dropout(0.2).apply(new Embedding(20, 6, { maskZero: true }).apply(ids))),
    );
    const m = model({ inputs: ids, outputs: out });
    const padded = tensor([[4, 9, 2, 0, 0]], { dtype: 'int32' });
    const short = tensor([[4, 9, 2]], { dtype: 'int32' });
    const compiled = compileSync((t: Tensor) => m.apply(t));
    // The same layers applied directly to the unpadded sequence (the model's input is fixed at 5 steps).
    const expected = m.layers.slice(1).reduce((h: Tensor, layer) => layer.apply(h) as Tensor, short);
    expectClose(compiled(padded).data as Float32Array, expected.data as Float32Array, 1e-5);
  });
});
