/**
 * Engine micro-benchmarks, each against raw onnxruntime-node in the same run:
 *  1. matmul 1024² / 2048² float32 GFLOPS: Lepton compile() (worker thread, inputs copied to
 *     the worker) and compileSync() (this thread) vs an InferenceSession over a hand-built MatMul
 *     model, same intra-op thread count;
 *  2. eager per-op overhead: µs per small `add` on concrete tensors vs session.run of a one-Add model;
 *  3. compile cost of a 200-node graph: trace + lowering, session creation, first call of
 *     compileSync / compile, vs creating an ORT session from the same bytes.
 */
import ort from 'onnxruntime-node';
import { TracedProgram, compile, compileSync } from '../src/engine/compile.js';
import { add, matmul, mul } from '../src/engine/ops/index.js';
import { NativeSession } from '../src/engine/runtime/session.js';
import { type Tensor, rand } from '../src/engine/tensor.js';
import {
  type BenchModule,
  type BenchOptions,
  type BenchResults,
  median,
  printTable,
  rawOnnxModel,
  timeBlocks,
  timeInterleaved,
} from './harness.js';

/** A one-node float32 model built directly as protobuf (independent of Lepton's lowering). */
function oneNodeModel(opType: string, inputs: { name: string; shape: number[] }[], outputShape: number[]): Uint8Array {
  const node = { op_type: opType, input: inputs.map((i) => i.name), output: ['y'], name: opType };
  return rawOnnxModel([node], inputs, [{ name: 'y', shape: outputShape }]);
}

const ortTensor = (t: Tensor) => new ort.Tensor('float32', t.data as Float32Array, t.shape as number[]);

async function matmulBench(
  n: number,
  options: BenchOptions,
  results: BenchResults,
  rows: (string | number)[][],
): Promise<void> {
  const a = rand([n, n]);
  const b = rand([n, n]);
  const sessionOptions = { intraOpNumThreads: options.threads };
  const mm = (x: Tensor, y: Tensor) => matmul(x, y);
  const worker = compile(mm, { session: sessionOptions });
  const sync = compileSync(mm, { session: sessionOptions });
  const raw = await ort.InferenceSession.create(
    oneNodeModel(
      'MatMul',
      [
        { name: 'a', shape: [n, n] },
        { name: 'b', shape: [n, n] },
      ],
      [n, n],
    ),
    sessionOptions,
  );
  const feeds = { a: ortTensor(a), b: ortTensor(b) };

  // Same answer from all three (guards against timing something that does not compute).
  const [w, s, r] = [await worker(a, b), sync(a, b), (await raw.run(feeds)).y.data as Float32Array];
  for (const k of [0, n * n - 1]) {
    const ref = r[k];
    if (
      Math.abs((w.data as Float32Array)[k] - ref) > 1e-3 * Math.abs(ref) ||
      Math.abs((s.data as Float32Array)[k] - ref) > 1e-3 * Math.abs(ref)
    ) {
      throw new Error(`matmul ${n}: Lepton and ORT disagree at ${k}`);
    }
  }

  const big = n >= 2048;
  const samples: Record<string, number[]> = {};
  const ms = await timeBlocks(
    {
      compile: () => worker(a, b),
      compileSync: () => sync(a, b),
      ort: () => raw.run(feeds),
    },
    { warmup: 1, rounds: options.quick ? 2 : big ? 3 : 4, perRound: options.quick ? 2 : big ? 3 : 5, samples },
  );
  await raw.release();
  const gflops = (t: number) => (2 * n ** 3) / (t * 1e-3) / 1e9;
  const key = `matmul_${n}`;
  results[`${key}_ms_lepton`] = ms.compile;
  results[`${key}_ms_lepton_sync`] = ms.compileSync;
  results[`${key}_ms_ort`] = ms.ort;
  results[`${key}_gflops_lepton`] = gflops(ms.compile);
  results[`${key}_gflops_lepton_sync`] = gflops(ms.compileSync);
  results[`${key}_gflops_ort`] = gflops(ms.ort);
  results[`${key}_ratio`] = gflops(ms.compile) / gflops(ms.ort);
  results[`${key}_ratio_sync`] = gflops(ms.compileSync) / gflops(ms.ort);
  // Fastest runs: on a loaded machine the medians drift with other processes, the minimum less so.
  const best = (v: string) => Math.min(...samples[v]);
  results[`${key}_ratio_best`] = best('ort') / best('compile');
  results[`${key}_ratio_sync_best`] = best('ort') / best('compileSync');
  rows.push(
    [
      `matmul ${n}² compile (worker)`,
      ms.compile,
      gflops(ms.compile),
      gflops(ms.ort),
      gflops(ms.compile) / gflops(ms.ort),
    ],
    [
      `matmul ${n}² compileSync`,
      ms.compileSync,
      gflops(ms.compileSync),
      gflops(ms.ort),
      gflops(ms.compileSync) / gflops(ms.ort),
    ],
  );
}

