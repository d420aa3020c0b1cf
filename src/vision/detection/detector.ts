/**
 * An FCOS-style anchor-free single-stage detector (Tian et al., 2019) built from Lepton's Keras
 * layers: a small CNN backbone (conv-BN-ReLU stages, each halving the resolution), a light FPN neck
 * (1×1 laterals, nearest-neighbour top-down additions, 3×3 smoothing) over 2–3 levels, and heads
 * shared by every level (a classification tower ending in per-class logits; a regression tower
 * ending in 4 box distances and a centerness logit). The model has ONE output, [B, P, C + 5]: the
 * heads of all levels flattened row-major and concatenated level by level, in the point order of
 * `pyramidPoints`; per point the C class logits, the 4 log-distances (left, top, right, bottom, in
 * strides) and the centerness logit.
 *
 * Training is an ordinary `fit` with `fcosLoss` (focal loss + centerness-weighted GIoU +
 * centerness BCE, each normalised over the batch's positives) against targets packed by
 * `FcosDetector.targets` ([P, C + 6]: one-hot class, ltrb in strides, centerness, positive flag).
 * Decoding (`decodeFcos`) is torchvision's FCOS postprocessing: score = sqrt(σ(class)·σ(centerness)),
 * score threshold, top-k candidates, ltrb → xyxy, clipping, batched class-aware NMS, maxDetections.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Concatenate,
  Conv2D,
  type KerasTensor,
  Model,
  ReLU,
  Reshape,
  Add as AddLayer,
  BatchNormalization,
  UpSampling2D,
  add,
  clip,
  concat,
  initializers,
  div,
  toOnnx,
  exp,
  input,
  loadModel,
  maximum,
  minimum,
  sigmoid,
  sqrt,
  permute,
  model as functionalModel,
  mul,
  neg,
  reshape,
  softplus,
  split,
  sub,
  sum,
  tensor,
  type Tensor,
} from '../../index.js';
import type { BackboneFeatures } from '../segmentation/unet.js';
import { nms } from '../boxes/nms.js';
import { nonMaxSuppression } from '../boxes/nms-op.js';
import { iouLoss } from '../boxes/ops.js';
import { sigmoidFocalLoss } from '../losses.js';
import { type PyramidLevel, assignFcosTargets, pyramidLevels, pyramidPoints } from './fcos.js';

/** The architecture and target assignment of an FCOS detector (saved as detector.json). */
export interface FcosConfig {
  /** Object classes (labels 0 … numClasses − 1). */
  numClasses: number;
  /** Input size [height, width]; both multiples of the largest stride. */
  imageSize: [number, number];
  /** Channels of the backbone stages at strides 2, 4, 8, 16, 32 (default [16, 32, 64, 96, 128]). */
  widths?: number[];
  /** Strides of the pyramid levels the heads run on (a subset of 8, 16, 32; default [8, 16, 32]). */
  strides?: number[];
  /** Object size bounds between levels (largest point-to-side distance, pixels; default [32, 64]). */
  sizeBounds?: number[];
  /** Channels of the FPN and the heads (default 64). */
  fpnChannels?: number;
  /** 3×3 conv+ReLU layers in each head tower before its last conv (default 1). */
  headConvs?: number;
  /** Centre-sampling radius in strides (default 1.5). */
  centerRadius?: number;
  /** Momentum of the backbone's BatchNormalization moving statistics (default 0.99, Keras). */
  batchNormMomentum?: number;
  /** Class names (default 'class0', …). */
  classNames?: string[];
  /**
   * A backbone in place of the built-in conv stages: any function from the image tensor to
   * feature maps with their strides (`featureBackbone(resnet18, { strides: [8, 16, 32] })`,
   * `onnxBackbone(bytes, { outputs })`); it must give a map at every stride in `strides`. Not
   * saved in detector.json: a saved detector reloads its model from the folder.
   */
  backbone?: (image: KerasTensor) => BackboneFeatures;
}

export type ResolvedFcosConfig = Required<Omit<FcosConfig, 'backbone'>> & Pick<FcosConfig, 'backbone'>;

