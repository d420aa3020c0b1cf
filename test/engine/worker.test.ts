import { describe, expect, it } from 'vitest';
import { compile, matmul, rand, sum } from '../../src/index.js';

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
});
