/**
 * Saved models: a folder with
 *   model.onnx            inference graph, weights inside, symbolic batch axis (any ONNX runtime)
 *   config.json           {format: 'lepton-model', version: 1, architecture, signature, labels?, compile?, createdAt}
 *   weights.safetensors   every Variable (parameters and buffers) by dotted name
 *   optimizer.safetensors + training.json   optimizer state, step and epoch, for exact resume
 * Writes are atomic: everything goes to a temporary sibling folder (files fsynced), which then
 * replaces the target; a failure part-way leaves the previous save untouched. A process killed
 * part-way leaves its sibling folders behind (`.<name>.tmp-<pid>-<ms>-<n>`, and `.<name>.old-…`
 * if it died during the swap, when the target is briefly missing): the next save removes those of
 * dead writers, and loading a missing target first moves the newest complete one into place.
 */
import { ModelNotFoundError } from '../engine/errors.js';
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { DType } from '../engine/dtype.js';
import { TracedProgram } from '../engine/compile.js';
import { syncDir, writeFileAtomic, writeSynced } from '../engine/files.js';
import type { Dim } from '../engine/shape.js';
import { Tensor, zeros } from '../engine/tensor.js';
import { globalGenerator } from '../engine/random.js';
import { decodeSafetensors, encodeSafetensors } from '../io/safetensors.js';
import { checkOptions } from '../engine/options.js';
import { type LayerConfig, layerFromConfig, serializeLayer } from '../nn/layer.js';
import type { Layer } from '../nn/layer.js';
import { Model } from '../nn/model.js';
import { type CompileState, type TrainableModel, compileModel } from './compile-spec.js';
import { serializeLoss } from './losses.js';
import { METRIC_CLASSES, type MetricSpec } from './metrics.js';
import { getOptimizer } from './optimizers.js';
import type { TensorSignature as FolderTensorSignature } from '../registry/model-folder.js';

/** A signature entry of config.json (the format registry/model-folder reads), with a dtype Lepton tensors hold. */
export interface TensorSignature extends FolderTensorSignature {
  dtype: DType;
}

export interface SaveOptions {
  /** Class names (or any labels) stored in config.json for serving. */
  labels?: string[];
  /** How servers should turn raw requests into inputs (e.g. {kind: 'image', height, width, channels}); stored in config.json. */
  preprocessing?: { kind: string; [k: string]: unknown };
  /** Input signature for models that do not declare one (subclassed models never fitted). */
  inputs?: TensorSignature[];
  /** Called after each file is written (progress reporting; tests use it to simulate crashes). */
  onFileWritten?: (file: string) => void | Promise<void>;
}

/** Options of exportOnnx / Model.exportOnnx. */
export interface ExportOptions {
  /** Input signature for models that do not declare one (subclassed models never fitted). */
  inputs?: TensorSignature[];
}

const SAVE_OPTIONS: readonly (keyof SaveOptions)[] = ['labels', 'preprocessing', 'inputs', 'onFileWritten'];
const EXPORT_OPTIONS: readonly (keyof ExportOptions)[] = ['inputs'];
const LOAD_OPTIONS: readonly (keyof LoadOptions)[] = ['restoreRandomState'];

function signatureOf(
  model: TrainableModel,
  options: { inputs?: TensorSignature[] } = {},
): { inputs: TensorSignature[]; outputs?: TensorSignature[] } {
  if (options.inputs) return { inputs: options.inputs };
  if (model.inputSpecs?.length) {
    return {
      inputs: model.inputSpecs.map((s) => ({ ...s, name: s.name })),
      outputs: model.outputSpecs?.map((s) => ({ ...s })),
    };
  }
  const seen = (model.compileState as CompileState | undefined)?.seenInputs;
  if (seen) return { inputs: seen.map((s, i) => ({ name: seen.length === 1 ? 'input' : `input_${i}`, ...s })) };
  throw new Error(
    `save/export: the model has no declared inputs; pass {inputs: [{name, shape: [null, ...], dtype}]} or fit it first`,
  );
}

