/**
 * Datasets: lazy, re-iterable async pipelines of elements (tensors or plain arrays/objects of
 * tensors), in the spirit of tf.data. Every `for await` over a dataset starts a fresh pass (an
 * epoch), so shuffles reshuffle and generators restart. Ops return new datasets and never touch
 * the one they were called on.
 */
import { type DType, type TypedArray, allocate } from '../engine/dtype.js';
import { Generator, globalGenerator } from '../engine/random.js';
import { shapeStr, numel } from '../engine/shape.js';
import { Tensor } from '../engine/tensor.js';
import { describeValue as describe, flatten, isPlainObject } from '../engine/tree.js';

/** The element type after `batch()`: tensors gain a leading axis, numbers/booleans become tensors, strings become arrays. */
export type Batched<T> = T extends Tensor
  ? Tensor
  : T extends number | boolean
    ? Tensor
    : T extends string
      ? string[]
      : T extends readonly unknown[]
        ? { -readonly [K in keyof T]: Batched<T[K]> }
        : T extends object
          ? { -readonly [K in keyof T]: Batched<T[K]> }
          : never;

export interface MapOptions {
  /** How many calls of the function may be in flight at once (default 1). Output order is kept. */
  parallel?: number;
}

export interface ShuffleOptions {
  /** Seed for a private generator: the same seed gives the same sequence of epoch orders. Without
   *  it, each epoch draws from the global generator (repeatable under `setSeed`). */
  seed?: number;
  /** Draw a new order at every pass (default true). */
  reshuffleEachIteration?: boolean;
}

export interface BatchOptions {
  /** Drop a last batch that has fewer than `size` elements (default false). */
  dropRemainder?: boolean;
}

/**
 * How a dataset was built, for the rewrites that make shuffling cheap: a shuffle over a source with
 * random access permutes indices instead of buffering elements, and a shuffle after a map moves
 * before the map (the same permutation for element-wise functions), so decoded images or
 * augmented tensors are never held in a shuffle buffer.
 */
type Plan<T> =
  | { kind: 'opaque' }
  | { kind: 'indexed'; length: number; get: (i: number) => T }
  | { kind: 'mapped'; upstream: Dataset<any>; fn: (x: any) => T | Promise<T>; options: MapOptions };

export class Dataset<T> implements AsyncIterable<T> {
  /**
   * Number of elements in one pass when known: `Infinity` after an endless `repeat()`,
   * `undefined` when it cannot be known without iterating (generators, `filter`).
   */
  readonly cardinality: number | undefined;
  private readonly open: () => AsyncIterator<T>;
  private readonly plan: Plan<T>;

  private constructor(
    open: () => AsyncIterator<T>,
    cardinality: number | undefined,
    plan: Plan<T> = { kind: 'opaque' },
  ) {
    this.open = open;
    this.cardinality = cardinality;
    this.plan = plan;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.open();
  }

  // -------------------------------------------------------------------------------------------
  // Sources

  /**
   * Rows of `x` (and of `y`, paired as `[x_i, y_i]`), sliced along the first axis without copying —
   * the shape of data `fit(model, dataset)` consumes after `batch()`. (Unlike tf.data's
   * `from_tensors`, this slices: it is `fromTensorSlices(x)` / `fromTensorSlices([x, y])`.)
   */
  static fromTensors(x: Tensor): Dataset<Tensor>;
  static fromTensors(x: Tensor, y: Tensor): Dataset<[Tensor, Tensor]>;
  static fromTensors(x: Tensor, y?: Tensor): Dataset<Tensor> | Dataset<[Tensor, Tensor]>;
  static fromTensors(x: Tensor, y?: Tensor): Dataset<Tensor> | Dataset<[Tensor, Tensor]> {
    return y === undefined ? Dataset.fromTensorSlices(x) : Dataset.fromTensorSlices<[Tensor, Tensor]>([x, y]);
  }

