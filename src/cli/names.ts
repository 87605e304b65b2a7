/**
 * Value parsers for client and set names and client groups (clients and
 * sets commands only: they pull in the daemon's client rules).
 */
import { nameError, parseGroup } from '../domain/rules.js';
import { single } from './args.js';
import { invalidValue } from './errors.js';

export function clientNameArg(arg: string): (value: unknown) => string {
  return (value) => {
    const text = single(value, arg);
    const err = nameError('Client name', text);
    if (err !== undefined) throw invalidValue(text, arg, err);
    return text;
  };
}

export function setNameArg(value: unknown): string {
  const text = single(value, '<NAME>');
  const err = nameError('Set name', text);
  if (err !== undefined) throw invalidValue(text, '<NAME>', err);
  return text;
}

/** `-g/--group <GROUP>`, case-insensitive, sent in canonical lower case. */
export function groupArg(value: unknown): string {
  const text = single(value, '--group <GROUP>');
  const g = parseGroup(text);
  if (g === undefined) throw invalidValue(text, '--group <GROUP>', `Invalid group: ${text}`);
  return g;
}
