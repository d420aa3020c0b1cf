/**
 * Tracking: the assignment solver against brute force; the ByteTrack-style tracker on hand-made
 * detections (crossing objects, missed frames, low-score dips, one-frame false positives) with the
 * track ids asserted; the MOT metrics on hand-counted cases; and the tracker on synthetic videos
 * (ground truth → simulated detections) scored by those metrics.
 */
import { describe, expect, it } from 'vitest';
import { Generator } from '../../src/index.js';
import {
  type Detection,
  type MotFrame,
  Tracker,
  evaluateMot,
  linearAssignment,
  loadSceneDigits,
  matchBySimilarity,
  movingScenes,
  simulateDetections,
} from '../../src/vision/index.js';

/** Minimum total cost over all ways to pair min(rows, cols) rows and columns, by enumeration. */
function bruteForce(cost: number[], rows: number, cols: number): number {
  let best = Number.POSITIVE_INFINITY;
  const k = Math.min(rows, cols);
  const usedC = new Array(cols).fill(false);
  const walk = (r: number, picked: number, total: number) => {
    if (picked === k) return void (best = Math.min(best, total));
    if (r === rows) return;
    if (rows - r > k - picked) walk(r + 1, picked, total); // row r left unassigned (only when rows > cols)
    for (let c = 0; c < cols; c++)
      if (!usedC[c]) {
        usedC[c] = true;
        walk(r + 1, picked + 1, total + cost[r * cols + c]);
        usedC[c] = false;
      }
  };
  walk(0, 0, 0);
  return best;
}

describe('linearAssignment', () => {
  it('finds the minimum-cost assignment (random square and rectangular matrices, ties, negatives)', () => {
    const g = new Generator(11);
    for (let trial = 0; trial < 200; trial++) {
      const rows = g.int(1, 7),
        cols = g.int(1, 7);
      const cost = Array.from({ length: rows * cols }, () => (trial % 3 === 0 ? g.int(0, 4) : (g.random() - 0.3) * 10));
      const pairs = linearAssignment(cost, rows, cols);
      expect(pairs.length).toBe(Math.min(rows, cols));
      expect(new Set(pairs.map((p) => p[0])).size).toBe(pairs.length);
      expect(new Set(pairs.map((p) => p[1])).size).toBe(pairs.length);
      const total = pairs.reduce((s, [r, c]) => s + cost[r * cols + c], 0);
      expect(total).toBeCloseTo(bruteForce(cost, rows, cols), 9);
    }
  });

  it('matchBySimilarity keeps only pairs at or above the threshold, most pairs first', () => {
    // Greedy would take (0,0) at 0.9 and leave row 1 without a partner; the optimum pairs both rows.
    const sim = [0.9, 0.8, 0.7, 0.1];
    expect(matchBySimilarity(sim, 2, 2, 0.5)).toEqual([
      [0, 1],
      [1, 0],
    ]);
    expect(matchBySimilarity([0.4, 0.3], 1, 2, 0.5)).toEqual([]);
    expect(matchBySimilarity([], 0, 3, 0.5)).toEqual([]);
    expect(() => linearAssignment([1, 2, 3], 2, 2)).toThrow(/2x2 cost matrix/);
    expect(() => linearAssignment([1, Number.NaN], 1, 2)).toThrow(/cost\[0\]\[1\] is NaN/);
  });
});

const box = (cx: number, cy: number, w = 20, h = 20): [number, number, number, number] => [
  cx - w / 2,
  cy - h / 2,
  cx + w / 2,
  cy + h / 2,
];
const det = (b: [number, number, number, number], score = 0.9, label = 0): Detection => ({ box: b, label, score });

/** Runs a tracker over frames of detections; returns per frame a map detection index → track id. */
function run(tracker: Tracker, frames: Detection[][]): Map<number, number>[] {
  return frames.map((dets) => new Map(tracker.update(dets).map((t) => [t.detection, t.id])));
}

