/**
 * A small detector fitted on a few images with their ground-truth boxes (the whole set as one
 * batch), for tests that need a detector that finds something without a training run.
 */
import { optimizers, tensor } from '../../src/index.js';
import { FcosDetector, fcosLoss } from '../../src/vision/index.js';

/** A two-level detector small enough to fit in seconds (square input of `size` pixels). */
export function tinyDetector(size: number, classNames: string[], fpnChannels = 32): FcosDetector {
  return new FcosDetector({
    numClasses: classNames.length,
    classNames,
    imageSize: [size, size],
    strides: [8, 16],
    sizeBounds: [24],
    widths: [8, 16, 16, 32, 32],
    fpnChannels,
    // Few steps: the moving statistics must forget their initial values (mean 0, variance 1) quickly.
    batchNormMomentum: 0.9,
  });
}

export async function fitOnImages(
  det: FcosDetector,
  images: readonly { image: Uint8Array; objects: readonly { box: readonly number[]; label: number }[] }[],
  epochs: number,
): Promise<void> {
  const [H, W] = det.config.imageSize;
  const C = det.config.numClasses;
  const P = det.numPoints;
  const n = images.length;
  const x = new Float32Array(n * H * W * 3);
  const y = new Float32Array(n * P * (C + 6));
  images.forEach((s, i) => {
    if (s.image.length !== H * W * 3) throw new Error(`fitOnImages: image ${i} is not ${W}x${H} RGB`);
    for (let k = 0; k < s.image.length; k++) x[i * s.image.length + k] = s.image[k] / 255;
    det.targets(
      s.objects.flatMap((o) => [...o.box]),
      s.objects.map((o) => o.label),
      y,
      i * P * (C + 6),
    );
  });
  det.model.compile({ optimizer: optimizers.Adam({ learningRate: 3e-3 }), loss: fcosLoss(C) });
  await det.model.fit(tensor(x, { shape: [n, H, W, 3] }), tensor(y, { shape: [n, P, C + 6] }), {
    epochs,
    batchSize: n,
    verbose: 0,
    workers: 1,
  });
}