  /** Slices every tensor of a tensor, or of a plain array/object of tensors, along its first axis. */
  static fromTensorSlices<T>(tree: T): Dataset<T> {
    const flat = flatten(tree);
    if (flat.leaves.length === 0) throw new Error('Dataset.fromTensorSlices: got no tensors to slice');
    const sizes = flat.leaves.map((t) => {
      if (t.isSymbolic)
        throw new Error(
          `Dataset.fromTensorSlices: tensor ${shapeStr(t.shape)} is symbolic; datasets hold concrete tensors`,
        );
      if (t.rank === 0) throw new Error('Dataset.fromTensorSlices: cannot slice a 0-d tensor (it has no first axis)');
      return t.shape[0] as number;
    });
    if (sizes.some((n) => n !== sizes[0])) {
      const shapes = flat.leaves.map((t) => shapeStr(t.shape)).join(', ');
      throw new Error(`Dataset.fromTensorSlices: all tensors must have the same first dimension; got shapes ${shapes}`);
    }
    const slicers = flat.leaves.map(rowSlicer);
    const get = (i: number): T => flat.rebuild(slicers.map((slice) => slice(i))) as T;
    return Dataset.indexed(sizes[0], get);
  }

  /** The items of an array, one element each. */
  static fromArray<T>(items: readonly T[]): Dataset<T> {
    const copy = [...items];
    return Dataset.indexed(copy.length, (i) => copy[i]);
  }

  /**
   * Elements produced by a (sync or async) generator function, called again at every pass.
   * Give `cardinality` when the number of elements is known.
   */
  static fromGenerator<T>(
    fn: () => Iterable<T> | AsyncIterable<T>,
    options: { cardinality?: number } = {},
  ): Dataset<T> {
    return new Dataset<T>(() => {
      const source = fn();
      if (source && typeof (source as AsyncIterable<T>)[Symbol.asyncIterator] === 'function') {
        return (source as AsyncIterable<T>)[Symbol.asyncIterator]();
      }
      if (source && typeof (source as Iterable<T>)[Symbol.iterator] === 'function')
        return fromSync((source as Iterable<T>)[Symbol.iterator]());
      throw new Error(
        'Dataset.fromGenerator: the function must return an iterable or async iterable (e.g. be a function* or async function*)',
      );
    }, options.cardinality);
  }

  /**
   * Pairs up elements of several datasets (an array or object of datasets gives array or object
   * elements); stops with the shortest.
   */
  static zip<const D extends readonly Dataset<any>[] | { readonly [k: string]: Dataset<any> }>(
    datasets: D,
  ): Dataset<{ -readonly [K in keyof D]: D[K] extends Dataset<infer E> ? E : never }> {
    type Out = { -readonly [K in keyof D]: D[K] extends Dataset<infer E> ? E : never };
    const keys = Object.keys(datasets);
    const list = keys.map((k) => (datasets as Record<string, Dataset<unknown>>)[k]);
    const known = list.map((d) => d.cardinality);
    const cardinality = known.some((n) => n === 0)
      ? 0
      : known.some((n) => n === undefined)
        ? undefined
        : Math.min(...(known as number[]));
    const asArray = Array.isArray(datasets);
    return new Dataset<Out>(async function* () {
      const its = list.map((d) => d.open());
      try {
        for (;;) {
          const results = await Promise.all(its.map((it) => it.next()));
          if (results.some((r) => r.done)) return;
          const values = results.map((r) => r.value);
          yield (asArray ? values : Object.fromEntries(keys.map((k, i) => [k, values[i]]))) as Out;
        }
      } finally {
        await Promise.all(its.map((it) => it.return?.()));
      }
    }, cardinality);
  }

  /** A source with random access by index. */
  private static indexed<T>(length: number, get: (i: number) => T): Dataset<T> {
    return new Dataset<T>(
      async function* () {
        for (let i = 0; i < length; i++) yield get(i);
      },
      length,
      { kind: 'indexed', length, get },
    );
  }

  // -------------------------------------------------------------------------------------------
  // Transformations

  /**
   * Applies `fn` to every element. `fn` may be async (e.g. image decoding); with `parallel: k`, up
   * to k calls run at once while the output keeps the input order. Returned array literals keep
   * their tuple type (`([x, y]) => [f(x), y]` gives `readonly [Tensor, Tensor]`).
   */
  map<const U>(fn: (x: T) => U | Promise<U>, options: MapOptions = {}): Dataset<U> {
    const parallel = options.parallel ?? 1;
    if (!Number.isInteger(parallel) || parallel < 1)
      throw new Error(`Dataset.map: parallel must be a positive integer, got ${parallel}`);
    const upstream = this;
    return new Dataset<U>(
      async function* () {
        const it = upstream.open();
        const pending: Promise<U>[] = [];
        let exhausted = false;
        try {
          for (;;) {
            while (!exhausted && pending.length < parallel) {
              const r = await it.next();
              if (r.done) {
                exhausted = true;
                break;
              }
              const result = Promise.resolve(r.value).then(fn);
              result.catch(() => undefined); // reported when awaited; silenced if the consumer stops early
              pending.push(result);
            }
            if (pending.length === 0) return;
            yield await pending.shift()!;
          }
        } finally {
          if (!exhausted) await it.return?.();
        }
      },
      this.cardinality,
      { kind: 'mapped', upstream, fn, options },
    );
  }

