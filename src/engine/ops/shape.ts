/**
 * Shape ops: squeeze/unsqueeze, permute, expand, concat/stack/split, slice (Python-style, with
 * negative indices and steps), pad (constant/reflect/edge), tile, flatten, oneHot. Each op: shape/
 * dtype rule, ONNX lowering (opset 18), VJP written with other ops — once. `reshape transpose
 * broadcastTo` live in core.ts.
 */
import type { DType } from '../dtype.js';
import { ONNX_ELEM_TYPE } from '../dtype.js';
import { type OpDef, type TensorType, apply, apply1, checkDtypes, checkSameDtype, defineOp, opError } from '../op.js';
import { type Dim, normalizeAxes, shapeStr } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { add, broadcastTo, reshape, sum, transpose, zerosLike } from './core.js';

// ---------------------------------------------------------------------------------------------
// Axis helpers (errors name the op and the shapes received)

/** Normalizes axes for a tensor of `rank` (which may differ from x's, e.g. unsqueeze/stack). */
function axesIn(op: string, inputs: readonly TensorType[], axes: number | readonly number[], rank: number): number[] {
  const list = typeof axes === 'number' ? [axes] : axes;
  try {
    const out = normalizeAxes(op, list, rank);
    if (out.length !== list.length) throw new Error(`${op}: axes [${list.join(', ')}] contain duplicates`);
    return out;
  } catch (e) {
    throw opError(op, (e as Error).message.replace(new RegExp(`^${op}: `), ''), inputs);
  }
}

function axisIn(op: string, inputs: readonly TensorType[], axis: number, rank: number): number {
  return axesIn(op, inputs, [axis], rank)[0];
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

// ---------------------------------------------------------------------------------------------
// squeeze / unsqueeze

export const squeezeOp: OpDef<{ axes: number[] }> = defineOp<{ axes: number[] }>({
  name: 'squeeze',
  infer: (inputs, { axes }) => {
    const [x] = inputs;
    for (const a of axes) {
      if (x.shape[a] !== 1)
        throw opError('squeeze', `axis ${a} has size ${x.shape[a]}; only axes of size 1 can be squeezed`, inputs);
    }
    return [{ shape: x.shape.filter((_, i) => !axes.includes(i)), dtype: x.dtype }];
  },
  lower: (ctx, [x], { axes }) => [ctx.node1('Squeeze', [x.name, ctx.ints(axes)])],
  vjp: ([g], _x, _o, { axes }) => [apply1(unsqueezeOp, [g!], { axes })],
});

export const unsqueezeOp: OpDef<{ axes: number[] }> = defineOp<{ axes: number[] }>({
  name: 'unsqueeze',
  infer: ([x], { axes }) => {
    const shape: Dim[] = [];
    let k = 0;
    for (let i = 0; i < x.shape.length + axes.length; i++) shape.push(axes.includes(i) ? 1 : x.shape[k++]);
    return [{ shape, dtype: x.dtype }];
  },
  lower: (ctx, [x], { axes }) => [ctx.node1('Unsqueeze', [x.name, ctx.ints(axes)])],
  vjp: ([g], _x, _o, { axes }) => [apply1(squeezeOp, [g!], { axes })],
});

/** Removes axes of size 1: the given ones (negative counts from the end), or all of them. */
export function squeeze(x: Tensor, axes?: number | readonly number[]): Tensor {
  const ax =
    axes === undefined ? x.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : axesIn('squeeze', [x], axes, x.rank);
  return ax.length === 0 ? x : apply1(squeezeOp, [x], { axes: ax });
}

/** Inserts axes of size 1 at the given positions of the output (negative counts from the end of the output). */
export function unsqueeze(x: Tensor, axes: number | readonly number[]): Tensor {
  const n = typeof axes === 'number' ? 1 : axes.length;
  const ax = axesIn('unsqueeze', [x], axes, x.rank + n);
  return ax.length === 0 ? x : apply1(unsqueezeOp, [x], { axes: ax });
}

// ---------------------------------------------------------------------------------------------
// permute / expand / flatten (compositions)

/** Reorders axes: output axis i is input axis perm[i] (negative entries count from the end). */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.rank)
    throw opError('permute', `perm [${perm.join(', ')}] must list each of the ${x.rank} axes once`, [x]);
  axesIn('permute', [x], perm, x.rank); // range and duplicate check
  return transpose(
    x,
    perm.map((a) => (a < 0 ? a + x.rank : a)),
  );
}

