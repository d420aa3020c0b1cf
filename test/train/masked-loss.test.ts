/** Sparse cross entropy with Keras' ignoreClass: padded target positions are left out of the mean (hand-computed). */
import { describe, expect, it } from 'vitest';
import { SparseCategoricalCrossentropy, compile, softmax, tensor } from '../../src/index.js';
import { randomTensor } from '../helpers/gradcheck.js';

function logSoftmaxRow(row: number[]): number[] {
  const m = Math.max(...row);
  const z = Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0)) + m;
  return row.map((v) => v - z);
}

describe('SparseCategoricalCrossentropy({ignoreClass})', () => {
  const [b, t, c] = [2, 3, 4];
  const logits = randomTensor([b, t, c], 5, 'float64', 3);
  const flat = Array.from(logits.data as Float64Array);
  const labels = [
    [1, 2, 0],
    [3, 0, 0],
  ];
  const expected = (() => {
    let total = 0;
    let count = 0;
    labels.forEach((row, i) =>
      row.forEach((y, j) => {
        if (y === 0) return;
        total -= logSoftmaxRow(flat.slice((i * t + j) * c, (i * t + j + 1) * c))[y];
        count++;
      }),
    );
    return total / count;
  })();

  it('averages over the valid positions only (logits and probabilities)', () => {
    const y = tensor(labels, { dtype: 'int32' });
    expect(new SparseCategoricalCrossentropy({ fromLogits: true, ignoreClass: 0 }).call(y, logits).item()).toBeCloseTo(
      expected,
      12,
    );
    expect(new SparseCategoricalCrossentropy({ ignoreClass: 0 }).call(y, softmax(logits, -1)).item()).toBeCloseTo(
      expected,
      6,
    );
    // An out-of-range ignore label (Hugging Face's -100) works the same way.
    const hf = tensor(
      labels.map((r) => r.map((v) => (v === 0 ? -100 : v))),
      { dtype: 'int32' },
    );
    expect(
      new SparseCategoricalCrossentropy({ fromLogits: true, ignoreClass: -100 }).call(hf, logits).item(),
    ).toBeCloseTo(expected, 12);
    // Without ignoreClass, class 0 is an ordinary class and the mean is over all positions.
    expect(new SparseCategoricalCrossentropy({ fromLogits: true }).call(y, logits).item()).not.toBeCloseTo(expected, 3);
  });

  it('gives the same mean in a graph with a symbolic batch axis (as fit traces it)', async () => {
    const y = tensor(labels, { dtype: 'int32' });
    const loss = new SparseCategoricalCrossentropy({ fromLogits: true, ignoreClass: 0 });
    const perRow = compile((yt, p) => loss.call(yt, p), { symbolicBatch: true });
    expect(((await perRow(y, logits)) as ReturnType<typeof loss.call>).item()).toBeCloseTo(expected, 12);
  });
});
