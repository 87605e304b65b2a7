/**
 * The live event stream: `GET /v1/events`, a WebSocket on the API's Unix
 * socket (ws with `noServer`, hooked on the http server's `upgrade`).
 *
 * - Only `/v1/events` upgrades; an upgrade request for any other path is
 *   dropped (socket destroyed).
 * - Same Bearer tokens as the REST API; groups admin, clientro, clientrw
 *   and monitoring may read; anything else gets Couic's 401 envelope
 *   before the upgrade.
 * - RBAC per message, with the REST routes' table (auth.ts): entry and
 *   sets events only to groups allowed `policy:list` (what GET /v1/{policy}
 *   would show them), stats samples only to groups allowed `stats:list`
 *   (GET /v1/stats). A consumer whose client was deleted (or whose token no
 *   longer authenticates) is closed with 1008 "client removed" at the next
 *   check (every stats tick and every heartbeat).
 * - Messages (JSON text frames, see docs/api-extensions.md): `hello`,
 *   entry `added` / `removed` / `expired` / `updated`, `sets_reloaded`, and
 *   a `stats` sample every second.
 * - A consumer that does not read is cut off (close 1013 + reason) once
 *   more than `maxBufferedBytes` are waiting for it, then terminated if it
 *   does not complete the close; nothing is buffered without bound.
 * - Heartbeat: a ping every `heartbeatMs`; no pong by the next one =
 *   terminated. Closed (1001) on daemon shutdown.
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Client, ClientRegistry } from '../core/clients.js';
import type { StatsSource } from '../core/model/types.js';
import type { CoreEvent, CoreEvents } from '../core/state/events.js';
import type { Group } from '../domain/types.js';
import { allowed } from './auth.js';
import { readStats, statsJson } from './handlers/stats.js';
import type { Scope } from './router.js';

export const EVENTS_PATH = '/v1/events';
export const EVENT_GROUPS: ReadonlySet<Group> = new Set<Group>(['admin', 'clientro', 'clientrw', 'monitoring']);
/** Close codes. */
export const CLOSE_SLOW = 1013;
export const CLOSE_SHUTDOWN = 1001;
export const CLOSE_POLICY = 1008;
/** What a consumer must be allowed (REST RBAC) to get each kind of message. */
export const ENTRY_EVENTS_SCOPE: Scope = { resource: 'policy', verb: 'list' };
export const STATS_EVENTS_SCOPE: Scope = { resource: 'stats', verb: 'list' };

export interface EventStreamOptions {
  readonly server: http.Server;
  readonly clients: ClientRegistry;
  readonly events: CoreEvents;
  readonly stats: StatsSource;
  readonly logger: Logger;
  /** Cut a consumer off past this many unsent bytes. @default 4 MiB */
  readonly maxBufferedBytes?: number;
  /** @default 1000 */
  readonly statsIntervalMs?: number;
  /** @default 30000 */
  readonly heartbeatMs?: number;
  /** Time a cut-off or closing consumer gets to complete the close. @default 5000 */
  readonly closeGraceMs?: number;
}

interface Conn {
  readonly ws: WebSocket;
  readonly client: Client;
  /** The Authorization header of the upgrade, re-checked against the registry. */
  readonly auth: string | undefined;
  /** Allowed entry/sets events (policy:list), stats samples (stats:list). */
  readonly entries: boolean;
  readonly stats: boolean;
  alive: boolean;
  /** Set once we decided to close it: nothing more is sent. */
  closing: boolean;
}

const UNAUTHORIZED_BODY = '{"code":"unauthorized","message":"Unauthorized","errors":{}}';

