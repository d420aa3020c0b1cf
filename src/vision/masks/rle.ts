/**
 * COCO run-length encoding of binary masks, compatible with pycocotools (`mask.encode/decode`,
 * `frString/toString`, `area`, `toBbox`). COCO runs go down the columns (column-major, Fortran
 * order) and start with a run of zeros (possibly empty). Masks here are row-major H×W bytes, as
 * images are; the functions transpose. The compact string form stores each count (from the third
 * on, as the difference to the count two before) in 5-bit groups offset by 48 ('0').
 */
import type { CocoRle } from '../formats/coco-types.js';

function checkMask(where: string, mask: ArrayLike<number>, height: number, width: number): void {
  if (!(Number.isInteger(height) && Number.isInteger(width) && height >= 0 && width >= 0)) {
    throw new Error(`${where}: height and width must be non-negative integers, got ${height}x${width}`);
  }
  if (mask.length !== height * width)
    throw new Error(`${where}: a ${height}x${width} mask needs ${height * width} values, got ${mask.length}`);
}

/** Run lengths (column-major, zeros first) of a row-major H×W mask (non-zero = inside). */
export function rleCounts(mask: ArrayLike<number>, height: number, width: number): number[] {
  checkMask('rleCounts', mask, height, width);
  const counts: number[] = [];
  let current = 0,
    run = 0;
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) {
      const v = mask[y * width + x] ? 1 : 0;
      if (v !== current) {
        counts.push(run);
        run = 0;
        current = v;
      }
      run++;
    }
  }
  counts.push(run);
  return counts;
}

/** COCO's compact string form of run lengths (pycocotools `rleToString`). */
export function rleCountsToString(counts: readonly number[]): string {
  let s = '';
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i];
    if (i > 2) x -= counts[i - 2];
    for (let more = true; more; ) {
      let c = x & 0x1f;
      x >>= 5; // arithmetic shift: negative deltas end on -1
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      s += String.fromCharCode(c + 48);
    }
  }
  return s;
}

/** Parses COCO's compact string form (pycocotools `rleFrString`). */
export function rleCountsFromString(s: string): number[] {
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0,
      k = 0,
      more = true;
    while (more) {
      if (p >= s.length) throw new Error(`rleCountsFromString: the string ends inside a count ('${s.slice(0, 40)}')`);
      const c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63) throw new Error(`rleCountsFromString: character '${s[p]}' at ${p} is not a COCO RLE digit`);
      x |= (c & 0x1f) << (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && c & 0x10) x |= -1 << (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}

/** Encodes a row-major H×W mask as COCO RLE (`compressed` = string counts, as pycocotools writes). */
export function encodeRle(mask: ArrayLike<number>, height: number, width: number, compressed = true): CocoRle {
  const counts = rleCounts(mask, height, width);
  return { size: [height, width], counts: compressed ? rleCountsToString(counts) : counts };
}

function countsOf(rle: CocoRle): number[] {
  const counts = typeof rle.counts === 'string' ? rleCountsFromString(rle.counts) : rle.counts;
  const [h, w] = rle.size;
  const total = counts.reduce((s, c) => s + c, 0);
  if (total !== h * w) throw new Error(`COCO RLE: counts sum to ${total}, but size ${h}x${w} has ${h * w} pixels`);
  return counts;
}

/** Decodes COCO RLE into a row-major H×W mask of 0/1 bytes. */
export function decodeRle(rle: CocoRle): Uint8Array {
  const [h, w] = rle.size;
  const counts = countsOf(rle);
  const out = new Uint8Array(h * w);
  let pos = 0;
  counts.forEach((c, i) => {
    if (i % 2 === 1) for (let k = pos; k < pos + c; k++) out[(k % h) * w + Math.floor(k / h)] = 1;
    pos += c;
  });
  return out;
}

/** Number of pixels inside (pycocotools `area`). */
export function rleArea(rle: CocoRle): number {
  return countsOf(rle).reduce((s, c, i) => (i % 2 ? s + c : s), 0);
}

/** Tight [x, y, w, h] box of the pixels inside, in pixel-edge coordinates (pycocotools `toBbox`); zeros when empty. */
export function rleToBbox(rle: CocoRle): [number, number, number, number] {
  const [h] = rle.size;
  const counts = countsOf(rle);
  let xs = Infinity,
    ys = Infinity,
    xe = -Infinity,
    ye = -Infinity;
  let pos = 0;
  counts.forEach((c, i) => {
    if (i % 2 === 1 && c > 0) {
      const first = pos,
        last = pos + c - 1;
      const x0 = Math.floor(first / h),
        x1 = Math.floor(last / h);
      xs = Math.min(xs, x0);
      xe = Math.max(xe, x1);
      // A run that wraps into the next column reaches both the bottom and the top row.
      if (x1 > x0) [ys, ye] = [0, h - 1];
      else [ys, ye] = [Math.min(ys, first % h), Math.max(ye, last % h)];
    }
    pos += c;
  });
  if (xs === Infinity) return [0, 0, 0, 0];
  return [xs, ys, xe - xs + 1, ye - ys + 1];
}
