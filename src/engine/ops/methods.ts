/**
 * PyTorch-style method chaining: `x.sub(mean).div(std).relu().sum(-1)`. Each method is the op
 * function of the same name with the tensor as its first argument — the signatures are derived
 * from the functions, so they cannot drift apart. Installed on Tensor.prototype (hence on
 * Variable too) when this module is imported; src/engine/ops/index.ts imports it.
 *
 * The types are declared on the Tensor class itself (tensor.ts merges `TensorMethods` into it),
 * and `TensorMethods` names each function as `typeof module.fn`, so the emitted `.d.ts` imports
 * every type it mentions: a consumer with `skipLibCheck: false` sees no unresolved names, and
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
const coreNames = ['add', 'sub', 'mul', 'div', 'neg', 'matmul', 'reshape', 'transpose', 'broadcastTo', 'sum', 'cast'] as const;
const elementwiseNames = [
  'pow', 'maximum', 'minimum', 'clip', 'abs', 'exp', 'log', 'sqrt', 'rsqrt', 'reciprocal', 'square', 'erf', 'sign', 'floor',
  'ceil', 'round', 'equal', 'notEqual', 'less', 'lessEqual', 'greater', 'greaterEqual', 'logicalAnd', 'logicalOr', 'logicalNot',
] as const;
const activationNames = [
  'relu', 'leakyRelu', 'elu', 'selu', 'sigmoid', 'tanh', 'softplus', 'softsign', 'hardSigmoid', 'silu', 'gelu', 'softmax', 'logSoftmax',
] as const;
const reduceNames = ['mean', 'max', 'min', 'prod', 'argmax', 'argmin', 'logSumExp', 'variance', 'std'] as const;
const shapeNames = ['permute', 'squeeze', 'unsqueeze', 'expand', 'flatten', 'slice', 'flip', 'pad', 'tile', 'split'] as const;
const indexingNames = ['gather', 'gatherElements', 'scatterAdd', 'indexAdd', 'indexSelect', 'take'] as const;

type Fn = (...args: any[]) => any;
/** A function's parameters after the first. */
type RestParameters<F> = F extends (first: any, ...rest: infer R) => any ? R : never;
/** The functions `K` of module `M` as methods (the receiver is the first argument). */
type MethodsOf<M, K extends keyof M> = { [P in K]: (...args: RestParameters<M[P]>) => M[P] extends Fn ? ReturnType<M[P]> : never };

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

const groups: [Record<string, unknown>, readonly string[]][] = [
  [core, coreNames], [elementwise, elementwiseNames], [activations, activationNames],
  [reduce, reduceNames], [shape, shapeNames], [indexing, indexingNames],
];
const methodFunctions: Record<string, Fn> = { detach: core.stopGradient };
for (const [module, names] of groups) for (const name of names) methodFunctions[name] = module[name] as Fn;

for (const [name, fn] of Object.entries(methodFunctions)) {
  // Non-enumerable like class methods, so tensors print and spread as before.
  Object.defineProperty(TensorClass.prototype, name, {
    value: function (this: Tensor, ...args: unknown[]) {
      return fn(this, ...args);
    },
    writable: true,
    configurable: true,
  });
}

/** Names of the methods installed on Tensor (for documentation and tests). */
export const tensorMethodNames: readonly string[] = Object.keys(methodFunctions);
