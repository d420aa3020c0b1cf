/**
 * A network the user brings as ONNX (e.g. a torchvision model exported with torch.onnx.export)
 * as the backbone of a segmentation or detection head: `onnxBackbone(bytes, { outputs })` cuts
 * the graph at the named intermediate values and returns them channels-last with their strides,
 * the `BackboneFeatures` that `fcn` takes. The weights stay trainable (an `OnnxLayer`).
 */
import { type KerasTensor, type OnnxLayer, type OnnxLayerOptions, importOnnxLayer } from '../../index.js';
import type { BackboneFeatures } from '../segmentation/unet.js';

export interface OnnxBackboneOptions extends Omit<OnnxLayerOptions, 'outputs' | 'channelsLast'> {
  /** Names of the graph's values to use as feature maps (NCHW in the graph), finest first. */
  outputs: string[];
  /** Called with the layer once it is created (e.g. to freeze it: `layer.trainable = false`). */
  onLayer?: (layer: OnnxLayer) => void;
}

/**
 * A backbone function over an ONNX graph: its feature maps come out channels-last, and each
 * one's stride is the image height over the map's height (which must divide exactly).
 */
export function onnxBackbone(
  model: Uint8Array,
  options: OnnxBackboneOptions,
): (image: KerasTensor) => BackboneFeatures {
  return (image) => {
    const { onLayer, ...rest } = options;
    const layer = importOnnxLayer(model, { ...rest, channelsLast: true });
    onLayer?.(layer);
    const out = layer.apply(image) as KerasTensor | KerasTensor[];
    const features = Array.isArray(out) ? out : [out];
    const height = image.shape[1];
    const strides = features.map((f, i) => {
      const h = f.shape[1];
      if (f.rank !== 4 || typeof h !== 'number' || typeof height !== 'number' || height % h !== 0)
        throw new Error(
          `onnxBackbone: output '${options.outputs[i]}' must be a [N, C, H, W] map whose height divides the image's (${height}), got ${f}`,
        );
      return height / h;
    });
    return { features, strides };
  };
}
