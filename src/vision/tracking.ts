/**
 * A multi-object tracker in the manner of ByteTrack (Zhang et al., 2022): per-frame detections
 * are associated with tracks by IoU against each track's constant-velocity Kalman prediction, in
 * two stages — high-score detections against all live tracks first, then low-score detections
 * (often the partly occluded objects a detector scores low) against the tracks still unmatched —
 * so an object keeps its id through a dip in detection confidence. Tracks are born from unmatched
 * high-score detections and confirmed when matched again on the next frame; an unmatched track is
 * "lost" and kept (predicted forward) for `maxAge` frames so a re-detection resumes its id.
 *
 * Ids are handed out at confirmation, so they count 1, 2, 3, … over the tracks a user sees.
 * The Kalman filter is ByteTrack's (state: centre x/y, aspect w/h, height and their velocities;
 * noise proportional to the box height); its matrices are block-diagonal per coordinate, so it
 * runs here as four independent 2-state filters, which is the same arithmetic.
 */
import { matchBySimilarity } from './assignment.js';
import { iouAt } from './boxes/host.js';
import { nms } from './boxes/nms.js';
import type { Detection } from './detection/detector.js';

export interface TrackerOptions {
  /** Detections scoring at least this are matched first and may start tracks (default 0.5, ByteTrack's track_thresh). */
  highScore?: number;
  /** Detections in [lowScore, highScore) only continue existing tracks (default 0.1); lower ones are ignored. */
  lowScore?: number;
  /** Score a detection needs to start a track (default highScore + 0.1, as ByteTrack). */
  newTrackScore?: number;
  /** Least IoU between a track's prediction and a high-score detection (default 0.2: ByteTrack's match_thresh 0.8 on 1 − IoU). */
  matchIou?: number;
  /** Least IoU for the second, low-score stage (default 0.5). */
  lowMatchIou?: number;
  /** Least IoU between an unconfirmed track and a detection (default 0.3). */
  unconfirmedMatchIou?: number;
  /** Frames a lost track is kept for re-identification (default 30, ByteTrack's track_buffer at 30 fps). */
  maxAge?: number;
  /** Consecutive matched frames that confirm a new track (default 2); tracks of the first frame are confirmed at once. */
  minHits?: number;
  /** Match detections only to tracks of their class (default false: the label follows the detections' votes). */
  classAware?: boolean;
  /**
   * Without `classAware`: a detection overlapping a higher-scoring one by more than this IoU
   * (default 1 = off; `trackVideo` uses 0.5) is treated as a low-score detection — it may continue a track in the
   * second stage but never starts one. A multi-class detector's class-aware NMS can box one object
   * under two classes, which a class-agnostic tracker would otherwise follow as two objects, while
   * two real objects passing each other still both continue their tracks.
   */
  mergeIou?: number;
}

/** One confirmed track on the current frame. */
export interface TrackedObject {
  /** Track id: 1, 2, 3, … in order of confirmation; stable while the object is followed. */
  id: number;
  /** The Kalman-filtered box, xyxy. */
  box: [number, number, number, number];
  /** The class with the highest total detection score over the track's life. */
  label: number;
  /** Score of the detection matched on this frame. */
  score: number;
  /** Index of the matched detection in this frame's input. */
  detection: number;
  /** Frames since the track was born (0 on its first frame). */
  age: number;
}

const POS_WEIGHT = 1 / 20;
const VEL_WEIGHT = 1 / 160;

/** ByteTrack's Kalman filter over [cx, cy, w/h, h], as four 2-state (position, velocity) filters. */
class BoxFilter {
  // Per coordinate k: mean position, velocity and the covariance [p00, p01, p11].
  readonly x = new Float64Array(4);
  readonly v = new Float64Array(4);
  private readonly p = new Float64Array(12);

  constructor(z: readonly number[]) {
    const h = z[3];
    for (let k = 0; k < 4; k++) {
      this.x[k] = z[k];
      const sp = k === 2 ? 1e-2 : 2 * POS_WEIGHT * h,
        sv = k === 2 ? 1e-5 : 10 * VEL_WEIGHT * h;
      this.p.set([sp * sp, 0, sv * sv], k * 3);
    }
  }

