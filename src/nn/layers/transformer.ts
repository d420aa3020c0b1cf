/**
 * Transformer building blocks with KerasHub's shapes and semantics: TransformerEncoder,
 * TransformerDecoder (causal self-attention, optional cross-attention), PositionEmbedding,
 * SinusoidalPositionEncoding and TokenAndPositionEmbedding. Padding masks come from explicit
 * arguments or from the Keras mask the inputs carry (Embedding/TokenAndPositionEmbedding with
 * maskZero) and mask attention keys; outputs carry the input's mask on to pooling and losses.
 */
import {
  type Dim,
  Tensor,
  type Variable,
  add,
  arange,
  cast,
  concat,
  gather,
  reshape,
  tensor,
} from '../../engine/index.js';
import { logicalAnd } from '../../engine/ops/elementwise.js';
import { expand, slice } from '../../engine/ops/shape.js';
import { type ActivationSpec, serializeActivation } from '../activations.js';
import { type InitializerSpec, getInitializer, serializeInitializer } from '../initializers.js';
import { type CallOptions, Layer, type LayerOptions, registerLayer, requireDim } from '../layer.js';
import { getMask } from '../mask.js';
import { MultiHeadAttention } from './attention.js';
import { Dense, Dropout } from './core.js';
import { Embedding } from './embedding.js';
import { LayerNormalization } from './normalization.js';

export interface TransformerOptions extends LayerOptions {
  /** Hidden size of the feedforward network. */
  intermediateDim: number;
  numHeads: number;
  /** Dropout after attention and feedforward, and on attention probabilities (default 0). */
  dropout?: number;
  /** Feedforward activation (default 'relu'). */
  activation?: ActivationSpec;
  /** LayerNormalization epsilon (default 1e-5). */
  layerNormEpsilon?: number;
  /** Pre-norm (true: normalize before each sublayer) or post-norm (false, the default, as the original Transformer). */
  normalizeFirst?: boolean;
  kernelInitializer?: InitializerSpec;
  biasInitializer?: InitializerSpec;
}

export interface TransformerEncoderCallOptions extends CallOptions {
  /** [N, T], true/1 at real tokens; default: the input's Keras mask. */
  paddingMask?: Tensor;
  /** [N, T, T], true/1 where attention is allowed (combined with the padding mask). */
  attentionMask?: Tensor;
}

/** Per-head attention keys and values, [N, heads, T, dim] each (a decoder's cache, an encoder's projections). */
export interface AttentionCache {
  keys: Tensor;
  values: Tensor;
}

export interface TransformerDecoderCallOptions extends CallOptions {
  /** [N, T] for the decoder sequence; default: its Keras mask. */
  decoderPaddingMask?: Tensor;
  decoderAttentionMask?: Tensor;
  /** [N, S] for the encoder sequence; default: its Keras mask. */
  encoderPaddingMask?: Tensor;
  encoderAttentionMask?: Tensor;
  /** Each position attends only to itself and earlier ones (default true). */
  useCausalMask?: boolean;
}

/** Padding mask [N, Tk] (and an optional [N, Tq, Tk] mask) as one attention mask, or undefined. */
function mergeMasks(padding: Tensor | undefined, attention: Tensor | undefined): Tensor | undefined {
  const p = padding ? reshape(cast(padding, 'bool'), [padding.shape[0], 1, padding.shape[1]]) : undefined;
  const a = attention ? cast(attention, 'bool') : undefined;
  return p && a ? logicalAnd(p, a) : (p ?? a);
}

/** Options shared by the attention/feedforward sublayers of encoder and decoder blocks. */
function checkTransformerOptions(who: string, o: TransformerOptions): void {
  if (!Number.isInteger(o?.intermediateDim) || o.intermediateDim < 1)
    throw new Error(`${who}: intermediateDim must be a positive integer, got ${o?.intermediateDim}`);
  if (!Number.isInteger(o.numHeads) || o.numHeads < 1)
    throw new Error(`${who}: numHeads must be a positive integer, got ${o.numHeads}`);
  const rate = o.dropout ?? 0;
  if (!(rate >= 0 && rate < 1)) throw new Error(`${who}: dropout must be in [0, 1), got ${rate}`);
}