/**
 * Broadcasts x to `shape` like PyTorch's expand: new axes may be added in front, -1 keeps the
 * size of the corresponding existing axis. Gradient: sums over the broadcast axes.
 */
export function expand(x: Tensor, shape: readonly Dim[]): Tensor {
  const lead = shape.length - x.rank;
  if (lead < 0) throw opError('expand', `target ${shapeStr(shape)} has fewer axes than the input`, [x]);
  const target = shape.map((d, i) => {
    if (d !== -1) return d;
    if (i < lead)
      throw opError(
        'expand',
        `-1 at axis ${i} of ${shapeStr(shape)} refers to no input axis (only existing axes can keep their size)`,
        [x],
      );
    return x.shape[i - lead];
  });
  return broadcastTo(x, target);
}

/**
 * Merges axes startAxis..endAxis (inclusive, negative counts from the end) into one, like
 * torch.flatten; the default (1, -1) gives [batch, features].
 */
export function flatten(x: Tensor, startAxis = 1, endAxis = -1): Tensor {
  if (x.rank === 0) return reshape(x, [1]);
  const s = axisIn('flatten', [x], startAxis, x.rank);
  const e = axisIn('flatten', [x], endAxis, x.rank);
  if (s > e) throw opError('flatten', `startAxis ${startAxis} comes after endAxis ${endAxis}`, [x]);
  const merged = x.shape.slice(s, e + 1);
  const size: Dim = merged.every((d): d is number => typeof d === 'number') ? merged.reduce((p, d) => p * d, 1) : -1;
  return reshape(x, [...x.shape.slice(0, s), size, ...x.shape.slice(e + 1)]);
}

// ---------------------------------------------------------------------------------------------
// concat / stack / split

function addDims(dims: readonly Dim[]): Dim {
  if (dims.every((d): d is number => typeof d === 'number')) return dims.reduce((p, d) => p + d, 0);
  return `(${dims.join('+')})`;
}

export const concatOp = defineOp<{ axis: number }>({
  name: 'concat',
  infer: (inputs, { axis }) => {
    if (inputs.length === 0) throw opError('concat', 'needs at least one tensor');
    const dtype = checkSameDtype('concat', inputs);
    const first = inputs[0].shape;
    inputs.forEach((t, i) => {
      if (t.shape.length !== first.length) {
        throw opError(
          'concat',
          `all tensors must have the same rank; tensor ${i} has rank ${t.shape.length}, tensor 0 has ${first.length}`,
          inputs,
        );
      }
      t.shape.forEach((d, a) => {
        if (a !== axis && d !== first[a]) {
          throw opError(
            'concat',
            `tensors must have the same shape except along axis ${axis}; tensor ${i} ${shapeStr(t.shape)} differs from tensor 0 ${shapeStr(first)} at axis ${a} (${d} vs ${first[a]})`,
            inputs,
          );
        }
      });
    });
    return [{ shape: first.map((d, a) => (a === axis ? addDims(inputs.map((t) => t.shape[a])) : d)), dtype }];
  },
  lower: (ctx, xs, { axis }) => [
    ctx.node1(
      'Concat',
      xs.map((x) => x.name),
      { axis },
    ),
  ],
  vjp: ([g], xs, _o, { axis }) => {
    const sizes = xs.map((x) => x.shape[axis]);
    if (!sizes.every((d): d is number => typeof d === 'number')) {
      throw opError('concat', `the gradient needs concrete sizes along the concatenation axis ${axis}`, xs);
    }
    return split(g!, sizes, axis);
  },
});

/** Joins tensors along an existing axis (negative counts from the end). All other axes must match. */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw opError('concat', 'needs at least one tensor');
  const a = axisIn('concat', xs, axis, xs[0].rank);
  return xs.length === 1 ? xs[0] : apply1(concatOp, xs, { axis: a });
}

/** Joins equally shaped tensors along a new axis (negative counts from the end of the output). */
export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw opError('stack', 'needs at least one tensor');
  const a = axisIn('stack', xs, axis, xs[0].rank + 1);
  xs.forEach((t, i) => {
    if (t.shape.join() !== xs[0].shape.join()) {
      throw opError(
        'stack',
        `all tensors must have the same shape; tensor ${i} is ${shapeStr(t.shape)}, tensor 0 is ${shapeStr(xs[0].shape)}`,
        xs,
      );
    }
  });
  return concat(
    xs.map((t) => unsqueeze(t, a)),
    a,
  );
}

