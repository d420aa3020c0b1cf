/**
 * PyTorch-style method chaining: `x.sub(mean).div(std).relu().sum(-1)`. Each method is the op
 * function of the same name with the tensor as its first argument — the signatures are derived
 * from the functions, so they cannot drift apart. Installed on Tensor.prototype (hence on
 * Variable too) when this module is imported; src/engine/ops/index.ts imports it.
 *
 * The types join the Tensor class by module augmentation (below: tensor.ts imports no op, so the
 * engine's core has no import cycle), and `TensorMethods` names each function as
 * `typeof module.fn`, so the emitted `.d.ts` imports every type it mentions: a consumer with `skipLibCheck: false` sees no unresolved names, and
 * with `skipLibCheck: true` chained methods stay typed (`const s: string = x.add(1)` is an error).
 */
import type { Tensor } from '../tensor.js';
import { Tensor as TensorClass } from '../tensor.js';
import * as core from './core.js';
import * as elementwise from './elementwise.js';
import * as activations from './activations.js';
import * as reduce from './reduce.js';
import * as shape from './shape.js';
import * as indexing from './indexing.js';

// The functions exposed as methods, grouped by the module that defines them. Each takes the
// tensor as its first argument.
const coreNames = [
  'add',
  'sub',
  'mul',
  'div',
  'neg',
  'matmul',
  'reshape',
  'transpose',
  'broadcastTo',
  'sum',
  'cast',
] as const;
const elementwiseNames = [
  'pow',
  'maximum',
  'minimum',
  'clip',
  'abs',
  'exp',
  'log',
  'sqrt',
  'rsqrt',
  'reciprocal',
  'square',
  'erf',
  'sign',
  'floor',
  'ceil',
  'round',
  'equal',
  'notEqual',
  'less',
  'lessEqual',
  'greater',
  'greaterEqual',
  'logicalAnd',
  'logicalOr',
  'logicalNot',
] as const;
const activationNames = [
  'relu',
  'leakyRelu',
  'elu',
  'selu',
  'sigmoid',
  'tanh',
  'softplus',
  'softsign',
  'hardSigmoid',
  'silu',
  'gelu',
  'softmax',
  'logSoftmax',
] as const;
const reduceNames = ['mean', 'max', 'min', 'prod', 'argmax', 'argmin', 'logSumExp', 'variance', 'std'] as const;
const shapeNames = [
  'permute',
  'squeeze',
  'unsqueeze',
  'expand',
  'flatten',
  'slice',
  'flip',
  'pad',
  'tile',
  'split',
] as const;
const indexingNames = ['gather', 'gatherElements', 'scatterAdd', 'indexAdd', 'indexSelect', 'take'] as const;

type Fn = (...args: any[]) => any;
/** A function's parameters after the first. */
type RestParameters<F> = F extends (first: any, ...rest: infer R) => any ? R : never;
/** The functions `K` of module `M` as methods (the receiver is the first argument). */
type MethodsOf<M, K extends keyof M> = {
  [P in K]: (...args: RestParameters<M[P]>) => M[P] extends Fn ? ReturnType<M[P]> : never;
};

/** The op methods every tensor has (`x.add(1).relu().sum(-1)`). */
export type TensorMethods = MethodsOf<typeof core, (typeof coreNames)[number]> &
  MethodsOf<typeof elementwise, (typeof elementwiseNames)[number]> &
  MethodsOf<typeof activations, (typeof activationNames)[number]> &
  MethodsOf<typeof reduce, (typeof reduceNames)[number]> &
  MethodsOf<typeof shape, (typeof shapeNames)[number]> &
  MethodsOf<typeof indexing, (typeof indexingNames)[number]> & {
    /** The same values with no gradient flowing back (torch's detach, JAX's stop_gradient). */
    detach(): Tensor;
  };

declare module '../tensor.js' {
  // Backed at run time: the methods are installed on Tensor.prototype below.
  interface Tensor extends TensorMethods {}
}

/** Fewest and most arguments after the tensor (-1: any number) of each method. */
type MinLen<P extends readonly unknown[], Acc extends unknown[] = []> = P extends readonly [infer H, ...infer R]
  ? MinLen<R, [...Acc, H]>
  : Acc['length'];
type MaxLen<P extends readonly unknown[]> = number extends Required<P>['length'] ? -1 : Required<P>['length'];
type Arity<F> = F extends (...args: infer P) => any ? readonly [MinLen<P>, MaxLen<P>] : never;

/**
 * Argument counts, checked by the compiler against the signatures (a signature change that is not
 * reflected here does not compile). Calls from JavaScript or through `any` with the wrong count —
 * TF.js's `x.slice(begin, size)`, torch's `x.reshape(3, 2)` — fail with the expected form instead
 * of silently ignoring an argument.
 */
