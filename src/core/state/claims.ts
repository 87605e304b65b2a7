/**
 * Owner-held claims on drop CIDRs (docs/api-extensions.md, "Bans held by
 * owners"): the state behind `/v1/bans/{owner}`, for fail2ban.
 *
 * Per CIDR of a policy (the key: a drop CIDR's canonical text, an ignore
 * CIDR's text behind IGNORE_MARK; IPv6 texts contain ':', so one Map serves
 * every store) a ClaimState lists the claims in the order they were made (a
 * prolong keeps a claim's place) and says whether the entry is *managed*,
 * i.e. exists because of the claims:
 *
 *   - managed: the entry's tag is the tag of the oldest claim (its owner's
 *     name unless the claim carries a tag of its own, as a fleet node's
 *     hold does), its expiration 0 if any claim is permanent, else the
 *     latest; it goes with the last claim;
 *   - not managed (an API, peer or set entry was there first, or a set took
 *     the CIDR over): the claims are recorded and leave the entry alone;
 *     when that entry goes away by expiry or set reload while claims are
 *     live, the claims take it over (it becomes managed).
 *
 * States are immutable (copy on write), so the batch planner can keep
 * planned states in an overlay and commit them after the kernel write and
 * the journal fsync. This file holds the committed table, the claim expiry
 * heap and pure helpers; planning lives in plan/claims.ts.
 */
import type { JournalClaim } from '../journal/journal.js';

export type Claim = JournalClaim;

/**
 * Marks a claim key of the ignore policy. `/v1/bans` claims are drop
 * claims; the fleet (src/fleet) also holds ignore CIDRs when it shares
 * that policy. The mark is no character of a CIDR text.
 */
export const IGNORE_MARK = '^';

/**
 * Owners of fleet nodes' holds: '@' + the node's name. No `/v1/bans` owner
 * can start with '@' (tag rules), so a fleet claim is never a local one.
 */
export const FLEET_OWNER_PREFIX = '@';

export function fleetOwner(node: string): string {
  return FLEET_OWNER_PREFIX + node;
}

export function isFleetOwner(owner: string): boolean {
  return owner.startsWith(FLEET_OWNER_PREFIX);
}

/** The claim key of CIDR text `cidr` in entry store `store` (0-1 drop, 2-3 ignore). */
export function claimKey(store: number, cidr: string): string {
  return store >= 2 ? IGNORE_MARK + cidr : cidr;
}

/** The CIDR text of a claim key. */
export function claimCidr(key: string): string {
  return key.startsWith(IGNORE_MARK) ? key.slice(1) : key;
}

/** The tag a claim gives the entry it manages. */
export function claimTag(c: Claim): string {
  return c.tag ?? c.owner;
}

export interface ClaimState {
  readonly managed: boolean;
  /** Oldest first. Never empty in a committed state. */
  readonly claims: readonly Claim[];
}

/** Entry store of a claim key (0-1 drop, 2-3 ignore; odd = IPv6). */
export function claimStore(key: string): 0 | 1 | 2 | 3 {
  const v6 = key.includes(':') ? 1 : 0;
  return key.startsWith(IGNORE_MARK) ? (2 + v6) as 2 | 3 : v6;
}

/** True when `c` is still live at `now` (unix seconds). */
export function claimLive(c: Claim, now: number): boolean {
  return c.expiration === 0 || c.expiration > now;
}

/** `claims` without the ones expired at `now` (the same array when none is). */
export function pruneClaims(claims: readonly Claim[], now: number): readonly Claim[] {
  for (const c of claims) if (!claimLive(c, now)) return claims.filter((x) => claimLive(x, now));
  return claims;
}

/** The entry `claims` (non-empty) call for: tag = the oldest claim's, expiration 0 if any is permanent, else the latest. */
export function deriveEntry(claims: readonly Claim[]): { tag: string; expiration: number } {
  let exp = 0;
  let permanent = false;
  for (const c of claims) {
    if (c.expiration === 0) permanent = true;
    else if (c.expiration > exp) exp = c.expiration;
  }
  const first = claims[0];
  return { tag: first === undefined ? '' : claimTag(first), expiration: permanent ? 0 : exp };
}