  predict(): void {
    const h = this.x[3];
    for (let k = 0; k < 4; k++) {
      const qp = k === 2 ? 1e-2 : POS_WEIGHT * h,
        qv = k === 2 ? 1e-5 : VEL_WEIGHT * h;
      const o = k * 3,
        [p00, p01, p11] = [this.p[o], this.p[o + 1], this.p[o + 2]];
      this.x[k] += this.v[k];
      this.p[o] = p00 + 2 * p01 + p11 + qp * qp;
      this.p[o + 1] = p01 + p11;
      this.p[o + 2] = p11 + qv * qv;
    }
  }

  update(z: readonly number[]): void {
    const h = this.x[3];
    for (let k = 0; k < 4; k++) {
      const r = k === 2 ? 1e-1 : POS_WEIGHT * h;
      const o = k * 3,
        [p00, p01, p11] = [this.p[o], this.p[o + 1], this.p[o + 2]];
      const s = p00 + r * r,
        k0 = p00 / s,
        k1 = p01 / s,
        y = z[k] - this.x[k];
      this.x[k] += k0 * y;
      this.v[k] += k1 * y;
      this.p[o] = (1 - k0) * p00;
      this.p[o + 1] = (1 - k0) * p01;
      this.p[o + 2] = p11 - k1 * p01;
    }
  }

  box(): [number, number, number, number] {
    const [cx, cy, a, h] = this.x;
    const w = a * h;
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
  }
}

function measurement(box: readonly number[]): number[] {
  const w = box[2] - box[0],
    h = box[3] - box[1];
  return [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2, h > 0 ? w / h : 1, h];
}

interface Track {
  filter: BoxFilter;
  /** 0 until confirmed. */
  id: number;
  state: 'tracked' | 'lost';
  hits: number;
  born: number;
  lastSeen: number;
  votes: Map<number, number>;
  label: number;
  score: number;
  detection: number;
}

/** A ByteTrack-style tracker: feed it each frame's detections in order with `update`. */
export class Tracker {
  readonly options: Required<TrackerOptions>;
  private tracks: Track[] = [];
  private nextId = 1;
  private frameIndex = -1;

  constructor(options: TrackerOptions = {}) {
    const highScore = options.highScore ?? 0.5;
    this.options = {
      highScore,
      lowScore: 0.1,
      newTrackScore: Math.min(1, highScore + 0.1),
      matchIou: 0.2,
      lowMatchIou: 0.5,
      unconfirmedMatchIou: 0.3,
      maxAge: 30,
      minHits: 2,
      classAware: false,
      mergeIou: 1,
      ...options,
    };
    const o = this.options;
    if (!(o.lowScore >= 0 && o.lowScore <= o.highScore && o.highScore <= 1))
      throw new Error(
        `Tracker: need 0 <= lowScore <= highScore <= 1, got lowScore ${o.lowScore}, highScore ${o.highScore}`,
      );
    for (const k of ['matchIou', 'lowMatchIou', 'unconfirmedMatchIou', 'mergeIou'] as const)
      if (!(o[k] > 0 && o[k] <= 1)) throw new Error(`Tracker: ${k} must be in (0, 1], got ${o[k]}`);
    if (!(Number.isInteger(o.maxAge) && o.maxAge >= 0))
      throw new Error(`Tracker: maxAge must be an integer >= 0, got ${o.maxAge}`);
    if (!(Number.isInteger(o.minHits) && o.minHits >= 1))
      throw new Error(`Tracker: minHits must be an integer >= 1, got ${o.minHits}`);
  }

  /** Frames seen so far. */
  get frames(): number {
    return this.frameIndex + 1;
  }

  /** Forgets every track and restarts ids at 1 (a new video). */
  reset(): void {
    this.tracks = [];
    this.nextId = 1;
    this.frameIndex = -1;
  }

