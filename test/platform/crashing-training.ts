// A training process that dies mid-fit (used by registry.test.ts): the run must end up 'failed'.
import { Registry } from '../../src/registry/registry.js';
import { RunTracker } from '../../src/registry/tracker.js';

const tracker = new RunTracker({ registry: new Registry(process.argv[2]), name: 'crashing' });
tracker.onTrainBegin({});
tracker.onEpochEnd(0, { loss: 1 });
process.stdout.write(String(tracker.runId));
setTimeout(() => {
  throw new Error('fit: the loss became NaN at epoch 2');
}, 0);
