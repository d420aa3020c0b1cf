export * from './core.js';
export * from './elementwise.js';
export * from './activations.js';
export * from './reduce.js';
export * from './loss.js';
export * from './conv.js';
export * from './pool.js';
export * from './norm.js';
