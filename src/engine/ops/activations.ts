/**
 * Activation functions. Where ONNX Runtime has a fused CPU kernel (Relu, Sigmoid, Tanh, Elu, Selu,
 * LeakyRelu, Softplus, Softsign, HardSigmoid, Softmax, LogSoftmax) the op lowers to it; VJPs are
 * written with other ops, preferably from the output (sigmoid' = y(1 - y)). GELU is a
 * composition (ONNX opset 18 has no Gelu) emitting the node patterns ORT fuses into Gelu / FastGelu.
 *
 * ONNX float attributes are float32, so VJPs use Math.fround(alpha) — the value ORT actually
 * computes with — which keeps float64 gradient checks exact.
 */
import { float } from '../onnx/ctx.js';
import { type TensorType, apply1, checkDtypes, defineOp, opError } from '../op.js';
import { DtypeError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { add, div, mul, sub, sum } from './core.js';
import { axisFor } from './reduce.js';
import {
  FLOAT_DTYPES,
  NUMERIC_DTYPES,
  abs,
  defineUnaryOp,
  erf,
  exp,
  greater,
  less,
  logicalAnd,
  pow,
  square,
  where,
} from './elementwise.js';

export const reluOp = defineUnaryOp({
  name: 'relu',
  onnx: 'Relu',
  dtypes: NUMERIC_DTYPES,
  vjp: ([g], [x]) => [where(greater(x, 0), g!, 0)],
});
/** max(x, 0). The gradient at 0 is 0. */
export const relu = (x: Tensor): Tensor => apply1(reluOp, [x]);

export const leakyReluOp = defineUnaryOp<{ alpha: number }>({
  name: 'leakyRelu',
  onnx: 'LeakyRelu',
  onnxAttrs: ({ alpha }) => ({ alpha: float(alpha) }),
  dtypes: FLOAT_DTYPES,
  vjp: ([g], [x], _o, { alpha }) => [where(greater(x, 0), g!, mul(g!, Math.fround(alpha)))],
});
/** x for x > 0, alpha * x otherwise (alpha is stored as float32 in ONNX). */
export const leakyRelu = (x: Tensor, alpha = 0.01): Tensor => apply1(leakyReluOp, [x], { alpha });

export const eluOp = defineUnaryOp<{ alpha: number }>({
  name: 'elu',
  onnx: 'Elu',
  onnxAttrs: ({ alpha }) => ({ alpha: float(alpha) }),
  dtypes: FLOAT_DTYPES,
  // For x <= 0: d/dx alpha(e^x - 1) = alpha e^x = y + alpha.
  vjp: ([g], [x], [y], { alpha }) => [where(greater(x, 0), g!, mul(g!, add(y, Math.fround(alpha))))],
});
/** x for x > 0, alpha * (exp(x) - 1) otherwise. */
export const elu = (x: Tensor, alpha = 1): Tensor => apply1(eluOp, [x], { alpha });

/** SELU constants as ONNX stores them (float32-rounded; PyTorch's differ by ~1e-8 relative). */
export const SELU_ALPHA = Math.fround(1.6732632423543772);
export const SELU_SCALE = Math.fround(1.0507009873554805);
export const seluOp = defineUnaryOp({
  name: 'selu',
  onnx: 'Selu',
  onnxAttrs: () => ({ alpha: float(SELU_ALPHA), gamma: float(SELU_SCALE) }),
  dtypes: FLOAT_DTYPES,
  // For x <= 0: d/dx scale*alpha(e^x - 1) = y + scale*alpha.
  vjp: ([g], [x], [y]) => [where(greater(x, 0), mul(g!, SELU_SCALE), mul(g!, add(y, SELU_SCALE * SELU_ALPHA)))],
});
/** scale * elu(x, alpha) with the self-normalizing constants (SELU_ALPHA, SELU_SCALE). */
export const selu = (x: Tensor): Tensor => apply1(seluOp, [x]);

export const sigmoidOp = defineUnaryOp({
  name: 'sigmoid',
  onnx: 'Sigmoid',
  dtypes: FLOAT_DTYPES,
  vjp: ([g], _x, [y]) => [mul(g!, mul(y, sub(1, y)))],
});
/** 1 / (1 + exp(-x)). */
export const sigmoid = (x: Tensor): Tensor => apply1(sigmoidOp, [x]);

export const tanhOp = defineUnaryOp({
  name: 'tanh',
  onnx: 'Tanh',
  dtypes: FLOAT_DTYPES,
  vjp: ([g], _x, [y]) => [mul(g!, sub(1, mul(y, y)))],
});
export const tanh = (x: Tensor): Tensor => apply1(tanhOp, [x]);

export const softplusOp = defineOp({
  name: 'softplus',
  infer: (inputs) => {
    checkDtypes('softplus', inputs, FLOAT_DTYPES);
    return [inputs[0]];
  },
  // float32: ORT's (stable) Softplus kernel. float64 has no kernel; ORT would expand ONNX's function
  // body log(exp(x) + 1), which overflows for x > 709, so float64 uses relu(x) + log(1 + exp(-|x|)).
  lower: (ctx, [x]) => {
    if (x.dtype === 'float32') return [ctx.node1('Softplus', [x.name])];
    const tail = ctx.node1('Exp', [ctx.node1('Neg', [ctx.node1('Abs', [x.name])])]);
    const log1p = ctx.node1('Log', [ctx.node1('Add', [tail, ctx.scalar(1, x.dtype)])]);
    return [ctx.node1('Add', [ctx.node1('Relu', [x.name]), log1p])];
  },
  vjp: ([g], [x]) => [mul(g!, sigmoid(x))],
});
/** log(1 + exp(x)). */
export const softplus = (x: Tensor): Tensor => apply1(softplusOp, [x]);

export const softsignOp = defineUnaryOp({
  name: 'softsign',
  onnx: 'Softsign',
  dtypes: FLOAT_DTYPES,
  vjp: ([g], [x]) => [div(g!, square(add(abs(x), 1)))],
});
/** x / (1 + |x|). */
export const softsign = (x: Tensor): Tensor => apply1(softsignOp, [x]);

/** HardSigmoid parameters: Keras 3 / PyTorch's relu6(x + 3) / 6 (ONNX's own default is alpha 0.2). */
export interface HardSigmoidOptions {
  alpha?: number;
  beta?: number;
}
export const hardSigmoidOp = defineUnaryOp<{ alpha: number; beta: number }>({
  name: 'hardSigmoid',
  onnx: 'HardSigmoid',
  onnxAttrs: ({ alpha, beta }) => ({ alpha: float(alpha), beta: float(beta) }),
  dtypes: FLOAT_DTYPES,
  // Slope alpha strictly inside the linear part (0 < y < 1), 0 on the flat parts and at the kinks.
  vjp: ([g], _x, [y], { alpha }) => [where(logicalAnd(greater(y, 0), less(y, 1)), mul(g!, Math.fround(alpha)), 0)],
});
/**
 * max(0, min(1, alpha * x + beta)); defaults alpha = 1/6, beta = 0.5, i.e. relu6(x + 3) / 6 as in
 * Keras 3 and PyTorch (Keras 2 and ONNX default to alpha = 0.2).
 */
export const hardSigmoid = (x: Tensor, { alpha = 1 / 6, beta = 0.5 }: HardSigmoidOptions = {}): Tensor =>
  apply1(hardSigmoidOp, [x], { alpha, beta });

export const siluOp = defineOp({
  name: 'silu',
  infer: (inputs) => {
    checkDtypes('silu', inputs, FLOAT_DTYPES);
    return [inputs[0]];
  },
  // float32: Mul(x, Sigmoid(x)), which ORT fuses into its QuickGelu kernel. ORT 1.30 applies that
  // fusion to float64 too although QuickGelu has only a float kernel (the session then fails to
  // load), so float64 uses x / (1 + exp(-x)), which the fusion does not match.
  lower: (ctx, [x]) => {
    if (x.dtype === 'float32') return [ctx.node1('Mul', [x.name, ctx.node1('Sigmoid', [x.name])])];
    const denominator = ctx.node1('Add', [ctx.node1('Exp', [ctx.node1('Neg', [x.name])]), ctx.scalar(1, x.dtype)]);
    return [ctx.node1('Div', [x.name, denominator])];
  },
  // d/dx x s(x) = s (1 + x (1 - s))
  vjp: ([g], [x]) => {
    const s = sigmoid(x);
    return [mul(g!, mul(s, add(mul(x, sub(1, s)), 1)))];
  },
});
/** x * sigmoid(x) (also called swish). */
export const silu = (x: Tensor): Tensor => apply1(siluOp, [x]);

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
/**
 * Gaussian error linear unit. approximate 'none' (default): x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)),
 * float32 only (ONNX Runtime's CPU provider has no float64 Erf); 'tanh':
 * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), any float dtype.
 */
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  if (approximate === 'tanh') {
    // Pow -> Mul -> Add -> Mul -> Tanh -> Add, times Mul(x, 0.5): the pattern ORT fuses into FastGelu (float32).
    const inner = mul(add(x, mul(pow(x, 3), 0.044715)), SQRT_2_OVER_PI);
    return mul(mul(x, 0.5), add(tanh(inner), 1));
  }
  if (approximate !== 'none')
    throw opError('gelu', `approximate must be 'none' or 'tanh', got '${String(approximate)}'`, [x]);
  if (x.dtype !== 'float32') {
    throw opError(
      'gelu',
      `approximate 'none' supports only float32 (it needs Erf, which ONNX Runtime's CPU provider lacks for ${x.dtype}); use float32 or approximate: 'tanh'`,
      [x],
      DtypeError,
    );
  }
  // Div -> Erf -> Add -> Mul(x) -> Mul(0.5): the node pattern ORT fuses into one Gelu kernel.
  return mul(mul(x, add(erf(div(x, Math.SQRT2)), 1)), 0.5);
}

