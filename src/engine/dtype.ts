/** Element types Lepton tensors can hold, and how each maps to JS storage and to ONNX. */

export type DType = 'float32' | 'float64' | 'int32' | 'int64' | 'bool';

export type TypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32', 'int64', 'bool'];
export const FLOAT_DTYPES: readonly DType[] = ['float32', 'float64'];
export const NUMERIC_DTYPES: readonly DType[] = ['float32', 'float64', 'int32', 'int64'];

/** ONNX TensorProto.DataType codes. */
export const ONNX_ELEM_TYPE: Record<DType, number> = {
  float32: 1,
  bool: 9,
  int32: 6,
  int64: 7,
  float64: 11,
};

export function dtypeFromOnnx(code: number): DType {
  for (const d of DTYPES) if (ONNX_ELEM_TYPE[d] === code) return d;
  throw new Error(`ONNX element type ${code} is not supported by Lepton (supported: ${DTYPES.join(', ')})`);
}

export function isFloat(d: DType): boolean {
  return d === 'float32' || d === 'float64';
}

export function isInteger(d: DType): boolean {
  return d === 'int32' || d === 'int64';
}

export function allocate(dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(size);
    case 'float64':
      return new Float64Array(size);
    case 'int32':
      return new Int32Array(size);
    case 'int64':
      return new BigInt64Array(size);
    case 'bool':
      return new Uint8Array(size);
  }
}

export function dtypeOfArray(a: TypedArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Uint8Array) return 'bool';
  throw new TypeError('unsupported typed array');
}

/** Writes JS values into typed storage, converting numbers/booleans/bigints as the dtype requires. */
export function fromValues(dtype: DType, values: ArrayLike<number | boolean | bigint>): TypedArray {
  const out = allocate(dtype, values.length);
  if (dtype === 'int64') {
    const o = out as BigInt64Array;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      o[i] = typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)));
    }
  } else if (dtype === 'bool') {
    for (let i = 0; i < values.length; i++) (out as Uint8Array)[i] = values[i] ? 1 : 0;
  } else {
    const o = out as Float32Array;
    for (let i = 0; i < values.length; i++) o[i] = Number(values[i]);
  }
  return out;
}

/** Converts storage of one dtype to another (plain JS, used for host-side conversions only). */
export function convertArray(data: TypedArray, to: DType): TypedArray {
  if (dtypeOfArray(data) === to) return data;
  return fromValues(to, data as ArrayLike<number | bigint>);
}

/** The dtype that results from combining two dtypes in an arithmetic op (like NumPy, kept simple). */
export function promoteTypes(a: DType, b: DType): DType {
  if (a === b) return a;
  const rank: Record<DType, number> = { bool: 0, int32: 1, int64: 2, float32: 3, float64: 4 };
  return rank[a] >= rank[b] ? a : b;
}

export function bytesPerElement(d: DType): number {
  return { float32: 4, float64: 8, int32: 4, int64: 8, bool: 1 }[d];
}
