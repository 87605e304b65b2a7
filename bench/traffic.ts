/**
 * Traffic bench: real frames into a veth, dropped by couic (native and
 * generic XDP) or by netfilter (linear iptables rules, ipset hash:net,
 * nftables interval set), against a receiver that filters nothing.
 *
 * The sender (bench/traffic/xdpgen, built here) redirects generated frames
 * into the veth, so they reach the receiver as xdp_frames, as from a NIC
 * with native XDP: frames sent from a socket would reach it as skbs, and
 * native XDP on veth would then pay an skb copy per frame and cost what an
 * early netfilter drop costs (research/perf.md §2c). The sender is pinned to
 * CPU 0; the receiver's threaded NAPI kthread, where all of its receive work
 * runs (XDP, skb building, netfilter, IP), to CPU 1. Main figure: that
 * kthread's CPU time (/proc/PID/schedstat) per frame; beside it the frames
 * per second dropped (the backend's own counters ÷ the flood's duration).
 *
 * Each receiving backend has its own namespace pair, all built and loaded
 * before the runs, then measured in rotation, round after round (medians
 * of the rounds), so a slow spell of the machine spreads over all of them.
 * Two streams per backend: a 50/50 mix of banned and unbanned sources
 * (CPU per frame), and banned sources only (CPU per dropped frame, drops/s).
 * Lists: 0, 1e3, 1e5, 1e6 entries of /32 bans and of a /24-heavy CIDR mix
 * (bench/lib/banlist.ts, as in the data-plane bench); linear iptables only
 * up to 1e3 rules.
 *
 *   node dist/bench/traffic.js [--quick | --smoke] [--json FILE]
 *
 * --quick: up to 1e5 entries, 3 rounds of 0.4 s. --smoke: a few thousand
 * frames per run, paced so the receiver's ring never fills, 1e3 entries:
 * for the test suite, which checks from --json that every backend's counters
 * moved by the frames sent. Prints a Markdown table with date and machine,
 * then the targets.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { run } from '../test/lib/netns.js';
import { sleep } from '../test/lib/wait.js';
import { BanList, v4Text, type Kind } from './lib/banlist.js';
import { cpuModel, median } from './lib/report.js';
import { BACKENDS, LABELS, makeBackend, type Backend, type BackendName } from './traffic/backends.js';
import { buildSender, send, type SendOptions } from './traffic/sender.js';
import { createLink, napiThreads, pinTo, schedTimes, xmitStats, type Link } from './traffic/topology.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});
const MODE = values.smoke ? 'smoke' : values.quick ? 'quick' : 'full';

interface Config {
  readonly sizes: readonly number[];
  readonly rounds: number;
  /** Frames per source table (a power of two). */
  readonly sources: number;
  readonly send: Pick<SendOptions, 'frames' | 'seconds' | 'perCall' | 'gapUs'>;
}

const CFG: Config = {
  // few large calls: each BPF_PROG_TEST_RUN call has ~20 ms of set-up and tear-down
  full: { sizes: [0, 1_000, 100_000, 1_000_000], rounds: 5, sources: 65_536, send: { frames: 1 << 21, seconds: 3, perCall: 1 << 20 } },
  quick: { sizes: [0, 1_000, 100_000], rounds: 3, sources: 65_536, send: { frames: 1 << 20, seconds: 3, perCall: 1 << 20 } },
  // 128 frames per call, then a pause: even linear iptables empties the ring (256) in between
  smoke: { sizes: [0, 1_000], rounds: 1, sources: 4096, send: { frames: 4096, seconds: 10, perCall: 128, gapUs: 2000 } },
}[MODE];

/** Linear rules above this are not run: they cost microseconds per frame already at 1e3. */
const IPTABLES_MAX = 1_000;
const SENDER_CPU = 0;
const RECEIVER_CPU = 1;
const KINDS: readonly Kind[] = ['exact', 'cidr'];
const KIND_LABEL: Readonly<Record<Kind, string>> = { exact: '/32 bans', cidr: 'CIDR mix' };

/**
 * mix: every other frame from a banned source; hit: banned sources only;
 * hot: banned sources only, but 256 of them, so the entries they hit stay
 * in the CPU's caches (what the lookup costs without a cache miss).
 */
type Stream = 'mix' | 'hit' | 'hot';
const HOT_SOURCES = 256;

