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
 * Each transport (TRANSPORTS below) runs the same cases and gets a column of
 * its own: the fleet on NATS, and Couic's HTTP peering (issue 14) beside it.
 *
 *   node dist/bench/fleet.js [--quick]   (--quick: small counts, for the smoke test)
 */
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import os from 'node:os';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { fleetDaemon, waitCaughtUp, type FleetDaemon } from '../test/fleet/lib.js';
import { PeeredSet } from './lib/peering.js';
import { startNats, type NatsServer } from '../test/lib/nats.js';
import { sleep, waitFor } from '../test/lib/wait.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
const QUICK = values.quick === true;
const SAMPLES = QUICK ? 20 : 300;
const BURST = QUICK ? 500 : 10_000;
const COLD = QUICK ? 20_000 : 1_000_000;
const OUTAGE = QUICK ? 100 : 1_000;

const TARGETS = { p99At2: 50, burstS: 2, coldS: 15, lost: 0 };

/** One measurement: its figure per transport (absent: the transport has no such case). */
interface Row {
  readonly measurement: string;
  readonly values: Map<string, string>;
  readonly target: string;
  /** Whether the target is met, per transport ('' when there is no target). */
  readonly met: Map<string, string>;
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

/**
 * One way of sharing bans between hosts: the fleet's cases run on each.
 * A transport without an engine to stop or a bucket to fill (Couic-style
 * HTTP peering, measured by the peering work) leaves `outage` / `seedCold`
 * out: its column shows '–' there.
 */
interface Transport {
  readonly name: string;
  /** n daemons sharing bans, caught up. */
  start(n: number): Promise<FleetDaemon[]>;
  /** Stops the daemons started. */
  stop(): Promise<void>;
  /** Stops the engine, runs `during`, starts it again; resolves when it is back. */
  outage?(during: () => Promise<void>): Promise<void>;
  /** A fleet already holding `n` shared entries, and a new daemon joining it (spawned by `join`). */
  seedCold?(n: number): Promise<{ readonly seedS: number; join(): Promise<FleetDaemon> }>;
  close(): Promise<void>;
}

class NatsTransport implements Transport {
  readonly name = 'NATS JetStream (couic fleet)';
  #nats: NatsServer | undefined;
  #daemons: FleetDaemon[] = [];
  #bucket = 0;

  async #server(): Promise<NatsServer> {
    this.#nats ??= await startNats();
    return this.#nats;
  }

