/** Model building: PyTorch-style modules and Keras-style layers and models. */
export * from './module.js';
export * from './updates.js';
export * from './layer.js';
export * from './model.js';
export * as initializers from './initializers.js';
export type { Initializer, InitializerSpec } from './initializers.js';
export * as regularizers from './regularizers.js';
export type { Regularizer, RegularizerSpec } from './regularizers.js';
export { getActivation, type ActivationFn, type ActivationSpec } from './activations.js';
export * from './layers/core.js';
export * from './layers/conv.js';
export * from './layers/pooling.js';
export * from './layers/normalization.js';
export * from './layers/merge.js';
export * from './layers/embedding.js';
export * from './layers/recurrent.js';
export * from './layers/attention.js';
export * from './layers/wrappers.js';
