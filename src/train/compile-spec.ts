/**
 * compile(): what `model.compile({optimizer, loss, metrics})` turns into (Keras' CompileLoss /
 * CompileMetrics in compile_utils.py): one loss per model output, loss weights, the metric
 * objects and the output each one watches, the optimizer. The result (CompileState) is kept on
 * the model; the runner (runner.ts) and the loops (loops.ts) read it.
 */
import type { DType } from '../engine/dtype.js';
import { checkOptions } from '../engine/options.js';
import type { SessionOptions } from '../engine/runtime/session.js';
import type { Tensor, Variable } from '../engine/tensor.js';
import type { CallbackModel } from './callbacks.js';
import { type Loss, type LossSpec, getLoss } from './losses.js';
import { Metric, type MetricSpec, getMetric } from './metrics.js';
import { type Optimizer, type OptimizerSpec, getOptimizer } from './optimizers.js';

/**
 * What the training API needs from a model. Keras models (nn's Model) and PyTorch-style modules
 * (nn's Module: `compileModel(net, ...)`, `fit(net, x, y)`) both provide it.
 */
export interface TrainableModel extends CallbackModel {
  /** Runs the model (Keras `model(x, training)`, PyTorch `module(x)`). */
  apply(inputs: any, options?: { training?: boolean }): any;
  namedVariables(): [string, Variable][];
  trainableParameters(): Variable[];
  regularizationLoss?(): Tensor;
  built?: boolean;
  inputSpecs?: { name: string; shape: (number | null)[]; dtype: DType }[];
  outputSpecs?: { name: string; shape: (number | null)[]; dtype: DType }[];
  getConfig?(): Record<string, any>;
  className?: string;
}

/** The options of `model.compile(...)` / `compileModel(model, ...)` (engine's CompileOptions are compile(fn)'s). */
export interface ModelCompileOptions {
  /** An optimizer, its name ('adam', 'sgd', ...) or config (default 'rmsprop', as in Keras). */
  optimizer?: OptimizerSpec;
  /** One loss for every output, or one per output (array in output order, or record by output name). */
  loss: LossSpec | LossSpec[] | Record<string, LossSpec>;
  /** Weights of the per-output losses in the total (default 1 each). */
  lossWeights?: number[] | Record<string, number>;
  /** Metrics for every output, or per output (record by output name). */
  metrics?: MetricSpec[] | Record<string, MetricSpec[]>;
  /** ONNX Runtime options for the training worker's sessions. */
  session?: SessionOptions;
}

const COMPILE_OPTIONS: readonly (keyof ModelCompileOptions)[] = [
  'optimizer',
  'loss',
  'lossWeights',
  'metrics',
  'session',
];

export interface CompileState {
  optimizer: Optimizer;
  /** The loss of each model output. */
  losses: Loss[];
  lossWeights: number[];
  /** Names of the model outputs (for per-output logs and record targets). */
  outputNames: string[];
  metrics: Metric[];
  /** Which model output each metric watches. */
  metricOutputs: number[];
  /** How the metrics were given (saved in config.json). */
  metricSpecs: unknown[];
  session?: SessionOptions;
  /** The compiled programs and worker state (runner.ts); released when the model is compiled again. */
  runner?: RunnerHandle;
  /** The first fit after compile checked what the losses receive (runner.ts checkLossInputs). */
  lossInputsChecked?: boolean;
  /** Class names of the labels `fit` trained on (from the data loader), saved as config.json's labels. */
  classNames?: readonly string[];
  /** Epochs completed so far (saved for resume). */
  epoch: number;
  /** Input shapes/dtypes seen by fit (for saving models without a declared input signature). */
  seenInputs?: { shape: (number | null)[]; dtype: DType }[];
}

/** What code outside the loops may do with a model's runner (runner.ts). */
export interface RunnerHandle {
  /** Whether a fit is running (the worker then holds the newest weights). */
  readonly training: boolean;
  /** Copies weights (and optionally optimizer state) from the worker into the host Variables. */
  pull(withSlots: boolean): Promise<void>;
  release(): Promise<void>;
}

