/** Layer wrappers: Bidirectional (recurrent layers both ways) and TimeDistributed (a layer per step). */
import { Tensor, add, div, mul, reshape } from '../../engine/index.js';
import { concat, slice } from '../../engine/ops/shape.js';
import {
  type CallOptions,
  Layer,
  type LayerConfig,
  type LayerOptions,
  layerFromConfig,
  registerLayer,
  serializeLayer,
} from '../layer.js';
import { shapeStr } from '../../engine/shape.js';

export type MergeMode = 'concat' | 'sum' | 'mul' | 'ave';

/** Reverses the time axis (1) of [N, T, ...]. */
function reverseTime(x: Tensor): Tensor {
  return slice(x, [null, [null, null, -1]]);
}

/**
 * Runs a recurrent layer forwards and a copy of it backwards over the sequence and merges the
 * outputs (Keras semantics: the backward sequence output is re-reversed to align the steps).
 */
export class Bidirectional extends Layer {
  static override className = 'Bidirectional';
  readonly forwardLayer: Layer;
  readonly backwardLayer: Layer;
  readonly mergeMode: MergeMode;

  constructor(layer: Layer, options: LayerOptions & { mergeMode?: MergeMode; backwardLayer?: Layer } = {}) {
    super(options);
    const config = layer.getConfig();
    if (!('goBackwards' in config) || !('returnSequences' in config))
      throw new Error(`Bidirectional: expected a recurrent layer (LSTM, GRU, SimpleRNN), got ${layer.className}`);
    if (config.returnState) throw new Error('Bidirectional: returnState is not supported');
    this.forwardLayer = layer;
    this.backwardLayer =
      options.backwardLayer ??
      layerFromConfig({
        className: layer.className,
        config: { ...config, name: `backward_${layer.name}`, goBackwards: !config.goBackwards },
      });
    this.mergeMode = options.mergeMode ?? 'concat';
  }

  override call(x: Tensor, options: CallOptions = {}): Tensor {
    const f = this.forwardLayer.apply(x, options) as Tensor;
    let b = this.backwardLayer.apply(x, options) as Tensor;
    if (b.rank === 3) b = reverseTime(b);
    switch (this.mergeMode) {
      case 'concat':
        return concat([f, b], -1);
      case 'sum':
        return add(f, b);
      case 'mul':
        return mul(f, b);
      case 'ave':
        return div(add(f, b), 2);
      default:
        throw new Error(`Bidirectional: unknown mergeMode '${String(this.mergeMode)}' (concat, sum, mul, ave)`);
    }
  }

  override computeMask(_x: Tensor, mask: Tensor | undefined): Tensor | undefined {
    return this.forwardLayer.getConfig().returnSequences ? mask : undefined;
  }

  override getConfig(): Record<string, any> {
    return {
      ...super.getConfig(),
      layer: serializeLayer(this.forwardLayer),
      backwardLayer: serializeLayer(this.backwardLayer),
      mergeMode: this.mergeMode,
    };
  }

  static override fromConfig(c: Record<string, any>): Bidirectional {
    return new Bidirectional(layerFromConfig(c.layer as LayerConfig), {
      ...c,
      backwardLayer: layerFromConfig(c.backwardLayer as LayerConfig),
    });
  }
}
registerLayer(Bidirectional);

/** Applies a layer to every time step of [N, T, ...] independently (same weights for all steps). */
export class TimeDistributed extends Layer {
  static override className = 'TimeDistributed';
  override get supportsMasking(): boolean {
    return true;
  }
  readonly layer: Layer;
  constructor(layer: Layer, options: LayerOptions = {}) {
    super(options);
    this.layer = layer;
  }
  override call(x: Tensor, options: CallOptions = {}): Tensor {
    if (x.rank < 3) throw new Error(`expected input of rank >= 3 [batch, time, ...], got ${shapeStr(x.shape)}`);
    const [n, t, ...rest] = x.shape;
    const folded = reshape(x, [typeof n === 'number' && typeof t === 'number' ? n * t : -1, ...rest]);
    const y = this.layer.apply(folded, options) as Tensor;
    return reshape(y, [n, t, ...y.shape.slice(1)]);
  }
  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), layer: serializeLayer(this.layer) };
  }
  static override fromConfig(c: Record<string, any>): TimeDistributed {
    return new TimeDistributed(layerFromConfig(c.layer as LayerConfig), c);
  }
}
registerLayer(TimeDistributed);
