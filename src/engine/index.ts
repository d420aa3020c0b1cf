export * from './dtype.js';
export * from './errors.js';
export * from './shape.js';
export { Generator, setSeed, globalGenerator } from './random.js';
export * from './tensor.js';
export { Trace, currentTrace } from './trace.js';
export {
  defineOp,
  apply,
  apply1,
  getOp,
  allOps,
  setEagerExecutor,
  type EagerExecutor,
  type OpDef,
  type TensorType,
  type LoweredValue,
} from './op.js';
export { grad, valueAndGrad, backward, type GradOptions } from './autodiff.js';
export { compile, compileSync, toOnnx, TracedProgram, type CompileOptions, type TensorSpec } from './compile.js';
export { ResidentFunction, WorkerScope, type ResidentInput, type StateRef } from './resident.js';
export { writeFileAtomic } from './files.js';
export { setEagerThreads } from './runtime/eager.js';
export { setWorkerCount, getWorker, shutdownWorkers, OrtWorker, RemoteSession } from './runtime/pool.js';
export { NativeSession, OrtError, ortVersion, type SessionOptions } from './runtime/session.js';
export * from './ops/index.js';
export {
  importOnnx,
  supportedOnnxOps,
  ONNX_OPS,
  NodeContext,
  ShapeValue,
  type ImportedModel,
  type ImportOptions,
  type OnnxConverter,
} from './onnx/import.js';

// The composition root: ops on concrete tensors run through ORT's cached one-op sessions.
import { setEagerExecutor } from './op.js';
import { runEager } from './runtime/eager.js';
setEagerExecutor(runEager);
