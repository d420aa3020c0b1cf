/**
 * A Transformer encoder–decoder for sequence-to-sequence tasks (translation), built from the nn
 * layers: token+position embeddings with id 0 as padding, TransformerEncoder blocks, and
 * TransformerDecoder blocks (causal self-attention + cross-attention on the encoder output).
 * Trained with teacher forcing through `fit`: inputs [sourceIds, targetInputIds] (the target
 * shifted right behind `<s>`), labels the target followed by `</s>`, padding 0 left out of the loss.
 * `encode` and `decode` are exposed separately for generation (src/text/generate.ts).
 */
import {
  type CallOptions,
  Dense,
  Layer,
  LayerNormalization,
  Model,
  type Tensor,
  TokenAndPositionEmbedding,
  TransformerDecoder,
  TransformerEncoder,
  registerLayer,
} from '../index.js';
import { cast, notEqual } from '../engine/index.js';

export interface Seq2SeqOptions {
  sourceVocabSize: number;
  targetVocabSize: number;
  /** Longest source or target sequence in tokens (the position tables' size). */
  maxLength: number;
  /** Hidden size (default 128). */
  modelDim?: number;
  numHeads?: number;
  /** Feedforward size (default 4 × modelDim). */
  intermediateDim?: number;
  encoderLayers?: number;
  decoderLayers?: number;
  dropout?: number;
  /** Pre-norm blocks plus a final LayerNormalization per stack (default true: trains without warmup). */
  normalizeFirst?: boolean;
  name?: string;
}

type CallOpts = CallOptions;

/** [N, S] true at real tokens (id ≠ 0). */
export function paddingMask(ids: Tensor): Tensor {
  return notEqual(ids, 0);
}

/** Transformer encoder–decoder: `apply([sourceIds, targetInputIds])` → logits [N, T, targetVocab]. */
export class Seq2SeqTransformer extends Model {
  static override className = 'Seq2SeqTransformer';
  readonly config: Required<Omit<Seq2SeqOptions, 'name'>>;
  sourceEmbedding: TokenAndPositionEmbedding;
  targetEmbedding: TokenAndPositionEmbedding;
  encoderBlocks: TransformerEncoder[];
  decoderBlocks: TransformerDecoder[];
  encoderNorm?: LayerNormalization;
  decoderNorm?: LayerNormalization;
  outputDense: Dense;

  constructor(options: Seq2SeqOptions) {
    super({ name: options.name });
    const d = options.modelDim ?? 128;
    const c = {
      sourceVocabSize: options.sourceVocabSize,
      targetVocabSize: options.targetVocabSize,
      maxLength: options.maxLength,
      modelDim: d,
      numHeads: options.numHeads ?? 4,
      intermediateDim: options.intermediateDim ?? 4 * d,
      encoderLayers: options.encoderLayers ?? 2,
      decoderLayers: options.decoderLayers ?? 2,
      dropout: options.dropout ?? 0.1,
      normalizeFirst: options.normalizeFirst ?? true,
    };
    for (const k of [
      'sourceVocabSize',
      'targetVocabSize',
      'maxLength',
      'modelDim',
      'numHeads',
      'encoderLayers',
      'decoderLayers',
    ] as const) {
      if (!Number.isInteger(c[k]) || c[k] < 1)
        throw new Error(`Seq2SeqTransformer: ${k} must be a positive integer, got ${c[k]}`);
    }
    if (d % c.numHeads !== 0)
      throw new Error(`Seq2SeqTransformer: modelDim ${d} must be divisible by numHeads ${c.numHeads}`);
    this.config = c;
    const block = {
      intermediateDim: c.intermediateDim,
      numHeads: c.numHeads,
      dropout: c.dropout,
      normalizeFirst: c.normalizeFirst,
    };
    this.sourceEmbedding = new TokenAndPositionEmbedding(c.sourceVocabSize, c.maxLength, d, {
      maskZero: true,
      name: 'source_embedding',
    });
    this.targetEmbedding = new TokenAndPositionEmbedding(c.targetVocabSize, c.maxLength, d, {
      maskZero: true,
      name: 'target_embedding',
    });
    this.encoderBlocks = Array.from(
      { length: c.encoderLayers },
      (_, i) => new TransformerEncoder({ ...block, name: `encoder_${i}` }),
    );
    this.decoderBlocks = Array.from(
      { length: c.decoderLayers },
      (_, i) => new TransformerDecoder({ ...block, name: `decoder_${i}` }),
    );
    if (c.normalizeFirst) {
      this.encoderNorm = new LayerNormalization({ name: 'encoder_norm' });
      this.decoderNorm = new LayerNormalization({ name: 'decoder_norm' });
    }
    this.outputDense = new Dense(c.targetVocabSize, { name: 'logits' });
  }

