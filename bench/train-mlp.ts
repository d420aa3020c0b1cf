/**
 * A large MLP trained through `model.fit`, side by side with PyTorch in the same run, and against
 * the step's arithmetic at ORT's own matmul rate: 256 → H → H → H → 10 (ReLU), batch 32, Adam,
 * sparse categorical cross-entropy from logits, on synthetic data. H = 2048 (8.9M parameters:
 * weights and the two Adam moments are 3 × 36 MB of state per step) and H = 1024 (2.4M).
 *  1. ms per step through fit (the time between consecutive batch ends, median over the timed
 *     epoch; the first, compiling epoch is not timed) vs the PyTorch peer (bench/peers/torch_mlp.py,
 *     same widths and batch, its best OPENBLAS_NUM_THREADS of 1 and 2) in alternating rounds;
 *  2. the step's FLOP time: its matrix products (forward X·W, input gradients G·Wᵀ except for the
 *     first layer, weight gradients Xᵀ·G) at the float32 matmul rate raw onnxruntime-node reaches
 *     on 2048² in this run, and the same products run by raw ORT as one graph (the step's matmul
 *     floor at batch 32, where the products are too thin to reach the 2048² rate).
 * Options: --steps N (timed steps per round, default 30), --rounds N (default 3, 1 with --quick),
 * --hidden 2048,1024 (the widths to run).
 */
import { spawnSync } from 'node:child_process';
import ort from 'onnxruntime-node';
import { Dense, SparseCategoricalCrossentropy, input, sequential, setSeed } from '../src/index.js';
import { ONNX_ELEM_TYPE } from '../src/engine/dtype.js';
import type { NodeProto } from '../src/engine/onnx/proto.js';
import { Tensor } from '../src/engine/tensor.js';
import { PYTHON, torchMissing } from './peer.js';
import {
  type BenchModule,
  type BenchOptions,
  type BenchResults,
  StepTimer,
  median,
  printTable,
  rawOnnxModel,
  seededUniform,
} from './harness.js';

const BATCH = 32;
const INPUTS = 256;
const CLASSES = 10;

function widths(hidden: number): number[] {
  return [INPUTS, hidden, hidden, hidden, CLASSES];
}

function paramCount(hidden: number): number {
  const w = widths(hidden);
  let n = 0;
  for (let i = 0; i + 1 < w.length; i++) n += w[i] * w[i + 1] + w[i + 1];
  return n;
}

/** FLOPs of one train step's matrix products: forward, weight gradients, input gradients (not for the first layer). */
function stepFlops(hidden: number): number {
  const w = widths(hidden);
  let f = 0;
  for (let i = 0; i + 1 < w.length; i++) f += 2 * BATCH * w[i] * w[i + 1] * (i === 0 ? 2 : 3);
  return f;
}

/**
 * `graphUpdate`: Adam inside the train-step graph (LEPTON_OPTIMIZER_KERNELS=0) instead of the
 * worker's in-place kernel, for the before/after column.
 */
async function leptonMsPerStep(hidden: number, steps: number, threads: number, graphUpdate = false): Promise<number> {
  const before = process.env.LEPTON_OPTIMIZER_KERNELS;
  if (graphUpdate) process.env.LEPTON_OPTIMIZER_KERNELS = '0';
  try {
    return await timedFit(hidden, steps, threads);
  } finally {
    if (before === undefined) delete process.env.LEPTON_OPTIMIZER_KERNELS;
    else process.env.LEPTON_OPTIMIZER_KERNELS = before;
  }
}

async function timedFit(hidden: number, steps: number, threads: number): Promise<number> {
  setSeed(1);
  const w = widths(hidden);
  const model = sequential([
    input({ shape: [INPUTS] }),
    new Dense(w[1], { activation: 'relu' }),
    new Dense(w[2], { activation: 'relu' }),
    new Dense(w[3], { activation: 'relu' }),
    new Dense(CLASSES),
  ]);
  model.compile({
    optimizer: 'adam',
    loss: new SparseCategoricalCrossentropy({ fromLogits: true }),
    session: { intraOpNumThreads: threads },
  });
  const n = (steps + 1) * BATCH;
  const next = seededUniform(5);
  const x = new Tensor([n, INPUTS], 'float32', Float32Array.from({ length: n * INPUTS }, next));
  const y = new Tensor(
    [n],
    'int32',
    Int32Array.from({ length: n }, () => Math.floor(next() * CLASSES)),
  );
  const timer = new StepTimer();
  await model.fit(x, y, { epochs: 2, batchSize: BATCH, verbose: 0, shuffle: false, callbacks: [timer] });
  return median(timer.gaps);
}

interface Peer {
  pytorch_version: string;
  pytorch_ms_per_step: number;
}

