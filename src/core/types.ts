/**
 * The boundary between the API (src/api) and the state owner (src/core).
 * The API parses and validates requests into the domain's shapes
 * (src/domain/types.ts); core applies them (journal + helper batch) and
 * throws AppError (src/errors.ts).
 */
import type { Actor, Cidr, CreateRequest, Entry, PeerJob, Policy } from '../domain/types.js';

/**
 * Entry state (implemented by src/core). Every mutation resolves only once
 * the change is in the kernel map and fsync'd in the journal.
 * Errors (AppError): conflict (duplicate, with errors.cidr; map full),
 * not_found (with errors.cidr), invalid + plainBody for set entries on
 * remove, busy (queue full), unavailable (helper down past the wait bound).
 */
export interface EntryService {
  list(policy: Policy): Entry[];
  get(policy: Policy, cidr: Cidr): Entry | undefined;
  count(policy: Policy): number;
  create(policy: Policy, req: CreateRequest, actor: Actor): Promise<Entry>;
  remove(policy: Policy, cidr: Cidr, actor: Actor): Promise<void>;
  /** Sequential: the first failing job throws; earlier jobs stay applied. */
  applyPeer(policy: Policy, jobs: readonly PeerJob[], actor: Actor): Promise<void>;
}
