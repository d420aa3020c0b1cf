/**
 * Vision benchmarks. 1) Detector training: lepton/vision's FcosDetector (defaults, 6 classes,
 * 128×128, batch 32, Adam) through `fit` (one worker, and two data-parallel workers) against the
 * same architecture and loss in PyTorch (bench/peers/torch_fcos.py, OPENBLAS_NUM_THREADS=1, 1 and 2
 * intra-op threads) on the same batches, alternating rounds; `detector_train_ratio` = median over
 * rounds of (Lepton's best img/s ÷ PyTorch's best img/s).
 * 2) Detector inference: `predict` on the same detector against raw onnxruntime-node running its
 * exported ONNX file (bench/inference.ts: same batches of 32, same intra-op threads, interleaved
 * rounds); `detector_infer_ratio_vs_ort` = median of per-round img/s ratios.
 * 3) NMS on 10,000 random boxes (1000×1000 image, sides 10–110, 80 classes for
 * the class-aware variant, IoU 0.5), Lepton's host `nms` against torchvision's `nms` and
 * `batched_nms` (Debian python3-torchvision, one thread) in alternating rounds of the same run.
 * Reports medians over rounds; `nms_ratio_vs_torchvision` = torchvision ms / Lepton ms.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Tensor, optimizers, setSeed, tensor } from '../src/index.js';
import { FcosDetector, fcosLoss, nms } from '../src/vision/index.js';
import {
  type BenchModule,
  type BenchOptions,
  type BenchResults,
  EpochTimer,
  median,
  printTable,
  seededUniform,
  timeMs,
} from './harness.js';
import { predictVsOrt } from './inference.js';
import { PYTHON, torchMissing } from './peer.js';

function peer(
  base: string,
  n: number,
  reps: number,
  iou: number,
): { nms_ms: number; batched_ms: number; nms_kept: number; batched_kept: number } | string {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'peers', 'torchvision_nms.py');
  const r = spawnSync(PYTHON, [script, base, String(n), String(reps), String(iou), '1'], {
    encoding: 'utf8',
    env: { ...process.env, OPENBLAS_NUM_THREADS: '1' },
  });
  if (r.status !== 0)
    return `torchvision peer failed (apt install python3-torchvision): ${r.stderr.split('\n').slice(-3).join(' ')}`;
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const DET_SIZE = 128,
  DET_CLASSES = 6,
  DET_BATCH = 32;

/** Detector training images/s, Lepton `fit` vs the PyTorch peer, alternating rounds. */
async function detectorTraining(options: BenchOptions): Promise<BenchResults> {
  const batches = options.quick ? 4 : 10,
    rounds = options.quick ? 1 : 3;
  const n = batches * DET_BATCH;
  const det0 = new FcosDetector({ numClasses: DET_CLASSES, imageSize: [DET_SIZE, DET_SIZE] });
  const P = det0.numPoints,
    D = DET_CLASSES + 6;
  // Random pixels and 1-5 random boxes (14-56 px, the scenes' range) per image.
  const u = seededUniform(11);
  const x = new Float32Array(n * DET_SIZE * DET_SIZE * 3).map(() => u());
  const y = new Float32Array(n * P * D);
  for (let i = 0; i < n; i++) {
    const boxes: number[] = [],
      labels: number[] = [];
    for (let k = 1 + Math.floor(u() * 5); k > 0; k--) {
      const w = 14 + u() * 42,
        h = 14 + u() * 42,
        x0 = u() * (DET_SIZE - w),
        y0 = u() * (DET_SIZE - h);
      boxes.push(x0, y0, x0 + w, y0 + h);
      labels.push(Math.floor(u() * DET_CLASSES));
    }
    det0.targets(boxes, labels, y, i * P * D);
  }
  // Each side at its best setting, chosen per round: Lepton with one worker (2 intra-op threads)
  // or data parallel over two single-threaded workers (BatchNormalization per shard, as in PyTorch's
  // DDP); PyTorch with 1 or 2 intra-op threads (on the shared 2-core machine one thread was often
  // faster: its OpenMP threads wait on each other under load). --torch-threads N pins PyTorch.
  const torchThreads = options.extra['torch-threads'] ? [Number(options.extra['torch-threads'])] : [1, 2];
  const leptonWorkers = [1, 2];
  const missing = torchMissing();
  const dir = mkdtempSync(join(tmpdir(), 'lepton-bench-fcos-'));
  const base = join(dir, 'batches');
  writeFileSync(`${base}.x`, x);
  writeFileSync(`${base}.y`, y);
  const xs: Tensor = tensor(x, { shape: [n, DET_SIZE, DET_SIZE, 3] }),
    ys: Tensor = tensor(y, { shape: [n, P, D] });
  const lep = new Map<number, number[]>(leptonWorkers.map((w) => [w, []])),
    torch = new Map<number, number[]>(torchThreads.map((t) => [t, []]));
  const ratios: number[] = [];
  let peerError = missing;
  const runLepton = async (workers: number): Promise<number> => {
    setSeed(1);
    const det = new FcosDetector({ numClasses: DET_CLASSES, imageSize: [DET_SIZE, DET_SIZE] });
    det.model.compile({ optimizer: optimizers.Adam({ learningRate: 1e-3 }), loss: fcosLoss(DET_CLASSES) });
    const timer = new EpochTimer();
    await det.model.fit(xs, ys, {
      epochs: 3,
      batchSize: DET_BATCH,
      verbose: 0,
      shuffle: false,
      workers,
      callbacks: [timer],
    });
    const ms = timer.times.slice(1).reduce((a, b) => a + b, 0);
    return (2 * n) / (ms / 1000);
  };
  const runTorch = (threads: number): number | undefined => {
    const script = join(dirname(fileURLToPath(import.meta.url)), 'peers', 'torch_fcos.py');
    const args = [script, base, String(n), String(DET_SIZE), String(DET_CLASSES), '--steps', String(2 * batches)];
    const p = spawnSync(PYTHON, [...args, '--threads', String(threads)], {
      encoding: 'utf8',
      env: { ...process.env, OPENBLAS_NUM_THREADS: '1' },
    });
    if (p.status !== 0) peerError = `PyTorch peer failed: ${p.stderr.split('\n').slice(-3).join(' ')}`;
    else return JSON.parse(p.stdout.trim().split('\n').pop()!).train_img_s;
  };
  try {
    for (let r = 0; r < rounds; r++) {
      let bestLepton = 0,
        bestTorch = 0;
      for (const who of r % 2 ? ['peer', 'lepton'] : ['lepton', 'peer']) {
        if (who === 'lepton') {
          for (const w of r % 2 ? [...leptonWorkers].reverse() : leptonWorkers) {
            const v = await runLepton(w);
            lep.get(w)!.push(v);
            bestLepton = Math.max(bestLepton, v);
          }
        } else if (!peerError) {
          for (const t of r % 2 ? [...torchThreads].reverse() : torchThreads) {
            const v = runTorch(t);
            if (v === undefined) break;
            torch.get(t)!.push(v);
            bestTorch = Math.max(bestTorch, v);
          }
        }
      }
      if (!peerError) ratios.push(bestLepton / bestTorch);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const best = (m: Map<number, number[]>) => [...m].reduce((a, b) => (median(b[1]) > median(a[1]) ? b : a));
  const [lepW, lepRuns] = best(lep);
  const [torchT, torchRuns] = peerError ? [0, []] : best(torch);
  const res: BenchResults = {
    detector_train_img_s: median(lepRuns),
    detector_train_workers: lepW,
    detector_train_img_s_1worker: median(lep.get(1)!),
    detector_train_img_s_2workers: median(lep.get(2)!),
    detector_train_torch_img_s: peerError ? null : median(torchRuns),
    detector_train_torch_threads: peerError ? null : torchT,
    detector_train_ratio: peerError ? null : median(ratios),
    detector_train_ratio_per_round: peerError ? null : ratios.map((v) => v.toFixed(3)).join(' '),
  };
  const na = (m: Map<number, number[]>, k: number) => (m.get(k)?.length ? median(m.get(k)!).toFixed(1) : 'n/a');
  printTable([
    ['detector training (128², batch 32)', 'img/s (median)'],
    ['Lepton fit, 1 worker (2 threads)', na(lep, 1)],
    ['Lepton fit, 2 workers (data parallel)', na(lep, 2)],
    ...torchThreads.map((t) => [`PyTorch, ${t} thread${t > 1 ? 's' : ''}`, na(torch, t)]),
    [
      `best ÷ best, median of ${rounds} alternating rounds of ${2 * batches} steps`,
      peerError ? 'n/a' : median(ratios).toFixed(3),
    ],
  ]);
  if (peerError) console.log(peerError);
  return res;
}

/** Detector inference img/s through predict vs raw ORT on the exported file. */
async function detectorInference(options: BenchOptions): Promise<BenchResults> {
  const n = (options.quick ? 2 : 4) * DET_BATCH;
  const u = seededUniform(13);
  const x = tensor(
    new Float32Array(n * DET_SIZE * DET_SIZE * 3).map(() => u()),
    {
      shape: [n, DET_SIZE, DET_SIZE, 3],
    },
  );
  setSeed(1);
  const det = new FcosDetector({ numClasses: DET_CLASSES, imageSize: [DET_SIZE, DET_SIZE] });
  det.model.compile({
    optimizer: optimizers.Adam(),
    loss: fcosLoss(DET_CLASSES),
    session: { intraOpNumThreads: options.threads },
  });
  const r = await predictVsOrt(det.model, x, {
    batchSize: DET_BATCH,
    threads: options.threads,
    rounds: options.quick ? 2 : 7,
  });
  printTable([
    [`detector inference (128², batch ${DET_BATCH}, ${options.threads} threads)`, 'img/s', '× raw ORT'],
    ['Lepton predict', r.lepton.toFixed(1), r.ratio.toFixed(3)],
    ['raw onnxruntime-node on exportOnnx file', r.ort.toFixed(1), '1'],
  ]);
  return { detector_infer_img_s: r.lepton, detector_infer_ort_img_s: r.ort, detector_infer_ratio_vs_ort: r.ratio };
}

const bench: BenchModule = {
  description:
    'Detector training (FCOS, fit vs PyTorch), detector inference (predict vs raw ORT) and NMS on 10k boxes (host nms vs torchvision), same run, alternating rounds; --only detector|infer|nms',
  async run(options) {
    const only = options.extra.only;
    const detector = {
      ...(only === undefined || only === 'detector' ? await detectorTraining(options) : {}),
      ...(only === undefined || only === 'infer' ? await detectorInference(options) : {}),
    };
    if (only === 'detector' || only === 'infer') return detector;
    const n = 10_000,
      iou = 0.5;
    const reps = options.quick ? 5 : 30,
      rounds = options.quick ? 1 : 3;
    const u = seededUniform(7);
    const boxes = new Float32Array(n * 4),
      scores = new Float32Array(n),
      classes = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const x = u() * 1000,
        y = u() * 1000,
        w = 10 + u() * 100,
        h = 10 + u() * 100;
      boxes.set([x, y, x + w, y + h], i * 4);
      scores[i] = u();
      classes[i] = Math.floor(u() * 80);
    }
    const dir = mkdtempSync(join(tmpdir(), 'lepton-bench-nms-'));
    const base = join(dir, 'case');
    writeFileSync(`${base}.boxes`, boxes);
    writeFileSync(`${base}.scores`, scores);
    writeFileSync(`${base}.classes`, classes);
    const lep: number[] = [],
      lepB: number[] = [],
      tv: number[] = [],
      tvB: number[] = [];
    let kept = 0,
      keptB = 0,
      peerKept = -1,
      peerKeptB = -1,
      peerError: string | undefined;
    try {
      for (let r = 0; r < rounds; r++) {
        const order = r % 2 ? ['peer', 'lepton'] : ['lepton', 'peer'];
        for (const who of order) {
          if (who === 'lepton') {
            lep.push(timeMs(() => (kept = nms(boxes, scores, { iouThreshold: iou }).length), reps));
            lepB.push(timeMs(() => (keptB = nms(boxes, scores, { iouThreshold: iou, classes }).length), reps));
          } else if (!peerError) {
            const p = peer(base, n, reps, iou);
            if (typeof p === 'string') peerError = p;
            else
              [tv[tv.length], tvB[tvB.length], peerKept, peerKeptB] = [
                p.nms_ms,
                p.batched_ms,
                p.nms_kept,
                p.batched_kept,
              ];
          }
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    if (!peerError && (kept !== peerKept || keptB !== peerKeptB))
      throw new Error(`nms: Lepton kept ${kept}/${keptB} boxes, torchvision ${peerKept}/${peerKeptB}`);
    const res: BenchResults = {
      ...detector,
      nms_boxes: n,
      nms_ms: median(lep),
      nms_batched_ms: median(lepB),
      nms_torchvision_ms: peerError ? null : median(tv),
      nms_batched_torchvision_ms: peerError ? null : median(tvB),
      nms_ratio_vs_torchvision: peerError ? null : median(tv) / median(lep),
      nms_batched_ratio_vs_torchvision: peerError ? null : median(tvB) / median(lepB),
      nms_kept: kept,
      nms_batched_kept: keptB,
    };
    printTable([
      ['variant', 'Lepton ms', 'torchvision ms', 'ratio', 'kept'],
      [
        'nms (one class)',
        res.nms_ms!.toString(),
        String(res.nms_torchvision_ms),
        String(res.nms_ratio_vs_torchvision),
        String(kept),
      ],
      [
        'batched (80 classes)',
        res.nms_batched_ms!.toString(),
        String(res.nms_batched_torchvision_ms),
        String(res.nms_batched_ratio_vs_torchvision),
        String(keptB),
      ],
    ]);
    if (peerError) console.log(peerError);
    return res;
  },
};
export default bench;