/** A residual sublayer: x + dropout(f(norm?(x))), normalized after when post-norm. */
class Residual {
  constructor(
    private readonly norm: LayerNormalization,
    private readonly dropout: Dropout,
    private readonly normalizeFirst: boolean,
  ) {}
  apply(x: Tensor, f: (h: Tensor) => Tensor): Tensor {
    const h = f(this.normalizeFirst ? (this.norm.apply(x) as Tensor) : x);
    const y = add(x, this.dropout.apply(h) as Tensor);
    return this.normalizeFirst ? y : (this.norm.apply(y) as Tensor);
  }
}

/** Shared construction of the attention and feedforward sublayers. */
abstract class TransformerBlock extends Layer {
  readonly intermediateDim: number;
  readonly numHeads: number;
  readonly dropoutRate: number;
  readonly normalizeFirst: boolean;
  readonly layerNormEpsilon: number;
  protected readonly opts: TransformerOptions;
  // Sublayers are created in build (they need the hidden size) and registered as properties.
  selfAttention!: MultiHeadAttention;
  selfAttentionNorm!: LayerNormalization;
  selfAttentionDropout!: Dropout;
  feedforwardIntermediate!: Dense;
  feedforwardOutput!: Dense;
  feedforwardNorm!: LayerNormalization;
  feedforwardDropout!: Dropout;

  constructor(options: TransformerOptions) {
    super(options);
    checkTransformerOptions((this.constructor as typeof Layer).className, options);
    this.opts = options;
    this.intermediateDim = options.intermediateDim;
    this.numHeads = options.numHeads;
    this.dropoutRate = options.dropout ?? 0;
    this.normalizeFirst = options.normalizeFirst ?? false;
    this.layerNormEpsilon = options.layerNormEpsilon ?? 1e-5;
  }

  override get supportsMasking(): boolean {
    return true;
  }

  protected sub<T extends Layer>(make: (common: LayerOptions & Record<string, unknown>) => T, suffix: string): T {
    return make({ name: `${this.name}/${suffix}`, dtype: this.dtype });
  }

  protected buildBlock(hidden: number): void {
    if (hidden % this.numHeads !== 0) {
      throw new Error(`the hidden size ${hidden} (last input axis) must be divisible by numHeads ${this.numHeads}`);
    }
    const init = {
      kernelInitializer: this.opts.kernelInitializer ?? 'glorotUniform',
      biasInitializer: this.opts.biasInitializer ?? 'zeros',
    };
    this.selfAttention = this.attention('self_attention', hidden);
    this.selfAttentionNorm = this.sub(
      (c) => new LayerNormalization({ ...c, epsilon: this.layerNormEpsilon }),
      'self_attention_layer_norm',
    );
    this.selfAttentionDropout = this.sub((c) => new Dropout(this.dropoutRate, c), 'self_attention_dropout');
    this.feedforwardIntermediate = this.sub(
      (c) => new Dense(this.intermediateDim, { ...c, ...init, activation: this.opts.activation ?? 'relu' }),
      'feedforward_intermediate_dense',
    );
    this.feedforwardOutput = this.sub((c) => new Dense(hidden, { ...c, ...init }), 'feedforward_output_dense');
    this.feedforwardNorm = this.sub(
      (c) => new LayerNormalization({ ...c, epsilon: this.layerNormEpsilon }),
      'feedforward_layer_norm',
    );
    this.feedforwardDropout = this.sub((c) => new Dropout(this.dropoutRate, c), 'feedforward_dropout');
  }

  protected attention(suffix: string, hidden: number): MultiHeadAttention {
    return this.sub(
      (c) =>
        new MultiHeadAttention(this.numHeads, hidden / this.numHeads, {
          ...c,
          dropout: this.dropoutRate,
          kernelInitializer: this.opts.kernelInitializer ?? 'glorotUniform',
          biasInitializer: this.opts.biasInitializer ?? 'zeros',
        }),
      suffix,
    );
  }

  protected feedforward(x: Tensor): Tensor {
    return new Residual(this.feedforwardNorm, this.feedforwardDropout, this.normalizeFirst).apply(
      x,
      (h) => this.feedforwardOutput.apply(this.feedforwardIntermediate.apply(h)) as Tensor,
    );
  }

