/**
 * The seed CNN (TensorFlow's CIFAR-10 tutorial network, 32×32×3, batch 64, Adam, sparse categorical
 * cross-entropy from logits, accuracy metric) trained through `model.fit` on synthetic data, side by
 * side with PyTorch in the same run:
 *  1. training images/s: Lepton `fit` (timed epochs after a first, compiling epoch) vs the PyTorch
 *     peer (bench/peers/torch_cnn.py, same batch count and steps) vs raw onnxruntime-node on the
 *     hand-built reference train step (../shared/reference beside the repository, host-side state loop) and on
 *     Lepton's own generated train-step graph (graph quality vs framework overhead);
 *  2. inference images/s at batch 256: `model.predict` vs raw onnxruntime-node on `exportOnnx`'s
 *     file vs PyTorch (eval, no_grad);
 *  3. peak RSS of both trainers.
 * Each Lepton training run is a fresh child process (like the PyTorch peer), so its peak RSS is
 * that of one trainer alone.
 * Options: --workers 1|2|both (Lepton training modes; default both), --epochs N (timed epochs,
 * default 2), --batches N (per epoch, default 50), --rounds N (Lepton/PyTorch alternations, best
 * kept; default 2, 1 with --quick), --reference-only (just the reference-graph column).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import {
  Conv2D,
  Dense,
  Flatten,
  MaxPooling2D,
  SparseCategoricalCrossentropy,
  input,
  sequential,
  setSeed,
} from '../src/index.js';
import { Tensor } from '../src/engine/tensor.js';
import type { HostTensor } from '../src/engine/onnx/proto.js';
import type { Callback } from '../src/train/callbacks.js';
import type { GraphProgram } from '../src/train/graph.js';
import {
  type BenchModule,
  type BenchOptions,
  type BenchResults,
  median,
  peakRssMb,
  printTable,
  seededUniform,
} from './harness.js';
import { type PredictVsOrt, predictVsOrt } from './inference.js';
import { PYTHON, sharedFile, torchMissing, warnTorchMissing } from './peer.js';
const BATCH = 64;
const INFER_BATCH = 256;

interface Settings {
  epochs: number;
  batches: number;
  rounds: number;
  threads: number;
  workers: number[];
}

function settings(options: BenchOptions): Settings {
  const num = (k: string, d: number) => (options.extra[k] !== undefined ? Number(options.extra[k]) : d);
  const w = options.extra.workers ?? 'both';
  return {
    epochs: num('epochs', options.quick ? 1 : 2),
    batches: num('batches', options.quick ? 20 : 50),
    rounds: num('rounds', options.quick ? 1 : 2),
    threads: options.threads,
    workers: w === 'both' ? [1, 2] : [Number(w)],
  };
}

function seedCnn() {
  return sequential([
    input({ shape: [32, 32, 3] }),
    new Conv2D(32, [3, 3], { activation: 'relu' }),
    new MaxPooling2D([2, 2]),
    new Conv2D(64, [3, 3], { activation: 'relu' }),
    new MaxPooling2D([2, 2]),
    new Conv2D(64, [3, 3], { activation: 'relu' }),
    new Flatten(),
    new Dense(64, { activation: 'relu' }),
    new Dense(10),
  ]);
}

/** Deterministic pseudo-random data (the bench must not depend on Lepton's RNG state). */
function syntheticData(n: number, seed = 7): { x: Tensor; y: Tensor } {
  const next = seededUniform(seed);
  const x = new Float32Array(n * 32 * 32 * 3);
  for (let i = 0; i < x.length; i++) x[i] = next();
  const y = Int32Array.from({ length: n }, () => Math.floor(next() * 10));
  return { x: new Tensor([n, 32, 32, 3], 'float32', x), y: new Tensor([n], 'int32', y) };
}

