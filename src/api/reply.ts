/**
 * Response rendering: JSON bodies with `content-type: application/json`,
 * AppError as Couic's envelope {"code","message","errors"}, or as plain
 * text when the error carries a `plainBody` (Couic's framework rejections).
 */
import type { ServerResponse } from 'node:http';
import { AppError } from '../errors.js';

export interface Reply {
  readonly status: number;
  /** Serialized as JSON when defined. */
  readonly json?: unknown;
  /** Sent as-is (with `contentType`) when defined and `json` is not. */
  readonly text?: string;
  /** Sent as-is (with `contentType`) when neither `json` nor `text` is: a body already encoded (the peer echo, ~1 MiB). */
  readonly bytes?: Buffer;
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * A large body (a list), sent piece by piece with backpressure (with
   * `contentType`) when none of the above is defined: the whole body is
   * never in memory.
   */
  readonly chunks?: Iterable<string>;
  /** The byte length of `chunks` when known: sent as content-length (else chunked). */
  readonly length?: number;
  /** Called once, when the reply was sent or could not be (connection gone). */
  readonly onSent?: () => void;
}

/** A streamed body whose reader does not take a chunk within this time loses its connection. */
export const STREAM_STALL_MS = 30_000;

export const JSON_TYPE = 'application/json';
export const TEXT_TYPE = 'text/plain; charset=utf-8';

export function json(status: number, body: unknown): Reply {
  return { status, json: body };
}

export function empty(status: number, headers?: Record<string, string>): Reply {
  return headers === undefined ? { status } : { status, headers };
}

export function errorReply(err: AppError): Reply {
  if (err.plainBody !== undefined) return { status: err.status, text: err.plainBody, contentType: TEXT_TYPE };
  return { status: err.status, json: err.toJSON() };
}

export async function send(res: ServerResponse, reply: Reply): Promise<void> {
  try {
    if (reply.json === undefined && reply.text === undefined && reply.bytes === undefined && reply.chunks !== undefined) {
      await sendChunks(res, reply, reply.chunks);
      return;
    }
    let body: string | undefined;
    const headers: Record<string, string | number> = { ...reply.headers };
    if (reply.json !== undefined) {
      body = JSON.stringify(reply.json);
      headers['content-type'] = JSON_TYPE;
    } else if (reply.text !== undefined || reply.bytes !== undefined) {
      body = reply.text;
      headers['content-type'] = reply.contentType ?? TEXT_TYPE;
    }
    const buf = body === undefined ? reply.bytes : Buffer.from(body, 'utf8');
    if (reply.status !== 204 && reply.status !== 304) headers['content-length'] = buf === undefined ? 0 : buf.length;
    res.writeHead(reply.status, headers);
    res.end(buf);
  } finally {
    reply.onSent?.();
  }
}

/** Resolves true on 'drain', false when the connection goes away or stalls past STREAM_STALL_MS (then destroyed). */
function drained(res: ServerResponse): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = (): void => done(true);
    const onClose = (): void => done(false);
    const timer = setTimeout(() => {
      res.destroy();
      done(false);
    }, STREAM_STALL_MS);
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}

async function sendChunks(res: ServerResponse, reply: Reply, chunks: Iterable<string>): Promise<void> {
  if (res.destroyed) return;
  const headers: Record<string, string | number> = { ...reply.headers, 'content-type': reply.contentType ?? JSON_TYPE };
  if (reply.length !== undefined) headers['content-length'] = reply.length;
  res.writeHead(reply.status, headers);
  for (const chunk of chunks) {
    if (res.destroyed) return;
    if (!res.write(chunk) && !(await drained(res))) return;
  }
  res.end();
}
