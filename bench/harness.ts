/** Shared benchmark helpers: timing with warm-up and medians, and table printing. */
import { ONNX_ELEM_TYPE } from '../src/engine/dtype.js';
import type { Callback } from '../src/train/callbacks.js';
import { type ModelProto, type NodeProto, encodeModel } from '../src/engine/onnx/proto.js';

export interface BenchOptions {
  /** Fewer repetitions (smoke runs, CI). */
  quick: boolean;
  /** ORT intra-op threads for sessions that measure throughput. */
  threads: number;
  /** Any other `--key value` options, for benches that need them. */
  extra: Record<string, string>;
}

/** What a bench module returns: flat machine-readable results (written by --json). */
export type BenchResults = Record<string, number | string | boolean | null>;

export interface BenchModule {
  description: string;
  run(options: BenchOptions): Promise<BenchResults>;
}

/** A small deterministic generator of uniform [0, 1) numbers (benches must not depend on Lepton's RNG). */
export function seededUniform(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** Peak resident set size of this process (all threads), MB. */
export function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/**
 * Milliseconds per step from fit's own callbacks: gaps between batch ends after the first
 * (compiling) epoch; also that epoch's wall time and the CPU time per step after it.
 */
export class StepTimer implements Callback {
  epoch = 0;
  gaps: number[] = [];
  first = 0;
  /** CPU milliseconds of the whole process (all threads) per step of the timed epoch. */
  cpuPerStep = 0;
  private last = 0;
  private t0 = 0;
  private batches = 0;
  private c0 = process.cpuUsage();
  onEpochBegin(epoch: number): void {
    this.epoch = epoch;
    this.last = 0;
    this.batches = 0;
    this.t0 = performance.now();
    this.c0 = process.cpuUsage();
  }
  onEpochEnd(): void {
    if (this.epoch === 0) this.first = performance.now() - this.t0;
    else {
      const c = process.cpuUsage(this.c0);
      this.cpuPerStep = (c.user + c.system) / 1000 / this.batches;
    }
  }
  onBatchEnd(): void {
    const now = performance.now();
    this.batches++;
    if (this.epoch > 0 && this.last) this.gaps.push(now - this.last);
    this.last = now;
  }
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Times several variants in interleaved rounds (each round runs every variant once), so that
 * noise from other processes spreads over all variants instead of biasing one. Returns the median
 * milliseconds per variant.
 */
export async function timeInterleaved(
  variants: Record<string, () => unknown | Promise<unknown>>,
  { warmup, runs }: { warmup: number; runs: number },
): Promise<Record<string, number>> {
  const names = Object.keys(variants);
  for (let i = 0; i < warmup; i++) for (const n of names) await variants[n]();
  const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < runs; r++) {
    for (const n of names) {
      const t0 = performance.now();
      await variants[n]();
      times[n].push(performance.now() - t0);
    }
  }
  return Object.fromEntries(names.map((n) => [n, median(times[n])]));
}

/**
 * Times variants in blocks: each round runs every variant once untimed (ORT's intra-op threads
 * of the previous session may still be spinning right after a switch) and then `perRound` timed
 * times; rounds alternate the variant order. Returns the median milliseconds per variant
 * (`samples`, when given, receives every timed run).
 */
export async function timeBlocks(
  variants: Record<string, () => unknown | Promise<unknown>>,
  {
    warmup,
    rounds,
    perRound,
    samples,
  }: { warmup: number; rounds: number; perRound: number; samples?: Record<string, number[]> },
): Promise<Record<string, number>> {
  const names = Object.keys(variants);
  for (let i = 0; i < warmup; i++) for (const n of names) await variants[n]();
  const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    for (const n of r % 2 ? [...names].reverse() : names) {
      await variants[n]();
      for (let i = 0; i < perRound; i++) {
        const t0 = performance.now();
        await variants[n]();
        times[n].push(performance.now() - t0);
      }
    }
  }
  if (samples) Object.assign(samples, times);
  return Object.fromEntries(names.map((n) => [n, median(times[n])]));
}

/** Median milliseconds of `reps` calls of f after one untimed call. */
export function timeMs(f: () => unknown, reps: number): number {
  f();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

/** A `fit` callback recording each epoch's wall time (benches leave out the first, compiling one). */
export class EpochTimer implements Callback {
  times: number[] = [];
  private t0 = 0;
  onEpochBegin(): void {
    this.t0 = performance.now();
  }
  onEpochEnd(): void {
    this.times.push(performance.now() - this.t0);
  }
}

/** Prints rows as an aligned text table (first row = header). */
export function printTable(rows: readonly (readonly (string | number)[])[]): void {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)));
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  cells.forEach((r, k) => {
    console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
    if (k === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  });
}

export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
}

/**
 * A float32 ONNX model built directly as protobuf, independent of Lepton's lowering (the raw-ORT
 * side of the benches). Output shapes may be left empty ([]) where ORT infers them.
 */
export function rawOnnxModel(
  nodes: NodeProto[],
  inputs: { name: string; shape: number[] }[],
  outputs: { name: string; shape: number[] }[],
): Uint8Array {
  const vi = (name: string, shape: number[]) => ({
    name,
    type: { tensor_type: { elem_type: ONNX_ELEM_TYPE.float32, shape: { dim: shape.map((d) => ({ dim_value: d })) } } },
  });
  const model: ModelProto = {
    ir_version: 8,
    producer_name: 'bench',
    opset_import: [{ domain: '', version: 18 }],
    graph: {
      name: 'bench',
      node: nodes,
      input: inputs.map((i) => vi(i.name, i.shape)),
      output: outputs.map((o) => vi(o.name, o.shape)),
    },
  };
  return encodeModel(model);
}
