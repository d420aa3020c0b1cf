/** Keras MultiHeadAttention (weights in Keras' EinsumDense layouts). */
import {
  type Dim,
  Tensor,
  type Variable,
  add,
  cast,
  matmul,
  mul,
  reshape,
  tensor,
  transpose,
} from '../../engine/index.js';
import { softmax } from '../../engine/ops/activations.js';
import { logicalAnd, where } from '../../engine/ops/elementwise.js';
import { dropout } from '../../engine/ops/nn.js';
import { type InitializerSpec, getInitializer, serializeInitializer } from '../initializers.js';
import { type CallOptions, Layer, type LayerOptions, registerLayer, requireDim } from '../layer.js';
import { getMask } from '../mask.js';

export interface MultiHeadAttentionOptions extends LayerOptions {
  /** Per-head size of values (default keyDim). */
  valueDim?: number;
  /** Dropout on the attention probabilities (training only). */
  dropout?: number;
  useBias?: boolean;
  /** Size of the output's last axis (default: the query's). */
  outputShape?: number;
  kernelInitializer?: InitializerSpec;
  biasInitializer?: InitializerSpec;
}

export interface AttentionCallOptions extends CallOptions {
  /** [N, Tq, Tk] (or broadcastable), true/1 where attention is allowed. */
  attentionMask?: Tensor;
  /** Each position attends only to itself and earlier positions. */
  useCausalMask?: boolean;
  /** Also return the attention probabilities [N, heads, Tq, Tk]. */
  returnAttentionScores?: boolean;
}

function andMask(a: Tensor | undefined, b: Tensor): Tensor {
  return a ? logicalAnd(a, b) : b;
}

/**
 * Scaled dot-product attention with `numHeads` heads. Call with [query, value] or
 * [query, value, key] (a single tensor means self-attention). Output [N, Tq, outputShape].
 */
export class MultiHeadAttention extends Layer {
  static override className = 'MultiHeadAttention';
  readonly valueDim: number;
  readonly dropoutRate: number;
  readonly useBias: boolean;
  private readonly opts: MultiHeadAttentionOptions;
  queryKernel!: Variable;
  queryBias?: Variable;
  keyKernel!: Variable;
  keyBias?: Variable;
  valueKernel!: Variable;
  valueBias?: Variable;
  outputKernel!: Variable;
  outputBias?: Variable;

  constructor(
    readonly numHeads: number,
    readonly keyDim: number,
    options: MultiHeadAttentionOptions = {},
  ) {
    super(options);
    if (!Number.isInteger(numHeads) || numHeads < 1 || !Number.isInteger(keyDim) || keyDim < 1) {
      throw new Error(`MultiHeadAttention: numHeads and keyDim must be positive integers, got ${numHeads}, ${keyDim}`);
    }
    this.valueDim = options.valueDim ?? keyDim;
    this.dropoutRate = options.dropout ?? 0;
    this.useBias = options.useBias ?? true;
    this.opts = options;
  }

  override build(inputShape: (Dim | null)[] | (Dim | null)[][]): void {
    const shapes = (Array.isArray(inputShape[0]) ? inputShape : [inputShape]) as (Dim | null)[][];
    const [q, v, k] = [shapes[0], shapes[1] ?? shapes[0], shapes[2] ?? shapes[1] ?? shapes[0]];
    const qDim = requireDim(this, q, -1, 'query feature dimension');
    const vDim = requireDim(this, v, -1, 'value feature dimension');
    const kDim = requireDim(this, k, -1, 'key feature dimension');
    const out = this.opts.outputShape ?? qDim;
    const h = this.numHeads;
    const kinit = this.opts.kernelInitializer ?? 'glorotUniform';
    const binit = this.opts.biasInitializer ?? 'zeros';
    this.queryKernel = this.addWeight('queryKernel', [qDim, h, this.keyDim], kinit);
    this.keyKernel = this.addWeight('keyKernel', [kDim, h, this.keyDim], kinit);
    this.valueKernel = this.addWeight('valueKernel', [vDim, h, this.valueDim], kinit);
    this.outputKernel = this.addWeight('outputKernel', [h, this.valueDim, out], kinit);
    if (this.useBias) {
      this.queryBias = this.addWeight('queryBias', [h, this.keyDim], binit);
      this.keyBias = this.addWeight('keyBias', [h, this.keyDim], binit);
      this.valueBias = this.addWeight('valueBias', [h, this.valueDim], binit);
      this.outputBias = this.addWeight('outputBias', [out], binit);
    }
  }

  /**
   * [N, T, D] → [N, heads, T, size]. A 2-D x [N, D] is one position per row (incremental
   * decoding): [N, heads, 1, size] by a reshape alone, and the projection is a plain matrix
   * product with bias (which ONNX Runtime runs as one Gemm).
   */
  private project(x: Tensor, kernel: Variable, bias: Variable | undefined, size: number): Tensor {
    const h = this.numHeads;
    let y = matmul(x, reshape(kernel, [kernel.shape[0], h * size]));
    if (bias) y = add(y, reshape(bias, [h * size]));
    if (x.rank === 2) return reshape(y, [x.shape[0], h, 1, size]);
    return transpose(reshape(y, [x.shape[0], x.shape[1], h, size]), [0, 2, 1, 3]);
  }

