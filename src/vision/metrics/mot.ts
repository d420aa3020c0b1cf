/**
 * Multi-object tracking metrics, as py-motmetrics computes them: CLEAR MOT (Bernardin &
 * Stiefelhagen, 2008) — per frame, ground-truth objects keep the hypothesis of their last match
 * while it is present and its IoU stays at or above the threshold, the rest are matched optimally by IoU; a ground
 * truth matched to a different track id than at its last match is an identity switch; MOTA =
 * 1 − (misses + false positives + switches) / ground-truth boxes — and the identity measures of
 * Ristani et al. (2016): IDF1 from the one-to-one id mapping that maximises the frames on which a
 * ground-truth trajectory and a track coincide.
 *
 * Ground truth marked `ignore` (e.g. mostly occluded objects) is neither a miss nor a switch, and a
 * track box matched to it is not a false positive (MOTChallenge's distractors).
 */
import { matchBySimilarity } from '../assignment.js';
import { iouAt } from '../boxes/host.js';

export interface MotObject {
  id: number;
  /** xyxy. */
  box: readonly number[];
  /** Ground truth only: a don't-care object. */
  ignore?: boolean;
}

/** One frame: its ground-truth objects and the tracker's boxes (hypotheses). */
export interface MotFrame {
  gt: readonly MotObject[];
  hyp: readonly MotObject[];
}

export interface MotSummary {
  frames: number;
  /** Ground-truth boxes counted (not ignored). */
  objects: number;
  /** Hypothesis boxes counted (those on ignored ground truth excluded). */
  hypotheses: number;
  matches: number;
  falsePositives: number;
  misses: number;
  idSwitches: number;
  /** 1 − (misses + falsePositives + idSwitches) / objects. */
  mota: number;
  /** Mean IoU of the matches (py-motmetrics' MOTP with an IoU distance is 1 − this). */
  motp: number;
  /** 2·IDTP / (objects + hypotheses). */
  idf1: number;
  idtp: number;
  /** Distinct ground-truth ids and track ids seen. */
  gtIds: number;
  trackIds: number;
}

/** CLEAR MOT and IDF1 over a sequence of frames; a match needs IoU ≥ `iouThreshold` (default 0.5). */
export function evaluateMot(frames: readonly MotFrame[], options: { iouThreshold?: number } = {}): MotSummary {
  const thr = options.iouThreshold ?? 0.5;
  if (!(thr > 0 && thr <= 1)) throw new Error(`evaluateMot: iouThreshold must be in (0, 1], got ${thr}`);
  const lastMatch = new Map<number, number>(); // gt id → hypothesis id at its latest match
  let objects = 0,
    hypotheses = 0,
    matches = 0,
    fp = 0,
    misses = 0,
    switches = 0,
    iouSum = 0;
  // Frames where gt id and hyp id overlap (IoU ≥ thr), for the id mapping of IDF1.
  const overlap = new Map<number, Map<number, number>>();
  const gtIds = new Set<number>(),
    hypIds = new Set<number>();
  frames.forEach((f, t) => {
    for (const [what, list] of [
      ['gt', f.gt],
      ['hyp', f.hyp],
    ] as const) {
      const seen = new Set<number>();
      for (const o of list) {
        if (seen.has(o.id)) throw new Error(`evaluateMot: frame ${t} has ${what} id ${o.id} twice`);
        seen.add(o.id);
        if (o.box.length !== 4) throw new Error(`evaluateMot: frame ${t} ${what} ${o.id}: box needs 4 numbers`);
      }
    }
    const gt = f.gt.filter((o) => !o.ignore);
    const ignored = f.gt.filter((o) => o.ignore);
    const iou = (g: MotObject, h: MotObject) => iouAt(g.box, 0, h.box, 0);
    const hypIndex = new Map(f.hyp.map((h, j) => [h.id, j]));
    const pairs: [number, number][] = []; // (gt index, hyp index)
    const gtUsed = new Set<number>(),
      hypUsed = new Set<number>();
    // Earlier correspondences stay while they still overlap enough.
    gt.forEach((g, i) => {
      const hid = lastMatch.get(g.id);
      const j = hid === undefined ? undefined : hypIndex.get(hid);
      if (j !== undefined && !hypUsed.has(j) && iou(g, f.hyp[j]) >= thr) {
        pairs.push([i, j]);
        gtUsed.add(i);
        hypUsed.add(j);
      }
    });
    const gRest = gt.map((_, i) => i).filter((i) => !gtUsed.has(i));
    const hRest = f.hyp.map((_, j) => j).filter((j) => !hypUsed.has(j));
    const sim = new Float64Array(gRest.length * hRest.length);
    gRest.forEach((i, a) => hRest.forEach((j, b) => (sim[a * hRest.length + b] = iou(gt[i], f.hyp[j]))));
    for (const [a, b] of matchBySimilarity(sim, gRest.length, hRest.length, thr)) {
      pairs.push([gRest[a], hRest[b]]);
      hypUsed.add(hRest[b]);
    }
    // Track boxes on ignored objects do not count.
    const hLeft = f.hyp.map((_, j) => j).filter((j) => !hypUsed.has(j));
    const simIgn = new Float64Array(ignored.length * hLeft.length);
    ignored.forEach((g, a) => hLeft.forEach((j, b) => (simIgn[a * hLeft.length + b] = iou(g, f.hyp[j]))));
    const onIgnored = new Set(matchBySimilarity(simIgn, ignored.length, hLeft.length, thr).map(([, b]) => hLeft[b]));
    for (const [i, j] of pairs) {
      const g = gt[i],
        h = f.hyp[j];
      const last = lastMatch.get(g.id);
      if (last !== undefined && last !== h.id) switches++;
      lastMatch.set(g.id, h.id);
      iouSum += iou(g, h);
    }
    objects += gt.length;
    hypotheses += f.hyp.length - onIgnored.size;
    matches += pairs.length;
    misses += gt.length - pairs.length;
    fp += f.hyp.length - pairs.length - onIgnored.size;
    for (const g of gt) gtIds.add(g.id);
    f.hyp.forEach((h, j) => {
      if (!onIgnored.has(j)) hypIds.add(h.id);
    });
    for (const g of gt)
      f.hyp.forEach((h, j) => {
        if (onIgnored.has(j) || iou(g, h) < thr) return;
        let row = overlap.get(g.id);
        if (!row) overlap.set(g.id, (row = new Map()));
        row.set(h.id, (row.get(h.id) ?? 0) + 1);
      });
  });
  // IDF1: the one-to-one gt ↔ track mapping with the most coinciding frames.
  const gList = [...gtIds],
    hList = [...hypIds];
  const counts = new Float64Array(gList.length * hList.length);
  gList.forEach((g, a) => hList.forEach((h, b) => (counts[a * hList.length + b] = overlap.get(g)?.get(h) ?? 0)));
  const idtp = matchBySimilarity(counts, gList.length, hList.length, 1).reduce(
    (s, [a, b]) => s + counts[a * hList.length + b],
    0,
  );
  return {
    frames: frames.length,
    objects,
    hypotheses,
    matches,
    falsePositives: fp,
    misses,
    idSwitches: switches,
    mota: objects ? 1 - (misses + fp + switches) / objects : Number.NaN,
    motp: matches ? iouSum / matches : Number.NaN,
    idf1: objects + hypotheses ? (2 * idtp) / (objects + hypotheses) : Number.NaN,
    idtp,
    gtIds: gtIds.size,
    trackIds: hypIds.size,
  };
}
