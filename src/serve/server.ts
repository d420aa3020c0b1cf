/**
 * The HTTP model server (Fastify): predictions with dynamic batching on worker threads, model
 * listing, health/readiness, Prometheus metrics, OpenAPI + docs, bearer auth, size limits,
 * content-type checks, signature validation, rate limiting, graceful shutdown and hot loading.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { OrtWorker } from '../engine/runtime/pool.js';
import type { SessionOptions } from '../engine/runtime/session.js';
import type { Registry } from '../registry/registry.js';
import type { Feeds, Outputs } from './batcher.js';
import { decodeBase64Image, imagesToTensor } from './image.js';
import { ServerMetrics } from './metrics.js';
import type { ServedModel } from './model.js';
import { ModelStore } from './store.js';
import { type StreamLimits, registerSpeechStreams } from './stream.js';
import { RequestError, parseTopK } from './tensors.js';
import { type TextLimits, predictText, textRoutes } from './text.js';
import { detectRoutes } from './detect.js';

export interface ModelSource {
  /** A model folder (model.onnx + config.json). */
  dir: string;
  /** Served name (default: the folder name). */
  name?: string;
  version?: number;
}

export interface ServerOptions {
  models?: ModelSource[];
  /** Serve registered models by name too (loaded on first request; new registered versions are picked up). */
  registry?: Registry;
  /** Limit which registered names are served (default: all). */
  registryNames?: string[];
  /** Bearer token; when set, /v1/*, /metrics and `protectedPrefixes` require `Authorization: Bearer <token>`. */
  token?: string;
  /** More URL prefixes that require the token (the studio adds its '/api/'). */
  protectedPrefixes?: string[];
  /** Largest request body in bytes (default 8 MiB). */
  bodyLimit?: number;
  /** Largest batch (rows) one request may carry (default 256). */
  maxRequestRows?: number;
  /** Dynamic batching: rows per batch (default 32; 1 disables batching) and wait (default 2 ms). */
  maxBatchSize?: number;
  maxWaitMs?: number;
  /** Worker threads running inference (default 1). */
  workers?: number;
  session?: SessionOptions;
  /** Speech WebSocket streams (/v1/models/:name/stream): concurrency, length and idle limits. */
  stream?: StreamLimits;
  /** Requests per client per window (off by default). */
  rateLimit?: { max: number; timeWindowMs?: number };
  logger?: boolean;
  /** Limits on text models' requests (characters per text, texts per request, generated tokens). */
  text?: TextLimits;
  /** Extra routes (the studio) registered on the same app. */
  plugins?: ((app: FastifyInstance, ctx: ServerContext) => Promise<void> | void)[];
}

export interface ServerContext {
  store: ModelStore;
  metrics: ServerMetrics;
  options: ServerOptions;
  /** Loads a model folder as a new version of `name` without dropping requests. */
  load(dir: string, name?: string, version?: number): Promise<ServedModel>;
  ready(): boolean;
  /** Speech streams open now. */
  activeStreams(): number;
}

export interface ModelServer extends ServerContext {
  app: FastifyInstance;
  listen(port?: number, host?: string): Promise<string>;
  /** Stops accepting connections, finishes in-flight requests, frees workers. */
  close(): Promise<void>;
}

const predictSchemaBody = {
  description:
    'JSON: {"inputs": <nested array, axis 0 = batch>} for single-input models or {"inputs": {"<input name>": <nested array>}} (image models: 0..255 pixels [batch, H, W, C], preprocessed like images unless "preprocessed": true); image models also accept {"image": "<base64 or data URL>"} / {"images": [...]}, multipart/form-data file fields, or a raw image/* body.',
  type: 'object',
  properties: {
    inputs: { description: 'Nested array or object of nested arrays by input name.' },
    image: { type: 'string', description: 'Base64 image (image models).' },
    images: { type: 'array', items: { type: 'string' } },
    top_k: { type: 'integer', minimum: 1 },
    preprocessed: {
      type: 'boolean',
      description:
        "Image models: `inputs` are model-ready tensors (skip the model's preprocessing). Default false: `inputs` are 0..255 pixels [batch, H, W, C] preprocessed like an uploaded image.",
    },
  },
};

