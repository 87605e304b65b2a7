/**
 * Whether the maps and links can be pinned (`[dataplane] pin_dir`), decided
 * once at start. Pinned, the XDP program and its maps outlive the daemon and
 * the helper: a crash or restart keeps dropping what was banned (fail
 * closed) and start reconciles the pins with the journal. Not pinned, the
 * helper detaches when the daemon goes away, and traffic passes until the
 * journal is replayed.
 *
 * Pinning needs a bpffs mount at (or above) the pin dir that the daemon's
 * user may write. The default (`/sys/fs/bpf/couic`) degrades to no pinning,
 * with a warning saying why, where that is not so (a container without
 * /sys/fs/bpf, a host without bpffs mounted); a pin dir set to anything else
 * that cannot be used is a startup error naming the key.
 */
import { constants as fsc, promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';

import { keyDef } from './config-keys.js';

/** statfs(2) f_type of bpffs (linux/magic.h BPF_FS_MAGIC). */
const BPF_FS_MAGIC = 0xcafe4a11;

const KEY = 'dataplane.pin_dir';

/** Why `dir` cannot hold pins, or undefined when it can. */
export async function pinUnavailable(dir: string): Promise<string | undefined> {
  let at = dir;
  for (;;) {
    try {
      await fsp.stat(at);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(at) === at) return `${at}: ${(err as Error).message}`;
      at = dirname(at);
    }
  }
  const st = await fsp.statfs(at);
  if (st.type !== BPF_FS_MAGIC) return `${at} is not on a bpffs (mount -t bpf bpf /sys/fs/bpf)`;
  try {
    await fsp.access(at, at === dir ? fsc.W_OK | fsc.X_OK : fsc.W_OK);
  } catch {
    return `${at} is not writable by this process (uid ${process.getuid?.() ?? '?'})`;
  }
  return undefined;
}

/** The pin dir the helper gets (undefined = no pinning), after saying at start what it will be. */
export async function resolvePinDir(pinDir: string, log: Logger): Promise<string | undefined> {
  if (pinDir === '') {
    log.warn({ key: KEY }, `pinning is off (${KEY} = ""): when couic stops or crashes, XDP is detached and traffic passes until the next start has replayed the journal`);
    return undefined;
  }
  const why = await pinUnavailable(pinDir);
  if (why === undefined) {
    log.info({ pinDir }, 'pinning maps and links: a restart or crash keeps dropping what is banned');
    return pinDir;
  }
  if (pinDir !== keyDef(KEY, 'string').default) {
    throw new Error(`${KEY} = ${JSON.stringify(pinDir)}: cannot pin there: ${why}`);
  }
  log.warn({ pinDir, reason: why }, `pinning unavailable (${why}): when couic stops or crashes, XDP is detached and traffic passes until the next start has replayed the journal`);
  return undefined;
}