  override getConfig(): Record<string, any> {
    const o = this.opts;
    return {
      ...super.getConfig(),
      intermediateDim: this.intermediateDim,
      numHeads: this.numHeads,
      dropout: this.dropoutRate,
      activation: serializeActivation(o.activation ?? 'relu'),
      layerNormEpsilon: this.layerNormEpsilon,
      normalizeFirst: this.normalizeFirst,
      kernelInitializer: serializeInitializer(getInitializer(o.kernelInitializer ?? 'glorotUniform')),
      biasInitializer: serializeInitializer(getInitializer(o.biasInitializer ?? 'zeros')),
    };
  }
}

/**
 * A Transformer encoder block (KerasHub `TransformerEncoder`): self-attention with
 * numHeads heads of size hidden/numHeads, then a feedforward network
 * Dense(intermediateDim, activation) → Dense(hidden), each wrapped in dropout, a residual
 * connection and LayerNormalization (after, or before with normalizeFirst). [N, T, D] → [N, T, D].
 */
export class TransformerEncoder extends TransformerBlock {
  static override className = 'TransformerEncoder';

  override build(inputShape: (Dim | null)[]): void {
    this.buildBlock(requireDim(this, inputShape, -1, 'hidden size'));
  }

  override call(x: Tensor, options: TransformerEncoderCallOptions = {}): Tensor {
    if (x.rank !== 3) throw new Error(`expected input [batch, time, features], got rank ${x.rank}`);
    const padding = options.paddingMask ?? (options.mask as Tensor | undefined) ?? getMask(x);
    const mask = mergeMasks(padding, options.attentionMask);
    const attended = new Residual(this.selfAttentionNorm, this.selfAttentionDropout, this.normalizeFirst).apply(
      x,
      (h) => this.selfAttention.apply([h, h], { attentionMask: mask }) as Tensor,
    );
    return this.feedforward(attended);
  }

  static override fromConfig(c: Record<string, any>): TransformerEncoder {
    return new TransformerEncoder(c as TransformerOptions);
  }
}
registerLayer(TransformerEncoder);

/**
 * A Transformer decoder block (KerasHub `TransformerDecoder`): causal self-attention, then
 * cross-attention over an encoder sequence when one is given (`apply([decoderSeq, encoderSeq])`),
 * then the feedforward network; each sublayer has dropout, a residual and LayerNormalization.
 * Without an encoder sequence at the first call it is a decoder-only (GPT-style) block.
 */
export class TransformerDecoder extends TransformerBlock {
  static override className = 'TransformerDecoder';
  crossAttention?: MultiHeadAttention;
  crossAttentionNorm?: LayerNormalization;
  crossAttentionDropout?: Dropout;

  override build(inputShape: (Dim | null)[] | (Dim | null)[][]): void {
    const withEncoder = Array.isArray(inputShape[0]);
    const decoderShape = (withEncoder ? inputShape[0] : inputShape) as (Dim | null)[];
    const hidden = requireDim(this, decoderShape, -1, 'hidden size');
    this.buildBlock(hidden);
    if (withEncoder) {
      this.crossAttention = this.attention('cross_attention', hidden);
      this.crossAttentionNorm = this.sub(
        (c) => new LayerNormalization({ ...c, epsilon: this.layerNormEpsilon }),
        'cross_attention_layer_norm',
      );
      this.crossAttentionDropout = this.sub((c) => new Dropout(this.dropoutRate, c), 'cross_attention_dropout');
    }
  }

  override call(inputs: Tensor | Tensor[], options: TransformerDecoderCallOptions = {}): Tensor {
    const [x, encoder] = Array.isArray(inputs) ? inputs : [inputs, undefined];
    if (x.rank !== 3) throw new Error(`expected a decoder sequence [batch, time, features], got rank ${x.rank}`);
    if (encoder && !this.crossAttention)
      throw new Error(
        'this decoder was built without cross-attention (first called without an encoder sequence); it cannot take one now',
      );
    if (!encoder && this.crossAttention)
      throw new Error('this decoder has cross-attention; call it with [decoderSequence, encoderSequence]');
    const causal = options.useCausalMask ?? true;
    let selfMask = mergeMasks(options.decoderPaddingMask ?? getMask(x), options.decoderAttentionMask);
    if (causal) {
      const t = x.shape[1];
      if (typeof t !== 'number') throw new Error('a causal mask needs a known decoder sequence length');
      const lower = tensor(Array.from({ length: t }, (_, i) => Array.from({ length: t }, (_, j) => j <= i)));
      selfMask = selfMask ? logicalAnd(selfMask, lower) : lower;
    }
    let y = new Residual(this.selfAttentionNorm, this.selfAttentionDropout, this.normalizeFirst).apply(
      x,
      (h) => this.selfAttention.apply([h, h], { attentionMask: selfMask }) as Tensor,
    );
    if (encoder) {
      const crossMask = mergeMasks(options.encoderPaddingMask ?? getMask(encoder), options.encoderAttentionMask);
      y = new Residual(this.crossAttentionNorm!, this.crossAttentionDropout!, this.normalizeFirst).apply(
        y,
        (h) => this.crossAttention!.apply([h, encoder], { attentionMask: crossMask }) as Tensor,
      );
    }
    return this.feedforward(y);
  }

