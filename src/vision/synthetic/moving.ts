/**
 * Synthetic tracking videos: the scene generator's objects (shapes, MNIST digits) moving over a
 * fixed background with known trajectories — constant velocity with a little random acceleration,
 * bouncing off the borders, passing over and under each other (a fixed depth order, so crossings
 * occlude) — with fresh pixel noise on every frame. Each frame comes with its exact ground truth:
 * per object a stable id, the class, the tight box around its visible pixels and the visible
 * fraction; objects hidden below `minVisibility` are marked `ignore` (MOTChallenge's
 * distractors), so the MOT metrics neither demand nor punish tracking them.
 *
 * `simulateDetections` turns ground truth into a detector's output with box jitter, misses, score
 * dips and false positives, for testing a tracker without a trained model.
 */
import { Generator as Random } from '../../index.js';
import type { Detection } from '../detection/detector.js';
import { writeVideo } from '../video.js';
import { type SceneClass, type SceneObjectSpec, SceneGenerator, type SceneOptions } from './scenes.js';

export interface MovingScenesOptions extends Omit<SceneOptions, 'minObjects' | 'maxObjects' | 'minVisible'> {
  /** Frames (default 60). */
  frames?: number;
  /** Objects in the video (default 4). */
  objects?: number;
  /** Speed range in pixels per frame (default 0.5–2.5). */
  minSpeed?: number;
  maxSpeed?: number;
  /** Ground truth with a smaller visible fraction is marked `ignore` (default 0.3). */
  minVisibility?: number;
}

/** One object on one frame. */
export interface MovingObject {
  /** Stable over the video: 1, 2, … in depth order (higher ids are drawn on top). */
  id: number;
  label: number;
  className: SceneClass;
  /** Tight box around the visible pixels, xyxy. */
  box: [number, number, number, number];
  /** Visible pixels / the object's pixels inside the frame. */
  visibility: number;
  /** Too hidden to require tracking (visibility < minVisibility). */
  ignore: boolean;
}

export interface MovingFrame {
  index: number;
  width: number;
  height: number;
  /** RGB bytes, row-major H×W×3. */
  image: Uint8Array;
  /** Objects with at least one visible pixel. */
  objects: MovingObject[];
}

/** The frames of a synthetic tracking video; the same seed and options give the same video. */
export function* movingScenes(options: MovingScenesOptions = {}, seed = 0): Generator<MovingFrame> {
  const { frames = 60, objects: count = 4, minSpeed = 0.5, maxSpeed = 2.5, minVisibility = 0.3, ...scene } = options;
  if (!(Number.isInteger(frames) && frames >= 0 && Number.isInteger(count) && count >= 0))
    throw new Error(`movingScenes: frames and objects must be integers >= 0, got ${frames} and ${count}`);
  if (!(minSpeed >= 0 && maxSpeed >= minSpeed))
    throw new Error(`movingScenes: need 0 <= minSpeed <= maxSpeed, got ${minSpeed}..${maxSpeed}`);
  const gen = new SceneGenerator({ ...scene, minObjects: 0, maxObjects: 0 }, seed);
  const { width: W, height: H } = gen.options;
  // Motion has its own stream, so the objects' looks do not depend on the speed options.
  const rng = new Random(seed + 0x9e3779b9);
  const background = gen.sampleBackground();
  const objs = Array.from({ length: count }, () => {
    const o = gen.sampleObject();
    const s = o.shape;
    // Start fully inside the frame.
    s.cx = Math.min(Math.max(s.cx, s.w / 2), W - s.w / 2);
    s.cy = Math.min(Math.max(s.cy, s.h / 2), H - s.h / 2);
    const angle = rng.random() * 2 * Math.PI,
      speed = minSpeed + rng.random() * (maxSpeed - minSpeed);
    return { spec: o, vx: speed * Math.cos(angle), vy: speed * Math.sin(angle) };
  });
  for (let t = 0; t < frames; t++) {
    const specs: SceneObjectSpec[] = objs.map((o) => ({ ...o.spec, shape: { ...o.spec.shape } }));
    const { scene: sc, full } = gen.render(background, specs);
    const out: MovingObject[] = [];
    sc.objects.forEach((o, i) => {
      if (o.area === 0) return;
      const visibility = o.area / full[i];
      out.push({
        id: i + 1,
        label: o.label,
        className: o.className,
        box: o.box,
        visibility,
        ignore: visibility < minVisibility,
      });
    });
    yield { index: t, width: W, height: H, image: sc.image, objects: out };
    // Move: a little random acceleration, then bounce off the borders.
    for (const o of objs) {
      const s = o.spec.shape;
      o.vx += rng.normal() * 0.05;
      o.vy += rng.normal() * 0.05;
      s.cx += o.vx;
      s.cy += o.vy;
      if (s.cx - s.w / 2 < 0 || s.cx + s.w / 2 > W) {
        o.vx = -o.vx;
        s.cx = Math.min(Math.max(s.cx, s.w / 2), W - s.w / 2);
      }
      if (s.cy - s.h / 2 < 0 || s.cy + s.h / 2 > H) {
        o.vy = -o.vy;
        s.cy = Math.min(Math.max(s.cy, s.h / 2), H - s.h / 2);
      }
    }
  }
}

