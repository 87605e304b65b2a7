/**
 * Smoke test of the fail2ban bench: `node dist/bench/fail2ban.js --quick`
 * exits 0 and prints its table with every row. No timing is asserted:
 * figures belong to the bench output, never to test assertions.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fail2banMissing } from './lib.js';

// dist/test/fail2ban/bench-smoke.test.js → dist/bench/fail2ban.js
const BENCH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'fail2ban.js');
const HEADER = '| action | N | banip (s) | banip bans/s | stop (s) | restore (s) | restore bans/s | note |';

function runBench(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BENCH, '--quick'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('fail2ban bench --quick prints every row', { skip: fail2banMissing(), timeout: 260_000 }, async (t) => {
  assert.ok(existsSync(BENCH), `${BENCH} is built`);
  const r = await runBench();
  assert.equal(r.code, 0, `exit status (stderr: ${r.stderr.slice(-3000)})`);
  const lines = r.stdout.split('\n');
  assert.ok(lines.includes(HEADER), `table header in:\n${r.stdout}`);
  assert.ok(lines.some((l) => /^## fail2ban → ban backend benchmark \(--quick\) — \d{4}-\d\d-\d\dT/.test(l)), 'dated title');
  assert.ok(lines.some((l) => /^Machine: .*Linux \S+.*Fail2Ban v/.test(l)), 'machine line');
  const rows = lines.filter((l) => l.startsWith('| ') && l !== HEADER);
  for (const label of [
    'no-op `true` action (shell ceiling)',
    'exec of a no-op binary, `exec /bin/true` (floor of any client-per-ban shim; informative)',
    'couic.conf (couic-ban)',
    'seed action: `couicctl drop add` / `drop delete` (native couicctl)',
    'couic.conf against an instant stub peer instead of the daemon (informative)',
    'couic.conf, daemon without fsync (informative)',
    'Python no-op action (Python-path ceiling)',
    'couic.py',
    'stock iptables-multiport',
    'stock iptables-ipset',
    'stock nftables',
    'Python no-op action, 3,000-ban restore',
    'couic.py, 3,000-ban restore',
  ]) {
    const row = rows.find((l) => l.startsWith(`| ${label} |`));
    assert.ok(row, `row "${label}"`);
    const cells = row.split('|').slice(1, -1).map((c) => c.trim());
    assert.equal(cells.length, 8, row);
    assert.match(cells[5] ?? '', /^\d+\.\d\d$/, `restore time in "${row}"`);
    if (!label.includes('-ban restore')) assert.match(cells[2] ?? '', /^\d+\.\d\d$/, `banip time in "${row}"`);
    assert.equal(cells[7], '', `no note (failure or ERROR lines) in "${row}"`);
  }
  const targets = lines.filter((l) => l.startsWith('Target: '));
  assert.equal(targets.length, 7, 'seven target lines');
  assert.ok(targets.some((l) => /^Target: the seed's action \(native couicctl\) ≥ 80% of the no-op ceiling \(banip\): \d+% — (met|NOT met) \(restore: \d+%\)$/.test(l)), 'seed action target');
  assert.ok(targets.some((l) => /^Target: couic\.py ≥ 80% of the Python no-op action's bans\/s \(banip, 300\): \d+% — (met|NOT met)$/.test(l)), 'couic.py share of the Python ceiling');
  assert.ok(lines.some((l) => /^ {2}\(for scale: exec'ing a binary that does nothing reaches \d+% of the ceiling; couic\.conf reaches \d+% of that floor\)$/.test(l)), 'floor line');
  t.diagnostic(targets.join('\n'));
});