  /** Keeps the elements for which `predicate` returns true (it may be async). */
  filter(predicate: (x: T) => boolean | Promise<boolean>): Dataset<T> {
    const upstream = this;
    return new Dataset<T>(async function* () {
      for await (const x of upstream) if (await predicate(x)) yield x;
    }, undefined);
  }

  /**
   * Randomly shuffles elements with a buffer of `bufferSize` (like tf.data): a buffer at least as
   * large as the dataset gives a uniformly random permutation. Draws from the project PRNG.
   */
  shuffle(bufferSize: number, options: ShuffleOptions = {}): Dataset<T> {
    if (!Number.isInteger(bufferSize) || bufferSize < 1)
      throw new Error(`Dataset.shuffle: bufferSize must be a positive integer, got ${bufferSize}`);
    const plan = this.plan;
    if (plan.kind === 'mapped')
      return plan.upstream.shuffle(bufferSize, options).map(plan.fn, plan.options) as Dataset<T>;
    const nextGenerator = epochGenerators(options);
    if (plan.kind === 'indexed') {
      const { length, get } = plan;
      return new Dataset<T>(async function* () {
        for await (const i of bufferShuffle(indices(length), bufferSize, nextGenerator())) yield get(i);
      }, length);
    }
    return new Dataset<T>(() => bufferShuffle(this, bufferSize, nextGenerator()), this.cardinality);
  }

  /**
   * Groups `size` consecutive elements into one, stacking tensors along a new first axis (one
   * typed-array copy per tensor; no ops). Elements must share structure, shapes and dtypes.
   */
  batch(size: number, options: BatchOptions = {}): Dataset<Batched<T>> {
    if (!Number.isInteger(size) || size < 1)
      throw new Error(`Dataset.batch: size must be a positive integer, got ${size}`);
    const dropRemainder = options.dropRemainder ?? false;
    const upstream = this;
    const n = this.cardinality;
    const cardinality =
      n === undefined || n === Infinity ? n : dropRemainder ? Math.floor(n / size) : Math.ceil(n / size);
    return new Dataset<Batched<T>>(async function* () {
      let group: T[] = [];
      for await (const x of upstream) {
        group.push(x);
        if (group.length === size) {
          yield stack(group) as Batched<T>;
          group = [];
        }
      }
      if (group.length > 0 && !dropRemainder) yield stack(group) as Batched<T>;
    }, cardinality);
  }

  /**
   * Produces elements ahead of the consumer into a buffer of up to `bufferSize` elements, so the
   * work upstream (decoding, augmentation, batching) overlaps whatever the consumer awaits (a
   * training step in a worker). Errors upstream reach the consumer after the elements before them.
   */
  prefetch(bufferSize = 2): Dataset<T> {
    if (!Number.isInteger(bufferSize) || bufferSize < 1)
      throw new Error(`Dataset.prefetch: bufferSize must be a positive integer, got ${bufferSize}`);
    return new Dataset<T>(() => prefetchIterator(this.open(), bufferSize), this.cardinality);
  }

  /** The first `count` elements. */
  take(count: number): Dataset<T> {
    checkCount('take', count);
    if (this.plan.kind === 'indexed') return Dataset.indexed(Math.min(count, this.plan.length), this.plan.get);
    const upstream = this;
    return new Dataset<T>(
      async function* () {
        if (count === 0) return;
        let i = 0;
        for await (const x of upstream) {
          yield x;
          if (++i >= count) return;
        }
      },
      this.cardinality === undefined ? (count === 0 ? 0 : undefined) : Math.min(this.cardinality, count),
    );
  }

  /** All but the first `count` elements. */
  skip(count: number): Dataset<T> {
    checkCount('skip', count);
    const upstream = this;
    if (this.plan.kind === 'indexed') {
      const { length, get } = this.plan;
      const start = Math.min(count, length);
      return Dataset.indexed(length - start, (i) => get(start + i));
    }
    return new Dataset<T>(
      async function* () {
        let i = 0;
        for await (const x of upstream) if (i++ >= count) yield x;
      },
      this.cardinality === undefined
        ? undefined
        : this.cardinality === Infinity
          ? Infinity
          : Math.max(0, this.cardinality - count),
    );
  }

