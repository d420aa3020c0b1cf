/**
 * The `lepton` command line: train, evaluate, predict, listen, export, serve, studio, models, runs,
 * datasets, bench, info. Every command has --help; bad input exits non-zero with one clear line.
 */
// Installs ONNX Runtime as the executor of ops on concrete tensors (engine/index.ts is the composition root).
import '../engine/index.js';
import { LeptonError } from '../engine/errors.js';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { Command, CommanderError, Help, InvalidArgumentError, Option } from 'commander';
import { leptonHome, openRegistry, RegistryError } from '../registry/registry.js';
import { readModelFolder, formatShape, ModelFolderError } from '../registry/model-folder.js';
import type { EvaluationReport } from '../registry/evaluation.js';
import { CliError, formatDuration, printJson, printTable } from './output.js';
import { resolveModelRef, splitModelRef, trainingDataset } from './model-ref.js';

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `--import <tsx>` as an absolute URL, so scripts run from any working directory. */
/** The entry that runs a training script with a run tracker installed (track-runs.ts, or .js when built). */
function trackRunsEntry(): string {
  return fileURLToPath(new URL(`./track-runs${extname(fileURLToPath(import.meta.url))}`, import.meta.url));
}

function tsxImport(): string {
  try {
    return pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  } catch {
    throw new CliError('running TypeScript scripts needs the tsx package (npm install tsx)', 1);
  }
}

