/**
 * Unknown-option errors with a suggestion: `Dense: unknown option 'unit' — did you mean 'units'?`.
 * Options objects are where typos hide (a misspelt key is silently ignored by JS), so APIs that
 * take them check the keys against the ones they know.
 */

/** Levenshtein distance between a and b (case-insensitive: `learningrate` is close to `learningRate`). */
function editDistance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** The known name closest to `name`, if it is close enough to be a plausible typo. */
export function closestName(name: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  // A third of the name's length (at least 1, at most 3) covers typos, snake_case and plural slips.
  return bestDistance <= Math.min(3, Math.max(1, Math.floor(name.length / 3))) ? best : undefined;
}

/**
 * Throws for the first key of `options` not in `known`, naming `where` and the closest known key.
 * With `onlyNear`, only keys that are a plausible typo of one of those names are reported (for
 * when the full set of known keys is not at hand).
 */
export function checkOptionKeys(where: string, options: object, known: Iterable<string>, onlyNear?: readonly string[]): void {
  const knownSet = new Set(known);
  for (const key of Object.keys(options)) {
    if (knownSet.has(key)) continue;
    if (onlyNear && closestName(key, onlyNear) === undefined) continue;
    const suggestion = closestName(key, onlyNear ?? knownSet);
    throw new Error(
      `${where}: unknown option '${key}'` +
        (suggestion ? ` — did you mean '${suggestion}'?` : ` (known: ${[...knownSet].sort().join(', ')})`),
    );
  }
}
