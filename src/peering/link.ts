/**
 * The link to one peer: its own backlog, its own loop, so a peer that is
 * down or slow never delays the others.
 *
 * The loop sends at most one batch every `intervalMs` (250 ms, Couic's
 * documented interval): the oldest jobs in their order, cut into runs of
 * one policy each (POST /v1/{policy}/peer: an ignore stays an ignore), each
 * run acknowledged when the peer took it, so nothing is sent twice after a
 * success and nothing is lost after a failure.
 *
 * A peer applies a body job by job and stops at the first failing one: a
 * 409 (it already holds the entry) or 404 (it no longer does) is about that
 * one job, which is skipped, and the rest of the run is sent again at once.
 * 401/403 (the token is refused), 5xx and transport errors keep the backlog
 * and back off (1 s doubling to 60 s, as Couic). A 400/413/415/422 (the peer
 * refuses the content) is resent job by job, and a job refused alone is
 * dropped (counted as rejected), so one bad job cannot block the link.
 * Tokens are never logged.
 */
import type { Logger } from 'pino';
import { nowSeconds, systemClock, type Clock } from '../domain/clock.js';
import { Backlog } from '../outbound/backlog.js';
import { Backoff, COUIC_BACKOFF, type BackoffOptions } from '../outbound/backoff.js';
import { JsonPoster } from '../outbound/post.js';
import { failedJobIndex, peerBody, type PeerJobOut } from './jobs.js';
import { peerBaseUrl, peerName, type PeerConfig } from './types.js';
import { LoopTimer } from '../outbound/loop-timer.js';

export interface LinkOptions {
  readonly peer: PeerConfig;
  readonly maxBacklog: number;
  readonly maxBacklogBytes: number;
  readonly logger: Logger;
  readonly version: string;
  /** @default 250 */
  readonly intervalMs?: number;
  /** @default Couic's, 1 s doubling to 60 s */
  readonly backoff?: BackoffOptions;
  /** Per request (Couic's client: 5 s). @default 5000 */
  readonly timeoutMs?: number;
  readonly clock?: Clock;
}

/** A peer's line of GET /v1/peering (docs/api-extensions.md). */
export interface LinkStatus {
  readonly peer: string;
  readonly url: string;
  readonly queue: { readonly jobs: number; readonly bytes: number };
  readonly sent_jobs: number;
  /** Jobs the peer already had (409) or no longer had (404), and adds that expired while queued. */
  readonly skipped_jobs: number;
  /** Oldest jobs dropped because the backlog was full. */
  readonly dropped_jobs: number;
  /** Jobs the peer refused alone (400/413/415/422), dropped. */
  readonly rejected_jobs: number;
  readonly requests: number;
  readonly failures: number;
  readonly auth_failures: number;
  /** Unix seconds of the last batch the peer took, null = none yet. */
  readonly last_success: number | null;
  readonly last_error: { readonly at: number; readonly message: string } | null;
  /** Jobs were lost (dropped or rejected): the peer may miss entries; resync it (docs/peering.md). */
  readonly needs_resync: boolean;
}

/** Batches stay well under a Couic peer's 2 MiB body limit and nginx's default 1 MiB client_max_body_size. */
const MAX_BATCH_JOBS = 8192;
const MAX_BATCH_BYTES = 512 * 1024;

type Outcome = 'ok' | 'retry' | 'single';

export class PeerLink {
  readonly name: string;
  readonly #o: LinkOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #backlog: Backlog<PeerJobOut>;
  readonly #backoff: Backoff;
  readonly #poster: JsonPoster;
  readonly #interval: number;
  readonly #timer = new LoopTimer();
  #running: Promise<void> | undefined;
  #lastStart = Number.NEGATIVE_INFINITY;
  #sent = 0;
  #skipped = 0;
  #dropped = 0;
  #rejected = 0;
  #requests = 0;
  #failures = 0;
  #authFailures = 0;
  #lastSuccess: number | null = null;
  #lastError: { at: number; message: string } | null = null;
  #warnedDrop = false;

