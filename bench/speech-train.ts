/**
 * Speech bench parts that compare with PyTorch in the same run (bench/speech.ts runs them):
 *
 * 1. ASR training throughput: the model examples/asr.ts trains (`convAsrModel`, 384 fbank frames ×
 *    40 bins, batch 32, CTC with its recursion in float64, Adam with cosine decay and clipNorm 5)
 *    through `fit`, against the same architecture in PyTorch (bench/peers/torch_asr.py) on the same
 *    batches. Both sides run with 1 and with 2 threads (ORT intra-op / torch.set_num_threads and
 *    OPENBLAS_NUM_THREADS) each round and their faster setting counts; the same for features.
 * 2. Feature extraction throughput: Kaldi fbank (80 bins) and log-mel (n_fft 512, window 400, hop
 *    160, 80 mels, dB) of 12 clips of 1–10 s at 16 kHz: Lepton's batched `fbankClips` /
 *    `logMelClips` (one compiled graph reused across calls) against torchaudio's
 *    `compliance.kaldi.fbank` / `transforms.MelSpectrogram` + `AmplitudeToDB` one clip at a time.
 *
 * Every measurement runs in a fresh process (the Lepton side is this file with --child), so each
 * side's peak RSS is its own. Rounds alternate the order; ratios are medians of per-round ratios.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CosineDecay, optimizers, setSeed, tensor } from '../src/index.js';
import { ASR_ALPHABET, CTC, convAsrModel, fbankClips, logMelClips } from '../src/audio/index.js';
import {
  type BenchOptions,
  type BenchResults,
  EpochTimer,
  median,
  printTable,
  seededUniform,
  timeMs,
} from './harness.js';
import { PYTHON, REPO_ROOT, torchMissing } from './peer.js';

const FRAMES = 384,
  BINS = 40,
  BATCH = 32,
  MAX_LABELS = 50,
  CLASSES = ASR_ALPHABET.length + 1;

/** Synthetic fbank-like features (log energies around 10) and random transcripts of 20–50 characters. */
function asrData(n: number): { x: Float32Array; y: Float32Array } {
  const u = seededUniform(5);
  const x = new Float32Array(n * FRAMES * BINS);
  for (let i = 0; i < x.length; i++) x[i] = 10 + 6 * (u() - 0.5);
  const y = new Float32Array(n * MAX_LABELS).fill(-1);
  for (let i = 0; i < n; i++) {
    const len = 20 + Math.floor(u() * (MAX_LABELS - 19));
    for (let k = 0; k < len; k++) y[i * MAX_LABELS + k] = 1 + Math.floor(u() * (CLASSES - 1));
  }
  return { x, y };
}

const rssMb = (): number => process.resourceUsage().maxRSS / 1024;

