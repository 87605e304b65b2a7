/**
 * The couicctl HTTP client (spec §9.1): node:http over the daemon's Unix
 * socket (`http://localhost/...`) or http(s) to host:port in remote mode,
 * 5 s timeout, Couic's client headers. Non-2xx answers become
 * CommandError('api') with Couic's error envelope; bodies that are not
 * that envelope are reported as code `internal` with serde_json's parse
 * message, as Couic's client does.
 */
import http from 'node:http';
import type { FieldErrors } from '../errors.js';
import type { Endpoint } from './config.js';
import { CommandError } from './errors.js';

export const USER_AGENT = 'CouicClient/1.0.0';
export const TIMEOUT_MS = 5000;

export interface RawResponse {
  readonly status: number;
  readonly text: string;
}

/** serde_json's line/column of a byte offset (1-based line, column = chars into the line). */
function lineCol(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let column = 0;
  for (let i = 0; i < offset && i < text.length; i += 1) {
    if (text[i] === '\n') {
      line += 1;
      column = 0;
    } else {
      column += 1;
    }
  }
  return { line, column };
}

/**
 * The message serde_json gives when `text` is not a JSON value, for the
 * usual cases (empty body, plain text): `EOF while parsing a value at line
 * 1 column 0`, `expected value at line 1 column 1`.
 */
export function jsonParseMessage(text: string): string {
  let i = 0;
  while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i += 1;
  if (i >= text.length) {
    const { line, column } = lineCol(text, text.length);
    return `EOF while parsing a value at line ${line} column ${column}`;
  }
  const { line, column } = lineCol(text, i + 1);
  if (!'{["-0123456789tfn'.includes(text[i] as string)) return `expected value at line ${line} column ${column}`;
  try {
    JSON.parse(text);
    return 'invalid type: expected struct ErrorResponse';
  } catch (err) {
    return (err as Error).message;
  }
}

const UNSAFE_DIGITS = /\d{16}/;
const NUMBER_TOKEN = /-?\d+(\.\d+)?([eE][+-]?\d+)?/y;

/**
 * JSON.parse that keeps integers beyond Number.MAX_SAFE_INTEGER exact:
 * they come back as BigInt (u64 counters of `/v1/stats` above 2^53);
 * every other value is what JSON.parse gives. Numbers are found by a scan
 * that skips string literals; each unsafe one is turned into a marked
 * string literal, which the reviver turns into a BigInt.
 */
export function parseJsonLossless(text: string): unknown {
  if (!UNSAFE_DIGITS.test(text)) return JSON.parse(text);
  // a marker that no string of this document starts with (\u0000 is always escaped in JSON)
  let mark = '\\u0000#';
  while (text.includes(mark)) mark += '#';
  const decoded = JSON.parse(`"${mark}"`) as string;
  let out = '';
  let last = 0;
  let i = 0;
  let found = false;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      i += 1;
      while (i < text.length) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i += 2;
        else if (d === 0x22) {
          i += 1;
          break;
        } else i += 1;
      }
      continue;
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      NUMBER_TOKEN.lastIndex = i;
      const m = NUMBER_TOKEN.exec(text);
      if (m === null) {
        i += 1;
        continue;
      }
      const tok = m[0];
      if (m[1] === undefined && m[2] === undefined && !Number.isSafeInteger(Number(tok))) {
        out += `${text.slice(last, i)}"${mark}${tok}"`;
        last = i + tok.length;
        found = true;
      }
      i += tok.length;
      continue;
    }
    i += 1;
  }
  if (!found) return JSON.parse(text);
  out += text.slice(last);
  return JSON.parse(out, (_k, v: unknown) => (typeof v === 'string' && v.startsWith(decoded) ? BigInt(v.slice(decoded.length)) : v));
}

function isFieldErrors(v: unknown): v is FieldErrors {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  return Object.values(v).every(
    (fe) => typeof fe === 'object' && fe !== null && typeof (fe as { code?: unknown }).code === 'string' && typeof (fe as { message?: unknown }).message === 'string',
  );
}

/** Decodes an error answer into CommandError('api'). */
export function apiErrorFrom(res: RawResponse): CommandError {
  let body: unknown;
  try {
    body = JSON.parse(res.text);
  } catch {
    return CommandError.api({ status: res.status, code: 'internal', message: jsonParseMessage(res.text), errors: {} });
  }
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const b = body as { code?: unknown; message?: unknown; errors?: unknown };
    if (typeof b.code === 'string' && typeof b.message === 'string') {
      return CommandError.api({ status: res.status, code: b.code, message: b.message, errors: isFieldErrors(b.errors) ? b.errors : {} });
    }
    const missing = typeof b.code !== 'string' ? 'code' : 'message';
    return CommandError.api({ status: res.status, code: 'internal', message: `missing field \`${missing}\``, errors: {} });
  }
  return CommandError.api({ status: res.status, code: 'internal', message: jsonParseMessage(res.text), errors: {} });
}

export class CouicClient {
  readonly endpoint: Endpoint;

  constructor(endpoint: Endpoint) {
    this.endpoint = endpoint;
  }

  /** Base URL as Couic shows it in transport errors. */
  get baseUrl(): string {
    const e = this.endpoint;
    return e.kind === 'unix' ? 'http://localhost' : `${e.tls ? 'https' : 'http'}://${e.host}:${e.port}`;
  }

  /** One request; resolves with any HTTP answer, rejects with CommandError('http') on transport failure. */
  async raw(method: string, path: string, body?: unknown): Promise<RawResponse> {
    const e = this.endpoint;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = {
      'user-agent': USER_AGENT,
      authorization: `Bearer ${e.token}`,
      accept: 'application/json',
      'content-type': 'application/json',
    };
    if (payload !== undefined) headers['content-length'] = String(payload.length);
    const url = `${this.baseUrl}${path}`;
    const mod = e.kind === 'tcp' && e.tls ? await import('node:https') : http;
    const options: http.RequestOptions =
      e.kind === 'unix'
        ? { socketPath: e.socketPath, host: 'localhost', method, path, headers, agent: false }
        : { host: e.host, port: e.port, method, path, headers, agent: false };
    return new Promise<RawResponse>((resolve, reject) => {
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        reject(new CommandError('http', `error sending request for url (${url}): ${err.message}`));
      };
      const req = mod.request(options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', (err) => {
          clearTimeout(timer);
          fail(err);
        });
      });
      const timer = setTimeout(() => {
        fail(new Error('operation timed out'));
        req.destroy();
      }, TIMEOUT_MS);
      req.on('error', (err) => {
        clearTimeout(timer);
        fail(err);
      });
      req.end(payload);
    });
  }

  /**
   * Request expecting a 2xx; the decoded JSON body (undefined when empty).
   * `lossless`: integers beyond 2^53 come back as BigInt (parseJsonLossless),
   * for the u64 counters of the stats routes.
   */
  async call<T>(method: string, path: string, body?: unknown, opts: { readonly lossless?: boolean } = {}): Promise<T> {
    const res = await this.raw(method, path, body);
    if (res.status < 200 || res.status > 299) throw apiErrorFrom(res);
    if (res.text === '') return undefined as T;
    try {
      return (opts.lossless === true ? parseJsonLossless(res.text) : JSON.parse(res.text)) as T;
    } catch (err) {
      throw new CommandError('serialization', (err as Error).message);
    }
  }
}
