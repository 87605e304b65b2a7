/**
 * Logging: pino JSON lines on stdout, one root logger per process and a
 * child per module (`{"module":"entries",...}`).
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = LevelWithSilent;

/**
 * Maps a level name (ours, pino's, or a RUST_LOG-style one such as
 * "warning" / "off") to a pino level; undefined when unknown.
 */
export function normalizeLevel(text: string): LogLevel | undefined {
  const t = text.trim().toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(t)) return t as LogLevel;
  if (t === 'warning') return 'warn';
  if (t === 'off' || t === 'none') return 'silent';
  if (t === 'critical') return 'fatal';
  return undefined;
}

export interface RootLoggerOptions {
  readonly level: LogLevel;
  /** Buffered asynchronous writes (flushed on shutdown). @default true */
  readonly async?: boolean;
  /** File descriptor to write to. @default 1 (stdout) */
  readonly fd?: number;
}

export interface RootLogger {
  readonly logger: Logger;
  /** Writes what is buffered (call before exit). */
  flush(): void;
}

let lastMs = -1;
let lastTime = '';

/**
 * pino's isoTime, formatted once per millisecond: under a ban flood many
 * lines share one, and toISOString() showed in the daemon's profiles.
 */
export function isoTimeCached(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

export function createRootLogger(opts: RootLoggerOptions): RootLogger {
  const dest = pino.destination({ fd: opts.fd ?? 1, sync: opts.async === false });
  const logger = pino(
    {
      level: opts.level,
      base: { name: 'couic', pid: process.pid },
      timestamp: isoTimeCached,
    },
    dest,
  );
  return {
    logger,
    flush(): void {
      try {
        dest.flushSync();
      } catch {
        /* not ready / closed: nothing to flush */
      }
    },
  };
}

/** A logger that discards everything (tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
