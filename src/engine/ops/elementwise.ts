/**
 * Element-wise math (NumPy broadcasting for binary ops): powers, exp/log, min/max, clip, where,
 * comparisons and logic, rounding. Each op: shape/dtype rule, ONNX lowering, VJP — once.
 * `add sub mul div neg cast` live in core.ts.
 */
import { type DType, FLOAT_DTYPES, NUMERIC_DTYPES, isFloat } from '../dtype.js';
import type { AttrValue } from '../onnx/ctx.js';
import { type Attrs, type OpDef, apply1, checkDtypes, checkSameDtype, defineOp, opError } from '../op.js';
import { DtypeError } from '../errors.js';
import { broadcastShapes } from '../shape.js';
import { Tensor } from '../tensor.js';
import { type TensorOrNumber, asTensor, div, inferBroadcast, mul, neg, promoted, sub, sumToShape } from './core.js';

export { FLOAT_DTYPES, NUMERIC_DTYPES };
const FLOATS = FLOAT_DTYPES;
const NUMERIC = NUMERIC_DTYPES;

/** A 0-d constant of the dtype of `like` (used inside VJPs for where/masks). */
const constantLike = (like: Tensor, value: number): Tensor => asTensor(value, like.dtype);

// ---------------------------------------------------------------------------------------------
// Unary ops

export interface UnarySpec<A extends Attrs = Attrs> {
  name: string;
  /** The ONNX op computing it, and its attributes (default none). */
  onnx: string;
  onnxAttrs?: (attrs: A) => Record<string, AttrValue>;
  dtypes: readonly DType[];
  /** Why a dtype is missing, appended to the dtype error (e.g. ORT has no float64 kernel). */
  dtypeNote?: string;
  vjp?: OpDef<A>['vjp'];
}

/** Defines a shape-preserving unary op that lowers to a single ONNX node. */
export function defineUnaryOp<A extends Attrs = Attrs>({
  name,
  onnx,
  onnxAttrs,
  dtypes,
  dtypeNote,
  vjp,
}: UnarySpec<A>): OpDef<A> {
  return defineOp<A>({
    name,
    infer: (inputs) => {
      checkDtypes(name, inputs, dtypes, dtypeNote);
      return [inputs[0]];
    },
    lower: (ctx, [x], attrs) => [ctx.node1(onnx, [x.name], onnxAttrs ? onnxAttrs(attrs) : {})],
    vjp,
  });
}

export const absOp = defineUnaryOp({
  name: 'abs',
  onnx: 'Abs',
  dtypes: NUMERIC,
  vjp: ([g], [x]) => [mul(g!, sign(x))],
});
/** |x|. Its gradient at 0 is 0 (like PyTorch). */
export const abs = (x: Tensor): Tensor => apply1(absOp, [x]);

export const expOp = defineUnaryOp({
  name: 'exp',
  onnx: 'Exp',
  dtypes: FLOATS,
  vjp: ([g], _x, [out]) => [mul(g!, out)],
});
export const exp = (x: Tensor): Tensor => apply1(expOp, [x]);

export const logOp = defineUnaryOp({ name: 'log', onnx: 'Log', dtypes: FLOATS, vjp: ([g], [x]) => [div(g!, x)] });
/** Natural logarithm. */
export const log = (x: Tensor): Tensor => apply1(logOp, [x]);

export const sqrtOp = defineUnaryOp({
  name: 'sqrt',
  onnx: 'Sqrt',
  dtypes: FLOATS,
  vjp: ([g], _x, [out]) => [div(mul(g!, 0.5), out)],
});
export const sqrt = (x: Tensor): Tensor => apply1(sqrtOp, [x]);

/** 1 / sqrt(x). */
export const rsqrt = (x: Tensor): Tensor => reciprocal(sqrt(x));

export const reciprocalOp = defineUnaryOp({
  name: 'reciprocal',
  onnx: 'Reciprocal',
  dtypes: FLOATS,
  vjp: ([g], _x, [out]) => [neg(mul(g!, mul(out, out)))],
});
/** 1 / x. */
export const reciprocal = (x: Tensor): Tensor => apply1(reciprocalOp, [x]);

