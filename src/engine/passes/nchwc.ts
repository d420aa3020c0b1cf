/**
 * ORT's blocked-channel ("NCHWc") kernels for the 'ort-cpu' target: the lowering helpers that conv
 * and pool lowerings use when `ctx.nchwcBlock` > 0, and the graph pass that builds their filters
 * cheaply.
 *
 * Layout: an NCHW value with whole channel blocks moves into blocks by ReorderInput and back by
 * ReorderOutput; a value a lowering reordered out of blocks is remembered (LowerCtx.blockedForm),
 * so a later lowering that wants blocks reads the blocked value instead of reordering twice.
 *
 * Filters: an NCHWc Conv wants its [O, I, kh, kw] filter in OIHWBiBo order. The lowering emits the
 * general reorder (blockedFilter); `nchwcFilters` replaces it, when the filter is a Transpose of a
 * spatial-first kernel (Keras' [kh, kw, Cin, Cout], or its flipped and swapped form in an input
 * gradient), by one Transpose that keeps the innermost block in place. ORT's general Transpose
 * moves single floats; block-preserving ones run at block speed (docs/PERFORMANCE.md).
 */
import type { LowerCtx } from '../onnx/ctx.js';
import { type NodeProto, AttrType } from '../onnx/proto.js';
import { NCHWC_DOMAIN } from '../runtime/nchwc.js';
import { type GraphPass, type GraphRule, type OnnxGraph, intsAttr, rulePass } from './graph.js';

export { NCHWC_DOMAIN };

/**
 * The NCHWc Conv a 2-D convolution with these channel counts can run as on the lowering's target:
 * 'dense' (ungrouped) or 'depthwise' (group = input channels = output channels), when both channel
 * counts are whole blocks (no padding channels); undefined otherwise. ORT's plain grouped Conv with
 * run-time weights pays a fixed cost per group; its blocked depthwise kernel does not
 * (docs/PERFORMANCE.md).
 */
export function nchwcKind(
  ctx: LowerCtx,
  inChannels: number,
  outChannels: number,
  group: number,
): 'dense' | 'depthwise' | undefined {
  const b = ctx.nchwcBlock;
  if (b === 0 || inChannels % b !== 0 || outChannels % b !== 0) return undefined;
  if (group === 1) return 'dense';
  return group === inChannels && outChannels === inChannels ? 'depthwise' : undefined;
}

/** A 4-D value with whole channel blocks in the blocked layout (its recorded blocked form, or a ReorderInput). */
export function toBlocked(ctx: LowerCtx, name: string): string {
  return ctx.blockedForm(name) ?? ctx.node('ReorderInput', [name], {}, 1, NCHWC_DOMAIN)[0];
}

/** A blocked 4-D value with `channels` (whole blocks) back in NCHW; the pair is recorded for toBlocked. */
export function fromBlocked(ctx: LowerCtx, name: string, channels: number): string {
  const out = ctx.node('ReorderOutput', [name], { channels }, 1, NCHWC_DOMAIN)[0];
  ctx.setBlockedForm(out, name);
  return out;
}

/**
 * A [O, I, kh, kw] filter in the NCHWc kernel's OIHWBiBo order ([O/B, I/B, kh, kw, Bi, Bo], kept
 * in the [O, I, kh, kw] shape the kernel checks). ReorderInput of the filter as an image batch
 * gives [O, I/B, kh, kw, Bi]; moving Bo innermost is then one batched 2-D transpose (a single 6-D
 * Transpose was far slower).
 */
export function blockedFilter(ctx: LowerCtx, filter: string, o: number, kh: number, kw: number): string {
  const block = ctx.nchwcBlock;
  const rows = ctx.node('ReorderInput', [filter], {}, 1, NCHWC_DOMAIN)[0];
  const byOutBlock = ctx.node1('Reshape', [rows, ctx.ints([o / block, block, -1])]);
  return ctx.node1('Reshape', [ctx.node1('Transpose', [byOutBlock], { perm: [0, 2, 1] }), ctx.ints([o, -1, kh, kw])]);
}

/**
 * A depthwise [C, 1, kh, kw] filter in the NCHWc depthwise kernel's order: [C/B, kh, kw, B] (the
 * channels of a block innermost), kept in the [C, 1, kh, kw] shape the kernel checks (kh may be
 * unknown when lowering: it is taken from the filter).
 */
export function blockedDepthwiseFilter(ctx: LowerCtx, filter: string, c: number, kw: number): string {
  const block = ctx.nchwcBlock;
  const byBlock = ctx.node1('Reshape', [filter, ctx.ints([c / block, block, -1])]);
  return ctx.node1('Reshape', [ctx.node1('Transpose', [byBlock], { perm: [0, 2, 1] }), ctx.ints([c, 1, -1, kw])]);
}

const FLIP_END = Number.MIN_SAFE_INTEGER;

/** x reversed along `axes` (a Slice with step -1 over each whole axis). */
export function flipAxes(ctx: LowerCtx, x: string, axes: readonly number[]): string {
  const minus = ctx.ints(axes.map(() => -1));
  return ctx.node1('Slice', [x, minus, ctx.ints(axes.map(() => FLIP_END)), ctx.ints(axes), minus]);
}

/** The axes a Slice node reverses when it is a flip as emitted by flipAxes. */
function flipOf(node: NodeProto, graph: OnnxGraph): number[] | undefined {
  if (node.input.length !== 5) return undefined;
  const [starts, ends, axes, steps] = node.input.slice(1).map((n) => graph.constInts(n));
  if (!starts || !ends || !axes || !steps) return undefined;
  return starts.every((v) => v === -1) && steps.every((v) => v === -1) && ends.every((v) => v === FLIP_END)
    ? axes
    : undefined;
}

