/**
 * Tokenizers for text models: a Hugging Face `tokenizer.json` is the one saved form, and
 * Hugging Face's own Rust tokenizers (npm `tokenizers`, the binary ships inside the package) run
 * it — normalization, pre-tokenization, the model, special tokens, padding, truncation, decoding.
 * Lepton adds what that binding lacks: configurable trainers (see `train-tokenizer.ts`), offsets
 * in JavaScript string indices (the binding counts code points), checked input and errors that
 * say what was expected. Training, evaluation and serving all encode through this one class.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as HF from 'tokenizers';

const require = createRequire(import.meta.url);
// The binding is CommonJS (napi-rs); load it lazily so importing lepton/text costs nothing until used.
let hf: typeof HF | undefined;
function binding(): typeof HF {
  hf ??= require('tokenizers') as typeof HF;
  return hf;
}

/** One encoded text (or text pair). Offsets are [start, end) indices into the JS string given. */
export interface Encoding {
  ids: number[];
  tokens: string[];
  /** [start, end) in UTF-16 code units of the input string (`text.slice(start, end)`); [0, 0] for added special tokens. */
  offsets: [number, number][];
  attentionMask: number[];
  typeIds: number[];
  specialTokensMask: number[];
  /** Index of the word each token comes from (null for special tokens). */
  wordIds: (number | null)[];
  /** Which input each token comes from: 0, 1 (pair) or null (special tokens and padding). */
  sequenceIds: (number | null)[];
}

export interface EncodeOptions {
  /** Add the post-processor's special tokens ([CLS]/[SEP], <s>/</s>); default true. */
  addSpecialTokens?: boolean;
}

export interface PaddingOptions {
  /** Pad to this length; without it, a batch pads to its longest encoding. */
  length?: number;
  direction?: 'right' | 'left';
  /** The padding token (must be in the vocabulary); default the first of <pad>, [PAD]. */
  padToken?: string;
  padToMultipleOf?: number;
}

export interface TruncationOptions {
  maxLength: number;
  direction?: 'right' | 'left';
  /** For pairs: which sequence loses tokens (default 'longest_first'). */
  strategy?: 'longest_first' | 'only_first' | 'only_second';
  stride?: number;
}

/** Text input: a string, or UTF-8 bytes (checked: invalid UTF-8 is an error, not replaced). */
export type TextInput = string | Uint8Array;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A string checked to be valid Unicode (no lone surrogates), decoding bytes strictly. */
function checkedText(where: string, text: unknown): string {
  if (text instanceof Uint8Array) {
    try {
      return utf8.decode(text);
    } catch {
      throw new Error(`${where}: the ${text.length} bytes given are not valid UTF-8`);
    }
  }
  if (typeof text !== 'string') {
    throw new Error(
      `${where}: expected a string (or UTF-8 bytes), got ${text === null ? 'null' : Array.isArray(text) ? 'an array' : typeof text}`,
    );
  }
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      throw new Error(
        `${where}: the string has a lone surrogate (U+${c.toString(16).toUpperCase()}) at index ${i}; it is not valid Unicode text`,
      );
    }
  }
  return text;
}

/** utf16[k] = the UTF-16 index of code point k (plus one entry for the end). */
function codePointToUtf16(text: string): Int32Array {
  const map = new Int32Array(text.length + 1);
  let k = 0;
  for (let i = 0; i < text.length; i++) {
    map[k++] = i;
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) i++;
  }
  map[k] = text.length;
  return map.subarray(0, k + 1);
}

type Json = Record<string, any>;

/**
 * A tokenizer defined by a Hugging Face `tokenizer.json`. Build one with `trainTokenizer(...)`,
 * `Tokenizer.load(path)` or `Tokenizer.fromJSON(json)`; `save(path)` writes a file that Hugging
 * Face's tokenizers (Python, Rust, npm `tokenizers`, Transformers.js) load unchanged.
 */
export class Tokenizer {
  private readonly json: Json;
  private impl: HF.Tokenizer;

  private constructor(json: Json) {
    this.json = json;
    this.impl = Tokenizer.instantiate(json);
  }