export async function createModelServer(options: ServerOptions = {}): Promise<ModelServer> {
  const bodyLimit = options.bodyLimit ?? 8 * 1024 * 1024;
  const maxRows = options.maxRequestRows ?? 256;
  const limits = { maxRows, maxElements: Math.floor(bodyLimit / 2) };
  const textLimits: Required<TextLimits> = {
    maxChars: options.text?.maxChars ?? 10_000,
    maxTexts: options.text?.maxTexts ?? maxRows,
    maxNewTokens: options.text?.maxNewTokens ?? 512,
  };
  const metrics = new ServerMetrics();
  const workers = Array.from({ length: Math.max(1, options.workers ?? 1) }, () => new OrtWorker());
  const store = new ModelStore(
    {
      workers,
      batching: {
        maxBatchSize: Math.max(1, options.maxBatchSize ?? 32),
        maxWaitMs: Math.max(0, options.maxWaitMs ?? 2),
      },
      session: options.session,
      metrics,
    },
    options.registry,
    () => trackGauges(),
    options.registryNames ? new Set(options.registryNames) : undefined,
  );
  let closing = false;
  let initialLoaded = false;

  function trackGauges(): void {
    metrics.modelsLoaded.track({}, () => store.list().length);
    for (const m of store.list())
      metrics.queueLength.track({ model: m.name, version: String(m.version) }, () => m.batcher.queueLength);
  }
  trackGauges();

  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit,
    // Idle keep-alive sockets close at shutdown; requests already running finish first.
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    ajv: { customOptions: { coerceTypes: true } },
  });
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit }, (_req, body, done) =>
    done(null, body),
  );
  app.addContentTypeParser(/^image\/[\w.+-]+$/, { parseAs: 'buffer', bodyLimit }, (_req, body, done) =>
    done(null, body),
  );
  await app.register(multipart, { limits: { fileSize: bodyLimit, files: maxRows, fields: 16, parts: maxRows + 16 } });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Lepton model server',
        version: '1',
        description: 'Predictions from Lepton models (ONNX Runtime, dynamic batching).',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      ...(options.token ? { security: [{ bearer: [] }] } : {}),
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  const activeStreams = await registerSpeechStreams(app, {
    store,
    metrics,
    maxMessageBytes: bodyLimit,
    limits: options.stream ?? {},
  });
  if (options.rateLimit) {
    await app.register(rateLimit, {
      max: options.rateLimit.max,
      timeWindow: options.rateLimit.timeWindowMs ?? 60_000,
      allowList: (req) => req.url === '/healthz' || req.url === '/readyz',
    });
  }

  const tokenDigest = options.token ? createHash('sha256').update(options.token).digest() : undefined;
  const extraProtected = options.protectedPrefixes ?? [];
  const protectedPath = (url: string) =>
    url.startsWith('/v1/') ||
    url === '/v1' ||
    url.startsWith('/metrics') ||
    extraProtected.some((p) => url.startsWith(p));
  app.addHook('onRequest', async (req, reply) => {
    if (!tokenDigest || !protectedPath(req.url)) return;
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    // A browser's EventSource and WebSocket cannot send headers: event streams and WebSocket upgrades
    // may carry the token as ?access_token= (RFC 6750 §2.3).
    const queryToken =
      !m && (req.headers.accept === 'text/event-stream' || req.headers.upgrade?.toLowerCase() === 'websocket')
        ? new URL(req.url, 'http://x').searchParams.get('access_token')
        : null;
    const presented = m ? m[1].trim() : queryToken;
    // Hash both sides so the comparison is constant-time whatever the lengths.
    const given = createHash('sha256')
      .update(presented ?? '')
      .digest();
    if (presented === null || !timingSafeEqual(given, tokenDigest)) {
      reply.header('www-authenticate', 'Bearer realm="lepton"');
      return reply.code(401).send({ error: 'missing or invalid bearer token', statusCode: 401 });
    }
  });

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, req, reply) => {
    const status =
      error instanceof RequestError
        ? error.statusCode
        : error.statusCode && error.statusCode >= 400 && error.statusCode < 600
          ? error.statusCode
          : 500;
    if (status >= 500) req.log.error(error);
    const message =
      status >= 500 && !(error instanceof RequestError) ? `internal error: ${error.message}` : error.message;
    return reply.code(status).send({ error: message, statusCode: status, ...(error.code ? { code: error.code } : {}) });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: `no route ${req.method} ${req.url}`, statusCode: 404 }),
  );

  app.get('/healthz', { schema: { summary: 'Liveness', tags: ['health'] } }, async () => ({ status: 'ok' }));
  app.get(
    '/readyz',
    { schema: { summary: 'Readiness: models loaded and not shutting down', tags: ['health'] } },
    async (_req, reply) => {
      const ready = initialLoaded && !closing;
      return reply.code(ready ? 200 : 503).send({
        status: ready ? 'ready' : closing ? 'shutting down' : 'loading',
        models: store.list().map((m) => `${m.name}@${m.version}`),
        streams: activeStreams(),
      });
    },
  );
  app.get('/metrics', { schema: { summary: 'Prometheus metrics', tags: ['health'] } }, async (_req, reply) =>
    reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.render()),
  );
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get('/v1/models', { schema: { summary: 'Models with their signatures', tags: ['models'] } }, async () => {
    const loaded = store.list();
    const registered = (options.registry?.listModels() ?? []).filter(
      (m) => !options.registryNames || options.registryNames.includes(m.name),
    );
    const byName = new Map<string, Record<string, unknown>>();
    for (const r of registered) {
      byName.set(r.name, {
        name: r.name,
        version: r.version,
        signature: r.signature,
        labels: r.labels,
        loaded: false,
        versions: registered.filter((x) => x.name === r.name).map((x) => x.version),
      });
    }
    for (const name of store.names()) {
      const latest = store.latest(name)!;
      const prev = byName.get(name);
      if (prev && (prev.version as number) > latest.version) continue;
      byName.set(name, {
        ...latest.describe(),
        loaded: true,
        versions: [
          ...new Set([
            ...((prev?.versions as number[]) ?? []),
            ...loaded.filter((m) => m.name === name).map((m) => m.version),
          ]),
        ].sort((a, b) => a - b),
      });
    }
    return { models: [...byName.values()] };
  });

  app.get<{ Params: { name: string } }>(
    '/v1/models/:name',
    { schema: { summary: 'One model (latest version)', tags: ['models'] } },
    async (req) => (await store.resolve(req.params.name)).describe(),
  );

  const predictRoute = {
    schema: {
      summary: 'Predict',
      tags: ['predict'],
      consumes: ['application/json', 'multipart/form-data', 'image/png', 'image/jpeg', 'application/octet-stream'],
      querystring: {
        type: 'object',
        properties: {
          top_k: { type: 'integer', minimum: 1, maximum: 1000 },
          format: {
            type: 'string',
            enum: ['json', 'png'],
            description: 'segmentation models: png answers one image with its class map (8-bit grey PNG)',
          },
        },
      },
      body: predictSchemaBody,
    },
    // The body schema documents the request; validation against the model's signature happens in the handler.
    validatorCompiler: ({ httpPart }: { httpPart?: string }) => (httpPart === 'body' ? () => true : undefined) as never,
  };
  const handlePredict = async (
    req: FastifyRequest<{
      Params: { name: string; version?: string };
      Querystring: { top_k?: number; format?: string };
    }>,
    reply: FastifyReply,
  ) => {
    const t0 = performance.now();
    let model: ServedModel | undefined;
    try {
      const v = req.params.version;
      if (v !== undefined && !/^\d{1,9}$/.test(v))
        throw new RequestError(400, `version: expected a positive integer, received '${v}'`);
      model = await store.resolve(req.params.name, v === undefined ? undefined : Number(v));
      const queryTopK = parseTopK(req.query.top_k);
      const text = await predictText(model, req.body, queryTopK, textLimits);
      if (text) return reply.send(text);
      const { feeds, rows, topK } = await readPredictRequest(req, model, limits);
      const format = req.query.format ?? 'json';
      if (format !== 'json' && format !== 'png')
        throw new RequestError(400, `format: expected 'json' or 'png', received '${format}'`);
      if (format === 'png' && !model.segmentation)
        throw new RequestError(400, `format=png: model '${model.name}' is not a segmentation model`);
      if (format === 'png' && rows !== 1) throw new RequestError(400, `format=png answers one image; received ${rows}`);
      const outputs = await model.predict(feeds, rows);
      if (format === 'png') return reply.type('image/png').send(await classMapPng(model, outputs));
      return reply.send(model.respond(outputs, queryTopK ?? topK ?? 5));
    } finally {
      if (model) metrics.latency.observe({ model: model.name }, (performance.now() - t0) / 1000);
    }
  };
  // Every prediction request is counted when its response goes out, whatever stage answered it: the
  // handler, the body parser (malformed JSON, 413), the content-type check (415) or the token check.
  const predictRoutes = new Set([
    '/v1/models/:name/predict',
    '/v1/models/:name/versions/:version/predict',
    '/v1/models/:name/generate',
    '/v1/models/:name/translate',
    '/v1/models/:name/detect',
  ]);
  app.addHook('onResponse', async (req, reply) => {
    if (!predictRoutes.has(req.routeOptions.url ?? '')) return;
    metrics.requests.inc({ model: (req.params as { name?: string }).name ?? '', code: String(reply.statusCode) });
  });
  app.post(
    '/v1/models/:name/predict',
    { ...predictRoute, schema: { ...predictRoute.schema, summary: 'Predict with the latest version' } },
    handlePredict as never,
  );
  app.post(
    '/v1/models/:name/versions/:version/predict',
    { ...predictRoute, schema: { ...predictRoute.schema, summary: 'Predict with one version' } },
    handlePredict as never,
  );

  textRoutes(app, store, textLimits);
  detectRoutes(app, store, requestImages, limits);

  const ctx: ServerContext = {
    store,
    metrics,
    options,
    load: (dir, name, version) => store.load(dir, name, version),
    ready: () => initialLoaded && !closing,
    activeStreams,
  };
  for (const plugin of options.plugins ?? []) await plugin(app, ctx);

  app.addHook('preClose', async () => {
    closing = true;
  });
  // Requests that were running when shutdown began: answer them, then close their keep-alive sockets.
  app.addHook('onSend', async (_req, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  app.addHook('onResponse', async () => {
    if (closing) app.server.closeIdleConnections();
  });
  app.addHook('onClose', async () => {
    await store.unloadAll();
    await Promise.all(workers.map((w) => w.terminate()));
  });

  try {
    for (const m of options.models ?? []) await store.load(m.dir, m.name, m.version);
  } catch (e) {
    await Promise.all(workers.map((w) => w.terminate()));
    throw e;
  }
  initialLoaded = true;

  return {
    ...ctx,
    app,
    async listen(port = 8080, host = '127.0.0.1') {
      return app.listen({ port, host });
    },
    async close() {
      await app.close();
    },
  };
}

const JSON_TYPES = /^application\/(.+\+)?json$/;

/** A segmentation model's answer for one image as an 8-bit grey PNG (pixel = class index). */
async function classMapPng(model: ServedModel, outputs: Outputs): Promise<Buffer> {
  const { height, width } = model.image!;
  const sharp = (await import('sharp')).default;
  return sharp(Buffer.from(model.classMap(outputs, 0)), { raw: { width, height, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}

/** An image a request carried, with the field it came in (for error messages). */
export interface RequestImage {
  bytes: Buffer;
  field: string;
}

/**
 * The images of a request: multipart file parts, a raw image/* (or octet-stream) body, or a JSON
 * body's "image"/"images" (base64). Undefined for a JSON body without them. `top_k` comes along
 * from a multipart field or the JSON body. `takesTensors` names the model in the 415 for models
 * that take no images.
 */
export async function requestImages(
  req: FastifyRequest,
  limits: { maxRows: number },
  takesTensors?: string,
): Promise<{ images: RequestImage[]; topK?: number; json?: Record<string, unknown> } | undefined> {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  const noImages = () =>
    new RequestError(415, `model '${takesTensors}' takes tensors, not images: send application/json {"inputs": ...}`);
  if (req.isMultipart()) {
    if (takesTensors) throw noImages();
    const images: RequestImage[] = [];
    let topK: number | undefined;
    try {
      for await (const part of req.parts()) {
        if (part.type === 'file') {
          const bytes = await part.toBuffer();
          images.push({ bytes, field: `${part.fieldname}[${images.length}]` });
        } else if (part.fieldname === 'top_k') {
          topK = parseTopK(part.value);
        }
      }
    } catch (e) {
      // Size limits keep their 413; a malformed multipart body is the client's error.
      const status = (e as { statusCode?: number }).statusCode;
      if (e instanceof RequestError || (status && status < 500)) throw e;
      throw new RequestError(400, `multipart body: ${(e as Error).message}`);
    }
    if (images.length === 0)
      throw new RequestError(
        400,
        'multipart body: no image file field (send the image as a file part, e.g. -F image=@digit.png)',
      );
    if (images.length > limits.maxRows)
      throw new RequestError(413, `multipart body: ${images.length} images exceed the limit of ${limits.maxRows}`);
    return { images, topK };
  }
  if (type.startsWith('image/') || type === 'application/octet-stream') {
    if (takesTensors) throw noImages();
    return { images: [{ bytes: req.body as Buffer, field: 'body' }] };
  }
  if (!JSON_TYPES.test(type)) {
    throw new RequestError(
      415,
      `unsupported content type '${type || '(none)'}': send application/json${takesTensors ? '' : ', multipart/form-data or image/*'}`,
    );
  }
  const body = req.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new RequestError(400, 'body: expected a JSON object such as {"inputs": [[...]]}');
  const b = body as Record<string, unknown>;
  const topK = parseTopK(b.top_k);
  if (takesTensors || (b.image === undefined && b.images === undefined)) return { images: [], topK, json: b };
  const list = b.images !== undefined ? b.images : [b.image];
  if (!Array.isArray(list) || list.length === 0)
    throw new RequestError(400, 'images: expected a non-empty array of base64 strings');
  if (list.length > limits.maxRows)
    throw new RequestError(413, `images: ${list.length} images exceed the limit of ${limits.maxRows}`);
  const images = list.map((v, i) => ({
    bytes: decodeBase64Image(v, b.images !== undefined ? `images[${i}]` : 'image'),
    field: b.images !== undefined ? `images[${i}]` : 'image',
  }));
  return { images, topK };
}

/** Reads a predict request in any accepted form into feeds. */
async function readPredictRequest(
  req: FastifyRequest,
  model: ServedModel,
  limits: { maxRows: number; maxElements: number },
): Promise<{ feeds: Feeds; rows: number; topK?: number }> {
  const imageInput = model.signature.inputs[0]?.name;
  const got = await requestImages(req, limits, model.image ? undefined : model.name);
  if (got?.images.length && model.image)
    return {
      feeds: { [imageInput]: await imagesToTensor(got.images, model.image) },
      rows: got.images.length,
      topK: got.topK,
    };
  const b = got?.json ?? {};
  const topK = got?.topK;
  if (b.preprocessed !== undefined && typeof b.preprocessed !== 'boolean')
    throw new RequestError(400, `preprocessed: expected true or false, received ${JSON.stringify(b.preprocessed)}`);
  return { ...(await model.feedsFromJson(b.inputs, limits, { preprocessed: b.preprocessed === true })), topK };
}
