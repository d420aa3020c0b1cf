/**
 * `lepton/onnx`: ONNX in and out — import an ONNX model onto Lepton's ops, export traced
 * functions and trained models as standalone ONNX files.
 */
export {
  importOnnx,
  supportedOnnxOps,
  ONNX_OPS,
  UnsupportedOnnxError,
  toOnnx,
  ortVersion,
  type ImportedModel,
  type ImportOptions,
  type OnnxConverter,
  type TensorSpec,
} from '../engine/index.js';
export { exportOnnx, inferenceOnnx } from '../train/index.js';
export { OnnxLayer, importOnnxLayer, type OnnxLayerOptions } from '../nn/index.js';
