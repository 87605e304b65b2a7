/**
 * The daemon's side of couic-launcher's control channel
 * (src/helper/launcher_proto.h, docs/deploy.md "Who holds what").
 *
 * Under the launcher the daemon holds no capability: it cannot start
 * couic-helper itself. It listens on a private Unix socket (a 0700 directory
 * beside the API socket), asks the launcher to SPAWN a helper, and the
 * launcher connects twice to that socket as the helper's stdin/stdout and
 * stderr before it execs the helper. Each connection starts with the spawn's
 * random nonce, so no other process can pose as a helper.
 *
 * `LauncherChannel.spawnHelper()` resolves with a `HelperProcess` (the same
 * shape as a spawned child process) that HelperClient drives unchanged.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { promises as fsp, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

/** What HelperClient needs of a helper process (a ChildProcess has it). */
export interface HelperProcess {
  readonly pid?: number | undefined;
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  kill(signal?: NodeJS.Signals): boolean;
  on(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
}

/** The environment variable naming the control channel's fd. */
export const LAUNCHER_FD_ENV = 'COUIC_LAUNCHER_FD';

const MAGIC = 0x55414c43;
const HDR_LEN = 16;
const MAX_PAYLOAD = 4096;
const NONCE_LEN = 16;
const CONN_HDR_LEN = NONCE_LEN + 1;
const MSG = {
  CONFIG: 1,
  SPAWN: 2,
  KILL: 3,
  CONFIG_OK: 0x81,
  CONFIG_FAILED: 0x82,
  SPAWNED: 0x83,
  SPAWN_FAILED: 0x84,
  EXITED: 0x85,
} as const;
const CONN_IO = 0;
const CONN_ERR = 1;
/** Signals the launcher accepts in KILL. */
const KILL_SIGNALS: ReadonlySet<NodeJS.Signals> = new Set(['SIGTERM', 'SIGKILL', 'SIGINT']);
/** Time for the launcher to answer and connect (it does nothing slow). */
const SPAWN_TIMEOUT_MS = 10_000;
/** Prefix of the private directory of the helper socket. */
const SOCKET_DIR_PREFIX = '.couic-helper-';

export class LauncherError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LauncherError';
  }
}

export interface LauncherConfig {
  /** The helper binary (absolute). */
  readonly helperPath: string;
  /** The helper's arguments (flags of helperArgs()). */
  readonly args: readonly string[];
  /** The directory the private helper socket directory is made in (the API socket's). */
  readonly socketParent: string;
}

interface PendingSpawn {
  readonly id: number;
  readonly nonce: Buffer;
  proc: LaunchedHelper | undefined;
  io: net.Socket | undefined;
  err: net.Socket | undefined;
  pid: number | undefined;
  readonly resolve: (p: LaunchedHelper) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** One helper started by the launcher. */
class LaunchedHelper extends EventEmitter implements HelperProcess {
  readonly pid: number;
  readonly stdin: net.Socket;
  readonly stdout: net.Socket;
  readonly stderr: net.Socket;
  readonly #kill: (signal: NodeJS.Signals) => void;
  #exited = false;

  constructor(pid: number, io: net.Socket, err: net.Socket, kill: (signal: NodeJS.Signals) => void) {
    super();
    this.pid = pid;
    this.stdin = io;
    this.stdout = io;
    this.stderr = err;
    this.#kill = kill;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.#exited) return false;
    if (!KILL_SIGNALS.has(signal)) throw new LauncherError(`the launcher sends only ${[...KILL_SIGNALS].join(', ')}, not ${signal}`);
    this.#kill(signal);
    return true;
  }

