/**
 * Vision benchmarks: NMS on 10,000 random boxes (1000×1000 image, sides 10–110, 80 classes for
 * the class-aware variant, IoU 0.5), Lepton's host `nms` against torchvision's `nms` and
 * `batched_nms` (Debian python3-torchvision, one thread) in alternating rounds of the same run.
 * Reports medians over rounds; `nms_ratio_vs_torchvision` = torchvision ms / Lepton ms.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nms } from '../src/vision/index.js';
import { type BenchModule, type BenchResults, median, printTable, seededUniform } from './harness.js';

const PYTHON = '/usr/bin/python3';

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

function timeMs(f: () => unknown, reps: number): number {
  f();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

const bench: BenchModule = {
  description: 'NMS on 10k boxes: Lepton host nms vs torchvision nms/batched_nms (same run, alternating rounds)',
  async run(options) {
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
