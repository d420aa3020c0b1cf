/**
 * `lepton detect VIDEO --out annotated.mp4` end to end: a small detector trained for a few steps
 * on frames of a synthetic tracking video, then the CLI on that video (ffmpeg decodes, the
 * tracker links detections, ffmpeg encodes the drawn frames): the annotated video has every frame
 * at the drawing scale, and the JSON lists the tracks of every frame.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { setSeed } from '../../src/index.js';
import { movingScenes, probeVideo, writeMovingScenesVideo } from '../../src/vision/index.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';
import { fitOnImages, tinyDetector } from '../helpers/tiny-detector.js';

const size = 64;
const frames = 16;
const scene = {
  width: size,
  height: size,
  objects: 2,
  minSize: 16,
  maxSize: 28,
  classes: ['circle', 'square'] as ('circle' | 'square')[],
  clutter: 0,
  noise: 2,
};
let root: string;
let modelDir: string;
let video: string;

beforeAll(async () => {
  root = tempDir('lepton-cli-video-');
  process.env.LEPTON_HOME = join(root, 'home');
  video = join(root, 'moving.mp4');
  await writeMovingScenesVideo(video, { ...scene, frames, fps: 8 }, 2);
  // A few steps on four frames of the same motion: enough for boxes to appear, not for accuracy.
  setSeed(1);
  const det = tinyDetector(size, ['circle', 'square'], 16);
  const picked = [...movingScenes({ ...scene, frames }, 2)].filter((_, i) => i % 4 === 0);
  await fitOnImages(det, picked, 20);
  modelDir = join(root, 'detector');
  await det.save(modelDir);
});

interface VideoJson {
  width: number;
  height: number;
  fps: number;
  frames: { frame: number; time: number; tracks: { id: number; box: number[]; className: string; score: number }[] }[];
  tracks: { id: number; className: string; first: number; last: number; frames: number }[];
}

describe('lepton detect VIDEO', () => {
  it('writes the annotated video (every frame, scaled) and the tracks of every frame', async () => {
    const out = join(root, 'annotated.mp4');
    const r = await cli('detect', video, '--model', modelDir, '--out', out, '--score', '0.2', '--scale', '2', '--json');
    expect(r.code, r.err).toBe(0);
    expect(existsSync(out)).toBe(true);
    expect(await probeVideo(out)).toMatchObject({ width: size * 2, height: size * 2, frames, fps: 8 });
    const body = JSON.parse(r.out) as VideoJson;
    expect([body.width, body.height, body.fps]).toEqual([size, size, 8]);
    expect(body.frames.map((f) => f.frame)).toEqual(Array.from({ length: frames }, (_, i) => i));
    expect(body.frames[3].time).toBeCloseTo(3 / 8, 9);
    const ids = new Set<number>();
    for (const f of body.frames) {
      expect(new Set(f.tracks.map((t) => t.id)).size).toBe(f.tracks.length); // an id once per frame
      for (const t of f.tracks) {
        ids.add(t.id);
        expect(['circle', 'square']).toContain(t.className);
        expect(t.score).toBeGreaterThanOrEqual(0.2 / 5);
        expect(t.box[0]).toBeGreaterThanOrEqual(0);
        expect(t.box[2]).toBeLessThanOrEqual(size);
        expect(t.box[3]).toBeLessThanOrEqual(size);
      }
    }
    expect(ids.size).toBeGreaterThan(0);
    // The summary agrees with the frames, and ids count from 1 without gaps.
    expect(body.tracks.map((t) => t.id).sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b));
    expect([...ids].sort((a, b) => a - b)).toEqual(Array.from({ length: ids.size }, (_, i) => i + 1));
    for (const t of body.tracks)
      expect(t.frames).toBe(body.frames.filter((f) => f.tracks.some((u) => u.id === t.id)).length);
    expect(r.err).toMatch(new RegExp(`${frames}/${frames}`)); // the progress line
  });

  it('human output, and clear errors', async () => {
    const r = await cli('detect', video, '--model', modelDir, '--score', '0.2');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(new RegExp(`tracks in ${frames} frames of .*moving\\.mp4 \\(64x64, 8 fps\\)`));
    const noDir = await cli('detect', video, '--model', modelDir, '--out', join(root, 'missing', 'a.mp4'));
    expect(noDir.code).not.toBe(0);
    expect(noDir.err).toMatch(/the folder .*missing.* does not exist/);
    const missing = await cli('detect', join(root, 'nothing.mp4'), '--model', modelDir);
    expect(missing.err).toMatch(/no video file/);
  });
});
