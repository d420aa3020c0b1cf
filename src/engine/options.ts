/**
 * Run-time checking of option objects: a key the callee does not know is an error naming the
 * call and the closest known key ("fit: unknown option 'epoch' — did you mean 'epochs'?"), so a
 * typo cannot silently fall back to a default. TypeScript's excess-property check catches the
 * same mistake at compile time for object literals; this catches it for JavaScript callers and
 * for objects built elsewhere.
 */
import { distance } from 'fastest-levenshtein';

/**
 * The known name closest to `name` (case-insensitive: `learningrate` is close to `learningRate`),
 * if it is close enough to be a plausible typo: at most a third of the longer word differs
 * (typos, plurals, camel/snake case slips).
 */
export function closestName(name: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = distance(name.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  if (best === undefined) return undefined;
  return bestDistance <= Math.max(1, Math.floor(Math.max(name.length, best.length) / 3)) ? best : undefined;
}

/**
 * Throws if `options` has a key outside `known`. `who` names the call ('fit', 'compile').
 * Keys whose value is undefined are ignored (spreading defaults often leaves them).
 */
export function checkOptions(who: string, options: object | undefined | null, known: readonly string[]): void {
  if (options === undefined || options === null) return;
  if (typeof options !== 'object' || Array.isArray(options))
    throw new Error(`${who}: options must be an object, got ${Array.isArray(options) ? 'an array' : typeof options}`);
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || known.includes(key)) continue;
    const best = closestName(key, known);
    throw new Error(
      `${who}: unknown option '${key}'${best ? ` — did you mean '${best}'?` : ''} (options: ${known.join(', ')})`,
    );
  }
}

/**
 * Like `checkOptions` for configs whose full key set is not at hand: with `onlyNear`, only keys
 * that are a plausible typo of one of those names are reported (layer configs pass through keys
 * their base class knows).
 */
export function checkOptionKeys(
  where: string,
  options: object,
  known: Iterable<string>,
  onlyNear?: readonly string[],
): void {
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
