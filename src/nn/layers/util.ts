/** Helpers shared by layers: layout conversion (channels-last API, NCHW engine ops), dropout masks, option parsing. */
import { Tensor, reshape, transpose } from '../../engine/index.js';
import { transposeOp } from '../../engine/ops/core.js';
import { batchNorm } from '../../engine/ops/norm.js';
import { moments } from '../../engine/ops/reduce.js';

/** A per-axis option (kernel size, strides, ...): one positive integer for all `n` axes, or `n` of them. */
export function perAxis(v: number | readonly number[], n: number, what: string, layer: string): number[] {
  const list = typeof v === 'number' ? new Array<number>(n).fill(v) : [...v];
  if (list.length !== n || list.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`${layer}: ${what} must be a positive integer or ${n} of them, got ${JSON.stringify(v)}`);
  }
  return list;
}

/**
 * Batch normalization of x over every axis but `axis` (Keras BatchNormalization and the PyTorch
 * BatchNorm module). In training it normalizes with the batch statistics and hands them ([C] each)
 * to `training.update`, which moves the running statistics by the caller's rule; otherwise it
 * normalizes with `running`.
 */
export function batchNormalize(
  x: Tensor,
  axis: number,
  running: { mean: Tensor; variance: Tensor },
  affine: { scale?: Tensor; offset?: Tensor },
  eps: number,
  training: { update(mean: Tensor, variance: Tensor): void } | undefined,
): Tensor {
  const statShape = x.shape.map((d, i) => (i === axis ? d : 1));
  const b = (v: Tensor | undefined): Tensor | undefined => (v ? reshape(v, statShape) : undefined);
  if (!training) return batchNorm(x, b(running.mean)!, b(running.variance)!, b(affine.scale), b(affine.offset), eps);
  const [mean, variance] = moments(
    x,
    x.shape.map((_, i) => i).filter((i) => i !== axis),
    true,
  );
  const c = running.mean.shape[0];
  training.update(reshape(mean, [c]), reshape(variance, [c]));
  return batchNorm(x, mean, variance, b(affine.scale), b(affine.offset), eps);
}

/** The padding option of conv and pooling layers (default 'valid'). */
export function paddingOption(padding: string | undefined, layer: string): 'valid' | 'same' {
  const p = padding ?? 'valid';
  if (p !== 'valid' && p !== 'same') throw new Error(`${layer}: padding must be 'valid' or 'same', got '${p}'`);
  return p;
}

const samePerm = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * Permutes x (no node for the identity permutation). A channels-last layer output feeding the next
 * channels-first op gives transpose(transpose(y)); the foldTransposes trace pass turns that back
 * into y, so chains of spatial layers (Conv2D → BatchNorm → MaxPooling2D) keep NCHW between them.
 */
export function permute(x: Tensor, perm: number[]): Tensor {
  return samePerm(
    perm,
    perm.map((_, i) => i),
  )
    ? x
    : transpose(x, perm);
}

/** [N, ...spatial, C] → [N, C, ...spatial]. */
export function toChannelsFirst(x: Tensor): Tensor {
  const r = x.rank;
  return permute(x, [0, r - 1, ...Array.from({ length: r - 2 }, (_, i) => i + 1)]);
}

/** [N, C, ...spatial] → [N, ...spatial, C]. */
export function toChannelsLast(x: Tensor): Tensor {
  const r = x.rank;
  return permute(x, [0, ...Array.from({ length: r - 2 }, (_, i) => i + 2), 1]);
}

/**
 * If x ([N, ...spatial, C]) is just the channels-last view of an NCHW tensor computed in the same
 * graph, returns that NCHW tensor (so a layer can work channels-first without any transpose).
 */
export function channelsFirstSource(x: Tensor): Tensor | undefined {
  const src = x.source;
  if (x.rank < 3 || src?.kind !== 'node' || src.node.op !== transposeOp) return undefined;
  const r = x.rank;
  const toLast = [0, ...Array.from({ length: r - 2 }, (_, i) => i + 2), 1];
  return samePerm(src.node.attrs.perm as number[], toLast) ? src.node.inputs[0] : undefined;
}
