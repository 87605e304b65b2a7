/**
 * couicctl startup bench: wall time of one `couicctl drop list` and
 * `couicctl drop add` process against the real daemon, next to a bare
 * `node -e ''` (the floor for any Node CLI) and `curl --unix-socket` of the
 * same request (the floor for any HTTP client). Rows with
 * COUICCTL_NO_FAST_PATH=1 show the cost of loading yargs. The native
 * couicctl front (src/shim/couicctl.c) runs the same `drop list` and `drop
 * add` beside `couic-ban ban` (fail2ban's per-ban client), the target being
 * the native `drop add` within 1.5× of couic-ban's median.
 *
 * Each row: N runs (default 30) in turn, median and p90 of the wall time
 * measured around spawnSync. Prints one Markdown table.
 * Usage: node dist/bench/cli.js [--runs N] [--entries N]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildCouicBan, buildCouicctl, COUIC_BAN, COUICCTL } from '../test/fail2ban/lib.js';
import { REPO_ROOT, startDaemon } from '../test/lib/daemon.js';

function flag(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : Number.NaN;
  return Number.isFinite(v) && v > 0 ? v : dflt;
}

const RUNS = flag('--runs', 30);
const ENTRIES = flag('--entries', 100);
const CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

function quantile(sorted: readonly number[], q: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] as number;
}

interface Row {
  readonly label: string;
  readonly median: number;
  readonly p90: number;
}

function measure(label: string, argv: (i: number) => readonly string[], env: Record<string, string> = {}): Row {
  const times: number[] = [];
  // One warm-up run (page cache), not counted.
  for (let i = -1; i < RUNS; i += 1) {
    const [cmd, ...args] = argv(i);
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd as string, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${label}: exit ${r.status}: ${r.stderr.toString()}`);
    if (i >= 0) times.push(ms);
  }
  times.sort((a, b) => a - b);
  return { label, median: quantile(times, 0.5), p90: quantile(times, 0.9) };
}

async function main(): Promise<void> {
  buildCouicBan();
  buildCouicctl();
  const daemon = await startDaemon();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'couicctl-bench-'));
  try {
    const cfg = path.join(tmp, 'couicctl.toml');
    writeFileSync(cfg, `mode = "local"\nsocket = "${daemon.socketPath}"\nclient_file = "${daemon.workingDir}/rbac/clients/couicctl.toml"\n`);
    for (let i = 0; i < ENTRIES; i += 1) {
      const r = await daemon.request('POST', '/v1/drop', { body: { cidr: `10.${i >> 8}.${i & 255}.0/24`, tag: 'bench', expiration: 0 } });
      if (r.status !== 201) throw new Error(`seed: ${r.status} ${r.text}`);
    }
    const node = process.execPath;
    const rows: Row[] = [];
    rows.push(measure("`node -e ''`", () => [node, '-e', '']));
    if (existsSync('/usr/bin/curl')) {
      rows.push(
        measure('`curl --unix-socket … GET /v1/drop`', () => [
          'curl', '-sf', '--unix-socket', daemon.socketPath, '-H', `Authorization: Bearer ${daemon.token}`, 'http://localhost/v1/drop', '-o', '/dev/null',
        ]),
      );
    }
    rows.push(measure('`couicctl drop list`', () => [node, CLI, '-c', cfg, 'drop', 'list']));
    rows.push(measure('`couicctl drop list` (yargs path)', () => [node, CLI, '-c', cfg, 'drop', 'list'], { COUICCTL_NO_FAST_PATH: '1' }));
    let n = 0;
    const nextCidr = (): string => {
      n += 1;
      return `172.${16 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}/32`;
    };
    rows.push(measure('`couicctl drop add <ip>/32 -t fail2ban-sshd`', () => [node, CLI, '-c', cfg, 'drop', 'add', nextCidr(), '-t', 'fail2ban-sshd']));
    rows.push(
      measure('`couicctl drop add …` (yargs path)', () => [node, CLI, '-c', cfg, 'drop', 'add', nextCidr(), '-t', 'fail2ban-sshd'], { COUICCTL_NO_FAST_PATH: '1' }),
    );
    rows.push(measure('native `couicctl drop list`', () => [COUICCTL, '-c', cfg, 'drop', 'list']));
    const clientFile = `${daemon.workingDir}/rbac/clients/couicctl.toml`;
    const nativeAdd = measure('native `couicctl drop add <ip>/32 -t fail2ban-sshd`', () => [COUICCTL, '-c', cfg, 'drop', 'add', nextCidr(), '-t', 'fail2ban-sshd']);
    const ban = measure('`couic-ban ban fail2ban-sshd <ip> 600`', () => [COUIC_BAN, '-s', daemon.socketPath, '-k', clientFile, 'ban', 'fail2ban-sshd', nextCidr().replace('/32', ''), '600']);
    rows.push(nativeAdd, ban);
    const ratio = nativeAdd.median / ban.median;
    const lines = [
      `couicctl wall time per process, ${RUNS} runs each, ${ENTRIES} entries in the drop list (node ${process.version}, ${os.cpus().length} CPUs):`,
      '',
      '| command | median (ms) | p90 (ms) |',
      '| --- | ---: | ---: |',
      ...rows.map((r) => `| ${r.label} | ${r.median.toFixed(2)} | ${r.p90.toFixed(2)} |`),
      '',
      `Target: native \`couicctl drop add\` median within 1.5× of couic-ban's: ${ratio.toFixed(2)}× — ${ratio <= 1.5 ? 'met' : 'NOT met'}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await daemon.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
