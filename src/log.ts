/**
 * Logging: pino, one root logger per process and a child per module
 * (`{"module":"entries",...}`). Lines go to stdout as JSON, or as readable
 * text (src/log-text.ts) on a terminal and in the journal, and, when
 * `[logging] dir` is in use, to the log files (src/log-files.ts) as text or
 * JSON (`[logging] format`).
 */
import { fstatSync } from 'node:fs';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import type { LogFileStream } from './log-files.js';
import { textLine, type TextStyle } from './log-text.js';

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

/** Async mode: lines are written once this many bytes are buffered ... */
const LOG_BUFFER_BYTES = 8192;
/** ... or after this long (ms), whichever comes first. */
const LOG_FLUSH_MS = 200;

export interface RootLoggerOptions {
  readonly level: LogLevel;
  /**
   * Buffered asynchronous writes: a line waits for 8 KiB of others or
   * 200 ms (one write per ~40 lines under a ban flood instead of one
   * thread-pool write per ban), and everything buffered is written at
   * process exit. A kill -9 can lose the last 200 ms of lines (never
   * state: that is the journal's). @default true
   */
  readonly async?: boolean;
  /** File descriptor to write to. @default 1 (stdout) */
  readonly fd?: number;
  /** How lines look on that descriptor (stdoutStyle() chooses). @default 'json' */
  readonly style?: StdoutStyle;
  /** The log files, and whether they get text or JSON lines. */
  readonly files?: { readonly stream: LogFileStream; readonly format: 'text' | 'json' };
}

export type StdoutStyle = 'json' | TextStyle;

/**
 * Readable text on a terminal (the foreground start), the journal's form
 * when stdout is the journal's stream (systemd sets JOURNAL_STREAM to its
 * device:inode), JSON lines otherwise (pipes, containers, log shippers).
 */
export function stdoutStyle(env: NodeJS.ProcessEnv = process.env, fd = 1): StdoutStyle {
  if (process.stdout.isTTY === true && fd === 1) return 'text';
  const journal = env['JOURNAL_STREAM'];
  if (journal !== undefined && journal !== '') {
    try {
      const st = fstatSync(fd);
      if (journal === `${st.dev}:${st.ino}`) return 'journal';
    } catch {
      /* not a descriptor we can stat: not the journal */
    }
  }
  return 'json';
}

/** A multistream target that rewrites each JSON line as text before writing it. */
function asText(dest: { write(s: string): unknown }, style: TextStyle): { write(s: string): void } {
  return { write: (s: string): void => void dest.write(textLine(s, style)) };
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
  const sync = opts.async === false;
  const dest = pino.destination(
    sync ? { fd: opts.fd ?? 1, sync } : { fd: opts.fd ?? 1, sync, minLength: LOG_BUFFER_BYTES, periodicFlush: LOG_FLUSH_MS },
  );
  const style = opts.style ?? 'json';
  const files = opts.files;
  let target: pino.DestinationStream = dest;
  if (style !== 'json' || files !== undefined) {
    // every stream takes every level the logger lets through
    const level = opts.level === 'silent' ? 'fatal' : opts.level;
    const streams: pino.StreamEntry[] = [{ level, stream: style === 'json' ? dest : asText(dest, style) }];
    if (files !== undefined) {
      const stream = files.format === 'json' ? files.stream : asText(files.stream, 'text');
      streams.push({ level, stream: stream as pino.DestinationStream });
    }
    target = pino.multistream(streams);
  }
  const logger = pino(
    {
      level: opts.level,
      base: { name: 'couic', pid: process.pid },
      timestamp: isoTimeCached,
    },
    target,
  );
  const flush = (): void => {
    for (const d of [dest, files?.stream]) {
      try {
        d?.flushSync();
      } catch {
        /* not ready / closed: nothing to flush */
      }
    }
  };
  // Every process.exit (a fatal error in the core included) writes what is buffered.
  if (!sync) process.once('exit', flush);
  return { logger, flush };
}

/** A logger that discards everything (tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
