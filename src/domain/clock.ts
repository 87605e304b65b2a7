/**
 * Time as the core sees it. Everything that reads the time or arms a timer
 * (expiry, claim expiry, a batch's "now") takes a Clock, so tests drive
 * expiry with a ManualClock (test/lib/clock.ts) instead of sleeping.
 */

export interface TimerHandle {
  /** Keeps the process alive only while other work does (like Timeout#unref). */
  unref(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  nowMs(): number;
  setTimer(fn: () => void, ms: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** The process clock: Date.now and setTimeout. */
export const systemClock: Clock = {
  nowMs: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Unix seconds of `clock` (default: the process clock). */
export function nowSeconds(clock: Clock = systemClock): number {
  return Math.floor(clock.nowMs() / 1000);
}

/** setTimeout's limit (about 24.8 days): longer waits are re-armed. */
export const MAX_TIMER_MS = 0x7fffffff;
