/**
 * The pipeline from the queue to the committer. Every mutation goes
 * through one Batcher (one p-queue, concurrency 1): a batch is planned
 * against the state (plan/planner.ts), then committed under the kernel
 * lock (committer.ts). If the helper is down, the batch waits (bounded by
 * its requests' deadlines) for the restarted and resynced helper and is
 * sent again; past the bound it fails with AppError('unavailable').
 *
 * Planning ahead: while a batch waits for the kernel and the disk, the API
 * requests that arrive (creates, removes, peer bodies) are planned at once
 * on top of it, as if it were committed (planAhead); a plan of
 * EARLY_SEND_MIN ops or more goes to the helper straight away, queued
 * behind it (sendEarly). It is journaled, committed and answered only in
 * its own turn, and only if the batch under it committed whole; otherwise
 * what it sent is undone in the kernel and its requests are planned again.
 */
import type { Logger } from 'pino';
import { nowSeconds, type Clock } from '../../domain/clock.js';
import { AppError } from '../../errors.js';
import type { Helper } from '../../xdp/helper.js';
import type { Mutex } from '../kernel/mutex.js';
import type { HelperSupervisor } from '../kernel/supervisor.js';
import { KINDS, type Req } from '../model/requests.js';
import { Plan } from '../plan/plan.js';
import { planRequest } from '../plan/planner.js';
import type { PlannerContext } from '../plan/scope.js';
import { Batcher } from '../queue/batcher.js';
import type { TagRegistry } from '../state/tags.js';
import { restoreKernel, type Committer } from './committer.js';
import { encoderFor, journalOps } from './journal-frames.js';
import { SEND_WHOLE_MAX, type KernelWriter } from './kernel-writer.js';
import type { StateCommit } from './state-commit.js';

/**
 * A batch planned ahead goes to the helper as soon as it has this many ops
 * (a peer body, an array of bans), queued behind the batch in flight: the
 * kernel applies it while that batch is committed and answered. Smaller
 * ones keep gathering requests until their turn (one journal write each).
 */
const EARLY_SEND_MIN = 1_024;

export interface AheadStats {
  /** Batches run on a plan made ahead. */
  readonly planned: number;
  /** Plans made ahead sent to the helper before their turn. */
  readonly sentEarly: number;
  /** Plans made ahead given up (their base did not commit whole). */
  readonly dropped: number;
}

export interface PipelineOptions {
  readonly planner: PlannerContext;
  readonly tags: TagRegistry;
  readonly supervisor: HelperSupervisor;
  readonly lock: Mutex;
  readonly kernel: KernelWriter;
  readonly state: StateCommit;
  /** Makes the committer, given the hook that ends planning ahead on a batch being committed. */
  readonly committer: (committing: (plan: Plan) => void) => Committer;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly maxPending: number;
}

export class Pipeline {
  readonly batcher: Batcher<Req>;
  readonly #o: PipelineOptions;
  readonly #log: Logger;
  readonly #committer: Committer;
  /** The plan of the batch being applied, until it is committed or given up. */
  #inflight: Plan | undefined;
  /** The next batch, planned on top of #inflight while it is applied. */
  #ahead: { readonly plan: Plan; readonly batch: Req[]; readonly now: number } | undefined;
  readonly #stats = { planned: 0, sentEarly: 0, dropped: 0 };

