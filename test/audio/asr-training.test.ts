// The ASR training pipeline shared by examples/asr.ts and the speech bench: training sets (labels,
// padding, clips that do not fit), the voices it draws, and the atomic save with the spec.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Generator } from '../../src/index.js';
import {
  ASR_ALPHABET,
  ASR_HELD_OUT_VARIANTS,
  type SpokenClip,
  asrTrainingSet,
  asrTrainingVoice,
  saveAsrModel,
} from '../../src/audio/index.js';
import { tempDir } from '../helpers/temp.js';
import { BINS, randomAsr } from './random-asr.js';

const clip = (text: string, seconds: number, seed: number): SpokenClip => {
  const rng = new Generator(seed);
  const audio = new Float32Array(Math.round(seconds * 16000));
  rng.fillNormal(audio);
  for (let i = 0; i < audio.length; i++) audio[i]! *= 0.1;
  return { text, voice: 'noise', path: '', audio };
};

describe('asrTrainingSet', () => {
  it('pads clips to the training length, labels them (padded with -1) and leaves out the long ones', () => {
    const clips = [clip('you are', 0.5, 1), clip('too long', 1.2, 2), clip('go', 0.3, 3)];
    const set = asrTrainingSet(clips, { frames: 96, bins: BINS, rng: new Generator(1), noiseShare: 0 });
    expect(set.clips.map((c) => c.text)).toEqual(['you are', 'go']);
    expect(set.tooLong).toBe(1);
    expect(set.x.shape).toEqual([2, 96, BINS]);
    const y = Array.from(set.y.data as BigInt64Array, Number);
    const label = (s: string) => Array.from(s, (ch) => ASR_ALPHABET.indexOf(ch) + 1);
    expect(y).toEqual([...label('you are'), ...label('go'), -1, -1, -1, -1, -1]);
    // The statistics are those of the features.
    const x = set.features;
    const rows = x.length / BINS;
    let m0 = 0;
    for (let r = 0; r < rows; r++) m0 += x[r * BINS]! / rows;
    expect(set.mean[0]).toBeCloseTo(m0, 3);
    expect(set.variance.every((v) => v > 0)).toBe(true);
    // Cached features are taken as they are (no audio work), and must have the right size.
    const again = asrTrainingSet(clips, { frames: 96, bins: BINS, rng: new Generator(9), features: set.features });
    expect(again.features).toBe(set.features);
    expect(() =>
      asrTrainingSet(clips, { frames: 96, bins: BINS, rng: new Generator(1), features: new Float32Array(5) }),
    ).toThrow(/cached features hold 5 values, expected 3840 \(\[2, 96, 20\]\)/);
  });

  it('rejects text outside the alphabet and sets where no clip fits', () => {
    const rng = new Generator(1);
    expect(() => asrTrainingSet([clip('Go!', 0.3, 1)], { frames: 96, bins: BINS, rng })).toThrow(
      /'G' in "Go!" is not in the alphabet/,
    );
    expect(() => asrTrainingSet([clip('go', 2, 1)], { frames: 96, bins: BINS, rng })).toThrow(
      /none of the 1 clips fits in 96 frames/,
    );
  });
});

describe('asrTrainingVoice', () => {
  it('never draws a held-out variant', () => {
    const rng = new Generator(3);
    const variants = new Set(Array.from({ length: 500 }, () => asrTrainingVoice(rng).variant));
    expect(variants.size).toBeGreaterThan(5);
    for (const v of ASR_HELD_OUT_VARIANTS) expect(variants.has(v)).toBe(false);
    const given = new Generator(4);
    const drawn = Array.from({ length: 50 }, () => asrTrainingVoice(given, ['only']));
    expect(new Set(drawn.filter((v) => v.engine === 'espeak-ng').map((v) => v.variant))).toEqual(new Set(['only']));
  });
});

describe('saveAsrModel', () => {
  it('writes the model with its spec and extra files, replacing an earlier one, and leaves no staging folder', async () => {
    const parent = tempDir('lepton-asr-save-');
    const dir = join(parent, 'model');
    const asr = randomAsr();
    const spec = { alphabet: ASR_ALPHABET, numMelBins: BINS, sampleRate: 16000 };
    await saveAsrModel(asr.model, dir, spec, { 'note.json': '{"a":1}\n' });
    const loaded = await saveAsrModel(asr.model, dir, spec, { 'note.json': '{"a":2}\n' });
    expect(JSON.parse(readFileSync(join(dir, 'asr.json'), 'utf8'))).toEqual(spec);
    expect(JSON.parse(readFileSync(join(dir, 'note.json'), 'utf8'))).toEqual({ a: 2 });
    expect(existsSync(join(dir, 'model.onnx'))).toBe(true);
    expect(readdirSync(parent)).toEqual(['model']);
    expect(loaded.spec).toEqual(spec);
    expect(loaded.stride).toBe(asr.stride);
  });
});
