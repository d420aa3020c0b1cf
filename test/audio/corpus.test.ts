// The speech corpus readers on small trees built here in the layouts of the real corpora, with
// tones as audio (a different pitch per file, so a decoded clip can be told apart by its zero
// crossings) encoded to FLAC and MP3 with Debian's ffmpeg, which .ci/run installs.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DataFormatError, DataNotFoundError } from '../../src/index.js';
import {
  commonVoice,
  librispeech,
  readSpeechAudio,
  speechClips,
  speechCommands,
  speechFolder,
  writeWav,
} from '../../src/audio/index.js';
import { tempDir } from '../helpers/temp.js';

function tone(hz: number, seconds: number, rate: number): Float32Array {
  return Float32Array.from(
    { length: Math.round(seconds * rate) },
    (_, i) => 0.5 * Math.sin((2 * Math.PI * hz * i) / rate),
  );
}

/** Writes a tone as WAV, or as FLAC/MP3 through ffmpeg (from a WAV next to it, removed after). */
async function writeTone(path: string, hz: number, seconds: number, rate: number): Promise<void> {
  mkdirSync(join(path, '..'), { recursive: true });
  const audio = { sampleRate: rate, channels: [tone(hz, seconds, rate)] };
  if (path.endsWith('.wav')) return writeWav(path, audio);
  const wav = `${path}.src.wav`;
  await writeWav(wav, audio);
  execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-i', wav, path]);
  rmSync(wav);
}

/** Frequency from the rising zero crossings of a clip. */
function pitch(x: Float32Array, rate: number): number {
  let n = 0;
  for (let i = 1; i < x.length; i++) if (x[i - 1]! < 0 && x[i]! >= 0) n++;
  return (n * rate) / x.length;
}

/** The clip is the tone of `hz` (within 3%: the count of crossings is whole). */
function expectPitch(x: Float32Array, hz: number): void {
  expect(Math.abs(pitch(x, 16000) - hz)).toBeLessThan(0.03 * hz);
}

function write(path: string, text: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
}

