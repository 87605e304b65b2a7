/**
 * The one error registry: code → HTTP status, CLI exit code, default message.
 * The API renders AppError as Couic's envelope
 * {"code","message","errors":{field:{code,message}}}; the CLI maps the same
 * codes to exit statuses. The first eight codes are Couic v1's; the rest are
 * ours (Couic never answers them; they only appear where Couic has no answer).
 */

export const ERROR_CODES = {
  processing: { status: 202, exitCode: 1, message: 'Processing' },
  bad_request: { status: 400, exitCode: 1, message: 'Bad request' },
  unauthorized: { status: 401, exitCode: 1, message: 'Unauthorized' },
  not_found: { status: 404, exitCode: 1, message: 'Not found' },
  conflict: { status: 409, exitCode: 1, message: 'Conflict' },
  invalid: { status: 422, exitCode: 1, message: 'Validation failed' },
  internal: { status: 500, exitCode: 1, message: 'Internal error' },
  not_implemented: { status: 501, exitCode: 1, message: 'Not implemented' },
  // ours
  unsupported_media_type: { status: 415, exitCode: 1, message: 'Expected request with `Content-Type: application/json`' },
  payload_too_large: { status: 413, exitCode: 1, message: 'Request body exceeds the 2 MiB limit' },
  busy: { status: 503, exitCode: 75, message: 'couic is busy: the update queue is full, retry later' },
  unavailable: { status: 503, exitCode: 69, message: 'couic data plane is unavailable: the helper is restarting' },
  usage: { status: 400, exitCode: 2, message: 'Invalid usage' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface FieldError {
  readonly code: string;
  readonly message: string;
}

export type FieldErrors = Record<string, FieldError>;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly errors: FieldErrors;
  /**
   * Couic answers a few errors with a plain-text body instead of the JSON
   * envelope (e.g. deleting a set entry); when set, the API sends this text.
   */
  readonly plainBody: string | undefined;

  constructor(
    code: ErrorCode,
    message?: string,
    errors: FieldErrors = {},
    options: { cause?: unknown; plainBody?: string } = {},
  ) {
    super(message ?? ERROR_CODES[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.errors = errors;
    this.plainBody = options.plainBody;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exitCode;
  }

  toJSON(): { code: ErrorCode; message: string; errors: FieldErrors } {
    return { code: this.code, message: this.message, errors: this.errors };
  }
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}
