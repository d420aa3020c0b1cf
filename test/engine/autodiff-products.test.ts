/**
 * A weight read by several matmuls (a recurrent kernel at every time step) gets its gradient from
 * one product of the stacked operands instead of a product per read and a chain of adds: the
 * gradient still equals central finite differences, and the lowered graph has one weight-gradient
 * MatMul instead of one per step.
 */
import { describe, expect, it } from 'vitest';
import { type Tensor, add, grad, matmul, slice, sum, tanh, toOnnx } from '../../src/index.js';
import { decodeModel } from '../../src/engine/onnx/proto.js';
import { checkGrad, randomTensor } from '../helpers/gradcheck.js';

const T = 4;
/** h ← tanh(x_t + h·W) over T steps from h = 0; returns the last h. x: [T·N, H]. */
function rnn(w: Tensor, x: Tensor): Tensor {
  const n = (x.shape[0] as number) / T;
  let h: Tensor | undefined;
  for (let t = 0; t < T; t++) {
    const xt = slice(x, [[t * n, (t + 1) * n]]);
    h = tanh(h ? add(xt, matmul(h, w)) : xt);
  }
  return h!;
}

describe('gradients of a weight read by many matmuls', () => {
  it('equal central finite differences (float64)', () => {
    checkGrad(rnn, [randomTensor([3, 3], 1, 'float64', 0.5), randomTensor([T * 2, 3], 2)], { argnums: [0, 1] });
  });

  it('come from one product: the graph has one weight-gradient MatMul, not one per step', async () => {
    const dw = (w: Tensor, x: Tensor) => grad((v: Tensor) => sum(rnn(v, x)))(w) as Tensor;
    const bytes = await toOnnx(
      dw,
      [
        { shape: [3, 3], dtype: 'float32' },
        { shape: [T * 2, 3], dtype: 'float32' },
      ],
      { target: 'portable' },
    );
    const ops = decodeModel(bytes).graph.node.map((n) => n.op_type);
    const matmuls = ops.filter((o) => o === 'MatMul' || o === 'Gemm').length;
    // Forward: T − 1 products h·W; backward: T − 2 input gradients g·Wᵀ (none into the first step's
    // h, which does not depend on W) and one weight gradient. A product per read would make 3T − 4.
    expect(matmuls).toBe(T - 1 + (T - 2) + 1);
    expect(ops.filter((o) => o === 'Concat').length).toBeGreaterThanOrEqual(2);
  });
});
