/**
 * Copies a torchvision state_dict (the keys and NCHW/[out, in] layouts PyTorch saves) into a
 * backbone built here: the builders name their layers after torchvision's modules, so a key
 * 'layer1.0.conv1.weight' goes to layer 'layer1.0.conv1' — transposed into Keras' kernel layout.
 * This is how pretrained torchvision weights (exported as raw float32 arrays) reach a Lepton model.
 */
import {
  BatchNormalization,
  Conv2D,
  Dense,
  type Layer,
  LayerNormalization,
  type Model,
  Tensor,
  TransformerEncoder,
  type Variable,
} from '../../index.js';
import { ClassTokenEmbedding } from './vit.js';

/** A state_dict entry: PyTorch's shape and row-major float values. */
export interface TorchTensor {
  shape: readonly number[];
  data: ArrayLike<number>;
}

/** Reorders row-major `data` of `shape` by the axis permutation `perm` (numpy's transpose). */
function permuteHost(data: ArrayLike<number>, shape: readonly number[], perm: number[]): Float32Array {
  const outShape = perm.map((p) => shape[p]);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new Float32Array(data.length);
  const idx = new Array<number>(outShape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let a = 0; a < idx.length; a++) src += idx[a] * strides[perm[a]];
    out[o] = data[src];
    for (let a = idx.length - 1; a >= 0; a--) {
      if (++idx[a] < outShape[a]) break;
      idx[a] = 0;
    }
  }
  return out;
}

/** One Variable filled from (part of) a state_dict tensor. */
interface Fill {
  variable: Variable;
  data: Float32Array;
  /** The shape the data has once in Keras layout, checked against the Variable's (or only its size). */
  shape?: number[];
}

const err = (msg: string) => new Error(`loadTorchvisionStateDict: ${msg}`);

/** The Variable of a layer's weight, or an error naming both. */
function weightOf(layer: Layer, name: string, key: string): Variable {
  const v = (layer as unknown as Record<string, Variable | undefined>)[name];
  if (!v) throw err(`${layer.describe()} has no weight '${name}' for '${key}'`);
  return v;
}

/** Plain layers: Conv2D, Dense, BatchNormalization and LayerNormalization by parameter name. */
function simpleFill(layer: Layer, param: string, key: string, t: TorchTensor): Fill[] {
  const keep = (name: string): Fill[] => [
    { variable: weightOf(layer, name, key), data: Float32Array.from(t.data), shape: [...t.shape] },
  ];
  const transposed = (name: string, perm: number[]): Fill[] => [
    {
      variable: weightOf(layer, name, key),
      data: permuteHost(t.data, t.shape, perm),
      shape: perm.map((p) => t.shape[p]),
    },
  ];
  if (layer instanceof Conv2D) {
    if (param === 'weight') return transposed('kernel', [2, 3, 1, 0]); // [O, I/g, kh, kw] → [kh, kw, I/g, O]
    if (param === 'bias') return keep('bias');
  } else if (layer instanceof Dense) {
    if (param === 'weight') return transposed('kernel', [1, 0]);
    if (param === 'bias') return keep('bias');
  } else if (layer instanceof BatchNormalization) {
    const name = { weight: 'gamma', bias: 'beta', running_mean: 'movingMean', running_var: 'movingVariance' }[param];
    if (name) return keep(name);
    if (param === 'num_batches_tracked') return [];
  } else if (layer instanceof LayerNormalization) {
    if (param === 'weight') return keep('gamma');
    if (param === 'bias') return keep('beta');
  }
  throw err(
    `cannot load '${key}' into ${layer.describe()} (Conv2D, Dense, BatchNormalization, LayerNormalization, ViT encoder blocks and embeddings are supported)`,
  );
}

