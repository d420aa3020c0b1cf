// The streaming keyword detector on hand-made scores: a scorer that reads what the window holds
// (marker samples standing for a spoken keyword) or replays a fixed sequence of posteriors, so the
// expected detections and their times follow from the window arithmetic by hand. At 100 Hz a
// window is 100 samples (1 s) and the hop 10 samples (0.1 s).
import { describe, expect, it } from 'vitest';
import { KeywordDetector, type KeywordDetection, type WindowScorer } from '../../src/audio/index.js';

const LABELS = ['_silence_', 'yes', 'no'];
const RATE = 100;

/** p(yes) = share of samples equal to 1 in the window, p(no) = share equal to 2, the rest silence. */
const markerScorer: WindowScorer = (windows) =>
  windows.map((w) => {
    const yes = w.filter((v) => v === 1).length / w.length;
    const no = w.filter((v) => v === 2).length / w.length;
    return [1 - yes - no, yes, no];
  });

/** Replays p(yes) values window by window (the rest of the mass on silence). */
function replay(pYes: number[]): WindowScorer {
  let i = 0;
  return (windows) =>
    windows.map(() => {
      const p = pYes[i++] ?? 0;
      return [1 - p, p, 0];
    });
}

/** `seconds` of zeros with `value` in [from, to) seconds. */
function stream(seconds: number, marks: [number, number, number][]): Float32Array {
  const x = new Float32Array(Math.round(seconds * RATE));
  for (const [value, from, to] of marks) x.fill(value, Math.round(from * RATE), Math.round(to * RATE));
  return x;
}

function run(det: KeywordDetector, audio: Float32Array, piece: number): KeywordDetection[] {
  const out: KeywordDetection[] = [];
  for (let at = 0; at < audio.length; at += piece)
    if (det.acceptWaveform(audio.subarray(at, at + piece))) for (let d = det.result(); d; d = det.result()) out.push(d);
  return out;
}

const base = { labels: LABELS, sampleRate: RATE, windowSeconds: 1, hopSeconds: 0.1 };