/** One flood into one backend: raw counter deltas. */
export interface Sample {
  readonly kind: Kind;
  readonly entries: number;
  readonly backend: BackendName;
  readonly stream: Stream;
  readonly round: number;
  /** Frames the sender generated, and in how long (the kernel's run loops). */
  readonly sent: number;
  readonly ns: number;
  /** The sender's wall time, with each call's set-up and tear-down. */
  readonly wallNs: number;
  /** Frames the receiver's ring took, and those refused (ring full). */
  readonly delivered: number;
  readonly lost: number;
  readonly dropped: number;
  readonly passed: number;
  /** Receiver NAPI kthread CPU time, and its time runnable but kept off its core by another task. */
  readonly cpuNs: number;
  readonly waitNs: number;
}

const samples: Sample[] = [];
const anomalies: string[] = [];

interface Rx {
  readonly link: Link;
  readonly backend: Backend;
  installMs: number;
}

/** The source file of each stream (see Stream). */
function writeSources(dir: string, list: BanList, streams: readonly Stream[]): Record<Stream, string> {
  const files = {} as Record<Stream, string>;
  for (const s of streams) {
    const lines: string[] = [];
    for (let i = 0; i < CFG.sources; i++) {
      if (s === 'hot' && i >= HOT_SOURCES) {
        lines.push(lines[i % HOT_SOURCES]!);
        continue;
      }
      const hit = list.size > 0 && (s !== 'mix' || i % 2 === 0);
      lines.push(v4Text(hit ? list.hit() : list.miss()));
    }
    files[s] = path.join(dir, `src-${list.kind}-${list.size}-${s}.txt`);
    writeFileSync(files[s], `${lines.join('\n')}\n`);
  }
  return files;
}

async function measure(rx: Rx, srcFile: string): Promise<Omit<Sample, 'kind' | 'entries' | 'backend' | 'stream' | 'round'>> {
  const { link, backend } = rx;
  const pids = napiThreads(link.receiver.ifname);
  if (pids.length === 0) throw new Error(`${backend.name}: no NAPI kthread for ${link.receiver.ifname} (threaded NAPI off?)`);
  await pinTo(pids, RECEIVER_CPU);
  const c0 = await backend.counts();
  const x0 = await xmitStats(link);
  const t0 = schedTimes(pids);
  const sent = await send(link, { ...CFG.send, srcFile, cpu: SENDER_CPU });
  const x1 = await xmitStats(link);
  const delivered = x1.xmit - x0.xmit;
  // the ring's last frames may still be in flight: wait until the counters account for them
  let c1 = await backend.counts();
  for (const deadline = Date.now() + 2000; c1.dropped + c1.passed - c0.dropped - c0.passed < delivered && Date.now() < deadline; ) {
    await sleep(10);
    c1 = await backend.counts();
  }
  const t1 = schedTimes(pids);
  return {
    sent: sent.frames,
    ns: sent.runNs,
    wallNs: sent.wallNs,
    delivered,
    lost: x1.errors - x0.errors,
    dropped: c1.dropped - c0.dropped,
    passed: c1.passed - c0.passed,
    cpuNs: t1.runNs - t0.runNs,
    waitNs: t1.waitNs - t0.waitNs,
  };
}

async function group(dir: string, list: BanList): Promise<void> {
  const n = list.size;
  const streams: Stream[] = n === 0 ? ['mix'] : ['mix', 'hit', 'hot'];
  const files = writeSources(dir, list, streams);
  const names = BACKENDS.filter((b) => b !== 'iptables' || n <= IPTABLES_MAX);
  const rxs: Rx[] = [];
  try {
    for (const name of names) {
      const link = await createLink();
      const backend = makeBackend(name, link, dir);
      const rx: Rx = { link, backend, installMs: 0 };
      rxs.push(rx);
      const t0 = performance.now();
      await backend.install(list);
      rx.installMs = performance.now() - t0;
      process.stderr.write(`traffic: ${KIND_LABEL[list.kind]}, ${n} entries: ${name} loaded in ${(rx.installMs / 1000).toFixed(2)} s\n`);
    }
    for (let round = 0; round < CFG.rounds; round++) {
      // rotate who goes first: no backend always follows the same one
      const order = rxs.map((_, i) => rxs[(i + round) % rxs.length]!);
      for (const rx of order) {
        for (const stream of streams) {
          const m = await measure(rx, files[stream]);
          const s: Sample = { kind: list.kind, entries: n, backend: rx.backend.name, stream, round, ...m };
          samples.push(s);
          check(s);
        }
      }
    }
  } finally {
    for (const rx of rxs) {
      await rx.backend.close();
      await rx.link.teardown();
    }
  }
}

