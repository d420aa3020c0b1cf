/**
 * The NMS op (ONNX NonMaxSuppression, run by ONNX Runtime) against the host `nms` per class, on
 * random boxes with tied scores and zero-width boxes; and inside an exported graph run by plain
 * onnxruntime-node.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Generator, tensor, toOnnx, type Tensor } from '../../src/index.js';
import { nms, nonMaxSuppression } from '../../src/vision/index.js';

function randomCase(seed: number, n: number, classes: number) {
  const g = new Generator(seed);
  const boxes = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    const x = Math.floor(g.random() * 40),
      y = Math.floor(g.random() * 40);
    const w = g.random() < 0.05 ? 0 : 1 + Math.floor(g.random() * 25),
      h = 1 + Math.floor(g.random() * 25);
    boxes.set([x, y, x + w, y + h], i * 4);
  }
  // Scores on a coarse grid (ties), per class.
  const scores = Float32Array.from({ length: classes * n }, () => Math.floor(g.random() * 8) / 8 + 0.01);
  return { boxes, scores };
}

/** Expected rows (batch 0, class, box) from the host NMS, class by class. */
function expectedRows(
  boxes: Float32Array,
  scores: Float32Array,
  n: number,
  classes: number,
  iou: number,
  minScore: number,
): number[][] {
  const rows: number[][] = [];
  for (let c = 0; c < classes; c++) {
    for (const i of nms(boxes, scores.subarray(c * n, (c + 1) * n), { iouThreshold: iou, scoreThreshold: minScore }))
      rows.push([0, c, i]);
  }
  return rows;
}

const rowsOf = (data: BigInt64Array | number[]) => {
  const v = [...data].map(Number);
  return Array.from({ length: v.length / 3 }, (_, i) => v.slice(i * 3, i * 3 + 3));
};

describe('nonMaxSuppression op', () => {
  it('keeps the same boxes as the host nms, per class (eager)', () => {
    for (let seed = 1; seed <= 8; seed++) {
      const n = 60,
        C = 3;
      const { boxes, scores } = randomCase(seed, n, C);
      for (const iou of [0.3, 0.6]) {
        const out = nonMaxSuppression(tensor(boxes, { shape: [1, n, 4] }), tensor(scores, { shape: [1, C, n] }), {
          iouThreshold: iou,
          scoreThreshold: 0.2,
        });
        expect(out.dtype).toBe('int64');
        expect(rowsOf(out.data as BigInt64Array)).toEqual(expectedRows(boxes, scores, n, C, iou, 0.2));
      }
    }
  });

  it('exports: the graph runs in plain onnxruntime-node with a data-dependent output size', async () => {
    const bytes = await toOnnx(
      (b: Tensor, s: Tensor) => nonMaxSuppression(b, s, { iouThreshold: 0.5, maxOutputPerClass: 100 }),
      [
        { shape: [1, 'boxes', 4], name: 'boxes' },
        { shape: [1, 2, 'boxes'], name: 'scores' },
      ],
      { outputNames: ['selected'] },
    );
    const session = await ort.InferenceSession.create(bytes);
    for (const n of [5, 40]) {
      const { boxes, scores } = randomCase(20 + n, n, 2);
      const out = await session.run({
        boxes: new ort.Tensor('float32', boxes, [1, n, 4]),
        scores: new ort.Tensor('float32', scores, [1, 2, n]),
      });
      expect(rowsOf(out.selected.data as BigInt64Array)).toEqual(expectedRows(boxes, scores, n, 2, 0.5, -Infinity));
    }
  });

  it('clear errors', () => {
    const b = tensor(new Float32Array(8), { shape: [1, 2, 4] });
    expect(() =>
      nonMaxSuppression(b, tensor(new Float32Array(3), { shape: [1, 1, 3] }), { iouThreshold: 0.5 }),
    ).toThrow(/scores must be \[batch, classes, boxes\].*\[1, 2, 4\] float32/);
    expect(() => nonMaxSuppression(b, tensor(new Float32Array(2), { shape: [1, 1, 2] }), { iouThreshold: 2 })).toThrow(
      /iouThreshold/,
    );
  });
});
