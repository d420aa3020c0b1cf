/**
 * JSON ⇄ tensors for the model server: nested arrays are checked against the model signature
 * (rank, fixed dimensions, dtype, rectangularity, value types) and packed into typed arrays; every
 * problem becomes a 400 that names the field, what was expected and what was received.
 */
import { BadRequestError } from '../engine/errors.js';
import type { HostTensor } from '../engine/onnx/proto.js';
import { DTYPES, type DType, allocate } from '../engine/dtype.js';
import { type TensorSignature, formatShape } from '../registry/model-folder.js';
import { numel, shapeStr } from '../engine/shape.js';

/** A bad request with its HTTP status (400, 413, 415): a BadRequestError, to users. */
export class RequestError extends BadRequestError {
  constructor(statusCode: number, message: string) {
    super(message, statusCode);
  }
}

export interface ParseLimits {
  /** Largest batch (axis 0) one request may carry. */
  maxRows: number;
  /** Largest number of elements one input may carry. */
  maxElements: number;
}

/** The received shape of a nested array, following first elements (rectangularity is checked later). */
function probeShape(value: unknown, maxDepth: number): number[] {
  const shape: number[] = [];
  let v = value;
  while (Array.isArray(v) && shape.length <= maxDepth) {
    shape.push(v.length);
    v = v[0];
  }
  return shape;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}

/** Packs one input's nested array into a host tensor, validating it against its signature. */
export function parseTensor(value: unknown, sig: TensorSignature, limits: ParseLimits): HostTensor {
  const field = `inputs.${sig.name}`;
  const expected = `${formatShape(sig.shape)} ${sig.dtype}`;
  if (!(DTYPES as readonly string[]).includes(sig.dtype))
    throw new RequestError(400, `${field}: the model expects dtype ${sig.dtype}, which JSON requests cannot carry`);
  const rank = sig.shape.length;
  if (rank === 0) {
    if (Array.isArray(value))
      throw new RequestError(400, `${field}: expected a scalar ${sig.dtype}, received an array`);
    const data = allocate(sig.dtype as DType, 1);
    store(data, 0, value, sig.dtype as DType, field, '');
    return { dtype: sig.dtype as DType, shape: [], data };
  }
  if (!Array.isArray(value))
    throw new RequestError(400, `${field}: expected a nested array of shape ${expected}, received ${describe(value)}`);
  const shape = probeShape(value, rank);
  if (shape.length !== rank) {
    throw new RequestError(
      400,
      `${field}: expected shape ${expected} (rank ${rank}), received ${shape.length > rank ? `rank > ${rank}` : `shape ${shapeStr(shape)}`}`,
    );
  }
  sig.shape.forEach((d, axis) => {
    if (d !== null && shape[axis] !== d)
      throw new RequestError(
        400,
        `${field}: expected shape ${expected}, received ${shapeStr(shape)} (axis ${axis} must be ${d})`,
      );
  });
  if (shape.some((d) => d === 0))
    throw new RequestError(400, `${field}: received an empty dimension in shape ${shapeStr(shape)}`);
  if (sig.shape[0] === null && shape[0] > limits.maxRows) {
    throw new RequestError(
      413,
      `${field}: the request carries ${shape[0]} rows; this server accepts at most ${limits.maxRows} per request`,
    );
  }
  const size = numel(shape);
  if (size > limits.maxElements)
    throw new RequestError(413, `${field}: ${size} elements exceed this server's limit of ${limits.maxElements}`);
  const dtype = sig.dtype as DType;
  const data = allocate(dtype, size);
  // Iterative fill: an explicit stack, so no client nesting can overflow the call stack.
  let offset = 0;
  const stack: { arr: unknown[]; i: number }[] = [{ arr: value, i: 0 }];
  while (stack.length) {
    const top = stack[stack.length - 1];
    const depth = stack.length - 1;
    if (top.i === 0 && top.arr.length !== shape[depth]) {
      throw new RequestError(
        400,
        `${field}: ragged array: expected ${shape[depth]} elements at ${indexPath(stack)}, received ${top.arr.length}`,
      );
    }
    if (top.i >= top.arr.length) {
      stack.pop();
      continue;
    }
    const v = top.arr[top.i++];
    if (depth === rank - 1) {
      if (Array.isArray(v))
        throw new RequestError(
          400,
          `${field}: expected shape ${expected}, received an array nested deeper than rank ${rank}`,
        );
      store(data, offset++, v, dtype, field, indexPath(stack, -1));
    } else {
      if (!Array.isArray(v))
        throw new RequestError(
          400,
          `${field}: ragged array: expected an array at ${indexPath(stack, -1)}, received ${describe(v)}`,
        );
      stack.push({ arr: v, i: 0 });
    }
  }
  return { dtype, shape, data };
}