function packageVersion(name?: string): string {
  try {
    const path = name ? join(packageRoot, 'node_modules', name, 'package.json') : join(packageRoot, 'package.json');
    return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

const int = (what: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`${what} must be a non-negative integer, got '${v}'`);
  return n;
};

export function buildProgram(): Command {
  const program = new Command('lepton')
    .description('Lepton: train, register, serve and inspect neural networks from Node.js')
    .version(packageVersion(), '-V, --version')
    .exitOverride()
    // Usage errors are one line: "lepton: unknown option '--foo' (see --help)".
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      outputError: (s, write) =>
        write(
          `lepton: ${s
            .replace(/^error: /, '')
            .trim()
            .replace(/\s*\n\s*/g, ' ')} (see --help)\n`,
        ),
    })
    // --help marks required options (commander lists them like optional ones).
    .configureHelp({
      optionDescription(this: Help, o: Option) {
        return `${Help.prototype.optionDescription.call(this, o)}${o.mandatory ? ' (required)' : ''}`;
      },
    });

  // ---- train ----
  program
    .command('train')
    .description(
      'train a model: run a TypeScript/JavaScript training script (runs are recorded in the registry), or a JSON training config',
    )
    .argument('<script-or-config>', 'a .ts/.js/.mjs script, or a .json config')
    .argument('[args...]', 'arguments passed to the script')
    .option('--name <name>', 'run name (default: the script file name)')
    .option('--no-track', 'do not record the run in the registry')
    .action(async (target: string, args: string[], opts: { name?: string; track: boolean }) => {
      const path = resolve(target);
      if (!existsSync(path)) throw new CliError(`no such file '${target}'`);
      const ext = extname(path).toLowerCase();
      if (ext === '.json') {
        const { trainFromConfigFile } = await import('./train-config.js');
        const r = await trainFromConfigFile(path, { runName: opts.name, track: opts.track });
        const metrics = Object.entries(r.test)
          .map(([k, v]) => `${k} ${v.toFixed(4)}`)
          .join(', ');
        process.stdout.write(
          `run ${r.runId}: test ${metrics}\nsaved ${r.dir}${r.model ? `\nregistered ${r.model.name}@${r.model.version} (serve it: lepton serve ${r.model.name})` : ''}\n`,
        );
        return;
      }
      if (!['.ts', '.mts', '.js', '.mjs', '.cts', '.cjs'].includes(ext))
        throw new CliError(`'${target}': expected a .ts/.js script or a .json config`);
      // Tracking: track-runs.ts adds a run-tracking callback to the script's fits, then runs it;
      // the variables also let a script make its own tracker (trackerFromEnvironment).
      const env = {
        ...process.env,
        ...(opts.track ? { LEPTON_TRACK_RUNS: '1', LEPTON_RUN_NAME: opts.name ?? fileStem(path) } : {}),
      };
      const entry = opts.track ? [trackRunsEntry(), path] : [path];
      const code = await runChild(process.execPath, ['--import', tsxImport(), ...entry, ...args], env);
      if (code !== 0) throw new CliError(`training script exited with code ${code}`, code || 1);
    });

  // ---- start ----
  program
    .command('start')
    .description(
      'the quick start: train the seed CNN on Fashion-MNIST (MNIST if unavailable), register it, serve it with the studio, print the URLs; later runs reuse the registered model',
    )
    .option('-p, --port <port>', 'port', int('--port'), 8090)
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--epochs <n>', 'training epochs', int('--epochs'), 2)
    .option('--retrain', 'train again even if a model is registered')
    .action(async (opts: { port: number; host: string; epochs: number; retrain?: boolean }) => {
      const { quickStart } = await import('./start.js');
      const studio = await quickStart(opts);
      await untilSignal(() => studio.close());
    });

  // ---- evaluate ----
  program
    .command('evaluate')
    .description(
      "evaluate a classifier on a dataset (mnist, fashion-mnist, iris, …: the test split) or a CSV file, or a detector on a COCO annotations file; a registered model's evaluation (confusion matrix, precision–recall curves) is recorded for the studio",
    )
    .argument('<model>', 'model folder or registered name[@version]')
    .argument(
      '<data>',
      'dataset name or .csv file (label in the last column unless --label); for a detector, a COCO annotations .json (images in images/ beside it)',
    )
    .option('--label <column>', 'CSV label column (name or 0-based index; default: last)')
    .option('--limit <n>', 'evaluate only the first n samples (images)', int('--limit'))
    .option('--score <threshold>', "detectors: the confusion matrix's score threshold (default 0.25)", Number)
    .option('--no-record', 'do not record the evaluation in the registry')
    .option('--json', 'machine-readable output')
    .action(
      async (
        modelRef: string,
        data: string,
        opts: { label?: string; limit?: number; score?: number; record: boolean; json?: boolean },
      ) => {
        const ref = resolveModelRef(modelRef);
        // Registered models keep their evaluations: the studio's model and run pages draw them.
        const record = (report: EvaluationReport): number | undefined =>
          ref.registered && opts.record
            ? openRegistry().recordEvaluation(report, {
                model: ref.name,
                version: ref.version,
                runId: ref.runId ?? null,
                dataset: data,
              })
            : undefined;
        const recorded = (id: number | undefined) =>
          id === undefined
            ? ''
            : `recorded evaluation ${id}: the studio shows it at /models/${encodeURIComponent(ref.name!)}${ref.runId ? ` and /runs/${ref.runId}` : ''}\n`;
        if (existsSync(join(ref.dir, 'detector.json'))) {
          if (extname(data).toLowerCase() !== '.json' || !existsSync(data))
            throw new CliError(
              `evaluate: '${modelRef}' is a detector: <data> must be a COCO annotations .json file, got '${data}'`,
            );
          const { evaluateDetector } = await import('./detect.js');
          const r = await evaluateDetector(ref.dir, data, { limit: opts.limit, score: opts.score });
          const evaluationId = record(r.report);
          const name = ref.name ? `${ref.name}@${ref.version}` : modelRef;
          if (opts.json) return printJson({ model: name, ...r, evaluationId });
          const m = r.metrics;
          process.stdout.write(
            `${name} on ${data}: mAP@[.5:.95] ${m.map.toFixed(4)}, mAP@.5 ${m.map50.toFixed(4)}, mAP@.75 ${m.map75.toFixed(4)}, AR@100 ${m.ar100.toFixed(4)} (${r.images} images)\n${recorded(evaluationId)}`,
          );
          return;
        }
        const { openLocalModel, evaluateClassifier } = await import('./predict.js');
        const { preprocessPixelBatch } = await import('../data/image.js');
        const { x, y } = await evaluationData(data, opts.label);
        const trainedOn = trainingDataset(ref);
        // Only a named data set can be compared with the training one (a CSV file may hold anything).
        if (trainedOn && extname(data).toLowerCase() !== '.csv' && trainedOn.toLowerCase() !== data.toLowerCase()) {
          process.stderr.write(
            `lepton: warning: ${modelRef} was trained on ${trainedOn}, not ${data}: expect a meaningless accuracy unless the two share their classes\n`,
          );
        }
        const { model, done } = await openLocalModel(modelRef);
        try {
          const n = Math.min(x.shape[0], opts.limit ?? Infinity);
          let input = {
            ...x,
            shape: [n, ...x.shape.slice(1)],
            data: x.data.subarray(0, n * (x.data.length / x.shape[0])),
          } as typeof x;
          // Dataset images are raw 0–255 pixels: the model's saved preprocessing turns them into inputs
          // exactly as the server does for an uploaded image (data/image.ts).
          if (model.image)
            input = await preprocessPixelBatch(input as { shape: number[]; data: Float32Array }, model.image).catch(
              (e: Error) => {
                throw new CliError(`${data}: ${e.message}`);
              },
            );
          const result = await evaluateClassifier(model, input, Array.from(y.subarray(0, n), Number));
          const evaluationId = record(result.report);
          if (opts.json) printJson({ ...result, evaluationId });
          else
            process.stdout.write(
              `${result.model}@${result.version} on ${data}: accuracy ${(100 * result.accuracy).toFixed(2)}%, loss ${result.loss.toFixed(4)}, macro F1 ${result.report.metrics.macro_f1.toFixed(4)} (${result.samples} samples)\n${recorded(evaluationId)}`,
            );
        } finally {
          await done();
        }
      },
    );

  // ---- predict ----
  program
    .command('predict')
    .description('run a model on image files, CSV rows or JSON')
    .argument('<model>', 'model folder or registered name[@version]')
    .argument('<inputs...>', 'image files, one .csv file, or one JSON file / inline JSON array')
    .option('-k, --top-k <k>', 'classes to show per input', int('--top-k'), 3)
    .option('--json', 'machine-readable output (the server response format)')
    .action(async (modelRef: string, inputs: string[], opts: { topK: number; json?: boolean }) => {
      const { openLocalModel, feedsFromArgs } = await import('./predict.js');
      const { model, done } = await openLocalModel(modelRef);
      try {
        const { feeds, rows } = await feedsFromArgs(model, inputs);
        const body = model.respond(await model.predict(feeds, rows), opts.topK);
        if (opts.json) return printJson(body);
        const preds = body.predictions as
          | { label: string; probability: number; top: { label: string; probability: number }[] }[]
          | undefined;
        const names =
          inputs.length === rows && inputs.every((i) => existsSync(i) && extname(i).toLowerCase() !== '.csv')
            ? inputs
            : Array.from({ length: rows }, (_, i) => `row ${i}`);
        if (preds) {
          preds.forEach((p, i) =>
            process.stdout.write(
              `${names[i]}: ${p.top.map((t) => `${t.label} ${(100 * t.probability).toFixed(1)}%`).join(', ')}\n`,
            ),
          );
        } else {
          printJson(body.outputs);
        }
      } finally {
        await done();
      }
    });

  // ---- segment ----
  program
    .command('segment')
    .description('segment an image of any size with a segmentation model (tiled: windows of the model input size)')
    .argument('<image>', 'image file (PNG, JPEG, WebP, ...)')
    .requiredOption('-m, --model <model>', 'model folder or registered name[@version] with per-pixel class outputs')
    .requiredOption('-o, --out <mask.png>', 'class map: 8-bit grey PNG, pixel value = class index (0 = background)')
    .option('--overlay <file.png>', 'also write the image with the classes overlaid')
    .option('--rle <file.json>', 'also write COCO RLE masks, one per class present')
    .option(
      '--overlap <px>',
      'pixels shared by neighbouring windows (default a quarter of the window)',
      int('--overlap'),
    )
    .option('--batch <n>', 'windows per inference call', int('--batch'), 4)
    .action(
      async (
        image: string,
        opts: { model: string; out: string; overlay?: string; rle?: string; overlap?: number; batch: number },
      ) => {
        const { segmentImageFile } = await import('./segment.js');
        const r = await segmentImageFile(image, { ...opts, batch: Math.max(1, opts.batch) });
        const total = r.width * r.height;
        const present = r.counts
          .map((n, k) => [r.labels[k], n] as const)
          .filter(([, n]) => n > 0)
          .map(([label, n]) => `${label} ${((100 * n) / total).toFixed(1)}%`);
        process.stdout.write(
          `${image}: ${r.width}x${r.height} in ${r.tiles} window(s) → ${opts.out} (${present.join(', ')})\n`,
        );
      },
    );
  // ---- detect ----
  program
    .command('detect')
    .description(
      'find objects in an image or video with a detector (boxes, labels, scores) and draw them; in videos, track them (ids)',
    )
    .argument('<file>', 'image (PNG, JPEG, ...) or video (.mp4, .mkv, .webm, .avi, .mov, ...; decoded by ffmpeg)')
    .option('-m, --model <model>', 'detector folder or registered name[@version]', 'artifacts/detect-shapes/model')
    .option('-o, --out <file>', 'write the image (PNG) or video (.mp4, ...) with the detections drawn')
    .option(
      '--score <threshold>',
      'lowest score shown (default 0.3); in videos the score that starts and keeps tracks (default 0.5; detections down to a fifth of it only continue them)',
      Number,
    )
    .option('--scale <n>', 'draw the picture this many times larger (default: up to 512 pixels)', int('--scale'))
    .option('--json', 'machine-readable output (videos: the tracks on every frame)')
    .action(
      async (file: string, opts: { model: string; out?: string; score: number; scale?: number; json?: boolean }) => {
        const { detectImage, detectVideo, isVideoFile } = await import('./detect.js');
        if (await isVideoFile(file)) {
          const r = await detectVideo(file, { ...opts, score: opts.score ?? 0.5, progress: true });
          if (opts.json) return printJson(r);
          for (const t of r.tracks)
            process.stdout.write(`#${t.id} ${t.className}: frames ${t.first}-${t.last} (seen on ${t.frames})\n`);
          process.stdout.write(
            `${r.tracks.length} tracks in ${r.frames.length} frames of ${file} (${r.width}x${r.height}, ${+r.fps.toFixed(3)} fps)${opts.out ? `; drawn in ${opts.out}` : ''}\n`,
          );
          return;
        }
        const r = await detectImage(file, { ...opts, score: opts.score ?? 0.3 });
        if (opts.json) return printJson(r);
        for (const d of r.detections)
          process.stdout.write(`${d.className} ${d.score.toFixed(3)} [${d.box.map((v) => v.toFixed(1)).join(', ')}]\n`);
        process.stdout.write(
          `${r.detections.length} detections in ${file} (${r.width}x${r.height})${opts.out ? `; drawn in ${opts.out}` : ''}\n`,
        );
      },
    );
  // ---- listen ----
  program
    .command('listen')
    .description(
      'transcribe speech in an audio file, or the microphone, with a streaming model (partials, then the transcript last)',
    )
    .argument('[file]', 'audio file: WAV (any rate, resampled), or anything ffmpeg decodes; none = the microphone')
    .option('-m, --model <dir>', 'speech model folder (default: the one examples/asr.ts saves)')
    .option('--mic', 'read the microphone (arecord, or sox rec): the default when no file is given')
    .option(
      '--recorder <command>',
      'microphone command writing raw 16-bit LE mono PCM at 16 kHz to stdout (default: $LEPTON_RECORDER, arecord, rec)',
    )
    .option('--seconds <s>', 'microphone: stop after this many seconds (default: Ctrl-C)', Number)
    .option('--chunk-ms <ms>', 'audio fed per step, in milliseconds', int('--chunk-ms'), 100)
    .option('--endpoint-silence <s>', 'seconds of silence that end an utterance', Number, 0.5)
    .option('--no-partials', 'print only final results')
    .option('--json', 'one JSON line: the transcript and each utterance with word timings')
    .action(async (file: string | undefined, opts: import('./listen.js').ListenOptions) => {
      if (opts.seconds !== undefined && !(opts.seconds > 0))
        throw new CliError(`--seconds: expected a positive number, received ${opts.seconds}`);
      const { listen } = await import('./listen.js');
      await listen(file, opts);
    });

  // ---- export ----
  const exportCommand = program
    .command('export')
    .description('write a model as a standalone ONNX file')
    .argument('<model>', 'model folder or registered name[@version]')
    .requiredOption('-o, --output <file>', 'output .onnx path')
    .addOption(new Option('--onnx <file>', 'same as --output').hideHelp())
    .on('option:onnx', (v: string) => exportCommand.setOptionValue('output', v))
    .action(async (modelRef: string, opts: { output: string }) => {
      const ref = resolveModelRef(modelRef);
      const folder = await readModelFolder(ref.dir);
      const out = resolve(opts.output);
      if (!existsSync(dirname(out)))
        throw new CliError(
          `cannot write '${opts.output}': the folder '${dirname(opts.output)}' does not exist (create it first)`,
        );
      if (existsSync(out) && statSync(out).isDirectory())
        throw new CliError(
          `cannot write '${opts.output}': it is a folder (give a file name such as ${join(opts.output, 'model.onnx')})`,
        );
      copyFileSync(folder.onnxPath, out);
      const sig = folder.config.signature;
      process.stdout.write(
        `wrote ${opts.output}: inputs ${sig.inputs.map((i) => `${i.name} ${formatShape(i.shape)} ${i.dtype}`).join(', ')}; outputs ${sig.outputs.map((o) => `${o.name} ${formatShape(o.shape)} ${o.dtype}`).join(', ')}\n`,
      );
    });

  // ---- serve ----
  program
    .command('serve')
    .description('serve models over HTTP (POST /v1/models/<name>/predict); docs at /docs')
    .argument('<models...>', 'model folders or registered names[@version] (a folder is served under its folder name)')
    .option('-p, --port <port>', 'port', int('--port'), 8080)
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--token <token>', 'require this bearer token (default: $LEPTON_TOKEN)')
    .option('--max-batch <n>', 'dynamic batching: rows per batch (1 = off)', int('--max-batch'), 32)
    .option('--max-wait <ms>', 'dynamic batching: longest wait for a batch to fill (ms)', int('--max-wait'), 2)
    .option('--workers <n>', 'inference worker threads', int('--workers'), 1)
    .option('--rate-limit <n>', 'requests per minute per client (default: unlimited)', int('--rate-limit'))
    .option(
      '--body-limit <bytes>',
      'largest request body (and speech-stream message)',
      int('--body-limit'),
      8 * 1024 * 1024,
    )
    .option('--max-streams <n>', 'speech WebSocket streams open at once', int('--max-streams'), 8)
    .option(
      '--max-stream-seconds <s>',
      'seconds of audio one speech stream may carry',
      int('--max-stream-seconds'),
      600,
    )
    .action(
      async (
        refs: string[],
        opts: {
          port: number;
          host: string;
          token?: string;
          maxBatch: number;
          maxWait: number;
          workers: number;
          rateLimit?: number;
          bodyLimit: number;
          maxStreams: number;
          maxStreamSeconds: number;
        },
      ) => {
        const { createModelServer } = await import('../serve/server.js');
        const resolved = refs.map((r) => resolveModelRef(r));
        // Folders are served as given; registered names also pick up versions registered later.
        const models = resolved.map((ref) => ({ dir: ref.dir, name: ref.name, version: ref.version }));
        const registeredNames = resolved.filter((r) => r.registered).map((r) => r.name!);
        const token = opts.token ?? process.env.LEPTON_TOKEN;
        const server = await createModelServer({
          models,
          registry: registeredNames.length ? openRegistry() : undefined,
          registryNames: registeredNames,
          token: token || undefined,
          maxBatchSize: Math.max(1, opts.maxBatch),
          maxWaitMs: opts.maxWait,
          workers: Math.max(1, opts.workers),
          rateLimit: opts.rateLimit ? { max: opts.rateLimit, timeWindowMs: 60_000 } : undefined,
          bodyLimit: opts.bodyLimit,
          stream: { maxStreams: opts.maxStreams, maxSeconds: opts.maxStreamSeconds },
        }).catch((e: Error) => {
          throw new CliError(e.message, 1);
        });
        const url = await server.listen(opts.port, opts.host);
        const { isSpeechModel } = await import('../serve/stream.js');
        for (const m of server.store.list())
          process.stdout.write(
            isSpeechModel(m)
              ? `serving ${m.name}@${m.version}: WebSocket ${url.replace(/^http/, 'ws')}/v1/models/${m.name}/stream (16 kHz Int16 LE PCM)\n`
              : `serving ${m.name}@${m.version}: POST ${url}/v1/models/${m.name}/predict\n`,
          );
        process.stdout.write(`docs: ${url}/docs  metrics: ${url}/metrics${token ? '  (bearer token required)' : ''}\n`);
        await untilSignal(() => server.close());
      },
    );

  // ---- studio ----
  program
    .command('studio')
    .description('the web studio: runs (live charts), comparisons, the model registry and per-model playgrounds')
    .option('-p, --port <port>', 'port', int('--port'), 8090)
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--token <token>', 'require this bearer token for the prediction API (default: $LEPTON_TOKEN)')
    .action(async (opts: { port: number; host: string; token?: string }) => {
      const { createStudio } = await import('../studio/server.js');
      const studio = await createStudio({ registry: openRegistry(), token: opts.token ?? process.env.LEPTON_TOKEN });
      const url = await studio.listen(opts.port, opts.host);
      process.stdout.write(`studio: ${url}/  (registry: ${leptonHome()})\n`);
      await untilSignal(() => studio.close());
    });

  // ---- models ----
  const models = program.command('models').description('the model registry (list, show, register, remove)');
  models
    .command('list', { isDefault: true })
    .description('list registered models')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) => {
      const list = openRegistry().listModels();
      if (opts.json) return printJson(list);
      if (!list.length)
        return void process.stdout.write(
          `no registered models in ${leptonHome()} (register one with: lepton models register <folder>)\n`,
        );
      printTable([
        ['name', 'version', 'inputs', 'metrics', 'run', 'created'],
        ...list.map((m) => [
          m.name,
          m.version,
          m.signature.inputs.map((i) => `${i.name}${formatShape(i.shape)}`).join(' '),
          metricText(m.metrics),
          m.runId,
          m.createdAt.slice(0, 19),
        ]),
      ]);
    });
  models
    .command('show')
    .description('show one model version (default: latest)')
    .argument('<name>', 'name or name@version')
    .option('--json', 'machine-readable output')
    .action((ref: string, opts: { json?: boolean }) => {
      const [name, version] = splitModelRef(ref);
      const m = openRegistry().getModel(name, version);
      if (opts.json) return printJson(m);
      process.stdout.write(
        `${m.name}@${m.version}\n  path: ${m.path}\n  created: ${m.createdAt}\n  run: ${m.runId ?? '-'}\n  metrics: ${metricText(m.metrics) || '-'}\n`,
      );
      for (const i of m.signature.inputs)
        process.stdout.write(`  input  ${i.name} ${formatShape(i.shape)} ${i.dtype}\n`);
      for (const o of m.signature.outputs)
        process.stdout.write(`  output ${o.name} ${formatShape(o.shape)} ${o.dtype}\n`);
      if (m.labels) process.stdout.write(`  labels: ${m.labels.join(', ')}\n`);
    });
  models
    .command('register')
    .description('copy a model folder into the registry as a new version')
    .argument('<folder>', 'model folder (model.onnx + config.json)')
    .option('--name <name>', 'registered name (default: config name or folder name)')
    .option('--run <id>', 'the run that produced it', int('--run'))
    .option('--metric <key=value...>', 'metrics to record, e.g. --metric accuracy=0.91')
    .option('--json', 'machine-readable output')
    .action(async (folder: string, opts: { name?: string; run?: number; metric?: string[]; json?: boolean }) => {
      const metrics: Record<string, number> = {};
      for (const kv of opts.metric ?? []) {
        const [k, v] = kv.split('=');
        if (!k || v === undefined || !Number.isFinite(Number(v)))
          throw new CliError(`--metric expects key=number, got '${kv}'`);
        metrics[k] = Number(v);
      }
      const m = await openRegistry().registerModel(folder, { name: opts.name, runId: opts.run, metrics });
      if (opts.json) return printJson(m);
      process.stdout.write(`registered ${m.name}@${m.version} (${m.path})\n`);
    });
  models
    .command('remove')
    .description('remove a model version, or all versions of a name')
    .argument('<name>', 'name (all versions) or name@version')
    .action((ref: string) => {
      const [name, version] = splitModelRef(ref);
      const n = openRegistry().removeModel(name, version);
      process.stdout.write(`removed ${n} version${n === 1 ? '' : 's'} of ${name}\n`);
    });

  // ---- runs ----
  const runs = program.command('runs').description('training runs (list, show, compare)');
  runs
    .command('list', { isDefault: true })
    .description('list runs, newest first')
    .option('--limit <n>', 'how many', int('--limit'), 50)
    .option('--json', 'machine-readable output')
    .action((opts: { limit: number; json?: boolean }) => {
      const list = openRegistry().listRuns(opts.limit);
      if (opts.json) return printJson(list);
      if (!list.length) return void process.stdout.write(`no runs recorded in ${leptonHome()}\n`);
      printTable([
        ['id', 'name', 'status', 'started', 'duration', 'last epoch'],
        ...list.map((r) => [
          r.id,
          r.name,
          r.status,
          r.startedAt.slice(0, 19),
          formatDuration(r.durationSeconds),
          metricText(r.summary),
        ]),
      ]);
    });
  runs
    .command('show')
    .description('a run: parameters, per-epoch metrics, status')
    .argument('<id>', 'run id', int('run id'))
    .option('--json', 'machine-readable output')
    .action((id: number, opts: { json?: boolean }) => {
      const r = openRegistry();
      const run = r.getRun(id);
      const epochs = r.epochs(id);
      if (opts.json) return printJson({ ...run, epochs });
      process.stdout.write(
        `run ${run.id} '${run.name}': ${run.status}, started ${run.startedAt}, duration ${formatDuration(run.durationSeconds)}\n`,
      );
      if (run.error) process.stdout.write(`  error: ${run.error}\n`);
      process.stdout.write(`  params: ${JSON.stringify(run.params)}\n`);
      const keys = [...new Set(epochs.flatMap((e) => Object.keys(e.metrics)))];
      // Epochs are numbered from 1, as the progress output and the studio show them (the registry stores Keras' 0-based index).
      if (epochs.length)
        printTable([['epoch', ...keys], ...epochs.map((e) => [e.epoch + 1, ...keys.map((k) => e.metrics[k])])]);
    });
  runs
    .command('compare')
    .description('compare runs side by side: parameters that differ and final metrics')
    .argument('<ids...>', 'two or more run ids')
    .option('--json', 'machine-readable output')
    .action((ids: string[], opts: { json?: boolean }) => {
      const r = openRegistry();
      const list = ids.map((s) => r.getRun(int('run id')(s)));
      if (list.length < 2) throw new CliError('compare needs at least two run ids');
      const data = list.map((run) => ({ ...run, epochs: r.epochs(run.id) }));
      if (opts.json) return printJson(data);
      const paramKeys = [...new Set(list.flatMap((x) => Object.keys(x.params)))].filter(
        (k) => new Set(list.map((x) => JSON.stringify(x.params[k]))).size > 1,
      );
      const metricKeys = [...new Set(list.flatMap((x) => Object.keys(x.summary)))];
      printTable([
        ['', ...list.map((x) => `#${x.id} ${x.name}`)],
        ['status', ...list.map((x) => x.status)],
        ['epochs recorded', ...data.map((x) => x.epochs.length)],
        ['duration', ...list.map((x) => formatDuration(x.durationSeconds))],
        ...paramKeys.map((k) => [
          k,
          ...list.map((x) => (x.params[k] === undefined ? '-' : JSON.stringify(x.params[k]))),
        ]),
        ...metricKeys.map((k) => [k, ...list.map((x) => x.summary[k])]),
      ]);
    });

  // ---- datasets ----
  const datasets = program.command('datasets').description('datasets the loaders know (list, locate, download)');
  datasets
    .command('list', { isDefault: true })
    .description('list known datasets and whether they are available offline')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const { datasetCatalog } = await import('./datasets.js');
      const rows = [];
      for (const d of datasetCatalog()) {
        const found = await d.load(false).then(
          (r) => ({ available: true, detail: r.summary }),
          (e: Error) => ({ available: false, detail: e.message.split('\n')[0] }),
        );
        rows.push({ name: d.name, title: d.title, kind: d.kind, ...found });
      }
      if (opts.json) return printJson(rows);
      printTable([
        ['name', 'available', 'description', 'detail'],
        ...rows.map((r) => [r.name, r.available ? 'yes' : 'no', r.title, r.available ? r.detail : '']),
      ]);
    });
  datasets
    .command('locate')
    .description('check that a dataset is available locally (no download)')
    .argument('<name>')
    .option('--json', 'machine-readable output')
    .action(async (name: string, opts: { json?: boolean }) => {
      const { findDataset } = await import('./datasets.js');
      const r = await findDataset(name)
        .load(false)
        .catch((e: Error) => {
          throw new CliError(e.message, 1);
        });
      if (opts.json) return printJson({ name, available: true, summary: r.summary, classNames: r.classNames });
      process.stdout.write(`${name}: available (${r.summary})\n`);
    });
  datasets
    .command('download')
    .description('download a dataset into the cache ($LEPTON_DATA or ~/.cache/lepton)')
    .argument('<name>')
    .action(async (name: string) => {
      const { findDataset } = await import('./datasets.js');
      const r = await findDataset(name)
        .load(true)
        .catch((e: Error) => {
          throw new CliError(e.message, 1);
        });
      process.stdout.write(`${name}: ready (${r.summary})\n`);
    });

  // ---- bench ----
  program
    .command('bench')
    .description('run a benchmark from bench/ (e.g. engine, serve); options are passed through (--json FILE, --quick)')
    .argument('[name]', 'benchmark name')
    .allowUnknownOption()
    .helpOption(false)
    .argument('[options...]')
    .action(async (name: string | undefined, rest: string[]) => {
      const runner = join(packageRoot, 'bench', 'run.ts');
      if (!existsSync(runner))
        throw new CliError('benchmarks are not included in this installation (bench/run.ts is missing)', 1);
      const code = await runChild(
        process.execPath,
        ['--import', tsxImport(), runner, ...(name ? [name] : ['--help']), ...rest],
        process.env,
      );
      if (code !== 0) throw new CliError(`benchmark exited with code ${code}`, code || 1);
    });

  // ---- info ----
  program
    .command('info')
    .description('versions, threads, execution providers, registry and data locations')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const ort = await import('onnxruntime-node');
      const providers = ort
        .listSupportedBackends()
        .map((b: { name: string; bundled: boolean }) => ({ name: b.name, bundled: b.bundled }));
      const { dataHome } = await import('../data/loaders/locate.js').catch(() => ({
        dataHome: () => process.env.LEPTON_DATA ?? '~/.cache/lepton',
      }));
      const info = {
        lepton: packageVersion(),
        node: process.version,
        onnxruntime: ort.env.versions.node ?? packageVersion('onnxruntime-node'),
        platform: `${process.platform}-${process.arch}`,
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? 'unknown',
        availableParallelism: availableParallelism(),
        memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
        executionProviders: providers,
        leptonHome: leptonHome(),
        dataHome: dataHome(),
      };
      if (opts.json) return printJson(info);
      process.stdout.write(
        [
          `lepton ${info.lepton}`,
          `node ${info.node}, onnxruntime-node ${info.onnxruntime}, ${info.platform}`,
          `CPU: ${info.cpus} logical (${info.cpuModel}), available parallelism ${info.availableParallelism}, ${info.memoryGiB} GiB memory`,
          `execution providers: ${providers.map((p: { name: string; bundled: boolean }) => `${p.name}${p.bundled ? '' : ' (not bundled)'}`).join(', ')}`,
          `registry: ${info.leptonHome}`,
          `data: ${info.dataHome}`,
        ].join('\n') + '\n',
      );
    });

  return program;
}

