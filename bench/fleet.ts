/**
 * Fleet ban sharing through NATS JetStream (issue 13, docs/fleet.md), in
 * one run, on this machine, with real daemons and a real nats-server on
 * loopback ports:
 *
 *   - propagation latency: from the acknowledgment of a ban on A (the 200 of
 *     POST /v1/bans) to the moment B's event stream says B committed it
 *     (kernel map + journal), one ban at a time, for 2 and 5 nodes (5: until
 *     the last of the four others holds it); p50 / p99 / max;
 *   - a burst of 10,000 bans on A (one POST) until B holds all of them;
 *   - a cold join: a new daemon with an empty working dir into a fleet whose
 *     bucket holds 1,000,000 shared entries, from its spawn until its state
 *     (so its kernel) holds all of them;
 *   - an engine outage: the server stopped while A bans (and A restarts),
 *     then started: entries lost on B (target 0) and the time to converge.
 *
 * Each transport is a row set of its own (TRANSPORTS below), so the
 * Couic-style HTTP peering measured by the peering work can be added as
 * another transport with the same cases and shown beside this one.
 *
 *   node dist/bench/fleet.js [--quick]   (--quick: small counts, for the smoke test)
 */
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import os from 'node:os';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { fleetDaemon, waitCaughtUp, type FleetDaemon } from '../test/fleet/lib.js';
import { startNats, type NatsServer } from '../test/lib/nats.js';
import { sleep, waitFor } from '../test/lib/wait.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
const QUICK = values.quick === true;
const SAMPLES = QUICK ? 20 : 300;
const BURST = QUICK ? 500 : 10_000;
const COLD = QUICK ? 20_000 : 1_000_000;
const OUTAGE = QUICK ? 100 : 1_000;

const TARGETS = { p99At2: 50, burstS: 2, coldS: 15, lost: 0 };

interface Row {
  readonly measurement: string;
  readonly value: string;
  readonly target: string;
  readonly met: string;
}

const ms = (t0: number): number => performance.now() - t0;
const q = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
};
const f1 = (x: number): string => x.toFixed(1);

/** Committed-entry times on a daemon, from its /v1/events stream: cidr -> performance.now() of the 'added'. */
class Arrivals {
  readonly at = new Map<string, number>();
  #ws: WebSocket;
  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on('message', (m) => {
      const e = JSON.parse(String(m)) as { type: string; cidr?: string };
      if (e.type === 'added' && e.cidr !== undefined && !this.at.has(e.cidr)) this.at.set(e.cidr, performance.now());
    });
  }

  static async open(d: FleetDaemon): Promise<Arrivals> {
    const ws = new WebSocket(`ws+unix://${d.socketPath}:/v1/events`, { headers: { authorization: `Bearer ${d.token}` } });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new Arrivals(ws);
  }

  close(): void {
    this.#ws.close();
  }
}

const addr = (base: number, i: number): string => `10.${base + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;

async function dropCount(d: FleetDaemon): Promise<number> {
  const r = await d.request('GET', '/v1/stats');
  return r.status === 200 ? (r.json() as { drop_cidr_count: number }).drop_cidr_count : -1;
}

/** One transport of bans between hosts: how to make a fleet of n nodes of it. */
interface Transport {
  readonly name: string;
  start(n: number, opts?: { readonly dropExact?: number }): Promise<FleetDaemon[]>;
  stop(): Promise<void>;
}

class NatsTransport implements Transport {
  readonly name = 'NATS JetStream (couic fleet)';
  nats: NatsServer | undefined;
  daemons: FleetDaemon[] = [];
  #bucket = 0;

  async start(n: number, opts: { readonly dropExact?: number } = {}): Promise<FleetDaemon[]> {
    this.nats ??= await startNats();
    const bucket = `bench${(this.#bucket += 1)}`;
    const ds: FleetDaemon[] = [];
    for (let i = 0; i < n; i += 1) ds.push(await this.daemon(`n${i + 1}`, bucket, opts));
    for (const d of ds) await waitCaughtUp(d, 60_000);
    this.daemons.push(...ds);
    return ds;
  }

  daemon(node: string, bucket: string, opts: { readonly dropExact?: number } = {}): Promise<FleetDaemon> {
    return fleetDaemon({
      servers: [this.nats!.url], node, bucket,
      ...(opts.dropExact === undefined ? {} : { dataplane: { drop_exact: opts.dropExact } }),
    });
  }

  async stop(): Promise<void> {
    for (const d of this.daemons) await d.stop().catch(() => {});
    this.daemons = [];
  }
}