describe('Tracker', () => {
  it('keeps ids through a crossing: two objects pass each other with overlapping boxes', () => {
    // A moves right, B left, 4 px/frame, 6 px apart vertically: their boxes overlap while they pass.
    const frames = Array.from({ length: 25 }, (_, t) => [det(box(20 + 4 * t, 50)), det(box(116 - 4 * t, 56))]);
    const ids = run(new Tracker(), frames);
    for (const [t, m] of ids.entries()) {
      expect(m.get(0), `frame ${t}`).toBe(1);
      expect(m.get(1), `frame ${t}`).toBe(2);
    }
    // With detections listed in the other order after the crossing, the ids still follow the objects.
    const swapped = frames.map((f, t) => (t >= 13 ? [f[1], f[0]] : f));
    const ids2 = run(new Tracker(), swapped);
    expect(ids2[20].get(0)).toBe(2);
    expect(ids2[20].get(1)).toBe(1);
  });

  it('a position-only matcher (no velocity) swaps the crossing objects that the tracker keeps apart', () => {
    // Same crossing, faster (7 px/frame): the previous box of A overlaps B's new box more than A's own.
    const frames = Array.from({ length: 16 }, (_, t) => [det(box(20 + 7 * t, 50)), det(box(125 - 7 * t, 54))]);
    const ids = run(new Tracker(), frames);
    expect(ids.every((m) => m.get(0) === 1 && m.get(1) === 2)).toBe(true);
    // Reference: match each frame to the previous frame's boxes by IoU alone.
    let prev = frames[0].map((d, i) => ({ id: i + 1, box: d.box }));
    let swaps = 0;
    for (const f of frames.slice(1)) {
      const sim = prev.flatMap((p) => f.map((d) => iou(p.box, d.box)));
      const next = matchBySimilarity(sim, prev.length, f.length, 0.1).map(([i, j]) => ({
        id: prev[i].id,
        box: f[j].box,
      }));
      if (next.some((n) => n.box === f[0].box && n.id !== 1)) swaps++;
      if (next.length === 2) prev = next;
    }
    expect(swaps).toBeGreaterThan(0);
  });

  it('resumes the same id after missed frames, within maxAge; a new id after it', () => {
    const track = (gapFrom: number, gapTo: number) =>
      Array.from({ length: 20 }, (_, t) => (t >= gapFrom && t < gapTo ? [] : [det(box(20 + 3 * t, 40))]));
    const ids = run(new Tracker({ maxAge: 30 }), track(5, 10));
    expect(ids.slice(0, 5).every((m) => m.get(0) === 1)).toBe(true);
    expect(ids.slice(5, 10).every((m) => m.size === 0)).toBe(true); // nothing reported while unseen
    expect(ids.slice(10).every((m) => m.get(0) === 1)).toBe(true); // the prediction moved on with the object
    const short = run(new Tracker({ maxAge: 2 }), track(5, 10));
    expect(short[10].size).toBe(0); // a new track needs a second frame to be confirmed
    expect(short.slice(11).every((m) => m.get(0) === 2)).toBe(true);
  });

  it('follows an object through a dip in score with the low-score stage; without it the track drops', () => {
    const frames = Array.from({ length: 12 }, (_, t) => [det(box(30 + 2 * t, 40), t >= 4 && t < 8 ? 0.3 : 0.9)]);
    const ids = run(new Tracker(), frames);
    expect(ids.every((m) => m.get(0) === 1)).toBe(true);
    const noLow = run(new Tracker({ lowScore: 0.5 }), frames);
    expect(noLow.slice(4, 8).every((m) => m.size === 0)).toBe(true);
    expect(noLow[8].get(0)).toBe(1); // re-found as lost track
    // A low-score detection never starts a track.
    expect(run(new Tracker(), [[det(box(50, 50), 0.3)], [det(box(50, 50), 0.3)]]).every((m) => m.size === 0)).toBe(
      true,
    );
  });

  it('a one-frame false positive gets no id; ids count confirmed tracks 1, 2, 3', () => {
    const frames: Detection[][] = Array.from({ length: 10 }, (_, t) => [det(box(20 + t, 20))]);
    frames[3].push(det(box(90, 90), 0.95)); // seen once
    for (let t = 6; t < 10; t++) frames[t].push(det(box(60, 80 - t))); // appears at frame 6
    const ids = run(new Tracker(), frames);
    expect(ids[3].size).toBe(1);
    expect(ids[6].get(1)).toBeUndefined(); // unconfirmed on its first frame
    expect(ids.slice(7).every((m) => m.get(0) === 1 && m.get(1) === 2)).toBe(true);
  });

  it('mergeIou: a cross-class duplicate box starts no track, yet overlapping objects keep theirs', () => {
    // One object boxed twice (class 0 at 0.9, class 1 at 0.8, IoU 0.82).
    const dup = Array.from({ length: 5 }, (_, t) => [det(box(40 + t, 40), 0.9, 0), det(box(41 + t, 40), 0.8, 1)]);
    expect(run(new Tracker(), dup)[4].size).toBe(2);
    expect([...run(new Tracker({ mergeIou: 0.5 }), dup)[4].values()]).toEqual([1]);
    // Two objects that meet (IoU up to 0.82) after both tracks exist: both continue through the overlap.
    const meet = Array.from({ length: 12 }, (_, t) => [det(box(20 + 2 * t, 40)), det(box(50 - t, 41), 0.85)]);
    const ids = run(new Tracker({ mergeIou: 0.5 }), meet);
    expect(ids.every((m) => m.get(0) === 1 && m.get(1) === 2)).toBe(true);
  });

  it('class-aware matching and the label vote', () => {
    const frames = Array.from({ length: 6 }, (_, t) => [det(box(40 + t, 40), 0.9, t === 3 ? 1 : 0)]);
    const agnostic = new Tracker();
    const out = frames.map((f) => agnostic.update(f));
    expect(out.every((o) => o.length === 1 && o[0].id === 1 && o[0].label === 0)).toBe(true);
    const aware = run(new Tracker({ classAware: true }), frames);
    expect(aware[3].get(0)).toBeUndefined(); // the class-1 detection cannot continue the class-0 track
    expect(aware[4].get(0)).toBe(1);
    expect(() => new Tracker({ lowScore: 0.6, highScore: 0.5 })).toThrow(/lowScore <= highScore/);
    expect(() => new Tracker().update([{ box: [0, 0, 1], label: 0, score: 1 } as unknown as Detection])).toThrow(
      /detection 0 needs box/,
    );
  });
});

