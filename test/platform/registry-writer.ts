// A separate process writing to the registry (used by registry.test.ts to test concurrent writers).
import { Registry } from '../../src/registry/registry.js';

const [home, tag, epochsArg, modelDir, startAt] = process.argv.slice(2);
const registry = new Registry(home);
// Both writers start at the same moment, so their writes really overlap.
await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
const epochs = Number(epochsArg);
const runId = registry.createRun(`writer-${tag}`, { tag });
for (let e = 0; e < epochs; e++) {
  registry.logEpoch(runId, e, { loss: 1 / (e + 1), accuracy: e / epochs });
  registry.logProgress(runId, { epoch: e, batch: 1 });
}
for (let k = 0; k < 3; k++) await registry.registerModel(modelDir, { name: 'shared', runId, metrics: { k } });
registry.finishRun(runId, 'completed');
registry.close();
process.stdout.write(JSON.stringify({ runId }));
