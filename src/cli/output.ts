/** CLI output helpers: user-facing errors, aligned tables, JSON. */
import { formatSeconds } from '../train/progress.js';

/** An error the user can fix: printed as `lepton: <message>` without a stack, exit code 2 by default. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printTable(rows: (string | number | null | undefined)[][]): void {
  if (rows.length === 0) return;
  const cells = rows.map((r) =>
    r.map((c) => (c === null || c === undefined ? '-' : typeof c === 'number' ? formatNumber(c) : c)),
  );
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  cells.forEach((r, k) => {
    process.stdout.write(
      `${r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd()}\n`,
    );
    if (k === 0) process.stdout.write(`${widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
  });
}

export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(3) : v.toPrecision(4);
}

/** A run's duration, '-' when it has none (still running or never finished). */
export function formatDuration(seconds: number | null | undefined): string {
  return seconds === null || seconds === undefined ? '-' : formatSeconds(seconds);
}
