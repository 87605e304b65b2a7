/**
 * Argument value parsers, run by yargs `coerce` before any request (clap's
 * value_parser in Couic): a bad value is a usage error (exit 2) printed as
 * `error: invalid value 'x' for '<CIDR>': invalid IP address syntax`.
 */
import { tagError } from '../domain/rules.js';
import type { Cidr, Policy } from '../domain/types.js';
import { CIDR_SYNTAX_MESSAGE, parseCidr, tryParseCidrRaw } from '../net/cidr.js';
import { invalidValue, usageError } from './errors.js';

/** yargs hands over an array when an option is repeated; clap rejects that. */
export function single(value: unknown, arg: string): string {
  if (Array.isArray(value)) throw usageError(`the argument '${arg}' cannot be used multiple times`);
  return String(value);
}

/** `<CIDR>`: grammar (1), normalized (host bits zeroed). */
export function cidrArg(value: unknown): Cidr {
  const text = single(value, '<CIDR>');
  try {
    return parseCidr(text);
  } catch {
    throw invalidValue(text, '<CIDR>', CIDR_SYNTAX_MESSAGE);
  }
}

/** `-t/--tag <TAG>` of `add`: Couic's tag rules; "" = untagged. */
export function tagArg(value: unknown): string {
  const text = single(value, '--tag <TAG>');
  const err = tagError(text);
  if (err !== undefined) throw invalidValue(text, '--tag <TAG>', err);
  return text;
}

/** `<POLICY>` of `sets`: exactly `drop` or `ignore` (case-sensitive). */
export function policyArg(value: unknown): Policy {
  const text = single(value, '<POLICY>');
  if (text === 'drop' || text === 'ignore') return text;
  throw usageError(`invalid value '${text}' for '<POLICY>'\n  [possible values: drop, ignore]`);
}

/** Set entries: grammar (1), kept as typed (not normalized client-side). */
export function setEntriesArg(value: unknown): string[] {
  const list = (Array.isArray(value) ? value : value === undefined ? [] : [value]).map(String);
  for (const text of list) {
    if (tryParseCidrRaw(text) === undefined) throw invalidValue(text, '[ENTRIES]...', CIDR_SYNTAX_MESSAGE);
  }
  return list;
}