export function sameClaims(a: readonly Claim[], b: readonly Claim[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.owner !== y.owner || x.expiration !== y.expiration || x.creation !== y.creation || x.tag !== y.tag) return false;
  }
  return true;
}

export function sameState(a: ClaimState | undefined, b: ClaimState | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.managed === b.managed && sameClaims(a.claims, b.claims);
}

/** Index of `owner`'s claim in `claims`, -1 when it holds none. */
export function claimIndex(claims: readonly Claim[], owner: string): number {
  for (let i = 0; i < claims.length; i += 1) if (claims[i]!.owner === owner) return i;
  return -1;
}

/** `claims` with `owner`'s claim set to `expiration` (created at `now` when new, else keeping its place and creation). */
export function upsertClaim(claims: readonly Claim[], owner: string, expiration: number, now: number): readonly Claim[] {
  const i = claimIndex(claims, owner);
  if (i < 0) return [...claims, { owner, creation: now, expiration }];
  const c = claims[i]!;
  if (c.expiration === expiration) return claims;
  const out = claims.slice();
  out[i] = { owner, creation: c.creation, expiration };
  return out;
}

/**
 * `claims` with claim `c` of its owner: replaced in place (creation and tag
 * as `c` says, e.g. a fleet node's hold as that node holds it), appended
 * when the owner held none. The same array when nothing changes.
 */
export function putClaim(claims: readonly Claim[], c: Claim): readonly Claim[] {
  const i = claimIndex(claims, c.owner);
  if (i < 0) return [...claims, c];
  const o = claims[i]!;
  if (o.creation === c.creation && o.expiration === c.expiration && o.tag === c.tag) return claims;
  const out = claims.slice();
  out[i] = c;
  return out;
}

export function removeClaim(claims: readonly Claim[], owner: string): readonly Claim[] {
  const i = claimIndex(claims, owner);
  if (i < 0) return claims;
  return claims.filter((_, j) => j !== i);
}

/** Lazy min-heap of (expiration, key): stale items are skipped when popped. */
class DueHeap {
  #exp: number[] = [];
  #key: string[] = [];

  get size(): number {
    return this.#exp.length;
  }

  peek(): number {
    return this.#exp.length > 0 ? this.#exp[0]! : Infinity;
  }

  push(exp: number, key: string): void {
    const e = this.#exp;
    const k = this.#key;
    let i = e.length;
    e.push(exp);
    k.push(key);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (e[p]! <= exp) break;
      e[i] = e[p]!;
      k[i] = k[p]!;
      i = p;
    }
    e[i] = exp;
    k[i] = key;
  }

  pop(): string | undefined {
    const e = this.#exp;
    const k = this.#key;
    const n = e.length;
    if (n === 0) return undefined;
    const top = k[0]!;
    const lastE = e.pop()!;
    const lastK = k.pop()!;
    if (n > 1) {
      let i = 0;
      const m = n - 1;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= m) break;
        const r = l + 1;
        const c = r < m && e[r]! < e[l]! ? r : l;
        if (e[c]! >= lastE) break;
        e[i] = e[c]!;
        k[i] = k[c]!;
        i = c;
      }
      e[i] = lastE;
      k[i] = lastK;
    }
    return top;
  }

  clear(): void {
    this.#exp = [];
    this.#key = [];
  }
}

/**
 * The committed claims: key -> state, owner -> keys, and the expiry heap.
 * Fleet owners ('@node') are not in the owner index: nothing asks for a
 * fleet node's keys (`/v1/bans/{owner}` cannot name one), and a cold join
 * of a million fleet holds would only grow it.
 */
export class ClaimTable {
  readonly #byKey = new Map<string, ClaimState>();
  readonly #byOwner = new Map<string, Set<string>>();
  readonly #due = new DueHeap();
  #claims = 0;