describe('speechFolder', () => {
  it('reads sidecar transcripts (.txt or .lab) beside the audio', async () => {
    const root = tempDir('lepton-corpus-');
    await writeTone(join(root, 'a.wav'), 300, 0.3, 16000);
    write(join(root, 'a.txt'), 'hello world\n');
    await writeTone(join(root, 'sub', 'b.wav'), 500, 0.2, 8000);
    write(join(root, 'sub', 'b.lab'), '  good morning ');
    const c = speechFolder(root, { split: 'dev' });
    expect(c.format).toBe('folder');
    expect(c.items.map((i) => [i.id, i.text, i.split])).toEqual([
      ['a', 'hello world', 'dev'],
      ['b', 'good morning', 'dev'],
    ]);
    // An 8 kHz file comes back at 16 kHz, twice as many samples, same pitch.
    const b = await readSpeechAudio(c.items[1]!);
    expect(b.length).toBe(3200);
    expectPitch(b, 500);
    await writeTone(join(root, 'c.wav'), 300, 0.1, 16000);
    expect(() => speechFolder(root)).toThrow(DataFormatError);
    expect(() => speechFolder(root)).toThrow(/c\.wav has no transcript: expected .*c\.txt/);
    expect(() => speechFolder(join(root, 'nothing'))).toThrow(DataNotFoundError);
  });

  it('reads an LJSpeech metadata.csv (id|text|normalized, quotes as text)', async () => {
    const root = tempDir('lepton-corpus-');
    await writeTone(join(root, 'wavs', 'LJ001-0001.wav'), 300, 0.25, 22050);
    await writeTone(join(root, 'wavs', 'LJ001-0002.wav'), 400, 0.25, 22050);
    write(
      join(root, 'metadata.csv'),
      'LJ001-0001|"Printing," he said, in 1450|"Printing," he said, in fourteen fifty\nLJ001-0002|in being comparatively modern.|in being comparatively modern.\n',
    );
    const c = speechFolder(root);
    expect(c.items.map((i) => i.text)).toEqual([
      '"Printing," he said, in fourteen fifty',
      'in being comparatively modern.',
    ]);
    expect(speechFolder(root, { text: 'raw' }).items[0]!.text).toBe('"Printing," he said, in 1450');
    expect(c.items[0]!.path).toBe(join(root, 'wavs', 'LJ001-0001.wav'));
    expect(c.split('train')).toHaveLength(2);
    expect(() => c.split('test')).toThrow(/no split 'test' \(splits: train\)/);
    const audio = await readSpeechAudio(c.items[1]!);
    expect(audio.length).toBe(4000);
    expectPitch(audio, 400);
    write(join(root, 'metadata.csv'), 'LJ001-0001|a|a\nLJ001-0003|missing|missing\n');
    expect(() => speechFolder(root)).toThrow(/metadata\.csv line 2 lists 'LJ001-0003' but neither/);
  });

  it('reads transcripts.tsv with path, text, speaker and split columns', async () => {
    const root = tempDir('lepton-corpus-');
    await writeTone(join(root, 'clips', 'one.wav'), 300, 0.1, 16000);
    await writeTone(join(root, 'clips', 'two.flac'), 300, 0.1, 16000);
    write(
      join(root, 'transcripts.tsv'),
      'path\ttext\tspeaker\tsplit\nclips/one.wav\tfirst\tann\ttrain\nclips/two\tsecond\tbob\ttest\n',
    );
    const c = speechFolder(root);
    expect(c.items.map((i) => [i.id, i.text, i.speaker, i.split])).toEqual([
      ['one', 'first', 'ann', 'train'],
      ['two', 'second', 'bob', 'test'],
    ]);
    expect(c.items[1]!.path).toBe(join(root, 'clips', 'two.flac'));
    expect(c.splits).toEqual(['train', 'test']);
    write(join(root, 'transcripts.tsv'), 'path\twords\nclips/one.wav\tfirst\n');
    expect(() => speechFolder(root)).toThrow(/needs a text column \(one of text, sentence, transcript/);
    write(join(root, 'transcripts.tsv'), 'path\ttext\nclips/three.wav\tthird\n');
    expect(() => speechFolder(root)).toThrow(/line 2 lists 'clips\/three\.wav' but no such audio file/);
  });
});

describe('librispeech', () => {
  let root: string;
  beforeAll(async () => {
    root = join(tempDir('lepton-libri-'), 'LibriSpeech');
    const ch = (subset: string, spk: string, chapter: string): string => join(root, subset, spk, chapter);
    await writeTone(join(ch('dev-clean', '84', '121123'), '84-121123-0000.flac'), 200, 0.5, 16000);
    await writeTone(join(ch('dev-clean', '84', '121123'), '84-121123-0001.flac'), 300, 0.25, 16000);
    write(
      join(ch('dev-clean', '84', '121123'), '84-121123.trans.txt'),
      '84-121123-0000 GO DO YOU HEAR\n84-121123-0001 BUT IN LESS THAN FIVE MINUTES\n',
    );
    await writeTone(join(ch('dev-clean', '174', '50561'), '174-50561-0000.flac'), 400, 0.25, 16000);
    write(
      join(ch('dev-clean', '174', '50561'), '174-50561.trans.txt'),
      '174-50561-0000 FORGOTTEN TOO THE NAME OF GILLIAN\n',
    );
    await writeTone(join(ch('test-clean', '61', '70968'), '61-70968-0000.flac'), 500, 0.25, 16000);
    write(join(ch('test-clean', '61', '70968'), '61-70968.trans.txt'), '61-70968-0000 HE BEGAN A CONFUSED COMPLAINT\n');
  });

  it('reads subsets, speakers and transcripts, and decodes FLAC at 16 kHz', async () => {
    const c = librispeech(root);
    expect(c.format).toBe('librispeech');
    expect(c.splits).toEqual(['dev-clean', 'test-clean']);
    expect(c.items.map((i) => [i.id, i.speaker, i.split])).toEqual([
      ['174-50561-0000', '174', 'dev-clean'],
      ['84-121123-0000', '84', 'dev-clean'],
      ['84-121123-0001', '84', 'dev-clean'],
      ['61-70968-0000', '61', 'test-clean'],
    ]);
    expect(c.items[1]!.text).toBe('GO DO YOU HEAR');
    const clips = await speechClips(c.split('dev-clean'));
    expect(clips.map((x) => x.audio.length)).toEqual([4000, 8000, 4000]);
    expect(clips.map((x) => Math.round(pitch(x.audio, 16000) / 50) * 50)).toEqual([400, 200, 300]);
    // One subset as the root; a subset filter.
    expect(librispeech(join(root, 'test-clean')).items.map((i) => i.split)).toEqual(['test-clean']);
    expect(librispeech(root, { subsets: ['test-clean'] }).items).toHaveLength(1);
    expect(() => librispeech(root, { subsets: ['train-other-500'] })).toThrow(
      /no subset 'train-other-500'.*found: dev-clean, test-clean/,
    );
  });

  it('names a FLAC without a transcript line, and a line without its FLAC', async () => {
    const dir = join(root, '..', 'bad', 'dev-clean', '84', '121123');
    await writeTone(join(dir, '84-121123-0000.flac'), 200, 0.1, 16000);
    await writeTone(join(dir, '84-121123-0001.flac'), 200, 0.1, 16000);
    write(join(dir, '84-121123.trans.txt'), '84-121123-0000 GO DO YOU HEAR\n');
    expect(() => librispeech(join(root, '..', 'bad'))).toThrow(DataFormatError);
    expect(() => librispeech(join(root, '..', 'bad'))).toThrow(/84-121123-0001\.flac has no transcript line in/);
    write(join(dir, '84-121123.trans.txt'), '84-121123-0000 A\n84-121123-0001 B\n84-121123-0002 C\n');
    expect(() => librispeech(join(root, '..', 'bad'))).toThrow(
      /trans\.txt line 3 lists '84-121123-0002' but .*0002\.flac does not exist/,
    );
  });
});

describe('speechCommands', () => {
  let root: string;
  beforeAll(async () => {
    root = tempDir('lepton-sc-');
    const files = [
      'yes/aaaa1111_nohash_0.wav',
      'yes/bbbb2222_nohash_0.wav',
      'yes/aaaa1111_nohash_1.wav',
      'no/aaaa1111_nohash_0.wav',
      'no/dddd4444_nohash_0.wav',
    ];
    for (const [k, f] of files.entries()) await writeTone(join(root, f), 200 + 100 * k, 1, 16000);
    await writeTone(join(root, '_background_noise_', 'white_noise.wav'), 1000, 2, 16000);
    write(join(root, 'validation_list.txt'), 'yes/bbbb2222_nohash_0.wav\n');
    write(join(root, 'testing_list.txt'), 'no/dddd4444_nohash_0.wav\n');
    write(join(root, 'README.md'), 'not a word folder\n');
  });

  it('splits by the two lists (the rest is train), with labels and speaker hashes', async () => {
    const c = speechCommands(root);
    expect(c.labels).toEqual(['no', 'yes']);
    expect(c.backgroundNoise).toEqual([join(root, '_background_noise_', 'white_noise.wav')]);
    expect(c.items.map((i) => [`${i.text}/${i.id}`, i.label, i.speaker, i.split])).toEqual([
      ['no/aaaa1111_nohash_0', 0, 'aaaa1111', 'train'],
      ['no/dddd4444_nohash_0', 0, 'dddd4444', 'test'],
      ['yes/aaaa1111_nohash_0', 1, 'aaaa1111', 'train'],
      ['yes/aaaa1111_nohash_1', 1, 'aaaa1111', 'train'],
      ['yes/bbbb2222_nohash_0', 1, 'bbbb2222', 'validation'],
    ]);
    expect(c.split('validation').map((i) => i.id)).toEqual(['bbbb2222_nohash_0']);
    const [clip] = await speechClips(c.split('test'));
    expect(clip!.audio.length).toBe(16000);
    expectPitch(clip!.audio, 600);
    // Chosen words, in the given order.
    expect(speechCommands(root, { words: ['yes'] }).items.map((i) => i.label)).toEqual([0, 0, 0]);
    expect(() => speechCommands(root, { words: ['maybe'] })).toThrow(/no folder for word 'maybe'/);
  });

  it('needs both lists, and every listed file', () => {
    write(join(root, 'testing_list.txt'), 'no/dddd4444_nohash_0.wav\nno/eeee5555_nohash_0.wav\n');
    expect(() => speechCommands(root)).toThrow(
      /testing_list\.txt line 2 lists 'no\/eeee5555_nohash_0\.wav' but .* does not exist/,
    );
    rmSync(join(root, 'testing_list.txt'));
    expect(() => speechCommands(root)).toThrow(DataNotFoundError);
    expect(() => speechCommands(root)).toThrow(/testing_list\.txt is missing/);
  });
});

describe('commonVoice', () => {
  let root: string;
  const HEADER = 'client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccent\n';
  beforeAll(async () => {
    root = tempDir('lepton-cv-');
    for (const [k, f] of ['common_voice_en_1.mp3', 'common_voice_en_2.mp3', 'common_voice_en_3.mp3'].entries())
      await writeTone(join(root, 'clips', f), 300 + 200 * k, 1, 48000);
    write(
      join(root, 'train.tsv'),
      `${HEADER}c0ffee\tcommon_voice_en_1.mp3\t"Quoted," she said.\t2\t0\ttwenties\tfemale\tengland\nbeef\tcommon_voice_en_2.mp3\tA plain sentence.\t3\t1\t\t\t\n`,
    );
    write(join(root, 'dev.tsv'), HEADER);
    write(join(root, 'test.tsv'), `${HEADER}f00d\tcommon_voice_en_3.mp3\tThe last one.\t2\t0\tthirties\tmale\tus\n`);
  });

  it('reads the TSVs (quotes as text), speakers, attributes, and decodes MP3 at 16 kHz', async () => {
    const c = commonVoice(root);
    expect(c.format).toBe('common-voice');
    expect(c.items.map((i) => [i.id, i.text, i.speaker, i.split])).toEqual([
      ['common_voice_en_1', '"Quoted," she said.', 'c0ffee', 'train'],
      ['common_voice_en_2', 'A plain sentence.', 'beef', 'train'],
      ['common_voice_en_3', 'The last one.', 'f00d', 'test'],
    ]);
    expect(c.items[0]!.attributes).toEqual({
      up_votes: '2',
      down_votes: '0',
      age: 'twenties',
      gender: 'female',
      accent: 'england',
    });
    const audio = await readSpeechAudio(c.items[2]!);
    // MP3 frames pad the end; ffmpeg removes the encoder delay it finds in the LAME header.
    expect(Math.abs(audio.length - 16000)).toBeLessThan(800);
    expectPitch(audio.subarray(0, 15000), 700);
    expect(commonVoice(root, { splits: ['test'] }).items).toHaveLength(1);
  });

  it('names a missing TSV, a missing column and an absent clip', () => {
    expect(() => commonVoice(root, { splits: ['validated'] })).toThrow(
      /validated\.tsv does not exist \(TSV files in .*: dev\.tsv, test\.tsv, train\.tsv\)/,
    );
    write(join(root, 'other.tsv'), 'client_id\tfilename\tsentence\nx\ty.mp3\tz\n');
    expect(() => commonVoice(root, { splits: ['other'] })).toThrow(DataFormatError);
    expect(() => commonVoice(root, { splits: ['other'] })).toThrow(
      /other\.tsv has no 'path' column \(columns: client_id, filename, sentence\)/,
    );
    write(join(root, 'other.tsv'), `${HEADER}x\tcommon_voice_en_9.mp3\tgone\t0\t0\t\t\t\n`);
    expect(() => commonVoice(root, { splits: ['other'] })).toThrow(
      /other\.tsv line 2 lists 'common_voice_en_9\.mp3' but .* does not exist/,
    );
    write(join(root, 'other.tsv'), `${HEADER}x\tcommon_voice_en_1.mp3\tshort row\n`);
    expect(() => commonVoice(root, { splits: ['other'] })).toThrow(
      /line 2 has 3 tab-separated fields, the header has 8/,
    );
  });
});
