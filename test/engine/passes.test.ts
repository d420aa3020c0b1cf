/**
 * Graph passes (src/engine/passes), each alone: a graph in, the graph out (the rewrite happened, or
 * did not where it must not), and the values of the rewritten graph equal to the graph lowered
 * without that pass. Also: traces do not depend on the CPU (one trace lowers for both targets).
 */
import { describe, expect, it } from 'vitest';
import {
  type Tensor,
  TracedProgram,
  apply1,
  conv2d,
  identity,
  maxPool2d,
  mul,
  relu,
  sum,
  transpose,
  valueAndGrad,
} from '../../src/index.js';
import { lowerTrace, type LowerOptions } from '../../src/engine/onnx/lower.js';
import { type NodeProto, tensorProtoFromHost } from '../../src/engine/onnx/proto.js';
import { maxPoolGradOp } from '../../src/engine/ops/pool.js';
import { cropAtSource, foldTransposes, poolBeforeRelu, sumPooledCotangent } from '../../src/engine/passes/algebra.js';
import {
  OnnxGraph,
  removeDeadNodes,
  renameIntoOutputs,
  requireStandardOps,
  sortTopologically,
} from '../../src/engine/passes/graph.js';
import { graphPasses } from '../../src/engine/passes/pipeline.js';
import { type TracePass, producerOf, runTracePass } from '../../src/engine/passes/trace.js';
import { nchwcBlockSize } from '../../src/engine/runtime/nchwc.js';
import { NativeSession } from '../../src/engine/runtime/session.js';
import { toHost } from '../../src/engine/tensor.js';
import { Trace, withTrace } from '../../src/engine/trace.js';
import { randomTensor } from '../helpers/gradcheck.js';

const f32 = (shape: number[], seed: number, scale = 1) => randomTensor(shape, seed, 'float32', scale);

/** Traces `build` on placeholders shaped like `args`. */
function traced(
  args: readonly Tensor[],
  build: (...xs: Tensor[]) => Tensor[],
): { trace: Trace; inputs: Tensor[]; outputs: Tensor[] } {
  const trace = new Trace();
  const inputs = args.map((a, i) => trace.input(a.shape, a.dtype, `x${i}`));
  return { trace, inputs, outputs: withTrace(trace, () => build(...inputs)) };
}

/** Lowers the outputs with the given options, runs the graph on `args`; returns the output values and nodes. */
function run(
  args: readonly Tensor[],
  build: (...xs: Tensor[]) => Tensor[],
  options: LowerOptions = {},
): { values: Float32Array[]; nodes: NodeProto[] } {
  const { trace, outputs } = traced(args, build);
  const lowered = lowerTrace(trace, outputs, options);
  const session = new NativeSession(lowered.bytes, lowered.sessionOptions, 'passes test');
  const feeds = Object.fromEntries(lowered.inputNames.map((n, i) => [n, toHost(args[i])]));
  const results = session.run(feeds, lowered.outputNames);
  session.dispose();
  return { values: lowered.outputNames.map((n) => results[n].data as Float32Array), nodes: lowered.model.graph.node };
}

const NO_PASSES: LowerOptions = { passes: { trace: [], graph: [] } };

function expectSameValues(got: Float32Array[], want: Float32Array[]): void {
  expect(got.length).toBe(want.length);
  got.forEach((g, k) => {
    expect(g.length).toBe(want[k].length);
    const scale = Math.max(1, ...Array.from(want[k], Math.abs));
    g.forEach((v, i) => expect(Math.abs(v - want[k][i])).toBeLessThanOrEqual(1e-5 * scale));
  });
}

/** Runs one trace pass over a fresh trace of `build`; returns the rewrite count and the outputs. */
function afterPass(pass: TracePass, args: readonly Tensor[], build: (...xs: Tensor[]) => Tensor[]) {
  const t = traced(args, build);
  const count = runTracePass(t.trace, pass);
  return { ...t, count };
}

const opOf = (t: Tensor) => producerOf(t)?.op.name;

