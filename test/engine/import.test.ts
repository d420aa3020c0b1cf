import { describe, expect, it } from 'vitest';
import { type Tensor, compile, compileSync, tensor } from '../../src/index.js';
import { UnsupportedOnnxError, importOnnx } from '../../src/engine/onnx/import.js';
import {
  type AttributeProto,
  type ModelProto,
  type NodeProto,
  AttrType,
  encodeModel,
  tensorProtoFromHost,
} from '../../src/engine/onnx/proto.js';
import { ONNX_ELEM_TYPE, type DType } from '../../src/engine/dtype.js';
import { checkGrad, randomTensor } from '../helpers/gradcheck.js';

// ---- small builders for hand-made ONNX models (independent of Lepton's lowering)

const ints = (name: string, v: number[]): AttributeProto => ({ name, type: AttrType.INTS, ints: v });
const int = (name: string, v: number): AttributeProto => ({ name, type: AttrType.INT, i: v });
const str = (name: string, v: string): AttributeProto => ({
  name,
  type: AttrType.STRING,
  s: new TextEncoder().encode(v),
});

function node(op_type: string, input: string[], output: string[], attribute: AttributeProto[] = []): NodeProto {
  return { op_type, input, output, attribute, name: `${op_type}_${output[0]}` };
}

function valueInfo(name: string, shape: number[], dtype: DType = 'float32') {
  return {
    name,
    type: { tensor_type: { elem_type: ONNX_ELEM_TYPE[dtype], shape: { dim: shape.map((d) => ({ dim_value: d })) } } },
  };
}

function model(opts: {
  nodes: NodeProto[];
  inputs: ReturnType<typeof valueInfo>[];
  outputs: ReturnType<typeof valueInfo>[];
  initializers?: Record<string, Tensor>;
  opset?: number;
}): Uint8Array {
  const proto: ModelProto = {
    ir_version: 8,
    opset_import: [{ domain: '', version: opts.opset ?? 13 }],
    graph: {
      name: 'test',
      node: opts.nodes,
      input: opts.inputs,
      output: opts.outputs,
      initializer: Object.entries(opts.initializers ?? {}).map(([name, t]) =>
        tensorProtoFromHost({ dtype: t.dtype, shape: t.shape as number[], data: t.data }, name),
      ),
    },
  };
  return encodeModel(proto);
}

const f32 = (t: Tensor): Float32Array | Float64Array => t.data as Float32Array | Float64Array;

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++)
    expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(tol * (1 + Math.abs(want[i])));
}

// ---- plain-loop references

function denseRef(
  x: ArrayLike<number>,
  n: number,
  k: number,
  w: ArrayLike<number>,
  m: number,
  b: ArrayLike<number>,
  wTransposed: boolean,
): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++)
    for (let j = 0; j < m; j++) {
      let s = b[j];
      for (let p = 0; p < k; p++) s += x[i * k + p] * (wTransposed ? w[j * k + p] : w[p * m + j]);
      out.push(s);
    }
  return out;
}

function softmaxRows(v: number[], rows: number, cols: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < rows; i++) {
    const row = v.slice(i * cols, (i + 1) * cols);
    const mx = Math.max(...row);
    const e = row.map((z) => Math.exp(z - mx));
    const s = e.reduce((a, b) => a + b, 0);
    out.push(...e.map((z) => z / s));
  }
  return out;
}

