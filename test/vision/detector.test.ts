/**
 * The FCOS-style detector: its loss against a float64 loop reference and finite differences, target
 * packing, decoding + NMS on hand-made head outputs, and a tiny model that overfits two scenes,
 * recovers their boxes, and survives save/load.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { setSeed, tensor, type Tensor } from '../../src/index.js';
import {
  FcosDetector,
  SceneGenerator,
  assignFcosTargets,
  boxIou,
  decodeFcos,
  fcosLoss,
  pyramidLevels,
} from '../../src/vision/index.js';
import { checkGrad, randomTensor } from '../helpers/gradcheck.js';
import { fitOnImages, tinyDetector } from '../helpers/tiny-detector.js';

const sig = (v: number) => 1 / (1 + Math.exp(-v));
const softplus = (v: number) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));

/** The FCOS loss written out with plain loops (torchvision's focal loss and GIoU formulas). */
function referenceLoss(yTrue: Float64Array, yPred: Float64Array, B: number, P: number, C: number): number {
  let focal = 0,
    giouSum = 0,
    weightSum = 0,
    bce = 0,
    numPos = 0;
  for (let i = 0; i < B * P; i++) {
    const t = yTrue.subarray(i * (C + 6), (i + 1) * (C + 6));
    const y = yPred.subarray(i * (C + 5), (i + 1) * (C + 5));
    for (let c = 0; c < C; c++) {
      const x = y[c],
        tt = t[c],
        p = sig(x);
      const ce = softplus(x) - x * tt;
      const pT = p * tt + (1 - p) * (1 - tt);
      focal += (0.25 * tt + 0.75 * (1 - tt)) * ce * (1 - pT) ** 2;
    }
    if (t[C + 5] === 0) continue;
    numPos++;
    const [l, tp, r, b] = [0, 1, 2, 3].map((k) => Math.exp(y[C + k]));
    const [L, T, R, Bt] = [0, 1, 2, 3].map((k) => t[C + k]);
    const inter = (Math.min(r, R) + Math.min(l, L)) * (Math.min(b, Bt) + Math.min(tp, T));
    const union = (l + r) * (tp + b) + (L + R) * (T + Bt) - inter;
    const iou = inter / (union + 1e-7);
    const enclose = (Math.max(r, R) + Math.max(l, L)) * (Math.max(b, Bt) + Math.max(tp, T));
    const giou = iou - (enclose - union) / (enclose + 1e-7);
    giouSum += (1 - giou) * t[C + 4];
    weightSum += t[C + 4];
    bce += softplus(y[C + 4]) - y[C + 4] * t[C + 4];
  }
  const n = Math.max(numPos, 1);
  return focal / n + giouSum / Math.max(weightSum, 1e-6) + bce / n;
}

/** Targets with a few positives: one-hot class, positive ltrb, centerness in (0, 1], flag. */
function randomTargets(B: number, P: number, C: number, seed: number): Float64Array {
  const u = randomTensor([B * P * 6], seed).data as Float64Array;
  const out = new Float64Array(B * P * (C + 6));
  for (let i = 0; i < B * P; i++) {
    if (u[i * 6] < 0) continue;
    const o = i * (C + 6);
    out[o + (Math.floor((u[i * 6 + 1] + 1) * C * 0.4999) % C)] = 1;
    for (let k = 0; k < 4; k++) out[o + C + k] = 0.5 + 2 * Math.abs(u[i * 6 + 2 + k]);
    out[o + C + 4] = 0.2 + 0.8 * Math.abs(u[i * 6 + 5]);
    out[o + C + 5] = 1;
  }
  return out;
}