  /**
   * Cross-attention keys and values of an encoder sequence [N, S, D], per head ([N, heads, S, dim]):
   * computed once per source batch for incremental decoding (`step`).
   */
  encoderKeysAndValues(encoder: Tensor): AttentionCache {
    if (!this.crossAttention) throw new Error(`${this.describe()}: this decoder has no cross-attention`);
    return this.crossAttention.keysAndValues(encoder);
  }

  /**
   * One step of incremental decoding with a key/value cache (KerasHub's cached decoder call): `x`
   * [H, 1, D] is the next position of H hypotheses, `cache` the self-attention keys and values of
   * every earlier position ([H', heads, T, dim], none at the first step) and `parents` [H] (int)
   * the cache row each hypothesis continues (beam search reorders; default: row i). `encoder`:
   * the cross-attention keys and values (`encoderKeysAndValues`) of the source rows, `rows` [H]
   * the source row of each hypothesis and `encoderMask` [N, S] (true at real tokens). Returns the
   * block's output [H, 1, D] and the cache with this position appended ([H, heads, T + 1, dim]).
   * The output equals position T of `call` on the whole prefix (causal attention).
   */
  step(
    x: Tensor,
    options: {
      cache?: AttentionCache;
      parents?: Tensor;
      encoder?: AttentionCache;
      rows?: Tensor;
      encoderMask?: Tensor;
    } = {},
  ): { output: Tensor; cache: AttentionCache } {
    if (x.rank !== 3 || x.shape[1] !== 1)
      throw new Error(`${this.describe()}: step expects one position [hypotheses, 1, features], got [${x.shape}]`);
    if (!this.built) throw new Error(`${this.describe()}: step needs built weights (call the model once first)`);
    if (!!options.encoder !== !!this.crossAttention)
      throw new Error(
        this.crossAttention
          ? `${this.describe()}: this decoder has cross-attention; step needs the encoder keys and values`
          : `${this.describe()}: this decoder has no cross-attention; step cannot take encoder keys and values`,
      );
    const byRow = (t: Tensor, rows?: Tensor) => (rows ? gather(t, rows, 0) : t);
    // One position per hypothesis as [H, D] rows: projections are plain matrix products with bias
    // (one Gemm each) and heads split and merge by reshapes, without transposes.
    const rows2d = reshape(x, [x.shape[0], x.shape[2]]);
    let cache!: AttentionCache;
    let y = new Residual(this.selfAttentionNorm, this.selfAttentionDropout, this.normalizeFirst).apply(rows2d, (h) => {
      const fresh = this.selfAttention.keysAndValues(h);
      const past = options.cache;
      cache = past
        ? {
            keys: concat([byRow(past.keys, options.parents), fresh.keys], 2),
            values: concat([byRow(past.values, options.parents), fresh.values], 2),
          }
        : fresh;
      return this.selfAttention.attend(h, cache.keys, cache.values).output;
    });
    if (options.encoder) {
      const enc = options.encoder;
      const mask = options.encoderMask
        ? reshape(cast(byRow(options.encoderMask, options.rows), 'bool'), [
            x.shape[0],
            1,
            1,
            options.encoderMask.shape[1],
          ])
        : undefined;
      y = new Residual(this.crossAttentionNorm!, this.crossAttentionDropout!, this.normalizeFirst).apply(
        y,
        (h) =>
          this.crossAttention!.attend(h, byRow(enc.keys, options.rows), byRow(enc.values, options.rows), mask).output,
      );
    }
    return { output: reshape(this.feedforward(y), x.shape), cache };
  }