describe('KeywordDetector', () => {
  it('fires at the first window whose score reaches the threshold, with its time span', () => {
    // 'yes' from 2.0 to 2.8 s: the window starting at 1.7 s holds 0.7 of it, the one at 1.6 s 0.6.
    const det = new KeywordDetector(markerScorer, { ...base, threshold: 0.65, smoothing: 1, refractorySeconds: 1 });
    const found = run(det, stream(5, [[1, 2, 2.8]]), 37);
    expect(found).toHaveLength(1);
    expect(found[0]!.keyword).toBe('yes');
    expect(found[0]!.label).toBe(1);
    expect(found[0]!.score).toBeCloseTo(0.7, 6);
    expect(found[0]!.start).toBeCloseTo(1.7, 9);
    expect(found[0]!.end).toBeCloseTo(2.7, 9);
    // Windows start every 0.1 s while a whole window fits in 5 s: 0.0 … 4.0.
    expect(det.windows).toBe(41);
    expect(det.seconds).toBe(5);
  });

  it('the refractory period keeps one word from firing again as the window slides over it', () => {
    const audio = stream(5, [[1, 2, 2.8]]);
    const noRefractory = new KeywordDetector(markerScorer, {
      ...base,
      threshold: 0.65,
      smoothing: 1,
      refractorySeconds: 0,
    });
    // Windows starting at 1.7, 1.8, 1.9, 2.0, 2.1 s each hold ≥ 0.7 of the word.
    expect(run(noRefractory, audio, 50).map((d) => Math.round(d.start * 10) / 10)).toEqual([1.7, 1.8, 1.9, 2.0, 2.1]);
    // A second word 1.5 s later fires again once the 1 s refractory period (from 2.7 s) is over.
    const two = stream(7, [
      [1, 2, 2.8],
      [2, 4.3, 5.1],
    ]);
    const det = new KeywordDetector(markerScorer, { ...base, threshold: 0.65, smoothing: 1, refractorySeconds: 1 });
    const found = run(det, two, 50);
    expect(found.map((d) => d.keyword)).toEqual(['yes', 'no']);
    expect(found[1]!.start).toBeCloseTo(4.0, 9);
    // The same word within the refractory period does not fire.
    const close = stream(7, [
      [1, 2, 2.8],
      [2, 3.0, 3.8],
    ]);
    const det2 = new KeywordDetector(markerScorer, { ...base, threshold: 0.65, smoothing: 1, refractorySeconds: 2 });
    expect(run(det2, close, 50).map((d) => d.keyword)).toEqual(['yes']);
  });

  it('smoothing averages the last windows: a one-window spike does not fire, a sustained run does', () => {
    const pYes = [0, 0, 0.9, 0, 0, 0.5, 0.9, 0.95, 0.9, 0, 0, 0, 0, 0, 0, 0];
    const audio = new Float32Array(RATE + (pYes.length - 1) * 10); // exactly pYes.length windows
    const smooth = new KeywordDetector(replay(pYes), { ...base, threshold: 0.8, smoothing: 3, refractorySeconds: 0 });
    const found = run(smooth, audio, 23);
    // Window 7 averages (0.5, 0.9, 0.95) = 0.783 < 0.8; window 8 averages (0.9, 0.95, 0.9) = 0.917.
    expect(found).toHaveLength(1);
    expect(found[0]!.score).toBeCloseTo((0.9 + 0.95 + 0.9) / 3, 6);
    // The averaged windows start at 0.6, 0.7, 0.8 s: the span is 0.6 … 1.8 s.
    expect(found[0]!.start).toBeCloseTo(0.6, 9);
    expect(found[0]!.end).toBeCloseTo(1.8, 9);
    expect(smooth.windows).toBe(pYes.length);
    const raw = new KeywordDetector(replay(pYes), { ...base, threshold: 0.8, smoothing: 1, refractorySeconds: 0 });
    // Without smoothing the spike at window 2 fires, and 6, 7, 8 each do (refractory 0).
    expect(run(raw, audio, 23).map((d) => Math.round(d.start * 10))).toEqual([2, 6, 7, 8]);
  });

  it('gives the same detections however the stream is cut, and keeps a bounded buffer', () => {
    const audio = stream(20, [
      [1, 2, 2.8],
      [2, 6, 6.9],
      [1, 11, 11.7],
      [2, 15.2, 16],
    ]);
    const opts = { ...base, threshold: 0.6, smoothing: 2, refractorySeconds: 1 };
    const whole = run(new KeywordDetector(markerScorer, opts), audio, audio.length);
    expect(whole.map((d) => d.keyword)).toEqual(['yes', 'no', 'yes', 'no']);
    for (const piece of [1, 7, 160]) {
      const det = new KeywordDetector(markerScorer, opts);
      expect(run(det, audio, piece)).toEqual(whole);
      expect((det as unknown as { buffer: Float32Array }).buffer.length).toBeLessThanOrEqual(100 + piece);
    }
    const det = new KeywordDetector(markerScorer, opts);
    run(det, audio, 300);
    det.reset();
    expect(det.windows).toBe(0);
    expect(run(det, audio, 300)).toEqual(whole);
  });

  it('only keywords fire; bad options and a bad scorer are clear errors', () => {
    // Silence dominates an empty stream but is not a keyword.
    const det = new KeywordDetector(markerScorer, { ...base, threshold: 0.5, smoothing: 1 });
    expect(run(det, new Float32Array(500), 100)).toEqual([]);
    const onlyNo = new KeywordDetector(markerScorer, { ...base, keywords: ['no'], threshold: 0.5, smoothing: 1 });
    expect(run(onlyNo, stream(4, [[1, 1, 2]]), 100)).toEqual([]);
    expect(() => new KeywordDetector(markerScorer, { ...base, keywords: ['maybe'] })).toThrow(
      /'maybe' is not one of the labels/,
    );
    expect(() => new KeywordDetector(markerScorer, { ...base, threshold: 1.5 })).toThrow(
      /threshold must be in \(0, 1\]/,
    );
    expect(() => new KeywordDetector(markerScorer, { ...base, smoothing: 0 })).toThrow(/smoothing/);
    const wrongCount = new KeywordDetector(() => [], base);
    expect(() => wrongCount.acceptWaveform(new Float32Array(200))).toThrow(/returned 0 results for 11 windows/);
    const wrongWidth = new KeywordDetector((w) => w.map(() => [1, 0]), base);
    expect(() => wrongWidth.acceptWaveform(new Float32Array(100))).toThrow(
      /2 scores for a window, expected one per label \(3\)/,
    );
    expect(() => det.acceptWaveform([0, Number.NaN])).toThrow(/finite/);
  });
});
