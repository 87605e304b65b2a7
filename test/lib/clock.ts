/**
 * A clock the test moves by hand (src/domain/clock.ts): time stands still
 * until advance(), which fires every timer that falls due, in order, the
 * ones armed by a firing timer included. Expiry is tested with it instead
 * of sleeping.
 */
import type { Clock, TimerHandle } from '../../src/domain/clock.js';

interface Timer extends TimerHandle {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new Set<Timer>();

  constructor(startMs = 1_800_000_000_000) {
    this.#now = startMs;
  }

  nowMs(): number {
    return this.#now;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const t: Timer = { at: this.#now + Math.max(0, ms), seq: (this.#seq += 1), fn, unref: () => {} };
    this.#timers.add(t);
    return t;
  }

  clearTimer(handle: TimerHandle): void {
    this.#timers.delete(handle as Timer);
  }

  /** Timers armed and not yet fired. */
  get pending(): number {
    return this.#timers.size;
  }

  /** When the next timer fires (ms), Infinity when none is armed. */
  get nextAt(): number {
    let at = Infinity;
    for (const t of this.#timers) at = Math.min(at, t.at);
    return at;
  }

  /** Moves time forward by `ms`, firing what falls due on the way; returns the number fired. */
  advance(ms: number): number {
    const end = this.#now + ms;
    let fired = 0;
    for (;;) {
      let next: Timer | undefined;
      for (const t of this.#timers) if (t.at <= end && (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      if (next === undefined) break;
      this.#timers.delete(next);
      this.#now = Math.max(this.#now, next.at);
      next.fn();
      fired += 1;
    }
    this.#now = end;
    return fired;
  }

  /** Moves time to `ms` (never backwards). */
  advanceTo(ms: number): number {
    return this.advance(Math.max(0, ms - this.#now));
  }
}
