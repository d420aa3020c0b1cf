/**
 * The engine for passes over a trace. A trace rule is (op, rewrite): `rewrite(node)` returns
 * tensors equal to the node's outputs, built with ordinary ops, or undefined when it does not apply.
 * The engine places the nodes a rewrite created before the rewritten node and keeps the node's
 * output tensors: the node takes over the definition of the replacement's last node, or becomes an
 * identity of an existing tensor (and later readers read that tensor directly). So rewrites are
 * value-preserving edits in place: a trace can be simplified before `backward` differentiates it,
 * again before lowering, and every tensor a caller holds stays valid.
 */
import type { Tensor } from '../tensor.js';
import { type Node, type Trace, withTrace } from '../trace.js';
import type { OpDef } from '../op.js';
import { identityOp } from '../ops/core.js';
import { shapeStr } from '../shape.js';

export interface TraceRule {
  readonly name: string;
  /** The op of the nodes this rule looks at. */
  readonly op: OpDef;
  rewrite(node: Node): Tensor[] | undefined;
}

export interface TracePass {
  readonly name: string;
  readonly rules: readonly TraceRule[];
}

/** The node that computes t in its trace, if any. */
export function producerOf(t: Tensor): Node | undefined {
  return t.source?.kind === 'node' ? t.source.node : undefined;
}

/**
 * Applies a pass's rules once to every node of the trace, in order (nodes a rewrite creates are
 * not revisited by the same pass). Returns how many nodes were rewritten.
 */
export function runTracePass(trace: Trace, pass: TracePass): number {
  const replaced = new Map<Tensor, Tensor>();
  let count = 0;
  withTrace(trace, () => {
    for (let k = 0; k < trace.nodes.length; k++) {
      const node = trace.nodes[k];
      if (node.inputs.some((t) => replaced.has(t)))
        trace.redefine(
          node,
          node.op,
          node.inputs.map((t) => replaced.get(t) ?? t),
          node.attrs,
        );
      for (const rule of pass.rules) {
        if (rule.op !== node.op) continue;
        const mark = trace.nodes.length;
        const result = rule.rewrite(node);
        const created = trace.nodes.splice(mark);
        if (!result) {
          if (created.length) throw new Error(`internal: trace rule ${rule.name} built nodes but did not rewrite`);
          continue;
        }
        result.forEach((t, i) => {
          const o = node.outputs[i];
          if (t.dtype !== o.dtype || t.shape.join() !== o.shape.join()) {
            throw new Error(
              `internal: trace rule ${rule.name} replaced ${shapeStr(o.shape)} ${o.dtype} by ${shapeStr(t.shape)} ${t.dtype}`,
            );
          }
        });
        trace.nodes.splice(k, 0, ...created);
        k += created.length;
        count++;
        const last = created[created.length - 1];
        const takeOver =
          node.outputs.length === 1 &&
          last?.outputs.length === 1 &&
          last.outputs[0] === result[0] &&
          !created.some((n) => n.inputs.includes(result[0]));
        if (takeOver) {
          trace.redefine(node, last.op, last.inputs, last.attrs);
          trace.nodes.splice(k - 1, 1);
          k--;
        } else if (node.outputs.length === 1) {
          replaced.set(node.outputs[0], result[0]);
          trace.redefine(node, identityOp, [result[0]], {});
        } else {
          // A multi-output node keeps computing its outputs for holders; later readers read the replacements.
          node.outputs.forEach((o, i) => replaced.set(o, result[i]));
        }
        break;
      }
    }
  });
  return count;
}
