/**
 * One JSON POST to another host (a peer's /v1/{policy}/peer, the reporting
 * webhook): a keep-alive agent per destination, a whole-request timeout,
 * the certificate verified against the system CAs or a pinned CA file.
 * Transport failures and timeouts reject; any HTTP status resolves.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

export interface PostTarget {
  /** Absolute http(s) URL. */
  readonly url: string;
  /** Headers sent with every request (Authorization, User-Agent...). */
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  /** PEM CA file verifying the server's certificate; "" = the system CAs. */
  readonly ca?: string;
}

export interface PostAnswer {
  readonly status: number;
  /** The body, cut at 4 KiB (enough for an error's message). */
  readonly text: string;
}

const MAX_TEXT = 4096;

/** A reusable poster for one destination. */
export class JsonPoster {
  readonly #agent: http.Agent;
  readonly #https: boolean;
  readonly #target: PostTarget;

  constructor(target: PostTarget) {
    this.#target = target;
    this.#https = new URL(target.url).protocol === 'https:';
    this.#agent = this.#https
      ? new https.Agent({ keepAlive: true, maxSockets: 1, ...(target.ca ? { ca: readFileSync(target.ca) } : {}) })
      : new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  /** POSTs `body` (JSON text) to `path` (appended to the target URL; "" = the URL itself). */
  post(body: Buffer, path = ''): Promise<PostAnswer> {
    const url = new URL(this.#target.url + path);
    const headers: Record<string, string> = {
      ...this.#target.headers,
      'content-type': 'application/json',
      accept: 'application/json',
      'content-length': String(body.length),
    };
    const mod = this.#https ? https : http;
    return new Promise<PostAnswer>((resolve, reject) => {
      const req = mod.request(url, { method: 'POST', headers, agent: this.#agent }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < MAX_TEXT) chunks.push(c);
          size += c.length;
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).subarray(0, MAX_TEXT).toString('utf8') });
        });
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${this.#target.timeoutMs} ms`)), this.#target.timeoutMs);
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.end(body);
    });
  }

  /** Closes the connections, aborting a request in flight (it rejects). */
  close(): void {
    this.#agent.destroy();
  }
}

/** `scheme://host:port` of a URL: what logs and status show of a webhook (its path may hold a secret). */
export function urlOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}
