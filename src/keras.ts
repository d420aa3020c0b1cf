/**
 * Keras-style namespaces: `layers.Conv2D(32, [3, 3], {activation: 'relu'})`, `losses.…`,
 * `optimizers.…` — factories over the classes, so programs read like their Keras originals.
 * Each factory is derived from the class it builds: nothing here defines behaviour.
 */
import * as nn from './nn/index.js';
import * as train from './train/index.js';

type Ctor = abstract new (...args: any[]) => unknown;
type Factories<T> = { [K in keyof T as T[K] extends Ctor ? K : never]: T[K] extends new (...a: infer A) => infer R ? (...a: A) => R : never };

/** Factories for every exported class of `module` that extends `base`. */
function factoriesOf<T extends object>(module: T, base: Ctor): Factories<T> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(module)) {
    if (typeof value === 'function' && value.prototype instanceof base) {
      out[name] = (...args: unknown[]) => new (value as new (...a: unknown[]) => unknown)(...args);
    }
  }
  return out as Factories<T>;
}

export const layers = factoriesOf(nn, nn.Layer);
export const losses = factoriesOf(train, train.Loss);
export const optimizers = factoriesOf(train, train.Optimizer);
