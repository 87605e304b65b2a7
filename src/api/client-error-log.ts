/**
 * The log of client errors (4xx answers): a flood of bad requests must not
 * fill the disk. In each window (60 s) the first `full` client errors are
 * logged in full, as every request line is; the rest are only counted, and
 * one summary line per window gives their number by status (at the end of
 * the window, or at close()). Server errors (5xx) are not limited here.
 */
import type { Logger } from 'pino';

export interface ClientErrorLogOptions {
  readonly logger: Logger;
  /** Client errors logged in full per window. @default 20 */
  readonly full?: number;
  /** @default 60000 */
  readonly windowMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

export const SUMMARY_MESSAGE = 'client errors not logged in full';

export class ClientErrorLog {
  readonly #log: Logger;
  readonly #full: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  #windowStart = -Infinity;
  #logged = 0;
  #suppressed = 0;
  #byStatus: Record<string, number> = {};
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: ClientErrorLogOptions) {
    this.#log = opts.logger;
    this.#full = opts.full ?? 20;
    this.#windowMs = opts.windowMs ?? 60_000;
    this.#now = opts.now ?? Date.now;
  }

  /** A request line answered with a 4xx `status`. */
  log(line: { readonly status: number } & Record<string, unknown>): void {
    const now = this.#now();
    if (now >= this.#windowStart + this.#windowMs) {
      this.flush();
      this.#windowStart = now;
      this.#logged = 0;
    }
    if (this.#logged < this.#full) {
      this.#logged += 1;
      this.#log.info(line, 'request');
      return;
    }
    this.#suppressed += 1;
    const key = String(line.status);
    this.#byStatus[key] = (this.#byStatus[key] ?? 0) + 1;
    if (this.#timer === undefined) {
      const left = Math.max(0, this.#windowStart + this.#windowMs - now);
      this.#timer = setTimeout(() => this.flush(), left);
      this.#timer.unref();
    }
  }

  /** Writes the summary of the client errors counted so far, if any. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#suppressed === 0) return;
    this.#log.warn({ count: this.#suppressed, byStatus: this.#byStatus, logged: this.#logged, windowMs: this.#windowMs }, SUMMARY_MESSAGE);
    this.#suppressed = 0;
    this.#byStatus = {};
  }
}