  /**
   * Keys and values for the given key/value sequences [N, T, D] (or one position per row, [N, D]),
   * per head: [N, heads, T, keyDim] and [N, heads, T, valueDim]. Computed once, they can be attended to again and again
   * (`attend`): a decoder's key/value cache, an encoder sequence under cross-attention.
   */
  keysAndValues(key: Tensor, value: Tensor = key): { keys: Tensor; values: Tensor } {
    return {
      keys: this.project(key, this.keyKernel, this.keyBias, this.keyDim),
      values: this.project(value, this.valueKernel, this.valueBias, this.valueDim),
    };
  }

  /**
   * Attention of `query` [N, Tq, D] over per-head keys and values (`keysAndValues`) where `mask`
   * (bool, broadcastable to [N, heads, Tq, Tk]) is true: the output [N, Tq, outputShape], and the
   * attention probabilities [N, heads, Tq, Tk]. A 2-D query [N, D] is one position per row
   * (Tq = 1 without transposes): the output is [N, outputShape].
   */
  attend(
    query: Tensor,
    keys: Tensor,
    values: Tensor,
    mask?: Tensor,
    options: CallOptions = {},
  ): { output: Tensor; probs: Tensor } {
    const q = mul(this.project(query, this.queryKernel, this.queryBias, this.keyDim), 1 / Math.sqrt(this.keyDim));
    let scores = matmul(q, transpose(keys, [0, 1, 3, 2])); // [N, H, Tq, Tk]
    if (mask) scores = where(mask, scores, -1e9);
    let probs = softmax(scores, -1);
    if (options.training && this.dropoutRate > 0) probs = dropout(probs, this.dropoutRate, true);
    const heads = matmul(probs, values); // [N, H, Tq, Dv]
    const merged =
      query.rank === 2
        ? reshape(heads, [query.shape[0], this.numHeads * this.valueDim])
        : reshape(transpose(heads, [0, 2, 1, 3]), [query.shape[0], query.shape[1], this.numHeads * this.valueDim]);
    let output = matmul(
      merged,
      reshape(this.outputKernel, [this.numHeads * this.valueDim, this.outputKernel.shape[2]]),
    );
    if (this.outputBias) output = add(output, this.outputBias);
    return { output, probs };
  }

  override call(inputs: Tensor | Tensor[], options: AttentionCallOptions = {}): Tensor | Tensor[] {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const [query, value, key] = [list[0], list[1] ?? list[0], list[2] ?? list[1] ?? list[0]];
    const { keys, values } = this.keysAndValues(key, value);
    let mask: Tensor | undefined;
    if (options.attentionMask) {
      const m = options.attentionMask;
      mask = cast(m.rank === 3 ? reshape(m, [m.shape[0], 1, m.shape[1], m.shape[2]]) : m, 'bool');
    }
    // Keras masks on the inputs (e.g. from Embedding({maskZero})): padded keys/values are never
    // attended to, and padded queries attend to nothing (their outputs are don't-cares).
    const n = query.shape[0];
    const keyMasks = [getMask(value), key === value ? undefined : getMask(key)].filter(
      (m): m is Tensor => m !== undefined,
    );
    for (const m of keyMasks) mask = andMask(mask, reshape(cast(m, 'bool'), [n, 1, 1, m.shape[1]]));
    const queryMask = (options.mask as Tensor | undefined) ?? getMask(query);
    if (queryMask) mask = andMask(mask, reshape(cast(queryMask, 'bool'), [n, 1, queryMask.shape[1], 1]));
    if (options.useCausalMask) {
      const [tq, tk] = [query.shape[1], key.shape[1]];
      if (typeof tq !== 'number' || typeof tk !== 'number')
        throw new Error('useCausalMask needs known sequence lengths');
      const causal = tensor(Array.from({ length: tq }, (_, i) => Array.from({ length: tk }, (_, j) => j <= i)));
      mask = andMask(mask, causal);
    }
    const { output, probs } = this.attend(query, keys, values, mask, options);
    return options.returnAttentionScores ? [output, probs] : output;
  }

  /** The output's steps are the query's: it carries the query's mask. */
  override computeMask(inputs: Tensor | Tensor[], mask: Tensor | undefined): Tensor | undefined {
    return mask ?? getMask(Array.isArray(inputs) ? inputs[0] : inputs);
  }

  override getConfig(): Record<string, any> {
    return {
      ...super.getConfig(),
      numHeads: this.numHeads,
      keyDim: this.keyDim,
      valueDim: this.valueDim,
      dropout: this.dropoutRate,
      useBias: this.useBias,
      outputShape: this.opts.outputShape,
      kernelInitializer: serializeInitializer(getInitializer(this.opts.kernelInitializer ?? 'glorotUniform')),
      biasInitializer: serializeInitializer(getInitializer(this.opts.biasInitializer ?? 'zeros')),
    };
  }

  static override fromConfig(c: Record<string, any>): MultiHeadAttention {
    return new MultiHeadAttention(c.numHeads, c.keyDim, c);
  }
}
registerLayer(MultiHeadAttention);
