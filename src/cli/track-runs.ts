/**
 * How `lepton train` runs a training script with run tracking: `node track-runs.ts <script> args`
 * adds a RunTracker to every fit of this process, so an ordinary `model.fit(...)` is recorded in
 * the registry under the run name the CLI chose (LEPTON_RUN_NAME), then runs the script as if it
 * had been started directly (process.argv as the script expects). fit knows nothing of the registry.
 */
import { pathToFileURL } from 'node:url';
import { addDefaultCallback } from '../train/callbacks.js';
import { RunTracker } from '../registry/tracker.js';

const [script] = process.argv.splice(2, 1);
if (!script) throw new Error('track-runs: expected the path of a training script');
process.argv[1] = script;
const name = process.env.LEPTON_RUN_NAME || 'run';
addDefaultCallback((params) => new RunTracker({ name, params: { ...params } }));
await import(pathToFileURL(script).href);
