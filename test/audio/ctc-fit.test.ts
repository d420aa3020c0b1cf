// CTC trains through compile/fit: a frame classifier learns to emit label sequences (repeats need
// a blank between them) from noisy one-hot frames, and greedy decoding reads them back.
import { describe, expect, it } from 'vitest';
import { Generator, layers, optimizers, sequential, setSeed, tensor } from '../../src/index.js';
import { CTC, ctcGreedyDecode } from '../../src/audio/index.js';

const T = 12;
const C = 5; // blank 0 + labels 1..4
const L = 4;

function sample(rng: Generator): { frames: number[]; labels: number[] } {
  const n = rng.int(2, L + 1);
  const labels = Array.from({ length: n }, () => rng.int(1, C));
  // Runs of 1–2 frames per label; blanks go only between runs (always between repeats) and at the ends.
  const runs = labels.map((label) => new Array<number>(rng.int(1, 3)).fill(label));
  const gaps: number[] = labels.map((label, i) => (i > 0 && label === labels[i - 1] ? 1 : 0));
  gaps.push(0);
  let spare = T - runs.flat().length - gaps.reduce((a, b) => a + b, 0);
  while (spare-- > 0) gaps[rng.int(0, gaps.length)]! += 1;
  const frames: number[] = [];
  runs.forEach((run, i) => frames.push(...new Array<number>(gaps[i]!).fill(0), ...run));
  frames.push(...new Array<number>(gaps[runs.length]!).fill(0));
  return { frames, labels };
}

function dataset(n: number, rng: Generator) {
  const x = new Float32Array(n * T * C);
  const y: number[][] = [];
  for (let i = 0; i < n; i++) {
    const { frames, labels } = sample(rng);
    frames.forEach((s, t) => {
      for (let c = 0; c < C; c++) x[(i * T + t) * C + c] = (c === s ? 1 : 0) + 0.15 * rng.normal();
    });
    y.push([...labels, ...new Array(L - labels.length).fill(-1)]);
  }
  return {
    x: tensor(x, { shape: [n, T, C] }),
    y: tensor(y, { dtype: 'int64' }),
    labels: y.map((r) => r.filter((v) => v >= 0)),
  };
}

describe('CTC through fit', () => {
  it('learns to emit label sequences; greedy decoding reads them back', async () => {
    setSeed(3);
    const rng = new Generator(11);
    const train = dataset(768, rng);
    const test = dataset(128, rng);
    const model = sequential();
    model.add(layers.Dense(32, { activation: 'relu', inputShape: [T, C] }));
    model.add(layers.Dense(C));
    model.compile({ optimizer: optimizers.Adam({ learningRate: 0.01 }), loss: new CTC() });
    const before = await model.evaluate(test.x, test.y);
    await model.fit(train.x, train.y, { epochs: 20, batchSize: 64, verbose: 0 });
    const after = await model.evaluate(test.x, test.y);
    expect(after.loss).toBeLessThan(before.loss / 5);
    const logits = (await model.predict(test.x)) as ReturnType<typeof tensor>;
    const scores = logits.toArray() as number[][][];
    const exact = scores.filter((s, i) => ctcGreedyDecode(s).join(',') === test.labels[i]!.join(',')).length;
    expect(exact / scores.length).toBeGreaterThan(0.9);
  }, 120_000);
  it('names the expected shapes when targets or predictions are wrong', () => {
    const loss = new CTC();
    expect(() =>
      loss.call(tensor([1, 2], { dtype: 'int64' }), tensor(new Float32Array(2 * 3 * 4), { shape: [2, 3, 4] })),
    ).toThrow(/yTrue \[batch, maxLabels\].*yTrue \[2\]/);
  });
});
