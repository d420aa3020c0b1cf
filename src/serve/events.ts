/**
 * Server-sent events: a reply turned into an event stream written by hand (the model server's
 * token streams, the studio's live run updates). `send` writes one `event:`/`data:` pair.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

export interface EventStream {
  res: ServerResponse;
  send(event: string, data: unknown): void;
}

export function openEventStream(reply: FastifyReply): EventStream {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    // proxies (nginx) would otherwise buffer the stream
    'x-accel-buffering': 'no',
  });
  return { res, send: (event, data) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`) };
}
