/**
 * Core ops that autodiff itself needs (identity, fullLike, add, reshape, sums, broadcasting) and
 * the element-wise arithmetic family. Each op: shape/dtype rule, ONNX lowering, VJP — once.
 */
import { type DType, DTYPES, NUMERIC_DTYPES, ONNX_ELEM_TYPE, isFloat, promoteTypes } from '../dtype.js';
import { float } from '../onnx/ctx.js';
import {
  type Attrs,
  type OpDef,
  type TensorType,
  apply1,
  checkDtypes,
  checkSameDtype,
  defineOp,
  opError,
} from '../op.js';
import { DtypeError } from '../errors.js';
import { type Dim, broadcastShapes, broadcastsTo, inversePermutation, normalizeAxes, shapeStr } from '../shape.js';
import { Tensor, scalar } from '../tensor.js';

export type TensorOrNumber = Tensor | number;

/** Turns a JS number into a 0-d tensor of the given dtype (so `add(x, 1)` works). */
export function asTensor(x: TensorOrNumber | boolean, dtype: DType = 'float32'): Tensor {
  return x instanceof Tensor ? x : scalar(x, dtype);
}

/** Converts the operands of a binary op: numbers take the other operand's dtype. */
export function binaryOperands(a: TensorOrNumber, b: TensorOrNumber): [Tensor, Tensor] {
  if (a instanceof Tensor && b instanceof Tensor) return [a, b];
  if (a instanceof Tensor) return [a, asTensor(b, a.dtype)];
  if (b instanceof Tensor) return [asTensor(a, b.dtype), b];
  return [scalar(a), scalar(b as number)];
}

// ---------------------------------------------------------------------------------------------
// identity, stopGradient, cast, fullLike

export const identityOp = defineOp({
  name: 'identity',
  infer: ([x]) => [x],
  lower: (ctx, [x]) => [ctx.node1('Identity', [x.name])],
  vjp: ([g]) => [g],
});
export const identity = (x: Tensor): Tensor => apply1(identityOp, [x]);

export const stopGradientOp = defineOp({
  name: 'stopGradient',
  infer: ([x]) => [x],
  lower: (ctx, [x]) => [ctx.node1('Identity', [x.name])],
  vjp: () => [null],
});
/** The value of x, through which no gradient flows. */
export const stopGradient = (x: Tensor): Tensor => apply1(stopGradientOp, [x]);

export const castOp = defineOp<{ dtype: DType }>({
  name: 'cast',
  infer: ([x], { dtype }) => [{ shape: x.shape, dtype }],
  lower: (ctx, [x], { dtype }) => [ctx.node1('Cast', [x.name], { to: ONNX_ELEM_TYPE[dtype] })],
  vjp: ([g], [x]) => [isFloat(x.dtype) && g ? cast(g, x.dtype) : null],
});
export const cast = (x: Tensor, dtype: DType): Tensor => {
  if (!DTYPES.includes(dtype))
    throw opError('cast', `unknown dtype ${JSON.stringify(dtype)}; expected one of ${DTYPES.join(', ')}`, [x]);
  return x.dtype === dtype ? x : apply1(castOp, [x], { dtype });
};

export const fullLikeOp = defineOp<{ value: number; dtype: DType }>({
  name: 'fullLike',
  infer: ([x], { dtype }) => [{ shape: x.shape, dtype }],
  lower: (ctx, _inputs, { value, dtype }, [out]) => {
    const filled = ctx.constant([value], dtype, [1]);
    return [ctx.node1('Expand', [filled, ctx.shape(out.shape)])];
  },
  vjp: () => [null],
});
/** A tensor shaped like x filled with `value` (dtype defaults to x's). */
export const fullLike = (x: Tensor, value: number, dtype: DType = x.dtype): Tensor =>
  apply1(fullLikeOp, [x], { value, dtype });
export const zerosLike = (x: Tensor, dtype?: DType): Tensor => fullLike(x, 0, dtype);
export const onesLike = (x: Tensor, dtype?: DType): Tensor => fullLike(x, 1, dtype);

// ---------------------------------------------------------------------------------------------
// Shape plumbing used by VJPs: reshape, expand, sum, sumToShape, transpose