/** Counters that do not add up are printed: a figure over frames nobody counted is no figure. */
function check(s: Sample): void {
  const what = `${KIND_LABEL[s.kind]} N=${s.entries} ${s.backend} ${s.stream} round ${s.round}`;
  if (s.delivered + s.lost !== s.sent) anomalies.push(`${what}: sender veth counted ${s.delivered} + ${s.lost} lost, sender sent ${s.sent}`);
  if (s.dropped + s.passed !== s.delivered) anomalies.push(`${what}: backend counted ${s.dropped} dropped + ${s.passed} passed of ${s.delivered} delivered`);
  const shouldDrop = s.backend !== 'none' && s.entries > 0;
  if (!shouldDrop && s.dropped !== 0) anomalies.push(`${what}: ${s.dropped} dropped, expected none`);
  if (shouldDrop && s.stream !== 'mix' && s.passed !== 0) anomalies.push(`${what}: ${s.passed} banned frames passed`);
  if (shouldDrop && s.stream === 'mix' && s.lost === 0 && s.dropped * 2 !== s.sent) anomalies.push(`${what}: ${s.dropped} dropped of a 50/50 mix of ${s.sent}`);
}

// ------------------------------------------------------------------
// Figures
// ------------------------------------------------------------------

interface Fig {
  /** Receiver CPU ns per delivered frame. */
  readonly perFrame: number;
  /** Receiver CPU ns per dropped frame. */
  readonly perDrop: number;
  readonly dropsPerS: number;
  /** Sender's frames/s, receiver's share of one core. */
  readonly offeredPerS: number;
  readonly busy: number;
  /** Share of the flood the receiver was runnable but off its core (another task on CPU 1). */
  readonly kept: number;
  readonly lostShare: number;
}

function fig(kind: Kind, entries: number, backend: BackendName, stream: Stream): Fig | undefined {
  const xs = samples.filter((s) => s.kind === kind && s.entries === entries && s.backend === backend && s.stream === stream);
  if (xs.length === 0) return undefined;
  const med = (f: (s: Sample) => number): number => median(xs.map(f));
  return {
    perFrame: med((s) => s.cpuNs / s.delivered),
    perDrop: med((s) => (s.dropped > 0 ? s.cpuNs / s.dropped : NaN)),
    dropsPerS: med((s) => s.dropped / (s.ns / 1e9)),
    offeredPerS: med((s) => s.sent / (s.ns / 1e9)),
    busy: med((s) => s.cpuNs / s.ns),
    kept: med((s) => s.waitNs / s.ns),
    lostShare: med((s) => s.lost / s.sent),
  };
}

const fmtNs = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(0));
const fmtRate = (x: number | undefined): string =>
  x === undefined || !Number.isFinite(x) ? '–' : x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : `${(x / 1e3).toFixed(0)} k`;
