/**
 * Benchmark entry point: `npm run bench -- <name> [--json FILE] [--quick] [--threads N]`.
 * Each bench is a module exporting a BenchModule (see harness.ts); register new ones in BENCHES.
 * Benches print a table with ratios against peers measured in the same run; --json writes the
 * flat results object (plus machine and run information).
 */
import '../src/engine/index.js'; // installs ONNX Runtime as the eager executor
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import type { BenchModule, BenchOptions } from './harness.js';

const BENCHES: Record<string, () => Promise<BenchModule>> = {
  engine: async () => (await import('./engine.js')).default,
  serve: async () => (await import('./serve.js')).default,
  'train-cnn': async () => (await import('./train-cnn.js')).default,
  'train-cnn-parts': async () => (await import('./train-cnn-parts.js')).default,
  vision: async () => (await import('./vision.js')).default,
  'train-mlp': async () => (await import('./train-mlp.js')).default,
  speech: async () => (await import('./speech.js')).default,
  text: async () => (await import('./text.js')).default,
};

function usage(): string {
  return `usage: npm run bench -- <${Object.keys(BENCHES).join('|')}> [--json FILE] [--quick] [--threads N]`;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const options: BenchOptions = { quick: false, threads: 2, extra: {} };
  let json: string | undefined;
  let name: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') options.quick = true;
    else if (a === '--json') json = argv[++i];
    else if (a === '--threads') options.threads = Number(argv[++i]);
    else if (a === '--help' || a === '-h') {
      console.log(usage());
      process.exit(0);
    } else if (a.startsWith('--')) options.extra[a.slice(2)] = argv[++i];
    else if (!name) name = a;
    else throw new Error(`bench: unexpected argument '${a}'. ${usage()}`);
  }
  if (!name || !BENCHES[name]) {
    console.error(name ? `unknown bench '${name}'.\n${usage()}` : usage());
    process.exit(2);
  }
  const bench = await BENCHES[name]();
  console.log(`bench ${name}: ${bench.description}`);
  console.log(
    `machine: ${cpus().length} logical CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}; threads ${options.threads}${options.quick ? ', quick' : ''}\n`,
  );
  const started = new Date().toISOString();
  const results = await bench.run(options);
  if (json) {
    const out = {
      bench: name,
      started,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      node: process.version,
      threads: options.threads,
      quick: options.quick,
      ...results,
    };
    writeFileSync(json, JSON.stringify(out, null, 2));
    console.log(`\nwrote ${json}`);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
