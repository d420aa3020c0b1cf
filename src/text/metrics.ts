/**
 * Machine-translation metrics computed exactly as sacreBLEU 2.6 computes them: corpus and
 * sentence BLEU (13a tokenization, exp/floor/add-k/none smoothing, effective order), chrF and
 * chrF++ (character n-grams up to 6, word n-grams up to 2, beta 2), each with sacreBLEU's
 * reproducibility signature. Written from sacreBLEU's definitions (metrics/bleu.py, chrf.py,
 * helpers.py, tokenizers/tokenizer_13a.py); Python's string semantics are kept where they matter:
 * `str.split()` whitespace and indexing by code point.
 */

/** The sacreBLEU release whose definitions these functions reproduce (goes into signatures). */
export const SACREBLEU_VERSION = '2.6.0';

/** Python's `str.split()` / `str.strip()` whitespace (differs from JS `\s`: adds \x1c-\x1f and \x85, lacks \ufeff). */
const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_SPLIT = new RegExp(`[${PY_SPACE}]+`, 'u');
const PY_RSTRIP = new RegExp(`[${PY_SPACE}]+$`, 'u');

/** Python's `s.split()`: no empty strings. */
function pySplit(s: string): string[] {
  return s.split(PY_SPLIT).filter((w) => w.length > 0);
}

// mteval-v13a's language-dependent rules: symbols become tokens; periods and commas do unless
// between digits; a dash after a digit does.
const RE_SYMBOLS = /([\u007b-\u007e\u005b-\u0060\u0020-\u0026\u0028-\u002b\u003a-\u0040\u002f])/gu;
const RE_PERIOD_AFTER = /([^0-9])([.,])/gu;
const RE_PERIOD_BEFORE = /([.,])([^0-9])/gu;
const RE_DASH = /([0-9])(-)/gu;

/** sacreBLEU's '13a' tokenizer (mteval-v13a.pl, as used by WMT): tokens joined by single spaces. */
export function tokenize13a(line: string): string {
  line = line.replaceAll('<skipped>', '').replaceAll('-\n', '').replaceAll('\n', ' ');
  if (line.includes('&'))
    line = line.replaceAll('&quot;', '"').replaceAll('&amp;', '&').replaceAll('&lt;', '<').replaceAll('&gt;', '>');
  line = ` ${line} `
    .replace(RE_SYMBOLS, ' $1 ')
    .replace(RE_PERIOD_AFTER, '$1 $2 ')
    .replace(RE_PERIOD_BEFORE, ' $1 $2')
    .replace(RE_DASH, '$1 $2 ');
  return pySplit(line).join(' ');
}

// ---------------------------------------------------------------------------------------------
// Input checking

type RefStreams = readonly (readonly (string | null | undefined)[])[];

function checkCorpus(metric: string, hyps: readonly string[], refs: RefStreams): void {
  if (!Array.isArray(hyps)) throw new Error(`${metric}: hypotheses must be an array of strings, got ${typeof hyps}`);
  hyps.forEach((h, i) => {
    if (typeof h !== 'string')
      throw new Error(`${metric}: hypothesis ${i} is ${h === null ? 'null' : typeof h}, expected a string`);
  });
  if (!Array.isArray(refs) || refs.length === 0 || !refs.every((r) => Array.isArray(r))) {
    throw new Error(
      `${metric}: references must be an array of reference streams (each an array of strings aligned with the ${hyps.length} hypotheses), e.g. [refs] for one reference per segment`,
    );
  }
  refs.forEach((stream, k) => {
    if (stream.length !== hyps.length)
      throw new Error(
        `${metric}: reference stream ${k} has ${stream.length} segments, but there are ${hyps.length} hypotheses`,
      );
    stream.forEach((r, i) => {
      if (r !== null && r !== undefined && typeof r !== 'string')
        throw new Error(
          `${metric}: reference ${k} of segment ${i} is ${typeof r}, expected a string (or null for none)`,
        );
    });
  });
}

/** References of each segment, without missing ones, and the signature's nrefs (a count or 'var'). */
function segmentRefs(refs: RefStreams, n: number): { perSegment: string[][]; nrefs: number | 'var' } {
  const perSegment: string[][] = [];
  const counts = new Set<number>();
  for (let i = 0; i < n; i++) {
    const lines = refs.map((s) => s[i]).filter((r): r is string => typeof r === 'string');
    counts.add(lines.length);
    perSegment.push(lines);
  }
  return { perSegment, nrefs: counts.size === 1 ? [...counts][0] : 'var' };
}

