/**
 * `lepton train <config.json>`: train a Keras-style layer stack on a known dataset, recording the
 * run, evaluating on the test split, saving the model folder and registering it.
 *
 * {
 *   "name": "fashion-mlp",                       // run and model name
 *   "dataset": "fashion-mnist",                  // mnist | fashion-mnist | iris | wine | breast-cancer | digits
 *   "layers": [{"className": "Flatten"}, {"className": "Dense", "config": {"units": 64, "activation": "relu"}}, {"className": "Dense", "config": {"units": 10}}],
 *   "epochs": 3, "batchSize": 64, "optimizer": "adam" | {"className": "Adam", "config": {"learningRate": 0.001}},
 *   "loss": "sparseCategoricalCrossentropy" (from logits, default), "metrics": ["accuracy"],
 *   "limit": 10000,                              // use only the first N training samples
 *   "testFraction": 0.2,                         // tabular sets: held-out share (default 0.2)
 *   "output": "models/fashion-mlp",              // model folder (default: LEPTON_HOME/trained/<name>-<run id>)
 *   "register": true                             // register the saved model (default true)
 * }
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openRegistry } from '../registry/registry.js';
import { RunTracker } from '../registry/tracker.js';
import { CliError } from './output.js';

export interface TrainConfig {
  name?: string;
  dataset: string;
  layers: ({ className: string; config?: Record<string, unknown> } | Record<string, unknown>)[];
  epochs?: number;
  batchSize?: number;
  optimizer?: unknown;
  loss?: unknown;
  metrics?: unknown[];
  limit?: number;
  testFraction?: number;
  output?: string;
  register?: boolean;
  seed?: number;
  /** Allow downloading the dataset when it is not found locally (default false). */
  download?: boolean;
}

export interface TrainOutcome {
  runId: number;
  dir: string;
  model?: { name: string; version: number };
  test: Record<string, number>;
}

type AnyTensor = { shape: readonly number[]; data: ArrayLike<number> };

export async function trainFromConfigFile(
  path: string,
  options: { runName?: string; track?: boolean; quiet?: boolean } = {},
): Promise<TrainOutcome> {
  let config: TrainConfig;
  try {
    config = JSON.parse(readFileSync(path, 'utf8')) as TrainConfig;
  } catch (e) {
    throw new CliError(`${path}: not a valid JSON training config (${(e as Error).message})`);
  }
  return trainFromConfig(config, options, path);
}

export async function trainFromConfig(
  config: TrainConfig,
  options: { runName?: string; track?: boolean; quiet?: boolean } = {},
  source = 'config',
): Promise<TrainOutcome> {
  if (typeof config !== 'object' || config === null) throw new CliError(`${source}: expected a JSON object`);
  if (typeof config.dataset !== 'string')
    throw new CliError(`${source}: "dataset" is required (mnist, fashion-mnist, iris, wine, breast-cancer, digits)`);
  if (!Array.isArray(config.layers) || config.layers.length === 0)
    throw new CliError(`${source}: "layers" must be a non-empty array of {className, config}`);
  const engine = await import('../index.js');
  const nn = await import('../nn/index.js');
  const train = await import('../train/index.js');
  const { layerFromConfig } = await import('../nn/layer.js');
  const name = options.runName ?? config.name ?? config.dataset;
  if (config.seed !== undefined) engine.setSeed(config.seed);

  const data = await loadTrainingData(config, source);
  const layers = config.layers.map((l, i) => {
    const spec = 'className' in l ? (l as { className: string; config?: Record<string, unknown> }) : undefined;
    if (!spec || typeof spec.className !== 'string')
      throw new CliError(`${source}: layers[${i}] needs a "className" (e.g. "Dense")`);
    try {
      return layerFromConfig({ className: spec.className, config: spec.config ?? {} } as never);
    } catch (e) {
      throw new CliError(`${source}: layers[${i}] (${spec.className}): ${(e as Error).message}`);
    }
  });
  const model = nn.sequential(
    [nn.input({ shape: data.xTrain.shape.slice(1) as number[] }), ...layers] as never,
    { name } as never,
  );
  model.compile({
    optimizer: (config.optimizer ?? 'adam') as never,
    loss: (config.loss ?? { className: 'sparseCategoricalCrossentropy', fromLogits: true }) as never,
    metrics: (config.metrics ?? ['accuracy']) as never,
  });
  const registry = openRegistry();
  const tracker = new RunTracker({
    registry,
    name,
    params: {
      dataset: config.dataset,
      layers: config.layers.length,
      batchSize: config.batchSize ?? 32,
      optimizer: config.optimizer ?? 'adam',
      limit: config.limit ?? null,
    },
  });
  const callbacks = options.track === false ? [] : [tracker];
  try {
    await model.fit(
      data.xTrain as never,
      data.yTrain as never,
      {
        epochs: config.epochs ?? 5,
        batchSize: config.batchSize ?? 32,
        verbose: options.quiet ? 0 : 1,
        callbacks,
      } as never,
    );
  } catch (e) {
    tracker.fail(e);
    throw new CliError(`training failed: ${(e as Error).message}`, 1);
  }
  const test = (await model.evaluate(data.xTest as never, data.yTest as never, { verbose: 0 } as never)) as Record<
    string,
    number
  >;
  const runId = tracker.runId ?? -1;
  const dir = resolve(config.output ?? join(registry.home, 'trained', `${name}-${runId}`));
  // The preprocessing lets the server accept images for this model.
  await train.saveModel(model as never, dir, {
    labels: data.labels,
    preprocessing: data.preprocessing as { kind: string } | undefined,
  });
  let registered: TrainOutcome['model'];
  if (config.register !== false) {
    const testMetrics = Object.fromEntries(Object.entries(test).map(([k, v]) => [`test_${k}`, v]));
    const m = await registry.registerModel(dir, {
      name: sanitizeName(name),
      runId: runId > 0 ? runId : null,
      metrics: testMetrics,
    });
    registered = { name: m.name, version: m.version };
    await recordTestEvaluation(model as never, data, {
      name: m.name,
      version: m.version,
      runId,
      dataset: config.dataset,
    });
  }
  return { runId, dir, model: registered, test };
}