function refuse(socket: Duplex, status: string, body = ''): void {
  const head = body === ''
    ? `HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`
    : `HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  socket.end(head);
  setTimeout(() => socket.destroy(), 1000).unref();
}

function pathOf(url: string | undefined): string {
  let u = url ?? '/';
  const abs = /^https?:\/\/[^/?#]*/i.exec(u);
  if (abs !== null) u = u.slice(abs[0].length) || '/';
  const q = u.indexOf('?');
  return q < 0 ? u : u.slice(0, q);
}

export class EventStream {
  readonly #o: EventStreamOptions;
  readonly #log: Logger;
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, clientTracking: false });
  readonly #conns = new Set<Conn>();
  readonly #maxBuffered: number;
  readonly #grace: number;
  #unsubscribe: (() => void) | undefined;
  #statsTimer: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #sampling = false;
  #closed = false;
  readonly #onUpgrade: (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Consumers cut off for being slow (for logs and tests). */
  cutOff = 0;

  constructor(opts: EventStreamOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ module: 'events' });
    this.#maxBuffered = opts.maxBufferedBytes ?? 4 * 1024 * 1024;
    this.#grace = opts.closeGraceMs ?? 5000;
    this.#onUpgrade = (req, socket, head) => this.#upgrade(req, socket, head);
    opts.server.on('upgrade', this.#onUpgrade);
  }

  /** Connected consumers. */
  get size(): number {
    return this.#conns.size;
  }

  #upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (pathOf(req.url) !== EVENTS_PATH) {
      socket.destroy();
      return;
    }
    if (this.#closed) {
      refuse(socket, '503 Service Unavailable');
      return;
    }
    const client = this.#o.clients.authenticate(req.headers.authorization);
    if (client === undefined || !EVENT_GROUPS.has(client.group)) {
      refuse(socket, '401 Unauthorized', UNAUTHORIZED_BODY);
      return;
    }
    const auth = req.headers.authorization;
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, client, auth));
  }

  #accept(ws: WebSocket, client: Client, auth: string | undefined): void {
    if (this.#closed) {
      ws.terminate();
      return;
    }
    const conn: Conn = {
      ws,
      client,
      auth,
      entries: allowed(client.group, ENTRY_EVENTS_SCOPE),
      stats: allowed(client.group, STATS_EVENTS_SCOPE),
      alive: true,
      closing: false,
    };
    this.#conns.add(conn);
    this.#log.info({ client: client.name, group: client.group, consumers: this.#conns.size }, 'event stream opened');
    ws.on('pong', () => (conn.alive = true));
    ws.on('message', () => {}); // nothing to say to us
    ws.on('error', (err) => this.#log.debug({ err: err.message, client: client.name }, 'event stream error'));
    ws.on('close', (code) => {
      this.#conns.delete(conn);
      this.#log.info({ client: client.name, code, consumers: this.#conns.size }, 'event stream closed');
      if (this.#conns.size === 0) this.#idle();
    });
    if (this.#conns.size === 1) this.#busy();
    this.#send(conn, JSON.stringify({ type: 'hello', time: Date.now(), client: client.name, group: client.group }));
  }

  /** First consumer: subscribe to the core, start the sampler and the heartbeat. */
  #busy(): void {
    this.#unsubscribe ??= this.#o.events.on((ev) => this.#onCore(ev));
    this.#statsTimer ??= setInterval(() => void this.#sample(), this.#o.statsIntervalMs ?? 1000);
    this.#heartbeat ??= setInterval(() => this.#beat(), this.#o.heartbeatMs ?? 30_000);
  }

  /** No consumer left: the core stops building events. */
  #idle(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    clearInterval(this.#statsTimer);
    this.#statsTimer = undefined;
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  #onCore(ev: CoreEvent): void {
    // Metadata travels into reports only (spec §1.4): never streamed.
    const { type, ...rest } = ev.type === 'sets_reloaded' || ev.metadata === undefined ? ev : { ...ev, metadata: undefined };
    let text: string | undefined;
    for (const c of this.#conns) {
      if (!c.entries) continue;
      text ??= JSON.stringify({ type, time: Date.now(), ...rest });
      this.#send(c, text);
    }
  }

  /** Closes (1008) the consumers whose client was deleted or no longer authenticates. */
  #revalidate(): void {
    for (const c of this.#conns) {
      if (c.closing) continue;
      const now = this.#o.clients.authenticate(c.auth);
      if (now !== undefined && now.name === c.client.name && now.group === c.client.group) continue;
      this.#log.info({ client: c.client.name }, 'event stream: client removed, closing');
      this.#close(c, CLOSE_POLICY, 'client removed');
    }
  }

  async #sample(): Promise<void> {
    this.#revalidate();
    if (this.#sampling || this.#conns.size === 0) return;
    let wanted = false;
    for (const c of this.#conns) wanted ||= c.stats && !c.closing;
    if (!wanted) return;
    this.#sampling = true;
    try {
      const s = await readStats(this.#o.stats);
      const text = `{"type":"stats","time":${Date.now()},"stats":${statsJson(s)}}`;
      for (const c of this.#conns) if (c.stats) this.#send(c, text);
    } catch (err) {
      this.#log.debug({ err: (err as Error).message }, 'stats sample skipped');
    } finally {
      this.#sampling = false;
    }
  }

  #beat(): void {
    this.#revalidate();
    for (const c of this.#conns) {
      if (c.closing) continue;
      if (!c.alive) {
        this.#log.info({ client: c.client.name }, 'event stream: no pong, terminating');
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      try {
        c.ws.ping();
      } catch {
        c.ws.terminate();
      }
    }
  }

  /** Sends a text message to every consumer, whatever its group (slow ones are cut off instead). */
  broadcast(text: string): void {
    for (const c of this.#conns) this.#send(c, text);
  }

  #send(c: Conn, text: string): void {
    if (c.closing || c.ws.readyState !== c.ws.OPEN) return;
    if (c.ws.bufferedAmount > this.#maxBuffered) {
      this.cutOff += 1;
      this.#log.warn({ client: c.client.name, buffered: c.ws.bufferedAmount }, 'event stream: slow consumer cut off');
      this.#close(c, CLOSE_SLOW, `slow consumer: more than ${this.#maxBuffered} bytes unread`);
      return;
    }
    c.ws.send(text);
  }

  #close(c: Conn, code: number, reason: string): void {
    if (c.closing) return;
    c.closing = true;
    try {
      c.ws.close(code, reason);
    } catch {
      c.ws.terminate();
    }
    setTimeout(() => c.ws.terminate(), this.#grace).unref();
  }

  /** Closes every consumer (1001), waits up to the grace time, stops accepting. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#o.server.off('upgrade', this.#onUpgrade);
    const conns = [...this.#conns];
    const gone = conns.map((c) => new Promise<void>((resolve) => {
      if (c.ws.readyState === c.ws.CLOSED) resolve();
      else c.ws.once('close', () => resolve());
    }));
    for (const c of conns) this.#close(c, CLOSE_SHUTDOWN, 'couic is shutting down');
    const timer = new Promise<void>((resolve) => setTimeout(resolve, Math.min(this.#grace, 1000)).unref());
    await Promise.race([Promise.all(gone), timer]);
    for (const c of this.#conns) c.ws.terminate();
    this.#idle();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }
}
