/**
 * A bound on concurrent heavy reads (whole-policy lists): at most
 * `concurrency` stream at once, up to `queue` more wait their turn, and
 * beyond that the request is refused with 503 `busy` (retry later). Each
 * stream holds a compact copy of the entries (~24 bytes an entry) and
 * 64 KiB pieces of JSON: memory stays bounded whatever the clients do.
 */
import { AppError } from '../errors.js';

export interface HeavyReadsOptions {
  /** @default 2 */
  readonly concurrency?: number;
  /** @default 32 */
  readonly queue?: number;
}

export const HEAVY_READS_BUSY = 'couic is busy: too many list requests in progress, retry later';

export class HeavyReads {
  readonly #concurrency: number;
  readonly #queueMax: number;
  readonly #waiting: (() => void)[] = [];
  #running = 0;

  constructor(opts: HeavyReadsOptions = {}) {
    this.#concurrency = opts.concurrency ?? 2;
    this.#queueMax = opts.queue ?? 32;
  }

  get running(): number {
    return this.#running;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /** Resolves with the release function once a slot is free; throws AppError busy when the queue is full. */
  async acquire(): Promise<() => void> {
    if (this.#running >= this.#concurrency) {
      if (this.#waiting.length >= this.#queueMax) throw new AppError('busy', HEAVY_READS_BUSY);
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#running += 1;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      // The slot passes to the next waiter directly (running unchanged).
      if (next !== undefined) next();
      else this.#running -= 1;
    };
  }
}
