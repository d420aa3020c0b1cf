/** Lepton: deep learning for TypeScript. */
export * from './engine/index.js';
export * from './nn/index.js';
export * from './data/index.js';
export * from './train/index.js';
export { layers, losses, optimizers } from './keras.js';
