/**
 * Text datasets on top of `Dataset`: lines of a file, columns of a CSV file, JSON Lines records,
 * and bucketing by length — batches of similar length padded to their bucket's bound, so a model
 * sees a bounded number of sequence lengths (one compiled graph per bucket, not per length).
 */
import { createReadStream, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { Tensor, tensor } from '../engine/index.js';
import { Dataset, parseCsv } from '../data/index.js';

function checkFile(who: string, path: string): void {
  if (typeof path !== 'string') throw new Error(`${who}: expected a file path, got ${typeof path}`);
  if (!existsSync(path)) throw new Error(`${who}: no file at '${path}'`);
}

async function* readLines(path: string): AsyncGenerator<string> {
  const raw = createReadStream(path);
  const input = path.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  const rl = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of rl) yield line;
  } finally {
    rl.close();
    raw.destroy();
  }
}

/** The lines of a text file (`.gz` is decompressed), streamed; empty lines are skipped unless `keepEmpty`. */
export function textLines(path: string, options: { keepEmpty?: boolean } = {}): Dataset<string> {
  checkFile('textLines', path);
  return Dataset.fromGenerator(async function* () {
    for await (const line of readLines(path)) if (options.keepEmpty || line.length > 0) yield line;
  });
}

/** Parsed JSON Lines records (one JSON value per non-empty line); a bad line is an error naming it. */
export function jsonLines<T = Record<string, unknown>>(path: string): Dataset<T> {
  checkFile('jsonLines', path);
  return Dataset.fromGenerator(async function* () {
    let n = 0;
    for await (const line of readLines(path)) {
      n++;
      if (line.trim().length === 0) continue;
      try {
        yield JSON.parse(line) as T;
      } catch (e) {
        throw new Error(`jsonLines: line ${n} of '${path}' is not JSON (${(e as Error).message})`);
      }
    }
  });
}

/**
 * Chosen columns of a CSV file (with a header row) as records of strings, e.g.
 * `csvColumns('reviews.csv', ['text', 'label'])` → Dataset<{text, label}>.
 */
export async function csvColumns<K extends string>(
  path: string,
  columns: readonly K[],
  options: { delimiter?: string } = {},
): Promise<Dataset<Record<K, string>>> {
  checkFile('csvColumns', path);
  const rows = parseCsv(await readFile(path, 'utf8'), options);
  if (rows.length === 0) throw new Error(`csvColumns: '${path}' is empty (expected a header row)`);
  const header = rows[0];
  const at = columns.map((c) => {
    const i = header.indexOf(c);
    if (i < 0) throw new Error(`csvColumns: no column '${c}' in '${path}' (columns: ${header.join(', ')})`);
    return i;
  });
  const records = rows.slice(1).map((r, k) => {
    if (r.length !== header.length)
      throw new Error(`csvColumns: row ${k + 2} of '${path}' has ${r.length} fields, the header has ${header.length}`);
    return Object.fromEntries(columns.map((c, j) => [c, r[at[j]]])) as Record<K, string>;
  });
  return Dataset.fromArray(records);
}

/** Pads (or truncates) token-id sequences into an int32 tensor [N, length]. */
export function padSequences(
  sequences: readonly (readonly number[] | Int32Array)[],
  options: { length?: number; value?: number; padding?: 'post' | 'pre'; truncating?: 'post' | 'pre' } = {},
): Tensor {
  const len = options.length ?? Math.max(0, ...sequences.map((s) => s.length));
  if (!Number.isInteger(len) || len < 0)
    throw new Error(`padSequences: length must be a non-negative integer, got ${len}`);
  const out = new Int32Array(sequences.length * len).fill(options.value ?? 0);
  sequences.forEach((s, i) => {
    const cut =
      s.length <= len
        ? Array.from(s)
        : options.truncating === 'pre'
          ? Array.from(s).slice(s.length - len)
          : Array.from(s).slice(0, len);
    const start = options.padding === 'pre' ? len - cut.length : 0;
    out.set(cut, i * len + start);
  });
  return tensor(out, { shape: [sequences.length, len] });
}

export interface BucketOptions<T> {
  /** Length of an element (e.g. its number of tokens). */
  length: (x: T) => number;
  /** Increasing upper bounds: bucket k holds lengths ≤ boundaries[k]; longer ones go to a last bucket. */
  boundaries: readonly number[];
  /** Batch size per bucket (boundaries.length + 1 entries), or one size for all. */
  batchSize: number | readonly number[];
  /** Bound of the last bucket (lengths beyond it are an error); default: no bound, its batches pad to their longest. */
  maxLength?: number;
  dropRemainder?: boolean;
}

/** A batch from `bucketByLength`: the elements and the length to pad them to (their bucket's bound). */
export interface Bucket<T> {
  items: T[];
  length: number;
}

/**
 * Groups elements into batches of similar length (tf.data's bucket_by_sequence_length): each
 * element goes to the first bucket whose bound holds it; a bucket emits a batch when full, and
 * what is left at the end of a pass. Map the result to tensors with `padSequences(…, {length})`.
 */
export function bucketByLength<T>(dataset: Dataset<T>, options: BucketOptions<T>): Dataset<Bucket<T>> {
  const b = options.boundaries;
  if (!Array.isArray(b) || b.some((x, i) => !Number.isInteger(x) || x < 1 || (i > 0 && x <= b[i - 1]))) {
    throw new Error(`bucketByLength: boundaries must be increasing positive integers, got ${JSON.stringify(b)}`);
  }
  const sizes =
    typeof options.batchSize === 'number'
      ? new Array<number>(b.length + 1).fill(options.batchSize)
      : [...options.batchSize];
  if (sizes.length !== b.length + 1 || sizes.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new Error(
      `bucketByLength: batchSize must be a positive integer or ${b.length + 1} of them (one per bucket), got ${JSON.stringify(options.batchSize)}`,
    );
  }
  const max = options.maxLength;
  if (max !== undefined && !(Number.isInteger(max) && max >= b[b.length - 1]))
    throw new Error(`bucketByLength: maxLength ${max} must be an integer ≥ the last boundary ${b[b.length - 1]}`);
  return Dataset.fromGenerator(async function* () {
    const pending: { items: T[]; longest: number }[] = sizes.map(() => ({ items: [], longest: 0 }));
    const bound = (k: number, longest: number) => (k < b.length ? b[k] : (max ?? longest));
    for await (const x of dataset) {
      const len = options.length(x);
      if (!Number.isInteger(len) || len < 0)
        throw new Error(`bucketByLength: length() returned ${len}, expected a non-negative integer`);
      if (max !== undefined && len > max)
        throw new Error(`bucketByLength: an element of length ${len} exceeds maxLength ${max}`);
      let k = b.findIndex((bd) => len <= bd);
      if (k < 0) k = b.length;
      const p = pending[k];
      p.items.push(x);
      p.longest = Math.max(p.longest, len);
      if (p.items.length === sizes[k]) {
        yield { items: p.items, length: bound(k, p.longest) };
        pending[k] = { items: [], longest: 0 };
      }
    }
    if (!options.dropRemainder)
      for (const [k, p] of pending.entries())
        if (p.items.length > 0) yield { items: p.items, length: bound(k, p.longest) };
  });
}