/** A file's bytes as their own ArrayBuffer (a small Buffer may sit inside a shared pool). */
function bytesOf(path: string): ArrayBuffer {
  const b = readFileSync(path);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

interface TrainResult {
  utt_s: number;
  threads: number;
  ms_per_step: number;
  peak_rss_mb: number;
  first_epoch_ms?: number;
}

/** Lepton side of the ASR training bench (in a child process): one compiling epoch, then one timed. */
async function leptonTrain(base: string, n: number, threads: number): Promise<TrainResult> {
  const x = new Float32Array(bytesOf(`${base}.x`));
  const y = new Float32Array(bytesOf(`${base}.y`));
  const mean = new Array<number>(BINS).fill(0),
    variance = new Array<number>(BINS).fill(0);
  const rows = n * FRAMES;
  for (let r = 0; r < rows; r++) for (let b = 0; b < BINS; b++) mean[b]! += x[r * BINS + b]! / rows;
  for (let r = 0; r < rows; r++)
    for (let b = 0; b < BINS; b++) variance[b]! += (x[r * BINS + b]! - mean[b]!) ** 2 / rows;
  setSeed(1);
  const model = convAsrModel({ frames: FRAMES, bins: BINS, mean, variance, classes: CLASSES });
  const steps = 2 * (n / BATCH);
  model.compile({
    optimizer: optimizers.Adam({
      learningRate: new CosineDecay({ initial: 1.5e-3, decaySteps: steps, minimum: 5e-5 }),
      clipNorm: 5,
    }),
    loss: new CTC({ dtype: 'float64' }),
    session: { intraOpNumThreads: threads },
  });
  const timer = new EpochTimer();
  await model.fit(
    tensor(x, { shape: [n, FRAMES, BINS] }),
    tensor(Array.from(y), { shape: [n, MAX_LABELS], dtype: 'int64' }),
    {
      epochs: 2,
      batchSize: BATCH,
      verbose: 0,
      shuffle: false,
      callbacks: [timer],
    },
  );
  const ms = timer.times[1]!;
  return {
    utt_s: n / (ms / 1000),
    threads,
    ms_per_step: ms / (n / BATCH),
    peak_rss_mb: rssMb(),
    first_epoch_ms: timer.times[0],
  };
}

/** Runs this file as a child (`--child <mode> <args>`) and parses its JSON line. */
function child(mode: string, args: string[]): Record<string, number> {
  const r = spawnSync(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), '--child', mode, ...args],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    },
  );
  if (r.status !== 0) throw new Error(`speech bench: the Lepton ${mode} child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

/** Runs the PyTorch peer; a string says why it failed. */
function peer(args: string[]): Record<string, number> | string {
  const r = spawnSync(PYTHON, [join(REPO_ROOT, 'bench', 'peers', 'torch_asr.py'), ...args], {
    encoding: 'utf8',
    env: {
      ...process.env,
      OPENBLAS_NUM_THREADS: args.includes('--threads') ? args[args.indexOf('--threads') + 1] : '1',
    },
  });
  if (r.status !== 0) return `PyTorch peer failed: ${r.stderr.split('\n').slice(-4).join(' ')}`;
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const na = (v: number | null | undefined, digits = 1): string => (v == null ? 'n/a' : v.toFixed(digits));

export async function asrTraining(options: BenchOptions): Promise<BenchResults> {
  const batches = options.quick ? 3 : 8,
    rounds = options.quick ? 1 : 3;
  const n = batches * BATCH;
  const dir = mkdtempSync(join(tmpdir(), 'lepton-bench-asr-'));
  const base = join(dir, 'batches');
  const { x, y } = asrData(n);
  writeFileSync(`${base}.x`, x);
  writeFileSync(`${base}.y`, y);
  let peerError = torchMissing();
  const lep: TrainResult[] = [],
    torch: { utt_s: number; threads: number; peak_rss_mb: number }[] = [],
    ratios: number[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      let l: TrainResult | undefined;
      let best: { utt_s: number; threads: number; peak_rss_mb: number } | undefined;
      for (const who of r % 2 ? ['peer', 'lepton'] : ['lepton', 'peer']) {
        if (who === 'lepton') {
          // Like the peer, the faster of 1 and 2 ORT threads (under load one thread can be twice as fast).
          for (const threads of [1, 2]) {
            const t = child('train', [base, String(n), String(threads)]) as unknown as TrainResult;
            if (!l || t.utt_s > l.utt_s) l = t;
          }
          lep.push(l!);
        } else if (!peerError) {
          for (const threads of [1, 2]) {
            const p = peer([
              'train',
              base,
              '--n',
              String(n),
              '--frames',
              String(FRAMES),
              '--bins',
              String(BINS),
              '--classes',
              String(CLASSES),
              '--batch',
              String(BATCH),
              '--steps',
              String(batches),
              '--warmup',
              '3',
              '--threads',
              String(threads),
            ]);
            if (typeof p === 'string') peerError = p;
            else if (!best || p.utt_s! > best.utt_s) best = { utt_s: p.utt_s!, threads, peak_rss_mb: p.peak_rss_mb! };
          }
          if (best) torch.push(best);
        }
      }
      if (l && best) ratios.push(l.utt_s / best.utt_s);
      console.log(
        `  ASR training round ${r + 1}: Lepton ${l!.utt_s.toFixed(1)} utt/s (${l!.threads} thread${l!.threads > 1 ? 's' : ''}, ${l!.ms_per_step.toFixed(0)} ms/step, first epoch ${l!.first_epoch_ms!.toFixed(0)} ms), PyTorch ${best ? `${best.utt_s.toFixed(1)} utt/s (${best.threads} thread${best.threads > 1 ? 's' : ''})` : 'n/a'}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const threadsUsed = torch.map((t) => t.threads);
  const res: BenchResults = {
    asr_train_utt_s: median(lep.map((l) => l.utt_s)),
    asr_train_torch_utt_s: peerError ? null : median(torch.map((t) => t.utt_s)),
    asr_train_ratio: peerError ? null : median(ratios),
    asr_train_threads: lep.map((l) => l.threads).join(','),
    asr_train_torch_threads: peerError ? null : threadsUsed.join(','),
    asr_train_peak_rss_mb: Math.max(...lep.map((l) => l.peak_rss_mb)),
    asr_train_torch_peak_rss_mb: peerError ? null : Math.max(...torch.map((t) => t.peak_rss_mb)),
  };
  printTable([
    [`ASR training (convAsrModel, [${FRAMES}, ${BINS}], batch ${BATCH}, CTC)`, 'Lepton', 'PyTorch', 'ratio'],
    [
      'utterances/s (median)',
      na(res.asr_train_utt_s as number),
      na(res.asr_train_torch_utt_s as number | null),
      na(res.asr_train_ratio as number | null, 2),
    ],
    [
      'peak RSS MB',
      na(res.asr_train_peak_rss_mb as number, 0),
      na(res.asr_train_torch_peak_rss_mb as number | null, 0),
      '',
    ],
  ]);
  if (peerError) console.log(peerError);
  return res;
}

