/**
 * HelperClient: starts couic-helper (a child process, or through
 * couic-launcher: `spawner`, src/xdp/launcher.ts) and speaks its framed
 * protocol (docs/helper-protocol.md) over the helper's stdin/stdout.
 *
 * - One writer: requests are written in call order, honouring stdin
 *   backpressure ('drain').
 * - Replies are matched by id (the helper answers in order; DUMP sends
 *   several frames, all but the last flagged MORE).
 * - Every request has a timeout (HelperTimeoutError): a stalled helper never
 *   hangs its callers.
 * - When the process exits, its stdout closes or the stream is corrupt, every
 *   pending request rejects with HelperGoneError and later calls reject at
 *   once.
 */
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HelperProcess } from './launcher.js';
import { FLAG, LIMITS, MAX_OPS_PER_FRAME, MSG, PROTO_VERSION, type OpStatus } from './abi.js';
import {
  BatchRecords,
  decodeEntryList,
  decodeErrorMessage,
  decodeHello,
  decodeReplaceEnd,
  decodeStats,
  decodeStatuses,
  decodeTestResult,
  encodeBatchRecords,
  encodeEmptyRequest,
  encodeReplaceChunk,
  encodeShutdown,
  encodeTagReset,
  encodeTestRun,
  FrameParser,
  HelperError,
  msgName,
  ProtocolError,
  type Frame,
} from './protocol.js';
import type { Hello, HelperOptions, HelperStats, KernelEntry, MapOp, TestRunResult } from './types.js';

export { HelperError, ProtocolError } from './protocol.js';
export type { Frame, HelperErrorCode } from './protocol.js';

/**
 * The helper client contract (implemented by HelperClient below; the core
 * and the tests' fault injectors depend on this, not on the class).
 * Requests are written by one writer, answered in order; when the helper
 * dies every pending request rejects with HelperGoneError.
 */
export interface Helper {
  readonly hello: Hello;
  readonly pid: number | undefined;
  /** Statuses in the order of `ops`. Splits into frames of at most COUIC_MAX_OPS. */
  applyBatch(ops: readonly MapOp[]): Promise<OpStatus[]>;
  /** applyBatch() of records already written (no MapOp per op). */
  applyRecords(records: BatchRecords): Promise<OpStatus[]>;
  /** Makes the kernel maps hold exactly `entries` (no unfiltered instant). Returns statuses of the writes and the number of stale entries removed. */
  replaceAll(entries: Iterable<KernelEntry>): Promise<{ statuses: OpStatus[]; removed: number }>;
  dump(): Promise<KernelEntry[]>;
  stats(): Promise<HelperStats>;
  testRun(packet: Uint8Array, repeat?: number): Promise<TestRunResult>;
  resetTags(tagIds: readonly number[]): Promise<void>;
  /** SHUTDOWN (optionally unpinning), then wait for exit. */
  shutdown(opts?: { unpin?: boolean }): Promise<void>;
  /** Close stdin (EOF) and wait for exit; SIGKILL after `graceMs`. */
  close(graceMs?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): void;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/* ------------------------------------------------------------------ */
/* Errors                                                               */
/* ------------------------------------------------------------------ */

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** The helper process is gone (exited, closed stdout, corrupt stream, closed by us). */
export class HelperGoneError extends HelperError {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  constructor(message: string, exit: ExitInfo | undefined, options?: { cause?: unknown }) {
    super('HELPER_GONE', message, options);
    this.name = 'HelperGoneError';
    this.exitCode = exit?.code ?? null;
    this.signal = exit?.signal ?? null;
  }
}

/** A request got no (complete) reply within its timeout. */
export class HelperTimeoutError extends HelperError {
  readonly requestId: number;
  readonly type: number;
  readonly timeoutMs: number;
  constructor(requestId: number, type: number, timeoutMs: number) {
    super('HELPER_TIMEOUT', `couic-helper did not answer ${msgName(type)} (id ${requestId}) within ${timeoutMs} ms`);
    this.name = 'HelperTimeoutError';
    this.requestId = requestId;
    this.type = type;
    this.timeoutMs = timeoutMs;
  }
}

/** The helper answered a request with a non-zero status. */
export class HelperRequestError extends HelperError {
  /** Positive errno (EINVAL = 22 ...). */
  readonly errno: number;
  /** The raw reply status (-errno). */
  readonly status: number;
  readonly type: number;
  /** The helper's own message (reply payload). */
  readonly helperMessage: string;
  constructor(type: number, status: number, helperMessage: string) {
    const errno = -status;
    super('HELPER_REQUEST', `couic-helper ${msgName(type)} failed: ${errnoName(errno)}${helperMessage ? `: ${helperMessage}` : ''}`);
    this.name = 'HelperRequestError';
    this.errno = errno;
    this.status = status;
    this.type = type;
    this.helperMessage = helperMessage;
  }
}

/** The helper did not come up (spawn failure, failed HELLO, exit or timeout before HELLO). */
export class HelperStartError extends HelperError {
  /** HELLO status (-errno) when the helper reported the failure itself. */
  readonly status: number | undefined;
  readonly errno: number | undefined;
  readonly helperMessage: string | undefined;
  readonly pid: number | undefined;
  constructor(
    message: string,
    info: { status?: number; helperMessage?: string; pid?: number | undefined } = {},
    options?: { cause?: unknown },
  ) {
    super('HELPER_START', message, options);
    this.name = 'HelperStartError';
    this.status = info.status;
    this.errno = info.status === undefined ? undefined : -info.status;
    this.helperMessage = info.helperMessage;
    this.pid = info.pid;
  }
}

const ERRNO_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(osConstants.errno).map(([k, v]) => [v, k]),
);

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

