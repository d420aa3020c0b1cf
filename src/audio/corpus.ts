/**
 * Readers for the common layouts of real speech corpora, for users who have them on disk (nothing
 * is downloaded): a folder of audio files with transcripts (sidecar `.txt`/`.lab` files, an
 * LJSpeech `metadata.csv`, or a `transcripts.tsv`), LibriSpeech, Speech Commands and Common Voice.
 * Each returns a `SpeechCorpus`: items with the audio path, transcript (or keyword label), speaker
 * and split, read from the corpus's own index files only — audio is decoded later, on demand, by
 * `readSpeechAudio` / `speechClips` (WAV directly, FLAC/MP3/… through Debian's ffmpeg; resampled to
 * 16 kHz mono by default), which give the `Float32Array` clips examples/asr.ts and kws.ts train on.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join } from 'node:path';
import { DataFormatError, DataNotFoundError } from '../engine/errors.js';
import { parseCsv } from '../data/loaders/csv.js';
import { mapConcurrent } from './synth.js';
import { loadAudio } from './wav.js';

export type SpeechCorpusFormat = 'folder' | 'librispeech' | 'speech-commands' | 'common-voice';

/** One utterance of a corpus. */
export interface SpeechItem {
  /** The utterance id: the file name without extension (LibriSpeech: `SPEAKER-CHAPTER-NNNN`). */
  id: string;
  /** The audio file (absolute when the corpus root was). */
  path: string;
  /** The transcript; for Speech Commands the spoken word (its folder name). */
  text: string;
  /** Speech Commands: the index of `text` in the corpus's `labels`. */
  label?: number;
  /** The speaker, where the format names one (LibriSpeech speaker, Speech Commands hash, Common Voice client_id). */
  speaker?: string;
  /** 'train', 'validation', 'test' (Speech Commands); the subset folder ('dev-clean', …) for LibriSpeech; the TSV's name for Common Voice. */
  split: string;
  /** Other columns of the corpus's index (Common Voice: up_votes, age, gender, accent, …). */
  attributes?: Record<string, string>;
}

export interface SpeechCorpus {
  format: SpeechCorpusFormat;
  root: string;
  items: SpeechItem[];
  /** Split names, in order of first appearance. */
  splits: string[];
  /** Speech Commands: the words, by label index. */
  labels?: string[];
  /** Speech Commands: the long noise recordings of `_background_noise_/`. */
  backgroundNoise?: string[];
  /** The items of one split (an error names the corpus's splits when there is no such split). */
  split(name: string): SpeechItem[];
}

function corpus(
  format: SpeechCorpusFormat,
  root: string,
  items: SpeechItem[],
  extra: Pick<SpeechCorpus, 'labels' | 'backgroundNoise'> = {},
): SpeechCorpus {
  const splits = [...new Set(items.map((i) => i.split))];
  return {
    format,
    root,
    items,
    splits,
    ...extra,
    split(name: string): SpeechItem[] {
      if (!splits.includes(name))
        throw new DataNotFoundError(
          `${format} corpus at ${root} has no split '${name}' (splits: ${splits.join(', ')})`,
        );
      return items.filter((i) => i.split === name);
    },
  };
}

function checkDir(who: string, dir: string, expected: string): void {
  if (typeof dir !== 'string' || !existsSync(dir) || !statSync(dir).isDirectory())
    throw new DataNotFoundError(`${who}: ${String(dir)} is not a folder (expected ${expected})`);
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function subdirs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort(byName);
}

function filesIn(dir: string, ext: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.toLowerCase().endsWith(ext))
    .map((e) => e.name)
    .sort(byName);
}

/** Files under `dir` (recursively, skipping dot-names), sorted by path. */
function walk(dir: string, keep: (name: string) => boolean): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => byName(a.name, b.name))) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p, keep));
    else if (keep(e.name)) out.push(p);
  }
  return out;
}

const stem = (path: string): string => basename(path, extname(path));

// ---- A folder of audio files + transcripts ---------------------------------------------------

export interface SpeechFolderOptions {
  /** The transcript index, relative to the folder or absolute (default: `metadata.csv`, else `transcripts.tsv`, else sidecar files). */
  transcripts?: string;
  /** LJSpeech `metadata.csv`: the 'normalized' column (default; numbers and abbreviations spelled out) or the 'raw' text. */
  text?: 'normalized' | 'raw';
  /** The split name of every item (default 'train'; a `split` column of transcripts.tsv overrides it). */
  split?: string;
  /** Audio extensions (default wav, flac, mp3, ogg, opus, m4a). */
  extensions?: string[];
}

