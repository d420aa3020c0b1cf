/**
 * Reverse-mode automatic differentiation over traces. `vjp` walks the nodes between the inputs of
 * interest and the outputs backwards, calling each op's VJP rule; the rules are written with ops,
 * so the backward pass is itself part of the trace (and can be differentiated again, or compiled).
 */
import { isFloat } from './dtype.js';
import { runTracedSync, type TracedProgram } from './compile.js';
import type { NativeSession } from './runtime/session.js';
import { shapeStr } from './shape.js';
import { Tensor } from './tensor.js';
import { type Node, type Trace, currentTrace } from './trace.js';
import { flatten } from './tree.js';
import { add, fullLike, identity, matmul, matmulOp, transpose, transposeOp } from './ops/core.js';
import { concat } from './ops/shape.js';
import { simplifyTrace } from './passes/pipeline.js';

/**
 * Cotangents of `wrt` given cotangents of `outputs`, all symbolic tensors of `trace`. `wrt` must
 * be outputs of nodes (grad marks its arguments with an identity node, so only paths created after
 * the mark count). Tensors with no path to an output get zeros. The trace is simplified first
 * (algebraic passes, in place), so the backward nodes are built from the rewritten forward.
 */
export function backward(
  trace: Trace,
  outputs: readonly Tensor[],
  cotangents: readonly Tensor[],
  wrt: readonly Tensor[],
): Tensor[] {
  simplifyTrace(trace);
  const startId = Math.min(...wrt.map((t) => (t.source?.kind === 'node' ? t.source.node.id : Infinity)));
  const nodes = trace.nodes.filter((n) => n.id >= startId);

  // Forward: which values depend on a wrt tensor (only float values carry gradients).
  const active = new Set<Tensor>(wrt);
  for (const node of nodes) {
    if (node.inputs.some((t) => active.has(t))) for (const o of node.outputs) if (isFloat(o.dtype)) active.add(o);
  }

  // Contributions to each cotangent, summed when it is first read (all of them are in by then:
  // nodes are visited in reverse order).
  const parts = new Map<Tensor, Tensor[]>();
  const accumulate = (t: Tensor, g: Tensor): void => {
    const list = parts.get(t);
    if (list) list.push(g);
    else parts.set(t, [g]);
  };
  const cotangent = (t: Tensor): Tensor | null => {
    const list = parts.get(t);
    if (!list) return null;
    if (list.length > 1) parts.set(t, [sumContributions(list)]);
    return parts.get(t)![0];
  };
  outputs.forEach((o, i) => {
    const sym = trace.capture(o);
    if (active.has(sym)) accumulate(sym, cotangents[i]);
  });

  for (let k = nodes.length - 1; k >= 0; k--) {
    const node: Node = nodes[k];
    const outCots = node.outputs.map(cotangent);
    if (outCots.every((c) => c === null)) continue;
    if (!node.inputs.some((t) => active.has(t))) continue;
    if (!node.op.vjp) {
      throw new Error(
        `grad: op '${node.op.name}' has no gradient (it is not differentiable), but the differentiated ` +
          `function depends on it through input(s) ${node.inputs.map((t) => `${shapeStr(t.shape)} ${t.dtype}`).join(', ')}. ` +
          `Wrap that part in stopGradient() if no gradient should flow through it.`,
      );
    }
    const inCots = node.op.vjp(outCots, node.inputs, node.outputs, node.attrs);
    node.inputs.forEach((t, i) => {
      const g = inCots[i];
      if (g && active.has(t)) {
        if (g.shape.join() !== t.shape.join()) {
          throw new Error(
            `internal: VJP of ${node.op.name} gave ${shapeStr(g.shape)} for input ${i} of shape ${shapeStr(t.shape)}`,
          );
        }
        accumulate(t, g);
      }
    });
  }
  return wrt.map((t) => cotangent(t) ?? fullLike(t, 0));
}

/** Products aᵀ·b of 2-D operands (a weight's gradient from one matmul that reads it). */
function transposedProduct(g: Tensor): [Tensor, Tensor] | undefined {
  const mm = g.source?.kind === 'node' ? g.source.node : undefined;
  if (mm?.op !== matmulOp || mm.inputs[0].rank !== 2 || mm.inputs[1].rank !== 2) return undefined;
  const t = mm.inputs[0].source?.kind === 'node' ? mm.inputs[0].source.node : undefined;
  if (t?.op !== transposeOp || (t.attrs.perm as number[])[0] !== 1) return undefined;
  return [t.inputs[0], mm.inputs[1]];
}

