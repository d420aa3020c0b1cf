/** Training: losses, metrics, optimizers, schedules, callbacks, fit/evaluate/predict, save/load/export. */
export * from './losses.js';
export * from './metrics.js';
export * from './evaluation.js';
export * from './optimizers.js';
export * from './schedules.js';
export * from './callbacks.js';
export { ModelCheckpoint, type ModelCheckpointOptions } from './checkpoint.js';
export { ProgressLogger } from './progress.js';
export { compileModel, type ModelCompileOptions, type CompileState, type TrainableModel } from './compile-spec.js';
export {
  fit,
  evaluate,
  predict,
  concatRows,
  type FitOptions,
  type EvaluateOptions,
  type PredictOptions,
  type EvaluateResult,
  type Prediction,
  type Targets,
  type BatchIterable,
  type Verbosity,
} from './loops.js';
export {
  saveModel,
  loadModel,
  exportOnnx,
  inferenceOnnx,
  readModelConfig,
  type SaveOptions,
  type LoadOptions,
  type ExportOptions,
  type SavedConfig,
} from './save.js';
// Installs compile/fit/evaluate/predict/save/exportOnnx on nn's Model.
export type { ModelTrainingApi } from './trainer.js';
import './trainer.js';
export { GraphBuilder, GraphProgram, WorkerProgram } from './graph.js';
export * from '../io/safetensors.js';
