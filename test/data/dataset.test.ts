import { describe, expect, it } from 'vitest';
import { Dataset } from '../../src/data/index.js';
import { setSeed } from '../../src/engine/random.js';
import { Tensor, tensor } from '../../src/engine/tensor.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** x[i] = [i, i + 0.5], y[i] = i — so every element says which row it came from. */
function rows(n: number): [Tensor, Tensor] {
  const x = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) [x[2 * i], x[2 * i + 1]] = [i, i + 0.5];
  return [
    new Tensor([n, 2], 'float32', x),
    new Tensor(
      [n],
      'int32',
      Int32Array.from({ length: n }, (_, i) => i),
    ),
  ];
}

async function labels(ds: Dataset<[Tensor, Tensor]>): Promise<number[]> {
  return (await ds.toArray()).map(([, y]) => y.item());
}

describe('Dataset sources', () => {
  it('fromTensors slices rows along the first axis and pairs x with y', async () => {
    const [x, y] = rows(5);
    const ds = Dataset.fromTensors(x, y);
    expect(ds.cardinality).toBe(5);
    const elements = await ds.toArray();
    expect(elements).toHaveLength(5);
    elements.forEach(([xi, yi], i) => {
      expect(xi.shape).toEqual([2]);
      expect(Array.from(xi.data as ArrayLike<number>)).toEqual([i, i + 0.5]);
      expect(yi.shape).toEqual([]);
      expect(yi.dtype).toBe('int32');
      expect(yi.item()).toBe(i);
    });
    // a second pass sees the same elements
    expect(await labels(ds)).toEqual([0, 1, 2, 3, 4]);
  });

  it('fromTensorSlices keeps the structure of objects and rejects unequal first dimensions', async () => {
    const ds = Dataset.fromTensorSlices({
      a: tensor([
        [1, 2],
        [3, 4],
        [5, 6],
      ]),
      b: { c: tensor([7, 8, 9]) },
    });
    const third = (await ds.toArray())[2];
    expect(Array.from(third.a.data as ArrayLike<number>)).toEqual([5, 6]);
    expect(third.b.c.item()).toBe(9);
    expect(() => Dataset.fromTensorSlices([tensor([1, 2]), tensor([1, 2, 3])])).toThrow(
      /same first dimension.*\[2\].*\[3\]/,
    );
  });

  it('fromGenerator restarts sync and async generators at every pass', async () => {
    let calls = 0;
    const sync = Dataset.fromGenerator(function* () {
      calls++;
      yield* [1, 2, 3];
    });
    expect(sync.cardinality).toBeUndefined();
    expect(await sync.toArray()).toEqual([1, 2, 3]);
    expect(await sync.toArray()).toEqual([1, 2, 3]);
    expect(calls).toBe(2);
    const asyncDs = Dataset.fromGenerator(
      async function* () {
        for (let i = 0; i < 3; i++) {
          await sleep(1);
          yield i * 10;
        }
      },
      { cardinality: 3 },
    );
    expect(asyncDs.cardinality).toBe(3);
    expect(await asyncDs.toArray()).toEqual([0, 10, 20]);
  });
});

