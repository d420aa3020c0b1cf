/** Activation functions by name, as Keras layers accept them ('relu', 'softmax', ...). */
import { Tensor } from '../engine/tensor.js';
import {
  elu,
  gelu,
  hardSigmoid,
  leakyRelu,
  logSoftmax,
  relu,
  selu,
  sigmoid,
  silu,
  softmax,
  softplus,
  softsign,
  tanh,
} from '../engine/ops/activations.js';
import { mul } from '../engine/ops/core.js';
import { clip, exp } from '../engine/ops/elementwise.js';

export type ActivationFn = (x: Tensor) => Tensor;
export type ActivationSpec = string | ActivationFn | null | undefined;

const activations: Record<string, ActivationFn> = {
  linear: (x) => x,
  relu,
  sigmoid,
  tanh,
  softmax: (x) => softmax(x, -1),
  logSoftmax: (x) => logSoftmax(x, -1),
  gelu: (x) => gelu(x),
  geluTanh: (x) => gelu(x, 'tanh'),
  silu,
  swish: silu,
  elu: (x) => elu(x),
  selu,
  softplus,
  softsign,
  leakyRelu: (x) => leakyRelu(x, 0.2), // Keras' leaky_relu default slope
  hardSigmoid: (x) => hardSigmoid(x),
  // x · relu6(x + 3) / 6 (MobileNetV3; Keras' hard_swish, PyTorch's Hardswish, ONNX HardSwish).
  hardSwish: (x) => mul(x, hardSigmoid(x)),
  relu6: (x) => clip(relu(x), undefined, 6),
  exponential: exp,
};

/** Activations that act on each element alone (so they commute with transposes). */
const ELEMENTWISE = new Set(
  Object.values(activations).filter((f) => f !== activations.softmax && f !== activations.logSoftmax),
);

export function isElementwise(fn: ActivationFn): boolean {
  return ELEMENTWISE.has(fn);
}

function canonical(name: string): string {
  return name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The activation function for a name ('relu', 'leaky_relu', 'softmax'...), a function, or null (linear). */
export function getActivation(spec: ActivationSpec): ActivationFn {
  if (spec === null || spec === undefined) return activations.linear;
  if (typeof spec === 'function') return spec;
  const fn = activations[canonical(spec)];
  if (!fn) throw new Error(`unknown activation '${spec}'; known: ${Object.keys(activations).join(', ')}`);
  return fn;
}

/** The name to store in a config; custom functions cannot be serialized. */
export function serializeActivation(spec: ActivationSpec): string {
  if (spec === null || spec === undefined) return 'linear';
  if (typeof spec === 'string') return spec;
  const name = Object.entries(activations).find(([, f]) => f === spec)?.[0];
  if (!name)
    throw new Error(
      `cannot serialize a custom activation function (${spec.name || 'anonymous'}); use a named activation or register a custom layer`,
    );
  return name;
}