function iou(a: readonly number[], b: readonly number[]): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]),
    h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const i = w * h;
  return i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i);
}

describe('evaluateMot', () => {
  const o = (id: number, x: number, ignore = false) => ({ id, box: [x, 0, x + 10, 10], ignore });
  it('perfect tracking', () => {
    const frames: MotFrame[] = [0, 1, 2].map((t) => ({ gt: [o(1, t), o(2, 50 + t)], hyp: [o(7, t), o(9, 50 + t)] }));
    const s = evaluateMot(frames);
    expect([s.objects, s.matches, s.misses, s.falsePositives, s.idSwitches]).toEqual([6, 6, 0, 0, 0]);
    expect(s.mota).toBe(1);
    expect(s.idf1).toBe(1);
    expect(s.motp).toBe(1);
  });

  it('counts a swap as two switches; IDF1 from the best id mapping', () => {
    // Frames 0-1: gt 1 ↔ track a(1), gt 2 ↔ b(2); frames 2-3 swapped.
    const frames: MotFrame[] = [0, 1, 2, 3].map((t) => ({
      gt: [o(1, 0), o(2, 50)],
      hyp: t < 2 ? [o(1, 0), o(2, 50)] : [o(2, 0), o(1, 50)],
    }));
    const s = evaluateMot(frames);
    expect(s.idSwitches).toBe(2);
    expect(s.mota).toBe(1 - 2 / 8);
    expect(s.idtp).toBe(4); // either mapping covers 2 + 2 of the 8 boxes
    expect(s.idf1).toBe((2 * 4) / 16);
  });

  it('misses, false positives, the IoU threshold, continuation, ignored objects', () => {
    const frames: MotFrame[] = [
      { gt: [o(1, 0)], hyp: [o(5, 0)] },
      // gt 1 is missed (track 5 moved away: IoU 1/3 < 0.5, so it is also a false positive).
      { gt: [o(1, 0)], hyp: [o(5, 5)] },
      // Track 5 still overlaps gt 1 (IoU 0.67) while track 6 fits better (IoU 1): the old match stays.
      { gt: [o(1, 0)], hyp: [o(5, 2), o(6, 0)] },
      // An ignored object: the track on it is no false positive, its absence no miss.
      { gt: [o(1, 0), o(2, 40, true)], hyp: [o(5, 0), o(8, 41)] },
      { gt: [o(2, 40, true)], hyp: [] },
    ];
    const s = evaluateMot(frames);
    expect(s.objects).toBe(4);
    expect(s.matches).toBe(3);
    expect(s.misses).toBe(1);
    expect(s.falsePositives).toBe(2); // frame 1's track 5 and frame 2's track 6
    expect(s.idSwitches).toBe(0);
    expect(s.hypotheses).toBe(5);
    expect(s.mota).toBeCloseTo(1 - 3 / 4, 12);
    // Gt 1 with track 5 coincide on frames 0, 2, 3 → IDTP 3.
    expect(s.idtp).toBe(3);
    expect(() => evaluateMot([{ gt: [o(1, 0), o(1, 5)], hyp: [] }])).toThrow(/gt id 1 twice/);
  });
});

