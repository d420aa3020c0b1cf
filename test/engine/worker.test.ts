import { describe, expect, it } from 'vitest';
import { type Tensor, add, compile, dropout, matmul, mul, ones, rand, setSeed, sum, tensor } from '../../src/index.js';

describe('execution in worker threads', () => {
  it('the main event loop keeps firing timers while a long compiled computation runs', async () => {
    const a = rand([700, 700], { low: -0.05, high: 0.05 });
    // ~70 chained 700×700 matmuls: about a second of work on this machine.
    const f = compile((x) => {
      let y = x;
      for (let i = 0; i < 70; i++) y = matmul(y, x);
      return sum(y);
    });
    await f(a); // trace + session creation + first run
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const t0 = performance.now();
    const result = await f(a);
    const ms = performance.now() - t0;
    clearInterval(timer);
    expect(Number.isFinite(result.item())).toBe(true);
    // A loop blocked by the computation could fire the interval at most once after it returned;
    // a free loop fires it about every 5 ms. Require a third of that.
    expect(ticks).toBeGreaterThanOrEqual(Math.floor(ms / 15));
    expect(ticks).toBeGreaterThan(5);
  });

  // 256×256 float32 = 256 KB: large enough to travel in the reused staging buffers.
  const big = (seed: number) =>
    tensor(
      Float32Array.from({ length: 256 * 256 }, (_, i) => ((i * 7 + seed * 13) % 101) / 101),
      { shape: [256, 256] },
    );
  const expected = (x: Tensor, y: Tensor) =>
    Float32Array.from(x.data as Float32Array, (v, i) => v * 2 + (y.data as Float32Array)[i]);

  it('large arguments and results: arguments stay intact, earlier results never change under later calls', async () => {
    const f = compile((x: Tensor, y: Tensor) => add(mul(x, 2), y));
    const inputs = [0, 1, 2, 3].map((k) => [big(k), big(k + 10)] as const);
    const copies = inputs.map(([x, y]) => [(x.data as Float32Array).slice(), (y.data as Float32Array).slice()]);
    const results: Tensor[] = [];
    for (const [x, y] of inputs) results.push(await f(x, y));
    // Same signature again: the staging buffers of the first calls are reused now.
    for (const [x, y] of inputs) await f(y, x);
    inputs.forEach(([x, y], k) => {
      expect(x.data).toEqual(copies[k][0]);
      expect(y.data).toEqual(copies[k][1]);
      expect(results[k].data).toEqual(expected(x, y));
    });
  });

  it('calls in flight at the same time get their own staging buffers', async () => {
    const f = compile((x: Tensor, y: Tensor) => add(mul(x, 2), y));
    const inputs = [0, 1, 2, 3, 4].map((k) => [big(k), big(k + 20)] as const);
    const results = await Promise.all(inputs.map(([x, y]) => f(x, y)));
    inputs.forEach(([x, y], k) => expect(results[k].data).toEqual(expected(x, y)));
  });

  it('random inputs of a symbolic batch take the batch size of each call', async () => {
    // Dropout with p = 0.5 keeps an element as 2 and drops it as 0.
    const f = compile((x: Tensor) => dropout(x, 0.5), { symbolicBatch: true });
    setSeed(3);
    for (const rows of [3, 5]) {
      const y = await f(ones([rows, 4096]));
      expect(y.shape).toEqual([rows, 4096]);
      const values = new Set(y.data as Float32Array);
      expect([...values].sort()).toEqual([0, 2]);
      const kept = (y.data as Float32Array).reduce((n, v) => n + (v === 2 ? 1 : 0), 0) / y.size;
      expect(kept).toBeGreaterThan(0.45);
      expect(kept).toBeLessThan(0.55);
    }
  });
});
