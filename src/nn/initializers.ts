/**
 * Weight initializers with Keras semantics. All draw from the project PRNG (the global generator
 * unless one is given), so `setSeed(n)` makes model construction repeatable.
 */
import { type DType, allocate } from '../engine/dtype.js';
import { type Generator, globalGenerator } from '../engine/random.js';
import { numel, shapeStr } from '../engine/shape.js';
import { Tensor } from '../engine/tensor.js';
import { nameKey } from './names.js';

export interface SerializedObject {
  className: string;
  config: Record<string, unknown>;
}

export interface Initializer {
  readonly className: string;
  /** A concrete tensor of the given shape and dtype. */
  init(shape: readonly number[], dtype?: DType): Tensor;
  getConfig(): Record<string, unknown>;
}

/** Keras' fan computation: dense [in, out]; conv kernels [...spatial, in, out]. */
export function computeFans(shape: readonly number[]): [fanIn: number, fanOut: number] {
  if (shape.length === 0) return [1, 1];
  if (shape.length === 1) return [shape[0], shape[0]];
  if (shape.length === 2) return [shape[0], shape[1]];
  const receptive = numel(shape.slice(0, -2));
  return [shape[shape.length - 2] * receptive, shape[shape.length - 1] * receptive];
}

type FloatArray = Float32Array | Float64Array;

function floatTensor(shape: readonly number[], dtype: DType, fill: (out: FloatArray) => void): Tensor {
  if (dtype !== 'float32' && dtype !== 'float64') {
    const f = new Float64Array(numel(shape));
    fill(f);
    const data = allocate(dtype, f.length);
    for (let i = 0; i < f.length; i++) {
      if (data instanceof BigInt64Array) data[i] = BigInt(Math.round(f[i]));
      else (data as Int32Array)[i] = f[i];
    }
    return new Tensor(shape, dtype, data);
  }
  const data = allocate(dtype, numel(shape)) as FloatArray;
  fill(data);
  return new Tensor(shape, dtype, data);
}

// Standard deviation of a unit normal truncated to [-2, 2]; Keras divides by it so the
// truncated distribution has the requested variance.
const TRUNCATED_STD = 0.87962566103423978;

function fillTruncated(g: Generator, out: FloatArray, mean: number, std: number): void {
  for (let i = 0; i < out.length; i++) {
    let v: number;
    do v = g.normal();
    while (v < -2 || v > 2);
    out[i] = mean + std * v;
  }
}

abstract class BaseInitializer implements Initializer {
  abstract readonly className: string;
  constructor(protected readonly generator?: Generator) {}
  protected get g(): Generator {
    return this.generator ?? globalGenerator;
  }
  abstract init(shape: readonly number[], dtype?: DType): Tensor;
  getConfig(): Record<string, unknown> {
    return {};
  }
}

export class Zeros extends BaseInitializer {
  readonly className = 'Zeros';
  init(shape: readonly number[], dtype: DType = 'float32'): Tensor {
    return floatTensor(shape, dtype, (o) => o.fill(0));
  }
}

export class Ones extends BaseInitializer {
  readonly className = 'Ones';
  init(shape: readonly number[], dtype: DType = 'float32'): Tensor {
    return floatTensor(shape, dtype, (o) => o.fill(1));
  }
}

export class Constant extends BaseInitializer {
  readonly className = 'Constant';
  constructor(readonly value = 0) {
    super();
  }
  init(shape: readonly number[], dtype: DType = 'float32'): Tensor {
    return floatTensor(shape, dtype, (o) => o.fill(this.value));
  }
  override getConfig() {
    return { value: this.value };
  }
}

export class RandomUniform extends BaseInitializer {
  readonly className = 'RandomUniform';
  constructor(
    readonly minval = -0.05,
    readonly maxval = 0.05,
    generator?: Generator,
  ) {
    super(generator);
  }
  init(shape: readonly number[], dtype: DType = 'float32'): Tensor {
    return floatTensor(shape, dtype, (o) => this.g.fillUniform(o, this.minval, this.maxval));
  }
  override getConfig() {
    return { minval: this.minval, maxval: this.maxval };
  }
}

