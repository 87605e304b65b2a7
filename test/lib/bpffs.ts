/**
 * A mount namespace of its own with a fresh bpffs on /sys/fs/bpf, kept
 * alive by a bind mount of /proc/<pid>/ns/mnt (as `ip netns` keeps network
 * namespaces), so a daemon run in it with the DEFAULT config pins in
 * /sys/fs/bpf/couic without ever meeting the host's pins or another test's:
 * each mount of bpffs is a new instance. Processes join it with
 * `nsenter --mount=<file>` (`wrapper`); `teardown()` unmounts that bpffs,
 * which releases every pin in it (and detaches a pinned XDP link).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './netns.js';

export interface PrivateBpffs {
  /** The bind-mounted namespace file, for `nsenter --mount=`. */
  readonly nsFile: string;
  /** Runs argv inside the mount namespace. */
  exec(argv: readonly string[]): ReturnType<typeof run>;
  teardown(): Promise<void>;
}

export async function privateBpffs(): Promise<PrivateBpffs> {
  const dir = mkdtempSync(join(tmpdir(), 'couic-mntns-'));
  const nsFile = join(dir, 'mnt');
  let bound = false;
  let made = false;
  const teardown = async (): Promise<void> => {
    if (made) await run(['nsenter', `--mount=${nsFile}`, 'umount', '-l', '/sys/fs/bpf'], { allowFail: true });
    if (made) await run(['umount', nsFile], { allowFail: true });
    if (bound) await run(['umount', dir], { allowFail: true });
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // A namespace file must sit on a mount that is not shared (else the bind is refused).
    await run(['mount', '--bind', dir, dir]);
    bound = true;
    await run(['mount', '--make-private', dir]);
    mkdirSync(dir, { recursive: true });
    writeFileSync(nsFile, '');
    await run(['unshare', `--mount=${nsFile}`, '--propagation', 'private', 'mount', '-t', 'bpf', 'bpf', '/sys/fs/bpf']);
    made = true;
  } catch (err) {
    await teardown();
    throw err;
  }
  return {
    nsFile,
    exec: (argv) => run(['nsenter', `--mount=${nsFile}`, ...argv], { allowFail: true }),
    teardown,
  };
}
