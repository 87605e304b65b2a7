/**
 * The privilege split (docs/deploy.md, "Who holds what"): under
 * couic-launcher the daemon — the process that parses every request — runs
 * as couic.toml's `user`/`group` with no capability; only couic-helper,
 * started by the launcher, holds CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON.
 *
 * `enter()` runs once, before the working dir's setup and anything else:
 *   - started as root (the launcher runs as root): hands the state and the
 *     socket's directory to user:group, then setgroups/setgid/setuid — the
 *     kernel clears every capability at the uid change (supplementary groups:
 *     `group` only);
 *   - started as another user (systemd User= with AmbientCapabilities= on the
 *     launcher, which cleared the daemon's): checks that this is the
 *     configured user/group.
 * Either way it then checks /proc/self/status: CapEff and CapPrm must be 0.
 */
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { LauncherChannel } from '../xdp/launcher.js';
import type { Config } from './config.js';

export interface PrivilegeSplit {
  /** The launcher's control channel: couic-helper is started through it. */
  readonly launcher: LauncherChannel;
  /**
   * Drops, verifies that no capability is left, then runs `setup` (the
   * working dir) as the user. As root it first hands the working dir, the
   * daemon's files and the socket's directory to user:group; as another user
   * it checks that it is the configured one.
   */
  enter(owner: { readonly uid: number; readonly gid: number }, setup: () => Promise<void>): Promise<void>;
}

/**
 * The files the daemon owns (Couic: "owner of the files the daemon creates"),
 * handed to user:group before the drop with everything under them: a daemon
 * that ran as root before left them root's, and the user could not read them.
 */
const STATE_DIRS = ['journal', 'fleet', 'rbac/clients', 'sets/drop', 'sets/ignore'] as const;

/** A capability set line (CapEff, CapPrm ...) of /proc/self/status as a bigint. */
export function capSet(statusText: string, name: string): bigint {
  const m = new RegExp(`^${name}:\\s*([0-9a-fA-F]+)\\s*$`, 'mu').exec(statusText);
  if (m === null || m[1] === undefined) throw new Error(`${name} not found in /proc/self/status`);
  return BigInt(`0x${m[1]}`);
}

export function privilegeSplit(opts: { config: Config; launcher: LauncherChannel; logger: Logger }): PrivilegeSplit {
  const { config, launcher } = opts;
  const log = opts.logger.child({ module: 'privilege' });
  return {
    launcher,
    async enter(owner, setup): Promise<void> {
      const me = process.getuid?.() ?? 0;
      if (me === 0 && owner.uid === 0) {
        await setup();
        log.warn({ user: config.user }, 'couic.toml\'s user is root: the daemon keeps root\'s capabilities (set user and group to an unprivileged account)');
        return;
      }
      if (me === 0) {
        // Setup runs after the drop: as root without CAP_DAC_OVERRIDE (the
        // image) nothing could be created in a directory already handed over.
        await handOver(config, owner);
        const { setgroups, setgid, setuid } = process;
        if (setgroups === undefined || setgid === undefined || setuid === undefined) throw new Error('this platform cannot change the uid');
        // The configured group only: no supplementary group of root's survives.
        setgroups([owner.gid]);
        setgid(owner.gid);
        setuid(owner.uid);
      } else if (me !== owner.uid || process.getgid?.() !== owner.gid) {
        throw new Error(
          `user = "${config.user}" and group = "${config.group}" in couic.toml, but couic-launcher runs the daemon as uid ${me} gid ${process.getgid?.()}: run the launcher as root or as that user (User=/Group= of the unit)`,
        );
      }
      const status = await fsp.readFile('/proc/self/status', 'utf8');
      const eff = capSet(status, 'CapEff');
      const prm = capSet(status, 'CapPrm');
      if (eff !== 0n || prm !== 0n) {
        throw new Error(`the daemon still holds capabilities after dropping to ${config.user} (CapEff ${eff.toString(16)}, CapPrm ${prm.toString(16)})`);
      }
      log.info({ user: config.user, group: config.group, uid: owner.uid, gid: owner.gid }, 'running without privilege: couic-helper is started by couic-launcher');
      await setup();
    },
  };
}

/**
 * Root-only setup: the working dir (created 0755 user:group when missing),
 * the socket's directory (created 0755 user:group when
 * missing, handed to user:group when it holds nothing but couic's socket
 * files; else it must be writable by the user, who creates the socket), the
 * working dir and the daemon's state files owned by user:group.
 */
async function handOver(config: Config, owner: { uid: number; gid: number }): Promise<void> {
  const sockDir = dirname(config.server.socket);
  try {
    const st = await fsp.stat(sockDir);
    const writable =
      (st.uid === owner.uid && (st.mode & 0o300) === 0o300) ||
      (st.gid === owner.gid && (st.mode & 0o030) === 0o030) ||
      (st.mode & 0o003) === 0o003;
    if (!writable) {
      // A directory holding nothing but couic's own socket files is couic's
      // (a fresh volume, /run/couic made by root); anything else is not ours to chown.
      const names = await fsp.readdir(sockDir);
      const ours = names.every((n) => n === basename(config.server.socket) || n.startsWith('.couic-helper-'));
      if (!ours) {
        throw new Error(`the socket's directory ${sockDir} is not writable by ${config.user}, who creates the socket after the drop: chown it to ${config.user}:${config.group} or let couic create it`);
      }
      await fsp.chown(sockDir, owner.uid, owner.gid);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await fsp.mkdir(sockDir, { recursive: true, mode: 0o755 });
    await fsp.chown(sockDir, owner.uid, owner.gid);
  }
  const root = config.workingDir;
  await fsp.mkdir(root, { recursive: true, mode: 0o755 });
  await chownIfNeeded(root, owner);
  for (const d of ['rbac', 'sets']) await chownIfNeeded(join(root, d), owner);
  for (const d of STATE_DIRS) await chownTree(join(root, d), owner);
}

async function chownTree(dir: string, owner: { uid: number; gid: number }): Promise<void> {
  await chownIfNeeded(dir, owner);
  let entries;
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
    throw err;
  }
  for (const e of entries) {
    if (e.isDirectory()) await chownTree(join(dir, e.name), owner);
    else await chownIfNeeded(join(dir, e.name), owner);
  }
}

async function chownIfNeeded(p: string, owner: { uid: number; gid: number }): Promise<void> {
  try {
    const st = await fsp.lstat(p);
    if (st.isSymbolicLink()) return;
    if (st.uid !== owner.uid || st.gid !== owner.gid) await fsp.chown(p, owner.uid, owner.gid);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