/** Epoch wall times from fit's own callbacks (the first, compiling epoch is reported apart). */
class EpochTimer implements Callback {
  times: number[] = [];
  /** CPU milliseconds of the whole process (all threads) per epoch. */
  cpu: number[] = [];
  private t0 = 0;
  private c0 = process.cpuUsage();
  onEpochBegin(): void {
    this.t0 = performance.now();
    this.c0 = process.cpuUsage();
  }
  onEpochEnd(): void {
    this.times.push(performance.now() - this.t0);
    const c = process.cpuUsage(this.c0);
    this.cpu.push((c.user + c.system) / 1000);
  }
}

interface LeptonTrain {
  imgPerSec: number;
  firstEpochMs: number;
  msPerStep: number;
  cpuMsPerImage: number;
  model: ReturnType<typeof seedCnn>;
}

async function leptonTrain(s: Settings, workers: number, data: { x: Tensor; y: Tensor }): Promise<LeptonTrain> {
  setSeed(1);
  const model = seedCnn();
  // One worker: one session with `threads` intra-op threads. Two workers: data parallel, each
  // session with cores / 2 threads (fit decides; one on a 2-core machine).
  model.compile({
    optimizer: 'adam',
    loss: new SparseCategoricalCrossentropy({ fromLogits: true }),
    metrics: ['accuracy'],
    session: { intraOpNumThreads: s.threads },
  });
  const timer = new EpochTimer();
  // workers is passed explicitly (fit's default, 'auto', may pick either).
  const fitOptions: Record<string, unknown> = {
    epochs: 1 + s.epochs,
    batchSize: BATCH,
    verbose: 0,
    callbacks: [timer],
  };
  fitOptions.workers = workers;
  await model.fit(data.x, data.y, fitOptions);
  const timed = timer.times.slice(1);
  const ms = timed.reduce((a, b) => a + b, 0);
  const images = s.epochs * s.batches * BATCH;
  const cpuMs = timer.cpu.slice(1).reduce((a, b) => a + b, 0);
  return {
    imgPerSec: images / (ms / 1000),
    firstEpochMs: timer.times[0],
    msPerStep: ms / (s.epochs * s.batches),
    cpuMsPerImage: cpuMs / images,
    model,
  };
}

interface ChildResult {
  img_s: number;
  cpu_ms_per_img: number;
  ms_per_step: number;
  first_epoch_ms: number;
  peak_rss_mb: number;
}

