// The platform with the real training API: fit records a run through RunTracker, saveModel's folder
// is registered and served, and the server answers what model.predict answers.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Adam, Dense, input, randn, sequential, setSeed, tensor, type Tensor } from '../../src/index.js';
import { predict, saveModel } from '../../src/train/index.js';
import { Registry, RunTracker } from '../../src/registry/index.js';
import { createModelServer } from '../../src/serve/server.js';
import { tempDir } from '../helpers/temp.js';

const root = tempDir('lepton-integration-');
afterAll(() => rmSync(root, { recursive: true, force: true }));

function data(n: number): [Tensor, Tensor] {
  setSeed(7);
  const x = randn([n, 2]);
  const d = x.data as Float32Array;
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) y[i] = d[2 * i] + d[2 * i + 1] > 0 ? 1 : 0;
  return [x, tensor(y)];
}

describe('fit → registry → server', () => {
  it('records the run, registers the saved model and serves the same predictions', async () => {
    const registry = new Registry(join(root, 'home'));
    const [x, y] = data(128);
    setSeed(3);
    const model = sequential([input({ shape: [2] }), new Dense(8, { activation: 'tanh' }), new Dense(2)] as never);
    model.compile({
      optimizer: new Adam({ learningRate: 0.05 }),
      loss: { className: 'sparseCategoricalCrossentropy', fromLogits: true },
      metrics: ['accuracy'],
    });
    const tracker = new RunTracker({
      registry,
      name: 'linear-boundary',
      params: { learningRate: 0.05 },
      progressIntervalMs: 0,
    });
    const history = await model.fit(x, y, { epochs: 4, batchSize: 32, verbose: 0, callbacks: [tracker] });

    const run = registry.getRun(tracker.runId!);
    expect(run.status).toBe('completed');
    expect(run.params).toMatchObject({ learningRate: 0.05, epochs: 4, stepsPerEpoch: 4 });
    const epochs = registry.epochs(run.id);
    expect(epochs.map((e) => e.metrics.loss)).toEqual(history.history.loss);
    expect(epochs.map((e) => e.metrics.accuracy)).toEqual(history.history.accuracy);

    const dir = join(root, 'saved');
    await saveModel(model as never, dir, { labels: ['negative', 'positive'] });
    const record = await registry.registerModel(dir, {
      name: 'boundary',
      runId: run.id,
      metrics: { accuracy: history.history.accuracy[3] },
    });
    expect(record.signature.inputs[0].shape).toEqual([null, 2]);

    const server = await createModelServer({ registry });
    try {
      const probe = [
        [1, 1],
        [-2, 0.5],
        [0.3, -0.1],
      ];
      const res = await server.app.inject({
        method: 'POST',
        url: '/v1/models/boundary/predict',
        payload: { inputs: probe },
      });
      expect(res.statusCode).toBe(200);
      const expected = (await predict(model as never, tensor(probe), { verbose: 0 } as never)) as Tensor;
      const got = (res.json().outputs as number[][]).flat();
      Array.from(expected.data as Float32Array).forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
      expect(res.json().predictions[0].label).toMatch(/negative|positive/);
    } finally {
      await server.close();
      registry.close();
    }
  });
});
