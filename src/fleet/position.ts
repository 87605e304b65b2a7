/**
 * Where this host is in the bucket's stream, in `<working_dir>/fleet/position.json`:
 * the stream it followed (its creation time: a bucket made again is another
 * stream) and the last revision applied (committed in the core). Written whole (temp file + rename) a second
 * after a change and at stop. Applying is idempotent, so a position older
 * than the journal (a crash in between) only replays changes; a missing or
 * unreadable one means a full resync.
 */
import { promises as fsp, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Position {
  readonly stream: string;
  readonly revision: number;
}

export const NO_POSITION: Position = { stream: '', revision: 0 };

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
  const { stream, revision } = o as Record<string, unknown>;
  if (typeof stream !== 'string' || typeof revision !== 'number' || !Number.isInteger(revision) || revision < 0) return NO_POSITION;
  return { stream, revision };
}

function text(p: Position): string {
  return JSON.stringify({ stream: p.stream, revision: p.revision });
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
