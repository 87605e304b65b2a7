/**
 * Bans per second through REAL fail2ban (a private fail2ban-server started
 * inside a bench network namespace, research §4/§5), in one run:
 *   - N addresses in ONE `fail2ban-client set bench banip …` call (timed
 *     until the backend holds all N: the call for synchronous shell actions,
 *     the daemon's claim count for couic.py, which queues);
 *   - stop (flush), then the restore of the N bans at the next start (timed
 *     from the server's spawn until the backend holds all N again);
 * for: a no-op `true` action (the shell-path ceiling), couic.conf
 * (couic-ban), the seed's action (Couic's fail2ban page: `couicctl drop
 * add|delete` per ban, through the native couicctl front), a Python action that does nothing (the Python-path ceiling),
 * couic.py, and the stock iptables-multiport, iptables-ipset and nftables
 * actions (they change only the namespace's tables); plus a 20,000-ban
 * restore through the Python no-op and through couic.py.
 *
 *   node dist/bench/fail2ban.js [--quick]     (--quick: smaller N, < 2 min)
 *
 * Prints a Markdown table with the date and machine, then the targets.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, constants as fsc, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildCouicBan, buildCouicctl, COUIC_BAN, COUICCTL, F2b, SEED_ACTION, startStub, tmpDir, writeClientFile, type Stub } from '../test/fail2ban/lib.js';
import { startDaemon, type Daemon } from '../test/lib/daemon.js';
import { exec, randSuffix, run } from '../test/lib/netns.js';
import { sleep } from '../test/lib/wait.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    /** Only the cases whose label starts with one of these (comma-separated); for iterating. */
    only: { type: 'string' },
  },
});
const ONLY = values.only?.split(',') ?? [];
const QUICK = values.quick === true;
const N = QUICK ? 300 : 2000;
const BIG = QUICK ? 3000 : 20000;

const NOOP = '[Definition]\nactionban = true\nactionunban = true\nactionflush = true\n';
/**
 * The Python-path ceiling: a Python action that does nothing (flush() says
 * done, so a stop costs no per-ban unban, as with couic.py). What couic.py
 * reaches is measured against this, in the same server, same N.
 */
const PY_NOOP = [
  'from fail2ban.server.action import ActionBase',
  '',
  'class NoopAction(ActionBase):',
  '\tbanEpoch = 0',
  '',
  '\tdef start(self):',
  '\t\tpass',
  '',
  '\tdef stop(self):',
  '\t\tpass',
  '',
  '\tdef ban(self, aInfo):',
  '\t\tpass',
  '',
  '\tdef unban(self, aInfo):',
  '\t\tpass',
  '',
  '\tdef flush(self):',
  '\t\treturn True',
  '',
  'Action = NoopAction',
  '',
].join('\n');
/** The floor of any shim that runs a client per ban (curl, socat, couic-ban): exec a binary that does nothing. */
const EXEC_NOOP = '[Definition]\nactionban = exec /bin/true\nactionunban = exec /bin/true\nactionflush = true\n';

interface Row {
  readonly label: string;
  readonly n: number;
  banS?: number;
  restoreS?: number;
  stopS?: number;
  note?: string;
}

function ips(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `10.${20 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`);
}

const secs = (t0: number): number => (performance.now() - t0) / 1000;
const fmt = (x: number | undefined, d = 2): string => (x === undefined ? '–' : x.toFixed(d));
const rate = (n: number, s: number | undefined): string => (s === undefined || s <= 0 ? '–' : Math.round(n / s).toLocaleString('en-US'));

async function waitCount(count: () => Promise<number>, n: number, timeoutMs: number, stepMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await count()) >= n) return true;
    if (Date.now() > deadline) return false;
    await sleep(stepMs);
  }
}

interface Case {
  readonly label: string;
  readonly action: string;
  readonly stock?: readonly string[];
  /** How many of the bench IPs the backend holds. */
  readonly count: (f: F2b, phase: 'ban' | 'restore') => Promise<number>;
  readonly n: number;
  /** Only the restore is reported (the banip fill is a set-up). */
  readonly restoreOnly?: boolean;
}

