/**
 * Trains the FCOS-style detector of lepton/vision on synthetic scenes (filled/outlined circles,
 * squares, triangles, rings, frames and MNIST digits over gradient backgrounds with clutter and
 * noise, overlapping) and scores it on a held-out split with the pycocotools-exact COCO evaluator.
 * Scenes are written once in COCO format under ~/.cache/lepton/scenes/ (train: MNIST train digits,
 * held-out: MNIST test digits and another seed). Writes artifacts/detect-shapes/model (a model
 * folder `lepton detect` reads) and artifacts/detect-shapes/detections.png. With `--register NAME`
 * the model goes into the registry (LEPTON_HOME) with its held-out evaluation, so `lepton studio`
 * shows its PR curves and confusion matrix on /models/NAME.
 *   npx tsx examples/detect-shapes.ts [--train 3000] [--val 300] [--epochs 15] [--batch 32] [--seed 1] [--register NAME]
 * Ends with one line: map=… map50=… (held-out split).
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Tensor, cosineDecay, dataHome, decodePixels, optimizers, setSeed, tensor } from '../src/index.js';
import {
  type CocoDataset,
  type CocoDetection,
  FcosDetector,
  SCENE_CLASSES,
  cocoResults,
  decodeFcos,
  detectionReport,
  drawDetections,
  fcosLoss,
  readCoco,
  writeSceneDataset,
} from '../src/vision/index.js';
import { openRegistry } from '../src/registry/index.js';
import { numberOption, option } from './options.js';

const trainCount = numberOption('train', 3000);
const valCount = numberOption('val', 300);
const epochs = numberOption('epochs', 15);
const batchSize = numberOption('batch', 32);
const register = option('register');
const size = 128;
setSeed(numberOption('seed', 1));

interface Split {
  /** The COCO folder (annotations.json, images/). */
  dir: string;
  coco: CocoDataset;
  /** RGB bytes of every image, concatenated (size × size × 3 each). */
  pixels: Uint8Array;
  boxes: number[][];
  labels: number[][];
}

/** Writes the split once (COCO folder in the cache), then reads it back. */
async function scenes(name: string, count: number, seed: number, digitSplit: 'train' | 'test'): Promise<Split> {
  const dir = join(dataHome(), 'scenes', `${name}-${size}-${count}-s${seed}`);
  if (!existsSync(join(dir, 'annotations.json'))) {
    console.log(`writing ${count} scenes to ${dir}`);
    await writeSceneDataset(dir, { count, seed, digitSplit, width: size, height: size });
  }
  const coco = await readCoco(join(dir, 'annotations.json'));
  const pixels = new Uint8Array(coco.images.length * size * size * 3);
  const index = new Map(coco.images.map((im, i) => [im.id, i]));
  const boxes: number[][] = coco.images.map(() => []);
  const labels: number[][] = coco.images.map(() => []);
  for (const [i, im] of coco.images.entries()) {
    const px = await decodePixels(join(dir, 'images', im.file_name), { channels: 3 });
    pixels.set(px.data, i * size * size * 3);
  }
  for (const a of coco.annotations) {
    const i = index.get(a.image_id)!;
    const [x, y, w, h] = a.bbox;
    boxes[i].push(x, y, x + w, y + h);
    labels[i].push(a.category_id - 1);
  }
  return { dir, coco, pixels, boxes, labels };
}

const t0 = performance.now();
const train = await scenes('train', trainCount, 1, 'train');
const val = await scenes('val', valCount, 2, 'test');
const C = SCENE_CLASSES.length;
const detector = new FcosDetector({ numClasses: C, imageSize: [size, size], classNames: [...SCENE_CLASSES] });
const P = detector.numPoints;
console.log(
  `${trainCount} training and ${valCount} held-out scenes (${((performance.now() - t0) / 1000).toFixed(1)} s); ${detector.model.countParams()} parameters, ${P} points`,
);