/** The inference graph (weights baked in, symbolic batch) and the signature it implements. */
export function inferenceOnnx(
  model: TrainableModel,
  options: { inputs?: TensorSignature[] } = {},
): { bytes: Uint8Array; signature: { inputs: TensorSignature[]; outputs: TensorSignature[] } } {
  const sig = signatureOf(model, options);
  const inputs = sig.inputs.map((s) => ({
    name: s.name,
    dtype: s.dtype,
    shape: s.shape.map((d, axis): Dim => (d !== null ? d : axis === 0 ? 'batch' : `${s.name}_dim${axis}`)),
  }));
  // The model must have its weights before tracing (lazily built layers create them on first call).
  if (model.built === false || model.namedVariables().length === 0) {
    const sample = inputs.map((s) =>
      zeros(
        s.shape.map((d) => (typeof d === 'number' ? d : 1)),
        s.dtype,
      ),
    );
    model.apply(sample.length === 1 ? sample[0] : sample, { training: false });
  }
  const outNames = sig.outputs?.map((o) => o.name);
  const fn = (...xs: Tensor[]) => model.apply(xs.length === 1 && inputs.length === 1 ? xs[0] : xs, { training: false });
  const program = TracedProgram.fromSpecs(fn, inputs, {
    variables: 'bake',
    outputNames: outNames,
    graphName: model.name ?? 'lepton',
  });
  const outs = program.lowered.model.graph.output;
  const outputs: TensorSignature[] = program.lowered.outputNames.map((name, i) => {
    const t = program.outputFlat.leaves[i];
    return { name, dtype: t.dtype, shape: t.shape.map((d) => (typeof d === 'number' ? d : null)) };
  });
  void outs;
  return {
    bytes: program.lowered.bytes,
    signature: { inputs: sig.inputs.map((s, i) => ({ ...s, name: program.lowered.inputNames[i] ?? s.name })), outputs },
  };
}

/** Writes the inference ONNX model alone (atomically). */
export async function exportOnnx(model: TrainableModel, path: string, options: ExportOptions = {}): Promise<void> {
  checkOptions('exportOnnx', options, EXPORT_OPTIONS);
  await mkdir(dirname(resolve(path)), { recursive: true });
  await writeFileAtomic(path, inferenceOnnx(model, options).bytes);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** A writer's folder older than this is abandoned even if its pid is alive again (pid reuse). */
const STALE_MS = 60 * 60 * 1000;

/** Whether process `pid` exists (signal 0 only checks; EPERM means it exists under another user). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface Leftover {
  path: string;
  kind: 'tmp' | 'old';
  ms: number;
  abandoned: boolean;
}

/** The temporary and moved-aside folders that saves of `target` left beside it. */
async function leftovers(target: string): Promise<Leftover[]> {
  const parent = dirname(target);
  const prefix = `.${basename(target)}.`;
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return [];
  }
  const found: Leftover[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(tmp|old)-(\d+)-(\d+)-\d+$/.exec(name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[2]);
    const ms = Number(m[3]);
    // This process's own folders belong to a save still running (or to its catch block).
    const abandoned = Date.now() - ms > STALE_MS || (pid !== process.pid && !isAlive(pid));
    found.push({ path: join(parent, name), kind: m[1] as 'tmp' | 'old', ms, abandoned });
  }
  return found;
}

/**
 * Cleans up after writers of `target` that died: when the target is missing (a writer was killed
 * between the swap's two renames), the newest complete folder they left (config.json is written
 * last) becomes the target; then their remaining folders are removed. Folders of live writers are
 * left alone. Returns whether the target exists afterwards.
 */
async function recoverAbandoned(target: string): Promise<boolean> {
  const abandoned = (await leftovers(target)).filter((l) => l.abandoned);
  if (!(await exists(target))) {
    // Newest first; within one save the new content (tmp) is newer than the one it replaced (old).
    const candidates = abandoned.sort((a, b) => b.ms - a.ms || (a.kind === 'tmp' ? -1 : 1));
    for (const c of candidates) {
      if (!(await exists(join(c.path, 'config.json')))) continue;
      try {
        await rename(c.path, target);
        await syncDir(dirname(target));
      } catch {
        // another process recovered or saved it first
      }
      break;
    }
  }
  for (const l of abandoned) await rm(l.path, { recursive: true, force: true });
  return exists(target);
}

