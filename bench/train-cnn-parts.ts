/**
 * Where the seed CNN's train step spends its time (docs/PERFORMANCE.md), Lepton vs PyTorch:
 *  - Lepton: each convolution's forward + backward (weights fed at run time, as in a training
 *    graph), the whole forward + backward of the network, and the difference (pooling, ReLU,
 *    dense layers, loss); conv forwards with run-time vs constant weights (ORT pre-packs constants);
 *  - PyTorch: its autograd profiler's self CPU time per step, grouped the same way
 *    (bench/peers/torch_cnn_profile.py).
 * Each Lepton figure is one graph run through compileSync whose outputs are summed to scalars; the
 * sums' own cost is measured and subtracted. Graphs are timed one after the other (switching
 * between ORT sessions on every run inflates small graphs), each as the lower quartile of rounds.
 */
import { spawnSync } from 'node:child_process';
import {
  Tensor,
  add,
  compileSync,
  conv2d,
  matmul,
  maxPool2d,
  mean,
  relu,
  reshape,
  softmaxCrossEntropy,
  sum,
  transpose,
  valueAndGrad,
} from '../src/engine/index.js';
import { type BenchModule, type BenchOptions, type BenchResults, printTable, seededUniform } from './harness.js';
import { PYTHON, torchMissing } from './peer.js';

const N = 64;

function random(shape: number[], seed: number): Tensor {
  const next = seededUniform(seed);
  return new Tensor(
    shape,
    'float32',
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => next() - 0.5),
  );
}

/** A graph computing fn(...args), every output summed to a scalar (so little comes back to JS). */
function summed(fn: (...a: Tensor[]) => Tensor | Tensor[], threads: number): (...a: Tensor[]) => unknown {
  return compileSync(
    (...a: Tensor[]) => {
      const r = fn(...a);
      return (Array.isArray(r) ? r : [r]).map((t) => sum(t));
    },
    { session: { intraOpNumThreads: threads } },
  );
}

/** Milliseconds per run: the lower quartile over rounds of `perRound` runs (robust to interference). */
function lowerQuartileMs(run: () => unknown, rounds: number, perRound: number): number {
  for (let i = 0; i < 5; i++) run();
  const means: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < perRound; i++) run();
    means.push((performance.now() - t0) / perRound);
  }
  means.sort((a, b) => a - b);
  return means[Math.floor((means.length - 1) / 4)];
}

interface ConvCase {
  name: string;
  cin: number;
  size: number;
  cout: number;
  /** conv1's input is the data: no input gradient. */
  inputGrad: boolean;
}

const CONVS: ConvCase[] = [
  { name: 'conv1 3→32, 32×32', cin: 3, size: 32, cout: 32, inputGrad: false },
  { name: 'conv2 32→64, 15×15', cin: 32, size: 15, cout: 64, inputGrad: true },
  { name: 'conv3 64→64, 6×6', cin: 64, size: 6, cout: 64, inputGrad: true },
];

function seedCnnLoss(p: Record<string, Tensor>, x: Tensor, y: Tensor): Tensor {
  let h = transpose(x, [0, 3, 1, 2]);
  h = maxPool2d(relu(conv2d(h, p.w1, p.b1)), { kernel: 2 });
  h = maxPool2d(relu(conv2d(h, p.w2, p.b2)), { kernel: 2 });
  h = relu(conv2d(h, p.w3, p.b3));
  h = reshape(transpose(h, [0, 2, 3, 1]), [N, 1024]);
  h = relu(add(matmul(h, p.w4), p.b4));
  return mean(softmaxCrossEntropy(add(matmul(h, p.w5), p.b5), y));
}

function torchProfile(threads: number): Record<string, number | string> | string {
  const missing = torchMissing();
  if (missing) return missing;
  const r = spawnSync(PYTHON, ['bench/peers/torch_cnn_profile.py', '--threads', String(threads)], {
    encoding: 'utf8',
    env: { ...process.env, OPENBLAS_NUM_THREADS: '1' },
  });
  if (r.status !== 0) return `PyTorch peer failed: ${r.stderr.trim().split('\n').pop()}`;
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number | string>;
}