/* ------------------------------------------------------------------ */
/* Options                                                              */
/* ------------------------------------------------------------------ */

export interface HelperClientOptions extends HelperOptions {
  /** Appended after the generated arguments (tests: fault modes of the fake helper). */
  readonly extraArgs?: readonly string[];
  /** Records per BATCH / REPLACE_CHUNK frame. @default MAX_OPS_PER_FRAME (65,536) */
  readonly maxOpsPerFrame?: number;
  /**
   * Starts the helper process instead of spawning `helperPath` (the
   * launcher's transport, src/xdp/launcher.ts: the daemon holds no
   * capability then). `wrapper` and `extraArgs` do not apply.
   */
  readonly spawner?: () => Promise<HelperProcess>;
}

/** The built helper binary: `<package root>/src/helper/.output/couic-helper`, from src/ or dist/. */
export function helperPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src', 'helper'))) {
      return join(dir, 'src', 'helper', '.output', 'couic-helper');
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`couic package root not found above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** The helper's argv (after the binary) for these options. */
export function helperArgs(opts: HelperClientOptions): string[] {
  const a: string[] = [];
  for (const i of opts.ifaces ?? []) a.push('--iface', i);
  if (opts.mode !== undefined) a.push('--mode', opts.mode);
  if (opts.pinDir !== undefined) a.push('--pin-dir', opts.pinDir);
  const c = opts.capacities ?? {};
  if (c.dropExact !== undefined) a.push('--drop-exact', String(c.dropExact));
  if (c.dropCidr !== undefined) a.push('--drop-cidr', String(c.dropCidr));
  if (c.ignoreExact !== undefined) a.push('--ignore-exact', String(c.ignoreExact));
  if (c.ignoreCidr !== undefined) a.push('--ignore-cidr', String(c.ignoreCidr));
  if (opts.maxTags !== undefined) a.push('--max-tags', String(opts.maxTags));
  if (opts.lpmOnly === true) a.push('--lpm-only');
  a.push(...(opts.extraArgs ?? []));
  return a;
}

/** Spawns `helperPath` (with `wrapper`) as a child process. */
function spawnHelper(opts: HelperClientOptions): HelperProcess {
  const argv = [...(opts.wrapper ?? []), opts.helperPath, ...helperArgs(opts)];
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('empty helper command');
  // Own process group: a Ctrl-C or a `kill` of the daemon's group must not
  // stop the helper before the daemon has drained its queue. The helper
  // still exits when the daemon dies, on EOF of its stdin.
  return spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
}

/* ------------------------------------------------------------------ */
/* Client                                                               */
/* ------------------------------------------------------------------ */

interface Pending {
  readonly id: number;
  readonly type: number;
  /** 'single': one frame; 'multi': frames until one without MORE; 'raw': the first frame, whatever its status. */
  readonly mode: 'single' | 'multi' | 'raw';
  readonly frames: Frame[];
  readonly resolve: (frames: Frame[]) => void;
  readonly reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
  readonly timeoutMs: number;
}

interface QueuedWrite {
  readonly id: number | undefined;
  readonly bytes: Buffer;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const DEFAULT_START_TIMEOUT_MS = 20_000;
/** After 'exit', how long to wait for stdout to drain before failing pending requests. */
const EXIT_DRAIN_MS = 500;
/** After stdout closed, how long to wait for 'exit' before declaring the helper gone. */
const STDOUT_CLOSED_GRACE_MS = 1_000;
const STDERR_TAIL = 20;
const MAX_LOG_LINE = 64 * 1024;

export class HelperClient extends EventEmitter implements Helper {
  readonly exited: Promise<ExitInfo>;
  readonly #opts: HelperClientOptions;
  readonly #child: HelperProcess;
  readonly #parser = new FrameParser();
  readonly #pending = new Map<number, Pending>();
  readonly #queue: QueuedWrite[] = [];
  readonly #requestTimeoutMs: number;
  readonly #maxOpsPerFrame: number;
  readonly #stderrTail: string[] = [];
  #stderrPartial = '';
  #hello: Hello | undefined;
  #nextId = 1;
  #waitingDrain = false;
  #endWhenDrained = false;
  #closing: string | undefined;
  #gone: HelperGoneError | undefined;
  #exit: ExitInfo | undefined;
  #stdoutEnded = false;
  #goneTimer: NodeJS.Timeout | undefined;
  #lastHelperError: string | undefined;
  #replaceLock: Promise<unknown> = Promise.resolve();
  #resolveExited!: (info: ExitInfo) => void;
  #start: { resolve: (c: HelperClient) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  readonly #startPromise: Promise<HelperClient>;

  /** Spawns the helper and resolves once it has sent a successful HELLO. */
  static async start(opts: HelperClientOptions): Promise<HelperClient> {
    let proc: HelperProcess;
    if (opts.spawner === undefined) {
      proc = spawnHelper(opts);
    } else {
      try {
        proc = await opts.spawner();
      } catch (err) {
        throw new HelperStartError(`couic-helper did not start: ${(err as Error).message}`, {}, { cause: err });
      }
    }
    return await new HelperClient(opts, proc).#startPromise;
  }

  private constructor(opts: HelperClientOptions, proc: HelperProcess) {
    super();
    this.#opts = opts;
    this.#requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const maxOps = opts.maxOpsPerFrame ?? MAX_OPS_PER_FRAME;
    if (!Number.isInteger(maxOps) || maxOps < 1 || maxOps > MAX_OPS_PER_FRAME) {
      throw new RangeError(`maxOpsPerFrame must be 1..${MAX_OPS_PER_FRAME}`);
    }
    this.#maxOpsPerFrame = maxOps;
    this.exited = new Promise<ExitInfo>((resolve) => {
      this.#resolveExited = resolve;
    });
    this.#child = proc;
    const child = this.#child;

    child.on('error', (err) => {
      if (child.pid === undefined && this.#exit === undefined) {
        // Spawn failure: no 'exit' will come.
        this.#onExit({ code: null, signal: null }, `could not be spawned: ${err.message}`);
      } else {
        this.#log(`helper process error: ${err.message}`);
      }
    });
    child.on('exit', (code, signal) => this.#onExit({ code, signal }));

    child.stdout.on('data', (chunk: Buffer) => this.#onData(chunk));
    child.stdout.on('end', () => this.#onStdoutClosed());
    child.stdout.on('close', () => this.#onStdoutClosed());
    child.stdout.on('error', (err) => this.#log(`helper stdout error: ${err.message}`));

    child.stdin.on('error', (err) => this.#log(`helper stdin error: ${err.message}`));

    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => this.#onStderr(s));
    child.stderr.on('end', () => {
      if (this.#stderrPartial) this.#emitLogLine(this.#stderrPartial);
      this.#stderrPartial = '';
    });
    child.stderr.on('error', () => {});
    // A launched helper's sockets were paused while their header was read.
    child.stdout.resume();
    child.stderr.resume();

    this.#startPromise = new Promise<HelperClient>((resolve, reject) => {
      const startTimeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
      const timer = setTimeout(() => {
        this.#failStart(new HelperStartError(`couic-helper sent no HELLO within ${startTimeoutMs} ms${this.#stderrHint()}`, { pid: this.pid }));
        this.kill('SIGKILL');
      }, startTimeoutMs);
      this.#start = { resolve, reject, timer };
    });
  }

  /* ---------------- public API ---------------- */

  get hello(): Hello {
    if (this.#hello === undefined) throw new HelperError('HELPER_START', 'couic-helper has not said HELLO yet');
    return this.#hello;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** The error every call rejects with once the helper is gone, else undefined. */
  get goneError(): HelperGoneError | undefined {
    return this.#gone;
  }

  /** Frames not yet handed to stdin (waiting for 'drain'). */
  get queuedWrites(): number {
    return this.#queue.length;
  }

  /** Number of requests awaiting a reply. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  async applyBatch(ops: readonly MapOp[]): Promise<OpStatus[]> {
    this.#checkUsable();
    return this.applyRecords(BatchRecords.of(ops));
  }

  /** applyBatch() of records already written (BatchRecords): one status per record, in order. */
  async applyRecords(records: BatchRecords): Promise<OpStatus[]> {
    this.#checkUsable();
    const total = records.length;
    if (total === 0) return [];
    const frames: { id: number; bytes: Buffer; n: number }[] = [];
    for (let i = 0; i < total; i += this.#maxOpsPerFrame) {
      const to = Math.min(total, i + this.#maxOpsPerFrame);
      const id = this.allocId();
      frames.push({ id, bytes: encodeBatchRecords(id, records, i, to), n: to - i });
    }
    const results = await Promise.all(
      frames.map(async (f) => decodeStatuses(this.#payload(await this.#send(MSG.BATCH, f.id, f.bytes, 'single')), f.n)),
    );
    if (results.length === 1) return results[0]!;
    // One preallocated array: flat() costs ~70 ms per million statuses.
    const out = new Array<OpStatus>(total);
    let k = 0;
    for (const r of results) for (let i = 0; i < r.length; i += 1) out[k++] = r[i]!;
    return out;
  }

  replaceAll(entries: Iterable<KernelEntry>): Promise<{ statuses: OpStatus[]; removed: number }> {
    const run = this.#replaceLock.then(
      () => this.#replaceAll(entries),
      () => this.#replaceAll(entries),
    );
    this.#replaceLock = run.catch(() => {});
    return run;
  }

  async #replaceAll(entries: Iterable<KernelEntry>): Promise<{ statuses: OpStatus[]; removed: number }> {
    this.#checkUsable();
    // Encode (and validate) everything before the first byte is sent.
    const chunks: { id: number; bytes: Buffer; n: number }[] = [];
    let batch: KernelEntry[] = [];
    const flush = (): void => {
      const id = this.allocId();
      chunks.push({ id, bytes: encodeReplaceChunk(id, batch), n: batch.length });
      batch = [];
    };
    for (const e of entries) {
      batch.push(e);
      if (batch.length === this.#maxOpsPerFrame) flush();
    }
    if (batch.length > 0) flush();

    const beginId = this.allocId();
    const begin = this.#send(MSG.REPLACE_BEGIN, beginId, encodeEmptyRequest(MSG.REPLACE_BEGIN, beginId), 'single');
    const chunkReplies = chunks.map(async (c) =>
      decodeStatuses(this.#payload(await this.#send(MSG.REPLACE_CHUNK, c.id, c.bytes, 'single')), c.n),
    );
    // END only once every chunk has been applied: an END after a failed chunk
    // would delete entries that belong to the new state.
    const [, ...statusLists] = await Promise.all([begin, ...chunkReplies]);
    const endId = this.allocId();
    const end = await this.#send(MSG.REPLACE_END, endId, encodeEmptyRequest(MSG.REPLACE_END, endId), 'single');
    const { removed } = decodeReplaceEnd(this.#payload(end));
    return { statuses: (statusLists as OpStatus[][]).flat(), removed };
  }

  async dump(): Promise<KernelEntry[]> {
    this.#checkUsable();
    const id = this.allocId();
    const frames = await this.#send(MSG.DUMP, id, encodeEmptyRequest(MSG.DUMP, id), 'multi');
    return frames.flatMap((f) => decodeEntryList(f.payload));
  }

  async stats(): Promise<HelperStats> {
    this.#checkUsable();
    const id = this.allocId();
    return decodeStats(this.#payload(await this.#send(MSG.STATS, id, encodeEmptyRequest(MSG.STATS, id), 'single')));
  }

  async testRun(packet: Uint8Array, repeat = 1): Promise<TestRunResult> {
    this.#checkUsable();
    const id = this.allocId();
    return decodeTestResult(this.#payload(await this.#send(MSG.TEST_RUN, id, encodeTestRun(id, packet, repeat), 'single')));
  }

  async resetTags(tagIds: readonly number[]): Promise<void> {
    this.#checkUsable();
    if (tagIds.length === 0) return;
    const sends: Promise<Frame[]>[] = [];
    for (let i = 0; i < tagIds.length; i += LIMITS.MAX_OPS) {
      const id = this.allocId();
      sends.push(this.#send(MSG.TAG_RESET, id, encodeTagReset(id, tagIds.slice(i, i + LIMITS.MAX_OPS)), 'single'));
    }
    await Promise.all(sends);
  }

  async shutdown(opts: { unpin?: boolean } = {}): Promise<void> {
    this.#checkUsable();
    const id = this.allocId();
    const reply = this.#send(MSG.SHUTDOWN, id, encodeShutdown(id, opts), 'single');
    this.#closing = 'shut down';
    await reply;
    await this.#waitExit(this.#requestTimeoutMs, () => new HelperTimeoutError(id, MSG.SHUTDOWN, this.#requestTimeoutMs));
  }

  async close(graceMs = 5_000): Promise<void> {
    this.#closing ??= 'closed';
    if (this.#exit === undefined) {
      this.#endWhenDrained = true;
      this.#pump();
      await this.#waitExit(graceMs, undefined);
    }
    await this.exited;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.#exit === undefined && this.#child.pid !== undefined) {
      try {
        this.#child.kill(signal);
      } catch (err) {
        this.#log(`kill ${signal} failed: ${(err as Error).message}`);
      }
    }
  }

  /** A fresh request id (for sendRaw). */
  allocId(): number {
    const id = this.#nextId;
    this.#nextId = this.#nextId >= 0xffffffff ? 1 : this.#nextId + 1;
    return id;
  }

  /**
   * Test escape hatch: writes `bytes` as they are (after every queued
   * request) and resolves with the next reply frame carrying `id`, whatever
   * its status. Pass `id: undefined` to expect no reply.
   */
  sendRaw(bytes: Uint8Array, opts: { id: number; timeoutMs?: number }): Promise<Frame>;
  sendRaw(bytes: Uint8Array, opts: { id: undefined }): Promise<void>;
  async sendRaw(bytes: Uint8Array, opts: { id: number | undefined; timeoutMs?: number }): Promise<Frame | void> {
    this.#checkUsable();
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (opts.id === undefined) {
      this.#enqueue({ id: undefined, bytes: buf });
      return;
    }
    const frames = await this.#send(buf.length > 2 ? (buf[2] ?? 0) : 0, opts.id, buf, 'raw', opts.timeoutMs);
    const f = frames[0];
    if (f === undefined) throw new ProtocolError('unexpected', 'raw request resolved without a frame');
    return f;
  }

  /* ---------------- requests ---------------- */

  #checkUsable(): void {
    if (this.#gone) throw this.#gone;
    if (this.#closing !== undefined) throw new HelperGoneError(`couic-helper client is ${this.#closing}`, this.#exit);
  }

  #send(type: number, id: number, bytes: Buffer, mode: Pending['mode'], timeoutMs = this.#requestTimeoutMs): Promise<Frame[]> {
    if (this.#gone) return Promise.reject(this.#gone);
    if (this.#pending.has(id)) return Promise.reject(new HelperError('HELPER_REQUEST', `request id ${id} is already pending`));
    return new Promise<Frame[]>((resolve, reject) => {
      const p: Pending = { id, type, mode, frames: [], resolve, reject, timer: undefined, timeoutMs };
      this.#armTimer(p);
      this.#pending.set(id, p);
      this.#enqueue({ id, bytes });
    });
  }

  #armTimer(p: Pending): void {
    if (p.timer) clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      if (this.#pending.get(p.id) !== p) return;
      this.#pending.delete(p.id);
      // Not written yet: drop it, so a late write cannot apply a request its caller gave up on.
      const qi = this.#queue.findIndex((q) => q.id === p.id);
      if (qi >= 0) this.#queue.splice(qi, 1);
      const err = new HelperTimeoutError(p.id, p.type, p.timeoutMs);
      this.emit('timeout', err);
      p.reject(err);
    }, p.timeoutMs);
  }

  /** The payload of a successful single reply. */
  #payload(frames: Frame[]): Buffer {
    const f = frames[0];
    if (f === undefined || frames.length !== 1) throw new ProtocolError('unexpected', `expected one reply frame, got ${frames.length}`);
    return f.payload;
  }

  #enqueue(w: QueuedWrite): void {
    this.#queue.push(w);
    this.#pump();
  }

  #pump(): void {
    if (this.#waitingDrain || this.#gone) return;
    const stdin = this.#child.stdin;
    while (this.#queue.length > 0) {
      const w = this.#queue.shift();
      if (w === undefined) break;
      if (stdin.destroyed || stdin.writableEnded) continue;
      if (!stdin.write(w.bytes)) {
        this.#waitingDrain = true;
        stdin.once('drain', () => {
          this.#waitingDrain = false;
          this.#pump();
        });
        return;
      }
    }
    if (this.#endWhenDrained && !stdin.writableEnded) stdin.end();
  }

  /* ---------------- replies ---------------- */

  #onData(chunk: Buffer): void {
    if (this.#parser.state === 'failed') return;
    try {
      this.#parser.push(chunk, (f) => this.#onFrame(f));
    } catch (err) {
      const pe = err instanceof ProtocolError ? err : new ProtocolError('unexpected', String(err));
      this.#corrupt(pe);
    }
  }

  #onFrame(f: Frame): void {
    if ((f.flags & FLAG.REPLY) === 0) throw new ProtocolError('unexpected', `frame ${msgName(f.type)} id ${f.id} without the REPLY flag`);

    if (this.#hello === undefined) {
      if (f.type !== MSG.HELLO || f.id !== 0) throw new ProtocolError('unexpected', `expected HELLO, got ${msgName(f.type)} id ${f.id}`);
      this.#onHello(f);
      return;
    }

    const p = this.#pending.get(f.id);
    if (p === undefined) {
      if (f.status !== 0 && f.id === 0) {
        const msg = decodeErrorMessage(f.payload);
        this.#lastHelperError = `${errnoName(-f.status)}${msg ? `: ${msg}` : ''}`;
      }
      this.#log(`ignoring ${msgName(f.type)} reply for id ${f.id} (status ${f.status}): no such pending request`);
      return;
    }
    if (p.mode === 'raw') {
      this.#settle(p);
      p.resolve([f]);
      return;
    }
    if (f.status !== 0) {
      this.#settle(p);
      p.reject(new HelperRequestError(p.type, f.status, decodeErrorMessage(f.payload)));
      return;
    }
    if (f.type !== p.type) {
      this.#settle(p);
      p.reject(new ProtocolError('unexpected', `${msgName(p.type)} id ${p.id} answered with ${msgName(f.type)}`));
      return;
    }
    p.frames.push(f);
    if ((f.flags & FLAG.MORE) !== 0) {
      if (p.mode !== 'multi') {
        this.#settle(p);
        p.reject(new ProtocolError('unexpected', `${msgName(p.type)} id ${p.id}: unexpected MORE flag`));
        return;
      }
      this.#armTimer(p); // progress: the timeout covers the gap between frames
      return;
    }
    this.#settle(p);
    p.resolve(p.frames);
  }

  #settle(p: Pending): void {
    if (p.timer) clearTimeout(p.timer);
    this.#pending.delete(p.id);
  }

  #onHello(f: Frame): void {
    const start = this.#start;
    if (f.status !== 0) {
      const msg = decodeErrorMessage(f.payload);
      this.#lastHelperError = msg;
      this.#failStart(
        new HelperStartError(`couic-helper failed to start: ${msg || errnoName(-f.status)}`, {
          status: f.status,
          helperMessage: msg,
          pid: this.pid,
        }),
      );
      // It exits by itself (status 1); make sure it does.
      setTimeout(() => this.kill('SIGKILL'), 2_000).unref();
      return;
    }
    const hello = decodeHello(f.payload);
    if (hello.protoVersion !== PROTO_VERSION) {
      throw new ProtocolError('bad_value', `helper speaks protocol ${hello.protoVersion}, client speaks ${PROTO_VERSION}`);
    }
    this.#hello = hello;
    if (start) {
      clearTimeout(start.timer);
      this.#start = undefined;
      start.resolve(this);
    }
  }

  #failStart(err: HelperStartError): void {
    const start = this.#start;
    if (!start) return;
    clearTimeout(start.timer);
    this.#start = undefined;
    this.#closing ??= 'not started';
    start.reject(err);
  }

  /* ---------------- death ---------------- */

  #corrupt(err: ProtocolError): void {
    this.#log(`corrupt helper stream: ${err.message}`);
    this.#fail(new HelperGoneError(`couic-helper stream is corrupt: ${err.message}`, this.#exit, { cause: err }));
    this.kill('SIGKILL');
  }

  #onExit(info: ExitInfo, why?: string): void {
    if (this.#exit !== undefined) return;
    this.#exit = info;
    this.#resolveExited(info);
    this.emit('exit', info);
    const fail = (): void => this.#fail(new HelperGoneError(this.#describeExit(why), info));
    if (this.#goneTimer) clearTimeout(this.#goneTimer);
    if (this.#stdoutEnded || why !== undefined) fail();
    else this.#goneTimer = setTimeout(fail, EXIT_DRAIN_MS);
  }

  #onStdoutClosed(): void {
    if (this.#stdoutEnded) return;
    this.#stdoutEnded = true;
    if (this.#exit !== undefined) {
      if (this.#goneTimer) clearTimeout(this.#goneTimer);
      this.#fail(new HelperGoneError(this.#describeExit(), this.#exit));
      return;
    }
    this.#goneTimer = setTimeout(() => {
      this.#fail(new HelperGoneError(`couic-helper (pid ${this.pid}) closed its stdout but is still running`, undefined));
      this.kill('SIGKILL');
    }, STDOUT_CLOSED_GRACE_MS);
  }

  #describeExit(why?: string): string {
    const e = this.#exit;
    let s = `couic-helper (pid ${this.pid ?? '?'}) `;
    if (why !== undefined) s += why;
    else if (e?.signal) s += `was killed by ${e.signal}`;
    else s += `exited with code ${e?.code ?? '?'}`;
    if (this.#lastHelperError) s += ` (helper: ${this.#lastHelperError})`;
    else s += this.#stderrHint();
    return s;
  }

  #stderrHint(): string {
    const last = this.#stderrTail[this.#stderrTail.length - 1];
    return last === undefined ? '' : ` (last log: ${last})`;
  }

  #fail(err: HelperGoneError): void {
    if (this.#goneTimer) {
      clearTimeout(this.#goneTimer);
      this.#goneTimer = undefined;
    }
    if (this.#gone) return;
    this.#gone = err;
    this.#queue.length = 0;
    if (this.#start) {
      this.#failStart(new HelperStartError(`couic-helper did not start: ${err.message}`, { pid: this.pid }, { cause: err }));
    }
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(err);
    }
    this.emit('gone', err);
  }

  async #waitExit(graceMs: number, onKill: (() => Error) | undefined): Promise<void> {
    if (this.#exit !== undefined) return;
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      this.kill('SIGKILL');
    }, graceMs);
    await this.exited;
    clearTimeout(timer);
    if (killed && onKill) throw onKill();
  }

  /* ---------------- logs ---------------- */

  #onStderr(s: string): void {
    const text = this.#stderrPartial + s;
    const lines = text.split('\n');
    this.#stderrPartial = lines.pop() ?? '';
    if (this.#stderrPartial.length > MAX_LOG_LINE) {
      lines.push(this.#stderrPartial);
      this.#stderrPartial = '';
    }
    for (const l of lines) this.#emitLogLine(l);
  }

  #emitLogLine(line: string): void {
    const l = line.replace(/\r$/u, '');
    if (l === '') return;
    this.#stderrTail.push(l);
    if (this.#stderrTail.length > STDERR_TAIL) this.#stderrTail.shift();
    this.#callOnLog(l);
  }

  #log(msg: string): void {
    this.#callOnLog(`[client] ${msg}`);
  }

  #callOnLog(line: string): void {
    try {
      this.#opts.onLog?.(line);
    } catch {
      // a faulty log sink must not break the protocol stream
    }
  }
}
