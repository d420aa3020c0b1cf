import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DataNotFoundError, cifar10, dataHome, downloadFile, fashionMnist, locate } from '../../src/data/index.js';
import { tempDir } from '../helpers/temp.js';

const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

// A loopback HTTP server serving fixed files (no other network is used).
const served = new Map<string, Buffer>([
  ['/files/a.bin', Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256))],
  ['/files/b.txt', Buffer.from('second file\n')],
]);
let server: Server;
let base: string;
let requests = 0;
beforeAll(async () => {
  server = createServer((req, res) => {
    requests++;
    const body = served.get(req.url ?? '');
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const savedEnv = { data: process.env.LEPTON_DATA, offline: process.env.LEPTON_OFFLINE };
afterEach(() => {
  for (const [key, value] of [
    ['LEPTON_DATA', savedEnv.data],
    ['LEPTON_OFFLINE', savedEnv.offline],
  ] as const) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});

describe('downloads', () => {
  it('downloads with progress and checksum, keeps a verified file, and rejects a wrong checksum', async () => {
    const dir = tempDir('lepton-dl-');
    const body = served.get('/files/a.bin')!;
    const progress: [number, number | undefined][] = [];
    const dest = join(dir, 'a.bin');
    await downloadFile({ name: 'a.bin', url: `${base}/files/a.bin`, md5: md5(body) }, dest, (_f, got, total) =>
      progress.push([got, total]),
    );
    expect(readFileSync(dest).equals(body)).toBe(true);
    expect(progress.at(-1)).toEqual([body.length, body.length]);
    expect(progress.every(([got], i) => i === 0 || got >= progress[i - 1][0])).toBe(true);
    const before = requests;
    await downloadFile({ name: 'a.bin', url: `${base}/files/a.bin`, md5: md5(body) }, dest, () => {});
    expect(requests).toBe(before); // already there and verified: no request
    const other = join(dir, 'b.txt');
    await expect(
      downloadFile({ name: 'b.txt', url: `${base}/files/b.txt`, md5: '0'.repeat(32) }, other, () => {}),
    ).rejects.toThrow(/checksum mismatch .* expected md5 0{32}, got [0-9a-f]{32}/);
    expect(existsSync(other)).toBe(false);
    expect(readdirSync(dir)).toEqual(['a.bin']); // no .part left behind
    await expect(downloadFile({ name: 'c', url: `${base}/files/missing` }, join(dir, 'c'), () => {})).rejects.toThrow(
      /HTTP 404/,
    );
  });

  it('locate downloads into $LEPTON_DATA/<name> when nothing is found locally, then finds it there', async () => {
    const home = tempDir('lepton-home-');
    process.env.LEPTON_DATA = home;
    expect(dataHome()).toBe(home);
    const spec = {
      title: 'Test set',
      cacheName: 'testset',
      findInDir: (dir: string) => (existsSync(join(dir, 'a.bin')) && existsSync(join(dir, 'b.txt')) ? dir : undefined),
      downloads: ['a.bin', 'b.txt'].map((name) => ({
        name,
        url: `${base}/files/${name}`,
        md5: md5(served.get(`/files/${name}`)!),
      })),
      howToGet: 'Put a.bin and b.txt somewhere.',
    };
    const found = await locate(spec, { onProgress: () => {} });
    expect(found).toBe(join(home, 'testset'));
    expect(readFileSync(join(found, 'b.txt'), 'utf8')).toBe('second file\n');
    const count = requests;
    expect(await locate(spec)).toBe(found); // the cache is used; nothing downloaded again
    expect(requests).toBe(count);
  });
});

describe('missing datasets', () => {
  it('say where they looked and exactly how to get the data (empty LEPTON_DATA, downloads off)', async () => {
    const home = tempDir('lepton-empty-home-');
    process.env.LEPTON_DATA = home;
    const err = await cifar10.loadData({ download: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataNotFoundError);
    const message = (err as Error).message;
    expect(message).toContain(`Looked in: ${join(home, 'cifar10')}`);
    expect(message).toContain('downloading is switched off');
    expect(message).toContain('https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz');
    expect(message).toContain('cifar-10-batches-bin/');
    expect(message).toContain('$LEPTON_DATA/cifar10/');
    process.env.LEPTON_OFFLINE = '1';
    await expect(cifar10.loadData()).rejects.toThrow(/downloading is switched off/);
  });

  it('report a failed download (here: a closed local port) together with the instructions', async () => {
    process.env.LEPTON_DATA = tempDir('lepton-empty-home-');
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = (await cifar10
      .loadData({ mirror: `http://127.0.0.1:${port}/`, onProgress: () => {} })
      .catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(DataNotFoundError);
    expect(err.message).toMatch(/download failed: fetch failed/);
    expect(err.message).toMatch(/To get CIFAR-10: download/);
    // a mirror that serves the wrong bytes fails its checksum
    served.set('/mirror/cifar-10-binary.tar.gz', Buffer.from('not the archive'));
    const bad = (await cifar10
      .loadData({ mirror: `${base}/mirror`, onProgress: () => {} })
      .catch((e: unknown) => e)) as Error;
    expect(bad.message).toMatch(/download failed: checksum mismatch/);
  });

  it('a bogus explicit path is not silently replaced by another location', async () => {
    await expect(fashionMnist.load('test', { path: '/no/such/folder' })).rejects.toThrow(
      /Fashion-MNIST: the path \/no\/such\/folder does not exist\.[\s\S]*apt-get install dataset-fashion-mnist/,
    );
  });
});
