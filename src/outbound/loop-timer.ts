/**
 * The sleeps of one sender loop (a peering link, the reporter): wait for work,
 * wait out the batch interval or a backoff, and wake at once on stop(). A new
 * item wakes only a loop that waits for work: one that waits out its interval
 * or backoff keeps waiting, so batches stay at most one per interval.
 */
export class LoopTimer {
  #wake: (() => void) | undefined;
  #stopped = false;

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Resolves when notify() or stop() is called. */
  untilWork(): Promise<void> {
    return this.#sleep(Number.POSITIVE_INFINITY, { byWork: true });
  }

  /** Resolves after `ms`, or at once on stop(). */
  delay(ms: number): Promise<void> {
    return this.#sleep(ms, { byWork: false });
  }

  /** New work queued. */
  notify(): void {
    this.#wake?.();
  }

  stop(): void {
    this.#stopped = true;
    this.#wake?.();
  }

  #sleep(ms: number, opts: { byWork: boolean }): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = ms === Number.POSITIVE_INFINITY ? undefined : setTimeout(done, ms);
      this.#wake = opts.byWork ? done : () => {
        if (this.#stopped) done();
      };
    });
  }
}
