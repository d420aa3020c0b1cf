/**
 * Batches for fit/evaluate/predict: from in-memory tensors (sliced and shuffled on the host with
 * the project PRNG) or from any async iterable of batches ([x, y], [x, y, sampleWeight] or
 * {x, y, sampleWeight}) such as a Dataset.
 */
import { allocate } from '../engine/dtype.js';
import { globalGenerator } from '../engine/random.js';
import { Tensor, tensor } from '../engine/tensor.js';
import { numel } from '../engine/shape.js';

export type InputData = Tensor | Tensor[] | Record<string, Tensor>;

export interface Batch {
  xs: Tensor[];
  /** Targets, one per model output. */
  ys?: Tensor[];
  sampleWeight?: Tensor;
  size: number;
  /** The batch's arrays were made for it alone (copied rows): they may move to a worker instead of being copied. */
  owned?: boolean;
}

export interface BatchSource {
  /** Batches per pass, when known. */
  steps?: number;
  batches(shuffle: boolean): AsyncIterable<Batch>;
}

export function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return (
    v !== null &&
    typeof v === 'object' &&
    typeof (v as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function' &&
    !(v instanceof Tensor)
  );
}

/** Input tensors in the model's input order (records are ordered by `inputNames`). */
export function inputList(x: InputData, inputNames: readonly string[] = [], who = 'fit'): Tensor[] {
  if (x instanceof Tensor) return [x];
  if (Array.isArray(x)) {
    if (!x.every((t) => t instanceof Tensor))
      throw new Error(`${who}: x must be a Tensor, an array of Tensors or a record of Tensors`);
    return x;
  }
  if (x && typeof x === 'object') {
    const rec = x as Record<string, Tensor>;
    const names = inputNames.length ? inputNames : Object.keys(rec);
    return names.map((n) => {
      if (!(rec[n] instanceof Tensor))
        throw new Error(`${who}: input '${n}' is missing (got keys ${Object.keys(rec).join(', ')})`);
      return rec[n];
    });
  }
  throw new Error(
    `${who}: x must be a Tensor, an array of Tensors, a record of Tensors or an async iterable of batches, got ${String(x)}`,
  );
}

/** Targets in the model's output order (records are ordered by `outputNames`). */
export function targetList(y: unknown, outputNames: readonly string[] = [], who = 'fit'): Tensor[] | undefined {
  if (y === undefined || y === null) return undefined;
  if (y instanceof Tensor) return [y];
  if (Array.isArray(y) && y.every((t) => t instanceof Tensor)) return y;
  if (typeof y === 'object' && !Array.isArray(y)) {
    const rec = y as Record<string, Tensor>;
    const names = outputNames.length ? outputNames : Object.keys(rec);
    return names.map((n) => {
      if (!(rec[n] instanceof Tensor))
        throw new Error(`${who}: targets for output '${n}' are missing (got keys ${Object.keys(rec).join(', ')})`);
      return rec[n];
    });
  }
  throw new Error(`${who}: targets y must be a Tensor, an array of Tensors or a record of Tensors by output name`);
}

/** Rows `idx[start..end)` of t, copied into a new tensor. */
export function takeRows(t: Tensor, idx: ArrayLike<number>, start: number, end: number): Tensor {
  const rowShape = t.shape.slice(1) as number[];
  const rowSize = numel(rowShape);
  const n = end - start;
  const src = t.data;
  const out = allocate(t.dtype, n * rowSize);
  let contiguous = true;
  for (let r = 1; r < n && contiguous; r++) contiguous = idx[start + r] === idx[start] + r;
  if (contiguous) (out as any).set(src.subarray(idx[start] * rowSize, (idx[start] + n) * rowSize));
  else
    for (let r = 0; r < n; r++)
      (out as any).set(src.subarray(idx[start + r] * rowSize, (idx[start + r] + 1) * rowSize), r * rowSize);
  return new Tensor([n, ...rowShape], t.dtype, out);
}

function rows(t: Tensor, who: string): number {
  if (t.isSymbolic || t.rank === 0)
    throw new Error(`${who}: data tensors must be concrete with a batch axis, got [${t.shape}]`);
  return t.shape[0] as number;
}

