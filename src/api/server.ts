/**
 * The HTTP/1.1 API on a Unix socket (spec §1.1, §8.2 step 8).
 *
 * Per request: route (404/405, no auth) → RBAC (401) → handler, which
 * validates the path (400) and the body (400/422) before calling the
 * EntryService. Errors are AppErrors rendered by reply.ts; anything else
 * is a logged 500 `internal`.
 */
import { promises as fsp } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { Logger } from 'pino';
import type { ClientRegistry } from '../core/clients.js';
import type { EntryService } from '../core/model/types.js';
import { AppError, isAppError } from '../errors.js';
import { authorize } from './auth.js';
import { BODY_LIMIT, drainRequest } from './body.js';
import { banHandlers } from './handlers/bans.js';
import { clientHandlers } from './handlers/clients.js';
import { entryHandlers } from './handlers/entries.js';
import { fleetHandlers, type FleetStatusSource } from './handlers/fleet.js';
import { peeringHandlers, type PeeringSources } from './handlers/peering.js';
import { empty, errorReply, send, type Reply } from './reply.js';
import { Router, type RequestContext, type RequestTurn } from './router.js';
import { buildRoutes, type HandlerTable } from './routes.js';
import { ClientErrorLog } from './client-error-log.js';
import { ConnectionTurns, isSelfOrdered } from './turns.js';

export interface ApiServerOptions {
  readonly socketPath: string;
  readonly entries: EntryService;
  readonly clients: ClientRegistry;
  readonly logger: Logger;
  /** @default 0o770 */
  readonly socketMode?: number;
  /** chown the socket to uid:gid when both are given. */
  readonly uid?: number;
  readonly gid?: number;
  /** @default 2 MiB */
  readonly bodyLimit?: number;
  /** Handlers for routes implemented elsewhere (sets, stats, metrics); override the defaults. */
  readonly handlers?: HandlerTable;
  /** The fleet's status for GET /v1/fleet (absent: `{"enabled": false}`). */
  readonly fleet?: FleetStatusSource;
  /** How long close() lets in-flight requests finish before cutting every connection. @default 3000 */
  readonly drainMs?: number;
  /** Peering's and reporting's status for GET /v1/peering (absent: disabled). */
  readonly peering?: PeeringSources;
}

/** Default of ApiServerOptions.drainMs. */
export const API_DRAIN_MS = 3000;

export interface ApiServer {
  readonly server: http.Server;
  readonly socketPath: string;
  /**
   * Stops accepting, waits for in-flight requests (at most `drainMs`: a body
   * that never ends must not hold the stop), then destroys every connection,
   * upgraded and half-parsed ones included.
   */
  close(): Promise<void>;
}

