/**
 * What receives the flood, in turn: couic (the real couic-helper, attached
 * to the receiver's veth in native or generic mode, its entries loaded
 * through the helper's own batch path), linear iptables rules, an ipset
 * `hash:net` behind one `iptables -m set` rule, an nftables `ipv4_addr`
 * interval set, or nothing. Every netfilter rule sits in raw PREROUTING
 * (priority raw for nft: before conntrack, the cheapest place netfilter can
 * drop) inside the receiver's namespace only. Each backend counts what it
 * dropped and what it let through with its own counters.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { HelperClient, helperPath } from '../../src/xdp/helper.js';
import { exec, type RunOptions } from '../../test/lib/netns.js';
import type { BanList } from '../lib/banlist.js';
import type { Link } from './topology.js';

export const BACKENDS = ['none', 'couic-native', 'couic-generic', 'iptables', 'ipset', 'nftables'] as const;
export type BackendName = (typeof BACKENDS)[number];

export const LABELS: Readonly<Record<BackendName, string>> = {
  none: 'nothing (pass baseline)',
  'couic-native': 'couic, native XDP',
  'couic-generic': 'couic, generic XDP',
  iptables: 'iptables, one DROP rule per entry',
  ipset: 'ipset hash:net + 1 iptables rule',
  nftables: 'nftables interval set',
};

export interface Counts {
  readonly dropped: number;
  readonly passed: number;
}

export interface Backend {
  readonly name: BackendName;
  /** Loads the list; resolves once the backend filters with all of it. */
  install(list: BanList): Promise<void>;
  counts(): Promise<Counts>;
  close(): Promise<void>;
}

const CHAIN = 'couicbl';
const SLOW: RunOptions = { timeoutMs: 600_000 };