describe('Dataset.batch', () => {
  it('stacks rows into [batch, ...] tensors with a short last batch, or drops it', async () => {
    const [x, y] = rows(10);
    const batches = await Dataset.fromTensors(x, y).batch(4).toArray();
    expect(Dataset.fromTensors(x, y).batch(4).cardinality).toBe(3);
    expect(batches.map(([bx]) => bx.shape)).toEqual([
      [4, 2],
      [4, 2],
      [2, 2],
    ]);
    expect(batches.map(([, by]) => Array.from(by.data as ArrayLike<number>))).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
    expect(batches[2][1].dtype).toBe('int32');
    // stacked values are the rows in order
    expect(Array.from(batches[1][0].data as ArrayLike<number>)).toEqual([4, 4.5, 5, 5.5, 6, 6.5, 7, 7.5]);
    const dropped = Dataset.fromTensors(x, y).batch(4, { dropRemainder: true });
    expect(dropped.cardinality).toBe(2);
    expect((await dropped.toArray()).map(([bx]) => bx.shape[0])).toEqual([4, 4]);
  });

  it('stacks objects, numbers and strings, and names mismatches', async () => {
    const ds = Dataset.fromArray([
      { image: tensor([[1, 2]]), label: 3, id: 'a' },
      { image: tensor([[5, 6]]), label: 4, id: 'b' },
    ]);
    const [b] = await ds.batch(2).toArray();
    expect(b.image.shape).toEqual([2, 1, 2]);
    expect(Array.from(b.image.data as ArrayLike<number>)).toEqual([1, 2, 5, 6]);
    expect(b.label.dtype).toBe('float32');
    expect(Array.from(b.label.data as ArrayLike<number>)).toEqual([3, 4]);
    expect(b.id).toEqual(['a', 'b']);
    const ragged = Dataset.fromArray([tensor([1, 2]), tensor([1, 2, 3])]).batch(2);
    await expect(ragged.toArray()).rejects.toThrow(
      /element 1 of the batch is Tensor \[3\] float32 but element 0 is Tensor \[2\] float32/,
    );
  });
});

