/**
 * Every code block in the README and docs runs in CI. This module extracts the fenced blocks of
 * README.md and docs/*.md, writes the TypeScript ones into a throwaway consumer project that
 * depends on the built package (`node_modules/lepton` → this repository, so `import … from
 * 'lepton'` resolves through package.json `exports` to `dist/`), type-checks them strictly
 * against the built `.d.ts` (skipLibCheck false), and runs them with tsx.
 *
 * Block markers (after the language in the opening fence):
 *   ```ts            type-checked and run
 *   ```ts no-run     type-checked only (e.g. trains on all of Fashion-MNIST for minutes)
 *   ```sh no-run     shell commands, not run here (benchmarks); every sh block must say no-run
 *   ```text          not code (trees, output)
 * A fence without a language is an error, so every block is a decision.
 *
 * Usage: `npm run docs:check` (builds first). test/package/package.test.ts does the same in `npm test`.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

export interface CodeBlock {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  flags: string[];
  code: string;
}

const LANGUAGES = new Set(['ts', 'typescript', 'sh', 'bash', 'text', 'json']);

/** The fenced blocks of a Markdown text; throws for a fence without a known language. */
export function extractCodeBlocks(markdown: string, file: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(.*)$/.exec(lines[i]);
    if (!open) continue;
    const [lang = '', ...flags] = open[1].trim().split(/\s+/).filter(Boolean);
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i].startsWith('```'); i++) body.push(lines[i]);
    if (i >= lines.length) throw new Error(`${file}:${start + 1}: code block is not closed`);
    if (!LANGUAGES.has(lang)) {
      throw new Error(
        `${file}:${start + 1}: code block needs a language (${[...LANGUAGES].join(', ')}) and, if it must not run, 'no-run'`,
      );
    }
    if ((lang === 'sh' || lang === 'bash') && !flags.includes('no-run')) {
      throw new Error(`${file}:${start + 1}: shell blocks are not run by the docs check: mark it '${lang} no-run'`);
    }
    blocks.push({ file, line: start + 1, lang, flags, code: body.join('\n') + '\n' });
  }
  return blocks;
}

/** README.md and every docs/*.md of the repository. */
export function docFiles(root = ROOT): string[] {
  const docs = readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => join('docs', f));
  return ['README.md', ...docs];
}

/** The TypeScript blocks of the docs, each with a file name for the consumer project. */
export function typescriptBlocks(root = ROOT): (CodeBlock & { name: string; run: boolean })[] {
  return docFiles(root).flatMap((file) =>
    extractCodeBlocks(readFileSync(join(root, file), 'utf8'), file)
      .filter((b) => b.lang === 'ts' || b.lang === 'typescript')
      .map((b) => ({
        ...b,
        name: `doc-${file.replace(/[^A-Za-z0-9]+/g, '-')}-${b.line}.ts`,
        run: !b.flags.includes('no-run'),
      })),
  );
}

/**
 * Builds the package into `<parent>/lepton` as npm would install it: package.json, `dist/` compiled
 * from the sources, and `node_modules` (linked to ours, for its dependencies). The repository's
 * own `dist/` is left alone — `bin/lepton.js` runs it when present, so other tests must not see a
 * half-written one. Returns the package folder.
 */
export async function buildPackage(parent: string): Promise<string> {
  const pkg = join(parent, 'lepton');
  mkdirSync(pkg, { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'), 'dir');
  const tsc = await run(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', join(pkg, 'dist')],
    { cwd: ROOT, timeoutMs: 400_000 },
  );
  if (tsc.code !== 0) throw new Error(`building the package failed:\n${tsc.output}`);
  cpSync(join(ROOT, 'src/studio/public'), join(pkg, 'dist/studio/public'), { recursive: true });
  return pkg;
}

/**
 * A consumer project in a fresh temp folder: package.json (ESM), `node_modules/lepton` linking to
 * the package (this repository after `npm run build`, or a buildPackage folder), `@types` from
 * ours (Node's types), and the given source files.
 */
export function makeConsumer(files: Record<string, string>, packageDir = ROOT): string {
  const dir = mkdtempSync(join(tmpdir(), 'lepton-consumer-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(packageDir, join(dir, 'node_modules', 'lepton'), 'dir');
  symlinkSync(join(ROOT, 'node_modules', '@types'), join(dir, 'node_modules', '@types'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'lepton-consumer', private: true, type: 'module' }));
  for (const [name, code] of Object.entries(files)) writeFileSync(join(dir, name), code);
  return dir;
}

/** tsconfig of a strict user project; `resolution` is how the user's bundler or Node finds modules. */
export function writeTsconfig(dir: string, resolution: 'node16' | 'bundler'): string {
  const file = `tsconfig.${resolution}.json`;
  const compilerOptions = {
    target: 'ES2022',
    module: resolution === 'node16' ? 'node16' : 'esnext',
    moduleResolution: resolution,
    strict: true,
    skipLibCheck: false,
    noEmit: true,
    types: ['node'],
  };
  writeFileSync(join(dir, file), JSON.stringify({ compilerOptions, include: ['*.ts'] }, null, 2));
  return file;
}

export interface RunResult {
  code: number | null;
  output: string;
}

/** Runs a command, collecting stdout and stderr together. */
export function run(
  command: string,
  args: string[],
  options: { cwd: string; timeoutMs?: number; env?: NodeJS.ProcessEnv },
): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, output });
    });
  });
}

/** Type-checks the consumer project with the repository's TypeScript. */
export function typeCheck(dir: string, resolution: 'node16' | 'bundler'): Promise<RunResult> {
  const tsconfig = writeTsconfig(dir, resolution);
  return run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', tsconfig], { cwd: dir });
}

/** Runs one TypeScript file of the consumer project with tsx (a fresh LEPTON_HOME inside it). */
export function runFile(dir: string, file: string, timeoutMs = 120_000): Promise<RunResult> {
  return run(process.execPath, [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), file], {
    cwd: dir,
    timeoutMs,
    env: { LEPTON_HOME: join(dir, '.lepton-home') },
  });
}

async function main(): Promise<void> {
  const blocks = typescriptBlocks();
  const dir = makeConsumer(Object.fromEntries(blocks.map((b) => [b.name, b.code])));
  let failed = false;
  try {
    for (const resolution of ['node16', 'bundler'] as const) {
      const r = await typeCheck(dir, resolution);
      if (r.code !== 0) {
        failed = true;
        console.error(`type errors (moduleResolution ${resolution}):\n${r.output}`);
      }
    }
    for (const b of blocks) {
      if (!b.run) {
        console.log(`${b.file}:${b.line} type-checked (no-run)`);
        continue;
      }
      const r = await runFile(dir, b.name);
      console.log(`${b.file}:${b.line} ${r.code === 0 ? 'ran' : 'FAILED'}`);
      if (r.code !== 0) {
        failed = true;
        console.error(r.output);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (failed) process.exit(1);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