export const squareOp = defineOp({
  name: 'square',
  infer: (inputs) => {
    checkDtypes('square', inputs, NUMERIC);
    return [inputs[0]];
  },
  lower: (ctx, [x]) => [ctx.node1('Mul', [x.name, x.name])],
  vjp: ([g], [x]) => [mul(g!, mul(x, 2))],
});
/** x * x. */
export const square = (x: Tensor): Tensor => apply1(squareOp, [x]);

export const erfOp = defineUnaryOp({
  name: 'erf',
  onnx: 'Erf',
  dtypes: ['float32'],
  dtypeNote: "ONNX Runtime's CPU provider has no float64 Erf kernel",
  // d/dx erf(x) = 2/sqrt(pi) * exp(-x^2)
  vjp: ([g], [x]) => [mul(g!, mul(exp(neg(mul(x, x))), 2 / Math.sqrt(Math.PI)))],
});
/** The error function (float32 only: ONNX Runtime's CPU provider has no float64 Erf). */
export const erf = (x: Tensor): Tensor => apply1(erfOp, [x]);

// Rounding: derivative 0 almost everywhere, so no gradient flows (like PyTorch/JAX) rather than an error.
const noGradient: OpDef['vjp'] = () => [null];
export const floorOp = defineUnaryOp({ name: 'floor', onnx: 'Floor', dtypes: FLOATS, vjp: noGradient });
export const ceilOp = defineUnaryOp({ name: 'ceil', onnx: 'Ceil', dtypes: FLOATS, vjp: noGradient });
export const roundOp = defineUnaryOp({ name: 'round', onnx: 'Round', dtypes: FLOATS, vjp: noGradient });
/** Integer tensors are returned unchanged by floor/ceil/round. No gradient flows through them. */
export const floor = (x: Tensor): Tensor => (isFloat(x.dtype) ? apply1(floorOp, [x]) : checkRoundable('floor', x));
export const ceil = (x: Tensor): Tensor => (isFloat(x.dtype) ? apply1(ceilOp, [x]) : checkRoundable('ceil', x));
/** Rounds half to even (0.5 → 0, 1.5 → 2, 2.5 → 2), like NumPy and PyTorch. */
export const round = (x: Tensor): Tensor => (isFloat(x.dtype) ? apply1(roundOp, [x]) : checkRoundable('round', x));
function checkRoundable(op: string, x: Tensor): Tensor {
  checkDtypes(op, [x], NUMERIC);
  return x;
}

export const signOp = defineOp({
  name: 'sign',
  infer: (inputs) => {
    checkDtypes('sign', inputs, NUMERIC);
    return [inputs[0]];
  },
  // ONNX Sign is slow on ORT's CPU provider: Greater/Less + Where is faster.
  lower: (ctx, [x]) => {
    const zero = ctx.scalar(0, x.dtype);
    const negative = ctx.node1('Where', [ctx.node1('Less', [x.name, zero]), ctx.scalar(-1, x.dtype), zero]);
    return [ctx.node1('Where', [ctx.node1('Greater', [x.name, zero]), ctx.scalar(1, x.dtype), negative])];
  },
  vjp: noGradient,
});
/** -1, 0 or 1 by the sign of x (NaN gives 0). No gradient flows through it. */
export const sign = (x: Tensor): Tensor => apply1(signOp, [x]);

// ---------------------------------------------------------------------------------------------
// Binary ops with broadcasting

export const powOp = defineOp({
  name: 'pow',
  infer: inferBroadcast('pow', NUMERIC),
  lower: (ctx, [a, b]) => [ctx.node1('Pow', [a.name, b.name])],
  vjp: ([g], [a, b], [out]) => {
    // d/da = b * a^(b-1), set to 0 where b == 0 (avoids 0 * inf at a == 0, like PyTorch).
    const da = where(equal(b, 0), 0, mul(b, pow(a, sub(b, 1))));
    // d/db = a^b * log(a), set to 0 where a == 0 (the limit for b > 0); log(1) keeps NaN out of that branch.
    const aIsZero = equal(a, 0);
    const db = where(aIsZero, 0, mul(out, log(where(aIsZero, 1, a))));
    return [sumToShape(mul(g!, da), a.shape), sumToShape(mul(g!, db), b.shape)];
  },
});
/** a ** b with broadcasting (mixed dtypes are promoted; JS numbers take the tensor's dtype). */
export const pow = (a: TensorOrNumber, b: TensorOrNumber): Tensor => apply1(powOp, promoted(a, b));

