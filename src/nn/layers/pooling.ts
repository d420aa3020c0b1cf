/** Pooling layers over channels-last inputs (the engine's pool ops are NCHW; see util.permute). */
import { type Dim, Tensor, broadcastTo, cast, div, mean, max, mul, reshape, sum } from '../../engine/index.js';
import { where } from '../../engine/ops/elementwise.js';
import { avgPool1d, avgPool2d, maxPool1d, maxPool2d } from '../../engine/ops/pool.js';
import { pad } from '../../engine/ops/shape.js';
import { type CallOptions, Layer, type LayerOptions, registerLayer } from '../layer.js';
import { channelsFirstSource, paddingOption, perAxis, toChannelsFirst, toChannelsLast } from './util.js';
import { shapeStr } from '../../engine/shape.js';

export interface PoolingOptions extends LayerOptions {
  /** Defaults to the pool size. */
  strides?: number | number[];
  padding?: 'valid' | 'same';
}

abstract class Pooling extends Layer {
  readonly poolSize: number[];
  readonly strides: number[];
  readonly padding: 'valid' | 'same';
  protected abstract readonly kind: 'max' | 'avg';

  constructor(
    readonly rank: number,
    poolSize: number | number[],
    options: PoolingOptions,
  ) {
    super(options);
    const who = (this.constructor as typeof Layer).className;
    this.poolSize = perAxis(poolSize, rank, 'poolSize', who);
    this.strides = options.strides === undefined ? this.poolSize : perAxis(options.strides, rank, 'strides', who);
    this.padding = paddingOption(options.padding, who);
  }

  override call(x: Tensor): Tensor {
    if (x.rank !== this.rank + 2)
      throw new Error(`expected input of rank ${this.rank + 2} (channels last), got ${shapeStr(x.shape)}`);
    const opts = { kernel: this.poolSize, stride: this.strides, padding: this.padding };
    const xf = toChannelsFirst(x);
    const y =
      this.kind === 'max'
        ? (this.rank === 1 ? maxPool1d : maxPool2d)(xf, opts)
        : (this.rank === 1 ? avgPool1d : avgPool2d)(xf, opts);
    return toChannelsLast(y);
  }

  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), poolSize: this.poolSize, strides: this.strides, padding: this.padding };
  }

  static override fromConfig(c: Record<string, any>): Layer {
    return new (this as any)(c.poolSize, c);
  }
}

export class MaxPooling1D extends Pooling {
  static override className = 'MaxPooling1D';
  protected readonly kind = 'max';
  constructor(poolSize: number | number[] = 2, options: PoolingOptions = {}) {
    super(1, poolSize, options);
  }
}
registerLayer(MaxPooling1D);

export class MaxPooling2D extends Pooling {
  static override className = 'MaxPooling2D';
  protected readonly kind = 'max';
  constructor(poolSize: number | number[] = 2, options: PoolingOptions = {}) {
    super(2, poolSize, options);
  }
}
registerLayer(MaxPooling2D);

export class AveragePooling1D extends Pooling {
  static override className = 'AveragePooling1D';
  protected readonly kind = 'avg';
  constructor(poolSize: number | number[] = 2, options: PoolingOptions = {}) {
    super(1, poolSize, options);
  }
}
registerLayer(AveragePooling1D);

export class AveragePooling2D extends Pooling {
  static override className = 'AveragePooling2D';
  protected readonly kind = 'avg';
  constructor(poolSize: number | number[] = 2, options: PoolingOptions = {}) {
    super(2, poolSize, options);
  }
}
registerLayer(AveragePooling2D);

export interface GlobalPoolingOptions extends LayerOptions {
  /** Keep the spatial axes as size 1 (default false: [N, C]). */
  keepdims?: boolean;
}

abstract class GlobalPooling extends Layer {
  protected abstract readonly kind: 'max' | 'avg';
  readonly keepdims: boolean;
  constructor(
    readonly rank: number,
    options: GlobalPoolingOptions,
  ) {
    super(options);
    this.keepdims = options.keepdims ?? false;
  }
  override call(x: Tensor, options: CallOptions = {}): Tensor {
    if (x.rank !== this.rank + 2)
      throw new Error(`expected input of rank ${this.rank + 2} (channels last), got ${shapeStr(x.shape)}`);
    const mask = options.mask as Tensor | undefined;
    if (mask && this.rank === 1) {
      // Masked steps are left out of the average (max: pushed to -inf) like Keras.
      const m = reshape(cast(mask, x.dtype), [x.shape[0], x.shape[1], 1]);
      if (this.kind === 'avg') return div(sum(mul(x, m), [1], this.keepdims), sum(m, [1], this.keepdims));
      return max(where(cast(m, 'bool'), x, -Infinity), [1], this.keepdims);
    }
    const reduce = this.kind === 'max' ? max : mean;
    // Reduce wherever the data already is: NCHW if it comes from a conv, else channels-last.
    const cf = channelsFirstSource(x);
    const spatial = (first: number): number[] => Array.from({ length: this.rank }, (_, i) => i + first);
    if (cf) {
      const y = reduce(cf, spatial(2), this.keepdims);
      return this.keepdims ? toChannelsLast(y) : y;
    }
    return reduce(x, spatial(1), this.keepdims);
  }
  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), keepdims: this.keepdims };
  }
  static override fromConfig(c: Record<string, any>): Layer {
    return new (this as any)(c);
  }
}

