/**
 * Core events: what the state owner tells the outside world (the WebSocket
 * stream of src/api/events.ts) about committed changes.
 *
 * The commit (commit/state-commit.ts) emits one EntryEvent per committed
 * map op of an API, peer, claim, fleet or expiry request, synchronously at commit
 * time (so in commit order, before the request is answered). Set reloads
 * are not streamed entry by entry (one can touch a million entries): the
 * set loader emits one SetsReloadedEvent per reload instead. When nobody
 * listens, no event is built at all (`active` is false).
 */
import type { EntryMetadata, Policy } from '../../domain/types.js';
import type { ChangeOrigin } from '../model/requests.js';

export interface EntryEvent {
  /** `updated`: an existing entry got a new tag/expiration (e.g. a claim, a set overriding it). */
  readonly type: 'added' | 'removed' | 'expired' | 'updated';
  readonly policy: Policy;
  /** Normalized CIDR text. */
  readonly cidr: string;
  /** "" = untagged, "x.couic" = set entry. For removals: the tag the entry had. */
  readonly tag: string;
  /** Unix seconds, 0 = never (for removals: what the entry had). */
  readonly expiration: number;
  /** Unix seconds (for removals: what the entry had). */
  readonly creation: number;
  /** Name of the client whose request caused it (absent for expiries and internal changes). */
  readonly actor?: string;
  readonly origin: ChangeOrigin;
  /** The fleet node whose change it was (origin `fleet`). */
  readonly node?: string;
  /** The create request's metadata (added events of API creates that had some; never streamed). */
  readonly metadata?: EntryMetadata;
}

export interface SetsCounts {
  readonly created: number;
  readonly updated: number;
  readonly removed: number;
}

export interface SetsReloadedEvent {
  readonly type: 'sets_reloaded';
  /** Per policy, in application order (ignore first). A policy missing = not reloaded (failure before it). */
  readonly ignore?: SetsCounts;
  readonly drop?: SetsCounts;
  /** "ok" or the error message of a reload that failed after applying part of it. */
  readonly status: 'ok' | 'failed';
  readonly error?: string;
  readonly actor?: string;
}

export type CoreEvent = EntryEvent | SetsReloadedEvent;

export type CoreEventListener = (ev: CoreEvent) => void;

/** A minimal synchronous emitter; a throwing listener never breaks a commit. */
export class CoreEvents {
  readonly #listeners = new Set<CoreEventListener>();

  /** True when at least one listener is registered. */
  get active(): boolean {
    return this.#listeners.size > 0;
  }

  on(fn: CoreEventListener): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  emit(ev: CoreEvent): void {
    for (const fn of this.#listeners) {
      try {
        fn(ev);
      } catch {
        /* a listener's failure is its own business */
      }
    }
  }
}
