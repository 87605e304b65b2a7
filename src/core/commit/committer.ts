/**
 * The committer: one planned batch into the kernel and the journal, then
 * into the state, then answered. Runs under the kernel lock shared with
 * the helper supervisor (the pipeline takes it).
 *
 *   1. reused tag ids are reset (TAG_RESET) and the ops go to the helper as
 *      one logical BATCH; meanwhile the batch's journal frame, written as
 *      if the kernel takes every op, is encoded and appended (fdatasync),
 *      so the disk and the helper round trip overlap;
 *   2. if the kernel refused op k, the ops after it are put back in the
 *      kernel, k's request fails, the later requests go back to the queue,
 *      and a second journal frame takes the first back to what is
 *      committed; if the helper was lost, the whole frame is taken back and
 *      the batch waits for the restarted, resynced helper;
 *   3. the committed ops are applied to the state and the claims, and every
 *      request is answered.
 * So a caller is answered only once its change is in the kernel AND
 * durable. Past the journal write a failure would leave memory out of line
 * with the journal: the process exits and a restart replays it.
 */
import type { Logger } from 'pino';
import { mapFullError } from '../../domain/entry-errors.js';
import { AppError } from '../../errors.js';
import type { OpStatus } from '../../xdp/abi.js';
import type { Helper } from '../../xdp/helper.js';
import type { Journal } from '../journal/journal.js';
import type { HelperSupervisor } from '../kernel/supervisor.js';
import type { Req } from '../model/requests.js';
import { PLANNED } from '../plan/op-list.js';
import type { Plan } from '../plan/plan.js';
import type { ClaimState, ClaimTable } from '../state/claims.js';
import { answer } from './answers.js';
import { encoderFor, journalClaims, undoFrame } from './journal-frames.js';
import type { KernelWriter } from './kernel-writer.js';
import type { StateCommit } from './state-commit.js';

export interface CommitterOptions {
  readonly supervisor: HelperSupervisor;
  readonly journal: Journal;
  readonly kernel: KernelWriter;
  readonly state: StateCommit;
  readonly claims: ClaimTable;
  readonly logger: Logger;
  /** Requests waiting behind this batch (a lone request's frame is written on the main thread). */
  readonly waiting: () => number;
  /** The batch is about to be committed: no plan may be made ahead on it any more. */
  readonly committing: (plan: Plan) => void;
  /** The claims of `keys` changed (committed): re-arm the claim expiry, tell the listeners. */
  readonly claimsChanged: (keys: Iterable<string>) => void;
  /** A claims-sync could not plan some keys: retry them at `at` (unix seconds). */
  readonly retryClaims: (keys: readonly string[], at: number) => void;
  /** After a commit: the journal may be due for compaction. */
  readonly afterCommit: () => void;
  /** Ends the process on an unrecoverable inconsistency (tests override it). */
  readonly exit: (code: number) => never;
}

/** What the kernel and the journal made of a batch's frame. */
interface Sent {
  readonly statuses: OpStatus[] | undefined;
  readonly helperError: unknown;
  readonly journaled: boolean;
  readonly journalError: unknown;
}

export class Committer {
  readonly #o: CommitterOptions;
  readonly #log: Logger;

  constructor(opts: CommitterOptions) {
    this.#o = opts;
    this.#log = opts.logger;
  }