/**
 * The sum of a tensor's cotangent contributions. A weight read by several matmuls (a recurrent
 * kernel at every time step) gets aᵢᵀ·bᵢ from each; three or more of them become one product of
 * the stacked operands, (a₁; a₂; …)ᵀ·(b₁; b₂; …): one large matmul instead of many small ones and
 * a chain of adds (the per-step products are left unused and are not lowered).
 */
function sumContributions(list: readonly Tensor[]): Tensor {
  const products: [Tensor, Tensor][] = [];
  const rest: Tensor[] = [];
  for (const g of list) {
    const p = transposedProduct(g);
    if (p) products.push(p);
    else rest.push(g);
  }
  const terms =
    products.length >= 3
      ? [
          matmul(
            transpose(
              concat(
                products.map(([a]) => a),
                0,
              ),
              [1, 0],
            ),
            concat(
              products.map(([, b]) => b),
              0,
            ),
          ),
          ...rest,
        ]
      : list;
  return terms.reduce((acc, g) => add(acc, g));
}

type Fn = (...args: any[]) => any;

export interface GradOptions {
  /** Which positional arguments to differentiate with respect to (default 0). */
  argnums?: number | number[];
  /** fn returns [loss, aux]; aux is returned alongside without being differentiated. */
  hasAux?: boolean;
}

function symbolicValueAndGrad(trace: Trace, fn: Fn, args: unknown[], options: GradOptions): [unknown, unknown] {
  const argnums = options.argnums ?? 0;
  const nums = typeof argnums === 'number' ? [argnums] : argnums;
  const marked: Tensor[][] = [];
  const callArgs = [...args];
  for (const i of nums) {
    if (i >= args.length)
      throw new Error(`grad: argnums includes ${i} but the function got ${args.length} argument(s)`);
    const flat = flatten(args[i]);
    for (const leaf of flat.leaves) {
      if (!isFloat(leaf.dtype))
        throw new Error(`grad: argument ${i} has a ${leaf.dtype} tensor; only float tensors can be differentiated`);
    }
    const ids = flat.leaves.map((t) => identity(trace.capture(t)));
    marked.push(ids);
    callArgs[i] = flat.rebuild(ids);
  }
  const result = fn(...callArgs);
  const [value, aux] = options.hasAux ? (result as [unknown, unknown]) : [result, undefined];
  if (!(value instanceof Tensor) || !isFloat(value.dtype) || !value.shape.every((d) => d === 1)) {
    const got = value instanceof Tensor ? `${shapeStr(value.shape)} ${value.dtype}` : typeof value;
    throw new Error(`grad: the function must return a scalar float tensor (the loss), got ${got}`);
  }
  const all = marked.flat();
  const grads = backward(trace, [value], [fullLike(value, 1)], all);
  let k = 0;
  const perArg = nums.map((i, j) => flatten(args[i]).rebuild(grads.slice(k, (k += marked[j].length))));
  const g = typeof argnums === 'number' ? perArg[0] : perArg;
  return [options.hasAux ? [value, aux] : value, g];
}

/**
 * valueAndGrad(fn)(...args) returns [fn(...args), gradient of fn w.r.t. args[argnums]]. Gradients
 * have the structure of the differentiated argument (a tensor, or nested arrays/objects of them).
 * Outside of tracing, the forward and backward pass run as one compiled graph on this thread.
 */
export function valueAndGrad(fn: Fn, options: GradOptions = {}): (...args: any[]) => [any, any] {
  const cache = new Map<string, { program: TracedProgram; session: NativeSession }>();
  const run = (...args: unknown[]): [unknown, unknown] => {
    const trace = currentTrace();
    if (trace) return symbolicValueAndGrad(trace, fn, args, options);
    const inner = (...symArgs: unknown[]) => symbolicValueAndGrad(currentTrace()!, fn, symArgs, options);
    Object.defineProperty(inner, 'name', { value: `grad(${fn.name || 'fn'})` });
    return runTracedSync(cache, inner, args) as [unknown, unknown];
  };
  return run as (...args: any[]) => [any, any];
}

/** grad(fn)(...args): the gradient of scalar-valued fn w.r.t. args[argnums]. */
export function grad(fn: Fn, options: GradOptions = {}): (...args: any[]) => any {
  const vg = valueAndGrad(fn, options);
  return (...args: unknown[]) => {
    const [value, g] = vg(...args);
    return options.hasAux ? [g, (value as [unknown, unknown])[1]] : g;
  };
}
