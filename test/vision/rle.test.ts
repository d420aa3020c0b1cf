/**
 * COCO RLE on hand-computed cases. pycocotools flattens masks column-major (Fortran order) and
 * starts with a zero run; the string form is its LEB128-like 5-bit code with deltas from the
 * third count on (worked by hand below).
 */
import { describe, expect, it } from 'vitest';
import { Generator } from '../../src/index.js';
import {
  decodeRle,
  encodeRle,
  rleArea,
  rleCounts,
  rleCountsFromString,
  rleCountsToString,
  rleToBbox,
} from '../../src/vision/index.js';

// Row-major 3x3:      columns read top-down: col0 0 0 0 | col1 1 1 0 | col2 0 1 0
//   0 1 0             -> 0 0 0 1 1 0 0 1 0 -> runs [3 zeros, 2 ones, 2 zeros, 1 one, 1 zero]
//   0 1 1
//   0 0 0
const mask = [0, 1, 0, 0, 1, 1, 0, 0, 0];

describe('COCO RLE', () => {
  it('counts are column-major and start with zeros', () => {
    expect(rleCounts(mask, 3, 3)).toEqual([3, 2, 2, 1, 1]);
    expect(rleCounts([1, 1, 1, 1], 2, 2)).toEqual([0, 4]); // leading empty zero run
    expect(rleCounts([], 0, 0)).toEqual([0]);
  });

  it('string form: hand-encoded digits, including negative deltas', () => {
    // 3,2,2 -> '3','2','2'; 4th: 1-2 = -1 -> low 5 bits 31 (sign bit set, rest -1: stop) -> chr(79) 'O'; 5th likewise.
    expect(rleCountsToString([3, 2, 2, 1, 1])).toBe('322OO');
    // 100 = 0b11_00100: first group 4 with continuation (4|32)+48 = 'T', then 3 -> '3'.
    expect(rleCountsToString([100])).toBe('T3');
    // 16 needs two groups: 16 has the 5-bit sign bit set, so continue: (16|32)+48 = '`', then 0 -> '0'.
    expect(rleCountsToString([16])).toBe('`0');
    expect(rleCountsFromString('322OO')).toEqual([3, 2, 2, 1, 1]);
    expect(rleCountsFromString('T3')).toEqual([100]);
    expect(rleCountsFromString('`0')).toEqual([16]);
    expect(() => rleCountsFromString('T')).toThrow(/ends inside a count/);
  });

  it('area, bbox and decode', () => {
    const rle = encodeRle(mask, 3, 3);
    expect(rle).toEqual({ size: [3, 3], counts: '322OO' });
    expect(rleArea(rle)).toBe(3);
    expect(rleToBbox(rle)).toEqual([1, 0, 2, 2]);
    expect([...decodeRle(rle)]).toEqual(mask);
    expect(rleToBbox(encodeRle([0, 0, 0, 0], 2, 2))).toEqual([0, 0, 0, 0]);
    // A run wrapping from the bottom of column 0 to the top of column 1: rows 0..1 both.
    expect(rleToBbox({ size: [2, 2], counts: [1, 2, 1] })).toEqual([0, 0, 2, 2]);
    expect(() => decodeRle({ size: [2, 2], counts: [1, 2] })).toThrow(/sum to 3.*2x2 has 4/);
  });

  it('round-trips random masks of odd shapes, compressed and not', () => {
    const g = new Generator(5);
    for (let t = 0; t < 40; t++) {
      const h = 1 + Math.floor(g.random() * 40),
        w = 1 + Math.floor(g.random() * 40);
      const p = g.random();
      const m = Uint8Array.from({ length: h * w }, () => (g.random() < p ? 1 : 0));
      for (const compressed of [true, false]) {
        const rle = encodeRle(m, h, w, compressed);
        expect(decodeRle(rle)).toEqual(m);
        expect(rleArea(rle)).toBe(m.reduce((s, v) => s + v, 0));
      }
      // Bounding box against a direct scan.
      let xs = w,
        ys = h,
        xe = -1,
        ye = -1;
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++)
          if (m[y * w + x]) [xs, ys, xe, ye] = [Math.min(xs, x), Math.min(ys, y), Math.max(xe, x), Math.max(ye, y)];
      expect(rleToBbox(encodeRle(m, h, w))).toEqual(xe < 0 ? [0, 0, 0, 0] : [xs, ys, xe - xs + 1, ye - ys + 1]);
    }
  });
});
