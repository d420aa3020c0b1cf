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
  if (!(kind in DEFAULT_SPECIALS))
    throw new Error(`trainTokenizer: unknown kind '${String(kind)}'; expected 'bpe', 'wordpiece' or 'unigram'`);
  const vocabSize = options.vocabSize ?? 8000;
  const minFrequency = options.minFrequency ?? 2;
  if (!Number.isInteger(vocabSize) || vocabSize < 1)
    throw new Error(`trainTokenizer: vocabSize must be a positive integer, got ${vocabSize}`);
  if (!Number.isInteger(minFrequency) || minFrequency < 1)
    throw new Error(`trainTokenizer: minFrequency must be a positive integer, got ${minFrequency}`);
  const specials = options.specialTokens ?? DEFAULT_SPECIALS[kind];
  if (new Set(specials).size !== specials.length || specials.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw new Error(
      `trainTokenizer: specialTokens must be distinct non-empty strings, got ${JSON.stringify(specials)}`,
    );
  }
  const skeleton = pipelineFor(kind, options);
  // Split the corpus into words with the same normalizer and pre-tokenizer that will encode.
  const normalizer = skeleton.normalizer ? normalizerFor(skeleton.normalizer) : undefined;
  const words = new Map<string, number>();
  const pre = preTokenizerFor(kind);
  let n = 0;
  for await (const text of corpus as AsyncIterable<string>) {
    if (typeof text !== 'string')
      throw new Error(`trainTokenizer: corpus item ${n} is ${typeof text}, expected a string`);
    n++;
    const normalized = normalizer ? normalizer.normalizeString(text) : text;
    for (const [w] of pre.preTokenizeString(normalized)) words.set(w, (words.get(w) ?? 0) + 1);
  }
  if (words.size === 0) throw new Error(`trainTokenizer: the corpus (${n} texts) has no words to learn from`);

  let model: Json;
  if (kind === 'bpe') {
    const alphabet = hf().byteLevelAlphabet().sort();
    const merges = learnMerges(
      words,
      alphabet.map((c) => [c, c]),
      vocabSize - specials.length - alphabet.length,
      minFrequency,
      '',
    );
    model = {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: vocabObject(specials, [...alphabet, ...merges.map(([a, b]) => a + b)]),
      merges: merges.map(([a, b]) => [a, b]),
    };
  } else if (kind === 'wordpiece') {
    const alphabet = new Map<string, number>();
    for (const [w, c] of words) for (const ch of w) alphabet.set(ch, (alphabet.get(ch) ?? 0) + c);
    const chars = [...alphabet.keys()].sort();
    const units: [string, string][] = chars.flatMap((c): [string, string][] => [
      [c, c],
      [c, `##${c}`],
    ]);
    const budget = vocabSize - specials.length - units.length;
    const merges = learnMerges(words, units, budget, minFrequency, '##');
    const unk = specials.find((s) => /unk/i.test(s));
    if (!unk)
      throw new Error(
        `trainTokenizer: wordpiece needs an unknown-word special token (e.g. '[UNK]') in specialTokens, got ${JSON.stringify(specials)}`,
      );
    model = {
      type: 'WordPiece',
      unk_token: unk,
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: vocabObject(specials, [...units.map(([, u]) => u), ...merges.map(([a, b]) => a + b.slice(2))]),
    };
  } else {
    const unk = specials.find((s) => /unk/i.test(s));
    if (!unk)
      throw new Error(
        `trainTokenizer: unigram needs an unknown-piece special token (e.g. '<unk>') in specialTokens, got ${JSON.stringify(specials)}`,
      );
    const pieces = trainUnigram(words, vocabSize - specials.length, options.maxPieceLength ?? 16, minFrequency);
    model = {
      type: 'Unigram',
      unk_id: specials.indexOf(unk),
      byte_fallback: false,
      vocab: [...specials.map((s): [string, number] => [s, 0]), ...pieces],
    };
  }
  const json: Json = { ...skeleton, model };
  json.added_tokens = specials.map((content, id) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  json.post_processor = postProcessorFor(kind, specials, options);
  return Tokenizer.fromJSON(json);
}