// An MLP: Gemm(transB) → Relu → MatMul → Add(bias) → Reshape(Constant shape) → Softmax.
function mlpModel(dtype: DType) {
  const w1 = randomTensor([5, 4], 21, dtype === 'float64' ? 'float64' : 'float32');
  const b1 = randomTensor([5], 22, dtype === 'float64' ? 'float64' : 'float32');
  const w2 = randomTensor([5, 3], 23, dtype === 'float64' ? 'float64' : 'float32');
  const b2 = randomTensor([3], 24, dtype === 'float64' ? 'float64' : 'float32');
  const shape = tensor([BigInt(-1), BigInt(3)], { dtype: 'int64' });
  const bytes = model({
    nodes: [
      node('Gemm', ['x', 'w1', 'b1'], ['h'], [int('transB', 1)]),
      node('Relu', ['h'], ['r']),
      node('MatMul', ['r', 'w2'], ['m']),
      node('Add', ['m', 'b2'], ['z']),
      {
        ...node('Constant', [], ['shape']),
        attribute: [
          {
            name: 'value',
            type: AttrType.TENSOR,
            t: tensorProtoFromHost({ dtype: 'int64', shape: [2], data: shape.data }),
          },
        ],
      },
      node('Reshape', ['z', 'shape'], ['z2']),
      node('Softmax', ['z2'], ['y'], [int('axis', 1)]),
    ],
    inputs: [valueInfo('x', [2, 4], dtype)],
    outputs: [valueInfo('y', [2, 3], dtype)],
    initializers: { w1, b1, w2, b2 },
  });
  const reference = (x: Tensor): number[] => {
    const h = denseRef(f32(x), 2, 4, f32(w1), 5, f32(b1), true).map((v) => Math.max(v, 0));
    return softmaxRows(denseRef(h, 2, 5, f32(w2), 3, f32(b2), false), 2, 3);
  };
  return { bytes, reference };
}

