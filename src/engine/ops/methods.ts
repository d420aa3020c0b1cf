/**
 * PyTorch-style method chaining: `x.sub(mean).div(std).relu().sum(-1)`. Each method is the op
 * function of the same name with the tensor as its first argument — the signatures are derived
 * from the functions, so they cannot drift apart. Installed on Tensor.prototype (hence on
 * Variable too) when this module is imported; src/engine/ops/index.ts imports it.
 */
import { Tensor } from '../tensor.js';
import { add, broadcastTo, cast, div, matmul, mul, neg, reshape, stopGradient, sub, sum, transpose } from './core.js';
import {
  abs, ceil, clip, equal, erf, exp, floor, greater, greaterEqual, less, lessEqual, log, logicalAnd, logicalNot, logicalOr,
  maximum, minimum, notEqual, pow, reciprocal, round, rsqrt, sign, sqrt, square,
} from './elementwise.js';
import { elu, gelu, hardSigmoid, leakyRelu, logSoftmax, relu, selu, sigmoid, silu, softmax, softplus, softsign, tanh } from './activations.js';
import { argmax, argmin, logSumExp, max, mean, min, prod, std, variance } from './reduce.js';
import { expand, flatten, flip, pad, permute, slice, split, squeeze, tile, unsqueeze } from './shape.js';
import { gather, gatherElements, indexAdd, indexSelect, scatterAdd, take } from './indexing.js';

/** The functions exposed as methods, by method name. Each takes the tensor as its first argument. */
const methodFunctions = {
  // arithmetic and element-wise math
  add, sub, mul, div, neg, matmul, pow, maximum, minimum, clip,
  abs, exp, log, sqrt, rsqrt, reciprocal, square, erf, sign, floor, ceil, round,
  // comparisons and logic (bool results)
  equal, notEqual, less, lessEqual, greater, greaterEqual, logicalAnd, logicalOr, logicalNot,
  // activations
  relu, leakyRelu, elu, selu, sigmoid, tanh, softplus, softsign, hardSigmoid, silu, gelu, softmax, logSoftmax,
  // reductions
  sum, mean, max, min, prod, argmax, argmin, logSumExp, variance, std,
  // shape
  reshape, transpose, permute, squeeze, unsqueeze, expand, broadcastTo, flatten, slice, flip, pad, tile, split,
  // indexing
  gather, gatherElements, scatterAdd, indexAdd, indexSelect, take,
  // dtype and gradient control
  cast,
  /** The same values with no gradient flowing back (torch's detach, JAX's stop_gradient). */
  detach: stopGradient,
};

type Fn = (...args: any[]) => any;
/** A function's parameters after the first. */
type RestParameters<F extends Fn> = F extends (first: any, ...rest: infer R) => any ? R : never;

export type TensorMethods = {
  [K in keyof typeof methodFunctions]: (...args: RestParameters<(typeof methodFunctions)[K]>) => ReturnType<(typeof methodFunctions)[K]>;
};

declare module '../tensor.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface Tensor extends TensorMethods {}
}

for (const [name, fn] of Object.entries(methodFunctions) as [string, Fn][]) {
  // Non-enumerable like class methods, so tensors print and spread as before.
  Object.defineProperty(Tensor.prototype, name, {
    value: function (this: Tensor, ...args: unknown[]) {
      return fn(this, ...args);
    },
    writable: true,
    configurable: true,
  });
}

/** Names of the methods installed on Tensor (for documentation and tests). */
export const tensorMethodNames: readonly string[] = Object.keys(methodFunctions);
