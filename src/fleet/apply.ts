/**
 * The other nodes' changes, from the bucket's watch into the core, in
 * stream order: holds and releases become the nodes' claims, fleet-wide
 * deletes revocations (core/plan/claims.ts planFleet). Messages are queued
 * as they arrive and applied in chunks of up to CHUNK (consecutive changes
 * of one node are one request; the core's queue batches them), two chunks
 * in flight; `applied` is the revision of the last chunk committed. Apply
 * is idempotent, so replaying from an older revision is harmless.
 *
 * A fleet-wide delete takes every fleet hold on its CIDR: in stream order,
 * those were all published before it; a hold published after it stands
 * (also in a full resync, which delivers each key's last value in stream
 * order too). A full resync (no usable position) reads every key's last
 * value: once caught up, the fleet claims of this host that no key holds
 * any more are released (what was deleted while it was away).
 */
import type { Logger } from 'pino';
import type { FleetItem, FleetService } from '../core/model/types.js';
import { FLEET_OWNER_PREFIX, isFleetOwner, type ClaimState } from '../core/state/claims.js';
import { isAppError } from '../errors.js';
import type { Policy } from '../domain/types.js';
import { holdKey, parseKey } from './keys.js';
import { pkeyCidr, pkeyOf, pkeyPolicy } from './pkey.js';
import type { Publisher } from './publish.js';
import { decodeHold, decodeRevoke } from './values.js';

/** Changes per chunk. */
const CHUNK = 8192;
/** Chunks submitted to the core at once. */
const INFLIGHT = 2;

interface Slot {
  readonly node: string;
  /** undefined: nothing to apply (our own key, an unshared policy, a bad value); it still advances `applied`. */
  readonly item: FleetItem | undefined;
  readonly rev: number;
  /** Unix ms the message was stored. */
  readonly created: number;
}

export interface PeerSeen {
  /** Unix ms of the node's latest message. */
  lastSeen: number;
  messages: number;
}

export interface ApplierOptions {
  readonly node: string;
  readonly policies: ReadonlySet<Policy>;
  readonly target: FleetService & {
    claimEntries(): Iterable<[string, ClaimState]>;
  };
  readonly publisher: Publisher;
  readonly logger: Logger;
  /** A chunk was committed up to `rev`. */
  readonly onApplied: (rev: number) => void;
  /** A catch-up ended (the caller logs and saves the position). */
  readonly onCaughtUp: (mode: CatchUp, rev: number, released: number) => void;
}

export type CatchUp = 'full' | 'resume';

export class Applier {
  readonly #o: ApplierOptions;
  readonly #log: Logger;
  readonly peers = new Map<string, PeerSeen>();
  #queue: Slot[] = [];
  #head = 0;
  #inflight: Slot[][] = [];
  /** Last revision received, applied; messages the server still has to deliver. */
  received = 0;
  applied = 0;
  pending = 0;
  /** The stream's last revision, as last read (the watchdog, fleet.ts). */
  streamLast = 0;
  /** Unix ms of the last message received. */
  #lastCreated = 0;
  #mode: CatchUp | undefined;
  /** The catch-up ends at this revision (our hello, written before the watch). */
  #until = 0;
  /** Full resync: `node key` of every live hold seen. */
  #seen: Set<string> | undefined;
  #badLogged = 0;
  #waiters: (() => void)[] = [];
  #retryTimer: NodeJS.Timeout | undefined;

  constructor(opts: ApplierOptions) {
    this.#o = opts;
    this.#log = opts.logger;
  }

  get catchingUp(): CatchUp | undefined {
    return this.#mode;
  }

  /** A watch starts: from revision `from` (0 = full resync), caught up once `until` is received. */
  begin(mode: CatchUp, from: number, until: number): void {
    // Nothing to catch up when what ends the catch-up was received already (a watch restarted).
    this.#mode = mode === 'resume' && until < from ? undefined : mode;
    this.#until = until;
    if (mode === 'full') {
      // What a resync may have to release: only fleet claims held here (none on a cold join).
      this.#seen = this.#holdsFleetClaims() ? new Set() : undefined;
      this.received = 0;
    } else {
      this.received = Math.max(this.received, from - 1);
      this.applied = Math.max(this.applied, from - 1);
    }
  }

  #holdsFleetClaims(): boolean {
    for (const [, st] of this.#o.target.claimEntries()) if (st.claims.some((c) => isFleetOwner(c.owner))) return true;
    return false;
  }

