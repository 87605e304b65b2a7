/**
 * Domain validation shared by the API handlers (and reusable by the CLI):
 * policy names, tags (§1.6), expirations, path CIDRs (§1.5 grammar 2).
 * Messages are Couic's, verbatim.
 */
import type { Cidr, Policy } from '../domain/types.js';
import type { FieldError, FieldErrors } from '../errors.js';
import { makeCidr, maxPrefix, parsePathIp, parsePathPrefix } from '../net/cidr.js';

export const invalid = (message: string): FieldError => ({ code: 'invalid', message });

/** Exactly `drop` or `ignore` (case-sensitive). */
export function parsePolicy(text: string, errors: FieldErrors): Policy | undefined {
  if (text === 'drop' || text === 'ignore') return text;
  errors['policy'] = invalid(`invalid policy: '${text}' (expected 'drop' or 'ignore')`);
  return undefined;
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
