/**
 * The bucket's key space (docs/fleet.md, "What is in the bucket"). Every key
 * starts with the node that writes it, so a NATS account can let a node
 * publish only under `$KV.<bucket>.<node>.>`:
 *
 *   <node>.<p><f>.<cidr>     the node's hold on a CIDR: p = d (drop) or
 *                            i (ignore), f = 4 or 6; the value says with
 *                            which tag, creation and expiration (values.ts);
 *                            deleted when the node holds it no more
 *   <node>.x.<p><f>.<cidr>   the node's operator deleted the CIDR: every
 *                            hold created at or before the value's time goes,
 *                            on every node
 *   <node>.hello             the node's presence (written when it connects)
 *
 * <cidr> is the canonical CIDR text with '.' or ':' written '-' and '/'
 * written '_' (KV keys allow `[-/_=.A-Za-z0-9]` and '.' separates tokens):
 * 192.0.2.0/24 is 192-0-2-0_24, 2001:db8::/32 is 2001-db8--_32.
 */
import type { Cidr, Family, Policy } from '../domain/types.js';
import { tryParseCidr } from '../net/cidr.js';
import { StoredCidr, type KeyedCidr } from '../net/keys.js';
import { v4KeyNum, v4NetKey } from '../net/v4-key.js';

/** An IPv4 CIDR read from a key: its text and key number, no address bytes (a cold join reads a million). */
class KeyCidr extends StoredCidr implements KeyedCidr {
  readonly key4: number;
  constructor(text: string, key4: number) {
    super(4, text);
    this.key4 = key4;
  }
}

/** A node's name: a single KV key token. */
export const NODE_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function nodeError(node: string): string | undefined {
  return NODE_RE.test(node) ? undefined : 'expected 1 to 64 characters among A-Z a-z 0-9 _ -';
}

export type ParsedKey =
  | { readonly kind: 'hold' | 'revoke'; readonly node: string; readonly policy: Policy; readonly cidr: Cidr }
  | { readonly kind: 'hello'; readonly node: string };

const POLICY_LETTER: Readonly<Record<Policy, string>> = { drop: 'd', ignore: 'i' };

function cidrToken(cidr: Cidr): string {
  const slash = cidr.text.indexOf('/');
  const addr = cidr.text.slice(0, slash).replace(cidr.family === 4 ? /\./g : /:/g, '-');
  return `${addr}_${cidr.text.slice(slash + 1)}`;
}

function kindToken(policy: Policy, family: Family): string {
  return `${POLICY_LETTER[policy]}${family}`;
}

/** The key of `node`'s hold on `cidr` in `policy`. */
export function holdKey(node: string, policy: Policy, cidr: Cidr): string {
  return `${node}.${kindToken(policy, cidr.family)}.${cidrToken(cidr)}`;
}

/** The key of `node`'s fleet-wide delete of `cidr` in `policy`. */
export function revokeKey(node: string, policy: Policy, cidr: Cidr): string {
  return `${node}.x.${kindToken(policy, cidr.family)}.${cidrToken(cidr)}`;
}

export function helloKey(node: string): string {
  return `${node}.hello`;
}

/** The keys `node` writes (a watch filter, a publish permission). */
export function nodeKeys(node: string): string {
  return `${node}.>`;
}

function parseKind(t: string | undefined): { policy: Policy; family: Family } | undefined {
  if (t === undefined || t.length !== 2) return undefined;
  const policy = t[0] === 'd' ? 'drop' : t[0] === 'i' ? 'ignore' : undefined;
  const family = t[1] === '4' ? 4 : t[1] === '6' ? 6 : undefined;
  return policy === undefined || family === undefined ? undefined : { policy, family };
}

function parseCidrToken(t: string | undefined, family: Family): Cidr | undefined {
  if (t === undefined) return undefined;
  const u = t.lastIndexOf('_');
  if (u <= 0) return undefined;
  const text = `${t.slice(0, u).replace(/-/g, family === 4 ? '.' : ':')}/${t.slice(u + 1)}`;
  if (family === 4) {
    const k = v4KeyNum(text);
    return k >= 0 && v4NetKey(k) === k ? new KeyCidr(text, k) : undefined;
  }
  const cidr = tryParseCidr(text);
  // Only the canonical form: one CIDR, one key.
  return cidr !== undefined && cidr.family === family && cidr.text === text ? cidr : undefined;
}

/** Reads a key of the bucket; undefined for anything that is not one of ours. */
export function parseKey(key: string): ParsedKey | undefined {
  const t = key.split('.');
  const node = t[0];
  if (node === undefined || !NODE_RE.test(node)) return undefined;
  if (t.length === 2 && t[1] === 'hello') return { kind: 'hello', node };
  const revoke = t[1] === 'x';
  if (t.length !== (revoke ? 4 : 3)) return undefined;
  const k = parseKind(t[revoke ? 2 : 1]);
  if (k === undefined) return undefined;
  const cidr = parseCidrToken(t[revoke ? 3 : 2], k.family);
  if (cidr === undefined) return undefined;
  return { kind: revoke ? 'revoke' : 'hold', node, policy: k.policy, cidr };
}
