import { describe, expect, it } from 'vitest';
import {
  Adam,
  BatchNormalization,
  Conv2D,
  Dense,
  Flatten,
  LambdaCallback,
  MaxPooling2D,
  SGD,
  type Tensor,
  input,
  randn,
  sequential,
  setSeed,
  tensor,
} from '../../src/index.js';
import { availableParallelism } from 'node:os';
import type { Runner } from '../../src/train/runner.js';
import { chooseWorkers, splitBatch } from '../../src/train/parallel.js';

const sce = { className: 'sparseCategoricalCrossentropy', fromLogits: true };

function smallCnn(seed: number, batchNorm = false) {
  setSeed(seed);
  return sequential([
    input({ shape: [8, 8, 2] }),
    new Conv2D(4, [3, 3], { activation: 'relu' }),
    ...(batchNorm ? [new BatchNormalization()] : []),
    new MaxPooling2D([2, 2]),
    new Flatten(),
    new Dense(8, { activation: 'relu' }),
    new Dense(3),
  ]);
}

function data(n: number, seed: number): [Tensor, Tensor] {
  setSeed(seed);
  const x = randn([n, 8, 8, 2]);
  const y = tensor(Int32Array.from({ length: n }, (_, i) => (i * 7) % 3));
  return [x, y];
}

function weights(model: ReturnType<typeof smallCnn>): Float32Array[] {
  return model.namedVariables().map(([, v]) => (v.value().data as Float32Array).slice());
}

function maxRelDiff(a: Float32Array[], b: Float32Array[]): number {
  let worst = 0;
  a.forEach((t, k) =>
    t.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b[k][i]) / (1e-3 + Math.abs(b[k][i]))))),
  );
  return worst;
}

async function train(workers: number, optimizer: () => Adam | SGD, n: number, batchSize: number, epochs: number) {
  const [x, y] = data(n, 11);
  const model = smallCnn(5);
  model.compile({ optimizer: optimizer(), loss: sce, metrics: ['accuracy'] });
  const history = await model.fit(x, y, { epochs, batchSize, shuffle: false, verbose: 0, workers });
  return { model, history };
}