describe('fcosLoss', () => {
  const B = 2,
    P = 5,
    C = 3;
  const yTrue = randomTargets(B, P, C, 3);
  const yPred = randomTensor([B, P, C + 5], 4);

  it('equals the loop reference and is the same in every row', () => {
    const got = fcosLoss(C)(tensor(yTrue, { shape: [B, P, C + 6] }), yPred).data as Float64Array;
    const want = referenceLoss(yTrue, yPred.data as Float64Array, B, P, C);
    expect(got.length).toBe(B);
    for (const v of got) expect(v).toBeCloseTo(want, 10);
  });

  it('with no positives is the focal loss alone, over one', () => {
    const none = new Float64Array(B * P * (C + 6));
    const got = (fcosLoss(C)(tensor(none, { shape: [B, P, C + 6] }), yPred).data as Float64Array)[0];
    expect(got).toBeCloseTo(referenceLoss(none, yPred.data as Float64Array, B, P, C), 10);
  });

  it('gradients match finite differences', () => {
    const t = tensor(yTrue, { shape: [B, P, C + 6] });
    checkGrad((y: Tensor) => fcosLoss(C)(t, y), [yPred]);
  });

  it('names the shapes it expected', () => {
    expect(() => fcosLoss(C)(tensor(yTrue, { shape: [B, P, C + 6] }), randomTensor([B, P, C + 4], 1))).toThrow(
      /fcosLoss: expected predictions \[B, P, 8\] and targets \[B, P, 9\] for 3 classes/,
    );
  });
});

describe('FcosDetector', () => {
  it('packs targets as assignFcosTargets assigns them', () => {
    const det = new FcosDetector({ numClasses: 2, imageSize: [64, 64], strides: [8, 16], sizeBounds: [32] });
    const boxes = [4, 4, 28, 20, 0, 0, 64, 48];
    const packed = det.targets(boxes, [1, 0]);
    const t = assignFcosTargets(pyramidLevels(64, 64, [8, 16], [32]), boxes, [1, 0]);
    expect(det.numPoints).toBe(64 + 16);
    expect(packed.length).toBe(80 * 8);
    for (let p = 0; p < 80; p++) {
      const row = Array.from(packed.subarray(p * 8, p * 8 + 8));
      const want =
        t.labels[p] < 0
          ? [0, 0, 0, 0, 0, 0, 0, 0]
          : [
              t.labels[p] === 0 ? 1 : 0,
              t.labels[p] === 1 ? 1 : 0,
              ...t.boxTargets.subarray(p * 4, p * 4 + 4),
              t.centerness[p],
              1,
            ];
      expect(row).toEqual(want);
    }
  });

  it('rejects configurations it cannot build', () => {
    expect(() => new FcosDetector({ numClasses: 2, imageSize: [60, 64] })).toThrow(
      /multiples of the largest stride 32/,
    );
    expect(() => new FcosDetector({ numClasses: 2, imageSize: [64, 64], strides: [16, 8] })).toThrow(/increasing/);
  });
});