  /** Answers a batch that has nothing for the kernel or the journal. */
  answerOnly(batch: readonly Req[], plan: Plan, now: number): void {
    answer(batch, plan.reqs, plan.reqs.length, { log: this.#log, now, retryClaims: this.#o.retryClaims });
  }

  /** Fails every request of the batch with `err` (nothing of it was sent or journaled). */
  abort(batch: readonly Req[], plan: Plan, err: Error): void {
    this.#o.state.release(plan.ops, 0);
    for (const req of batch) req.reject(err);
    this.#log.warn({ requests: batch.length, ops: plan.ops.length, err: err.message }, 'batch failed');
  }

  /**
   * Applies `batch` as planned in `plan` through helper `h` (the kernel lock
   * held). Returns the requests to run again (after a kernel refusal), or
   * 'retry' when the helper was lost (the batch waits for its restart).
   */
  async apply(h: Helper, batch: Req[], plan: Plan, now: number): Promise<Req[] | 'retry'> {
    if (this.#o.supervisor.helper !== h) return 'retry';
    const ops = plan.ops;
    // Claim changes of the whole batch (the last state per key): journaled now, committed unless the kernel refuses an op.
    const allClaims = plan.committedClaims(ops.length, batch.length);
    const sent = await this.#send(h, batch, plan, allClaims);

    if (sent.statuses === undefined) {
      // Gone or wedged: either way it is not ready any more (no hot retry loop).
      this.#o.supervisor.fail(h, sent.helperError);
      this.#log.warn({ err: (sent.helperError as Error).message, ops: ops.length }, 'helper failed during a batch, waiting for its restart');
      // The batch is planned again once the helper is back; the journal must
      // not keep it meanwhile (its requests may end up refused).
      if (sent.journaled) await this.#journalUndo(plan, 0, 0);
      return 'retry';
    }

    if (sent.journalError !== undefined) {
      this.#log.error({ err: sent.journalError }, 'journal write failed, undoing the batch in the kernel');
      await this.#restoreKernel(h, plan, 0);
      this.#o.state.release(ops, 0);
      const e = new AppError('internal', 'couic could not write its journal', {}, { cause: sent.journalError });
      for (const req of batch) req.reject(e);
      return [];
    }

    const statuses = sent.statuses;
    let k = -1;
    for (let i = 0; i < ops.length; i += 1) {
      const s = statuses[i];
      if (s === 'ok' || (s === 'absent' && ops.cols.kind[i] === PLANNED.DELETE)) continue;
      k = i;
      break;
    }

    let committedOps = ops.length;
    let committedReqs = batch.length;
    let again: Req[] = [];
    if (k >= 0) {
      // The kernel refused op k. Undo ops after it, fail its request, plan
      // the later requests again.
      const owner = ops.cols.req[k]!;
      const status = statuses[k] ?? 'error';
      await this.#restoreKernel(h, plan, k);
      this.#o.state.release(ops, k);
      committedOps = k;
      committedReqs = owner + 1;
      const op = ops.at(k);
      const err = status === 'full'
        ? mapFullError(h.hello.capacity[op.ks] ?? 0)
        : new AppError('internal', `kernel map update failed (${status}) for ${op.key}`);
      plan.reqs[owner]!.error = err;
      again = batch.slice(owner + 1);
      this.#log.error({ cidr: op.key, status, requeued: again.length }, 'kernel refused a map update');
      if (sent.journaled) await this.#journalUndo(plan, committedOps, committedReqs);
    }

    // The journal holds the batch: it is authoritative. A failure from here
    // on would leave memory half-updated against the kernel and the journal,
    // so the process exits and a restart replays a consistent state.
    this.#o.committing(plan);
    try {
      this.#o.state.apply(ops, committedOps, batch);
      // Claim changes that go with the committed ops (the last state per key).
      const claims = k < 0 ? allClaims : plan.committedClaims(committedOps, committedReqs);
      if (claims.size > 0) {
        for (const [key, st] of claims) this.#o.claims.set(key, st);
        this.#o.claimsChanged(claims.keys());
      }
      answer(batch, plan.reqs, committedReqs, { log: this.#log, now, retryClaims: this.#o.retryClaims });
      plan.committed = k < 0;
      this.#o.afterCommit();
    } catch (err) {
      this.#fatal(err);
    }
    return again;
  }

  /**
   * Sends the ops (or collects what an early send got) and writes the
   * batch's journal frame meanwhile. Sent early (pipeline.ts) to this very
   * helper: its statuses and journal records are at hand. Sent to a helper
   * since lost: sent again.
   */
  async #send(h: Helper, batch: readonly Req[], plan: Plan, allClaims: ReadonlyMap<string, ClaimState | undefined>): Promise<Sent> {
    let early = plan.early;
    plan.early = undefined;
    if (early !== undefined && early.h !== h) {
      plan.resets.unshift(...early.resets);
      early = undefined;
    }
    const pre = early?.pre ?? encoderFor(plan);
    let written: Promise<unknown> | undefined;
    let journalError: unknown;
    const writeJournal = (): void => {
      journalClaims(pre, allClaims);
      if (pre.records === 0) return;
      // Alone in the queue (a fail2ban ban, one couicctl add): written on the
      // main thread, which has nothing else to do meanwhile; under load in
      // the thread pool, so requests keep being read during the fdatasync.
      const sync = batch.length === 1 && this.#o.waiting() === 0;
      written = this.#o.journal.append(pre.finish(), pre.records, { sync }).catch((err: unknown) => {
        journalError = err ?? new Error('journal write failed');
      });
    };
    let statuses: OpStatus[] | undefined;
    let helperError: unknown;
    try {
      const maxTags = h.hello.maxTags;
      const toReset = plan.resets.filter((id) => id > 0 && id < maxTags);
      if (toReset.length > 0) await h.resetTags(toReset);
      if (early !== undefined) {
        writeJournal();
        statuses = await early.statuses;
      } else {
        statuses = await this.#o.kernel.sendPlan(h, plan.ops, pre, writeJournal);
      }
    } catch (err) {
      helperError = err ?? new Error('helper request failed');
      // Resets sent early may not have been applied: sent again with the retry.
      if (early !== undefined) plan.resets.unshift(...early.resets);
    }
    await written;
    return { statuses, helperError, journaled: written !== undefined && journalError === undefined, journalError };
  }

  /**
   * Puts every key touched by ops[from..] back to what the state will hold
   * once ops[0, from) are committed (those ops are kept). Any doubt (the
   * helper fails or refuses) ends in a full resync by the supervisor.
   */
  async #restoreKernel(h: Helper, plan: Plan, from: number): Promise<void> {
    await restoreKernel(this.#o, h, plan, from);
  }

  /**
   * Appends the frame that takes the journal from "the whole batch applied"
   * (written while the helper applied it) back to what is committed: ops
   * [0, from) and the claim changes of requests [0, committedReqs). If it
   * cannot be written, the journal is ahead of memory and the kernel: the
   * process exits and a restart replays it (nothing it holds beyond them
   * was acknowledged).
   */
  async #journalUndo(plan: Plan, from: number, committedReqs: number): Promise<void> {
    const enc = undoFrame(this.#o.state.keysAfter(plan.ops, from), plan, plan.committedClaims(from, committedReqs), (key) => this.#o.claims.get(key));
    if (enc.records === 0) return;
    try {
      await this.#o.journal.append(enc.finish(), enc.records);
    } catch (err) {
      this.#fatal(err);
    }
  }

  /** An inconsistency after a journal write: log and exit, a restart replays the journal. */
  #fatal(err: unknown): never {
    this.#log.fatal({ err }, 'internal error after the journal write: exiting so a restart replays a consistent state');
    return this.#o.exit(70);
  }
}

/** The kernel fix-up shared with the pipeline's undo of an early send (see Committer#restoreKernel). */
export async function restoreKernel(
  deps: { readonly kernel: KernelWriter; readonly state: StateCommit; readonly supervisor: HelperSupervisor },
  h: Helper, plan: Plan, from: number,
): Promise<void> {
  const fix = deps.state.keysAfter(plan.ops, from).map(({ store, key, entry }) => ({ store, key, tagId: entry?.tagId }));
  try {
    await deps.kernel.restore(h, fix);
  } catch (err) {
    deps.supervisor.fail(h, err);
  }
}
