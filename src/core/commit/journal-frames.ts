/**
 * Planned ops and claim changes as journal records (journal/journal.ts):
 * the frame a batch writes while the kernel applies it, and the frame that
 * takes that back to what was committed when the kernel refused part of
 * the batch or the helper was lost.
 */
import { RecordEncoder } from '../journal/journal.js';
import { PLANNED, type OpList } from '../plan/op-list.js';
import type { Plan } from '../plan/plan.js';
import { claimCidr, claimStore, type ClaimState } from '../state/claims.js';
import type { KeyState } from './state-commit.js';

/** Appends the records of ops [from, to). */
export function journalOps(enc: RecordEncoder, ops: OpList, from: number, to: number): void {
  const c = ops.cols;
  for (let i = from; i < to; i += 1) {
    const store = c.store[i]!;
    const k4 = c.k4[i]!;
    if (c.kind[i] === PLANNED.DELETE) {
      if (k4 >= 0) enc.delV4(store, k4);
      else enc.del(store, ops.keyAt(i));
    } else if (k4 >= 0) {
      enc.putV4(store, k4, ops.tagAt(i), c.creation[i]!, c.expiration[i]!);
    } else {
      enc.put(store, ops.keyAt(i), ops.tagAt(i), c.creation[i]!, c.expiration[i]!);
    }
  }
}

/** An encoder sized for the records of `plan` (its ops as PUTs, its claim changes). */
export function encoderFor(plan: Plan): RecordEncoder {
  return new RecordEncoder(64 + plan.ops.journalBytes + plan.claimChanges.length * 48);
}

/** Appends the claim state of each key of `claims` (undefined: unclaimed). */
export function journalClaims(enc: RecordEncoder, claims: ReadonlyMap<string, ClaimState | undefined>): void {
  for (const [key, st] of claims) enc.claims(claimStore(key), claimCidr(key), st?.managed ?? false, st?.claims ?? []);
}

/**
 * The frame that takes the journal from "the whole batch applied" back to
 * what is committed: `keys` as the committed state holds them, and the
 * claims of every key the plan changed as `kept` (the committed part of
 * the batch) or, failing that, `committedClaims` says.
 */
export function undoFrame(
  keys: readonly KeyState[],
  plan: Plan,
  kept: ReadonlyMap<string, ClaimState | undefined>,
  committedClaims: (key: string) => ClaimState | undefined,
): RecordEncoder {
  const enc = new RecordEncoder(64 + keys.length * 64 + plan.claimChanges.length * 48);
  for (const { store, key, entry } of keys) {
    if (entry === undefined) enc.del(store, key);
    else enc.put(store, key, entry.tag, entry.creation, entry.expiration);
  }
  for (const key of new Set(plan.claimChanges.map((c) => c.key))) {
    const st = kept.has(key) ? kept.get(key) : committedClaims(key);
    enc.claims(claimStore(key), claimCidr(key), st?.managed ?? false, st?.claims ?? []);
  }
  return enc;
}
