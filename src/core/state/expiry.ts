/**
 * Exact expiry: a min-heap of table slots ordered by expiration, and one
 * timer armed for the earliest one. No scan: the cost is O(log n) per
 * insert/removal and O(k log n) for k entries expiring together.
 *
 * An entry with expiration T (unix seconds) expires at T.000 (Couic deletes
 * entries with `expiration <= now`). When the timer fires the due entries
 * are popped and handed to `onDue`, which removes them through the batch
 * queue; if that fails the caller re-adds them (add()).
 */
import { MAX_TIMER_MS, nowSeconds, systemClock, type Clock, type TimerHandle } from '../../domain/clock.js';
import type { EntryTable } from './table.js';


export class ExpiryHeap {
  readonly #table: EntryTable;
  #heap: Int32Array = new Int32Array(1024);
  #size = 0;

  constructor(table: EntryTable) {
    this.#table = table;
  }

  get size(): number {
    return this.#size;
  }

  /** Slot with the earliest expiration, or -1. */
  peek(): number {
    return this.#size > 0 ? this.#heap[0]! : -1;
  }

  has(slot: number): boolean {
    return this.#table.heapPos[slot]! >= 0;
  }

  add(slot: number): void {
    if (this.#table.heapPos[slot]! >= 0) {
      this.update(slot);
      return;
    }
    if (this.#size === this.#heap.length) {
      const h = new Int32Array(this.#heap.length * 2);
      h.set(this.#heap);
      this.#heap = h;
    }
    const i = this.#size;
    this.#size += 1;
    this.#heap[i] = slot;
    this.#table.heapPos[slot] = i;
    this.#up(i);
  }

  /** Re-orders `slot` after its expiration changed. */
  update(slot: number): void {
    const i = this.#table.heapPos[slot]!;
    if (i < 0) return;
    this.#up(i);
    this.#down(this.#table.heapPos[slot]!);
  }

  remove(slot: number): void {
    const pos = this.#table.heapPos;
    const i = pos[slot]!;
    if (i < 0) return;
    pos[slot] = -1;
    this.#size -= 1;
    if (i === this.#size) return;
    const last = this.#heap[this.#size]!;
    this.#heap[i] = last;
    pos[last] = i;
    this.#up(i);
    this.#down(pos[last]!);
  }

  pop(): number {
    if (this.#size === 0) return -1;
    const top = this.#heap[0]!;
    this.remove(top);
    return top;
  }

  clear(): void {
    for (let i = 0; i < this.#size; i += 1) this.#table.heapPos[this.#heap[i]!] = -1;
    this.#size = 0;
  }

  #less(a: number, b: number): boolean {
    const e = this.#table.expiration;
    return e[a]! < e[b]!;
  }

  #up(i: number): void {
    const h = this.#heap;
    const pos = this.#table.heapPos;
    const slot = h[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const ps = h[p]!;
      if (!this.#less(slot, ps)) break;
      h[i] = ps;
      pos[ps] = i;
      i = p;
    }
    h[i] = slot;
    pos[slot] = i;
  }

  #down(i: number): void {
    const h = this.#heap;
    const pos = this.#table.heapPos;
    const n = this.#size;
    const slot = h[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.#less(h[r]!, h[l]!) ? r : l;
      const cs = h[c]!;
      if (!this.#less(cs, slot)) break;
      h[i] = cs;
      pos[cs] = i;
      i = c;
    }
    h[i] = slot;
    pos[slot] = i;
  }
}

export interface ExpiryTimerOptions {
  readonly heap: ExpiryHeap;
  readonly table: EntryTable;
  /** Receives the (store, key) of every due entry, already popped from the heap. */
  readonly onDue: (due: { store: number; key: string; expiration: number }[]) => void;
  /** @default systemClock */
  readonly clock?: Clock;
}

/** One timer for the earliest expiration of the heap. Call rearm() after heap changes. */
export class ExpiryTimer {
  readonly #o: ExpiryTimerOptions;
  readonly #clock: Clock;
  #timer: TimerHandle | undefined;
  /** Expiration (s) the timer is armed for; Infinity when idle. */
  #armedFor = Infinity;
  #stopped = false;

  constructor(opts: ExpiryTimerOptions) {
    this.#o = opts;
    this.#clock = opts.clock ?? systemClock;
  }

  /** Arms (or re-arms) the timer if the heap top is earlier than what it waits for. */
  rearm(): void {
    if (this.#stopped) return;
    const top = this.#o.heap.peek();
    if (top < 0) return;
    const exp = this.#o.table.expiration[top]!;
    if (exp >= this.#armedFor) return;
    this.#arm(exp);
  }

  #arm(exp: number): void {
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#armedFor = exp;
    const delay = Math.max(0, Math.min(MAX_TIMER_MS, exp * 1000 - this.#clock.nowMs()));
    this.#timer = this.#clock.setTimer(() => this.#fire(), delay);
    this.#timer.unref();
  }

  /** Pops and reports every entry due now; re-arms for the next. Returns the number reported. */
  fireNow(): number {
    // The armed timer would only find nothing due: no second one left pending.
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    return this.#fire();
  }

  #fire(): number {
    this.#timer = undefined;
    this.#armedFor = Infinity;
    if (this.#stopped) return 0;
    const nowS = nowSeconds(this.#clock);
    const { heap, table } = this.#o;
    const due: { store: number; key: string; expiration: number }[] = [];
    for (;;) {
      const top = heap.peek();
      if (top < 0 || table.expiration[top]! > nowS) break;
      heap.pop();
      const key = table.keyOf(top);
      if (key !== undefined) due.push({ store: table.storeOfSlot(top), key, expiration: table.expiration[top]! });
    }
    if (due.length > 0) this.#o.onDue(due);
    this.rearm();
    return due.length;
  }

  /** Re-checks after `ms` (used when a removal failed and entries were put back). */
  retryIn(ms: number): void {
    if (this.#stopped) return;
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#armedFor = -Infinity; // nothing re-arms earlier until it fires
    this.#timer = this.#clock.setTimer(() => this.#fire(), ms);
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }
}
