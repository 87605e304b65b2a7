/**
 * Set reload benchmark: the real daemon (test/lib/daemon.ts harness), a
 * drop set of N /32 lines (default 1,000,000) split over files of at most
 * 250,000 lines (Couic's 5 MiB per-file limit), reloaded into the kernel
 * through `POST /v1/sets/reload`.
 *
 *   node dist/bench/sets.js [--quick] [--entries N]
 *
 * Side by side in one run:
 *  - initial reload of N entries (entries/s into the kernel);
 *  - a one-line change to one file, reloaded (incremental diff), median of 5;
 *  - the same one-line change when the incremental path is unavailable
 *    (a peer job touched a set entry: full diff of the whole target);
 *  - a reload with nothing changed;
 *  - a full rewrite: every entry deleted (files moved away + reload) and
 *    re-added (files back + reload).
 * Prints a Markdown table. Needs root (the helper loads XDP maps).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startDaemon, type Daemon } from '../test/lib/daemon.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, entries: { type: 'string' } } });
const QUICK = values.quick === true;
const N = Number(values.entries ?? (QUICK ? 200_000 : 1_000_000));
const PER_FILE = 250_000;
const REPEAT = QUICK ? 3 : 5;

const addr = (i: number): string => `${10 + (i >>> 24)}.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}/32`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function timed(d: Daemon, what: string): Promise<number> {
  const t0 = performance.now();
  const r = await d.request('POST', '/v1/sets/reload');
  const ms = performance.now() - t0;
  if (r.status !== 201) throw new Error(`${what}: reload → ${r.status} ${r.text}`);
  return ms;
}

async function dropCount(d: Daemon): Promise<number> {
  return (await d.request('GET', '/v1/stats')).json().drop_cidr_count as number;
}

function rssMb(pid: number, field = 'VmRSS'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? NaN : Math.round(Number(m[1]) / 1024);
  } catch {
    return NaN;
  }
}

async function main(): Promise<void> {
  const d = await startDaemon({
    dataplane: { drop_exact: Math.max(1_048_576, N + 1024) },
    startTimeoutMs: 60_000,
    // BENCH_CPU_PROF=<dir>: profile the daemon (--cpu-prof)
    ...(process.env['BENCH_CPU_PROF'] ? { wrapper: ['sh', '-c', `exec "$0" --cpu-prof --cpu-prof-dir=${process.env['BENCH_CPU_PROF']} "$@"`] } : {}),
  });
  const rows: [string, string, string][] = [];
  try {
    const dir = path.join(d.workingDir, 'sets', 'drop');
    const away = path.join(d.workingDir, 'sets-away');
    mkdirSync(away);
    const files: { name: string; lines: string[] }[] = [];
    for (let f = 0; f * PER_FILE < N; f += 1) {
      const lines: string[] = [];
      for (let i = f * PER_FILE; i < Math.min(N, (f + 1) * PER_FILE); i += 1) lines.push(addr(i));
      files.push({ name: `bench${f}.couic`, lines });
    }
    const writeSet = (f: { name: string; lines: string[] }): void => {
      const p = path.join(dir, f.name);
      writeFileSync(`${p}.new`, f.lines.join('\n'));
      chmodSync(`${p}.new`, 0o600);
      renameSync(`${p}.new`, p);
    };
    for (const f of files) writeSet(f);
    const bytes = files.reduce((n, f) => n + f.lines.reduce((m, l) => m + l.length + 1, 0), 0);

    // 1. initial load
    const initial = await timed(d, 'initial');
    if ((await dropCount(d)) !== N) throw new Error('initial load incomplete');
    rows.push([`initial reload, ${N.toLocaleString('en-US')} entries (${files.length} files, ${(bytes / 1048576).toFixed(1)} MiB)`,
      `${Math.round(initial)} ms`, `${Math.round(N / (initial / 1000)).toLocaleString('en-US')} entries/s`]);

    // 2. one-line change (incremental diff)
    const target = files[files.length - 1]!;
    const edit = (k: number): void => {
      const idx = Math.floor(target.lines.length / 2);
      target.lines[idx] = `${200 + (k % 50)}.${k & 255}.0.1/32`;
      writeSet(target);
    };
    const inc: number[] = [];
    for (let k = 0; k < REPEAT; k += 1) {
      edit(k);
      inc.push(await timed(d, 'one-line'));
    }
    if ((await dropCount(d)) !== N) throw new Error('one-line change broke the count');
    rows.push(['one-line change, incremental diff (median)', `${median(inc).toFixed(1)} ms`, `${REPEAT} runs: ${inc.map((x) => x.toFixed(0)).join(', ')} ms`]);

    // 3. nothing changed
    const noop: number[] = [];
    for (let k = 0; k < REPEAT; k += 1) noop.push(await timed(d, 'noop'));
    rows.push(['reload, nothing changed (median)', `${median(noop).toFixed(1)} ms`, 'stat() of every file']);

    // 4. one-line change, full diff (a peer job touched a set entry meanwhile)
    const full: number[] = [];
    for (let k = 0; k < REPEAT; k += 1) {
      const victim = addr(k).replace('/32', '');
      const r = await d.request('POST', '/v1/drop/peer', { body: [{ action: 'remove', entry: { cidr: `${victim}/32`, expiration: 0 } }] });
      if (r.status !== 201) throw new Error(`peer remove → ${r.status}`);
      edit(REPEAT + k);
      full.push(await timed(d, 'full-diff'));
    }
    if ((await dropCount(d)) !== N) throw new Error('full diff broke the count');
    rows.push(['one-line change, full diff of the target (median)', `${median(full).toFixed(1)} ms`, `${REPEAT} runs: ${full.map((x) => x.toFixed(0)).join(', ')} ms`]);

    // 5. full rewrite: delete everything, add everything
    for (const f of files) renameSync(path.join(dir, f.name), path.join(away, f.name));
    const del = await timed(d, 'delete all');
    if ((await dropCount(d)) !== 0) throw new Error('delete all incomplete');
    for (const f of files) renameSync(path.join(away, f.name), path.join(dir, f.name));
    const add = await timed(d, 'add all');
    if ((await dropCount(d)) !== N) throw new Error('re-add incomplete');
    rows.push(['full rewrite: delete every entry + re-add every entry', `${Math.round(del + add)} ms`,
      `${Math.round(del)} + ${Math.round(add)} ms; ${Math.round((2 * N) / ((del + add) / 1000)).toLocaleString('en-US')} ops/s`]);
    rows.push(['daemon RSS with the set loaded', `${rssMb(d.pid)} MiB`, `peak (VmHWM) ${rssMb(d.pid, 'VmHWM')} MiB`]);
  } finally {
    await d.stop();
  }

  let kernel = '';
  try {
    kernel = execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim();
  } catch {
    /* ignore */
  }
  const cpus = os.cpus();
  process.stdout.write(`\n## Set reload benchmark${QUICK ? ' (--quick)' : ''}\n\n`);
  process.stdout.write(`${new Date().toISOString()} · ${cpus.length} × ${cpus[0]?.model ?? 'cpu'} · Linux ${kernel} · Node ${process.version} · journal fsync on\n\n`);
  process.stdout.write('| Measure | Time | Detail |\n| --- | --- | --- |\n');
  for (const [a, b, c] of rows) process.stdout.write(`| ${a} | ${b} | ${c} |\n`);
  process.stdout.write('\nTargets: initial reload ≥ 300,000 entries/s; one-line change ≤ 100 ms.\n');
}

await main();
