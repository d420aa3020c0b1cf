/**
 * Video files through Debian's `ffmpeg` (spawned; raw RGB frames piped both ways, so any format
 * ffmpeg knows works and no npm wrapper or downloaded binary is needed): `probeVideo` (ffprobe:
 * size, frame rate, frame count), `readVideoFrames` (an async iterator of RGB frames; the pipe's
 * back-pressure pauses ffmpeg while the consumer works, so memory stays at about one frame), and
 * `VideoWriter` (RGB frames in, H.264 with libx264 when the ffmpeg build has it, else MPEG-4 part
 * 2; written to a temporary file renamed on close, so a failed run leaves no half video).
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { type FfmpegProcess, runFfmpeg } from '../io/ffmpeg.js';

/** What ffprobe says about a file's first video stream. */
export interface VideoInfo {
  width: number;
  height: number;
  /** Frames per second (the stream's frame rate). */
  fps: number;
  /** Frame count: the container's, else counted by demuxing (no decoding). */
  frames: number;
  /** Seconds, when the container knows. */
  duration?: number;
  /** ffmpeg's codec name, e.g. 'h264'. */
  codec: string;
}

/** One decoded frame. */
export interface VideoFrame {
  /** RGB bytes, row-major H×W×3. */
  data: Uint8Array;
  width: number;
  height: number;
  /** 0-based frame number. */
  index: number;
  /** Seconds from the start (index / fps). */
  time: number;
}

/** Size, frame rate and frame count of a video file (ffprobe). */
export async function probeVideo(path: string): Promise<VideoInfo> {
  const ask = async (extra: string[]) => {
    const p = runFfmpeg(
      'ffprobe',
      ['-v', 'error', '-select_streams', 'v:0', ...extra, '-of', 'json', path],
      `probeVideo(${path})`,
    );
    let out = '';
    p.child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    const { code, error } = await p.exited;
    if (error) throw error;
    if (code !== 0) throw new Error(`probeVideo: ffprobe cannot read '${path}': ${p.lastLine()}`);
    return JSON.parse(out) as {
      streams?: Record<string, string | number | undefined>[];
      format?: { duration?: string };
    };
  };
  const info = await ask([
    '-show_entries',
    'stream=width,height,r_frame_rate,avg_frame_rate,nb_frames,duration,codec_name:format=duration',
  ]);
  const s = info.streams?.[0];
  if (!s) throw new Error(`probeVideo: '${path}' has no video stream`);
  const rate = (r: unknown) => {
    const [a, b] = String(r ?? '')
      .split('/')
      .map(Number);
    return b ? a / b : a;
  };
  const fps = [rate(s.r_frame_rate), rate(s.avg_frame_rate)].find((f) => Number.isFinite(f) && f > 0);
  const duration = Number(s.duration ?? info.format?.duration);
  let frames = Number(s.nb_frames);
  if (!(Number.isInteger(frames) && frames > 0)) {
    // Matroska/WebM and raw streams carry no count: count packets (demuxing only).
    const counted = await ask(['-count_packets', '-show_entries', 'stream=nb_read_packets']);
    frames = Number(counted.streams?.[0]?.nb_read_packets);
  }
  const width = Number(s.width),
    height = Number(s.height);
  if (!(width > 0 && height > 0 && fps))
    throw new Error(`probeVideo: ffprobe reports no usable size/frame rate for '${path}' (${JSON.stringify(s)})`);
  return {
    width,
    height,
    fps,
    frames: Number.isFinite(frames) ? frames : 0,
    duration: Number.isFinite(duration) ? duration : undefined,
    codec: String(s.codec_name ?? 'unknown'),
  };
}

export interface ReadVideoOptions {
  /** Stop after this many frames. */
  maxFrames?: number;
  /** The video's info, when already probed (saves one ffprobe run). */
  info?: VideoInfo;
}

/**
 * The frames of a video as RGB bytes, in order. Breaking out of the loop stops ffmpeg. Throws
 * (naming the file and ffmpeg's message) when ffmpeg cannot decode it.
 */
