/**
 * Tokenizer trainers: byte-level BPE, WordPiece and Unigram, trained from any (async) iterable of
 * strings. The npm `tokenizers` binding can only train with fixed default settings from files,
 * so the training loops live here; normalization and pre-tokenization are the binding's own (the
 * very pipeline that later encodes), and the result is a standard Hugging Face tokenizer.json.
 */
import { createRequire } from 'node:module';
import type * as HF from 'tokenizers';
import { Tokenizer } from './tokenizer.js';

const require = createRequire(import.meta.url);
const hf = (): typeof HF => require('tokenizers') as typeof HF;

export type TokenizerKind = 'bpe' | 'wordpiece' | 'unigram';

export interface TrainTokenizerOptions {
  /** Target vocabulary size, special tokens included (default 8000). */
  vocabSize?: number;
  /** Pairs (BPE, WordPiece) or pieces (Unigram) seen fewer times are not added (default 2). */
  minFrequency?: number;
  /**
   * Special tokens, given the first ids in this order. Defaults: bpe `<pad> <s> </s>`;
   * wordpiece `[PAD] [UNK] [CLS] [SEP] [MASK]`; unigram `<pad> <unk> <s> </s>`.
   */
  specialTokens?: string[];
  /** WordPiece: lowercase (and strip accents) as BERT uncased does (default true). */
  lowercase?: boolean;
  /**
   * Wrap each encoding in special tokens: `[CLS] A [SEP] (B [SEP])` for wordpiece (default) and
   * `<s> A </s> (</s> B </s>)` for bpe/unigram when true (default false for those).
   */
  addBosEos?: boolean;
  /** Unigram: longest piece in characters (default 16). */
  maxPieceLength?: number;
}

const DEFAULT_SPECIALS: Record<TokenizerKind, string[]> = {
  bpe: ['<pad>', '<s>', '</s>'],
  wordpiece: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'],
  unigram: ['<pad>', '<unk>', '<s>', '</s>'],
};

type Json = Record<string, any>;

/**
 * Trains a tokenizer of the given kind on `corpus` (strings; an array, generator or async
 * iterable such as a text Dataset) and returns it ready to encode and `save`.
 */
export async function trainTokenizer(
  kind: TokenizerKind,
  corpus: Iterable<string> | AsyncIterable<string>,
  options: TrainTokenizerOptions = {},
): Promise<Tokenizer> {
  if (!(kind in DEFAULT_SPECIALS)) throw new Error(`trainTokenizer: unknown kind '${String(kind)}'; expected 'bpe', 'wordpiece' or 'unigram'`);
  const vocabSize = options.vocabSize ?? 8000;
  const minFrequency = options.minFrequency ?? 2;
  if (!Number.isInteger(vocabSize) || vocabSize < 1) throw new Error(`trainTokenizer: vocabSize must be a positive integer, got ${vocabSize}`);
  if (!Number.isInteger(minFrequency) || minFrequency < 1) throw new Error(`trainTokenizer: minFrequency must be a positive integer, got ${minFrequency}`);
  const specials = options.specialTokens ?? DEFAULT_SPECIALS[kind];
  if (new Set(specials).size !== specials.length || specials.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw new Error(`trainTokenizer: specialTokens must be distinct non-empty strings, got ${JSON.stringify(specials)}`);
  }
  const skeleton = pipelineFor(kind, options);
  // Split the corpus into words with the same normalizer and pre-tokenizer that will encode.
  const normalizer = skeleton.normalizer ? normalizerFor(skeleton.normalizer) : undefined;
  const words = new Map<string, number>();
  const pre = preTokenizerFor(kind);
  let n = 0;
  for await (const text of corpus as AsyncIterable<string>) {
    if (typeof text !== 'string') throw new Error(`trainTokenizer: corpus item ${n} is ${typeof text}, expected a string`);
    n++;
    const normalized = normalizer ? normalizer.normalizeString(text) : text;
    for (const [w] of pre.preTokenizeString(normalized)) words.set(w, (words.get(w) ?? 0) + 1);
  }
  if (words.size === 0) throw new Error(`trainTokenizer: the corpus (${n} texts) has no words to learn from`);

  let model: Json;
  if (kind === 'bpe') {
    const alphabet = hf().byteLevelAlphabet().sort();
    const merges = learnMerges(words, alphabet.map((c) => [c, c]), vocabSize - specials.length - alphabet.length, minFrequency, '');
    model = {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false,
      vocab: vocabObject(specials, [...alphabet, ...merges.map(([a, b]) => a + b)]),
      merges: merges.map(([a, b]) => [a, b]),
    };
  } else if (kind === 'wordpiece') {
    const alphabet = new Map<string, number>();
    for (const [w, c] of words) for (const ch of w) alphabet.set(ch, (alphabet.get(ch) ?? 0) + c);
    const chars = [...alphabet.keys()].sort();
    const units: [string, string][] = chars.flatMap((c): [string, string][] => [[c, c], [c, `##${c}`]]);
    const budget = vocabSize - specials.length - units.length;
    const merges = learnMerges(words, units, budget, minFrequency, '##');
    const unk = specials.find((s) => /unk/i.test(s));
    if (!unk) throw new Error(`trainTokenizer: wordpiece needs an unknown-word special token (e.g. '[UNK]') in specialTokens, got ${JSON.stringify(specials)}`);
    model = {
      type: 'WordPiece', unk_token: unk, continuing_subword_prefix: '##', max_input_chars_per_word: 100,
      vocab: vocabObject(specials, [...units.map(([, u]) => u), ...merges.map(([a, b]) => a + b.slice(2))]),
    };
  } else {
    const unk = specials.find((s) => /unk/i.test(s));
    if (!unk) throw new Error(`trainTokenizer: unigram needs an unknown-piece special token (e.g. '<unk>') in specialTokens, got ${JSON.stringify(specials)}`);
    const pieces = trainUnigram(words, vocabSize - specials.length, options.maxPieceLength ?? 16, minFrequency);
    model = {
      type: 'Unigram', unk_id: specials.indexOf(unk), byte_fallback: false,
      vocab: [...specials.map((s): [string, number] => [s, 0]), ...pieces],
    };
  }
  const json: Json = { ...skeleton, model };
  json.added_tokens = specials.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  json.post_processor = postProcessorFor(kind, specials, options);
  return Tokenizer.fromJSON(json);
}