/** One detected object, as torchvision's detection models report them. */
export interface Detection {
  /** xyxy in the image's pixels. */
  box: [number, number, number, number];
  /** Class index (into the detector's classNames). */
  label: number;
  /** sqrt(σ(class logit) · σ(centerness logit)), in (0, 1). */
  score: number;
}

/** Postprocessing of head outputs into detections (torchvision FCOS defaults). */
export interface DecodeOptions {
  /** Drop candidates scoring below this (default 0.05, torchvision). */
  scoreThreshold?: number;
  /** Candidates kept before NMS, by score (default 1000). */
  topK?: number;
  /** Class-aware NMS IoU threshold (default 0.6, torchvision's FCOS). */
  iouThreshold?: number;
  /** Detections kept per image (default 100). */
  maxDetections?: number;
}

const STAGE_STRIDES = [2, 4, 8, 16, 32];

/** Fills defaults and checks a detector configuration. */
export function resolveFcosConfig(config: FcosConfig): ResolvedFcosConfig {
  const c: ResolvedFcosConfig = {
    widths: [16, 32, 64, 96, 128],
    strides: [8, 16, 32],
    fpnChannels: 64,
    headConvs: 1,
    centerRadius: 1.5,
    batchNormMomentum: 0.99,
    classNames: Array.from({ length: config.numClasses }, (_, i) => `class${i}`),
    ...config,
    sizeBounds: config.sizeBounds ?? [32, 64].slice(0, (config.strides ?? [8, 16, 32]).length - 1),
  };
  if (!(Number.isInteger(c.numClasses) && c.numClasses > 0))
    throw new Error(`FcosDetector: numClasses must be a positive integer, got ${c.numClasses}`);
  if (c.widths.length !== STAGE_STRIDES.length)
    throw new Error(
      `FcosDetector: widths needs ${STAGE_STRIDES.length} stage widths (strides 2..32), got ${c.widths.length}`,
    );
  const sorted = [...c.strides].sort((a, b) => a - b);
  if (
    c.strides.length < 1 ||
    c.strides.some((s, i) => s !== sorted[i] || ![8, 16, 32].includes(s)) ||
    new Set(c.strides).size !== c.strides.length
  )
    throw new Error(`FcosDetector: strides must be increasing values from 8, 16, 32, got [${c.strides.join(', ')}]`);
  const top = c.strides[c.strides.length - 1];
  if (!c.imageSize.every((v) => Number.isInteger(v) && v > 0 && v % top === 0))
    throw new Error(
      `FcosDetector: imageSize [${c.imageSize.join(', ')}] must be positive multiples of the largest stride ${top}`,
    );
  if (c.sizeBounds.length !== c.strides.length - 1)
    throw new Error(
      `FcosDetector: ${c.strides.length} levels need ${c.strides.length - 1} sizeBounds, got ${c.sizeBounds.length}`,
    );
  if (c.classNames.length !== c.numClasses)
    throw new Error(`FcosDetector: ${c.classNames.length} classNames for ${c.numClasses} classes`);
  return c;
}

