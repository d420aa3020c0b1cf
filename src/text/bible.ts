/**
 * A verse-aligned parallel corpus from two SWORD Bible modules (Debian `sword-text-web`,
 * `sword-text-sparv`), exported with `diatheke` (spawned, OSIS markup), cleaned of markup, aligned
 * by verse reference, cached under the data home (`~/.cache/lepton/bible/`), and split by holding
 * out whole books (a test set and a dev set) so no chapter of a test book is seen in training.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DataNotFoundError } from '../engine/errors.js';
import { writeFileAtomic } from '../engine/files.js';
import { dataHome } from '../data/loaders/locate.js';

/** One verse of one module. */
export interface Verse {
  book: string;
  chapter: number;
  verse: number;
  text: string;
}

/** One aligned verse: `ref` is "Book C:V". */
export interface VersePair {
  ref: string;
  book: string;
  chapter: number;
  verse: number;
  source: string;
  target: string;
}

/**
 * The 66 books as diatheke names them (KJV versification, English names in every module), in
 * canonical order. Deuterocanonical books of one module have no partner in the other and drop out
 * at alignment.
 */
export const BIBLE_BOOKS: readonly string[] = [
  'Genesis', 'Exodus', 'Leviticus', 'Numbers', 'Deuteronomy', 'Joshua', 'Judges', 'Ruth', 'I Samuel',
  'II Samuel', 'I Kings', 'II Kings', 'I Chronicles', 'II Chronicles', 'Ezra', 'Nehemiah', 'Esther', 'Job',
  'Psalms', 'Proverbs', 'Ecclesiastes', 'Song of Solomon', 'Isaiah', 'Jeremiah', 'Lamentations', 'Ezekiel',
  'Daniel', 'Hosea', 'Joel', 'Amos', 'Obadiah', 'Jonah', 'Micah', 'Nahum', 'Habakkuk', 'Zephaniah', 'Haggai',
  'Zechariah', 'Malachi', 'Matthew', 'Mark', 'Luke', 'John', 'Acts', 'Romans', 'I Corinthians',
  'II Corinthians', 'Galatians', 'Ephesians', 'Philippians', 'Colossians', 'I Thessalonians',
  'II Thessalonians', 'I Timothy', 'II Timothy', 'Titus', 'Philemon', 'Hebrews', 'James', 'I Peter',
  'II Peter', 'I John', 'II John', 'III John', 'Jude', 'Revelation of John',
]; // biome-ignore format: one table

/** Held-out books of the default split: a gospel, narrative, prophecy and letters (1,024 verses). */
export const DEFAULT_TEST_BOOKS: readonly string[] = ['Mark', 'Ruth', 'Jonah', 'James', 'I John'];
/** Held-out books for model selection (169 verses). */
export const DEFAULT_DEV_BOOKS: readonly string[] = ['Joel', 'Titus', 'Philemon', 'Jude'];

// "[stale heading text]  Book C:V: text" — diatheke repeats section headings before later verses,
// so everything before the reference is dropped. Book names are capitalised words joined by single
// spaces (with "of", "and", "the": "Song of Solomon", "Bel and the Dragon", "Esther (Greek)"); books
// outside BIBLE_BOOKS (deuterocanon) are still recognised, so their text never runs into a verse.
const REFERENCE = /(?:^|\s)((?:[IV]+ )?[A-Z]\w*(?: (?:of|and|the|[A-Z(][\w)]*))*) (\d+):(\d+): /;

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/**
 * Verse text from diatheke's OSIS rendering: tags removed, entities decoded, whitespace collapsed.
 * Adjacent word elements (`<w>God</w><w>created</w>`) and punctuation glued to the next word
 * (`Christ,<w>the`) are markup artefacts of the modules: a space is put between them.
 */