async function runCase(ns: string, c: Case): Promise<Row> {
  const row: Row = { label: c.label, n: c.n };
  const f = new F2b({ netns: ns, jails: { bench: { action: c.action } }, stock: c.stock ?? [], actions: { 'fbnoop.conf': NOOP, 'fbexec.conf': EXEC_NOOP, 'fbpynoop.py': PY_NOOP, 'couicseed.conf': SEED_ACTION } });
  const all = ips(c.n);
  const timeout = Math.max(120_000, c.n * 20);
  try {
    await f.start();
    const t0 = performance.now();
    const r = await f.client(['set', 'bench', 'banip', ...all], { timeoutMs: timeout });
    if (Number(r.stdout.trim()) !== c.n) throw new Error(`banip returned ${r.stdout.trim()}, want ${c.n}`);
    if (!(await waitCount(() => c.count(f, 'ban'), c.n, timeout, 20))) throw new Error(`backend holds ${await c.count(f, 'ban')} of ${c.n} after banip`);
    if (!c.restoreOnly) row.banS = secs(t0);
    const t1 = performance.now();
    await f.stop(timeout);
    row.stopS = secs(t1);
    const t2 = performance.now();
    await f.start();
    if (!(await waitCount(() => c.count(f, 'restore'), c.n, timeout, 50))) throw new Error(`backend holds ${await c.count(f, 'restore')} of ${c.n} after the restore`);
    row.restoreS = secs(t2);
    const errs = f.errors();
    if (errs.length > 0) row.note = `${errs.length} ERROR line(s): ${errs[0]?.slice(0, 160)}`;
  } catch (err) {
    row.note = `failed: ${(err as Error).message.split('\n')[0]}`;
    process.stderr.write(`${c.label}: ${(err as Error).message}\n${f.log().split('\n').slice(-20).join('\n')}\n`);
  } finally {
    await f.stop(60_000).catch(() => f.kill());
    await f.dispose();
  }
  return row;
}

/**
 * What one durable journal write costs on this disk, independent of couic:
 * a 90-byte O_DSYNC append (a single ban's frame), back to back and spaced
 * like the bans of a shell action (one every ~4 ms). Median, in ms.
 */
