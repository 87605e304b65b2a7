/**
 * couicctl's three failure classes (spec §9.2) and how each is printed:
 *
 * - usage errors (clap's): `error: <message>` + hint, exit 2 — an
 *   AppError with code `usage` from the shared registry;
 * - setup errors (config/client construction): `Error: <debug repr>`, exit 1;
 * - command errors (CouicCommandError): `Error executing command: <message>`,
 *   exit 1, or the registry's exit code for the API error code (e.g. 75 for
 *   `busy`, 69 for `unavailable`).
 */
import { AppError, ERROR_CODES, type FieldErrors } from '../errors.js';

export function usageError(message: string): AppError {
  return new AppError('usage', message);
}

/** clap's `invalid value 'x' for '<ARG>': reason`. */
export function invalidValue(value: string, arg: string, reason: string): AppError {
  return usageError(`invalid value '${value}' for '${arg}': ${reason}`);
}

/** Text printed for a usage error (stderr). */
export function usageText(message: string): string {
  return `error: ${message}\n\nFor more information, try '--help'.\n`;
}

/** Rust-Debug-like rendering of a string (`"..."` with escapes). */
export function debugString(s: string): string {
  return JSON.stringify(s);
}

/** Errors while loading the config or building the client: `Error: <repr>`. */
export class SetupError extends Error {
  /** e.g. `Config(Validation("socket is required for local mode"))`. */
  readonly repr: string;
  constructor(repr: string, message: string) {
    super(message);
    this.name = 'SetupError';
    this.repr = repr;
  }
}

export function configError(kind: 'Io' | 'Parse' | 'Validation', message: string): SetupError {
  return new SetupError(`Config(${kind}(${debugString(message)}))`, message);
}

export function clientSetupError(message: string): SetupError {
  return new SetupError(`Client(${debugString(message)})`, message);
}

export type CommandErrorKind = 'api' | 'http' | 'generic' | 'serialization' | 'ripe';

export interface ApiErrorDetails {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly errors: FieldErrors;
}

/** An error while executing a command (`Error executing command: …`). */
export class CommandError extends Error {
  readonly kind: CommandErrorKind;
  readonly api: ApiErrorDetails | undefined;

  constructor(kind: CommandErrorKind, message: string, api?: ApiErrorDetails) {
    super(message);
    this.name = 'CommandError';
    this.kind = kind;
    this.api = api;
  }

  static api(details: ApiErrorDetails): CommandError {
    return new CommandError('api', details.message, details);
  }

  /** Couic's Display of the error. */
  describe(): string {
    switch (this.kind) {
      case 'api':
        return formatApiError(this.api as ApiErrorDetails);
      case 'http':
        return `Couic error: HTTP error: ${this.message}`;
      case 'generic':
        return `Generic error: ${this.message}`;
      case 'serialization':
        return `Serialization error: ${this.message}`;
      case 'ripe':
        return `RIPE API error: ${this.message}`;
    }
  }

  get exitCode(): number {
    if (this.kind === 'api' && this.api !== undefined && Object.hasOwn(ERROR_CODES, this.api.code)) {
      return ERROR_CODES[this.api.code as keyof typeof ERROR_CODES].exitCode;
    }
    return 1;
  }
}

export function formatApiError(e: ApiErrorDetails): string {
  let out = `Couic error: API error:\n  Status: ${e.status}\n  Code: ${e.code}\n  Message: ${e.message}`;
  const fields = Object.entries(e.errors);
  if (fields.length > 0) {
    out += '\n  Details:';
    for (const [field, fe] of fields) out += `\n    ${field}: Code: ${fe.code}, Message: ${fe.message}`;
  }
  return out;
}
