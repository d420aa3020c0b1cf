/**
 * A model version loaded for serving: its folder's config and signature, one ONNX Runtime session
 * per worker thread, and a batcher in front of them. Also turns requests (JSON tensors, images)
 * into feeds and outputs into responses (with labels and top-k classes where the model has labels).
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { HostTensor } from '../engine/onnx/proto.js';
import type { OrtWorker, RemoteSession } from '../engine/runtime/pool.js';
import type { SessionOptions } from '../engine/runtime/session.js';
import {
  type ImagePreprocessing,
  type ModelConfig,
  type ModelSignature,
  formatShape,
  readModelFolder,
} from '../registry/model-folder.js';
import { Batcher, type Feeds, type Outputs } from './batcher.js';
import { preprocessPixelBatch } from '../data/image.js';
import { argmaxClasses, classMapToRle } from '../vision/index.js';
import { MAX_INPUT_PIXELS, imagePreprocessing } from './image.js';
import type { ServerMetrics } from './metrics.js';
import { type ParseLimits, RequestError, parseTensor, toNested } from './tensors.js';

export interface BatchingOptions {
  maxBatchSize: number;
  maxWaitMs: number;
}

export interface LoadModelOptions {
  name?: string;
  version?: number;
  workers: OrtWorker[];
  batching: BatchingOptions;
  session?: SessionOptions;
  metrics?: ServerMetrics;
}

export interface ClassScore {
  label: string;
  index: number;
  probability: number;
}

export interface Prediction {
  label: string;
  index: number;
  probability: number;
  top: ClassScore[];
}

export class ServedModel {
  private constructor(
    readonly name: string,
    readonly version: number,
    readonly dir: string,
    readonly config: ModelConfig,
    readonly image: ImagePreprocessing | undefined,
    private readonly sessions: RemoteSession[],
    readonly batcher: Batcher,
    readonly loadedAt: Date,
  ) {}

  static async load(dir: string, options: LoadModelOptions): Promise<ServedModel> {
    const folder = await readModelFolder(dir);
    // A served folder is named after the folder (the issue's rule), unless a name is given.
    const name = options.name ?? basename(folder.dir);
    const version = options.version ?? 1;
    const bytes = new Uint8Array(await readFile(folder.onnxPath));
    const sessions = await Promise.all(
      options.workers.map((w) => w.load(bytes, options.session ?? {}, `model '${name}' v${version}`)),
    );
    const sig = folder.config.signature;
    const batchable =
      sig.inputs.every((t) => t.shape.length > 0 && t.shape[0] === null) &&
      sig.outputs.every((t) => t.shape.length > 0 && t.shape[0] === null);
    const labels = { model: name, version: String(version) };
    const metrics = options.metrics;
    const outputNames = sessions[0].outputNames;
    const batcher = new Batcher(
      async (feeds, slot) => {
        const t0 = performance.now();
        try {
          return await sessions[slot].run(feeds, outputNames);
        } finally {
          metrics?.inferenceSeconds.observe(labels, (performance.now() - t0) / 1000);
        }
      },
      { ...options.batching, slots: sessions.length, onBatch: (rows) => metrics?.batchSize.observe(labels, rows) },
      batchable,
    );
    const image = sig.inputs.length === 1 ? imagePreprocessing(folder.config.preprocessing, sig.inputs[0]) : undefined;
    return new ServedModel(name, version, folder.dir, folder.config, image, sessions, batcher, new Date());
  }

  get signature(): ModelSignature {
    return this.config.signature;
  }

  get labels(): string[] | undefined {
    return Array.isArray(this.config.labels) ? this.config.labels : undefined;
  }

  /**
   * Feeds from a JSON body's `inputs`: a nested array (single-input models) or {name: nested}.
   * For image models the array holds pixels (0..255, [batch, H, W, C] or [batch, H, W], any size)
   * and gets the model's saved preprocessing, exactly like an uploaded image; `preprocessed: true`
   * sends model-ready tensors instead (checked against the signature, used as they are).
   */
  async feedsFromJson(
    inputs: unknown,
    limits: ParseLimits,
    options: { preprocessed?: boolean } = {},
  ): Promise<{ feeds: Feeds; rows: number }> {
    if (this.image && !options.preprocessed && inputs !== undefined)
      return this.feedsFromPixels(inputs, this.image, limits);
    return this.tensorFeeds(inputs, limits);
  }

  private async feedsFromPixels(
    inputs: unknown,
    pre: ImagePreprocessing,
    limits: ParseLimits,
  ): Promise<{ feeds: Feeds; rows: number }> {
    const sig = this.signature.inputs[0];
    const value =
      Array.isArray(inputs) || typeof inputs !== 'object' || inputs === null
        ? inputs
        : (inputs as Record<string, unknown>)[sig.name];
    if (value === undefined)
      throw new RequestError(
        400,
        `inputs: expected pixels for '${sig.name}' ({"inputs": [[[...]]]} or {"inputs": {"${sig.name}": ...}})`,
      );
    // The received rank decides between [batch, H, W] (one channel) and [batch, H, W, C].
    let rank = 0;
    for (let v = value; Array.isArray(v) && rank < 5; v = v[0]) rank++;
    const rank3 = rank === 3 && pre.channels === 1;
    const shape = rank3 ? [null, null, null] : [null, null, null, pre.channels];
    const pixelSig = { name: sig.name, shape, dtype: 'float32' as const };
    const expected = `pixels [batch, height, width, ${pre.channels}]${pre.channels === 1 ? ' or [batch, height, width]' : ''} with values 0..255 (or "preprocessed": true with model-ready ${formatShape(sig.shape)} tensors)`;
    let t: HostTensor;
    try {
      t = parseTensor(value, pixelSig, limits);
    } catch (e) {
      if (e instanceof RequestError && e.statusCode === 400)
        throw new RequestError(400, `${e.message}; this image model takes ${expected}`);
      throw e;
    }
    const px = t.data as Float32Array;
    for (let i = 0; i < px.length; i++) {
      if (px[i] < 0 || px[i] > 255)
        throw new RequestError(
          400,
          `inputs.${sig.name}: pixel values must lie in 0..255, received ${px[i]}; this image model takes ${expected}`,
        );
    }
    if (t.shape[1] * t.shape[2] > MAX_INPUT_PIXELS)
      throw new RequestError(
        413,
        `inputs.${sig.name}: ${t.shape[1]}×${t.shape[2]} pixels exceed the limit of ${MAX_INPUT_PIXELS}`,
      );
    const tensor = await preprocessPixelBatch(t as { shape: number[]; data: Float32Array }, pre);
    return { feeds: { [sig.name]: tensor }, rows: t.shape[0] };
  }

  private tensorFeeds(inputs: unknown, limits: ParseLimits): { feeds: Feeds; rows: number } {
    const sigs = this.signature.inputs;
    if (inputs === undefined)
      throw new RequestError(400, `body: missing "inputs" (expected ${sigs.map((s) => `'${s.name}'`).join(', ')})`);
    let byName: Record<string, unknown>;
    if (Array.isArray(inputs) || typeof inputs !== 'object' || inputs === null) {
      if (sigs.length !== 1)
        throw new RequestError(
          400,
          `inputs: this model has ${sigs.length} inputs (${sigs.map((s) => s.name).join(', ')}); send {"inputs": {"<name>": ...}}`,
        );
      byName = { [sigs[0].name]: inputs };
    } else {
      byName = inputs as Record<string, unknown>;
      const unknown = Object.keys(byName).filter((k) => !sigs.some((s) => s.name === k));
      if (unknown.length)
        throw new RequestError(
          400,
          `inputs: unknown input ${unknown.map((k) => `'${k}'`).join(', ')} (the model's inputs: ${sigs.map((s) => s.name).join(', ')})`,
        );
    }
    const feeds: Feeds = {};
    for (const s of sigs) {
      if (!(s.name in byName))
        throw new RequestError(
          400,
          `inputs.${s.name}: missing (expected shape [${s.shape.map((d) => d ?? 'batch').join(', ')}] ${s.dtype})`,
        );
      feeds[s.name] = parseTensor(byName[s.name], s, limits);
    }
    return { feeds, rows: this.checkRows(feeds) };
  }

  checkRows(feeds: Feeds): number {
    const rows = Object.values(feeds).map((t) => (t.shape.length ? t.shape[0] : 1));
    if (rows.some((r) => r !== rows[0])) {
      throw new RequestError(
        400,
        `inputs: all inputs must have the same batch size, received ${Object.entries(feeds)
          .map(([n, t]) => `${n}: ${t.shape[0]}`)
          .join(', ')}`,
      );
    }
    return rows[0] ?? 1;
  }

  predict(feeds: Feeds, rows: number): Promise<Outputs> {
    return this.batcher.submit(feeds, rows);
  }

  /**
   * For a segmentation model (an image input and one output of per-pixel scores [N, H, W, K] at
   * the input's size): that output's name and K.
   */
  get segmentation(): { output: string; classes: number } | undefined {
    const out = this.signature.outputs;
    const img = this.image;
    if (!img || out.length !== 1) return undefined;
    const [, h, w, k] = out[0].shape;
    return out[0].shape.length === 4 && h === img.height && w === img.width && typeof k === 'number' && k >= 2
      ? { output: out[0].name, classes: k }
      : undefined;
  }

  /** Per-pixel argmax of a segmentation model's output row: the class map [H × W]. */
  classMap(outputs: Outputs, row: number): Uint8Array {
    const seg = this.segmentation!;
    const t = outputs[seg.output];
    const per = (t.shape[1] as number) * (t.shape[2] as number) * seg.classes;
    return argmaxClasses((t.data as Float32Array).subarray(row * per, (row + 1) * per), seg.classes);
  }

  /** The response body: outputs (as the request's structure) + predictions with labels. */
  respond(outputs: Outputs, topK: number): Record<string, unknown> {
    const seg = this.segmentation;
    if (seg) {
      // Per-pixel scores would be H·W·K numbers per image: answer with the masks instead (COCO RLE per class).
      const [rows, h, w] = outputs[seg.output].shape as number[];
      const labels = this.labels?.length === seg.classes ? this.labels : undefined;
      return {
        model: this.name,
        version: this.version,
        segmentation: Array.from({ length: rows }, (_, r) => ({
          width: w,
          height: h,
          masks: classMapToRle(this.classMap(outputs, r), h, w, seg.classes).map((m) => ({
            ...m,
            label: labels ? labels[m.class] : String(m.class),
          })),
        })),
      };
    }
    const names = this.signature.outputs.map((o) => o.name).filter((n) => n in outputs);
    const body: Record<string, unknown> = {
      model: this.name,
      version: this.version,
      outputs:
        names.length === 1
          ? toNested(outputs[names[0]])
          : Object.fromEntries(names.map((n) => [n, toNested(outputs[n])])),
    };
    const labels = this.labels;
    const scores = names
      .map((n) => outputs[n])
      .find((t) => t.shape.length === 2 && (labels ? t.shape[1] === labels.length : t.shape[1] >= 2));
    if (scores && (labels || this.isClassifier)) {
      const probs = probabilities(scores);
      body.probabilities = toNested(probs);
      // Without class names the labels are the class indices.
      body.predictions = predictions(
        probs,
        labels ?? Array.from({ length: scores.shape[1] }, (_, j) => String(j)),
        topK,
      );
    }
    return body;
  }

  /** A model with class names, or one trained with a cross-entropy loss (config.json's compile.loss). */
  get isClassifier(): boolean {
    return (
      this.labels !== undefined ||
      /crossentropy/i.test(JSON.stringify((this.config.compile as { loss?: unknown } | undefined)?.loss ?? ''))
    );
  }

  describe(): Record<string, unknown> {
    return {
      name: this.name,
      version: this.version,
      signature: this.signature,
      labels: this.labels ?? null,
      preprocessing: this.config.preprocessing ?? null,
      accepts: this.image ? ['application/json', 'multipart/form-data', 'image/*'] : ['application/json'],
      loadedAt: this.loadedAt.toISOString(),
    };
  }

  /** Waits for queued and running requests, then frees the sessions. */
  async unload(): Promise<void> {
    await this.batcher.drain();
    await Promise.allSettled(this.sessions.map((s) => s.release()));
  }
}