export class GlobalAveragePooling1D extends GlobalPooling {
  static override className = 'GlobalAveragePooling1D';
  protected readonly kind = 'avg';
  constructor(options: GlobalPoolingOptions = {}) {
    super(1, options);
  }
}
registerLayer(GlobalAveragePooling1D);

export class GlobalAveragePooling2D extends GlobalPooling {
  static override className = 'GlobalAveragePooling2D';
  protected readonly kind = 'avg';
  constructor(options: GlobalPoolingOptions = {}) {
    super(2, options);
  }
}
registerLayer(GlobalAveragePooling2D);

export class GlobalMaxPooling1D extends GlobalPooling {
  static override className = 'GlobalMaxPooling1D';
  protected readonly kind = 'max';
  constructor(options: GlobalPoolingOptions = {}) {
    super(1, options);
  }
}
registerLayer(GlobalMaxPooling1D);

export class GlobalMaxPooling2D extends GlobalPooling {
  static override className = 'GlobalMaxPooling2D';
  protected readonly kind = 'max';
  constructor(options: GlobalPoolingOptions = {}) {
    super(2, options);
  }
}
registerLayer(GlobalMaxPooling2D);

/** Nearest-neighbour upsampling of [N, H, W, C] by integer factors (rows and columns repeated). */
export class UpSampling2D extends Layer {
  static override className = 'UpSampling2D';
  readonly size: number[];
  constructor(size: number | number[] = 2, options: LayerOptions & { interpolation?: 'nearest' } = {}) {
    super(options);
    this.size = perAxis(size, 2, 'size', 'UpSampling2D');
    if (options.interpolation && options.interpolation !== 'nearest')
      throw new Error(`UpSampling2D: only 'nearest' interpolation is supported, got '${options.interpolation}'`);
  }
  override call(x: Tensor): Tensor {
    if (x.rank !== 4) throw new Error(`expected input of rank 4 [N, H, W, C], got ${shapeStr(x.shape)}`);
    const [n, h, w, c] = x.shape as Dim[];
    const [sh, sw] = this.size;
    if (typeof h !== 'number' || typeof w !== 'number') throw new Error('height and width must be known');
    // [N,H,1,W,1,C] broadcast to [N,H,sh,W,sw,C]: each pixel repeated; the VJP sums the copies.
    const expanded = broadcastTo(reshape(x, [n, h, 1, w, 1, c]), [n, h, sh, w, sw, c]);
    return reshape(expanded, [n, h * sh, w * sw, c]);
  }
  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), size: this.size, interpolation: 'nearest' };
  }
  static override fromConfig(c: Record<string, any>): UpSampling2D {
    return new UpSampling2D(c.size, c);
  }
}
registerLayer(UpSampling2D);

type PadSpec = number | [number, number] | [[number, number], [number, number]];

/** Zero padding of height and width: n, [h, w], or [[top, bottom], [left, right]]. */
export class ZeroPadding2D extends Layer {
  static override className = 'ZeroPadding2D';
  readonly padding: [[number, number], [number, number]];
  constructor(padding: PadSpec = 1, options: LayerOptions = {}) {
    super(options);
    const pair = (p: number | [number, number]): [number, number] => (typeof p === 'number' ? [p, p] : [p[0], p[1]]);
    if (typeof padding === 'number')
      this.padding = [
        [padding, padding],
        [padding, padding],
      ];
    else if (typeof padding[0] === 'number') this.padding = [pair(padding[0]), pair(padding[1] as number)];
    else this.padding = [pair(padding[0] as [number, number]), pair(padding[1] as [number, number])];
    if (this.padding.flat().some((p) => !Number.isInteger(p) || p < 0))
      throw new Error(`ZeroPadding2D: padding must be non-negative integers, got ${JSON.stringify(padding)}`);
  }
  override call(x: Tensor): Tensor {
    if (x.rank !== 4) throw new Error(`expected input of rank 4 [N, H, W, C], got ${shapeStr(x.shape)}`);
    const cf = channelsFirstSource(x);
    if (cf) return toChannelsLast(pad(cf, [null, null, this.padding[0], this.padding[1]]));
    return pad(x, [null, this.padding[0], this.padding[1], null]);
  }
  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), padding: this.padding };
  }
  static override fromConfig(c: Record<string, any>): ZeroPadding2D {
    return new ZeroPadding2D(c.padding, c);
  }
}
registerLayer(ZeroPadding2D);
