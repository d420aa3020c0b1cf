/**
 * Algebraic trace passes: rewrites that hold for every target (exact in values and gradients) and
 * make graphs cheaper. They run before `backward` (so gradients are built from the rewritten
 * forward) and again before lowering (for the rules that match backward nodes).
 * - foldTransposes: transpose(transpose(x, p), q) → x, or one transpose (layers' layout moves).
 * - poolBeforeRelu: maxPool(relu(h)) → relu(maxPool(h)).
 * - cropAtSource: an unpadded pooling that never reads trailing rows gets an input cropped at
 *   its source (cropLeading).
 * - sumPooledCotangent: Σ over the spatial axes of a max pool's gradient → Σ of its cotangent.
 */
import { relu, reluOp } from '../ops/activations.js';
import { sumOp, transpose, transposeOp } from '../ops/core.js';
import { type ConvAttrs, convOp, windowOutputSize } from '../ops/conv.js';
import { type PoolAttrs, maxPoolGradOp, maxPoolOp } from '../ops/pool.js';
import { slice } from '../ops/shape.js';
import { apply1 } from '../op.js';
import type { Tensor } from '../tensor.js';
import { type TracePass, producerOf } from './trace.js';

/** Transposes of transposes compose; a composition that is the identity disappears. */
export const foldTransposes: TracePass = {
  name: 'foldTransposes',
  rules: [
    {
      name: 'transpose∘transpose',
      op: transposeOp,
      rewrite: (node) => {
        const src = producerOf(node.inputs[0]);
        if (src?.op !== transposeOp) return undefined;
        const p = src.attrs.perm as number[];
        const composed = (node.attrs.perm as number[]).map((i) => p[i]);
        return [composed.every((v, i) => v === i) ? src.inputs[0] : transpose(src.inputs[0], composed)];
      },
    },
  ],
};

/**
 * maxPool(relu(h)) = relu(maxPool(h)) exactly, values and gradients: relu is monotone, a window's
 * first maximum is the same element when the max is positive, and the gradient is 0 either way
 * otherwise. Pooling first makes relu and its gradient touch the pooled tensor only.
 */
export const poolBeforeRelu: TracePass = {
  name: 'poolBeforeRelu',
  rules: [
    {
      name: 'maxPool∘relu',
      op: maxPoolOp,
      rewrite: (node) => {
        const src = producerOf(node.inputs[0]);
        return src?.op === reluOp ? [relu(apply1(maxPoolOp, [src.inputs[0]], node.attrs))] : undefined;
      },
    },
  ],
};

/**
 * An unpadded pooling whose windows end before the last rows/columns reads its input cropped at
 * the source (cropLeading): the ops before it skip those rows, and its gradient needs no Pad.
 * Inputs that no op made (graph inputs, constants) are left alone: a Slice there is extra work.
 */
export const cropAtSource: TracePass = {
  name: 'cropAtSource',
  rules: [
    {
      name: 'maxPool(uncovered rows)',
      op: maxPoolOp,
      rewrite: (node) => {
        const x = node.inputs[0];
        const a = node.attrs as PoolAttrs;
        if (!producerOf(x) || a.pads.some((p) => p !== 0)) return undefined;
        const sp = x.shape.slice(2) as number[];
        const covered = sp.map(
          (d, i) => (windowOutputSize(d, a.kernel[i], a.strides[i], 0, 0) - 1) * a.strides[i] + a.kernel[i],
        );
        if (covered.every((c, i) => c === sp[i])) return undefined;
        return [apply1(maxPoolOp, [cropLeading(x, [null, null, ...covered])], a)];
      },
    },
  ],
};

/**
 * x restricted to the leading `sizes[i]` entries of each axis i (null: whole axis). When x comes
 * from ops whose leading outputs depend only on leading inputs (ReLU, unpadded convolutions and
 * max pooling, transposes), the restriction moves to their input, down to a Slice where it stops.
 * The uncropped chain stays for any other reader (computed twice then: correct, at a cost).
 */
export function cropLeading(x: Tensor, sizes: readonly (number | null)[]): Tensor {
  const dims = x.shape;
  const spec = sizes.map((s, i) => (s === null || s === dims[i] ? null : s));
  if (spec.every((s) => s === null)) return x;
  const node = producerOf(x);
  if (node) {
    const { op, inputs, attrs } = node;
    const spatialOnly = spec[0] === null && spec[1] === null;
    // Input extent per spatial axis that the leading outputs read: (size - 1) * stride + span.
    const extents = (kernel: readonly number[], strides: readonly number[], dilations?: readonly number[]) => [
      null,
      null,
      ...spec
        .slice(2)
        .map((s, i) => (s === null ? null : (s - 1) * strides[i] + (dilations?.[i] ?? 1) * (kernel[i] - 1) + 1)),
    ];
    if (op === reluOp) return relu(cropLeading(inputs[0], spec));
    if (op === transposeOp) {
      const perm = attrs.perm as number[];
      const inner: (number | null)[] = inputs[0].shape.map(() => null);
      perm.forEach((from, i) => (inner[from] = spec[i]));
      return transpose(cropLeading(inputs[0], inner), perm);
    }
    if (op === convOp && spatialOnly && (attrs.pads as number[]).every((p) => p === 0)) {
      const a = attrs as ConvAttrs;
      const [h, w, b] = inputs;
      return apply1(
        convOp,
        [cropLeading(h, extents((w.shape as number[]).slice(2), a.strides, a.dilations)), w, ...(b ? [b] : [])],
        a,
      );
    }
    if (op === maxPoolOp && spatialOnly && (attrs.pads as number[]).every((p) => p === 0)) {
      const a = attrs as PoolAttrs;
      return apply1(maxPoolOp, [cropLeading(inputs[0], extents(a.kernel, a.strides))], a);
    }
  }
  return slice(
    x,
    spec.map((s) => (s === null ? null : [0, s])),
  );
}

/**
 * A max pool's gradient hands each window's cotangent whole to one element, so its sum over all
 * spatial axes equals the cotangent's sum over them: the sum reads 1/k of the elements (the bias
 * gradient of a conv before a pooling: seed CNN conv1 0.4 M instead of 1.6 M floats), and a
 * blocked pooling's gradient then needs no reorder back to NCHW for it.
 */
export const sumPooledCotangent: TracePass = {
  name: 'sumPooledCotangent',
  rules: [
    {
      name: 'sum(maxPoolGrad)',
      op: sumOp,
      rewrite: (node) => {
        const src = producerOf(node.inputs[0]);
        if (src?.op !== maxPoolGradOp) return undefined;
        const axes = node.attrs.axes as number[];
        const rank = node.inputs[0].rank;
        for (let i = 2; i < rank; i++) if (!axes.includes(i)) return undefined;
        return [apply1(sumOp, [src.inputs[2]], node.attrs)];
      },
    },
  ],
};

/** The algebraic passes, in the order they run. */
export const ALGEBRAIC_PASSES: readonly TracePass[] = [
  foldTransposes,
  poolBeforeRelu,
  cropAtSource,
  sumPooledCotangent,
];
