#!/usr/bin/env node
// The `lepton` command. Runs the built CLI from dist/ when present, else the TypeScript sources
// through tsx (a development checkout).
import { existsSync } from 'node:fs';

const dist = new URL('../dist/cli/main.js', import.meta.url);
let main;
if (existsSync(dist)) {
  ({ main } = await import(dist.href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(new URL('../src/cli/main.ts', import.meta.url).href));
}
const code = await main(process.argv);
// `serve` and `studio` return only after a graceful shutdown, so exiting here never cuts one short.
process.exit(code);