/**
 * A classifier's test-split evaluation (confusion matrix, per-class scores, PR curves) recorded for
 * the registered model and its run, so the studio (and `lepton start`) shows the pictures at once.
 * Models whose output is not one score per label (e.g. regressions) are left out.
 */
async function recordTestEvaluation(
  model: { predict(x: unknown, options: unknown): Promise<unknown> },
  data: { xTest: AnyTensor; yTest: AnyTensor; labels: string[] },
  target: { name: string; version: number; runId: number; dataset: string },
): Promise<void> {
  const labels = Array.from(data.yTest.data, Number);
  const k = data.labels.length;
  if (k < 2 || data.yTest.shape.length !== 1 || labels.some((l) => !(Number.isInteger(l) && l >= 0 && l < k))) return;
  const scores = (await model.predict(data.xTest, { verbose: 0, batchSize: 256 })) as AnyTensor;
  if (scores.shape.length !== 2 || scores.shape[1] !== k) return;
  const { probabilities } = await import('../serve/model.js');
  const { classificationReport } = await import('../train/evaluation.js');
  const probs = probabilities({ dtype: 'float32', shape: [...scores.shape], data: Float32Array.from(scores.data) });
  openRegistry().recordEvaluation(classificationReport(labels, probs.data as Float32Array, k, data.labels), {
    model: target.name,
    version: target.version,
    runId: target.runId > 0 ? target.runId : null,
    dataset: `${target.dataset} (test split)`,
  });
}

function sanitizeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'model';
}

async function loadTrainingData(config: TrainConfig, source: string) {
  const data = await import('../data/index.js');
  const { takeRows } = await import('../train/data.js');
  const { Generator } = await import('../engine/random.js');
  const name = config.dataset.toLowerCase();
  const rowsAt = (t: AnyTensor, idx: readonly number[]): AnyTensor =>
    takeRows(t as never, idx, 0, idx.length) as unknown as AnyTensor;
  const limit = (t: AnyTensor, n?: number): AnyTensor =>
    n === undefined || n >= t.shape[0]
      ? t
      : rowsAt(
          t,
          Array.from({ length: n }, (_, i) => i),
        );
  if (name === 'mnist' || name === 'fashion-mnist') {
    const d = name === 'mnist' ? data.mnist : data.fashionMnist;
    const splits = await d
      .loadData({
        normalize: true,
        channelsLast: true,
        download: config.download ?? false,
        ...(config.download ? {} : { onProgress: () => {} }),
      })
      .catch((e: Error) => {
        throw new CliError(e.message, 1);
      });
    return {
      xTrain: limit(splits.train[0] as never, config.limit),
      yTrain: limit(splits.train[1] as never, config.limit),
      xTest: splits.test[0] as unknown as AnyTensor,
      yTest: splits.test[1] as unknown as AnyTensor,
      labels: [...splits.classNames],
      preprocessing: { kind: 'image', height: 28, width: 28, channels: 1, scale: 1 / 255 },
    };
  }
  const loaders: Record<string, () => Promise<{ x: AnyTensor; y: AnyTensor; classNames: string[] }>> = {
    iris: () => data.iris() as never,
    wine: () => data.wine() as never,
    'breast-cancer': () => data.breastCancer() as never,
    digits: () => data.sklearnDigits() as never,
  };
  if (!loaders[name])
    throw new CliError(
      `${source}: unknown dataset '${config.dataset}' (mnist, fashion-mnist, ${Object.keys(loaders).join(', ')})`,
    );
  const d = await loaders[name]();
  // Deterministic shuffled split into train and test.
  const n = d.x.shape[0];
  const order = new Generator(12345).shuffle(Array.from({ length: n }, (_, i) => i)) as number[];
  const nTest = Math.max(1, Math.round(n * (config.testFraction ?? 0.2)));
  const pick = (idx: number[]) => [rowsAt(d.x, idx), rowsAt(d.y, idx)] as const;
  const trainIdx = order.slice(nTest, config.limit !== undefined ? nTest + config.limit : undefined);
  const [xTrain, yTrain] = pick(trainIdx);
  const [xTest, yTest] = pick(order.slice(0, nTest));
  return {
    xTrain,
    yTrain,
    xTest,
    yTest,
    labels: d.classNames,
    preprocessing: undefined as Record<string, unknown> | undefined,
  };
}