describe('data-parallel fit', () => {
  it('splits a batch into near-equal contiguous shards', () => {
    const x = tensor(
      Float32Array.from({ length: 10 }, (_, i) => i),
      { shape: [5, 2] },
    );
    const y = tensor(Int32Array.from([0, 1, 2, 3, 4]));
    const shards = splitBatch({ xs: [x], ys: [y], size: 5 }, 2);
    expect(shards.map((s) => s?.size)).toEqual([3, 2]);
    expect(Array.from(shards[0]!.xs[0].data as Float32Array)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Array.from(shards[1]!.ys![0].data as Int32Array)).toEqual([3, 4]);
    expect(splitBatch({ xs: [x], size: 1 }, 2)[1]).toBeUndefined();
  });

  it('gives the weights, optimizer state and logs of single-worker training (Adam, uneven last batch)', async () => {
    // 21 rows in batches of 8: shards 4+4, 4+4, 3+2 — and the second epoch starts after a flush.
    const one = await train(1, () => new Adam({ learningRate: 0.01 }), 21, 8, 2);
    const two = await train(2, () => new Adam({ learningRate: 0.01 }), 21, 8, 2);
    expect(maxRelDiff(weights(two.model), weights(one.model))).toBeLessThan(2e-4);
    const slots = (m: typeof one.model) =>
      m
        .namedVariables()
        .flatMap(([, v]) =>
          (m.compileState as any).optimizer.slots.get(v).map((s: Tensor) => (s.data as Float32Array).slice()),
        );
    expect(maxRelDiff(slots(two.model), slots(one.model))).toBeLessThan(2e-4);
    for (const key of ['loss', 'accuracy']) {
      two.history.history[key].forEach((v: number, e: number) => expect(v).toBeCloseTo(one.history.history[key][e], 5));
    }
    // Training moved the weights (the comparison is not between two untouched models).
    expect(maxRelDiff(weights(one.model), weights(smallCnn(5)))).toBeGreaterThan(1e-3);
  });

  it('clips the summed gradient, not each shard (SGD with momentum and clipNorm), and handles a batch of one', async () => {
    // 9 rows in batches of 4: the last batch has one row, so the second worker only applies the update.
    const opt = () => new SGD({ learningRate: 0.1, momentum: 0.9, clipNorm: 0.05 });
    const one = await train(1, opt, 9, 4, 2);
    const two = await train(2, opt, 9, 4, 2);
    expect(maxRelDiff(weights(two.model), weights(one.model))).toBeLessThan(2e-4);
  });

  it('predict and evaluate after data-parallel training see the final weights', async () => {
    const two = await train(2, () => new Adam({ learningRate: 0.01 }), 16, 8, 1);
    const [x, y] = data(16, 11);
    const host = smallCnn(5);
    host.namedVariables().forEach(([, v], i) => v.assign(two.model.namedVariables()[i][1].value()));
    const p = (await two.model.predict(x)) as Tensor;
    const q = (await host.predict(x)) as Tensor;
    expect(maxRelDiff([p.data as Float32Array], [q.data as Float32Array])).toBeLessThan(1e-5);
    // evaluate against a plain loop over the host model's logits: mean softmax cross-entropy and accuracy.
    const logits = q.data as Float32Array;
    const labels = y.data as Int32Array;
    let loss = 0;
    let correct = 0;
    for (let i = 0; i < labels.length; i++) {
      const row = Array.from(logits.subarray(3 * i, 3 * i + 3));
      const top = Math.max(...row);
      loss += top + Math.log(row.reduce((s, v) => s + Math.exp(v - top), 0)) - row[labels[i]];
      if (row.indexOf(top) === labels[i]) correct++;
    }
    const ev = await two.model.evaluate(x, y, { verbose: 0 });
    expect(ev.loss).toBeCloseTo(loss / labels.length, 5);
    expect(ev.accuracy).toBeCloseTo(correct / labels.length, 6);
  });

  it('trains models with batch statistics per shard and keeps replicas in step across epochs', async () => {
    const [x, y] = data(16, 12);
    const model = smallCnn(6, true);
    model.compile({ optimizer: new Adam({ learningRate: 0.01 }), loss: sce });
    // At every epoch's end: each replica's weights, batch statistics and Adam moments against worker 0's.
    const runner = () => (model.compileState as { runner: Runner }).runner;
    const keys = () => {
      const r = runner() as unknown as { varKey(i: number): string; slotKey(i: number, j: number): string };
      const vars = runner().variables.map((_, i) => r.varKey(i));
      const slots = runner().trainable.flatMap((_, i) => [0, 1].map((j) => r.slotKey(i, j)));
      return [...vars, ...slots];
    };
    const diffs: number[] = [];
    const compareReplicas = new LambdaCallback({
      onEpochEnd: async () => {
        const [first, second] = await Promise.all(
          [runner().worker, runner().replicas[0]].map((w) => w.getState(keys())),
        );
        const states = (s: typeof first) => keys().map((k) => s[k].data as Float32Array);
        diffs.push(maxRelDiff(states(second), states(first)));
      },
    });
    const history = await model.fit(x, y, {
      epochs: 3,
      batchSize: 8,
      shuffle: false,
      verbose: 0,
      workers: 2,
      callbacks: [compareReplicas],
    });
    expect(diffs).toEqual([0, 0, 0]);
    expect(history.history.loss.every(Number.isFinite)).toBe(true);
    expect(history.history.loss[2]).toBeLessThan(history.history.loss[0]);
  });

  it('refuses data parallelism for losses that do not average over the batch', async () => {
    const [x, y] = data(8, 13);
    const model = smallCnn(7);
    model.compile({
      optimizer: 'sgd',
      loss: { className: 'sparseCategoricalCrossentropy', fromLogits: true, reduction: 'sum' } as any,
    });
    await expect(model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0, workers: 2 })).rejects.toThrow(
      /sumOverBatchSize/,
    );
  });

  it('estimates forward FLOPs from the traced convolutions and matrix products', async () => {
    const [x, y] = data(8, 14);
    const model = smallCnn(8);
    model.compile({ optimizer: 'sgd', loss: sce });
    await model.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0, workers: 1 });
    const runner = (model.compileState as { runner: Runner }).runner;
    // Per sample: conv 3×3×2 → 4 channels on a 6×6 output, dense 36 → 8, dense 8 → 3 (2 FLOPs per multiply-add).
    const perSample = 2 * (6 * 6 * 4) * (3 * 3 * 2) + 2 * 36 * 8 + 2 * 8 * 3;
    expect(runner.forwardFlops({ xs: [x], ys: [y], size: 8 })).toBe(8 * perSample);
  });

  it("'auto' trains data parallel only when compute dominates and the cores exist", () => {
    const fake = (params: number, nonTrainable = 0) =>
      ({
        state: { losses: [{ reduction: 'sumOverBatchSize' }] },
        trainable: [{ size: params }],
        variables: Array.from({ length: 1 + nonTrainable }, () => ['v', {}]),
      }) as unknown as Runner;
    const cores = availableParallelism();
    // The seed CNN at batch 64: ~0.6 GFLOP forward, 122,570 parameters.
    expect(chooseWorkers(fake(122_570), 'auto', () => 0.6e9)).toBe(cores >= 2 ? 2 : 1);
    expect(chooseWorkers(fake(122_570), undefined, () => 0.6e9)).toBe(cores >= 2 ? 2 : 1);
    // A dense network (FLOPs = 2 × batch × parameters) or a short step: one worker.
    expect(chooseWorkers(fake(800_000), 'auto', () => 2 * 64 * 800_000)).toBe(1);
    expect(chooseWorkers(fake(1_000), 'auto', () => 20e6)).toBe(1);
    // Non-trainable state (batch statistics) would be per shard: not chosen automatically.
    expect(chooseWorkers(fake(122_570, 2), 'auto', () => 0.6e9)).toBe(1);
    // Explicit counts are honoured; nonsense is rejected.
    expect(chooseWorkers(fake(10), 2, () => 0)).toBe(2);
    expect(() => chooseWorkers(fake(10), 0, () => 0)).toThrow(/positive integer/);
  });
});

