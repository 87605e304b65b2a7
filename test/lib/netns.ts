/**
 * Network namespaces for data-path tests: a sender and a receiver namespace
 * joined by a veth pair, with IPv4 (198.18.0.0/24, RFC 2544 benchmarking
 * range) and IPv6 (fd00:d9:1::/64, ULA) addresses, extra source addresses on
 * the sender (to ban some and not others), static neighbour entries both ways
 * (no ARP/ND in the way of a drop test) and DAD off. Every traffic helper
 * runs inside the namespaces via `ip netns exec`; nothing here touches the
 * host's interfaces. Names are `dp-<random>-s` / `dp-<random>-r`.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface ExecResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Killed (SIGKILL) after this long. @default 15000 */
  readonly timeoutMs?: number;
  readonly input?: string;
  /** Do not throw on a nonzero exit. */
  readonly allowFail?: boolean;
}

/** Runs argv (no shell); throws on a nonzero exit unless `allowFail`. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new Error('run: empty argv'));
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 15000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const res = { code, signal, stdout, stderr };
      if (code !== 0 && !opts.allowFail) {
        reject(new Error(`${argv.join(' ')} → ${code ?? signal}: ${stderr.trim()}`));
      } else {
        resolve(res);
      }
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs argv inside namespace `ns`. */
export function exec(ns: string, argv: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
  return run(['ip', 'netns', 'exec', ns, ...argv], opts);
}

/** Random lowercase hex suffix for namespace and pin names. */
export function randSuffix(bytes = 3): string {
  return randomBytes(bytes).toString('hex');
}

export interface NetnsPairOptions {
  /** Extra IPv4/IPv6 source addresses on the sender side. @default 3 */
  readonly extraSources?: number;
  /** Namespace name prefix. @default 'dp' */
  readonly prefix?: string;
}

export interface Endpoint {
  readonly ns: string;
  readonly ifname: string;
  readonly mac: string;
  readonly v4: string;
  readonly v6: string;
}

export interface NetnsPair {
  readonly sender: Endpoint;
  readonly receiver: Endpoint;
  /** Extra sender-side sources: 198.18.0.10, .11, …  */
  readonly extraV4: readonly string[];
  /** Extra sender-side sources: fd00:d9:1::10, ::11, … */
  readonly extraV6: readonly string[];
  /** Deletes both namespaces (and with them the veth pair). Idempotent. */
  teardown(): Promise<void>;
}

export const V4_PREFIX = '198.18.0';
export const V6_PREFIX = 'fd00:d9:1:';

