/**
 * The bench's sender (bench/traffic/xdpgen.c, built here by its Makefile):
 * a bounded flood of 60-byte IPv4/UDP frames redirected into the veth as
 * xdp_frames, sources taken in turn from a file, pinned to one CPU.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../test/lib/daemon.js';
import { exec } from '../../test/lib/netns.js';
import type { Link } from './topology.js';

const DIR = path.join(REPO_ROOT, 'bench', 'traffic');
export const XDPGEN = path.join(DIR, '.output', 'xdpgen');

/** Builds the sender (incremental make); throws with make's output on a failure. */
export function buildSender(): void {
  const r = spawnSync('make', ['-s', '-C', DIR], { encoding: 'utf8' });
  if (r.status !== 0 || !existsSync(XDPGEN)) throw new Error(`make -C ${DIR} failed: ${r.stderr}${r.stdout}`);
}

export interface SendOptions {
  /** One IPv4 source per line, a power-of-two count (frame k: line k mod count). */
  readonly srcFile: string;
  readonly frames: number;
  /** Upper bound of the flood's duration. */
  readonly seconds: number;
  /** The sender's CPU. */
  readonly cpu: number;
  /** Frames per BPF_PROG_TEST_RUN call (each call costs ~20 ms of set-up and tear-down on 6.x). @default 65536 */
  readonly perCall?: number;
  /** Pause between calls, µs (paces the flood). @default 0 */
  readonly gapUs?: number;
}

export interface Sent {
  readonly frames: number;
  /** The kernel's time in the run loops (the sending itself), and the wall time with each call's set-up. */
  readonly runNs: number;
  readonly wallNs: number;
}

export async function send(link: Link, o: SendOptions): Promise<Sent> {
  const argv = [
    'taskset', '-c', String(o.cpu), XDPGEN,
    '-i', link.sender.ifname, '-m', link.receiver.mac, '-d', link.receiver.ip, '-f', o.srcFile,
    '-c', String(o.frames), '-t', String(o.seconds), '-r', String(o.perCall ?? 65536), '-g', String(o.gapUs ?? 0),
  ];
  const r = await exec(link.sender.ns, argv, { timeoutMs: (o.seconds + 20) * 1000 });
  const m = /^sent (\d+) (\d+) (\d+) \d+$/m.exec(r.stdout);
  if (!m) throw new Error(`xdpgen: unexpected output ${JSON.stringify(r.stdout)} (stderr: ${r.stderr.trim()})`);
  return { frames: Number(m[1]), wallNs: Number(m[2]), runNs: Number(m[3]) };
}
