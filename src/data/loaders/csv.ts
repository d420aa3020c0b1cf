/**
 * CSV files with typed columns → tensors. The parser follows RFC 4180 (quoted fields, doubled
 * quotes, delimiters and line breaks inside quotes, CRLF or LF); files may be gzipped.
 */
import { Tensor } from '../../engine/tensor.js';
import { readMaybeGzipped } from './files.js';

export type CsvColumnType = 'float32' | 'int32' | 'category' | 'string';

export interface CsvOptions {
  /** Column types by name. Unlisted columns are inferred: numeric → float32, otherwise category. */
  columns?: Record<string, CsvColumnType>;
  /** The first row holds column names (default true). Without it, columns are named "0", "1", … unless `names` is given. */
  header?: boolean;
  /** Column names to use (replacing the header row's names when there is one). */
  names?: string[];
  /** Field separator (default ","). */
  delimiter?: string;
  /** The column returned as `y` (left out of `x`). */
  label?: string;
  /** Columns to leave out of `x` (they are still in `columns`). */
  exclude?: string[];
  /** Fixed category vocabularies (e.g. the training set's, when reading its test set). */
  vocabularies?: Record<string, readonly string[]>;
}

export interface CsvData {
  /** float32 [rows, features]: every float32, int32 and category column (as codes) except the label and excluded ones. */
  x: Tensor;
  /** The label column: float32 for a float32 column, else int32 (category codes). */
  y?: Tensor;
  /** Names of the columns of `x`, in order. */
  featureNames: string[];
  /** Every column on its own: float32/int32 tensors [rows] (categories as int32 codes) or string arrays. */
  columns: Record<string, Tensor | string[]>;
  /** For each category column, its values by code (sorted, unless given in the options). */
  vocabularies: Record<string, string[]>;
  /** The label's vocabulary, when the label is a category column. */
  classNames?: string[];
}

/**
 * Splits CSV text into rows of fields (RFC 4180). A trailing line break does not add a row.
 * `quote: false` reads quote characters as text (Python's csv.QUOTE_NONE), as files like Common
 * Voice's TSVs and LJSpeech's metadata.csv need: their sentences hold unpaired quotes.
 */
export function parseCsv(text: string, options: { delimiter?: string; quote?: boolean } = {}): string[][] {
  const delimiter = options.delimiter ?? ',';
  const quoting = options.quote ?? true;
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new Error(
      `parseCsv: delimiter must be one character other than a quote or line break, got ${JSON.stringify(delimiter)}`,
    );
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quotedAt = -1; // where the open quote started (for error messages)
  const n = text.length;
  const endField = (): void => {
    row.push(field);
    field = '';
  };
  const endRow = (): void => {
    endField();
    rows.push(row);
    row = [];
  };
  while (i < n) {
    const ch = text[i];
    if (quotedAt >= 0) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quotedAt = -1;
        i++;
        continue;
      }
      field += ch;
      i++;
      continue;
    }
    if (ch === '"' && field === '' && quoting) {
      quotedAt = i;
      i++;
    } else if (ch === delimiter) {
      endField();
      i++;
    } else if (ch === '\n' || ch === '\r') {
      endRow();
      i += ch === '\r' && text[i + 1] === '\n' ? 2 : 1;
    } else {
      field += ch;
      i++;
    }
  }
  if (quotedAt >= 0) {
    const line = text.slice(0, quotedAt).split('\n').length;
    throw new Error(`parseCsv: unterminated quoted field starting on line ${line}`);
  }
  if (field !== '' || row.length > 0) endRow();
  return rows;
}

/** Reads a CSV file (optionally .gz) into typed tensors; see `CsvOptions`. */
export async function readCsv(path: string, options: CsvOptions = {}): Promise<CsvData> {
  return csvToTensors(new TextDecoder().decode(await readMaybeGzipped(path)), options, path);
}

const MISSING = new Set(['', 'na', 'nan', 'null', 'n/a']);

function parseNumber(s: string): number | undefined {
  const t = s.trim();
  if (MISSING.has(t.toLowerCase())) return NaN;
  const v = Number(t);
  return Number.isNaN(v) ? undefined : v;
}