  constructor(o: LinkOptions) {
    this.#o = o;
    this.name = peerName(o.peer);
    this.#log = o.logger.child({ peer: this.name });
    this.#clock = o.clock ?? systemClock;
    this.#backlog = new Backlog({ maxItems: o.maxBacklog, maxBytes: o.maxBacklogBytes });
    this.#backoff = new Backoff(o.backoff ?? COUIC_BACKOFF);
    this.#interval = o.intervalMs ?? 250;
    this.#poster = new JsonPoster({
      url: peerBaseUrl(o.peer),
      headers: { authorization: `Bearer ${o.peer.token}`, 'user-agent': `couic/${o.version}` },
      timeoutMs: o.timeoutMs ?? 5000,
      ...(o.peer.ca === '' ? {} : { ca: o.peer.ca }),
    });
  }

  start(): void {
    this.#running ??= this.#run();
  }

  enqueue(job: PeerJobOut): void {
    const dropped = this.#backlog.push(job, job.json.length + 1);
    if (dropped > 0) {
      this.#dropped += dropped;
      if (!this.#warnedDrop) {
        // Once per outage (reset by a success): the counter tells the rest.
        this.#warnedDrop = true;
        this.#log.warn({ dropped, maxJobs: this.#o.maxBacklog, maxBytes: this.#o.maxBacklogBytes }, 'peer backlog full: the oldest changes are dropped; the peer needs a resync');
      }
    }
    this.#timer.notify();
  }

  status(): LinkStatus {
    return {
      peer: this.name,
      url: peerBaseUrl(this.#o.peer),
      queue: { jobs: this.#backlog.length, bytes: this.#backlog.bytes },
      sent_jobs: this.#sent,
      skipped_jobs: this.#skipped,
      dropped_jobs: this.#dropped,
      rejected_jobs: this.#rejected,
      requests: this.#requests,
      failures: this.#failures,
      auth_failures: this.#authFailures,
      last_success: this.#lastSuccess,
      last_error: this.#lastError,
      needs_resync: this.#dropped + this.#rejected > 0,
    };
  }

  /** Stops the loop and aborts the request in flight; what is queued is lost. */
  async stop(): Promise<void> {
    this.#timer.stop();
    this.#poster.close();
    await this.#running;
  }

  async #run(): Promise<void> {
    while (!this.#timer.stopped) {
      if (this.#backlog.length === 0) {
        await this.#timer.untilWork();
        continue;
      }
      const wait = this.#lastStart + this.#interval - performance.now();
      if (wait > 0) {
        await this.#timer.delay(wait);
        continue;
      }
      this.#lastStart = performance.now();
      const { values, firstSeq } = this.#backlog.peek(MAX_BATCH_JOBS, MAX_BATCH_BYTES);
      const ok = await this.#sendBatch(values, firstSeq);
      if (!ok && !this.#timer.stopped) await this.#timer.delay(this.#backoff.fail());
    }
  }

  /** Sends `jobs` (the backlog's oldest, numbered from `firstSeq`) run by run; false = back off. */
  async #sendBatch(jobs: readonly PeerJobOut[], firstSeq: number): Promise<boolean> {
    // Runs of one policy, in order; the backlog is acknowledged as the peer takes them.
    let start = 0;
    while (start < jobs.length) {
      let end = start + 1;
      while (end < jobs.length && jobs[end]!.policy === jobs[start]!.policy) end += 1;
      const run = jobs.slice(start, end);
      const base = firstSeq + start;
      // `done` jobs of the run are settled (taken, skipped): acknowledged at once, never sent again.
      const settle = (done: number): void => this.#backlog.ack(base + done - 1);
      let outcome = await this.#sendRun(run, settle);
      if (outcome === 'single') {
        outcome = 'ok';
        for (let k = 0; k < run.length; k += 1) {
          if (this.#timer.stopped) return true;
          const one = await this.#sendRun([run[k]!], () => {});
          if (one === 'retry') {
            outcome = 'retry';
            break;
          }
          // 'single' for one job: the peer refuses it alone.
          if (one === 'single') this.#reject(run[k]!);
          settle(k + 1);
        }
      }
      if (outcome === 'retry') return false;
      settle(run.length);
      start = end;
    }
    this.#backoff.succeed();
    this.#warnedDrop = false;
    return true;
  }

  #reject(j: PeerJobOut): void {
    this.#rejected += 1;
    this.#log.error({ policy: j.policy, action: j.action, cidr: j.cidr }, 'the peer refuses this change: dropped; the peer needs a resync');
  }

  /**
   * One run (one policy) until the peer took all of it; `retry` = back off
   * and send it again later, `single` = the peer refuses the content (send
   * it job by job). `settle(n)`: the first n jobs of the run are done.
   */
  async #sendRun(run: readonly PeerJobOut[], settle: (n: number) => void): Promise<Outcome> {
    let pos = 0;
    while (pos < run.length) {
      const now = nowSeconds(this.#clock);
      // An add that expired while queued: a Couic peer would refuse the whole body (422); it is gone anyway.
      const alive = (j: PeerJobOut): boolean => j.action === 'remove' || j.expiration === 0 || j.expiration > now;
      const live = run.slice(pos).filter(alive);
      // Expired adds are counted as skipped once settled (a retried run would count them again).
      const expiredUpTo = (end: number): number => run.slice(pos, end).filter((j) => !alive(j)).length;
      if (live.length === 0) {
        this.#skipped += run.length - pos;
        return 'ok';
      }
      const policy = live[0]!.policy;
      this.#requests += 1;
      let status: number;
      let text: string;
      try {
        ({ status, text } = await this.#poster.post(peerBody(live), `/v1/${policy}/peer`));
      } catch (err) {
        this.#fail(`${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`.trim());
        return 'retry';
      }
      if (status >= 200 && status < 300) {
        this.#sent += live.length;
        this.#skipped += expiredUpTo(run.length);
        this.#lastSuccess = nowSeconds(this.#clock);
        return 'ok';
      }
      if (status === 409 || status === 404) {
        const i = failedJobIndex(status, text, live);
        if (i !== undefined) {
          // Jobs before i were applied; i is already so on the peer.
          const next = run.indexOf(live[i]!, pos) + 1;
          this.#sent += i;
          this.#skipped += 1 + expiredUpTo(next);
          this.#lastSuccess = nowSeconds(this.#clock);
          pos = next;
          settle(pos);
          continue;
        }
      }
      if (status === 401 || status === 403) {
        this.#authFailures += 1;
        this.#fail(`HTTP ${status}: the peer refuses our token (check peering.peers.token and the client's group on the peer)`, 'auth');
        return 'retry';
      }
      if ([400, 413, 415, 422].includes(status)) {
        if (live.length === 1) this.#lastError = { at: nowSeconds(this.#clock), message: `HTTP ${status}: ${text.slice(0, 200)}` };
        return 'single';
      }
      this.#fail(`HTTP ${status}: ${text.slice(0, 200)}`);
      return 'retry';
    }
    return 'ok';
  }

  #fail(message: string, kind: 'auth' | 'other' = 'other'): void {
    this.#failures += 1;
    this.#lastError = { at: nowSeconds(this.#clock), message };
    const log = { failures: this.#backoff.failures + 1, queued: this.#backlog.length, error: message };
    // The first failure of a streak is an error; the retries are warnings, spaced by the backoff.
    if (this.#backoff.failures === 0 || kind === 'auth') this.#log.error(log, 'peer unreachable or refusing: changes kept, retrying with backoff');
    else this.#log.warn(log, 'peer still failing');
  }
}