const fmtPct = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(0)} %`);
const fmtN = (n: number): string => n.toLocaleString('en-US');

function mainTable(): string[] {
  const out = [
    '| receiver | entries | /32: CPU ns per frame, 50/50 mix | /32: CPU ns per dropped frame | /32: dropped frames/s | CIDR mix: CPU ns per frame, 50/50 | CIDR mix: CPU ns per dropped frame | CIDR mix: dropped frames/s |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const n of CFG.sizes) {
    for (const b of BACKENDS) {
      const cells: string[] = [];
      let any = false;
      for (const k of KINDS) {
        const kind: Kind = n === 0 ? 'exact' : k; // no entries: one list for both
        const mix = n === 0 && k === 'cidr' ? undefined : fig(kind, n, b, 'mix');
        const hit = fig(kind, n, b, 'hit');
        any ||= mix !== undefined;
        cells.push(fmtNs(mix?.perFrame), fmtNs(hit?.perDrop), fmtRate(hit?.dropsPerS));
      }
      if (any) out.push(`| ${LABELS[b]} | ${fmtN(n)} | ${cells.join(' | ')} |`);
    }
  }
  return out;
}

/** What bounds each rate: the sender's offered rate, the receiver core's busy share, frames lost at a full ring. */
function boundTable(): string[] {
  const out = [
    `| receiver | entries | list | sender offered frames/s | receiver core busy | receiver kept off its core | lost (ring full) | dropped frames/s | CPU ns per dropped frame | same, ${HOT_SOURCES} banned sources |`,
    '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const k of KINDS) {
    for (const n of CFG.sizes) {
      if (n === 0 && k === 'cidr') continue;
      for (const b of BACKENDS) {
        const f = fig(k, n, b, n === 0 ? 'mix' : 'hit');
        if (!f) continue;
        const list = n === 0 ? '(none), 50/50 stream' : `${KIND_LABEL[k]}, banned stream`;
        const hot = fig(k, n, b, 'hot');
        out.push(
          `| ${LABELS[b]} | ${fmtN(n)} | ${list} | ${fmtRate(f.offeredPerS)} | ${fmtPct(f.busy)} | ${fmtPct(f.kept)} | ${fmtPct(f.lostShare)} | ${fmtRate(f.dropsPerS)} | ` +
            `${fmtNs(n === 0 ? undefined : f.perDrop)} | ${fmtNs(hot?.perDrop)} |`,
        );
      }
    }
  }
  return out;
}

function targets(): string[] {
  const out: string[] = [];
  const mark = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  const at = CFG.sizes.includes(100_000) ? 100_000 : Math.max(...CFG.sizes);
  const big = Math.max(...CFG.sizes);
  for (const k of KINDS) {
    const couic = fig(k, at, 'couic-native', 'hit');
    const sets = (['ipset', 'nftables'] as const).map((b) => ({ b, f: fig(k, at, b, 'hit') }));
    const best = sets.reduce((a, c) => ((c.f?.perDrop ?? Infinity) < (a.f?.perDrop ?? Infinity) ? c : a));
    const fastest = sets.reduce((a, c) => ((c.f?.dropsPerS ?? 0) > (a.f?.dropsPerS ?? 0) ? c : a));
    if (!couic || !best.f || !fastest.f) continue;
    const ratio = couic.perDrop / best.f.perDrop;
    out.push(
      `Target (${KIND_LABEL[k]}, ${fmtN(at)} entries): couic native ≤ 2/3 of the CPU per dropped frame of the best netfilter set: ` +
        `${fmtNs(couic.perDrop)} ns vs ${LABELS[best.b]} ${fmtNs(best.f.perDrop)} ns = ${ratio.toFixed(2)} — ${mark(ratio <= 2 / 3)}`,
    );
    out.push(
      `Target (${KIND_LABEL[k]}, ${fmtN(at)} entries): couic native drops at least as many frames/s: ` +
        `${fmtRate(couic.dropsPerS)}/s vs ${LABELS[fastest.b]} ${fmtRate(fastest.f.dropsPerS)}/s — ${mark(couic.dropsPerS >= fastest.f.dropsPerS)}` +
        (couic.busy < 0.9 ? ` (couic's receiver core ${fmtPct(couic.busy)} busy: the sender bounds its rate)` : ''),
    );
    const small = fig(k, 1_000, 'couic-native', 'hit');
    const large = fig(k, big, 'couic-native', 'hit');
    if (small && large && big > 1_000) {
      const rate = large.dropsPerS / small.dropsPerS;
      const cpu = large.perDrop / small.perDrop;
      out.push(
        `Target (${KIND_LABEL[k]}): couic native flat from 1,000 to ${fmtN(big)} entries (≤ 20 % loss): dropped frames/s ` +
          `${fmtRate(small.dropsPerS)} → ${fmtRate(large.dropsPerS)} (${fmtPct(rate - 1)}), CPU per dropped frame ${fmtNs(small.perDrop)} → ` +
          `${fmtNs(large.perDrop)} ns (capacity ${fmtPct(small.perDrop / large.perDrop - 1)}) — ${mark(rate >= 0.8 && cpu <= 1.25)}`,
      );
      const hs = fig(k, 1_000, 'couic-native', 'hot');
      const hl = fig(k, big, 'couic-native', 'hot');
      if (hs && hl) {
        out.push(
          `  (with ${HOT_SOURCES} banned sources, whose entries stay cached: ${fmtNs(hs.perDrop)} → ${fmtNs(hl.perDrop)} ns per dropped frame, ` +
            `${fmtRate(hs.dropsPerS)} → ${fmtRate(hl.dropsPerS)} dropped/s: what grows with the list is the cache misses of ${fmtN(CFG.sources)} random sources, not the lookup)`,
        );
      }
    }
    const ipt = fig(k, IPTABLES_MAX, 'iptables', 'hit');
    const ipt0 = fig('exact', 0, 'iptables', 'mix');
    const ipset = fig(k, IPTABLES_MAX, 'ipset', 'hit');
    if (ipt && ipt0 && ipset) {
      out.push(
        `  (${KIND_LABEL[k]}: iptables with ${fmtN(IPTABLES_MAX)} linear rules spends ${fmtNs(ipt.perDrop)} ns per dropped frame, ` +
          `${(ipt.perDrop / ipset.perDrop).toFixed(1)}× ipset's ${fmtNs(ipset.perDrop)} ns, against ${fmtNs(ipt0.perFrame)} ns per frame with no rule)`,
      );
    }
  }
  return out;
}