function indexPath(stack: { i: number }[], adjustLast = 0): string {
  return stack.map((s, k) => `[${k === stack.length - 1 ? s.i + adjustLast : s.i - 1}]`).join('') || '[]';
}

function store(data: HostTensor['data'], at: number, v: unknown, dtype: DType, field: string, where: string): void {
  const bad = (what: string) => new RequestError(400, `${field}${where}: expected ${what}, received ${describe(v)}`);
  if (dtype === 'bool') {
    if (typeof v === 'boolean') (data as Uint8Array)[at] = v ? 1 : 0;
    else if (v === 0 || v === 1) (data as Uint8Array)[at] = v;
    else throw bad('a boolean');
    return;
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`a finite number (${dtype})`);
  if (dtype === 'int64') {
    if (!Number.isSafeInteger(v)) throw bad('an integer (int64)');
    (data as BigInt64Array)[at] = BigInt(v);
  } else if (dtype === 'int32') {
    if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) throw bad('an int32 integer');
    (data as Int32Array)[at] = v;
  } else {
    (data as Float32Array)[at] = v;
  }
}

/** A tensor as nested JSON arrays (int64 as numbers, bool as booleans; non-finite floats as null). */
export function toNested(t: HostTensor, rowStart = 0, rowEnd?: number): unknown {
  const shape = t.shape;
  const read = (i: number): unknown => {
    const v = t.data[i];
    if (typeof v === 'bigint') return Number(v);
    if (t.dtype === 'bool') return v !== 0;
    return Number.isFinite(v as number) ? v : null;
  };
  if (shape.length === 0) return read(0);
  const strides: number[] = new Array(shape.length);
  let s = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    strides[k] = s;
    s *= shape[k];
  }
  const build = (axis: number, offset: number, from: number, to: number): unknown[] => {
    const out: unknown[] = [];
    for (let i = from; i < to; i++) {
      const o = offset + i * strides[axis];
      out.push(axis === shape.length - 1 ? read(o) : build(axis + 1, o, 0, shape[axis + 1]));
    }
    return out;
  };
  return build(0, 0, rowStart, rowEnd ?? shape[0]);
}

/** Concatenates tensors along axis 0 (all other dims equal). */
export function concatRows(parts: HostTensor[]): HostTensor {
  if (parts.length === 1) return parts[0];
  const rows = parts.reduce((a, p) => a + p.shape[0], 0);
  const shape = [rows, ...parts[0].shape.slice(1)];
  const data = allocate(
    parts[0].dtype,
    parts.reduce((a, p) => a + p.data.length, 0),
  );
  let offset = 0;
  for (const p of parts) {
    (data as Float32Array).set(p.data as Float32Array, offset);
    offset += p.data.length;
  }
  return { dtype: parts[0].dtype, shape, data };
}

/** Rows [from, to) of a tensor along axis 0 (a view over the same buffer). */
export function sliceRows(t: HostTensor, from: number, to: number): HostTensor {
  const rowSize = numel(t.shape.slice(1));
  const data = t.data.subarray(from * rowSize, to * rowSize) as HostTensor['data'];
  return { dtype: t.dtype, shape: [to - from, ...t.shape.slice(1)], data };
}

/** A request's `top_k` (query string or body): a positive integer, or undefined when absent. */
export function parseTopK(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const k = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > 100_000)
    throw new RequestError(400, `top_k: expected a positive integer, received ${JSON.stringify(value)}`);
  return k;
}