/** The binding's normalizer for a tokenizer.json normalizer section written by `pipelineFor`. */
function normalizerFor(json: Json): HF.Normalizer {
  if (json.type === 'BertNormalizer') {
    return hf().bertNormalizer({ cleanText: json.clean_text, handleChineseChars: json.handle_chinese_chars, stripAccents: json.strip_accents ?? json.lowercase, lowercase: json.lowercase });
  }
  if (json.type === 'NFKC') return hf().nfkcNormalizer();
  throw new Error(`trainTokenizer: no normalizer for '${json.type}'`);
}

/** Everything in tokenizer.json but the model and added tokens. */
function pipelineFor(kind: TokenizerKind, options: TrainTokenizerOptions): Json {
  const base = { version: '1.0', truncation: null, padding: null };
  if (kind === 'bpe') {
    const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
    return { ...base, normalizer: null, pre_tokenizer: byteLevel, decoder: byteLevel };
  }
  if (kind === 'wordpiece') {
    const lower = options.lowercase ?? true;
    return {
      ...base,
      normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: lower },
      pre_tokenizer: { type: 'BertPreTokenizer' },
      decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    };
  }
  const metaspace = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true };
  return { ...base, normalizer: { type: 'NFKC' }, pre_tokenizer: metaspace, decoder: metaspace };
}

function preTokenizerFor(kind: TokenizerKind): HF.PreTokenizer {
  if (kind === 'bpe') return hf().byteLevelPreTokenizer(false, true);
  if (kind === 'wordpiece') return hf().bertPreTokenizer();
  return hf().metaspacePreTokenizer('▁', 'always', true);
}

function postProcessorFor(kind: TokenizerKind, specials: string[], options: TrainTokenizerOptions): Json | null {
  const wrap = options.addBosEos ?? kind === 'wordpiece';
  const trim = kind === 'bpe' ? { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true } : null;
  if (!wrap) return trim;
  const [bos, eos] = kind === 'wordpiece' ? ['[CLS]', '[SEP]'] : ['<s>', '</s>'];
  for (const t of [bos, eos]) {
    if (!specials.includes(t)) throw new Error(`trainTokenizer: addBosEos needs '${t}' among specialTokens, got ${JSON.stringify(specials)}`);
  }
  const tok = (id: string, typeId: number) => ({ SpecialToken: { id, type_id: typeId } });
  const seq = (id: 'A' | 'B', typeId: number) => ({ Sequence: { id, type_id: typeId } });
  const template = {
    type: 'TemplateProcessing',
    single: [tok(bos, 0), seq('A', 0), tok(eos, 0)],
    pair: kind === 'wordpiece' ? [tok(bos, 0), seq('A', 0), tok(eos, 0), seq('B', 1), tok(eos, 1)] : [tok(bos, 0), seq('A', 0), tok(eos, 0), tok(eos, 1), seq('B', 1), tok(eos, 1)],
    special_tokens: Object.fromEntries([bos, eos].map((t) => [t, { id: t, ids: [specials.indexOf(t)], tokens: [t] }])),
  };
  return trim ? { type: 'Sequence', processors: [trim, template] } : template;
}

