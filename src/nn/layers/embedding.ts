/** Embedding: integer indices → rows of a trainable table. */
import { Tensor, type Variable, cast } from '../../engine/index.js';
import { isFloat } from '../../engine/dtype.js';
import { embedding } from '../../engine/ops/nn.js';
import { notEqual } from '../../engine/ops/elementwise.js';
import { type InitializerSpec, getInitializer, serializeInitializer } from '../initializers.js';
import { Layer, type LayerOptions, registerLayer } from '../layer.js';
import { type RegularizerSpec, getRegularizer, serializeRegularizer } from '../regularizers.js';

export interface EmbeddingOptions extends LayerOptions {
  /** Keras default: uniform in [-0.05, 0.05]. */
  embeddingsInitializer?: InitializerSpec;
  embeddingsRegularizer?: RegularizerSpec;
  /** Index 0 is padding: outputs carry a mask [N, T] (true where index != 0) for RNNs and pooling. */
  maskZero?: boolean;
}

/** Maps int32/int64 indices [...] to vectors [..., outputDim] (table [inputDim, outputDim]). */
export class Embedding extends Layer {
  static override className = 'Embedding';
  private readonly opts: EmbeddingOptions;
  embeddings!: Variable;

  constructor(
    readonly inputDim: number,
    readonly outputDim: number,
    options: EmbeddingOptions = {},
  ) {
    super(options);
    if (!Number.isInteger(inputDim) || inputDim <= 0 || !Number.isInteger(outputDim) || outputDim <= 0) {
      throw new Error(`Embedding: inputDim and outputDim must be positive integers, got ${inputDim}, ${outputDim}`);
    }
    this.opts = options;
  }

  override build(): void {
    this.embeddings = this.addWeight(
      'embeddings',
      [this.inputDim, this.outputDim],
      this.opts.embeddingsInitializer ?? 'randomUniform',
      {
        regularizer: this.opts.embeddingsRegularizer,
      },
    );
  }

  override call(indices: Tensor): Tensor {
    // Float indices (e.g. from a float32 input layer) are truncated to integers, as Keras casts them.
    return embedding(isFloat(indices.dtype) ? cast(indices, 'int32') : indices, this.embeddings);
  }

  override computeMask(indices: Tensor): Tensor | undefined {
    return this.opts.maskZero ? notEqual(indices, 0) : undefined;
  }

  override getConfig(): Record<string, any> {
    return {
      ...super.getConfig(),
      inputDim: this.inputDim,
      maskZero: this.opts.maskZero ?? false,
      outputDim: this.outputDim,
      embeddingsInitializer: serializeInitializer(getInitializer(this.opts.embeddingsInitializer ?? 'randomUniform')),
      embeddingsRegularizer: this.opts.embeddingsRegularizer
        ? serializeRegularizer(getRegularizer(this.opts.embeddingsRegularizer))
        : undefined,
    };
  }

  static override fromConfig(c: Record<string, any>): Embedding {
    return new Embedding(c.inputDim, c.outputDim, c);
  }
}
registerLayer(Embedding);