describe('decodeFcos', () => {
  // 32x32 image, one level of stride 16: 4 points at (8,8), (24,8), (8,24), (24,24); 2 classes.
  const levels = pyramidLevels(32, 32, [16], []);
  const C = 2,
    D = C + 5;
  const low = -20; // σ(−20) ≈ 2e-9: nothing
  const head = (rows: number[][]) => {
    const h = new Float64Array(4 * D).fill(low);
    rows.forEach((r, p) => h.set(r, p * D));
    return h;
  };
  const ln = Math.log;

  it('scores, boxes, clipping and class-aware NMS (hand-computed)', () => {
    const h = head([
      // point (8,8): class 0 logit 2, ctr logit 1, ltrb 0.25 0.25 0.5 0.5 strides → box [4, 4, 16, 16]
      [2, low, ln(0.25), ln(0.25), ln(0.5), ln(0.5), 1],
      // point (24,8): class 0 logit 1, ltrb 1.25 0.25 0.125 0.5 → [4, 4, 26, 16]: IoU 144/264 = 0.545 with the first
      [1, low, ln(1.25), ln(0.25), ln(0.125), ln(0.5), 1],
      // point (8,24): class 1 logit 0, ctr 0, ltrb 2 1.25 0.5 0.5 → [−24, 4, 16, 32], clipped to [0, 4, 16, 32]
      [low, 0, ln(2), ln(1.25), ln(0.5), ln(0.5), 0],
      [low, low, 0, 0, 0, 0, low],
    ]);
    const dets = decodeFcos(h, levels, C, [32, 32], { iouThreshold: 0.5 });
    // The default threshold (0.6) keeps the second class-0 box.
    expect(decodeFcos(h, levels, C, [32, 32]).map((d) => d.label)).toEqual([0, 0, 1]);
    const s0 = Math.sqrt(sig(2) * sig(1)),
      s1 = Math.sqrt(sig(1) * sig(1)),
      s2 = Math.sqrt(sig(0) * sig(0));
    expect(dets.map((d) => d.label)).toEqual([0, 1]);
    expect(dets[0].score).toBeCloseTo(s0, 12);
    expect(dets[1].score).toBeCloseTo(s2, 12);
    expect(s1).toBeGreaterThan(s2); // so point 1 was dropped by NMS, not by its score
    expect(dets[0].box.map((v) => Number(v.toFixed(4)))).toEqual([4, 4, 16, 16]);
    expect(dets[1].box.map((v) => Number(v.toFixed(4)))).toEqual([0, 4, 16, 32]);
  });

  it('score threshold, topK and maxDetections', () => {
    const far = (x: number) => [x, low, 0, 0, 0, 0, 20];
    // Four separate class-0 boxes (one per point, 16x16 centred on it): no NMS between them.
    const h = head([far(3), far(2), far(1), far(-3)]);
    expect(decodeFcos(h, levels, C, [32, 32]).map((d) => Number(d.score.toFixed(6)))).toEqual(
      [3, 2, 1, -3].map((x) => Number(Math.sqrt(sig(x) * sig(20)).toFixed(6))),
    );
    expect(decodeFcos(h, levels, C, [32, 32], { scoreThreshold: 0.6 }).length).toBe(3);
    expect(decodeFcos(h, levels, C, [32, 32], { topK: 2 }).length).toBe(2);
    expect(decodeFcos(h, levels, C, [32, 32], { maxDetections: 1 }).length).toBe(1);
    expect(() => decodeFcos(h.subarray(1), levels, C, [32, 32])).toThrow(/expected 4 points × 7 values = 28, got 27/);
  });
});

describe('training', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lepton-detector-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('overfits two scenes and recovers their boxes; save/load keeps the detections', async () => {
    setSeed(3);
    const size = 64;
    const gen = new SceneGenerator(
      {
        width: size,
        height: size,
        minObjects: 2,
        maxObjects: 2,
        minSize: 16,
        maxSize: 30,
        classes: ['circle', 'square'],
        clutter: 0,
        noise: 0,
      },
      5,
    );
    const scenes = [gen.next(), gen.next()];
    const det = tinyDetector(size, ['circle', 'square']);
    await fitOnImages(det, scenes, 300);
    for (const s of scenes) {
      const found = await det.detect({ data: s.image, width: size, height: size }, { scoreThreshold: 0.3 });
      for (const o of s.objects) {
        const match = found.find((d) => d.label === o.label && boxIou(d.box, o.box)[0] > 0.7);
        expect(match, `${o.className} at [${o.box}] in ${JSON.stringify(found)}`).toBeDefined();
      }
    }
    const first = await det.detect({ data: scenes[0].image, width: size, height: size });
    // One batched call gives each image's own detections.
    const images = scenes.map((s) => ({ data: s.image, width: size, height: size }));
    const batched = await det.detectBatch(images);
    const single = [first, await det.detect(images[1])];
    expect(batched.map((b) => b.length)).toEqual(single.map((b) => b.length));
    batched.forEach((b, i) =>
      b.forEach((d, j) => {
        expect(d.label).toBe(single[i][j].label);
        expect(d.score).toBeCloseTo(single[i][j].score, 5);
      }),
    );
    await det.save(join(dir, 'model'));
    const again = await (await FcosDetector.load(join(dir, 'model'))).detect({
      data: scenes[0].image,
      width: size,
      height: size,
    });
    expect(again.length).toBe(first.length);
    again.forEach((d, i) => {
      expect(d.label).toBe(first[i].label);
      expect(d.score).toBeCloseTo(first[i].score, 5);
      d.box.forEach((v, k) => expect(v).toBeCloseTo(first[i].box[k], 3));
    });
  }, 120_000);
});
