import { describe, expect, it } from 'vitest';
import {
  SELU_ALPHA,
  SELU_SCALE,
  type Tensor,
  elu,
  gelu,
  grad,
  hardSigmoid,
  leakyRelu,
  logSoftmax,
  relu,
  selu,
  sigmoid,
  silu,
  softmax,
  softplus,
  softsign,
  sum,
  tanh,
  tensor,
} from '../../src/index.js';
import { checkGrad, randomTensor } from '../helpers/gradcheck.js';

const values = (t: Tensor): number[] => Array.from(t.data as Float64Array | Float32Array);
const f32 = Math.fround;

/** erf by its Taylor series (accurate to ~1e-13 for |x| <= 3). */
function erfRef(x: number): number {
  let term = x;
  let total = x;
  for (let n = 1; n < 80; n++) {
    term *= (-x * x) / n;
    total += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * total;
}
const normalCdf = (x: number): number => 0.5 * (1 + erfRef(x / Math.SQRT2));
const normalPdf = (x: number): number => Math.exp((-x * x) / 2) / Math.sqrt(2 * Math.PI);

const sig = (v: number): number => 1 / (1 + Math.exp(-v));
// Independent formulas; ONNX stores float attributes as float32, hence f32(alpha).
const references: [string, (t: Tensor) => Tensor, (v: number) => number][] = [
  ['relu', relu, (v) => Math.max(v, 0)],
  ['leakyRelu(0.2)', (t) => leakyRelu(t, 0.2), (v) => (v > 0 ? v : f32(0.2) * v)],
  ['leakyRelu default 0.01', (t) => leakyRelu(t), (v) => (v > 0 ? v : f32(0.01) * v)],
  ['elu(0.5)', (t) => elu(t, 0.5), (v) => (v > 0 ? v : f32(0.5) * (Math.exp(v) - 1))],
  ['selu', selu, (v) => SELU_SCALE * (v > 0 ? v : SELU_ALPHA * (Math.exp(v) - 1))],
  ['sigmoid', sigmoid, sig],
  ['tanh', tanh, Math.tanh],
  ['softplus', softplus, (v) => Math.log1p(Math.exp(v))],
  ['softsign', softsign, (v) => v / (1 + Math.abs(v))],
  // Keras 3's relu6(x + 3) / 6, with 1/6 as the float32 ONNX stores.
  ['hardSigmoid', (t) => hardSigmoid(t), (v) => Math.min(1, Math.max(0, f32(1 / 6) * v + 0.5))],
  [
    'hardSigmoid(0.2, 0.5)',
    (t) => hardSigmoid(t, { alpha: 0.2, beta: 0.5 }),
    (v) => Math.min(1, Math.max(0, f32(0.2) * v + 0.5)),
  ],
  ['silu', silu, (v) => v * sig(v)],
  [
    'gelu tanh',
    (t) => gelu(t, 'tanh'),
    (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))),
  ],
];

describe('activation forward values', () => {
  it('known constants', () => {
    const x = tensor(new Float64Array([3]));
    expect(sigmoid(x).item()).toBeCloseTo(0.952574, 6);
    expect(tanh(x).item()).toBeCloseTo(0.995055, 6);
    expect(softplus(tensor(new Float64Array([0]))).item()).toBeCloseTo(Math.LN2, 14);
    expect(hardSigmoid(tensor([-3, 0, 3])).toArray()).toEqual([0, 0.5, 1]);
  });

  it('match independent formulas in float64 (including the ORT function-body paths) and float32', () => {
    const x64 = randomTensor([40], 1, 'float64', 5);
    const x32 = randomTensor([40], 1, 'float32', 5);
    for (const [name, op, ref] of references) {
      const got64 = values(op(x64));
      values(x64).forEach((v, i) => {
        if (Math.abs(got64[i] - ref(v)) > 1e-12 * (1 + Math.abs(ref(v))))
          throw new Error(`${name}(${v}) float64: ${got64[i]} vs ${ref(v)}`);
      });
      const got32 = values(op(x32));
      values(x32).forEach((v, i) => {
        if (Math.abs(got32[i] - ref(v)) > 1e-6 * (1 + Math.abs(ref(v))))
          throw new Error(`${name}(${v}) float32: ${got32[i]} vs ${ref(v)}`);
      });
    }
  });

  it('softplus and sigmoid stay finite for large |x| (float32 and float64)', () => {
    const big = tensor([-100, 100]);
    expect(values(softplus(big))[1]).toBeCloseTo(100, 4);
    expect(values(softplus(big))[0]).toBeLessThan(1e-30);
    expect(values(sigmoid(big))).toEqual([0, 1]);
    expect(values(softplus(tensor(new Float64Array([-1000, 1000]))))).toEqual([0, 1000]);
  });

  it('exact gelu (float32) matches x * Phi(x) with an independent erf', () => {
    const x = randomTensor([60], 2, 'float32', 3);
    const got = values(gelu(x));
    values(x).forEach((v, i) => expect(Math.abs(got[i] - v * normalCdf(v))).toBeLessThan(1e-6));
  });

  it('softmax and logSoftmax along any axis match plain loops', () => {
    const x = randomTensor([2, 3, 4], 3, 'float64', 4);
    const xd = values(x);
    const shape = [2, 3, 4];
    for (const axis of [0, 1, 2, -1, -2]) {
      const ax = axis < 0 ? axis + 3 : axis;
      const p = values(softmax(x, axis));
      const lp = values(logSoftmax(x, axis));
      const stride = shape.slice(ax + 1).reduce((a, b) => a * b, 1);
      for (let i = 0; i < xd.length; i++) {
        // The elements in i's slice along ax.
        const base = i - (Math.floor(i / stride) % shape[ax]) * stride;
        let denom = 0;
        for (let k = 0; k < shape[ax]; k++) denom += Math.exp(xd[base + k * stride]);
        expect(p[i]).toBeCloseTo(Math.exp(xd[i]) / denom, 13);
        expect(lp[i]).toBeCloseTo(xd[i] - Math.log(denom), 13);
      }
    }
    // Large logits do not overflow.
    expect(values(logSoftmax(tensor([1000, 0])))).toEqual([0, -1000]);
  });
});