/** Resolves -1 in a target shape; symbolic input dims are matched by name. */
export function resolveReshape(op: string, from: readonly Dim[], to: readonly Dim[]): Dim[] {
  if (!Array.isArray(to))
    throw opError(op, `the target shape must be an array of sizes (e.g. [3, 2]), got ${JSON.stringify(to)}`);
  const inSyms: string[] = [];
  let inProd = 1;
  for (const d of from) typeof d === 'number' ? (inProd *= d) : inSyms.push(d);
  let tProd = 1;
  let unknownAt = -1;
  const restSyms = [...inSyms];
  to.forEach((d, i) => {
    if (d === -1) {
      if (unknownAt >= 0) throw opError(op, `only one dimension can be -1 in ${shapeStr(to)}`);
      unknownAt = i;
    } else if (typeof d === 'number') {
      if (!Number.isInteger(d) || d < 0) throw opError(op, `invalid dimension ${d} in ${shapeStr(to)}`);
      tProd *= d;
    } else {
      const k = restSyms.indexOf(d);
      if (k >= 0) restSyms.splice(k, 1);
    }
  });
  const out = [...to];
  if (unknownAt >= 0) {
    if (restSyms.length === 0) {
      if (tProd === 0 || inProd % tProd !== 0) {
        throw opError(op, `cannot reshape ${shapeStr(from)} into ${shapeStr(to)}`);
      }
      out[unknownAt] = inProd / tProd;
    } else {
      out[unknownAt] = `${restSyms.join('*')}*${inProd / tProd}`;
    }
  } else if (
    restSyms.length === 0 &&
    inSyms.length === to.filter((d) => typeof d === 'string').length &&
    inProd !== tProd
  ) {
    throw opError(op, `cannot reshape ${shapeStr(from)} (${inProd} elements) into ${shapeStr(to)} (${tProd} elements)`);
  }
  return out;
}

export const reshapeOp = defineOp<{ shape: Dim[] }>({
  name: 'reshape',
  infer: ([x], { shape }) => [{ shape, dtype: x.dtype }],
  // allowzero: a 0 in the target is a real empty dimension, not "copy the input's".
  lower: (ctx, [x], _a, [out]) => [
    ctx.node1('Reshape', [x.name, ctx.shape(out.shape)], out.shape.includes(0) ? { allowzero: 1 } : {}),
  ],
  vjp: ([g], [x]) => [reshape(g!, x.shape)],
});
/** Reshapes x; one dimension may be -1 (inferred). */
export const reshape = (x: Tensor, shape: readonly Dim[]): Tensor => {
  const resolved = resolveReshape('reshape', x.shape, shape);
  if (resolved.join() === x.shape.join()) return x;
  return apply1(reshapeOp, [x], { shape: resolved });
};

