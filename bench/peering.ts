/**
 * Couic's peering (issue 14, docs/peering.md), 2 nodes on this machine: A
 * pushes to B through nginx with TLS (docs/nginx/couic.conf). Propagation
 * latency from the acknowledgment of a ban on A (the 200 of POST /v1/bans)
 * to B's event stream saying B committed it (kernel map + journal), p50 /
 * p99 / max, side by side for the two ways bans arrive:
 *
 *   - isolated: each ban after a quiet period (≥ 300 ms): the link sends at once;
 *   - streamed: bans 5 ms apart (as bench/fleet.js does): at most one batch
 *     every 250 ms per peer, so a ban waits for the next slot.
 *
 * And what peering costs the sender: a burst of bans in one POST,
 * acknowledged on a daemon without peering, on one peering with a hung peer
 * (the sender's own work only), and on A peering with B (B, nginx and A
 * then share the two CPUs), with when B holds them all.
 *
 *   node dist/bench/peering.js [--quick]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { startDaemon } from '../test/lib/daemon.js';
import { sleep, waitFor } from '../test/lib/wait.js';
import { startHungPeer } from '../test/peering/lib.js';
import { PeeredSet, type PeeredDaemon } from './lib/peering.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
const QUICK = values.quick === true;
const SAMPLES = QUICK ? 10 : 100;
const BURST = QUICK ? 500 : 10_000;
const ROUNDS = 3;
const DATAPLANE = { drop_exact: 65_536 };

/** POSTs `BURST` bans in one request (base: the second octet); returns the seconds until the 200. */
async function burst(d: { request: PeeredDaemon['request'] }, base: number): Promise<number> {
  const body = Array.from({ length: BURST }, (_, i) => ({ cidr: `10.${base}.${i >> 8}.${i & 255}`, expiration: 0 }));
  const t0 = performance.now();
  const r = await d.request('POST', '/v1/bans/fail2ban-burst', { body });
  if (r.status !== 200) throw new Error(`burst: ${r.status} ${r.text.slice(0, 200)}`);
  return (performance.now() - t0) / 1000;
}

const q = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
};
const f1 = (x: number): string => x.toFixed(1);

/** cidr -> performance.now() of its 'added' event on `d`. */
async function arrivals(d: PeeredDaemon): Promise<{ at: Map<string, number>; close(): void }> {
  const at = new Map<string, number>();
  const ws = new WebSocket(`ws+unix://${d.socketPath}:/v1/events`, { headers: { authorization: `Bearer ${d.token}` } });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('message', (m) => {
    const e = JSON.parse(String(m)) as { type: string; cidr?: string };
    if (e.type === 'added' && e.cidr !== undefined && !at.has(e.cidr)) at.set(e.cidr, performance.now());
  });
  return { at, close: () => ws.close() };
}

async function latency(a: PeeredDaemon, b: PeeredDaemon, base: number, gapMs: number): Promise<number[]> {
  const arr = await arrivals(b);
  const out: number[] = [];
  for (let i = 0; i < SAMPLES; i += 1) {
    const cidr = `10.${base}.${i >> 8}.${i & 255}`;
    const r = await a.request('POST', '/v1/bans/fail2ban-bench', { body: { cidr, expiration: 0 } });
    if (r.status !== 200 && r.status !== 201) throw new Error(`ban: ${r.status} ${r.text}`);
    const acked = performance.now();
    if (!(await waitFor(() => arr.at.has(`${cidr}/32`), 10_000, 1))) throw new Error(`${cidr} never reached B`);
    out.push(arr.at.get(`${cidr}/32`)! - acked);
    await sleep(gapMs);
  }
  arr.close();
  return out;
}

async function main(): Promise<void> {
  const started = new Date();
  const set = new PeeredSet();
  let iso: number[];
  let str: number[];
  const off: number[] = [];
  const hungAck: number[] = [];
  const on: number[] = [];
  const all: number[] = [];
  const plain = await startDaemon({ dataplane: DATAPLANE, env: { COUIC_LOG_LEVEL: 'warn' } });
  try {
    for (let r = 0; r < ROUNDS; r += 1) off.push(await burst(plain, 30 + r));
  } finally {
    await plain.stop();
  }
  // The sender's own cost: peering with a peer that never answers (nothing applied anywhere else).
  const hung = await startHungPeer();
  const lone = await startDaemon({
    dataplane: DATAPLANE, env: { COUIC_LOG_LEVEL: 'warn' },
    extraToml: `[peering]\nenabled = true\nmax_backlog = 1048576\nmax_backlog_bytes = 1073741824\n[[peering.peers]]\nhost = "127.0.0.1"\nport = ${hung.port}\ntls = false\ntoken = "99999999-1111-4222-8333-444444444444"\n`,
  });
  try {
    for (let r = 0; r < ROUNDS; r += 1) hungAck.push(await burst(lone, 50 + r));
  } finally {
    await lone.stop();
    await hung.close();
  }
  try {
    const [a, b] = (await set.start(2, DATAPLANE)) as [PeeredDaemon, PeeredDaemon];
    iso = await latency(a, b, 21, 300);
    str = await latency(a, b, 22, 5);
    for (let r = 0; r < ROUNDS; r += 1) {
      const t0 = performance.now();
      on.push(await burst(a, 40 + r));
      const want = 2 * SAMPLES + (r + 1) * BURST;
      if (!(await waitFor(async () => ((await b.request('GET', '/v1/stats')).json() as { drop_cidr_count: number }).drop_cidr_count >= want, 60_000, 5))) {
        throw new Error('B never held the burst');
      }
      all.push((performance.now() - t0) / 1000);
    }
  } finally {
    await set.stop();
  }
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`\n### Peering: \`node dist/bench/peering.js${QUICK ? ' --quick' : ''}\` (${started.toISOString().slice(0, 16).replace('T', ' ')} UTC)\n`);
  console.log(`Machine: ${cpu}, ${os.cpus().length} CPUs, Linux ${os.release()}, Node ${process.version}; both daemons and nginx on this machine.\n`);
  console.log('| propagation A → B, 2 nodes (ms) | isolated bans (≥ 300 ms apart) | bans 5 ms apart |');
  console.log('| --- | --- | --- |');
  console.log(`| p50 | ${f1(q(iso, 0.5))} | ${f1(q(str, 0.5))} |`);
  console.log(`| p99 | ${f1(q(iso, 0.99))} | ${f1(q(str, 0.99))} |`);
  console.log(`| max | ${f1(Math.max(...iso))} | ${f1(Math.max(...str))} |`);
  console.log(`| samples | ${iso.length} | ${str.length} |`);
  console.log('');
  const med = (xs: number[]): string => q(xs, 0.5).toFixed(2);
  console.log(`| burst of ${BURST.toLocaleString('en-US')} bans in one POST (s, median of ${ROUNDS}) | without peering | peering with a hung peer (A's own cost) | peering with B |`);
  console.log('| --- | --- | --- | --- |');
  console.log(`| acknowledged on A | ${med(off)} | ${med(hungAck)} | ${med(on)} |`);
  console.log(`| all in B (from the POST) | – | – | ${med(all)} |`);
  console.log('');
  console.log('- Streamed bans wait for the link\'s next batch: at most one every 250 ms per peer (Couic\'s documented interval), so a stream of bans costs a peer 4 requests a second, not one per ban.');
}

await main();
process.exit(0);
