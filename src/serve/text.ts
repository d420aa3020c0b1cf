/**
 * Text models in the model server: folders written by lepton/text's `saveTextModel` carry a
 * tokenizer.json and a `preprocessing` entry {kind: 'text', task, sequenceLength, …}. Requests
 * carry strings, the tokenizer runs here, and the model runs on the server's own sessions through
 * the batcher like any other model (lepton/text's classifyTexts/generateText do the rest, so the
 * answers equal `pipeline()`'s).
 *
 *   POST /v1/models/:name/predict   {"text": "…"} or {"texts": ["…", …]}, optional "top_k"
 *        → {"predictions": [[{"label", "score"}, …], …]} (one list per text, most likely first)
 *   POST /v1/models/:name/generate  {"prompt", "max_new_tokens", "do_sample", "temperature",
 *        "top_k", "top_p", "seed", "stream"} → {"generated_text"}; with "stream": true (or
 *        Accept: text/event-stream) a server-sent event stream: `event: token` {"text"} per token,
 *        then `event: done` {"generated_text"} (or `event: error` {"error"}). A client that
 *        disconnects stops the generation before its next token.
 *   POST /v1/models/:name/translate {"text"|"texts", "num_beams", "max_new_tokens", "length_penalty"}
 *        → {"translations": [{"translation_text"}, …]} for folders written by saveTranslationModel
 *        (the Lepton model is loaded and decoded as `pipeline('translation')` does, with its
 *        key/value cache in an inference worker).
 */
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HostTensor } from '../engine/onnx/proto.js';
import {
  type GenerationOptions,
  type TextPreprocessing,
  type TokenModelRunner,
  Tokenizer,
  type TranslationPipeline,
  classifyTexts,
  generateText,
  pipeline,
} from '../text/index.js';
import { openEventStream } from './events.js';
import type { ServedModel } from './model.js';
import type { ModelStore } from './store.js';
import { RequestError, parseTopK } from './tensors.js';

/** Limits on text requests (413/400 with a message when exceeded). */
export interface TextLimits {
  /** Longest text or prompt in characters (default 10,000; longer → 413). */
  maxChars?: number;
  /** Most texts per predict request (default: the server's maxRequestRows). */
  maxTexts?: number;
  /** Largest max_new_tokens a generate request may ask for (default 512; more → 400). */
  maxNewTokens?: number;
}

/** The text side of a served model: its tokenizer and how to run it on token ids. */
interface ServedText {
  pre: TextPreprocessing;
  tokenizer: Tokenizer;
  run: TokenModelRunner;
}

// One tokenizer per loaded model version, read at its first text request.
const loaded = new WeakMap<ServedModel, Promise<ServedText>>();

/** The model's text preprocessing, or undefined when it is not a text model. */
export function textPreprocessingOf(model: ServedModel): TextPreprocessing | undefined {
  const pre = model.config.preprocessing as Partial<TextPreprocessing> | undefined;
  if (pre?.kind !== 'text') return undefined;
  if (
    (pre.task !== 'text-classification' && pre.task !== 'text-generation' && pre.task !== 'translation') ||
    typeof pre.tokenizer !== 'string' ||
    !Number.isInteger(pre.sequenceLength)
  )
    throw new RequestError(
      500,
      `model '${model.name}': config.json's text preprocessing is incomplete (needs task, tokenizer, sequenceLength)`,
    );
  return pre as TextPreprocessing;
}

function servedText(model: ServedModel, pre: TextPreprocessing): Promise<ServedText> {
  let text = loaded.get(model);
  if (!text) {
    text = (async () => {
      const tokenizer = Tokenizer.load(join(model.dir, pre.tokenizer));
      const rows = embeddingRows(model.config.architecture);
      // Ids past the embedding table would be gathered out of range: say so once, at load.
      if (rows !== undefined && tokenizer.vocabSize > rows)
        throw new RequestError(
          500,
          `model '${model.name}': ${pre.tokenizer} has ${tokenizer.vocabSize} tokens but the model's embedding has ${rows} rows — a tokenizer from another vocabulary?`,
        );
      const [input] = model.signature.inputs;
      const [output] = model.signature.outputs;
      const run: TokenModelRunner = async (ids, rows) => {
        const shape = [rows, ids.length / rows];
        let feed: HostTensor;
        if (input.dtype === 'int32') feed = { dtype: 'int32', shape, data: ids };
        else if (input.dtype === 'float32') feed = { dtype: 'float32', shape, data: Float32Array.from(ids) };
        else
          throw new RequestError(500, `model '${model.name}': input '${input.name}' is ${input.dtype}, not token ids`);
        const feeds = { [input.name]: feed };
        const y = (await model.predict(feeds, rows))[output.name];
        return { data: y.data as Float32Array, shape: y.shape };
      };
      return { pre, tokenizer, run };
    })();
    loaded.set(model, text);
    text.catch(() => loaded.delete(model));
  }
  return text;
}

