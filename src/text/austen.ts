/**
 * Jane Austen's six novels as plain text, read from the R package janeaustenr (Debian
 * `r-cran-janeaustenr`) without R: its lazy-load data base holds one character vector of lines
 * per novel. Lines are hard-wrapped; `paragraphs` rejoins them (blank lines separate paragraphs).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type LocateOptions, locate } from '../data/loaders/locate.js';
import { readLazyLoadDB } from './rdata.js';

export interface AustenNovel {
  /** janeaustenr's object name: sensesensibility, prideprejudice, mansfieldpark, emma, northangerabbey, persuasion. */
  name: string;
  lines: string[];
  /** Lines joined with spaces between blank lines. */
  paragraphs: string[];
}

/** Consecutive non-blank lines joined by single spaces. */
export function joinParagraphs(lines: readonly string[]): string[] {
  const out: string[] = [];
  let current: string[] = [];
  for (const line of [...lines, '']) {
    const t = line.trim();
    if (t) current.push(t);
    else if (current.length) {
      out.push(current.join(' '));
      current = [];
    }
  }
  return out;
}

/** The six novels in janeaustenr's order of its data base. Finds `Rdata.rdx`/`Rdata.rdb` in `path`, the cache or R's library folders. */
export async function loadJaneAusten(options: Pick<LocateOptions, 'path'> = {}): Promise<AustenNovel[]> {
  const base = await locate(
    {
      title: 'Jane Austen novels (janeaustenr)',
      cacheName: 'janeaustenr',
      systemDirs: () =>
        ['/usr/lib/R/site-library', '/usr/local/lib/R/site-library', '/usr/lib/R/library'].map((d) =>
          join(d, 'janeaustenr', 'data'),
        ),
      findInDir: (dir) =>
        existsSync(join(dir, 'Rdata.rdx')) && existsSync(join(dir, 'Rdata.rdb')) ? join(dir, 'Rdata') : undefined,
      howToGet:
        'Install the Debian package: apt-get install r-cran-janeaustenr. Without R: apt-get download r-cran-janeaustenr, ' +
        'dpkg-deb -x r-cran-janeaustenr_*.deb pkg, and copy pkg/usr/lib/R/site-library/janeaustenr/data/Rdata.* into ~/.cache/lepton/janeaustenr/',
    },
    { ...options, download: false },
  );
  const novels: AustenNovel[] = [];
  for (const [name, value] of readLazyLoadDB(base)) {
    if (!Array.isArray(value) || value.some((l) => typeof l !== 'string'))
      throw new Error(`loadJaneAusten: ${base}.rdb holds '${name}' that is not a character vector`);
    const lines = value as string[];
    novels.push({ name, lines, paragraphs: joinParagraphs(lines) });
  }
  return novels;
}
