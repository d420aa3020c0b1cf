// Every public entry point works when it is the only thing a user imports: ops on concrete
// tensors need the eager executor that src/engine/index.ts installs, so each entry must load it.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  exports: Record<string, { import?: string } | string>;
};
const entries = Object.values(pkg.exports)
  .map((e) => (typeof e === 'string' ? e : e.import))
  .filter((p): p is string => !!p && p.endsWith('.js'))
  .map((p) => p.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts'));

describe('entry points', () => {
  it('each one, imported alone, can run an op on concrete tensors', () => {
    expect(entries.length).toBeGreaterThan(5);
    const script = `
      for (const entry of ${JSON.stringify(entries)}) {
        const child = await import('node:child_process');
        const code = "await import('./" + entry + "'); const { add } = await import('./src/engine/ops/core.ts'); const { scalar } = await import('./src/engine/tensor.ts'); if (add(scalar(1), scalar(2)).item() !== 3) process.exit(2);";
        const r = child.spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8' });
        if (r.status !== 0) { console.log(entry + ': ' + (r.stderr.split('\\n').find((l) => /Error/.test(l)) ?? r.status)); process.exitCode = 1; }
      }`;
    const out = (() => {
      try {
        return execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
      } catch (e) {
        return (e as { stdout: string }).stdout;
      }
    })();
    expect(out.trim()).toBe('');
  }, 120_000);
  it('the check can fail: a deep module alone has no executor', () => {
    const code =
      "const { add } = await import('./src/engine/ops/core.ts'); const { scalar } = await import('./src/engine/tensor.ts'); add(scalar(1), scalar(2));";
    expect(() =>
      execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
        encoding: 'utf8',
        stdio: 'pipe',
      }),
    ).toThrow(/no eager executor/);
  }, 120_000);
});