function fileStem(path: string): string {
  return path.replace(/^.*[\\/]/, '').replace(/\.[^.]+$/, '');
}

function metricText(m: Record<string, number | null>): string {
  return Object.entries(m)
    .map(([k, v]) => `${k}=${v === null ? 'NaN' : Number.isInteger(v) ? v : v.toFixed(4)}`)
    .join(' ');
}

async function evaluationData(
  data: string,
  label?: string,
): Promise<{ x: import('../engine/onnx/proto.js').HostTensor; y: Int32Array | Float32Array }> {
  if (extname(data).toLowerCase() === '.csv') {
    const { csvRows } = await import('./predict.js');
    if (!existsSync(data)) throw new CliError(`no such file '${data}'`);
    const text = readFileSync(data, 'utf8');
    const rows = csvRows(text, data);
    if (!rows.length) throw new CliError(`${data}: no data rows`);
    const header = text.split(/\r?\n/, 1)[0].split(',');
    const cols = rows[0].length;
    let li = cols - 1;
    if (label !== undefined) li = /^\d+$/.test(label) ? Number(label) : header.indexOf(label);
    if (li < 0 || li >= cols) throw new CliError(`${data}: no label column '${label}' (columns: ${header.join(', ')})`);
    const x = new Float32Array(rows.length * (cols - 1));
    const y = new Int32Array(rows.length);
    rows.forEach((r, i) => {
      let k = 0;
      r.forEach((v, j) => (j === li ? (y[i] = v) : (x[i * (cols - 1) + k++] = v)));
    });
    return { x: { dtype: 'float32', shape: [rows.length, cols - 1], data: x }, y };
  }
  const { findDataset } = await import('./datasets.js');
  findDataset(data);
  const mod = await import('../data/index.js');
  const name = data.toLowerCase();
  if (name === 'mnist' || name === 'fashion-mnist') {
    const d = name === 'mnist' ? mod.mnist : mod.fashionMnist;
    const [x, y] = await d.load('test', { download: false, onProgress: () => {} }).catch((e: Error) => {
      throw new CliError(e.message, 1);
    });
    return {
      x: { dtype: 'float32', shape: x.shape as number[], data: x.data as Float32Array },
      y: y.data as Int32Array,
    };
  }
  const loaders: Record<string, () => Promise<{ x: { shape: unknown; data: unknown }; y: { data: unknown } }>> = {
    iris: () => mod.iris(),
    wine: () => mod.wine(),
    'breast-cancer': () => mod.breastCancer(),
    digits: () => mod.sklearnDigits(),
  };
  if (!loaders[name])
    throw new CliError(
      `evaluate supports mnist, fashion-mnist, ${Object.keys(loaders).join(', ')} or a .csv file; '${data}' is not one of them`,
    );
  const d = await loaders[name]();
  return {
    x: { dtype: 'float32', shape: d.x.shape as number[], data: d.x.data as Float32Array },
    y: d.y.data as Int32Array,
  };
}