/**
 * Writes a synthetic tracking video (format from the extension, e.g. .mp4) and returns each
 * frame's ground truth (without the pixels).
 */
export async function writeMovingScenesVideo(
  path: string,
  options: MovingScenesOptions & { fps?: number } = {},
  seed = 0,
): Promise<{ width: number; height: number; fps: number; frames: Omit<MovingFrame, 'image'>[] }> {
  const { fps = 10, ...rest } = options;
  const truth: Omit<MovingFrame, 'image'>[] = [];
  const frames = movingScenes(rest, seed);
  // The first frame checks the options and gives the size before ffmpeg starts.
  const first = frames.next();
  if (first.done) throw new Error('writeMovingScenesVideo: a video needs at least one frame');
  const { width, height } = first.value;
  await writeVideo(
    path,
    (function* () {
      for (let r: IteratorResult<MovingFrame> = first; !r.done; r = frames.next()) {
        const { image, ...gt } = r.value;
        truth.push(gt);
        yield image;
      }
    })(),
    { width, height, fps },
  );
  return { width, height, fps, frames: truth };
}

export interface SimulatedDetectorOptions {
  /** Box corner jitter, as a fraction of the box size (standard deviation, default 0.05). */
  jitter?: number;
  /** Chance an object is not detected on a frame (default 0.1). */
  missRate?: number;
  /** Chance a detected object gets a low score in [0.1, 0.5) instead of [0.6, 1) (default 0.15). */
  lowScoreRate?: number;
  /** Expected false positives per frame, boxes at random places with scores in [0.1, 0.7) (default 0.3). */
  falsePositives?: number;
}

/**
 * A detector's output simulated from a frame's ground truth: each object (ignored ones included,
 * with a higher miss rate the more hidden they are) detected with jittered box and a score, plus
 * random false positives. Deterministic given `rng`.
 */
export function simulateDetections(
  frame: { width: number; height: number; objects: readonly MovingObject[] },
  rng: Random,
  options: SimulatedDetectorOptions = {},
): Detection[] {
  const { jitter = 0.05, missRate = 0.1, lowScoreRate = 0.15, falsePositives = 0.3 } = options;
  const out: Detection[] = [];
  for (const o of frame.objects) {
    if (rng.random() < missRate + (1 - missRate) * (1 - Math.min(1, o.visibility / 0.5)) * 0.5) continue;
    const [x1, y1, x2, y2] = o.box;
    const w = x2 - x1,
      h = y2 - y1;
    const box: [number, number, number, number] = [
      x1 + rng.normal() * jitter * w,
      y1 + rng.normal() * jitter * h,
      x2 + rng.normal() * jitter * w,
      y2 + rng.normal() * jitter * h,
    ];
    if (box[2] <= box[0] || box[3] <= box[1]) continue;
    const score = rng.random() < lowScoreRate ? 0.1 + rng.random() * 0.4 : 0.6 + rng.random() * 0.4;
    out.push({ box, label: o.label, score });
  }
  // Poisson-ish count: up to 3 candidates, each with probability falsePositives / 3.
  for (let k = 0; k < 3; k++) {
    if (rng.random() >= falsePositives / 3) continue;
    const s = 8 + rng.random() * 24;
    const x = rng.random() * (frame.width - s),
      y = rng.random() * (frame.height - s);
    out.push({ box: [x, y, x + s, y + s], label: 0, score: 0.1 + rng.random() * 0.6 });
  }
  return out;
}
