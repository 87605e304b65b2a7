/**
 * The fleet's own durable facts, which the core's state cannot tell (in
 * `<working_dir>/fleet/ledger.log`, one JSON object a line):
 *
 *   {"a": key, "c": creation}   the entry of `key` was created through the
 *                               Couic entry routes (shared, unlike a peer
 *                               entry, which looks the same in the state)
 *   {"u": key}                  ... and is gone
 *   {"r": key, "t": at}         this host's operator deleted `key` at `at`:
 *                               a fleet-wide delete still to publish
 *   {"p": key, "t": at}         ... published
 *
 * `key` is a claim key (core/state/claims.ts claimKey: the CIDR text, an
 * ignore CIDR's behind '^'). Appends are written and fdatasync'd before the
 * API request that caused them is answered (fleet.ts flushes them in the
 * commit's microtask), so an acknowledged delete is never lost by a crash:
 * it is published on the next connection. Bans (`/v1/bans`) need no line:
 * their claims are in the core's journal. A torn last line is skipped; the
 * file is rewritten whole (compacted) at start and when it grows.
 */
import { closeSync, fdatasyncSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Lines appended since the last rewrite past which the file is rewritten. */
const COMPACT_AFTER = 10_000;

export class Ledger {
  readonly #dir: string;
  readonly #path: string;
  /** key -> creation of the API entry. */
  readonly api = new Map<string, number>();
  /** key -> time of the delete, not yet published. */
  readonly revokes = new Map<string, number>();
  #fd: number;
  #pending: string[] = [];
  #appended = 0;

  private constructor(dir: string) {
    this.#dir = dir;
    this.#path = join(dir, 'ledger.log');
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    let text = '';
    try {
      text = readFileSync(this.#path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const line of text.split('\n')) this.#replay(line);
    this.#fd = -1;
    this.#rewrite();
  }

  /** Opens (or creates) the ledger in `dir`; throws on an I/O error. */
  static open(dir: string): Ledger {
    return new Ledger(dir);
  }

  #replay(line: string): void {
    if (line === '') return;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return; // a torn last line
    }
    const { a, c, u, r, p, t } = o;
    if (typeof a === 'string' && typeof c === 'number') this.api.set(a, c);
    else if (typeof u === 'string') this.api.delete(u);
    else if (typeof r === 'string' && typeof t === 'number') this.revokes.set(r, t);
    else if (typeof p === 'string' && typeof t === 'number' && this.revokes.get(p) === t) this.revokes.delete(p);
  }

  /** Writes the state to a new file and swaps it in (fsync'd); reopens for appends. */
  #rewrite(): void {
    const lines: string[] = [];
    for (const [a, c] of this.api) lines.push(JSON.stringify({ a, c }));
    for (const [r, t] of this.revokes) lines.push(JSON.stringify({ r, t }));
    const tmp = `${this.#path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      if (lines.length > 0) writeSync(fd, `${lines.join('\n')}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.#path);
    const dfd = openSync(this.#dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = openSync(this.#path, 'a', 0o600);
    this.#appended = 0;
  }

  #append(o: object): void {
    this.#pending.push(JSON.stringify(o));
  }

  markApi(key: string, creation: number): void {
    this.api.set(key, creation);
    this.#append({ a: key, c: creation });
  }

  unmarkApi(key: string): void {
    if (!this.api.delete(key)) return;
    this.#append({ u: key });
  }

  revoke(key: string, at: number): void {
    this.revokes.set(key, at);
    this.#append({ r: key, t: at });
  }

  /** The revocation of `key` at `at` is in the bucket (a newer one stays pending). */
  published(key: string, at: number): void {
    if (this.revokes.get(key) !== at) return;
    this.revokes.delete(key);
    this.#append({ p: key, t: at });
  }

  /** Lines not yet written. */
  get dirty(): boolean {
    return this.#pending.length > 0;
  }

  /** Writes and fdatasyncs the pending lines (synchronously: see the file's comment). */
  flush(): void {
    if (this.#pending.length === 0) return;
    const text = `${this.#pending.join('\n')}\n`;
    this.#appended += this.#pending.length;
    this.#pending = [];
    if (this.#appended > COMPACT_AFTER && this.#appended > 2 * (this.api.size + this.revokes.size)) {
      this.#rewrite();
      return;
    }
    writeSync(this.#fd, text);
    fdatasyncSync(this.#fd);
  }

  close(): void {
    this.flush();
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }
}