  onExited(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#exited) return;
    this.#exited = true;
    this.emit('exit', code, signal);
  }
}

const SIGNAL_NAMES: Readonly<Record<number, NodeJS.Signals>> = Object.fromEntries(
  Object.entries(osConstants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

function frame(type: number, spawnId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  if (payload.length > MAX_PAYLOAD) throw new LauncherError(`launcher message of ${payload.length} bytes (at most ${MAX_PAYLOAD})`);
  const b = Buffer.alloc(HDR_LEN + payload.length);
  b.writeUInt32LE(MAGIC, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(payload.length, 6);
  b.writeUInt32LE(spawnId, 8);
  payload.copy(b, HDR_LEN);
  return b;
}

export class LauncherChannel {
  readonly #ctl: net.Socket;
  readonly #spawns = new Map<number, PendingSpawn>();
  readonly #running = new Map<number, LaunchedHelper>();
  /** Every accepted connection, destroyed by close() (a server closes only once they are gone). */
  readonly #conns = new Set<net.Socket>();
  #buf: Buffer = Buffer.alloc(0);
  #server: net.Server | undefined;
  #dir: string | undefined;
  #config: { resolve: () => void; reject: (e: Error) => void } | undefined;
  #nextId = 1;
  #closed: Error | undefined;

  /** The channel the launcher handed down (COUIC_LAUNCHER_FD), or undefined when not started by it. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): LauncherChannel | undefined {
    const v = env[LAUNCHER_FD_ENV];
    if (v === undefined || v === '') return undefined;
    if (!/^\d+$/u.test(v)) throw new LauncherError(`${LAUNCHER_FD_ENV}=${v} is not a file descriptor`);
    // Read once: nothing the daemon might run inherits a claim to the channel.
    delete env[LAUNCHER_FD_ENV];
    return new LauncherChannel(Number(v));
  }

  private constructor(fd: number) {
    this.#ctl = new net.Socket({ fd, readable: true, writable: true });
    this.#ctl.on('data', (d: Buffer) => this.#onData(d));
    this.#ctl.on('error', (e) => this.#fail(new LauncherError(`the launcher's control channel failed: ${e.message}`)));
    this.#ctl.on('close', () => this.#fail(new LauncherError('the launcher closed its control channel')));
  }

  /**
   * Listens on the helper socket and sends CONFIG (once, before any request
   * is read: the launcher accepts no other helper command line).
   */
  async configure(c: LauncherConfig): Promise<void> {
    if (this.#server !== undefined) throw new LauncherError('the launcher is already configured');
    await fsp.mkdir(c.socketParent, { recursive: true, mode: 0o755 });
    removeStaleSocketDirs(c.socketParent);
    this.#dir = await fsp.mkdtemp(join(c.socketParent, SOCKET_DIR_PREFIX));
    const socketPath = join(this.#dir, 'h.sock');
    const server = net.createServer({ allowHalfOpen: true }, (s) => this.#onConnection(s));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const payload = Buffer.from([c.helperPath, socketPath, ...c.args].map((s) => `${s}\0`).join(''));
    await new Promise<void>((resolve, reject) => {
      this.#config = { resolve, reject };
      this.#write(frame(MSG.CONFIG, 0, payload));
    });
  }

  /** Asks the launcher for a helper; resolves once it runs and both its connections are here. */
  spawnHelper(): Promise<HelperProcess> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (this.#server === undefined) return Promise.reject(new LauncherError('the launcher is not configured'));
    const id = this.#nextId;
    this.#nextId = this.#nextId >= 0xffffffff ? 1 : this.#nextId + 1;
    const nonce = randomBytes(NONCE_LEN);
    return new Promise<HelperProcess>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#spawnFailed(id, new LauncherError(`the launcher did not start couic-helper within ${SPAWN_TIMEOUT_MS} ms`));
      }, SPAWN_TIMEOUT_MS);
      this.#spawns.set(id, { id, nonce, proc: undefined, io: undefined, err: undefined, pid: undefined, resolve, reject, timer });
      this.#write(frame(MSG.SPAWN, id, nonce));
    });
  }

  /** Stops listening and removes the helper socket's directory. */
  async close(): Promise<void> {
    const server = this.#server;
    for (const s of this.#conns) s.destroy();
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (this.#dir !== undefined) await fsp.rm(this.#dir, { recursive: true, force: true });
    this.#dir = undefined;
  }

  #write(b: Buffer): void {
    if (this.#closed) throw this.#closed;
    this.#ctl.write(b);
  }

  #onConnection(s: net.Socket): void {
    this.#conns.add(s);
    s.on('close', () => this.#conns.delete(s));
    let head = Buffer.alloc(0);
    const timer = setTimeout(() => s.destroy(), SPAWN_TIMEOUT_MS);
    const onData = (d: Buffer): void => {
      head = Buffer.concat([head, d]);
      if (head.length < CONN_HDR_LEN) return;
      clearTimeout(timer);
      s.off('data', onData);
      s.pause();
      const rest = head.subarray(CONN_HDR_LEN);
      if (rest.length > 0) s.unshift(rest);
      const nonce = head.subarray(0, NONCE_LEN);
      const kind = head[NONCE_LEN];
      const p = [...this.#spawns.values()].find((x) => x.nonce.equals(nonce));
      if (p === undefined || (kind !== CONN_IO && kind !== CONN_ERR)) {
        s.destroy();
        return;
      }
      if (kind === CONN_IO && p.io === undefined) p.io = s;
      else if (kind === CONN_ERR && p.err === undefined) p.err = s;
      else {
        s.destroy();
        return;
      }
      this.#maybeReady(p);
    };
    s.on('data', onData);
    s.on('error', () => {});
    s.on('close', () => clearTimeout(timer));
  }

  #maybeReady(p: PendingSpawn): void {
    if (p.pid === undefined || p.io === undefined || p.err === undefined) return;
    clearTimeout(p.timer);
    this.#spawns.delete(p.id);
    const id = p.id;
    const proc = new LaunchedHelper(p.pid, p.io, p.err, (signal) => {
      const payload = Buffer.alloc(4);
      payload.writeUInt32LE(osConstants.signals[signal], 0);
      if (!this.#closed) this.#write(frame(MSG.KILL, id, payload));
    });
    this.#running.set(id, proc);
    p.resolve(proc);
  }

  #spawnFailed(id: number, err: Error): void {
    const p = this.#spawns.get(id);
    if (p === undefined) return;
    clearTimeout(p.timer);
    this.#spawns.delete(id);
    p.io?.destroy();
    p.err?.destroy();
    p.reject(err);
  }

  #onData(d: Buffer): void {
    this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d]);
    while (this.#buf.length >= HDR_LEN) {
      const b = this.#buf;
      const len = b.readUInt16LE(6);
      if (b.readUInt32LE(0) !== MAGIC || len > MAX_PAYLOAD) {
        this.#fail(new LauncherError('corrupt message from the launcher'));
        this.#ctl.destroy();
        return;
      }
      if (b.length < HDR_LEN + len) return;
      this.#onMessage(b.readUInt16LE(4), b.readUInt32LE(8), b.subarray(HDR_LEN, HDR_LEN + len));
      this.#buf = b.subarray(HDR_LEN + len);
    }
  }

  #onMessage(type: number, id: number, payload: Buffer): void {
    switch (type) {
      case MSG.CONFIG_OK:
        this.#config?.resolve();
        this.#config = undefined;
        return;
      case MSG.CONFIG_FAILED:
        this.#config?.reject(new LauncherError(`the launcher refused the helper's configuration: ${payload.toString('utf8')}`));
        this.#config = undefined;
        return;
      case MSG.SPAWNED: {
        const p = this.#spawns.get(id);
        if (p === undefined || payload.length !== 4) return;
        p.pid = payload.readUInt32LE(0);
        this.#maybeReady(p);
        return;
      }
      case MSG.SPAWN_FAILED:
        this.#spawnFailed(id, new LauncherError(`the launcher could not start couic-helper: ${payload.subarray(4).toString('utf8')}`));
        return;
      case MSG.EXITED: {
        if (payload.length !== 12) return;
        const code = payload.readInt32LE(4);
        const sig = payload.readInt32LE(8);
        const proc = this.#running.get(id);
        if (proc !== undefined) {
          this.#running.delete(id);
          proc.onExited(sig === 0 ? code : null, sig === 0 ? null : (SIGNAL_NAMES[sig] ?? null));
          return;
        }
        // Exited before both connections arrived (it can only have failed).
        this.#spawnFailed(id, new LauncherError(`couic-helper exited at once (${sig === 0 ? `code ${code}` : `signal ${sig}`})`));
        return;
      }
      default:
        // Unknown message types are ignored: nothing the daemon asked for.
        return;
    }
  }

  #fail(err: Error): void {
    if (this.#closed) return;
    this.#closed = err;
    this.#config?.reject(err);
    this.#config = undefined;
    for (const id of [...this.#spawns.keys()]) this.#spawnFailed(id, err);
  }
}

/** Private helper-socket directories a killed daemon left behind. */
function removeStaleSocketDirs(parent: string): void {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  for (const n of names) if (n.startsWith(SOCKET_DIR_PREFIX)) rmSync(join(parent, n), { recursive: true, force: true });
}
