/**
 * Runs one command the way couicctl does (spec §9.1–9.2): build the config
 * and the client first (`Error: …`, exit 1), then execute the command
 * (`Error executing command: …`, exit 1). Handlers never throw: the
 * outcome is recorded in process.exitCode so stdout can drain before exit.
 */
import { nowSeconds } from '../domain/clock.js';
import { isAppError } from '../errors.js';
import { loadConfig, resolveEndpoint } from './config.js';
import { CommandError, SetupError, usageText } from './errors.js';
import { CouicClient } from './http.js';

export interface Ctx {
  readonly client: CouicClient;
  /** Prints `text` + newline on stdout. */
  println(text: string): void;
  /** Prints raw text on stdout. */
  print(text: string): void;
  /** Unix seconds now. */
  now(): number;
}

export interface GlobalArgs {
  readonly config?: string | undefined;
}

function print(text: string): void {
  process.stdout.write(text);
}

export const ctxBase = {
  println: (text: string): void => print(`${text}\n`),
  print,
  now: (): number => nowSeconds(),
};

/** Builds the client from the config (throws SetupError). */
export async function buildClient(args: GlobalArgs): Promise<CouicClient> {
  const config = await loadConfig(args.config);
  return new CouicClient(await resolveEndpoint(config));
}

export function reportError(err: unknown): void {
  if (err instanceof SetupError) {
    process.stderr.write(`Error: ${err.repr}\n`);
    process.exitCode = 1;
  } else if (err instanceof CommandError) {
    process.stderr.write(`Error executing command: ${err.describe()}\n`);
    process.exitCode = err.exitCode;
  } else if (isAppError(err) && err.code === 'usage') {
    process.stderr.write(usageText(err.message));
    process.exitCode = 2;
  } else {
    process.stderr.write(`Error executing command: Generic error: ${(err as Error)?.message ?? String(err)}\n`);
    process.exitCode = 1;
  }
}

/** Wraps a command body into a yargs handler. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- yargs infers argument types we narrow ourselves
export type Handler = (args: any) => Promise<void>;

export function command<A>(body: (args: A, ctx: Ctx) => Promise<void>): Handler {
  return async (args: A): Promise<void> => {
    let client: CouicClient;
    try {
      client = await buildClient(args as GlobalArgs);
    } catch (err) {
      reportError(err);
      return;
    }
    try {
      await body(args, { client, ...ctxBase });
    } catch (err) {
      reportError(err);
    }
  };
}
