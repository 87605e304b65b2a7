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
}

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

export function send(res: ServerResponse, reply: Reply): void {
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
}
