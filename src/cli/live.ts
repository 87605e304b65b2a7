/**
 * `stats global --live`: a frame every second with per-second rates.
 *
 * Samples come from the daemon's WebSocket event stream
 * (`ws+unix://<socket>:/v1/events`, Bearer token) when it offers one and
 * pushes stats on it; otherwise — upgrade refused (e.g. 404/400/401), no
 * connection, or no stats message within FIRST_SAMPLE_MS — from polling
 * `GET /v1/stats` every second. Runs until interrupted or an error.
 */
import type { Endpoint } from './config.js';
import { liveFrame, liveRates, type ApiStats, type LiveRates } from './format.js';
import { parseJsonLossless, USER_AGENT, type CouicClient } from './http.js';

export const INTERVAL_MS = 1000;
export const FIRST_SAMPLE_MS = 1500;

export interface LiveOptions {
  /** Stop after this many frames (tests). @default Infinity */
  readonly maxFrames?: number;
  /** Polling period. @default 1000 */
  readonly intervalMs?: number;
  /** Skip the WebSocket attempt. @default false */
  readonly noWebSocket?: boolean;
}

export interface Writer {
  write(text: string): unknown;
}

/** Extracts a Stats object from an event message (`Stats`, `{stats}`, `{data}`), if any. */
export function statsFromEvent(text: string): ApiStats | undefined {
  let msg: unknown;
  try {
    msg = parseJsonLossless(text);
  } catch {
    return undefined;
  }
  const candidates = [msg, (msg as { stats?: unknown } | null)?.stats, (msg as { data?: unknown } | null)?.data];
  for (const c of candidates) {
    if (typeof c === 'object' && c !== null && typeof (c as ApiStats).drop_cidr_count === 'number' && typeof (c as ApiStats).xdp === 'object') {
      return c as ApiStats;
    }
  }
  return undefined;
}

function eventsUrl(e: Endpoint): string {
  return e.kind === 'unix' ? `ws+unix://${e.socketPath}:/v1/events` : `${e.tls ? 'wss' : 'ws'}://${e.host}:${e.port}/v1/events`;
}

/**
 * Opens the event stream; resolves with an async sample iterator once the
 * first stats message arrived, or undefined when the daemon does not offer it.
 */
async function openEventStream(client: CouicClient): Promise<AsyncIterator<ApiStats> | undefined> {
  const { WebSocket } = await import('ws');
  const e = client.endpoint;
  const ws = new WebSocket(eventsUrl(e), {
    headers: { authorization: `Bearer ${e.token}`, 'user-agent': USER_AGENT },
    handshakeTimeout: 5000,
  });
  const queue: ApiStats[] = [];
  let waiter: ((v: IteratorResult<ApiStats>) => void) | undefined;
  let failure: ((err: Error) => void) | undefined;
  let closed: Error | undefined;
  return new Promise((resolve) => {
    let started = false;
    const giveUp = (): void => {
      if (started) return;
      started = true;
      clearTimeout(timer);
      ws.removeAllListeners();
      ws.on('error', () => {});
      ws.terminate();
      resolve(undefined);
    };
    const timer = setTimeout(giveUp, FIRST_SAMPLE_MS);
    ws.on('unexpected-response', giveUp);
    ws.on('error', (err) => {
      if (!started) giveUp();
      else {
        closed = err;
        failure?.(err);
      }
    });
    ws.on('close', () => {
      closed ??= new Error('event stream closed by the daemon');
      failure?.(closed);
    });
    ws.on('message', (data) => {
      const s = statsFromEvent(data.toString());
      if (s === undefined) return;
      if (waiter !== undefined) {
        const w = waiter;
        waiter = undefined;
        w({ value: s, done: false });
      } else {
        queue.push(s);
      }
      if (!started) {
        started = true;
        clearTimeout(timer);
        resolve({
          next: () =>
            new Promise<IteratorResult<ApiStats>>((res, rej) => {
              const q = queue.shift();
              if (q !== undefined) return res({ value: q, done: false });
              if (closed !== undefined) return rej(closed);
              waiter = res;
              failure = rej;
            }),
          return: async () => {
            ws.terminate();
            return { value: undefined, done: true };
          },
        });
      }
    });
  });
}

function pollStream(client: CouicClient, intervalMs: number): AsyncIterator<ApiStats> {
  let first = true;
  return {
    next: async () => {
      if (!first) await new Promise((r) => setTimeout(r, intervalMs));
      first = false;
      return { value: await client.call<ApiStats>('GET', '/v1/stats', undefined, { lossless: true }), done: false };
    },
  };
}

export async function runLive(client: CouicClient, out: Writer, opts: LiveOptions = {}): Promise<void> {
  const maxFrames = opts.maxFrames ?? Number.POSITIVE_INFINITY;
  const stream = (opts.noWebSocket === true ? undefined : await openEventStream(client)) ?? pollStream(client, opts.intervalMs ?? INTERVAL_MS);
  let prev: ApiStats | undefined;
  let prevAt = performance.now();
  let prevRates: LiveRates | undefined;
  try {
    for (let frame = 0; frame < maxFrames; frame += 1) {
      const r = await stream.next();
      if (r.done === true) return;
      const now = performance.now();
      const elapsed = prev === undefined ? (opts.intervalMs ?? INTERVAL_MS) / 1000 : (now - prevAt) / 1000;
      const rates = liveRates(prev ?? r.value, r.value, elapsed);
      out.write(liveFrame(elapsed, r.value, rates, prevRates));
      prev = r.value;
      prevAt = now;
      prevRates = rates;
    }
  } finally {
    await stream.return?.();
  }
}