  /** Repeats the dataset `count` times (forever without a count); each repetition is a new pass. */
  repeat(count?: number): Dataset<T> {
    if (count !== undefined) checkCount('repeat', count);
    const upstream = this;
    const n = this.cardinality;
    const cardinality =
      n === undefined
        ? count === 0
          ? 0
          : undefined
        : n === 0 || count === 0
          ? 0
          : count === undefined
            ? Infinity
            : n * count;
    return new Dataset<T>(async function* () {
      for (let r = 0; count === undefined || r < count; r++) {
        let empty = true;
        for await (const x of upstream) {
          empty = false;
          yield x;
        }
        if (empty) return; // an empty dataset repeated forever is still empty
      }
    }, cardinality);
  }

  /** This dataset's elements followed by `other`'s. */
  concatenate(other: Dataset<T>): Dataset<T> {
    const first = this;
    const a = this.cardinality;
    const b = other.cardinality;
    return new Dataset<T>(
      async function* () {
        yield* first;
        yield* other;
      },
      a === undefined || b === undefined ? undefined : a + b,
    );
  }

  /** Splits batched elements (tensors or arrays/objects of tensors) back into rows along the first axis. */
  unbatch(): Dataset<T> {
    const upstream = this;
    return new Dataset<T>(async function* () {
      for await (const x of upstream) {
        const flat = flatten(x);
        if (flat.leaves.length === 0) throw new Error('Dataset.unbatch: elements contain no tensors');
        const n = flat.leaves[0].shape[0];
        if (flat.leaves.some((t) => t.rank === 0 || t.shape[0] !== n)) {
          throw new Error(
            `Dataset.unbatch: every tensor needs the same first dimension; got ${flat.leaves.map((t) => shapeStr(t.shape)).join(', ')}`,
          );
        }
        const slicers = flat.leaves.map(rowSlicer);
        for (let i = 0; i < (n as number); i++) yield flat.rebuild(slicers.map((slice) => slice(i))) as T;
      }
    }, undefined);
  }