  /** Number of claims. */
  get size(): number {
    return this.#claims;
  }

  /** Number of claimed CIDRs. */
  get cidrs(): number {
    return this.#byKey.size;
  }

  get(key: string): ClaimState | undefined {
    return this.#byKey.get(key);
  }

  entries(): IterableIterator<[string, ClaimState]> {
    return this.#byKey.entries();
  }

  /** Keys `owner` holds a claim on (a live view: copy before mutating the table). */
  keysOf(owner: string): ReadonlySet<string> {
    return this.#byOwner.get(owner) ?? new Set();
  }

  countOf(owner: string): number {
    return this.#byOwner.get(owner)?.size ?? 0;
  }

  /** `owner`'s claims, in the order it made them. */
  *claimsOf(owner: string): IterableIterator<{ key: string; claim: Claim }> {
    const keys = this.#byOwner.get(owner);
    if (keys === undefined) return;
    for (const key of keys) {
      const s = this.#byKey.get(key);
      const i = s === undefined ? -1 : claimIndex(s.claims, owner);
      if (i >= 0) yield { key, claim: s!.claims[i]! };
    }
  }

  /** Replaces the state of `key` (undefined or no claims = unclaimed); its expirations go into the due heap. */
  set(key: string, state: ClaimState | undefined): void {
    this.#set(key, state, { trackDue: true });
  }

  /** set() while the journal is replayed: the due heap is rebuilt once at the end (rebuildDue). */
  load(key: string, state: ClaimState | undefined): void {
    this.#set(key, state, { trackDue: false });
  }

  #set(key: string, state: ClaimState | undefined, { trackDue }: { readonly trackDue: boolean }): void {
    const old = this.#byKey.get(key);
    const next = state !== undefined && state.claims.length > 0 ? state : undefined;
    if (old !== undefined) {
      for (const c of old.claims) {
        if (isFleetOwner(c.owner) || (next !== undefined && claimIndex(next.claims, c.owner) >= 0)) continue;
        const ks = this.#byOwner.get(c.owner);
        if (ks !== undefined) {
          ks.delete(key);
          if (ks.size === 0) this.#byOwner.delete(c.owner);
        }
      }
      this.#claims -= old.claims.length;
    }
    if (next === undefined) {
      this.#byKey.delete(key);
      return;
    }
    this.#byKey.set(key, next);
    this.#claims += next.claims.length;
    for (const c of next.claims) {
      const oi = old === undefined ? -1 : claimIndex(old.claims, c.owner);
      if (oi < 0 && !isFleetOwner(c.owner)) {
        let ks = this.#byOwner.get(c.owner);
        if (ks === undefined) {
          ks = new Set();
          this.#byOwner.set(c.owner, ks);
        }
        ks.add(key);
      }
      if (trackDue && c.expiration !== 0 && (oi < 0 || old!.claims[oi]!.expiration !== c.expiration)) this.#due.push(c.expiration, key);
    }
  }

  /** Earliest expiration in the heap (may be stale), Infinity when none. */
  nextDue(): number {
    return this.#due.peek();
  }

  /** Pops every key holding a claim expired at `now`. */
  popDue(now: number): string[] {
    const out = new Set<string>();
    while (this.#due.peek() <= now) {
      const key = this.#due.pop()!;
      const s = this.#byKey.get(key);
      if (s !== undefined && s.claims.some((c) => !claimLive(c, now))) out.add(key);
    }
    if (this.#due.size > 2 * this.#claims + 4096) this.rebuildDue();
    return [...out];
  }

  /** Puts `keys` back as due at `at` (a removal that failed). */
  requeue(keys: readonly string[], at: number): void {
    for (const k of keys) this.#due.push(at, k);
  }

  /** Rebuilds the expiry heap from the table (after replay). */
  rebuildDue(): void {
    this.#due.clear();
    for (const [key, s] of this.#byKey) {
      for (const c of s.claims) if (c.expiration !== 0) this.#due.push(c.expiration, key);
    }
  }
}
