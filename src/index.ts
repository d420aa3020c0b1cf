/**
 * Lepton's internal barrel: every module's exports, for the tests, benchmarks, examples and tools
 * inside this repository. The published package's entry points are `src/api/index.ts` (`lepton`),
 * `src/api/onnx.ts`, `src/api/engine.ts`, `src/data/index.ts` and `src/serve/index.ts` (see
 * docs/API.md); what users may import is listed there by name.
 */
export * from './engine/index.js';
export * from './nn/index.js';
export * from './data/index.js';
export * from './train/index.js';
export { layers, losses, optimizers } from './keras.js';
