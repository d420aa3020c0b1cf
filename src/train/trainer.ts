/**
 * The training methods of Keras models: `model.compile/fit/evaluate/predict/save/exportOnnx`.
 * Keras 3 writes `class Model(Trainer, Layer)`: the layer package never imports the training
 * package, and the model class gets its training API from a Trainer mixed in above both. Here
 * nn's Model (graph, layers, serialization) knows nothing of training; this module, which imports
 * both, declares the methods on it (TypeScript declaration merging, the handbook's mixin pattern)
 * and installs them on its prototype. Importing the training package (or 'lepton') installs them.
 */
import { Model } from '../nn/model.js';
import type { History } from './callbacks.js';
import { type ModelCompileOptions, compileModel } from './compile-spec.js';
import type { InputData } from './data.js';
import {
  type BatchIterable,
  type EvaluateOptions,
  type EvaluateResult,
  type FitOptions,
  type PredictOptions,
  type Prediction,
  type Targets,
  evaluate,
  fit,
  predict,
} from './loops.js';
import { type ExportOptions, type SaveOptions, exportOnnx, saveModel } from './save.js';

/** The training API every Keras-style model has (mixed into nn's Model). */
export interface ModelTrainingApi {
  /** Set by compile(): a CompileState (optimizer, losses, metrics, epochs done, the runner holding the worker state). */
  compileState?: unknown;
  /** Set to true (e.g. by a callback) to stop fit after the current epoch. */
  stopTraining?: boolean;
  /** Configures the optimizer, loss(es) and metrics: `model.compile({optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy']})`. */
  compile(options: ModelCompileOptions): this;
  /** Trains on tensors `fit(x, y, {epochs, batchSize, ...})`; returns the History of epoch logs. */
  fit(x: InputData, y: Targets | undefined, options?: FitOptions): Promise<History>;
  /** Trains on a data set yielding [x, y] (or [x, y, sampleWeight]) batches. */
  fit(data: BatchIterable, options?: FitOptions): Promise<History>;
  /** Loss and metrics over the data, with the weights as they are now: `{loss, accuracy, ...}`. */
  evaluate(x: InputData, y: Targets | undefined, options?: EvaluateOptions): Promise<EvaluateResult>;
  evaluate(data: BatchIterable, options?: EvaluateOptions): Promise<EvaluateResult>;
  /**
   * The model's outputs for every row (a Tensor, or an array/record of Tensors for several
   * outputs); `T` narrows the result where the structure is known.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the structure is known only at run time
  predict<T extends Prediction = any>(x: InputData | BatchIterable, options?: PredictOptions): Promise<T>;
  /** Writes the model folder (model.onnx, config.json, weights, optimizer state); see saveModel. */
  save(dir: string, options?: SaveOptions): Promise<void>;
  /** Writes the inference graph as a standalone ONNX file. */
  exportOnnx(path: string, options?: ExportOptions): Promise<void>;
}

declare module '../nn/model.js' {
  // Declaration merging: nn's Model class gains the training API's types here, its methods below.
  interface Model extends ModelTrainingApi {}
}

/** The implementations installed on Model.prototype (`this` is the model). */
const trainingMethods: Pick<ModelTrainingApi, 'compile' | 'fit' | 'evaluate' | 'predict' | 'save' | 'exportOnnx'> &
  ThisType<Model> = {
  compile(options: ModelCompileOptions) {
    compileModel(this, options);
    return this;
  },
  fit(x: InputData | BatchIterable, y?: Targets | FitOptions, options?: FitOptions): Promise<History> {
    return fit(this, x, y, options);
  },
  evaluate(
    x: InputData | BatchIterable,
    y?: Targets | EvaluateOptions,
    options?: EvaluateOptions,
  ): Promise<EvaluateResult> {
    return evaluate(this, x, y, options);
  },
  predict<T extends Prediction>(x: InputData | BatchIterable, options?: PredictOptions): Promise<T> {
    return predict<T>(this, x, options);
  },
  save(dir: string, options?: SaveOptions): Promise<void> {
    return saveModel(this, dir, options);
  },
  exportOnnx(path: string, options?: ExportOptions): Promise<void> {
    return exportOnnx(this, path, options);
  },
} as Pick<ModelTrainingApi, 'compile' | 'fit' | 'evaluate' | 'predict' | 'save' | 'exportOnnx'> & ThisType<Model>;

for (const [name, method] of Object.entries(trainingMethods)) {
  Object.defineProperty(Model.prototype, name, {
    value: method,
    writable: true,
    configurable: true,
    enumerable: false,
  });
}