/**
 * Rows of the first token embedding in a Lepton config.json `architecture` (a serialized model:
 * TokenAndPositionEmbedding's vocabularySize or Embedding's inputDim), if there is one.
 */
function embeddingRows(architecture: unknown): number | undefined {
  const stack = [architecture];
  while (stack.length) {
    const node = stack.shift();
    if (Array.isArray(node)) stack.push(...node);
    else if (node && typeof node === 'object') {
      const { className, config } = node as { className?: string; config?: Record<string, unknown> };
      if (className === 'TokenAndPositionEmbedding' && typeof config?.vocabularySize === 'number')
        return config.vocabularySize;
      if (className === 'Embedding' && typeof config?.inputDim === 'number') return config.inputDim;
      stack.push(...Object.values(node));
    }
  }
  return undefined;
}

function checkLength(s: string, what: string, maxChars: number): void {
  if (s.length > maxChars)
    throw new RequestError(413, `${what}: ${s.length} characters exceed the limit of ${maxChars}`);
}

/** The strings of a {"text"} or {"texts"} body, checked against the limits. */
function requestTexts(
  model: ServedModel,
  b: Record<string, unknown>,
  does: string,
  limits: Required<TextLimits>,
): string[] {
  const texts = b.texts !== undefined ? b.texts : b.text !== undefined ? [b.text] : b.inputs;
  if (!Array.isArray(texts) || texts.length === 0 || texts.some((t) => typeof t !== 'string'))
    throw new RequestError(
      400,
      `body: model '${model.name}' ${does}: send {"text": "…"} or {"texts": ["…", …]} (strings)`,
    );
  if (texts.length > limits.maxTexts)
    throw new RequestError(413, `texts: ${texts.length} texts exceed the limit of ${limits.maxTexts}`);
  texts.forEach((t, i) => checkLength(t as string, `texts[${i}]`, limits.maxChars));
  return texts as string[];
}

/**
 * Answers a predict request for a text classifier, or returns undefined when `model` is not a
 * text model (the caller then reads tensors or images).
 */
export async function predictText(
  model: ServedModel,
  body: unknown,
  topK: number | undefined,
  limits: Required<TextLimits>,
): Promise<Record<string, unknown> | undefined> {
  const pre = textPreprocessingOf(model);
  if (!pre) return undefined;
  if (pre.task !== 'text-classification')
    throw new RequestError(
      400,
      pre.task === 'translation'
        ? `model '${model.name}' translates: POST /v1/models/${model.name}/translate {"text": "…"}`
        : `model '${model.name}' generates text: POST /v1/models/${model.name}/generate {"prompt": "…"}`,
    );
  const b = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
  const texts = requestTexts(model, b, 'classifies text', limits);
  const text = await servedText(model, pre);
  const labels = model.labels;
  // top_k beyond the number of classes returns them all (as Transformers.js does).
  const classes = labels?.length ?? Number(model.signature.outputs[0].shape.at(-1));
  const k = Math.min(topK ?? parseTopK(b.top_k) ?? 1, Number.isInteger(classes) ? classes : Number.POSITIVE_INFINITY);
  try {
    const predictions = await classifyTexts(text.run, text.tokenizer, pre, texts as string[], {
      labels,
      topK: k,
      who: `model '${model.name}'`,
    });
    return { model: model.name, version: model.version, predictions };
  } catch (e) {
    // The tokenizer found nothing to classify: the client's text, not the server.
    if (/has no tokens/.test((e as Error).message)) throw new RequestError(400, (e as Error).message);
    throw e;
  }
}