/** Listens on `socketPath`; an existing socket is removed only if nobody answers on it. */
async function listenUnix(server: http.Server, socketPath: string): Promise<void> {
  const tryListen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        server.off('listening', onListening);
        reject(err);
      };
      const onListening = (): void => {
        server.off('error', onError);
        resolve();
      };
      server.once('error', onError);
      server.once('listening', onListening);
      // the socket file is created by the (synchronous) bind inside listen():
      // no window where it is reachable by others before the chmod below
      const umask = process.umask(0o007);
      try {
        server.listen(socketPath);
      } finally {
        process.umask(umask);
      }
    });
  try {
    await tryListen();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    const alive = await new Promise<boolean>((resolve, reject) => {
      const sock = net.connect(socketPath);
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ECONNREFUSED') resolve(false);
        else reject(new Error(`cannot probe existing socket ${socketPath}: ${e.message}`, { cause: e }));
      });
    });
    if (alive) throw new Error(`another process is already serving ${socketPath}`, { cause: err });
    await fsp.unlink(socketPath);
    await tryListen();
  }
}

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const logger = opts.logger.child({ module: 'api' });
  const bodyLimit = opts.bodyLimit ?? BODY_LIMIT;
  const entries = entryHandlers(opts.entries);
  const clients = clientHandlers(opts.clients);
  const router = new Router(
    buildRoutes({
      'entries.list': entries.list,
      'entries.create': entries.create,
      'entries.peer': entries.peer,
      'entries.get': entries.get,
      'entries.delete': entries.delete,
      'clients.list': clients.list,
      'clients.create': clients.create,
      'clients.get': clients.get,
      'clients.delete': clients.delete,
      ...banHandlers(opts.entries, entries),
      ...fleetHandlers(entries, opts.fleet),
      ...peeringHandlers(entries, opts.peering),
      ...opts.handlers,
    }),
  );

  let inFlight = 0;
  let idle: (() => void) | undefined;

  const turns = new ConnectionTurns();
  const clientErrors = new ClientErrorLog({ logger });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    // Taken synchronously, in arrival order (turns.ts).
    const turn = turns.take(req.socket);
    try {
      await answer(req, res, turn, started);
    } finally {
      turn.completed();
    }
  }

  async function answer(req: http.IncomingMessage, res: http.ServerResponse, turn: RequestTurn, started: bigint): Promise<void> {
    let url = req.url ?? '/';
    const abs = /^https?:\/\/[^/?#]*/i.exec(url);
    if (abs !== null) url = url.slice(abs[0].length) || '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const rawQuery = q < 0 ? '' : url.slice(q + 1);
    const method = req.method ?? 'GET';
    let reply: Reply;
    let clientName: string | undefined;
    const m = router.match(method, path);
    if (m.kind === 'not_found') {
      reply = empty(404);
    } else if (m.kind === 'method_not_allowed') {
      reply = empty(405, { allow: m.allow });
    } else if (m.kind === 'bad_path') {
      reply = { status: 400, text: 'Invalid URL: Cannot parse percent-encoded path' };
    } else {
      try {
        // Also before authentication: a token created by an earlier request of the connection is known.
        if (!isSelfOrdered(m.route.handler)) await turn.wait('read');
        const client = authorize(opts.clients, req.headers.authorization, m.route.scope);
        clientName = client.name;
        const actor = { name: client.name, group: client.group };
        const ctx: RequestContext = {
          req,
          params: m.params,
          query: new URLSearchParams(rawQuery),
          rawQuery,
          client,
          actor,
          // handlers name the acting client in their lines (no child logger per request)
          logger,
          bodyLimit,
          turn,
        };
        reply = await m.route.handler(ctx);
      } catch (err) {
        if (isAppError(err)) {
          reply = errorReply(err);
          if (err.status >= 500) logger.error({ err, method, path }, 'request failed');
        } else if (req.destroyed && !req.complete) {
          // The client went away in the middle of its body: nobody reads an
          // answer, and it is the client's doing (a client error, rate-limited).
          reply = errorReply(new AppError('bad_request', 'The connection closed before the end of the request'));
        } else {
          logger.error({ err, method, path }, 'unexpected error while handling request');
          reply = errorReply(new AppError('internal', 'Internal error', {}, { cause: err }));
        }
      }
    }
    await drainRequest(req);
    await send(res, reply);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const line = { method, path, status: reply.status, client: clientName, ms };
    if (reply.status >= 500) logger.error(line, 'request');
    else if (reply.status >= 400) clientErrors.log(line);
    else logger.debug(line, 'request');
  }

  const pending = new Set<http.IncomingMessage>();
  /** The `done` of each request not yet done, by connection (one 'close' listener per socket). */
  const openOn = new WeakMap<object, Set<() => void>>();
  const server = http.createServer((req, res) => {
    inFlight += 1;
    pending.add(req);
    let counted = true;
    // 'finish' = the response was handed to the OS; 'close' covers aborted requests.
    const done = (): void => {
      if (!counted) return;
      counted = false;
      pending.delete(req);
      openOn.get(req.socket)?.delete(done);
      inFlight -= 1;
      if (inFlight === 0 && idle !== undefined) idle();
    };
    res.once('finish', done);
    res.once('close', done);
    // A pipelined response still queued when its connection closes gets
    // neither 'finish' nor 'close': nobody can receive it, it is done.
    let open = openOn.get(req.socket);
    if (open === undefined) openOn.set(req.socket, (open = new Set()));
    open.add(done);
    handle(req, res).catch((err: unknown) => {
      logger.error({ err }, 'failed to answer request');
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  // Every socket, whatever state its HTTP parser is in (upgraded sockets
  // leave http's own connection list): close() destroys them all.
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      for (const done of [...(openOn.get(socket) ?? [])]) done();
    });
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  });

  await listenUnix(server, opts.socketPath);
  try {
    await fsp.chmod(opts.socketPath, opts.socketMode ?? 0o770);
    if (opts.uid !== undefined && opts.gid !== undefined) await fsp.chown(opts.socketPath, opts.uid, opts.gid);
  } catch (err) {
    // Couic only prints this failure and keeps serving.
    logger.warn({ err, socket: opts.socketPath }, 'cannot set socket ownership/mode');
  }
  logger.info({ socket: opts.socketPath }, 'API listening');

  let closing: Promise<void> | undefined;
  return {
    server,
    socketPath: opts.socketPath,
    close(): Promise<void> {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        if (inFlight > 0) {
          let timer: NodeJS.Timeout | undefined;
          const drained = await Promise.race([
            new Promise<boolean>((resolve) => (idle = () => resolve(true))),
            new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), opts.drainMs ?? API_DRAIN_MS))),
          ]);
          clearTimeout(timer);
          if (!drained) {
            const sample = [...pending].slice(0, 5).map((r) => ({ method: r.method, url: r.url?.slice(0, 100), complete: r.complete, socketDestroyed: r.socket.destroyed }));
            logger.warn({ inFlight, ms: opts.drainMs ?? API_DRAIN_MS, sample }, 'requests still in flight at shutdown: closing their connections');
          }
        }
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
        await closed;
        clientErrors.flush();
        logger.info('API closed');
      })();
      return closing;
    },
  };
}