/** Saves the model folder (see the file comment). */
export async function saveModel(model: TrainableModel, dir: string, options: SaveOptions = {}): Promise<void> {
  checkOptions('save', options, SAVE_OPTIONS);
  const target = resolve(dir);
  const parent = dirname(target);
  await mkdir(parent, { recursive: true });
  await recoverAbandoned(target);
  const stamp = `${process.pid}-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  const tmp = join(parent, `.${basename(target)}.tmp-${stamp}`);
  await mkdir(tmp);
  const state = model.compileState as CompileState | undefined;
  if (state?.runner?.training) await state.runner.pull(true);
  try {
    const write = async (file: string, data: Uint8Array | string): Promise<void> => {
      await writeSynced(join(tmp, file), data);
      await options.onFileWritten?.(file);
    };
    const { bytes, signature } = inferenceOnnx(model, options);
    await write('model.onnx', bytes);

    const weights = Object.fromEntries(model.namedVariables().map(([k, v]) => [k, v.value()]));
    await write('weights.safetensors', encodeSafetensors(weights, { format: 'lepton-weights' }));

    let compile: Record<string, unknown> | undefined;
    if (state) {
      const lossConfigs = state.losses.map(serializeLoss);
      compile = {
        optimizer: state.optimizer.getConfig(),
        loss: lossConfigs.length === 1 ? lossConfigs[0] : lossConfigs.some((l) => l === null) ? null : lossConfigs,
        lossWeights: state.lossWeights,
        metrics: state.metricSpecs,
      };
      const named = new Map(model.namedVariables().map(([k, v]) => [v, k]));
      const slots: Record<string, Tensor> = {};
      const slotNames = state.optimizer.slotNames();
      for (const [v, values] of state.optimizer.slots) {
        const name = named.get(v);
        if (name) values.forEach((t, j) => (slots[`${name}/${slotNames[j]}`] = t));
      }
      await write('optimizer.safetensors', encodeSafetensors(slots, { optimizer: state.optimizer.className }));
      // The global random state lets a resumed run shuffle and drop out exactly like an uninterrupted one.
      const training = {
        optimizer: state.optimizer.getConfig(),
        step: state.optimizer.iterations,
        epoch: state.epoch,
        randomState: globalGenerator.getState(),
      };
      await write('training.json', JSON.stringify(training, null, 2));
    }

    // Names given to save win; otherwise those of the labels fit trained on.
    const labels = options.labels ?? state?.classNames;
    const config = {
      format: 'lepton-model',
      version: 1,
      name: model.name ?? 'model',
      architecture: model.getConfig ? serializeLayer(model as unknown as Layer) : null,
      signature,
      ...(labels ? { labels: [...labels] } : {}),
      ...(options.preprocessing ? { preprocessing: options.preprocessing } : {}),
      ...(compile ? { compile } : {}),
      createdAt: new Date().toISOString(),
    };
    await write('config.json', JSON.stringify(config, null, 2));
    await syncDir(tmp);

    // Swap: the old folder is moved aside only now that the new one is complete.
    if (await exists(target)) {
      const old = join(parent, `.${basename(target)}.old-${stamp}`);
      await rename(target, old);
      await rename(tmp, target);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(tmp, target);
    }
    await syncDir(parent);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

type LossConfig = { className: string; config: Record<string, unknown> };

export interface SavedConfig {
  format: string;
  version: number;
  name: string;
  architecture: { className: string; config: Record<string, any> } | null;
  signature: { inputs: TensorSignature[]; outputs: TensorSignature[] };
  labels?: string[];
  compile?: {
    optimizer: { className: string; config: Record<string, unknown> };
    /** One loss config, one per output, or null when a custom function was used. */
    loss: LossConfig | LossConfig[] | null;
    lossWeights?: number[];
    metrics: unknown[] | Record<string, unknown[]>;
  };
  createdAt: string;
}

export async function readModelConfig(dir: string): Promise<SavedConfig> {
  const path = join(dir, 'config.json');
  let config: SavedConfig;
  try {
    config = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !(await exists(dir)))
      throw new ModelNotFoundError(`loadModel: no model folder at ${resolve(dir)}`);
    throw new Error(`loadModel: cannot read ${path}: ${(e as Error).message}`);
  }
  if (config.format !== 'lepton-model')
    throw new Error(`loadModel: ${path} is not a Lepton model folder (format '${config.format}')`);
  if (config.version !== 1)
    throw new Error(`loadModel: ${path} has version ${config.version}; this Lepton reads version 1`);
  return config;
}

/** Metric names saved in config.json (Metric objects are rebuilt from their class when known). */
function restoreMetricSpecs(saved: unknown[] | Record<string, unknown[]>): any {
  const one = (m: unknown): MetricSpec | undefined => {
    if (typeof m === 'string') return m;
    const c = m as { className?: string; config?: Record<string, any> } | null;
    const cls = c?.className ? METRIC_CLASSES[c.className] : undefined;
    return cls ? new cls(c!.config ?? {}) : undefined;
  };
  if (Array.isArray(saved)) return saved.map(one).filter((m) => m !== undefined);
  return Object.fromEntries(Object.entries(saved).map(([k, v]) => [k, v.map(one).filter((m) => m !== undefined)]));
}

export interface LoadOptions {
  /**
   * Also restore the global random generator to its state at save time, so that continuing
   * training (shuffling, dropout) matches an uninterrupted run exactly, even in a new process.
   */
  restoreRandomState?: boolean;
}

/** Rebuilds a saved model: architecture, weights, and (if it was compiled) optimizer state for resuming. */
export async function loadModel(dir: string, options: LoadOptions = {}): Promise<Model> {
  checkOptions('loadModel', options, LOAD_OPTIONS);
  if (!(await exists(dir))) await recoverAbandoned(resolve(dir));
  const config = await readModelConfig(dir);
  if (!config.architecture)
    throw new Error(
      `loadModel: ${dir} has no architecture (a custom module was saved); load its weights.safetensors into a new instance instead`,
    );
  // Rebuilding runs the initializers; their draws must not shift the caller's random stream.
  const randomState = globalGenerator.getState();
  let model: Model;
  try {
    const layer = layerFromConfig(config.architecture as LayerConfig);
    if (!(layer instanceof Model))
      throw new Error(
        `loadModel: ${dir} holds a ${layer.className} layer, not a model; rebuild it with layerFromConfig and load weights.safetensors`,
      );
    model = layer;
    if (model.built === false || model.namedVariables().length === 0) {
      const sample = config.signature.inputs.map((s) =>
        zeros(
          s.shape.map((d) => d ?? 1),
          s.dtype,
        ),
      );
      model.apply(sample.length === 1 ? sample[0] : sample, { training: false });
    }
  } finally {
    globalGenerator.setState(randomState);
  }
  const weights = decodeSafetensors(
    new Uint8Array(await readFile(join(dir, 'weights.safetensors'))),
    join(dir, 'weights.safetensors'),
  ).tensors;
  model.loadStateDict(weights);

  if (config.compile?.loss) {
    const state = compileModel(model, {
      optimizer: getOptimizer(config.compile.optimizer),
      loss: Array.isArray(config.compile.loss)
        ? config.compile.loss.map((l) => ({ className: l.className, ...l.config }))
        : { className: config.compile.loss.className, ...config.compile.loss.config },
      lossWeights: config.compile.lossWeights,
      metrics: restoreMetricSpecs(config.compile.metrics),
    });
    if (await exists(join(dir, 'training.json'))) {
      const training = JSON.parse(await readFile(join(dir, 'training.json'), 'utf8')) as {
        step: number;
        epoch: number;
        randomState?: { s: number[]; spareNormal: number | null };
      };
      state.optimizer.iterations = training.step;
      state.epoch = training.epoch;
      if (options.restoreRandomState && training.randomState) globalGenerator.setState(training.randomState);
    }
    if (await exists(join(dir, 'optimizer.safetensors'))) {
      const slots = decodeSafetensors(new Uint8Array(await readFile(join(dir, 'optimizer.safetensors')))).tensors;
      const names = state.optimizer.slotNames();
      for (const [name, v] of model.namedVariables()) {
        const values = names.map((s) => slots[`${name}/${s}`]);
        if (values.every((t) => t !== undefined)) state.optimizer.slots.set(v, values);
      }
    }
  }
  return model;
}
