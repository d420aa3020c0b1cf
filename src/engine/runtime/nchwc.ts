/**
 * ORT's blocked-channel ("NCHWc") convolution kernels, as used by lowerings of graphs whose
 * convolution weights arrive at run time (training graphs).
 *
 * ORT rewrites Conv into its internal `com.microsoft.nchwc` ops only when the weights are constant
 * (it reorders them once, at session creation). The NCHWc Conv kernel itself reads its weights at
 * every run, so a graph can call it directly with weights reordered by ordinary Reshape/Transpose
 * nodes. The channel block size depends on the CPU (16 with AVX-512, 8 with AVX2, none elsewhere);
 * it is read once per process from a one-node probe graph.
 */
import { ONNX_ELEM_TYPE } from '../dtype.js';
import type { LowerCtx } from '../onnx/lower.js';
import { encodeModel } from '../onnx/proto.js';
import { NativeSession } from './session.js';

export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

let blockSize: number | undefined;
let portableDepth = 0;

/**
 * Runs `build` with the NCHWc lowerings off, so that the graph it traces and lowers holds standard
 * ONNX operators only (files meant for other runtimes: exports, `toOnnx`).
 */
export function portableOps<T>(build: () => T): T {
  portableDepth++;
  try {
    return build();
  } finally {
    portableDepth--;
  }
}

/**
 * Channels per NCHWc block on this machine, or 0 when the kernels are unavailable (or disabled
 * with LEPTON_NCHWC=0). ReorderInput pads 4 channels up to one whole block, which reveals its size.
 */
export function nchwcBlockSize(): number {
  if (portableDepth > 0) return 0;
  if (blockSize !== undefined) return blockSize;
  blockSize = 0;
  if (process.env.LEPTON_NCHWC === '0') return blockSize;
  const tensorType = (dims: number[]) => ({ tensor_type: { elem_type: ONNX_ELEM_TYPE.float32, shape: { dim: dims.map((d) => ({ dim_value: d })) } } });
  const model = encodeModel({
    ir_version: 8,
    producer_name: 'lepton',
    opset_import: [{ domain: '', version: 18 }, { domain: NCHWC_DOMAIN, version: 1 }],
    graph: {
      name: 'nchwc-probe',
      node: [{ op_type: 'ReorderInput', domain: NCHWC_DOMAIN, input: ['x'], output: ['y'], name: 'probe', attribute: [] }],
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

/**
 * Whether an ungrouped 2-D convolution with these channel counts can run as an NCHWc Conv: both
 * channel counts whole blocks (so no padding channels are needed in or out).
 */
export function nchwcConvApplies(inChannels: number, outChannels: number, spatialRank: number, group: number): boolean {
  const b = nchwcBlockSize();
  return b > 0 && spatialRank === 2 && group === 1 && inChannels % b === 0 && outChannels % b === 0;
}

/**
 * Lowering helper: a 4-D value with whole channel blocks in the blocked layout. When the value was
 * itself made by ReorderOutput (an NCHWc conv's output, a blocked pooling's gradient), the blocked
 * value it came from is used instead of reordering twice; the unread ReorderOutput is then dropped.
 */
export function toBlocked(ctx: LowerCtx, name: string): string {
  return blockedSource(ctx, name) ?? ctx.node('ReorderInput', [name], {}, 1, NCHWC_DOMAIN)[0];
}

/** The blocked value `name` was reordered from (ReorderOutput to NCHW, whole blocks), if any. */
export function blockedSource(ctx: LowerCtx, name: string): string | undefined {
  const producer = ctx.producer(name);
  if (producer?.op_type !== 'ReorderOutput' || producer.domain !== NCHWC_DOMAIN) return undefined;
  const attr = (key: string) => Number(producer.attribute?.find((a) => a.name === key)?.i ?? 0);
  const block = nchwcBlockSize();
  return block > 0 && attr('channels_last') === 0 && attr('channels') % block === 0 ? producer.input[0] : undefined;
}

/** Lowering helper: a blocked 4-D value with `channels` (whole blocks) back in NCHW. */
export function fromBlocked(ctx: LowerCtx, name: string, channels: number): string {
  return ctx.node('ReorderOutput', [name], { channels }, 1, NCHWC_DOMAIN)[0];
}
