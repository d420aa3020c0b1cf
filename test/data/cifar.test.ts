import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { cifar10, cifar100, parseTar, readTar } from '../../src/data/index.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { tempDir } from '../helpers/temp.js';

/** A pixel value that depends on every coordinate, so any layout mistake shows. */
const pixel = (record: number, c: number, h: number, w: number): number => (record * 11 + c * 85 + h * 7 + w * 3) % 256;

/** The test's own writer of CIFAR binary records: label byte(s), then R, G, B planes, each row-major 32×32. */
function writeRecords(first: number, count: number, labelsOf: (r: number) => number[]): Uint8Array {
  const labelBytes = labelsOf(0).length;
  const size = labelBytes + 3072;
  const out = new Uint8Array(count * size);
  for (let k = 0; k < count; k++) {
    const r = first + k;
    out.set(labelsOf(r), k * size);
    for (let c = 0; c < 3; c++)
      for (let h = 0; h < 32; h++)
        for (let w = 0; w < 32; w++) {
          out[k * size + labelBytes + c * 1024 + h * 32 + w] = pixel(r, c, h, w);
        }
  }
  return out;
}

/** Checks x[n, h, w, c] (NHWC) against the planar source record `first + n`. */
function expectImages(x: Tensor, first: number, count: number, scale = 1): void {
  expect(x.shape).toEqual([count, 32, 32, 3]);
  const d = x.data as Float32Array;
  for (let n = 0; n < count; n++)
    for (let h = 0; h < 32; h++)
      for (let w = 0; w < 32; w++)
        for (let c = 0; c < 3; c++) {
          const got = d[((n * 32 + h) * 32 + w) * 3 + c];
          const want = pixel(first + n, c, h, w) * scale;
          if (Math.abs(got - want) > 1e-6) throw new Error(`x[${n},${h},${w},${c}] = ${got}, expected ${want}`);
        }
}

/** The test's own ustar writer (regular files only). */
function writeTar(files: [string, Uint8Array][]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const [name, data] of files) {
    const header = new Uint8Array(512);
    const put = (text: string, at: number): void => header.set(new TextEncoder().encode(text), at);
    put(name, 0);
    put('0000644\0', 100);
    put('0000000\0', 108);
    put('0000000\0', 116);
    put(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
    put('00000000000\0', 136);
    put('0', 156);
    put('ustar\0', 257);
    put('00', 263);
    header.fill(0x20, 148, 156);
    const sum = header.reduce((a, b) => a + b, 0);
    put(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    blocks.push(header, data, new Uint8Array((512 - (data.length % 512)) % 512));
  }
  blocks.push(new Uint8Array(1024));
  return Buffer.concat(blocks);
}

function cifar10Files(): [string, Uint8Array][] {
  // 5 training batches of 2 records (records 0–9) and a test batch of 3 (records 100–102)
  const files: [string, Uint8Array][] = [1, 2, 3, 4, 5].map((b) => [
    `data_batch_${b}.bin`,
    writeRecords((b - 1) * 2, 2, (r) => [r % 10]),
  ]);
  files.push(['test_batch.bin', writeRecords(100, 3, (r) => [(r * 3) % 10])]);
  return files;
}

function expectCifar10(data: Awaited<ReturnType<typeof cifar10.loadData>>, scale = 1): void {
  expectImages(data.train[0], 0, 10, scale);
  expect(Array.from(data.train[1].data as ArrayLike<number>)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  expect(data.train[1].dtype).toBe('int32');
  expectImages(data.test[0], 100, 3, scale);
  expect(Array.from(data.test[1].data as ArrayLike<number>)).toEqual([0, 3, 6]);
  expect(data.classNames).toEqual([
    'airplane',
    'automobile',
    'bird',
    'cat',
    'deer',
    'dog',
    'frog',
    'horse',
    'ship',
    'truck',
  ]);
}

const savedEnv = process.env.LEPTON_DATA;
afterEach(() => {
  if (savedEnv === undefined) delete process.env.LEPTON_DATA;
  else process.env.LEPTON_DATA = savedEnv;
});

describe('CIFAR binary format', () => {
  it('reads an extracted folder: planar records become NHWC, batches concatenate in order', async () => {
    const dir = tempDir('lepton-cifar-');
    for (const [name, data] of cifar10Files()) writeFileSync(join(dir, name), data);
    expectCifar10(await cifar10.loadData({ path: dir }));
    expectCifar10(await cifar10.loadData({ path: dir, normalize: true }), 1 / 255);
  });

  it('reads the .tar.gz archive directly, and finds it in the LEPTON_DATA cache', async () => {
    const root = tempDir('lepton-cifar-tar-');
    const archive = gzipSync(writeTar(cifar10Files().map(([n, d]) => [`cifar-10-batches-bin/${n}`, d])));
    const archivePath = join(root, 'cifar-10-binary.tar.gz');
    writeFileSync(archivePath, archive);
    expectCifar10(await cifar10.loadData({ path: archivePath }));
    process.env.LEPTON_DATA = root;
    mkdirSync(join(root, 'cifar10'));
    writeFileSync(join(root, 'cifar10', 'cifar-10-binary.tar.gz'), archive);
    expectCifar10(await cifar10.loadData({ download: false }));
  });

  it('CIFAR-100 records carry coarse and fine labels; class names come from the label files', async () => {
    const dir = join(tempDir('lepton-cifar100-'), 'cifar-100-binary');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'train.bin'),
      writeRecords(0, 4, (r) => [r % 20, (r * 7) % 100]),
    );
    writeFileSync(
      join(dir, 'test.bin'),
      writeRecords(50, 2, (r) => [r % 20, (r * 7) % 100]),
    );
    const fine = Array.from({ length: 100 }, (_, i) => `fine${i}`);
    writeFileSync(join(dir, 'fine_label_names.txt'), `${fine.join('\n')}\n`);
    writeFileSync(join(dir, 'coarse_label_names.txt'), Array.from({ length: 20 }, (_, i) => `coarse${i}`).join('\n'));
    // the folder that contains cifar-100-binary/ works too
    const data = await cifar100.loadData({ path: join(dir, '..') });
    expectImages(data.train[0], 0, 4);
    expect(Array.from(data.train[1].data as ArrayLike<number>)).toEqual([0, 7, 14, 21]);
    expect(Array.from(data.test[1].data as ArrayLike<number>)).toEqual([50, 57]);
    expect(data.classNames).toEqual(fine);
    const coarse = await cifar100.loadData({ path: dir, labelMode: 'coarse' });
    expect(Array.from(coarse.train[1].data as ArrayLike<number>)).toEqual([0, 1, 2, 3]);
    expect(Array.from(coarse.test[1].data as ArrayLike<number>)).toEqual([10, 11]);
    expect(coarse.classNames).toHaveLength(20);
    expectImages(coarse.test[0], 50, 2);
  });

  it('rejects files that are not whole records', async () => {
    const dir = tempDir('lepton-cifar-bad-');
    for (const [name, data] of cifar10Files())
      writeFileSync(join(dir, name), name === 'test_batch.bin' ? data.subarray(1) : data);
    await expect(cifar10.loadData({ path: dir })).rejects.toThrow(/not a multiple of the 3073-byte record/);
  });
});

