/**
 * Inference through `model.predict` against raw onnxruntime-node running the model's exported ONNX
 * file: the same inputs in the same batches, the same intra-op thread count, interleaved rounds.
 * The predictions are compared first, so the two sides provably compute the same thing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { Tensor } from '../src/engine/tensor.js';
import type { Model } from '../src/index.js';
import { median } from './harness.js';

export interface PredictVsOrt {
  /** Images (rows) per second through predict, median over rounds. */
  lepton: number;
  /** Images (rows) per second through raw ORT on the exported file, median over rounds. */
  ort: number;
  /** Median of the per-round ratios lepton / ort. */
  ratio: number;
}

/**
 * `x`'s rows in batches of `batchSize` (x's row count must be a multiple). The model must be
 * compiled (predict's worker session takes `session.intraOpNumThreads` from compile): `threads`
 * is the raw session's count and should equal it.
 */
export async function predictVsOrt(
  model: Model,
  x: Tensor,
  options: { batchSize: number; threads: number; rounds?: number },
): Promise<PredictVsOrt> {
  const { batchSize, threads, rounds = 5 } = options;
  const rows = x.shape[0] as number;
  const rowShape = x.shape.slice(1) as number[];
  const rowSize = rowShape.reduce((a, b) => a * b, 1);
  if (rows % batchSize !== 0) throw new Error(`predictVsOrt: ${rows} rows are not a multiple of batch ${batchSize}`);
  const data = x.data as Float32Array;
  const dir = mkdtempSync(join(tmpdir(), 'lepton-bench-infer-'));
  try {
    const file = join(dir, 'model.onnx');
    await model.exportOnnx(file);
    const session = await ort.InferenceSession.create(file, { intraOpNumThreads: threads });
    const feedName = session.inputNames[0];
    const chunks = Array.from(
      { length: rows / batchSize },
      (_, i) =>
        new ort.Tensor('float32', data.subarray(i * batchSize * rowSize, (i + 1) * batchSize * rowSize), [
          batchSize,
          ...rowShape,
        ]),
    );
    const p = (await model.predict(x, { batchSize, verbose: 0 })) as Tensor;
    const r = (await session.run({ [feedName]: chunks[0] }))[session.outputNames[0]].data as Float32Array;
    const pd = p.data as Float32Array;
    for (let i = 0; i < Math.min(r.length, 1000); i++) {
      if (Math.abs(pd[i] - r[i]) > 1e-4 * (1 + Math.abs(r[i])))
        throw new Error(`predictVsOrt: predict and the exported model disagree at ${i}: ${pd[i]} vs ${r[i]}`);
    }
    const lepton: number[] = [];
    const raw: number[] = [];
    for (let round = 0; round < rounds; round++) {
      // Alternate which side goes first, so drift in the machine's load does not favour one.
      for (const side of round % 2 ? ['ort', 'lepton'] : ['lepton', 'ort']) {
        const t0 = performance.now();
        if (side === 'lepton') await model.predict(x, { batchSize, verbose: 0 });
        else for (const c of chunks) await session.run({ [feedName]: c });
        (side === 'lepton' ? lepton : raw).push(rows / ((performance.now() - t0) / 1000));
      }
    }
    await session.release();
    return { lepton: median(lepton), ort: median(raw), ratio: median(lepton.map((l, i) => l / raw[i])) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
