/**
 * `lepton predict` and `lepton evaluate`: run a model folder or registered model on local inputs
 * (image files, CSV rows, JSON) or a dataset, through the same request handling as the server.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { OrtWorker } from '../engine/runtime/pool.js';
import type { HostTensor } from '../engine/onnx/proto.js';
import { parseCsv } from '../data/loaders/csv.js';
import { ServedModel } from '../serve/model.js';
import type { Feeds } from '../serve/batcher.js';
import { imagesToTensor } from '../serve/image.js';
import { RequestError, sliceRows } from '../serve/tensors.js';
import { probabilities } from '../serve/model.js';
import { CliError } from './output.js';
import { resolveModelRef } from './model-ref.js';
import { shapeStr } from '../engine/shape.js';
import { formatShape } from '../registry/model-folder.js';
import type { EvaluationReport } from '../registry/evaluation.js';
import { classificationReport } from '../train/evaluation.js';

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg', '.webp', '.gif', '.bmp', '.tif', '.tiff', '.avif']);

/** Loads a model for local use on one worker thread; call `done()` afterwards. */
export async function openLocalModel(ref: string): Promise<{ model: ServedModel; done: () => Promise<void> }> {
  const r = resolveModelRef(ref);
  const worker = new OrtWorker();
  try {
    const model = await ServedModel.load(r.dir, {
      name: r.name,
      version: r.version,
      workers: [worker],
      batching: { maxBatchSize: 1, maxWaitMs: 0 },
    });
    return {
      model,
      done: async () => {
        await model.unload();
        await worker.terminate();
      },
    };
  } catch (e) {
    await worker.terminate();
    throw new CliError(`cannot load model '${ref}': ${(e as Error).message}`, 1);
  }
}

/** Feeds from CLI inputs: image files, .csv files, .json files or inline JSON. */
export async function feedsFromArgs(model: ServedModel, inputs: string[]): Promise<{ feeds: Feeds; rows: number }> {
  const limits = { maxRows: 1_000_000, maxElements: 500_000_000 };
  try {
    const images = inputs.filter((i) => IMAGE_EXT.has(extname(i).toLowerCase()));
    if (images.length) {
      if (images.length !== inputs.length)
        throw new CliError('mix of image files and other inputs: pass only images, or only CSV/JSON');
      if (!model.image)
        throw new CliError(`model '${model.name}' takes tensors (${describeInputs(model)}), not images`);
      const tensor = await imagesToTensor(
        images.map((p) => ({ bytes: readInput(p), field: p })),
        model.image,
      );
      return { feeds: { [model.signature.inputs[0].name]: tensor }, rows: images.length };
    }
    if (inputs.length === 1 && extname(inputs[0]).toLowerCase() === '.csv') {
      return await model.feedsFromJson(csvRows(readInput(inputs[0]).toString('utf8'), inputs[0]), limits);
    }
    if (inputs.length === 1) {
      const text = /^\s*[[{]/.test(inputs[0]) ? inputs[0] : readInput(inputs[0]).toString('utf8');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        throw new CliError(`'${inputs[0]}' is not valid JSON (${(e as Error).message})`);
      }
      const body = parsed as { inputs?: unknown; preprocessed?: unknown };
      const wrapped = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && 'inputs' in body;
      return await model.feedsFromJson(wrapped ? body.inputs : parsed, limits, {
        preprocessed: wrapped && body.preprocessed === true,
      });
    }
    throw new CliError(`expected image files, one .csv file, or one JSON file/string; got ${inputs.length} inputs`);
  } catch (e) {
    if (e instanceof RequestError) throw new CliError(e.message);
    throw e;
  }
}

function describeInputs(model: ServedModel): string {
  return model.signature.inputs
    .map((i) => `${i.name} [${i.shape.map((d) => d ?? 'batch').join(', ')}] ${i.dtype}`)
    .join('; ');
}

function readInput(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new CliError(
      `cannot read input '${path}': ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
    );
  }
}

/** Numeric rows of a CSV file (a non-numeric first row is a header and skipped). */
export function csvRows(text: string, source: string): number[][] {
  const rows = parseCsv(text).filter((r) => r.some((c) => c.trim() !== ''));
  if (rows.length && rows[0].some((c) => c.trim() === '' || Number.isNaN(Number(c)))) rows.shift();
  return rows.map((r, i) =>
    r.map((c, j) => {
      const v = Number(c);
      if (c.trim() === '' || !Number.isFinite(v))
        throw new CliError(`${source}: row ${i + 1}, column ${j + 1}: '${c}' is not a number`);
      return v;
    }),
  );
}

export interface EvaluationResult {
  model: string;
  version: number;
  samples: number;
  accuracy: number;
  loss: number;
  /** Confusion matrix, per-class precision/recall/F1 and one-vs-rest PR curves (for the studio). */
  report: EvaluationReport;
}

/** Accuracy, cross-entropy and the evaluation report of a classifier over (x, integer labels), in batches. */
export async function evaluateClassifier(
  model: ServedModel,
  x: HostTensor,
  labels: ArrayLike<number>,
  batchSize = 256,
): Promise<EvaluationResult> {
  const n = x.shape[0];
  const input = model.signature.inputs[0];
  if (model.signature.inputs.length !== 1)
    throw new CliError(
      `evaluate supports single-input models; '${model.name}' has ${model.signature.inputs.length} inputs`,
    );
  const want = input.shape.slice(1);
  const got = x.shape.slice(1);
  if (want.length !== got.length || want.some((d, i) => d !== null && d !== got[i])) {
    throw new CliError(
      `data samples have shape ${shapeStr(got)} but model '${model.name}' expects ${input.name} ${formatShape(input.shape)}`,
    );
  }
  let correct = 0;
  let loss = 0;
  let all: Float32Array | undefined;
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(n, start + batchSize);
    const batch = sliceRows(x, start, end);
    const outputs = await model.predict(
      { [input.name]: { ...batch, data: batch.data.slice() as HostTensor['data'] } },
      end - start,
    );
    const scores = outputs[model.signature.outputs[0].name];
    const probs = probabilities(scores);
    const k = probs.shape[1];
    all ??= new Float32Array(n * k);
    all.set(probs.data as Float32Array, start * k);
    for (let r = 0; r < end - start; r++) {
      const label = labels[start + r];
      if (!(Number.isInteger(label) && label >= 0 && label < k))
        throw new CliError(`label ${label} of sample ${start + r} is not a class of '${model.name}' (0 … ${k - 1})`);
      let best = 0;
      for (let j = 1; j < k; j++)
        if ((probs.data[r * k + j] as number) > (probs.data[r * k + best] as number)) best = j;
      if (best === label) correct++;
      loss -= Math.log(Math.max(1e-12, probs.data[r * k + label] as number));
    }
  }
  const k = all ? all.length / n : 0;
  const report = classificationReport(Array.from(labels).slice(0, n), all ?? [], k, model.labels ?? undefined);
  return { model: model.name, version: model.version, samples: n, accuracy: correct / n, loss: loss / n, report };
}
