/**
 * Keras-style namespaces: `layers.Conv2D(32, [3, 3], {activation: 'relu'})`, `losses.…`,
 * `optimizers.…` — factories over the classes, so programs read like their Keras originals.
 * Each factory is derived from the class it builds: nothing here defines behaviour.
 *
 * Layer factories also take the single config object of TF.js and Keras configs
 * (`layers.Dense({ units: 8, activation: 'relu' })`), and have TF.js's lowercase names
 * (`layers.dense`, `layers.conv2d`, `layers.maxPooling2d`, `layers.lstm`…). Option keys are
 * checked: a misspelt one is an error that names the closest known key.
 */
import * as nn from './nn/index.js';
import * as train from './train/index.js';
import { checkOptionKeys } from './engine/options.js';

type Ctor = abstract new (...args: any[]) => unknown;
type Factories<T> = {
  [K in keyof T as T[K] extends Ctor ? K : never]: T[K] extends new (...a: infer A) => infer R ? (...a: A) => R : never;
};

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

/**
 * The positional constructor parameters of each layer, by name (the keys of its config object).
 * Layers not listed take only an options object.
 */
const POSITIONAL = {
  Dense: ['units'],
  Activation: ['activation'],
  Reshape: ['targetShape'],
  Permute: ['dims'],
  Dropout: ['rate'],
  Conv1D: ['filters', 'kernelSize'],
  Conv2D: ['filters', 'kernelSize'],
  Conv2DTranspose: ['filters', 'kernelSize'],
  SeparableConv2D: ['filters', 'kernelSize'],
  DepthwiseConv2D: ['kernelSize'],
  MaxPooling1D: ['poolSize'],
  MaxPooling2D: ['poolSize'],
  AveragePooling1D: ['poolSize'],
  AveragePooling2D: ['poolSize'],
  UpSampling2D: ['size'],
  ZeroPadding2D: ['padding'],
  Cropping2D: ['cropping'],
  Embedding: ['inputDim', 'outputDim'],
  SimpleRNN: ['units'],
  LSTM: ['units'],
  GRU: ['units'],
  MultiHeadAttention: ['numHeads', 'keyDim'],
  Bidirectional: ['layer'],
  TimeDistributed: ['layer'],
  Rescaling: ['scale', 'offset'],
  RepeatVector: ['n'],
  SpatialDropout2D: ['rate'],
  GaussianNoise: ['stddev'],
  Lambda: ['fn'],
  OnnxLayer: ['model'],
} as const satisfies Partial<Record<keyof Factories<typeof nn>, readonly string[]>>;
type Positional = typeof POSITIONAL;

/** Options accepted by every layer but not always in its getConfig (where the layer has no use for them). */
const LAYER_OPTION_KEYS = ['name', 'trainable', 'dtype', 'inputShape', 'batchSize'];
/** Constructor options that getConfig stores under another form. */
const EXTRA_OPTION_KEYS: Record<string, string[]> = {
  Bidirectional: ['backwardLayer'],
  Conv2DTranspose: ['groups'],
  SeparableConv2D: ['groups'],
  DepthwiseConv2D: ['groups', 'depthwiseInitializer'],
  Normalization: ['mean', 'variance'],
};

/** The option keys a layer knows: its config's keys (what fromConfig rebuilds it from) and the extras. */
function knownOptionKeys(name: string, names: readonly string[], layer: nn.Layer): string[] {
  let configKeys: string[] = [];
  try {
    configKeys = Object.keys(layer.getConfig());
  } catch {
    // Layers that cannot be serialized (Lambda) know only the common options.
  }
  return [...names, ...LAYER_OPTION_KEYS, ...(EXTRA_OPTION_KEYS[name] ?? []), ...configKeys];
}