/** torchvision's EncoderBlock (ln_1, self_attention, ln_2, mlp.0/mlp.3) into a TransformerEncoder. */
function encoderFill(block: TransformerEncoder, rest: string, key: string, t: TorchTensor): Fill[] {
  const [sub, ...tail] = rest.split('.');
  const param = tail.join('.');
  if (sub === 'ln_1') return simpleFill(block.selfAttentionNorm, param, key, t);
  if (sub === 'ln_2') return simpleFill(block.feedforwardNorm, param, key, t);
  if (sub === 'mlp' && tail[0] === '0') return simpleFill(block.feedforwardIntermediate, tail[1], key, t);
  if (sub === 'mlp' && tail[0] === '3') return simpleFill(block.feedforwardOutput, tail[1], key, t);
  if (sub === 'self_attention') {
    const mha = block.selfAttention;
    const d = t.shape[t.shape.length - 1];
    if (param === 'in_proj_weight' || param === 'in_proj_bias') {
      // PyTorch stacks q, k, v along the first axis; each is [out, in] (weights) or [out] (biases).
      const rows = t.shape[0] / 3;
      const names =
        param === 'in_proj_weight'
          ? ['queryKernel', 'keyKernel', 'valueKernel']
          : ['queryBias', 'keyBias', 'valueBias'];
      return names.map((name, i) => {
        const part = Float32Array.from(t.data).subarray(i * (t.data.length / 3), (i + 1) * (t.data.length / 3));
        const data = param === 'in_proj_weight' ? permuteHost(part, [rows, d], [1, 0]) : Float32Array.from(part);
        return { variable: weightOf(mha, name, key), data };
      });
    }
    if (param === 'out_proj.weight')
      return [{ variable: weightOf(mha, 'outputKernel', key), data: permuteHost(t.data, t.shape, [1, 0]) }];
    if (param === 'out_proj.bias')
      return [{ variable: weightOf(mha, 'outputBias', key), data: Float32Array.from(t.data) }];
  }
  throw err(`cannot load '${key}' into ${block.describe()}`);
}

function fillsFor(model: Model, byName: Map<string, Layer>, key: string, t: TorchTensor, strict: boolean): Fill[] {
  if (key === 'class_token' || key === 'encoder.pos_embedding') {
    const emb = model.layers.find((l): l is ClassTokenEmbedding => l instanceof ClassTokenEmbedding);
    if (!emb) throw err(`model '${model.name}' has no ClassTokenEmbedding layer for '${key}'`);
    const name = key === 'class_token' ? 'classToken' : 'positionEmbedding';
    return [{ variable: weightOf(emb, name, key), data: Float32Array.from(t.data), shape: [...t.shape] }];
  }
  const block = /^(.*\.encoder_layer_\d+)\.(.*)$/.exec(key);
  if (block) {
    const layer = byName.get(block[1]);
    if (layer instanceof TransformerEncoder) return encoderFill(layer, block[2], key, t);
  }
  const dot = key.lastIndexOf('.');
  const layer = byName.get(key.slice(0, dot));
  if (!layer) {
    if (!strict) return [];
    throw err(`model '${model.name}' has no layer '${key.slice(0, dot)}' for '${key}'`);
  }
  return simpleFill(layer, key.slice(dot + 1), key, t);
}

/** A Lepton tensor (e.g. from `loadSafetensors`) as a state_dict entry; integer counters carry no data. */
function asTorchTensor(t: TorchTensor | Tensor): TorchTensor {
  if (!(t instanceof Tensor)) return t;
  return { shape: t.shape.map(Number), data: t.dtype === 'int64' ? [] : (t.data as Float32Array) };
}

/**
 * Loads a torchvision state_dict into a backbone built here with the same architecture, width and
 * classes: `resnet18`, `resnet34`, `mobilenetV2`, `mobilenetV3Small` (torchvision's models of those
 * names) or `vit` (torchvision's VisionTransformer). Entries are `{ shape, data }` or tensors, e.g.
 * `(await loadSafetensors('resnet18.safetensors')).tensors` for a file written in Python by
 * `safetensors.torch.save_file(model.state_dict(), 'resnet18.safetensors')`. Every key must find
 * its layer and shape, and every weight of the model must be given (`strict`, default true) — a
 * mismatch is an error naming both.
 */
export function loadTorchvisionStateDict(
  model: Model,
  stateDict: Readonly<Record<string, TorchTensor | Tensor>>,
  options: { strict?: boolean } = {},
): void {
  const strict = options.strict !== false;
  const byName = new Map(model.layers.map((l) => [l.name, l]));
  const loaded = new Set<Variable>();
  for (const [key, entry] of Object.entries(stateDict)) {
    const t = asTorchTensor(entry);
    for (const { variable, data, shape } of fillsFor(model, byName, key, t, strict)) {
      if ((shape && shape.join() !== variable.shape.join()) || data.length !== variable.size)
        throw err(
          `'${key}' has shape [${t.shape}] (PyTorch layout), '${variable.name}' expects [${variable.shape}]${shape ? ` (Keras layout; the PyTorch tensor gives [${shape}])` : ''}`,
        );
      variable.assign(data);
      loaded.add(variable);
    }
  }
  if (strict) {
    const missing = model.weights.filter((v) => !loaded.has(v)).map((v) => v.name);
    if (missing.length)
      throw err(
        `${missing.length} weight(s) of model '${model.name}' not in the state_dict: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', …' : ''}`,
      );
  }
}