  /** Advances one frame with its detections; returns the confirmed tracks matched on this frame. */
  update(detections: readonly Detection[]): TrackedObject[] {
    const o = this.options;
    const frame = ++this.frameIndex;
    detections.forEach((d, i) => {
      if (!Array.isArray(d.box) || d.box.length !== 4 || !d.box.every(Number.isFinite) || !Number.isFinite(d.score))
        throw new Error(`Tracker.update: detection ${i} needs box [x1, y1, x2, y2] and score as finite numbers`);
    });
    const keep = new Uint8Array(detections.length).fill(1);
    if (!o.classAware && o.mergeIou < 1) {
      keep.fill(0);
      const kept = nms(
        detections.flatMap((d) => d.box),
        detections.map((d) => d.score),
        { iouThreshold: o.mergeIou },
      );
      for (const i of kept) keep[i] = 1;
    }
    const high: number[] = [],
      low: number[] = [];
    detections.forEach((d, i) => {
      if (d.score >= o.highScore && keep[i]) high.push(i);
      else if (d.score >= o.lowScore) low.push(i);
    });
    for (const t of this.tracks) t.filter.predict();
    const unconfirmed = this.tracks.filter((t) => t.id === 0);
    const pool = this.tracks.filter((t) => t.id !== 0);

    // Stage 1: high-score detections against confirmed tracks, tracked or lost.
    const [m1, poolLeft, highLeft] = this.associate(pool, high, detections, o.matchIou);
    for (const [t, d] of m1) this.hit(t, detections[d], d, frame);
    // Stage 2: low-score detections only continue tracks that were tracked on the previous frame.
    const [m2, stillUnmatched] = this.associate(
      poolLeft.filter((t) => t.state === 'tracked'),
      low,
      detections,
      o.lowMatchIou,
    );
    for (const [t, d] of m2) this.hit(t, detections[d], d, frame);
    for (const t of stillUnmatched) t.state = 'lost';
    // Stage 3: new tracks need a second high-score detection to be confirmed.
    const [m3, deadBorn, newLeft] = this.associate(unconfirmed, highLeft, detections, o.unconfirmedMatchIou);
    for (const [t, d] of m3) this.hit(t, detections[d], d, frame);
    const dead = new Set(deadBorn);
    // Births.
    for (const d of newLeft) {
      const det = detections[d];
      if (det.score < o.newTrackScore) continue;
      const t: Track = {
        filter: new BoxFilter(measurement(det.box)),
        id: 0,
        state: 'tracked',
        hits: 1,
        born: frame,
        lastSeen: frame,
        votes: new Map([[det.label, det.score]]),
        label: det.label,
        score: det.score,
        detection: d,
      };
      if (frame === 0 || o.minHits <= 1) t.id = this.nextId++;
      this.tracks.push(t);
    }
    // Deaths: unconfirmed tracks that missed a frame, lost tracks past maxAge.
    this.tracks = this.tracks.filter((t) => !dead.has(t) && !(t.state === 'lost' && frame - t.lastSeen > o.maxAge));
    return this.tracks
      .filter((t) => t.id !== 0 && t.lastSeen === frame)
      .sort((a, b) => a.id - b.id)
      .map((t) => ({
        id: t.id,
        box: t.filter.box(),
        label: t.label,
        score: t.score,
        detection: t.detection,
        age: frame - t.born,
      }));
  }

  /** Optimal IoU matching of tracks' predictions to detections: [matches, unmatched tracks, unmatched detections]. */
  private associate(
    tracks: Track[],
    dets: number[],
    detections: readonly Detection[],
    minIou: number,
  ): [[Track, number][], Track[], number[]] {
    const T = tracks.length,
      D = dets.length;
    const sim = new Float64Array(T * D);
    const predicted = tracks.map((t) => t.filter.box());
    for (let i = 0; i < T; i++)
      for (let j = 0; j < D; j++) {
        const det = detections[dets[j]];
        if (this.options.classAware && det.label !== tracks[i].label) continue;
        sim[i * D + j] = iouAt(predicted[i], 0, det.box, 0);
      }
    const pairs = matchBySimilarity(sim, T, D, minIou);
    const usedT = new Set(pairs.map(([i]) => i)),
      usedD = new Set(pairs.map(([, j]) => j));
    return [
      pairs.map(([i, j]) => [tracks[i], dets[j]]),
      tracks.filter((_, i) => !usedT.has(i)),
      dets.filter((_, j) => !usedD.has(j)),
    ];
  }

  private hit(t: Track, det: Detection, index: number, frame: number): void {
    // For a re-found lost track this pulls the drifted prediction back onto the object.
    t.filter.update(measurement(det.box));
    // Unconfirmed tracks die when they miss a frame, so their hits are consecutive.
    t.hits++;
    t.lastSeen = frame;
    t.state = 'tracked';
    t.score = det.score;
    t.detection = index;
    t.votes.set(det.label, (t.votes.get(det.label) ?? 0) + det.score);
    let best = t.label,
      bestVotes = -1;
    for (const [label, v] of t.votes)
      if (v > bestVotes || (v === bestVotes && label < best)) [best, bestVotes] = [label, v];
    t.label = best;
    if (t.id === 0 && t.hits >= this.options.minHits) t.id = this.nextId++;
  }
}