/** Builds the Keras functional model of an FCOS detector (input [H, W, 3] in 0..1, output [P, C + 5]). */
export function buildFcosModel(config: FcosConfig): Model {
  const c = resolveFcosConfig(config);
  const [H, W] = c.imageSize;
  const F = c.fpnChannels;
  const x0 = input({ shape: [H, W, 3], name: 'image' });
  const cbr = (x: KerasTensor, ch: number, stride: number): KerasTensor => {
    const y = new Conv2D(ch, 3, { strides: stride, padding: 'same', useBias: false }).apply(x) as KerasTensor;
    return new ReLU().apply(
      new BatchNormalization({ momentum: c.batchNormMomentum }).apply(y) as KerasTensor,
    ) as KerasTensor;
  };
  // Backbone: one strided conv and one plain conv per stage, or the given one.
  const features = new Map<number, KerasTensor>();
  if (c.backbone) {
    const b = c.backbone(x0);
    b.strides.forEach((s, i) => features.set(s, b.features[i]));
    const missing = c.strides.filter((s) => !features.has(s));
    if (missing.length)
      throw new Error(
        `FcosDetector: the backbone gives feature maps at strides [${b.strides.join(', ')}], not at [${missing.join(', ')}] (levels [${c.strides.join(', ')}])`,
      );
  } else {
    let x = x0;
    STAGE_STRIDES.forEach((s, i) => {
      x = cbr(x, c.widths[i], 2);
      if (s > 2) x = cbr(x, c.widths[i], 1);
      features.set(s, x);
    });
  }
  // FPN: laterals from the deepest requested level down; the top level also sees stride 32 when it stops earlier.
  const levels = [...c.strides].reverse();
  const lateral = (s: number) => new Conv2D(F, 1).apply(features.get(s)!) as KerasTensor;
  const merged: KerasTensor[] = [];
  let above: KerasTensor | undefined;
  for (const s of levels) {
    let p = lateral(s);
    if (above) p = new AddLayer().apply([p, new UpSampling2D(2).apply(above) as KerasTensor]) as KerasTensor;
    above = p;
    merged.unshift(new Conv2D(F, 3, { padding: 'same' }).apply(p) as KerasTensor);
  }
  // Shared heads: the same layer objects run on every level.
  const tower = () =>
    Array.from({ length: c.headConvs }, () => new Conv2D(F, 3, { padding: 'same', activation: 'relu' }));
  const clsTower = tower(),
    regTower = tower();
  // RetinaNet's prior: background-dominated logits at the start keep the focal loss stable.
  const prior = 0.01;
  const clsOut = new Conv2D(c.numClasses, 3, {
    padding: 'same',
    biasInitializer: initializers.constant(-Math.log((1 - prior) / prior)),
  });
  const regOut = new Conv2D(4, 3, { padding: 'same' });
  const ctrOut = new Conv2D(1, 3, { padding: 'same' });
  const perLevel = merged.map((p, i) => {
    const run = (layers: Conv2D[]) => layers.reduce((t, l) => l.apply(t) as KerasTensor, p);
    const ct = run(clsTower),
      rt = run(regTower);
    const head = new Concatenate({ axis: -1 }).apply([
      clsOut.apply(ct) as KerasTensor,
      regOut.apply(rt) as KerasTensor,
      ctrOut.apply(rt) as KerasTensor,
    ]) as KerasTensor;
    const s = c.strides[i];
    return new Reshape([(H / s) * (W / s), c.numClasses + 5]).apply(head) as KerasTensor;
  });
  const out = perLevel.length === 1 ? perLevel[0] : (new Concatenate({ axis: 1 }).apply(perLevel) as KerasTensor);
  return functionalModel({ inputs: x0, outputs: out, name: 'fcos' });
}

/** Largest log-distance fed to exp (e^10 strides is far beyond any image): keeps early steps finite. */
const MAX_LOG_DISTANCE = 10;

/**
 * The FCOS loss as a Keras loss function for `compile` (yTrue [B, P, C + 6] from
 * `FcosDetector.targets`, yPred the model's [B, P, C + 5]): sum of focal loss (α 0.25, γ 2) over
 * all points and classes / positives, GIoU loss over positives weighted by the centerness target /
 * Σ centerness targets, and centerness BCE over positives / positives. Normalisers are over the
 * whole batch (clamped to ≥ 1 positive), so the value is the same in every row of the returned [B].
 */