/** flip(transpose(b, p), axes) → transpose(flip(b, p[axes]), p): moves a flip onto the kernel a layer stores. */
const flipThroughTranspose: GraphRule = {
  name: 'flip∘transpose',
  opType: 'Slice',
  rewrite(node, graph) {
    const axes = flipOf(node, graph);
    const t = graph.producer(node.input[0]);
    const perm = t?.op_type === 'Transpose' && !t.domain ? intsAttr(t, 'perm') : undefined;
    if (!axes || !t || !perm) return undefined;
    const flipped = graph.node('Slice', [
      t.input[0],
      node.input[1],
      node.input[2],
      graph.ints(axes.map((a) => perm[a])),
      node.input[4],
    ]);
    const moved = graph.node('Transpose', [flipped.output[0]], [{ name: 'perm', type: AttrType.INTS, ints: perm }]);
    moved.output = [...node.output];
    return [flipped, moved];
  },
};

/** Transpose(Transpose(b, p), q) → Transpose(b, p∘q), or Identity when that is no move. */
const foldTransposes: GraphRule = {
  name: 'transpose∘transpose',
  opType: 'Transpose',
  rewrite(node, graph) {
    const inner = graph.producer(node.input[0]);
    const p = inner?.op_type === 'Transpose' && !inner.domain ? intsAttr(inner, 'perm') : undefined;
    const q = intsAttr(node, 'perm');
    if (!inner || !p || !q) return undefined;
    const composed = q.map((i) => p[i]);
    const out = composed.every((v, i) => v === i)
      ? graph.node('Identity', [inner.input[0]])
      : graph.node('Transpose', [inner.input[0]], [{ name: 'perm', type: AttrType.INTS, ints: composed }]);
    out.output = [...node.output];
    return [out];
  },
};

/**
 * blockedFilter's chain (ReorderInput → Reshape [O/B, B, -1] → Transpose [0, 2, 1] → Reshape
 * [O, -1, kh, kw]) over a filter that is a Transpose of a spatial-first kernel S becomes one
 * block-preserving Transpose of S (after a ReorderInput in the swapped case); the Transpose into
 * ONNX layout is then left unused.
 */
const blockedFilterFromKernel: GraphRule = {
  name: 'blockedFilter(transpose(spatial-first kernel))',
  opType: 'Reshape',
  rewrite(node, graph) {
    const target = graph.constInts(node.input[1]);
    const swap = graph.producer(node.input[0]);
    const split = swap && graph.producer(swap.input[0]);
    const rows = split && graph.producer(split.input[0]);
    if (target?.length !== 4 || swap?.op_type !== 'Transpose' || intsAttr(swap, 'perm')?.join() !== '0,2,1')
      return undefined;
    if (split?.op_type !== 'Reshape' || rows?.op_type !== 'ReorderInput' || rows.domain !== NCHWC_DOMAIN)
      return undefined;
    const splitShape = graph.constInts(split.input[1]);
    const kernel = graph.producer(rows.input[0]);
    const perm = kernel?.op_type === 'Transpose' && !kernel.domain ? intsAttr(kernel, 'perm') : undefined;
    if (splitShape?.length !== 3 || !kernel || !perm || perm.length !== 4 || perm[2] !== 0 || perm[3] !== 1)
      return undefined;
    const [o, , kh, kw] = target;
    const block = splitShape[1];
    const source = kernel.input[0];
    const nodes: NodeProto[] = [];
    const add = (n: NodeProto): string => {
      nodes.push(n);
      return n.output[0];
    };
    let blocked: string;
    if (perm[0] === 3 && perm[1] === 2) {
      // S = [kh·kw, I/B, Bi, O/B, Bo] → [O/B, I/B, kh·kw, Bi, Bo]
      const s = add(graph.node('Reshape', [source, graph.ints([kh * kw, -1, block, o / block, block])]));
      blocked = add(graph.node('Transpose', [s], [{ name: 'perm', type: AttrType.INTS, ints: [3, 1, 0, 2, 4] }]));
    } else if (perm[0] === 2 && perm[1] === 3) {
      // S = [kh·kw, O, I]: ReorderInput of it as a [kh·kw, O, I, 1] image moves Bo innermost,
      // [kh·kw, O/B, I/B, Bi, Bo]. (Two Transposes here would be merged by ORT into a slow one.)
      const image = add(graph.node('Reshape', [source, graph.ints([kh * kw, o, -1, 1])]));
      const r = add(graph.node('ReorderInput', [image], [], NCHWC_DOMAIN));
      const s = add(graph.node('Reshape', [r, graph.ints([kh * kw, o / block, -1, block, block])]));
      blocked = add(graph.node('Transpose', [s], [{ name: 'perm', type: AttrType.INTS, ints: [1, 2, 0, 3, 4] }]));
    } else return undefined;
    const out = graph.node('Reshape', [blocked, node.input[1]]);
    out.output = [...node.output];
    return [...nodes, out];
  },
};

/** The NCHWc filter pass: flips onto stored kernels, transposes composed, filters built from spatial-first kernels. */
export const nchwcFilters: GraphPass = {
  name: 'nchwcFilters',
  run(graph: OnnxGraph): number {
    // Three sweeps: each rule's input is the previous one's output.
    return [flipThroughTranspose, foldTransposes, blockedFilterFromKernel].reduce(
      (n, rule) => n + rulePass(rule.name, [rule]).run(graph),
      0,
    );
  },
};
