/**
 * Indexing ops: gather (ONNX Gather), indexAdd (its adjoint), gatherElements and scatterAdd
 * (ONNX GatherElements / ScatterElements), and the compositions take and indexSelect.
 *
 * The gradient of gather is an index-add into zeros, lowered to ScatterND with reduction 'add'
 * (rows scattered whole): faster than ScatterElements(add) with indices expanded to the
 * cotangent's shape, and both sum repeated and negative indices exactly (docs/PERFORMANCE.md,
 * "Gather's gradient"). OneHot-matmul formulations were not considered: OneHot over large tensors
 * is slow on ORT CPU.
 */
import { ONNX_ELEM_TYPE } from '../dtype.js';
import { type OpDef, type TensorType, apply1, defineOp, opError } from '../op.js';
import { DtypeError } from '../errors.js';
import { type Dim, normalizeAxis, shapeStr } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { reshape, zerosLike } from './core.js';

const INDEX_DTYPES = ['int32', 'int64'] as const;

function axisOf(op: string, inputs: readonly TensorType[], axis: number, rank: number): number {
  try {
    return normalizeAxis(op, axis, rank);
  } catch (e) {
    throw opError(op, (e as Error).message.replace(new RegExp(`^${op}: `), ''), inputs);
  }
}

function checkIndices(op: string, inputs: readonly TensorType[], indices: TensorType): void {
  if (!(INDEX_DTYPES as readonly string[]).includes(indices.dtype)) {
    throw opError(op, `indices must be int32 or int64, got ${indices.dtype}`, inputs, DtypeError);
  }
}

/** ONNX Scatter* kernels take int64 indices. */
function int64Indices(ctx: Parameters<OpDef['lower']>[0], indices: { name: string; dtype: string }): string {
  return indices.dtype === 'int64' ? indices.name : ctx.node1('Cast', [indices.name], { to: ONNX_ELEM_TYPE.int64 });
}

// ---------------------------------------------------------------------------------------------
// gather / indexAdd

export const gatherOp: OpDef<{ axis: number }> = defineOp<{ axis: number }>({
  name: 'gather',
  infer: (inputs, { axis }) => {
    const [x, indices] = inputs;
    checkIndices('gather', inputs, indices);
    return [{ shape: [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)], dtype: x.dtype }];
  },
  lower: (ctx, [x, indices], { axis }) => [ctx.node1('Gather', [x.name, indices.name], { axis })],
  vjp: ([g], [x, indices], _o, { axis }) => {
    // Flatten the index dims so the cotangent is [...pre, M, ...post] and the indices [M].
    const m: Dim = indices.shape.every((d): d is number => typeof d === 'number')
      ? indices.shape.reduce((p, d) => p * d, 1)
      : -1;
    const gFlat = reshape(g!, [...x.shape.slice(0, axis), m, ...x.shape.slice(axis + 1)]);
    return [indexAdd(zerosLike(x), reshape(indices, [m]), gFlat, axis), null];
  },
});

/**
 * Picks entries of x along `axis` (ONNX Gather / numpy.take with an axis): the output is
 * x.shape[:axis] + indices.shape + x.shape[axis+1:]. Negative indices count from the end. The
 * gradient adds the cotangent into the picked positions, summing over repeated indices.
 */
export function gather(x: Tensor, indices: Tensor, axis = 0): Tensor {
  const a = axisOf('gather', [x, indices], axis, x.rank);
  return apply1(gatherOp, [x, indices], { axis: a });
}

export const indexAddOp: OpDef<{ axis: number }> = defineOp<{ axis: number }>({
  name: 'indexAdd',
  infer: (inputs, { axis }) => {
    const [x, indices, source] = inputs;
    checkIndices('indexAdd', inputs, indices);
    if (indices.shape.length !== 1)
      throw opError('indexAdd', `indices must be 1-D, got ${shapeStr(indices.shape)}`, inputs);
    const expected = x.shape.map((d, a) => (a === axis ? indices.shape[0] : d));
    if (
      source.dtype !== x.dtype ||
      source.shape.length !== expected.length ||
      source.shape.some((d, a) => d !== expected[a])
    ) {
      throw opError(
        'indexAdd',
        `source must be ${shapeStr(expected)} ${x.dtype} (x's shape with axis ${axis} sized like indices)`,
        inputs,
      );
    }
    return [x];
  },
  lower: (ctx, [x, indices, source], { axis }) => {
    // ScatterND adds whole slices along the first axis: move `axis` to the front and back.
    const r = x.shape.length;
    const perm = [axis, ...Array.from({ length: r }, (_, i) => i).filter((i) => i !== axis)];
    const front = (name: string) => (axis === 0 ? name : ctx.node1('Transpose', [name], { perm }));
    const idx = ctx.node1('Unsqueeze', [int64Indices(ctx, indices), ctx.ints([1])]);
    const out = ctx.node1('ScatterND', [front(x.name), idx, front(source.name)], { reduction: 'add' });
    if (axis === 0) return [out];
    const inverse = new Array<number>(r);
    perm.forEach((p, i) => (inverse[p] = i));
    return [ctx.node1('Transpose', [out], { perm: inverse })];
  },
  vjp: ([g], [_x, indices], _o, { axis }) => [g, null, gather(g!, indices, axis)],
});