export class RandomNormal extends BaseInitializer {
  readonly className = 'RandomNormal';
  constructor(
    readonly mean = 0,
    readonly stddev = 0.05,
    generator?: Generator,
  ) {
    super(generator);
  }
  init(shape: readonly number[], dtype: DType = 'float32'): Tensor {
    return floatTensor(shape, dtype, (o) => this.g.fillNormal(o, this.mean, this.stddev));
  }
  override getConfig() {
    return { mean: this.mean, stddev: this.stddev };
  }
}

/** Normal values redrawn until within two standard deviations of the mean. */
export class TruncatedNormal extends BaseInitializer {
  readonly className = 'TruncatedNormal';
  constructor(
    readonly mean = 0,
    readonly stddev = 0.05,
    generator?: Generator,
  ) {
    super(generator);
  }
  init(shape: readonly number[], dtype: DType = 'float32'): Tensor {
    return floatTensor(shape, dtype, (o) => fillTruncated(this.g, o, this.mean, this.stddev));
  }
  override getConfig() {
    return { mean: this.mean, stddev: this.stddev };
  }
}

export type FanMode = 'fanIn' | 'fanOut' | 'fanAvg';
export type VarianceDistribution = 'truncatedNormal' | 'untruncatedNormal' | 'uniform';

/** Keras' VarianceScaling: variance = scale / fan, the base of Glorot/He/LeCun. */
export class VarianceScaling extends BaseInitializer {
  className = 'VarianceScaling';
  constructor(
    readonly scale = 1,
    readonly mode: FanMode = 'fanIn',
    readonly distribution: VarianceDistribution = 'truncatedNormal',
    generator?: Generator,
  ) {
    super(generator);
  }
  init(shape: readonly number[], dtype: DType = 'float32'): Tensor {
    const [fanIn, fanOut] = computeFans(shape);
    const fan = this.mode === 'fanIn' ? fanIn : this.mode === 'fanOut' ? fanOut : (fanIn + fanOut) / 2;
    const variance = this.scale / Math.max(1, fan);
    return floatTensor(shape, dtype, (o) => {
      if (this.distribution === 'uniform') {
        const limit = Math.sqrt(3 * variance);
        this.g.fillUniform(o, -limit, limit);
      } else if (this.distribution === 'untruncatedNormal') {
        this.g.fillNormal(o, 0, Math.sqrt(variance));
      } else {
        fillTruncated(this.g, o, 0, Math.sqrt(variance) / TRUNCATED_STD);
      }
    });
  }
  override getConfig(): Record<string, unknown> {
    return { scale: this.scale, mode: this.mode, distribution: this.distribution };
  }
}

/** VarianceScaling presets (Glorot/He/LeCun); their configs are empty like Keras'. */
abstract class VarianceScalingPreset extends VarianceScaling {
  override getConfig(): Record<string, unknown> {
    return {};
  }
}

export class GlorotUniform extends VarianceScalingPreset {
  constructor(generator?: Generator) {
    super(1, 'fanAvg', 'uniform', generator);
    this.className = 'GlorotUniform';
  }
}

export class GlorotNormal extends VarianceScalingPreset {
  constructor(generator?: Generator) {
    super(1, 'fanAvg', 'truncatedNormal', generator);
    this.className = 'GlorotNormal';
  }
}

export class HeNormal extends VarianceScalingPreset {
  constructor(generator?: Generator) {
    super(2, 'fanIn', 'truncatedNormal', generator);
    this.className = 'HeNormal';
  }
}

export class HeUniform extends VarianceScalingPreset {
  constructor(generator?: Generator) {
    super(2, 'fanIn', 'uniform', generator);
    this.className = 'HeUniform';
  }
}

export class LecunNormal extends VarianceScalingPreset {
  constructor(generator?: Generator) {
    super(1, 'fanIn', 'truncatedNormal', generator);
    this.className = 'LecunNormal';
  }
}

export class LecunUniform extends VarianceScalingPreset {
  constructor(generator?: Generator) {
    super(1, 'fanIn', 'uniform', generator);
    this.className = 'LecunUniform';
  }
}

