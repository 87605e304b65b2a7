/**
 * The bucket's values (keys.ts says which key holds which): small JSON
 * objects, checked field by field on the way in. A value that does not
 * check is not applied (the caller logs it and moves on): a misbehaving
 * node never puts a bad tag or a bad CIDR into another host's kernel.
 */
import { tagError } from '../domain/rules.js';
import type { Cidr } from '../domain/types.js';

/** A node's hold on a CIDR: what the node holds it with. */
export interface HoldValue {
  readonly tag: string;
  /** Unix seconds: when the node first held it. */
  readonly creation: number;
  /** Unix seconds, 0 = permanent. */
  readonly expiration: number;
}

/** A node's operator deleted a CIDR at `at` (unix seconds). */
export interface RevokeValue {
  readonly at: number;
}

const U32_MAX = 0xffff_ffff;

function isUint(v: unknown, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
}

export function encodeHold(cidr: Cidr, h: HoldValue): string {
  return JSON.stringify({ cidr: cidr.text, tag: h.tag, creation: h.creation, expiration: h.expiration });
}

export function encodeRevoke(cidr: Cidr, r: RevokeValue): string {
  return JSON.stringify({ cidr: cidr.text, at: r.at });
}

function parseObject(text: string, cidr: Cidr): Record<string, unknown> | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a JSON object';
  const o = v as Record<string, unknown>;
  if (o['cidr'] !== cidr.text) return `cidr ${JSON.stringify(o['cidr'])} does not match the key's ${cidr.text}`;
  return o;
}

/** The hold in `text` for the key's `cidr`, or the reason it is refused. */
export function decodeHold(text: string, cidr: Cidr): HoldValue | string {
  const o = parseObject(text, cidr);
  if (typeof o === 'string') return o;
  const { tag, creation, expiration } = o;
  if (typeof tag !== 'string') return 'tag: expected a string';
  const te = tagError(tag);
  if (te !== undefined) return `tag: ${te}`;
  if (!isUint(creation, U32_MAX)) return 'creation: expected unix seconds';
  if (!isUint(expiration, Number.MAX_SAFE_INTEGER)) return 'expiration: expected unix seconds or 0';
  return { tag, creation, expiration };
}

/** The revocation in `text` for the key's `cidr`, or the reason it is refused. */
export function decodeRevoke(text: string, cidr: Cidr): RevokeValue | string {
  const o = parseObject(text, cidr);
  if (typeof o === 'string') return o;
  if (!isUint(o['at'], U32_MAX)) return 'at: expected unix seconds';
  return { at: o['at'] };
}
