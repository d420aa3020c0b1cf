/**
 * ONNX protobuf messages (the subset Lepton reads and writes), encoded with protobufjs.
 * Field numbers follow onnx.proto (IR version 8).
 */
import protobuf from 'protobufjs';
import { type DType, type TypedArray, ONNX_ELEM_TYPE, allocate, dtypeFromOnnx } from '../dtype.js';
import { numel } from '../shape.js';

const SCHEMA = `
syntax = "proto2";
package onnx;
message AttributeProto {
  optional string name = 1;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  optional TensorProto t = 5;
  optional GraphProto g = 6;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  repeated TensorProto tensors = 10;
  repeated GraphProto graphs = 11;
  optional string doc_string = 13;
  optional int32 type = 20;
  optional string ref_attr_name = 21;
}
message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
  optional string doc_string = 3;
}
message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  repeated AttributeProto attribute = 5;
  optional string doc_string = 6;
  optional string domain = 7;
}
message StringStringEntryProto {
  optional string key = 1;
  optional string value = 2;
}
message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}
message ModelProto {
  optional int64 ir_version = 1;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional string domain = 4;
  optional int64 model_version = 5;
  optional string doc_string = 6;
  optional GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8;
  repeated StringStringEntryProto metadata_props = 14;
}
message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  optional string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}
message TensorProto {
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  repeated float float_data = 4 [packed = true];
  repeated int32 int32_data = 5 [packed = true];
  repeated bytes string_data = 6;
  repeated int64 int64_data = 7 [packed = true];
  optional string name = 8;
  optional bytes raw_data = 9;
  repeated double double_data = 10 [packed = true];
  repeated uint64 uint64_data = 11 [packed = true];
  optional string doc_string = 12;
}
message TensorShapeProto {
  message Dimension {
    optional int64 dim_value = 1;
    optional string dim_param = 2;
    optional string denotation = 3;
  }
  repeated Dimension dim = 1;
}
message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  optional Tensor tensor_type = 1;
  optional string denotation = 6;
}
`;

const root = protobuf.parse(SCHEMA, { keepCase: true }).root;
const ModelProtoT = root.lookupType('onnx.ModelProto');
const TensorProtoT = root.lookupType('onnx.TensorProto');

export const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

export interface TensorProto {
  name?: string;
  dims: number[];
  data_type: number;
  raw_data?: Uint8Array;
  float_data?: number[];
  int32_data?: number[];
  int64_data?: number[];
  double_data?: number[];
  uint64_data?: number[];
}

export interface AttributeProto {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
}

export interface NodeProto {
  input: string[];
  output: string[];
  name?: string;
  op_type: string;
  domain?: string;
  attribute?: AttributeProto[];
}

export interface ValueInfoProto {
  name: string;
  type?: { tensor_type?: { elem_type: number; shape?: { dim: { dim_value?: number; dim_param?: string }[] } } };
}

export interface GraphProto {
  name?: string;
  node: NodeProto[];
  initializer?: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  value_info?: ValueInfoProto[];
}

export interface ModelProto {
  ir_version: number;
  producer_name?: string;
  producer_version?: string;
  doc_string?: string;
  graph: GraphProto;
  opset_import: { domain?: string; version: number }[];
  metadata_props?: { key: string; value: string }[];
}

const decodeOptions = { longs: Number, bytes: Uint8Array, defaults: false, arrays: true } as const;

export function encodeModel(model: ModelProto): Uint8Array {
  return ModelProtoT.encode(ModelProtoT.fromObject(model)).finish();
}

export function decodeModel(bytes: Uint8Array): ModelProto {
  return ModelProtoT.toObject(ModelProtoT.decode(bytes), decodeOptions) as ModelProto;
}

export function decodeTensorProto(bytes: Uint8Array): TensorProto {
  return TensorProtoT.toObject(TensorProtoT.decode(bytes), decodeOptions) as TensorProto;
}

/** A tensor on the host: what crosses between Lepton, ORT and worker threads. */
export interface HostTensor {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

export function tensorProtoFromHost(t: HostTensor, name?: string): TensorProto {
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return { name, dims: [...t.shape], data_type: ONNX_ELEM_TYPE[t.dtype], raw_data: bytes.slice() };
}

export function hostFromTensorProto(t: TensorProto): HostTensor {
  const dtype = dtypeFromOnnx(t.data_type);
  const shape = (t.dims ?? []).map(Number);
  const n = numel(shape);
  const data = allocate(dtype, n);
  if (t.raw_data && t.raw_data.length > 0) {
    new Uint8Array(data.buffer).set(t.raw_data.subarray(0, data.byteLength));
  } else {
    const src: ArrayLike<number> =
      dtype === 'float32'
        ? (t.float_data ?? [])
        : dtype === 'float64'
          ? (t.double_data ?? [])
          : dtype === 'int64'
            ? (t.int64_data ?? [])
            : (t.int32_data ?? []);
    if (src.length !== n) throw new Error(`TensorProto ${t.name ?? ''}: ${src.length} values for shape [${shape}]`);
    for (let i = 0; i < n; i++) {
      if (dtype === 'int64') (data as BigInt64Array)[i] = BigInt(src[i]);
      else (data as Float32Array)[i] = src[i];
    }
  }
  return { dtype, shape, data };
}
