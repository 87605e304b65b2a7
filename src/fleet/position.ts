/**
 * Where this host is in the bucket's stream, in `<working_dir>/fleet/position.json`:
 * the stream it followed (its creation time: a bucket made again is another
 * stream), the last revision applied (committed in the core), and the
 * fleet-wide deletes it knows (CIDR claim key -> time), which a resumed
 * watch does not deliver again. Written whole (temp file + rename) a second
 * after a change and at stop. Applying is idempotent, so a position older
 * than the journal (a crash in between) only replays changes; a missing or
 * unreadable one means a full resync.
 */
import { promises as fsp, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Position {
  readonly stream: string;
  readonly revision: number;
  readonly revoked: ReadonlyMap<string, number>;
}

export const NO_POSITION: Position = { stream: '', revision: 0, revoked: new Map() };

function fileOf(dir: string): string {
  return join(dir, 'position.json');
}

export function readPosition(dir: string): Position {
  let o: unknown;
  try {
    o = JSON.parse(readFileSync(fileOf(dir), 'utf8'));
  } catch {
    return NO_POSITION;
  }
  if (typeof o !== 'object' || o === null) return NO_POSITION;
  const { stream, revision, revoked } = o as Record<string, unknown>;
  if (typeof stream !== 'string' || typeof revision !== 'number' || !Number.isInteger(revision) || revision < 0) return NO_POSITION;
  const r = new Map<string, number>();
  if (Array.isArray(revoked)) {
    for (const x of revoked) if (Array.isArray(x) && typeof x[0] === 'string' && typeof x[1] === 'number') r.set(x[0], x[1]);
  }
  return { stream, revision, revoked: r };
}

function text(p: Position): string {
  return JSON.stringify({ stream: p.stream, revision: p.revision, revoked: [...p.revoked] });
}

export async function writePosition(dir: string, p: Position): Promise<void> {
  const tmp = `${fileOf(dir)}.tmp`;
  await fsp.writeFile(tmp, text(p), { mode: 0o600 });
  await fsp.rename(tmp, fileOf(dir));
}

export function writePositionSync(dir: string, p: Position): void {
  const tmp = `${fileOf(dir)}.tmp`;
  writeFileSync(tmp, text(p), { mode: 0o600 });
  renameSync(tmp, fileOf(dir));
}
