/**
 * The native optimizer kernels (native/kernels.cc, built by `npm ci`'s install script): the same
 * bits as the WebAssembly kernel (src/engine/runtime/kernels.wat) on the same memory, for every
 * thread count, with tails after the last vector, and bounds checked.
 */
import { describe, expect, it } from 'vitest';

interface NativeKernels {
  adam(memory: ArrayBuffer, items: Uint32Array, args: Float32Array, threads: number): void;
}
interface WasmKernels {
  memory: WebAssembly.Memory;
  adam(p: number, g: number, m: number, v: number, n: number, ...args: number[]): void;
}

async function loadNative(): Promise<NativeKernels> {
  const modulePath = '../../src/engine/runtime/native-kernels.js'; // plain JS, no declarations
  const { nativeKernels } = (await import(modulePath)) as { nativeKernels?: NativeKernels };
  if (!nativeKernels)
    throw new Error(
      'the native kernels are not built: .ci/run installs g++, make and python3, and npm ci builds them (npm run build:native)',
    );
  return nativeKernels;
}

async function loadWasm(): Promise<WasmKernels> {
  const modulePath = '../../src/engine/runtime/kernels-wasm.js'; // plain JS, no declarations
  const { kernelsWasmBase64 } = (await import(modulePath)) as { kernelsWasmBase64: string };
  const bytes = Buffer.from(kernelsWasmBase64, 'base64');
  return new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as WasmKernels;
}

/** Parameters of `sizes` elements laid out as p, g, m, v blocks (64-byte aligned) with random values. */
function layout(memory: WebAssembly.Memory, sizes: number[], seed: number): number[][] {
  const blocks: number[][] = [];
  let offset = 64;
  for (const n of sizes) {
    const o: number[] = [];
    for (let j = 0; j < 4; j++) {
      o.push(offset);
      offset += Math.ceil((n * 4) / 64) * 64;
    }
    blocks.push([...o, n]);
  }
  const have = memory.buffer.byteLength;
  if (offset > have) memory.grow(Math.ceil((offset - have) / 65536));
  let s = seed;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  for (const [p, g, m, v, n] of blocks) {
    const f = (o: number) => new Float32Array(memory.buffer, o, n);
    f(p).forEach((_, i, a) => (a[i] = next() * 2 - 1));
    f(g).forEach((_, i, a) => (a[i] = (next() * 2 - 1) * 10 ** -Math.floor(next() * 6)));
    f(m).forEach((_, i, a) => (a[i] = (next() * 2 - 1) * 0.01));
    f(v).forEach((_, i, a) => (a[i] = next() * 1e-4));
  }
  return blocks;
}

describe('native optimizer kernels', () => {
  const sizes = [1, 3, 7, 1000, 262_147, 600_001, 33];
  // Adam with an L2 penalty, and AdamW's decoupled decay: [β1, 1−β1, β2, 1−β2, √bc2, ε, step, decay, l2].
  const argSets = [
    [0.9, 0.1, 0.999, 0.001, 0.0316, 1e-7, 0.0021, 1, 0.01],
    [0.8, 0.2, 0.99, 0.01, 0.4359, 1e-8, 0.0137, 0.997, 0],
  ];
  for (const threads of [1, 2, 3]) {
    for (const [k, args] of argSets.entries()) {
      it(`Adam gives the WebAssembly kernel's bits: ${threads} thread(s), argument set ${k}`, async () => {
        const native = await loadNative();
        const wasmA = await loadWasm();
        const wasmB = await loadWasm();
        const blocks = layout(wasmA.memory, sizes, 11 + k);
        layout(wasmB.memory, sizes, 11 + k);
        const [p4, , , , n4] = blocks[4];
        const before = new Float32Array(wasmB.memory.buffer, p4, n4).slice();
        for (let step = 0; step < 3; step++) {
          for (const [p, g, m, v, n] of blocks) wasmA.adam(p, g, m, v, n, ...args);
          native.adam(wasmB.memory.buffer, Uint32Array.from(blocks.flat()), Float32Array.from(args), threads);
        }
        const a = new Uint32Array(wasmA.memory.buffer);
        const b = new Uint32Array(wasmB.memory.buffer);
        let differing = 0;
        for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differing++;
        expect(differing).toBe(0);
        // The update moved the weights (the comparison is not between untouched memories).
        const after = new Float32Array(wasmB.memory.buffer, p4, n4);
        expect(after.filter((x, i) => x !== before[i]).length).toBeGreaterThan(n4 / 2);
      });
    }
  }

  it('refuses a tensor outside the memory and malformed arguments, naming them', async () => {
    const native = await loadNative();
    const memory = new WebAssembly.Memory({ initial: 1 });
    const args = new Float32Array(9);
    expect(() => native.adam(memory.buffer, Uint32Array.from([0, 64, 128, 192, 100_000]), args, 1)).toThrow(
      /outside the kernel memory/,
    );
    expect(() => native.adam(memory.buffer, Uint32Array.from([0, 64, 128]), args, 1)).toThrow(/\[p, g, m, v, n\]/);
    expect(() => native.adam(memory.buffer, new Uint32Array(5), new Float32Array(3), 1)).toThrow(/9 numbers/);
  });
});