export const splitOp = defineOp<{ axis: number; sizes: number[] }>({
  name: 'split',
  infer: (inputs, { axis, sizes }) => {
    const [x] = inputs;
    const d = x.shape[axis];
    const total = sizes.reduce((p, s) => p + s, 0);
    if (sizes.some((s) => !Number.isInteger(s) || s < 0))
      throw opError('split', `sizes [${sizes.join(', ')}] must be non-negative integers`, inputs);
    if (d !== total) {
      throw opError('split', `sizes [${sizes.join(', ')}] add up to ${total} but axis ${axis} has size ${d}`, inputs);
    }
    return sizes.map((s) => ({ shape: x.shape.map((v, a) => (a === axis ? s : v)), dtype: x.dtype }));
  },
  lower: (ctx, [x], { axis, sizes }) => ctx.node('Split', [x.name, ctx.ints(sizes)], { axis }, sizes.length),
  vjp: (gs, _x, outs, { axis }) => [
    concat(
      gs.map((g, i) => g ?? zerosLike(outs[i])),
      axis,
    ),
  ],
});

/**
 * Splits x along `axis` into pieces of the given sizes, or into `count` equal pieces (the size
 * of the axis must then be divisible by count).
 */
export function split(x: Tensor, sizesOrCount: number | readonly number[], axis = 0): Tensor[] {
  const a = axisIn('split', [x], axis, x.rank);
  const d = x.shape[a];
  let sizes: number[];
  if (typeof sizesOrCount === 'number') {
    if (typeof d !== 'number') throw opError('split', `axis ${a} has symbolic size ${d}; pass explicit sizes`, [x]);
    if (!Number.isInteger(sizesOrCount) || sizesOrCount < 1 || d % sizesOrCount !== 0) {
      throw opError(
        'split',
        `cannot split axis ${a} of size ${d} into ${sizesOrCount} equal parts (pass a list of sizes instead)`,
        [x],
      );
    }
    sizes = new Array<number>(sizesOrCount).fill(d / sizesOrCount);
  } else sizes = [...sizesOrCount];
  if (sizes.length === 1) {
    splitOp.infer([x], { axis: a, sizes }); // checks the size
    return [x];
  }
  return apply(splitOp, [x], { axis: a, sizes });
}

// ---------------------------------------------------------------------------------------------
// slice

/**
 * Resolved slice: along axes[i], elements starts[i] + k * steps[i] for k < counts[i] (starts are
 * in range, steps non-zero). Axes that are not sliced are left out.
 */
export interface SliceAttrs {
  [k: string]: unknown;
  axes: number[];
  starts: number[];
  steps: number[];
  counts: number[];
}

export const sliceOp = defineOp<SliceAttrs>({
  name: 'slice',
  infer: ([x], { axes, counts }) => [
    { shape: x.shape.map((d, a) => (axes.includes(a) ? counts[axes.indexOf(a)] : d)), dtype: x.dtype },
  ],
  lower: (ctx, [x], { axes, starts, steps, counts }) => {
    // An end below 0 would count from the back in ONNX: a very negative end means "past the front".
    const ends = starts.map((s, i) => {
      const e = s + counts[i] * steps[i];
      return counts[i] === 0 ? s : e < 0 ? Number.MIN_SAFE_INTEGER : e;
    });
    return [ctx.node1('Slice', [x.name, ctx.ints(starts), ctx.ints(ends), ctx.ints(axes), ctx.ints(steps)])];
  },
  vjp: ([g], [x], _o, attrs) => [sliceVjp(g!, x, attrs)],
});