export const expandOp = defineOp<{ shape: Dim[] }>({
  name: 'expand',
  infer: ([x], { shape }) => {
    if (!broadcastsTo(x.shape, shape))
      throw opError('expand', `cannot broadcast ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
    return [{ shape, dtype: x.dtype }];
  },
  lower: (ctx, [x], { shape }) => [ctx.node1('Expand', [x.name, ctx.shape(shape)])],
  vjp: ([g], [x]) => [sumToShape(g!, x.shape)],
});
/** Broadcasts x to `shape` (NumPy rules). */
export const broadcastTo = (x: Tensor, shape: readonly Dim[]): Tensor =>
  x.shape.join() === shape.join() ? x : apply1(expandOp, [x], { shape: [...shape] });

/** The shape of a reduction over `axes`: those axes dropped, or kept as size 1 with keepDims. */
export function reducedShape(shape: readonly Dim[], axes: readonly number[], keepDims: boolean): Dim[] {
  return keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

export interface ReduceAttrs extends Attrs {
  axes: number[];
  keepDims: boolean;
}

/** Shape rule shared by all reductions. */
export function inferReduce(op: string, allowed?: readonly DType[]) {
  return ([x]: readonly TensorType[], { axes, keepDims }: ReduceAttrs): TensorType[] => {
    if (allowed) checkDtypes(op, [x], allowed);
    return [{ shape: reducedShape(x.shape, axes, keepDims), dtype: x.dtype }];
  };
}

/** Re-inserts reduced axes (size 1) so a reduction's output broadcasts against its input. */
export function keepDimsShape(inputShape: readonly Dim[], axes: readonly number[]): Dim[] {
  return reducedShape(inputShape, axes, true);
}

export const sumOp = defineOp<ReduceAttrs>({
  name: 'sum',
  infer: inferReduce('sum', NUMERIC_DTYPES),
  lower: (ctx, [x], { axes, keepDims }) =>
    axes.length === 0
      ? [ctx.node1('Identity', [x.name])]
      : [ctx.node1('ReduceSum', [x.name, ctx.ints(axes)], { keepdims: keepDims ? 1 : 0 })],
  vjp: ([g], [x], _o, { axes }) => [broadcastTo(reshape(g!, keepDimsShape(x.shape, axes)), x.shape)],
});
/** Sum over `axes` (all axes by default). */
export const sum = (x: Tensor, axes?: number | number[], keepDims = false): Tensor =>
  apply1(sumOp, [x], { axes: normalizeAxes('sum', axes, x.rank), keepDims });

/** Sums g down to `shape` — the inverse of broadcasting, used by VJPs of broadcasting ops. */
export function sumToShape(g: Tensor, shape: readonly Dim[]): Tensor {
  if (g.shape.join() === shape.join()) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  return reshape(sum(g, axes, true), shape);
}

export const transposeOp: OpDef<{ perm: number[] }> = defineOp<{ perm: number[] }>({
  name: 'transpose',
  infer: ([x], { perm }) => {
    if (perm.length !== x.shape.length || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
      throw opError('transpose', `perm [${perm}] is not a permutation of the ${x.shape.length} axes`, [x]);
    }
    return [{ shape: perm.map((p) => x.shape[p]), dtype: x.dtype }];
  },
  lower: (ctx, [x], { perm }) => [ctx.node1('Transpose', [x.name], { perm })],
  vjp: ([g], _x, _o, { perm }): Tensor[] => [apply1(transposeOp, [g!], { perm: inversePermutation(perm) })],
});
/** Permutes axes; without `perm`, reverses them. */
export const transpose = (x: Tensor, perm?: number[]): Tensor => {
  const p = perm ? normalizeAxesOrder(perm, x.rank) : Array.from({ length: x.rank }, (_, i) => x.rank - 1 - i);
  return p.every((v, i) => v === i) ? x : apply1(transposeOp, [x], { perm: p });
};
function normalizeAxesOrder(perm: number[], rank: number): number[] {
  return perm.map((a) => (a < 0 ? a + rank : a));
}

// ---------------------------------------------------------------------------------------------
// Element-wise binary arithmetic with NumPy broadcasting

/** Shape rule of a broadcasting op whose inputs share one of `dtypes`; the output has `outDtype` or that dtype. */
export function inferBroadcast(name: string, dtypes: readonly DType[], outDtype?: DType) {
  return (inputs: readonly TensorType[]): TensorType[] => {
    const dtype = checkSameDtype(name, inputs);
    checkDtypes(name, inputs, dtypes);
    return [{ shape: broadcastShapes(name, ...inputs.map((t) => t.shape)), dtype: outDtype ?? dtype }];
  };
}

function defineBinary(name: string, onnxOp: string, vjp: OpDef['vjp']): OpDef {
  return defineOp({
    name,
    infer: inferBroadcast(name, NUMERIC_DTYPES),
    lower: (ctx, [a, b]) => [ctx.node1(onnxOp, [a.name, b.name])],
    vjp,
  });
}

/** Operands of a binary op with mixed dtypes promoted (int + float → float; JS numbers take the tensor's dtype). */
export function promoted(a: TensorOrNumber, b: TensorOrNumber): [Tensor, Tensor] {
  const [x, y] = binaryOperands(a, b);
  if (x.dtype === y.dtype) return [x, y];
  const d = promoteTypes(x.dtype, y.dtype);
  return [cast(x, d), cast(y, d)];
}

export const addOp = defineBinary('add', 'Add', ([g], [a, b]) => [sumToShape(g!, a.shape), sumToShape(g!, b.shape)]);
export const subOp = defineBinary('sub', 'Sub', ([g], [a, b]) => [
  sumToShape(g!, a.shape),
  sumToShape(neg(g!), b.shape),
]);
export const mulOp = defineBinary('mul', 'Mul', ([g], [a, b]) => [
  sumToShape(mul(g!, b), a.shape),
  sumToShape(mul(g!, a), b.shape),
]);
export const divOp = defineBinary('div', 'Div', ([g], [a, b], [out]) => [
  sumToShape(div(g!, b), a.shape),
  sumToShape(neg(div(mul(g!, out), b)), b.shape),
]);

export const add = (a: TensorOrNumber, b: TensorOrNumber): Tensor => apply1(addOp, promoted(a, b));
export const sub = (a: TensorOrNumber, b: TensorOrNumber): Tensor => apply1(subOp, promoted(a, b));
export const mul = (a: TensorOrNumber, b: TensorOrNumber): Tensor => apply1(mulOp, promoted(a, b));
export const div = (a: TensorOrNumber, b: TensorOrNumber): Tensor => apply1(divOp, promoted(a, b));

export const negOp = defineOp({
  name: 'neg',
  infer: ([x]) => {
    if (x.dtype === 'bool') throw opError('neg', 'bool tensors are not supported', [x], DtypeError);
    return [x];
  },
  lower: (ctx, [x]) => [ctx.node1('Neg', [x.name])],
  vjp: ([g]) => [neg(g!)],
});
export const neg = (x: Tensor): Tensor => apply1(negOp, [x]);

// ---------------------------------------------------------------------------------------------
// matmul

export const matmulOp = defineOp({
  name: 'matmul',
  infer: ([a, b]) => {
    const dtype = checkSameDtype('matmul', [a, b]);
    if (a.shape.length < 2 || b.shape.length < 2)
      throw opError('matmul', 'internal: operands must have rank >= 2', [a, b]);
    const [m, k1] = a.shape.slice(-2);
    const [k2, n] = b.shape.slice(-2);
    if (k1 !== k2) {
      throw opError('matmul', `inner dimensions differ: ${shapeStr(a.shape)} @ ${shapeStr(b.shape)} (${k1} vs ${k2})`);
    }
    const batch = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
    return [{ shape: [...batch, m, n], dtype }];
  },
  lower: (ctx, [a, b]) => [ctx.node1('MatMul', [a.name, b.name])],
  vjp: ([g], [a, b]) => [sumToShape(matmul(g!, swapLast(b)), a.shape), matmulWeightGrad(a, b, g!)],
});

/**
 * Gradient of the right operand. A matrix b shared by a batch of a's (Dense or an input projection
 * on [N, T, F]) gets one product over all rows, aᵀ[F, N·T] · g[N·T, G], instead of a product per
 * batch entry and a sum over the batch (small products, and an [N, F, G] intermediate; see
 * docs/PERFORMANCE.md, text models).
 */
function matmulWeightGrad(a: Tensor, b: Tensor, g: Tensor): Tensor {
  if (b.rank === 2 && a.rank > 2) {
    const rows = (t: Tensor) => reshape(t, [-1, t.shape[t.rank - 1]]);
    return matmul(swapLast(rows(a)), rows(g));
  }
  return sumToShape(matmul(swapLast(a), g), b.shape);
}

function swapLast(x: Tensor): Tensor {
  const perm = Array.from({ length: x.rank }, (_, i) => i);
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
  return transpose(x, perm);
}

/** Matrix product with NumPy semantics: batched and broadcast; 1-D operands are vectors. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank === 0 || b.rank === 0) throw opError('matmul', 'operands must have at least one dimension', [a, b]);
  const a2 = a.rank === 1 ? reshape(a, [1, a.shape[0]]) : a;
  const b2 = b.rank === 1 ? reshape(b, [b.shape[0], 1]) : b;
  let out = apply1(matmulOp, [a2, b2]);
  if (a.rank === 1) out = reshape(out, [...out.shape.slice(0, -2), out.shape[out.rank - 1]]);
  if (b.rank === 1) out = reshape(out, out.shape.slice(0, -1));
  return out;
}

export { float };
