/**
 * A minimal reader for tar archives (POSIX ustar, with GNU long names and pax `path` records),
 * enough to read dataset archives without extracting them. Entries are views into the bytes.
 */
import { readMaybeGzipped } from './files.js';

const BLOCK = 512;

export interface TarEntry {
  /** Path inside the archive, without a leading "./". */
  name: string;
  type: 'file' | 'directory' | 'other';
  data: Uint8Array;
}

/** Parses an (uncompressed) tar archive. */
export function parseTar(bytes: Uint8Array, source = 'tar archive'): TarEntry[] {
  const entries: TarEntry[] = [];
  let offset = 0;
  let longName: string | undefined;
  let paxPath: string | undefined;
  while (offset + BLOCK <= bytes.length) {
    const header = bytes.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break; // end-of-archive marker
    checkChecksum(header, source, offset);
    const size = readSize(header.subarray(124, 136));
    const typeflag = String.fromCharCode(header[156] || 0x30);
    const dataStart = offset + BLOCK;
    if (dataStart + size > bytes.length)
      throw new Error(`parseTar: ${source} is truncated (entry at byte ${offset} needs ${size} bytes)`);
    const data = bytes.subarray(dataStart, dataStart + size);
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (typeflag === 'L') {
      longName = cString(data);
      continue;
    }
    if (typeflag === 'x') {
      paxPath = parsePax(data).path ?? paxPath;
      continue;
    }
    if (typeflag === 'g') continue;
    const isUstar = cString(header.subarray(257, 262)) === 'ustar';
    const prefix = isUstar ? cString(header.subarray(345, 500)) : '';
    const baseName = cString(header.subarray(0, 100));
    let name = paxPath ?? longName ?? (prefix ? `${prefix}/${baseName}` : baseName);
    longName = paxPath = undefined;
    name = name.replace(/^\.\//, '');
    const type = typeflag === '0' || typeflag === '7' ? 'file' : typeflag === '5' ? 'directory' : 'other';
    entries.push({ name, type, data });
  }
  return entries;
}

/** Reads a .tar, .tar.gz or .tgz file (decompressing off the main thread). */
export async function readTar(path: string): Promise<TarEntry[]> {
  const bytes = await readMaybeGzipped(path);
  return parseTar(bytes, path);
}

function cString(b: Uint8Array): string {
  const end = b.indexOf(0);
  return new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
}

function readSize(field: Uint8Array): number {
  if (field[0] & 0x80) {
    // GNU base-256 encoding for sizes of 8 GiB and more
    let v = field[0] & 0x7f;
    for (let i = 1; i < field.length; i++) v = v * 256 + field[i];
    return v;
  }
  const text = cString(field).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function checkChecksum(header: Uint8Array, source: string, offset: number): void {
  const stored = parseInt(cString(header.subarray(148, 156)).trim(), 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
  if (stored !== sum)
    throw new Error(
      `parseTar: ${source} is not a tar archive or is corrupt (header checksum mismatch at byte ${offset})`,
    );
}

function parsePax(data: Uint8Array): Record<string, string> {
  // records are "<length in bytes> <key>=<value>\n"
  const out: Record<string, string> = {};
  const decoder = new TextDecoder();
  let i = 0;
  while (i < data.length) {
    const space = data.indexOf(0x20, i);
    if (space < 0) break;
    const len = parseInt(decoder.decode(data.subarray(i, space)), 10);
    if (!(len > 0)) break;
    const record = decoder.decode(data.subarray(space + 1, i + len - 1));
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    i += len;
  }
  return out;
}
