/** Backbones: model builders (ResNet-18/34, MobileNetV2, MobileNetV3-Small, ViT), torchvision weight loading, ONNX graphs as backbones. */
export * from './common.js';
export * from './resnet.js';
export * from './mobilenet.js';
export * from './vit.js';
export * from './torch-weights.js';
export * from './onnx.js';