/** Scatters the cotangent of a slice back into zeros of x's shape (pad, interleave zeros, reverse). */
function sliceVjp(g: Tensor, x: Tensor, { axes, starts, steps, counts }: SliceAttrs): Tensor {
  if (counts.some((c) => c === 0)) return zerosLike(x);
  // Negative steps: reverse those axes, so every axis becomes a forward slice from `first`.
  const rev = axes.flatMap((axis, i) => (steps[i] < 0 ? [{ axis, count: counts[i] }] : []));
  let h =
    rev.length === 0
      ? g
      : sliceRaw(
          g,
          rev.map((r) => r.axis),
          rev.map((r) => r.count - 1),
          rev.map(() => -1),
          rev.map((r) => r.count),
        );
  const pads = new Array<number>(2 * x.rank).fill(0);
  const trims: { axis: number; count: number }[] = [];
  axes.forEach((axis, i) => {
    const step = Math.abs(steps[i]);
    const count = counts[i];
    const first = steps[i] < 0 ? starts[i] + (count - 1) * steps[i] : starts[i];
    const dim = x.shape[axis] as number;
    if (step > 1) {
      // [.., count, ..] → [.., count, 1, ..] → pad to [.., count, step, ..] → [.., count*step, ..]
      const withSlot = [...h.shape.slice(0, axis + 1), 1, ...h.shape.slice(axis + 1)];
      const slotPads = new Array<number>(2 * (h.rank + 1)).fill(0);
      slotPads[h.rank + 1 + axis + 1] = step - 1;
      h = apply1(padOp, [reshape(h, withSlot)], { pads: slotPads, mode: 'constant', value: 0 });
      h = reshape(
        h,
        h.shape.map((d, a) => (a === axis ? count * step : d)).filter((_, a) => a !== axis + 1),
      );
    }
    const covered = count * step;
    const after = dim - first - covered;
    if (after < 0) trims.push({ axis, count: covered + after });
    pads[axis] = first;
    pads[x.rank + axis] = Math.max(after, 0);
  });
  if (trims.length)
    h = sliceRaw(
      h,
      trims.map((t) => t.axis),
      trims.map(() => 0),
      trims.map(() => 1),
      trims.map((t) => t.count),
    );
  return pads.some((p) => p !== 0) ? apply1(padOp, [h], { pads, mode: 'constant', value: 0 }) : h;
}

function sliceRaw(x: Tensor, axes: number[], starts: number[], steps: number[], counts: number[]): Tensor {
  return apply1(sliceOp, [x], { axes, starts, steps, counts });
}

/** One axis of a slice: start/end/step like Python (null/undefined = default). A number picks one index and drops the axis. */
export type SliceIndex =
  | number
  | null
  | undefined
  | readonly [start?: number | null, end?: number | null, step?: number | null];

/** ONNX Slice-style arguments, with ONNX's rules for negative and out-of-range indices. */
export interface SliceSpec {
  starts: readonly number[];
  ends: readonly number[];
  axes?: readonly number[];
  steps?: readonly number[];
}

/**
 * Python's slice.indices(): first index and element count for an axis of size n. With `onnx`, a
 * start before the front with a negative step clamps to 0 as in ONNX Slice (Python: empty).
 */
function resolveRange(
  op: string,
  x: Tensor,
  axis: number,
  n: number,
  start: number | null | undefined,
  end: number | null | undefined,
  step: number,
  onnx = false,
): [number, number] {
  if (!Number.isInteger(step) || step === 0)
    throw opError(op, `step ${step} along axis ${axis} must be a non-zero integer`, [x]);
  for (const v of [start, end]) {
    if (v != null && !Number.isInteger(v) && Math.abs(v) !== Infinity)
      throw opError(op, `index ${v} along axis ${axis} must be an integer`, [x]);
  }
  const clampIndex = (v: number | null | undefined, dflt: number): number => {
    if (v == null) return dflt;
    if (v < 0) {
      v += n;
      if (v < 0) return step < 0 ? -1 : 0;
    } else if (v >= n) return step < 0 ? n - 1 : n;
    return v;
  };
  const s = onnx && step < 0 && start != null && start + n < 0 ? 0 : clampIndex(start, step < 0 ? n - 1 : 0);
  const e = clampIndex(end, step < 0 ? -1 : n);
  const count =
    step < 0 ? (e < s ? Math.floor((s - e - 1) / -step) + 1 : 0) : s < e ? Math.floor((e - s - 1) / step) + 1 : 0;
  return [count === 0 ? Math.max(0, Math.min(s, n - 1)) : s, count];
}

