/**
 * Compiles src/engine/runtime/kernels.wat (the worker's in-place optimizer updates) to
 * src/engine/runtime/kernels-wasm.js, a module holding the WebAssembly bytes, so the worker needs
 * no compiler at run time and the package no build step for it. `npm run build:kernels` after
 * editing the .wat; test/engine/kernels.test.ts fails when the committed bytes are stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

const watPath = fileURLToPath(new URL('../src/engine/runtime/kernels.wat', import.meta.url));
const jsPath = fileURLToPath(new URL('../src/engine/runtime/kernels-wasm.js', import.meta.url));

/** kernels.wat compiled to WebAssembly, as base64. */
export async function compileKernels(): Promise<string> {
  const wabt = await wabtInit();
  const module = wabt.parseWat('kernels.wat', readFileSync(watPath, 'utf8'), { simd: true });
  try {
    module.validate();
    return Buffer.from(module.toBinary({}).buffer).toString('base64');
  } finally {
    module.destroy();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // Laid out as Biome formats it, so `npm run format` leaves the file alone.
  const text = [
    '// Generated from kernels.wat by scripts/build-kernels.ts (npm run build:kernels). Do not edit.',
    'export const kernelsWasmBase64 =',
    `  '${await compileKernels()}';`,
    '',
  ].join('\n');
  writeFileSync(jsPath, text);
  console.log(`wrote ${jsPath}`);
}
