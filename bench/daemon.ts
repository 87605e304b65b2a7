/**
 * Daemon benchmark: the real daemon (dist/src/daemon/main.js) on a temp
 * working dir, driven over its Unix socket.
 *
 *   node dist/bench/daemon.js [--quick] [--entries N] [--only creates|peer] [--prof DIR]
 *
 * Measures, side by side in one run:
 *  - single-entry creates/s with 1, 16, 64 concurrent clients, p50/p99
 *    (batching = true, then batching = false: one helper call per entry);
 *  - entries/s through the peer batch route;
 *  - restart time with N (default 1,000,000) journaled entries until they
 *    are back in the kernel and the API answers (after a kill -9);
 *  - daemon RSS with N entries.
 * Prints a Markdown table. Needs root (the helper loads XDP maps).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sleep } from '../test/lib/wait.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const MAIN = path.join(ROOT, 'dist', 'src', 'daemon', 'main.js');

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    entries: { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
    /** Run only one part: "creates" (single creates) or "peer" (peer fill, restart, RSS). */
    only: { type: 'string' },
    /** Write CPU profiles of the daemon processes (node --cpu-prof) into DIR. */
    prof: { type: 'string' },
  },
});
const ONLY = values.only;
const PROF = values.prof === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', path.resolve(values.prof)];
const QUICK = values.quick === true;
const N_BIG = Number(values.entries ?? 1_000_000);
const LEVEL = values['log-level'] ?? 'info';
const RUN_MS = QUICK ? 1500 : 5000;

/* ------------------------------------------------------------------ */
/* Minimal keep-alive HTTP/1.1 client on a Unix socket (cheap enough     */
/* that the client is not what we measure).                              */
/* ------------------------------------------------------------------ */

class Conn {
  readonly #sock: net.Socket;
  /** Received bytes not consumed yet (chunks, concatenated only once a response is complete). */
  #chunks: Buffer[] = [];
  #size = 0;
  /** Length of the response being received once its head is known, else -1. */
  #need = -1;
  #waiter: ((r: { status: number; body: string }) => void) | undefined;
  #fail: ((e: Error) => void) | undefined;

  constructor(socketPath: string) {
    this.#sock = net.connect(socketPath);
    this.#sock.setNoDelay(true);
    this.#sock.on('data', (d: Buffer) => this.#onData(d));
    this.#sock.on('error', (e) => this.#fail?.(e));
    this.#sock.on('close', () => this.#fail?.(new Error('connection closed')));
  }

  #onData(d: Buffer): void {
    this.#chunks.push(d);
    this.#size += d.length;
    if (this.#need < 0) {
      const buf = this.#chunks.length === 1 ? d : Buffer.concat(this.#chunks, this.#size);
      this.#chunks = [buf];
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.toString('latin1', 0, end);
      const m = /content-length:\s*(\d+)/i.exec(head);
      this.#need = end + 4 + (m === null ? 0 : Number(m[1]));
    }
    if (this.#size < this.#need) return;
    const buf = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#size);
    const end = buf.indexOf('\r\n\r\n');
    const status = Number(buf.toString('latin1', 9, 12));
    // Decoded only when read: a peer echo is ~800 KB the bench never reads,
    // and the client shares the CPUs with the daemon it measures.
    const bytes = buf.subarray(end + 4, this.#need);
    const rest = buf.subarray(this.#need);
    this.#chunks = rest.length === 0 ? [] : [rest];
    this.#size = rest.length;
    this.#need = -1;
    const w = this.#waiter;
    this.#waiter = undefined;
    this.#fail = undefined;
    w?.({
      status,
      get body(): string {
        return bytes.toString('utf8');
      },
    });
  }

  /** `method path` with a JSON body, as bytes (built once, sent as often as wanted). */
  static encode(method: string, p: string, token: string, body?: string): Buffer {
    const b = body === undefined ? '' : body;
    const head =
      `${method} ${p} HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer ${token}\r\n` +
      (body === undefined ? '' : `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(b)}\r\n`) +
      '\r\n';
    return Buffer.from(head + b);
  }

  request(method: string, p: string, token: string, body?: string): Promise<{ status: number; body: string }> {
    return this.send(Conn.encode(method, p, token, body));
  }

  send(bytes: Buffer): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      this.#waiter = resolve;
      this.#fail = reject;
      this.#sock.write(bytes);
    });
  }

  close(): void {
    this.#fail = undefined;
    this.#sock.destroy();
  }
}

/* ------------------------------------------------------------------ */
/* Daemon process                                                       */
/* ------------------------------------------------------------------ */

interface Daemon {
  readonly proc: ChildProcess;
  readonly socket: string;
  readonly work: string;
  token: string;
  out: string;
}