describe('importOnnx', () => {
  it('imports an MLP and runs it eagerly, with compileSync and with compile, matching plain loops', async () => {
    const { bytes, reference } = mlpModel('float32');
    const m = importOnnx(bytes);
    expect(m.inputs).toEqual([{ name: 'x', dtype: 'float32', shape: [2, 4] }]);
    expect(m.outputs).toEqual(['y']);
    expect(m.opset).toBe(13);
    const x = randomTensor([2, 4], 7, 'float32');
    const want = reference(x);
    expectClose(f32(m.fn(x)[0]), want, 1e-5);
    expectClose(f32(compileSync(m.fn)(x)[0]), want, 1e-5);
    expectClose(f32((await compile(m.fn)(x))[0]), want, 1e-5);
  });

  it('imported graphs are differentiable w.r.t. inputs and weights (gradients match finite differences)', () => {
    const { bytes } = mlpModel('float64');
    const m = importOnnx(bytes);
    const x = randomTensor([2, 4], 8);
    checkGrad((xx) => m.fn(xx)[0], [x]);
    expect(Object.keys(m.parameters).sort()).toEqual(['b1', 'b2', 'w1', 'w2']);
    checkGrad((w1, b2) => m.apply({ w1, b2 }, x)[0], [m.parameters.w1, m.parameters.b2]);
  });

  it('functionalCall runs the graph with replaced weights (the stored ones are untouched)', () => {
    const { bytes, reference } = mlpModel('float32');
    const m = importOnnx(bytes);
    const x = randomTensor([2, 4], 9, 'float32');
    // The stored weights give the plain-loop reference; zero output-layer weights leave softmax(b2) in each row.
    expectClose(f32(m.functionalCall({}, x)[0]), reference(x), 1e-5);
    const zero = m.parameters.w2.mul(0);
    const b2 = Array.from(f32(m.parameters.b2));
    expectClose(f32(m.functionalCall({ w2: zero }, x)[0]), softmaxRows([...b2, ...b2], 2, 3), 1e-6);
    expectClose(f32(m.fn(x)[0]), reference(x), 1e-5);
  });

  it('Conv (auto_pad SAME_UPPER, stride 2) + MaxPool match a plain-loop convolution', () => {
    const w = randomTensor([2, 1, 3, 3], 31, 'float32');
    const bytes = model({
      nodes: [
        node(
          'Conv',
          ['x', 'w'],
          ['c'],
          [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), str('auto_pad', 'SAME_UPPER')],
        ),
        node('MaxPool', ['c'], ['y'], [ints('kernel_shape', [2, 2]), ints('strides', [1, 1])]),
      ],
      inputs: [valueInfo('x', [1, 1, 6, 6])],
      outputs: [valueInfo('y', [1, 2, 2, 2])],
      initializers: { w },
    });
    const x = randomTensor([1, 1, 6, 6], 32, 'float32');
    const [y] = importOnnx(bytes).fn(x);
    expect(y.shape).toEqual([1, 2, 2, 2]);
    // SAME_UPPER, stride 2, 6 → 3: total padding 1, all of it at the end.
    const xd = f32(x);
    const wd = f32(w);
    const conv: number[] = [];
    for (let o = 0; o < 2; o++)
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 3; j++) {
          let s = 0;
          for (let a = 0; a < 3; a++)
            for (let b = 0; b < 3; b++) {
              const r = 2 * i + a;
              const c = 2 * j + b;
              if (r < 6 && c < 6) s += xd[r * 6 + c] * wd[o * 9 + a * 3 + b];
            }
          conv.push(s);
        }
    const pooled: number[] = [];
    for (let o = 0; o < 2; o++)
      for (let i = 0; i < 2; i++)
        for (let j = 0; j < 2; j++) {
          const at = (r: number, c: number) => conv[o * 9 + r * 3 + c];
          pooled.push(Math.max(at(i, j), at(i, j + 1), at(i + 1, j), at(i + 1, j + 1)));
        }
    expectClose(f32(y), pooled, 1e-5);
  });

  it('reads axes from attributes in old opsets and from constant inputs in new ones', () => {
    const x = randomTensor([2, 3, 4], 41, 'float32');
    const want: number[] = [];
    const xd = f32(x);
    for (let i = 0; i < 2; i++)
      for (let k = 0; k < 4; k++) {
        let s = 0;
        for (let j = 0; j < 3; j++) s += xd[i * 12 + j * 4 + k];
        want.push(s);
      }
    const old = model({
      opset: 11,
      nodes: [
        node('ReduceSum', ['x'], ['s'], [ints('axes', [1]), int('keepdims', 0)]),
        node('Unsqueeze', ['s'], ['y'], [ints('axes', [0])]),
      ],
      inputs: [valueInfo('x', [2, 3, 4])],
      outputs: [valueInfo('y', [1, 2, 4])],
    });
    const axes = tensor([BigInt(1)], { dtype: 'int64' });
    const zero = tensor([BigInt(0)], { dtype: 'int64' });
    const newer = model({
      opset: 13,
      nodes: [node('ReduceSum', ['x', 'axes'], ['s'], [int('keepdims', 0)]), node('Unsqueeze', ['s', 'zero'], ['y'])],
      inputs: [valueInfo('x', [2, 3, 4])],
      outputs: [valueInfo('y', [1, 2, 4])],
      initializers: { axes, zero },
    });
    for (const bytes of [old, newer]) {
      const [y] = compileSync(importOnnx(bytes).fn)(x);
      expect(y.shape).toEqual([1, 2, 4]);
      expectClose(f32(y), want, 1e-5);
    }
  });

  it('a shape that is a graph input must be given as a constant to trace, and works eagerly', () => {
    const bytes = model({
      nodes: [node('Reshape', ['x', 'shape'], ['y'])],
      inputs: [valueInfo('x', [2, 3]), valueInfo('shape', [2], 'int64')],
      outputs: [valueInfo('y', [3, 2])],
    });
    const x = randomTensor([2, 3], 51, 'float32');
    const shape = tensor([BigInt(3), BigInt(2)], { dtype: 'int64' });
    const eager = importOnnx(bytes).fn(x, shape)[0];
    expect(eager.shape).toEqual([3, 2]);
    expect(Array.from(f32(eager))).toEqual(Array.from(f32(x)));
    expect(() => compileSync(importOnnx(bytes).fn)(x, shape)).toThrow(/Reshape.*must be a constant/s);
    const baked = importOnnx(bytes, { constants: { shape } });
    expect(baked.inputs.map((s) => s.name)).toEqual(['x']);
    expect(compileSync(baked.fn)(x)[0].shape).toEqual([3, 2]);
  });

  it('TopK picks the largest values, lower index first on ties, also among infinities', () => {
    const k = tensor([BigInt(4)], { dtype: 'int64' });
    const bytes = model({
      nodes: [node('TopK', ['x', 'k'], ['values', 'indices'], [int('axis', 1)])],
      inputs: [valueInfo('x', [2, 5])],
      outputs: [valueInfo('values', [2, 4]), valueInfo('indices', [2, 4], 'int64')],
      initializers: { k },
    });
    const rows = [
      [3, -Infinity, 3, 7, -Infinity],
      [-Infinity, -Infinity, -Infinity, 1, -Infinity],
    ];
    const x = tensor(rows);
    const [values, indices] = compileSync(importOnnx(bytes).fn)(x);
    // Reference: a stable sort by value, descending.
    const want = rows.map((r) =>
      r
        .map((v, i) => ({ v, i }))
        .sort((a, b) => b.v - a.v || a.i - b.i)
        .slice(0, 4),
    );
    expect(Array.from(f32(values))).toEqual(want.flatMap((r) => r.map((e) => e.v)));
    expect(Array.from(indices.data as BigInt64Array, Number)).toEqual(want.flatMap((r) => r.map((e) => e.i)));
  });

  it('an unknown op type gives an error naming it', () => {
    const bytes = model({
      nodes: [node('FrobnicateTensor', ['x'], ['y'])],
      inputs: [valueInfo('x', [2])],
      outputs: [valueInfo('y', [2])],
    });
    expect(() => importOnnx(bytes)).toThrow(UnsupportedOnnxError);
    expect(() => importOnnx(bytes)).toThrow(/'FrobnicateTensor'.*not supported/);
  });
});