/** Share of the gradient going to `a` in maximum/minimum: 1 where a wins, 1/2 on ties, 0 where b wins. */
function winnerShare(aWins: Tensor, tie: Tensor, like: Tensor): Tensor {
  return where(aWins, constantLike(like, 1), where(tie, constantLike(like, 0.5), constantLike(like, 0)));
}

export const maximumOp = defineOp({
  name: 'maximum',
  infer: inferBroadcast('maximum', NUMERIC),
  lower: (ctx, [a, b]) => [ctx.node1('Max', [a.name, b.name])],
  vjp: ([g], [a, b]) => {
    const shareA = winnerShare(greater(a, b), equal(a, b), g!);
    return [sumToShape(mul(g!, shareA), a.shape), sumToShape(mul(g!, sub(1, shareA)), b.shape)];
  },
});
/** Element-wise maximum with broadcasting. On ties the gradient is split equally between a and b. */
export const maximum = (a: TensorOrNumber, b: TensorOrNumber): Tensor => apply1(maximumOp, promoted(a, b));

export const minimumOp = defineOp({
  name: 'minimum',
  infer: inferBroadcast('minimum', NUMERIC),
  lower: (ctx, [a, b]) => [ctx.node1('Min', [a.name, b.name])],
  vjp: ([g], [a, b]) => {
    const shareA = winnerShare(less(a, b), equal(a, b), g!);
    return [sumToShape(mul(g!, shareA), a.shape), sumToShape(mul(g!, sub(1, shareA)), b.shape)];
  },
});
/** Element-wise minimum with broadcasting. On ties the gradient is split equally between a and b. */
export const minimum = (a: TensorOrNumber, b: TensorOrNumber): Tensor => apply1(minimumOp, promoted(a, b));

export const clipOp = defineOp<{ min?: number; max?: number }>({
  name: 'clip',
  infer: (inputs, { min, max }) => {
    checkDtypes('clip', inputs, NUMERIC);
    if (min !== undefined && max !== undefined && min > max)
      throw opError('clip', `min (${min}) is greater than max (${max})`, inputs);
    return [inputs[0]];
  },
  lower: (ctx, [x], { min, max }) => [
    ctx.node1('Clip', [
      x.name,
      min === undefined ? '' : ctx.scalar(min, x.dtype),
      max === undefined ? '' : ctx.scalar(max, x.dtype),
    ]),
  ],
  vjp: ([g], [x], _o, { min, max }) => {
    let inside: Tensor | undefined;
    if (min !== undefined) inside = greaterEqual(x, min);
    if (max !== undefined) inside = inside ? logicalAnd(inside, lessEqual(x, max)) : lessEqual(x, max);
    return [inside ? where(inside, g!, constantLike(g!, 0)) : g];
  },
});
/**
 * Limits x to [min, max] (either bound may be omitted). The gradient w.r.t. x is 1 inside the
 * closed interval and 0 outside. Tensor bounds broadcast against x; they receive the gradient
 * where x is outside them.
 */
export function clip(x: Tensor, min?: TensorOrNumber, max?: TensorOrNumber): Tensor {
  if (!(min instanceof Tensor) && !(max instanceof Tensor)) {
    // Infinite bounds are no bounds (an int tensor cannot hold them; JSON-keyed caches cannot tell ±Infinity apart).
    const finite = (v: number | undefined) => (v === -Infinity || v === Infinity ? undefined : v);
    if (min === Infinity || max === -Infinity || Number.isNaN(min) || Number.isNaN(max)) {
      throw opError('clip', `bounds must be numbers with min <= max, got min ${min} and max ${max}`, [x]);
    }
    return apply1(clipOp, [x], { min: finite(min), max: finite(max) });
  }
  let out = x;
  if (min !== undefined) out = where(less(out, min), min, out);
  if (max !== undefined) out = where(greater(out, max), max, out);
  return out;
}

