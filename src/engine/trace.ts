/**
 * Traces: the IR. A Trace is a list of op nodes over symbolic tensors, plus the places values come
 * from (placeholder inputs, captured concrete tensors, per-call random inputs). grad extends a trace
 * with backward nodes; trace passes (src/engine/passes) rewrite nodes into equal computations;
 * lowering turns a trace into an ONNX graph.
 */
import { Trace } from './tensor.js';

// The IR's data (Tensor, Node, OpDef, Trace) lives in tensor.ts, since symbolic tensors and the
// nodes that produce them point at each other; this module is the IR's entry point and holds the
// stack of traces being recorded.
export { Trace, type Attrs, type LoweredValue, type Node, type OpDef, type TensorType } from './tensor.js';

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
