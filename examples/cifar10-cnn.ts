/**
 * TensorFlow's CIFAR-10 CNN tutorial, line for line in Lepton.
 *   npx tsx examples/cifar10-cnn.ts
 * CIFAR-10 is downloaded from its canonical address on first use (or found in ~/.cache/lepton,
 * LEPTON_DATA, or a folder given with --data); without network and without the files, the loader
 * says where to put them.
 */
import { datasets, div, layers, losses, sequential } from '../src/index.js';

const dataArg = process.argv.indexOf('--data');
const path = dataArg > 0 ? process.argv[dataArg + 1] : undefined;

let {
  train: [trainImages, trainLabels],
  test: [testImages, testLabels],
} = await datasets.cifar10.loadData({ path });
[trainImages, testImages] = [div(trainImages, 255), div(testImages, 255)];

const model = sequential();
model.add(layers.Conv2D(32, [3, 3], { activation: 'relu', inputShape: [32, 32, 3] }));
model.add(layers.MaxPooling2D([2, 2]));
model.add(layers.Conv2D(64, [3, 3], { activation: 'relu' }));
model.add(layers.MaxPooling2D([2, 2]));
model.add(layers.Conv2D(64, [3, 3], { activation: 'relu' }));
model.add(layers.Flatten());
model.add(layers.Dense(64, { activation: 'relu' }));
model.add(layers.Dense(10));
model.summary();

model.compile({
  optimizer: 'adam',
  loss: losses.SparseCategoricalCrossentropy({ fromLogits: true }),
  metrics: ['accuracy'],
});
await model.fit(trainImages, trainLabels, { epochs: 10, batchSize: 64, validationData: [testImages, testLabels] });
const { loss: testLoss, accuracy: testAcc } = await model.evaluate(testImages, testLabels, { verbose: 2 });
console.log(`test loss ${testLoss.toFixed(4)}, test accuracy ${(testAcc * 100).toFixed(2)}%`);