export async function* readVideoFrames(path: string, options: ReadVideoOptions = {}): AsyncGenerator<VideoFrame> {
  const info = options.info ?? (await probeVideo(path));
  const { width, height, fps } = info;
  const frameBytes = width * height * 3;
  const limit = options.maxFrames ?? Number.POSITIVE_INFINITY;
  if (limit <= 0) return;
  const p = runFfmpeg(
    'ffmpeg',
    ['-nostdin', '-v', 'error', '-i', path, '-map', '0:v:0', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'],
    `readVideoFrames(${path})`,
  );
  let index = 0;
  let frame = new Uint8Array(frameBytes);
  let filled = 0;
  let finished = false;
  try {
    for await (const chunk of p.child.stdout! as AsyncIterable<Buffer>) {
      let at = 0;
      while (at < chunk.length) {
        const n = Math.min(frameBytes - filled, chunk.length - at);
        frame.set(chunk.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled === frameBytes) {
          yield { data: frame, width, height, index, time: index / fps };
          index++;
          if (index >= limit) return;
          frame = new Uint8Array(frameBytes);
          filled = 0;
        }
      }
    }
    const { code, error } = await p.exited;
    finished = true;
    if (error) throw error;
    if (code !== 0) throw new Error(`readVideoFrames: ffmpeg cannot decode '${path}': ${p.lastLine()}`);
    if (filled !== 0)
      throw new Error(
        `readVideoFrames: '${path}' ended inside frame ${index} (${filled} of ${frameBytes} bytes of a ${width}x${height} RGB frame)`,
      );
  } finally {
    if (!finished) stop(p.child);
  }
}

function stop(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

let encoders: Promise<string> | undefined;
/** The video encoder used for new files: libx264 when this ffmpeg build has it, else mpeg4. */
export async function videoEncoder(): Promise<'libx264' | 'mpeg4'> {
  encoders ??= (async () => {
    const p = runFfmpeg('ffmpeg', ['-hide_banner', '-encoders'], 'videoEncoder');
    let out = '';
    p.child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    const { error } = await p.exited;
    if (error) throw error;
    return out;
  })();
  let list: string;
  try {
    list = await encoders;
  } catch (e) {
    encoders = undefined; // let a later call retry once ffmpeg is installed
    throw e;
  }
  return /^\s*V\S*\s+libx264\s/m.test(list) ? 'libx264' : 'mpeg4';
}

export interface VideoWriterOptions {
  width: number;
  height: number;
  /** Frames per second (default 25). */
  fps?: number;
  /** Encoder (default: `videoEncoder()`). */
  codec?: 'libx264' | 'mpeg4';
}

/** Writes RGB frames to a video file (format from the extension, e.g. .mp4, .mkv, .webm with the default codecs). */
export class VideoWriter {
  private frames = 0;
  private failure?: Error;

  private constructor(
    readonly path: string,
    private readonly temp: string,
    readonly width: number,
    readonly height: number,
    private readonly proc: FfmpegProcess,
  ) {
    // A dead ffmpeg makes stdin emit EPIPE; the exit status says why, so keep the error for write/close.
    proc.child.stdin!.on('error', (e) => (this.failure ??= e));
  }

  /** Starts ffmpeg writing to `path` (through a temporary file beside it, renamed on close). */
  static async open(path: string, options: VideoWriterOptions): Promise<VideoWriter> {
    const { width, height } = options;
    const fps = options.fps ?? 25;
    if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0))
      throw new Error(`VideoWriter: width and height must be positive integers, got ${width}x${height}`);
    if (!(fps > 0 && Number.isFinite(fps))) throw new Error(`VideoWriter: fps must be a positive number, got ${fps}`);
    if (!existsSync(dirname(resolve(path))))
      throw new Error(`VideoWriter: cannot write '${path}': the folder '${dirname(path)}' does not exist`);
    const codec = options.codec ?? (await videoEncoder());
    const even = width % 2 === 0 && height % 2 === 0;
    if (codec === 'mpeg4' && !even)
      throw new Error(`VideoWriter: the mpeg4 encoder needs an even width and height, got ${width}x${height}`);
    // yuv420p is what players expect; it needs even sizes, so odd ones keep full chroma (yuv444p).
    const codecArgs =
      codec === 'libx264'
        ? ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '18', '-pix_fmt', even ? 'yuv420p' : 'yuv444p']
        : ['-c:v', 'mpeg4', '-q:v', '2', '-pix_fmt', 'yuv420p'];
    const ext = extname(path);
    const temp = join(dirname(path), `.${basename(path, ext)}.${process.pid}.${Date.now()}.tmp${ext}`);
    const args = [
      '-nostdin',
      '-v',
      'error',
      '-y',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-s',
      `${width}x${height}`,
      '-r',
      String(fps),
      '-i',
      '-',
      '-an',
      ...codecArgs,
      ...(ext.toLowerCase() === '.mp4' || ext.toLowerCase() === '.mov' ? ['-movflags', '+faststart'] : []),
      temp,
    ];
    const proc = runFfmpeg('ffmpeg', args, `VideoWriter(${path})`, 'pipe');
    // Fail here (not at the first write) when ffmpeg is missing.
    await new Promise<void>((started) => {
      proc.child.once('spawn', () => started());
      proc.child.once('error', () => started());
    });
    if (proc.child.pid === undefined) throw (await proc.exited).error;
    return new VideoWriter(path, temp, width, height, proc);
  }

  /** Frames written so far. */
  get count(): number {
    return this.frames;
  }

  /** Appends one RGB frame (H×W×3 bytes); waits while ffmpeg's input pipe is full. */
  async write(rgb: Uint8Array): Promise<void> {
    if (rgb.length !== this.width * this.height * 3)
      throw new Error(
        `VideoWriter.write: expected a ${this.width}x${this.height} RGB frame (${this.width * this.height * 3} bytes), got ${rgb.length}`,
      );
    const stdin = this.proc.child.stdin!;
    if (this.failure || stdin.destroyed) return this.fail();
    this.frames++;
    if (!stdin.write(rgb)) await Promise.race([once(stdin, 'drain'), this.proc.exited]);
    if (this.failure) return this.fail();
  }

  private async fail(): Promise<never> {
    const { code, error } = await this.proc.exited;
    await rm(this.temp, { force: true });
    throw (
      error ?? new Error(`VideoWriter: ffmpeg stopped writing '${this.path}' (exit ${code}): ${this.proc.lastLine()}`)
    );
  }

  /** Finishes the file: ffmpeg flushes the encoder, then the temporary file replaces `path`. */
  async close(): Promise<void> {
    this.proc.child.stdin!.end();
    const { code, error } = await this.proc.exited;
    if (error || code !== 0) return this.fail();
    await rename(this.temp, this.path);
  }

  /** Stops ffmpeg and removes the temporary file (nothing is written to `path`). */
  async abort(): Promise<void> {
    stop(this.proc.child);
    await this.proc.exited;
    await rm(this.temp, { force: true });
  }
}

/** Writes frames (RGB bytes) to a video file and returns how many were written. */
export async function writeVideo(
  path: string,
  frames: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  options: VideoWriterOptions,
): Promise<number> {
  const w = await VideoWriter.open(path, options);
  try {
    for await (const f of frames) await w.write(f);
  } catch (e) {
    await w.abort();
    throw e;
  }
  await w.close();
  return w.count;
}

const VIDEO_EXTENSIONS = new Set([
  '.mp4',
  '.m4v',
  '.mov',
  '.mkv',
  '.webm',
  '.avi',
  '.mpg',
  '.mpeg',
  '.ogv',
  '.wmv',
  '.flv',
]);

/** Whether a path names a video by its extension (.mp4, .mkv, .webm, .avi, .mov, …). */
export function isVideoPath(path: string): boolean {
  return VIDEO_EXTENSIONS.has(extname(path).toLowerCase());
}
