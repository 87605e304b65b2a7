/**
 * Supervises couic-helper: starts it, restarts it when it dies (capped
 * exponential backoff, crash loops logged), and resyncs every new instance
 * from the userspace state (replaceAll) before declaring it ready.
 *
 * Callers needing the helper wait for readiness with a bound (waitReady);
 * past it they get AppError('unavailable') (503). The resync runs under the
 * kernel lock shared with the batcher, so a batch is either entirely before
 * a resync (already in the state it pushes) or entirely after it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { AppError } from '../../errors.js';
import type { Helper } from '../../xdp/helper.js';
import type { Mutex } from './mutex.js';

export interface BackoffOptions {
  /** First restart delay. @default 100 */
  readonly initialMs?: number;
  /** Cap. @default 10000 */
  readonly maxMs?: number;
  /** A helper that ran this long resets the backoff. @default 30000 */
  readonly resetAfterMs?: number;
}

export interface SupervisorOptions {
  /** Starts one helper instance (resolves after its HELLO). */
  readonly startHelper: () => Promise<Helper>;
  /** Pushes the whole state into `helper`; called with the kernel lock held. */
  readonly resync: (helper: Helper, reason: 'start' | 'restart') => Promise<void>;
  readonly lock: Mutex;
  readonly logger: Logger;
  readonly backoff?: BackoffOptions;
}

interface Waiter {
  readonly resolve: (h: Helper) => void;
  readonly reject: (e: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

export class HelperSupervisor {
  readonly #o: SupervisorOptions;
  readonly #log: Logger;
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #resetAfterMs: number;
  #current: Helper | undefined;
  #ready = false;
  #stopping = false;
  #startedAt = 0;
  #failures = 0;
  #restarts = 0;
  #restarting: Promise<void> | undefined;
  readonly #waiters = new Set<Waiter>();

  constructor(opts: SupervisorOptions) {
    this.#o = opts;
    this.#log = opts.logger;
    this.#initialMs = opts.backoff?.initialMs ?? 100;
    this.#maxMs = opts.backoff?.maxMs ?? 10_000;
    this.#resetAfterMs = opts.backoff?.resetAfterMs ?? 30_000;
  }

  /** The ready helper, if any. */
  get helper(): Helper | undefined {
    return this.#ready ? this.#current : undefined;
  }

  get ready(): boolean {
    return this.#ready;
  }

  /** Restarts so far. */
  get restarts(): number {
    return this.#restarts;
  }

  /** pid of the running helper. */
  get pid(): number | undefined {
    return this.#current?.pid;
  }

  /**
   * First start: failures are thrown (the daemon exits), no retry.
   * `starting`: a helper already being started (so it loads while the
   * caller replays the journal).
   */
  async start(starting?: Promise<Helper>): Promise<Helper> {
    const h = await (starting ?? this.#o.startHelper());
    try {
      await this.#o.lock.run(() => this.#o.resync(h, 'start'));
    } catch (err) {
      h.kill('SIGKILL');
      throw err;
    }
    this.#adopt(h);
    return h;
  }

  #adopt(h: Helper): void {
    this.#current = h;
    this.#ready = true;
    this.#startedAt = Date.now();
    void h.exited.then((info) => this.#onExit(h, info));
    for (const w of this.#waiters) {
      if (w.timer !== undefined) clearTimeout(w.timer);
      w.resolve(h);
    }
    this.#waiters.clear();
  }

  #onExit(h: Helper, info: { code: number | null; signal: NodeJS.Signals | null }): void {
    if (h !== this.#current) return;
    this.#ready = false;
    this.#current = undefined;
    if (this.#stopping) {
      this.#log.info({ pid: h.pid, code: info.code, signal: info.signal }, 'couic-helper exited');
      return;
    }
    const ranMs = Date.now() - this.#startedAt;
    if (ranMs >= this.#resetAfterMs) this.#failures = 0;
    this.#log.error({ pid: h.pid, code: info.code, signal: info.signal, ranMs }, 'couic-helper exited unexpectedly, restarting it');
    this.#restarting ??= this.#restartLoop().finally(() => {
      this.#restarting = undefined;
    });
  }

  async #restartLoop(): Promise<void> {
    while (!this.#stopping) {
      const delay = Math.min(this.#maxMs, this.#initialMs * 2 ** this.#failures);
      if (this.#failures >= 3) {
        this.#log.warn({ failures: this.#failures, delayMs: delay }, 'couic-helper crash loop: backing off');
      }
      await sleep(delay);
      if (this.#stopping) return;
      let h: Helper | undefined;
      try {
        const t0 = performance.now();
        h = await this.#o.startHelper();
        if (this.#stopping) {
          await h.close();
          return;
        }
        const started = h;
        await this.#o.lock.run(() => this.#o.resync(started, 'restart'));
        if (this.#stopping) {
          // stop() ran during the resync: do not adopt a helper nobody will close.
          await h.close();
          return;
        }
        this.#restarts += 1;
        this.#log.warn({ pid: h.pid, ms: Math.round(performance.now() - t0), restarts: this.#restarts }, 'couic-helper restarted and resynced');
        this.#failures += 1;
        this.#adopt(h);
        return;
      } catch (err) {
        this.#failures += 1;
        this.#log.error({ err, failures: this.#failures }, 'couic-helper restart failed');
        h?.kill('SIGKILL');
      }
    }
  }

  /**
   * Resolves with the ready helper, waiting for a restart until
   * `deadline` (ms since epoch); then rejects with AppError('unavailable').
   */
  waitReady(deadline: number): Promise<Helper> {
    const h = this.helper;
    if (h !== undefined) return Promise.resolve(h);
    if (this.#stopping) return Promise.reject(new AppError('unavailable', 'couic is shutting down'));
    return new Promise<Helper>((resolve, reject) => {
      const w: Waiter = { resolve, reject, timer: undefined };
      const ms = deadline - Date.now();
      const fail = (): void => {
        this.#waiters.delete(w);
        reject(new AppError('unavailable'));
      };
      if (ms <= 0) {
        fail();
        return;
      }
      w.timer = setTimeout(fail, ms);
      this.#waiters.add(w);
    });
  }

  /** `h` misbehaved (timeout, protocol error): kill it so it restarts and resyncs. */
  fail(h: Helper, err: unknown): void {
    if (h !== this.#current) return;
    this.#log.error({ err, pid: h.pid }, 'couic-helper failed a request; it will be restarted and resynced');
    this.#ready = false;
    h.kill('SIGKILL');
  }

  /**
   * Shutdown has begun: no more restarts (the helper may get the same
   * SIGTERM/SIGINT as the daemon), but a running helper stays usable for
   * draining.
   */
  quiesce(): void {
    this.#stopping = true;
  }

  /** Stops supervising and closes the helper (EOF: it detaches unless pinned, then exits). */
  async stop(graceMs = 5_000): Promise<void> {
    this.#stopping = true;
    for (const w of this.#waiters) {
      if (w.timer !== undefined) clearTimeout(w.timer);
      w.reject(new AppError('unavailable', 'couic is shutting down'));
    }
    this.#waiters.clear();
    const h = this.#current;
    this.#ready = false;
    if (h !== undefined) await h.close(graceMs);
    await this.#restarting;
  }
}