describe('predict with the weights baked into the graph', () => {
  it('follows weight changes made on the host (assign) and after fit', async () => {
    const [x, y] = data(6, 15);
    const model = smallCnn(9);
    const before = ((await model.predict(x)) as Tensor).data as Float32Array;
    // An independent reference: a fresh model given the same weights.
    const twin = smallCnn(10);
    const copyWeights = () =>
      twin.namedVariables().forEach(([, v], i) => v.assign(model.namedVariables()[i][1].value()));
    copyWeights();
    expect(maxRelDiff([((await twin.predict(x)) as Tensor).data as Float32Array], [before])).toBeLessThan(1e-6);

    const [, kernel] = model.namedVariables()[0];
    kernel.assign((kernel.value().data as Float32Array).map((v) => v * -2));
    const afterAssign = ((await model.predict(x)) as Tensor).data as Float32Array;
    expect(maxRelDiff([afterAssign], [before])).toBeGreaterThan(1e-3);
    copyWeights();
    expect(maxRelDiff([afterAssign], [((await twin.predict(x)) as Tensor).data as Float32Array])).toBeLessThan(1e-6);

    model.compile({ optimizer: new SGD({ learningRate: 0.5 }), loss: sce });
    await model.fit(x, y, { epochs: 1, batchSize: 6, verbose: 0 });
    const afterFit = ((await model.predict(x)) as Tensor).data as Float32Array;
    expect(maxRelDiff([afterFit], [afterAssign])).toBeGreaterThan(1e-3);
    copyWeights();
    expect(maxRelDiff([afterFit], [((await twin.predict(x)) as Tensor).data as Float32Array])).toBeLessThan(1e-6);
  });
});