export function compileModel(model: TrainableModel, options: ModelCompileOptions): CompileState {
  checkOptions('compile', options, COMPILE_OPTIONS);
  if (!options || options.loss === undefined)
    throw new Error(`compile: a loss is required, e.g. {optimizer: 'adam', loss: 'sparseCategoricalCrossentropy'}`);
  const specNames = model.outputSpecs?.map((o) => o.name) ?? [];
  const lossSpec = options.loss;
  const outputCount = Math.max(1, specNames.length, Array.isArray(lossSpec) ? lossSpec.length : 0);
  const outputNames = specNames.length
    ? specNames
    : Array.from({ length: outputCount }, (_, i) => (outputCount === 1 ? 'output' : `output_${i}`));
  // A plain object whose keys are all output names gives one entry per output (otherwise it is, e.g., loss options).
  const isPerOutput = (v: unknown): v is Record<string, any> =>
    v !== null &&
    typeof v === 'object' &&
    !Array.isArray(v) &&
    Object.getPrototypeOf(v) === Object.prototype &&
    Object.keys(v).length > 0 &&
    Object.keys(v).every((k) => outputNames.includes(k));
  const perOutput = <T>(spec: T | T[] | Record<string, T>, what: string, fallback?: T): T[] =>
    outputNames.map((name, i) => {
      if (Array.isArray(spec)) {
        if (spec.length !== outputNames.length)
          throw new Error(
            `compile: ${what} has ${spec.length} entries but the model has ${outputNames.length} outputs (${outputNames.join(', ')})`,
          );
        return spec[i];
      }
      if (isPerOutput(spec)) {
        if (!(name in spec) && fallback === undefined)
          throw new Error(`compile: ${what} has no entry for output '${name}' (outputs: ${outputNames.join(', ')})`);
        return (spec as Record<string, T>)[name] ?? fallback!;
      }
      return spec as T;
    });
  const losses = perOutput(lossSpec as LossSpec | LossSpec[] | Record<string, LossSpec>, 'loss').map(getLoss);
  const lossWeights = options.lossWeights
    ? perOutput(options.lossWeights as number[] | Record<string, number>, 'lossWeights', 1)
    : outputNames.map(() => 1);
  const metricSpecs = options.metrics ?? [];
  const metrics: Metric[] = [];
  const metricOutputs: number[] = [];
  const specsByOutput: MetricSpec[][] = Array.isArray(metricSpecs)
    ? outputNames.map(() => metricSpecs)
    : outputNames.map((n) => metricSpecs[n] ?? []);
  specsByOutput.forEach((specs, i) =>
    specs.forEach((spec) => {
      if (
        typeof spec !== 'string' &&
        typeof spec !== 'function' &&
        outputNames.length > 1 &&
        Array.isArray(metricSpecs)
      ) {
        throw new Error(
          'compile: a Metric object cannot watch several outputs; give metrics per output: {outputName: [metric]}',
        );
      }
      const base = getMetric(spec, { className: losses[i].className, fromLogits: losses[i].fromLogits });
      const m =
        outputNames.length > 1 && typeof spec !== 'object' ? renamed(base, `${outputNames[i]}_${base.name}`) : base;
      metrics.push(m);
      metricOutputs.push(i);
    }),
  );
  const names = new Set<string>();
  for (const m of metrics) {
    if (names.has(m.name) || m.name === 'loss')
      throw new Error(`compile: two metrics are named '${m.name}'; give them distinct names`);
    names.add(m.name);
  }
  const prev = model.compileState as CompileState | undefined;
  releaseInBackground(prev?.runner, 'compile');
  const state: CompileState = {
    optimizer: getOptimizer(options.optimizer ?? 'rmsprop'),
    losses,
    lossWeights,
    outputNames,
    metrics,
    metricOutputs,
    metricSpecs: Array.isArray(metricSpecs)
      ? metricSpecs.map(serializeMetricSpec)
      : (Object.fromEntries(Object.entries(metricSpecs).map(([k, v]) => [k, v.map(serializeMetricSpec)])) as any),
    session: options.session,
    epoch: prev?.epoch ?? 0,
  };
  model.compileState = state;
  return state;
}

function serializeMetricSpec(m: MetricSpec): unknown {
  return typeof m === 'string' ? m : m instanceof Metric ? m.getConfig() : null;
}

/** A metric with another log name (per-output metrics of multi-output models). */
function renamed(m: Metric, name: string): Metric {
  (m as { name: string }).name = name;
  return m;
}

export function compiled(model: TrainableModel, who: string): CompileState {
  const s = model.compileState as CompileState | undefined;
  if (!s || !(s.losses && s.optimizer))
    throw new Error(`${who}: compile the model first: model.compile({optimizer, loss, metrics})`);
  return s;
}

/**
 * Frees a runner's sessions and worker state without waiting (a model compiled again, or whose
 * weights changed); a failure is reported as a warning instead of an unhandled rejection.
 */
export function releaseInBackground(runner: { release(): Promise<void> } | undefined, who: string): void {
  runner
    ?.release()
    .catch((e: unknown) =>
      process.emitWarning(
        `${who}: releasing the previous training programs failed: ${e instanceof Error ? e.message : String(e)}`,
      ),
    );
}

// predict works on models that were never compiled: inference needs no loss or optimizer.
const inferenceStates = new WeakMap<TrainableModel, CompileState>();

/** The compile state of a compiled model, or a stand-in for inference on an uncompiled one. */
export function stateForInference(model: TrainableModel): CompileState {
  const compiledState = model.compileState as CompileState | undefined;
  if (compiledState) return compiledState;
  let s = inferenceStates.get(model);
  if (!s) {
    const outputNames = (model.outputSpecs ?? []).map((o) => o.name);
    const n = Math.max(1, outputNames.length);
    s = {
      optimizer: getOptimizer('sgd'),
      losses: Array.from({ length: n }, () => getLoss('mse')),
      lossWeights: [],
      outputNames: outputNames.length ? outputNames : ['output'],
      metrics: [],
      metricOutputs: [],
      metricSpecs: [],
      epoch: 0,
    };
    inferenceStates.set(model, s);
  }
  return s;
}
