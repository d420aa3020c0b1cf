/** Layers that combine several inputs: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate. */
import { Tensor, add, div, mul, sub } from '../../engine/index.js';
import { maximum, minimum } from '../../engine/ops/elementwise.js';
import { concat } from '../../engine/ops/shape.js';
import { Layer, type LayerOptions, registerLayer } from '../layer.js';
import { channelsFirstSource, toChannelsLast } from './util.js';

const sameShapes = (xs: Tensor[]): boolean => xs.every((t) => t.shape.join() === xs[0].shape.join());

abstract class Merge extends Layer {
  protected abstract combine(a: Tensor, b: Tensor): Tensor;
  protected finish(y: Tensor, _count: number): Tensor {
    return y;
  }
  override call(inputs: Tensor[]): Tensor {
    if (!Array.isArray(inputs) || inputs.length < 2)
      throw new Error(
        `expects a list of at least 2 tensors, got ${Array.isArray(inputs) ? inputs.length : 'a single tensor'}`,
      );
    // Residual connections between conv outputs: combine in NCHW, transpose once.
    const sources = inputs.map(channelsFirstSource);
    if (sameShapes(inputs) && sources.every((t): t is Tensor => t !== undefined)) {
      return toChannelsLast(
        this.finish(
          sources.reduce((a, b) => this.combine(a, b)),
          inputs.length,
        ),
      );
    }
    return this.finish(
      inputs.reduce((a, b) => this.combine(a, b)),
      inputs.length,
    );
  }
  static override fromConfig(c: Record<string, any>): Layer {
    return new (this as any)(c);
  }
}

export class Add extends Merge {
  static override className = 'Add';
  protected combine(a: Tensor, b: Tensor): Tensor {
    return add(a, b);
  }
}
registerLayer(Add);

export class Multiply extends Merge {
  static override className = 'Multiply';
  protected combine(a: Tensor, b: Tensor): Tensor {
    return mul(a, b);
  }
}
registerLayer(Multiply);

export class Average extends Merge {
  static override className = 'Average';
  protected combine(a: Tensor, b: Tensor): Tensor {
    return add(a, b);
  }
  protected override finish(y: Tensor, count: number): Tensor {
    return div(y, count);
  }
}
registerLayer(Average);

export class Maximum extends Merge {
  static override className = 'Maximum';
  protected combine(a: Tensor, b: Tensor): Tensor {
    return maximum(a, b);
  }
}
registerLayer(Maximum);

export class Minimum extends Merge {
  static override className = 'Minimum';
  protected combine(a: Tensor, b: Tensor): Tensor {
    return minimum(a, b);
  }
}
registerLayer(Minimum);

export class Subtract extends Layer {
  static override className = 'Subtract';
  override call(inputs: Tensor[]): Tensor {
    if (!Array.isArray(inputs) || inputs.length !== 2) throw new Error('expects a list of exactly 2 tensors');
    return sub(inputs[0], inputs[1]);
  }
  static override fromConfig(c: Record<string, any>): Subtract {
    return new Subtract(c);
  }
}
registerLayer(Subtract);

/** Concatenates a list of tensors along `axis` (default -1, the channels). */
export class Concatenate extends Layer {
  static override className = 'Concatenate';
  readonly axis: number;
  constructor(options: LayerOptions & { axis?: number } = {}) {
    super(options);
    this.axis = options.axis ?? -1;
  }
  override call(inputs: Tensor[]): Tensor {
    if (!Array.isArray(inputs) || inputs.length < 1) throw new Error('expects a list of tensors');
    const rank = inputs[0].rank;
    const axis = this.axis < 0 ? this.axis + rank : this.axis;
    const sources = inputs.map(channelsFirstSource);
    if (axis === rank - 1 && sources.every((t): t is Tensor => t !== undefined))
      return toChannelsLast(concat(sources, 1));
    return concat(inputs, axis);
  }
  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), axis: this.axis };
  }
  static override fromConfig(c: Record<string, any>): Concatenate {
    return new Concatenate(c);
  }
}
registerLayer(Concatenate);
