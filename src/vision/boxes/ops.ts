/**
 * Box maths as compositions of Lepton ops, so they trace, export and differentiate: format
 * conversions and the aligned IoU family (IoU, GIoU, DIoU, CIoU) used by box-regression losses.
 * Boxes are tensors whose last axis has 4 entries; the IoU functions pair box i of `a` with box i
 * of `b` (shapes broadcast) and return the last axis reduced away. Formulas follow torchvision's
 * `generalized_box_iou_loss`, `distance_box_iou_loss` and `complete_box_iou_loss`.
 */
import {
  add,
  atan,
  cast,
  concat,
  div,
  maximum,
  mean,
  minimum,
  mul,
  relu,
  reshape,
  split,
  squeeze,
  square,
  stopGradient,
  sub,
  sum,
  type Tensor,
} from '../../index.js';
import type { BoxFormat } from './host.js';

export type IouKind = 'iou' | 'giou' | 'diou' | 'ciou';

function corners(where: string, boxes: Tensor): [Tensor, Tensor, Tensor, Tensor] {
  if (boxes.rank < 1 || boxes.shape[boxes.rank - 1] !== 4) {
    throw new Error(
      `${where}: boxes need a last axis of size 4, got shape [${boxes.shape.join(', ')}] (${boxes.dtype})`,
    );
  }
  if (!boxes.dtype.startsWith('float'))
    throw new Error(`${where}: boxes must be float32 or float64, got ${boxes.dtype}`);
  return split(boxes, 4, -1).map((t) => squeeze(t, -1)) as [Tensor, Tensor, Tensor, Tensor];
}

function pack(parts: Tensor[]): Tensor {
  return concat(
    parts.map((p) => reshape(p, [...p.shape, 1])),
    -1,
  );
}

/** Converts boxes between xyxy, xywh and cxcywh (differentiable). */
export function convertBoxesOp(boxes: Tensor, from: BoxFormat, to: BoxFormat): Tensor {
  if (from === to) return boxes;
  const [a, b, c, d] = corners('convertBoxesOp', boxes);
  let x1: Tensor, y1: Tensor, x2: Tensor, y2: Tensor;
  if (from === 'xyxy') [x1, y1, x2, y2] = [a, b, c, d];
  else if (from === 'xywh') [x1, y1, x2, y2] = [a, b, add(a, c), add(b, d)];
  else if (from === 'cxcywh')
    [x1, y1, x2, y2] = [sub(a, mul(c, 0.5)), sub(b, mul(d, 0.5)), add(a, mul(c, 0.5)), add(b, mul(d, 0.5))];
  else throw new Error(`convertBoxesOp: unknown format '${from}' (expected xyxy, xywh or cxcywh)`);
  if (to === 'xyxy') return pack([x1, y1, x2, y2]);
  if (to === 'xywh') return pack([x1, y1, sub(x2, x1), sub(y2, y1)]);
  if (to === 'cxcywh') return pack([mul(add(x1, x2), 0.5), mul(add(y1, y2), 0.5), sub(x2, x1), sub(y2, y1)]);
  throw new Error(`convertBoxesOp: unknown format '${to}' (expected xyxy, xywh or cxcywh)`);
}

export interface IouOptions {
  /** Added to denominators (torchvision: 1e-7). */
  eps?: number;
  /**
   * CIoU only: treat the trade-off weight alpha as a constant (torchvision computes it under
   * no_grad). Default true; false differentiates through alpha as well.
   */
  stopAlphaGradient?: boolean;
}

/**
 * Aligned IoU-family score between xyxy boxes `a` and `b` (shapes [..., 4], broadcasting).
 * `iou` in [0, 1]; `giou` subtracts the empty part of the enclosing box; `diou` the squared
 * centre distance over the enclosing diagonal; `ciou` also an aspect-ratio term. CIoU's arctan
 * runs in float32 (ONNX Runtime has no float64 Atan kernel).
 */
export function pairedIou(a: Tensor, b: Tensor, kind: IouKind = 'iou', options: IouOptions = {}): Tensor {
  const eps = options.eps ?? 1e-7;
  const [ax1, ay1, ax2, ay2] = corners(`pairedIou(${kind})`, a);
  const [bx1, by1, bx2, by2] = corners(`pairedIou(${kind})`, b);
  if (a.dtype !== b.dtype)
    throw new Error(`pairedIou(${kind}): boxes must share a dtype, got ${a.dtype} and ${b.dtype}`);
  const iw = relu(sub(minimum(ax2, bx2), maximum(ax1, bx1)));
  const ih = relu(sub(minimum(ay2, by2), maximum(ay1, by1)));
  const inter = mul(iw, ih);
  const wa = sub(ax2, ax1),
    ha = sub(ay2, ay1),
    wb = sub(bx2, bx1),
    hb = sub(by2, by1);
  const union = sub(add(mul(wa, ha), mul(wb, hb)), inter);
  const iou = div(inter, add(union, eps));
  if (kind === 'iou') return iou;
  const cw = sub(maximum(ax2, bx2), minimum(ax1, bx1));
  const ch = sub(maximum(ay2, by2), minimum(ay1, by1));
  if (kind === 'giou') {
    const area = mul(cw, ch);
    return sub(iou, div(sub(area, union), add(area, eps)));
  }
  const diag = add(add(square(cw), square(ch)), eps);
  const dist = add(
    square(mul(sub(add(ax1, ax2), add(bx1, bx2)), 0.5)),
    square(mul(sub(add(ay1, ay2), add(by1, by2)), 0.5)),
  );
  const diou = sub(iou, div(dist, diag));
  if (kind === 'diou') return diou;
  if (kind !== 'ciou') throw new Error(`pairedIou: unknown kind '${kind}' (expected iou, giou, diou or ciou)`);
  const v = aspectRatioPenalty(a, b);
  let alpha = div(v, add(add(sub(1, iou), v), eps));
  if (options.stopAlphaGradient ?? true) alpha = stopGradient(alpha);
  return sub(diou, mul(alpha, v));
}

/** CIoU's aspect-ratio term v = 4/π² (atan(wb/hb) − atan(wa/ha))² for xyxy boxes. */
export function aspectRatioPenalty(a: Tensor, b: Tensor): Tensor {
  const [ax1, ay1, ax2, ay2] = corners('aspectRatioPenalty', a);
  const [bx1, by1, bx2, by2] = corners('aspectRatioPenalty', b);
  const float32Atan = (x: Tensor) => (x.dtype === 'float32' ? atan(x) : cast(atan(cast(x, 'float32')), x.dtype));
  const d = sub(float32Atan(div(sub(bx2, bx1), sub(by2, by1))), float32Atan(div(sub(ax2, ax1), sub(ay2, ay1))));
  return mul(square(d), 4 / (Math.PI * Math.PI));
}

/** 1 − (IoU | GIoU | DIoU | CIoU) per box pair, optionally averaged or summed. */
export function iouLoss(
  pred: Tensor,
  target: Tensor,
  kind: IouKind = 'giou',
  options: IouOptions & { reduction?: 'none' | 'mean' | 'sum' } = {},
): Tensor {
  const loss = sub(1, pairedIou(pred, target, kind, options));
  const reduction = options.reduction ?? 'mean';
  if (reduction === 'none') return loss;
  return reduction === 'sum' ? sum(loss) : mean(loss);
}