function vocabObject(specials: string[], tokens: string[]): Record<string, number> {
  const vocab: Record<string, number> = {};
  let id = 0;
  for (const t of [...specials, ...tokens]) if (!(t in vocab)) vocab[t] = id++;
  return vocab;
}

// ---------------------------------------------------------------------------------------------
// BPE / WordPiece merges

/** A max-heap of pair candidates: highest count first, ties to the smaller (left, right) ids (as HF's trainer). */
class PairHeap {
  private items: [number, number, number][] = []; // [count, left, right]
  get size(): number {
    return this.items.length;
  }
  private before(a: [number, number, number], b: [number, number, number]): boolean {
    return a[0] !== b[0] ? a[0] > b[0] : a[1] !== b[1] ? a[1] < b[1] : a[2] < b[2];
  }
  push(item: [number, number, number]): void {
    const h = this.items;
    h.push(item);
    for (let i = h.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!this.before(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }
  pop(): [number, number, number] | undefined {
    const h = this.items;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      for (let i = 0; ; ) {
        const [l, r] = [2 * i + 1, 2 * i + 2];
        let m = i;
        if (l < h.length && this.before(h[l], h[m])) m = l;
        if (r < h.length && this.before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

/**
 * Learns up to `budget` merges over `words` (word → count). `units` maps each character to its
 * symbol at a word start and inside a word ([c, c] for BPE; [c, '##c'] pairs for WordPiece,
 * where `prefix` = '##' marks continuation symbols and is dropped from the right side of merges).
 */
function learnMerges(words: Map<string, number>, units: [string, string][], budget: number, minFrequency: number, prefix: string): [string, string][] {
  const symbols: string[] = [];
  const idOf = new Map<string, number>();
  const intern = (s: string): number => {
    let id = idOf.get(s);
    if (id === undefined) {
      id = symbols.length;
      symbols.push(s);
      idOf.set(s, id);
    }
    return id;
  };
  for (const [, u] of units) intern(u);
  const seqs: number[][] = [];
  const counts: number[] = [];
  for (const [w, c] of words) {
    const chars = [...w];
    const seq = chars.map((ch, i) => (prefix && i > 0 ? intern(prefix + ch) : intern(ch)));
    if (seq.length > 1) {
      seqs.push(seq);
      counts.push(c);
    }
  }
  const key = (a: number, b: number): string => `${a},${b}`;
  const pairCount = new Map<string, number>();
  const where = new Map<string, Set<number>>();
  const addPairs = (wi: number, sign: number, touched: Set<string>): void => {
    const s = seqs[wi];
    for (let i = 0; i + 1 < s.length; i++) {
      const k = key(s[i], s[i + 1]);
      pairCount.set(k, (pairCount.get(k) ?? 0) + sign * counts[wi]);
      if (sign > 0) {
        let set = where.get(k);
        if (!set) where.set(k, (set = new Set()));
        set.add(wi);
      }
      touched.add(k);
    }
  };
  const heap = new PairHeap();
  const pushAll = (keys: Iterable<string>): void => {
    for (const k of keys) {
      const c = pairCount.get(k) ?? 0;
      if (c > 0) {
        const [a, b] = k.split(',').map(Number);
        heap.push([c, a, b]);
      }
    }
  };
  const all = new Set<string>();
  for (let wi = 0; wi < seqs.length; wi++) addPairs(wi, 1, all);
  pushAll(all);
  const merges: [string, string][] = [];
  while (merges.length < budget && heap.size > 0) {
    const [c, a, b] = heap.pop()!;
    const k = key(a, b);
    if ((pairCount.get(k) ?? 0) !== c) continue; // stale entry; the current count was pushed too
    if (c < minFrequency) break;
    const merged = symbols[a] + (prefix && symbols[b].startsWith(prefix) ? symbols[b].slice(prefix.length) : symbols[b]);
    const m = intern(merged);
    merges.push([symbols[a], symbols[b]]);
    const touched = new Set<string>();
    for (const wi of where.get(k) ?? []) {
      const s = seqs[wi];
      let has = false;
      for (let i = 0; i + 1 < s.length; i++) if (s[i] === a && s[i + 1] === b) has = true;
      if (!has) continue;
      addPairs(wi, -1, touched);
      const out: number[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(m);
          i++;
        } else out.push(s[i]);
      }
      seqs[wi] = out;
      addPairs(wi, 1, touched);
    }
    touched.delete(k);
    pairCount.delete(k);
    pushAll(touched);
  }
  return merges;
}

// ---------------------------------------------------------------------------------------------
// Unigram (a compact SentencePiece-style EM trainer)

/**
 * Unigram language-model pieces with log-probabilities. Seeds with the most frequent substrings
 * (score frequency × length, as SentencePiece ranks its suffix-array seeds), then alternates EM
 * (forward–backward expected counts over each word's segmentation lattice) with pruning the
 * pieces of smallest expected count by a quarter, until `size` pieces remain. Every character
 * seen stays, so any text of the corpus' alphabet encodes without <unk>. (SentencePiece prunes by
 * the likelihood lost when a piece goes; expected counts are a cheaper proxy.)
 */
function trainUnigram(words: Map<string, number>, size: number, maxLen: number, minFrequency: number): [string, number][] {
  const list = [...words].map(([w, c]) => [[...w], c] as [string[], number]);
  const chars = new Map<string, number>();
  const subs = new Map<string, number>();
  for (const [w, c] of list) {
    for (let i = 0; i < w.length; i++) {
      chars.set(w[i], (chars.get(w[i]) ?? 0) + c);
      let s = w[i];
      for (let j = i + 1; j < Math.min(w.length, i + maxLen); j++) {
        s += w[j];
        subs.set(s, (subs.get(s) ?? 0) + c);
      }
    }
  }
  const seedSize = Math.max(size * 4, 1000);
  const seeds = [...subs].filter(([, c]) => c >= minFrequency).sort((x, y) => y[1] * [...y[0]].length - x[1] * [...x[0]].length || (x[0] < y[0] ? -1 : 1)).slice(0, seedSize);
  const score = new Map<string, number>();
  const total = [...chars.values(), ...seeds.map(([, c]) => c)].reduce((a, b) => a + b, 0);
  for (const [c, n] of chars) score.set(c, Math.log(n / total));
  for (const [s, n] of seeds) score.set(s, Math.log(n / total));

  const em = (): Map<string, number> => {
    const expected = new Map<string, number>();
    for (const [w, c] of list) {
      const T = w.length;
      const alpha = new Float64Array(T + 1).fill(-Infinity);
      alpha[0] = 0;
      for (let e = 1; e <= T; e++) {
        let s = '';
        for (let b = e - 1; b >= Math.max(0, e - maxLen); b--) {
          s = w[b] + s;
          const p = score.get(s);
          if (p !== undefined) alpha[e] = logAdd(alpha[e], alpha[b] + p);
        }
      }
      const beta = new Float64Array(T + 1).fill(-Infinity);
      beta[T] = 0;
      for (let b = T - 1; b >= 0; b--) {
        let s = '';
        for (let e = b + 1; e <= Math.min(T, b + maxLen); e++) {
          s += w[e - 1];
          const p = score.get(s);
          if (p !== undefined) beta[b] = logAdd(beta[b], p + beta[e]);
        }
      }
      const z = alpha[T];
      for (let b = 0; b < T; b++) {
        let s = '';
        for (let e = b + 1; e <= Math.min(T, b + maxLen); e++) {
          s += w[e - 1];
          const p = score.get(s);
          if (p !== undefined) expected.set(s, (expected.get(s) ?? 0) + c * Math.exp(alpha[b] + p + beta[e] - z));
        }
      }
    }
    const sum = [...expected.values()].reduce((a, b) => a + b, 0);
    score.clear();
    // Pieces almost never used leave (SentencePiece drops them too); characters always stay.
    for (const [s, n] of expected) if (n > 1e-6) score.set(s, Math.log(n / sum));
    for (const [ch, n] of chars) if (!score.has(ch)) score.set(ch, Math.log(Math.max(n, 1e-3) / sum));
    return expected;
  };

  const target = Math.max(size - chars.size, 0);
  for (let round = 0; round < 100; round++) {
    em();
    const expected = em();
    const removable = [...score.keys()].filter((s) => !chars.has(s));
    if (removable.length <= target) break;
    removable.sort((x, y) => (expected.get(y) ?? 0) - (expected.get(x) ?? 0) || (x < y ? -1 : 1));
    for (const s of removable.slice(Math.max(target, Math.floor(removable.length * 0.75)))) score.delete(s);
  }
  em();
  return [...score].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1));
}

function logAdd(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  return a > b ? a + Math.log1p(Math.exp(b - a)) : b + Math.log1p(Math.exp(a - b));
}