function signature(nrefs: number | 'var', fields: [string, string | number][]): string {
  return [`nrefs:${nrefs}`, ...fields.map(([k, v]) => `${k}:${v}`), `version:${SACREBLEU_VERSION}`].join('|');
}

// ---------------------------------------------------------------------------------------------
// BLEU

export type BleuSmoothing = 'exp' | 'floor' | 'add-k' | 'none';

const SMOOTH_DEFAULTS: Record<BleuSmoothing, number | null> = { none: null, floor: 0.1, 'add-k': 1, exp: null };

export interface BleuOptions {
  /** Lowercase hypotheses and references first (default false). */
  lowercase?: boolean;
  /** '13a' (default) or 'none' (text is already tokenized; split on whitespace). */
  tokenize?: '13a' | 'none';
  /** Default 'exp' (NIST, as mteval-v13a). */
  smoothMethod?: BleuSmoothing;
  /** For 'floor' (default 0.1) and 'add-k' (default 1). */
  smoothValue?: number;
  /** Highest n-gram order (default 4). */
  maxNgramOrder?: number;
  /** Average only over the orders the hypothesis has n-grams of (default false; true for sentence BLEU). */
  effectiveOrder?: boolean;
}

export interface BleuScore {
  /** BLEU in [0, 100]. */
  score: number;
  /** Matched n-grams per order (after add-k smoothing, as sacreBLEU reports them). */
  counts: number[];
  totals: number[];
  /** Per-order precisions in [0, 100]. */
  precisions: number[];
  /** Brevity penalty. */
  bp: number;
  sysLen: number;
  refLen: number;
  /** sacreBLEU's signature, e.g. `nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0`. */
  signature: string;
  /** sacreBLEU's one-line report: `BLEU = 32.15 60.1/38.2/26.0/18.1 (BP = 1.000 ratio = ...)`. */
  format(): string;
}

interface BleuConfig {
  lowercase: boolean;
  tokenize: '13a' | 'none';
  smoothMethod: BleuSmoothing;
  smoothValue: number | null;
  order: number;
  effectiveOrder: boolean;
}

function bleuConfig(metric: string, o: BleuOptions, effectiveDefault: boolean): BleuConfig {
  const smoothMethod = o.smoothMethod ?? 'exp';
  if (!(smoothMethod in SMOOTH_DEFAULTS))
    throw new Error(
      `${metric}: unknown smoothMethod '${String(smoothMethod)}'; expected 'exp', 'floor', 'add-k' or 'none'`,
    );
  const tokenize = o.tokenize ?? '13a';
  if (tokenize !== '13a' && tokenize !== 'none')
    throw new Error(`${metric}: unknown tokenize '${String(tokenize)}'; expected '13a' or 'none'`);
  const order = o.maxNgramOrder ?? 4;
  if (!Number.isInteger(order) || order < 1)
    throw new Error(`${metric}: maxNgramOrder must be a positive integer, got ${order}`);
  return {
    lowercase: o.lowercase ?? false,
    tokenize,
    smoothMethod,
    smoothValue: o.smoothValue ?? SMOOTH_DEFAULTS[smoothMethod],
    order,
    effectiveOrder: o.effectiveOrder ?? effectiveDefault,
  };
}

function bleuPreprocess(c: BleuConfig, sent: string): string {
  if (c.lowercase) sent = sent.toLowerCase();
  sent = sent.replace(PY_RSTRIP, '');
  return c.tokenize === '13a' ? tokenize13a(sent) : sent;
}

