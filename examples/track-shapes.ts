/**
 * Tracks the synthetic shapes in a held-out synthetic video with the detector that
 * examples/detect-shapes.ts trains: writes a video of moving shapes and MNIST test digits with known
 * trajectories (artifacts/track-shapes/held-out.mp4), runs `trackVideo` on it — what
 * `lepton detect VIDEO` runs: ffmpeg decoding, per-frame detection, ByteTrack-style tracking,
 * annotated video out (artifacts/track-shapes/annotated.mp4) — and scores the tracks against the
 * ground truth with CLEAR MOT (MOTA, identity switches) and IDF1. For reference it also scores the
 * tracker on detections simulated from the ground truth (10% missed, 15% at low scores, jittered
 * boxes, false positives), which separates tracking errors from detection errors.
 *   npx tsx examples/track-shapes.ts [--model artifacts/detect-shapes/model] [--frames 200] [--objects 5] [--seed 7]
 * Ends with one line: id_switches=… mota=… idf1=… (detector + tracker).
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Generator } from '../src/index.js';
import {
  type Detection,
  FcosDetector,
  type MotFrame,
  Tracker,
  type TrackerOptions,
  evaluateMot,
  loadSceneDigits,
  movingScenes,
  simulateDetections,
  trackVideo,
  writeMovingScenesVideo,
} from '../src/vision/index.js';
import { numberOption, stringOption } from './options.js';

const model = stringOption('model', join('artifacts', 'detect-shapes', 'model'));
const frames = numberOption('frames', 200);
const objects = numberOption('objects', 5);
const seed = numberOption('seed', 7);
if (!existsSync(join(model, 'detector.json'))) {
  console.error(`no detector in ${model}: train one first with  npx tsx examples/detect-shapes.ts`);
  process.exit(1);
}

const t0 = performance.now();
const out = join('artifacts', 'track-shapes');
await mkdir(out, { recursive: true });
const digits = await loadSceneDigits('test');
// The detector's training scenes: 128×128, objects of 14–56 pixels.
const scene = { digits, frames, objects, width: 128, height: 128 };
const video = join(out, 'held-out.mp4');
const truth = await writeMovingScenesVideo(video, { ...scene, fps: 10 }, seed);
const gtBoxes = truth.frames.reduce((s, f) => s + f.objects.filter((o) => !o.ignore).length, 0);
console.log(`${video}: ${frames} frames, ${objects} moving objects, ${gtBoxes} ground-truth boxes to track`);

const detector = await FcosDetector.load(model);
// The CLI's default for videos (`lepton detect VIDEO`, --score 0.5): ByteTrack's thresholds, with
// cross-class duplicates merged (trackVideo's mergeIou 0.5).
const settings: TrackerOptions = { highScore: 0.5, lowScore: 0.1, mergeIou: 0.5 };
const perFrame: Detection[][] = [];
const tTrack = performance.now();
const result = await trackVideo(video, detector, {
  out: join(out, 'annotated.mp4'),
  tracker: settings,
  onFrame: (_, __, detections) => perFrame.push(detections),
});
const trackSeconds = (performance.now() - tTrack) / 1000;

const score = (hyp: MotFrame['hyp'][]) => evaluateMot(truth.frames.map((f, i) => ({ gt: f.objects, hyp: hyp[i] })));
const line = (name: string, s: ReturnType<typeof evaluateMot>) =>
  console.log(
    `${name}: MOTA ${s.mota.toFixed(3)}, IDF1 ${s.idf1.toFixed(3)}, id switches ${s.idSwitches}, misses ${s.misses}, false positives ${s.falsePositives}, MOTP (IoU) ${s.motp.toFixed(3)}, ${s.trackIds} track ids for ${s.gtIds} objects`,
  );
const main = score(result.frames.map((f) => f.tracks));
line(`detector + tracker (high ${settings.highScore}, low ${settings.lowScore}, merge IoU ${settings.mergeIou})`, main);
// The same detections: a lower start threshold, and without merging cross-class duplicates.
const lower = new Tracker({ ...settings, highScore: 0.4 });
line('detector + tracker (high 0.4)', score(perFrame.map((d) => lower.update(d))));
const unmerged = new Tracker({ ...settings, mergeIou: 1 });
line('detector + tracker (no merging)', score(perFrame.map((d) => unmerged.update(d))));
// The tracker alone: simulated detections from the ground truth of the same video.
const rng = new Generator(seed);
const simTracker = new Tracker();
const simulated = [...movingScenes(scene, seed)].map((f) => simTracker.update(simulateDetections(f, rng)));
line('simulated detections + tracker', score(simulated));
console.log(
  `tracked ${frames} frames in ${trackSeconds.toFixed(1)} s (${(frames / trackSeconds).toFixed(1)} frames/s, detection + tracking + drawing + encoding); annotated video in ${join(out, 'annotated.mp4')}; total ${((performance.now() - t0) / 1000).toFixed(0)} s`,
);
console.log(`id_switches=${main.idSwitches} mota=${main.mota.toFixed(4)} idf1=${main.idf1.toFixed(4)}`);