/** Converts CSV text to tensors (what `readCsv` does after reading the file). */
export function csvToTensors(text: string, options: CsvOptions = {}, source = 'CSV'): CsvData {
  const rows = parseCsv(text, { delimiter: options.delimiter }).filter((r) => !(r.length === 1 && r[0].trim() === ''));
  const header = options.header ?? true;
  const headerRow = header ? rows.shift() : undefined;
  if (header && !headerRow) throw new Error(`readCsv: ${source} is empty (expected a header row)`);
  const width = headerRow?.length ?? rows[0]?.length ?? options.names?.length ?? 0;
  const names = options.names ?? headerRow?.map((s) => s.trim()) ?? Array.from({ length: width }, (_, i) => String(i));
  if (names.length !== width)
    throw new Error(`readCsv: ${source} has ${width} columns but ${names.length} names were given`);
  rows.forEach((r, i) => {
    if (r.length !== width) {
      throw new Error(
        `readCsv: ${source} row ${i + (header ? 2 : 1)} has ${r.length} fields, expected ${width} (${names.join(', ')})`,
      );
    }
  });
  for (const name of [
    ...Object.keys(options.columns ?? {}),
    ...(options.label ? [options.label] : []),
    ...(options.exclude ?? []),
  ]) {
    if (!names.includes(name))
      throw new Error(`readCsv: ${source} has no column "${name}" (columns: ${names.join(', ')})`);
  }

  const columns: Record<string, Tensor | string[]> = {};
  const vocabularies: Record<string, string[]> = {};
  const types: Record<string, CsvColumnType> = {};
  names.forEach((name, c) => {
    const values = rows.map((r) => r[c]);
    const type =
      options.columns?.[name] ?? (values.every((v) => parseNumber(v) !== undefined) ? 'float32' : 'category');
    types[name] = type;
    const where = (r: number): string => `${source} column "${name}" row ${r + (header ? 2 : 1)}`;
    if (type === 'string') {
      columns[name] = values;
    } else if (type === 'float32') {
      const out = new Float32Array(values.length);
      values.forEach((v, r) => {
        const x = parseNumber(v);
        if (x === undefined)
          throw new Error(`readCsv: ${where(r)}: ${JSON.stringify(v)} is not a number (declared float32)`);
        out[r] = x;
      });
      columns[name] = new Tensor([values.length], 'float32', out);
    } else if (type === 'int32') {
      const out = new Int32Array(values.length);
      values.forEach((v, r) => {
        const x = Number(v.trim());
        if (v.trim() === '' || !Number.isInteger(x) || x < -(2 ** 31) || x >= 2 ** 31) {
          throw new Error(`readCsv: ${where(r)}: ${JSON.stringify(v)} is not a 32-bit integer (declared int32)`);
        }
        out[r] = x;
      });
      columns[name] = new Tensor([values.length], 'int32', out);
    } else if (type === 'category') {
      const given = options.vocabularies?.[name];
      const vocab = given ? [...given] : [...new Set(values)].sort();
      const code = new Map(vocab.map((v, i) => [v, i]));
      const out = new Int32Array(values.length);
      values.forEach((v, r) => {
        const k = code.get(v);
        if (k === undefined)
          throw new Error(
            `readCsv: ${where(r)}: category ${JSON.stringify(v)} is not in the given vocabulary (${vocab.join(', ')})`,
          );
        out[r] = k;
      });
      columns[name] = new Tensor([values.length], 'int32', out);
      vocabularies[name] = vocab;
    } else {
      throw new Error(
        `readCsv: column "${name}" has unknown type ${JSON.stringify(type)} (expected float32, int32, category or string)`,
      );
    }
  });

  const excluded = new Set([...(options.exclude ?? []), ...(options.label ? [options.label] : [])]);
  const featureNames = names.filter((n) => !excluded.has(n) && types[n] !== 'string');
  const nRows = rows.length;
  const x = new Float32Array(nRows * featureNames.length);
  featureNames.forEach((name, f) => {
    const col = (columns[name] as Tensor).data as Float32Array | Int32Array;
    for (let r = 0; r < nRows; r++) x[r * featureNames.length + f] = col[r];
  });
  const result: CsvData = {
    x: new Tensor([nRows, featureNames.length], 'float32', x),
    featureNames,
    columns,
    vocabularies,
  };
  if (options.label) {
    const y = columns[options.label];
    if (!(y instanceof Tensor))
      throw new Error(
        `readCsv: label column "${options.label}" is of type string; declare it category, int32 or float32`,
      );
    result.y = y;
    if (vocabularies[options.label]) result.classNames = vocabularies[options.label];
  }
  return result;
}
