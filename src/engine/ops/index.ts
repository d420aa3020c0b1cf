export * from './core.js';
export * from './elementwise.js';
export * from './activations.js';
export * from './reduce.js';
export * from './loss.js';
