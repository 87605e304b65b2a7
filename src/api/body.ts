/**
 * Request body extraction, reproducing Couic's two extractors (spec §1.2,
 * §1.3):
 *
 * - `readValidatedJson` (POST entry, sets, client): every failure of the
 *   JSON step — content type, size, syntax, shape — is 400
 *   {"code":"bad_request","message":"Invalid JSON format: <text>","errors":{}}.
 * - `readFrameworkJson` (the peer route): axum's own `Json` rejections as
 *   plain text: 415 content type, 413 too large, 400 syntax, 422 shape or
 *   validation.
 *
 * `<text>` is the axum rejection body, e.g. "Failed to parse the request
 * body as JSON: trailing comma at line 1 column 13".
 */
import { isAscii } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { AppError } from '../errors.js';
import { decodeJson, JsonDataError, JsonSyntaxError, type Decoder } from './json.js';

/** Default request body limit (axum's default): 2 MiB. */
export const BODY_LIMIT = 2 * 1024 * 1024;

export const MISSING_JSON_CONTENT_TYPE = 'Expected request with `Content-Type: application/json`';
export const LENGTH_LIMIT = 'Failed to buffer the request body: length limit exceeded';
export const SYNTAX_PREFIX = 'Failed to parse the request body as JSON: ';
export const DATA_PREFIX = 'Failed to deserialize the JSON body into the target type: ';

type Rejection =
  | { readonly kind: 'content_type' }
  | { readonly kind: 'too_large' }
  | { readonly kind: 'syntax'; readonly text: string }
  | { readonly kind: 'data'; readonly text: string }
  | { readonly kind: 'utf8' };

/** `application/json` or `application/<x>+json`, parameters allowed, case-insensitive. */
export function isJsonContentType(header: string | undefined): boolean {
  if (header === undefined) return false;
  const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)\/([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*(?:;.*)?$/s.exec(header.trim());
  if (m === null) return false;
  const type = (m[1] as string).toLowerCase();
  const subtype = (m[2] as string).toLowerCase();
  if (type !== 'application') return false;
  if (subtype === 'json') return true;
  const plus = subtype.lastIndexOf('+');
  return plus >= 0 && subtype.slice(plus + 1) === 'json';
}

/** Bodies are drained (discarded) up to this size before answering; beyond it the connection is closed. */
export const DRAIN_LIMIT = 64 * 1024 * 1024;

/**
 * Reads and discards the rest of the request body so the response can be
 * read by a client that writes its whole body first (Node would otherwise
 * close the connection while the client is still writing: EPIPE). Resolves
 * at the end of the body, on error, or once `cap` more bytes were seen.
 */
export function drainRequest(req: IncomingMessage, cap: number = DRAIN_LIMIT): Promise<void> {
  if (req.complete || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const finish = (): void => {
      req.off('data', onData);
      req.off('end', finish);
      req.off('error', finish);
      req.off('close', finish);
      resolve();
    };
    const onData = (chunk: Buffer): void => {
      seen += chunk.length;
      if (seen > cap) finish();
    };
    req.on('data', onData);
    req.once('end', finish);
    req.once('error', finish);
    req.once('close', finish);
    req.resume();
  });
}

/**
 * Reads the whole body up to `limit` bytes; undefined when it is larger
 * (the rest is left for drainRequest).
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        chunks.length = 0;
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    // The connection went away before the end of the body (e.g. at shutdown).
    const onClose = (): void => {
      if (req.complete) return;
      cleanup();
      reject(new Error('the connection closed before the end of the request body'));
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('close', onClose);
  });
}

/**
 * A decoder tried before the strict one, on the bytes of an ASCII body
 * (before any string of it is made: a big one costs more than the scan):
 * returns the value, or undefined to let the strict reader decide (it must
 * then give the same value).
 */
export type FastDecoder<T> = (body: Buffer) => T | undefined;

async function extract<T>(
  req: IncomingMessage,
  limit: number,
  decoder: Decoder<T>,
  fast?: FastDecoder<T>,
): Promise<{ ok: T } | { rejection: Rejection }> {
  if (!isJsonContentType(req.headers['content-type'])) return { rejection: { kind: 'content_type' } };
  const buf = await readBody(req, limit);
  if (buf === undefined) return { rejection: { kind: 'too_large' } };
  let text: string;
  if (isAscii(buf)) {
    if (fast !== undefined) {
      const v = fast(buf);
      if (v !== undefined) return { ok: v };
    }
    text = buf.toString('latin1');
  } else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
    } catch {
      return { rejection: { kind: 'utf8' } };
    }
  }
  try {
    return { ok: decodeJson(text, decoder) };
  } catch (err) {
    if (err instanceof JsonSyntaxError) return { rejection: { kind: 'syntax', text: SYNTAX_PREFIX + err.message } };
    if (err instanceof JsonDataError) return { rejection: { kind: 'data', text: DATA_PREFIX + err.message } };
    throw err;
  }
}

function rejectionText(r: Rejection): string {
  switch (r.kind) {
    case 'content_type':
      return MISSING_JSON_CONTENT_TYPE;
    case 'too_large':
      return LENGTH_LIMIT;
    case 'utf8':
      return `${SYNTAX_PREFIX}invalid unicode code point at line 1 column 1`;
    case 'syntax':
    case 'data':
      return r.text;
  }
}

/** Couic's "validated JSON" extractor, step 1 (step 2 is the handler's). */
export async function readValidatedJson<T>(req: IncomingMessage, limit: number, decoder: Decoder<T>): Promise<T> {
  const r = await extract(req, limit, decoder);
  if ('ok' in r) return r.ok;
  throw new AppError('bad_request', `Invalid JSON format: ${rejectionText(r.rejection)}`);
}

/** axum's plain `Json` extractor (peer route): plain-text 415/413/400/422. */
export async function readFrameworkJson<T>(req: IncomingMessage, limit: number, decoder: Decoder<T>, fast?: FastDecoder<T>): Promise<T> {
  const r = await extract(req, limit, decoder, fast);
  if ('ok' in r) return r.ok;
  const text = rejectionText(r.rejection);
  switch (r.rejection.kind) {
    case 'content_type':
      throw new AppError('unsupported_media_type', text, {}, { plainBody: text });
    case 'too_large':
      throw new AppError('payload_too_large', text, {}, { plainBody: text });
    case 'data':
      throw new AppError('invalid', text, {}, { plainBody: text });
    default:
      throw new AppError('bad_request', text, {}, { plainBody: text });
  }
}
