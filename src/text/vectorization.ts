/**
 * TextVectorization with Keras semantics: standardize (lowercase, strip punctuation), split on
 * whitespace, optional n-grams, a vocabulary learned by `adapt` (most frequent first, capped by
 * maxTokens), and outputs as token ids ('int', padded/truncated to outputSequenceLength) or as
 * per-text vectors ('multi_hot', 'count', 'tf_idf'). Strings are not graph values, so this is a
 * preprocessing object that returns tensors for a model, like the tokenizer; its config holds
 * the vocabulary so a saved pipeline reproduces the same ids.
 */
import { Tensor, tensor } from '../engine/index.js';

export type Standardize =
  | 'lower_and_strip_punctuation'
  | 'lower'
  | 'strip_punctuation'
  | null
  | ((text: string) => string);
export type Split = 'whitespace' | 'character' | null | ((text: string) => string[]);
export type VectorizationOutput = 'int' | 'multi_hot' | 'count' | 'tf_idf';

export interface TextVectorizationOptions {
  /** Vocabulary size cap, special tokens included ('' and [UNK] for 'int'; [UNK] otherwise). */
  maxTokens?: number;
  standardize?: Standardize;
  split?: Split;
  /** Add all n-grams up to this order (joined by a space) as tokens. */
  ngrams?: number;
  outputMode?: VectorizationOutput;
  /** 'int': pad with 0 / truncate every row to this length (default: the longest row of the call). */
  outputSequenceLength?: number;
  /** 'multi_hot'/'count'/'tf_idf': output maxTokens columns even if the vocabulary is smaller. */
  padToMaxTokens?: boolean;
  /** A fixed vocabulary instead of `adapt` (without the special tokens). */
  vocabulary?: string[];
  /** With a fixed vocabulary in 'tf_idf' mode: one weight per vocabulary token. */
  idfWeights?: number[];
}

