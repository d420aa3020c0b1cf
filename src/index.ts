/** Lepton: deep learning for TypeScript. */
export * from './engine/index.js';