  override computeMask(inputs: Tensor | Tensor[], mask: Tensor | undefined): Tensor | undefined {
    return mask ?? getMask(Array.isArray(inputs) ? inputs[0] : inputs);
  }

  static override fromConfig(c: Record<string, any>): TransformerDecoder {
    return new TransformerDecoder(c as TransformerOptions);
  }
}
registerLayer(TransformerDecoder);

// ---------------------------------------------------------------------------------------------
// Positions

export interface PositionCallOptions extends CallOptions {
  /**
   * Position of the first step (for incremental decoding); default 0. A scalar int tensor keeps
   * one traced graph for every step of a decode (the position is then checked at run time only by
   * the table lookup).
   */
  startIndex?: number | Tensor;
}

function sequenceLengthOf(layer: Layer, x: Tensor): number {
  if (x.rank < 2) throw new Error(`${layer.describe()}: expected input [batch, time, features], got rank ${x.rank}`);
  const t = x.shape[x.rank - 2];
  if (typeof t !== 'number')
    throw new Error(`${layer.describe()}: the sequence length (axis ${x.rank - 2}) must be known`);
  return t;
}

/**
 * Learned position embeddings (KerasHub `PositionEmbedding`): a [sequenceLength, D] table; the
 * output has the input's shape [N, T, D] and holds rows startIndex..startIndex+T (add it to the input).
 */
export class PositionEmbedding extends Layer {
  static override className = 'PositionEmbedding';
  private readonly opts: LayerOptions & { initializer?: InitializerSpec };
  positionEmbeddings!: Variable;

  constructor(
    readonly sequenceLength: number,
    options: LayerOptions & { initializer?: InitializerSpec } = {},
  ) {
    super(options);
    if (!Number.isInteger(sequenceLength) || sequenceLength < 1)
      throw new Error(`PositionEmbedding: sequenceLength must be a positive integer, got ${sequenceLength}`);
    this.opts = options;
  }

  override get supportsMasking(): boolean {
    return true;
  }

  override build(inputShape: (Dim | null)[]): void {
    const d = requireDim(this, inputShape, -1, 'feature dimension');
    this.positionEmbeddings = this.addWeight(
      'positionEmbeddings',
      [this.sequenceLength, d],
      this.opts.initializer ?? 'glorotUniform',
    );
  }

  override call(x: Tensor, options: PositionCallOptions = {}): Tensor {
    const t = sequenceLengthOf(this, x);
    const start = options.startIndex ?? 0;
    if (start instanceof Tensor) {
      if (start.size !== 1 || !(start.dtype === 'int32' || start.dtype === 'int64'))
        throw new Error(
          `${this.describe()}: startIndex must be one int32/int64 position, got ${start.dtype}[${start.shape}]`,
        );
      const positions = add(reshape(start, [1]), arange(0, t, 1, start.dtype));
      return expand(gather(this.positionEmbeddings, positions, 0), x.shape);
    }
    if (start + t > this.sequenceLength) {
      throw new Error(
        `positions ${start}..${start + t - 1} exceed the table of ${this.sequenceLength} positions (sequenceLength)`,
      );
    }
    const rows =
      t === this.sequenceLength && start === 0
        ? this.positionEmbeddings
        : slice(this.positionEmbeddings, [[start, start + t]]);
    return expand(rows, x.shape);
  }

  override getConfig(): Record<string, any> {
    return {
      ...super.getConfig(),
      sequenceLength: this.sequenceLength,
      initializer: serializeInitializer(getInitializer(this.opts.initializer ?? 'glorotUniform')),
    };
  }

  static override fromConfig(c: Record<string, any>): PositionEmbedding {
    return new PositionEmbedding(c.sequenceLength, c);
  }
}
registerLayer(PositionEmbedding);

/**
 * Fixed sinusoidal position encodings (Vaswani et al.; KerasHub `SinusoidalPositionEncoding`):
 * feature i at position p is sin(p / w^(2⌊i/2⌋/D)) for even i and cos(...) for odd i, with
 * w = maxWavelength. The output has the input's shape (add it to the input).
 */
export class SinusoidalPositionEncoding extends Layer {
  static override className = 'SinusoidalPositionEncoding';
  readonly maxWavelength: number;

