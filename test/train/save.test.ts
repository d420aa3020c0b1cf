import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  Adam,
  Dense,
  type Tensor,
  classNamesOf,
  input,
  randn,
  sequential,
  setSeed,
  tensor,
  withClassNames,
} from '../../src/index.js';
import { decodeSafetensors, encodeSafetensors, exportOnnx, loadModel, saveModel } from '../../src/train/index.js';
import { tempDir } from '../helpers/temp.js';

const tmp = () => tempDir('lepton-save-');
const sce = { className: 'sparseCategoricalCrossentropy', fromLogits: true };

function data(n: number, seed: number): [Tensor, Tensor] {
  setSeed(seed);
  const x = randn([n, 3]);
  const d = x.data as Float32Array;
  return [x, tensor(Int32Array.from({ length: n }, (_, i) => (d[3 * i] + d[3 * i + 1] > 0 ? 1 : 0)))];
}

function makeModel(seed: number) {
  setSeed(seed);
  return sequential([input({ shape: [3], name: 'features' }), new Dense(8, { activation: 'relu' }), new Dense(2)]);
}

const weightsOf = (m: { namedVariables(): [string, Tensor][] }) =>
  m.namedVariables().map(([k, v]) => [k, Array.from(v.data as Float32Array)]);

describe('safetensors', () => {
  it('round-trips tensors and follows the format (header length, JSON, offsets)', () => {
    const tensors = {
      'a.weight': tensor([
        [1.5, -2],
        [3, 4.25],
      ]),
      'b.index': tensor(new BigInt64Array([1n, -2n, 3n])),
      c: tensor(new Int32Array([7])),
      flag: tensor([true, false]),
    };
    const bytes = encodeSafetensors(tensors, { note: 'hi' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header.__metadata__).toEqual({ note: 'hi' });
    expect(header['a.weight']).toMatchObject({ dtype: 'F32', shape: [2, 2] });
    const [s, e] = header['a.weight'].data_offsets;
    expect(Array.from(new Float32Array(bytes.slice(8 + n + s, 8 + n + e).buffer))).toEqual([1.5, -2, 3, 4.25]);
    expect(header['b.index'].dtype).toBe('I64');
    const back = decodeSafetensors(bytes);
    expect(back.metadata).toEqual({ note: 'hi' });
    for (const [k, t] of Object.entries(tensors)) {
      expect(back.tensors[k].dtype).toBe(t.dtype);
      expect(back.tensors[k].shape).toEqual(t.shape);
      expect(Array.from(back.tensors[k].data as ArrayLike<unknown>)).toEqual(Array.from(t.data as ArrayLike<unknown>));
    }
    expect(() => decodeSafetensors(bytes.subarray(0, 20))).toThrow(/header length/);
  });
});

describe('saveModel / loadModel / exportOnnx', () => {
  it('writes the folder; loading rebuilds the model with identical predictions', async () => {
    const [x, y] = data(64, 1);
    const model = makeModel(2);
    model.compile({ optimizer: new Adam({ learningRate: 0.01 }), loss: sce, metrics: ['accuracy'] });
    await model.fit(x, y, { epochs: 2, batchSize: 16, verbose: 0 });
    const dir = join(tmp(), 'm');
    await model.save(dir, { labels: ['neg', 'pos'], preprocessing: { kind: 'tabular', note: 'none' } });
    expect(readdirSync(dir).sort()).toEqual([
      'config.json',
      'model.onnx',
      'optimizer.safetensors',
      'training.json',
      'weights.safetensors',
    ]);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({
      format: 'lepton-model',
      version: 1,
      labels: ['neg', 'pos'],
      preprocessing: { kind: 'tabular', note: 'none' },
    });
    expect(config.signature.inputs).toEqual([{ name: 'features', shape: [null, 3], dtype: 'float32' }]);
    expect(config.signature.outputs[0].shape).toEqual([null, 2]);
    expect(config.compile.loss).toEqual({ className: 'SparseCategoricalCrossentropy', config: { fromLogits: true } });
    expect(JSON.parse(readFileSync(join(dir, 'training.json'), 'utf8'))).toMatchObject({ step: 8, epoch: 2 });

    const loaded = await loadModel(dir);
    expect(weightsOf(loaded)).toEqual(weightsOf(model));
    const a = await model.predict(x);
    const b = await loaded.predict(x);
    expect(Array.from(b.data as Float32Array)).toEqual(Array.from(a.data as Float32Array));
  });

  it('train → save → load → continue gives exactly the weights of training without stopping', async () => {
    const [x, y] = data(48, 3);
    const compileArgs = () => ({ optimizer: new Adam({ learningRate: 0.02 }), loss: sce, metrics: ['accuracy'] });

    const straight = makeModel(4);
    straight.compile(compileArgs());
    setSeed(100);
    await straight.fit(x, y, { epochs: 4, batchSize: 16, verbose: 0 });

    const first = makeModel(4);
    first.compile(compileArgs());
    setSeed(100);
    await first.fit(x, y, { epochs: 2, batchSize: 16, verbose: 0 });
    const dir = join(tmp(), 'ckpt');
    await first.save(dir);
    const resumed = await loadModel(dir);
    await resumed.fit(x, y, { epochs: 4, initialEpoch: 2, batchSize: 16, verbose: 0 });

    expect(weightsOf(resumed)).toEqual(weightsOf(straight));

    // As if in a new process: the random stream is elsewhere; training.json puts it back.
    setSeed(12345);
    const again = await loadModel(dir, { restoreRandomState: true });
    await again.fit(x, y, { epochs: 4, initialEpoch: 2, batchSize: 16, verbose: 0 });
    expect(weightsOf(again)).toEqual(weightsOf(straight));
  });

  it('a save that fails part-way leaves the previous save intact', async () => {
    const [x, y] = data(32, 5);
    const model = makeModel(6);
    model.compile({ optimizer: 'adam', loss: sce });
    const parent = tmp();
    const dir = join(parent, 'model');
    await saveModel(model, dir);
    const before = readFileSync(join(dir, 'weights.safetensors'));
    const configBefore = readFileSync(join(dir, 'config.json'), 'utf8');
    await model.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 });
    const written: string[] = [];
    const crash = (file: string) => {
      written.push(file);
      if (file === 'weights.safetensors') throw new Error('simulated crash');
    };
    await expect(saveModel(model, dir, { onFileWritten: crash })).rejects.toThrow('simulated crash');
    expect(written).toEqual(['model.onnx', 'weights.safetensors']);
    expect(readFileSync(join(dir, 'weights.safetensors')).equals(before)).toBe(true);
    expect(readFileSync(join(dir, 'config.json'), 'utf8')).toBe(configBefore);
    expect(readdirSync(parent)).toEqual(['model']);
    // A complete save then replaces it.
    await saveModel(model, dir);
    expect(readFileSync(join(dir, 'weights.safetensors')).equals(before)).toBe(false);
    expect(readdirSync(parent)).toEqual(['model']);
    expect(existsSync(join(dir, 'optimizer.safetensors'))).toBe(true);
  });

  describe('after a writer was killed (SIGKILL, a child process)', () => {
    /** Runs test/train/killed-save.ts (node itself, so the signal is its own); resolves once it died of SIGKILL. */
    async function killedSave(dir: string, mode: 'write' | 'swap', weightsFile: string): Promise<void> {
      const script = join(process.cwd(), 'test', 'train', 'killed-save.ts');
      const err = await promisify(execFile)(process.execPath, ['--import', 'tsx', script, dir, mode, weightsFile], {
        timeout: 60_000,
      }).then(
        () => ({ signal: null, stderr: 'exited normally' }),
        (e) => e as { signal: string | null; stderr: string },
      );
      expect(err.signal, err.stderr).toBe('SIGKILL');
    }

    it('the next save removes what dead writers of that path left, and nothing else', async () => {
      const parent = tmp();
      try {
        const dir = join(parent, 'model');
        await killedSave(dir, 'write', join(parent, 'weights.json'));
        const tmpFolder = readdirSync(parent).filter((n) => n.startsWith('.model.tmp-'));
        expect(tmpFolder).toHaveLength(1);
        // A live writer's folder (this test runner's parent pid), a stale one (pid alive, two hours
        // old: the pid was reused) and a dead writer's folder of another target.
        const live = `.model.tmp-${process.ppid}-${Date.now()}-1`;
        const stale = `.model.old-${process.ppid}-${Date.now() - 2 * 3600_000}-2`;
        const other = `.other.tmp-${tmpFolder[0].split('-')[1]}-${Date.now()}-3`;
        for (const name of [live, stale, other]) mkdirSync(join(parent, name));
        const model = makeModel(3);
        await saveModel(model, dir);
        expect(readdirSync(parent).sort()).toEqual([live, other, 'model', 'weights.json'].sort());
        expect(weightsOf(await loadModel(dir))).toEqual(weightsOf(model));
      } finally {
        rmSync(parent, { recursive: true, force: true });
      }
    });

    it("loadModel recovers the newest complete folder when the writer died between the swap's renames", async () => {
      const parent = tmp();
      try {
        const dir = join(parent, 'model');
        const weightsFile = join(parent, 'weights.json');
        await killedSave(dir, 'swap', weightsFile);
        expect(existsSync(dir)).toBe(false);
        expect(
          readdirSync(parent)
            .filter((n) => n.startsWith('.model.'))
            .map((n) => n.split('-')[0])
            .sort(),
        ).toEqual(['.model.old', '.model.tmp']);
        const loaded = await loadModel(dir);
        // The second model's save was complete: it wins over the first one moved aside.
        expect(weightsOf(loaded)).toEqual(JSON.parse(readFileSync(weightsFile, 'utf8')));
        expect(readdirSync(parent).sort()).toEqual(['model', 'weights.json']);
      } finally {
        rmSync(parent, { recursive: true, force: true });
      }
    });
  });

  it('exportOnnx: plain onnxruntime-node gives the same predictions as model.predict', async () => {
    const [x, y] = data(40, 7);
    const model = makeModel(8);
    model.compile({ optimizer: 'adam', loss: sce });
    await model.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 });
    const path = join(tmp(), 'exported', 'model.onnx');
    await model.exportOnnx(path);
    const session = await ort.InferenceSession.create(readFileSync(path));
    expect(session.inputNames).toEqual(['features']);
    const expected = await model.predict(x);
    for (const n of [1, 5, 40]) {
      const rows = (x.data as Float32Array).slice(0, n * 3);
      const out = await session.run({ features: new ort.Tensor('float32', rows, [n, 3]) });
      const got = Array.from(out[session.outputNames[0]].data as Float32Array);
      const want = Array.from((expected.data as Float32Array).slice(0, n * 2));
      got.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(want[i]))));
    }
    await expect(exportOnnx(model as any, join(tmp(), 'x.onnx'))).resolves.toBeUndefined();
  });
});