async function ban(d: FleetDaemon, cidrs: readonly string[]): Promise<void> {
  const r = await d.request('POST', '/v1/bans/fail2ban-bench', { body: cidrs.map((cidr) => ({ cidr, expiration: 0 })) });
  if (r.status !== 200) throw new Error(`ban: ${r.status} ${r.text}`);
}

/** Latency (ms) of `SAMPLES` bans on ds[0], one at a time, until every other daemon committed each. */
async function latency(ds: FleetDaemon[], base: number): Promise<number[]> {
  const others = await Promise.all(ds.slice(1).map((d) => Arrivals.open(d)));
  const out: number[] = [];
  for (let i = 0; i < SAMPLES; i += 1) {
    const cidr = addr(base, i);
    await ban(ds[0]!, [cidr]);
    const acked = performance.now();
    const key = `${cidr}/32`;
    const ok = await waitFor(() => others.every((o) => o.at.has(key)), 10_000, 1);
    if (!ok) throw new Error(`${key} did not reach every node`);
    out.push(Math.max(...others.map((o) => o.at.get(key)!)) - acked);
    await sleep(5);
  }
  for (const o of others) o.close();
  return out;
}

async function burst(ds: FleetDaemon[], base: number): Promise<{ ackS: number; allS: number }> {
  const b = await Arrivals.open(ds[1]!);
  const cidrs = Array.from({ length: BURST }, (_, i) => addr(base, i));
  const t0 = performance.now();
  await ban(ds[0]!, cidrs);
  const ackS = ms(t0) / 1000;
  const ok = await waitFor(() => b.at.size >= BURST, 60_000, 5);
  const last = Math.max(...b.at.values());
  b.close();
  if (!ok) throw new Error(`burst: B holds ${b.at.size} of ${BURST}`);
  return { ackS, allS: (last - t0) / 1000 };
}