describe('tracking synthetic videos', () => {
  it('moving objects: stable ids, boxes that move with bounded speed, visibility and ignore flags', async () => {
    const digits = await loadSceneDigits('test');
    const opts = { digits, frames: 40, objects: 5, width: 96, height: 80, maxSize: 32 };
    const a = [...movingScenes(opts, 4)];
    const b = [...movingScenes(opts, 4)];
    expect(a.map((f) => f.image)).toEqual(b.map((f) => f.image));
    let ignored = 0;
    for (const [t, f] of a.entries()) {
      expect(f.image.length).toBe(96 * 80 * 3);
      for (const obj of f.objects) {
        expect(obj.id).toBeGreaterThanOrEqual(1);
        expect(obj.id).toBeLessThanOrEqual(5);
        expect(obj.box[0]).toBeGreaterThanOrEqual(0);
        expect(obj.box[2]).toBeLessThanOrEqual(96);
        expect(obj.box[3]).toBeLessThanOrEqual(80);
        expect(obj.visibility).toBeGreaterThan(0);
        expect(obj.visibility).toBeLessThanOrEqual(1);
        expect(obj.ignore).toBe(obj.visibility < 0.3);
        if (obj.ignore) ignored++;
        // The topmost object is never occluded, so its box is its whole shape and moves smoothly.
        const prev = a[t - 1]?.objects.find((p) => p.id === obj.id);
        if (obj.id === 5 && prev) {
          expect(obj.visibility).toBe(1);
          const dx = (obj.box[0] + obj.box[2] - prev.box[0] - prev.box[2]) / 2;
          expect(Math.abs(dx)).toBeLessThan(5);
        }
      }
    }
    expect(ignored).toBeLessThan(a.length * 5 * 0.2);
  });

  it('ByteTrack-style tracking of simulated detections: few id switches, high MOTA; better than no motion model', async () => {
    const digits = await loadSceneDigits('test');
    const score = (make: () => Tracker) => {
      const total = { idSwitches: 0, objects: 0, errors: 0 };
      for (const seed of [1, 2, 3]) {
        const rng = new Generator(100 + seed);
        const tracker = make();
        const frames: MotFrame[] = [];
        for (const f of movingScenes({ digits, frames: 60, objects: 5, noise: 0 }, seed))
          frames.push({ gt: f.objects, hyp: tracker.update(simulateDetections(f, rng)) });
        const s = evaluateMot(frames);
        total.idSwitches += s.idSwitches;
        total.objects += s.objects;
        total.errors += s.misses + s.falsePositives + s.idSwitches;
      }
      return { ...total, mota: 1 - total.errors / total.objects };
    };
    const byte = score(() => new Tracker());
    // 10% of detections missed, 15% at low scores: MOTA is capped near 0.9 by the misses alone.
    expect(byte.mota).toBeGreaterThan(0.8);
    expect(byte.idSwitches).toBeLessThanOrEqual(6);
    // No second stage and no memory: every missed or low-score frame ends the track (new ids).
    const naive = score(() => new Tracker({ lowScore: 0.5, maxAge: 0 }));
    expect(naive.mota).toBeLessThan(byte.mota);
  });
});