/**
 * Slices x like Python/NumPy indexing. Per-axis form (leading axes; missing ones are kept whole):
 * `slice(x, [[0, 2], null, [null, null, -1]])` = x[0:2, :, ::-1]; a number picks one index and
 * drops that axis (`slice(x, [null, 0])` = x[:, 0]). ONNX form: `slice(x, { starts, ends, axes, steps })`
 * (identical except that, as in ONNX, a start before the front with a negative step clamps to 0).
 * Negative indices count from the end, out-of-range bounds are clamped, steps may be negative.
 */
export function slice(x: Tensor, spec: readonly SliceIndex[] | SliceSpec): Tensor {
  // biome-ignore lint/complexity/noArguments: the argument count is what tells TF.js's slice(x, begin, size) apart
  const argc = arguments.length;
  if (argc > 2 || spec === null || typeof spec !== 'object') {
    // TF.js's slice(x, begin, size) would otherwise read `begin` as per-axis indices and drop axes.
    throw opError(
      'slice',
      `expected slice(x, spec) with spec per axis ([start, end, step?] or an index: slice(x, [[0, 3], [0, 2]]) is x[0:3, 0:2]) ` +
        `or the ONNX form { starts, ends, axes?, steps? }; got ${argc - 1} argument(s). ` +
        `TF.js's slice(x, begin, size) is slice(x, { starts: begin, ends: begin + size })`,
      [x],
    );
  }
  const perAxis: SliceIndex[] = new Array<SliceIndex>(x.rank).fill(null);
  const onnx = !Array.isArray(spec);
  if (Array.isArray(spec)) {
    if (spec.length > x.rank) throw opError('slice', `got ${spec.length} indices for a tensor of rank ${x.rank}`, [x]);
    spec.forEach((s, i) => (perAxis[i] = s));
  } else {
    const { starts, ends, axes = range(starts.length), steps } = spec as SliceSpec;
    if (ends.length !== starts.length || axes.length !== starts.length || (steps && steps.length !== starts.length)) {
      throw opError('slice', 'starts, ends, axes and steps must have the same length', [x]);
    }
    axesIn('slice', [x], axes, x.rank).forEach((a, i) => (perAxis[a] = [starts[i], ends[i], steps?.[i] ?? 1]));
  }
  const attrs: SliceAttrs = { axes: [], starts: [], steps: [], counts: [] };
  const dropped: number[] = [];
  perAxis.forEach((s, axis) => {
    const n = x.shape[axis];
    if (s == null) return;
    if (typeof s === 'number') {
      if (typeof n !== 'number') throw opError('slice', `cannot index axis ${axis} of symbolic size ${n}`, [x]);
      if (!Number.isInteger(s) || s < -n || s >= n)
        throw opError('slice', `index ${s} is out of range for axis ${axis} of size ${n}`, [x]);
      attrs.axes.push(axis);
      attrs.starts.push(s < 0 ? s + n : s);
      attrs.steps.push(1);
      attrs.counts.push(1);
      dropped.push(axis);
      return;
    }
    const [start, end, step = 1] = s;
    const st = step ?? 1;
    if (typeof n !== 'number') {
      const whole =
        st === 1 &&
        (start == null || start === 0) &&
        (end == null || end === Infinity || end >= Number.MAX_SAFE_INTEGER);
      if (!whole) throw opError('slice', `axis ${axis} has symbolic size ${n}: it can only be kept whole`, [x]);
      return;
    }
    const [first, count] = resolveRange('slice', x, axis, n, start, end, st, onnx);
    if (st === 1 && first === 0 && count === n) return;
    attrs.axes.push(axis);
    attrs.starts.push(first);
    attrs.steps.push(st);
    attrs.counts.push(count);
  });
  const out = attrs.axes.length ? apply1(sliceOp, [x], attrs) : x;
  return dropped.length ? squeeze(out, dropped) : out;
}

/** Reverses the order of elements along `axes` (negative counts from the end), like torch.flip. */
export function flip(x: Tensor, axes: number | readonly number[]): Tensor {
  const ax = axesIn('flip', [x], axes, x.rank);
  const spec: SliceIndex[] = x.shape.map((_, a) => (ax.includes(a) ? [null, null, -1] : null));
  return slice(x, spec);
}

// ---------------------------------------------------------------------------------------------
// pad

export type PadMode = 'constant' | 'reflect' | 'edge';

export interface PadAttrs {
  [k: string]: unknown;
  /** ONNX order: all begins, then all ends. */
  pads: number[];
  mode: PadMode;
  value: number;
}

