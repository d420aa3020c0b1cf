/**
 * Small decoder-only Transformer models for the text tasks: a causal language model (GPT-style:
 * token + position embeddings, pre-norm TransformerDecoder blocks, a final LayerNormalization and
 * a Dense head over the vocabulary) and a sequence classifier on the same backbone (mean-pooled
 * over real tokens). The layers carry the same names in both, so an LM's weights load into the
 * classifier's backbone by name (`transferBackbone`) for pretrain-then-fine-tune.
 */
import type { Tensor } from '../engine/index.js';
import { Dense, Dropout } from '../nn/layers/core.js';
import { LayerNormalization } from '../nn/layers/normalization.js';
import { GlobalAveragePooling1D } from '../nn/layers/pooling.js';
import { TokenAndPositionEmbedding, TransformerDecoder } from '../nn/layers/transformer.js';
import type { Layer } from '../nn/layer.js';
import { type Sequential, input, sequential } from '../nn/model.js';

export interface BackboneOptions {
  vocabularySize: number;
  /** Longest sequence (size of the position table); inputs may be shorter (`inputLength`). */
  sequenceLength: number;
  hiddenDim?: number;
  numLayers?: number;
  numHeads?: number;
  intermediateDim?: number;
  dropout?: number;
  /** Length of the model's input (default sequenceLength). */
  inputLength?: number;
}

/** Embedding, pre-norm causal decoder blocks and the final norm, named as in both models. */
function backbone(o: BackboneOptions): Layer[] {
  const { vocabularySize, sequenceLength, hiddenDim = 128, numLayers = 2, numHeads = 4, dropout = 0.1 } = o;
  const intermediateDim = o.intermediateDim ?? 4 * hiddenDim;
  const layers: Layer[] = [
    // id 0 is '<pad>': its mask keeps padding out of attention and pooling
    new TokenAndPositionEmbedding(vocabularySize, sequenceLength, hiddenDim, { maskZero: true, name: 'embedding' }),
  ];
  for (let i = 0; i < numLayers; i++)
    layers.push(
      new TransformerDecoder({ intermediateDim, numHeads, dropout, normalizeFirst: true, name: `decoder_${i}` }),
    );
  layers.push(new LayerNormalization({ name: 'final_norm' }));
  return layers;
}

/** ids [N, T] → next-token logits [N, T, vocabularySize]. */
export function causalLanguageModel(options: BackboneOptions): Sequential {
  return sequential([
    input({ shape: [options.inputLength ?? options.sequenceLength], dtype: 'int32' }),
    ...backbone(options),
    new Dense(options.vocabularySize, { name: 'lm_head' }),
  ]);
}

/** ids [N, T] (0 = padding) → class logits [N, numClasses], from the mean of the backbone's outputs over real tokens. */
export function sequenceClassifier(options: BackboneOptions & { numClasses: number }): Sequential {
  return sequential([
    input({ shape: [options.inputLength ?? options.sequenceLength], dtype: 'int32' }),
    ...backbone(options),
    new GlobalAveragePooling1D({ name: 'pool' }),
    new Dropout(options.dropout ?? 0.1, { name: 'head_dropout' }),
    new Dense(options.numClasses, { name: 'classifier_head' }),
  ]);
}

/**
 * Copies every weight the two models share by name and shape (the backbone) from `source` into
 * `target`; returns the names copied. Throws if nothing matches (different architectures).
 */
export function transferBackbone(source: { stateDict(): Record<string, Tensor> }, target: Sequential): string[] {
  const own = new Map(target.namedVariables());
  const shared = Object.fromEntries(
    Object.entries(source.stateDict()).filter(([k, t]) => {
      const v = own.get(k);
      return v !== undefined && v.shape.length === t.shape.length && v.shape.every((d, i) => d === t.shape[i]);
    }),
  );
  const names = Object.keys(shared);
  if (names.length === 0)
    throw new Error(
      `transferBackbone: no weight of the source matches the target by name and shape (target has ${[...own.keys()].slice(0, 4).join(', ')}, …)`,
    );
  target.loadStateDict(shared, { strict: false });
  return names;
}
