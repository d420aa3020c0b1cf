/**
 * Whether this process's ORT has blocked-channel ("NCHWc") convolution kernels, and their block
 * size. Lowerings for the 'ort-cpu' target use them (src/engine/passes/nchwc.ts) for graphs whose
 * convolution weights arrive at run time (training graphs).
 *
 * ORT rewrites Conv into its internal `com.microsoft.nchwc` ops only when the weights are constant
 * (it reorders them once, at session creation). The NCHWc Conv kernel itself reads its weights at
 * every run, so a graph can call it directly with weights reordered by ordinary Reshape/Transpose
 * nodes. The channel block size depends on the CPU (16 with AVX-512, 8 with AVX2, none elsewhere);
 * it is read once per process from a one-node probe graph.
 */
import { ONNX_ELEM_TYPE } from '../dtype.js';
import { encodeModel } from '../onnx/proto.js';
import { NativeSession } from './session.js';

export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

let blockSize: number | undefined;

/**
 * Channels per NCHWc block on this machine, or 0 when the kernels are unavailable (or disabled
 * with LEPTON_NCHWC=0). ReorderInput pads 4 channels up to one whole block, which reveals its size.
 */
export function nchwcBlockSize(): number {
  if (blockSize !== undefined) return blockSize;
  blockSize = 0;
  if (process.env.LEPTON_NCHWC === '0') return blockSize;
  const tensorType = (dims: number[]) => ({
    tensor_type: { elem_type: ONNX_ELEM_TYPE.float32, shape: { dim: dims.map((d) => ({ dim_value: d })) } },
  });
  const model = encodeModel({
    ir_version: 8,
    producer_name: 'lepton',
    opset_import: [
      { domain: '', version: 18 },
      { domain: NCHWC_DOMAIN, version: 1 },
    ],
    graph: {
      name: 'nchwc-probe',
      node: [
        { op_type: 'ReorderInput', domain: NCHWC_DOMAIN, input: ['x'], output: ['y'], name: 'probe', attribute: [] },
      ],
      initializer: [],
      input: [{ name: 'x', type: tensorType([1, 4, 1, 1]) }],
      output: [{ name: 'y', type: { tensor_type: { elem_type: ONNX_ELEM_TYPE.float32 } } }],
    },
  });
  try {
    const session = new NativeSession(model, { intraOpNumThreads: 1 }, 'the NCHWc probe');
    const { y } = session.run({ x: { dtype: 'float32', shape: [1, 4, 1, 1], data: new Float32Array(4) } });
    session.dispose();
    const size = y.shape[1];
    if (Number.isInteger(size) && size >= 4 && (size & (size - 1)) === 0) blockSize = size;
  } catch {
    // No NCHWc kernels in this build or on this CPU: convolutions lower to plain Conv.
  }
  return blockSize;
}
