// `lepton listen FILE.wav`: a 22.05 kHz espeak-ng recording (resampled to the model's 16 kHz)
// transcribed by a saved streaming model; the last line is the transcript, which equals the
// offline transcription of the same audio (the streaming tests show why they agree). Skipped with
// a notice where espeak-ng is not installed.
import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { saveModel } from '../../src/index.js';
import { AsrModel, loadAudio, pcm16ToFloat, synthesize, writeWav } from '../../src/audio/index.js';
import { recorderCommand } from '../../src/cli/listen.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';
import { randomAsr } from './random-asr.js';

let espeak = true;
try {
  // libpulse (which espeak-ng opens) would leave a pulse-* folder in $TMPDIR.
  execFileSync('espeak-ng', ['--version'], {
    stdio: 'ignore',
    env: { ...process.env, PULSE_RUNTIME_PATH: '/dev/null/pulse' },
  });
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

  describe('the microphone (through a recorder command)', () => {
    let root: string;
    let dir: string;
    let pcm: Buffer;
    let asr: ReturnType<typeof randomAsr>;
    /** A stand-in for arecord: writes the speech as raw PCM in 333-byte blocks (odd: samples split across reads). */
    let recorder: string;

    it('transcribes what the recorder writes, the same as the offline transcription', async () => {
      root = tempDir('lepton-listen-mic-');
      dir = join(root, 'model');
      asr = randomAsr();
      await saveModel(asr.model, dir);
      await AsrModel.saveSpec(dir, asr.spec);
      const spoken = await synthesize('and he said to them', { engine: 'espeak-ng', name: 'en-us' }, 16000);
      const samples = spoken.channels[0]!;
      pcm = Buffer.alloc(samples.length * 2);
      samples.forEach((v, i) => pcm.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(v * 32768))), 2 * i));
      writeFileSync(join(root, 'speech.raw'), pcm);
      recorder = join(root, 'fake-arecord.sh');
      writeFileSync(recorder, `#!/bin/sh\nexec dd if=${join(root, 'speech.raw')} bs=333 status=none\n`);
      chmodSync(recorder, 0o755);
      const expected = asr.transcribe(pcm16ToFloat(pcm)).text;
      expect(expected.length).toBeGreaterThan(5);
      const r = await cli('listen', '--model', dir, '--recorder', recorder);
      expect(r.code).toBe(0);
      expect(r.err).toMatch(/listening through .*fake-arecord\.sh at 16000 Hz/);
      const lines = r.out.trim().split('\n');
      expect(lines.at(-1)).toBe(expected);
      expect(lines.some((l) => l.startsWith('… '))).toBe(true);
    }, 60_000);

    it('stops after --seconds of audio', async () => {
      const r = await cli('listen', '--mic', '--model', dir, '--recorder', recorder, '--seconds', '0.75', '--json');
      expect(r.code).toBe(0);
      const expected = asr.transcribe(pcm16ToFloat(pcm.subarray(0, 2 * 12000))).text;
      expect(JSON.parse(r.out.trim()).text).toBe(expected);
    });

    it('names the Debian packages when no recorder is installed, and reports a failing one', async () => {
      const path = process.env.PATH;
      const env = process.env.LEPTON_RECORDER;
      delete process.env.LEPTON_RECORDER;
      process.env.PATH = tempDir('lepton-empty-path-');
      try {
        expect(() => recorderCommand(16000)).toThrow(/install Debian's alsa-utils \(arecord\) or sox \(rec\)/);
      } finally {
        process.env.PATH = path;
        if (env !== undefined) process.env.LEPTON_RECORDER = env;
      }
      const missing = await cli('listen', '--model', dir, '--recorder', join(root, 'no-such-recorder'));
      expect(missing.code).not.toBe(0);
      expect(missing.err).toMatch(/recorder '.*no-such-recorder' not found \(install Debian's alsa-utils/);
      const failing = join(root, 'failing.sh');
      writeFileSync(failing, '#!/bin/sh\necho "no capture device" >&2\nexit 3\n');
      chmodSync(failing, 0o755);
      const failed = await cli('listen', '--model', dir, '--recorder', failing);
      expect(failed.code).not.toBe(0);
      expect(failed.err).toMatch(/failed \(exit 3\): no capture device/);
    });

    it('prefers arecord, then rec, with raw 16-bit little-endian mono PCM arguments', () => {
      const bin = tempDir('lepton-fake-bin-');
      const path = process.env.PATH;
      const fake = (name: string) => {
        writeFileSync(join(bin, name), '#!/bin/sh\n');
        chmodSync(join(bin, name), 0o755);
      };
      try {
        process.env.PATH = bin;
        fake('rec');
        expect(recorderCommand(16000, '')).toEqual(
          'rec -q -t raw -b 16 -e signed-integer -L -c 1 -r 16000 -'.split(' '),
        );
        fake('arecord');
        expect(recorderCommand(8000, '')).toEqual('arecord -q -t raw -f S16_LE -c 1 -r 8000 -'.split(' '));
        expect(recorderCommand(16000, 'my-recorder --raw')).toEqual(['my-recorder', '--raw']);
      } finally {
        process.env.PATH = path;
      }
    });
  });
});