  /** Runs one pass and collects every element. */
  async toArray(): Promise<T[]> {
    if (this.cardinality === Infinity)
      throw new Error('Dataset.toArray: the dataset is infinite (repeat() without a count); take(n) first');
    const out: T[] = [];
    for await (const x of this) out.push(x);
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

function checkCount(op: string, count: number): void {
  if (!Number.isInteger(count) || count < 0)
    throw new Error(`Dataset.${op}: count must be a non-negative integer, got ${count}`);
}

function fromSync<T>(it: Iterator<T>): AsyncIterator<T> {
  return {
    next: async () => it.next(),
    return: async () => it.return?.() ?? { done: true, value: undefined },
  };
}

function* indices(n: number): Iterable<number> {
  for (let i = 0; i < n; i++) yield i;
}

/** tf.data's shuffle buffer: once full, each new element takes the place of a random buffered one, which is emitted. */
async function* bufferShuffle<T>(
  source: Iterable<T> | AsyncIterable<T>,
  bufferSize: number,
  g: Generator,
): AsyncGenerator<T> {
  const buffer: T[] = [];
  for await (const x of source) {
    if (buffer.length < bufferSize) {
      buffer.push(x);
      continue;
    }
    const j = g.int(0, bufferSize);
    const out = buffer[j];
    buffer[j] = x;
    yield out;
  }
  g.shuffle(buffer);
  yield* buffer;
}

/** One generator per pass: from the seed's stream (repeatable), else from the global generator. */
function epochGenerators(options: ShuffleOptions): () => Generator {
  const reshuffle = options.reshuffleEachIteration ?? true;
  if (options.seed === undefined && reshuffle) return () => globalGenerator.split();
  const seed = options.seed ?? globalGenerator.nextUint32();
  if (!reshuffle) return () => new Generator(seed);
  const stream = new Generator(seed);
  return () => stream.split();
}

/** A function returning row i of t (a view; no copy). */
function rowSlicer(t: Tensor): (i: number) => Tensor {
  const rowShape = t.shape.slice(1) as number[];
  const rowSize = numel(rowShape);
  const data = t.data as Float32Array;
  return (i) => new Tensor(rowShape, t.dtype, data.subarray(i * rowSize, (i + 1) * rowSize) as TypedArray);
}

/** Stacks a group of same-structured elements; tensors by concatenating their typed arrays. */
function stack(group: readonly unknown[], where = 'element'): unknown {
  const first = group[0];
  if (first instanceof Tensor) return stackTensors(group, where);
  if (typeof first === 'number' || typeof first === 'boolean') {
    const dtype: DType = typeof first === 'number' ? 'float32' : 'bool';
    const data = allocate(dtype, group.length) as Float32Array;
    group.forEach((v, i) => {
      if (typeof v !== typeof first) throw mismatch(where, i, describe(v), describe(first));
      data[i] = Number(v);
    });
    return new Tensor([group.length], dtype, data);
  }
  if (typeof first === 'string') {
    group.forEach((v, i) => {
      if (typeof v !== 'string') throw mismatch(where, i, describe(v), 'a string');
    });
    return [...group];
  }
  if (Array.isArray(first)) {
    group.forEach((v, i) => {
      if (!Array.isArray(v) || v.length !== first.length) throw mismatch(where, i, describe(v), describe(first));
    });
    return first.map((_, k) =>
      stack(
        group.map((v) => (v as unknown[])[k]),
        `${where}[${k}]`,
      ),
    );
  }
  if (isPlainObject(first)) {
    const keys = Object.keys(first);
    group.forEach((v, i) => {
      const ok =
        v !== null &&
        typeof v === 'object' &&
        Object.keys(v).length === keys.length &&
        keys.every((k) => k in (v as object));
      if (!ok) throw mismatch(where, i, describe(v), describe(first));
    });
    return Object.fromEntries(
      keys.map((k) => [
        k,
        stack(
          group.map((v) => (v as Record<string, unknown>)[k]),
          `${where}.${k}`,
        ),
      ]),
    );
  }
  throw new Error(
    `Dataset.batch: cannot stack ${where} ${describe(first)}; elements must be tensors, numbers, booleans, strings or plain arrays/objects of them`,
  );
}

function stackTensors(group: readonly unknown[], where: string): Tensor {
  const first = group[0] as Tensor;
  const shape = first.shape as number[];
  const rowSize = first.size;
  const out = allocate(first.dtype, group.length * rowSize) as Float32Array;
  group.forEach((v, i) => {
    if (
      !(v instanceof Tensor) ||
      v.dtype !== first.dtype ||
      v.shape.length !== shape.length ||
      v.shape.some((d, k) => d !== shape[k])
    ) {
      throw mismatch(
        where,
        i,
        describe(v),
        describe(first),
        ' (resize or pad elements to one shape with map() before batching)',
      );
    }
    out.set(v.data as Float32Array, i * rowSize);
  });
  return new Tensor([group.length, ...shape], first.dtype, out);
}

function mismatch(where: string, index: number, got: string, expected: string, hint = ''): Error {
  return new Error(`Dataset.batch: ${where} ${index} of the batch is ${got} but ${where} 0 is ${expected}${hint}`);
}

/** The consumer side of a bounded producer/consumer buffer filled by a background pump. */
function prefetchIterator<T>(it: AsyncIterator<T>, bufferSize: number): AsyncIterator<T> {
  const buffer: T[] = [];
  let failure: { error: unknown } | undefined;
  let finished = false;
  let stopped = false;
  let wakeConsumer: (() => void) | undefined;
  let wakeProducer: (() => void) | undefined;
  const signalConsumer = (): void => {
    wakeConsumer?.();
    wakeConsumer = undefined;
  };
  const signalProducer = (): void => {
    wakeProducer?.();
    wakeProducer = undefined;
  };
  const pump = (async () => {
    try {
      while (!stopped) {
        if (buffer.length >= bufferSize) {
          await new Promise<void>((resolve) => (wakeProducer = resolve));
          continue;
        }
        const r = await it.next();
        if (r.done) break;
        buffer.push(r.value);
        signalConsumer();
      }
    } catch (error) {
      failure = { error };
    } finally {
      finished = true;
      signalConsumer();
    }
  })();
  return {
    async next(): Promise<IteratorResult<T>> {
      for (;;) {
        if (buffer.length > 0) {
          const value = buffer.shift()!;
          signalProducer();
          return { done: false, value };
        }
        if (failure) {
          const { error } = failure;
          failure = undefined;
          throw error;
        }
        if (finished) return { done: true, value: undefined };
        await new Promise<void>((resolve) => (wakeConsumer = resolve));
      }
    },
    async return(): Promise<IteratorResult<T>> {
      stopped = true;
      signalProducer();
      await pump;
      await it.return?.();
      buffer.length = 0;
      return { done: true, value: undefined };
    },
  };
}
