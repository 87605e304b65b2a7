/**
 * Domain validation shared by the API handlers (and reusable by the CLI):
 * policy names, tags (§1.6), expirations, path CIDRs (§1.5 grammar 2).
 * Messages are Couic's, verbatim.
 */
import type { Cidr, Policy } from '../core/types.js';
import type { FieldError, FieldErrors } from '../errors.js';
import { makeCidr, maxPrefix, parsePathIp, parsePathPrefix } from '../net/cidr.js';

export const POLICIES = ['drop', 'ignore'] as const;

export const invalid = (message: string): FieldError => ({ code: 'invalid', message });

/** Exactly `drop` or `ignore` (case-sensitive). */
export function parsePolicy(text: string, errors: FieldErrors): Policy | undefined {
  if (text === 'drop' || text === 'ignore') return text;
  errors['policy'] = invalid(`invalid policy: '${text}' (expected 'drop' or 'ignore')`);
  return undefined;
}

export const TAG_MAX_BYTES = 64;
export const SET_SUFFIX = '.couic';

/** Tag rules of §1.6 for a non-empty tag; undefined when valid. */
export function tagError(tag: string): string | undefined {
  if (tag === '') return undefined;
  if (Buffer.byteLength(tag, 'utf8') > TAG_MAX_BYTES) return `Tag must be at most ${TAG_MAX_BYTES} characters`;
  if (tag.endsWith(SET_SUFFIX)) return `Tag cannot end with special suffix: ${SET_SUFFIX}`;
  if (tag.toLowerCase() === 'untagged') return "Tag cannot be 'untagged' (reserved for display)";
  if (!/^[A-Za-z0-9_-]+$/.test(tag)) return 'Tag can only contain alphanumeric characters, hyphens, and underscores';
  return undefined;
}

export const EXPIRATION_MESSAGE = 'expiration timestamp must be in the future or zero';

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** 0 or strictly in the future; undefined when valid. */
export function expirationError(expiration: number, now: number = nowSeconds()): string | undefined {
  return expiration !== 0 && expiration <= now ? EXPIRATION_MESSAGE : undefined;
}

/**
 * `{ip}/{prefix}` path segments (grammar 2), normalized. Errors are
 * accumulated into `errors` (ip, prefix).
 */
export function parsePathCidr(ip: string, prefix: string, errors: FieldErrors): Cidr | undefined {
  const addr = parsePathIp(ip);
  if (addr === undefined) errors['ip'] = invalid(`${ip} is not a valid IP address`);
  const len = parsePathPrefix(prefix);
  if (len === undefined) {
    errors['prefix'] = invalid(`${prefix} is not a valid prefix value`);
    return undefined;
  }
  if (addr === undefined) return undefined;
  const max = maxPrefix(addr.family);
  if (len > max) {
    errors['prefix'] = invalid(`Prefix must be between 0 and ${max}, got ${len}`);
    return undefined;
  }
  return makeCidr(addr.family, addr.addr, len);
}
