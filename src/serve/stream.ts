/**
 * Real-time speech recognition over a WebSocket: `GET /v1/models/:name/stream` (and
 * `/v1/models/:name/versions/:version/stream`) upgrades to a WebSocket on which the client sends
 * audio and the server answers partial and final transcripts of a speech model's streaming
 * recognizer (src/audio/streaming.ts). The protocol is in docs/SERVING.md ("Speech streams").
 *
 * Client → server: binary messages of 16-bit little-endian mono PCM (16 kHz unless a first text
 * message `{"type":"start","sampleRate":N}` names another rate, which is then resampled), and a
 * text message `{"type":"end"}` that flushes the stream. Server → client: JSON text messages
 * `{type:'ready'}`, `{type:'partial', text}`, `{type:'final', text, words, start, end}` and
 * `{type:'error', error, code}`; the server closes the socket after the last final result (1000)
 * or after an error, with the error's close code (STREAM_CLOSE_CODES).
 *
 * Every session is counted while it is open (`lepton_streams_active`, /readyz's `streams`) and
 * removed however it ends: end message, error, idle timeout, client disconnect or server shutdown.
 */
import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type AsrModel, type AsrResult, StreamingRecognizer } from '../audio/streaming.js';
import { type StreamResampler, pcm16ToFloat, streamResampler } from '../audio/wav.js';
import type { ServerMetrics } from './metrics.js';
import type { ServedModel } from './model.js';
import type { ModelStore } from './store.js';

/** Close codes of a speech stream: WebSocket's standard ones where one fits, 44xx mirroring HTTP otherwise. */
export const STREAM_CLOSE_CODES = {
  /** The client sent {"type":"end"} and got its final result. */
  normal: 1000,
  /** The server is shutting down. */
  goingAway: 1001,
  /** Malformed data: an odd number of PCM bytes, text that is not one of the JSON messages. */
  invalidData: 1007,
  /** A session limit: too many seconds of audio, idle too long. */
  policy: 1008,
  /** One message larger than the server's body limit (closed by the WebSocket layer). */
  tooBig: 1009,
  /** The recognizer failed. */
  internal: 1011,
  /** Too many streams are open: try again later. */
  tryAgain: 1013,
  /** A bad start message (sample rate out of range, or sent after audio). */
  badRequest: 4400,
  /** No such model or version. */
  notFound: 4404,
  /** The model is not a speech recognizer. */
  notSpeech: 4415,
} as const;

export interface StreamLimits {
  /** Streams open at once (default 8); more are closed with 1013. */
  maxStreams?: number;
  /** Seconds of audio one stream may carry (default 600); more closes it with 1008 after a final result. */
  maxSeconds?: number;
  /** Seconds without a message before the stream is closed with 1008 (default 30). */
  idleSeconds?: number;
  /** Seconds of non-speech that end an utterance (default: the recognizer's 0.5). */
  endpointSilence?: number;
}

interface StreamContext {
  store: ModelStore;
  metrics: ServerMetrics;
  /** Largest WebSocket message in bytes. */
  maxMessageBytes: number;
  limits: StreamLimits;
}

/** Thrown inside a session: becomes an error message and a close code. */
class StreamError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const MODEL_RATE_NOTE = 'binary messages are 16-bit little-endian mono PCM';

/** A model folder holding asr.json is a speech recognizer (AsrModel.saveSpec writes it). */
export function isSpeechModel(model: ServedModel): boolean {
  return existsSync(join(model.dir, 'asr.json'));
}

