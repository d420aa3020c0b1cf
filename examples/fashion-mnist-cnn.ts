/**
 * The seed CNN (TensorFlow's CIFAR-10 tutorial architecture) on Fashion-MNIST (28×28×1), trained
 * with Adam whose learning rate anneals from 1e-3 to 0 over the run (cosine decay).
 *   npx tsx examples/fashion-mnist-cnn.ts [--epochs 10] [--seed 1]
 */
import { cosineDecay, datasets, layers, losses, optimizers, sequential, setSeed } from '../src/index.js';
import { numberOption } from './options.js';

const epochs = numberOption('epochs', 10);
setSeed(numberOption('seed', 1));

const {
  train: [trainImages, trainLabels],
  test: [testImages, testLabels],
} = await datasets.fashionMnist.loadData({ normalize: true, channelsLast: true });

const model = sequential();
model.add(layers.Conv2D(32, [3, 3], { activation: 'relu', inputShape: [28, 28, 1] }));
model.add(layers.MaxPooling2D([2, 2]));
model.add(layers.Conv2D(64, [3, 3], { activation: 'relu' }));
model.add(layers.MaxPooling2D([2, 2]));
model.add(layers.Conv2D(64, [3, 3], { activation: 'relu' }));
model.add(layers.Flatten());
model.add(layers.Dense(64, { activation: 'relu' }));
model.add(layers.Dense(10));
model.summary();

// Annealing the step size over the run settles the weights at the end instead of leaving them
// bouncing at a constant 1e-3 (the tutorial's default), worth a few tenths of a percent here.
const stepsPerEpoch = Math.ceil((trainImages.shape[0] as number) / 64);
model.compile({
  optimizer: optimizers.Adam({ learningRate: cosineDecay({ initial: 1e-3, decaySteps: epochs * stepsPerEpoch }) }),
  loss: losses.SparseCategoricalCrossentropy({ fromLogits: true }),
  metrics: ['accuracy'],
});
const t0 = performance.now();
await model.fit(trainImages, trainLabels, { epochs, batchSize: 64, validationData: [testImages, testLabels] });
const { loss, accuracy } = await model.evaluate(testImages, testLabels, { verbose: 2 });
console.log(
  `test loss ${loss.toFixed(4)}, test accuracy ${(accuracy * 100).toFixed(2)}%, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);
