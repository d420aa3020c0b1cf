/**
 * What the benchmarks need from outside the repository: the PyTorch peer (Debian's python3-torch,
 * run with /usr/bin/python3) and the shared folder beside the repository (../shared, with the
 * hand-built reference graphs). Both checks say what is missing and how to get it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PYTHON = '/usr/bin/python3';

/** The repository's root (bench/..). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Why the PyTorch peer cannot run (with how to install it), or undefined when it can. */
export function torchMissing(): string | undefined {
  const install = "the PyTorch columns need Debian's python3-torch: apt-get install -y python3-torch";
  if (!existsSync(PYTHON)) return `${PYTHON} not found; ${install}`;
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `${PYTHON} cannot import torch; ${install}`;
}

/** Prints why the PyTorch peer is skipped, before the bench runs (the tables then show n/a). */
export function warnTorchMissing(reason: string): void {
  console.log(`PyTorch peer skipped: ${reason}\n`);
}

/** A file in the shared folder beside the repository (../shared/...); throws saying where it was looked for. */
export function sharedFile(...parts: string[]): string {
  const path = join(REPO_ROOT, '..', 'shared', ...parts);
  if (!existsSync(path)) {
    throw new Error(
      `${join('shared', ...parts)} not found at ${path}: the benchmarks read it from the shared folder beside the repository (${resolve(REPO_ROOT, '..', 'shared')}); link or copy the shared folder there`,
    );
  }
  return path;
}
