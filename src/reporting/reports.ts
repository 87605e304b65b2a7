/**
 * Committed changes as Couic reports (spec §6.2, Couic's common::Report):
 *   {"action":"add"|"remove","policy":"drop"|"ignore",
 *    "entry":{"creation":n,"cidr":"…","tag":"x"|null,"expiration":n},"metadata":{…}|null}
 * which couic-report deserializes unchanged (untagged = null, as Couic's
 * Entry.tag; metadata = Couic's {kind, detail, extra}).
 *
 * Reported, as in Couic: API creates (`add`, with the request's metadata)
 * and API deletes (`remove`, metadata null). We also report the bans of
 * /v1/bans (origin `bans`): Couic users ban from fail2ban with `couicctl
 * drop add`, an API create Couic reports; our fail2ban action bans through
 * /v1/bans instead. An owner's ban added to an entry that already exists
 * (an update) is not reported, as Couic's 409 to the second `drop add` is
 * not. Never reported, as in Couic: peer-received changes, expiries, sets;
 * nor fleet changes (another node's, reported there).
 */
import type { EntryMetadata } from '../domain/types.js';
import type { EntryEvent } from '../core/state/events.js';

function metadataJson(m: EntryMetadata | undefined): string {
  if (m === undefined) return 'null';
  return JSON.stringify({ kind: m.kind, detail: m.detail, extra: m.extra ?? null });
}

/** The report JSON of a committed change, or undefined when it is not reported. */
export function reportOf(ev: EntryEvent): string | undefined {
  if (ev.origin !== 'api' && ev.origin !== 'bans') return undefined;
  if (ev.type !== 'added' && ev.type !== 'removed') return undefined;
  const action = ev.type === 'added' ? 'add' : 'remove';
  const tag = ev.tag === '' ? 'null' : JSON.stringify(ev.tag);
  const metadata = action === 'add' ? metadataJson(ev.metadata) : 'null';
  return `{"action":"${action}","policy":"${ev.policy}","entry":{"creation":${ev.creation},"cidr":"${ev.cidr}","tag":${tag},"expiration":${ev.expiration}},"metadata":${metadata}}`;
}
