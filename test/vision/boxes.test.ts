/**
 * Box utilities: conversions and IoU values on hand-computed boxes, op gradients against finite
 * differences, and NMS against a brute-force greedy reference written here.
 */
import { describe, expect, it } from 'vitest';
import { Generator, compileSync, grad, mul, sub, sum, tensor, type Tensor } from '../../src/index.js';
import {
  aspectRatioPenalty,
  boxIou,
  convertBoxes,
  convertBoxesOp,
  iouLoss,
  nms,
  pairedIou,
} from '../../src/vision/index.js';
import { checkGrad } from '../helpers/gradcheck.js';

const t64 = (rows: number[][]) => tensor(Float64Array.from(rows.flat()), { shape: [rows.length, 4] });

describe('box conversions', () => {
  it('xyxy <-> xywh <-> cxcywh on hand values, host and op', () => {
    const xyxy = [1, 2, 5, 10];
    expect([...convertBoxes(xyxy, 'xyxy', 'xywh')]).toEqual([1, 2, 4, 8]);
    expect([...convertBoxes(xyxy, 'xyxy', 'cxcywh')]).toEqual([3, 6, 4, 8]);
    expect([...convertBoxes([3, 6, 4, 8], 'cxcywh', 'xyxy')]).toEqual(xyxy);
    expect([...convertBoxes([1, 2, 4, 8], 'xywh', 'cxcywh')]).toEqual([3, 6, 4, 8]);
    expect([...(convertBoxesOp(t64([xyxy]), 'xyxy', 'cxcywh').data as Float64Array)]).toEqual([3, 6, 4, 8]);
    expect([...(convertBoxesOp(t64([[3, 6, 4, 8]]), 'cxcywh', 'xywh').data as Float64Array)]).toEqual([1, 2, 4, 8]);
    expect(() => convertBoxes([1, 2, 3], 'xyxy', 'xywh')).toThrow(/4 numbers per box/);
    expect(() => convertBoxesOp(tensor([1, 2, 3]), 'xyxy', 'xywh')).toThrow(/last axis of size 4.*\[3\]/);
  });

  it('host IoU matrix', () => {
    const iou = boxIou([0, 0, 2, 2, 10, 10, 11, 11], [1, 1, 3, 3, 0, 0, 2, 2, 5, 5, 5, 9]);
    expect([...iou]).toEqual([1 / 7, 1, 0, 0, 0, 0]);
  });
});

describe('IoU-family ops', () => {
  // a=[0,0,2,2], b=[1,1,3,3]: intersection 1, union 7, enclosing 3x3 (diagonal² 18), centres √2 apart.
  // c=[0,0,2,1], d=[0,0,1,1]: IoU 1/2, enclosing 2x1 (diagonal² 5), centre distance² 1/4.
  const a = t64([
    [0, 0, 2, 2],
    [0, 0, 2, 1],
  ]);
  const b = t64([
    [1, 1, 3, 3],
    [0, 0, 1, 1],
  ]);
  const v2 = (4 / Math.PI ** 2) * (Math.atan(1) - Math.atan(2)) ** 2;
  const expected: Record<string, number[]> = {
    iou: [1 / 7, 1 / 2],
    giou: [1 / 7 - 2 / 9, 1 / 2],
    diou: [1 / 7 - 2 / 18, 1 / 2 - 0.25 / 5],
    ciou: [1 / 7 - 2 / 18, 1 / 2 - 0.25 / 5 - (v2 / (1 - 1 / 2 + v2)) * v2],
  };
  it.each(Object.keys(expected))('%s matches hand-computed values', (kind) => {
    const got = pairedIou(a, b, kind as 'iou', { eps: 0 }).data as Float64Array;
    expected[kind].forEach((e, i) => expect(got[i]).toBeCloseTo(e, kind === 'ciou' ? 6 : 14));
  });

  it('iouLoss is 1 - score, reduced', () => {
    const l = iouLoss(a, b, 'giou', { eps: 0 }).item();
    expect(l).toBeCloseTo(1 - (expected.giou[0] + expected.giou[1]) / 2, 14);
  });

  // Overlapping boxes with distinct coordinates (no min/max ties, no empty intersections).
  const randomPairs = (seed: number, n: number) => {
    const g = new Generator(seed);
    const p: number[][] = [],
      q: number[][] = [];
    for (let i = 0; i < n; i++) {
      const x = g.random() * 4,
        y = g.random() * 4,
        w = 2 + g.random() * 3,
        h = 2 + g.random() * 3;
      p.push([x, y, x + w, y + h]);
      const dx = 0.3 + g.random(),
        dy = 0.3 + g.random();
      q.push([x + dx, y + dy, x + w * (0.7 + 0.6 * g.random()) + dx, y + h * (0.7 + 0.6 * g.random()) + dy]);
    }
    return [t64(p), t64(q)];
  };

  it.each(['iou', 'giou', 'diou'])('%s gradients match finite differences (float64)', (kind) => {
    const [p, q] = randomPairs(3, 5);
    checkGrad((x, y) => pairedIou(x, y, kind as 'iou'), [p, q]);
  });

  it('ciou gradients (alpha differentiated) match finite differences with a float32-aware tolerance', () => {
    const [p, q] = randomPairs(4, 4);
    checkGrad((x, y) => pairedIou(x, y, 'ciou', { stopAlphaGradient: false }), [p, q], {
      eps: 1e-3,
      rtol: 2e-3,
      atol: 5e-4,
    });
  });

  it('ciou with alpha held constant (torchvision) differentiates diou - alpha0 * v', () => {
    const [p, q] = randomPairs(5, 3);
    const r = tensor(Float64Array.from([0.3, -0.8, 0.5]), { shape: [3] });
    const iou = pairedIou(p, q, 'iou').data as Float64Array;
    const v = aspectRatioPenalty(p, q).data as Float64Array;
    const alpha0 = tensor(
      Float64Array.from(v, (vi, i) => vi / (1 - iou[i] + vi + 1e-7)),
      { shape: [3] },
    );
    const analytic = grad((x: Tensor) => sum(mul(pairedIou(x, q, 'ciou'), r)))(p).data as Float64Array;
    const f = compileSync((x: Tensor) =>
      sum(mul(sub(pairedIou(x, q, 'diou'), mul(alpha0, aspectRatioPenalty(x, q))), r)),
    );
    const base = p.data as Float64Array;
    const eps = 1e-3;
    for (let i = 0; i < base.length; i++) {
      const plus = Float64Array.from(base),
        minus = Float64Array.from(base);
      plus[i] += eps;
      minus[i] -= eps;
      const numeric =
        (f(tensor(plus, { shape: [3, 4] })).item() - f(tensor(minus, { shape: [3, 4] })).item()) / (2 * eps);
      expect(Math.abs(analytic[i] - numeric)).toBeLessThan(5e-4 + 2e-3 * Math.abs(numeric));
    }
  });
});