/** The class index of each row of y (integer labels, one-hot rows, or a single 0/1 column). */
export function classOfRows(y: Tensor): number[] {
  const n = y.shape[0] as number;
  const width = y.size / n;
  const d = y.data;
  const out: number[] = [];
  for (let r = 0; r < n; r++) {
    if (width === 1) out.push(Math.round(Number(d[r])));
    else {
      let best = 0;
      for (let c = 1; c < width; c++) if (Number(d[r * width + c]) > Number(d[r * width + best])) best = c;
      out.push(best);
    }
  }
  return out;
}

/** Per-row weights: sampleWeight × classWeight[class of the row]; undefined when neither is given. */
export function rowWeights(
  y: Tensor | undefined,
  sampleWeight: Tensor | undefined,
  classWeight: Record<number, number> | undefined,
): Tensor | undefined {
  if (!sampleWeight && !classWeight) return undefined;
  const n = sampleWeight ? (sampleWeight.shape[0] as number) : (y!.shape[0] as number);
  const w = new Float32Array(n).fill(1);
  if (sampleWeight) {
    if (sampleWeight.size !== n)
      throw new Error(`fit: sampleWeight must have one value per sample, got shape [${sampleWeight.shape}]`);
    for (let i = 0; i < n; i++) w[i] = Number(sampleWeight.data[i]);
  }
  if (classWeight) {
    if (!y) throw new Error('fit: classWeight needs targets y');
    classOfRows(y).forEach((c, i) => {
      w[i] *= classWeight[c] ?? 1;
    });
  }
  return tensor(w);
}

/** Batches over in-memory tensors. */
export function tensorSource(
  xs: Tensor[],
  ys: Tensor[] | undefined,
  sampleWeight: Tensor | undefined,
  batchSize: number,
  who = 'fit',
): BatchSource {
  const n = rows(xs[0], who);
  const all = [...xs, ...(ys ?? []), ...(sampleWeight ? [sampleWeight] : [])];
  for (const t of all) {
    if (rows(t, who) !== n) {
      throw new Error(
        `${who}: inputs, targets and sample weights must have the same number of rows; got ${all.map((u) => `[${u.shape}]`).join(', ')}`,
      );
    }
  }
  if (!(Number.isInteger(batchSize) && batchSize > 0))
    throw new Error(`${who}: batchSize must be a positive integer, got ${batchSize}`);
  return {
    steps: Math.ceil(n / batchSize),
    async *batches(shuffle: boolean) {
      const idx = new Int32Array(n).map((_, i) => i);
      if (shuffle) globalGenerator.shuffle(idx);
      for (let start = 0; start < n; start += batchSize) {
        const end = Math.min(n, start + batchSize);
        yield {
          xs: xs.map((t) => takeRows(t, idx, start, end)),
          ys: ys?.map((t) => takeRows(t, idx, start, end)),
          sampleWeight: sampleWeight && takeRows(sampleWeight, idx, start, end),
          size: end - start,
          owned: true,
        };
      }
    },
  };
}

/** Batches from an async iterable of [x, y(, sw)] or {x, y, sampleWeight}. */
export function iterableSource(
  data: AsyncIterable<unknown>,
  inputNames: readonly string[],
  outputNames: readonly string[],
  classWeight: Record<number, number> | undefined,
  who = 'fit',
): BatchSource {
  const cardinality = (data as { cardinality?: unknown }).cardinality;
  return {
    steps: typeof cardinality === 'number' && Number.isFinite(cardinality) ? cardinality : undefined,
    async *batches() {
      for await (const item of data) {
        let x: unknown;
        let y: unknown;
        let sw: unknown;
        if (
          Array.isArray(item) &&
          !(
            item.length > 0 &&
            item.every((t) => t instanceof Tensor) &&
            item.length === inputNames.length &&
            inputNames.length > 1
          )
        ) {
          [x, y, sw] = item;
        } else if (item && typeof item === 'object' && !(item instanceof Tensor) && 'x' in item) {
          ({ x, y, sampleWeight: sw } = item as { x: unknown; y?: unknown; sampleWeight?: unknown });
        } else {
          x = item;
        }
        const xs = inputList(x as InputData, inputNames, who);
        const ys = targetList(y, outputNames, who);
        const weights = rowWeights(ys?.[0], sw instanceof Tensor ? sw : undefined, classWeight);
        yield { xs, ys, sampleWeight: weights, size: xs[0].shape[0] as number };
      }
    },
  };
}
