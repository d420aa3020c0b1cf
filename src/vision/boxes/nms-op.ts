/**
 * Non-maximum suppression as an op, lowered to ONNX `NonMaxSuppression`, so a detector's exported
 * graph can end with its own NMS (any ONNX runtime runs it). Per-class NMS over shared boxes:
 * boxes [B, N, 4] (xyxy; ONNX's default corner format — IoU is the same for [y1,x1,y2,x2]) and
 * scores [B, C, N]; returns int64 [S, 3] rows (batch, class, box) for the kept boxes — S depends
 * on the data, so it is a symbolic dimension. Not differentiable. ONNX Runtime keeps only boxes
 * scoring above `scoreThreshold` and drops a box when its IoU with a kept one exceeds
 * `iouThreshold`, like the host `nms`.
 */
import { apply1, defineOp, type Tensor, type TensorType } from '../../index.js';

type NmsAttrs = {
  maxOutputPerClass: number;
  iouThreshold: number;
  scoreThreshold: number;
};

let selections = 0;

function nmsError(message: string, inputs: readonly TensorType[]): Error {
  return new Error(
    `nonMaxSuppression: ${message} (got ${inputs.map((t) => `[${t.shape.join(', ')}] ${t.dtype}`).join(', ')})`,
  );
}

export const nonMaxSuppressionOp = defineOp<NmsAttrs>({
  name: 'nonMaxSuppression',
  infer: (inputs) => {
    const [boxes, scores] = inputs;
    if (inputs.some((t) => t.dtype !== 'float32'))
      throw nmsError('boxes and scores must be float32 (the dtype ONNX NonMaxSuppression takes)', inputs);
    if (boxes.shape.length !== 3 || boxes.shape[2] !== 4) throw nmsError('boxes must be [batch, boxes, 4]', inputs);
    if (scores.shape.length !== 3 || scores.shape[0] !== boxes.shape[0] || scores.shape[2] !== boxes.shape[1]) {
      throw nmsError('scores must be [batch, classes, boxes] matching boxes [batch, boxes, 4]', inputs);
    }
    // The number of kept boxes is known only at run time: a fresh symbol per node.
    return [{ shape: [`nms_selected_${++selections}`, 3], dtype: 'int64' }];
  },
  lower: (ctx, [boxes, scores], { maxOutputPerClass, iouThreshold, scoreThreshold }) => [
    ctx.node1(
      'NonMaxSuppression',
      [
        boxes.name,
        scores.name,
        ctx.ints([maxOutputPerClass]),
        ctx.scalar(iouThreshold, 'float32'),
        ctx.scalar(scoreThreshold, 'float32'),
      ],
      { center_point_box: 0 },
    ),
  ],
});

export interface NmsOpOptions {
  iouThreshold: number;
  /** Keep boxes scoring above this (default: -Infinity → all). */
  scoreThreshold?: number;
  /** Per batch item and class (default: all). */
  maxOutputPerClass?: number;
}

/** Per-class NMS as a graph op: boxes [B, N, 4], scores [B, C, N] → int64 [S, 3] (batch, class, box). */
export function nonMaxSuppression(boxes: Tensor, scores: Tensor, options: NmsOpOptions): Tensor {
  const { iouThreshold } = options;
  if (!(iouThreshold >= 0 && iouThreshold <= 1))
    throw nmsError(`iouThreshold must be in [0, 1], got ${iouThreshold}`, [boxes, scores]);
  const n = typeof boxes.shape[1] === 'number' ? boxes.shape[1] : 2 ** 31 - 1;
  return apply1(nonMaxSuppressionOp, [boxes, scores], {
    maxOutputPerClass: options.maxOutputPerClass ?? n,
    iouThreshold,
    scoreThreshold: options.scoreThreshold ?? -3.4e38,
  });
}