// ---------------------------------------------------------------------------------------------
// softmax / logSoftmax

function inferAxisOp(name: string) {
  return (inputs: readonly TensorType[], { axis }: { axis: number }): TensorType[] => {
    const [x] = inputs;
    checkDtypes(name, inputs, FLOAT_DTYPES);
    if (!(axis >= 0 && axis < x.shape.length)) throw opError(name, `axis ${axis} is out of range`, inputs);
    return [x];
  };
}

export const softmaxOp = defineOp<{ axis: number }>({
  name: 'softmax',
  infer: inferAxisOp('softmax'),
  lower: (ctx, [x], { axis }) => [ctx.node1('Softmax', [x.name], { axis })],
  vjp: ([g], _x, [y], { axis }) => [mul(y, sub(g!, sum(mul(g!, y), axis, true)))],
});

export const logSoftmaxOp = defineOp<{ axis: number }>({
  name: 'logSoftmax',
  infer: inferAxisOp('logSoftmax'),
  lower: (ctx, [x], { axis }) => [ctx.node1('LogSoftmax', [x.name], { axis })],
  vjp: ([g], _x, [y], { axis }) => [sub(g!, mul(exp(y), sum(g!, axis, true)))],
});

/** exp(x) / sum(exp(x)) along `axis` (default the last). */
export const softmax = (x: Tensor, axis = -1): Tensor => apply1(softmaxOp, [x], { axis: axisFor('softmax', x, axis) });
/** log(softmax(x)) along `axis`, computed stably. */
export const logSoftmax = (x: Tensor, axis = -1): Tensor =>
  apply1(logSoftmaxOp, [x], { axis: axisFor('logSoftmax', x, axis) });
