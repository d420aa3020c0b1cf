/**
 * `npm run bench -- serve`: load test of the model server on loopback with autocannon.
 * Single-image predictions (a 28×28 PNG, decoded and resized by the server) to a small CNN, at 64
 * concurrent connections, bounded in time and request count, for:
 *   - Lepton's server with dynamic batching on (max batch 32, max wait 2 ms),
 *   - Lepton's server with batching off (max batch 1),
 *   - a minimal node:http server that decodes with sharp and calls raw onnxruntime-node per request.
 * Each server runs in its own child process so the load generator does not share its event loop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchModule, BenchOptions, BenchResults } from './harness.js';
import { printTable } from './harness.js';

const CLASSES = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot'];
const CONNECTIONS = 64;

/** The seed CNN (bench/peers/torch_cnn.py's architecture) for 28×28×1 inputs, random weights. */
export async function writeCnnModel(dir: string): Promise<void> {
  const { toOnnx } = await import('../src/engine/compile.js');
  const { Variable, randn } = await import('../src/engine/tensor.js');
  const { add, matmul, reshape, transpose } = await import('../src/engine/ops/core.js');
  const { conv2d } = await import('../src/engine/ops/conv.js');
  const { maxPool2d } = await import('../src/engine/ops/pool.js');
  const { relu } = await import('../src/engine/ops/activations.js');
  const v = (shape: number[], std: number) => new Variable(randn(shape, { std }));
  const [w1, b1] = [v([32, 1, 3, 3], 0.3), v([32], 0.01)];
  const [w2, b2] = [v([64, 32, 3, 3], 0.08), v([64], 0.01)];
  const [w3, b3] = [v([64, 64, 3, 3], 0.06), v([64], 0.01)];
  const [w4, b4] = [v([64 * 3 * 3, 64], 0.04), v([64], 0.01)];
  const [w5, b5] = [v([64, 10], 0.1), v([10], 0.01)];
  const net = (x: InstanceType<typeof Variable>) => {
    let h = transpose(x, [0, 3, 1, 2]);
    h = maxPool2d(relu(conv2d(h, w1, b1)), { kernel: 2 }); // 26 → 13
    h = maxPool2d(relu(conv2d(h, w2, b2)), { kernel: 2 }); // 11 → 5
    h = relu(conv2d(h, w3, b3)); // 3
    h = relu(add(matmul(reshape(transpose(h, [0, 2, 3, 1]), ['batch', -1]), w4), b4));
    return add(matmul(h, w5), b5);
  };
  await toOnnx(net as never, [{ shape: ['batch', 28, 28, 1], name: 'image' }], {
    path: join(dir, 'model.onnx'),
    outputNames: ['logits'],
  });
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      format: 'lepton-model',
      version: 1,
      name: 'cnn',
      signature: {
        inputs: [{ name: 'image', shape: [null, 28, 28, 1], dtype: 'float32' }],
        outputs: [{ name: 'logits', shape: [null, 10], dtype: 'float32' }],
      },
      labels: CLASSES,
      preprocessing: { kind: 'image', height: 28, width: 28, channels: 1, scale: 1 / 255 },
    }),
  );
}

// ---------------------------------------------------------------- server processes

type Target = 'lepton-batched' | 'lepton-unbatched' | 'raw-ort';

async function serveTarget(kind: Target, modelDir: string): Promise<void> {
  let url: string;
  if (kind === 'raw-ort') {
    const ort = await import('onnxruntime-node');
    const sharp = (await import('sharp')).default;
    const session = await ort.InferenceSession.create(join(modelDir, 'model.onnx'));
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        try {
          const { data } = await sharp(Buffer.concat(chunks))
            .greyscale()
            .resize(28, 28, { fit: 'fill' })
            .raw()
            .toBuffer({ resolveWithObject: true });
          const x = Float32Array.from(data, (p) => p / 255);
          const out = await session.run({ image: new ort.Tensor('float32', x, [1, 28, 28, 1]) });
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ outputs: [Array.from(out.logits.data as Float32Array)] }));
        } catch (e) {
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: (e as Error).message }));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address() as { port: number };
    url = `http://127.0.0.1:${addr.port}`;
  } else {
    const { createModelServer } = await import('../src/serve/server.js');
    const server = await createModelServer({
      models: [{ dir: modelDir, name: 'cnn' }],
      maxBatchSize: kind === 'lepton-batched' ? 32 : 1,
      maxWaitMs: kind === 'lepton-batched' ? 2 : 0,
    });
    url = await server.listen(0, '127.0.0.1');
  }
  process.stdout.write(`READY ${url}\n`);
}