/** Fills `bucket` with `n` holds of a node 'seed' (not timed); returns the time it took. */
async function seed(url: string, bucket: string, n: number): Promise<number> {
  const t0 = performance.now();
  const nc = await connect({ servers: url });
  const kv = await new Kvm(nc).create(bucket, { history: 1 });
  const enc = new TextEncoder();
  const WINDOW = 4000;
  for (let i = 0; i < n; i += WINDOW) {
    const puts: Promise<number>[] = [];
    for (let j = i; j < Math.min(n, i + WINDOW); j += 1) {
      const a = addr(100, j);
      puts.push(kv.put(`seed.d4.${a.replace(/\./g, '-')}_32`, enc.encode(`{"cidr":"${a}/32","tag":"seed","creation":1767225600,"expiration":0}`)));
    }
    await Promise.all(puts);
  }
  await nc.close();
  return ms(t0) / 1000;
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const started = new Date();
  const t = new NatsTransport();
  const notes: string[] = [];
  try {
    // 2 nodes
    let ds = await t.start(2);
    const l2 = await latency(ds, 11);
    rows.push({ measurement: `propagation, 2 nodes, p50 / p99 / max (ms, ${SAMPLES} bans)`, value: `${f1(q(l2, 0.5))} / ${f1(q(l2, 0.99))} / ${f1(Math.max(...l2))}`, target: `p99 ≤ ${TARGETS.p99At2}`, met: q(l2, 0.99) <= TARGETS.p99At2 ? 'yes' : 'NO' });
    const b = await burst(ds, 12);
    rows.push({ measurement: `burst of ${BURST.toLocaleString('en-US')} bans: acknowledged on A (s)`, value: b.ackS.toFixed(2), target: '', met: '' });
    rows.push({ measurement: `burst of ${BURST.toLocaleString('en-US')} bans: all in B's kernel (s, from the POST)`, value: b.allS.toFixed(2), target: `≤ ${TARGETS.burstS}`, met: b.allS <= TARGETS.burstS ? 'yes' : 'NO' });

    // the engine down while A bans and restarts
    const [a, bd] = ds as [FleetDaemon, FleetDaemon];
    await t.nats!.stop();
    const lost = Array.from({ length: OUTAGE }, (_, i) => addr(13, i));
    await ban(a, lost);
    await a.restart();
    const t1 = performance.now();
    await t.nats!.start();
    const conv = await waitFor(async () => {
      const l = await bd.list();
      return lost.every((c) => l.has(`${c}/32`));
    }, 60_000, 20);
    const l = await bd.list();
    const missing = lost.filter((c) => !l.has(`${c}/32`)).length;
    rows.push({ measurement: `engine outage: ${OUTAGE.toLocaleString('en-US')} bans on A while down (A restarted too): lost on B`, value: String(missing), target: `${TARGETS.lost}`, met: missing === 0 ? 'yes' : 'NO' });
    rows.push({ measurement: 'engine outage: server back → B holds all of them (s)', value: conv ? (ms(t1) / 1000).toFixed(2) : '> 60', target: '', met: '' });
    await t.stop();

    // 5 nodes
    ds = await t.start(5);
    const l5 = await latency(ds, 14);
    rows.push({ measurement: `propagation, 5 nodes (to the last of 4), p50 / p99 / max (ms, ${SAMPLES} bans)`, value: `${f1(q(l5, 0.5))} / ${f1(q(l5, 0.99))} / ${f1(Math.max(...l5))}`, target: '', met: '' });
    await t.stop();

    // cold join
    const bucket = 'benchcold';
    const seedS = await seed(t.nats!.url, bucket, COLD);
    notes.push(`bucket filled with ${COLD.toLocaleString('en-US')} holds in ${seedS.toFixed(1)} s (not timed)`);
    const t2 = performance.now();
    const c = await t.daemon('joiner', bucket, { dropExact: COLD + 1024 });
    t.daemons.push(c);
    const spawned = ms(t2) / 1000;
    const ok = await waitFor(async () => (await dropCount(c)) >= COLD, 120_000, 100);
    const coldS = ms(t2) / 1000;
    rows.push({ measurement: `cold join into ${COLD.toLocaleString('en-US')} shared entries: all in its kernel (s, from its spawn; API up at ${spawned.toFixed(1)} s)`, value: ok ? coldS.toFixed(1) : '> 120', target: `≤ ${TARGETS.coldS}`, met: ok && coldS <= TARGETS.coldS ? 'yes' : 'NO' });
    const st = await c.fleet();
    notes.push(`joiner after the cold join: lag ${st.lag.messages} messages, applied revision ${st.applied.revision}, resync ${st.last_catch_up?.mode ?? '–'}`);
  } finally {
    await t.stop();
    await t.nats?.destroy();
  }

  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`\n### Fleet: \`node dist/bench/fleet.js${QUICK ? ' --quick' : ''}\` (${started.toISOString().slice(0, 16).replace('T', ' ')} UTC)\n`);
  console.log(`Machine: ${cpu}, ${os.cpus().length} CPUs, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, Linux ${os.release()}, Node ${process.version}; nats-server on loopback, every daemon on this machine.\n`);
  console.log(`| measurement | ${t.name} | target | met |`);
  console.log('| --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.measurement} | ${r.value} | ${r.target} | ${r.met} |`);
  console.log('');
  for (const n of notes) console.log(`- ${n}`);
  console.log('- Couic-style HTTP peering (batches every 250 ms) is the peering work\'s transport: its rows go beside these (same cases, same machine).');
}

await main();
process.exit(0);
