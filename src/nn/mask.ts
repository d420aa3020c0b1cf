/**
 * Keras-style masks: a bool tensor [N, T] marking the valid time steps of a [N, T, ...] tensor
 * (e.g. non-padding tokens). Masks are kept beside tensors in a weak map, so they follow the
 * tensors through eager calls and traced graphs without changing what layers return.
 */
import type { Tensor } from '../engine/tensor.js';

const masks = new WeakMap<Tensor, Tensor>();

export function getMask(t: Tensor): Tensor | undefined {
  return masks.get(t);
}

export function setMask(t: Tensor, mask: Tensor): Tensor {
  masks.set(t, mask);
  return t;
}
