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

/** The module text of kernels-wasm.js for the current kernels.wat. */
export async function kernelsModuleText(): Promise<string> {
  const wabt = await wabtInit();
  const module = wabt.parseWat('kernels.wat', readFileSync(watPath, 'utf8'), { simd: true });
  try {
    module.validate();
    const { buffer } = module.toBinary({});
    const base64 = Buffer.from(buffer).toString('base64');
    return [
      '// Generated from kernels.wat by scripts/build-kernels.ts (npm run build:kernels). Do not edit.',
      `export const kernelsWasmBase64 = '${base64}';`,
      '',
    ].join('\n');
  } finally {
    module.destroy();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(jsPath, await kernelsModuleText());
  console.log(`wrote ${jsPath}`);
}