export function fcosLoss(numClasses: number): (yTrue: Tensor, yPred: Tensor) => Tensor {
  const C = numClasses;
  return (yTrue: Tensor, yPred: Tensor): Tensor => {
    if (yPred.rank !== 3 || yPred.shape[2] !== C + 5 || yTrue.rank !== 3 || yTrue.shape[2] !== C + 6)
      throw new Error(
        `fcosLoss: expected predictions [B, P, ${C + 5}] and targets [B, P, ${C + 6}] for ${C} classes, got ${yPred.dtype} [${yPred.shape.join(', ')}] and ${yTrue.dtype} [${yTrue.shape.join(', ')}]`,
      );
    const [clsT, ltrbT, ctrT, pos] = split(yTrue, [C, 4, 1, 1], -1);
    const [clsP, regP, ctrP] = split(yPred, [C, 4, 1], -1);
    const numPos = maximum(sum(pos), 1);
    const focal = div(sum(sigmoidFocalLoss(clsP, clsT)), numPos);
    // Both boxes are relative to the same point, so IoU needs no point coordinates: (−l, −t, r, b).
    const ltrbP = exp(clip(regP, undefined, MAX_LOG_DISTANCE));
    const asBox = (d: Tensor) => {
      const [lt, rb] = split(d, 2, -1);
      return concat([neg(lt), rb], -1);
    };
    const giou = iouLoss(asBox(ltrbP), asBox(ltrbT), 'giou', { reduction: 'none' });
    const weight = mul(ctrT, pos);
    const giouSum = sum(mul(giou.rank === weight.rank ? giou : reshape(giou, weight.shape as number[]), weight));
    const reg = div(giouSum, maximum(sum(weight), 1e-6));
    // BCE with logits: softplus(x) − x·t.
    const bce = sub(softplus(ctrP), mul(ctrP, ctrT));
    const ctr = div(sum(mul(bce, pos)), numPos);
    const total = add(add(focal, reg), ctr);
    // One value per row (what a Keras loss returns); the batch mean is `total`.
    return add(mul(sum(pos, [1, 2]), 0), total);
  };
}

/**
 * torchvision-style FCOS postprocessing for one image's head output [P * (C + 5)] (row-major) at
 * the given levels → detections in input pixels, highest score first.
 */
export function decodeFcos(
  head: ArrayLike<number>,
  levels: readonly PyramidLevel[],
  numClasses: number,
  imageSize: [number, number],
  options: DecodeOptions = {},
): Detection[] {
  const { points, strides } = pyramidPoints(levels);
  const P = strides.length,
    C = numClasses,
    D = C + 5;
  if (head.length !== P * D)
    throw new Error(`decodeFcos: expected ${P} points × ${D} values = ${P * D}, got ${head.length}`);
  const threshold = options.scoreThreshold ?? 0.05;
  const topK = options.topK ?? 1000;
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  const cand: { p: number; c: number; score: number }[] = [];
  for (let p = 0; p < P; p++) {
    const ctr = sig(head[p * D + C + 4]);
    for (let c = 0; c < C; c++) {
      const score = Math.sqrt(sig(head[p * D + c]) * ctr);
      if (score > threshold) cand.push({ p, c, score });
    }
  }
  cand.sort((a, b) => b.score - a.score || a.p - b.p || a.c - b.c);
  cand.length = Math.min(cand.length, topK);
  const [H, W] = imageSize;
  const boxes = new Float32Array(cand.length * 4);
  cand.forEach(({ p }, i) => {
    const s = strides[p],
      px = points[p * 2],
      py = points[p * 2 + 1];
    const d = (k: number) => Math.exp(Math.min(head[p * D + C + k], MAX_LOG_DISTANCE)) * s;
    boxes[i * 4] = Math.min(Math.max(px - d(0), 0), W);
    boxes[i * 4 + 1] = Math.min(Math.max(py - d(1), 0), H);
    boxes[i * 4 + 2] = Math.min(Math.max(px + d(2), 0), W);
    boxes[i * 4 + 3] = Math.min(Math.max(py + d(3), 0), H);
  });
  const keep = nms(
    boxes,
    cand.map((c) => c.score),
    {
      iouThreshold: options.iouThreshold ?? 0.6,
      classes: cand.map((c) => c.c),
      maxOutput: options.maxDetections ?? 100,
    },
  );
  return Array.from(keep, (i) => ({
    box: [boxes[i * 4], boxes[i * 4 + 1], boxes[i * 4 + 2], boxes[i * 4 + 3]] as [number, number, number, number],
    label: cand[i].c,
    score: cand[i].score,
  }));
}

/** An RGB image: row-major H×W×3 bytes. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** A detector: the Keras model, its configuration, target packing, decoding, save and load. */
export class FcosDetector {
  /** The configuration with its defaults filled in. */
  readonly config: ResolvedFcosConfig;
  /** The Keras model (input [H, W, 3] in 0..1, output [P, C + 5]): compile and fit it. */
  readonly model: Model;
  /** The pyramid levels of the input size (points, strides, size ranges). */
  readonly levels: PyramidLevel[];