  private checkIds(who: string, ids: Tensor): void {
    if (ids.rank !== 2 || !(ids.dtype === 'int32' || ids.dtype === 'int64'))
      throw new Error(
        `Seq2SeqTransformer.${who}: expected token ids [batch, time] of int32/int64, got ${ids.dtype}[${ids.shape}]`,
      );
    const t = ids.shape[1];
    if (typeof t === 'number' && t > this.config.maxLength)
      throw new Error(
        `Seq2SeqTransformer.${who}: ${t} tokens exceed maxLength ${this.config.maxLength} (truncate or build a longer model)`,
      );
  }

  /** Source ids [N, S] → encoder states [N, S, D] (padding positions are don't-cares). */
  encode(sourceIds: Tensor, options: CallOpts = {}): Tensor {
    this.checkIds('encode', sourceIds);
    const padding = paddingMask(sourceIds);
    let h = this.sourceEmbedding.apply(sourceIds, options) as Tensor;
    for (const b of this.encoderBlocks) h = b.apply(h, { ...options, paddingMask: padding }) as Tensor;
    return this.encoderNorm ? (this.encoderNorm.apply(h, options) as Tensor) : h;
  }

  /**
   * Decoder hidden states [N, T, D] for target input ids [N, T] attending to `memory` [N, S, D]
   * where `sourceMask` [N, S] is true. Causal: position t sees target positions ≤ t only.
   */
  decodeHidden(targetIds: Tensor, memory: Tensor, sourceMask: Tensor, options: CallOpts = {}): Tensor {
    this.checkIds('decode', targetIds);
    let h = this.targetEmbedding.apply(targetIds, options) as Tensor;
    const targetMask = paddingMask(targetIds);
    for (const b of this.decoderBlocks)
      h = b.apply([h, memory], {
        ...options,
        decoderPaddingMask: targetMask,
        encoderPaddingMask: sourceMask,
        useCausalMask: true,
      }) as Tensor;
    return this.decoderNorm ? (this.decoderNorm.apply(h, options) as Tensor) : h;
  }

  /** Hidden states [..., D] → logits [..., targetVocab]. */
  logits(hidden: Tensor): Tensor {
    return this.outputDense.apply(hidden) as Tensor;
  }

  override call(inputs: Tensor[], options: CallOpts = {}): Tensor {
    if (!Array.isArray(inputs) || inputs.length !== 2)
      throw new Error('Seq2SeqTransformer: call with [sourceIds, targetInputIds]');
    const [source, target] = inputs;
    const memory = this.encode(source, options);
    return this.logits(this.decodeHidden(target, memory, cast(paddingMask(source), 'bool'), options));
  }

  override getConfig(): Record<string, any> {
    return { name: this.name, ...this.config };
  }

  static override fromConfig(c: Record<string, any>): Seq2SeqTransformer {
    return new Seq2SeqTransformer(c as Seq2SeqOptions);
  }
}
registerLayer(Seq2SeqTransformer as unknown as typeof Layer);
