/**
 * Claim expiry: one timer for the earliest claim expiration (the claim
 * table's due heap), which submits a claims-sync of the due keys. At start,
 * the claimed CIDRs whose entry disagrees with their claims (after a replay,
 * or claims that expired while down) are synced first. A sync that fails is
 * retried in a second.
 */
import type { Logger } from 'pino';
import { MAX_TIMER_MS, nowSeconds, type Clock, type TimerHandle } from '../domain/clock.js';
import { claimCidr, claimStore, deriveEntry, pruneClaims, type ClaimTable } from './state/claims.js';
import type { EntryTable } from './state/table.js';
import type { TagRegistry } from './state/tags.js';

export interface ClaimExpiryOptions {
  readonly claims: ClaimTable;
  readonly table: EntryTable;
  readonly tags: TagRegistry;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Submits a claims-sync of `keys` (resolves once committed). */
  readonly sync: (keys: readonly string[]) => Promise<void>;
}

export class ClaimExpiry {
  readonly #o: ClaimExpiryOptions;
  #timer: TimerHandle | undefined;
  /** Expiration (s) the timer is armed for; Infinity when idle. */
  #armedFor = Infinity;
  #stopped = false;

  constructor(opts: ClaimExpiryOptions) {
    this.#o = opts;
  }

  /** After replay: syncs the claimed CIDRs whose entry disagrees with their claims, arms the timer. */
  start(): void {
    const { claims, table: t, tags, clock } = this.#o;
    const now = nowSeconds(clock);
    const keys: string[] = [];
    for (const [key, st] of claims.entries()) {
      const slot = t.slotOf(claimStore(key), claimCidr(key));
      let ok = slot !== undefined && pruneClaims(st.claims, now) === st.claims;
      if (ok && st.managed) {
        const d = deriveEntry(st.claims);
        ok = (tags.tagOf(t.tagId[slot!]!) ?? '') === d.tag && t.expiration[slot!] === d.expiration;
      }
      if (!ok) keys.push(key);
    }
    if (keys.length > 0) {
      this.#o.logger.info({ cidrs: keys.length }, 'claims: bringing claimed entries in line after replay');
      this.#sync(keys);
    }
    this.rearm();
  }

  /** Arms the timer for the earliest claim expiration if it is earlier than the one armed. */
  rearm(): void {
    if (this.#stopped) return;
    const exp = this.#o.claims.nextDue();
    if (exp === Infinity || exp >= this.#armedFor) return;
    this.#armAt(exp * 1000);
  }

  /** `keys` could not be synced: due again at `at` (unix seconds). */
  retry(keys: readonly string[], at: number): void {
    this.#o.claims.requeue(keys, at);
    this.rearm();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#o.clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  #sync(keys: readonly string[]): void {
    if (this.#stopped) return;
    this.#o.sync(keys).catch((err: unknown) => {
      if (this.#stopped) return;
      this.#o.logger.warn({ err, cidrs: keys.length }, 'claims: expiry failed, retrying in 1 s');
      this.#o.claims.requeue(keys, 0);
      this.#armAt(this.#o.clock.nowMs() + 1000);
    });
  }

  #armAt(ms: number): void {
    const clock = this.#o.clock;
    if (this.#timer !== undefined) clock.clearTimer(this.#timer);
    this.#armedFor = Math.floor(ms / 1000);
    const delay = Math.max(0, Math.min(MAX_TIMER_MS, ms - clock.nowMs()));
    this.#timer = clock.setTimer(() => {
      this.#timer = undefined;
      this.#armedFor = Infinity;
      if (this.#stopped) return;
      const keys = this.#o.claims.popDue(nowSeconds(clock));
      if (keys.length > 0) this.#sync(keys);
      this.rearm();
    }, delay);
    this.#timer.unref();
  }
}
