/**
 * safetensors (https://github.com/huggingface/safetensors), read and written by hand: an 8-byte
 * little-endian header length, a JSON header `{name: {dtype, shape, data_offsets: [begin, end]},
 * __metadata__?: {string: string}}`, then the raw little-endian tensor bytes.
 */
import { readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { type DType, type TypedArray, allocate, bytesPerElement } from '../engine/dtype.js';
import { Tensor } from '../engine/tensor.js';
import { writeFileAtomic } from '../engine/files.js';
import { numel } from '../engine/shape.js';

const TO_SAFETENSORS: Record<DType, string> = {
  float32: 'F32',
  float64: 'F64',
  int32: 'I32',
  int64: 'I64',
  bool: 'BOOL',
};
const FROM_SAFETENSORS: Record<string, DType> = {
  F32: 'float32',
  F64: 'float64',
  I32: 'int32',
  I64: 'int64',
  BOOL: 'bool',
  U8: 'bool',
};

function checkEndianness(): void {
  if (endianness() !== 'LE') throw new Error('safetensors: only little-endian machines are supported');
}

/** Encodes named tensors (and optional string metadata) as a safetensors file. */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  checkEndianness();
  // Largest elements first keeps every tensor aligned to its element size (as the reference writer does).
  const names = Object.keys(tensors).sort(
    (a, b) => bytesPerElement(tensors[b].dtype) - bytesPerElement(tensors[a].dtype) || (a < b ? -1 : a > b ? 1 : 0),
  );
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    if (!(t instanceof Tensor) || t.isSymbolic) throw new Error(`safetensors: '${name}' is not a concrete Tensor`);
    const bytes = t.data.byteLength;
    header[name] = { dtype: TO_SAFETENSORS[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned.
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const name of names) {
    const d = tensors[name].data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), pos);
    pos += d.byteLength;
  }
  return out;
}

export interface SafetensorsContent {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

/** Decodes a safetensors file (tensors are copied into their own aligned arrays). */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors'): SafetensorsContent {
  checkEndianness();
  if (bytes.length < 8) throw new Error(`${source}: file too short (${bytes.length} bytes) to be safetensors`);
  const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (headerLen > bytes.length - 8)
    throw new Error(`${source}: header length ${headerLen} exceeds the file size ${bytes.length}`);
  let header: Record<string, any>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    throw new Error(`${source}: the header is not valid JSON (${(e as Error).message})`);
  }
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const tensors: Record<string, Tensor> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const dtype = FROM_SAFETENSORS[info.dtype];
    if (!dtype)
      throw new Error(
        `${source}: tensor '${name}' has unsupported dtype ${info.dtype} (supported: ${Object.keys(FROM_SAFETENSORS).join(', ')})`,
      );
    const shape = info.shape as number[];
    const [begin, end] = info.data_offsets as [number, number];
    const n = numel(shape);
    if (end - begin !== n * bytesPerElement(dtype) || begin < 0 || end > dataLen) {
      throw new Error(
        `${source}: tensor '${name}' ${info.dtype}[${shape}] has bad data_offsets [${begin}, ${end}] (data section is ${dataLen} bytes)`,
      );
    }
    const data: TypedArray = allocate(dtype, n);
    new Uint8Array(data.buffer).set(bytes.subarray(dataStart + begin, dataStart + end));
    tensors[name] = new Tensor(shape, dtype, data);
  }
  return { tensors, metadata: (header.__metadata__ as Record<string, string>) ?? {} };
}

/** Writes tensors to a .safetensors file atomically. */
export async function saveSafetensors(
  path: string,
  tensors: Record<string, Tensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

export async function loadSafetensors(path: string): Promise<SafetensorsContent> {
  return decodeSafetensors(new Uint8Array(await readFile(path)), path);
}
