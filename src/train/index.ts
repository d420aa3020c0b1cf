/** Training: losses, metrics, optimizers, schedules, callbacks, fit/evaluate/predict, save/load/export. */
export * from './losses.js';
export * from './metrics.js';
export * from './optimizers.js';
export * from './schedules.js';
