import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { Registry } from '../../src/registry/registry.js';
import { tempDir } from '../helpers/temp.js';

const exec = promisify(execFile);
const root = tempDir('lepton-track-');
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('lepton train <script.ts>', () => {
  it('records the run of an ordinary model.fit in the registry (per-epoch metrics, completed status)', async () => {
    const script = join(root, 'train.mts');
    writeFileSync(
      script,
      `import { layers, sequential, randn, randint } from ${JSON.stringify(join(process.cwd(), 'src/index.js'))};
const x = randn([64, 4]);
const y = randint(0, 2, [64]);
const model = sequential([layers.Dense(8, { activation: 'relu', inputShape: [4] }), layers.Dense(2, { activation: 'softmax' })]);
model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
await model.fit(x, y, { epochs: 2, batchSize: 16, verbose: 0 });
`,
    );
    const home = join(root, 'home');
    await exec(process.execPath, [join(process.cwd(), 'bin', 'lepton.js'), 'train', script, '--name', 'tracked'], {
      env: { ...process.env, LEPTON_HOME: home },
    });
    const registry = new Registry(home);
    try {
      const runs = registry.listRuns();
      expect(runs).toHaveLength(1);
      expect(runs[0].name).toBe('tracked');
      expect(runs[0].status).toBe('completed');
      const epochs = registry.epochs(runs[0].id);
      expect(epochs.map((e) => e.epoch)).toEqual([0, 1]);
      expect(Object.keys(epochs[0].metrics)).toEqual(expect.arrayContaining(['loss', 'accuracy']));
    } finally {
      registry.close();
    }
  });
});
