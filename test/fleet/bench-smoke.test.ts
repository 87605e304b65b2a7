/**
 * Smoke test of the fleet bench: `node dist/bench/fleet.js --quick` exits 0
 * and prints a row per case, each with a figure. No timing is asserted:
 * figures belong to the bench output, never to test assertions.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { natsAvailable } from '../lib/nats.js';
import { run } from '../lib/netns.js';

// dist/test/fleet/bench-smoke.test.js -> dist/bench/fleet.js
const BENCH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'fleet.js');
const skip = !natsAvailable() ? 'nats-server is not installed (scripts/setup.sh)' : process.getuid?.() !== 0 ? 'needs root' : false;

test('bench/fleet --quick prints its table', { skip, timeout: 240_000 }, async () => {
  assert.ok(existsSync(BENCH), `${BENCH} is built`);
  const r = await run([process.execPath, BENCH, '--quick'], { timeoutMs: 220_000, allowFail: true });
  assert.equal(r.code, 0, `exit status (stderr: ${r.stderr.slice(-2000)})`);
  const lines = r.stdout.split('\n');
  assert.ok(lines.includes('| measurement | NATS JetStream (couic fleet) | Couic peering (HTTPS via nginx) | target | met (NATS JetStream (couic fleet)) | met (Couic peering (HTTPS via nginx)) |'), 'table header');
  assert.ok(lines.some((l) => /^Machine: .*Linux \S+/.test(l)), 'machine line');
  for (const prefix of ['propagation, 2 nodes', 'burst of 500 bans: acknowledged', "burst of 500 bans: all in B's kernel", 'engine outage: 100 bans', 'engine outage: server back', 'propagation, 5 nodes', 'cold join into 20,000']) {
    const row = lines.find((l) => l.startsWith(`| ${prefix}`));
    assert.ok(row !== undefined, `a row for ${prefix}`);
    assert.match(row.split('|')[2]!, /\d/, `a figure for ${prefix}`);
  }
  // Couic's peering has the propagation and burst rows (no engine outage, no bucket to join).
  for (const prefix of ['propagation, 2 nodes', "burst of 500 bans: all in B's kernel", 'propagation, 5 nodes']) {
    assert.match(lines.find((l) => l.startsWith(`| ${prefix}`))!.split('|')[3]!, /\d/, `a peering figure for ${prefix}`);
  }
  const lost = lines.find((l) => l.startsWith('| engine outage: 100 bans'))!;
  assert.equal(lost.split('|')[2]!.trim(), '0', 'entries lost across the outage');
});