/** One Lepton training run in a fresh process (this file with --child). */
function runLeptonChild(s: Settings, workers: number): ChildResult {
  const args = [
    ...process.execArgv,
    fileURLToPath(import.meta.url),
    '--child',
    String(workers),
    String(s.epochs),
    String(s.batches),
    String(s.threads),
  ];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`Lepton training child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
}

async function childMain(argv: string[]): Promise<void> {
  const [workers, epochs, batches, threads] = argv.map(Number);
  const s: Settings = { epochs, batches, threads, rounds: 1, workers: [workers] };
  const r = await leptonTrain(s, workers, syntheticData(batches * BATCH));
  const out: ChildResult = {
    img_s: r.imgPerSec,
    cpu_ms_per_img: r.cpuMsPerImage,
    ms_per_step: r.msPerStep,
    first_epoch_ms: r.firstEpochMs,
    peak_rss_mb: peakRssMb(),
  };
  console.log(JSON.stringify(out));
}

interface PeerResult {
  pytorch_version: string;
  pytorch_threads: number;
  pytorch_train_img_s: number;
  pytorch_train_cpu_ms_per_img: number;
  pytorch_infer_img_s: number;
  pytorch_peak_rss_mb: number;
}

function runPeer(s: Settings): PeerResult {
  const args = [
    'bench/peers/torch_cnn.py',
    '--steps',
    String(s.epochs * s.batches),
    '--batches',
    String(s.batches),
    '--warmup',
    String(Math.min(s.batches, 10)),
    '--threads',
    String(s.threads),
    '--batch',
    String(BATCH),
    '--infer-batch',
    String(INFER_BATCH),
  ];
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } });
  if (r.status !== 0) throw new Error(`PyTorch peer failed (${r.status}): ${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as PeerResult;
}

const ortTensor = (dtype: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: number[]) =>
  new ort.Tensor(dtype, data, dims);

/**
 * The hand-built reference step, run like its prototype: outputs (new weights and Adam moments)
 * fed back as the next step's inputs from the host, a distinct batch each step.
 */
async function referenceTrain(s: Settings, data: { x: Tensor; y: Tensor }): Promise<number | undefined> {
  const session = await ort.InferenceSession.create(sharedFile('reference', 'seed-cnn-train-step.onnx'), {
    intraOpNumThreads: s.threads,
  });
  const shapes: Record<string, number[]> = {
    W1: [32, 3, 3, 3],
    b1: [32],
    W2: [64, 32, 3, 3],
    b2: [64],
    W3: [64, 64, 3, 3],
    b3: [64],
    W4: [64, 1024],
    b4: [64],
    W5: [10, 64],
    b5: [10],
  };
  const uniform = seededUniform(3);
  const rnd = () => (uniform() - 0.5) * 0.1;
  const state: Record<string, ort.Tensor> = {};
  for (const [k, shape] of Object.entries(shapes)) {
    const n = shape.reduce((a, b) => a * b, 1);
    state[k] = ortTensor('float32', Float32Array.from({ length: n }, rnd), shape);
    state[`m_${k}`] = ortTensor('float32', new Float32Array(n), shape);
    state[`v_${k}`] = ortTensor('float32', new Float32Array(n), shape);
  }
  // NCHW batches made once (the reference takes NCHW input and int64 labels).
  const batches = Array.from({ length: s.batches }, (_, b) => {
    const xs = data.x.data as Float32Array;
    const x = new Float32Array(BATCH * 3 * 32 * 32);
    for (let i = 0; i < BATCH; i++) {
      const row = (b * BATCH + i) * 3072;
      for (let p = 0; p < 1024; p++) for (let c = 0; c < 3; c++) x[i * 3072 + c * 1024 + p] = xs[row + p * 3 + c];
    }
    const y = BigInt64Array.from({ length: BATCH }, (_, i) => BigInt((data.y.data as Int32Array)[b * BATCH + i]));
    return { x: ortTensor('float32', x, [BATCH, 3, 32, 32]), y: ortTensor('int64', y, [BATCH]) };
  });
  let t = 0;
  const step = async (b: number) => {
    t++;
    const out = await session.run({
      ...state,
      x: batches[b].x,
      y: batches[b].y,
      t: ortTensor('float32', new Float32Array([t]), []),
    });
    for (const k of Object.keys(state)) state[k] = out[`${k}_new`];
    return out.loss.data[0] as number;
  };
  for (let b = 0; b < Math.min(s.batches, 10); b++) await step(b);
  const t0 = performance.now();
  let loss = 0;
  for (let e = 0; e < s.epochs; e++) for (let b = 0; b < s.batches; b++) loss = await step(b);
  const ms = performance.now() - t0;
  if (!Number.isFinite(loss)) throw new Error('reference graph: loss is not finite');
  await session.release();
  return (s.epochs * s.batches * BATCH) / (ms / 1000);
}

/**
 * Lepton's own fused train-step graph (the one fit runs with one worker), run by raw ORT on this
 * thread with weights and optimizer state fed back from the host like the reference: graph
 * quality without Lepton's framework overhead (worker messages, batching, metrics, callbacks).
 */
async function leptonGraphRaw(
  s: Settings,
  model: LeptonTrain['model'],
  data: { x: Tensor; y: Tensor },
): Promise<number | undefined> {
  const runner = (model.compileState as { runner?: any } | undefined)?.runner;
  if (!runner?.program || !runner.worker?.getState) return undefined;
  const rowsOf = (t: Tensor, b: number) => {
    const row = t.size / (t.shape[0] as number);
    return new Tensor([BATCH, ...t.shape.slice(1)], t.dtype, t.data.slice(b * BATCH * row, (b + 1) * BATCH * row));
  };
  const hostOf = (t: Tensor) => ({ dtype: t.dtype, shape: t.shape as number[], data: t.data });
  const batches = Array.from({ length: s.batches }, (_, b) => ({
    xs: [rowsOf(data.x, b)],
    ys: [rowsOf(data.y, b)],
    size: BATCH,
  }));
  const program = (await runner.program('train', batches[0])).program as GraphProgram;
  const session = await ort.InferenceSession.create(program.lowered.bytes, { intraOpNumThreads: s.threads });
  const scalars = runner.state.optimizer.nextScalars() as Record<string, number>;
  const plans = batches.map((b) => {
    const feeds: Record<string, HostTensor> = {
      x0: hostOf(b.xs[0]),
      y0: hostOf(b.ys[0]),
      sw: { dtype: 'float32', shape: [BATCH], data: new Float32Array(BATCH).fill(1) },
    };
    for (const [k, v] of Object.entries(scalars))
      feeds[`s_${k}`] = { dtype: 'float32', shape: [], data: new Float32Array([v]) };
    const plan = program.plan(feeds);
    return {
      feeds: Object.fromEntries(
        Object.entries(plan.feeds).map(([n, t]) => [
          n,
          new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, t.shape),
        ]),
      ),
      stateIn: plan.stateIn,
    };
  });
  const stateIn = plans[0].stateIn;
  const got = (await runner.worker.getState([...new Set(Object.values(stateIn))])) as Record<string, HostTensor>;
  const state = new Map<string, ort.Tensor>(
    Object.entries(got).map(([k, t]) => [k, new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, t.shape)]),
  );
  const stateOut = Object.entries(program.stateOutputs);
  const lossName = program.outputName('loss');
  const fetch = [lossName, ...stateOut.map(([n]) => n)];
  const step = async (b: number) => {
    const feeds: Record<string, ort.Tensor> = { ...plans[b].feeds };
    for (const [name, key] of Object.entries(stateIn)) feeds[name] = state.get(key)!;
    const out = await session.run(feeds, fetch);
    for (const [name, key] of stateOut) state.set(key, out[name]);
    return out[lossName].data[0] as number;
  };
  for (let b = 0; b < Math.min(s.batches, 10); b++) await step(b);
  const t0 = performance.now();
  let loss = 0;
  for (let e = 0; e < s.epochs; e++) for (let b = 0; b < s.batches; b++) loss = await step(b);
  const ms = performance.now() - t0;
  await session.release();
  if (!Number.isFinite(loss)) throw new Error('Lepton train graph (raw): loss is not finite');
  return (s.epochs * s.batches * BATCH) / (ms / 1000);
}