function writeConfig(dir: string, batching: boolean, cap: number): string {
  const work = path.join(dir, 'work');
  mkdirSync(work, { recursive: true });
  const cfg = path.join(dir, 'couic.toml');
  writeFileSync(cfg, [
    'ifaces = []',
    `working_dir = ${JSON.stringify(work)}`,
    '[server]',
    `socket = ${JSON.stringify(path.join(dir, 'couic.sock'))}`,
    '[logging]',
    `level = ${JSON.stringify(LEVEL)}`,
    // log files as a packaged daemon writes them (text, daily), in the bench's dir
    `dir = ${JSON.stringify(path.join(dir, 'log'))}`,
    '[dataplane]',
    // Never pin: benched daemons start and stop many times and must not share pins.
    'pin_dir = ""',
    `drop_exact = ${cap}`,
    `batching = ${batching}`,
    '[journal]',
    'fsync = true',
    `compact_after = ${Math.max(1_000_000, cap)}`,
    '[queue]',
    'max_pending = 2000000',
    '',
  ].join('\n'));
  return cfg;
}

/** Daemons started and not yet exited: killed when the bench ends, whatever ends it. */
const running = new Set<ChildProcess>();

async function startDaemon(dir: string): Promise<Daemon & { startMs: number }> {
  const socket = path.join(dir, 'couic.sock');
  const t0 = performance.now();
  const proc = spawn(process.execPath, [...PROF, MAIN, '-c', path.join(dir, 'couic.toml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  const d: Daemon = { proc, socket, work: path.join(dir, 'work'), token: '', out: '' };
  let keep = '';
  let partial = '';
  const grab = (b: Buffer): void => {
    // Keep only what we need: lines about startup (no per-request noise).
    const lines = (partial + b.toString()).split('\n');
    partial = lines.pop() ?? '';
    const kept = lines.filter((l) => /resynced|replayed|"level":(50|60)|Starting/.test(l));
    if (kept.length > 0) keep = (keep + kept.join('\n') + '\n').slice(-20000);
    d.out = keep;
  };
  proc.stdout?.on('data', grab);
  proc.stderr?.on('data', grab);
  let exited = false;
  proc.once('exit', () => (exited = true));
  for (;;) {
    if (exited) throw new Error(`daemon exited during startup:\n${d.out}`);
    if (existsSync(socket)) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect(socket);
        s.once('connect', () => { s.destroy(); resolve(true); });
        s.once('error', () => resolve(false));
      });
      if (ok) break;
    }
    await sleep(5);
  }
  const startMs = performance.now() - t0;
  d.token = /^token = "([^"]+)"$/m.exec(readFileSync(path.join(d.work, 'rbac', 'clients', 'couicctl.toml'), 'utf8'))![1]!;
  return { ...d, startMs, get out() { return d.out; } } as Daemon & { startMs: number };
}

async function stopDaemon(d: Daemon, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (d.proc.exitCode !== null || d.proc.signalCode !== null) return;
  const done = new Promise<void>((r) => d.proc.once('exit', () => r()));
  d.proc.kill(signal);
  await done;
}

/** Resident set size (VmRSS), or its high-water mark since the process started (VmHWM), in MB. */
function rssMb(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Number(m[1]) / 1024;
}