  private static instantiate(json: Json): HF.Tokenizer {
    try {
      return binding().Tokenizer.fromString(JSON.stringify(json));
    } catch (e) {
      throw new Error(
        `Tokenizer: not a valid Hugging Face tokenizer.json (model type '${json?.model?.type ?? 'missing'}'): ${(e as Error).message}`,
      );
    }
  }

  /** From the parsed or textual content of a tokenizer.json. */
  static fromJSON(json: string | Json): Tokenizer {
    let parsed: Json;
    if (typeof json === 'string') {
      try {
        parsed = JSON.parse(json);
      } catch (e) {
        throw new Error(`Tokenizer.fromJSON: the text is not JSON (${(e as Error).message})`);
      }
    } else parsed = structuredClone(json);
    if (typeof parsed !== 'object' || parsed === null || typeof parsed.model !== 'object' || parsed.model === null) {
      throw new Error(
        `Tokenizer.fromJSON: expected a tokenizer.json object with a 'model' section, got ${Array.isArray(parsed) ? 'an array' : typeof parsed}`,
      );
    }
    return new Tokenizer(parsed);
  }

  /** Reads a tokenizer.json file (e.g. one saved by Hugging Face's `tokenizer.save`). */
  static load(path: string): Tokenizer {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new Error(`Tokenizer.load: cannot read '${path}': ${(e as Error).message}`);
    }
    try {
      return Tokenizer.fromJSON(text);
    } catch (e) {
      throw new Error(`Tokenizer.load('${path}'): ${(e as Error).message.replace(/^Tokenizer(\.fromJSON)?: /, '')}`);
    }
  }

  /** Writes tokenizer.json atomically (temp file + rename). */
  save(path: string): void {
    const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
    writeFileSync(tmp, JSON.stringify(this.json, null, 2));
    renameSync(tmp, path);
  }

  /** A copy of the tokenizer.json content. */
  toJSON(): Json {
    return structuredClone(this.json);
  }

  /** The model type: 'BPE', 'WordPiece', 'Unigram' or 'WordLevel'. */
  get modelType(): string {
    return this.json.model.type;
  }

  /** Number of tokens including added (special) tokens. */
  get vocabSize(): number {
    return this.impl.getVocabSize(true);
  }

  getVocab(): Record<string, number> {
    return this.impl.getVocab(true);
  }

  tokenToId(token: string): number | undefined {
    return this.impl.tokenToId(token) ?? undefined;
  }

  idToToken(id: number): string | undefined {
    return this.impl.idToToken(id) ?? undefined;
  }

  /** The added tokens marked special (e.g. [CLS], <pad>), in id order. */
  get specialTokens(): string[] {
    return (this.json.added_tokens ?? []).filter((t: Json) => t.special).map((t: Json) => t.content);
  }

  /** Pads encodings of a batch (or every encoding to `length`). Saved with the tokenizer. */
  enablePadding(options: PaddingOptions = {}): this {
    const token = options.padToken ?? ['<pad>', '[PAD]'].find((t) => this.tokenToId(t) !== undefined);
    const id = token === undefined ? undefined : this.tokenToId(token);
    if (token === undefined || id === undefined) {
      throw new Error(
        `Tokenizer.enablePadding: padding token '${options.padToken ?? '<pad> or [PAD]'}' is not in the vocabulary; pass padToken`,
      );
    }
    if (options.length !== undefined && !(Number.isInteger(options.length) && options.length > 0)) {
      throw new Error(`Tokenizer.enablePadding: length must be a positive integer, got ${options.length}`);
    }
    this.json.padding = {
      strategy: options.length === undefined ? 'BatchLongest' : { Fixed: options.length },
      direction: options.direction === 'left' ? 'Left' : 'Right',
      pad_to_multiple_of: options.padToMultipleOf ?? null,
      pad_id: id,
      pad_type_id: 0,
      pad_token: token,
    };
    this.impl = Tokenizer.instantiate(this.json);
    return this;
  }

  disablePadding(): this {
    this.json.padding = null;
    this.impl = Tokenizer.instantiate(this.json);
    return this;
  }

  /** Cuts encodings to `maxLength` tokens (special tokens included). Saved with the tokenizer. */
  enableTruncation(options: TruncationOptions): this {
    if (!(Number.isInteger(options?.maxLength) && options.maxLength > 0)) {
      throw new Error(`Tokenizer.enableTruncation: maxLength must be a positive integer, got ${options?.maxLength}`);
    }
    const strategy = { longest_first: 'LongestFirst', only_first: 'OnlyFirst', only_second: 'OnlySecond' }[
      options.strategy ?? 'longest_first'
    ];
    this.json.truncation = {
      direction: options.direction === 'left' ? 'Left' : 'Right',
      max_length: options.maxLength,
      strategy,
      stride: options.stride ?? 0,
    };
    this.impl = Tokenizer.instantiate(this.json);
    return this;
  }

  disableTruncation(): this {
    this.json.truncation = null;
    this.impl = Tokenizer.instantiate(this.json);
    return this;
  }

  /** Encodes one text (or a pair, e.g. question + context). */
  async encode(text: TextInput, pair?: TextInput | null, options: EncodeOptions = {}): Promise<Encoding> {
    const a = checkedText('Tokenizer.encode', text);
    const b = pair === undefined || pair === null ? null : checkedText('Tokenizer.encode (pair)', pair);
    const enc = await this.impl.encode(a, b, { addSpecialTokens: options.addSpecialTokens ?? true });
    return convert(enc, [a, b]);
  }

  /** Encodes many texts at once (in parallel threads); padding applies across the batch. */
  async encodeBatch(
    texts: readonly (TextInput | [TextInput, TextInput])[],
    options: EncodeOptions = {},
  ): Promise<Encoding[]> {
    if (!Array.isArray(texts))
      throw new Error(`Tokenizer.encodeBatch: expected an array of strings, got ${typeof texts}`);
    const inputs = texts.map((t, i): [string, string | null] =>
      Array.isArray(t)
        ? [
            checkedText(`Tokenizer.encodeBatch (item ${i})`, t[0]),
            checkedText(`Tokenizer.encodeBatch (item ${i}, pair)`, t[1]),
          ]
        : [checkedText(`Tokenizer.encodeBatch (item ${i})`, t), null],
    );
    const encs = await this.impl.encodeBatch(
      inputs.map(([a, b]) => (b === null ? a : [a, b])),
      { addSpecialTokens: options.addSpecialTokens ?? true },
    );
    return encs.map((e, i) => convert(e, inputs[i]));
  }

  /** Ids back to text; special tokens are skipped unless `skipSpecialTokens` is false. */
  async decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): Promise<string> {
    return this.impl.decode(this.checkedIds('Tokenizer.decode', ids), options.skipSpecialTokens ?? true);
  }

  async decodeBatch(
    batch: readonly (readonly number[])[],
    options: { skipSpecialTokens?: boolean } = {},
  ): Promise<string[]> {
    return this.impl.decodeBatch(
      batch.map((ids, i) => this.checkedIds(`Tokenizer.decodeBatch (item ${i})`, ids)),
      options.skipSpecialTokens ?? true,
    );
  }

  private checkedIds(where: string, ids: readonly number[]): number[] {
    if (!Array.isArray(ids)) throw new Error(`${where}: expected an array of token ids, got ${typeof ids}`);
    const size = this.vocabSize;
    ids.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= size) {
        throw new Error(`${where}: token id ${id} at position ${i} is not in the vocabulary (ids 0..${size - 1})`);
      }
    });
    return [...ids];
  }
}

function convert(enc: HF.Encoding, texts: [string, string | null]): Encoding {
  const maps = texts.map((t) => (t === null ? null : codePointToUtf16(t)));
  const seq = enc.getSequenceIds().map((s) => (s === undefined ? null : s));
  const special = enc.getSpecialTokensMask();
  const offsets = enc.getOffsets().map(([s, e], i): [number, number] => {
    const m = seq[i] === null || special[i] ? null : maps[seq[i] as number];
    return m ? [m[s], m[e]] : [0, 0];
  });
  return {
    ids: enc.getIds(),
    tokens: enc.getTokens(),
    offsets,
    attentionMask: enc.getAttentionMask(),
    typeIds: enc.getTypeIds(),
    specialTokensMask: special,
    wordIds: enc.getWordIds().map((w) => (w === undefined ? null : w)),
    sequenceIds: seq,
  };
}
