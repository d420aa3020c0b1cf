export * from './registry.js';
export * from './tracker.js';
export * from './model-folder.js';
export * from './evaluation.js';