const v4 = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`;

/**
 * The floor of any Node HTTP daemon on this machine in this run: node:http
 * answering 201 to the same requests, with nothing behind it (no routing,
 * auth, validation, kernel or journal), in a process of its own.
 */
const TRIVIAL_SERVER = `
const http = require('node:http');
const body = '{"creation":0,"cidr":"10.0.0.0/32","tag":"bench","expiration":0}';
http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    JSON.parse(Buffer.concat(chunks).toString());
    res.writeHead(201, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  });
}).listen(process.argv[1], () => process.stdout.write('up\\n'));
`;

async function startTrivialServer(dir: string): Promise<Daemon> {
  mkdirSync(dir, { recursive: true });
  const socket = path.join(dir, 'trivial.sock');
  const proc = spawn(process.execPath, ['-e', TRIVIAL_SERVER, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    proc.stdout?.once('data', () => resolve());
    proc.once('exit', (code) => reject(new Error(`trivial server exited (${code})`)));
  });
  return { proc, socket, work: dir, token: 'none', out: '' };
}

/* ------------------------------------------------------------------ */
/* Measurements                                                         */
/* ------------------------------------------------------------------ */

interface CreateResult { clients: number; ops: number; perSec: number; p50: number; p99: number; errors: number }

async function singleCreates(d: Daemon, clients: number, base: number, ms: number): Promise<CreateResult> {
  const conns = Array.from({ length: clients }, () => new Conn(d.socket));
  const lat: number[] = [];
  let errors = 0;
  let next = base;
  const t0 = performance.now();
  const end = t0 + ms;
  await Promise.all(conns.map(async (c) => {
    while (performance.now() < end) {
      const cidr = v4(next++);
      const s = performance.now();
      const r = await c.request('POST', '/v1/drop', d.token, `{"cidr":"${cidr}","tag":"bench","expiration":0}`);
      lat.push(performance.now() - s);
      if (r.status !== 201) {
        errors += 1;
        if (errors === 1) console.error(`create ${cidr}: ${r.status} ${r.body}`);
      }
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  for (const c of conns) c.close();
  lat.sort((a, b) => a - b);
  const q = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN;
  return { clients, ops: lat.length, perSec: lat.length / secs, p50: q(0.5), p99: q(0.99), errors };
}

async function peerFill(d: Daemon, from: number, count: number, perRequest: number, parallel: number): Promise<{ perSec: number; secs: number }> {
  // Requests are built before the clock starts: the client's own work is
  // not what we measure (it shares the CPUs with the daemon).
  const requests: Buffer[] = [];
  for (let start = from; start < from + count; start += perRequest) {
    const jobs: string[] = [];
    for (let i = start; i < Math.min(start + perRequest, from + count); i += 1) {
      jobs.push(`{"action":"add","entry":{"cidr":"${v4(i)}","tag":"peer${i % 16}","expiration":0}}`);
    }
    requests.push(Conn.encode('POST', '/v1/drop/peer', d.token, `[${jobs.join(',')}]`));
  }
  const conns = Array.from({ length: parallel }, () => new Conn(d.socket));
  let next = 0;
  const t0 = performance.now();
  await Promise.all(conns.map(async (c) => {
    while (next < requests.length) {
      const r = await c.send(requests[next++]!);
      if (r.status !== 201) throw new Error(`peer: ${r.status} ${r.body.slice(0, 300)}`);
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  for (const c of conns) c.close();
  return { perSec: count / secs, secs };
}

async function main(): Promise<void> {
  if (!existsSync(MAIN)) throw new Error(`build first: ${MAIN} missing (npx tsc -p .)`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'couic-bench-'));
  const rows: string[] = [];
  const fmt = (n: number, d = 0): string => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '-');
  try {
    // 1) single-entry creates, batching on / off
    const creates: Record<string, CreateResult[]> = {};
    for (const batching of ONLY === 'peer' ? [] : [true, false]) {
      const dir = path.join(tmp, `single-${batching}`);
      writeConfig(dir, batching, 1_048_576);
      const d = await startDaemon(dir);
      const results: CreateResult[] = [];
      let base = 0;
      for (const c of [1, 16, 64]) {
        await singleCreates(d, c, 5_000_000 + base, 300); // warm-up
        base += 200_000;
        const r = await singleCreates(d, c, base, RUN_MS);
        base += 200_000;
        results.push(r);
        console.error(`batching=${batching} clients=${c}: ${fmt(r.perSec)}/s p50 ${fmt(r.p50, 2)} ms p99 ${fmt(r.p99, 2)} ms errors ${r.errors}`);
      }
      creates[String(batching)] = results;
      await stopDaemon(d);
    }

    // 1b) the same load against a node:http server that does nothing (calibration)
    const trivial: CreateResult[] = [];
    if (ONLY !== 'peer') {
      const t = await startTrivialServer(path.join(tmp, 'trivial'));
      for (const c of [1, 16, 64]) {
        await singleCreates(t, c, 0, 300);
        const r = await singleCreates(t, c, 0, RUN_MS);
        trivial.push(r);
        console.error(`trivial node:http clients=${c}: ${fmt(r.perSec)}/s p50 ${fmt(r.p50, 2)} ms p99 ${fmt(r.p99, 2)} ms`);
      }
      await stopDaemon(t);
    }

    // 2) peer route, then 3) restart with N entries and 4) RSS
    let peer = { perSec: NaN, secs: NaN };
    let rssIdle = NaN;
    let rssFull = NaN;
    let rssAfterList = NaN;
    let rssRestarted = NaN;
    let rssRestartPeak = NaN;
    let restartMs = NaN;
    let inKernel = NaN;
    if (ONLY !== 'creates') {
      const dir = path.join(tmp, 'big');
      writeConfig(dir, true, Math.max(1_048_576, N_BIG));
      let d = await startDaemon(dir);
      rssIdle = rssMb(d.proc.pid!);
      peer = await peerFill(d, 0, N_BIG, 10_000, 2);
      console.error(`peer: ${fmt(peer.perSec)} entries/s (${N_BIG} in ${fmt(peer.secs, 2)} s)`);
      await sleep(500);
      rssFull = rssMb(d.proc.pid!);
      // verify the count through the API
      const c = new Conn(d.socket);
      const list = await c.request('GET', '/v1/drop', d.token);
      c.close();
      const listed = (list.body.match(/"cidr"/g) ?? []).length;
      rssAfterList = rssMb(d.proc.pid!);
      console.error(`listed ${listed} entries; RSS idle ${fmt(rssIdle)} MB, with ${N_BIG}: ${fmt(rssFull)} MB, after a full list: ${fmt(rssAfterList)} MB`);
      // (a profiled daemon must exit cleanly to write its profile)
      await stopDaemon(d, PROF.length > 0 ? 'SIGTERM' : 'SIGKILL');
      const t0 = performance.now();
      d = await startDaemon(dir);
      restartMs = performance.now() - t0;
      // Settled: past the compaction of the long journal tail a restart schedules 2 s after start.
      // (Also past the log's flush period: the resync line is read only after it.)
      await sleep(3000);
      const m = /"entries":(\d+)[^\n]*"reason":"start"[^\n]*kernel maps resynced/.exec(d.out);
      inKernel = m === null ? NaN : Number(m[1]);
      rssRestarted = rssMb(d.proc.pid!);
      rssRestartPeak = rssMb(d.proc.pid!, 'VmHWM');
      console.error(`restart (after kill -9) with ${N_BIG} entries: ${fmt(restartMs)} ms, ${inKernel} in the kernel, RSS ${fmt(rssRestarted)} MB (peak ${fmt(rssRestartPeak)} MB)`);
      for (const l of d.out.split('\n')) {
        const j = /"(?:ms|entries|snapshotRecords|walRecords)":/.test(l) ? l.replace(/^.*?"msg":"([^"]*)".*$/, '$1') : '';
        if (/journal replayed|kernel maps resynced/.test(j)) {
          const f = (k: string): string => /"ms":(\d+)/.test(l) && k === 'ms' ? `${/"ms":(\d+)/.exec(l)![1]} ms` : '';
          console.error(`  ${j}: ${f('ms')}`);
        }
      }
      await stopDaemon(d);
    }

    // Report
    const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
    rows.push(`## couic daemon benchmark — ${new Date().toISOString()}`);
    rows.push('');
    rows.push(`Machine: ${cpu}, ${os.cpus().length} CPUs, ${fmt(os.totalmem() / 2 ** 30, 1)} GiB, Linux ${os.release()}, Node ${process.version}. ` +
      `Mode: ${QUICK ? 'quick' : 'full'} (${RUN_MS} ms per point), fsync on, log level ${LEVEL}, no interface attached.`);
    rows.push('');
    rows.push('| Measure | batching = true | batching = false (one helper call per entry) | do-nothing node:http server (calibration) | Target |');
    rows.push('| --- | --- | --- | --- | --- |');
    const on = creates['true'] ?? [];
    const off = creates['false'] ?? [];
    for (let i = 0; i < on.length; i += 1) {
      const a = on[i]!;
      const b = off[i];
      const cell = (r: CreateResult | undefined): string =>
        r === undefined ? '-' : `${fmt(r.perSec)}/s, p50 ${fmt(r.p50, 2)} ms, p99 ${fmt(r.p99, 2)} ms${r.errors ? `, ${r.errors} errors` : ''}`;
      rows.push(`| single creates, ${a.clients} client${a.clients > 1 ? 's' : ''} | ${cell(a)} | ${cell(b)} | ${cell(trivial[i])} | ${a.clients === 64 ? '≥ 10,000/s, p99 ≤ 20 ms' : ''} |`);
    }
    rows.push(`| peer route (10,000 jobs/request, 2 in parallel) | ${fmt(peer.perSec)} entries/s | | | ≥ 300,000/s |`);
    rows.push(`| restart after kill -9 with ${fmt(N_BIG)} journaled entries (until they are in the kernel and the API answers) | ${fmt(restartMs / 1000, 2)} s (${fmt(inKernel)} in the kernel) | | | ≤ 5 s |`);
    rows.push(`| daemon RSS with ${fmt(N_BIG)} entries (after peer fill / after restart, settled) | ${fmt(rssFull)} MB / ${fmt(rssRestarted)} MB (idle: ${fmt(rssIdle)} MB; peak during the restart: ${fmt(rssRestartPeak)} MB; after GET of all: ${fmt(rssAfterList)} MB) | | | ≤ 300 MB |`);
    const t64 = trivial[2];
    const on64 = on[2];
    if (t64 !== undefined && on64 !== undefined) {
      rows.push('');
      rows.push(`With 64 clients couic answers ${fmt((100 * on64.perSec) / t64.perSec)}% of what a node:http server that does nothing answers on this machine in this run (${fmt(t64.perSec)}/s, for scale).`);
    }
    console.log(rows.join('\n'));
  } finally {
    for (const p of running) p.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
