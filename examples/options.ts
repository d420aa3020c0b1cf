/** The examples' command-line options: `--name value` pairs (a name given twice: the first wins). */

/** The value after `--name`, or undefined when the option is absent. */
export function option(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : undefined;
}

export function stringOption(name: string, fallback: string): string {
  return option(name) ?? fallback;
}

export function numberOption(name: string, fallback: number): number {
  const text = option(name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`--${name} expects a number, got '${text}'`);
  return value;
}
