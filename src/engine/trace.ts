/**
 * Traces: the IR. A Trace is a list of op nodes over symbolic tensors, plus the places values come
 * from (placeholder inputs, captured concrete tensors, per-call random inputs). grad extends a trace
 * with backward nodes; trace passes (src/engine/passes) rewrite nodes into equal computations;
 * lowering turns a trace into an ONNX graph.
 */
import type { DType } from './dtype.js';
import type { LowerCtx } from './onnx/ctx.js';
import type { Dim } from './shape.js';
import { Tensor, Variable } from './tensor.js';

export interface TensorType {
  readonly shape: readonly Dim[];
  readonly dtype: DType;
}

/** A value during lowering: its ONNX name plus its type. */
export interface LoweredValue extends TensorType {
  readonly name: string;
}

export type Attrs = Record<string, unknown>;

/** An op as the IR knows it; defined and registered with defineOp (op.ts). */
export interface OpDef<A extends Attrs = any> {
  readonly name: string;
  /** Checks the inputs and attributes, returns the output types. Errors name the op. */
  infer(inputs: readonly TensorType[], attrs: A): TensorType[];
  /** Emits ONNX nodes computing the outputs; returns one value name per output. */
  lower(ctx: LowerCtx, inputs: readonly LoweredValue[], attrs: A, outputs: readonly TensorType[]): string[];
  /**
   * Cotangents of the inputs given cotangents of the outputs (null = zero / not needed).
   * Omitted for ops that are not differentiable.
   */
  vjp?(
    cotangents: readonly (Tensor | null)[],
    inputs: readonly Tensor[],
    outputs: readonly Tensor[],
    attrs: A,
  ): (Tensor | null)[];
}

export interface Node {
  readonly id: number;
  readonly op: OpDef;
  readonly inputs: readonly Tensor[];
  readonly attrs: Readonly<Record<string, unknown>>;
  readonly outputs: Tensor[];
}

export class Trace {
  readonly nodes: Node[] = [];
  readonly inputs: Tensor[] = [];
  /** Concrete tensors used by the traced function, keyed by the concrete tensor. */
  readonly captures = new Map<Tensor, Tensor>();
  /** Random inputs drawn fresh at every call of the compiled function. */
  readonly randoms: Tensor[] = [];
  private nextNodeId = 0;

  /** A placeholder input of the given type. */
  input(shape: readonly Dim[], dtype: DType, name = `input_${this.inputs.length}`): Tensor {
    const t = new Tensor(shape, dtype, undefined, this, { kind: 'input', name, index: this.inputs.length });
    this.inputs.push(t);
    return t;
  }

  /** The symbolic stand-in for a concrete tensor used inside this trace. */
  capture(value: Tensor): Tensor {
    if (value.trace === this) return value;
    if (value.isSymbolic) {
      throw new Error(
        'a symbolic tensor from another trace was used here: tensors created inside one grad/compile ' +
          'call cannot leak into another (return them instead)',
      );
    }
    let t = this.captures.get(value);
    if (!t) {
      t = new Tensor(value.shape, value.dtype, undefined, this, { kind: 'capture', value });
      this.captures.set(value, t);
    }
    return t;
  }

  /** A tensor of fresh random numbers at every call (uniform in [0,1) or standard normal). */
  random(shape: readonly Dim[], dtype: DType, distribution: 'uniform' | 'normal'): Tensor {
    const t = new Tensor(shape, dtype, undefined, this, { kind: 'random', distribution, index: this.randoms.length });
    this.randoms.push(t);
    return t;
  }

  addNode(
    op: OpDef,
    inputs: Tensor[],
    attrs: Record<string, unknown>,
    outTypes: { shape: readonly Dim[]; dtype: DType }[],
  ): Node {
    const node: Node = { id: this.nextNodeId++, op, inputs, attrs, outputs: [] };
    node.outputs.push(
      ...outTypes.map((t, index) => new Tensor(t.shape, t.dtype, undefined, this, { kind: 'node', node, index })),
    );
    this.nodes.push(node);
    return node;
  }

  /**
   * Makes `node` compute its outputs another way (a trace pass's rewrite): its output tensors stay
   * the same objects, so every holder of them (later nodes, callers' handles) sees the new definition.
   * The caller guarantees equal values and that `inputs` are defined before the node.
   */
  redefine(node: Node, op: OpDef, inputs: readonly Tensor[], attrs: Readonly<Record<string, unknown>>): void {
    const editable = node as { op: OpDef; inputs: readonly Tensor[]; attrs: Readonly<Record<string, unknown>> };
    editable.op = op;
    editable.inputs = inputs;
    editable.attrs = attrs;
  }

  /** Variables captured by this trace (their values are fed at every call). */
  variables(): Variable[] {
    return [...this.captures.keys()].filter((t): t is Variable => t instanceof Variable);
  }
}

// The trace that new symbolic tensors go into while a function is being traced.
const traceStack: Trace[] = [];

export function currentTrace(): Trace | undefined {
  return traceStack[traceStack.length - 1];
}

/** Runs `fn` with `trace` as the current trace. */
export function withTrace<T>(trace: Trace, fn: () => T): T {
  traceStack.push(trace);
  try {
    return fn();
  } finally {
    traceStack.pop();
  }
}
