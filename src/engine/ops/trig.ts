/**
 * Trigonometric and hyperbolic functions. ORT's CPU EP has float64 kernels only for Sin and Cos;
 * the others accept float32 and say so.
 */
import { FLOAT_DTYPES } from '../dtype.js';
import { apply1 } from '../op.js';
import { Tensor } from '../tensor.js';
import { add, div, mul, neg, sub } from './core.js';
import { defineUnaryOp, sqrt, square } from './elementwise.js';

const FLOAT32 = ['float32'] as const;
const NOTE = "ONNX Runtime's CPU kernels for this op are float32 only";

export const sinOp = defineUnaryOp({
  name: 'sin',
  onnx: 'Sin',
  dtypes: FLOAT_DTYPES,
  vjp: ([g], [x]) => [mul(g!, cos(x))],
});
export const cosOp = defineUnaryOp({
  name: 'cos',
  onnx: 'Cos',
  dtypes: FLOAT_DTYPES,
  vjp: ([g], [x]) => [neg(mul(g!, sin(x)))],
});
// tan' = 1 + tan²
export const tanOp = defineUnaryOp({
  name: 'tan',
  onnx: 'Tan',
  dtypes: FLOAT32,
  dtypeNote: NOTE,
  vjp: ([g], _x, [y]) => [mul(g!, add(square(y), 1))],
});
export const asinOp = defineUnaryOp({
  name: 'asin',
  onnx: 'Asin',
  dtypes: FLOAT32,
  dtypeNote: NOTE,
  vjp: ([g], [x]) => [div(g!, sqrt(sub(1, square(x))))],
});
export const acosOp = defineUnaryOp({
  name: 'acos',
  onnx: 'Acos',
  dtypes: FLOAT32,
  dtypeNote: NOTE,
  vjp: ([g], [x]) => [neg(div(g!, sqrt(sub(1, square(x)))))],
});
export const atanOp = defineUnaryOp({
  name: 'atan',
  onnx: 'Atan',
  dtypes: FLOAT32,
  dtypeNote: NOTE,
  vjp: ([g], [x]) => [div(g!, add(square(x), 1))],
});
export const sinhOp = defineUnaryOp({
  name: 'sinh',
  onnx: 'Sinh',
  dtypes: FLOAT32,
  dtypeNote: NOTE,
  vjp: ([g], [x]) => [mul(g!, cosh(x))],
});
export const coshOp = defineUnaryOp({
  name: 'cosh',
  onnx: 'Cosh',
  dtypes: FLOAT32,
  dtypeNote: NOTE,
  vjp: ([g], [x]) => [mul(g!, sinh(x))],
});
export const asinhOp = defineUnaryOp({
  name: 'asinh',
  onnx: 'Asinh',
  dtypes: FLOAT32,
  dtypeNote: NOTE,
  vjp: ([g], [x]) => [div(g!, sqrt(add(square(x), 1)))],
});
export const acoshOp = defineUnaryOp({
  name: 'acosh',
  onnx: 'Acosh',
  dtypes: FLOAT32,
  dtypeNote: NOTE,
  vjp: ([g], [x]) => [div(g!, sqrt(sub(square(x), 1)))],
});
export const atanhOp = defineUnaryOp({
  name: 'atanh',
  onnx: 'Atanh',
  dtypes: FLOAT32,
  dtypeNote: NOTE,
  vjp: ([g], [x]) => [div(g!, sub(1, square(x)))],
});

export const sin = (x: Tensor): Tensor => apply1(sinOp, [x]);
export const cos = (x: Tensor): Tensor => apply1(cosOp, [x]);
export const tan = (x: Tensor): Tensor => apply1(tanOp, [x]);
export const asin = (x: Tensor): Tensor => apply1(asinOp, [x]);
export const acos = (x: Tensor): Tensor => apply1(acosOp, [x]);
export const atan = (x: Tensor): Tensor => apply1(atanOp, [x]);
export const sinh = (x: Tensor): Tensor => apply1(sinhOp, [x]);
export const cosh = (x: Tensor): Tensor => apply1(coshOp, [x]);
export const asinh = (x: Tensor): Tensor => apply1(asinhOp, [x]);
export const acosh = (x: Tensor): Tensor => apply1(acoshOp, [x]);
export const atanh = (x: Tensor): Tensor => apply1(atanhOp, [x]);
