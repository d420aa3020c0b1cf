/**
 * `lepton/engine`: the layer below the everyday API — defining new ops (shape rule, ONNX lowering,
 * VJP), traces, dtype/shape helpers for op writers, and runtime controls (thread and worker
 * counts). Users of layers and models do not need it.
 */
export {
  defineOp,
  apply,
  apply1,
  getOp,
  allOps,
  Trace,
  currentTrace,
  backward,
  asTensor,
  sumToShape,
  tensorMethodNames,
  type OpDef,
  type TensorType,
  type LoweredValue,
  type SymbolicSource,
} from '../engine/index.js';
export {
  DTYPES,
  FLOAT_DTYPES,
  NUMERIC_DTYPES,
  isFloat,
  isInteger,
  promoteTypes,
  dtypeOfArray,
  bytesPerElement,
  broadcastShapes,
  numel,
  shapeStr,
  normalizeAxis,
  normalizeAxes,
  isConcrete,
} from '../engine/index.js';
export { setEagerThreads, setWorkerCount, shutdownWorkers, ortVersion, OrtError } from '../engine/index.js';