const bench: BenchModule = {
  description: "seed CNN train step (batch 64) split into convolutions vs the rest, Lepton vs PyTorch's profiler",
  async run(options: BenchOptions): Promise<BenchResults> {
    const t = options.threads;
    const rounds = options.quick ? 4 : 12;
    const time = (run: () => unknown) => lowerQuartileMs(run, rounds, 8);
    const results: BenchResults = {};
    const rows: (string | number)[][] = [['Lepton, forward + backward', 'ms per step']];
    let convTotal = 0;
    for (const [i, c] of CONVS.entries()) {
      const out = c.size - 2;
      const x = random([N, c.cin, c.size, c.size], 1 + i);
      const w = random([c.cout, c.cin, 3, 3], 11 + i);
      const b = random([c.cout], 21 + i);
      const r = random([N, c.cout, out, out], 31 + i);
      const argnums = c.inputGrad ? [0, 1, 2] : [1, 2];
      const grads = summed(
        (x, w, b, r) =>
          valueAndGrad((x: Tensor, w: Tensor, b: Tensor) => sum(conv2d(x, w, b).mul(r)), { argnums })(x, w, b)[1],
        t,
      );
      const forward = summed((x, w, b) => conv2d(x, w, b), t);
      const forwardConst = summed((x) => conv2d(x, w, b), t);
      const sumOnly = summed((r) => r, t);
      const ms = {
        grads: time(() => grads(x, w, b, r)),
        forward: time(() => forward(x, w, b)),
        forwardConst: time(() => forwardConst(x)),
        sumOnly: time(() => sumOnly(r)),
      };
      const total = ms.grads - ms.sumOnly;
      convTotal += total;
      const key = `conv${i + 1}`;
      results[`lepton_${key}_fwd_bwd_ms`] = total;
      results[`lepton_${key}_forward_ms`] = ms.forward - ms.sumOnly;
      results[`lepton_${key}_forward_const_weights_ms`] = ms.forwardConst - ms.sumOnly;
      rows.push([`${c.name}: forward + gradients (${c.inputGrad ? 'x, ' : ''}w, b)`, total]);
      rows.push([
        `  its forward alone, weights fed / constant (pre-packed)`,
        `${(ms.forward - ms.sumOnly).toFixed(2)} / ${(ms.forwardConst - ms.sumOnly).toFixed(2)}`,
      ]);
    }
    const names = ['w1', 'b1', 'w2', 'b2', 'w3', 'b3', 'w4', 'b4', 'w5', 'b5'];
    const shapes = [[32, 3, 3, 3], [32], [64, 32, 3, 3], [64], [64, 64, 3, 3], [64], [1024, 64], [64], [64, 10], [10]];
    const params = shapes.map((s, i) => random(s, 100 + i).mul(0.2));
    const x = random([N, 32, 32, 3], 200).add(0.5);
    const y = new Tensor(
      [N],
      'int32',
      Int32Array.from({ length: N }, (_, i) => (i * 7) % 10),
    );
    const whole = summed((...a: Tensor[]) => {
      const p = Object.fromEntries(names.map((k, i) => [k, a[i]]));
      const g = valueAndGrad(seedCnnLoss)(p, a[names.length], a[names.length + 1])[1] as Record<string, Tensor>;
      return names.map((k) => g[k]);
    }, t);
    const ms = { whole: time(() => whole(...params, x, y)) };
    results.lepton_step_fwd_bwd_ms = ms.whole;
    results.lepton_convs_fwd_bwd_ms = convTotal;
    results.lepton_rest_fwd_bwd_ms = ms.whole - convTotal;
    rows.push(
      ['the three convolutions', convTotal],
      ['everything else (pooling, ReLU, dense, loss)', ms.whole - convTotal],
      ['whole network', ms.whole],
    );
    printTable(rows);

    const torch = torchProfile(t);
    console.log();
    if (typeof torch === 'string') {
      console.log(`PyTorch peer skipped: ${torch}`);
      results.pytorch_skipped = torch;
    } else {
      printTable([
        [`PyTorch ${torch.pytorch_version} profiler, self CPU per step (${t} threads)`, 'ms'],
        ['convolution forward', torch.conv_forward_ms as number],
        ['convolution backward', torch.conv_backward_ms as number],
        [
          'max pooling forward / backward',
          `${(torch.maxpool_forward_ms as number).toFixed(2)} / ${(torch.maxpool_backward_ms as number).toFixed(2)}`,
        ],
        ['everything else (ReLU, linear, loss, Adam)', torch.other_ms as number],
        ['total (with Adam)', torch.total_ms as number],
      ]);
      for (const [k, v] of Object.entries(torch)) results[`pytorch_${k.replace(/^pytorch_/, '')}`] = v;
    }
    return results;
  },
};

export default bench;