const AUDIO_EXTENSIONS = ['wav', 'flac', 'mp3', 'ogg', 'opus', 'm4a'];
const PATH_COLUMNS = ['path', 'file', 'filename', 'audio', 'id'];
const TEXT_COLUMNS = ['text', 'sentence', 'transcript', 'transcription'];

/**
 * A folder of audio files with transcripts, in one of three layouts (checked in this order):
 * - LJSpeech: `metadata.csv` with lines `id|text|normalized` (no header, no quoting) and the audio
 *   in `wavs/ID.wav` (or `ID.wav` beside it);
 * - `transcripts.tsv`: a header row with a path column (`path`, `file`, `filename`, `audio` or `id`;
 *   relative to the folder, extension optional) and a text column (`text`, `sentence`, `transcript`),
 *   and optionally `speaker` and `split` columns;
 * - sidecars: every audio file under the folder with a transcript beside it (`NAME.wav` + `NAME.txt` or `NAME.lab`).
 */
export function speechFolder(root: string, options: SpeechFolderOptions = {}): SpeechCorpus {
  checkDir('speechFolder', root, 'a folder of audio files with transcripts');
  const split = options.split ?? 'train';
  const extensions = (options.extensions ?? AUDIO_EXTENSIONS).map((e) => e.replace(/^\./, '').toLowerCase());
  const index =
    options.transcripts !== undefined
      ? isAbsolute(options.transcripts)
        ? options.transcripts
        : join(root, options.transcripts)
      : [join(root, 'metadata.csv'), join(root, 'transcripts.tsv')].find((p) => existsSync(p));
  if (options.transcripts !== undefined && !existsSync(index!))
    throw new DataNotFoundError(`speechFolder: transcript index ${index} does not exist`);
  if (index?.toLowerCase().endsWith('.csv')) return ljspeech(root, index, split, options.text ?? 'normalized');
  if (index) return transcriptTable(root, index, split, extensions);

  const audio = walk(root, (n) => extensions.includes(extname(n).slice(1).toLowerCase()));
  if (audio.length === 0)
    throw new DataNotFoundError(
      `speechFolder: no audio files (${extensions.join(', ')}) under ${root}, and no metadata.csv or transcripts.tsv`,
    );
  const items = audio.map((path): SpeechItem => {
    const base = join(dirname(path), stem(path));
    const sidecar = [`${base}.txt`, `${base}.lab`].find((p) => existsSync(p));
    if (!sidecar)
      throw new DataFormatError(
        `speechFolder: ${path} has no transcript: expected ${base}.txt (or .lab) beside it, or a metadata.csv / transcripts.tsv in ${root}`,
      );
    const text = readFileSync(sidecar, 'utf8').trim();
    if (!text) throw new DataFormatError(`speechFolder: transcript ${sidecar} is empty`);
    return { id: stem(path), path, text, split };
  });
  return corpus('folder', root, items);
}

/** Finds the audio of an id/relative path: as given, or with one of the extensions added. */
function audioFile(base: string, extensions: string[]): string | undefined {
  if (extname(base) && existsSync(base) && statSync(base).isFile()) return base;
  return extensions.map((e) => `${base}.${e}`).find((p) => existsSync(p));
}

function ljspeech(root: string, index: string, split: string, which: 'normalized' | 'raw'): SpeechCorpus {
  const rows = parseCsv(readFileSync(index, 'utf8'), { delimiter: '|', quote: false });
  const items: SpeechItem[] = [];
  rows.forEach((row, r) => {
    if (row.length === 1 && row[0]!.trim() === '') return;
    const where = `${index} line ${r + 1}`;
    if (row.length < 2)
      throw new DataFormatError(`speechFolder: ${where} has ${row.length} field(s); expected id|text|normalized`);
    const id = row[0]!.trim();
    const text = (which === 'normalized' && row[2]?.trim() ? row[2] : row[1])!.trim();
    if (!id || !text) throw new DataFormatError(`speechFolder: ${where} has an empty id or transcript`);
    const path = audioFile(join(root, 'wavs', id), ['wav']) ?? audioFile(join(root, id), ['wav']);
    if (!path)
      throw new DataFormatError(
        `speechFolder: ${where} lists '${id}' but neither ${join(root, 'wavs', `${id}.wav`)} nor ${join(root, `${id}.wav`)} exists`,
      );
    items.push({ id, path, text, split });
  });
  if (items.length === 0) throw new DataFormatError(`speechFolder: ${index} lists no utterances`);
  return corpus('folder', root, items);
}

