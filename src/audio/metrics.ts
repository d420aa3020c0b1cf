/**
 * Speech-recognition error rates: word error rate and character error rate, as the Levenshtein
 * distance (substitutions + deletions + insertions) summed over a corpus and divided by the number
 * of reference words/characters (jiwer's and Kaldi's compute-wer convention: corpus totals, not
 * the mean of per-utterance rates).
 */

export interface EditCounts {
  substitutions: number;
  deletions: number;
  insertions: number;
  /** Reference length. */
  reference: number;
}

/** Minimal edit operations turning `ref` into `hyp`, counted by kind (ties prefer substitutions). */
export function editCounts<T>(ref: readonly T[], hyp: readonly T[]): EditCounts {
  const n = ref.length;
  const m = hyp.length;
  // cost[j] and ops per cell for the previous and current rows: [total, subs, dels, ins].
  let prev: [number, number, number, number][] = Array.from({ length: m + 1 }, (_, j) => [j, 0, 0, j]);
  for (let i = 1; i <= n; i++) {
    const cur: [number, number, number, number][] = [[i, 0, i, 0]];
    for (let j = 1; j <= m; j++) {
      const same = ref[i - 1] === hyp[j - 1];
      const d = prev[j - 1]!;
      const diag: [number, number, number, number] = [d[0] + (same ? 0 : 1), d[1] + (same ? 0 : 1), d[2], d[3]];
      const u = prev[j]!;
      const del: [number, number, number, number] = [u[0] + 1, u[1], u[2] + 1, u[3]];
      const l = cur[j - 1]!;
      const ins: [number, number, number, number] = [l[0] + 1, l[1], l[2], l[3] + 1];
      cur.push(diag[0] <= del[0] && diag[0] <= ins[0] ? diag : del[0] <= ins[0] ? del : ins);
    }
    prev = cur;
  }
  const [, substitutions, deletions, insertions] = prev[m]!;
  return { substitutions, deletions, insertions, reference: n };
}

export interface ErrorRateOptions {
  /** Applied to every reference and hypothesis first (default: lower-case, collapse whitespace). */
  normalize?: (text: string) => string;
}

const defaultNormalize = (s: string): string => s.toLowerCase().replace(/\s+/g, ' ').trim();

function corpusRate(
  name: string,
  refs: string | readonly string[],
  hyps: string | readonly string[],
  split: (s: string) => string[],
  options: ErrorRateOptions,
): number {
  const r = typeof refs === 'string' ? [refs] : refs;
  const h = typeof hyps === 'string' ? [hyps] : hyps;
  if (r.length !== h.length) throw new Error(`${name}: ${r.length} references but ${h.length} hypotheses`);
  const norm = options.normalize ?? defaultNormalize;
  let errors = 0;
  let total = 0;
  r.forEach((ref, i) => {
    const c = editCounts(split(norm(ref)), split(norm(h[i]!)));
    errors += c.substitutions + c.deletions + c.insertions;
    total += c.reference;
  });
  if (total === 0) throw new Error(`${name}: the references are empty, so the rate is undefined`);
  return errors / total;
}

/** Word error rate over a corpus: total word edits / total reference words. */
export function wordErrorRate(
  refs: string | readonly string[],
  hyps: string | readonly string[],
  options: ErrorRateOptions = {},
): number {
  return corpusRate('wordErrorRate', refs, hyps, (s) => (s === '' ? [] : s.split(' ')), options);
}

/** Character error rate over a corpus: total character edits / total reference characters (spaces count, as in jiwer). */
export function charErrorRate(
  refs: string | readonly string[],
  hyps: string | readonly string[],
  options: ErrorRateOptions = {},
): number {
  return corpusRate('charErrorRate', refs, hyps, (s) => Array.from(s), options);
}