function runChild(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: 'inherit', env, cwd: process.cwd() });
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolvePromise(code ?? (signal ? 128 : 1));
    });
  });
}

/** Waits for SIGINT/SIGTERM, then shuts down gracefully (a second signal exits at once). */
function untilSignal(shutdown: () => Promise<void>): Promise<void> {
  return new Promise((resolvePromise) => {
    const onSignal = (sig: string) => {
      process.stderr.write(`\n${sig}: finishing in-flight requests…\n`);
      process.once('SIGINT', () => process.exit(130));
      shutdown().then(resolvePromise, (e) => {
        process.stderr.write(`shutdown error: ${(e as Error).message}\n`);
        resolvePromise();
      });
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}

/** Runs the CLI; returns the exit code (errors are printed, never thrown). */
export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander already printed help/version/usage errors
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof CliError) {
      process.stderr.write(`lepton: ${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof RegistryError || e instanceof ModelFolderError || e instanceof LeptonError) {
      process.stderr.write(`lepton: ${e.message}\n`);
      return 1;
    }
    // Anything else: one line with the message; the stack only on request (a bug report wants it, a user does not).
    const err = e as NodeJS.ErrnoException;
    const message = err instanceof Error ? err.message.split('\n')[0] : String(e);
    if (process.env.LEPTON_DEBUG) process.stderr.write(`lepton: ${err?.stack ?? String(e)}\n`);
    else
      process.stderr.write(
        `lepton: ${message}${err?.code && /^E[A-Z]+$/.test(err.code) ? '' : ' (set LEPTON_DEBUG=1 for the stack trace)'}\n`,
      );
    return 1;
  }
}

// Option is re-exported for subcommand extensions in tests.
export { Option };
