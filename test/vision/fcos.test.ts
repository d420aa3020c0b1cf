/** FCOS target assignment on a hand-worked layout, and the ltrb box coder (host and op). */
import { describe, expect, it } from 'vitest';
import { tensor } from '../../src/index.js';
import {
  assignFcosTargets,
  decodeLtrb,
  decodeLtrbOp,
  encodeLtrb,
  oneHotTargets,
  pyramidLevels,
  pyramidPoints,
} from '../../src/vision/index.js';
import { checkGrad, randomTensor } from '../helpers/gradcheck.js';

describe('FCOS targets', () => {
  // 64x64 image, strides 8 and 16 split at 32: level 0 is 8x8 points (centres 4, 12, ..., 60) for
  // sizes (0, 32]; level 1 is 4x4 points (centres 8, 24, 40, 56) for sizes above 32.
  const levels = pyramidLevels(64, 64, [8, 16], [32]);
  const A = [4, 4, 28, 20]; // label 2: strictly inside at (12,12), (20,12); max distance 16 -> level 0
  const B = [0, 0, 64, 48]; // label 0: every level-1 point with y in {8,24,40}; never level 0 (its points are > 32 from a side)
  const C = [0, 0, 30, 30]; // label 1: all 16 level-0 points with x,y in {4,12,20,28}, but A is smaller where both apply
  const boxes = [...A, ...B, ...C];
  const labels = [2, 0, 1];

  it('levels and points', () => {
    expect(levels.map((l) => [l.stride, l.height, l.width, ...l.range])).toEqual([
      [8, 8, 8, 0, 32],
      [16, 4, 4, 32, Infinity],
    ]);
    const { points, strides } = pyramidPoints(levels);
    expect(points.length).toBe((64 + 16) * 2);
    expect([points[2], points[3]]).toEqual([12, 4]); // level 0, row 0, column 1
    expect([points[128], points[129], strides[64]]).toEqual([8, 8, 16]); // first level-1 point
  });

  it('assigns by containment, level range and smallest area (hand-worked)', () => {
    const t = assignFcosTargets(levels, boxes, labels, { centerRadius: 0 });
    expect(t.numPositives).toBe(2 + 14 + 12);
    // (12,12) is level-0 index 9, (20,12) index 10: both A.
    expect([t.labels[9], t.labels[10], t.gtIndex[9]]).toEqual([2, 2, 0]);
    // (12,12) to A: l 8, t 8, r 16, b 8, divided by the stride 8; centerness sqrt(8/16 * 8/8).
    expect([...t.boxTargets.subarray(36, 40)]).toEqual([1, 1, 2, 1]);
    expect(t.centerness[9]).toBeCloseTo(Math.SQRT1_2, 6);
    // (4,4) is C's (index 0); (36,4) (index 4) is outside C and A: background on level 0.
    expect([t.labels[0], t.labels[4]]).toEqual([1, -1]);
    // Level 1: B everywhere with y < 48; the last row (y = 56) is background.
    const level1 = [...t.labels.subarray(64)];
    expect(level1).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1]);
    // Unnormalised targets are in pixels: (8,8) to B = 8, 8, 56, 40.
    const raw = assignFcosTargets(levels, boxes, labels, { centerRadius: 0, normalize: false });
    expect([...raw.boxTargets.subarray(64 * 4, 64 * 4 + 4)]).toEqual([8, 8, 56, 40]);
  });

  it('centre sampling keeps points near the box centre', () => {
    // B's centre (32, 24), radius 1.5 * 16 = 24: sub-box (8, 0)-(56, 48); strictly inside: x in {24, 40}.
    const t = assignFcosTargets(levels, B, [0], { centerRadius: 1.5 });
    expect([...t.labels.subarray(64)].map((l) => (l < 0 ? '.' : 'B')).join('')).toBe('.BB..BB..BB.....');
    expect(t.numPositives).toBe(6);
  });

  it('one-hot targets and errors', () => {
    expect([...oneHotTargets([1, -1, 0], 2)]).toEqual([0, 1, 0, 0, 1, 0]);
    expect(() => oneHotTargets([2], 2)).toThrow(/label 2 at 0 is not in \[0, 2\)/);
    expect(() => assignFcosTargets(levels, [5, 5, 5, 9], [0])).toThrow(/box 0 .* is degenerate/);
  });
});

describe('ltrb box coder', () => {
  it('encode/decode round trip on the host; the op decodes like the host', () => {
    const points = [12, 12, 40, 8];
    const boxes = [4, 4, 28, 20, 30, 0, 64, 30];
    const strides = [8, 16];
    const ltrb = encodeLtrb(points, boxes, strides);
    expect([...ltrb]).toEqual([1, 1, 2, 1, 10 / 16, 0.5, 24 / 16, 22 / 16].map(Math.fround));
    expect([...decodeLtrb(points, ltrb, strides)]).toEqual(boxes);
    const op = decodeLtrbOp(
      tensor(ltrb, { shape: [1, 2, 4] }),
      tensor(Float32Array.from(points), { shape: [2, 2] }),
      tensor(Float32Array.from(strides), { shape: [2, 1] }),
    );
    expect(op.shape).toEqual([1, 2, 4]);
    expect([...(op.data as Float32Array)]).toEqual(boxes);
  });

  it('op gradient matches finite differences', () => {
    const pts = randomTensor([3, 2], 1, 'float64', 10);
    const st = tensor(Float64Array.from([8, 16, 32]), { shape: [3, 1] });
    checkGrad((l) => decodeLtrbOp(l, pts, st), [randomTensor([2, 3, 4], 2)]);
  });
});
