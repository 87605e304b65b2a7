/**
 * The traffic bench's wiring: one sender namespace and one receiver
 * namespace per receiving backend, joined by a veth pair (IPv4 only, IPv6
 * off so no stray ND/MLD frame moves a counter). The receiver's veth has GRO
 * on (so it always has a NAPI instance: frames redirected into it as
 * xdp_frames are accepted whether or not an XDP program is attached) and
 * threaded NAPI, whose kthread (`napi/<ifname>-<id>`) the bench pins to one
 * core and reads the CPU time of. Nothing here touches the host's own
 * interfaces or tables.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { exec, randSuffix, run } from '../../test/lib/netns.js';

export interface Side {
  readonly ns: string;
  readonly ifname: string;
  readonly mac: string;
  readonly ip: string;
}

export interface Link {
  readonly sender: Side;
  readonly receiver: Side;
  /** Deletes both namespaces (and the veth pair). Idempotent. */
  teardown(): Promise<void>;
}

const SENDER_IP = '198.18.0.1';
const RECEIVER_IP = '198.18.0.2';

/** A sender → receiver pair; on a failure half-way everything created is removed. */
export async function createLink(): Promise<Link> {
  // short names: the NAPI kthread's comm (15 chars) must still hold "napi/<ifname>-"
  const id = randSuffix(3);
  const nsS = `tb-${id}-s`;
  const nsR = `tb-${id}-r`;
  const ifS = `ts${id}`;
  const ifR = `tr${id}`;
  let torn = false;
  const teardown = async (): Promise<void> => {
    if (torn) return;
    torn = true;
    for (const ns of [nsS, nsR]) await run(['ip', 'netns', 'del', ns], { allowFail: true });
  };
  try {
    for (const ns of [nsS, nsR]) {
      await run(['ip', 'netns', 'add', ns]);
      await exec(ns, ['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
      await exec(ns, ['ip', 'link', 'set', 'lo', 'up']);
    }
    await run(['ip', 'link', 'add', ifS, 'netns', nsS, 'type', 'veth', 'peer', 'name', ifR, 'netns', nsR]);
    await exec(nsS, ['ip', 'addr', 'add', `${SENDER_IP}/24`, 'dev', ifS]);
    await exec(nsR, ['ip', 'addr', 'add', `${RECEIVER_IP}/24`, 'dev', ifR]);
    // sources are random public addresses: no reverse-path check on them
    await exec(nsR, ['sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0', `net.ipv4.conf.${ifR}.rp_filter=0`]);
    await exec(nsR, ['ethtool', '-K', ifR, 'gro', 'on']);
    for (const [ns, ifname] of [[nsS, ifS], [nsR, ifR]] as const) await exec(ns, ['ip', 'link', 'set', ifname, 'up']);
    await exec(nsR, ['sh', '-c', `echo 1 > /sys/class/net/${ifR}/threaded`]);
    const mac = async (ns: string, ifname: string): Promise<string> => (await exec(ns, ['cat', `/sys/class/net/${ifname}/address`])).stdout.trim();
    return {
      sender: { ns: nsS, ifname: ifS, mac: await mac(nsS, ifS), ip: SENDER_IP },
      receiver: { ns: nsR, ifname: ifR, mac: await mac(nsR, ifR), ip: RECEIVER_IP },
      teardown,
    };
  } catch (err) {
    await teardown();
    throw err;
  }
}

/** PIDs of the NAPI kthreads of `ifname` (threaded NAPI). */
export function napiThreads(ifname: string): number[] {
  const want = `napi/${ifname}-`.slice(0, 15);
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let comm: string;
    try {
      comm = readFileSync(`/proc/${d}/comm`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    if (comm.startsWith(want)) out.push(Number(d));
  }
  return out;
}

export interface SchedTimes {
  /** Nanoseconds the tasks ran on a CPU so far. */
  readonly runNs: number;
  /** Nanoseconds they were runnable but waited for their CPU (another task had it). */
  readonly waitNs: number;
}

/** /proc/PID/schedstat, fields 1 and 2, summed over the tasks. */
export function schedTimes(pids: readonly number[]): SchedTimes {
  let runNs = 0;
  let waitNs = 0;
  for (const p of pids) {
    const [run = '0', wait = '0'] = readFileSync(`/proc/${p}/schedstat`, 'utf8').split(' ');
    runNs += Number(run);
    waitNs += Number(wait);
  }
  return { runNs, waitNs };
}

/** Pins the tasks to one CPU. */
export async function pinTo(pids: readonly number[], cpu: number): Promise<void> {
  for (const p of pids) await run(['taskset', '-pc', String(cpu), String(p)]);
}

export interface XmitStats {
  /** Frames the sender's veth put into the receiver's ring. */
  readonly xmit: number;
  /** Frames it could not (ring full: the receiver did not keep up). */
  readonly errors: number;
}

/** The sender veth's XDP transmit counters (`ethtool -S`). */
export async function xmitStats(link: Link): Promise<XmitStats> {
  const r = await exec(link.sender.ns, ['ethtool', '-S', link.sender.ifname]);
  const get = (name: string): number => {
    const m = new RegExp(`^\\s*${name}:\\s*(\\d+)`, 'm').exec(r.stdout);
    if (!m) throw new Error(`ethtool -S ${link.sender.ifname}: no ${name}`);
    return Number(m[1]);
  };
  return { xmit: get('tx_queue_0_xdp_xmit'), errors: get('tx_queue_0_xdp_xmit_errors') };
}
