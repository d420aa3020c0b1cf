/**
 * LEPTON_NCHWC=0 turns ORT's channel-blocked kernels off: the 'no-nchwc' vitest project relies on it
 * to run the conv, pool and fit tests through the plain Conv/MaxPool path (vitest.config.ts).
 */
import { describe, expect, it } from 'vitest';
import { TracedProgram, type Tensor, conv2d, sum, valueAndGrad } from '../../src/engine/index.js';
import { nchwcBlockSize } from '../../src/engine/runtime/nchwc.js';
import { randomTensor } from '../helpers/gradcheck.js';

describe.runIf(process.env.LEPTON_NCHWC === '0')('with LEPTON_NCHWC=0', () => {
  it('reports no NCHWc block and traces block-sized convolutions with standard operators only', () => {
    expect(nchwcBlockSize()).toBe(0);
    const step = valueAndGrad((x: Tensor, w: Tensor) => sum(conv2d(x, w, undefined, { padding: 1 })), {
      argnums: [0, 1],
    });
    const x = randomTensor([2, 16, 6, 6], 1, 'float32');
    const w = randomTensor([16, 16, 3, 3], 2, 'float32');
    const domains = TracedProgram.build(step, [x, w]).lowered.model.graph.node.map((n) => n.domain ?? '');
    expect(domains.every((d) => d === '' || d === 'ai.onnx')).toBe(true);
  });
});
