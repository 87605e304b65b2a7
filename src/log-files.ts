/**
 * The daemon's log files (`[logging] dir`, `rotation`, `max_log_files`),
 * written by pino-roll (rotation and retention are its job, not ours):
 *
 *   rotation = "daily"   couic.<yyyy-MM-dd>.<n>.log, a new file at local midnight
 *   rotation = "weekly"  couic.<yyyy-MM-dd>.<n>.log, a new file every 7 days
 *                        (pino-roll's fixed period: weeks counted from the Unix
 *                        epoch, a Thursday), and at each start
 *   rotation = "never"   couic.<n>.log, one file
 *
 * `<n>` continues from the files already there. At each rotation the oldest
 * files beyond `max_log_files` (the current one included) are removed;
 * 0 keeps them all. Lines reach the file within 200 ms (buffered like
 * stdout's), and at exit.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import pinoRoll from 'pino-roll';

export type Rotation = 'daily' | 'weekly' | 'never';

export interface LogFilesOptions {
  readonly dir: string;
  readonly rotation: Rotation;
  readonly maxFiles: number;
}

/** What the logger needs of the file stream (a SonicBoom). */
export interface LogFileStream {
  write(line: string): boolean;
  flushSync(): void;
  end(): void;
  on(event: 'error', listener: (err: Error) => void): unknown;
  readonly file: string;
}

const WEEK_MS = 7 * 86_400_000;
/** Lines are written once this many bytes are buffered ... */
const BUFFER_BYTES = 4096;
/** ... or after this long (ms). */
const FLUSH_MS = 200;

/** Opens the current log file in `dir` (created if missing); rejects when it cannot be written. */
export async function openLogFiles(opts: LogFilesOptions): Promise<LogFileStream> {
  mkdirSync(opts.dir, { recursive: true, mode: 0o750 });
  const stream = (await pinoRoll({
    file: path.join(opts.dir, 'couic'),
    extension: '.log',
    ...(opts.rotation === 'never' ? {} : { frequency: opts.rotation === 'daily' ? 'daily' : WEEK_MS, dateFormat: 'yyyy-MM-dd' }),
    ...(opts.maxFiles > 0 ? { limit: { count: opts.maxFiles, removeOtherLogFiles: true } } : {}),
    mkdir: true,
    // Synchronous opens: at a rotation the new file exists before pino-roll
    // counts the files, so exactly max_log_files are kept (with asynchronous
    // opens the count races the open). Writes are batched all the same:
    // lines wait in memory for BUFFER_BYTES or FLUSH_MS, as on stdout.
    sync: true,
    minLength: BUFFER_BYTES,
  })) as unknown as LogFileStream & { flush(): void };
  const timer = setInterval(() => {
    try {
      stream.flush();
    } catch {
      /* reported by the stream's 'error' event */
    }
  }, FLUSH_MS);
  timer.unref();
  return stream;
}
