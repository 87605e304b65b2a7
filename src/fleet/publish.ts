/**
 * The outbox: this host's own holds and fleet-wide deletes, into the bucket.
 *
 * Level-triggered: a change marks a CIDR dirty; publishing computes the
 * host's own hold from the state (own.ts) and compares it with what its key
 * holds in the bucket (the mirror, loaded from the bucket at start and kept
 * by the watch), then puts, deletes or does nothing. So coalesced changes,
 * a restart, a reconnect or a put that timed out all end the same way: the
 * bucket holds what the state says, and nothing is sent twice for nothing.
 * The dirty set lives in memory: at start every own hold and every own key
 * is marked, which is the durable outbox (the journal for the state, the
 * ledger for what the state cannot tell). Pending deletes come from the
 * ledger and leave it once in the bucket.
 */
import type { Logger } from 'pino';
import type { Engine } from './engine.js';
import { holdKey, revokeKey } from './keys.js';
import type { Ledger } from './ledger.js';
import { ownHold, type OwnSource } from './own.js';
import { pkeyCidr, pkeyPolicy } from './pkey.js';
import { encodeHold, encodeRevoke } from './values.js';

/** Puts and deletes in flight at once. */
const WINDOW = 512;

interface Mirrored {
  readonly rev: number;
  /** The value, undefined = deleted. */
  readonly value: string | undefined;
}

export interface PublisherOptions {
  readonly node: string;
  readonly src: OwnSource;
  readonly ledger: Ledger;
  readonly logger: Logger;
  readonly now: () => number;
}

export class Publisher {
  readonly #o: PublisherOptions;
  /** Own hold keys (bucket keys) as the bucket holds them. */
  readonly #mirror = new Map<string, Mirrored>();
  /** CIDR claim key -> the time of this host's published fleet-wide delete. */
  readonly #revoked = new Map<string, number>();
  readonly #dirty = new Set<string>();
  /** CIDR claim keys whose own hold key the bucket holds a value for (published() without building the key). */
  readonly #held = new Set<string>();
  #pumping = false;
  /** Puts and deletes sent. */
  sent = 0;
  failures = 0;

  constructor(opts: PublisherOptions) {
    this.#o = opts;
  }

  /** Changes waiting for the bucket. */
  get depth(): number {
    return this.#dirty.size + this.#o.ledger.revokes.size;
  }

  mark(pkey: string): void {
    this.#dirty.add(pkey);
  }

  /** Whether the bucket holds a hold of this host on `pkey`. */
  published(pkey: string): boolean {
    return this.#held.has(pkey);
  }

  /** A message on one of this host's keys (the watch, or the load at start). */
  observeHold(key: string, pkey: string, rev: number, value: string | undefined): void {
    const m = this.#mirror.get(key);
    if (m !== undefined && m.rev >= rev) return;
    this.#mirror.set(key, { rev, value });
    if (value === undefined) this.#held.delete(pkey);
    else this.#held.add(pkey);
    // Checked against the state: a key of ours the state no longer calls for is deleted.
    if (value !== undefined) this.#dirty.add(pkey);
  }

  observeRevoke(pkey: string, at: number): void {
    if ((this.#revoked.get(pkey) ?? -1) < at) this.#revoked.set(pkey, at);
  }

  /**
   * Publishes until nothing is dirty, or the engine fails (what failed stays
   * dirty for the next pump). Resolves true when all went in.
   */
  async pump(engine: Engine): Promise<boolean> {
    if (this.#pumping) return true;
    this.#pumping = true;
    try {
      while (this.#dirty.size > 0 || this.#o.ledger.revokes.size > 0) {
        if (!(await this.#revokes(engine))) return false;
        if (!(await this.#holds(engine))) return false;
      }
      return true;
    } finally {
      this.#pumping = false;
    }
  }

  async #revokes(engine: Engine): Promise<boolean> {
    const { ledger, node } = this.#o;
    for (const [pkey, at] of [...ledger.revokes]) {
      if ((this.#revoked.get(pkey) ?? -1) < at) {
        const cidr = pkeyCidr(pkey);
        try {
          await engine.put(revokeKey(node, pkeyPolicy(pkey), cidr), encodeRevoke(cidr, { at }));
        } catch (err) {
          this.#fail(err);
          return false;
        }
        this.sent += 1;
        this.observeRevoke(pkey, at);
      }
      ledger.published(pkey, at);
    }
    ledger.flush();
    return true;
  }

  async #holds(engine: Engine): Promise<boolean> {
    const { node, src, ledger, now } = this.#o;
    const t = now();
    const work: { readonly pkey: string; readonly key: string; readonly value: string | undefined }[] = [];
    for (const pkey of this.#dirty) {
      this.#dirty.delete(pkey);
      const policy = pkeyPolicy(pkey);
      const cidr = pkeyCidr(pkey);
      const key = holdKey(node, policy, cidr);
      const hold = ownHold(src, policy, cidr, pkey, ledger.api.get(pkey), t);
      const value = hold === undefined ? undefined : encodeHold(cidr, hold);
      if (this.#mirror.get(key)?.value !== value) work.push({ pkey, key, value });
      if (work.length >= 16 * WINDOW) break;
    }
    let ok = true;
    let next = 0;
    const lane = async (): Promise<void> => {
      while (ok && next < work.length) {
        const w = work[next++]!;
        try {
          if (w.value === undefined) {
            await engine.delete(w.key);
            this.#mirrorSet(w.key, w.pkey, 0, undefined);
          } else {
            this.#mirrorSet(w.key, w.pkey, await engine.put(w.key, w.value), w.value);
          }
          this.sent += 1;
        } catch (err) {
          this.#dirty.add(w.pkey);
          if (ok) this.#fail(err);
          ok = false;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(WINDOW, work.length) }, lane));
    for (let i = next; i < work.length; i += 1) this.#dirty.add(work[i]!.pkey);
    return ok;
  }

  #mirrorSet(key: string, pkey: string, rev: number, value: string | undefined): void {
    const m = this.#mirror.get(key);
    // The watch may have seen a later revision already (a delete's revision is not returned: 0).
    if (m !== undefined && m.rev > rev && rev !== 0) return;
    this.#mirror.set(key, { rev: Math.max(rev, m?.rev ?? 0), value });
    if (value === undefined) this.#held.delete(pkey);
    else this.#held.add(pkey);
  }

  #fail(err: unknown): void {
    this.failures += 1;
    this.#o.logger.warn({ err: (err as Error).message, outbox: this.depth }, 'fleet: publishing failed, kept in the outbox');
  }
}