describe('importOnnx round trip with a symbolic batch', () => {
  it('a Lepton model exported with a symbolic batch imports, runs at any batch, and re-exports', async () => {
    const { toOnnx, reshape, broadcastTo, add, sub, div, sum, matmul, relu } = await import('../../src/index.js');
    const { NativeSession } = await import('../../src/engine/runtime/session.js');
    const w = randomTensor([6, 4], 61, 'float32');
    const bias = randomTensor([4], 62, 'float32');
    // relu(h - rowMean(h)) with h = flatten(x) @ w + bias: reshape to [batch, 6] and the expand of
    // the row means to [batch, 4] lower to Shape/Concat/Reshape/Expand nodes.
    const net = (x: Tensor) => {
      const b = x.shape[0];
      const h = add(matmul(reshape(x, [b, 6]), w), bias);
      return relu(sub(h, broadcastTo(reshape(div(sum(h, 1), 4), [b, 1]), [b, 4])));
    };
    const bytes = await toOnnx(net, [{ shape: ['batch', 2, 3], dtype: 'float32' }]);
    const m = importOnnx(bytes);
    expect(m.inputs[0].shape).toEqual(['batch', 2, 3]);
    const reference = (x: Tensor): number[] => {
      const n = x.shape[0] as number;
      const h = denseRef(f32(x), n, 6, f32(w), 4, f32(bias), false);
      return h.map((v, i) => {
        const row = h.slice(Math.floor(i / 4) * 4, Math.floor(i / 4) * 4 + 4);
        return Math.max(v - row.reduce((a, c) => a + c, 0) / 4, 0);
      });
    };
    for (const n of [1, 5]) {
      const x = randomTensor([n, 2, 3], 63 + n, 'float32');
      expectClose(f32(m.fn(x)[0]), reference(x), 1e-5);
    }
    // Re-export the imported function with the symbolic batch and run the new model with ORT.
    const again = await toOnnx((x: Tensor) => m.fn(x)[0], m.inputs);
    const session = new NativeSession(again, {}, 're-exported');
    const x = randomTensor([3, 2, 3], 70, 'float32');
    const out = session.run({ [session.inputNames[0]]: { dtype: 'float32', shape: [3, 2, 3], data: x.data } });
    expectClose(out[session.outputNames[0]].data as Float32Array, reference(x), 1e-5);
  });
});

