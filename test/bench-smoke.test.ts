/**
 * Smoke test of the data-path bench: `node dist/bench/dataplane.js --quick`
 * exits 0 and prints its table with a row per configuration. No timing is
 * asserted: figures belong to the bench output, never to test assertions.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// dist/test/bench-smoke.test.js → dist/bench/dataplane.js
const BENCH = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench', 'dataplane.js');

const HEADER = '| measurement | entries | couic (hash + LPM) | couic --lpm-only | couic advantage |';

function runBench(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BENCH, '--quick'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('bench --quick prints its table', { timeout: 200_000 }, async (t) => {
  assert.ok(existsSync(BENCH), `${BENCH} is built`);
  const r = await runBench();
  assert.equal(r.code, 0, `exit status (stderr: ${r.stderr.slice(-2000)})`);
  const lines = r.stdout.split('\n');
  assert.ok(lines.includes(HEADER), 'table header');
  assert.ok(lines.some((l) => /^Machine: .*Linux \S+/.test(l)), 'machine line');
  const rows = lines.filter((l) => l.startsWith('| ') && l !== HEADER);
  const row = (prefix: string, entries?: string): string | undefined =>
    rows.find((l) => l.startsWith(`| ${prefix}`) && (entries === undefined || l.split('|')[2]?.trim() === entries));
  const expected: [string, string | undefined][] = [
    ['no entries, hot (ns/pkt)', '0'],
    ['no entries, varied (ns/pkt)', '0'],
  ];
  for (const bans of ['/32 bans', 'CIDR bans (/24 mix)']) {
    for (const n of ['1e3', '1e5']) {
      for (const m of ['hot hit', 'hot miss', 'varied hit', 'varied miss']) expected.push([`${bans}, ${m} (ns/pkt)`, n]);
    }
    expected.push([`${bans}, batched fill`, undefined]);
  }
  for (const label of ['/32', 'CIDR mix']) {
    expected.push([`fill ${label}, batched (entries/s)`, undefined]);
    expected.push([`fill ${label}, one syscall per entry --no-batch (entries/s)`, undefined]);
    expected.push([`fill ${label}, batched ÷ --no-batch`, undefined]);
    expected.push([`delete ${label}, batched (entries/s)`, undefined]);
    expected.push([`delete ${label}, --no-batch (entries/s)`, undefined]);
  }
  for (const [prefix, entries] of expected) {
    const l = row(prefix, entries);
    assert.ok(l, `row "${prefix}"${entries ? ` at ${entries} entries` : ''}`);
    const cells = l.split('|').slice(1, -1).map((c) => c.trim());
    assert.equal(cells.length, 5, `5 cells in "${l}"`);
    assert.ok(cells[2] && cells[3], `values in "${l}"`);
  }
  assert.ok(lines.some((l) => l.startsWith('Target: hot hit')), 'targets printed');
  t.diagnostic(`${rows.length} table rows; ${lines.filter((l) => l.startsWith('Target:')).length} target lines`);
});
