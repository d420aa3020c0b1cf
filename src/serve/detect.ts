/**
 * Object detectors in the model server: folders written by lepton/vision's `FcosDetector.save`
 * (detector.json beside the model) answer
 *
 *   POST /v1/models/:name/detect   images as for predict (image/* body, multipart file parts, or
 *        JSON {"image"|"images": base64}); query `score` (default 0.3), `iou` (NMS, default 0.6),
 *        `max_detections` (default 100)
 *        → {"detections": [[{"box": [x1, y1, x2, y2], "label", "class_name", "score"}, …], …],
 *           "sizes": [[width, height], …]} — boxes in each image's own pixels, like torchvision
 *   ?format=png → the one image sent, with its boxes drawn and labelled (PNG)
 *
 * The detector (the Lepton model with its decoding and NMS) is loaded once per model version and
 * runs in an inference worker, as `FcosDetector.detect` does in process.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { decodePixels } from '../data/image.js';
import { FcosDetector } from '../vision/detection/detector.js';
import { drawDetections } from '../vision/draw.js';
import { MAX_INPUT_PIXELS } from './image.js';
import type { ServedModel } from './model.js';
import type { ModelStore } from './store.js';
import { RequestError } from './tensors.js';

type ImagesReader = (
  req: FastifyRequest,
  limits: { maxRows: number },
) => Promise<{ images: { bytes: Buffer; field: string }[] } | undefined>;

const detectors = new WeakMap<ServedModel, Promise<FcosDetector>>();

/** Whether a served model is a detector (a folder saved by FcosDetector.save). */
export function isDetector(model: ServedModel): boolean {
  return existsSync(join(model.dir, 'detector.json'));
}

function detectorOf(model: ServedModel): Promise<FcosDetector> {
  let d = detectors.get(model);
  if (!d) {
    d = FcosDetector.load(model.dir);
    detectors.set(model, d);
    d.catch(() => detectors.delete(model));
  }
  return d;
}

/** A number query parameter in [min, max] (400 naming it otherwise). */
function queryNumber(
  q: Record<string, unknown>,
  key: string,
  min: number,
  max: number,
  integer = false,
): number | undefined {
  const raw = q[key];
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v)))
    throw new RequestError(
      400,
      `${key}: expected ${integer ? 'an integer' : 'a number'} in ${min}..${max}, received ${JSON.stringify(raw)}`,
    );
  return v;
}

async function handleDetect(
  req: FastifyRequest<{ Params: { name: string }; Querystring: Record<string, unknown> }>,
  reply: FastifyReply,
  store: ModelStore,
  readImages: ImagesReader,
  limits: { maxRows: number },
): Promise<unknown> {
  const model = await store.resolve(req.params.name);
  if (!isDetector(model))
    throw new RequestError(
      400,
      `model '${model.name}' is not an object detector (no detector.json; save one with FcosDetector.save): POST …/predict`,
    );
  const q = req.query ?? {};
  const format = q.format ?? 'json';
  if (format !== 'json' && format !== 'png')
    throw new RequestError(400, `format: expected 'json' or 'png', received '${String(format)}'`);
  const options = {
    scoreThreshold: queryNumber(q, 'score', 0, 1) ?? 0.3,
    iouThreshold: queryNumber(q, 'iou', 0, 1),
    maxDetections: queryNumber(q, 'max_detections', 1, 10_000, true),
  };
  const got = await readImages(req, limits);
  if (!got || got.images.length === 0)
    throw new RequestError(
      400,
      `body: model '${model.name}' detects objects in images: send image/* bytes, multipart file parts or {"image": base64}`,
    );
  if (format === 'png' && got.images.length !== 1)
    throw new RequestError(400, `format=png answers one image; received ${got.images.length}`);
  const pixels = await Promise.all(
    got.images.map(async ({ bytes, field }) => {
      try {
        return await decodePixels(bytes, { channels: 3, maxPixels: MAX_INPUT_PIXELS });
      } catch (e) {
        throw new RequestError(400, `${field}: not a decodable image (${(e as Error).message})`);
      }
    }),
  );
  const detector = await detectorOf(model);
  const found = await detector.detectBatch(pixels, options);
  const names = detector.config.classNames;
  if (format === 'png') {
    const scale = Math.max(1, Math.min(4, Math.floor(512 / Math.max(pixels[0].width, pixels[0].height))));
    return reply.type('image/png').send(await drawDetections(pixels[0], found[0], { classNames: names, scale }));
  }
  return reply.send({
    model: model.name,
    version: model.version,
    detections: found.map((list) =>
      list.map((d) => ({ box: d.box, label: d.label, class_name: names[d.label] ?? String(d.label), score: d.score })),
    ),
    sizes: pixels.map((p) => [p.width, p.height]),
  });
}

/** Registers POST /v1/models/:name/detect. */
export function detectRoutes(
  app: FastifyInstance,
  store: ModelStore,
  readImages: ImagesReader,
  limits: { maxRows: number },
): void {
  app.post<{ Params: { name: string }; Querystring: Record<string, unknown> }>(
    '/v1/models/:name/detect',
    {
      schema: {
        summary: 'Detect objects (models saved by FcosDetector.save): boxes, labels, scores; format=png draws them',
        tags: ['predict'],
        consumes: ['image/png', 'image/jpeg', 'multipart/form-data', 'application/json', 'application/octet-stream'],
        querystring: {
          type: 'object',
          properties: {
            score: { type: 'number', minimum: 0, maximum: 1, description: 'lowest score kept (default 0.3)' },
            iou: { type: 'number', minimum: 0, maximum: 1, description: 'class-aware NMS IoU threshold (default 0.6)' },
            max_detections: { type: 'integer', minimum: 1, description: 'detections kept per image (default 100)' },
            format: { type: 'string', enum: ['json', 'png'] },
          },
        },
      },
      // The schema documents the request; the handler checks it with messages that name the field.
      validatorCompiler: () => (() => true) as never,
    },
    (req, reply) => handleDetect(req, reply, store, readImages, limits),
  );
}