  /** One message of the watch (engine.ts WatchCallback): `value` undefined for a deletion. */
  entry(key: string, revision: number, value: string | undefined, created: number, pending: number): void {
    if (revision <= this.received) return; // again, after a watch restart
    this.received = revision;
    this.pending = pending;
    this.#lastCreated = created;
    this.#queue.push(this.#slot(key, revision, value, created));
    if (this.#mode !== undefined && (revision >= this.#until || pending === 0)) this.#caughtUp(revision, created);
    this.#drain();
  }

  #slot(key: string, rev: number, value: string | undefined, created: number): Slot {
    const k = parseKey(key);
    const none = (node: string): Slot => ({ node, item: undefined, rev, created });
    if (k === undefined) {
      this.#bad(key, 'not a key of the fleet');
      return none('');
    }
    const node = k.node;
    if (node !== this.#o.node) {
      const p = this.peers.get(node);
      if (p === undefined) this.peers.set(node, { lastSeen: created, messages: 1 });
      else {
        p.lastSeen = Math.max(p.lastSeen, created);
        p.messages += 1;
      }
    }
    if (k.kind === 'hello') return none(node);
    const pkey = pkeyOf(k.policy, k.cidr);
    if (k.kind === 'revoke') {
      if (value === undefined) return none(node);
      const v = decodeRevoke(value, k.cidr);
      if (typeof v === 'string') {
        this.#bad(key, v);
        return none(node);
      }
      // Our own too: a hold from before it, applied while our delete waited in the outbox, goes with it.
      if (node === this.#o.node) this.#o.publisher.observeRevoke(pkey, v.at);
      if (!this.#o.policies.has(k.policy)) return none(node);
      return { node, item: { op: 'revoke', policy: k.policy, cidr: k.cidr, before: v.at }, rev, created };
    }
    if (node === this.#o.node) {
      this.#o.publisher.observeHold(key, pkey, rev, value);
      return none(node);
    }
    if (!this.#o.policies.has(k.policy)) return none(node);
    if (value !== undefined) {
      const v = decodeHold(value, k.cidr);
      if (typeof v === 'string') {
        this.#bad(key, v);
      } else {
        this.#seen?.add(`${node} ${pkey}`);
        return { node, item: { op: 'hold', policy: k.policy, cidr: k.cidr, tag: v.tag, creation: v.creation, expiration: v.expiration }, rev, created };
      }
    }
    return { node, item: { op: 'release', policy: k.policy, cidr: k.cidr }, rev, created };
  }

  #bad(key: string, why: string): void {
    // At most one line a second: a flood of bad values must not flood the log.
    const now = Date.now();
    if (now - this.#badLogged < 1000) return;
    this.#badLogged = now;
    this.#log.warn({ key, reason: why }, 'fleet: a value of the bucket was refused');
  }

  #caughtUp(rev: number, created: number): void {
    const mode = this.#mode!;
    this.#mode = undefined;
    let released = 0;
    const seen = this.#seen;
    this.#seen = undefined;
    if (seen !== undefined) {
      for (const [key, st] of this.#o.target.claimEntries()) {
        const policy = pkeyPolicy(key);
        if (!this.#o.policies.has(policy)) continue;
        for (const c of st.claims) {
          if (!isFleetOwner(c.owner)) continue;
          const node = c.owner.slice(FLEET_OWNER_PREFIX.length);
          if (node === this.#o.node || seen.has(`${node} ${key}`)) continue;
          this.#queue.push({ node, item: { op: 'release', policy, cidr: pkeyCidr(key) }, rev, created });
          released += 1;
        }
      }
    }
    this.#o.onCaughtUp(mode, rev, released);
  }

  /** Messages received and not yet applied, plus those the server still holds for us. */
  get lagMessages(): number {
    let n = this.#queue.length - this.#head;
    for (const c of this.#inflight) n += c.length;
    return n + Math.max(this.pending, this.streamLast - this.received);
  }

  /** Seconds since the oldest change not yet applied was stored (0 when none). */
  lagSeconds(nowMs: number): number {
    const first = this.#inflight[0]?.[0] ?? this.#queue[this.#head];
    const t = first?.created ?? (this.pending > 0 || this.streamLast > this.received ? this.#lastCreated : undefined);
    return t === undefined ? 0 : Math.max(0, (nowMs - t) / 1000);
  }

  #drain(): void {
    while (this.#inflight.length < INFLIGHT && this.#head < this.#queue.length && this.#retryTimer === undefined) {
      const end = Math.min(this.#queue.length, this.#head + CHUNK);
      const chunk = this.#queue.slice(this.#head, end);
      this.#head = end;
      if (this.#head === this.#queue.length) {
        this.#queue = [];
        this.#head = 0;
      } else if (this.#head > 65_536) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      this.#inflight.push(chunk);
      void this.#apply(chunk);
    }
    if (this.#inflight.length === 0 && this.#head >= this.#queue.length) {
      const w = this.#waiters;
      this.#waiters = [];
      for (const f of w) f();
    }
  }

  async #apply(chunk: Slot[]): Promise<void> {
    const reqs: Promise<number>[] = [];
    let node = '';
    let items: FleetItem[] = [];
    const flush = (): void => {
      if (items.length > 0) reqs.push(this.#o.target.applyFleet(node, items));
      items = [];
    };
    for (const s of chunk) {
      if (s.item === undefined) continue;
      if (s.node !== node) {
        flush();
        node = s.node;
      }
      items.push(s.item);
    }
    flush();
    const results = await Promise.allSettled(reqs);
    let retry = false;
    for (const r of results) {
      if (r.status === 'fulfilled') continue;
      const err = r.reason as unknown;
      // The helper restarting or the queue busy: the chunk again (idempotent). Anything else is this chunk's loss.
      if (isAppError(err) && (err.code === 'unavailable' || err.code === 'busy' || err.code === 'internal')) retry = true;
      else this.#log.error({ err: (err as Error).message }, 'fleet: changes could not be applied');
    }
    // Chunks complete in submission order (one queue in the core); a chunk to retry waits for the one before it.
    while (this.#inflight[0] !== chunk) await new Promise((r) => setTimeout(r, 5));
    if (retry) {
      this.#log.warn({ changes: chunk.length }, 'fleet: the core could not apply changes, retrying in 1 s');
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        void this.#apply(chunk);
      }, 1000);
      return;
    }
    this.#inflight.shift();
    const last = chunk[chunk.length - 1]!;
    if (last.rev > this.applied) {
      this.applied = last.rev;
      this.#o.onApplied(last.rev);
    }
    this.#drain();
  }

  /** Resolves once every change received is applied. */
  idle(): Promise<void> {
    if (this.#inflight.length === 0 && this.#head >= this.#queue.length) return Promise.resolve();
    return new Promise((r) => this.#waiters.push(r));
  }

  stop(): void {
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }

  /** Our hold key of `pkey` (for the publisher's check of what it holds). */
  ownKey(pkey: string): string {
    return holdKey(this.#o.node, pkeyPolicy(pkey), pkeyCidr(pkey));
  }
}