type Req<P, N extends readonly string[]> = {
  [I in keyof N & `${number}` as undefined extends P[I & keyof P] ? never : N[I] & string]: P[I & keyof P];
};
type Opt<P, N extends readonly string[]> = {
  [I in keyof N & `${number}` as undefined extends P[I & keyof P] ? N[I] & string : never]?: Exclude<
    P[I & keyof P],
    undefined
  >;
};
/** The single config object of a layer: its positional parameters by name, plus its options. */
export type LayerConfigObject<C extends abstract new (...a: any[]) => unknown, N extends readonly string[]> = Req<
  ConstructorParameters<C>,
  N
> &
  Opt<ConstructorParameters<C>, N> &
  NonNullable<ConstructorParameters<C>[N['length']]>;

type LayerFactories = {
  [K in keyof Factories<typeof nn>]: K extends keyof Positional
    ? Factories<typeof nn>[K] &
        ((
          config: LayerConfigObject<(typeof nn)[K] & (abstract new (...a: any[]) => unknown), Positional[K]>,
        ) => ReturnType<Factories<typeof nn>[K]>)
    : Factories<typeof nn>[K];
};

/** TF.js's name of a layer factory: `Dense` → `dense`, `Conv2D` → `conv2d`, `LSTM` → `lstm`, `SimpleRNN` → `simpleRNN`. */
type Lowered<S extends string> = S extends `${infer A}${infer B}${infer Rest}`
  ? B extends Uppercase<B>
    ? B extends Lowercase<B>
      ? `${Lowercase<A>}${B}${Rest}` // digit after the first letter
      : Rest extends ''
        ? Lowercase<S>
        : `${Lowercase<A>}${Lowered<`${B}${Rest}`>}`
    : `${Lowercase<A>}${B}${Rest}`
  : Lowercase<S>;
type DigitD<S extends string> = S extends `${infer A}${1 | 2 | 3}D${infer Rest}`
  ? S extends `${A}${infer N}D${Rest}`
    ? `${A}${N}d${Rest}`
    : S
  : S;
type TfjsName<S extends string> = DigitD<Lowered<S>>;

/** The TF.js spelling of a class name (see TfjsName). */
function tfjsName(name: string): string {
  // Lower the leading capitals (all of a leading acronym but the one that starts the next word).
  const m = /^[A-Z]+/.exec(name)![0];
  const lead =
    m.length === name.length || m.length === 1 || /[^a-z]/.test(name[m.length])
      ? m.toLowerCase()
      : m.slice(0, -1).toLowerCase() + m.slice(-1);
  return (lead + name.slice(m.length)).replace(/(\d)D/g, '$1d');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

function layerFactories(): LayerFactories & { [K in keyof LayerFactories as TfjsName<K & string>]: LayerFactories[K] } {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(nn)) {
    if (!(typeof value === 'function' && value.prototype instanceof nn.Layer)) continue;
    const cls = value as unknown as new (...a: unknown[]) => nn.Layer;
    const names: readonly string[] = (POSITIONAL as Record<string, readonly string[]>)[name] ?? [];
    const factory = (...args: unknown[]): nn.Layer => {
      // One plain object where a positional argument is expected: the config-object form.
      const configForm = names.length > 0 && args.length === 1 && isPlainObject(args[0]);
      const callArgs = configForm ? [...names.map((n) => (args[0] as Record<string, unknown>)[n]), args[0]] : args;
      let layer: nn.Layer;
      try {
        layer = new cls(...callArgs);
      } catch (e) {
        // `layers.Dense({ unit: 8 })`: name the misspelt key rather than the missing argument.
        if (configForm) checkOptionKeys(`layers.${name}`, args[0] as object, [...names, ...LAYER_OPTION_KEYS], names);
        throw e;
      }
      const options = callArgs[names.length];
      if (isPlainObject(options)) {
        checkOptionKeys(`layers.${name}`, options, knownOptionKeys(name, names, layer));
      }
      return layer;
    };
    out[name] = factory;
    out[tfjsName(name)] ??= factory;
  }
  return out as any;
}

export const layers = layerFactories();
export const losses = factoriesOf(train, train.Loss);
export const optimizers = factoriesOf(train, train.Optimizer);