/**
 * out = x with source[..., i, ...] added at x[..., indices[i], ...] along `axis` (torch.index_add);
 * repeated indices accumulate. indices is 1-D; source has x's shape with axis sized like indices.
 */
export function indexAdd(x: Tensor, indices: Tensor, source: Tensor, axis = 0): Tensor {
  const a = axisOf('indexAdd', [x, indices, source], axis, x.rank);
  return apply1(indexAddOp, [x, indices, source], { axis: a });
}

// ---------------------------------------------------------------------------------------------
// gatherElements / scatterAdd

function checkElementwiseIndices(
  op: string,
  inputs: readonly TensorType[],
  x: TensorType,
  indices: TensorType,
  axis: number,
): void {
  checkIndices(op, inputs, indices);
  if (indices.shape.length !== x.shape.length) {
    throw opError(
      op,
      `indices must have the same rank as the data (${x.shape.length}), got ${shapeStr(indices.shape)}`,
      inputs,
    );
  }
  indices.shape.forEach((d, a) => {
    const n = x.shape[a];
    if (a !== axis && typeof d === 'number' && typeof n === 'number' && d > n) {
      throw opError(op, `indices axis ${a} has size ${d}, larger than the data's ${n}`, inputs);
    }
  });
}

export const gatherElementsOp: OpDef<{ axis: number }> = defineOp<{ axis: number }>({
  name: 'gatherElements',
  infer: (inputs, { axis }) => {
    const [x, indices] = inputs;
    checkElementwiseIndices('gatherElements', inputs, x, indices, axis);
    return [{ shape: indices.shape, dtype: x.dtype }];
  },
  lower: (ctx, [x, indices], { axis }) => [ctx.node1('GatherElements', [x.name, indices.name], { axis })],
  vjp: ([g], [x, indices], _o, { axis }) => [scatterAdd(zerosLike(x), indices, g!, axis), null],
});

/**
 * out[i][j][k] = x[i][indices[i][j][k]][k] for axis 1 (ONNX GatherElements / torch.gather):
 * the output has the indices' shape.
 */
export function gatherElements(x: Tensor, indices: Tensor, axis = 0): Tensor {
  const a = axisOf('gatherElements', [x, indices], axis, x.rank);
  return apply1(gatherElementsOp, [x, indices], { axis: a });
}

export const scatterAddOp: OpDef<{ axis: number }> = defineOp<{ axis: number }>({
  name: 'scatterAdd',
  infer: (inputs, { axis }) => {
    const [x, indices, updates] = inputs;
    checkElementwiseIndices('scatterAdd', inputs, x, indices, axis);
    if (updates.dtype !== x.dtype || updates.shape.join() !== indices.shape.join()) {
      throw opError(
        'scatterAdd',
        `updates must have the indices' shape ${shapeStr(indices.shape)} and dtype ${x.dtype}`,
        inputs,
      );
    }
    return [x];
  },
  lower: (ctx, [x, indices, updates], { axis }) => [
    ctx.node1('ScatterElements', [x.name, int64Indices(ctx, indices), updates.name], { axis, reduction: 'add' }),
  ],
  vjp: ([g], [_x, indices], _o, { axis }) => [g, null, gatherElements(g!, indices, axis)],
});

/**
 * out = x, then out[i][indices[i][j][k]][k] += updates[i][j][k] for axis 1 (torch.scatter_add /
 * ONNX ScatterElements with reduction 'add'); repeated indices accumulate.
 */
export function scatterAdd(x: Tensor, indices: Tensor, updates: Tensor, axis = 0): Tensor {
  const a = axisOf('scatterAdd', [x, indices, updates], axis, x.rank);
  return apply1(scatterAddOp, [x, indices, updates], { axis: a });
}

// ---------------------------------------------------------------------------------------------
// Compositions

/** numpy.take without an axis: indexes the flattened x; the output has the indices' shape. */
export const take = (x: Tensor, indices: Tensor): Tensor => gather(reshape(x, [-1]), indices, 0);

/** torch.index_select: entries of x along `axis` at the positions of the 1-D `indices`. */
export function indexSelect(x: Tensor, indices: Tensor, axis = 0): Tensor {
  if (indices.rank !== 1)
    throw opError('indexSelect', `indices must be 1-D, got ${shapeStr(indices.shape)}`, [x, indices]);
  return gather(x, indices, axis);
}
