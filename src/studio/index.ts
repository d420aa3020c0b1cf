/** The web studio (`lepton/studio`): runs, comparisons, the model registry and playgrounds, on the model server. */
// Installs ONNX Runtime as the executor of ops on concrete tensors (engine/index.ts is the composition root).
import '../engine/index.js';
export { createStudio, type StudioOptions } from './server.js';
