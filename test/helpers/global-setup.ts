/**
 * vitest globalSetup: the whole run gets a private temp folder (TMPDIR, inherited by test workers
 * and the processes they spawn), and teardown fails the run if tests left anything in it — a
 * test that creates files must remove them (use test/helpers/temp.ts). The folder is removed
 * either way, so even a failing run leaves nothing in the system temp folder.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Entries libraries create in TMPDIR by themselves (not the tests' files): ignored by the check,
// removed with the folder. libonnxruntime.so writes an empty mat-debug-<pid>.log and a .ses file.
const FOREIGN = [
  /^mat-debug-\d+\.log$/,
  /^\.ses$/,
  /^tsx-\d+/,
  /^node-compile-cache/,
  /^\.org\.chromium\./,
  /^playwright/,
];

export default function setup(): () => void {
  // vitest runs globalSetup once per project (default and no-nchwc): one folder for the run, or
  // the paths nest until Chromium's socket path is too long.
  if (process.env.LEPTON_TEST_TMPDIR) return () => {};
  const previous = process.env.TMPDIR;
  const root = mkdtempSync(join(tmpdir(), 'lepton-testrun-'));
  process.env.TMPDIR = root;
  process.env.LEPTON_TEST_TMPDIR = root;
  return () => {
    delete process.env.LEPTON_TEST_TMPDIR;
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    const left = readdirSync(root).filter((name) => !FOREIGN.some((re) => re.test(name)));
    rmSync(root, { recursive: true, force: true });
    if (left.length) {
      // vitest reports an error thrown here but still exits 0: set the exit code as well.
      process.exitCode = 1;
      throw new Error(
        `tests left ${left.length} entr${left.length === 1 ? 'y' : 'ies'} in the temp folder (removed now): ${left.sort().join(', ')}. Create temp folders with tempDir() from test/helpers/temp.ts.`,
      );
    }
  };
}
