// WAV I/O, resampling and WER/CER: byte layouts and hand-counted edit distances as references.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  charErrorRate,
  decodeWav,
  editCounts,
  encodeWav,
  loadAudio,
  resample,
  toMono,
  wordErrorRate,
  writeWav,
} from '../../src/audio/index.js';

const dir = mkdtempSync(join(tmpdir(), 'lepton-audio-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A 16-bit PCM WAV built byte by byte (the reference for the decoder). */
function pcm16(samples: number[][], rate: number): Uint8Array {
  const ch = samples.length;
  const n = samples[0]!.length;
  const buf = Buffer.alloc(44 + n * ch * 2);
  buf.write('RIFF', 0);
  buf.writeUInt32LE(36 + n * ch * 2, 4);
  buf.write('WAVE', 8);
  buf.write('fmt ', 12);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(ch, 22);
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * ch * 2, 28);
  buf.writeUInt16LE(ch * 2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36);
  buf.writeUInt32LE(n * ch * 2, 40);
  for (let i = 0; i < n; i++) for (let c = 0; c < ch; c++) buf.writeInt16LE(samples[c]![i]!, 44 + (i * ch + c) * 2);
  return buf;
}

describe('WAV', () => {
  it('decodes 16-bit PCM as value / 32768 per channel', () => {
    const a = decodeWav(
      pcm16(
        [
          [0, 16384, -32768, 32767],
          [1, -1, 2, -2],
        ],
        8000,
      ),
    );
    expect(a.sampleRate).toBe(8000);
    expect(Array.from(a.channels[0]!)).toEqual([0, 0.5, -1, 32767 / 32768]);
    expect(Array.from(a.channels[1]!)).toEqual([1 / 32768, -1 / 32768, 2 / 32768, -2 / 32768]);
    expect(Array.from(toMono(a))).toEqual(
      [0.5 / 32768, (0.5 - 1 / 32768) / 2, (-1 + 2 / 32768) / 2, (32767 - 2) / 32768 / 2].map(Math.fround),
    );
  });
  it('round-trips through encode (16-bit and float) and writes files atomically', async () => {
    const audio = { sampleRate: 16000, channels: [Float32Array.from([0, 0.25, -0.5, 0.999])] };
    expect(Array.from(decodeWav(encodeWav(audio)).channels[0]!)).toEqual(
      [0, 0.25, -0.5, Math.round(0.999 * 32768) / 32768].map(Math.fround),
    );
    expect(decodeWav(encodeWav(audio, { bitDepth: '32f' })).channels[0]).toEqual(audio.channels[0]);
    const path = join(dir, 'x.wav');
    await writeWav(path, audio);
    expect(Buffer.from(readFileSync(path))).toEqual(Buffer.from(encodeWav(audio)));
    expect((await loadAudio(path)).channels[0]).toEqual(decodeWav(encodeWav(audio)).channels[0]);
  });
  it('rejects a truncated header and mismatched channels clearly', () => {
    expect(() => decodeWav(pcm16([[1, 2, 3]], 8000).subarray(0, 30), 'clip.wav')).toThrow(
      /clip\.wav is not a readable WAV file/,
    );
    expect(() => encodeWav({ sampleRate: 8000, channels: [new Float32Array(3), new Float32Array(2)] })).toThrow(
      /channels differ in length \(3, 2\)/,
    );
  });
  it('resamples a tone without moving or distorting it', async () => {
    const tone = (rate: number, n: number): Float32Array =>
      Float32Array.from({ length: n }, (_, i) => Math.sin((2 * Math.PI * 440 * i) / rate));
    const out = await resample(tone(44100, 44100), 44100, 16000);
    expect(Math.abs(out.length - 16000)).toBeLessThanOrEqual(1);
    // Project the middle onto a 440 Hz sine/cosine at 16 kHz: the amplitude stays 1, the residual
    // is tiny (no aliasing or distortion), and there is no delay.
    let s = 0;
    let c = 0;
    const mid = Array.from({ length: out.length - 400 }, (_, k) => k + 200);
    for (const i of mid) {
      s += out[i]! * Math.sin((2 * Math.PI * 440 * i) / 16000);
      c += out[i]! * Math.cos((2 * Math.PI * 440 * i) / 16000);
    }
    const [a, b] = [(2 * s) / mid.length, (2 * c) / mid.length];
    expect(Math.abs(Math.hypot(a, b) - 1)).toBeLessThan(1e-3);
    let residual = 0;
    for (const i of mid)
      residual +=
        (out[i]! - a * Math.sin((2 * Math.PI * 440 * i) / 16000) - b * Math.cos((2 * Math.PI * 440 * i) / 16000)) ** 2;
    expect(residual / mid.length).toBeLessThan(1e-6);
    const delaySamples = (Math.abs(Math.atan2(b, a)) / (2 * Math.PI * 440)) * 16000;
    expect(delaySamples).toBeLessThan(0.01);
    await expect(resample(out, 0, 8000)).rejects.toThrow(/fromRate must be an integer number of Hz/);
  });
});

describe('WER and CER', () => {
  it('counts substitutions, deletions and insertions (hand-counted)', () => {
    // a b c d → a x c d e: b→x (S) and e inserted (I) is the only way with 2 edits.
    expect(editCounts('a b c d'.split(' '), 'a x c d e'.split(' '))).toEqual({
      substitutions: 1,
      deletions: 0,
      insertions: 1,
      reference: 4,
    });
    // a b c d → a c: b and d deleted.
    expect(editCounts('a b c d'.split(' '), 'a c'.split(' '))).toEqual({
      substitutions: 0,
      deletions: 2,
      insertions: 0,
      reference: 4,
    });
    expect(editCounts([], ['a', 'b'])).toEqual({ substitutions: 0, deletions: 0, insertions: 2, reference: 0 });
    expect(editCounts(['a', 'b'], [])).toEqual({ substitutions: 0, deletions: 2, insertions: 0, reference: 2 });
  });
  it('WER and CER are corpus totals over reference lengths', () => {
    expect(wordErrorRate('the cat sat on the mat', 'the cat sit on mat today')).toBeCloseTo(3 / 6, 12);
    // Two utterances: 1 error in 2 words + 2 errors in 4 words = 3/6 (the mean of rates would be 0.5 too; use unequal ones):
    expect(wordErrorRate(['a b', 'c d e f'], ['a x', 'c d e f'])).toBeCloseTo(1 / 6, 12);
    expect(wordErrorRate(['Hello   World'], ['hello world'])).toBe(0);
    // kitten → sitting: 3 character edits over 6 reference characters.
    expect(charErrorRate('kitten', 'sitting')).toBeCloseTo(3 / 6, 12);
    expect(() => wordErrorRate(['a'], ['a', 'b'])).toThrow(/1 references but 2 hypotheses/);
    expect(() => wordErrorRate([''], ['x'])).toThrow(/references are empty/);
  });
});
