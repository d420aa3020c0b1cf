/**
 * The op registry. Every op is defined exactly once, here-shaped: its shape/dtype rule (`infer`),
 * its ONNX lowering (`lower`) and its vector-Jacobian product (`vjp`, written with other ops so
 * that gradients of gradients work). `apply` runs an op eagerly on concrete tensors (through the
 * executor installed with setEagerExecutor) or records it in the current trace when any input is
 * symbolic.
 */
import { DtypeError, ShapeError } from './errors.js';
import type { DType } from './dtype.js';
import { shapeStr } from './shape.js';
import { Tensor, Variable } from './tensor.js';
import { type Attrs, type OpDef, type TensorType, currentTrace } from './trace.js';

// The op types are part of the IR (trace.ts): nodes hold OpDefs, and trace.ts imports nothing from here.
export type { Attrs, LoweredValue, OpDef, TensorType } from './trace.js';

const registry = new Map<string, OpDef>();

export function defineOp<A extends Attrs>(def: OpDef<A>): OpDef<A> {
  if (registry.has(def.name)) throw new Error(`op ${def.name} is defined twice`);
  registry.set(def.name, def);
  return def;
}

export function getOp(name: string): OpDef {
  const op = registry.get(name);
  if (!op) throw new Error(`unknown op '${name}'`);
  return op;
}

export function allOps(): OpDef[] {
  return [...registry.values()];
}

/** Runs one op on concrete tensors (installed by the engine's entry point: ORT's cached one-op sessions). */
export type EagerExecutor = (op: OpDef, inputs: readonly Tensor[], attrs: Attrs, types: TensorType[]) => Tensor[];

let eagerExecutor: EagerExecutor | undefined;

/** Installs how ops run on concrete tensors (src/engine/index.ts installs runtime/eager.ts). */
export function setEagerExecutor(run: EagerExecutor): void {
  eagerExecutor = run;
}

/** Applies an op: eagerly on concrete inputs, or as a node of the trace the symbolic inputs live in. */
export function apply(op: OpDef, inputs: readonly Tensor[], attrs: Attrs = {}): Tensor[] {
  inputs.forEach((t, i) => {
    // A number, array or undefined where a tensor belongs (an argument in the wrong place, from
    // JavaScript or through `any`) would otherwise fail deep inside shape inference.
    if (!(t instanceof Tensor)) {
      const got =
        t === undefined
          ? 'undefined (a missing argument?)'
          : Array.isArray(t)
            ? 'an array (wrap it with tensor())'
            : `${typeof t} ${String(t)}`;
      throw new Error(`${op.name}: input ${i} must be a Tensor, got ${got}`);
    }
  });
  const types = op.infer(inputs, attrs);
  // While tracing, ops on Variables alone belong to the trace (a compiled function must read a
  // variable's value at every call, not bake in its value at trace time), and so do ops whose
  // output shape is symbolic (e.g. broadcasting a concrete bias to the batch size).
  const trace =
    inputs.find((t) => t.trace)?.trace ??
    (inputs.some((t) => t instanceof Variable) || types.some((t) => t.shape.some((d) => typeof d === 'string'))
      ? currentTrace()
      : undefined);
  if (trace) {
    const active = currentTrace();
    if (active && active !== trace) {
      throw new Error(`${op.name}: an input belongs to a different trace than the one being built`);
    }
    const lifted = inputs.map((t) => trace.capture(t));
    return trace.addNode(op, lifted, attrs, types).outputs;
  }
  if (!eagerExecutor) {
    throw new Error(
      `${op.name}: no eager executor is installed, so ops cannot run on concrete tensors (import the engine through src/engine/index.ts, which installs ONNX Runtime's)`,
    );
  }
  return eagerExecutor(op, inputs, attrs, types);
}

export function apply1(op: OpDef, inputs: readonly Tensor[], attrs: Attrs = {}): Tensor {
  return apply(op, inputs, attrs)[0];
}

/** Standard error helper: names the op, what it received and what it expected (a ShapeError unless `kind` says DtypeError). */
export function opError(
  op: string,
  message: string,
  inputs?: readonly TensorType[],
  kind: typeof ShapeError | typeof DtypeError = ShapeError,
): ShapeError | DtypeError {
  const got = inputs ? ` (got ${inputs.map((t) => `${shapeStr(t.shape)} ${t.dtype}`).join(', ')})` : '';
  return new kind(`${op}: ${message}${got}`);
}

/** Throws unless every input has one of the allowed dtypes; `note` says why one is missing. */
export function checkDtypes(op: string, inputs: readonly TensorType[], allowed: readonly DType[], note?: string): void {
  for (const t of inputs) {
    if (!allowed.includes(t.dtype)) {
      throw opError(
        op,
        `dtype ${t.dtype} is not supported; expected one of ${allowed.join(', ')}${note ? ` (${note})` : ''}`,
        inputs,
        DtypeError,
      );
    }
  }
}

/** Throws unless all inputs share one dtype. */
export function checkSameDtype(op: string, inputs: readonly TensorType[]): DType {
  const d = inputs[0].dtype;
  if (inputs.some((t) => t.dtype !== d))
    throw opError(op, 'all inputs must have the same dtype (use cast())', inputs, DtypeError);
  return d;
}
