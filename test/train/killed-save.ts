// A process killed with SIGKILL while saving a model (used by save.test.ts). It saves a first model
// to argv[2] completely, writes the weights of a second model to argv[4] (JSON), then starts
// saving the second one and kills itself: 'write' after weights.safetensors is in the temporary
// folder, 'swap' between the swap's two renames (the target moved aside, the new folder not yet
// in place).
import { writeFileSync } from 'node:fs';
import fsp from 'node:fs/promises';
import { basename } from 'node:path';
import { syncBuiltinESMExports } from 'node:module';

const [dir, mode, weightsFile] = process.argv.slice(2);
const die = () => process.kill(process.pid, 'SIGKILL');

let armed = false;
if (mode === 'swap') {
  const rename = fsp.rename;
  fsp.rename = async (from, to) => {
    await rename(from, to);
    if (armed && basename(String(to)).includes('.old-')) die();
  };
  syncBuiltinESMExports(); // save.ts's `import { rename }` now sees the wrapper
}

const { Dense, input, sequential, setSeed } = await import('../../src/index.js');
const { saveModel } = await import('../../src/train/index.js');
const model = (seed: number) => {
  setSeed(seed);
  const m = sequential([input({ shape: [3] }), new Dense(4), new Dense(2)]);
  m.compile({ optimizer: 'adam', loss: { className: 'sparseCategoricalCrossentropy', fromLogits: true } });
  return m;
};
await saveModel(model(1), dir);
const second = model(2);
writeFileSync(
  weightsFile,
  JSON.stringify(second.namedVariables().map(([k, v]) => [k, Array.from(v.data as Float32Array)])),
);
armed = true;
await saveModel(second, dir, {
  onFileWritten: (file) => {
    if (mode === 'write' && file === 'weights.safetensors') die();
  },
});
console.error('killed-save: still alive after the save');
process.exit(3);