/** The binding's normalizer for a tokenizer.json normalizer section written by `pipelineFor`. */
function normalizerFor(json: Json): HF.Normalizer {
  if (json.type === 'BertNormalizer') {
    return hf().bertNormalizer({
      cleanText: json.clean_text,
      handleChineseChars: json.handle_chinese_chars,
      stripAccents: json.strip_accents ?? json.lowercase,
      lowercase: json.lowercase,
    });
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
      normalizer: {
        type: 'BertNormalizer',
        clean_text: true,
        handle_chinese_chars: true,
        strip_accents: null,
        lowercase: lower,
      },
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
  const trim =
    kind === 'bpe' ? { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true } : null;
  if (!wrap) return trim;
  const [bos, eos] = kind === 'wordpiece' ? ['[CLS]', '[SEP]'] : ['<s>', '</s>'];
  for (const t of [bos, eos]) {
    if (!specials.includes(t))
      throw new Error(`trainTokenizer: addBosEos needs '${t}' among specialTokens, got ${JSON.stringify(specials)}`);
  }
  const tok = (id: string, typeId: number) => ({ SpecialToken: { id, type_id: typeId } });
  const seq = (id: 'A' | 'B', typeId: number) => ({ Sequence: { id, type_id: typeId } });
  const template = {
    type: 'TemplateProcessing',
    single: [tok(bos, 0), seq('A', 0), tok(eos, 0)],
    pair:
      kind === 'wordpiece'
        ? [tok(bos, 0), seq('A', 0), tok(eos, 0), seq('B', 1), tok(eos, 1)]
        : [tok(bos, 0), seq('A', 0), tok(eos, 0), tok(eos, 1), seq('B', 1), tok(eos, 1)],
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
function learnMerges(
  words: Map<string, number>,
  units: [string, string][],
  budget: number,
  minFrequency: number,
  prefix: string,
): [string, string][] {
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
    const merged =
      symbols[a] + (prefix && symbols[b].startsWith(prefix) ? symbols[b].slice(prefix.length) : symbols[b]);
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

interface TrieNode {
  next: Map<string, TrieNode>;
  id: number; // piece id ending here, or -1
}

/** A character trie of the current pieces: lattice edges without building substrings. */
function buildTrie(pieces: string[][], skip = -1): TrieNode {
  const root: TrieNode = { next: new Map(), id: -1 };
  pieces.forEach((chars, id) => {
    if (id === skip) return;
    let node = root;
    for (const c of chars) {
      let n = node.next.get(c);
      if (!n) node.next.set(c, (n = { next: new Map(), id: -1 }));
      node = n;
    }
    node.id = id;
  });
  return root;
}

/** Calls visit(end, id) for every piece that starts at `begin` of `w`. */
function forEachPiece(trie: TrieNode, w: string[], begin: number, visit: (end: number, id: number) => void): void {
  let node: TrieNode | undefined = trie;
  for (let e = begin; e < w.length; e++) {
    node = node.next.get(w[e]);
    if (!node) return;
    if (node.id >= 0) visit(e + 1, node.id);
  }
}

/** The best segmentation of `w` under `logp` (ids), or undefined if none exists. */
function viterbi(trie: TrieNode, w: string[], logp: Float64Array): number[] | undefined {
  const best = new Float64Array(w.length + 1).fill(-Infinity);
  const from = new Int32Array(w.length + 1);
  const via = new Int32Array(w.length + 1);
  best[0] = 0;
  for (let b = 0; b < w.length; b++) {
    if (best[b] === -Infinity) continue;
    forEachPiece(trie, w, b, (e, id) => {
      const v = best[b] + logp[id];
      if (v > best[e]) [best[e], from[e], via[e]] = [v, b, id];
    });
  }
  if (best[w.length] === -Infinity) return undefined;
  const path: number[] = [];
  for (let e = w.length; e > 0; e = from[e]) path.push(via[e]);
  return path.reverse();
}

/**
 * Unigram language-model pieces with log-probabilities, trained as SentencePiece does in outline:
 * seeds are the most frequent substrings (frequency × length, SentencePiece's seed ranking);
 * rounds of EM (forward–backward expected counts over each word's segmentation lattice) each
 * followed by pruning a quarter of the pieces, keeping those whose removal would cost the corpus
 * likelihood most — Viterbi frequency × (log p(piece) − log p(its best segmentation without it)).
 * Every character seen stays, so any text of the corpus' alphabet encodes without <unk>.
 */
function trainUnigram(
  words: Map<string, number>,
  size: number,
  maxLen: number,
  minFrequency: number,
): [string, number][] {
  // Very long "words" (URLs, encoded blobs) cost lattice time and teach little: characters cover them.
  const list = [...words].map(([w, c]) => [[...w], c] as [string[], number]).filter(([w]) => w.length <= 64);
  const chars = new Map<string, number>();
  for (const [w, c] of words) for (const ch of w) chars.set(ch, (chars.get(ch) ?? 0) + c);
  const subs = new Map<string, number>();
  for (const [w, c] of list) {
    for (let i = 0; i < w.length; i++) {
      let s = w[i];
      for (let j = i + 1; j < Math.min(w.length, i + maxLen); j++) {
        s += w[j];
        subs.set(s, (subs.get(s) ?? 0) + c);
      }
    }
  }
  // Only maximal substrings seed (as SentencePiece's suffix-array nodes): one that always occurs
  // inside the same longer substring (equal count) adds nothing, and would let the pieces of a few
  // long repeated strings (message ids, URLs) crowd out common words.
  const extended = new Map<string, number>();
  for (const [sub, c] of subs) {
    const cps = [...sub];
    for (const part of [cps.slice(1).join(''), cps.slice(0, -1).join('')]) {
      if (part.length > 0 && [...part].length >= 2) extended.set(part, Math.max(extended.get(part) ?? 0, c));
    }
  }
  const seedSize = Math.max(size * 4, 1000);
  const seeds = [...subs]
    .filter(([sub, c]) => c >= minFrequency && c > (extended.get(sub) ?? 0))
    .map(([sub, c]) => [sub, c * [...sub].length, c] as const)
    .sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1))
    .slice(0, seedSize);
  extended.clear();
  subs.clear();
  let pieces: string[] = [...chars.keys(), ...seeds.map(([s]) => s)];
  const initial = new Map<string, number>([...chars, ...seeds.map(([s, , c]) => [s, c] as [string, number])]);
  const initialTotal = [...initial.values()].reduce((a, b) => a + b, 0);
  let logp = Float64Array.from(pieces, (p) => Math.log(initial.get(p)! / initialTotal));
  const isChar = (p: string) => chars.has(p);

  /** One EM step over the current pieces: new log-probabilities (tiny pieces dropped, characters kept). */
  const em = (): void => {
    const trie = buildTrie(pieces.map((p) => [...p]));
    const expected = new Float64Array(pieces.length);
    for (const [w, c] of list) {
      const T = w.length;
      const alpha = new Float64Array(T + 1).fill(-Infinity);
      const beta = new Float64Array(T + 1).fill(-Infinity);
      alpha[0] = 0;
      beta[T] = 0;
      const edges: [number, number, number][] = [];
      for (let b = 0; b < T; b++) forEachPiece(trie, w, b, (e, id) => edges.push([b, e, id]));
      for (const [b, e, id] of edges) alpha[e] = logAdd(alpha[e], alpha[b] + logp[id]); // edges are sorted by start
      for (let k = edges.length - 1; k >= 0; k--) {
        const [b, e, id] = edges[k];
        beta[b] = logAdd(beta[b], logp[id] + beta[e]);
      }
      const z = alpha[T];
      for (const [b, e, id] of edges) expected[id] += c * Math.exp(alpha[b] + logp[id] + beta[e] - z);
    }
    const keep = pieces.map((p, i) => isChar(p) || expected[i] > 1e-6);
    const total = expected.reduce((a, b) => a + b, 0);
    const next: string[] = [];
    const nextLogp: number[] = [];
    pieces.forEach((p, i) => {
      if (!keep[i]) return;
      next.push(p);
      nextLogp.push(Math.log(Math.max(expected[i], 1e-3) / total));
    });
    pieces = next;
    logp = Float64Array.from(nextLogp);
  };

  const target = Math.max(size - chars.size, 0);
  for (let round = 0; round < 100; round++) {
    em();
    em();
    const removable = pieces.map((_p, i) => i).filter((i) => !isChar(pieces[i]));
    if (removable.length <= target) break;
    // Viterbi frequencies, then the likelihood each piece would lose to its best alternative.
    const trie = buildTrie(pieces.map((p) => [...p]));
    const freq = new Float64Array(pieces.length);
    for (const [w, c] of list) for (const id of viterbi(trie, w, logp) ?? []) freq[id] += c;
    const loss = new Float64Array(pieces.length);
    for (const i of removable) {
      if (freq[i] === 0) continue;
      const chars_ = [...pieces[i]];
      const alt = viterbi(buildTrieWithout(trie, chars_), chars_, logp);
      const altLogp = alt ? alt.reduce((s, id) => s + logp[id], 0) : -Infinity;
      loss[i] = freq[i] * (logp[i] - altLogp);
    }
    removable.sort((a, b) => loss[b] - loss[a] || (pieces[a] < pieces[b] ? -1 : 1));
    const drop = new Set(removable.slice(Math.max(target, Math.floor(removable.length * 0.75))));
    const kept = pieces.map((_, i) => i).filter((i) => !drop.has(i));
    pieces = kept.map((i) => pieces[i]);
    logp = Float64Array.from(kept, (i) => logp[i]);
  }
  em();
  return pieces.map((p, i) => [p, logp[i]] as [string, number]).sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1));
}

/** A view of `trie` in which the piece spelled by `chars` is not a piece (for its alternative segmentation). */
function buildTrieWithout(trie: TrieNode, chars: string[]): TrieNode {
  // Copy only the path of `chars`, so the rest of the trie is shared.
  const copy = (node: TrieNode, depth: number): TrieNode => {
    if (depth === chars.length) return { next: node.next, id: -1 };
    const child = node.next.get(chars[depth])!;
    const next = new Map(node.next);
    next.set(chars[depth], copy(child, depth + 1));
    return { next, id: node.id };
  };
  return copy(trie, 0);
}

function logAdd(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  return a > b ? a + Math.log1p(Math.exp(b - a)) : b + Math.log1p(Math.exp(a - b));
}