describe('trace passes', () => {
  it("the engine keeps the rewritten node's output tensor: holders see the new definition", () => {
    const x = f32([1, 2, 4, 4], 1);
    const { outputs, inputs, count, trace } = afterPass(poolBeforeRelu, [x], (h) => [
      maxPool2d(relu(h), { kernel: 2 }),
    ]);
    expect(count).toBe(1);
    const y = outputs[0];
    expect(y.trace).toBe(trace);
    expect(opOf(y)).toBe('relu');
    const pooled = producerOf(y)!.inputs[0];
    expect(opOf(pooled)).toBe('maxPool');
    expect(producerOf(pooled)!.inputs[0]).toBe(inputs[0]);
    // Nodes stay in topological order: every input is defined before its reader.
    const defined = new Set<Tensor>(inputs);
    for (const n of trace.nodes) {
      n.inputs.forEach((i) => expect(defined.has(i)).toBe(true));
      n.outputs.forEach((o) => defined.add(o));
    }
  });

  it('foldTransposes: inverse transposes vanish, others compose into one; values equal', () => {
    const x = f32([2, 3, 4, 5], 2);
    const inverse = (h: Tensor) => [relu(transpose(transpose(h, [0, 2, 3, 1]), [0, 3, 1, 2]))];
    const composed = (h: Tensor) => [relu(transpose(transpose(h, [0, 2, 3, 1]), [0, 2, 1, 3]))];
    const a = afterPass(foldTransposes, [x], inverse);
    expect(a.count).toBe(1);
    expect(producerOf(a.outputs[0])!.inputs[0]).toBe(a.inputs[0]);
    const b = afterPass(foldTransposes, [x], composed);
    const t = producerOf(producerOf(b.outputs[0])!.inputs[0])!;
    expect(t.op.name).toBe('transpose');
    expect(t.inputs[0]).toBe(b.inputs[0]);
    expect(t.attrs.perm).toEqual([0, 3, 2, 1]); // y[i] = h[p[q[i]]]
    // A transpose of something else is left alone.
    expect(afterPass(foldTransposes, [x], (h) => [transpose(relu(h), [0, 1, 3, 2])]).count).toBe(0);
    for (const build of [inverse, composed]) {
      const rewritten = run([x], build, { passes: { trace: [foldTransposes], graph: [] } });
      expect(rewritten.nodes.filter((n) => n.op_type === 'Transpose').length).toBeLessThanOrEqual(1);
      expectSameValues(rewritten.values, run([x], build, NO_PASSES).values);
    }
  });

  it('poolBeforeRelu: maxPool(relu(h)) pools first, not through an identity; values equal', () => {
    const x = f32([2, 3, 6, 6], 3);
    const build = (h: Tensor) => [maxPool2d(relu(h), { kernel: 2 })];
    expect(afterPass(poolBeforeRelu, [x], (h) => [maxPool2d(identity(relu(h)), { kernel: 2 })]).count).toBe(0);
    const rewritten = run([x], build, { passes: { trace: [poolBeforeRelu], graph: [] } });
    const order = rewritten.nodes.map((n) => n.op_type).filter((o) => o === 'Relu' || o === 'MaxPool');
    expect(order).toEqual(['MaxPool', 'Relu']);
    expect(
      run([x], build, NO_PASSES)
        .nodes.map((n) => n.op_type)
        .filter((o) => o === 'Relu' || o === 'MaxPool'),
    ).toEqual(['Relu', 'MaxPool']);
    expectSameValues(rewritten.values, run([x], build, NO_PASSES).values);
  });

  it('cropAtSource: a pooling that drops trailing rows crops the conv input instead; not for padded pooling or graph inputs; values equal', () => {
    const x = f32([2, 3, 9, 8], 4);
    const w = f32([4, 3, 3, 3], 5, 0.5);
    const build = (h: Tensor, k: Tensor) => [maxPool2d(relu(conv2d(h, k)), { kernel: 2 })]; // 7×6 conv output: row 7 unread
    const a = afterPass(cropAtSource, [x, w], build);
    expect(a.count).toBe(1);
    const conv = producerOf(producerOf(producerOf(a.outputs[0])!.inputs[0])!.inputs[0])!;
    expect(conv.op.name).toBe('conv');
    expect(opOf(conv.inputs[0])).toBe('slice');
    expect(conv.inputs[0].shape).toEqual([2, 3, 8, 8]);
    expect(
      afterPass(cropAtSource, [x, w], (h, k) => [maxPool2d(relu(conv2d(h, k)), { kernel: 2, padding: 'same' })]).count,
    ).toBe(0);
    expect(afterPass(cropAtSource, [x], (h) => [maxPool2d(h, { kernel: 2 })]).count).toBe(0);
    expectSameValues(
      run([x, w], build, { passes: { trace: [cropAtSource], graph: [] } }).values,
      run([x, w], build, NO_PASSES).values,
    );
  });

  it('sumPooledCotangent: Σ over the spatial axes of a max-pool gradient sums the cotangent; not when a spatial axis is kept; values equal', () => {
    const x = f32([2, 3, 6, 6], 6);
    const g = f32([2, 3, 3, 3], 7);
    const attrs = { kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0] };
    const dx = (h: Tensor, c: Tensor) => apply1(maxPoolGradOp, [h, maxPool2d(h, { kernel: 2 }), c], attrs);
    const build = (h: Tensor, c: Tensor) => [sum(dx(h, c), [0, 2, 3])];
    const a = afterPass(sumPooledCotangent, [x, g], build);
    expect(a.count).toBe(1);
    expect(producerOf(a.outputs[0])!.inputs[0]).toBe(a.inputs[1]);
    expect(afterPass(sumPooledCotangent, [x, g], (h, c) => [sum(dx(h, c), [0, 2])]).count).toBe(0);
    expectSameValues(
      run([x, g], build, { passes: { trace: [sumPooledCotangent], graph: [] } }).values,
      run([x, g], build, NO_PASSES).values,
    );
  });
});

