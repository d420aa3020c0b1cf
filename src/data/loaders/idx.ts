/**
 * The IDX format of the MNIST family: magic (0, 0, type code, rank), `rank` big-endian uint32
 * dimensions, then big-endian values. Files may be gzipped.
 */
import { gunzipSync } from 'node:zlib';
import { Tensor } from '../../engine/tensor.js';
import { isGzip, readMaybeGzipped } from './files.js';
import { numel, shapeStr } from '../../engine/shape.js';

export type IdxType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  type: IdxType;
  shape: number[];
  data: IdxData;
}

const TYPES: Record<number, { type: IdxType; bytes: number }> = {
  0x08: { type: 'uint8', bytes: 1 },
  0x09: { type: 'int8', bytes: 1 },
  0x0b: { type: 'int16', bytes: 2 },
  0x0c: { type: 'int32', bytes: 4 },
  0x0d: { type: 'float32', bytes: 4 },
  0x0e: { type: 'float64', bytes: 8 },
};

/** Parses IDX bytes (gunzipping first when they are gzipped). */
export function parseIdx(bytes: Uint8Array, source = 'IDX data'): IdxArray {
  if (isGzip(bytes)) bytes = gunzipSync(bytes);
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    throw new Error(
      `parseIdx: ${source} is not an IDX file (expected magic bytes 00 00 <type> <rank>, got ${hex(bytes.subarray(0, 4))})`,
    );
  }
  const kind = TYPES[bytes[2]];
  if (!kind)
    throw new Error(
      `parseIdx: ${source} has unknown IDX type code 0x${bytes[2].toString(16)} (known: 08, 09, 0B, 0C, 0D, 0E)`,
    );
  const rank = bytes[3];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes)
    throw new Error(`parseIdx: ${source} is truncated inside its header (${bytes.length} bytes)`);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const count = numel(shape);
  const expected = headerBytes + count * kind.bytes;
  if (bytes.length < expected) {
    throw new Error(
      `parseIdx: ${source} has ${bytes.length} bytes but shape ${shapeStr(shape)} of ${kind.type} needs ${expected}`,
    );
  }
  return { type: kind.type, shape, data: readValues(kind.type, view, headerBytes, count, bytes) };
}

/** Reads and parses an IDX file (plain or .gz; decompression runs off the main thread). */
export async function readIdx(path: string): Promise<IdxArray> {
  return parseIdx(await readMaybeGzipped(path), path);
}

function readValues(type: IdxType, view: DataView, offset: number, count: number, bytes: Uint8Array): IdxData {
  switch (type) {
    case 'uint8':
      return new Uint8Array(bytes.subarray(offset, offset + count)); // a copy (Buffer.slice would be a view)
    case 'int8':
      return new Int8Array(bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + count));
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(offset + 2 * i, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(offset + 4 * i, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i, false);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(offset + 8 * i, false);
      return out;
    }
  }
}

/**
 * An IDX array as a tensor: float types → float32, integer types → int32,
 * or the `dtype` asked for. `scale` multiplies float results (e.g. 1/255).
 */
export function idxToTensor(
  a: IdxArray,
  options: { dtype?: 'float32' | 'int32'; scale?: number; shape?: number[] } = {},
): Tensor {
  const dtype = options.dtype ?? (a.type === 'float32' || a.type === 'float64' ? 'float32' : 'int32');
  const shape = options.shape ?? a.shape;
  if (dtype === 'int32')
    return new Tensor(shape, 'int32', a.data instanceof Int32Array ? a.data : Int32Array.from(a.data));
  const out = new Float32Array(a.data.length);
  out.set(a.data);
  const scale = options.scale ?? 1;
  if (scale !== 1) for (let i = 0, n = out.length; i < n; i++) out[i] *= scale;
  return new Tensor(shape, 'float32', out);
}

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
}
