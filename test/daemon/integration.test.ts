/**
 * The real daemon (test/lib/daemon.ts harness) with pinned maps: what the
 * API lists must be exactly what the kernel maps hold (read with bpftool
 * from the pins), through random mutations, expiries, a kill -9 of the
 * daemon and a kill -9 of the helper.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Daemon, DaemonOptions } from '../lib/daemon.js';
import { apiEntries, assertKernelMatchesApi, kernelSkip, startPinnedDaemon } from '../lib/kernel.js';
import { waitFor } from '../lib/wait.js';

const skip = kernelSkip;


function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

async function withDaemon(opts: DaemonOptions & { extra?: string }, fn: (d: Daemon, pinDir: string) => Promise<void>): Promise<void> {
  const { d, pinDir, stop } = await startPinnedDaemon(opts);
  try {
    await fn(d, pinDir);
  } finally {
    await stop();
  }
}

const v4 = (i: number, len = 32): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/${len}`;

describe('daemon integration (pinned maps read with bpftool)', { skip, timeout: 180_000 }, () => {
  it('random adds / deletes / peer batches / expiries: kernel maps == API list, answers == model', async () => {
    await withDaemon({}, async (d, pinDir) => {
      const rand = rng(1234);
      const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)]!;
      const now = Math.floor(Date.now() / 1000);
      const expireAt = now + 6;
      /** policy|cidr -> tag */
      const model = new Map<string, { tag: string; expiration: number }>();
      const universe: string[] = [];
      for (let i = 0; i < 60; i += 1) universe.push(v4(i * 7 + 1));
      for (let i = 0; i < 20; i += 1) universe.push(`10.${100 + i}.0.0/16`);
      for (let i = 0; i < 20; i += 1) universe.push(`2001:db8:${(i + 1).toString(16)}::/48`);
      for (let i = 0; i < 10; i += 1) universe.push(`2001:db8::${(i + 1).toString(16)}/128`);
      const tags = ['', 'a', 'b', 'fail2ban-sshd', 'x_y'];

      for (let round = 0; round < 30; round += 1) {
        const kind = pick(['creates', 'creates', 'deletes', 'peer']);
        if (kind === 'creates') {
          const reqs = Array.from({ length: 12 }, () => ({
            policy: pick(['drop', 'drop', 'ignore']), cidr: pick(universe), tag: pick(tags), expiration: rand() < 0.3 ? expireAt : 0,
          }));
          const rs = await Promise.all(reqs.map((q) => d.request('POST', `/v1/${q.policy}`, { body: { cidr: q.cidr, tag: q.tag, expiration: q.expiration } })));
          // Concurrent duplicates: exactly one 201 per new key, 409 for the rest.
          const seen = new Set<string>();
          reqs.forEach((q, i) => {
            const k = `${q.policy}|${q.cidr}`;
            const r = rs[i]!;
            if (r.status === 201) {
              assert.ok(!model.has(k) && !seen.has(k), `201 for ${k} which existed`);
              seen.add(k);
              model.set(k, { tag: q.tag, expiration: q.expiration });
              assert.equal(r.json().cidr, q.cidr);
            } else {
              assert.equal(r.status, 409, r.text);
              assert.ok(model.has(k), `409 for ${k} which did not exist`);
              assert.equal(r.json().errors.cidr.message, `${q.cidr} already exists`);
            }
          });
        } else if (kind === 'deletes') {
          const reqs = Array.from({ length: 8 }, () => ({ policy: pick(['drop', 'ignore']), cidr: pick(universe) }));
          const uniq = [...new Map(reqs.map((q) => [`${q.policy}|${q.cidr}`, q])).values()];
          const rs = await Promise.all(uniq.map((q) => d.request('DELETE', `/v1/${q.policy}/${q.cidr}`)));
          uniq.forEach((q, i) => {
            const k = `${q.policy}|${q.cidr}`;
            if (model.has(k)) {
              assert.equal(rs[i]!.status, 204, rs[i]!.text);
              model.delete(k);
            } else {
              assert.equal(rs[i]!.status, 404);
            }
          });
        } else {
          const policy = pick(['drop', 'ignore']);
          const jobs = Array.from({ length: 10 }, () => ({
            action: rand() < 0.7 ? 'add' : 'remove', entry: { cidr: pick(universe), tag: pick(tags) || null, expiration: rand() < 0.3 ? expireAt : 0 },
          }));
          const r = await d.request('POST', `/v1/${policy}/peer`, { body: jobs });
          // Sequential model: apply until the first failure.
          let expected = 201;
          for (const j of jobs) {
            const k = `${policy}|${j.entry.cidr}`;
            if (j.action === 'add') {
              if (model.has(k)) { expected = 409; break; }
              model.set(k, { tag: j.entry.tag ?? '', expiration: j.entry.expiration });
            } else {
              if (!model.has(k)) { expected = 404; break; }
              model.delete(k);
            }
          }
          assert.equal(r.status, expected, r.text);
        }
        if (round % 6 === 5) {
          const { api } = await assertKernelMatchesApi(d, pinDir);
          assert.deepEqual([...api.keys()].sort(), [...model.keys()].sort());
          for (const [k, e] of api) assert.equal(e.tag, model.get(k)!.tag, `tag of ${k}`);
        }
      }
      assert.ok(Date.now() < (expireAt - 1) * 1000, 'rounds finished before the expiry (test too slow?)');
      // Expiry: gone from API and kernel within 1 s after expireAt.
      for (const [k, e] of model) if (e.expiration !== 0) model.delete(k);
      const want = JSON.stringify([...model.keys()].sort());
      // (kernel and API may disagree for an instant while the expiry batch commits)
      const expired = async (): Promise<boolean> => JSON.stringify([...(await assertKernelMatchesApi(d, pinDir)).api.keys()].sort()) === want;
      await waitFor(() => expired().catch(() => false), expireAt * 1000 + 1000 - Date.now(), 100);
      const { api } = await assertKernelMatchesApi(d, pinDir);
      assert.deepEqual([...api.keys()].sort(), [...model.keys()].sort());
    });
  });

  it('kill -9 of the daemon mid-stream: every acknowledged entry is back in the API and the kernel', async () => {
    await withDaemon({ dataplane: { drop_exact: 262_144 } }, async (d, pinDir) => {
      const acked = new Set<string>();
      const attempted = new Set<string>();
      let stop = false;
      let next = 0;
      const worker = async (): Promise<void> => {
        while (!stop) {
          const cidr = v4(next++);
          attempted.add(cidr);
          try {
            const r = await d.request('POST', '/v1/drop', { body: { cidr, tag: `w${next % 3}`, expiration: 0 } });
            if (r.status === 201) acked.add(cidr);
          } catch {
            return; // the daemon died under us
          }
        }
      };
      const workers = Array.from({ length: 16 }, () => worker());
      // Killed under load, once enough entries are acknowledged to make losing one visible.
      await waitFor(() => acked.size > 400, 30_000);
      const res = await d.kill('SIGKILL');
      stop = true;
      await Promise.all(workers);
      assert.equal(res.signal, 'SIGKILL');
      assert.ok(acked.size > 200, `only ${acked.size} acknowledged before the kill`);
      await d.restart();
      const { api } = await assertKernelMatchesApi(d, pinDir);
      for (const c of acked) assert.ok(api.has(`drop|${c}`), `acknowledged ${c} lost`);
      for (const k of api.keys()) assert.ok(attempted.has(k.slice(5)), `${k} was never requested`);
      assert.ok(api.size - acked.size <= 16, 'at most the in-flight requests are extra');
    });
  });

  it('kill -9 of the helper under load: restart + resync, nothing acknowledged lost', async () => {
    await withDaemon({ dataplane: { drop_exact: 262_144 } }, async (d, pinDir) => {
      const pgrep = (): number[] => (spawnSync('pgrep', ['-P', String(d.pid)], { encoding: 'utf8' }).stdout ?? '').split('\n').filter(Boolean).map(Number);
      const helpers = pgrep();
      assert.equal(helpers.length, 1, 'one helper child');
      const acked: string[] = [];
      const failed: string[] = [];
      let stop = false;
      let next = 0;
      const worker = async (): Promise<void> => {
        while (!stop) {
          const cidr = v4(next++);
          const r = await d.request('POST', '/v1/drop', { body: { cidr, expiration: 0 } });
          if (r.status === 201) acked.push(cidr);
          else failed.push(`${cidr}: ${r.status} ${r.text}`);
        }
      };
      const workers = Array.from({ length: 16 }, () => worker());
      await waitFor(() => acked.length > 200, 30_000);
      process.kill(helpers[0]!, 'SIGKILL');
      // Load goes on through the restart until requests are acknowledged by the new helper.
      const atKill = acked.length;
      await waitFor(() => pgrep().some((p) => p !== helpers[0]) && acked.length > atKill + 200, 30_000);
      stop = true;
      await Promise.all(workers);
      assert.deepEqual(failed, [], 'no request failed (restart within the wait bound)');
      const after = pgrep();
      assert.equal(after.length, 1);
      assert.notEqual(after[0], helpers[0]);
      await d.waitForOutput(/couic-helper restarted and resynced/);
      const { api } = await assertKernelMatchesApi(d, pinDir);
      assert.equal(api.size, acked.length);
      for (const c of acked) assert.ok(api.has(`drop|${c}`));
    });
  });

  it('SIGTERM: graceful exit 0, socket removed, state back after restart', async () => {
    await withDaemon({}, async (d, pinDir) => {
      const exp = Math.floor(Date.now() / 1000) + 3600;
      for (let i = 0; i < 20; i += 1) {
        const r = await d.request('POST', i % 2 ? '/v1/drop' : '/v1/ignore', { body: { cidr: `10.0.${i}.0/24`, tag: 't', expiration: i % 3 ? exp : 0 } });
        assert.equal(r.status, 201);
      }
      const before = await apiEntries(d);
      const res = await d.kill('SIGTERM');
      assert.deepEqual(res, { code: 0, signal: null });
      assert.ok(!existsSync(d.socketPath), 'socket unlinked');
      assert.match(d.output(), /"msg":"stopped"/);
      const journalFiles = readFileSync(join(d.workingDir, 'journal', 'wal-0000000001.log')).length;
      assert.ok(journalFiles > 16);
      await d.restart();
      const { api: after } = await assertKernelMatchesApi(d, pinDir);
      assert.deepEqual([...after.entries()].sort(), [...before.entries()].sort());
    });
  });
});