function transcriptTable(root: string, index: string, split: string, extensions: string[]): SpeechCorpus {
  const { header, rows } = readTable('speechFolder', index);
  const col = (names: string[]): number => header.findIndex((h) => names.includes(h.toLowerCase()));
  const pathCol = col(PATH_COLUMNS);
  const textCol = col(TEXT_COLUMNS);
  if (pathCol < 0 || textCol < 0)
    throw new DataFormatError(
      `speechFolder: ${index} needs a ${pathCol < 0 ? `path column (one of ${PATH_COLUMNS.join(', ')})` : `text column (one of ${TEXT_COLUMNS.join(', ')})`} in its header row; it has: ${header.join(', ')}`,
    );
  const speakerCol = col(['speaker', 'speaker_id', 'client_id']);
  const splitCol = col(['split']);
  const items = rows.map(({ fields, line }): SpeechItem => {
    const rel = fields[pathCol]!.trim();
    const text = fields[textCol]!.trim();
    if (!rel || !text) throw new DataFormatError(`speechFolder: ${index} line ${line} has an empty path or text`);
    const path = audioFile(join(root, rel), extensions);
    if (!path)
      throw new DataFormatError(
        `speechFolder: ${index} line ${line} lists '${rel}' but no such audio file exists under ${root}`,
      );
    const item: SpeechItem = { id: stem(rel), path, text, split: splitCol >= 0 ? fields[splitCol]!.trim() : split };
    if (speakerCol >= 0 && fields[speakerCol]!.trim()) item.speaker = fields[speakerCol]!.trim();
    return item;
  });
  return corpus('folder', root, items);
}

/** A tab-separated file with a header row, read without quote handling (as Common Voice is written). */
function readTable(who: string, path: string): { header: string[]; rows: { fields: string[]; line: number }[] } {
  const all = parseCsv(readFileSync(path, 'utf8'), { delimiter: '\t', quote: false });
  const header = all.shift()?.map((h) => h.trim());
  if (!header || header.every((h) => h === ''))
    throw new DataFormatError(`${who}: ${path} is empty (expected a header row)`);
  const rows: { fields: string[]; line: number }[] = [];
  all.forEach((fields, i) => {
    if (fields.length === 1 && fields[0]!.trim() === '') return;
    if (fields.length !== header.length)
      throw new DataFormatError(
        `${who}: ${path} line ${i + 2} has ${fields.length} tab-separated fields, the header has ${header.length} (${header.join(', ')})`,
      );
    rows.push({ fields, line: i + 2 });
  });
  return { header, rows };
}

// ---- LibriSpeech ------------------------------------------------------------------------------

/**
 * LibriSpeech (and its layout in LibriTTS-style copies): `SUBSET/SPEAKER/CHAPTER/SPEAKER-CHAPTER.trans.txt`
 * with lines `SPEAKER-CHAPTER-NNNN TRANSCRIPT` and one `SPEAKER-CHAPTER-NNNN.flac` per line. `root`
 * may be the `LibriSpeech` folder (holding subsets such as `train-clean-100`, `dev-clean`) or one
 * subset. The split is the subset's folder name, the speaker the SPEAKER folder.
 */