function runPeer(hidden: number, steps: number, threads: number, blasThreads: number): Peer {
  const args = [
    'bench/peers/torch_mlp.py',
    '--hidden',
    String(hidden),
    '--inputs',
    String(INPUTS),
    '--batch',
    String(BATCH),
    '--steps',
    String(steps),
    '--warmup',
    '5',
    '--threads',
    String(threads),
  ];
  const r = spawnSync(PYTHON, args, {
    encoding: 'utf8',
    env: { ...process.env, OPENBLAS_NUM_THREADS: String(blasThreads) },
  });
  if (r.status !== 0) throw new Error(`PyTorch peer failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Peer;
}

/** A float32 graph with one output, built directly as protobuf (independent of Lepton's lowering). */
const graphModel = (nodes: NodeProto[], inputs: [string, number[]][], output: string): Uint8Array =>
  rawOnnxModel(
    nodes,
    inputs.map(([name, shape]) => ({ name, shape })),
    [{ name: output, shape: [] }],
  );

const node = (op_type: string, input: string[], output: string, attribute: NodeProto['attribute'] = []): NodeProto => ({
  op_type,
  input,
  output: [output],
  name: output,
  attribute,
});
const ints = (name: string, v: number) => ({ name, type: 2, i: v });

function randomFeeds(inputs: [string, number[]][]): Record<string, ort.Tensor> {
  const next = seededUniform(9);
  return Object.fromEntries(
    inputs.map(([n, s]) => [
      n,
      new ort.Tensor(
        'float32',
        Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => next() - 0.5),
        s,
      ),
    ]),
  );
}

async function timeRuns(
  session: ort.InferenceSession,
  feeds: Record<string, ort.Tensor>,
  runs: number,
): Promise<number> {
  await session.run(feeds);
  await session.run(feeds);
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

/**
 * Raw ORT's float32 matmul rate on 2048² (GFLOPS). The product is summed in the graph so that the
 * 16 MB result is not copied out (and the sum's own time, measured alone, is subtracted).
 */
async function ortMatmulRate(threads: number, runs: number): Promise<number> {
  const n = 2048;
  const inputs: [string, number[]][] = [
    ['a', [n, n]],
    ['b', [n, n]],
  ];
  const feeds = randomFeeds(inputs);
  const opts = { intraOpNumThreads: threads };
  const mm = await ort.InferenceSession.create(
    graphModel([node('MatMul', ['a', 'b'], 'c'), node('ReduceSum', ['c'], 's', [ints('keepdims', 0)])], inputs, 's'),
    opts,
  );
  const sum = await ort.InferenceSession.create(
    graphModel([node('ReduceSum', ['a'], 's', [ints('keepdims', 0)])], inputs.slice(0, 1), 's'),
    opts,
  );
  const both = await timeRuns(mm, feeds, runs);
  const alone = await timeRuns(sum, { a: feeds.a }, runs);
  await mm.release();
  await sum.release();
  return (2 * n ** 3) / ((both - alone) * 1e-3) / 1e9;
}

/** Raw ORT running only the step's matrix products (batch 32) as one graph: ms. */
/**
 * The in-place Adam kernel alone over all `n` parameters in one memory, median ms of `runs` after
 * one warm-up: the update's floor, one pass reading weights, gradients and both moments and writing
 * three of them. `native`: the native kernel with `threads` threads (what the worker runs when it
 * is built), else the worker's WebAssembly kernel.
 */
async function adamKernelMs(
  n: number,
  runs: number,
  native: NativeKernels | undefined,
  threads: number,
): Promise<number> {
  // Plain-JS modules without declarations (the worker's): imported by a computed specifier.
  const modulePath = '../src/engine/runtime/kernels-wasm.js';
  const { kernelsWasmBase64 } = (await import(modulePath)) as { kernelsWasmBase64: string };
  const module = new WebAssembly.Module(Buffer.from(kernelsWasmBase64, 'base64'));
  const kernels = new WebAssembly.Instance(module).exports as {
    memory: WebAssembly.Memory;
    adam: (...args: number[]) => void;
  };
  const bytes = Math.ceil((n * 4) / 64) * 64;
  kernels.memory.grow(Math.ceil((4 * bytes + 64) / 65536));
  const all = new Float32Array(kernels.memory.buffer, 64, n * 4);
  const next = seededUniform(3);
  for (let i = 0; i < all.length; i++) all[i] = next() * 1e-2;
  const [p, g, m, v] = [0, 1, 2, 3].map((k) => 64 + k * bytes);
  const args = [0.9, 0.1, 0.999, 0.001, 0.03, 1e-8, 1e-3, 1, 0];
  const times: number[] = [];
  for (let r = 0; r <= runs; r++) {
    const t = performance.now();
    if (native) native.adam(kernels.memory.buffer, Uint32Array.from([p, g, m, v, n]), Float32Array.from(args), threads);
    else kernels.adam(p, g, m, v, n, ...args);
    if (r > 0) times.push(performance.now() - t);
  }
  return median(times);
}

interface NativeKernels {
  adam(memory: ArrayBuffer, items: Uint32Array, args: Float32Array, threads: number): void;
}

async function loadNativeKernels(): Promise<NativeKernels | undefined> {
  const modulePath = '../src/engine/runtime/native-kernels.js';
  return ((await import(modulePath)) as { nativeKernels?: NativeKernels }).nativeKernels;
}

async function ortStepMatmuls(hidden: number, threads: number, runs: number): Promise<number> {
  const w = widths(hidden);
  const L = w.length - 1;
  const inputs: [string, number[]][] = [
    ['x', [BATCH, w[0]]],
    ['g', [BATCH, w[L]]],
  ];
  for (let i = 0; i < L; i++) inputs.push([`w${i}`, [w[i], w[i + 1]]]);
  const nodes: NodeProto[] = [];
  for (let i = 0; i < L; i++) nodes.push(node('MatMul', [i === 0 ? 'x' : `h${i - 1}`, `w${i}`], `h${i}`));
  // Backward: the cotangent g stands for dLoss/dOutput; weight gradients hᵀ·g, input gradients g·wᵀ.
  let g = 'g';
  const sums: string[] = [];
  for (let i = L - 1; i >= 0; i--) {
    nodes.push(node('Gemm', [i === 0 ? 'x' : `h${i - 1}`, g], `dw${i}`, [ints('transA', 1)]));
    // Only a row of each weight gradient leaves the graph (the whole gradient is computed).
    nodes.push(node('Slice', [`dw${i}`, 'zero', 'one'], `dw${i}_row`));
    nodes.push(node('ReduceSum', [`dw${i}_row`], `s${i}`, [ints('keepdims', 0)]));
    sums.push(`s${i}`);
    if (i > 0) {
      nodes.push(node('Gemm', [g, `w${i}`], `g${i}`, [ints('transB', 1)]));
      g = `g${i}`;
    }
  }
  nodes.push(node('ReduceSum', [`h${L - 1}`], `h${L - 1}_s`, [ints('keepdims', 0)]));
  nodes.push(node('Sum', [...sums, `h${L - 1}_s`], 'total'));
  const constant = (name: string, v: number): NodeProto => ({
    op_type: 'Constant',
    input: [],
    output: [name],
    name,
    attribute: [{ name: 'value', type: 4, t: { dims: [1], data_type: ONNX_ELEM_TYPE.int64, int64_data: [v] } }],
  });
  const session = await ort.InferenceSession.create(
    graphModel([constant('zero', 0), constant('one', 1), ...nodes], inputs, 'total'),
    { intraOpNumThreads: threads },
  );
  const ms = await timeRuns(session, randomFeeds(inputs), runs);
  await session.release();
  return ms;
}

const bench: BenchModule = {
  description: 'MLP 256→H→H→H→10 (batch 32, Adam) through fit vs PyTorch, and vs its FLOP time at raw ORT matmul speed',
  async run(options: BenchOptions): Promise<BenchResults> {
    const num = (k: string, d: number) => (options.extra[k] !== undefined ? Number(options.extra[k]) : d);
    const steps = num('steps', options.quick ? 10 : 30);
    const rounds = num('rounds', options.quick ? 1 : 3);
    const hiddens = (options.extra.hidden ?? '2048,1024').split(',').map(Number);
    const threads = options.threads;
    const results: BenchResults = {
      batch: BATCH,
      steps,
      rounds,
      measured_at: new Date().toISOString(),
      load_average_1m: Number((await import('node:os')).loadavg()[0].toFixed(2)),
    };
    const noTorch = torchMissing();
    const gflops = await ortMatmulRate(threads, options.quick ? 3 : 7);
    const native = await loadNativeKernels();
    results.ort_matmul_2048_gflops = gflops;
    const rows: (string | number)[][] = [
      [
        'MLP, batch 32, Adam',
        'params',
        'Lepton ms/step',
        'Adam in graph ms',
        'PyTorch ms/step',
        '× PyTorch',
        'FLOP ms',
        '÷ FLOP time',
        'ORT matmuls ms',
        '÷ matmuls',
        'Adam kernel ms',
        'floor ÷ FLOP time',
      ],
    ];
    for (const hidden of hiddens) {
      const tag = hidden === 2048 ? '' : `_${hidden}`;
      let blas = 2;
      if (!noTorch) {
        // The peer's best BLAS thread count, chosen once per width.
        const tries = [1, 2].map(
          (b) => [b, runPeer(hidden, Math.max(5, steps >> 1), threads, b).pytorch_ms_per_step] as const,
        );
        blas = tries.reduce((a, b) => (b[1] < a[1] ? b : a))[0];
      }
      const lepton: number[] = [];
      const graphUpdate: number[] = [];
      const torch: number[] = [];
      const ratios: number[] = [];
      let version = '';
      for (let r = 0; r < rounds; r++) {
        const l = await leptonMsPerStep(hidden, steps, threads);
        lepton.push(l);
        const g = await leptonMsPerStep(hidden, steps, threads, true);
        graphUpdate.push(g);
        let line = `  H=${hidden} round ${r + 1}: Lepton ${l.toFixed(1)} ms/step (Adam in the graph: ${g.toFixed(1)})`;
        if (!noTorch) {
          const p = runPeer(hidden, steps, threads, blas);
          version = p.pytorch_version;
          torch.push(p.pytorch_ms_per_step);
          ratios.push(p.pytorch_ms_per_step / l);
          line += `, PyTorch ${p.pytorch_ms_per_step.toFixed(1)} ms/step (OPENBLAS_NUM_THREADS=${blas}): ${(p.pytorch_ms_per_step / l).toFixed(2)}×`;
        }
        console.log(line);
      }
      const floor = await ortStepMatmuls(hidden, threads, options.quick ? 5 : 15);
      const adamMs = await adamKernelMs(paramCount(hidden), options.quick ? 5 : 15, native, threads);
      const wasmAdamMs = native ? await adamKernelMs(paramCount(hidden), options.quick ? 5 : 15, undefined, 1) : adamMs;
      const ms = median(lepton);
      const flopMs = (stepFlops(hidden) / (gflops * 1e9)) * 1e3;
      results[`params${tag}`] = paramCount(hidden);
      results[`step_gflop${tag}`] = stepFlops(hidden) / 1e9;
      results[`lepton_ms_per_step${tag}`] = ms;
      results[`lepton_steps_s${tag}`] = 1000 / ms;
      results[`lepton_graph_update_ms_per_step${tag}`] = median(graphUpdate);
      results[`update_kernel_speedup${tag}`] = median(graphUpdate.map((g, i) => g / lepton[i]));
      results[`pytorch_ms_per_step${tag}`] = torch.length ? median(torch) : null;
      results[`pytorch_openblas_threads${tag}`] = noTorch ? null : blas;
      results[`train_ratio${tag}`] = ratios.length ? median(ratios) : null;
      results[`train_ratio_per_round${tag}`] = ratios.map((x) => x.toFixed(3)).join(' ') || null;
      results[`flop_ms${tag}`] = flopMs;
      results[`flop_time_ratio${tag}`] = ms / flopMs;
      results[`ort_step_matmuls_ms${tag}`] = floor;
      results[`matmul_floor_ratio${tag}`] = ms / floor;
      results[`adam_kernel_ms${tag}`] = adamMs;
      results[`adam_kernel${tag}`] = native ? `native, ${threads} threads` : 'webassembly';
      results[`adam_wasm_kernel_ms${tag}`] = wasmAdamMs;
      results[`step_floor_flop_time_ratio${tag}`] = (floor + adamMs) / flopMs;
      if (version) results.pytorch_version = version;
      const na = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : v);
      rows.push([
        `256→${hidden}×3→10`,
        `${(paramCount(hidden) / 1e6).toFixed(1)}M`,
        ms,
        median(graphUpdate),
        na(torch.length ? median(torch) : null),
        na(ratios.length ? median(ratios) : null),
        flopMs,
        ms / flopMs,
        floor,
        ms / floor,
        adamMs,
        (floor + adamMs) / flopMs,
      ]);
    }
    const kernelNote = native
      ? `native, ${threads} threads; the WebAssembly kernel it replaces: adam_wasm_kernel_ms in --json`
      : 'WebAssembly: the native kernels are not built, see npm run build:native';
    console.log();
    printTable(rows);
    console.log(
      `\n× PyTorch: median of per-round ratios (PyTorch ms / Lepton ms, run back to back). FLOP ms: the step's matmul FLOPs at raw ORT's 2048² rate in this run (${gflops.toFixed(0)} GFLOPS); ORT matmuls: the step's products alone, one raw ORT graph. Adam in graph: the same fit with the optimizer update inside the train-step graph (LEPTON_OPTIMIZER_KERNELS=0) instead of the worker's in-place kernel. Adam kernel: the worker's in-place update alone over all parameters (${kernelNote}); floor ÷ FLOP time: (ORT matmuls + Adam kernel) / FLOP ms, what a step with no other cost would reach.`,
    );
    if (noTorch) {
      results.pytorch_skipped = noTorch;
      console.log(`\nPyTorch peer skipped: ${noTorch}`);
    }
    console.log(
      `load average at start: ${results.load_average_1m} (2 cores; rerun on an idle machine before quoting numbers)`,
    );
    return results;
  },
};

export default bench;
