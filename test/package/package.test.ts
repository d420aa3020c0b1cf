/**
 * The package as a user gets it: builds it (`npm run build`), then, in a throwaway project that
 * depends on it through `node_modules/lepton`, type-checks a strict user program and the docs'
 * code blocks against the built `.d.ts` (skipLibCheck false, moduleResolution node16 and bundler),
 * checks the API reports, and runs the docs' runnable blocks (scripts/check-docs.ts).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ROOT,
  buildPackage,
  extractCodeBlocks,
  makeConsumer,
  run,
  runFile,
  typeCheck,
  typescriptBlocks,
} from '../../scripts/check-docs.js';

const blocks = typescriptBlocks();
let dir = '';
let packageParent = '';
let packageDir = '';

beforeAll(async () => {
  // Built in a temp folder, not in ./dist: bin/lepton.js (and the CLI tests) run ./dist when it exists.
  packageParent = mkdtempSync(join(tmpdir(), 'lepton-package-'));
  packageDir = await buildPackage(packageParent);
  const usage = readFileSync(join(ROOT, 'test/package/consumer/usage.ts'), 'utf8');
  dir = makeConsumer({ 'usage.ts': usage, ...Object.fromEntries(blocks.map((b) => [b.name, b.code])) }, packageDir);
}, 420_000);

afterAll(() => {
  for (const d of [dir, packageParent]) if (d) rmSync(d, { recursive: true, force: true });
});

// The three checks read the same build and are independent: run them side by side.
describe.concurrent('the built package in a strict consumer project', () => {
  for (const resolution of ['node16', 'bundler'] as const) {
    it(`type-checks the user program and the docs' TypeScript (moduleResolution ${resolution}, skipLibCheck false)`, async () => {
      const r = await typeCheck(dir, resolution);
      // Unused @ts-expect-error lines are errors too: each expectation must still fail to compile.
      expect(r.output.trim()).toBe('');
      expect(r.code).toBe(0);
    }, 300_000);
  }

  it('matches the committed API reports (npm run api:update after an intended change)', async () => {
    const r = await run(
      process.execPath,
      [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), 'scripts/api-report.ts', '--package', packageDir],
      { cwd: ROOT, timeoutMs: 300_000 },
    );
    expect(r.output).toContain('API reports match the built surface');
    expect(r.code).toBe(0);
  }, 300_000);
});

describe('every code block in the README and docs', () => {
  it('has a language, and shell blocks are marked no-run', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    expect(() => extractCodeBlocks('```\nnpm test\n```\n', 'x.md')).toThrow(/x\.md:1: code block needs a language/);
    expect(() => extractCodeBlocks('```sh\nnpm test\n```\n', 'x.md')).toThrow(/mark it 'sh no-run'/);
  });

  for (const b of blocks.filter((block) => block.run)) {
    it(`${b.file}:${b.line} runs`, async () => {
      const r = await runFile(dir, b.name);
      expect(r.code, r.output).toBe(0);
    }, 180_000);
  }
});