export const padOp = defineOp<PadAttrs>({
  name: 'pad',
  infer: (inputs, { pads, mode }) => {
    const [x] = inputs;
    const r = x.shape.length;
    if (pads.length !== 2 * r || pads.some((p) => !Number.isInteger(p) || p < 0)) {
      throw opError(
        'pad',
        `pads [${pads.join(', ')}] must be ${2 * r} non-negative integers (use slice() to crop)`,
        inputs,
      );
    }
    if (!['constant', 'reflect', 'edge'].includes(mode))
      throw opError('pad', `mode must be 'constant', 'reflect' or 'edge', got '${mode}'`, inputs);
    const shape = x.shape.map((d, a) => {
      const [b, e] = [pads[a], pads[r + a]];
      if (b === 0 && e === 0) return d;
      if (typeof d !== 'number') throw opError('pad', `axis ${a} has symbolic size ${d} and cannot be padded`, inputs);
      if (mode === 'reflect' && (b > d - 1 || e > d - 1)) {
        throw opError('pad', `reflect padding of axis ${a} (size ${d}) by [${b}, ${e}] needs each side < ${d}`, inputs);
      }
      if (mode === 'edge' && d === 0) throw opError('pad', `edge padding of empty axis ${a}`, inputs);
      return d + b + e;
    });
    return [{ shape, dtype: x.dtype }];
  },
  lower: (ctx, [x], { pads, mode, value }) => {
    const ins = [x.name, ctx.ints(pads)];
    if (mode === 'constant') ins.push(ctx.scalar(x.dtype === 'bool' ? Number(value !== 0) : value, x.dtype));
    return [ctx.node1('Pad', ins, { mode })];
  },
  vjp: ([g], [x], _o, attrs) => [padVjp(g!, x, attrs)],
});

function padVjp(g: Tensor, x: Tensor, { pads, mode }: PadAttrs): Tensor {
  const r = x.rank;
  const padded = range(r).filter((a) => pads[a] > 0 || pads[r + a] > 0);
  if (mode === 'constant') {
    return sliceRaw(
      g,
      padded,
      padded.map((a) => pads[a]),
      padded.map(() => 1),
      padded.map((a) => x.shape[a] as number),
    );
  }
  // reflect/edge pad axis by axis (NumPy/ONNX semantics), so the adjoint folds axis by axis.
  let h = g;
  for (const a of padded) {
    const n = x.shape[a] as number;
    const [b, e] = [pads[a], pads[r + a]];
    const part = (start: number, count: number, step = 1) => sliceRaw(h, [a], [start], [step], [count]);
    const padAxis = (t: Tensor, before: number, after: number) => {
      const p = new Array<number>(2 * r).fill(0);
      p[a] = before;
      p[r + a] = after;
      return before === 0 && after === 0 ? t : apply1(padOp, [t], { pads: p, mode: 'constant', value: 0 });
    };
    let gx = part(b, n);
    if (mode === 'reflect') {
      // out[j] = x[b - j] for j < b; out[b + n + k] = x[n - 2 - k] for k < e.
      if (b > 0) gx = add(gx, padAxis(part(b - 1, b, -1), 1, n - 1 - b));
      if (e > 0) gx = add(gx, padAxis(part(b + n + e - 1, e, -1), n - 1 - e, 1));
    } else {
      // out[j] = x[0] for j < b; out[b + n + k] = x[n - 1].
      if (b > 0) gx = add(gx, padAxis(sum(part(0, b), a, true), 0, n - 1));
      if (e > 0) gx = add(gx, padAxis(sum(part(b + n, e), a, true), n - 1, 0));
    }
    h = gx;
  }
  return h;
}

export interface PadOptions {
  /** 'constant' (default) fills with `value`; 'reflect' mirrors without repeating the edge; 'edge' repeats the edge. */
  mode?: PadMode;
  /** Fill value for mode 'constant' (default 0). */
  value?: number;
}

/**
 * Pads x. `pads` is one number (both sides of every axis) or one entry per axis: a number (both
 * sides), [before, after], or null (no padding). E.g. `pad(img, [null, null, [1, 1], [2, 2]])`.
 */