  constructor(config: FcosConfig, model?: Model) {
    this.config = resolveFcosConfig(config);
    this.model = model ?? buildFcosModel(this.config);
    const [H, W] = this.config.imageSize;
    this.levels = pyramidLevels(H, W, this.config.strides, this.config.sizeBounds);
  }

  /** Points of all levels (P). */
  get numPoints(): number {
    return this.levels.reduce((s, l) => s + l.height * l.width, 0);
  }

  /**
   * Training targets of one image, [P * (C + 6)] row-major: one-hot class, ltrb distances in
   * strides, centerness, positive flag. Boxes are xyxy in input pixels.
   */
  targets(boxes: ArrayLike<number>, labels: ArrayLike<number>, out?: Float32Array, offset = 0): Float32Array {
    const C = this.config.numClasses,
      D = C + 6;
    const t = assignFcosTargets(this.levels, boxes, labels, { centerRadius: this.config.centerRadius });
    const P = t.labels.length;
    const dst = out ?? new Float32Array(P * D);
    dst.fill(0, offset, offset + P * D);
    for (let p = 0; p < P; p++) {
      const c = t.labels[p];
      if (c < 0) continue;
      if (!(Number.isInteger(c) && c < C)) throw new Error(`FcosDetector.targets: label ${c} is not in [0, ${C})`);
      const o = offset + p * D;
      dst[o + c] = 1;
      for (let k = 0; k < 4; k++) dst[o + C + k] = t.boxTargets[p * 4 + k];
      dst[o + C + 4] = t.centerness[p];
      dst[o + C + 5] = 1;
    }
    return dst;
  }

  /** The image as the model's input [1, H, W, 3] (0..1), resized (stretched) when its size differs. */
  async input(image: RgbImage): Promise<{ x: Tensor; sx: number; sy: number }> {
    const [H, W] = this.config.imageSize;
    if (image.data.length !== image.width * image.height * 3)
      throw new Error(
        `FcosDetector: expected ${image.width}x${image.height}x3 RGB bytes (${image.width * image.height * 3}), got ${image.data.length}`,
      );
    let data = image.data;
    if (image.width !== W || image.height !== H) {
      const sharp = (await import('sharp')).default;
      data = new Uint8Array(
        await sharp(Buffer.from(image.data), { raw: { width: image.width, height: image.height, channels: 3 } })
          .resize(W, H, { fit: 'fill' })
          .raw()
          .toBuffer(),
      );
    }
    const x = new Float32Array(H * W * 3);
    for (let i = 0; i < x.length; i++) x[i] = data[i] / 255;
    return { x: tensor(x, { shape: [1, H, W, 3] }), sx: image.width / W, sy: image.height / H };
  }

  /** Detections in the image's own pixels, like torchvision's detection models ({box, label, score}). */
  async detect(image: RgbImage, options: DecodeOptions = {}): Promise<Detection[]> {
    return (await this.detectBatch([image], options))[0];
  }

  /** `detect` on several images with one model call (e.g. consecutive video frames). */
  async detectBatch(images: readonly RgbImage[], options: DecodeOptions = {}): Promise<Detection[][]> {
    if (images.length === 0) return [];
    const [H, W] = this.config.imageSize;
    const inputs = await Promise.all(images.map((im) => this.input(im)));
    const per = H * W * 3;
    const x = new Float32Array(images.length * per);
    inputs.forEach((inp, i) => x.set(inp.x.data as Float32Array, i * per));
    const y = (await this.model.predict(tensor(x, { shape: [images.length, H, W, 3] }), {
      batchSize: images.length,
      verbose: 0,
    })) as Tensor;
    const out = y.data as Float32Array;
    const size = out.length / images.length;
    return inputs.map(({ sx, sy }, i) =>
      decodeFcos(
        out.subarray(i * size, (i + 1) * size),
        this.levels,
        this.config.numClasses,
        this.config.imageSize,
        options,
      ).map((d) => ({ ...d, box: [d.box[0] * sx, d.box[1] * sy, d.box[2] * sx, d.box[3] * sy] })),
    );
  }

