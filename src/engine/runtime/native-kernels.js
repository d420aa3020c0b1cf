// The native optimizer kernels (native/kernels.cc), when the install script could build them (it
// needs a C++ toolchain). Plain JavaScript, like the worker that uses them (ort-worker.js).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * `{ adam(memory, items, args, threads) }`: the WebAssembly kernel's Adam (kernels.wat), bit for
 * bit, over tensors in a kernel memory (`items`: [p, g, m, v byte offsets, n elements] per
 * parameter; `args`: its 9 scalars as float32), with up to `threads` threads and the CPU's widest
 * vectors. Undefined when not built, or when LEPTON_NATIVE_KERNELS=0.
 */
export const nativeKernels = (() => {
  if (process.env.LEPTON_NATIVE_KERNELS === '0') return undefined;
  try {
    // The same path from src/engine/runtime and from dist/engine/runtime.
    return require('../../../native/build/Release/lepton_kernels.node');
  } catch {
    return undefined;
  }
})();
