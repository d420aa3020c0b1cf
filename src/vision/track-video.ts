/**
 * Detection and tracking over a video file: every frame (decoded by ffmpeg) through a detector,
 * the detections linked into tracks by `Tracker`, and optionally the frames with boxes, classes,
 * scores and track ids drawn written to a new video. What `lepton detect VIDEO` runs, and what
 * examples/track-shapes.ts scores against ground truth.
 */
import type { Detection, FcosDetector } from './detection/detector.js';
import { renderDetections } from './draw.js';
import { Tracker, type TrackerOptions } from './tracking.js';
import { type VideoFrame, type VideoInfo, VideoWriter, probeVideo, readVideoFrames } from './video.js';

/** One track on one frame. */
export interface VideoTrack {
  id: number;
  /** xyxy in the video's pixels (clipped to the frame). */
  box: [number, number, number, number];
  label: number;
  className: string;
  score: number;
}

export interface TrackVideoOptions {
  /** Write the annotated video here (format from the extension). */
  out?: string;
  /** Draw the annotated video this many times larger (default: up to 512 pixels on the longer side, at most 4×). */
  scale?: number;
  /** Tracker settings (default: the Tracker's, with mergeIou 0.5); detections below `lowScore` are not decoded at all. */
  tracker?: TrackerOptions;
  /** Called after each frame (e.g. progress). */
  onFrame?: (frame: VideoFrame, tracks: VideoTrack[], detections: Detection[]) => void;
  /** The video's info, when already probed. */
  info?: VideoInfo;
  /** Frames per detector call (default 8): batching amortises the per-call cost; memory holds this many frames. */
  batch?: number;
}

export interface TrackVideoResult {
  width: number;
  height: number;
  fps: number;
  /** Per frame: its number, time (s) and the confirmed tracks on it. */
  frames: { frame: number; time: number; tracks: VideoTrack[] }[];
  /** Each track: class (the latest vote), first and last frame, frames seen. */
  tracks: { id: number; className: string; first: number; last: number; frames: number }[];
}

/** Detects and tracks objects on every frame of a video; see the module comment. */
export async function trackVideo(
  path: string,
  detector: FcosDetector,
  options: TrackVideoOptions = {},
): Promise<TrackVideoResult> {
  const info = options.info ?? (await probeVideo(path));
  const scale = options.scale ?? Math.max(1, Math.min(4, Math.floor(512 / Math.max(info.width, info.height))));
  // FcosDetector's NMS is per class, so one object can come boxed under two classes: merge those.
  const tracker = new Tracker({ mergeIou: 0.5, ...options.tracker });
  const names = detector.config.classNames;
  const writer = options.out
    ? await VideoWriter.open(options.out, { width: info.width * scale, height: info.height * scale, fps: info.fps })
    : undefined;
  const frames: TrackVideoResult['frames'] = [];
  const spans = new Map<number, TrackVideoResult['tracks'][number]>();
  const batch = Math.max(1, Math.floor(options.batch ?? 8));
  const step = async (group: VideoFrame[]) => {
    const found = await detector.detectBatch(group, { scoreThreshold: tracker.options.lowScore });
    for (const [k, frame] of group.entries()) {
      const detections = found[k];
      const tracks = tracker.update(detections).map((t) => ({
        id: t.id,
        box: t.box.map((v, j) => Math.min(Math.max(v, 0), j % 2 ? frame.height : frame.width)) as VideoTrack['box'],
        label: t.label,
        className: names[t.label],
        score: t.score,
      }));
      frames.push({ frame: frame.index, time: frame.time, tracks });
      for (const t of tracks) {
        const s = spans.get(t.id);
        if (s) [s.last, s.frames, s.className] = [frame.index, s.frames + 1, t.className];
        else spans.set(t.id, { id: t.id, className: t.className, first: frame.index, last: frame.index, frames: 1 });
      }
      if (writer) await writer.write((await renderDetections(frame, tracks, { classNames: names, scale })).data);
      options.onFrame?.(frame, tracks, detections);
    }
  };
  try {
    let group: VideoFrame[] = [];
    for await (const frame of readVideoFrames(path, { info })) {
      group.push(frame);
      if (group.length === batch) {
        await step(group);
        group = [];
      }
    }
    await step(group);
    await writer?.close();
  } catch (e) {
    await writer?.abort();
    throw e;
  }
  return { width: info.width, height: info.height, fps: info.fps, frames, tracks: [...spans.values()] };
}
