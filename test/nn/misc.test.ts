import { describe, expect, it } from 'vitest';
import {
  Cropping2D,
  ELU,
  GaussianNoise,
  Lambda,
  LeakyReLU,
  ReLU,
  Rescaling,
  RepeatVector,
  Softmax,
  SpatialDropout2D,
  Tensor,
  compileSync,
  mul,
  setSeed,
  tensor,
} from '../../src/index.js';
import { randomTensor } from '../helpers/gradcheck.js';
import { expectClose } from './reference.js';

describe('small layers', () => {
  const x = tensor([[-2, -0.5, 0.5, 3, 8]]);
  const xd = Array.from(x.data as Float32Array);

  it('activation layers follow their formulas', () => {
    expectClose(
      (new ReLU({ maxValue: 6 }).apply(x) as Tensor).data as Float32Array,
      xd.map((v) => Math.min(6, Math.max(0, v))),
      1e-7,
    );
    expectClose(
      (new ReLU({ negativeSlope: 0.1 }).apply(x) as Tensor).data as Float32Array,
      xd.map((v) => (v > 0 ? v : 0.1 * v)),
      1e-7,
    );
    expectClose(
      (new LeakyReLU().apply(x) as Tensor).data as Float32Array,
      xd.map((v) => (v > 0 ? v : 0.3 * v)),
      1e-7,
    );
    expectClose(
      (new ELU({ alpha: 0.5 }).apply(x) as Tensor).data as Float32Array,
      xd.map((v) => (v > 0 ? v : 0.5 * (Math.exp(v) - 1))),
      1e-6,
    );
    const z = xd.reduce((s, v) => s + Math.exp(v), 0);
    expectClose(
      (new Softmax().apply(x) as Tensor).data as Float32Array,
      xd.map((v) => Math.exp(v) / z),
      1e-6,
    );
    expectClose(
      (new Rescaling(1 / 255, -1).apply(x) as Tensor).data as Float32Array,
      xd.map((v) => v / 255 - 1),
      1e-7,
    );
  });

  it('RepeatVector and Cropping2D reshape as Keras does', () => {
    const r = new RepeatVector(3).apply(
      tensor([
        [1, 2],
        [3, 4],
      ]),
    ) as Tensor;
    expect(r.toArray()).toEqual([
      [
        [1, 2],
        [1, 2],
        [1, 2],
      ],
      [
        [3, 4],
        [3, 4],
        [3, 4],
      ],
    ]);
    const img = randomTensor([1, 4, 5, 1], 1, 'float32');
    const c = new Cropping2D([
      [1, 2],
      [0, 3],
    ]).apply(img) as Tensor;
    expect(c.shape).toEqual([1, 1, 2, 1]);
    const d = img.data as Float32Array;
    expect(Array.from(c.data as Float32Array)).toEqual([d[5], d[6]]);
  });

  it('SpatialDropout2D drops whole channels; GaussianNoise adds noise only in training', () => {
    setSeed(4);
    const ones = tensor(new Float32Array(2 * 3 * 3 * 8).fill(1), { shape: [2, 3, 3, 8] });
    const y = new SpatialDropout2D(0.5).apply(ones, { training: true }).data as Float32Array;
    for (let b = 0; b < 2; b++)
      for (let c = 0; c < 8; c++) {
        const vals = new Set(Array.from({ length: 9 }, (_, p) => y[(b * 9 + p) * 8 + c]));
        expect(vals.size).toBe(1);
        expect([0, 2]).toContain([...vals][0]);
      }
    const noise = new GaussianNoise(0.5);
    expect(Array.from((noise.apply(ones) as Tensor).data as Float32Array)).toEqual(
      Array.from(ones.data as Float32Array),
    );
    const noisy = noise.apply(ones, { training: true }).data as Float32Array;
    const m = noisy.reduce((s, v) => s + v, 0) / noisy.length;
    const sd = Math.sqrt(noisy.reduce((s, v) => s + (v - m) ** 2, 0) / noisy.length);
    expect(Math.abs(m - 1)).toBeLessThan(0.15);
    expect(sd).toBeGreaterThan(0.35);
    expect(sd).toBeLessThan(0.65);
    const f = compileSync((t: Tensor) => noise.apply(t, { training: true }));
    expect(Array.from(f(ones).data as Float32Array)).not.toEqual(Array.from(f(ones).data as Float32Array));
  });

  it('Lambda wraps a function but refuses to serialize', () => {
    const double = new Lambda((t: Tensor) => mul(t, 2));
    expect((double.apply(x) as Tensor).toArray()).toEqual([xd.map((v) => v * 2)]);
    expect(() => double.getConfig()).toThrow(/cannot be serialized/);
  });
});