describe('tar reader', () => {
  it('reads archives made by GNU tar, including long names and folders', async () => {
    const root = tempDir('lepton-tar-');
    const longDir = `${'a'.repeat(60)}/${'b'.repeat(60)}`;
    mkdirSync(join(root, 'src', longDir), { recursive: true });
    const payload = Buffer.from(Array.from({ length: 1500 }, (_, i) => (i * 13) % 256));
    writeFileSync(join(root, 'src', longDir, `${'c'.repeat(90)}.bin`), payload);
    writeFileSync(join(root, 'src', 'small.txt'), 'hello\n');
    for (const format of ['gnu', 'posix', 'ustar']) {
      const out = join(root, `a-${format}.tar.gz`);
      try {
        execFileSync('tar', ['-czf', out, `--format=${format}`, '-C', join(root, 'src'), '.'], { stdio: 'pipe' });
      } catch (error) {
        // plain ustar cannot store this path; GNU tar says so
        expect(format).toBe('ustar');
        expect(String((error as { stderr?: Buffer }).stderr)).toMatch(/too long|name/i);
        continue;
      }
      const entries = await readTar(out);
      const files = Object.fromEntries(entries.filter((e) => e.type === 'file').map((e) => [e.name, e.data]));
      expect(Buffer.from(files[`${longDir}/${'c'.repeat(90)}.bin`])).toEqual(payload);
      expect(new TextDecoder().decode(files['small.txt'])).toBe('hello\n');
      expect(entries.some((e) => e.type === 'directory' && e.name.replace(/\/$/, '') === longDir)).toBe(true);
    }
  });

  it('detects corrupt headers', () => {
    const tar = writeTar([['x.bin', new Uint8Array([1, 2, 3])]]);
    expect(Array.from(parseTar(tar)[0].data as ArrayLike<number>)).toEqual([1, 2, 3]);
    tar[10] ^= 0xff;
    expect(() => parseTar(tar)).toThrow(/checksum mismatch/);
  });
});