// ---- Feature extraction -----------------------------------------------------------------------

const FEATURE_BINS = 80;

/** 12 clips of 1–10 s: tones with a little noise (the cost does not depend on the content). */
function clipLengths(): number[] {
  return Array.from({ length: 12 }, (_, i) => Math.round((1 + (9 * i) / 11) * 16000));
}

function readClips(base: string): Float32Array[] {
  const lengths = new Int32Array(bytesOf(`${base}.len`));
  const all = new Float32Array(bytesOf(`${base}.wav`));
  const clips: Float32Array[] = [];
  let at = 0;
  for (const n of lengths) {
    clips.push(all.subarray(at, at + n));
    at += n;
  }
  return clips;
}

interface FeatureResult {
  fbank_audio_s_per_s: number;
  logmel_audio_s_per_s: number;
  peak_rss_mb: number;
}

/** Lepton's batched feature functions with 1 and 2 ORT threads; the faster of each counts (as for torchaudio). */
function leptonFeatures(base: string, reps: number): FeatureResult {
  const clips = readClips(base);
  const seconds = clips.reduce((s, c) => s + c.length, 0) / 16000;
  const best = (f: (threads: number) => unknown) => Math.min(...[1, 2].map((t) => timeMs(() => f(t), reps)));
  const fb = best((threads) => fbankClips(clips, { numMelBins: FEATURE_BINS, scale: 32768, threads }));
  const lm = best((threads) =>
    logMelClips(clips, { sampleRate: 16000, nFft: 512, winLength: 400, hopLength: 160, nMels: FEATURE_BINS, threads }),
  );
  return {
    fbank_audio_s_per_s: seconds / (fb / 1000),
    logmel_audio_s_per_s: seconds / (lm / 1000),
    peak_rss_mb: rssMb(),
  };
}

