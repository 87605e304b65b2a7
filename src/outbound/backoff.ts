/** Exponential backoff: `initialMs`, doubled after each failure up to `maxMs`, back to none after a success. */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** Couic's: 1 s doubling to 60 s. */
export const COUIC_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 60_000 };

export class Backoff {
  readonly #o: BackoffOptions;
  #next: number;
  #failures = 0;

  constructor(o: BackoffOptions) {
    this.#o = o;
    this.#next = o.initialMs;
  }

  /** The delay to wait after one more failure. */
  fail(): number {
    const d = this.#next;
    this.#failures += 1;
    this.#next = Math.min(this.#o.maxMs, this.#next * 2);
    return d;
  }

  succeed(): void {
    this.#failures = 0;
    this.#next = this.#o.initialMs;
  }

  /** Failures in a row. */
  get failures(): number {
    return this.#failures;
  }
}