/** Batches of [images 0..1, targets], reshuffled every epoch, half of the images mirrored left-right. */
function batches(split: Split): AsyncIterable<[Tensor, Tensor]> {
  const n = split.boxes.length,
    pixelsPer = size * size * 3,
    D = C + 6;
  return {
    async *[Symbol.asyncIterator]() {
      const order = Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      for (let b = 0; b + batchSize <= n; b += batchSize) {
        const x = new Float32Array(batchSize * pixelsPer);
        const y = new Float32Array(batchSize * P * D);
        for (let k = 0; k < batchSize; k++) {
          const i = order[b + k];
          const src = split.pixels.subarray(i * pixelsPer, (i + 1) * pixelsPer);
          const flip = Math.random() < 0.5;
          const dst = k * pixelsPer;
          for (let r = 0; r < size; r++)
            for (let c = 0; c < size; c++) {
              const from = (r * size + (flip ? size - 1 - c : c)) * 3,
                to = dst + (r * size + c) * 3;
              x[to] = src[from] / 255;
              x[to + 1] = src[from + 1] / 255;
              x[to + 2] = src[from + 2] / 255;
            }
          const bx = split.boxes[i].slice();
          if (flip) for (let o = 0; o < bx.length; o += 4) [bx[o], bx[o + 2]] = [size - bx[o + 2], size - bx[o]];
          detector.targets(bx, split.labels[i], y, k * P * D);
        }
        yield [tensor(x, { shape: [batchSize, size, size, 3] }), tensor(y, { shape: [batchSize, P, D] })];
      }
    },
  };
}

const stepsPerEpoch = Math.floor(trainCount / batchSize);
detector.model.compile({
  optimizer: optimizers.Adam({ learningRate: cosineDecay({ initial: 2e-3, decaySteps: epochs * stepsPerEpoch }) }),
  loss: fcosLoss(C),
});
const tTrain = performance.now();
await detector.model.fit(batches(train), { epochs, stepsPerEpoch, verbose: 2 });
const trainSeconds = (performance.now() - tTrain) / 1000;
console.log(
  `trained ${epochs} epochs in ${trainSeconds.toFixed(0)} s (${((epochs * stepsPerEpoch * batchSize) / trainSeconds).toFixed(1)} img/s)`,
);

// Held-out evaluation: the whole split through predict, decoded per image.
const xVal = new Float32Array(val.pixels.length);
for (let i = 0; i < xVal.length; i++) xVal[i] = val.pixels[i] / 255;
const heads = (await detector.model.predict(tensor(xVal, { shape: [valCount, size, size, 3] }), {
  batchSize: 64,
  verbose: 0,
})) as Tensor;
const perImage = P * (C + 5);
const detections: CocoDetection[] = [];
const firstImage: ReturnType<typeof decodeFcos> = [];
val.coco.images.forEach((im, i) => {
  const found = decodeFcos(
    (heads.data as Float32Array).subarray(i * perImage, (i + 1) * perImage),
    detector.levels,
    C,
    [size, size],
  );
  if (i === 0) firstImage.push(...found);
  detections.push(...cocoResults(im.id, found));
});
// The pycocotools-exact COCO numbers, plus PR curves and the confusion matrix for the studio.
const report = detectionReport(val.coco, detections);
const summary = report.metrics;

const out = join('artifacts', 'detect-shapes');
await mkdir(out, { recursive: true });
await detector.save(join(out, 'model'));
const png = await drawDetections(
  { data: val.pixels.subarray(0, size * size * 3), width: size, height: size },
  firstImage.filter((d) => d.score >= 0.5).map((d) => ({ ...d })),
  { classNames: SCENE_CLASSES, scale: 4 },
);
await writeFile(join(out, 'detections.png'), png);
if (register) {
  const registry = openRegistry();
  const m = await registry.registerModel(join(out, 'model'), {
    name: register,
    metrics: { map: summary.map, map50: summary.map50 },
  });
  const id = registry.recordEvaluation(report, {
    model: m.name,
    version: m.version,
    dataset: join(val.dir, 'annotations.json'),
  });
  console.log(`registered ${m.name}@${m.version} with evaluation ${id}: lepton studio, then /models/${m.name}`);
}
console.log(
  `held-out: AP ${summary.map.toFixed(3)}, AP50 ${summary.map50.toFixed(3)}, AP75 ${summary.map75.toFixed(3)}, AR100 ${summary.ar100.toFixed(3)}; model and detections.png in ${out}; total ${((performance.now() - t0) / 1000).toFixed(0)} s`,
);
console.log(`map=${summary.map.toFixed(4)} map50=${summary.map50.toFixed(4)}`);