describe('Dataset.shuffle', () => {
  it('is a permutation, for every buffer size, on indexed and streamed sources', async () => {
    const [x, y] = rows(50);
    for (const buffer of [1, 7, 50, 1000]) {
      const indexed = await labels(Dataset.fromTensors(x, y).shuffle(buffer, { seed: 3 }));
      expect([...indexed].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      const streamed = await Dataset.fromGenerator(function* () {
        for (let i = 0; i < 50; i++) yield i;
      })
        .shuffle(buffer, { seed: 3 })
        .toArray();
      expect([...streamed].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      if (buffer === 1)
        expect(streamed).toEqual(Array.from({ length: 50 }, (_, i) => i)); // a 1-element buffer cannot reorder
      else expect(streamed).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
    }
  });

  it('a full buffer moves elements anywhere; a small one only a bounded distance ahead', async () => {
    const n = 200;
    const source = Dataset.fromGenerator(function* () {
      for (let i = 0; i < n; i++) yield i;
    });
    // with buffer k, the element at output position p is one of the first p + k inputs
    const small = await source.shuffle(5, { seed: 1 }).toArray();
    small.forEach((v, p) => expect(v).toBeLessThan(p + 5));
    const full = await source.shuffle(n, { seed: 1 }).toArray();
    expect(full.slice(0, 20).some((v) => v >= 100)).toBe(true);
  });

  it('is repeatable with a seed, reshuffles at every pass, and can keep one order', async () => {
    const [x, y] = rows(30);
    const a = Dataset.fromTensors(x, y).shuffle(30, { seed: 42 });
    const b = Dataset.fromTensors(x, y).shuffle(30, { seed: 42 });
    const a1 = await labels(a);
    const a2 = await labels(a);
    expect(await labels(b)).toEqual(a1);
    expect(await labels(b)).toEqual(a2);
    expect(a2).not.toEqual(a1);
    expect(await labels(Dataset.fromTensors(x, y).shuffle(30, { seed: 43 }))).not.toEqual(a1);
    const fixed = Dataset.fromTensors(x, y).shuffle(30, { seed: 5, reshuffleEachIteration: false });
    expect(await labels(fixed)).toEqual(await labels(fixed));
  });

  it('without a seed draws from the global generator (repeatable under setSeed)', async () => {
    const [x, y] = rows(30);
    setSeed(7);
    const first = await labels(Dataset.fromTensors(x, y).shuffle(30));
    setSeed(7);
    const again = await labels(Dataset.fromTensors(x, y).shuffle(30));
    expect(again).toEqual(first);
  });

  it('after a map, shuffles the inputs and maps lazily (no buffer of mapped elements)', async () => {
    let calls = 0;
    const mapped = Dataset.fromArray(Array.from({ length: 100 }, (_, i) => i)).map((v) => {
      calls++;
      return v * 2;
    });
    const shuffled = mapped.shuffle(100, { seed: 9 });
    const firstTwo = await shuffled.take(2).toArray();
    expect(calls).toBe(2);
    const all = await shuffled.toArray();
    expect([...all].sort((p, q) => p - q)).toEqual(Array.from({ length: 100 }, (_, i) => 2 * i));
    expect(firstTwo.every((v) => v % 2 === 0)).toBe(true);
  });
});

describe('Dataset.map and prefetch', () => {
  it('map with parallel keeps order and runs at most `parallel` calls at once', async () => {
    let active = 0;
    let maxActive = 0;
    const ds = Dataset.fromArray(Array.from({ length: 12 }, (_, i) => i)).map(
      async (v) => {
        active++;
        maxActive = Math.max(maxActive, active);
        await sleep(((v * 7) % 5) + 1); // uneven durations: later calls often finish first
        active--;
        return v * v;
      },
      { parallel: 3 },
    );
    expect(await ds.toArray()).toEqual(Array.from({ length: 12 }, (_, i) => i * i));
    expect(maxActive).toBe(3);
  });

  it('prefetch runs upstream work while the consumer is busy; without it nothing overlaps', async () => {
    const run = async (prefetch: boolean): Promise<{ overlapped: number; maxAhead: number }> => {
      let consumerBusy = false;
      let overlapped = 0;
      let produced = 0;
      let consumed = 0;
      let maxAhead = 0;
      let ds = Dataset.fromArray(Array.from({ length: 8 }, (_, i) => i)).map(async (v) => {
        if (consumerBusy) overlapped++;
        await sleep(5); // "decoding"
        produced++;
        maxAhead = Math.max(maxAhead, produced - consumed);
        return v;
      });
      if (prefetch) ds = ds.prefetch(2);
      const seen: number[] = [];
      for await (const v of ds) {
        seen.push(v);
        consumed++;
        consumerBusy = true;
        await sleep(10); // "training step"
        consumerBusy = false;
      }
      expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      return { overlapped, maxAhead };
    };
    const serial = await run(false);
    expect(serial.overlapped).toBe(0);
    const piped = await run(true);
    expect(piped.overlapped).toBeGreaterThanOrEqual(4);
    // bounded: the buffer (2) plus the element being handed over
    expect(piped.maxAhead).toBeLessThanOrEqual(3);
  });

  it('prefetch delivers the elements before an upstream error, then the error', async () => {
    const ds = Dataset.fromGenerator(async function* () {
      yield 1;
      yield 2;
      throw new Error('bad record 3');
    }).prefetch(4);
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const v of ds) seen.push(v);
      })(),
    ).rejects.toThrow('bad record 3');
    expect(seen).toEqual([1, 2]);
  });

  it('stopping early closes the upstream generator', async () => {
    let closed = false;
    let pulled = 0;
    const ds = Dataset.fromGenerator(async function* () {
      try {
        for (let i = 0; ; i++) {
          pulled++;
          yield i;
        }
      } finally {
        closed = true;
      }
    })
      .map((v) => v + 1)
      .prefetch(3);
    for await (const v of ds) if (v >= 2) break;
    expect(closed).toBe(true);
    expect(pulled).toBeLessThan(10);
  });
});