/** predict vs raw ORT on the exported model, batch 256, interleaved rounds. */
async function inference(s: Settings, model: LeptonTrain['model'], data: { x: Tensor }): Promise<PredictVsOrt> {
  const n = INFER_BATCH * 4;
  const x = new Tensor([n, 32, 32, 3], 'float32', (data.x.data as Float32Array).slice(0, n * 3072));
  // predict's worker session gets the same intra-op thread count as the raw ORT session.
  model.compile({
    optimizer: 'adam',
    loss: new SparseCategoricalCrossentropy({ fromLogits: true }),
    session: { intraOpNumThreads: s.threads },
  });
  return predictVsOrt(model, x, { batchSize: INFER_BATCH, threads: s.threads });
}

const bench: BenchModule = {
  description:
    'seed CNN (32×32×3, batch 64, Adam) trained through fit vs PyTorch; predict vs raw ORT vs PyTorch; peak RSS',
  async run(options: BenchOptions): Promise<BenchResults> {
    const s = settings(options);
    const data = syntheticData(s.batches * BATCH);
    const results: BenchResults = {
      batch: BATCH,
      batches_per_epoch: s.batches,
      timed_epochs: s.epochs,
      rounds: s.rounds,
      measured_at: new Date().toISOString(),
      load_average_1m: Number((await import('node:os')).loadavg()[0].toFixed(2)),
    };

    if (options.extra['reference-only'] !== undefined) {
      const ref = await referenceTrain(s, data);
      console.log(`reference graph (raw ORT, ${s.threads} threads): ${ref?.toFixed(0)} img/s`);
      results.reference_train_img_s = ref ?? null;
      return results;
    }

    const noTorch = torchMissing();
    if (noTorch) warnTorchMissing(noTorch);
    const best = new Map<string, number>();
    const keep = (k: string, v: number) => best.set(k, Math.max(best.get(k) ?? 0, v));
    let peer: PeerResult | undefined;
    const leptonFirstEpoch: number[] = [];
    const leptonRss = new Map<number, number>();
    // CPU time per image (all threads): less sensitive to other load than images/s.
    const leptonCpu = new Map<number, number>();
    let torchCpu = Infinity;
    // Per round: the faster Lepton mode over PyTorch. Lepton and PyTorch run back to back within a
    // round, so these ratios cancel the slow drifts of a shared machine's speed.
    const roundRatios: number[] = [];
    for (let round = 0; round < s.rounds; round++) {
      let roundBest = 0;
      for (const w of s.workers) {
        const r = runLeptonChild(s, w);
        roundBest = Math.max(roundBest, r.img_s);
        keep(`lepton_${w}`, r.img_s);
        leptonFirstEpoch.push(r.first_epoch_ms);
        leptonRss.set(w, Math.max(leptonRss.get(w) ?? 0, r.peak_rss_mb));
        leptonCpu.set(w, Math.min(leptonCpu.get(w) ?? Infinity, r.cpu_ms_per_img));
        console.log(
          `  round ${round + 1}: Lepton fit, ${w === 1 ? `1 worker × ${s.threads} threads` : `${w} workers × cores/2 threads`}: ${r.img_s.toFixed(0)} img/s (${r.ms_per_step.toFixed(2)} ms/step; first epoch ${r.first_epoch_ms.toFixed(0)} ms; peak RSS ${r.peak_rss_mb.toFixed(0)} MB)`,
        );
      }
      if (!noTorch) {
        const p = runPeer(s);
        console.log(`  round ${round + 1}: PyTorch ${p.pytorch_version}: ${p.pytorch_train_img_s.toFixed(0)} img/s`);
        keep('pytorch', p.pytorch_train_img_s);
        roundRatios.push(roundBest / p.pytorch_train_img_s);
        keep('pytorch_infer', p.pytorch_infer_img_s);
        torchCpu = Math.min(torchCpu, p.pytorch_train_cpu_ms_per_img);
        peer = { ...p, pytorch_peak_rss_mb: Math.max(p.pytorch_peak_rss_mb, peer?.pytorch_peak_rss_mb ?? 0) };
      }
    }
    const ref = await referenceTrain(s, data);
    // A model trained in this process (one short epoch, one worker) for the raw-graph and inference columns.
    const local = await leptonTrain(
      { ...s, epochs: 0, batches: Math.min(s.batches, 5) },
      1,
      syntheticData(Math.min(s.batches, 5) * BATCH),
    );
    const raw = await leptonGraphRaw(s, local.model, data);
    const infer = await inference(s, local.model, data);

    const leptonModes = s.workers.map((w) => [w, best.get(`lepton_${w}`)!] as const);
    const [bestWorkers, lepton] = leptonModes.reduce((a, b) => (b[1] > a[1] ? b : a));
    const torch = peer ? best.get('pytorch')! : null;
    const torchInfer = peer ? best.get('pytorch_infer')! : null;
    const ratio = (a: number | null | undefined, b: number | null | undefined) => (a && b ? a / b : null);

    results.lepton_train_img_s = lepton;
    results.lepton_train_workers = bestWorkers;
    results.lepton_peak_rss_mb = leptonRss.get(bestWorkers)!;
    for (const [w, v] of leptonRss) results[`lepton_peak_rss_mb_${w}worker${w > 1 ? 's' : ''}`] = v;
    for (const [w, v] of leptonModes) results[`lepton_train_img_s_${w}worker${w > 1 ? 's' : ''}`] = v;
    results.lepton_first_epoch_ms = median(leptonFirstEpoch);
    for (const [w, v] of leptonCpu) results[`lepton_train_cpu_ms_per_img_${w}worker${w > 1 ? 's' : ''}`] = v;
    results.pytorch_train_cpu_ms_per_img = Number.isFinite(torchCpu) ? torchCpu : null;
    results.pytorch_train_img_s = torch;
    results.train_ratio = ratio(lepton, torch);
    results.train_ratio_per_round = roundRatios.map((r) => r.toFixed(3)).join(' ') || null;
    results.train_ratio_median_of_rounds = roundRatios.length ? median(roundRatios) : null;
    results.reference_train_img_s = ref ?? null;
    results.reference_ratio_vs_pytorch = ratio(ref, torch);
    results.lepton_vs_reference = ratio(lepton, ref);
    results.lepton_graph_raw_img_s = raw ?? null;
    results.lepton_fit_vs_own_graph_raw = ratio(best.get('lepton_1'), raw);
    results.lepton_infer_img_s = infer.lepton;
    results.ort_infer_img_s = infer.ort;
    results.infer_ratio_vs_ort = infer.ratio; // median of per-round ratios
    results.pytorch_infer_img_s = torchInfer;
    results.infer_ratio_vs_pytorch = ratio(infer.lepton, torchInfer);
    results.pytorch_peak_rss_mb = peer?.pytorch_peak_rss_mb ?? null;
    results.pytorch_version = peer?.pytorch_version ?? null;
    if (noTorch) results.pytorch_skipped = noTorch;

    console.log();
    const na = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : v);
    const rows: (string | number)[][] = [['training, batch 64 (best of rounds)', 'img/s', '× PyTorch', 'CPU ms/img']];
    for (const [w, v] of leptonModes)
      rows.push([
        `Lepton fit, ${w === 1 ? `1 worker × ${s.threads} threads` : `${w} workers × cores/2 threads (data parallel)`}`,
        v,
        na(ratio(v, torch)),
        leptonCpu.get(w)!,
      ]);
    rows.push([
      `PyTorch ${peer?.pytorch_version ?? ''} (${s.threads} threads)`,
      na(torch),
      torch ? 1 : 'n/a',
      na(results.pytorch_train_cpu_ms_per_img as number | null),
    ]);
    rows.push([`reference graph, raw ORT (${s.threads} threads)`, na(ref), na(ratio(ref, torch)), '']);
    rows.push([`Lepton's fused train graph, raw ORT (${s.threads} threads)`, na(raw), na(ratio(raw, torch)), '']);
    printTable(rows);
    if (roundRatios.length)
      console.log(
        `\nper round, faster Lepton mode / PyTorch (run back to back): ${roundRatios.map((r) => r.toFixed(2)).join(', ')}; median ${median(roundRatios).toFixed(2)}`,
      );
    console.log();
    printTable([
      ['inference, batch 256', 'img/s', '× ORT', '× PyTorch'],
      ['Lepton predict', infer.lepton, infer.ratio, na(ratio(infer.lepton, torchInfer))],
      ['raw ORT on exportOnnx file', infer.ort, 1, na(ratio(infer.ort, torchInfer))],
      ['PyTorch (eval, no_grad)', na(torchInfer), na(ratio(torchInfer, infer.ort)), torchInfer ? 1 : 'n/a'],
    ]);
    console.log();
    printTable([
      ['peak RSS of the training process', 'MB'],
      ...[...leptonRss].map(([w, v]) => [`Lepton fit, ${w} worker${w > 1 ? 's' : ''}`, v]),
      ['PyTorch peer (train + inference)', na(peer?.pytorch_peak_rss_mb)],
    ]);
    if (noTorch) console.log(`\nPyTorch peer skipped: ${noTorch}`);
    console.log(
      `\nload average at start: ${results.load_average_1m} (2 cores; rerun on an idle machine before quoting numbers)`,
    );
    return results;
  },
};

export default bench;

if (process.argv[2] === '--child' && process.argv[1] === fileURLToPath(import.meta.url)) {
  childMain(process.argv.slice(3)).then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
