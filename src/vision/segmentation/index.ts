/** Segmentation: U-Net and FCN builders, the CE + Dice loss, class maps from logits. */
export * from './unet.js';
export * from './loss.js';
export * from './masks.js';