const ARITY = {
  add: [1, 1],
  sub: [1, 1],
  mul: [1, 1],
  div: [1, 1],
  neg: [0, 0],
  matmul: [1, 1],
  reshape: [1, 1],
  transpose: [0, 1],
  broadcastTo: [1, 1],
  sum: [0, 2],
  cast: [1, 1],
  pow: [1, 1],
  maximum: [1, 1],
  minimum: [1, 1],
  clip: [0, 2],
  abs: [0, 0],
  exp: [0, 0],
  log: [0, 0],
  sqrt: [0, 0],
  rsqrt: [0, 0],
  reciprocal: [0, 0],
  square: [0, 0],
  erf: [0, 0],
  sign: [0, 0],
  floor: [0, 0],
  ceil: [0, 0],
  round: [0, 0],
  equal: [1, 1],
  notEqual: [1, 1],
  less: [1, 1],
  lessEqual: [1, 1],
  greater: [1, 1],
  greaterEqual: [1, 1],
  logicalAnd: [1, 1],
  logicalOr: [1, 1],
  logicalNot: [0, 0],
  relu: [0, 0],
  leakyRelu: [0, 1],
  elu: [0, 1],
  selu: [0, 0],
  sigmoid: [0, 0],
  tanh: [0, 0],
  softplus: [0, 0],
  softsign: [0, 0],
  hardSigmoid: [0, 1],
  silu: [0, 0],
  gelu: [0, 1],
  softmax: [0, 1],
  logSoftmax: [0, 1],
  mean: [0, 2],
  max: [0, 2],
  min: [0, 2],
  prod: [0, 2],
  argmax: [0, 2],
  argmin: [0, 2],
  logSumExp: [0, 2],
  variance: [0, 2],
  std: [0, 2],
  permute: [1, 1],
  squeeze: [0, 1],
  unsqueeze: [1, 1],
  expand: [1, 1],
  flatten: [0, 2],
  slice: [1, 1],
  flip: [1, 1],
  pad: [1, 2],
  tile: [1, 1],
  split: [1, 2],
  gather: [1, 2],
  gatherElements: [1, 2],
  scatterAdd: [2, 3],
  indexAdd: [2, 3],
  indexSelect: [1, 2],
  take: [1, 1],
  detach: [0, 0],
} as const satisfies { [K in keyof TensorMethods]: Arity<TensorMethods[K]> };

/** How a function is called, from its source: `slice(spec)` for `function slice(x, spec)`. */
function callForm(name: string, fn: Fn): string {
  const src = fn.toString();
  const open = src.indexOf('(');
  let depth = 0;
  let close = open;
  for (let i = open; i < src.length; i++) {
    if (src[i] === '(') depth++;
    else if (src[i] === ')' && --depth === 0) {
      close = i;
      break;
    }
  }
  const params = src
    .slice(open + 1, close)
    .split(',')
    .slice(1)
    .map((p) => p.trim())
    .filter(Boolean);
  return `x.${name}(${params.join(', ')})`;
}

/** Extra guidance for the argument lists people bring from other libraries. */
const HINTS: Record<string, string> = {
  slice:
    ' — per axis [start, end, step?] or an index: x.slice([[0, 3], [0, 2]]) is x[0:3, 0:2]; or the ONNX form ' +
    "x.slice({ starts, ends, axes?, steps? }). TF.js's slice(begin, size) is x.slice({ starts: begin, ends: begin + size })",
  reshape: ' — the shape is one array: x.reshape([3, 2])',
  transpose: ' — the permutation is one array: x.transpose([1, 0])',
  permute: ' — the permutation is one array: x.permute([1, 0])',
  expand: ' — the shape is one array: x.expand([2, 3])',
  broadcastTo: ' — the shape is one array: x.broadcastTo([2, 3])',
  tile: ' — the repetitions are one array: x.tile([2, 2])',
};

const groups: [Record<string, unknown>, readonly string[]][] = [
  [core, coreNames],
  [elementwise, elementwiseNames],
  [activations, activationNames],
  [reduce, reduceNames],
  [shape, shapeNames],
  [indexing, indexingNames],
];
const methodFunctions: Record<string, Fn> = { detach: core.stopGradient };
for (const [module, names] of groups) for (const name of names) methodFunctions[name] = module[name] as Fn;

for (const [name, fn] of Object.entries(methodFunctions)) {
  const [minArgs, maxArgs] = (ARITY as Record<string, readonly [number, number]>)[name];
  // Non-enumerable like class methods, so tensors print and spread as before.
  Object.defineProperty(TensorClass.prototype, name, {
    value: function (this: Tensor, ...args: unknown[]) {
      // Trailing undefined arguments are absent ones (an optional parameter passed through).
      let n = args.length;
      while (n > 0 && args[n - 1] === undefined) n--;
      if (n < minArgs || (maxArgs >= 0 && n > maxArgs)) {
        const expected =
          minArgs === maxArgs ? `${minArgs}` : maxArgs < 0 ? `at least ${minArgs}` : `${minArgs} to ${maxArgs}`;
        throw new Error(
          `${name}: got ${n} argument(s), expected ${expected}: ${callForm(name, fn)}${HINTS[name] ?? ''}`,
        );
      }
      return fn(this, ...args);
    },
    writable: true,
    configurable: true,
  });
}

/** Names of the methods installed on Tensor (for documentation and tests). */
export const tensorMethodNames: readonly string[] = Object.keys(methodFunctions);
