/**
 * FcosDetector.exportOnnx: the whole detector with its postprocessing and NMS in one ONNX file.
 * Plain onnxruntime-node runs it; the detections read from its outputs equal `detect()`'s (the
 * model run by Lepton, decoded and NMS'd on the host) on the same images.
 */
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Conv2D, Generator, mul, setSeed } from '../../src/index.js';
import { type Detection, FcosDetector } from '../../src/vision/index.js';
import { tempDir } from '../helpers/temp.js';

describe('FcosDetector.exportOnnx', () => {
  it('runs in plain onnxruntime-node and gives the detections detect() gives', async () => {
    setSeed(5);
    const S = 64;
    const det = new FcosDetector({ numClasses: 3, imageSize: [S, S] });
    // Spread the untrained class and centerness logits (all near the prior otherwise), so no two
    // overlapping candidates score within float32 rounding of each other and NMS has one answer.
    for (const layer of det.model.layers)
      if (layer instanceof Conv2D && (layer.filters === 3 || layer.filters === 1))
        layer.weights[0].assign(mul(layer.weights[0], 40)); // the kernel; the biases keep the prior
    const file = join(tempDir('lepton-detector-export-'), 'fcos.onnx');
    const options = { scoreThreshold: 0.05, iouThreshold: 0.5, maxDetections: 1000 };
    await det.exportOnnx(file, options);
    const session = await ort.InferenceSession.create(file);
    expect(session.inputNames).toEqual(['image']);
    expect(session.outputNames).toEqual(['boxes', 'scores', 'selected']);

    const g = new Generator(9);
    const images = [0, 1].map(() => Uint8Array.from({ length: S * S * 3 }, () => g.int(0, 256)));
    const x = new Float32Array(2 * S * S * 3);
    images.forEach((im, b) =>
      x.set(
        Float32Array.from(im, (v) => v / 255),
        b * S * S * 3,
      ),
    );
    const out = await session.run({ image: new ort.Tensor('float32', x, [2, S, S, 3]) });
    const boxes = out.boxes.data as Float32Array;
    const scores = out.scores.data as Float32Array;
    const selected = out.selected.data as BigInt64Array;
    const P = det.numPoints;
    expect(out.boxes.dims).toEqual([2, P, 4]);
    expect(out.scores.dims).toEqual([2, 3, P]);

    for (let b = 0; b < 2; b++) {
      const fromGraph: Detection[] = [];
      for (let r = 0; r < selected.length / 3; r++) {
        const [bb, c, i] = [0, 1, 2].map((k) => Number(selected[3 * r + k]));
        if (bb !== b) continue;
        const o = (b * P + i) * 4;
        fromGraph.push({
          box: [boxes[o], boxes[o + 1], boxes[o + 2], boxes[o + 3]],
          label: c,
          score: scores[(b * 3 + c) * P + i],
        });
      }
      const host = await det.detect({ data: images[b], width: S, height: S }, options);
      expect(host.length).toBeGreaterThan(3);
      expect(fromGraph.length).toBe(host.length);
      // The same detections (the graph lists them by class, detect() by score): match each one.
      for (const h of host) {
        const k = fromGraph.findIndex(
          (d) =>
            d.label === h.label &&
            Math.abs(d.score - h.score) < 1e-5 &&
            d.box.every((v, j) => Math.abs(v - h.box[j]) < 1e-3),
        );
        expect(k, `detect() found ${JSON.stringify(h)}; the exported graph did not`).toBeGreaterThanOrEqual(0);
        fromGraph.splice(k, 1);
      }
    }
    await session.release();
  });
});
