import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/engine/files.js';
import { tempDir } from '../helpers/temp.js';

const dir = tempDir('lepton-files-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('writeFileAtomic', () => {
  it('replaces the content and leaves no temporary file', async () => {
    const path = join(dir, 'a.bin');
    writeFileSync(path, 'old');
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect([...readFileSync(path)]).toEqual([1, 2, 3]);
    expect(readdirSync(dir)).toEqual(['a.bin']);
  });

  it('a failed write keeps the previous file and cleans up', async () => {
    const path = join(dir, 'b.txt');
    writeFileSync(path, 'previous');
    // A string that cannot be written: the data argument is invalid for fs.
    await expect(writeFileAtomic(path, 42 as unknown as string)).rejects.toThrow();
    expect(readFileSync(path, 'utf8')).toBe('previous');
    expect(readdirSync(dir).filter((f) => f.startsWith('b.txt'))).toEqual(['b.txt']);
  });
});
