/**
 * Partial-result latency of a streaming recognizer, per word: how long after a word ends in the
 * audio the recognizer first shows it for good.
 *
 * A word of a final result is identified by its utterance (the how-manieth final result) and its
 * position in that utterance. It is *held* after a feed when that feed's result for its utterance
 * — the partial while the utterance is open, the final once it ended — has the same word at the
 * same position. Its latency is measured from the first feed of the last unbroken run of feeds
 * that hold it up to its final (a word that shows, vanishes and comes back counts from its
 * return): (audio fed by the end of that feed − the word's end in the final result's timings) plus
 * the compute time of that feed. Matching by identity and position means a partial that merges
 * or splits words ("andhe said" for "and he said") holds none of the shifted words, where counting
 * words would credit them to the wrong ones.
 *
 * A latency can be negative: a partial may show a word before the end the final result gives it
 * (the model spells it from the audio so far, and CTC places a word's last character anywhere
 * near its end). Negative values are kept, not clamped; `negative` counts them.
 *
 * With a reference transcript, only the final words that the minimal-edit alignment of the whole
 * final transcript to the reference matches are measured: a misrecognized word's "end" is not the
 * end of a word that was spoken.
 */
import type { AsrResult } from './streaming.js';
import { editAlignment } from './metrics.js';

/** What a streaming client saw after one feed (one `acceptWaveform` call, or the end of the stream). */
export interface FeedObservation {
  /** Seconds of audio fed to the recognizer by the end of this feed. */
  fed: number;
  /** Milliseconds this feed took (acceptWaveform, reading the finals and the partial). */
  computeMs: number;
  /** Final results of utterances that ended in this feed, in order. */
  finals: readonly AsrResult[];
  /** The partial result of the utterance still open after this feed (none after the stream's end). */
  partial?: AsrResult;
}

export interface WordLatency {
  word: string;
  /** Which final result (0-based) and which word of it. */
  utterance: number;
  index: number;
  /** The word's end in the final result, seconds from the start of the stream. */
  end: number;
  /** Index of the feed from which the word was held until its final. */
  feed: number;
  latencyMs: number;
}

export interface LatencyReport {
  /** The measured words, in order. */
  words: WordLatency[];
  /** Words in all final results. */
  finalWords: number;
  /** Final words left out as not matching the reference (0 without one). */
  unmatched: number;
  /** Median latency over the measured words, ms (null when none was measured). */
  medianMs: number | null;
  /** Measured words with a negative latency. */
  negative: number;
}

const median = (xs: readonly number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Per-word partial latencies from the feeds of one stream (see the file comment). `reference`,
 * when given, is what was spoken (words separated by spaces, all utterances).
 */
export function partialLatencies(feeds: readonly FeedObservation[], reference?: string): LatencyReport {
  // What each utterance's result held after each feed: its partials, then its final.
  const held: { feed: number; words: string[] }[][] = [];
  const finals: AsrResult[] = [];
  let lastFed = -Infinity;
  feeds.forEach((f, k) => {
    if (!(f.fed >= lastFed) || !Number.isFinite(f.fed))
      throw new Error(
        `partialLatencies: feed ${k} reports ${f.fed} s of audio fed, after ${lastFed} s (must not decrease)`,
      );
    if (!(f.computeMs >= 0)) throw new Error(`partialLatencies: feed ${k} has computeMs ${f.computeMs} (must be ≥ 0)`);
    lastFed = f.fed;
    for (const r of f.finals) {
      (held[finals.length] ??= []).push({ feed: k, words: r.words.map((w) => w.word) });
      finals.push(r);
    }
    if (f.partial) (held[finals.length] ??= []).push({ feed: k, words: f.partial.words.map((w) => w.word) });
  });
  const all = finals.flatMap((r, u) => r.words.map((w, index) => ({ ...w, utterance: u, index })));
  let keep = all.map(() => true);
  if (reference !== undefined) {
    keep = all.map(() => false);
    const ref = reference.trim() === '' ? [] : reference.trim().split(/\s+/);
    for (const e of editAlignment(
      ref,
      all.map((w) => w.word),
    ))
      if (e.op === 'match') keep[e.hyp] = true;
  }
  const words: WordLatency[] = [];
  all.forEach((w, i) => {
    if (!keep[i]) return;
    const states = held[w.utterance]!;
    // Walk back from the final over the states that hold the word at its position.
    let s = states.length - 1;
    while (s > 0 && states[s - 1]!.words[w.index] === w.word) s--;
    const feed = states[s]!.feed;
    const f = feeds[feed]!;
    words.push({
      word: w.word,
      utterance: w.utterance,
      index: w.index,
      end: w.end,
      feed,
      latencyMs: (f.fed - w.end) * 1000 + f.computeMs,
    });
  });
  const ms = words.map((w) => w.latencyMs);
  return {
    words,
    finalWords: all.length,
    unmatched: all.length - words.length,
    medianMs: median(ms),
    negative: ms.filter((v) => v < 0).length,
  };
}
