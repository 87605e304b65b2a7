/**
 * Throwaway system users and groups for the privilege and access tests
 * (useradd/groupadd; removed by `remove()`), and reading /proc/PID/status.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface TestUser {
  readonly name: string;
  readonly uid: number;
  /** Its own group (same name). */
  readonly gid: number;
  /** userdel + groupdel. */
  remove(): void;
}

let seq = 0;

/** A new system user with its own group, no home, no shell; `groups` are extra groups it joins. */
export function createTestUser(prefix: string, opts: { groups?: readonly string[] } = {}): TestUser {
  seq += 1;
  // useradd allows 32 characters.
  const name = `${prefix}${process.pid % 100000}${seq}`.slice(0, 32);
  const args = ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', '--user-group'];
  if (opts.groups !== undefined && opts.groups.length > 0) args.push('--groups', opts.groups.join(','));
  execFileSync('useradd', [...args, name]);
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
  return {
    name,
    uid,
    gid,
    remove(): void {
      spawnSync('userdel', [name]);
      spawnSync('groupdel', [name]);
    },
  };
}

/** useradd, setpriv and runuser are there and we are root. */
export const usersSkip: string | false =
  process.getuid?.() !== 0 || ['useradd', 'setpriv', 'runuser'].some((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0)
    ? 'needs root, useradd, setpriv and runuser'
    : false;

export interface ProcStatus {
  readonly uid: readonly number[];
  readonly gid: readonly number[];
  readonly groups: readonly number[];
  readonly capEff: bigint;
  readonly capPrm: bigint;
  readonly capInh: bigint;
  readonly capAmb: bigint;
  readonly capBnd: bigint;
}

export function procStatus(pid: number): ProcStatus {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): string => {
    const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'mu').exec(text);
    if (m === null || m[1] === undefined) throw new Error(`no ${name} in /proc/${pid}/status`);
    return m[1].trim();
  };
  const nums = (name: string): number[] => field(name).split(/\s+/u).filter((x) => x !== '').map(Number);
  const caps = (name: string): bigint => BigInt(`0x${field(name)}`);
  return {
    uid: nums('Uid'),
    gid: nums('Gid'),
    groups: nums('Groups'),
    capEff: caps('CapEff'),
    capPrm: caps('CapPrm'),
    capInh: caps('CapInh'),
    capAmb: caps('CapAmb'),
    capBnd: caps('CapBnd'),
  };
}

/** pids of `pid`'s children (/proc/PID/task/PID/children). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/u).filter((x) => x !== '').map(Number);
  } catch {
    return [];
  }
}

/** The executable's name of `pid` (/proc/PID/comm), or undefined once it is gone. */
export function procName(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function alive(pid: number): boolean {
  // A zombie is gone for our purpose.
  try {
    return !/^State:\s*Z/mu.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}