/** Registers the WebSocket plugin and the stream routes; returns the open-session count. */
export async function registerSpeechStreams(app: FastifyInstance, ctx: StreamContext): Promise<() => number> {
  const sessions = new Set<{ shutdown(): void }>();
  const maxStreams = Math.max(1, ctx.limits.maxStreams ?? 8);
  const maxSeconds = ctx.limits.maxSeconds ?? 600;
  const idleMs = (ctx.limits.idleSeconds ?? 30) * 1000;
  const asrModels = new WeakMap<ServedModel, Promise<AsrModel>>();
  const { AsrModel } = await import('../audio/streaming.js');
  const asrFor = (model: ServedModel): Promise<AsrModel> => {
    let p = asrModels.get(model);
    if (!p) {
      p = AsrModel.load(model.dir);
      asrModels.set(model, p);
      p.catch(() => asrModels.delete(model));
    }
    return p;
  };
  ctx.metrics.streamsActive.track({}, () => sessions.size);

  await app.register(websocket, {
    options: { maxPayload: ctx.maxMessageBytes },
    // Shutdown: every open stream is told and closed (1001) before the server stops.
    preClose(done) {
      for (const s of [...sessions]) s.shutdown();
      this.websocketServer.close(() => done());
    },
  });

  const onSocket = (socket: WebSocket, req: FastifyRequest<{ Params: { name: string; version?: string } }>) => {
    let model: ServedModel | undefined;
    let recognizer: StreamingRecognizer | undefined;
    let resampler: StreamResampler | undefined;
    let rate = 16000;
    let inputSamples = 0;
    let lastPartial = '';
    let finished = false;
    let idle: NodeJS.Timeout | undefined;
    const send = (msg: Record<string, unknown>): void => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(msg));
    };
    const count = (code: number): void =>
      ctx.metrics.streams.inc({ model: model?.name ?? req.params.name, code: String(code) });
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(idle);
      resampler?.close();
      sessions.delete(session);
    };
    const close = (code: number, message?: string): void => {
      if (finished) return;
      if (message) send({ type: 'error', error: message, code });
      count(code);
      finish();
      // The close reason is limited to 123 bytes; the full message went in the error message.
      socket.close(
        code,
        Buffer.from(message ?? '')
          .subarray(0, 120)
          .toString(),
      );
    };
    const session = { shutdown: () => close(STREAM_CLOSE_CODES.goingAway, 'server shutting down') };
    const armIdle = (): void => {
      clearTimeout(idle);
      idle = setTimeout(
        () => close(STREAM_CLOSE_CODES.policy, `stream idle for ${idleMs / 1000} s (no message received)`),
        idleMs,
      );
      idle.unref();
    };
    // A client that disconnects mid-stream: nothing to answer, only the session to free.
    socket.on('close', (code) => {
      if (!finished) count(code);
      finish();
    });

    if (sessions.size >= maxStreams) {
      finished = true;
      send({
        type: 'error',
        error: `too many streams: ${sessions.size} of ${maxStreams} are open; try again later`,
        code: STREAM_CLOSE_CODES.tryAgain,
      });
      count(STREAM_CLOSE_CODES.tryAgain);
      socket.close(STREAM_CLOSE_CODES.tryAgain, 'too many streams');
      return;
    }
    sessions.add(session);
    armIdle();

    const results = (rs: (AsrResult | undefined)[]): void => {
      for (const r of rs) if (r?.text) send({ type: 'final', ...r });
    };
    const accept = (samples: Float32Array): void => {
      const rec = recognizer!;
      if (rec.acceptWaveform(samples)) {
        const finals: AsrResult[] = [];
        for (let r = rec.result(); r; r = rec.result()) finals.push(r);
        results(finals);
        lastPartial = '';
      }
      const partial = rec.partialResult().text;
      if (partial !== lastPartial) send({ type: 'partial', text: partial });
      lastPartial = partial;
    };
    const end = (): void => {
      const rec = recognizer!;
      const all = rec.endStream();
      results(all.slice(0, -1));
      // The last final is always sent (even empty): it tells the client the stream is done.
      send({ type: 'final', ...all.at(-1)! });
    };

    const handle = async (data: Buffer, isBinary: boolean): Promise<void> => {
      if (finished) return;
      if (!isBinary) {
        const text = data.toString('utf8');
        let msg: unknown;
        try {
          msg = JSON.parse(text);
        } catch {
          msg = undefined;
        }
        const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
        if (typeof msg !== 'object' || msg === null || Array.isArray(msg))
          throw new StreamError(
            STREAM_CLOSE_CODES.invalidData,
            `text messages must be JSON objects ({"type":"start","sampleRate":16000} or {"type":"end"}); received ${JSON.stringify(shown)}`,
          );
        const m = msg as { type?: unknown; sampleRate?: unknown };
        const type = m.type ?? (m.sampleRate !== undefined ? 'start' : undefined);
        if (type === 'end') {
          end();
          close(STREAM_CLOSE_CODES.normal);
          return;
        }
        if (type === 'start') {
          if (inputSamples > 0)
            throw new StreamError(
              STREAM_CLOSE_CODES.badRequest,
              'start: the sample rate must be sent before any audio',
            );
          const r = m.sampleRate ?? 16000;
          if (typeof r !== 'number' || !Number.isInteger(r) || r < 8000 || r > 192000)
            throw new StreamError(
              STREAM_CLOSE_CODES.badRequest,
              `start: sampleRate must be an integer number of Hz in 8000..192000, received ${JSON.stringify(r)}`,
            );
          rate = r;
          resampler?.close();
          resampler = await streamResampler(rate, recognizer!.asr.spec.sampleRate);
          send({ type: 'started', sampleRate: rate });
          return;
        }
        throw new StreamError(
          STREAM_CLOSE_CODES.invalidData,
          `unknown message type ${JSON.stringify(m.type ?? null)}: expected "start" or "end" (audio goes in binary messages)`,
        );
      }
      if (data.length % 2 !== 0)
        throw new StreamError(
          STREAM_CLOSE_CODES.invalidData,
          `${MODEL_RATE_NOTE}: a message of ${data.length} bytes stops mid-sample (send whole 2-byte samples)`,
        );
      let samples = pcm16ToFloat(data);
      inputSamples += samples.length;
      if (resampler) samples = resampler.push(samples);
      if (inputSamples / rate > maxSeconds) {
        end();
        throw new StreamError(
          STREAM_CLOSE_CODES.policy,
          `stream exceeds the limit of ${maxSeconds} s of audio (the final result above covers what was received)`,
        );
      }
      accept(samples);
    };

    const open = async (): Promise<void> => {
      const v = req.params.version;
      if (v !== undefined && !/^\d{1,9}$/.test(v))
        throw new StreamError(STREAM_CLOSE_CODES.badRequest, `version: expected a positive integer, received '${v}'`);
      try {
        model = await ctx.store.resolve(req.params.name, v === undefined ? undefined : Number(v));
      } catch (e) {
        const status = (e as { statusCode?: number }).statusCode;
        if (status === 404) throw new StreamError(STREAM_CLOSE_CODES.notFound, (e as Error).message);
        throw e;
      }
      if (!isSpeechModel(model))
        throw new StreamError(
          STREAM_CLOSE_CODES.notSpeech,
          `model '${model.name}' is not a speech recognition model (its folder has no asr.json); the stream route serves streaming ASR models — use POST /v1/models/${model.name}/predict`,
        );
      const asr = await asrFor(model);
      recognizer = new StreamingRecognizer(asr, { endpointSilence: ctx.limits.endpointSilence });
      send({ type: 'ready', model: model.name, version: model.version, sampleRate: asr.spec.sampleRate });
    };

    const fail = (e: unknown): void => {
      if (e instanceof StreamError) close(e.code, e.message);
      else {
        req.log.error(e);
        close(STREAM_CLOSE_CODES.internal, `internal error: ${(e as Error).message}`);
      }
    };
    // Messages are handled one at a time, in order, after the model is ready.
    let chain = open().catch(fail);
    socket.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      armIdle();
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      chain = chain.then(() => handle(buf, isBinary)).catch(fail);
    });
  };

  const upgradeRequired = async (req: FastifyRequest, reply: FastifyReply) =>
    reply
      .code(426)
      .header('upgrade', 'websocket')
      .send({
        error: `${req.url.split('?')[0]} is a WebSocket endpoint (speech streaming): connect with a WebSocket client`,
        statusCode: 426,
      });
  for (const url of ['/v1/models/:name/stream', '/v1/models/:name/versions/:version/stream'])
    app.route({ method: 'GET', url, handler: upgradeRequired, wsHandler: onSocket as never, schema: { hide: true } });

  return () => sessions.size;
}
