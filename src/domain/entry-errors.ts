/**
 * The errors of entry mutations, with Couic's texts (spec §1.7), built in
 * one place for the core (which decides them) and the API (which checks
 * path parameters before asking the core).
 */
import { AppError } from '../errors.js';

export const SET_ENTRY_MESSAGE = 'Entry defined in a set cannot be removed';

/** 409: `text` (a canonical CIDR) is already in the store. */
export function conflictError(text: string): AppError {
  return new AppError('conflict', 'submitted entry is not valid', {
    cidr: { code: 'conflict', message: `${text} already exists` },
  });
}

/** 404: `text` (a canonical CIDR) is not in the store. */
export function notFoundError(text: string): AppError {
  return new AppError('not_found', 'submitted entry not found', {
    cidr: { code: 'not_found', message: `cidr \`${text}\` not found` },
  });
}

/** 409: the kernel map the entry belongs in holds `capacity` entries already. */
export function mapFullError(capacity: number): AppError {
  return new AppError('conflict', `couic underlying ebpf map is full: max ${capacity} entries`);
}

/** 422 with Couic's plain-text body: set entries are removed by editing the set. */
export function setEntryError(): AppError {
  return new AppError('invalid', SET_ENTRY_MESSAGE, {}, { plainBody: SET_ENTRY_MESSAGE });
}