describe('shape arithmetic on a symbolic batch (torch.onnx.export patterns)', () => {
  it('expand(n, -1, -1) as Where(Equal(shape, -1), 1, shape) and a batch × 2 reshape import and run at any batch', async () => {
    const { toOnnx } = await import('../../src/index.js');
    const { NativeSession } = await import('../../src/engine/runtime/session.js');
    const i64 = (v: number[]) => tensor(BigInt64Array.from(v.map(BigInt)), { shape: [v.length] });
    const one = {
      name: 'value',
      type: AttrType.TENSOR,
      t: tensorProtoFromHost({ dtype: 'int64', shape: [1], data: BigInt64Array.from([1n]) }),
    };
    const token = tensor(Float32Array.from([0.5, -1, 2]), { shape: [1, 1, 3] });
    const symbolic = (name: string, rest: number[]) => ({
      name,
      type: {
        tensor_type: {
          elem_type: ONNX_ELEM_TYPE.float32,
          shape: { dim: [{ dim_param: 'batch' }, ...rest.map((d) => ({ dim_value: d }))] },
        },
      },
    });
    const bytes = model({
      opset: 13,
      inputs: [symbolic('x', [4]) as any],
      outputs: [valueInfo('expanded', []), valueInfo('y', [])],
      initializers: {
        token,
        zero: tensor(BigInt64Array.from([0n]), { shape: [] }),
        axes0: i64([0]),
        minus1: i64([-1]),
        two: i64([2]),
        four: i64([4]),
        shape2: i64([-1, 2]),
      },
      nodes: [
        node('Shape', ['x'], ['s']),
        node('Gather', ['s', 'zero'], ['n']),
        node('Unsqueeze', ['n', 'axes0'], ['n1']),
        node('Concat', ['n1', 'minus1', 'minus1'], ['sh'], [int('axis', 0)]),
        node('Reshape', ['sh', 'minus1'], ['sh2']),
        node('Shape', ['sh2'], ['len']),
        node('ConstantOfShape', ['len'], ['ones'], [one as AttributeProto]),
        node('Mul', ['ones', 'minus1'], ['negs']),
        node('Equal', ['sh2', 'negs'], ['eq']),
        node('Where', ['eq', 'ones', 'sh2'], ['target']),
        node('Expand', ['token', 'target'], ['expanded']),
        // x [batch, 4] → [batch × 2, 2] (the batch × 2 dimension from Mul) → back to [batch, 4].
        node('Mul', ['n1', 'two'], ['n2']),
        node('Concat', ['n2', 'two'], ['halves'], [int('axis', 0)]),
        node('Reshape', ['x', 'halves'], ['split']),
        node('Concat', ['n1', 'four'], ['back'], [int('axis', 0)]),
        node('Reshape', ['split', 'back'], ['y']),
      ],
    });
    const m = importOnnx(bytes);
    // Traced with the batch symbolic (as a functional model or fit sees it), then run by ORT at batch 3.
    const exported = await toOnnx((x: Tensor) => m.fn(x), [{ shape: ['batch', 4], dtype: 'float32' }]);
    const session = new NativeSession(exported, {}, 'symbolic-shapes');
    const x = randomTensor([3, 4], 80, 'float32');
    const out = session.run({ [session.inputNames[0]]: { dtype: 'float32', shape: [3, 4], data: x.data } });
    const [e, y] = session.outputNames.map((name) => out[name]);
    expect(e.shape).toEqual([3, 1, 3]);
    expect([...(e.data as Float32Array)]).toEqual([0.5, -1, 2, 0.5, -1, 2, 0.5, -1, 2]);
    expect([...(y.data as Float32Array)]).toEqual([...(x.data as Float32Array)]);
  });
});