export function librispeech(root: string, options: { subsets?: string[] } = {}): SpeechCorpus {
  checkDir('librispeech', root, 'a LibriSpeech folder (SUBSET/SPEAKER/CHAPTER/SPEAKER-CHAPTER.trans.txt)');
  const numeric = (d: string): boolean => /^\d+$/.test(d);
  // A subset holds numeric speaker folders; the root may be a subset itself.
  const top = subdirs(root);
  const subsets =
    top.length > 0 && top.every(numeric)
      ? [{ name: basename(root), dir: root }]
      : top.filter((d) => subdirs(join(root, d)).some(numeric)).map((name) => ({ name, dir: join(root, name) }));
  const wanted = options.subsets;
  if (wanted)
    for (const w of wanted)
      if (!subsets.some((s) => s.name === w))
        throw new DataNotFoundError(
          `librispeech: no subset '${w}' in ${root} (found: ${subsets.map((s) => s.name).join(', ') || 'none'})`,
        );
  const items: SpeechItem[] = [];
  for (const { name, dir } of subsets.filter((s) => !wanted || wanted.includes(s.name)))
    for (const speaker of subdirs(dir).filter(numeric))
      for (const chapter of subdirs(join(dir, speaker))) {
        const chapterDir = join(dir, speaker, chapter);
        const trans = join(chapterDir, `${speaker}-${chapter}.trans.txt`);
        const flacs = new Set(filesIn(chapterDir, '.flac').map(stem));
        if (!existsSync(trans)) {
          if (flacs.size === 0) continue;
          throw new DataFormatError(
            `librispeech: ${chapterDir} has ${flacs.size} .flac files but no transcript file ${basename(trans)}`,
          );
        }
        const listed = new Set<string>();
        readFileSync(trans, 'utf8')
          .split(/\r?\n/)
          .forEach((line, i) => {
            if (!line.trim()) return;
            const m = /^(\S+)\s+(.+)$/.exec(line.trim());
            const where = `${trans} line ${i + 1}`;
            if (!m) throw new DataFormatError(`librispeech: ${where} is not 'UTTERANCE-ID TRANSCRIPT'`);
            const [, id, text] = m as unknown as [string, string, string];
            if (!id.startsWith(`${speaker}-${chapter}-`))
              throw new DataFormatError(
                `librispeech: ${where}: utterance id '${id}' does not belong to speaker ${speaker}, chapter ${chapter}`,
              );
            if (!flacs.has(id))
              throw new DataFormatError(
                `librispeech: ${where} lists '${id}' but ${join(chapterDir, `${id}.flac`)} does not exist`,
              );
            listed.add(id);
            items.push({ id, path: join(chapterDir, `${id}.flac`), text, speaker, split: name });
          });
        const unlisted = [...flacs].filter((f) => !listed.has(f));
        if (unlisted.length)
          throw new DataFormatError(
            `librispeech: ${join(chapterDir, `${unlisted[0]}.flac`)} has no transcript line in ${trans}${unlisted.length > 1 ? ` (nor have ${unlisted.length - 1} more)` : ''}`,
          );
      }
  if (items.length === 0)
    throw new DataNotFoundError(
      `librispeech: no utterances under ${root} (expected SUBSET/SPEAKER/CHAPTER/SPEAKER-CHAPTER.trans.txt with .flac files)`,
    );
  return corpus('librispeech', root, items);
}

// ---- Speech Commands --------------------------------------------------------------------------

/**
 * Google's Speech Commands (v0.01 and v0.02): `WORD/SPEAKERHASH_nohash_N.wav`, with the split
 * defined as in its README — files named in `validation_list.txt` are 'validation', in
 * `testing_list.txt` 'test', every other file 'train'. `labels` are the word folders (sorted, or
 * `words` in that order; other folders are skipped); `backgroundNoise` the `_background_noise_` WAVs.
 */
export function speechCommands(root: string, options: { words?: string[] } = {}): SpeechCorpus {
  checkDir(
    'speechCommands',
    root,
    'the Speech Commands folder (WORD/HASH_nohash_N.wav, validation_list.txt, testing_list.txt)',
  );
  const folders = subdirs(root).filter((d) => !d.startsWith('_'));
  const labels = options.words ?? folders;
  for (const w of labels)
    if (!folders.includes(w))
      throw new DataNotFoundError(
        `speechCommands: no folder for word '${w}' in ${root} (words: ${folders.join(', ')})`,
      );
  const splitOf = new Map<string, string>();
  for (const [file, split] of [
    ['validation_list.txt', 'validation'],
    ['testing_list.txt', 'test'],
  ] as const) {
    const list = join(root, file);
    if (!existsSync(list))
      throw new DataNotFoundError(
        `speechCommands: ${list} is missing; the dataset's README defines the validation and test splits by validation_list.txt and testing_list.txt`,
      );
    readFileSync(list, 'utf8')
      .split(/\r?\n/)
      .forEach((line, i) => {
        const rel = line.trim();
        if (!rel) return;
        if (!existsSync(join(root, rel)))
          throw new DataFormatError(
            `speechCommands: ${list} line ${i + 1} lists '${rel}' but ${join(root, rel)} does not exist`,
          );
        const before = splitOf.get(rel);
        if (before && before !== split)
          throw new DataFormatError(`speechCommands: '${rel}' is in both the ${before} and the ${split} list`);
        splitOf.set(rel, split);
      });
  }
  const items: SpeechItem[] = [];
  labels.forEach((word, label) => {
    for (const name of filesIn(join(root, word), '.wav')) {
      const rel = `${word}/${name}`;
      const item: SpeechItem = {
        id: stem(name),
        path: join(root, word, name),
        text: word,
        label,
        split: splitOf.get(rel) ?? 'train',
      };
      const m = /^(.+?)_nohash_/.exec(name);
      if (m) item.speaker = m[1]!;
      items.push(item);
    }
  });
  if (items.length === 0) throw new DataNotFoundError(`speechCommands: no WAV files in the word folders of ${root}`);
  const noiseDir = join(root, '_background_noise_');
  const backgroundNoise = existsSync(noiseDir) ? filesIn(noiseDir, '.wav').map((n) => join(noiseDir, n)) : [];
  return corpus('speech-commands', root, items, { labels: [...labels], backgroundNoise });
}

