/**
 * Raw HTTP/1.1 over a Unix socket, for what node:http will not send:
 * pipelined requests on one connection, malformed requests. Responses are
 * parsed strictly (status line, headers, content-length or chunked body).
 */
import net from 'node:net';

export interface RawResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/** One request's bytes: `method path`, headers (lower-case names), optional body (a JSON body gets its content type). */
export function rawRequest(method: string, urlPath: string, opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): string {
  const headers: Record<string, string> = { host: 'localhost', ...(opts.token === undefined ? {} : { authorization: `Bearer ${opts.token}` }) };
  let body = '';
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  Object.assign(headers, opts.headers);
  return `${method} ${urlPath} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${body}`;
}

/**
 * Parses complete responses at the start of `buf`; returns them and the
 * bytes consumed. Throws on a malformed response (a test failure).
 */
export function parseResponses(buf: Buffer, opts: { headOnly?: (i: number) => boolean } = {}): { responses: RawResponse[]; used: number } {
  const responses: RawResponse[] = [];
  let at = 0;
  for (;;) {
    const headEnd = buf.indexOf('\r\n\r\n', at);
    if (headEnd < 0) break;
    const head = buf.subarray(at, headEnd).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3}) /.exec(`${head[0] ?? ''} `);
    if (m === null) throw new Error(`malformed status line: ${JSON.stringify(head[0])}`);
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const c = line.indexOf(':');
      if (c <= 0) throw new Error(`malformed header line: ${JSON.stringify(line)}`);
      headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
    }
    const status = Number(m[1]);
    let p = headEnd + 4;
    let body: Buffer;
    const noBody = status === 100 || status === 204 || status === 304 || (opts.headOnly?.(responses.length) ?? false);
    if (status === 100) {
      at = p;
      continue;
    }
    if (noBody) {
      body = Buffer.alloc(0);
    } else if (headers['transfer-encoding'] === 'chunked') {
      const parts: Buffer[] = [];
      let complete = false;
      for (;;) {
        const eol = buf.indexOf('\r\n', p);
        if (eol < 0) break;
        const size = Number.parseInt(buf.subarray(p, eol).toString('latin1'), 16);
        if (!Number.isFinite(size)) throw new Error('malformed chunk size');
        if (buf.length < eol + 2 + size + 2) break;
        parts.push(buf.subarray(eol + 2, eol + 2 + size));
        p = eol + 2 + size + 2;
        if (size === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) break;
      body = Buffer.concat(parts);
    } else {
      const len = Number(headers['content-length'] ?? 0);
      if (buf.length < p + len) break;
      body = buf.subarray(p, p + len);
      p += len;
    }
    responses.push({ status, headers, body });
    at = p;
  }
  return { responses, used: at };
}

/**
 * Writes `requests` in one go on one connection and collects `expect`
 * responses (default: one per request); rejects after `timeoutMs`.
 */
export function pipeline(socketPath: string, requests: readonly string[], opts: { expect?: number; timeoutMs?: number; headOnly?: (i: number) => boolean } = {}): Promise<RawResponse[]> {
  const expect = opts.expect ?? requests.length;
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`${parseResponses(buf).responses.length} of ${expect} responses within ${opts.timeoutMs ?? 20_000} ms`));
    }, opts.timeoutMs ?? 20_000);
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const { responses } = parseResponses(buf, opts.headOnly === undefined ? {} : { headOnly: opts.headOnly });
      if (responses.length >= expect) {
        clearTimeout(timer);
        sock.destroy();
        resolve(responses);
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.write(requests.join(''));
  });
}

/**
 * Writes `bytes` on a new connection, half-closes it, and collects what
 * comes back until the server closes (or `timeoutMs`, then destroyed:
 * `closed` false).
 */
export function exchange(socketPath: string, bytes: Buffer, timeoutMs = 5000): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = net.connect(socketPath);
    const parts: Buffer[] = [];
    let settled = false;
    const finish = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ data: Buffer.concat(parts), closed });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.on('data', (c: Buffer) => parts.push(c));
    sock.on('close', () => finish(true));
    sock.on('error', () => finish(true));
    sock.end(bytes);
  });
}