/** A random orthogonal matrix (rows = product of all but the last axis), times `gain`. */
export class Orthogonal extends BaseInitializer {
  readonly className = 'Orthogonal';
  constructor(
    readonly gain = 1,
    generator?: Generator,
  ) {
    super(generator);
  }
  init(shape: readonly number[], dtype: DType = 'float32'): Tensor {
    if (shape.length < 2) throw new Error(`Orthogonal initializer: needs a shape of rank >= 2, got ${shapeStr(shape)}`);
    const cols = shape[shape.length - 1];
    const rows = numel(shape) / cols;
    // Orthonormalize the columns of a tall random matrix (modified Gram-Schmidt), transpose if wide.
    const [n, m] = rows >= cols ? [rows, cols] : [cols, rows];
    const a = new Float64Array(n * m);
    this.g.fillNormal(a);
    for (let j = 0; j < m; j++) {
      for (let k = 0; k < j; k++) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += a[i * m + j] * a[i * m + k];
        for (let i = 0; i < n; i++) a[i * m + j] -= dot * a[i * m + k];
      }
      let norm = 0;
      for (let i = 0; i < n; i++) norm += a[i * m + j] ** 2;
      norm = Math.sqrt(norm) || 1;
      for (let i = 0; i < n; i++) a[i * m + j] /= norm;
    }
    return floatTensor(shape, dtype, (o) => {
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) o[r * cols + c] = this.gain * (rows >= cols ? a[r * m + c] : a[c * m + r]);
      }
    });
  }
  override getConfig() {
    return { gain: this.gain };
  }
}

export const zeros = (): Initializer => new Zeros();
export const ones = (): Initializer => new Ones();
export const constant = (value: number): Initializer => new Constant(value);
export const randomUniform = (minval = -0.05, maxval = 0.05, generator?: Generator): Initializer =>
  new RandomUniform(minval, maxval, generator);
export const randomNormal = (mean = 0, stddev = 0.05, generator?: Generator): Initializer =>
  new RandomNormal(mean, stddev, generator);
export const truncatedNormal = (mean = 0, stddev = 0.05, generator?: Generator): Initializer =>
  new TruncatedNormal(mean, stddev, generator);
export const varianceScaling = (
  scale = 1,
  mode: FanMode = 'fanIn',
  distribution: VarianceDistribution = 'truncatedNormal',
  generator?: Generator,
): Initializer => new VarianceScaling(scale, mode, distribution, generator);
export const glorotUniform = (generator?: Generator): Initializer => new GlorotUniform(generator);
export const glorotNormal = (generator?: Generator): Initializer => new GlorotNormal(generator);
export const heNormal = (generator?: Generator): Initializer => new HeNormal(generator);
export const heUniform = (generator?: Generator): Initializer => new HeUniform(generator);
export const lecunNormal = (generator?: Generator): Initializer => new LecunNormal(generator);
export const lecunUniform = (generator?: Generator): Initializer => new LecunUniform(generator);
export const orthogonal = (gain = 1, generator?: Generator): Initializer => new Orthogonal(gain, generator);

export type InitializerSpec = Initializer | string | SerializedObject;

const byName: Record<string, (config: Record<string, any>) => Initializer> = {
  zeros: () => new Zeros(),
  ones: () => new Ones(),
  constant: (c) => new Constant(c.value),
  randomuniform: (c) => new RandomUniform(c.minval, c.maxval),
  randomnormal: (c) => new RandomNormal(c.mean, c.stddev),
  truncatednormal: (c) => new TruncatedNormal(c.mean, c.stddev),
  variancescaling: (c) => new VarianceScaling(c.scale, c.mode, c.distribution),
  glorotuniform: () => new GlorotUniform(),
  glorotnormal: () => new GlorotNormal(),
  henormal: () => new HeNormal(),
  heuniform: () => new HeUniform(),
  lecunnormal: () => new LecunNormal(),
  lecununiform: () => new LecunUniform(),
  orthogonal: (c) => new Orthogonal(c.gain),
};

/** An initializer from an object, a name ('glorotUniform', 'glorot_uniform', 'he_normal'...) or a config. */
export function getInitializer(spec: InitializerSpec): Initializer {
  if (typeof spec === 'object' && 'init' in spec) return spec;
  const [name, config] = typeof spec === 'string' ? [spec, {}] : [spec.className, spec.config ?? {}];
  const make = byName[nameKey(name)];
  if (!make) throw new Error(`unknown initializer '${name}'; known: ${Object.keys(byName).join(', ')}`);
  return make(config);
}

export function serializeInitializer(init: Initializer): SerializedObject {
  return { className: init.className, config: init.getConfig() };
}