/** Creates the namespace pair; on a failure half-way everything created is removed. */
export async function createPair(opts: NetnsPairOptions = {}): Promise<NetnsPair> {
  const id = randSuffix();
  const prefix = opts.prefix ?? 'dp';
  const nsS = `${prefix}-${id}-s`;
  const nsR = `${prefix}-${id}-r`;
  const ifS = 'veth-s';
  const ifR = 'veth-r';
  const nExtra = opts.extraSources ?? 3;
  const extraV4 = Array.from({ length: nExtra }, (_, i) => `${V4_PREFIX}.${10 + i}`);
  const extraV6 = Array.from({ length: nExtra }, (_, i) => `${V6_PREFIX}:${(0x10 + i).toString(16)}`);
  let torn = false;
  const teardown = async (): Promise<void> => {
    if (torn) return;
    torn = true;
    for (const ns of [nsS, nsR]) await run(['ip', 'netns', 'del', ns], { allowFail: true });
  };
  try {
    await run(['ip', 'netns', 'add', nsS]);
    await run(['ip', 'netns', 'add', nsR]);
    // created directly inside the namespaces: never exists in the host's
    await run(['ip', 'link', 'add', ifS, 'netns', nsS, 'type', 'veth', 'peer', 'name', ifR, 'netns', nsR]);
    for (const ns of [nsS, nsR]) {
      await exec(ns, ['sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
      await exec(ns, ['ip', 'link', 'set', 'lo', 'up']);
    }
    const addrs = async (ns: string, ifname: string, v4: string[], v6: string[]): Promise<void> => {
      for (const a of v4) await exec(ns, ['ip', 'addr', 'add', `${a}/24`, 'dev', ifname]);
      for (const a of v6) await exec(ns, ['ip', '-6', 'addr', 'add', `${a}/64`, 'dev', ifname, 'nodad']);
      await exec(ns, ['ip', 'link', 'set', ifname, 'up']);
    };
    const sV4 = `${V4_PREFIX}.1`;
    const rV4 = `${V4_PREFIX}.2`;
    const sV6 = `${V6_PREFIX}:1`;
    const rV6 = `${V6_PREFIX}:2`;
    await addrs(nsS, ifS, [sV4, ...extraV4], [sV6, ...extraV6]);
    await addrs(nsR, ifR, [rV4], [rV6]);
    const macOf = async (ns: string, ifname: string): Promise<string> => {
      const r = await exec(ns, ['cat', `/sys/class/net/${ifname}/address`]);
      return r.stdout.trim();
    };
    const macS = await macOf(nsS, ifS);
    const macR = await macOf(nsR, ifR);
    const neigh = async (ns: string, ifname: string, addr: string, lladdr: string): Promise<void> => {
      await exec(ns, ['ip', 'neigh', 'replace', addr, 'lladdr', lladdr, 'nud', 'permanent', 'dev', ifname]);
    };
    for (const a of [sV4, ...extraV4, sV6, ...extraV6]) await neigh(nsR, ifR, a, macS);
    for (const a of [rV4, rV6]) await neigh(nsS, ifS, a, macR);
    return {
      sender: { ns: nsS, ifname: ifS, mac: macS, v4: sV4, v6: sV6 },
      receiver: { ns: nsR, ifname: ifR, mac: macR, v4: rV4, v6: rV6 },
      extraV4,
      extraV6,
      teardown,
    };
  } catch (err) {
    await teardown();
    throw err;
  }
}

/** `ping -c count -W 1 -i 0.2 -I src dst` inside `ns`; true when at least one reply came back. */
export async function ping(ns: string, src: string, dst: string, count = 3): Promise<boolean> {
  const v6 = dst.includes(':');
  const r = await exec(
    ns,
    ['ping', v6 ? '-6' : '-4', '-n', '-q', '-c', String(count), '-W', '1', '-i', '0.2', '-I', src, dst],
    { allowFail: true, timeoutMs: 5000 + count * 1500 },
  );
  return r.code === 0;
}

const RECEIVER_JS = `
const dgram = require('node:dgram');
const [addr, port] = process.argv.slice(1);
const sock = dgram.createSocket(addr.includes(':') ? 'udp6' : 'udp4');
const counts = {};
sock.on('message', (_m, r) => { counts[r.address] = (counts[r.address] || 0) + 1; });
sock.bind(Number(port), addr, () => process.stdout.write('ready\\n'));
// Each line on stdin asks for the counts so far (one JSON line each); EOF prints them and exits.
process.stdin.setEncoding('utf8').on('data', (d) => { for (const _ of d.split('\\n').slice(1)) process.stdout.write(JSON.stringify(counts) + '\\n'); });
process.stdin.on('end', () => { process.stdout.write(JSON.stringify(counts) + '\\n'); sock.close(); });
setTimeout(() => process.exit(3), 120000).unref();
`;

const SENDER_JS = `
const dgram = require('node:dgram');
const [src, dst, port, count] = process.argv.slice(1);
const sock = dgram.createSocket(dst.includes(':') ? 'udp6' : 'udp4');
const msg = Buffer.from('couic-dp-test');
sock.bind({ address: src, port: 0 }, async () => {
  let sent = 0;
  for (let i = 0; i < Number(count); i++) {
    await new Promise((res) => sock.send(msg, Number(port), dst, (e) => { if (!e) sent++; res(); }));
    await new Promise((res) => setTimeout(res, 2));
  }
  process.stdout.write(String(sent) + '\\n');
  sock.close();
});
`;

export interface UdpReceiver {
  /** Datagrams received so far per source address (the listener keeps running). */
  peek(): Promise<Record<string, number>>;
  /** Stops the listener; datagrams received per source address. */
  stop(): Promise<Record<string, number>>;
}

/** A UDP listener on addr:port inside `ns`, counting datagrams per source address. */
export function udpReceiver(ns: string, addr: string, port: number): Promise<UdpReceiver> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', RECEIVER_JS, addr, String(port)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let ready = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`udp receiver did not start: ${err}`));
    }, 10000);
    const closed = new Promise<void>((res) => child.on('close', () => res()));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const peeks: Array<(c: Record<string, number>) => void> = [];
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      // Answers to peek(), one line each, in order; what is left is the final line.
      while (ready && peeks.length > 0 && out.includes('\n')) {
        const nl = out.indexOf('\n');
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        peeks.shift()!(JSON.parse(line) as Record<string, number>);
      }
      if (!ready && out.includes('ready\n')) {
        ready = true;
        clearTimeout(timer);
        out = out.replace('ready\n', '');
        resolve({
          peek() {
            return new Promise((res) => {
              peeks.push(res);
              child.stdin.write('?\n');
            });
          },
          async stop() {
            child.stdin.end();
            const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
            await closed;
            clearTimeout(kill);
            const line = out.trim();
            if (!line) throw new Error(`udp receiver gave no counts: ${err}`);
            return JSON.parse(line) as Record<string, number>;
          },
        });
      }
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      if (!ready) {
        clearTimeout(timer);
        reject(new Error(`udp receiver exited ${code}: ${err}`));
      }
    });
  });
}

/** Sends `count` datagrams from src to dst:port inside `ns` (2 ms apart); returns how many were sent. */
export async function udpSend(ns: string, src: string, dst: string, port: number, count: number): Promise<number> {
  const r = await exec(ns, [process.execPath, '-e', SENDER_JS, src, dst, String(port), String(count)], {
    timeoutMs: 10000 + count * 20,
  });
  return Number(r.stdout.trim());
}
