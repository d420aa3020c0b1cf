/**
 * Copies a torchvision state_dict (the keys and NCHW/[out, in] layouts PyTorch saves) into a
 * backbone built here: the builders name their layers after torchvision's modules, so a key
 * 'layer1.0.conv1.weight' goes to layer 'layer1.0.conv1' — transposed into Keras' kernel layout.
 * This is how pretrained torchvision weights (exported as raw float32 arrays) reach a Lepton model.
 */
import { BatchNormalization, Conv2D, Dense, type Layer, type Model, type Variable } from '../../index.js';

/** A state_dict entry: PyTorch's shape and row-major float values. */
export interface TorchTensor {
  shape: readonly number[];
  data: Float32Array | readonly number[];
}

/** Reorders row-major `data` of `shape` by the axis permutation `perm` (numpy's transpose). */
function permuteHost(data: Float32Array | readonly number[], shape: readonly number[], perm: number[]): Float32Array {
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

function target(layer: Layer, param: string, key: string): { variable: Variable; perm?: number[] } {
  const L = layer as unknown as Record<string, Variable | undefined>;
  const pick = (v: Variable | undefined, perm?: number[]) => {
    if (!v) throw new Error(`loadTorchvisionStateDict: ${layer.describe()} has no weight for '${key}'`);
    return { variable: v, perm };
  };
  if (layer instanceof Conv2D) {
    if (param === 'weight') return pick(L.kernel, [2, 3, 1, 0]); // [O, I/g, kh, kw] → [kh, kw, I/g, O]
    if (param === 'bias') return pick(L.bias);
  } else if (layer instanceof Dense) {
    if (param === 'weight') return pick(L.kernel, [1, 0]);
    if (param === 'bias') return pick(L.bias);
  } else if (layer instanceof BatchNormalization) {
    const name = { weight: 'gamma', bias: 'beta', running_mean: 'movingMean', running_var: 'movingVariance' }[param];
    if (name) return pick(L[name]);
    if (param === 'num_batches_tracked') return { variable: undefined as unknown as Variable };
  }
  throw new Error(
    `loadTorchvisionStateDict: cannot load '${key}' into ${layer.describe()} (Conv2D, Dense and BatchNormalization layers are supported)`,
  );
}

/**
 * Loads a torchvision state_dict into a backbone from `resnet18`, `resnet34`, `mobilenetV2` or
 * `mobilenetV3Small` (same width and classes). Every key must find its layer and shape, and every
 * weight of the model must be given (`strict`, default true) — a mismatch is an error naming both.
 */
export function loadTorchvisionStateDict(
  model: Model,
  stateDict: Readonly<Record<string, TorchTensor>>,
  options: { strict?: boolean } = {},
): void {
  const byName = new Map(model.layers.map((l) => [l.name, l]));
  const loaded = new Set<Variable>();
  for (const [key, t] of Object.entries(stateDict)) {
    const dot = key.lastIndexOf('.');
    const layer = byName.get(key.slice(0, dot));
    if (!layer) {
      if (options.strict === false) continue;
      throw new Error(
        `loadTorchvisionStateDict: model '${model.name}' has no layer '${key.slice(0, dot)}' for '${key}'`,
      );
    }
    const { variable, perm } = target(layer, key.slice(dot + 1), key);
    if (!variable) continue;
    const want = perm ? perm.map((p) => t.shape[p]) : [...t.shape];
    if (want.join() !== variable.shape.join() || t.data.length !== variable.size)
      throw new Error(
        `loadTorchvisionStateDict: '${key}' has shape [${t.shape}] (PyTorch layout), ${layer.describe()} expects [${variable.shape}]${perm ? ` (Keras layout, axes ${perm} of PyTorch's)` : ''}`,
      );
    variable.assign(perm ? permuteHost(t.data, t.shape, perm) : Float32Array.from(t.data));
    loaded.add(variable);
  }
  if (options.strict !== false) {
    const missing = model.weights.filter((v) => !loaded.has(v)).map((v) => v.name);
    if (missing.length)
      throw new Error(
        `loadTorchvisionStateDict: ${missing.length} weight(s) of model '${model.name}' not in the state_dict: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', …' : ''}`,
      );
  }
}