describe('graph passes', () => {
  const node = (op_type: string, input: string[], output: string[], name = output[0]): NodeProto => ({
    op_type,
    domain: '',
    input,
    output,
    attribute: [],
    name,
  });

  it('removeDeadNodes drops what no output reads (and constants only that read); renameIntoOutputs lets the producer write an output', () => {
    const nodes = [
      node('Relu', ['x'], ['a']),
      node('Add', ['x', 'c'], ['dead']),
      node('Exp', ['a'], ['b']),
      node('Identity', ['b'], ['out'], 'output/0'),
      node('Identity', ['x'], ['out2'], 'output/1'),
    ];
    const constant = tensorProtoFromHost({ dtype: 'float32', shape: [1], data: new Float32Array([1]) }, 'c');
    const graph = new OnnxGraph('ort-cpu', nodes, [constant], ['x'], ['out', 'out2']);
    expect(renameIntoOutputs.run(graph)).toBe(1);
    expect(removeDeadNodes.run(graph)).toBe(1);
    expect(graph.initializers).toEqual([]); // only the dropped node read it
    // The graph input's Identity stays (a graph input cannot be renamed into an output).
    expect(graph.nodes.map((n) => `${n.op_type}:${n.input}->${n.output}`)).toEqual([
      'Relu:x->a',
      'Exp:a->out',
      'Identity:x->out2',
    ]);
  });

  it('renameIntoOutputs leaves a value that two outputs share', () => {
    const nodes = [
      node('Relu', ['x'], ['a']),
      node('Identity', ['a'], ['o1'], 'output/0'),
      node('Identity', ['a'], ['o2'], 'output/1'),
    ];
    const graph = new OnnxGraph('ort-cpu', nodes, [], ['x'], ['o1', 'o2']);
    expect(renameIntoOutputs.run(graph)).toBe(0);
    expect(graph.nodes).toHaveLength(3);
  });

  it('sortTopologically moves a node ahead of its readers and keeps the rest in order', () => {
    const nodes = [node('Relu', ['m'], ['r']), node('Neg', ['x'], ['n']), node('Max', ['x', 'n'], ['m'])];
    const graph = new OnnxGraph('ort-cpu', nodes, [], ['x'], ['r']);
    sortTopologically(graph);
    expect(graph.nodes.map((n) => n.op_type)).toEqual(['Neg', 'Max', 'Relu']);
  });

  it("requireStandardOps rejects ORT's internal operators in a 'portable' graph", () => {
    const blocked = { ...node('ReorderInput', ['x'], ['y']), domain: 'com.microsoft.nchwc' };
    expect(() => requireStandardOps.run(new OnnxGraph('portable', [blocked], [], ['x'], ['y']))).toThrow(
      /'portable' graph holds non-standard operators \(com\.microsoft\.nchwc:ReorderInput\)/,
    );
    expect(requireStandardOps.run(new OnnxGraph('portable', [node('Relu', ['x'], ['y'])], [], ['x'], ['y']))).toBe(0);
  });

  it("shareMaxPoolWindows: a training graph computes the forward from the gradient's window pieces (no MaxPool); inference keeps MaxPool; values equal", () => {
    const x = f32([2, 4, 6, 6], 8);
    const r = f32([2, 4, 3, 3], 9);
    const train = (h: Tensor, c: Tensor) => {
      const [value, dh] = valueAndGrad((t: Tensor) => sum(mul(maxPool2d(t, { kernel: 2 }), c)))(h) as [Tensor, Tensor];
      return [value, dh];
    };
    const shared = run([x, r], train, { target: 'ort-cpu' });
    expect(shared.nodes.some((n) => n.op_type === 'MaxPool')).toBe(false);
    const without = run([x, r], train, {
      target: 'ort-cpu',
      passes: { graph: graphPasses('ort-cpu').filter((p) => p.name !== 'shareMaxPoolWindows') },
    });
    expect(without.nodes.some((n) => n.op_type === 'MaxPool')).toBe(true);
    expectSameValues(shared.values, without.values);
    expect(
      run([x], (h) => [maxPool2d(h, { kernel: 2 })], { target: 'ort-cpu' }).nodes.some((n) => n.op_type === 'MaxPool'),
    ).toBe(true);
  });

  it.runIf(nchwcBlockSize() > 0)(
    'nchwcFilters: NCHWc filters built straight from a Keras kernel (forward and flipped input gradient); values equal',
    () => {
      const x = f32([1, 32, 5, 4], 10);
      const k = f32([3, 2, 32, 16], 11, 0.2);
      const r = f32([1, 16, 5, 4], 12);
      const step = (h: Tensor, kk: Tensor, c: Tensor) => {
        const [value, [dh, dk]] = valueAndGrad(
          (a: Tensor, b: Tensor) => sum(mul(conv2d(a, transpose(b, [3, 2, 0, 1]), undefined, { padding: 'same' }), c)),
          { argnums: [0, 1] },
        )(h, kk) as [Tensor, Tensor[]];
        return [value, dh, dk];
      };
      const perms = (nodes: NodeProto[]) =>
        nodes
          .filter((n) => n.op_type === 'Transpose')
          .map((n) =>
            n.attribute
              ?.find((a) => a.name === 'perm')
              ?.ints?.map(Number)
              .join(','),
          );
      const built = run([x, k, r], step, { target: 'ort-cpu' });
      const plain = run([x, k, r], step, {
        target: 'ort-cpu',
        passes: { graph: graphPasses('ort-cpu').filter((p) => p.name !== 'nchwcFilters') },
      });
      expect(perms(plain.nodes)).toContain('3,2,0,1');
      expect(perms(built.nodes)).not.toContain('3,2,0,1');
      // The forward filter by one block-preserving Transpose of the kernel, the input gradient's after a ReorderInput.
      expect(perms(built.nodes)).toEqual(expect.arrayContaining(['3,1,0,2,4', '1,2,0,3,4']));
      expectSameValues(built.values, plain.values);
    },
  );
});

describe('targets', () => {
  it("a conv gradient's trace is the same on every CPU: plain ops, lowered with NCHWc kernels for 'ort-cpu' only when this CPU has them", () => {
    const x = f32([2, 16, 6, 6], 13);
    const w = f32([32, 16, 3, 3], 14, 0.2);
    const step = (h: Tensor, k: Tensor) =>
      valueAndGrad((a: Tensor, b: Tensor) => sum(conv2d(a, b, undefined, { padding: 1 })), { argnums: [0, 1] })(h, k);
    const program = TracedProgram.build(step, [x, w]);
    const ops = new Set(program.trace.nodes.map((n) => n.op.name));
    expect([...ops].filter((o) => o.startsWith('conv')).sort()).toEqual(['conv', 'convTranspose', 'convWeightGrad']);
    const outputs = program.outputFlat.leaves;
    const domains = (target: 'ort-cpu' | 'portable') =>
      new Set(lowerTrace(program.trace, outputs, { target }).model.graph.node.map((n) => n.domain || 'ai.onnx'));
    expect([...domains('portable')]).toEqual(['ai.onnx']);
    expect(domains('ort-cpu').has('com.microsoft.nchwc')).toBe(nchwcBlockSize() > 0);
  });
});
