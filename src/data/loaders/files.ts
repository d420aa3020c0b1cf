/** Reading dataset files that may be gzip-compressed (.gz or not, told apart by the magic bytes). */
import { readFile } from 'node:fs/promises';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';

const gunzipAsync = promisify(gunzip);

/** Whether bytes start with the gzip magic number. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** A file's bytes, gunzipped when gzipped (decompression runs off the main thread). */
export async function readMaybeGzipped(path: string): Promise<Uint8Array> {
  const bytes: Uint8Array = await readFile(path);
  return isGzip(bytes) ? gunzipAsync(bytes) : bytes;
}