// ---- Common Voice -----------------------------------------------------------------------------

/**
 * Mozilla Common Voice (one locale's folder): `clips/*.mp3` and TSV indexes (`train.tsv`,
 * `dev.tsv`, `test.tsv`, `validated.tsv`, …) with a header row naming at least `path` and
 * `sentence`; `client_id` becomes the speaker and the other columns (up_votes, age, gender,
 * accent, …) `attributes`. The split is the TSV's name; `splits` picks them (default train, dev, test).
 */
export function commonVoice(root: string, options: { splits?: string[] } = {}): SpeechCorpus {
  checkDir('commonVoice', root, 'a Common Voice locale folder (clips/ and train.tsv, dev.tsv, test.tsv)');
  const splits = options.splits ?? ['train', 'dev', 'test'];
  const items: SpeechItem[] = [];
  for (const split of splits) {
    const tsv = join(root, `${split}.tsv`);
    if (!existsSync(tsv))
      throw new DataNotFoundError(
        `commonVoice: ${tsv} does not exist (TSV files in ${root}: ${filesIn(root, '.tsv').join(', ') || 'none'})`,
      );
    const { header, rows } = readTable('commonVoice', tsv);
    for (const needed of ['path', 'sentence'])
      if (!header.includes(needed))
        throw new DataFormatError(`commonVoice: ${tsv} has no '${needed}' column (columns: ${header.join(', ')})`);
    const pathCol = header.indexOf('path');
    const textCol = header.indexOf('sentence');
    const speakerCol = header.indexOf('client_id');
    for (const { fields, line } of rows) {
      const clip = fields[pathCol]!.trim();
      const path = join(root, 'clips', clip);
      if (!clip || !existsSync(path))
        throw new DataFormatError(`commonVoice: ${tsv} line ${line} lists '${clip}' but ${path} does not exist`);
      const attributes: Record<string, string> = {};
      header.forEach((h, c) => {
        if (c !== pathCol && c !== textCol && c !== speakerCol) attributes[h] = fields[c]!;
      });
      const item: SpeechItem = { id: stem(clip), path, text: fields[textCol]!.trim(), split, attributes };
      if (speakerCol >= 0 && fields[speakerCol]!.trim()) item.speaker = fields[speakerCol]!.trim();
      items.push(item);
    }
  }
  return corpus('common-voice', root, items);
}

// ---- Audio ------------------------------------------------------------------------------------

/**
 * An item's audio as mono samples at `sampleRate` (default 16 kHz): WAV decoded directly and
 * resampled with libsamplerate, other formats decoded and resampled by ffmpeg (`loadAudio`).
 */
export async function readSpeechAudio(item: SpeechItem | string, sampleRate = 16000): Promise<Float32Array> {
  const path = typeof item === 'string' ? item : item.path;
  return (await loadAudio(path, { sampleRate, mono: true })).channels[0]!;
}

export interface SpeechClipOptions {
  /** Output rate (default 16000). */
  sampleRate?: number;
  /** Files decoded at once (default 4; ffmpeg runs in its own processes). */
  concurrency?: number;
}

/** The items with their audio decoded (mono, `sampleRate`), in order: the `{ audio, text, label }` clips the KWS and ASR examples train on. */
export function speechClips(
  items: readonly SpeechItem[],
  options: SpeechClipOptions = {},
): Promise<(SpeechItem & { audio: Float32Array })[]> {
  const rate = options.sampleRate ?? 16000;
  return mapConcurrent(items, options.concurrency ?? 4, async (item) => ({
    ...item,
    audio: await readSpeechAudio(item, rate),
  }));
}
