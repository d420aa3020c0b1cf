/**
 * Basic neural-net ops: linear (Gemm / MatMul+Add), inverted dropout with masks from the project
 * PRNG, embedding lookup. Each op: shape/dtype rule, ONNX lowering, VJP — once.
 */
import { FLOAT_DTYPES, isFloat } from '../dtype.js';
import { apply1, checkDtypes, checkSameDtype, defineOp, opError } from '../op.js';
import { DtypeError } from '../errors.js';
import { type Dim, broadcastShapes, shapeStr } from '../shape.js';
import { type Tensor, rand } from '../tensor.js';
import { currentTrace } from '../trace.js';
import { matmul, reshape, sum, transpose, zerosLike } from './core.js';
import { gather } from './indexing.js';

// ---------------------------------------------------------------------------------------------
// linear

export const linearOp = defineOp({
  name: 'linear',
  infer: (inputs) => {
    const [x, w, b] = inputs;
    checkDtypes('linear', inputs, FLOAT_DTYPES);
    const dtype = checkSameDtype('linear', inputs);
    if (w.shape.length !== 2) throw opError('linear', `weight must be 2-D [out, in], got ${shapeStr(w.shape)}`, inputs);
    if (x.shape.length < 2) throw opError('linear', 'internal: input must have rank >= 2', inputs);
    const inF = x.shape[x.shape.length - 1];
    if (inF !== w.shape[1]) {
      throw opError(
        'linear',
        `input features ${inF} (last axis of ${shapeStr(x.shape)}) do not match weight [out, in] = ${shapeStr(w.shape)}`,
        inputs,
      );
    }
    if (b && (b.shape.length !== 1 || b.shape[0] !== w.shape[0])) {
      throw opError(
        'linear',
        `bias must be [${w.shape[0]}] (one value per output feature), got ${shapeStr(b.shape)}`,
        inputs,
      );
    }
    return [{ shape: [...x.shape.slice(0, -1), w.shape[0]], dtype }];
  },
  lower: (ctx, [x, w, b]) => {
    if (x.shape.length === 2)
      return [ctx.node1('Gemm', b ? [x.name, w.name, b.name] : [x.name, w.name], { transB: 1 })];
    const y = ctx.node1('MatMul', [x.name, ctx.node1('Transpose', [w.name], { perm: [1, 0] })]);
    return [b ? ctx.node1('Add', [y, b.name]) : y];
  },
  vjp: ([g], [x, w, b]) => {
    // Leading axes of x are batch axes: fold them into one for the weight and bias gradients.
    const g2 = x.rank === 2 ? g! : reshape(g!, [-1, w.shape[0]]);
    const x2 = x.rank === 2 ? x : reshape(x, [-1, w.shape[1]]);
    const grads = [matmul(g!, w), matmul(transpose(g2), x2)];
    return b ? [...grads, sum(g2, 0)] : grads;
  },
});

/**
 * y = x · weightᵀ + bias, like torch.nn.functional.linear: weight is [out, in], x is [..., in]
 * (1-D x gives a 1-D result). Lowers to one Gemm for 2-D x, MatMul + Add otherwise.
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  const inputs = bias ? [x, weight, bias] : [x, weight];
  if (x.rank === 0) throw opError('linear', 'input must have at least one axis', inputs);
  if (x.rank === 1) return reshape(linear(reshape(x, [1, x.shape[0]]), weight, bias), [weight.shape[0]]);
  return apply1(linearOp, [x, ...inputs.slice(1)]);
}

// ---------------------------------------------------------------------------------------------
// dropout

export const dropoutOp = defineOp<{ rate: number }>({
  name: 'dropout',
  infer: (inputs, { rate }) => {
    const [x, u] = inputs;
    checkDtypes('dropout', inputs, FLOAT_DTYPES);
    if (!(rate >= 0 && rate < 1)) throw opError('dropout', `rate must be in [0, 1), got ${rate}`, inputs);
    const b = broadcastShapes('dropout', x.shape, u.shape);
    if (b.join() !== x.shape.join())
      throw opError('dropout', `noise shape ${shapeStr(u.shape)} must broadcast to the input shape`, inputs);
    return [x];
  },
  lower: (ctx, [x, u], { rate }) => {
    const keep = 1 - rate;
    const kept = ctx.node1('Less', [u.name, ctx.scalar(keep, u.dtype)]);
    const scaled = ctx.node1('Mul', [x.name, ctx.scalar(1 / keep, x.dtype)]);
    return [ctx.node1('Where', [kept, scaled, ctx.scalar(0, x.dtype)])];
  },
  // Linear in x with the same mask: the cotangent goes through the same uniform numbers.
  vjp: ([g], [, u], _o, attrs): (Tensor | null)[] => [apply1(dropoutOp, [g!, u], attrs), null],
});

export interface DropoutOpOptions {
  /**
   * Shape of the mask, broadcast over x (e.g. [batch, 1, channels] drops whole channels); null
   * entries take x's size. Default: x's shape.
   */
  noiseShape?: readonly (Dim | null)[];
}

/**
 * Inverted dropout: while training, each element is zeroed with probability p and the rest are
 * scaled by 1/(1-p), so the expected value is unchanged; otherwise returns x. Masks come from the
 * project PRNG (`setSeed` makes eager calls repeat): drawn now for concrete tensors, and inside
 * grad/compile fed as a fresh random input at every call of the compiled function.
 */
export function dropout(x: Tensor, p: number, training = true, options: DropoutOpOptions = {}): Tensor {
  if (!isFloat(x.dtype))
    throw opError('dropout', `dtype ${x.dtype} is not supported; expected float32 or float64`, [x], DtypeError);
  if (!(p >= 0 && p <= 1)) throw opError('dropout', `p must be in [0, 1], got ${p}`, [x]);
  if (!training || p === 0) return x;
  if (p === 1) return zerosLike(x); // everything dropped: the gradient is zero too
  const shape: Dim[] = options.noiseShape ? options.noiseShape.map((d, i) => d ?? x.shape[i]) : [...x.shape];
  const dtype = x.dtype as 'float32' | 'float64';
  const trace = x.trace ?? currentTrace();
  let u: Tensor;
  if (trace) u = trace.random(shape, dtype, 'uniform');
  else {
    if (!shape.every((d): d is number => typeof d === 'number'))
      throw opError('dropout', `noise shape ${shapeStr(shape)} must be concrete`, [x]);
    u = rand(shape, { dtype });
  }
  return apply1(dropoutOp, [x, u], { rate: p });
}

// ---------------------------------------------------------------------------------------------
// embedding

/**
 * Rows of `table` ([vocabulary, ...features]) at integer `indices`: the output is
 * indices.shape + table.shape[1:]. The gradient adds each cotangent row into its table row
 * (repeated indices accumulate).
 */
export function embedding(indices: Tensor, table: Tensor): Tensor {
  if (indices.dtype !== 'int32' && indices.dtype !== 'int64') {
    throw opError('embedding', `indices must be int32 or int64, got ${indices.dtype}`, [indices, table], DtypeError);
  }
  if (table.rank < 1) throw opError('embedding', 'table must have at least one axis (rows)', [indices, table]);
  return gather(table, indices, 0);
}