  constructor(opts: PipelineOptions) {
    this.#o = opts;
    this.#log = opts.logger;
    this.#committer = opts.committer((plan) => {
      // Committed from now on: a plan made ahead on it would count it twice.
      if (this.#inflight === plan) this.#inflight = undefined;
    });
    this.batcher = new Batcher<Req>({
      maxPending: opts.maxPending,
      batching: opts.kernel.batching,
      run: (batch) => this.#run(batch),
      ahead: (req) => this.#planAhead(req),
    });
  }

  get aheadStats(): AheadStats {
    return { ...this.#stats };
  }

  /**
   * Plans `req` into the next batch while the batch in flight waits for the
   * kernel and the disk (Batcher `ahead`), as if that batch were committed.
   * The plan is used only if that batch commits whole (#takeAhead); else
   * its requests are planned again. Returns false to leave `req` pending.
   */
  #planAhead(req: Req): boolean {
    const base = this.#inflight;
    if (base === undefined || base.solo || base.noAhead || !KINDS[req.kind].ahead) return false;
    let a = this.#ahead;
    if (a !== undefined && (a.plan.base !== base || a.plan.early !== undefined)) return false;
    a ??= this.#ahead = { plan: new Plan(base), batch: [], now: nowSeconds(this.#o.clock) };
    try {
      a.plan.reqs.push(planRequest(this.#o.planner, a.plan, a.batch.length, req, a.now));
    } catch (err) {
      // Not planned whole: give the plan up; its requests are planned with their batch.
      this.#log.warn({ err }, 'planning ahead failed, the requests are planned with their batch');
      base.noAhead = true;
      void this.#dropAhead(); // never sent early: releases synchronously
      return false;
    }
    a.batch.push(req);
    if (a.plan.ops.length >= EARLY_SEND_MIN) {
      try {
        this.#sendEarly(a.plan);
      } catch (err) {
        // Nothing was sent: the plan goes to the helper in its turn.
        this.#log.warn({ err }, 'sending a batch early failed, it is sent in its turn');
      }
    }
    return true;
  }

  /**
   * Sends the ops of a plan made ahead to the helper now, behind the batch
   * in flight (the helper applies requests in order). The plan takes no
   * more requests. If the batch in flight does not commit whole, these ops
   * are undone in the kernel before their requests are planned again
   * (#dropAhead); nothing is journaled or answered before the plan's turn.
   */
  #sendEarly(plan: Plan): void {
    const h = this.#o.supervisor.helper;
    const n = plan.ops.length;
    if (h === undefined || !this.#o.kernel.batching || n > SEND_WHOLE_MAX) return;
    // Everything that can throw comes before the first byte is sent.
    const rec = this.#o.kernel.records(plan.ops, 0, n);
    const pre = encoderFor(plan);
    journalOps(pre, plan.ops, 0, n);
    // Reused tag ids of this plan (only this plan was planned since the batch in flight took its own).
    const maxTags = h.hello.maxTags;
    const resets = this.#o.tags.takeResets().filter((id) => id > 0 && id < maxTags);
    const reset = resets.length > 0 ? h.resetTags(resets) : undefined;
    const records = h.applyRecords(rec);
    this.#o.kernel.countCall();
    const statuses = reset === undefined ? records : reset.then(() => records);
    records.catch(() => {});
    statuses.catch(() => {}); // awaited in the plan's turn
    plan.early = { h, statuses, resets, pre };
    this.#stats.sentEarly += 1;
  }

  /**
   * Gives up the plan made ahead: ops it sent early are undone in the
   * kernel (back to the committed state), its tag references released.
   */
  async #dropAhead(): Promise<void> {
    const a = this.#ahead;
    if (a === undefined) return;
    this.#ahead = undefined;
    this.#stats.dropped += 1;
    const early = a.plan.early;
    a.plan.early = undefined;
    if (early !== undefined) {
      // Whatever the kernel took goes back to the committed state. A helper
      // that failed the request is restarted, and its resync does that.
      let failed: unknown;
      await early.statuses.catch((err: unknown) => (failed = err ?? new Error('helper request failed')));
      const sup = this.#o.supervisor;
      if (sup.helper === early.h) {
        if (failed !== undefined) sup.fail(early.h, failed);
        else await this.#o.lock.run(() => restoreKernel(this.#o, early.h, a.plan, 0));
      }
    }
    this.#o.state.release(a.plan.ops, 0);
  }

  /**
   * The plan made ahead for `batch` when it still holds (same requests, its
   * base committed whole); 'stale' when one was made that does not.
   */
  #takeAhead(batch: readonly Req[]): { plan: Plan; now: number } | 'stale' | undefined {
    const a = this.#ahead;
    if (a === undefined) return undefined;
    const same = a.batch.length === batch.length && a.batch.every((r, i) => r === batch[i]);
    if (!same || a.plan.base?.committed !== true) return 'stale';
    this.#ahead = undefined;
    a.plan.base = undefined;
    this.#stats.planned += 1;
    return a;
  }

  async #run(batch: Req[]): Promise<Req[]> {
    // No await before the plan exists (the Batcher plans ahead on it right after calling us),
    // but a stale plan made ahead is undone first, in the kernel too.
    let ahead = this.#takeAhead(batch);
    if (ahead === 'stale') {
      await this.#dropAhead();
      ahead = undefined;
    }
    const now = ahead?.now ?? nowSeconds(this.#o.clock);
    let plan: Plan;
    if (ahead !== undefined) {
      plan = ahead.plan;
    } else {
      plan = new Plan();
      for (let r = 0; r < batch.length; r += 1) plan.reqs.push(planRequest(this.#o.planner, plan, r, batch[r]!, now));
    }
    plan.solo = batch.some((r) => r.kind === 'sets');
    plan.resets.push(...this.#o.tags.takeResets());
    let deadline = Infinity;
    for (const req of batch) deadline = Math.min(deadline, req.deadline);

    if (plan.ops.length === 0 && plan.claimChanges.length === 0) {
      // Nothing for the kernel or the journal: answer at once.
      this.#committer.answerOnly(batch, plan, now);
      plan.committed = true;
      return [];
    }

    // From here until it is committed, the next batch may be planned on top of this one.
    this.#inflight = plan;
    try {
      for (;;) {
        let h: Helper;
        try {
          h = await this.#o.supervisor.waitReady(deadline);
        } catch (err) {
          this.#committer.abort(batch, plan, err instanceof AppError ? err : new AppError('unavailable'));
          return [];
        }
        const out = await this.#o.lock.run(() => this.#committer.apply(h, batch, plan, now));
        if (out !== 'retry') return out;
      }
    } finally {
      if (this.#inflight === plan) this.#inflight = undefined;
    }
  }
}