/** All word n-grams of orders 1..order (keys: tokens joined by a space; tokens have none) and the length. */
function wordNgrams(line: string, order: number): [Map<string, number>, number] {
  const tokens = pySplit(line);
  const counts = new Map<string, number>();
  for (let n = 1; n <= order; n++) {
    for (let i = 0; i + n <= tokens.length; i++) {
      const k = tokens.slice(i, i + n).join(' ');
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
  }
  return [counts, tokens.length];
}

/** Segment statistics [hypLen, refLen, correct x order, total x order]. */
function bleuSegmentStats(c: BleuConfig, hyp: string, refs: string[]): number[] {
  let refNgrams: Map<string, number> | undefined;
  const refLens: number[] = [];
  for (const ref of refs) {
    const [ngrams, len] = wordNgrams(bleuPreprocess(c, ref), c.order);
    refLens.push(len);
    if (!refNgrams) refNgrams = ngrams;
    else for (const [k, v] of ngrams) refNgrams.set(k, Math.max(refNgrams.get(k) ?? 0, v));
  }
  const [hypNgrams, hypLen] = wordNgrams(bleuPreprocess(c, hyp), c.order);
  // The closest reference length; ties go to the shorter reference.
  let closestDiff = -1;
  let refLen = -1;
  for (const len of refLens) {
    const diff = Math.abs(hypLen - len);
    if (closestDiff === -1 || diff < closestDiff) [closestDiff, refLen] = [diff, len];
    else if (diff === closestDiff && len < refLen) refLen = len;
  }
  const correct = new Array<number>(c.order).fill(0);
  const total = new Array<number>(c.order).fill(0);
  for (const [k, count] of hypNgrams) {
    const n = k.split(' ').length - 1;
    total[n] += count;
    const r = refNgrams?.get(k);
    if (r !== undefined) correct[n] += Math.min(count, r);
  }
  return [hypLen, refLen, ...correct, ...total];
}

function myLog(x: number): number {
  return x === 0 ? -9999999999 : Math.log(x);
}

function bleuFromStats(c: BleuConfig, stats: number[], nrefs: number | 'var'): BleuScore {
  const [sysLen, refLen] = stats;
  const correct = stats.slice(2, 2 + c.order);
  const total = stats.slice(2 + c.order);
  const bp = sysLen < refLen ? (sysLen > 0 ? Math.exp(1 - refLen / sysLen) : 0) : 1;
  const precisions = new Array<number>(c.order).fill(0);
  let score = 0;
  if (correct.some((x) => x !== 0)) {
    let smoothMteval = 1;
    let effOrder = c.order;
    for (let n = 1; n <= c.order; n++) {
      if (c.smoothMethod === 'add-k' && n > 1) {
        correct[n - 1] += c.smoothValue!;
        total[n - 1] += c.smoothValue!;
      }
      if (total[n - 1] === 0) break;
      if (c.effectiveOrder) effOrder = n;
      if (correct[n - 1] === 0) {
        if (c.smoothMethod === 'exp') {
          smoothMteval *= 2;
          precisions[n - 1] = 100 / (smoothMteval * total[n - 1]);
        } else if (c.smoothMethod === 'floor') {
          precisions[n - 1] = (100 * c.smoothValue!) / total[n - 1];
        }
      } else {
        precisions[n - 1] = (100 * correct[n - 1]) / total[n - 1];
      }
    }
    let logSum = 0;
    for (const p of precisions.slice(0, effOrder)) logSum += myLog(p);
    score = bp * Math.exp(logSum / effOrder);
  }
  const smoothDefault = SMOOTH_DEFAULTS[c.smoothMethod];
  const smooth =
    smoothDefault === null ? c.smoothMethod : `${c.smoothMethod}[${(c.smoothValue ?? smoothDefault).toFixed(2)}]`;
  const sig = signature(nrefs, [
    ['case', c.lowercase ? 'lc' : 'mixed'],
    ['eff', c.effectiveOrder ? 'yes' : 'no'],
    ['tok', c.tokenize],
    ['smooth', smooth],
  ]);
  return {
    score,
    counts: correct,
    totals: total,
    precisions,
    bp,
    sysLen,
    refLen,
    signature: sig,
    format() {
      const ratio = refLen ? sysLen / refLen : 0;
      return `BLEU = ${score.toFixed(2)} ${precisions.map((p) => p.toFixed(1)).join('/')} (BP = ${bp.toFixed(3)} ratio = ${ratio.toFixed(3)} hyp_len = ${sysLen} ref_len = ${refLen})`;
    },
  };
}

/**
 * Corpus BLEU as `sacrebleu.BLEU(**options).corpus_score(hyps, refs)`: `refs` is a list of
 * reference streams, each aligned with `hyps` (`[refs]` for one reference per segment; null
 * marks a missing reference).
 */
export function corpusBleu(hyps: readonly string[], refs: RefStreams, options: BleuOptions = {}): BleuScore {
  checkCorpus('corpusBleu', hyps, refs);
  const c = bleuConfig('corpusBleu', options, false);
  const { perSegment, nrefs } = segmentRefs(refs, hyps.length);
  const sums = new Array<number>(2 + 2 * c.order).fill(0);
  hyps.forEach((h, i) => bleuSegmentStats(c, h, perSegment[i]).forEach((v, k) => (sums[k] += v)));
  return bleuFromStats(c, sums, nrefs);
}

/** Sentence BLEU as `sacrebleu.BLEU(effective_order=True, **options).sentence_score(hyp, refs)`. */
export function sentenceBleu(hyp: string, refs: readonly string[], options: BleuOptions = {}): BleuScore {
  if (typeof hyp !== 'string') throw new Error(`sentenceBleu: the hypothesis must be a string, got ${typeof hyp}`);
  if (!Array.isArray(refs) || refs.length === 0 || !refs.every((r) => typeof r === 'string')) {
    throw new Error(
      `sentenceBleu: references must be a non-empty array of strings, got ${JSON.stringify(refs)?.slice(0, 80)}`,
    );
  }
  const c = bleuConfig('sentenceBleu', options, true);
  return bleuFromStats(c, bleuSegmentStats(c, hyp, [...refs]), refs.length);
}

// ---------------------------------------------------------------------------------------------
// chrF / chrF++

export interface ChrfOptions {
  /** Character n-gram order (default 6). */
  charOrder?: number;
  /** Word n-gram order: 0 for chrF (default), 2 for chrF++. */
  wordOrder?: number;
  /** Recall weight (default 2). */
  beta?: number;
  lowercase?: boolean;
  /** Keep whitespace inside character n-grams (default false). */
  whitespace?: boolean;
  /** chrF++.py/NLTK/Moses epsilon smoothing instead of sacreBLEU's effective order (default false). */
  epsSmoothing?: boolean;
}

export interface ChrfScore {
  /** chrF in [0, 100]. */
  score: number;
  /** 'chrF2' or 'chrF2++'. */
  name: string;
  /** e.g. `nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0`. */
  signature: string;
  format(): string;
}

interface ChrfConfig {
  charOrder: number;
  wordOrder: number;
  beta: number;
  lowercase: boolean;
  whitespace: boolean;
  epsSmoothing: boolean;
}

function chrfConfig(metric: string, o: ChrfOptions): ChrfConfig {
  const c = {
    charOrder: o.charOrder ?? 6,
    wordOrder: o.wordOrder ?? 0,
    beta: o.beta ?? 2,
    lowercase: o.lowercase ?? false,
    whitespace: o.whitespace ?? false,
    epsSmoothing: o.epsSmoothing ?? false,
  };
  if (
    !Number.isInteger(c.charOrder) ||
    c.charOrder < 0 ||
    !Number.isInteger(c.wordOrder) ||
    c.wordOrder < 0 ||
    c.charOrder + c.wordOrder === 0
  ) {
    throw new Error(
      `${metric}: charOrder and wordOrder must be non-negative integers, not both 0; got ${c.charOrder}, ${c.wordOrder}`,
    );
  }
  if (!(c.beta > 0)) throw new Error(`${metric}: beta must be positive, got ${c.beta}`);
  return c;
}

const PUNCTS = new Set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~');

/** chrF++'s word split: punctuation at the end (else start) of a word becomes its own token. */
function splitPunctuation(sent: string): string[] {
  const out: string[] = [];
  for (const w of pySplit(sent)) {
    const cps = Array.from(w);
    if (cps.length === 1) out.push(w);
    else if (PUNCTS.has(cps[cps.length - 1])) out.push(cps.slice(0, -1).join(''), cps[cps.length - 1]);
    else if (PUNCTS.has(cps[0])) out.push(cps[0], cps.slice(1).join(''));
    else out.push(w);
  }
  return out;
}

function countNgrams(items: string[], n: number, sep: string): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i + n <= items.length; i++) {
    const k = items.slice(i, i + n).join(sep);
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

/** Character n-gram counters (orders 1..charOrder, over code points) then word n-gram counters. */
function chrfNgrams(c: ChrfConfig, sent: string): Map<string, number>[] {
  const chars = Array.from(c.whitespace ? sent : pySplit(sent).join(''));
  const out: Map<string, number>[] = [];
  for (let n = 1; n <= c.charOrder; n++) out.push(countNgrams(chars, n, ''));
  if (c.wordOrder > 0) {
    const words = splitPunctuation(sent);
    for (let n = 1; n <= c.wordOrder; n++) out.push(countNgrams(words, n, ' '));
  }
  return out;
}

function chrfF(c: ChrfConfig, stats: number[]): number {
  const eps = 1e-16;
  const order = c.charOrder + c.wordOrder;
  const factor = c.beta ** 2;
  let score = 0;
  let effective = 0;
  let avgPrec = 0;
  let avgRec = 0;
  for (let i = 0; i < order; i++) {
    const [nHyp, nRef, nMatch] = stats.slice(3 * i, 3 * i + 3);
    const prec = nHyp > 0 ? nMatch / nHyp : eps;
    const rec = nRef > 0 ? nMatch / nRef : eps;
    const denom = factor * prec + rec;
    score += denom > 0 ? ((1 + factor) * prec * rec) / denom : eps;
    if (nHyp > 0 && nRef > 0) {
      avgPrec += prec;
      avgRec += rec;
      effective++;
    }
  }
  if (c.epsSmoothing) return (100 * score) / order;
  if (effective === 0) avgPrec = avgRec = 0;
  else {
    avgPrec /= effective;
    avgRec /= effective;
  }
  if (avgPrec + avgRec === 0) return 0;
  return (100 * ((1 + factor) * avgPrec * avgRec)) / (factor * avgPrec + avgRec);
}

/** The statistics [hyp, ref, match] per order against the reference with the best F score. */
function chrfSegmentStats(c: ChrfConfig, hyp: string, refs: string[]): number[] {
  const prep = (s: string) => (c.lowercase ? s.toLowerCase() : s);
  const hypNgrams = chrfNgrams(c, prep(hyp));
  let best: number[] = [];
  let bestF = -1;
  for (const ref of refs) {
    const refNgrams = chrfNgrams(c, prep(ref));
    const stats: number[] = [];
    hypNgrams.forEach((h, i) => {
      const r = refNgrams[i];
      let hypCount = 0;
      let match = 0;
      for (const [k, n] of h) {
        hypCount += n;
        const m = r.get(k);
        if (m !== undefined) match += Math.min(n, m);
      }
      let refCount = 0;
      for (const n of r.values()) refCount += n;
      // sacreBLEU counts no hypothesis n-grams of an order the reference lacks.
      stats.push(r.size > 0 ? hypCount : 0, refCount, match);
    });
    const f = chrfF(c, stats);
    if (f > bestF) [bestF, best] = [f, stats];
  }
  return best;
}

function chrfResult(c: ChrfConfig, stats: number[], nrefs: number | 'var'): ChrfScore {
  const score = chrfF(c, stats);
  const name = `chrF${c.beta}${'+'.repeat(c.wordOrder)}`;
  const sig = signature(nrefs, [
    ['case', c.lowercase ? 'lc' : 'mixed'],
    ['eff', c.epsSmoothing ? 'no' : 'yes'],
    ['nc', c.charOrder],
    ['nw', c.wordOrder],
    ['space', c.whitespace ? 'yes' : 'no'],
  ]);
  return { score, name, signature: sig, format: () => `${name} = ${score.toFixed(2)}` };
}

/** Corpus chrF as `sacrebleu.CHRF(**options).corpus_score(hyps, refs)`; `{wordOrder: 2}` is chrF++. */
export function corpusChrf(hyps: readonly string[], refs: RefStreams, options: ChrfOptions = {}): ChrfScore {
  checkCorpus('corpusChrf', hyps, refs);
  const c = chrfConfig('corpusChrf', options);
  const { perSegment, nrefs } = segmentRefs(refs, hyps.length);
  const sums = new Array<number>(3 * (c.charOrder + c.wordOrder)).fill(0);
  hyps.forEach((h, i) => chrfSegmentStats(c, h, perSegment[i]).forEach((v, k) => (sums[k] += v)));
  return chrfResult(c, sums, nrefs);
}

/** Sentence chrF as `sacrebleu.CHRF(**options).sentence_score(hyp, refs)`. */
export function sentenceChrf(hyp: string, refs: readonly string[], options: ChrfOptions = {}): ChrfScore {
  if (typeof hyp !== 'string') throw new Error(`sentenceChrf: the hypothesis must be a string, got ${typeof hyp}`);
  if (!Array.isArray(refs) || refs.length === 0 || !refs.every((r) => typeof r === 'string')) {
    throw new Error(`sentenceChrf: references must be a non-empty array of strings`);
  }
  const c = chrfConfig('sentenceChrf', options);
  return chrfResult(c, chrfSegmentStats(c, hyp, [...refs]), refs.length);
}