describe('take, skip, repeat, filter', () => {
  it('follow tf.data semantics and cardinalities', async () => {
    const ds = Dataset.fromArray([0, 1, 2, 3, 4, 5, 6]);
    expect(await ds.take(3).toArray()).toEqual([0, 1, 2]);
    expect(ds.take(3).cardinality).toBe(3);
    expect(ds.take(100).cardinality).toBe(7);
    expect(await ds.skip(5).toArray()).toEqual([5, 6]);
    expect(ds.skip(5).cardinality).toBe(2);
    expect(await ds.skip(10).toArray()).toEqual([]);
    expect(await ds.take(2).repeat(3).toArray()).toEqual([0, 1, 0, 1, 0, 1]);
    expect(ds.repeat(3).cardinality).toBe(21);
    expect(ds.repeat().cardinality).toBe(Infinity);
    expect(await ds.repeat().take(9).toArray()).toEqual([0, 1, 2, 3, 4, 5, 6, 0, 1]);
    await expect(ds.repeat().toArray()).rejects.toThrow(/infinite/);
    const even = ds.filter((v) => v % 2 === 0);
    expect(even.cardinality).toBeUndefined();
    expect(await even.toArray()).toEqual([0, 2, 4, 6]);
    expect(await Dataset.fromArray<number>([]).repeat().take(3).toArray()).toEqual([]);
    // skip on a streamed source
    const streamed = Dataset.fromGenerator(function* () {
      yield* [1, 2, 3];
    });
    expect(await streamed.skip(1).toArray()).toEqual([2, 3]);
  });

  it('repeat gives each repetition a fresh shuffle; an epoch pipeline batches as fit() consumes it', async () => {
    const [x, y] = rows(6);
    const epochs = await labels(Dataset.fromTensors(x, y).shuffle(6, { seed: 1 }).repeat(2));
    expect(epochs).toHaveLength(12);
    expect([...epochs.slice(0, 6)].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect([...epochs.slice(6)].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(epochs.slice(0, 6)).not.toEqual(epochs.slice(6));
    const pipeline = Dataset.fromTensors(x, y).shuffle(6, { seed: 2 }).batch(4).prefetch(2);
    expect(pipeline.cardinality).toBe(2);
    const got: number[] = [];
    for await (const [bx, by] of pipeline) {
      expect(bx.shape[1]).toBe(2);
      // every row still pairs with its own label
      for (let i = 0; i < by.size; i++) {
        expect(bx.data[2 * i]).toBe(Number(by.data[i]));
      }
      got.push(...Array.from(by.data as Int32Array));
    }
    expect(got.sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe('zip, concatenate, unbatch', () => {
  it('zip pairs elements (array or object form) and stops with the shortest', async () => {
    const a = Dataset.fromArray([1, 2, 3]);
    const b = Dataset.fromArray(['x', 'y']);
    expect(await Dataset.zip([a, b]).toArray()).toEqual([
      [1, 'x'],
      [2, 'y'],
    ]);
    expect(Dataset.zip([a, b]).cardinality).toBe(2);
    expect(await Dataset.zip({ n: a, s: b }).toArray()).toEqual([
      { n: 1, s: 'x' },
      { n: 2, s: 'y' },
    ]);
  });

  it('concatenate chains passes; unbatch inverts batch', async () => {
    const c = Dataset.fromArray([1, 2]).concatenate(Dataset.fromArray([3]));
    expect(c.cardinality).toBe(3);
    expect(await c.toArray()).toEqual([1, 2, 3]);
    const [x, y] = rows(5);
    const back = await Dataset.fromTensors(x, y).batch(2).unbatch().toArray();
    expect(back.map(([xi, yi]) => [Array.from(xi.data as Float32Array), yi.item()])).toEqual(
      [0, 1, 2, 3, 4].map((i) => [[i, i + 0.5], i]),
    );
  });

  it('map keeps tuple element types, so batches type-check as [x, y] pairs', async () => {
    const [x, y] = rows(4);
    const pairs = Dataset.fromTensors(x, y)
      .map(([xi, yi]) => [xi, yi])
      .batch(4);
    const typed: AsyncIterable<[Tensor, Tensor]> = pairs; // a compile-time check as much as a runtime one
    for await (const [bx, by] of typed) {
      expect(bx.shape).toEqual([4, 2]);
      expect(by.shape).toEqual([4]);
    }
  });
});
