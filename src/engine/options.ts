/**
 * Run-time checking of option objects: a key the callee does not know is an error naming the
 * call and the closest known key ("fit: unknown option 'epoch' — did you mean 'epochs'?"), so a
 * typo cannot silently fall back to a default. TypeScript's excess-property check catches the
 * same mistake at compile time for object literals; this catches it for JavaScript callers and
 * for objects built elsewhere.
 */
import { closest, distance } from 'fastest-levenshtein';

/**
 * Throws if `options` has a key outside `known`. `who` names the call ('fit', 'compile').
 * Keys whose value is undefined are ignored (spreading defaults often leaves them).
 */
export function checkOptions(who: string, options: object | undefined | null, known: readonly string[]): void {
  if (options === undefined || options === null) return;
  if (typeof options !== 'object' || Array.isArray(options)) throw new Error(`${who}: options must be an object, got ${Array.isArray(options) ? 'an array' : typeof options}`);
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || known.includes(key)) continue;
    throw new Error(`${who}: unknown option '${key}'${suggestion(key, known)} (options: ${known.join(', ')})`);
  }
}

/** " — did you mean 'x'?" when a known key is close enough to be the intended one, else ''. */
function suggestion(key: string, known: readonly string[]): string {
  if (known.length === 0) return '';
  const best = closest(key, known as string[]);
  // Close: at most a third of the longer word differs (typos, plurals, camel/snake case slips).
  const d = distance(key.toLowerCase(), best.toLowerCase());
  return d <= Math.max(1, Math.floor(Math.max(key.length, best.length) / 3)) ? ` — did you mean '${best}'?` : '';
}
