/**
 * Semantic segmentation of synthetic scenes (shapes and MNIST digits, src/vision/synthetic) with a
 * U-Net trained on CE + Dice: generates a training and a held-out split (different seeds and MNIST
 * splits; cached as COCO folders under ~/.cache/lepton/scenes/), trains, scores mIoU and pixel
 * accuracy on the held-out scenes, draws predictions on a few of them and saves the model.
 *   npx tsx examples/segment-shapes.ts [--train 2000] [--test 300] [--epochs 8] [--filters 8]
 *     [--depth 4] [--batch 16] [--seed 1] [--out artifacts/segment-shapes-model] [--png artifacts/segment-shapes.png]
 * Ends with one line: miou=... pixel_acc=...
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { cosineDecay, dataHome, decodePixels, optimizers, setSeed, tensor } from '../src/index.js';
import {
  SCENE_CLASSES,
  SegmentationLoss,
  SegmentationMetrics,
  argmaxClasses,
  drawSegmentation,
  unet,
  writeSceneDataset,
} from '../src/vision/index.js';
import { numberOption, stringOption } from './options.js';

const trainCount = numberOption('train', 2000),
  testCount = numberOption('test', 300),
  epochs = numberOption('epochs', 8),
  filters = numberOption('filters', 8),
  depth = numberOption('depth', 4),
  batchSize = numberOption('batch', 16);
const outDir = stringOption('out', 'artifacts/segment-shapes-model'),
  pngPath = stringOption('png', 'artifacts/segment-shapes.png');
setSeed(numberOption('seed', 1));
const S = 128; // the scene generator's default size and object sizes (14-56 px)
const K = SCENE_CLASSES.length + 1; // background + 6 classes

/** A split as tensors: pixels scaled to [0, 1] and class maps, from a cached COCO folder (written once). */
async function loadSplit(name: string, count: number, seed: number, digitSplit: 'train' | 'test') {
  const dir = join(dataHome(), 'scenes', `${name}-${count}-seed${seed}`);
  if (!existsSync(join(dir, 'annotations.json'))) {
    console.log(`generating ${count} ${name} scenes into ${dir}`);
    await writeSceneDataset(dir, { count, seed, digitSplit });
  }
  const files = (await readdir(join(dir, 'images'))).filter((f) => f.endsWith('.png')).sort();
  const x = new Float32Array(files.length * S * S * 3),
    y = new Uint8Array(files.length * S * S),
    rgb = new Uint8Array(files.length * S * S * 3);
  for (const [i, f] of files.entries()) {
    const image = await decodePixels(join(dir, 'images', f));
    const mask = await decodePixels(join(dir, 'masks', f), { channels: 1 });
    rgb.set(image.data, i * S * S * 3);
    y.set(mask.data, i * S * S);
  }
  for (let i = 0; i < rgb.length; i++) x[i] = rgb[i] / 255;
  return { n: files.length, rgb, x: tensor(x, { shape: [files.length, S, S, 3] }), y };
}

const t0 = performance.now();
const train = await loadSplit('train', trainCount, 1, 'train');
const test = await loadSplit('test', testCount, 2, 'test');
const tData = performance.now();

const model = unet({ inputShape: [S, S, 3], numClasses: K, depth, filters });
console.log(`U-Net depth ${depth}, filters ${filters}: ${model.countParams().toLocaleString('en-US')} weights`);
const steps = epochs * Math.ceil(train.n / batchSize);
model.compile({
  optimizer: optimizers.Adam({ learningRate: cosineDecay({ initial: 3e-3, decaySteps: steps }) }),
  loss: new SegmentationLoss(),
});
await model.fit(train.x, tensor(train.y, { shape: [train.n, S, S] }), { epochs, batchSize, verbose: 2 });
const tTrain = performance.now();

const logits = await model.predict(test.x, { batchSize: 32, verbose: 0 });
const predicted = argmaxClasses(logits.data as Float32Array, K);
const scores = new SegmentationMetrics(K).update(predicted, test.y).compute();
const names = ['background', ...SCENE_CLASSES];
console.log(`per-class IoU: ${scores.iou.map((v, k) => `${names[k]} ${v.toFixed(3)}`).join(', ')}`);

// Four held-out scenes side by side: predictions overlaid (top), ground truth (bottom).
const show = Math.min(4, test.n),
  W = show * S;
const strip = (source: Uint8Array, per: number) => {
  const out = new Uint8Array(2 * S * W * per);
  for (let row = 0; row < 2; row++)
    for (let i = 0; i < show; i++)
      for (let r = 0; r < S; r++)
        out.set(source.subarray((i * S + r) * S * per, (i * S + r + 1) * S * per), ((row * S + r) * W + i * S) * per);
  return out;
};
const classes = strip(predicted, 1);
classes.set(strip(test.y, 1).subarray(S * W), S * W);
await mkdir(dirname(pngPath), { recursive: true });
await writeFile(
  pngPath,
  await drawSegmentation({ data: strip(test.rgb, 3), width: W, height: 2 * S }, classes, K, { scale: 2 }),
);
await model.save(outDir, {
  labels: names,
  preprocessing: { kind: 'image', height: S, width: S, channels: 3, scale: 1 / 255 },
});
const seconds = (t: number) => (t / 1000).toFixed(1);
console.log(
  `data ${seconds(tData - t0)} s, training ${seconds(tTrain - tData)} s (${((epochs * train.n) / ((tTrain - tData) / 1000)).toFixed(1)} img/s), ` +
    `total ${seconds(performance.now() - t0)} s; wrote ${pngPath} and ${outDir}/`,
);
console.log(`miou=${scores.miou.toFixed(4)} pixel_acc=${scores.pixelAccuracy.toFixed(4)}`);