export async function featureExtraction(options: BenchOptions): Promise<BenchResults> {
  const rounds = options.quick ? 1 : 3,
    reps = options.quick ? 3 : 7;
  const lengths = clipLengths();
  const u = seededUniform(9);
  const wave = new Float32Array(lengths.reduce((a, b) => a + b, 0));
  for (let i = 0; i < wave.length; i++) wave[i] = 0.3 * Math.sin(i * 0.05 * (1 + (i % 7) / 7)) + 0.05 * (u() - 0.5);
  const dir = mkdtempSync(join(tmpdir(), 'lepton-bench-features-'));
  const base = join(dir, 'clips');
  writeFileSync(`${base}.len`, Int32Array.from(lengths));
  writeFileSync(`${base}.wav`, wave);
  let peerError = torchMissing();
  const lep: FeatureResult[] = [],
    torch: FeatureResult[] = [],
    fbRatio: number[] = [],
    lmRatio: number[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      let l: FeatureResult | undefined, best: FeatureResult | undefined;
      for (const who of r % 2 ? ['peer', 'lepton'] : ['lepton', 'peer']) {
        if (who === 'lepton') lep.push((l = child('features', [base, String(reps)]) as unknown as FeatureResult));
        else if (!peerError) {
          for (const threads of [1, 2]) {
            const p = peer([
              'features',
              base,
              '--bins',
              String(FEATURE_BINS),
              '--reps',
              String(reps),
              '--threads',
              String(threads),
            ]);
            if (typeof p === 'string') peerError = p;
            else {
              // The faster thread count of each feature counts.
              const q = p as unknown as FeatureResult;
              best = best
                ? {
                    fbank_audio_s_per_s: Math.max(best.fbank_audio_s_per_s, q.fbank_audio_s_per_s),
                    logmel_audio_s_per_s: Math.max(best.logmel_audio_s_per_s, q.logmel_audio_s_per_s),
                    peak_rss_mb: Math.max(best.peak_rss_mb, q.peak_rss_mb),
                  }
                : q;
            }
          }
          if (best) torch.push(best);
        }
      }
      if (l && best) {
        fbRatio.push(l.fbank_audio_s_per_s / best.fbank_audio_s_per_s);
        lmRatio.push(l.logmel_audio_s_per_s / best.logmel_audio_s_per_s);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const med = (xs: FeatureResult[], k: keyof FeatureResult) => median(xs.map((x) => x[k]));
  const res: BenchResults = {
    fbank_audio_s_per_s: med(lep, 'fbank_audio_s_per_s'),
    fbank_torchaudio_audio_s_per_s: peerError ? null : med(torch, 'fbank_audio_s_per_s'),
    fbank_ratio_vs_torchaudio: peerError ? null : median(fbRatio),
    logmel_audio_s_per_s: med(lep, 'logmel_audio_s_per_s'),
    logmel_torchaudio_audio_s_per_s: peerError ? null : med(torch, 'logmel_audio_s_per_s'),
    logmel_ratio_vs_torchaudio: peerError ? null : median(lmRatio),
    features_peak_rss_mb: Math.max(...lep.map((l) => l.peak_rss_mb)),
    features_torch_peak_rss_mb: peerError ? null : Math.max(...torch.map((t) => t.peak_rss_mb)),
  };
  const seconds = wave.length / 16000;
  printTable([
    [
      `features, ${lengths.length} clips 1–10 s (${seconds.toFixed(0)} s of audio), audio s/s`,
      'Lepton',
      'torchaudio',
      'ratio',
    ],
    [
      'Kaldi fbank, 80 bins',
      na(res.fbank_audio_s_per_s as number, 0),
      na(res.fbank_torchaudio_audio_s_per_s as number | null, 0),
      na(res.fbank_ratio_vs_torchaudio as number | null, 2),
    ],
    [
      'log-mel (n_fft 512, 80 mels, dB)',
      na(res.logmel_audio_s_per_s as number, 0),
      na(res.logmel_torchaudio_audio_s_per_s as number | null, 0),
      na(res.logmel_ratio_vs_torchaudio as number | null, 2),
    ],
    [
      'peak RSS MB',
      na(res.features_peak_rss_mb as number, 0),
      na(res.features_torch_peak_rss_mb as number | null, 0),
      '',
    ],
  ]);
  if (peerError) console.log(peerError);
  return res;
}

async function childMain(argv: string[]): Promise<void> {
  const [mode, base, a, b] = argv;
  const out = mode === 'train' ? await leptonTrain(base!, Number(a), Number(b)) : leptonFeatures(base!, Number(a));
  console.log(JSON.stringify(out));
}

if (process.argv[2] === '--child' && process.argv[1] === fileURLToPath(import.meta.url)) {
  import('../src/engine/index.js')
    .then(() => childMain(process.argv.slice(3)))
    .then(
      () => process.exit(0),
      (e) => {
        console.error(e);
        process.exit(1);
      },
    );
}