export function pad(
  x: Tensor,
  pads: number | readonly (number | readonly [number, number] | null)[],
  options: PadOptions = {},
): Tensor {
  const { mode = 'constant', value = 0 } = options;
  const perAxis = typeof pads === 'number' ? new Array(x.rank).fill(pads) : pads;
  if (perAxis.length !== x.rank) {
    throw opError(
      'pad',
      `got padding for ${perAxis.length} axes, expected one entry per axis (${x.rank}; use null for axes without padding)`,
      [x],
    );
  }
  const begins = perAxis.map((p) => (p == null ? 0 : typeof p === 'number' ? p : p[0]));
  const ends = perAxis.map((p) => (p == null ? 0 : typeof p === 'number' ? p : p[1]));
  const flat = [...begins, ...ends];
  if (flat.every((p) => p === 0)) return x;
  return apply1(padOp, [x], { pads: flat, mode, value });
}

// ---------------------------------------------------------------------------------------------
// tile

export const tileOp = defineOp<{ reps: number[] }>({
  name: 'tile',
  infer: (inputs, { reps }) => {
    const [x] = inputs;
    if (reps.length !== x.shape.length || reps.some((r) => !Number.isInteger(r) || r < 0)) {
      throw opError('tile', `reps [${reps.join(', ')}] must be ${x.shape.length} non-negative integers`, inputs);
    }
    const shape = x.shape.map((d, a) => {
      if (reps[a] === 1) return d;
      if (typeof d !== 'number')
        throw opError('tile', `axis ${a} has symbolic size ${d} and cannot be repeated`, inputs);
      return d * reps[a];
    });
    return [{ shape, dtype: x.dtype }];
  },
  lower: (ctx, [x], { reps }) => [ctx.node1('Tile', [x.name, ctx.ints(reps)])],
  vjp: ([g], [x], _o, { reps }) => {
    // [r0*d0, ...] → [r0, d0, ...] for each repeated axis, then sum over the repetitions.
    const split: Dim[] = [];
    const repAxes: number[] = [];
    x.shape.forEach((d, a) => {
      if (reps[a] !== 1) {
        repAxes.push(split.length);
        split.push(reps[a]);
      }
      split.push(d);
    });
    return [reshape(sum(reshape(g!, split), repAxes), x.shape)];
  },
});

/** Repeats x `reps[i]` times along axis i (like numpy.tile: a shorter reps applies to the last axes). */
export function tile(x: Tensor, reps: number | readonly number[]): Tensor {
  let r = typeof reps === 'number' ? [reps] : [...reps];
  let t = x;
  if (r.length < x.rank) r = [...new Array<number>(x.rank - r.length).fill(1), ...r];
  else if (r.length > x.rank) t = reshape(x, [...new Array<number>(r.length - x.rank).fill(1), ...x.shape]);
  return r.every((v) => v === 1) ? t : apply1(tileOp, [t], { reps: r });
}

// ---------------------------------------------------------------------------------------------
// oneHot

export const oneHotOp = defineOp<{ depth: number; dtype: DType }>({
  name: 'oneHot',
  infer: (inputs, { depth, dtype }) => {
    checkDtypes('oneHot', inputs, ['int32', 'int64']);
    if (!Number.isInteger(depth) || depth < 1)
      throw opError('oneHot', `depth must be a positive integer, got ${depth}`, inputs);
    return [{ shape: [...inputs[0].shape, depth], dtype }];
  },
  lower: (ctx, [indices], { depth, dtype }) => {
    // Equal against 0..depth-1 rather than ONNX OneHot: works for every dtype (ORT's OneHot kernels
    // cover few type combinations).
    const idx =
      indices.dtype === 'int64' ? indices.name : ctx.node1('Cast', [indices.name], { to: ONNX_ELEM_TYPE.int64 });
    const hit = ctx.node1('Equal', [ctx.node1('Unsqueeze', [idx, ctx.ints([-1])]), ctx.ints(range(depth))]);
    return [dtype === 'bool' ? hit : ctx.node1('Cast', [hit], { to: ONNX_ELEM_TYPE[dtype] })];
  },
});

/**
 * One-hot encoding along a new last axis: out[..., k] = 1 where indices == k. Indices outside
 * [0, depth) give an all-zero row (like tf.one_hot). Not differentiable (indices are integers).
 */
export const oneHot = (indices: Tensor, depth: number, options: { dtype?: DType } = {}): Tensor =>
  apply1(oneHotOp, [indices], { depth, dtype: options.dtype ?? 'float32' });
