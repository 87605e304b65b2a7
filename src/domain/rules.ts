/**
 * The one implementation of each naming rule of the domain (Couic's
 * messages, verbatim, spec §1.6, §1.9, §3): tags, owners of bans, client
 * and set names, groups, the set suffix, the width of a ban, expirations.
 * The API, the core, the set loader and couicctl all call these.
 */
import { GROUPS, type Cidr, type Group } from './types.js';

/** The suffix of set files and of the tag of every set entry ("lan.couic"). */
export const SET_SUFFIX = '.couic';

/** True for the tag of a set entry (the set file's name). */
export function isSetTag(tag: string): boolean {
  return tag.endsWith(SET_SUFFIX);
}

export const TAG_MAX_BYTES = 64;

/** Tag rules of §1.6 ("" = untagged is valid); undefined when valid. */
export function tagError(tag: string): string | undefined {
  if (tag === '') return undefined;
  if (Buffer.byteLength(tag, 'utf8') > TAG_MAX_BYTES) return `Tag must be at most ${TAG_MAX_BYTES} characters`;
  if (tag.endsWith(SET_SUFFIX)) return `Tag cannot end with special suffix: ${SET_SUFFIX}`;
  if (tag.toLowerCase() === 'untagged') return "Tag cannot be 'untagged' (reserved for display)";
  if (!/^[A-Za-z0-9_-]+$/.test(tag)) return 'Tag can only contain alphanumeric characters, hyphens, and underscores';
  return undefined;
}

/** Owner rules of `/v1/bans/{owner}` = tag rules, non-empty; undefined when valid. */
export function ownerError(owner: string): string | undefined {
  if (owner === '') return 'Owner cannot be empty';
  const e = tagError(owner);
  return e === undefined ? undefined : e.replace(/^Tag/, 'Owner');
}

export const NAME_MAX_BYTES = 48;

/**
 * Couic's name rule (clients and sets): 1..48 bytes, each char Unicode
 * alphanumeric or `-`/`_`. Returns the error message, or undefined when valid.
 * `label` is "Client name" or "Set name".
 */
export function nameError(label: string, name: string): string | undefined {
  if (name.length === 0) return `${label} cannot be empty`;
  if (Buffer.byteLength(name, 'utf8') > NAME_MAX_BYTES) return `${label} must be at most ${NAME_MAX_BYTES} characters`;
  if (!/^[\p{Alphabetic}\p{N}_-]+$/u.test(name)) {
    return `${label} can only contain alphanumeric characters, hyphens, and underscores`;
  }
  return undefined;
}

/** Case-insensitive group parse (API input, couicctl); undefined when unknown. */
export function parseGroup(text: string): Group | undefined {
  const g = text.toLowerCase();
  return (GROUPS as readonly string[]).includes(g) ? (g as Group) : undefined;
}

/** Narrowest allowed ban prefixes: a jail must never ban the whole Internet. */
export const MIN_BAN_PREFIX = { 4: 8, 6: 16 } as const;

/** A ban wider than /8 (IPv4) or /16 (IPv6): the message; undefined when allowed. */
export function banPrefixError(cidr: Cidr): string | undefined {
  if (cidr.prefixLen >= MIN_BAN_PREFIX[cidr.family]) return undefined;
  return `prefix /${cidr.prefixLen} is too wide for a ban: at least /${MIN_BAN_PREFIX[4]} (IPv4) or /${MIN_BAN_PREFIX[6]} (IPv6)`;
}

export const EXPIRATION_MESSAGE = 'expiration timestamp must be in the future or zero';

/**
 * Couic's expirations are u64; ours are kept as JS numbers (table, journal,
 * events), exact up to 2^53-1. Larger values are refused, never rounded
 * (docs/api-extensions.md).
 */
export const MAX_EXPIRATION = Number.MAX_SAFE_INTEGER;
export const EXPIRATION_RANGE_MESSAGE = `expiration must be at most ${MAX_EXPIRATION} (2^53-1): larger values cannot be stored exactly`;

/** 0 or strictly after `now` (unix seconds); undefined when valid. */
export function expirationError(expiration: number, now: number): string | undefined {
  return expiration !== 0 && expiration <= now ? EXPIRATION_MESSAGE : undefined;
}
