/**
 * Group commit in front of ONE p-queue (concurrency 1): requests submitted
 * while a batch is in flight wait in `pending` and all go into the next
 * batch. One batch = one helper round trip + one journal write/fsync (done
 * by `run`, see commit/pipeline.ts). With `batching: false` every request is its
 * own batch (Couic's one-update-per-call, for comparison).
 *
 * Every other task that must not interleave with batches (compaction)
 * goes through exclusive() on the same queue.
 *
 * Planning ahead (`ahead`): while a batch runs, requests arriving are
 * handed to `ahead` one by one, in order, and form the next batch (up to
 * the same weight limit), so the caller can plan them while the running
 * batch waits for the kernel and the disk. The next flush runs exactly
 * those requests; a request `ahead` refuses stays pending with everything
 * behind it.
 */
import PQueue from 'p-queue';
import { AppError } from '../../errors.js';

export interface BatchRequest {
  /** Number of map operations this request may cause (bounds the queue). */
  readonly weight: number;
  /** Runs alone in its batch (set reloads). */
  readonly solo?: boolean;
  reject(err: Error): void;
}

export interface BatcherOptions<R extends BatchRequest> {
  /** Outstanding (queued + in flight) weight beyond which submit() throws AppError('busy'). */
  readonly maxPending: number;
  /** Coalesce requests. @default true */
  readonly batching?: boolean;
  /** Weight limit of one batch (a single heavier request still runs alone). @default 65536 */
  readonly maxBatchWeight?: number;
  /** Applies a batch; returns requests to run again (put back at the front, in order). */
  readonly run: (batch: R[]) => Promise<R[]>;
  /** Called when `run` throws: every request of the batch is rejected with this error. */
  readonly onRunError?: (err: unknown) => Error;
  /**
   * Offered each request submitted while a batch runs (batching only):
   * true = taken into the next batch (planned ahead by the caller), false =
   * left pending.
   */
  readonly ahead?: (req: R) => boolean;
}

export class Batcher<R extends BatchRequest> {
  readonly queue = new PQueue({ concurrency: 1 });
  readonly #o: BatcherOptions<R>;
  readonly #batching: boolean;
  readonly #maxBatchWeight: number;
  #pending: R[] = [];
  /** The next batch, taken while the running one runs (see `ahead`). */
  #ahead: R[] = [];
  #aheadWeight = 0;
  #running = false;
  #outstanding = 0;
  #scheduled = false;
  #closed: string | undefined;
  #batches = 0;
  #requests = 0;

  constructor(opts: BatcherOptions<R>) {
    this.#o = opts;
    this.#batching = opts.batching ?? true;
    this.#maxBatchWeight = opts.maxBatchWeight ?? 65_536;
  }

  /** Weight queued or in flight. */
  get outstanding(): number {
    return this.#outstanding;
  }

  /** Requests waiting for a batch. */
  get waiting(): number {
    return this.#pending.length + this.#ahead.length;
  }

  /** Batches run so far (each = one helper round trip for a mutation batch). */
  get batches(): number {
    return this.#batches;
  }

  get requests(): number {
    return this.#requests;
  }

  /** Queues `req`; throws AppError('busy') when the bound is reached, 'unavailable' once closed. */
  submit(req: R): void {
    if (this.#closed !== undefined) throw new AppError('unavailable', this.#closed);
    const w = Math.max(1, req.weight);
    if (this.#outstanding > 0 && this.#outstanding + w > this.#o.maxPending) throw new AppError('busy');
    this.#outstanding += w;
    this.#requests += 1;
    this.#pending.push(req);
    this.#schedule();
    this.#takeAhead();
  }

  /** Internal submissions (expiry) bypass the bound but not the order. */
  submitInternal(req: R): void {
    if (this.#closed !== undefined) throw new AppError('unavailable', this.#closed);
    this.#outstanding += Math.max(1, req.weight);
    this.#pending.push(req);
    this.#schedule();
    this.#takeAhead();
  }

  /** Runs `fn` on the queue, between batches. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue.add(fn) as Promise<T>;
  }

  #schedule(): void {
    if (this.#scheduled || this.#pending.length === 0) return;
    this.#scheduled = true;
    void this.queue.add(() => this.#flush());
  }

  /** While a batch runs: offers the pending requests, front first, to `ahead`. */
  #takeAhead(): void {
    const ahead = this.#o.ahead;
    if (!this.#running || ahead === undefined || !this.#batching) return;
    while (this.#pending.length > 0) {
      const r = this.#pending[0]!;
      if (r.solo === true) return;
      const rw = Math.max(1, r.weight);
      if (this.#ahead.length > 0 && this.#aheadWeight + rw > this.#maxBatchWeight) return;
      if (!ahead(r)) return;
      this.#pending.shift();
      this.#ahead.push(r);
      this.#aheadWeight += rw;
    }
  }

  #take(): R[] {
    if (this.#ahead.length > 0) {
      const a = this.#ahead;
      this.#ahead = [];
      this.#aheadWeight = 0;
      return a;
    }
    const p = this.#pending;
    const first = p[0];
    if (first === undefined) return [];
    if (!this.#batching || first.solo === true) return p.splice(0, 1);
    let w = 0;
    let n = 0;
    for (const r of p) {
      if (r.solo === true) break;
      const rw = Math.max(1, r.weight);
      if (n > 0 && w + rw > this.#maxBatchWeight) break;
      w += rw;
      n += 1;
    }
    if (n === p.length) {
      this.#pending = [];
      return p;
    }
    return p.splice(0, n);
  }

  async #flush(): Promise<void> {
    this.#scheduled = false;
    const batch = this.#take();
    if (batch.length === 0) return;
    // Requests arriving from now on go to the next batch.
    this.#schedule();
    this.#batches += 1;
    let again: R[] = [];
    this.#running = true;
    try {
      // run() plans its batch before its first await: what arrives from
      // now on (and what the weight limit left pending) is planned ahead.
      const done = this.#o.run(batch);
      this.#takeAhead();
      again = await done;
    } catch (err) {
      const e = this.#o.onRunError?.(err) ?? new AppError('internal', undefined, {}, { cause: err });
      for (const r of batch) r.reject(e);
    } finally {
      this.#running = false;
    }
    let done = 0;
    for (const r of batch) done += Math.max(1, r.weight);
    for (const r of again) done -= Math.max(1, r.weight);
    this.#outstanding -= done;
    if (again.length > 0) {
      // They go first, before the batch taken ahead (its plan assumed this batch whole).
      this.#pending = [...again, ...this.#ahead, ...this.#pending];
      this.#ahead = [];
      this.#aheadWeight = 0;
      this.#schedule();
    }
  }

  /** Refuses new requests (with `reason`) and waits until everything queued is done. */
  async drain(reason = 'couic is shutting down'): Promise<void> {
    this.#closed ??= reason;
    while (this.#pending.length > 0 || this.#ahead.length > 0 || this.queue.size > 0 || this.queue.pending > 0) {
      await this.queue.onIdle();
    }
  }
}
