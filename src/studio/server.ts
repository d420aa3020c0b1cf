/**
 * The web studio: plain HTML/JS/CSS pages (no build step) on the model server's Fastify app, so the
 * playground predicts through the same API. Pages: runs list, run (live charts over SSE), compare,
 * model registry, per-model playground, speak (the microphone streamed to a speech model). Model and
 * run pages draw recorded evaluations (PR curves, confusion matrix). The JSON API under /api reads the registry; with a token it
 * requires the bearer token like /v1 (the pages ask for it once and keep it in localStorage).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Registry } from '../registry/registry.js';
import { openEventStream } from '../serve/events.js';
import { type ModelServer, type ServerContext, type ServerOptions, createModelServer } from '../serve/server.js';

// Pages live beside this file in the sources; a build without copied assets reads them from src/.
const here = dirname(fileURLToPath(import.meta.url));
const publicDir = existsSync(join(here, 'public'))
  ? join(here, 'public')
  : join(here, '..', '..', 'src', 'studio', 'public');

export interface StudioOptions extends Omit<ServerOptions, 'registry' | 'plugins' | 'protectedPrefixes'> {
  registry: Registry;
  /** How often live views poll the registry for new epochs (ms, default 500). */
  pollMs?: number;
}

const PAGES: Record<string, string> = {
  '/': 'runs.html',
  '/runs': 'runs.html',
  '/runs/:id': 'run.html',
  '/compare': 'compare.html',
  '/models': 'models.html',
  '/models/:name': 'playground.html',
  '/speak': 'speak.html',
};

/** Evaluations a page receives (the newest): each carries its curves, a few kB per class. */
const MAX_EVALUATIONS = 20;

const ASSETS: Record<string, string> = {
  'studio.js': 'application/javascript; charset=utf-8',
  'studio.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
  'speak-worklet.js': 'application/javascript; charset=utf-8',
};

export async function createStudio(options: StudioOptions): Promise<ModelServer> {
  const { registry, pollMs = 500, ...serverOptions } = options;
  // The studio's JSON API reads runs and models: it sits behind the same token as predictions.
  return createModelServer({
    ...serverOptions,
    registry,
    protectedPrefixes: ['/api/'],
    plugins: [(app, ctx) => studioRoutes(app, ctx, registry, pollMs)],
  });
}

