/**
 * Temporary folders for tests: `tempDir('lepton-x-')` creates one under the system temp folder and
 * removes it after the test file (test/helpers/setup.ts registers the cleanup for every file), so a
 * test run leaves nothing behind. test/helpers/global-setup.ts checks that it does.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const created = new Set<string>();

/** A new empty folder `<tmp>/<prefix>XXXXXX`, deleted after the current test file. */
export function tempDir(prefix = 'lepton-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  created.add(dir);
  return dir;
}

/** Removes every folder made by tempDir so far (called after each test file). */
export function removeTempDirs(): void {
  for (const dir of created) rmSync(dir, { recursive: true, force: true });
  created.clear();
}
