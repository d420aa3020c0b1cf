/**
 * Video I/O through Debian's ffmpeg (installed by .ci/run): a synthetic tracking video written,
 * probed and read back (frame count, size, rate, pixels close to the generated frames after lossy
 * coding), early stop, both encoders, odd sizes, bad input and the error when ffmpeg is missing.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  VideoWriter,
  movingScenes,
  probeVideo,
  readVideoFrames,
  videoEncoder,
  writeMovingScenesVideo,
  writeVideo,
} from '../../src/vision/index.js';
import { tempDir } from '../helpers/temp.js';

const opts = {
  frames: 12,
  objects: 3,
  width: 64,
  height: 48,
  minSize: 10,
  maxSize: 24,
  classes: ['circle', 'square'] as const,
};

describe('video through ffmpeg', () => {
  it('writes a synthetic video and reads back every frame (count, size, rate, pixels)', async () => {
    const dir = tempDir('lepton-video-');
    const path = join(dir, 'moving.mp4');
    const written = await writeMovingScenesVideo(path, { ...opts, classes: [...opts.classes], fps: 8 }, 3);
    expect(written.frames.length).toBe(12);
    expect(written.frames[0].objects.length).toBeGreaterThan(0);
    const info = await probeVideo(path);
    expect(info).toMatchObject({ width: 64, height: 48, fps: 8, frames: 12 });
    expect(info.codec).toBe((await videoEncoder()) === 'libx264' ? 'h264' : 'mpeg4');
    expect(info.duration).toBeCloseTo(1.5, 1);
    const truth = [...movingScenes({ ...opts, classes: [...opts.classes] }, 3)];
    let n = 0;
    for await (const f of readVideoFrames(path)) {
      expect([f.index, f.width, f.height, f.time]).toEqual([n, 64, 48, n / 8]);
      let err = 0;
      for (let i = 0; i < f.data.length; i++) err += Math.abs(f.data[i] - truth[n].image[i]);
      // Lossy coding (and 4:2:0 chroma) changes pixels a little, not a lot.
      expect(err / f.data.length, `frame ${n}`).toBeLessThan(8);
      n++;
    }
    expect(n).toBe(12);
    // Nothing but the video is left in the folder (the temporary file was renamed).
    expect(readdirSync(dir)).toEqual(['moving.mp4']);
  });

  it('stops ffmpeg when the reader stops early; maxFrames', async () => {
    const dir = tempDir('lepton-video-');
    const path = join(dir, 'flat.mkv');
    const frames = Array.from({ length: 30 }, (_, t) => new Uint8Array(32 * 16 * 3).fill(t * 8));
    expect(await writeVideo(path, frames, { width: 32, height: 16, fps: 30, codec: 'mpeg4' })).toBe(30);
    expect(await probeVideo(path)).toMatchObject({ width: 32, height: 16, fps: 30, frames: 30, codec: 'mpeg4' });
    const seen: number[] = [];
    for await (const f of readVideoFrames(path)) {
      seen.push(f.data[0]);
      if (f.index === 4) break;
    }
    expect(seen.length).toBe(5);
    // Flat grey frames survive coding almost exactly.
    seen.forEach((v, t) => expect(Math.abs(v - t * 8)).toBeLessThanOrEqual(2));
    let count = 0;
    for await (const _ of readVideoFrames(path, { maxFrames: 7 })) count++;
    expect(count).toBe(7);
  });

  it('odd sizes with libx264 (full chroma) keep their size', async () => {
    expect(await videoEncoder()).toBe('libx264'); // Debian's ffmpeg is built with libx264
    const path = join(tempDir('lepton-video-'), 'odd.mp4');
    await writeVideo(path, [new Uint8Array(33 * 21 * 3).fill(200)], { width: 33, height: 21, fps: 5 });
    expect(await probeVideo(path)).toMatchObject({ width: 33, height: 21, frames: 1 });
  });

  it('clear errors: wrong frame size, not a video, missing folder, ffmpeg not installed', async () => {
    const dir = tempDir('lepton-video-');
    const w = await VideoWriter.open(join(dir, 'a.mp4'), { width: 16, height: 16 });
    await expect(w.write(new Uint8Array(10))).rejects.toThrow(/expected a 16x16 RGB frame \(768 bytes\), got 10/);
    await w.abort();
    expect(readdirSync(dir)).toEqual([]);
    writeFileSync(join(dir, 'notes.mp4'), 'not a video');
    await expect(probeVideo(join(dir, 'notes.mp4'))).rejects.toThrow(/ffprobe cannot read .*notes\.mp4/);
    await expect(VideoWriter.open(join(dir, 'no', 'x.mp4'), { width: 16, height: 16 })).rejects.toThrow(
      /the folder .* does not exist/,
    );
    await expect(VideoWriter.open(join(dir, 'x.mp4'), { width: 15, height: 16, codec: 'mpeg4' })).rejects.toThrow(
      /even width and height/,
    );
    const path = process.env.PATH;
    process.env.PATH = join(dir, 'empty');
    try {
      await expect(probeVideo(join(dir, 'notes.mp4'))).rejects.toThrow(
        /'ffprobe' is not installed.*apt-get install ffmpeg/,
      );
      await expect(VideoWriter.open(join(dir, 'y.mp4'), { width: 16, height: 16, codec: 'mpeg4' })).rejects.toThrow(
        /'ffmpeg' is not installed.*apt-get install ffmpeg/,
      );
    } finally {
      process.env.PATH = path;
    }
    expect(existsSync(join(dir, 'y.mp4'))).toBe(false);
  });
});