/** `[pkts, …]` of the rules of raw PREROUTING, in order (`iptables -L -v -x`). */
async function preroutingPackets(link: Link): Promise<number[]> {
  const r = await exec(link.receiver.ns, ['iptables', '-w', '-t', 'raw', '-L', 'PREROUTING', '-n', '-v', '-x']);
  return r.stdout
    .split('\n')
    .slice(2)
    .filter((l) => l.trim() !== '')
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

function restoreInput(rules: readonly string[], bans: Iterable<string> = []): string {
  const out = ['*raw', `:${CHAIN} - [0:0]`, ...rules];
  for (const b of bans) out.push(`-A ${CHAIN} -s ${b} -j DROP`);
  out.push('COMMIT', '');
  return out.join('\n');
}

function* cidrs(list: BanList): Generator<string> {
  for (let i = 0; i < list.size; i++) yield list.cidr(i);
}

class Couic implements Backend {
  readonly name: BackendName;
  readonly #link: Link;
  readonly #mode: 'native' | 'generic';
  #helper: HelperClient | undefined;

  constructor(name: BackendName, link: Link, mode: 'native' | 'generic') {
    this.name = name;
    this.#link = link;
    this.#mode = mode;
  }

  async install(list: BanList): Promise<void> {
    const cap = Math.max(4096, list.size);
    const h = await HelperClient.start({
      helperPath: helperPath(),
      ifaces: [this.#link.receiver.ifname],
      mode: this.#mode,
      wrapper: ['ip', 'netns', 'exec', this.#link.receiver.ns],
      capacities: { dropExact: cap, dropCidr: cap },
      requestTimeoutMs: 300_000,
      startTimeoutMs: 60_000,
      onLog: () => {},
    });
    this.#helper = h;
    const attached = h.hello.ifaces[0]?.mode;
    if (attached !== this.#mode) throw new Error(`${this.name}: attached in ${attached ?? 'no'} mode`);
    const CHUNK = 131_072;
    for (let i = 0; i < list.size; i += CHUNK) {
      const st = await h.applyBatch(list.ops(i, Math.min(list.size, i + CHUNK)));
      const bad = st.filter((s) => s !== 'ok');
      if (bad.length > 0) throw new Error(`${this.name}: ${bad.length} entries refused (first: ${bad[0]})`);
    }
  }

  async counts(): Promise<Counts> {
    if (!this.#helper) throw new Error(`${this.name}: not installed`);
    const s = await this.#helper.stats();
    return { dropped: Number(s.xdp.XDP_DROP.packets), passed: Number(s.xdp.XDP_PASS.packets) };
  }

  async close(): Promise<void> {
    await this.#helper?.close(10_000).catch(() => this.#helper?.kill('SIGKILL'));
  }
}

/** Ip InReceives (every frame that reached IP) and Udp NoPorts (every frame IP passed up, to port 9) of the receiver. */
async function snmp(link: Link): Promise<{ inReceives: number; noPorts: number }> {
  const r = await exec(link.receiver.ns, ['cat', '/proc/net/snmp']);
  const field = (proto: string, name: string): number => {
    const [names, values] = r.stdout.split('\n').filter((l) => l.startsWith(`${proto}:`));
    const i = names?.split(/\s+/).indexOf(name) ?? -1;
    const v = values?.split(/\s+/)[i];
    if (i < 0 || v === undefined) throw new Error(`no ${proto} ${name} in /proc/net/snmp`);
    return Number(v);
  };
  return { inReceives: field('Ip', 'InReceives'), noPorts: field('Udp', 'NoPorts') };
}

class Nothing implements Backend {
  readonly name = 'none' as const;
  readonly #link: Link;

  constructor(link: Link) {
    this.#link = link;
  }

  async install(): Promise<void> {}

  /** Every frame reaches IP (Ip InReceives); none is dropped on purpose. */
  async counts(): Promise<Counts> {
    return { dropped: 0, passed: (await snmp(this.#link)).inReceives };
  }

  async close(): Promise<void> {}
}

/** A netfilter backend: rules loaded from a file written in `dir`, nothing to close. */
abstract class Netfilter implements Backend {
  abstract readonly name: BackendName;
  protected readonly link: Link;
  protected readonly dir: string;

  constructor(link: Link, dir: string) {
    this.link = link;
    this.dir = dir;
  }

  /** The file of this backend's rules: `<what>-<namespace>.<ext>` in dir. */
  protected file(what: string, ext: string): string {
    return path.join(this.dir, `${what}-${this.link.receiver.ns}.${ext}`);
  }

  abstract install(list: BanList): Promise<void>;
  abstract counts(): Promise<Counts>;

  async close(): Promise<void> {}
}

class Iptables extends Netfilter {
  readonly name = 'iptables' as const;
  async install(list: BanList): Promise<void> {
    const file = this.file('iptables', 'rules');
    writeFileSync(file, restoreInput([`-A PREROUTING -j ${CHAIN}`, '-A PREROUTING -j ACCEPT'], cidrs(list)));
    await exec(this.link.receiver.ns, ['sh', '-c', `iptables-restore -w < ${file}`], SLOW);
  }

  /** Rule 1 sees every frame, rule 2 (ACCEPT) those no DROP rule took. */
  async counts(): Promise<Counts> {
    const [all = 0, passed = 0] = await preroutingPackets(this.link);
    return { dropped: all - passed, passed };
  }

}

class Ipset extends Netfilter {
  readonly name = 'ipset' as const;
  async install(list: BanList): Promise<void> {
    const ns = this.link.receiver.ns;
    const file = this.file('ipset', 'txt');
    const lines = [`create ${CHAIN} hash:net family inet hashsize 65536 maxelem ${Math.max(65536, list.size * 2)}`];
    for (const c of cidrs(list)) lines.push(`add ${CHAIN} ${c}`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    await exec(ns, ['sh', '-c', `ipset restore < ${file}`], SLOW);
    const rules = [`-A PREROUTING -m set --match-set ${CHAIN} src -j DROP`, '-A PREROUTING -j ACCEPT'];
    await exec(ns, ['iptables-restore', '-w'], { input: restoreInput(rules) });
  }

  async counts(): Promise<Counts> {
    const [dropped = 0, passed = 0] = await preroutingPackets(this.link);
    return { dropped, passed };
  }

}

/**
 * Above this, `nft list` takes seconds (it fetches the set's elements from
 * the kernel: 6 s at 300,000), so the counts come from the IP stack instead.
 */
const NFT_LIST_MAX = 100_000;

class Nftables extends Netfilter {
  readonly name = 'nftables' as const;
  #size = 0;

  async install(list: BanList): Promise<void> {
    this.#size = list.size;
    const file = this.file('nft', 'nft');
    const out = [
      `table ip ${CHAIN} {`,
      '  set bl { type ipv4_addr; flags interval; auto-merge; }',
      '  chain pre { type filter hook prerouting priority raw; policy accept; ip saddr @bl counter drop; counter; }',
      '}',
    ];
    // elements in chunks: one huge `elements = { … }` costs nft far more memory
    const CHUNK = 10_000;
    for (let i = 0; i < list.size; i += CHUNK) {
      const part: string[] = [];
      for (let j = i; j < Math.min(list.size, i + CHUNK); j++) part.push(list.cidr(j));
      out.push(`add element ip ${CHAIN} bl { ${part.join(', ')} }`);
    }
    writeFileSync(file, `${out.join('\n')}\n`);
    await exec(this.link.receiver.ns, ['nft', '-f', file], SLOW);
  }

  /**
   * The drop rule's counter, then the chain's final counter (what passed);
   * for a large set, what reached IP and did not reach UDP (the only thing
   * between them is this chain's drop), and what reached UDP.
   */
  async counts(): Promise<Counts> {
    if (this.#size > NFT_LIST_MAX) {
      const c = await snmp(this.link);
      return { dropped: c.inReceives - c.noPorts, passed: c.noPorts };
    }
    const r = await exec(this.link.receiver.ns, ['nft', 'list', 'chain', 'ip', CHAIN, 'pre']);
    const v = [...r.stdout.matchAll(/counter packets (\d+)/g)].map((m) => Number(m[1]));
    if (v.length !== 2) throw new Error(`nft: expected 2 counters, got ${JSON.stringify(r.stdout)}`);
    return { dropped: v[0] ?? 0, passed: v[1] ?? 0 };
  }

}

/** The backend `name` on the receiving side of `link`; `dir` holds its rule files. */
export function makeBackend(name: BackendName, link: Link, dir: string): Backend {
  switch (name) {
    case 'none':
      return new Nothing(link);
    case 'couic-native':
      return new Couic(name, link, 'native');
    case 'couic-generic':
      return new Couic(name, link, 'generic');
    case 'iptables':
      return new Iptables(link, dir);
    case 'ipset':
      return new Ipset(link, dir);
    case 'nftables':
      return new Nftables(link, dir);
  }
}