function studioRoutes(app: FastifyInstance, _ctx: ServerContext, registry: Registry, pollMs: number): void {
  const streams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of streams) end();
  });

  const page = (file: string) => readFileSync(join(publicDir, file), 'utf8');
  for (const [route, file] of Object.entries(PAGES)) {
    app.get(route, { schema: { hide: true } }, async (_req, reply) =>
      reply.type('text/html; charset=utf-8').send(page(file)),
    );
  }
  // Browsers ask for /favicon.ico whatever the pages say: answer with the SVG icon.
  app.get('/favicon.ico', { schema: { hide: true } }, async (_req, reply) =>
    reply.type(ASSETS['favicon.svg']).send(page('favicon.svg')),
  );
  app.get<{ Params: { file: string } }>('/static/:file', { schema: { hide: true } }, async (req, reply) => {
    const type = ASSETS[req.params.file];
    if (!type) return reply.code(404).send({ error: `no asset '${req.params.file}'`, statusCode: 404 });
    return reply.type(type).send(page(req.params.file));
  });

  const runId = (raw: string, reply: FastifyReply): number | undefined => {
    if (!/^\d{1,12}$/.test(raw)) {
      void reply.code(400).send({ error: `run id: expected an integer, received '${raw}'`, statusCode: 400 });
      return undefined;
    }
    const id = Number(raw);
    try {
      registry.getRun(id);
      return id;
    } catch (e) {
      void reply.code(404).send({ error: (e as Error).message, statusCode: 404 });
      return undefined;
    }
  };

  app.get('/api/runs', { schema: { hide: true } }, async () => ({ runs: registry.listRuns() }));
  app.get<{ Params: { id: string } }>('/api/runs/:id', { schema: { hide: true } }, async (req, reply) => {
    const id = runId(req.params.id, reply);
    if (id === undefined) return reply;
    return {
      run: registry.getRun(id),
      epochs: registry.epochs(id),
      steps: registry.steps(id),
      models: registry.listModels().filter((m) => m.runId === id),
      // Evaluations of the run's models (lepton evaluate): PR curves and confusion matrices.
      evaluations: registry.evaluations({ runId: id, limit: MAX_EVALUATIONS }),
    };
  });
  const detectorClasses = (path: string): string[] | null => {
    try {
      return JSON.parse(readFileSync(join(path, 'detector.json'), 'utf8')).classNames ?? [];
    } catch {
      return null;
    }
  };
  // `speech`: a streaming recognizer (asr.json beside the model), for the speak page.
  const speech = (path: string) => existsSync(join(path, 'asr.json'));
  app.get('/api/models', { schema: { hide: true } }, async () => ({
    models: registry.listModels().map((m) => ({ ...m, speech: speech(m.path) })),
  }));
  app.get<{ Params: { name: string } }>('/api/models/:name', { schema: { hide: true } }, async (req, reply) => {
    const versions = registry.listModels().filter((m) => m.name === req.params.name);
    if (!versions.length)
      return reply.code(404).send({ error: `no registered model '${req.params.name}'`, statusCode: 404 });
    let config: Record<string, unknown> = {};
    try {
      config = JSON.parse(readFileSync(join(versions[versions.length - 1].path, 'config.json'), 'utf8'));
    } catch {
      // config.json is optional; the signature in the registry is enough for the playground
    }
    return {
      name: req.params.name,
      versions,
      latest: versions[versions.length - 1],
      preprocessing: config.preprocessing ?? null,
      featureNames: config.featureNames ?? null,
      speech: speech(versions[versions.length - 1].path),
      // An object detector (FcosDetector.save wrote detector.json): its class names, for the playground.
      detector: detectorClasses(versions[versions.length - 1].path),
      // Recorded evaluations of every version, newest first (the page draws their pictures).
      evaluations: registry.evaluations({ model: req.params.name, limit: MAX_EVALUATIONS }),
    };
  });

  // Live run updates: new steps, epochs, batch progress and status changes, as server-sent events.
  app.get<{ Params: { id: string } }>('/api/runs/:id/events', { schema: { hide: true } }, async (req, reply) => {
    const id = runId(req.params.id, reply);
    if (id === undefined) return reply;
    const { res, send } = openEventStream(reply);
    let lastEpoch = Number.NEGATIVE_INFINITY;
    let lastStep = 0;
    let lastProgress = '';
    let lastStatus = '';
    const tick = () => {
      try {
        const run = registry.getRun(id);
        const steps = registry.steps(id, lastStep);
        if (steps.length) {
          send('steps', steps);
          lastStep = steps[steps.length - 1].step;
        }
        for (const e of registry.epochs(id, lastEpoch)) {
          send('epoch', e);
          lastEpoch = e.epoch;
        }
        const progress = JSON.stringify(run.progress);
        if (progress !== lastProgress && run.progress) send('progress', run.progress);
        lastProgress = progress;
        // 'status' carries the whole run: sent when its status or parameters change.
        const runKey = JSON.stringify([run.status, run.params]);
        if (runKey !== lastStatus) send('status', run);
        lastStatus = runKey;
        if (run.status !== 'running') end();
        else res.write(': keep-alive\n\n');
      } catch (e) {
        send('error', { error: (e as Error).message });
        end();
      }
    };
    const timer = setInterval(tick, pollMs);
    const end = () => {
      clearInterval(timer);
      streams.delete(end);
      if (!res.writableEnded) res.end();
    };
    streams.add(end);
    req.raw.on('close', end);
    tick();
  });
}
