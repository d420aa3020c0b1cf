/**
 * MaxPool window sharing (graph pass, 'ort-cpu'): a max pool's gradient with non-overlapping
 * windows cuts x into window pieces and takes their Max (the `windowMax` hint of its lowering).
 * The forward MaxPool of the same x then computes nothing new: it is replaced by that Max (moved
 * ahead of y's readers), which saves the MaxPool and the NCHWc reorders ORT puts around it
 * (docs/PERFORMANCE.md). Graphs without such a gradient (inference) keep MaxPool, which ORT runs
 * faster there.
 */
import { NCHWC_DOMAIN } from '../runtime/nchwc.js';
import { AttrType } from '../onnx/proto.js';
import { type GraphPass, sortTopologically } from './graph.js';

export const shareMaxPoolWindows: GraphPass = {
  name: 'shareMaxPoolWindows',
  run(graph) {
    let count = 0;
    for (const hint of graph.hints) {
      if (hint.kind !== 'windowMax') continue;
      const pool = graph.producer(hint.y);
      const max = graph.producer(hint.max);
      if (pool?.op_type !== 'MaxPool' || pool.domain || pool.output.length !== 1 || pool.input[0] !== hint.x || !max)
        continue;
      if (hint.blocks) {
        // y in NCHW for its other readers, from the blocked Max.
        const c = hint.blocks.channels;
        const shape = graph.ints([0, c, ...hint.pooled]);
        const flat = graph.node('Reshape', [hint.max, shape]);
        const back = graph.node(
          'ReorderOutput',
          [flat.output[0]],
          [{ name: 'channels', type: AttrType.INT, i: c }],
          NCHWC_DOMAIN,
        );
        back.output = [hint.y];
        graph.replace(pool, [flat, back]);
      } else {
        // The Max writes y itself; its readers read y.
        graph.nodes.splice(graph.nodes.indexOf(pool), 1);
        for (const n of graph.nodes) n.input = n.input.map((i) => (i === hint.max ? hint.y : i));
        max.output = [hint.y];
        graph.reindex();
      }
      count++;
    }
    if (count) sortTopologically(graph);
    return count;
  },
};
