/**
 * lepton/vision: detection and segmentation tools built on Lepton's public API — box utilities
 * and ops, NMS, COCO/YOLO data formats, COCO RLE masks, synthetic scenes, metrics (COCO mAP,
 * VOC mAP, mIoU), drawing and backbones (ResNet, MobileNet, ViT builders). A leaf package: only serve, cli and studio import it.
 */
// Installs ONNX Runtime as the executor of ops on concrete tensors (engine/index.ts is the composition root).
import '../engine/index.js';
export * from './formats/coco-types.js';
export * from './boxes/host.js';
export * from './metrics/coco.js';
export * from './metrics/detection-report.js';
export * from './metrics/voc.js';
export * from './boxes/ops.js';
export * from './boxes/nms.js';
export * from './formats/coco.js';
export * from './formats/yolo.js';
export * from './masks/rle.js';
export * from './synthetic/scenes.js';
export * from './draw.js';
export * from './metrics/segmentation.js';
export * from './losses.js';
export * from './detection/fcos.js';
export * from './boxes/nms-op.js';
export * from './segmentation/index.js';
export * from './tiling.js';
export * from './augment.js';
export * from './detection/detector.js';
export * from './assignment.js';
export * from './tracking.js';
export * from './metrics/mot.js';
export * from './video.js';
export * from './synthetic/moving.js';
export * from './track-video.js';
export * from './backbones/index.js';