export const whereOp = defineOp({
  name: 'where',
  infer: (inputs) => {
    const [cond, a, b] = inputs;
    if (cond.dtype !== 'bool')
      throw opError(
        'where',
        `the condition must be bool, got ${cond.dtype} (use a comparison or cast())`,
        inputs,
        DtypeError,
      );
    const dtype = checkSameDtype('where', [a, b]);
    return [{ shape: broadcastShapes('where', cond.shape, a.shape, b.shape), dtype }];
  },
  lower: (ctx, [cond, a, b]) => [ctx.node1('Where', [cond.name, a.name, b.name])],
  vjp: ([g], [cond, a, b]) => {
    const zero = constantLike(g!, 0);
    return [null, sumToShape(where(cond, g!, zero), a.shape), sumToShape(where(cond, zero, g!), b.shape)];
  },
});
/** Picks a where cond is true, b elsewhere (all three broadcast). */
export const where = (cond: Tensor, a: TensorOrNumber, b: TensorOrNumber): Tensor =>
  apply1(whereOp, [cond, ...promoted(a, b)]);

// ---------------------------------------------------------------------------------------------
// Comparisons (bool outputs, no gradient) and logic

function defineComparison(name: string, onnx: string, allowBool: boolean, negate = false): OpDef {
  return defineOp({
    name,
    infer: inferBroadcast(name, allowBool ? [...NUMERIC, 'bool'] : NUMERIC, 'bool'),
    lower: (ctx, [a, b]) => {
      const r = ctx.node1(onnx, [a.name, b.name]);
      return [negate ? ctx.node1('Not', [r]) : r];
    },
  });
}
export const equalOp = defineComparison('equal', 'Equal', true);
export const notEqualOp = defineComparison('notEqual', 'Equal', true, true);
export const lessOp = defineComparison('less', 'Less', false);
export const lessEqualOp = defineComparison('lessEqual', 'LessOrEqual', false);
export const greaterOp = defineComparison('greater', 'Greater', false);
export const greaterEqualOp = defineComparison('greaterEqual', 'GreaterOrEqual', false);

export const equal = (a: TensorOrNumber | boolean, b: TensorOrNumber | boolean): Tensor =>
  apply1(equalOp, boolOrPromoted(a, b));
export const notEqual = (a: TensorOrNumber | boolean, b: TensorOrNumber | boolean): Tensor =>
  apply1(notEqualOp, boolOrPromoted(a, b));
export const less = (a: TensorOrNumber, b: TensorOrNumber): Tensor => apply1(lessOp, promoted(a, b));
export const lessEqual = (a: TensorOrNumber, b: TensorOrNumber): Tensor => apply1(lessEqualOp, promoted(a, b));
export const greater = (a: TensorOrNumber, b: TensorOrNumber): Tensor => apply1(greaterOp, promoted(a, b));
export const greaterEqual = (a: TensorOrNumber, b: TensorOrNumber): Tensor => apply1(greaterEqualOp, promoted(a, b));

/** equal/notEqual also compare bool tensors with JS booleans. */
function boolOrPromoted(a: TensorOrNumber | boolean, b: TensorOrNumber | boolean): [Tensor, Tensor] {
  if (typeof a === 'boolean' || typeof b === 'boolean') return [asTensor(a, 'bool'), asTensor(b, 'bool')];
  return promoted(a, b);
}

function defineLogical(name: string, onnx: string, arity: 1 | 2): OpDef {
  return defineOp({
    name,
    infer: (inputs) => {
      if (inputs.some((t) => t.dtype !== 'bool')) {
        throw opError(name, 'expects bool tensors (use a comparison or cast(x, "bool"))', inputs, DtypeError);
      }
      return [
        {
          shape: arity === 1 ? inputs[0].shape : broadcastShapes(name, inputs[0].shape, inputs[1].shape),
          dtype: 'bool',
        },
      ];
    },
    lower: (ctx, ins) => [
      ctx.node1(
        onnx,
        ins.map((v) => v.name),
      ),
    ],
  });
}
export const logicalAndOp = defineLogical('logicalAnd', 'And', 2);
export const logicalOrOp = defineLogical('logicalOr', 'Or', 2);
export const logicalNotOp = defineLogical('logicalNot', 'Not', 1);
export const logicalAnd = (a: Tensor, b: Tensor): Tensor => apply1(logicalAndOp, [a, b]);
export const logicalOr = (a: Tensor, b: Tensor): Tensor => apply1(logicalOrOp, [a, b]);
export const logicalNot = (x: Tensor): Tensor => apply1(logicalNotOp, [x]);
