/**
 * Committed changes as Couic PeerJobs (spec §1.4, §6.1).
 *
 * Pushed: changes of origin `api` (the entry routes) and `bans` (the
 * owner-held bans, which Couic users make with `couicctl drop add` from
 * fail2ban, i.e. through the API). Never pushed: what came from a peer
 * (no loops, as in Couic) or from the fleet, expiries (each peer holds
 * the expiration and expires the entry itself; Couic does not push them
 * either) and set entries (Couic never peers sets).
 *
 * The JSON of a job is Couic's own layout, which Couic's PeerJob
 * deserializes and our receiver's fast path reads:
 *   {"action":"add","entry":{"cidr":"…","tag":"x"|null,"expiration":n,"metadata":null}}
 */
import { isSetTag } from '../domain/rules.js';
import type { Policy } from '../domain/types.js';
import type { EntryEvent } from '../core/state/events.js';

export interface PeerJobOut {
  readonly policy: Policy;
  readonly action: 'add' | 'remove';
  readonly cidr: string;
  /** Unix seconds, 0 = never; a remove carries 0 (any past value would make a Couic peer refuse the whole body). */
  readonly expiration: number;
  /** The job's JSON. */
  readonly json: string;
}

function job(policy: Policy, action: 'add' | 'remove', cidr: string, tag: string, expiration: number): PeerJobOut {
  const exp = action === 'remove' ? 0 : expiration;
  const json = `{"action":"${action}","entry":{"cidr":"${cidr}","tag":${tag === '' ? 'null' : JSON.stringify(tag)},"expiration":${exp},"metadata":null}}`;
  return { policy, action, cidr, expiration: exp, json };
}

/** The jobs a committed change makes (none for what is not pushed); an update is a remove then an add. */
export function jobsOf(ev: EntryEvent): PeerJobOut[] {
  if (ev.origin !== 'api' && ev.origin !== 'bans') return [];
  if (isSetTag(ev.tag)) return [];
  switch (ev.type) {
    case 'added':
      return [job(ev.policy, 'add', ev.cidr, ev.tag, ev.expiration)];
    case 'removed':
      return [job(ev.policy, 'remove', ev.cidr, ev.tag, 0)];
    case 'updated':
      // Couic's /peer has no update: a new tag or expiration is the entry removed and added again.
      return [job(ev.policy, 'remove', ev.cidr, ev.tag, 0), job(ev.policy, 'add', ev.cidr, ev.tag, ev.expiration)];
    case 'expired':
      return [];
  }
}

/** The body of a POST /v1/{policy}/peer. */
export function peerBody(jobs: readonly PeerJobOut[]): Buffer {
  return Buffer.from(`[${jobs.map((j) => j.json).join(',')}]`);
}

/**
 * Which job a 409 or 404 answer of a peer is about: Couic applies a body
 * job by job and stops at the first that fails, answering its error
 * ({"errors":{"cidr":{"message":"<cidr> already exists" | "cidr `<cidr>` not found"}}}).
 * Returns the index of that job in `jobs`, or undefined (not such an answer,
 * e.g. a full map, or no job matches).
 */
export function failedJobIndex(status: number, text: string, jobs: readonly PeerJobOut[]): number | undefined {
  let message: unknown;
  try {
    message = (JSON.parse(text) as { errors?: { cidr?: { message?: unknown } } }).errors?.cidr?.message;
  } catch {
    return undefined;
  }
  if (typeof message !== 'string') return undefined;
  let cidr: string | undefined;
  let action: 'add' | 'remove';
  if (status === 409) {
    cidr = /^(\S+) already exists$/.exec(message)?.[1];
    action = 'add';
  } else if (status === 404) {
    cidr = /^cidr `([^`]+)` not found$/.exec(message)?.[1];
    action = 'remove';
  } else {
    return undefined;
  }
  if (cidr === undefined) return undefined;
  const i = jobs.findIndex((j) => j.cidr === cidr && j.action === action);
  return i < 0 ? undefined : i;
}
