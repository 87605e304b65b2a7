/**
 * `/v1/bans/{owner}` benchmark against the real daemon (temp working dir,
 * test/lib/daemon.ts), driven over its Unix socket:
 *
 *  - single-ban latency, p50/p99: new /32 bans (kernel write + fdatasync),
 *    repeated bans (idempotent, nothing to write) and unbans, over one
 *    keep-alive connection (couic.py) and with a new connection per request
 *    (the C client, one process per ban);
 *  - array POST throughput (entries/s) for 2,000 and 20,000 bans in one
 *    request (a fail2ban restore), and the flush of those 20,000.
 *
 *   node dist/bench/bans.js [--n 2000] [--no-fsync]

 * (--no-fsync: [journal] fsync = false, to see the daemon's own share.)
 *
 * Prints a Markdown table. Needs root (the helper loads XDP maps).
 */
import http from 'node:http';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { startDaemon, type Daemon } from '../test/lib/daemon.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '2000' }, 'no-fsync': { type: 'boolean', default: false } } });
const N = Number(values.n);
const FSYNC = values['no-fsync'] !== true;
const J = FSYNC ? 'journal fdatasync' : 'journal write';

interface Res { status: number; body: string }

function request(d: Daemon, agent: http.Agent | false, method: string, path: string, body?: string): Promise<Res> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${d.token}` };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const req = http.request({ socketPath: d.socketPath, method, path, headers, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const f2 = (x: number): string => x.toFixed(2);
const fint = (x: number): string => Math.round(x).toLocaleString('en-US');

async function timed(n: number, fn: (i: number) => Promise<Res>, want: number): Promise<number[]> {
  const lat: number[] = [];
  for (let i = 0; i < n; i += 1) {
    const t0 = performance.now();
    const r = await fn(i);
    lat.push(performance.now() - t0);
    if (r.status !== want) throw new Error(`status ${r.status}: ${r.body}`);
  }
  return lat;
}

const ip = (base: number, i: number): string => `10.${base}.${(i >> 8) & 255}.${i & 255}`;

async function main(): Promise<void> {
  const d = await startDaemon({ dataplane: { drop_exact: 262_144 }, ...(FSYNC ? {} : { extraToml: '\n[journal]\nfsync = false\n' }) });
  const rows: string[] = [];
  try {
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const keep = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (const [label, agent, base] of [['one keep-alive connection', keep, 1], ['new connection per request', false, 2]] as const) {
      // warm-up
      await timed(200, (i) => request(d, agent, 'POST', '/v1/bans/warm', JSON.stringify({ cidr: ip(base + 100, i), expiration: exp })), 200);
      const ban = await timed(N, (i) => request(d, agent, 'POST', '/v1/bans/bench', JSON.stringify({ cidr: ip(base, i), expiration: exp })), 200);
      const again = await timed(N, (i) => request(d, agent, 'POST', '/v1/bans/bench', JSON.stringify({ cidr: ip(base, i), expiration: exp })), 200);
      const unban = await timed(N, (i) => request(d, agent, 'DELETE', `/v1/bans/bench/${ip(base, i)}/32`), 204);
      for (const [what, lat] of [[`ban (new /32: kernel + ${J})`, ban], ['ban again (idempotent, nothing written)', again], [`unban (kernel + ${J})`, unban]] as const) {
        const total = lat.reduce((a, b) => a + b, 0);
        rows.push(`| ${what}, ${label} | ${f2(pct(lat, 50))} | ${f2(pct(lat, 99))} | ${fint((lat.length * 1000) / total)} |`);
      }
    }
    keep.destroy();
    const arrays: string[] = [];
    for (const [n, base] of [[2_000, 20], [20_000, 30]] as const) {
      const body = JSON.stringify(Array.from({ length: n }, (_, i) => ({ cidr: ip(base + (i >> 16), i & 0xffff), expiration: exp })));
      const t0 = performance.now();
      const r = await request(d, false, 'POST', '/v1/bans/restore', body);
      const ms = performance.now() - t0;
      if (r.status !== 200 || JSON.parse(r.body).applied !== n) throw new Error(`${r.status} ${r.body}`);
      arrays.push(`| array POST of ${fint(n)} bans (${fint(body.length / 1024)} KiB) | ${fint(ms)} | ${fint((n * 1000) / ms)} |`);
    }
    const t1 = performance.now();
    const fl = await request(d, false, 'DELETE', '/v1/bans/restore');
    const flMs = performance.now() - t1;
    const removed = JSON.parse(fl.body).removed as number;
    arrays.push(`| flush of ${fint(removed)} bans (one DELETE) | ${fint(flMs)} | ${fint((removed * 1000) / flMs)} |`);

    const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
    console.log(`## /v1/bans benchmark — ${new Date().toISOString()}\n`);
    console.log(`Machine: ${cpu}, ${os.cpus().length} CPUs, Linux ${os.release()}, Node ${process.version}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}. ` +
      `Real daemon, fsync ${FSYNC ? 'on' : 'OFF'}, ${N} sequential requests per row (client: node:http over the Unix socket).\n`);
    console.log('| single request | p50 (ms) | p99 (ms) | requests/s |');
    console.log('| --- | ---: | ---: | ---: |');
    for (const r of rows) console.log(r);
    console.log('\n| batch | time (ms) | entries/s |');
    console.log('| --- | ---: | ---: |');
    for (const r of arrays) console.log(r);
  } finally {
    await d.stop();
  }
}

await main();