// Keras' DEFAULT_STRIP_REGEX: ASCII punctuation.
const STRIP_PUNCTUATION = /[!"#$%&()*+,\-./:;<=>?@[\\\]^_`{|}~']/g;
const MASK = '';
const OOV = '[UNK]';

/** Maps strings to token ids or bag-of-words vectors (Keras `TextVectorization`). */
export class TextVectorization {
  readonly outputMode: VectorizationOutput;
  private readonly opts: TextVectorizationOptions;
  private vocab: string[] = []; // the learned/given tokens, without special tokens
  private index = new Map<string, number>();
  private idf?: Float64Array; // per output column, for tf_idf

  constructor(options: TextVectorizationOptions = {}) {
    this.opts = { ...options };
    this.outputMode = options.outputMode ?? 'int';
    if (!['int', 'multi_hot', 'count', 'tf_idf'].includes(this.outputMode)) {
      throw new Error(
        `TextVectorization: outputMode must be 'int', 'multi_hot', 'count' or 'tf_idf', got '${String(this.outputMode)}'`,
      );
    }
    const { maxTokens, outputSequenceLength, ngrams } = options;
    if (maxTokens !== undefined && !(Number.isInteger(maxTokens) && maxTokens > this.specials.length)) {
      throw new Error(
        `TextVectorization: maxTokens must be an integer above ${this.specials.length} (the special tokens), got ${maxTokens}`,
      );
    }
    if (
      outputSequenceLength !== undefined &&
      (this.outputMode !== 'int' || !(Number.isInteger(outputSequenceLength) && outputSequenceLength > 0))
    ) {
      throw new Error(
        `TextVectorization: outputSequenceLength must be a positive integer and needs outputMode 'int' (got ${outputSequenceLength}, '${this.outputMode}')`,
      );
    }
    if (ngrams !== undefined && !(Number.isInteger(ngrams) && ngrams >= 1))
      throw new Error(`TextVectorization: ngrams must be a positive integer, got ${ngrams}`);
    if (options.vocabulary) this.setVocabulary(options.vocabulary, options.idfWeights);
  }

  /** The special tokens in front of the vocabulary: '' (padding) and [UNK] for 'int', [UNK] otherwise. */
  private get specials(): string[] {
    return this.outputMode === 'int' ? [MASK, OOV] : [OOV];
  }

  /** Standardized, split (and n-grammed) tokens of one text. */
  tokenize(text: string): string[] {
    if (typeof text !== 'string')
      throw new Error(`TextVectorization: expected a string, got ${text === null ? 'null' : typeof text}`);
    const s = this.opts.standardize === undefined ? 'lower_and_strip_punctuation' : this.opts.standardize;
    let t = text;
    if (typeof s === 'function') t = s(t);
    else if (s === 'lower_and_strip_punctuation') t = t.toLowerCase().replace(STRIP_PUNCTUATION, '');
    else if (s === 'lower') t = t.toLowerCase();
    else if (s === 'strip_punctuation') t = t.replace(STRIP_PUNCTUATION, '');
    else if (s !== null) throw new Error(`TextVectorization: unknown standardize '${String(s)}'`);
    const sp = this.opts.split === undefined ? 'whitespace' : this.opts.split;
    let tokens: string[];
    if (typeof sp === 'function') tokens = sp(t);
    else if (sp === 'whitespace') tokens = t.split(/\s+/).filter((w) => w.length > 0);
    else if (sp === 'character') tokens = Array.from(t);
    else if (sp === null) tokens = [t];
    else throw new Error(`TextVectorization: unknown split '${String(sp)}'`);
    const n = this.opts.ngrams ?? 1;
    if (n === 1) return tokens;
    const out: string[] = [];
    for (let k = 1; k <= n; k++)
      for (let i = 0; i + k <= tokens.length; i++) out.push(tokens.slice(i, i + k).join(' '));
    return out;
  }

  /**
   * Learns the vocabulary from texts (an array, generator or async iterable such as a Dataset):
   * tokens by descending frequency (ties in code-unit order), at most maxTokens with the specials.
   */
  async adapt(texts: Iterable<string> | AsyncIterable<string>): Promise<this> {
    const counts = new Map<string, number>();
    const docCounts = new Map<string, number>();
    let docs = 0;
    for await (const text of texts as AsyncIterable<string>) {
      const tokens = this.tokenize(text);
      for (const tok of tokens) counts.set(tok, (counts.get(tok) ?? 0) + 1);
      for (const tok of new Set(tokens)) docCounts.set(tok, (docCounts.get(tok) ?? 0) + 1);
      docs++;
    }
    const specials = new Set(this.specials);
    let vocab = [...counts.entries()]
      .filter(([t]) => !specials.has(t))
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([t]) => t);
    if (this.opts.maxTokens !== undefined) vocab = vocab.slice(0, this.opts.maxTokens - this.specials.length);
    // Keras' idf: log(1 + documents / (1 + documents containing the token)).
    const idf =
      this.outputMode === 'tf_idf' ? vocab.map((t) => Math.log(1 + docs / (1 + (docCounts.get(t) ?? 0)))) : undefined;
    this.setVocabulary(vocab, idf);
    return this;
  }

  /** Sets the vocabulary (tokens only, no specials) and, for tf_idf, the idf weight of each. */
  setVocabulary(vocabulary: readonly string[], idfWeights?: readonly number[]): void {
    if (!Array.isArray(vocabulary) || vocabulary.some((t) => typeof t !== 'string'))
      throw new Error('TextVectorization.setVocabulary: expected an array of strings');
    const dup = vocabulary.find((t, i) => vocabulary.indexOf(t) !== i || this.specials.includes(t));
    if (dup !== undefined)
      throw new Error(
        `TextVectorization.setVocabulary: token '${dup}' is repeated or is a special token (${this.specials.map((s) => `'${s}'`).join(', ')})`,
      );
    if (this.opts.maxTokens !== undefined && vocabulary.length + this.specials.length > this.opts.maxTokens) {
      throw new Error(
        `TextVectorization.setVocabulary: ${vocabulary.length} tokens + ${this.specials.length} special exceed maxTokens ${this.opts.maxTokens}`,
      );
    }
    if (this.outputMode === 'tf_idf') {
      if (!idfWeights || idfWeights.length !== vocabulary.length) {
        throw new Error(
          `TextVectorization.setVocabulary: 'tf_idf' needs one idf weight per token (${vocabulary.length}), got ${idfWeights?.length ?? 'none'}`,
        );
      }
      // The OOV column gets the mean idf of the vocabulary, as Keras does.
      const mean = idfWeights.length ? idfWeights.reduce((a, b) => a + b, 0) / idfWeights.length : 0;
      this.idf = Float64Array.from([mean, ...idfWeights]);
    }
    this.vocab = [...vocabulary];
    this.index = new Map(this.getVocabulary().map((t, i) => [t, i]));
  }

  /** The full vocabulary with the special tokens first (index = output id / column). */
  getVocabulary(): string[] {
    return [...this.specials, ...this.vocab];
  }

  vocabularySize(): number {
    return this.specials.length + this.vocab.length;
  }

  /** Token ids of one text (OOV → 1 in 'int' mode, 0 otherwise). */
  private ids(text: string): number[] {
    const oov = this.specials.indexOf(OOV);
    return this.tokenize(text).map((t) => this.index.get(t) ?? oov);
  }

  /**
   * Vectorizes a batch of texts: int32 [N, T] ids for 'int', float32 [N, V] for the others
   * (V = vocabulary size, or maxTokens with padToMaxTokens).
   */
  apply(texts: readonly string[] | string): Tensor {
    const list = typeof texts === 'string' ? [texts] : texts;
    if (!Array.isArray(list))
      throw new Error(`TextVectorization.apply: expected a string or an array of strings, got ${typeof texts}`);
    if (this.vocab.length === 0 && this.outputMode !== 'int')
      throw new Error(`TextVectorization.apply: no vocabulary yet; call adapt(texts) or setVocabulary(...) first`);
    const rows = list.map((t, i) => {
      try {
        return this.ids(t);
      } catch (e) {
        throw new Error(`${(e as Error).message} (item ${i})`);
      }
    });
    if (this.outputMode === 'int') {
      const len = this.opts.outputSequenceLength ?? Math.max(0, ...rows.map((r) => r.length));
      const out = new Int32Array(rows.length * len);
      rows.forEach((r, i) => out.set(r.slice(0, len), i * len));
      return tensor(out, { shape: [rows.length, len] });
    }
    const width =
      this.opts.padToMaxTokens && this.opts.maxTokens !== undefined ? this.opts.maxTokens : this.vocabularySize();
    const out = new Float32Array(rows.length * width);
    rows.forEach((r, i) => {
      for (const id of r) {
        if (this.outputMode === 'multi_hot') out[i * width + id] = 1;
        else out[i * width + id] += 1;
      }
      if (this.outputMode === 'tf_idf') for (let j = 0; j < this.idf!.length; j++) out[i * width + j] *= this.idf![j];
    });
    return tensor(out, { shape: [rows.length, width] });
  }

  /** JSON-serializable settings including the vocabulary (and idf weights). */
  getConfig(): Record<string, any> {
    const { vocabulary: _v, idfWeights: _w, standardize, split, ...rest } = this.opts;
    if (typeof standardize === 'function' || typeof split === 'function') {
      throw new Error('TextVectorization.getConfig: custom standardize/split functions cannot be serialized');
    }
    return {
      ...rest,
      standardize,
      split,
      outputMode: this.outputMode,
      vocabulary: [...this.vocab],
      idfWeights: this.idf ? Array.from(this.idf.subarray(1)) : undefined,
    };
  }

  static fromConfig(config: Record<string, any>): TextVectorization {
    return new TextVectorization(config);
  }
}