describe('class names travel from the labels to the saved model', () => {
  it('fit records the names its label tensor was tagged with; save writes them unless given others', async () => {
    setSeed(4);
    const x = randn([8, 3]);
    const y = withClassNames(tensor([0, 1, 2, 0, 1, 2, 0, 1], { dtype: 'int32' }), ['cat', 'dog', 'emu']);
    expect(classNamesOf(y)).toEqual(['cat', 'dog', 'emu']);
    const model = sequential([input({ shape: [3] }), new Dense(3)]);
    model.compile({ optimizer: new Adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', metrics: [] });
    // A plain tensor carries no names: nothing is written.
    const plainDir = tmp();
    await model.save(plainDir);
    expect(JSON.parse(readFileSync(join(plainDir, 'config.json'), 'utf8')).labels).toBeUndefined();
    model.compile({
      optimizer: new Adam({ learningRate: 0.01 }),
      loss: { className: 'SparseCategoricalCrossentropy', fromLogits: true },
    });
    await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
    const dir = tmp();
    await model.save(dir);
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).labels).toEqual(['cat', 'dog', 'emu']);
    const given = tmp();
    await model.save(given, { labels: ['a', 'b', 'c'] });
    expect(JSON.parse(readFileSync(join(given, 'config.json'), 'utf8')).labels).toEqual(['a', 'b', 'c']);
  });
});