function version(argv: string[]): string {
  try {
    return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n')[0] ?? '?';
  } catch {
    return '?';
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces, XDP, netfilter)');
  if (os.cpus().length < 2) throw new Error('needs 2 CPUs: the sender on one, the receiver on the other');
  buildSender();
  // the bench and every process it starts (helpers, nft, …) stay off the receiver's core
  await run(['taskset', '-a', '-pc', String(SENDER_CPU), String(process.pid)]);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'couic-traffic-'));
  const t0 = Date.now();
  try {
    for (const kind of KINDS) {
      const list = new BanList(kind, kind === 'exact' ? 0x7aff_0032 : 0x7aff_0024);
      for (const n of CFG.sizes) {
        if (n === 0 && kind !== 'exact') continue;
        list.grow(n - list.size);
        await group(dir, list);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (values.json) writeFileSync(values.json, samples.map((s) => JSON.stringify(s)).join('\n') + '\n');

  const out: string[] = [];
  out.push(`## couic traffic bench${MODE === 'full' ? '' : ` (--${MODE})`} — ${new Date().toISOString()}`);
  out.push('');
  out.push(
    `Machine: ${cpuModel()}, ${os.cpus().length} CPUs, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, Linux ${os.release()}, node ${process.version}; ` +
      `${version(['iptables', '-V'])}, ${version(['nft', '-v'])}, ${version(['ipset', '-v'])}; ` +
      `load average at end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; run took ${((Date.now() - t0) / 1000).toFixed(0)} s.`,
  );
  out.push(
    `Method: 60-byte IPv4/UDP frames from ${fmtN(CFG.sources)} sources redirected into a veth as xdp_frames (sender on CPU ${SENDER_CPU}), ` +
      `received by threaded NAPI pinned to CPU ${RECEIVER_CPU}; CPU = the NAPI kthread's own time; ` +
      `floods of ${fmtN(CFG.send.frames)} frames, rates over the sender's sending time, median of ${CFG.rounds} rounds; ` +
      `"50/50 mix" = every other frame from a banned source; "dropped" columns = banned sources only. ` +
      `netfilter rules in raw PREROUTING; linear iptables only up to ${fmtN(IPTABLES_MAX)} rules.`,
  );
  out.push('');
  out.push(...mainTable());
  out.push('');
  out.push('What bounds the rates (same runs):');
  out.push('');
  out.push(...boundTable());
  out.push('');
  out.push(...targets());
  // another task on the receiver's core: its CPU per frame holds (its own time), its drops/s does not
  const kept = samples.filter((s) => s.waitNs > 0.05 * s.ns);
  if (MODE !== 'smoke' && kept.length > 0) {
    const worst = kept.reduce((a, b) => (b.waitNs / b.ns > a.waitNs / a.ns ? b : a));
    anomalies.push(
      `${kept.length} of ${samples.length} floods had the receiver kept off CPU ${RECEIVER_CPU} by another task for over 5 % of the flood ` +
        `(worst ${fmtPct(worst.waitNs / worst.ns)}: ${KIND_LABEL[worst.kind]}, ${fmtN(worst.entries)} entries, ${worst.backend}, round ${worst.round}); ` +
        'their drops/s are low, their CPU per frame is not affected',
    );
  }
  if (anomalies.length) {
    out.push('');
    out.push('Anomalies:');
    for (const a of anomalies) out.push(`- ${a}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`traffic bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