async function eagerOverhead(options: BenchOptions, results: BenchResults): Promise<(string | number)[][]> {
  const a = rand([4]);
  const b = rand([4]);
  // Eager ops run with 1 intra-op thread by default; the raw session gets the same.
  const raw = await ort.InferenceSession.create(
    oneNodeModel(
      'Add',
      [
        { name: 'a', shape: [4] },
        { name: 'b', shape: [4] },
      ],
      [4],
    ),
    { intraOpNumThreads: 1 },
  );
  const feeds = { a: ortTensor(a), b: ortTensor(b) };
  // The synchronous native call Lepton's eager path ends in, without Lepton's dispatch around it.
  const addBytes = oneNodeModel(
    'Add',
    [
      { name: 'a', shape: [4] },
      { name: 'b', shape: [4] },
    ],
    [4],
  );
  const native = new NativeSession(addBytes, { intraOpNumThreads: 1 }, 'bench add');
  const hostFeeds = {
    a: { dtype: 'float32' as const, shape: [4], data: a.data },
    b: { dtype: 'float32' as const, shape: [4], data: b.data },
  };
  const perBatch = options.quick ? 200 : 2000;
  const ms = await timeInterleaved(
    {
      lepton: () => {
        for (let i = 0; i < perBatch; i++) add(a, b);
      },
      ort: async () => {
        for (let i = 0; i < perBatch; i++) await raw.run(feeds);
      },
      native: () => {
        for (let i = 0; i < perBatch; i++) native.run(hostFeeds);
      },
    },
    { warmup: 1, runs: options.quick ? 3 : 7 },
  );
  await raw.release();
  const us = (t: number) => (t * 1000) / perBatch;
  results.eager_add_us_lepton = us(ms.lepton);
  results.eager_add_us_ort = us(ms.ort);
  results.eager_add_ratio = us(ms.lepton) / us(ms.ort);
  results.eager_add_us_ort_native_sync = us(ms.native);
  native.dispose();
  return [
    ['eager add [4] vs ORT session.run (await)', us(ms.lepton), us(ms.ort), us(ms.lepton) / us(ms.ort)],
    ['eager add [4] vs ORT native binding (sync)', us(ms.lepton), us(ms.native), us(ms.lepton) / us(ms.native)],
  ];
}

async function compileCost(options: BenchOptions, results: BenchResults): Promise<(string | number)[][]> {
  const x = rand([64]);
  // 200 element-wise nodes: (x * c + d) repeated 100 times.
  const chain = (t: Tensor): Tensor => {
    let y = t;
    for (let i = 0; i < 100; i++) y = add(mul(y, 1.0001), 0.001);
    return y;
  };
  const reps = options.quick ? 3 : 7;
  const trace: number[] = [];
  const session: number[] = [];
  const ortCreate: number[] = [];
  const firstSync: number[] = [];
  const firstWorker: number[] = [];
  let nodes = 0;
  for (let r = 0; r < reps; r++) {
    let t0 = performance.now();
    const program = TracedProgram.build(chain, [x]);
    trace.push(performance.now() - t0);
    nodes = program.lowered.model.graph.node.length;
    // Same work both ways; alternate which goes first so that neither always runs colder.
    const viaBinding = () => {
      const t = performance.now();
      new NativeSession(program.lowered.bytes, {}, 'bench').dispose();
      session.push(performance.now() - t);
    };
    const viaOrt = async () => {
      const t = performance.now();
      await (await ort.InferenceSession.create(program.lowered.bytes)).release();
      ortCreate.push(performance.now() - t);
    };
    if (r % 2) {
      await viaOrt();
      viaBinding();
    } else {
      viaBinding();
      await viaOrt();
    }
    // Fresh compiled functions: their first call traces, lowers, creates the session and runs.
    const f = compileSync(chain);
    t0 = performance.now();
    f(x);
    firstSync.push(performance.now() - t0);
    const g = compile(chain);
    t0 = performance.now();
    await g(x);
    firstWorker.push(performance.now() - t0);
  }
  results.compile_200_nodes = nodes;
  results.compile_200_trace_lower_ms = median(trace);
  results.compile_200_session_ms = median(session);
  results.compile_200_ort_session_ms = median(ortCreate);
  results.compile_200_first_call_sync_ms = median(firstSync);
  results.compile_200_first_call_worker_ms = median(firstWorker);
  return [
    [`trace + lower (${nodes} ONNX nodes)`, median(trace), '', ''],
    ['ORT session creation (Lepton binding)', median(session), median(ortCreate), median(session) / median(ortCreate)],
    ['compileSync first call (all of it)', median(firstSync), '', ''],
    ['compile first call (worker, all of it)', median(firstWorker), '', ''],
  ];
}

const bench: BenchModule = {
  description: 'matmul GFLOPS, eager per-op overhead and compile cost, against raw onnxruntime-node',
  async run(options) {
    const results: BenchResults = { ort_version: ort.env.versions.node ?? null };
    const mmRows: (string | number)[][] = [['matmul float32', 'ms', 'GFLOPS', 'ORT GFLOPS', 'ratio']];
    await matmulBench(1024, options, results, mmRows);
    await matmulBench(2048, options, results, mmRows);
    printTable(mmRows);
    console.log();
    printTable([['eager overhead (µs/op)', 'Lepton', 'ORT', 'ratio'], ...(await eagerOverhead(options, results))]);
    console.log();
    printTable([['200-node graph (ms, median)', 'Lepton', 'ORT', 'ratio'], ...(await compileCost(options, results))]);
    console.log(
      `\nmatmul ratios of the fastest runs (less sensitive to other load): compile ${[1024, 2048].map((n) => `${n}² ${(results[`matmul_${n}_ratio_best`] as number).toFixed(2)}`).join(', ')}; compileSync ${[1024, 2048].map((n) => `${n}² ${(results[`matmul_${n}_ratio_sync_best`] as number).toFixed(2)}`).join(', ')}`,
    );
    console.log(
      '\nmedians of timed runs after warm-up (matmul: blocks per variant in alternating order; eager: interleaved batches); ratio = Lepton / ORT (GFLOPS: higher is better; µs and ms: lower is better).',
    );
    return results;
  },
};
export default bench;
