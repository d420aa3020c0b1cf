// `lepton listen FILE.wav`: a 22.05 kHz espeak-ng recording (resampled to the model's 16 kHz)
// transcribed by a saved streaming model; the last line is the transcript, which equals the
// offline transcription of the same audio (the streaming tests show why they agree). Skipped with
// a notice where espeak-ng is not installed.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { saveModel } from '../../src/index.js';
import { AsrModel, loadAudio, synthesize, writeWav } from '../../src/audio/index.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';
import { randomAsr } from './random-asr.js';

let espeak = true;
try {
  execFileSync('espeak-ng', ['--version']);
} catch {
  espeak = false;
  console.warn('espeak-ng is not installed: skipping the lepton listen test');
}

describe.skipIf(!espeak)('lepton listen', () => {
  it('prints partials, then the transcript of a resampled WAV last', async () => {
    const root = tempDir('lepton-listen-');
    const dir = join(root, 'model');
    const asr = randomAsr();
    await saveModel(asr.model, dir);
    await AsrModel.saveSpec(dir, asr.spec);
    const wav = join(root, 'speech.wav');
    const spoken = await synthesize('and he said to them', { engine: 'espeak-ng', name: 'en-us' }, 22050);
    await writeWav(wav, spoken);
    const expected = asr.transcribe((await loadAudio(wav, { sampleRate: 16000 })).channels[0]!).text;
    expect(expected.length).toBeGreaterThan(5);
    const r = await cli('listen', wav, '--model', dir, '--chunk-ms', '50');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines.at(-1)).toBe(expected);
    expect(lines.some((l) => l.startsWith('… '))).toBe(true);
  }, 120_000);

  it('says what is missing when the model folder is not a speech model', async () => {
    const root = tempDir('lepton-listen-');
    const wav = join(root, 'a.wav');
    await writeWav(wav, { sampleRate: 16000, channels: [new Float32Array(1600)] });
    const r = await cli('listen', wav, '--model', root);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/not a speech model \(no asr\.json\)/);
  });
});