/** An optional integer field of a request body in min..max (400 naming the field otherwise). */
function intField(b: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = b[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new RequestError(400, `${key}: expected an integer in ${min}..${max}, received ${JSON.stringify(v)}`);
  return v;
}

/** Generation options from a request body, checked (400 with the field's name when wrong). */
function generationOptions(b: Record<string, unknown>, limits: Required<TextLimits>): GenerationOptions {
  const int = (key: string, min: number, max: number) => intField(b, key, min, max);
  const num = (key: string, ok: (v: number) => boolean, expected: string): number | undefined => {
    const v = b[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v))
      throw new RequestError(400, `${key}: expected ${expected}, received ${JSON.stringify(v)}`);
    return v;
  };
  if (b.do_sample !== undefined && typeof b.do_sample !== 'boolean')
    throw new RequestError(400, `do_sample: expected true or false, received ${JSON.stringify(b.do_sample)}`);
  const maxNewTokens = b.max_new_tokens;
  if (typeof maxNewTokens === 'number' && Number.isInteger(maxNewTokens) && maxNewTokens > limits.maxNewTokens)
    throw new RequestError(
      400,
      `max_new_tokens: ${maxNewTokens} exceeds this server's limit of ${limits.maxNewTokens} tokens`,
    );
  const options: GenerationOptions = {
    maxNewTokens: int('max_new_tokens', 0, limits.maxNewTokens) ?? Math.min(50, limits.maxNewTokens),
    doSample: b.do_sample as boolean | undefined,
    temperature: num('temperature', (v) => v > 0, 'a number > 0'),
    topK: int('top_k', 1, 1_000_000),
    topP: num('top_p', (v) => v > 0 && v <= 1, 'a number in (0, 1]'),
    seed: int('seed', 0, 2 ** 31 - 1),
  };
  for (const key of Object.keys(options) as (keyof GenerationOptions)[])
    if (options[key] === undefined) delete options[key];
  return options;
}

async function handleGenerate(
  req: FastifyRequest<{ Params: { name: string } }>,
  reply: FastifyReply,
  store: ModelStore,
  limits: Required<TextLimits>,
): Promise<unknown> {
  const model = await store.resolve(req.params.name);
  const pre = textPreprocessingOf(model);
  if (pre?.task !== 'text-generation')
    throw new RequestError(
      400,
      `model '${model.name}' is not a text-generation model${
        pre?.task === 'translation'
          ? ' (it translates: POST …/translate {"text": "…"})'
          : pre
            ? ' (it classifies text: POST …/predict {"text": "…"})'
            : ''
      }`,
    );
  const body = req.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new RequestError(400, 'body: expected a JSON object such as {"prompt": "Once upon a time"}');
  const b = body as Record<string, unknown>;
  if (typeof b.prompt !== 'string')
    throw new RequestError(400, `prompt: expected a string, received ${JSON.stringify(b.prompt) ?? 'nothing'}`);
  checkLength(b.prompt, 'prompt', limits.maxChars);
  if (b.stream !== undefined && typeof b.stream !== 'boolean')
    throw new RequestError(400, `stream: expected true or false, received ${JSON.stringify(b.stream)}`);
  const options = generationOptions(b, limits);
  const text = await servedText(model, pre);
  const who = `model '${model.name}'`;
  const stream = b.stream ?? req.headers.accept === 'text/event-stream';
  if (!stream) {
    const abort = new AbortController();
    req.raw.on('close', () => abort.abort(new Error('the client closed the connection')));
    const generated = await generateText(
      text.run,
      text.tokenizer,
      pre,
      b.prompt,
      { ...options, signal: abort.signal },
      who,
    );
    return reply.send({ model: model.name, version: model.version, generated_text: generated });
  }
  const { res, send } = openEventStream(reply);
  const abort = new AbortController();
  res.on('close', () => abort.abort(new Error('the client closed the connection')));
  try {
    const generated = await generateText(
      text.run,
      text.tokenizer,
      pre,
      b.prompt,
      { ...options, signal: abort.signal, onText: (t) => void send('token', { text: t }) },
      who,
    );
    send('done', { model: model.name, version: model.version, generated_text: generated });
  } catch (e) {
    if (!abort.signal.aborted) send('error', { error: (e as Error).message });
  } finally {
    res.end();
  }
  return reply;
}

// One translation pipeline (the Lepton model, its tokenizers and decoder graphs) per loaded version.
const translators = new WeakMap<ServedModel, Promise<TranslationPipeline>>();

