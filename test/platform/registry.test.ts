import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry, RunTracker, leptonHome, readModelFolder } from '../../src/registry/index.js';
import { makeTabularModel } from './fixtures.js';
import { tempDir } from '../helpers/temp.js';

const exec = promisify(execFile);
let root: string;
let modelDir: string;

beforeAll(async () => {
  root = tempDir('lepton-registry-');
  modelDir = await makeTabularModel(join(root, 'src-model'), { labels: ['a', 'b', 'c'] });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('registry', () => {
  it('uses LEPTON_HOME when set', () => {
    const before = process.env.LEPTON_HOME;
    process.env.LEPTON_HOME = join(root, 'h');
    expect(leptonHome()).toBe(join(root, 'h'));
    process.env.LEPTON_HOME = before;
  });

  it('opens in WAL mode with a busy timeout', () => {
    const r = new Registry(join(root, 'wal'));
    expect(r.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(r.db.pragma('busy_timeout', { simple: true })).toBeGreaterThanOrEqual(5000);
    r.close();
  });

  it('records runs with params, epochs, status and duration', () => {
    const r = new Registry(join(root, 'runs'));
    const id = r.createRun('mlp', { lr: 0.01, batchSize: 32 });
    r.logEpoch(id, 0, { loss: 2, accuracy: 0.5 });
    r.logEpoch(id, 1, { loss: 1, accuracy: 0.75 });
    r.finishRun(id, 'completed');
    const run = r.getRun(id);
    expect(run.params).toEqual({ lr: 0.01, batchSize: 32 });
    expect(run.status).toBe('completed');
    expect(run.summary).toEqual({ loss: 1, accuracy: 0.75 });
    expect(run.durationSeconds).toBeGreaterThanOrEqual(0);
    expect(r.epochs(id).map((e) => e.metrics.loss)).toEqual([2, 1]);
    expect(r.epochs(id, 0).map((e) => e.epoch)).toEqual([1]);
    expect(r.listRuns().map((x) => x.id)).toContain(id);
    expect(() => r.getRun(9999)).toThrow(/no run with id 9999/);
    r.close();
  });

  it('registers model versions as copies with signature, labels, metrics and run', async () => {
    const home = join(root, 'models');
    const r = new Registry(home);
    const runId = r.createRun('t');
    const m1 = await r.registerModel(modelDir, { runId, metrics: { accuracy: 0.9 } });
    const m2 = await r.registerModel(modelDir, { name: 'other' });
    const m3 = await r.registerModel(modelDir);
    expect([m1.name, m1.version, m2.name, m2.version, m3.version]).toEqual(['tabular', 1, 'other', 1, 2]);
    expect(m1.path).toBe(join(home, 'models', 'tabular', '1'));
    expect(readFileSync(join(m1.path, 'model.onnx')).equals(readFileSync(join(modelDir, 'model.onnx')))).toBe(true);
    expect(m1.signature.inputs).toEqual([{ name: 'features', shape: [null, 4], dtype: 'float32' }]);
    expect(m1.labels).toEqual(['a', 'b', 'c']);
    expect(m1.metrics).toEqual({ accuracy: 0.9 });
    expect(m1.runId).toBe(runId);
    expect(r.getModel('tabular').version).toBe(2);
    expect(r.listModelNames()).toEqual(['other', 'tabular']);
    expect(r.removeModel('tabular', 1)).toBe(1);
    expect(existsSync(m1.path)).toBe(false);
    expect(() => r.getModel('tabular', 1)).toThrow(/has no version 1/);
    expect(() => r.getModel('nope')).toThrow(/no registered model 'nope'/);
    await expect(r.registerModel(modelDir, { name: '../evil' })).rejects.toThrow(/invalid model name/);
    await expect(r.registerModel(join(root, 'missing'))).rejects.toThrow(/does not exist/);
    r.close();
  });

  it('records evaluations per model version and run, newest first; removing a version removes its evaluations', async () => {
    const r = new Registry(join(root, 'evaluations'));
    const runId = r.createRun('t');
    await r.registerModel(modelDir, { name: 'm', runId });
    await r.registerModel(modelDir, { name: 'm' });
    const report = (accuracy: number) => ({
      task: 'classification' as const,
      classNames: ['a', 'b'],
      samples: 2,
      metrics: { accuracy },
      perClass: [],
      confusion: {
        labels: ['a', 'b'],
        counts: [
          [1, 0],
          [2 - 2 * accuracy, 2 * accuracy - 1],
        ],
      },
      prCurves: [],
    });
    const first = r.recordEvaluation(report(1), { model: 'm', version: 1, runId, dataset: 'x.csv' });
    const second = r.recordEvaluation(report(0.5), { model: 'm', dataset: 'y.csv' });
    expect(r.evaluations({ model: 'm' }).map((e) => e.id)).toEqual([second, first]);
    expect(r.evaluations({ model: 'm', limit: 1 }).map((e) => e.id)).toEqual([second]);
    // Without a version the latest is recorded.
    expect(r.evaluations({ model: 'm', version: 2 }).map((e) => [e.id, e.dataset, e.report.metrics.accuracy])).toEqual([
      [second, 'y.csv', 0.5],
    ]);
    expect(r.evaluations({ runId }).map((e) => e.id)).toEqual([first]);
    expect(r.evaluations({ runId })[0].report).toEqual(report(1));
    expect(() => r.recordEvaluation(report(1), { model: 'nope', dataset: 'x' })).toThrow(/no registered model 'nope'/);
    expect(() => r.recordEvaluation(report(1), { runId: 999, dataset: 'x' })).toThrow(/no run with id 999/);
    r.removeModel('m', 1);
    expect(r.evaluations().map((e) => e.id)).toEqual([second]);
    r.close();
  });

  it('derives the signature from model.onnx when config.json is absent', async () => {
    const dir = await makeTabularModel(join(root, 'bare'), { config: false });
    const f = await readModelFolder(dir);
    expect(f.derived).toBe(true);
    expect(f.config.name).toBe('bare');
    expect(f.config.signature.inputs).toEqual([{ name: 'features', shape: [null, 4], dtype: 'float32' }]);
    expect(f.config.signature.outputs).toEqual([{ name: 'logits', shape: [null, 3], dtype: 'float32' }]);
  });

  it('RunTracker records a fit through the callback interface', () => {
    const r = new Registry(join(root, 'tracker'));
    const t = new RunTracker({ registry: r, name: 'cnn', params: { lr: 0.001 }, progressIntervalMs: 0 });
    t.setModel({ name: 'seed-cnn', countParams: () => 1234 });
    t.onTrainBegin({ epochs: 2, batchSize: 64 });
    for (let e = 0; e < 2; e++) {
      t.onEpochBegin(e);
      t.onBatchEnd(0, { loss: 3 - e });
      expect(r.getRun(t.runId!).progress).toEqual({ epoch: e, batch: 0, loss: 3 - e });
      t.onEpochEnd(e, { loss: 2 - e, acc: 0.5 + e / 4, note: 'ignored' });
    }
    t.onTrainEnd({});
    const run = r.getRun(t.runId!);
    expect(run.name).toBe('cnn');
    expect(run.params).toEqual({ lr: 0.001, model: 'seed-cnn', parameters: 1234, epochs: 2, batchSize: 64 });
    expect(r.epochs(run.id).map((e) => e.metrics)).toEqual([
      { loss: 2, acc: 0.5 },
      { loss: 1, acc: 0.75 },
    ]);
    expect(run.status).toBe('completed');
    expect(run.progress).toBeNull();

    const failing = new RunTracker({ registry: r });
    failing.onTrainBegin({});
    failing.fail(new Error('loss became NaN'));
    expect(r.getRun(failing.runId!)).toMatchObject({ status: 'failed', error: 'loss became NaN' });
    r.close();
  });

  it('RunTracker records per-step curves: the mean over the batches since the previous record, recovered from running means', () => {
    const r = new Registry(join(root, 'steps'));
    // Per-batch losses/accuracies and batch sizes chosen by hand; fit reports running sample-weighted means.
    const run = (stepsPerEpoch: number, epochs: number) => {
      const t = new RunTracker({ registry: r, progressIntervalMs: 1e9 });
      t.onTrainBegin({});
      t.setParams({ epochs, steps: stepsPerEpoch });
      const batches: { loss: number; accuracy: number; size: number }[][] = [];
      for (let e = 0; e < epochs; e++) {
        t.onEpochBegin(e);
        let [n, lossSum, accSum] = [0, 0, 0];
        const epochBatches = [];
        for (let b = 0; b < stepsPerEpoch; b++) {
          const batch = {
            loss: 1 + ((b * 7 + e * 3) % 11) / 10,
            accuracy: ((b * 5 + e) % 9) / 8,
            size: b === stepsPerEpoch - 1 ? 5 : 32,
          };
          epochBatches.push(batch);
          n += batch.size;
          lossSum += batch.loss * batch.size;
          accSum += batch.accuracy * batch.size;
          t.onBatchEnd(b, { batch: b, size: batch.size, loss: lossSum / n, accuracy: accSum / n, auc: 0.5 });
        }
        batches.push(epochBatches);
        t.onEpochEnd(e, { loss: lossSum / n, accuracy: accSum / n });
      }
      t.onTrainEnd({});
      return { steps: r.steps(t.runId!), batches };
    };
    // 4 steps per epoch: every step is recorded with its own batch's values.
    const small = run(4, 2);
    expect(small.steps.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(small.steps.map((s) => s.epoch)).toEqual([0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2]);
    small.steps.forEach((s, i) => {
      const b = small.batches[Math.floor(i / 4)][i % 4];
      expect(s.metrics.loss).toBeCloseTo(b.loss, 10);
      expect(s.metrics.accuracy).toBeCloseTo(b.accuracy, 10);
      expect(s.metrics.auc).toBeUndefined(); // not a sample mean: differencing would be meaningless
    });
    // 250 steps per epoch: at most 100 records per epoch, each the sample-weighted mean of its 3 batches.
    const big = run(250, 1);
    expect(big.steps.length).toBe(84);
    expect(big.steps[0].step).toBe(3);
    expect(big.steps[83]).toMatchObject({ step: 250, epoch: 1 });
    const group = big.batches[0].slice(3, 6);
    const n = group.reduce((a, b) => a + b.size, 0);
    expect(big.steps[1].metrics.loss).toBeCloseTo(group.reduce((a, b) => a + b.loss * b.size, 0) / n, 10);
    const lastGroup = big.batches[0].slice(249);
    expect(big.steps[83].metrics.loss).toBeCloseTo(lastGroup[0].loss, 10);
    r.close();
  });

  it('RunTracker marks the run failed when the training process dies', async () => {
    const home = join(root, 'crash');
    const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
    const err = await exec(tsx, [join(process.cwd(), 'test', 'platform', 'crashing-training.ts'), home], {
      timeout: 60_000,
    }).catch((e) => e as { stdout: string; code: number });
    expect((err as { code: number }).code).not.toBe(0);
    const r = new Registry(home);
    expect(r.getRun(Number((err as { stdout: string }).stdout))).toMatchObject({
      status: 'failed',
      error: 'fit: the loss became NaN at epoch 2',
    });
    r.close();
  });

  it('two processes writing at the same time neither corrupt it nor fail with SQLITE_BUSY', async () => {
    const home = join(root, 'concurrent');
    new Registry(home).close();
    const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
    const script = join(process.cwd(), 'test', 'platform', 'registry-writer.ts');
    const epochs = 300;
    const startAt = String(Date.now() + 3000);
    const results = await Promise.all(
      ['a', 'b'].map((tag) => exec(tsx, [script, home, tag, String(epochs), modelDir, startAt], { timeout: 60_000 })),
    );
    const ids = results.map((r) => JSON.parse(r.stdout).runId as number);
    const r = new Registry(home);
    expect(r.db.pragma('integrity_check', { simple: true })).toBe('ok');
    for (const id of ids) {
      expect(r.getRun(id).status).toBe('completed');
      const eps = r.epochs(id);
      expect(eps.length).toBe(epochs);
      expect(eps.every((e, i) => e.epoch === i && e.metrics.loss === 1 / (i + 1))).toBe(true);
    }
    const shared = r.listModels().filter((m) => m.name === 'shared');
    expect(shared.map((m) => m.version)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const m of shared) expect(existsSync(join(m.path, 'model.onnx'))).toBe(true);
    r.close();
  });
});
