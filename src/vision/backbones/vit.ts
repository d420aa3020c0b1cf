/**
 * A Vision Transformer (Dosovitskiy et al. 2020) laid out as torchvision's VisionTransformer: a
 * patch-embedding conv (kernel = stride = patch), a learned class token and position embeddings,
 * pre-norm TransformerEncoder blocks (GELU MLP, LayerNorm eps 1e-6), a final LayerNorm and a linear
 * head on the class token. `vitTiny` defaults to DeiT-Tiny's shape (dim 192, 12 layers, 3 heads).
 */
import {
  Conv2D,
  Dense,
  Dropout,
  type Dim,
  Layer,
  type LayerOptions,
  LayerNormalization,
  type Model,
  Reshape,
  type Tensor,
  TransformerEncoder,
  type Variable,
  add,
  broadcastTo,
  concat,
  model,
  registerLayer,
  requireDim,
  reshape,
  slice,
} from '../../index.js';
import { randomNormal } from '../../nn/initializers.js';
import { type BackboneOptions, imageInput, resolveOptions } from './common.js';

/** Prepends a learned class token to [N, T, D] tokens and adds learned position embeddings. */
export class ClassTokenEmbedding extends Layer {
  static override className = 'ClassTokenEmbedding';
  classToken!: Variable;
  positionEmbedding!: Variable;
  override build(shape: (Dim | null)[]): void {
    const t = requireDim(this, shape, 1, 'token count');
    const d = requireDim(this, shape, 2, 'embedding size');
    this.classToken = this.addWeight('classToken', [1, 1, d], 'zeros');
    // torchvision: normal(std 0.02).
    this.positionEmbedding = this.addWeight('positionEmbedding', [1, t + 1, d], randomNormal(0, 0.02));
  }
  override call(x: Tensor): Tensor {
    const [n, , d] = x.shape;
    const token = broadcastTo(this.classToken, [n, 1, d]);
    return add(concat([token, x], 1), this.positionEmbedding);
  }
}
registerLayer(ClassTokenEmbedding);

/** The class token's features ([N, T, D] → [N, D]), or with `patches` the patch tokens as a [N, h, w, D] map. */
export class TokenSelect extends Layer {
  static override className = 'TokenSelect';
  readonly grid?: [number, number];
  constructor(options: LayerOptions & { grid?: [number, number] } = {}) {
    super(options);
    this.grid = options.grid;
  }
  override call(x: Tensor): Tensor {
    const [n, t, d] = x.shape;
    if (!this.grid) return slice(x, [null, 0]);
    const [h, w] = this.grid;
    if (t !== h * w + 1) throw new Error(`expected ${h * w + 1} tokens (class token + ${h}x${w} patches), got ${t}`);
    return reshape(slice(x, [null, [1, null]]), [n, h, w, d]);
  }
  override getConfig(): Record<string, any> {
    return { ...super.getConfig(), grid: this.grid };
  }
}
registerLayer(TokenSelect);

export interface ViTOptions extends BackboneOptions {
  /** Patch size (default 16); the input's height and width must be multiples of it. */
  patchSize?: number;
  /** Encoder blocks (default 12). */
  depth?: number;
  /** Embedding size (default 192). */
  dim?: number;
  /** Attention heads (default 3); dim must divide by it. */
  heads?: number;
  /** MLP hidden size (default 4 × dim). */
  mlpDim?: number;
  /** Dropout in the encoder (default 0). */
  dropout?: number;
}

/**
 * A ViT. Without the top it returns the class token's features [N, dim]; `featureStrides:
 * [patchSize]` returns the patch tokens as a [N, H/p, W/p, dim] map (for `fcn` with `fuse: 1`).
 */
export function vit(options: ViTOptions = {}): Model {
  const builder = options.name ?? 'vit';
  const p = options.patchSize ?? 16;
  const depth = options.depth ?? 12;
  const dim = options.dim ?? 192;
  const heads = options.heads ?? 3;
  const mlpDim = options.mlpDim ?? 4 * dim;
  const dropout = options.dropout ?? 0;
  for (const [k, v] of Object.entries({ patchSize: p, depth, dim, heads, mlpDim }))
    if (!(Number.isInteger(v) && v >= 1)) throw new Error(`${builder}: ${k} must be a positive integer, got ${v}`);
  if (dim % heads !== 0) throw new Error(`${builder}: dim (${dim}) must be divisible by heads (${heads})`);
  if (options.pooling) throw new Error(`${builder}: pooling does not apply to a ViT (it pools by its class token)`);
  if (options.featureStrides && (options.featureStrides.length !== 1 || options.featureStrides[0] !== p))
    throw new Error(
      `${builder}: a ViT has one feature map, at stride ${p} (the patch size); got featureStrides [${options.featureStrides}]`,
    );
  const r = resolveOptions(builder, options, p);
  const [h, w] = [r.inputShape[0] / p, r.inputShape[1] / p];
  const image = imageInput(r.inputShape);
  let x = new Conv2D(dim, p, { strides: p, name: 'conv_proj' }).apply(image);
  x = new Reshape([h * w, dim], { name: 'patches' }).apply(x);
  x = new ClassTokenEmbedding({ name: 'embeddings' }).apply(x);
  if (dropout > 0) x = new Dropout(dropout, { name: 'encoder.dropout' }).apply(x);
  for (let i = 0; i < depth; i++)
    x = new TransformerEncoder({
      intermediateDim: mlpDim,
      numHeads: heads,
      dropout,
      activation: 'gelu',
      layerNormEpsilon: 1e-6,
      normalizeFirst: true,
      name: `encoder.layers.encoder_layer_${i}`,
    }).apply(x);
  x = new LayerNormalization({ epsilon: 1e-6, name: 'encoder.ln' }).apply(x);
  const name = options.name ?? builder;
  if (options.featureStrides)
    return model({ inputs: image, outputs: new TokenSelect({ grid: [h, w], name: 'patch_tokens' }).apply(x), name });
  x = new TokenSelect({ name: 'class_token' }).apply(x);
  if (r.includeTop) x = new Dense(r.classes, { name: 'heads.head' }).apply(x);
  return model({ inputs: image, outputs: x, name });
}

/** A small ViT with DeiT-Tiny's defaults (patch 16, dim 192, 12 blocks, 3 heads, MLP 768; 5,717,416 parameters with 1000 classes at 224², as torchvision's VisionTransformer). */
export function vitTiny(options: ViTOptions = {}): Model {
  return vit({ ...options, name: options.name ?? 'vit_tiny' });
}