  constructor(options: LayerOptions & { maxWavelength?: number } = {}) {
    super(options);
    this.maxWavelength = options.maxWavelength ?? 10000;
    if (!(this.maxWavelength > 0))
      throw new Error(`SinusoidalPositionEncoding: maxWavelength must be positive, got ${this.maxWavelength}`);
  }

  override get supportsMasking(): boolean {
    return true;
  }

  override call(x: Tensor, options: PositionCallOptions = {}): Tensor {
    const t = sequenceLengthOf(this, x);
    const d = x.shape[x.rank - 1];
    if (typeof d !== 'number') throw new Error(`${this.describe()}: the feature dimension must be known`);
    const start = options.startIndex ?? 0;
    if (start instanceof Tensor)
      throw new Error(`${this.describe()}: startIndex must be a number (tensor positions are not supported here)`);
    const table = new Float64Array(t * d);
    for (let p = 0; p < t; p++) {
      for (let i = 0; i < d; i++) {
        const angle = (p + start) * (1 / this.maxWavelength) ** ((2 * Math.floor(i / 2)) / d);
        table[p * d + i] = i % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
      }
    }
    const dtype = x.dtype === 'float64' ? 'float64' : this.dtype;
    return expand(tensor(dtype === 'float64' ? table : Float32Array.from(table), { shape: [t, d] }), x.shape);
  }

  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), maxWavelength: this.maxWavelength };
  }

  static override fromConfig(c: Record<string, any>): SinusoidalPositionEncoding {
    return new SinusoidalPositionEncoding(c);
  }
}
registerLayer(SinusoidalPositionEncoding);

export interface TokenAndPositionEmbeddingOptions extends LayerOptions {
  /** Token id 0 is padding: the output carries a mask [N, T] for attention, pooling and RNNs. */
  maskZero?: boolean;
  embeddingsInitializer?: InitializerSpec;
}

/**
 * Token embeddings plus learned position embeddings (KerasHub `TokenAndPositionEmbedding`):
 * ids [N, T] → [N, T, embeddingDim]. With maskZero, id 0 marks padding.
 */
export class TokenAndPositionEmbedding extends Layer {
  static override className = 'TokenAndPositionEmbedding';
  private readonly opts: TokenAndPositionEmbeddingOptions;
  tokenEmbedding: Embedding;
  positionEmbedding: PositionEmbedding;

  constructor(
    readonly vocabularySize: number,
    readonly sequenceLength: number,
    readonly embeddingDim: number,
    options: TokenAndPositionEmbeddingOptions = {},
  ) {
    super(options);
    this.opts = options;
    const common = { dtype: this.dtype };
    this.tokenEmbedding = new Embedding(vocabularySize, embeddingDim, {
      ...common,
      name: `${this.name}/token_embedding`,
      maskZero: options.maskZero,
      embeddingsInitializer: options.embeddingsInitializer ?? 'glorotUniform',
    });
    this.positionEmbedding = new PositionEmbedding(sequenceLength, {
      ...common,
      name: `${this.name}/position_embedding`,
      initializer: options.embeddingsInitializer ?? 'glorotUniform',
    });
  }

  override call(ids: Tensor, options: PositionCallOptions = {}): Tensor {
    const tokens = this.tokenEmbedding.apply(ids) as Tensor;
    return add(tokens, this.positionEmbedding.apply(tokens, { startIndex: options.startIndex }) as Tensor);
  }

  override computeMask(ids: Tensor): Tensor | undefined {
    return this.tokenEmbedding.computeMask(ids);
  }

  override getConfig(): Record<string, any> {
    return {
      ...super.getConfig(),
      vocabularySize: this.vocabularySize,
      sequenceLength: this.sequenceLength,
      embeddingDim: this.embeddingDim,
      maskZero: this.opts.maskZero ?? false,
      embeddingsInitializer: serializeInitializer(getInitializer(this.opts.embeddingsInitializer ?? 'glorotUniform')),
    };
  }

  static override fromConfig(c: Record<string, any>): TokenAndPositionEmbedding {
    return new TokenAndPositionEmbedding(c.vocabularySize, c.sequenceLength, c.embeddingDim, c);
  }
}
registerLayer(TokenAndPositionEmbedding);