describe('nms', () => {
  // Independent reference: repeatedly take the best remaining box, drop same-class overlaps.
  function bruteForce(
    boxes: number[],
    scores: number[],
    classes: number[],
    thr: number,
    minScore = -Infinity,
  ): number[] {
    const iou = (i: number, j: number) => {
      const [a, b] = [boxes.slice(i * 4, i * 4 + 4), boxes.slice(j * 4, j * 4 + 4)];
      const area = (q: number[]) => Math.max(0, q[2] - q[0]) * Math.max(0, q[3] - q[1]);
      const inter =
        Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0])) *
        Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
      const u = area(a) + area(b) - inter;
      return u > 0 ? inter / u : 0;
    };
    let alive = scores.map((_s, i) => i).filter((i) => scores[i] >= minScore);
    const kept: number[] = [];
    while (alive.length) {
      let best = alive[0];
      for (const i of alive) if (scores[i] > scores[best] || (scores[i] === scores[best] && i < best)) best = i;
      kept.push(best);
      alive = alive.filter((i) => i !== best && !(classes[i] === classes[best] && iou(i, best) > thr));
    }
    return kept;
  }

  it('equals a brute-force reference on random boxes with ties, degenerate boxes and classes', () => {
    const g = new Generator(11);
    for (let trial = 0; trial < 30; trial++) {
      const n = 1 + Math.floor(g.random() * 120);
      const boxes: number[] = [],
        scores: number[] = [],
        classes: number[] = [];
      for (let i = 0; i < n; i++) {
        const spread = trial % 2 ? 50 : 400; // crowded, or spread over many grid cells
        const x = Math.floor(g.random() * spread),
          y = Math.floor(g.random() * spread);
        const kind = g.random();
        // 10% zero-width or inverted boxes; integer coordinates make exact-threshold IoUs likely.
        const w = kind < 0.05 ? 0 : kind < 0.1 ? -3 : 1 + Math.floor(g.random() * 30);
        const h = 1 + Math.floor(g.random() * 30);
        boxes.push(x, y, x + w, y + h);
        scores.push(Math.floor(g.random() * 10) / 10); // many ties
        classes.push(Math.floor(g.random() * 3));
      }
      for (const thr of [0, 0.3, 0.5, 0.7]) {
        const got = [...nms(Float32Array.from(boxes), Float64Array.from(scores), { iouThreshold: thr, classes })];
        expect(got).toEqual(bruteForce(boxes, scores, classes, thr));
        const single = [...nms(boxes, scores, { iouThreshold: thr, scoreThreshold: 0.35 })];
        expect(single).toEqual(bruteForce(boxes, scores, new Array(n).fill(0), thr, 0.35));
      }
    }
  });

  it('maxOutput keeps the best; bad input gives clear errors', () => {
    const boxes = [0, 0, 10, 10, 20, 20, 30, 30, 40, 40, 50, 50];
    expect([...nms(boxes, [0.2, 0.9, 0.5], { iouThreshold: 0.5, maxOutput: 2 })]).toEqual([1, 2]);
    expect([...nms([], [], { iouThreshold: 0.5 })]).toEqual([]);
    expect(() => nms([0, 0, 1], [1], { iouThreshold: 0.5 })).toThrow(/expected 4 box coordinates/);
    expect(() => nms([0, 0, 1, 1], [NaN], { iouThreshold: 0.5 })).toThrow(/NaN/);
    expect(() => nms([0, 0, 1, 1], [1], { iouThreshold: 1.5 })).toThrow(/iouThreshold/);
  });
});