  /**
   * The postprocessing as graph ops, for exported files: the model's output [B, P, C + 5] →
   * `boxes` [B, P, 4] (xyxy input pixels, clipped), `scores` [B, C, P] (sqrt(σ(class)·σ(centerness)))
   * and `selected` int64 [S, 3] rows (batch, class, point) kept by per-class NMS (ONNX
   * NonMaxSuppression) among scores above the threshold. That is `decodeFcos` without its top-k
   * candidate cut and its cap on detections per image (ONNX's NMS caps per class).
   */
  postprocess(
    head: Tensor,
    options: Omit<DecodeOptions, 'topK'> = {},
  ): { boxes: Tensor; scores: Tensor; selected: Tensor } {
    const C = this.config.numClasses;
    const [H, W] = this.config.imageSize;
    const { points, strides } = pyramidPoints(this.levels);
    const P = strides.length;
    const [cls, reg, ctr] = split(head, [C, 4, 1], -1);
    const scores = permute(sqrt(mul(sigmoid(cls), sigmoid(ctr))), [0, 2, 1]);
    const distances = mul(exp(minimum(reg, MAX_LOG_DISTANCE)), tensor(strides, { shape: [P, 1] }));
    const centres = new Float32Array(P * 4);
    for (let p = 0; p < P; p++)
      centres.set([points[2 * p], points[2 * p + 1], points[2 * p], points[2 * p + 1]], p * 4);
    // x1 = px − l, y1 = py − t, x2 = px + r, y2 = py + b, then clipped to the image.
    const corners = add(tensor(centres, { shape: [P, 4] }), mul(distances, tensor([-1, -1, 1, 1])));
    const boxes = minimum(maximum(corners, 0), tensor([W, H, W, H]));
    const selected = nonMaxSuppression(boxes, scores, {
      iouThreshold: options.iouThreshold ?? 0.6,
      scoreThreshold: options.scoreThreshold ?? 0.05,
      maxOutputPerClass: options.maxDetections ?? 100,
    });
    return { boxes, scores, selected };
  }

  /**
   * Writes an ONNX file that runs the whole detector, NMS included: input `image` [B, H, W, 3]
   * (0..1), outputs `boxes`, `scores` and `selected` as in `postprocess` — any ONNX runtime turns
   * an image into detections with no Lepton code (standard operators only).
   */
  async exportOnnx(path: string, options: Omit<DecodeOptions, 'topK'> = {}): Promise<void> {
    const [H, W] = this.config.imageSize;
    await toOnnx(
      (x: Tensor) => {
        const { boxes, scores, selected } = this.postprocess(
          this.model.apply(x, { training: false }) as Tensor,
          options,
        );
        return [boxes, scores, selected];
      },
      [{ shape: ['batch', H, W, 3], dtype: 'float32', name: 'image' }],
      { path, target: 'portable', outputNames: ['boxes', 'scores', 'selected'] },
    );
  }

  /** Saves the model folder (model.onnx, weights, config) plus `detector.json` with this configuration. */
  async save(dir: string): Promise<void> {
    await this.model.save(dir, { labels: this.config.classNames });
    await mkdir(dir, { recursive: true });
    const { backbone: _, ...config } = this.config;
    await writeFile(join(dir, 'detector.json'), JSON.stringify({ kind: 'fcos', ...config }, null, 2));
  }

  /** Loads a detector saved by `save`. */
  static async load(dir: string): Promise<FcosDetector> {
    let config: FcosConfig & { kind?: string };
    try {
      config = JSON.parse(await readFile(join(dir, 'detector.json'), 'utf8'));
    } catch (e) {
      throw new Error(
        `FcosDetector.load: ${dir} has no readable detector.json (${(e as Error).message}); is it a folder saved by FcosDetector.save?`,
      );
    }
    if (config.kind !== 'fcos') throw new Error(`FcosDetector.load: ${dir}/detector.json is not an FCOS detector`);
    const { kind: _, ...rest } = config;
    return new FcosDetector(rest, await loadModel(dir));
  }
}