/**
 * Class probabilities from a [rows, classes] output: used as they are when every row is already a
 * distribution (non-negative, sums to 1), otherwise treated as logits and passed through softmax.
 */
export function probabilities(t: HostTensor): HostTensor {
  const [rows, k] = t.shape;
  const src = t.data as Float32Array;
  const out = new Float32Array(rows * k);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    let nonNegative = true;
    let max = -Infinity;
    for (let j = 0; j < k; j++) {
      const v = Number(src[r * k + j]);
      sum += v;
      if (v < 0) nonNegative = false;
      if (v > max) max = v;
    }
    if (nonNegative && Math.abs(sum - 1) < 1e-3) {
      for (let j = 0; j < k; j++) out[r * k + j] = Number(src[r * k + j]);
      continue;
    }
    let z = 0;
    for (let j = 0; j < k; j++) z += Math.exp(Number(src[r * k + j]) - max);
    for (let j = 0; j < k; j++) out[r * k + j] = Math.exp(Number(src[r * k + j]) - max) / z;
  }
  return { dtype: 'float32', shape: [rows, k], data: out };
}

function predictions(probs: HostTensor, labels: string[], topK: number): Prediction[] {
  const [rows, k] = probs.shape;
  const out: Prediction[] = [];
  for (let r = 0; r < rows; r++) {
    const scores: ClassScore[] = [];
    for (let j = 0; j < k; j++) {
      const p = probs.data[r * k + j] as number;
      scores.push({ label: labels[j], index: j, probability: Number.isFinite(p) ? p : 0 });
    }
    scores.sort((a, b) => b.probability - a.probability);
    out.push({ ...scores[0], top: scores.slice(0, Math.max(1, Math.min(topK, k))) });
  }
  return out;
}