function dsyncWriteMs(gapMs: number, n = 300): number {
  const dir = tmpDir('fb-bench-dsync-');
  const fd = openSync(path.join(dir, 'wal'), fsc.O_WRONLY | fsc.O_CREAT | fsc.O_DSYNC, 0o600);
  const frame = Buffer.alloc(90, 1);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const t: number[] = [];
  try {
    for (let i = 0; i < n; i += 1) {
      const t0 = performance.now();
      writeSync(fd, frame, 0, frame.length, i * frame.length);
      t.push(performance.now() - t0);
      if (gapMs > 0) Atomics.wait(pause, 0, 0, gapMs);
    }
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  t.sort((a, b) => a - b);
  return t[n >> 1]!;
}

function logCount(f: F2b, what: RegExp): number {
  return f.log().split('\n').filter((l) => what.test(l)).length;
}

/** For actions with no backend to ask: the bans fail2ban logged (banip is synchronous; a restore logs each ticket before its actions). */
async function logged(f: F2b, phase: 'ban' | 'restore'): Promise<number> {
  return f.running ? logCount(f, phase === 'ban' ? /NOTICE\s+\[bench\] Ban / : /NOTICE\s+\[bench\] Restore Ban /) : 0;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespace, fail2ban-server)');
  buildCouicBan();
  buildCouicctl();
  const ns = `fb-bench-${randSuffix()}`;
  await run(['ip', 'netns', 'add', ns]);
  let daemon: Daemon | undefined;
  let nosync: Daemon | undefined;
  let stub: Stub | undefined;
  const stubDir = tmpDir('fb-bench-stub-');
  const rows: Row[] = [];
  const t0 = Date.now();
  try {
    await exec(ns, ['ip', 'link', 'set', 'lo', 'up']);
    daemon = await startDaemon({ dataplane: { drop_exact: Math.max(65536, BIG * 2) }, env: { COUIC_LOG_LEVEL: process.env['BENCH_LOG_LEVEL'] ?? 'info' } });
    const d = daemon;
    // the same daemon without the journal's fsync: isolates couic-ban's own cost from the durable ack
    nosync = await startDaemon({ extraToml: '[journal]\nfsync = false\n' });
    const dn = nosync;
    const clientN = path.join(dn.workingDir, 'rbac', 'clients', 'couicctl.toml');
    const claimsN = async (): Promise<number> => {
      const r = await dn.request('GET', '/v1/bans/fail2ban-bench');
      return r.status === 200 ? (r.json() as unknown[]).length : -1;
    };
    // couic-ban against a peer that answers at once: what the shim and the shell path cost without the daemon's work
    let stubBans = 0;
    stub = await startStub(path.join(stubDir, 'stub.sock'), (req) => {
      if (req.method === 'POST') stubBans += 1;
      return { status: 200, body: '{"applied":1}' };
    });
    const stubClient = writeClientFile(stubDir, '0b4c8f9e-2d3a-4f5b-8c6d-7e8f9a0b1c2d');
    const stubSock = stub.socketPath;
    const client = path.join(d.workingDir, 'rbac', 'clients', 'couicctl.toml');
    const claims = async (): Promise<number> => {
      const r = await d.request('GET', '/v1/bans/fail2ban-bench');
      return r.status === 200 ? (r.json() as unknown[]).length : -1;
    };
    const ctlConf = path.join(stubDir, 'couicctl.toml');
    writeFileSync(ctlConf, `mode = "local"\nsocket = ${JSON.stringify(d.socketPath)}\nclient_file = ${JSON.stringify(client)}\n`);
    const seedEntries = async (): Promise<number> => {
      const r = await d.request('GET', '/v1/drop');
      return r.status === 200 ? (r.json() as { tag: string | null }[]).filter((e) => e.tag === 'fail2ban-bench').length : -1;
    };
    const nsCount = async (argv: string[], parse: (s: string) => number): Promise<number> => {
      const r = await exec(ns, argv, { allowFail: true });
      return r.code === 0 ? parse(r.stdout) : 0;
    };
    const cases: Case[] = [
      {
        label: 'no-op `true` action (shell ceiling)',
        action: 'fbnoop',
        n: N,
        count: logged,
      },
      {
        label: 'exec of a no-op binary, `exec /bin/true` (floor of any client-per-ban shim; informative)',
        action: 'fbexec',
        n: N,
        count: logged,
      },
      {
        label: 'couic.conf (couic-ban)',
        action: `couic[couic_ban="${COUIC_BAN}", socket="${d.socketPath}", client_file="${client}"]`,
        n: N,
        count: claims,
      },
      {
        label: 'seed action: `couicctl drop add` / `drop delete` (native couicctl)',
        action: `couicseed[couicctl="${COUICCTL} -c ${ctlConf}"]`,
        n: N,
        count: seedEntries,
      },
      {
        label: 'couic.conf against an instant stub peer instead of the daemon (informative)',
        action: `couic[couic_ban="${COUIC_BAN}", socket="${stubSock}", client_file="${stubClient}"]`,
        n: N,
        // banip is synchronous; at the restart the stub counts the bans it answered since the stop
        count: async (_f, phase) => {
          if (phase === 'ban') return N;
          return stubBans >= 2 * N ? N : 0;
        },
      },
      {
        label: 'couic.conf, daemon without fsync (informative)',
        action: `couic[couic_ban="${COUIC_BAN}", socket="${dn.socketPath}", client_file="${clientN}"]`,
        n: N,
        count: claimsN,
      },
      {
        label: 'Python no-op action (Python-path ceiling)',
        action: 'fbpynoop.py',
        n: N,
        count: logged,
      },
      {
        label: 'couic.py',
        action: `couic.py[socket="${d.socketPath}", client_file="${client}"]`,
        n: N,
        count: claims,
      },
      {
        label: 'stock iptables-multiport',
        action: 'iptables-multiport[port="ssh", protocol="tcp"]',
        stock: ['iptables-multiport.conf'],
        n: N,
        count: () => nsCount(['iptables', '-w', '-S', 'f2b-bench'], (s) => s.split('\n').filter((l) => l.includes(' -s 10.')).length),
      },
      {
        label: 'stock iptables-ipset',
        action: 'iptables-ipset[port="ssh", protocol="tcp"]',
        stock: ['iptables-ipset.conf'],
        n: N,
        count: () => nsCount(['ipset', 'list', 'f2b-bench', '-t'], (s) => Number(/Number of entries: (\d+)/.exec(s)?.[1] ?? 0)),
      },
      {
        label: 'stock nftables',
        action: 'nftables[port="ssh", protocol="tcp"]',
        stock: ['nftables.conf'],
        n: N,
        count: () => nsCount(['nft', 'list', 'set', 'inet', 'f2b-table', 'addr-set-bench'], (s) => (s.match(/10\.\d+\.\d+\.\d+/g) ?? []).length),
      },
      {
        label: `Python no-op action, ${BIG.toLocaleString('en-US')}-ban restore`,
        action: 'fbpynoop.py',
        n: BIG,
        count: logged,
        restoreOnly: true,
      },
      {
        label: `couic.py, ${BIG.toLocaleString('en-US')}-ban restore`,
        action: `couic.py[socket="${d.socketPath}", client_file="${client}"]`,
        n: BIG,
        count: claims,
        restoreOnly: true,
      },
    ];
    for (const c of cases) {
      if (ONLY.length > 0 && !ONLY.some((p) => c.label.startsWith(p))) continue;
      process.stderr.write(`fail2ban bench: ${c.label} (N=${c.n})…\n`);
      rows.push(await runCase(ns, c));
    }
  } finally {
    await daemon?.stop();
    await nosync?.stop();
    await stub?.close();
    rmSync(stubDir, { recursive: true, force: true });
    await run(['ip', 'netns', 'del', ns], { allowFail: true });
  }

  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const f2bv = spawnSync('fail2ban-client', ['--version'], { encoding: 'utf8' }).stdout.trim().split('\n')[0] ?? '?';
  const out: string[] = [];
  out.push(`## fail2ban → ban backend benchmark${QUICK ? ' (--quick)' : ''} — ${new Date().toISOString()}`);
  out.push('');
  out.push(
    `Machine: ${cpu}, ${os.cpus().length} CPUs, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, Linux ${os.release()}, node ${process.version}, ${f2bv}; ` +
      `load average at end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; run took ${((Date.now() - t0) / 1000).toFixed(0)} s.`,
  );
  out.push('fail2ban-server in a bench namespace, backend = polling, sqlite on, loglevel INFO; couic daemon on its Unix socket.');
  out.push('banip: one `fail2ban-client set bench banip` call with N addresses, until the backend holds all N. restore: stop (flush), then start until all N are back (includes server start).');
  out.push('');
  out.push('| action | N | banip (s) | banip bans/s | stop (s) | restore (s) | restore bans/s | note |');
  out.push('|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    out.push(`| ${r.label} | ${r.n} | ${fmt(r.banS)} | ${rate(r.n, r.banS)} | ${fmt(r.stopS)} | ${fmt(r.restoreS)} | ${rate(r.n, r.restoreS)} | ${r.note ?? ''} |`);
  }
  out.push('');
  const get = (p: string): Row | undefined => rows.find((r) => r.label.startsWith(p));
  const noop = get('no-op');
  const conf = get('couic.conf (');
  const py = rows.find((x) => x.label === 'couic.py');
  const big = rows.find((x) => x.label.startsWith('couic.py') && x.label.includes('-ban restore'));
  const pyNoop = get('Python no-op action (');
  const pyNoopBig = rows.find((x) => x.label.startsWith('Python no-op') && x.label.includes('-ban restore'));
  const stocks = rows.filter((r) => r.label.startsWith('stock'));
  const r = (x: Row | undefined, k: 'banS' | 'restoreS'): number => (x?.[k] ? x.n / x[k]! : 0);
  const pct = noop && conf ? (100 * r(conf, 'banS')) / r(noop, 'banS') : 0;
  const beatsStock = stocks.length > 0 && stocks.every((s) => r(conf, 'banS') > r(s, 'banS') && r(conf, 'restoreS') > r(s, 'restoreS'));
  const ok = (b: boolean): string => (b ? 'met' : 'NOT met');
  if (ONLY.length > 0) out.push('(--only: targets below only cover the cases that ran)');
  out.push(`Target: couic.conf ≥ 80% of the no-op ceiling (banip): ${pct.toFixed(0)}% — ${ok(pct >= 80)}`);
  const stubRow = get('couic.conf against an instant stub');
  if (noop && stubRow && conf) {
    const perBan = (x: Row): number => (1000 * (x.banS ?? NaN)) / x.n;
    out.push(`  (per ban: ceiling ${perBan(noop).toFixed(2)} ms; couic-ban against a peer answering at once ${perBan(stubRow).toFixed(2)} ms = ${((100 * r(stubRow, 'banS')) / r(noop, 'banS')).toFixed(0)}% of the ceiling; the daemon's durable ack adds ${(perBan(conf) - perBan(stubRow)).toFixed(2)} ms)`);
    out.push(`  (one durable 90-byte journal write on this disk, no couic: ${dsyncWriteMs(0).toFixed(2)} ms back to back, ${dsyncWriteMs(4).toFixed(2)} ms when spaced 4 ms apart like shell bans)`);
  }
  const floor = get('exec of a no-op binary');
  if (noop && floor) {
    const fl = (100 * r(floor, 'banS')) / r(noop, 'banS');
    const vs = conf ? `; couic.conf reaches ${((100 * r(conf, 'banS')) / r(floor, 'banS')).toFixed(0)}% of that floor` : '';
    out.push(`  (for scale: exec'ing a binary that does nothing reaches ${fl.toFixed(0)}% of the ceiling${vs})`);
  }
  const seed = get('seed action');
  const seedPct = noop && seed ? (100 * r(seed, 'banS')) / r(noop, 'banS') : 0;
  const seedRestorePct = noop && seed ? (100 * r(seed, 'restoreS')) / r(noop, 'restoreS') : 0;
  out.push(`Target: the seed's action (native couicctl) ≥ 80% of the no-op ceiling (banip): ${seedPct.toFixed(0)}% — ${ok(seedPct >= 80)} (restore: ${seedRestorePct.toFixed(0)}%)`);
  out.push(`Target: couic.conf faster than every stock action (banip and restore): ${ok(beatsStock)}`);
  out.push(`Target: couic.py ≥ 3,000 bans/s (banip): ${Math.round(r(py, 'banS'))}/s — ${ok(r(py, 'banS') >= 3000)}`);
  out.push(`Target: ${BIG.toLocaleString('en-US')}-ban restore via couic.py ≤ 10 s: ${fmt(big?.restoreS)} s — ${ok((big?.restoreS ?? Infinity) <= 10)}`);
  const share = (x: Row | undefined, ceil: Row | undefined, k: 'banS' | 'restoreS'): number => (r(ceil, k) > 0 ? (100 * r(x, k)) / r(ceil, k) : 0);
  const pyBan = share(py, pyNoop, 'banS');
  const pyRestore = share(big, pyNoopBig, 'restoreS');
  out.push(`Target: couic.py ≥ 80% of the Python no-op action's bans/s (banip, ${N.toLocaleString('en-US')}): ${pyBan.toFixed(0)}% — ${ok(pyBan >= 80)}`);
  out.push(`Target: couic.py ≥ 80% of the Python no-op action's bans/s (${BIG.toLocaleString('en-US')}-ban restore): ${pyRestore.toFixed(0)}% — ${ok(pyRestore >= 80)}`);
  process.stdout.write(`${out.join('\n')}\n`);
  if (rows.some((x) => x.note?.startsWith('failed'))) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
