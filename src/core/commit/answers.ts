/**
 * Answering committed requests: each request kind's log line and the value
 * its caller receives, in one table; a request whose plan decided an error
 * is rejected with it.
 */
import type { Logger } from 'pino';
import type { Entry } from '../../domain/types.js';
import type { Req, ReqKind, ReqOf } from '../model/requests.js';
import type { ReqPlan } from '../plan/plan.js';

/** What answering a request may need besides the request and its plan. */
export interface AnswerContext {
  readonly log: Logger;
  /** The batch's time (unix seconds). */
  readonly now: number;
  /** A claims-sync could not plan some keys: retry them (at `now + 1`). */
  readonly retryClaims: (keys: readonly string[], at: number) => void;
}

type AnswerFn<K extends ReqKind> = (req: ReqOf<K>, rp: ReqPlan, ctx: AnswerContext) => void;

const ANSWERS: { readonly [K in ReqKind]: AnswerFn<K> } = {
  create(req, _rp, { log, now }) {
    const e = req.entry;
    const a = req.actor;
    log.info({ client: a.name, group: a.group, policy: req.policy, cidr: e.cidr.text, tag: e.tag, expiration: e.expiration }, 'entry created');
    req.resolve({ policy: req.policy, cidr: e.cidr, tag: e.tag, expiration: e.expiration, creation: now } satisfies Entry);
  },
  remove(req, _rp, { log }) {
    log.info({ client: req.actor.name, group: req.actor.group, policy: req.policy, cidr: req.cidr.text }, 'entry removed');
    req.resolve(undefined);
  },
  peer(req, _rp, { log }) {
    log.info({ client: req.actor.name, group: req.actor.group, policy: req.policy, jobs: req.jobs.length }, 'peer jobs applied');
    req.resolve(undefined);
  },
  expire(req, _rp, { log }) {
    log.debug({ entries: req.items.length }, 'entries expired');
    req.resolve(undefined);
  },
  claim(req, rp, { log }) {
    const a = req.actor;
    log.info({ client: a.name, group: a.group, owner: req.owner, bans: rp.n, cidr: req.items.length === 1 ? req.items[0]!.cidr.text : undefined }, 'bans applied');
    req.resolve(rp.n);
  },
  unclaim(req, _rp, { log }) {
    log.info({ client: req.actor.name, group: req.actor.group, owner: req.owner, cidr: req.cidr.text }, 'ban released');
    req.resolve(undefined);
  },
  flush(req, rp, { log }) {
    log.info({ client: req.actor.name, group: req.actor.group, owner: req.owner, removed: rp.n }, 'bans flushed');
    req.resolve(rp.n);
  },
  'claims-sync'(req, rp, { log, now, retryClaims }) {
    log.debug({ cidrs: req.keys.length }, 'claims expired or synced');
    if (rp.retry !== undefined && rp.retry.length > 0) {
      log.warn({ cidrs: rp.retry.length }, 'claims: some syncs failed, retrying in 1 s');
      retryClaims(rp.retry, now + 1);
    }
    req.resolve(undefined);
  },
  fleet(req, rp, { log }) {
    log.debug({ node: req.node, items: req.items.length, applied: rp.n }, 'fleet changes applied');
    req.resolve(rp.n);
  },
  sets(req, rp, { log }) {
    const a = req.actor;
    log.info({ client: a.name, group: a.group, policy: req.policy, ...rp.counts }, `sets reload: policy=${req.policy}, updated=${rp.counts?.updated ?? 0}, removed=${rp.counts?.removed ?? 0}, created=${rp.counts?.created ?? 0}`);
    req.resolve(rp.counts);
  },
};

/** Answers requests [0, n) of `batch` from their plans. */
export function answer(batch: readonly Req[], reqs: readonly ReqPlan[], n: number, ctx: AnswerContext): void {
  for (let r = 0; r < n; r += 1) {
    const req = batch[r]!;
    const rp = reqs[r]!;
    if (rp.error !== undefined) {
      if (req.kind === 'peer') {
        const a = req.actor;
        ctx.log.info({ client: a.name, group: a.group, policy: req.policy, jobs: req.jobs.length, err: rp.error.message }, 'peer jobs stopped at a failing job');
      }
      req.reject(rp.error);
      continue;
    }
    (ANSWERS[req.kind] as AnswerFn<ReqKind>)(req as never, rp, ctx);
  }
}
