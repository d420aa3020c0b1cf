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

/** One step of an alignment of a hypothesis to a reference. */
export type EditOperation =
  | { op: 'match' | 'substitution'; ref: number; hyp: number }
  | { op: 'deletion'; ref: number }
  | { op: 'insertion'; hyp: number };

/**
 * A minimal-edit alignment turning `ref` into `hyp` (Levenshtein with a backtrace; ties prefer a
 * match or substitution, then a deletion), in reference order.
 */
export function editAlignment<T>(ref: readonly T[], hyp: readonly T[]): EditOperation[] {
  const n = ref.length;
  const m = hyp.length;
  // cost[i][j] of ref[0, i) → hyp[0, j), and which move reached the cell (0 diagonal, 1 deletion, 2 insertion).
  const cost = Array.from({ length: n + 1 }, () => new Int32Array(m + 1));
  const move = Array.from({ length: n + 1 }, () => new Uint8Array(m + 1));
  for (let j = 1; j <= m; j++) [cost[0]![j], move[0]![j]] = [j, 2];
  for (let i = 1; i <= n; i++) {
    [cost[i]![0], move[i]![0]] = [i, 1];
    for (let j = 1; j <= m; j++) {
      const diag = cost[i - 1]![j - 1]! + (ref[i - 1] === hyp[j - 1] ? 0 : 1);
      const del = cost[i - 1]![j]! + 1;
      const ins = cost[i]![j - 1]! + 1;
      [cost[i]![j], move[i]![j]] = diag <= del && diag <= ins ? [diag, 0] : del <= ins ? [del, 1] : [ins, 2];
    }
  }
  const ops: EditOperation[] = [];
  for (let i = n, j = m; i > 0 || j > 0; ) {
    const mv = move[i]![j]!;
    if (mv === 0) {
      i--;
      j--;
      ops.push({ op: ref[i] === hyp[j] ? 'match' : 'substitution', ref: i, hyp: j });
    } else if (mv === 1) ops.push({ op: 'deletion', ref: --i });
    else ops.push({ op: 'insertion', hyp: --j });
  }
  return ops.reverse();
}

/** Minimal edit operations turning `ref` into `hyp`, counted by kind (ties prefer substitutions). */
export function editCounts<T>(ref: readonly T[], hyp: readonly T[]): EditCounts {
  const counts: EditCounts = { substitutions: 0, deletions: 0, insertions: 0, reference: ref.length };
  for (const { op } of editAlignment(ref, hyp))
    if (op === 'substitution') counts.substitutions++;
    else if (op === 'deletion') counts.deletions++;
    else if (op === 'insertion') counts.insertions++;
  return counts;
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