function translator(model: ServedModel): Promise<TranslationPipeline> {
  let t = translators.get(model);
  if (!t) {
    t = pipeline('translation', model.dir);
    translators.set(model, t);
    t.catch(() => translators.delete(model));
  }
  return t;
}

async function handleTranslate(
  req: FastifyRequest<{ Params: { name: string } }>,
  store: ModelStore,
  limits: Required<TextLimits>,
): Promise<unknown> {
  const model = await store.resolve(req.params.name);
  const pre = textPreprocessingOf(model);
  if (pre?.task !== 'translation')
    throw new RequestError(
      400,
      `model '${model.name}' is not a translation model (save one with saveTranslationModel)${
        pre?.task === 'text-generation' ? '; it generates text: POST …/generate {"prompt": "…"}' : ''
      }`,
    );
  const b = (typeof req.body === 'object' && req.body !== null && !Array.isArray(req.body) ? req.body : {}) as Record<
    string,
    unknown
  >;
  const texts = requestTexts(model, b, 'translates', limits);
  const numBeams = intField(b, 'num_beams', 1, 16);
  // Each hypothesis keeps a key/value cache in the worker: bound their number, not just the texts.
  if (texts.length * (numBeams ?? 1) > limits.maxTexts)
    throw new RequestError(
      413,
      `texts × num_beams: ${texts.length} × ${numBeams ?? 1} hypotheses exceed the limit of ${limits.maxTexts}`,
    );
  const maxNewTokens = intField(b, 'max_new_tokens', 1, limits.maxNewTokens);
  const lengthPenalty = b.length_penalty;
  if (
    lengthPenalty !== undefined &&
    (typeof lengthPenalty !== 'number' || !(lengthPenalty >= 0) || !Number.isFinite(lengthPenalty))
  )
    throw new RequestError(400, `length_penalty: expected a number ≥ 0, received ${JSON.stringify(lengthPenalty)}`);
  const translate = await translator(model);
  try {
    const translations = await translate(texts, {
      numBeams,
      maxNewTokens,
      lengthPenalty: lengthPenalty as number | undefined,
    });
    return { model: model.name, version: model.version, translations };
  } catch (e) {
    if (/has no tokens/.test((e as Error).message)) throw new RequestError(400, (e as Error).message);
    throw e;
  }
}

/** Registers the generate and translate routes; predict requests for text models go through `predictText`. */
export function textRoutes(app: FastifyInstance, store: ModelStore, limits: Required<TextLimits>): void {
  app.post<{ Params: { name: string } }>(
    '/v1/models/:name/generate',
    {
      schema: {
        summary: 'Generate text (text-generation models); "stream": true answers server-sent events',
        tags: ['predict'],
        body: {
          type: 'object',
          properties: {
            prompt: { type: 'string' },
            max_new_tokens: { type: 'integer', minimum: 0 },
            do_sample: { type: 'boolean' },
            temperature: { type: 'number' },
            top_k: { type: 'integer', minimum: 1 },
            top_p: { type: 'number' },
            seed: { type: 'integer', minimum: 0 },
            stream: { type: 'boolean' },
          },
        },
      },
      // The schema documents the request; the handler checks it with messages that name the field.
      validatorCompiler: ({ httpPart }: { httpPart?: string }) =>
        (httpPart === 'body' ? () => true : undefined) as never,
    },
    (req, reply) => handleGenerate(req, reply, store, limits),
  );
  app.post<{ Params: { name: string } }>(
    '/v1/models/:name/translate',
    {
      schema: {
        summary: 'Translate text (models saved by saveTranslationModel); greedy, or beam search with num_beams > 1',
        tags: ['predict'],
        body: {
          type: 'object',
          properties: {
            text: { type: 'string' },
            texts: { type: 'array', items: { type: 'string' } },
            num_beams: { type: 'integer', minimum: 1, maximum: 16 },
            max_new_tokens: { type: 'integer', minimum: 1 },
            length_penalty: { type: 'number', minimum: 0 },
          },
        },
      },
      validatorCompiler: ({ httpPart }: { httpPart?: string }) =>
        (httpPart === 'body' ? () => true : undefined) as never,
    },
    (req) => handleTranslate(req, store, limits),
  );
}
