/**
 * Smoke test of the traffic bench: `node dist/bench/traffic.js --smoke`
 * floods every backend with a few thousand real frames (0 and 1,000
 * entries, /32 bans and the CIDR mix, the 50/50, banned-only and 256-source
 * streams) and writes each run's raw counter deltas as JSON. Every backend
 * must have counted every frame its veth took, dropped exactly the banned
 * ones and passed the rest, so the bench cannot silently measure nothing
 * (a detached program, a rule that never matches, a counter read from the
 * wrong place). No timing is asserted: figures belong to the bench output.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// dist/test/bench/traffic-smoke.test.js → dist/bench/traffic.js
const BENCH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'traffic.js');
const FRAMES = 4096;
const BACKENDS = ['none', 'couic-native', 'couic-generic', 'iptables', 'ipset', 'nftables'];

interface Sample {
  kind: string;
  entries: number;
  backend: string;
  stream: string;
  sent: number;
  delivered: number;
  lost: number;
  dropped: number;
  passed: number;
  cpuNs: number;
}

function runBench(json: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BENCH, '--smoke', '--json', json], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const skip = process.getuid?.() !== 0 ? 'needs root (namespaces, XDP, netfilter)' : os.cpus().length < 2 ? 'needs 2 CPUs' : false;

test('traffic bench --smoke: every backend counts, drops and passes exactly the frames sent', { skip, timeout: 180_000 }, async (t) => {
  assert.ok(existsSync(BENCH), `${BENCH} is built`);
  const dir = mkdtempSync(join(os.tmpdir(), 'couic-traffic-smoke-'));
  try {
    const json = join(dir, 'runs.json');
    const r = await runBench(json);
    // Some kernels (seen on one VM of this workplace, Linux 6.18) refuse live-frame
    // BPF_PROG_TEST_RUN with EPERM even to root: then the sender cannot exist, and the
    // test says so instead of failing on the machine.
    const refused = /BPF_PROG_TEST_RUN \(live frames\) on \S+: Operation not permitted/.exec(r.stderr);
    if (r.code !== 0 && refused !== null) {
      t.skip(`this kernel refuses live-frame BPF_PROG_TEST_RUN (${refused[0]})`);
      return;
    }
    assert.equal(r.code, 0, `exit status (stderr: ${r.stderr.slice(-2000)})`);
    assert.ok(r.stdout.split('\n').some((l) => l.startsWith('| receiver | entries |')), 'table printed');
    const samples = readFileSync(json, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Sample);

    const want: string[] = [];
    for (const b of BACKENDS) {
      want.push(`exact/0/${b}/mix`);
      for (const k of ['exact', 'cidr']) for (const s of ['mix', 'hit', 'hot']) want.push(`${k}/1000/${b}/${s}`);
    }
    const got = samples.map((s) => `${s.kind}/${s.entries}/${s.backend}/${s.stream}`);
    assert.deepEqual([...got].sort(), [...want].sort(), 'one run per backend, list and stream');

    let lost = 0;
    for (const s of samples) {
      const what = `${s.backend}, ${s.kind} list of ${s.entries}, ${s.stream} stream`;
      assert.equal(s.sent, FRAMES, `${what}: frames sent`);
      assert.equal(s.delivered + s.lost, s.sent, `${what}: the sender's veth accounts for every frame`);
      assert.ok(s.delivered > 0, `${what}: frames reached the receiver`);
      assert.equal(s.dropped + s.passed, s.delivered, `${what}: the backend counted every frame it received`);
      assert.ok(s.cpuNs > 0, `${what}: the receiver's NAPI kthread ran`);
      lost += s.lost;
      if (s.backend === 'none' || s.entries === 0) {
        assert.equal(s.dropped, 0, `${what}: nothing dropped`);
      } else if (s.stream === 'mix') {
        // every other frame is banned; a frame lost at a full ring is either
        const half = s.sent / 2;
        assert.ok(s.dropped <= half && s.dropped >= half - s.lost, `${what}: ${s.dropped} dropped, want ${half} (${s.lost} lost)`);
      } else {
        assert.equal(s.passed, 0, `${what}: no banned frame passed`);
      }
    }
    t.diagnostic(`${samples.length} runs; ${lost} frames lost at a full ring`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