function startTarget(kind: Target, modelDir: string): Promise<{ child: ChildProcess; url: string }> {
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ['--import', 'tsx', self, '--serve-target', kind, modelDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${kind} server did not start in 60 s`)), 60_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /READY (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1] });
      }
    });
    child.on('exit', (code) => reject(new Error(`${kind} server exited with code ${code}`)));
  });
}

// ---------------------------------------------------------------- load

interface LoadResult {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
}

async function load(url: string, body: Buffer, seconds: number, maxRequests: number): Promise<LoadResult> {
  // autocannon ships no type declarations: describe the part used here.
  type Stats = { average: number; total: number; p50: number; p99: number };
  const autocannon = (await import('autocannon' as string)).default as (
    o: object,
  ) => Promise<{ requests: Stats; latency: Stats; errors: number; timeouts: number; non2xx: number }>;
  const r = await autocannon({
    url: `${url}/v1/models/cnn/predict`,
    method: 'POST',
    headers: { 'content-type': 'image/png' },
    body,
    connections: CONNECTIONS,
    duration: seconds,
    maxOverallRequests: maxRequests,
    timeout: 10,
  });
  return {
    requestsPerSecond: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    requests: r.requests.total,
    errors: r.errors + r.timeouts + r.non2xx,
  };
}

export async function run(options: BenchOptions): Promise<BenchResults> {
  const dir = mkdtempSync(join(tmpdir(), 'lepton-bench-serve-'));
  try {
    await writeCnnModel(dir);
    const sharp = (await import('sharp')).default;
    const pixels = Buffer.alloc(28 * 28);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 37) % 256;
    const png = await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } })
      .png()
      .toBuffer();
    const seconds = options.quick ? 3 : Number(options.extra.seconds ?? 10);
    const maxRequests = options.quick ? 20_000 : 200_000;
    const targets: Target[] = ['lepton-batched', 'lepton-unbatched', 'raw-ort'];
    const results: Partial<Record<Target, LoadResult>> = {};
    for (const kind of targets) {
      const { child, url } = await startTarget(kind, dir);
      try {
        // Warm-up (session caches, JIT), then the measured run.
        await load(url, png, 1, 2_000);
        results[kind] = await load(url, png, seconds, maxRequests);
      } finally {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    }
    const raw = results['raw-ort']!.requestsPerSecond;
    printTable([
      ['server (64 connections, 1 PNG per request)', 'req/s', 'p50 ms', 'p99 ms', 'requests', 'errors', 'vs raw ORT'],
      ...targets.map((t) => {
        const r = results[t]!;
        return [
          t,
          r.requestsPerSecond,
          r.p50,
          r.p99,
          r.requests,
          r.errors,
          `${(r.requestsPerSecond / raw).toFixed(2)}×`,
        ];
      }),
    ]);
    const flat: BenchResults = { connections: CONNECTIONS, seconds };
    for (const t of targets) {
      const r = results[t]!;
      const key = t.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
      flat[`${key}_rps`] = r.requestsPerSecond;
      flat[`${key}_p50_ms`] = r.p50;
      flat[`${key}_p99_ms`] = r.p99;
      flat[`${key}_requests`] = r.requests;
      flat[`${key}_errors`] = r.errors;
    }
    flat.batched_vs_raw = results['lepton-batched']!.requestsPerSecond / raw;
    flat.unbatched_vs_raw = results['lepton-unbatched']!.requestsPerSecond / raw;
    return flat;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const bench: BenchModule = {
  description:
    'model server load test: single-image predictions at 64 connections, batching on/off vs raw onnxruntime-node',
  run,
};
export default bench;

// Child-process entry: `node --import tsx bench/serve.ts --serve-target <kind> <modelDir>`.
if (
  process.argv[1] &&
  import.meta.url === pathToFileURL(process.argv[1]).href &&
  process.argv[2] === '--serve-target'
) {
  await serveTarget(process.argv[3] as Target, process.argv[4]);
  process.on('SIGTERM', () => process.exit(0));
}