export function cleanOsis(osis: string): string {
  return osis
    .replace(/<\/w>\s*(?=<w[\s>])/g, '</w> ')
    .replace(/([,;:.!?])(?=<w[\s>])/g, '$1 ')
    .replace(/<[^>]*>/g, '')
    .replace(/&(#x?[0-9a-fA-F]+|[a-z]+);/g, (m, e: string) => {
      if (e.startsWith('#x')) return String.fromCodePoint(Number.parseInt(e.slice(2), 16));
      if (e.startsWith('#')) return String.fromCodePoint(Number.parseInt(e.slice(1), 10));
      return ENTITIES[e] ?? m;
    })
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Chapter openings in some editions (Reina-Valera 1909) set their first word in capitals ("EN el
 * principio", "¡OH Jehová", "Y ACONTECIÓ"): the first all-capital word of a chapter's first verse
 * is written like any other word, so the model does not learn an artefact of typesetting.
 */
function uncapChapterOpening(text: string): string {
  // After a word ("Y ACONTECIÓ") it is lowercased; at the start or after punctuation, capitalised.
  return text.replace(/\p{Lu}{2,}(?!\p{L})/u, (w, at: number) =>
    /\p{L}\s*$/u.test(text.slice(0, at)) ? w.toLowerCase() : w[0] + w.slice(1).toLowerCase(),
  );
}

/** The verses of one diatheke OSIS export (lines without a reference continue the verse before them). */
export function parseDiatheke(output: string): Verse[] {
  const verses: Verse[] = [];
  const parts: string[] = [];
  const flush = () => {
    if (verses.length === 0) return;
    const v = verses[verses.length - 1];
    v.text = cleanOsis(parts.join(' '));
    if (v.verse === 1) v.text = uncapChapterOpening(v.text);
    parts.length = 0;
  };
  for (const line of output.split(/\r?\n/)) {
    // diatheke's last line names the module: "(engWEB2015eb)".
    if (/^\([A-Za-z0-9_]+\)$/.test(line.trim())) continue;
    const m = REFERENCE.exec(line);
    if (m) {
      flush();
      verses.push({ book: m[1], chapter: Number(m[2]), verse: Number(m[3]), text: '' });
      // A wide gap inside a verse line separates trailing module matter (WEB appends its glossary
      // to Revelation 22:21 after 12 spaces); book ends carry a few trailing spaces only.
      parts.push(line.slice(m.index + m[0].length).split(/\s{6,}(?=[^<\s])/)[0]);
    } else if (verses.length > 0) parts.push(line);
  }
  flush();
  return verses;
}

/** "Book C:V". */
export function verseRef(v: { book: string; chapter: number; verse: number }): string {
  return `${v.book} ${v.chapter}:${v.verse}`;
}

/**
 * Pairs the verses two modules share by reference, in the source's order. Verses empty on either
 * side (a verse merged into its neighbour by one translation) are left out.
 */
export function alignVerses(source: readonly Verse[], target: readonly Verse[]): VersePair[] {
  const byRef = new Map(target.map((v) => [verseRef(v), v.text]));
  const pairs: VersePair[] = [];
  for (const v of source) {
    const t = byRef.get(verseRef(v));
    if (!t || !v.text) continue;
    pairs.push({ ref: verseRef(v), book: v.book, chapter: v.chapter, verse: v.verse, source: v.text, target: t });
  }
  return pairs;
}

export interface BibleOptions {
  /** SWORD module of the source side (default 'engWEB2015eb', Debian `sword-text-web`). */
  source?: string;
  /** SWORD module of the target side (default 'spaRV1909eb', Debian `sword-text-sparv`). */
  target?: string;
  /** Folder of the cached corpus (default: `<data home>/bible`). */
  cacheDir?: string;
  /** Export again even when a cached file exists. */
  refresh?: boolean;
}

const run = promisify(execFile);

async function exportModule(module: string): Promise<string> {
  const range = `${BIBLE_BOOKS[0]} 1:1-${BIBLE_BOOKS[BIBLE_BOOKS.length - 1]} 22:21`;
  try {
    const { stdout } = await run('diatheke', ['-b', module, '-f', 'OSIS', '-k', range], {
      maxBuffer: 1 << 28,
      encoding: 'utf8',
    });
    return stdout;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT')
      throw new DataNotFoundError(
        'loadBibleParallel: diatheke is not installed. Install it and the Bibles with ' +
          '`apt-get install diatheke sword-text-web sword-text-sparv` (Debian/Ubuntu).',
      );
    throw err;
  }
}

/**
 * The aligned verse pairs of two SWORD modules (default English WEB → Spanish Reina-Valera 1909):
 * read from the cache (`<data home>/bible/<source>-<target>.jsonl`) or exported with diatheke and
 * cached. ~31k pairs for the defaults.
 */
export async function loadBibleParallel(options: BibleOptions = {}): Promise<VersePair[]> {
  const source = options.source ?? 'engWEB2015eb';
  const target = options.target ?? 'spaRV1909eb';
  const dir = options.cacheDir ?? join(dataHome(), 'bible');
  const file = join(dir, `${source}-${target}.jsonl`);
  if (!options.refresh && existsSync(file)) {
    const text = await readFile(file, 'utf8');
    return text
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as VersePair);
  }
  const [src, tgt] = await Promise.all([exportModule(source), exportModule(target)]);
  const [sv, tv] = [parseDiatheke(src), parseDiatheke(tgt)];
  for (const [name, verses] of [
    [source, sv],
    [target, tv],
  ] as const) {
    if (verses.length === 0)
      throw new DataNotFoundError(
        `loadBibleParallel: diatheke printed no verses for module '${name}'. Install it ` +
          '(`apt-get install sword-text-web sword-text-sparv`); `diatheke -b system -k modulelist` lists the installed modules.',
      );
  }
  const pairs = alignVerses(sv, tv);
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(file, `${pairs.map((p) => JSON.stringify(p)).join('\n')}\n`);
  return pairs;
}

export interface BibleSplit {
  train: VersePair[];
  dev: VersePair[];
  test: VersePair[];
}

/** Holds out whole books: test books, dev books, everything else for training. */
export function splitByBook(
  pairs: readonly VersePair[],
  options: { testBooks?: readonly string[]; devBooks?: readonly string[] } = {},
): BibleSplit {
  const test = new Set(options.testBooks ?? DEFAULT_TEST_BOOKS);
  const dev = new Set(options.devBooks ?? DEFAULT_DEV_BOOKS);
  for (const b of [...test, ...dev]) {
    if (!BIBLE_BOOKS.includes(b))
      throw new Error(`splitByBook: unknown book '${b}' (expected one of diatheke's names, e.g. 'I John', 'Mark')`);
    if (test.has(b) && dev.has(b)) throw new Error(`splitByBook: book '${b}' is in both the test and the dev books`);
  }
  const split: BibleSplit = { train: [], dev: [], test: [] };
  for (const p of pairs) (test.has(p.book) ? split.test : dev.has(p.book) ? split.dev : split.train).push(p);
  return split;
}
