/** The model server (`lepton/serve`); the studio builds on it (`lepton/studio`), never the other way. */
// Installs ONNX Runtime as the executor of ops on concrete tensors (engine/index.ts is the composition root).
import '../engine/index.js';
export {
  createModelServer,
  type ModelServer,
  type ModelSource,
  type ServerContext,
  type ServerOptions,
} from './server.js';
export { ServedModel, probabilities, type BatchingOptions, type ClassScore, type Prediction } from './model.js';
export { ModelStore } from './store.js';
export { STREAM_CLOSE_CODES, isSpeechModel, type StreamLimits } from './stream.js';
export { Batcher, type BatcherOptions } from './batcher.js';
export { ServerMetrics } from './metrics.js';
export { RequestError, parseTensor, toNested } from './tensors.js';
export { decodeImage, imagesToTensor, imagePreprocessing } from './image.js';