  async start(n: number): Promise<FleetDaemon[]> {
    const bucket = `bench${(this.#bucket += 1)}`;
    const ds: FleetDaemon[] = [];
    for (let i = 0; i < n; i += 1) ds.push(await this.#daemon(`n${i + 1}`, bucket));
    for (const d of ds) await waitCaughtUp(d, 60_000);
    return ds;
  }

  async #daemon(node: string, bucket: string, opts: { readonly dropExact?: number } = {}): Promise<FleetDaemon> {
    const d = await fleetDaemon({
      servers: [(await this.#server()).url], node, bucket,
      ...(opts.dropExact === undefined ? {} : { dataplane: { drop_exact: opts.dropExact } }),
    });
    this.#daemons.push(d);
    return d;
  }

  async outage(during: () => Promise<void>): Promise<void> {
    const s = await this.#server();
    await s.stop();
    await during();
    await s.start();
  }

  async seedCold(n: number): Promise<{ readonly seedS: number; join(): Promise<FleetDaemon> }> {
    const bucket = 'benchcold';
    const seedS = await seed((await this.#server()).url, bucket, n);
    return { seedS, join: () => this.#daemon('joiner', bucket, { dropExact: n + 1024 }) };
  }

  async stop(): Promise<void> {
    for (const d of this.#daemons) await d.stop().catch(() => {});
    this.#daemons = [];
  }

  async close(): Promise<void> {
    await this.stop();
    await this.#nats?.destroy();
  }
}

/**
 * Couic's peering (docs/peering.md): A pushes to each other node through
 * its nginx with TLS, a batch at most every 250 ms. One-way (only A's bans
 * travel, which is what the cases measure); no engine to stop, no bucket
 * to join: the outage and cold-join rows are '–'.
 */
class PeeringTransport implements Transport {
  readonly name = 'Couic peering (HTTPS via nginx)';
  readonly #set = new PeeredSet();

  async start(n: number): Promise<FleetDaemon[]> {
    return (await this.#set.start(n)) as unknown as FleetDaemon[];
  }

  async stop(): Promise<void> {
    await this.#set.stop();
  }

  async close(): Promise<void> {
    await this.#set.stop();
  }
}

/** Every transport measured in this run, each in its own column. */
const TRANSPORTS: readonly (() => Transport)[] = [() => new NatsTransport(), () => new PeeringTransport()];

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

/** The rows of every case on transport `t`. */
async function cases(t: Transport, put: (measurement: string, value: string, target?: string, met?: boolean) => void, notes: string[]): Promise<void> {
  // 2 nodes: latency, burst, an outage
  let ds = await t.start(2);
  const l2 = await latency(ds, 11);
  put(`propagation, 2 nodes, p50 / p99 / max (ms, ${SAMPLES} bans)`, `${f1(q(l2, 0.5))} / ${f1(q(l2, 0.99))} / ${f1(Math.max(...l2))}`, `p99 ≤ ${TARGETS.p99At2}`, q(l2, 0.99) <= TARGETS.p99At2);
  const b = await burst(ds, 12);
  put(`burst of ${BURST.toLocaleString('en-US')} bans: acknowledged on A (s)`, b.ackS.toFixed(2));
  put(`burst of ${BURST.toLocaleString('en-US')} bans: all in B's kernel (s, from the POST)`, b.allS.toFixed(2), `≤ ${TARGETS.burstS}`, b.allS <= TARGETS.burstS);
  if (t.outage !== undefined) {
    const [a, bd] = ds as [FleetDaemon, FleetDaemon];
    const lost = Array.from({ length: OUTAGE }, (_, i) => addr(13, i));
    await t.outage(async () => {
      await ban(a, lost);
      await a.restart();
    });
    const t1 = performance.now();
    const conv = await waitFor(async () => {
      const l = await bd.list();
      return lost.every((c) => l.has(`${c}/32`));
    }, 60_000, 20);
    const l = await bd.list();
    const missing = lost.filter((c) => !l.has(`${c}/32`)).length;
    put(`engine outage: ${OUTAGE.toLocaleString('en-US')} bans on A while down (A restarted too): lost on B`, String(missing), `${TARGETS.lost}`, missing === 0);
    put('engine outage: server back → B holds all of them (s)', conv ? (ms(t1) / 1000).toFixed(2) : '> 60');
  }
  await t.stop();

  // 5 nodes
  ds = await t.start(5);
  const l5 = await latency(ds, 14);
  put(`propagation, 5 nodes (to the last of 4), p50 / p99 / max (ms, ${SAMPLES} bans)`, `${f1(q(l5, 0.5))} / ${f1(q(l5, 0.99))} / ${f1(Math.max(...l5))}`);
  await t.stop();

  // cold join
  if (t.seedCold !== undefined) {
    const cold = await t.seedCold(COLD);
    notes.push(`${t.name}: bucket filled with ${COLD.toLocaleString('en-US')} holds in ${cold.seedS.toFixed(1)} s (not timed)`);
    const t2 = performance.now();
    const c = await cold.join();
    const spawned = ms(t2) / 1000;
    const ok = await waitFor(async () => (await dropCount(c)) >= COLD, 120_000, 100);
    const coldS = ms(t2) / 1000;
    put(`cold join into ${COLD.toLocaleString('en-US')} shared entries: all in its kernel (s, from its spawn; API up at ${spawned.toFixed(1)} s)`, ok ? coldS.toFixed(1) : '> 120', `≤ ${TARGETS.coldS}`, ok && coldS <= TARGETS.coldS);
    const st = await c.fleet();
    notes.push(`${t.name}: joiner after the cold join: lag ${st.lag.messages} messages, applied revision ${st.applied.revision}, resync ${st.last_catch_up?.mode ?? '–'}`);
  }
}

async function main(): Promise<void> {
  const started = new Date();
  const rows: Row[] = [];
  const notes: string[] = [];
  const names: string[] = [];
  for (const make of TRANSPORTS) {
    const t = make();
    names.push(t.name);
    const put = (measurement: string, value: string, target = '', met?: boolean): void => {
      let r = rows.find((x) => x.measurement === measurement);
      if (r === undefined) {
        r = { measurement, values: new Map(), target, met: new Map() };
        rows.push(r);
      }
      r.values.set(t.name, value);
      r.met.set(t.name, met === undefined ? '' : met ? 'yes' : 'NO');
    };
    try {
      await cases(t, put, notes);
    } finally {
      await t.close();
    }
  }

  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`\n### Fleet: \`node dist/bench/fleet.js${QUICK ? ' --quick' : ''}\` (${started.toISOString().slice(0, 16).replace('T', ' ')} UTC)\n`);
  console.log(`Machine: ${cpu}, ${os.cpus().length} CPUs, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, Linux ${os.release()}, Node ${process.version}; nats-server on loopback, every daemon on this machine.\n`);
  const one = names.length === 1;
  console.log(`| measurement | ${names.join(' | ')} | target | ${one ? 'met' : names.map((n) => `met (${n})`).join(' | ')} |`);
  console.log(`| --- | ${names.map(() => '---').join(' | ')} | --- | ${names.map(() => '---').join(' | ')} |`);
  for (const r of rows) {
    console.log(`| ${r.measurement} | ${names.map((n) => r.values.get(n) ?? '–').join(' | ')} | ${r.target} | ${names.map((n) => r.met.get(n) ?? '–').join(' | ')} |`);
  }
  console.log('');
  for (const n of notes) console.log(`- ${n}`);
  if (!one) console.log('- Couic peering: A pushes to each node through its own nginx (TLS); at most one batch every 250 ms per peer, so bans arriving 5 ms apart wait for the next slot (bench/peering.js measures an isolated ban beside them).');
}

await main();
process.exit(0);
