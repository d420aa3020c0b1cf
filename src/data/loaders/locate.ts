/**
 * Finding a dataset's files, in one order for every loader: an explicit path → the user cache
 * (`~/.cache/lepton/<name>`, or `$LEPTON_DATA/<name>`) → known system locations → a download
 * into the cache (checksum verified, progress shown) → an error that says how to get the data.
 */
import { DataNotFoundError } from '../../engine/errors.js';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { basename, join } from 'node:path';

/** Where downloaded and user-provided datasets live: `$LEPTON_DATA`, else `~/.cache/lepton`. */
export function dataHome(): string {
  const fromEnv = process.env.LEPTON_DATA;
  return fromEnv && fromEnv.length > 0 ? fromEnv : join(homedir(), '.cache', 'lepton');
}

export interface RemoteFile {
  /** File name inside the dataset's cache folder. */
  name: string;
  url: string;
  md5?: string;
  sha256?: string;
}

export type ProgressCallback = (file: string, receivedBytes: number, totalBytes: number | undefined) => void;

/** Options every loader accepts. */
export interface LocateOptions {
  /** A folder (or, where the format has one, an archive file) holding the data. When given, only
   *  this place is used. */
  path?: string;
  /** Allow downloading into the cache when nothing is found locally (default true unless
   *  `LEPTON_OFFLINE=1`). */
  download?: boolean;
  /** A base URL replacing the canonical download location (file names are appended). */
  mirror?: string;
  /** Download progress; the default prints to stderr. Pass `() => {}` for silence. */
  onProgress?: ProgressCallback;
}

export interface DataSpec<R> {
  /** Human name used in messages, e.g. "Fashion-MNIST". */
  title: string;
  /** Folder name under the data home, e.g. "fashion-mnist". */
  cacheName: string;
  /** System folders that may hold the data (checked in order). */
  systemDirs?: () => string[];
  /** Looks for the data in a folder; returns undefined when it is not (completely) there. */
  findInDir: (dir: string) => R | undefined;
  /** Accepts an explicit file path (e.g. an archive), when the format has such a form. */
  findFile?: (file: string) => R | undefined;
  /** What to fetch into the cache folder when nothing is found. */
  downloads?: RemoteFile[];
  /** Exact instructions for getting the data by hand. */
  howToGet: string;
}

export { DataNotFoundError };

export async function locate<R>(spec: DataSpec<R>, options: LocateOptions = {}): Promise<R> {
  const cacheDir = join(dataHome(), spec.cacheName);
  if (options.path !== undefined) {
    const p = options.path;
    const found = !existsSync(p) ? undefined : statSync(p).isDirectory() ? spec.findInDir(p) : spec.findFile?.(p);
    if (found !== undefined) return found;
    const what = !existsSync(p)
      ? 'does not exist'
      : statSync(p).isDirectory()
        ? 'does not contain the expected files'
        : 'is not a file this loader reads';
    throw new DataNotFoundError(
      `${spec.title}: the path ${p} ${what}.\n${spec.howToGet}\n(or omit the path to use ${cacheDir})`,
    );
  }
  const tried: string[] = [];
  for (const dir of [cacheDir, ...(spec.systemDirs?.() ?? [])]) {
    tried.push(dir);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) continue;
    const found = spec.findInDir(dir);
    if (found !== undefined) return found;
  }
  let downloadNote = 'no download source is known';
  const allowDownload = options.download ?? process.env.LEPTON_OFFLINE !== '1';
  if (spec.downloads && spec.downloads.length > 0) {
    if (!allowDownload) downloadNote = 'downloading is switched off (download: false or LEPTON_OFFLINE=1)';
    else {
      try {
        mkdirSync(cacheDir, { recursive: true });
        for (const file of spec.downloads) {
          const url = options.mirror ? options.mirror.replace(/\/?$/, '/') + basename(file.name) : file.url;
          await downloadFile({ ...file, url }, join(cacheDir, file.name), options.onProgress ?? defaultProgress);
        }
        const found = spec.findInDir(cacheDir);
        if (found !== undefined) return found;
        downloadNote = `downloaded into ${cacheDir} but the files are not what the loader expects`;
      } catch (error) {
        downloadNote = `download failed: ${(error as Error).message}`;
      }
    }
  }
  throw new DataNotFoundError(
    `${spec.title} was not found. Looked in: ${tried.join(', ')}; ${downloadNote}.\n${spec.howToGet}`,
  );
}

/**
 * Downloads `file.url` to `dest` (via a `.part` file renamed once the checksum matched). A file
 * already at `dest` with the right checksum is kept.
 */
export async function downloadFile(
  file: RemoteFile,
  dest: string,
  onProgress: ProgressCallback = defaultProgress,
): Promise<void> {
  const algorithm = file.sha256 ? 'sha256' : file.md5 ? 'md5' : undefined;
  const expected = (file.sha256 ?? file.md5)?.toLowerCase();
  if (existsSync(dest) && (!algorithm || (await hashFile(dest, algorithm)) === expected)) return;
  const response = await fetch(file.url);
  if (!response.ok || !response.body) throw new Error(`HTTP ${response.status} ${response.statusText} for ${file.url}`);
  const total = Number(response.headers.get('content-length')) || undefined;
  const part = `${dest}.${process.pid}.part`; // per process, so concurrent downloads do not mix
  const hash = algorithm ? createHash(algorithm) : undefined;
  let received = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash?.update(chunk);
      received += chunk.length;
      onProgress(file.name, received, total);
      done(null, chunk);
    },
  });
  try {
    await pipeline(
      Readable.fromWeb(response.body as import('node:stream/web').ReadableStream),
      meter,
      createWriteStream(part),
    );
    const actual = hash?.digest('hex');
    if (hash && actual !== expected) {
      throw new Error(`checksum mismatch for ${file.url}: expected ${algorithm} ${expected}, got ${actual}`);
    }
    renameSync(part, dest);
  } catch (error) {
    rmSync(part, { force: true });
    throw error;
  }
}

async function hashFile(path: string, algorithm: string): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

let lastReport = 0;
function defaultProgress(file: string, received: number, total: number | undefined): void {
  const now = Date.now();
  const done = total !== undefined && received >= total;
  if (!done && now - lastReport < (process.stderr.isTTY ? 500 : 10_000)) return;
  lastReport = now;
  const mb = (n: number): string => (n / 1e6).toFixed(1);
  const pct = total ? ` ${Math.floor((100 * received) / total)}%` : '';
  const line = `Downloading ${file}:${pct} ${mb(received)}${total ? `/${mb(total)}` : ''} MB`;
  if (process.stderr.isTTY) process.stderr.write(`\r${line}${done ? '\n' : ''}`);
  else process.stderr.write(`${line}\n`);
}

/** The first of `names` that exists in `dir`, as a full path. */
export function firstExisting(dir: string, names: readonly string[]): string | undefined {
  for (const name of names) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}