describe('activation gradients', () => {
  it('every activation vs float64 finite differences', () => {
    // Scale 4 covers the flat parts of hardSigmoid and the negative branches; kinks are not hit.
    const x = randomTensor([3, 5], 4, 'float64', 4);
    for (const [, op] of references) checkGrad(op, [x]);
  });

  it('softmax / logSoftmax over several axes, and second order', () => {
    const x = randomTensor([2, 3, 4], 5, 'float64', 2);
    checkGrad((t) => softmax(t), [x]);
    checkGrad((t) => softmax(t, 0), [x]);
    checkGrad((t) => logSoftmax(t, -2), [x]);
    checkGrad((t) => logSoftmax(t, 2), [x]);
    checkGrad((t) => grad((u: Tensor) => sum(sigmoid(u)))(t), [randomTensor([4], 6)]);
    checkGrad((t) => grad((u: Tensor) => sum(tanh(u)))(t), [randomTensor([4], 7)]);
    checkGrad((t) => grad((u: Tensor) => sum(logSoftmax(u)))(t), [randomTensor([2, 3], 8)]);
  });

  it('silu in float64 loads despite ORT fusing x*sigmoid(x) into a float-only kernel', () => {
    const x = tensor(new Float64Array([-1000, -2, 0, 2, 1000]));
    const got = values(silu(x));
    values(x).forEach((v, i) => expect(got[i]).toBeCloseTo(v * sig(v), 12));
  });

  it('relu and hardSigmoid gradients at the kinks are 0', () => {
    const g = grad((t: Tensor) => sum(relu(t)))(tensor(new Float64Array([-1, 0, 2])));
    expect(values(g)).toEqual([0, 0, 1]);
    const h = grad((t: Tensor) => sum(hardSigmoid(t)))(tensor(new Float64Array([-3, -1, 3, 4])));
    expect(values(h)).toEqual([0, f32(1 / 6), 0, 0]);
  });

  it('exact gelu gradient (float32) equals Phi(x) + x phi(x)', () => {
    const x = randomTensor([40], 9, 'float32', 3);
    const g = values(grad((t: Tensor) => sum(gelu(t)))(x));
    values(x).forEach((v, i) => expect(Math.abs(g[i] - (normalCdf(v) + v * normalPdf(v)))).toBeLessThan(2e-6));
  });
});

describe('activation errors', () => {
  it('name the op, the input and the supported dtypes', () => {
    expect(() => gelu(randomTensor([2, 2], 1))).toThrow(
      /gelu: approximate 'none' supports only float32 .*approximate: 'tanh' \(got \[2, 2\] float64\)/,
    );
    expect(() => sigmoid(tensor([1, 2], { dtype: 'int32' }))).toThrow(
      /sigmoid: dtype int32 is not supported; expected one of float32, float64 \(got \[2\] int32\)/,
    );
    expect(() => softmax(tensor([[1, 2]]), 2)).toThrow(
      /softmax: axis 2 is out of range for a tensor of rank 2.*\(got \[1, 2\] float32\)/,
    );
    expect(() => gelu(tensor([1]), 'fast' as 'tanh')).toThrow(/gelu: approximate must be 'none' or 'tanh'/);
  });
});
