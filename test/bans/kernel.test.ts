/**
 * `/v1/bans/{owner}` against the REAL daemon with pinned maps read by
 * bpftool: the kernel maps equal the API (and a model) through a random
 * sequence of claims / unclaims / flushes / Couic creates and deletes /
 * expiries, and after a kill -9 every acknowledged claim is back (claims,
 * entries and kernel maps agree), also from a compacted journal.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Daemon, DaemonOptions } from '../lib/daemon.js';
import { assertKernelMatchesApi, kernelSkip, startPinnedDaemon, type ApiEntry } from '../lib/kernel.js';
import { waitFor } from '../lib/wait.js';

const skip = kernelSkip;

const nowS = (): number => Math.floor(Date.now() / 1000);

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** GET /v1/drop == the kernel drop maps (test/lib/kernel.ts), keyed by cidr. */
async function assertDropMatchesApi(d: Daemon, pinDir: string): Promise<Map<string, ApiEntry>> {
  const { api } = await assertKernelMatchesApi(d, pinDir);
  return new Map([...api].filter(([k]) => k.startsWith('drop|')).map(([k, e]) => [k.slice('drop|'.length), e]));
}

async function claimsOf(d: Daemon, owner: string): Promise<Map<string, number>> {
  const r = await d.request('GET', `/v1/bans/${owner}`);
  assert.equal(r.status, 200, r.text);
  return new Map((r.json() as { cidr: string; expiration: number }[]).map((c) => [c.cidr, c.expiration]));
}

async function withDaemon(opts: DaemonOptions & { extra?: string }, fn: (d: Daemon, pinDir: string) => Promise<void>): Promise<void> {
  const { d, pinDir, stop } = await startPinnedDaemon(opts);
  try {
    await fn(d, pinDir);
  } finally {
    await stop();
  }
}

/** What the model says the drop entries are: cidr -> {tag, expiration}. */
class Model {
  /** cidr -> owner -> {exp, order}; insertion order = claim order. */
  readonly claims = new Map<string, Map<string, number>>();
  /** Couic (API) entries, all permanent here. */
  readonly api = new Map<string, string>();

  ban(owner: string, cidr: string, exp: number): void {
    let m = this.claims.get(cidr);
    if (m === undefined) this.claims.set(cidr, (m = new Map()));
    m.set(owner, exp); // Map.set keeps the place of an existing key: prolong keeps the claim order
  }

  unban(owner: string, cidr: string): void {
    const m = this.claims.get(cidr);
    m?.delete(owner);
    if (m?.size === 0) this.claims.delete(cidr);
  }

  flush(owner: string): number {
    let n = 0;
    for (const cidr of [...this.claims.keys()]) {
      if (this.claims.get(cidr)!.has(owner)) {
        this.unban(owner, cidr);
        n += 1;
      }
    }
    return n;
  }

  expire(now: number): void {
    for (const [cidr, m] of [...this.claims]) {
      for (const [o, e] of [...m]) if (e !== 0 && e <= now) m.delete(o);
      if (m.size === 0) this.claims.delete(cidr);
    }
  }

  entries(): Map<string, { tag: string; expiration: number }> {
    const out = new Map<string, { tag: string; expiration: number }>();
    for (const [cidr, tag] of this.api) out.set(cidr, { tag, expiration: 0 });
    for (const [cidr, m] of this.claims) {
      if (out.has(cidr)) continue;
      const exps = [...m.values()];
      out.set(cidr, { tag: [...m.keys()][0]!, expiration: exps.includes(0) ? 0 : Math.max(...exps) });
    }
    return out;
  }
}

const OWNERS = ['fail2ban-sshd', 'fail2ban-recidive', 'f2b_nginx'] as const;

describe('bans: kernel maps == API (pinned maps read with bpftool)', { skip, timeout: 180_000 }, () => {
  it('random claims / unclaims / flushes / Couic entries / expiries: kernel == API == model', async () => {
    await withDaemon({}, async (d, pinDir) => {
      const rand = rng(4242);
      const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)]!;
      const t0 = nowS();
      const exp1 = t0 + 5;
      const exp2 = t0 + 8;
      const universe: string[] = [];
      for (let i = 0; i < 30; i += 1) universe.push(`10.7.${i >> 3}.${(i * 37) & 255}/32`);
      for (let i = 0; i < 8; i += 1) universe.push(`10.${60 + i}.1.0/24`);
      for (let i = 0; i < 8; i += 1) universe.push(`2001:db8:${(i + 1).toString(16)}::9/128`);
      const model = new Model();

      const check = async (): Promise<void> => {
        const api = await assertDropMatchesApi(d, pinDir);
        const want = model.entries();
        assert.deepEqual([...api.keys()].sort(), [...want.keys()].sort(), 'entries == model');
        for (const [k, e] of want) {
          assert.equal(api.get(k)!.tag, e.tag, `tag of ${k}`);
          assert.equal(api.get(k)!.expiration, e.expiration, `expiration of ${k}`);
        }
        for (const o of OWNERS) {
          const got = await claimsOf(d, o);
          const exp = new Map([...model.claims].filter(([, m]) => m.has(o)).map(([c, m]) => [c, m.get(o)!]));
          assert.deepEqual([...got].sort(), [...exp].sort(), `claims of ${o}`);
        }
      };

      for (let round = 0; round < 25; round += 1) {
        for (let step = 0; step < 8; step += 1) {
          const x = rand();
          const owner = pick(OWNERS);
          const cidr = pick(universe);
          const exp = pick([0, exp1, exp2, exp2]);
          if (x < 0.4) {
            const r = await d.request('POST', `/v1/bans/${owner}`, { body: { cidr: cidr.endsWith('/32') && rand() < 0.5 ? cidr.slice(0, -3) : cidr, expiration: exp } });
            assert.equal(r.status, 200, r.text);
            model.ban(owner, cidr, exp);
          } else if (x < 0.55) {
            const items = Array.from({ length: 1 + Math.floor(rand() * 6) }, () => ({ cidr: pick(universe), expiration: pick([0, exp1, exp2]) }));
            const r = await d.request('POST', `/v1/bans/${owner}`, { body: items });
            assert.equal(r.status, 200, r.text);
            assert.deepEqual(r.json(), { applied: items.length });
            for (const it of items) model.ban(owner, it.cidr, it.expiration);
          } else if (x < 0.8) {
            const r = await d.request('DELETE', `/v1/bans/${owner}/${cidr}`);
            assert.equal(r.status, 204, r.text);
            model.unban(owner, cidr);
          } else if (x < 0.85) {
            const r = await d.request('DELETE', `/v1/bans/${owner}`);
            assert.equal(r.status, 200, r.text);
            assert.deepEqual(r.json(), { removed: model.flush(owner) });
          } else if (x < 0.93) {
            const r = await d.request('POST', '/v1/drop', { body: { cidr, tag: 'api', expiration: 0 } });
            if (model.entries().has(cidr)) {
              assert.equal(r.status, 409, r.text);
            } else {
              assert.equal(r.status, 201, r.text);
              model.api.set(cidr, 'api');
            }
          } else {
            const r = await d.request('DELETE', `/v1/drop/${cidr}`);
            if (model.entries().has(cidr)) {
              assert.equal(r.status, 204, r.text);
              model.api.delete(cidr);
              model.claims.delete(cidr);
            } else {
              assert.equal(r.status, 404, r.text);
            }
          }
        }
        if (round % 5 === 4) await check();
      }
      assert.ok(nowS() < exp1, 'rounds finished before the first expiry (test too slow?)');
      await check();
      for (const t of [exp1, exp2]) {
        model.expire(t);
        // The daemon's expiry runs at t: wait until it agrees with the model, then check for real.
        await waitFor(() => check().then(() => true, () => false), t * 1000 + 3000 - Date.now(), 200);
        await check();
      }
      assert.ok(model.claims.size > 0, 'some permanent claims are left');
    });
  });

  for (const compact of [false, true]) {
    it(`kill -9 after acknowledged claims: claims, entries and kernel agree after restart${compact ? ' (compacted journal)' : ''}`, async () => {
      const extra = compact ? '\n[journal]\ncompact_after = 200\n' : '';
      await withDaemon({ extra }, async (d, pinDir) => {
        const exp = nowS() + 3600;
        /** cidr -> owner: acknowledged bans not unbanned since. */
        const held = new Map<string, string>();
        const released = new Set<string>();
        const attempted = new Set<string>();
        let stop = false;
        const worker = async (w: number): Promise<void> => {
          for (let i = 0; !stop; i += 1) {
            const owner = OWNERS[(w + i) % 3]!;
            try {
              if (i % 5 === 4 && held.size > 0) {
                const cidr = [...held.keys()].find((c) => c.startsWith(`10.${80 + w}.`));
                if (cidr === undefined) continue;
                const o = held.get(cidr)!;
                held.delete(cidr); // unknown until acknowledged
                const r = await d.request('DELETE', `/v1/bans/${o}/${cidr}`);
                if (r.status === 204) released.add(cidr);
              } else if (i % 7 === 6) {
                const items = Array.from({ length: 20 }, (_, j) => ({ cidr: `10.${80 + w}.${100 + ((i >> 8) & 63)}.${((i & 255) + j) & 255}/32`, expiration: 0 }));
                const fresh = items.filter((it) => !attempted.has(it.cidr));
                for (const it of fresh) attempted.add(it.cidr);
                const r = await d.request('POST', `/v1/bans/${owner}`, { body: fresh });
                if (r.status === 200) for (const it of fresh) held.set(it.cidr, owner);
              } else {
                const cidr = `10.${80 + w}.${(i >> 8) & 63}.${i & 255}/32`;
                attempted.add(cidr);
                const r = await d.request('POST', `/v1/bans/${owner}`, { body: { cidr, expiration: i % 2 ? exp : 0 } });
                if (r.status === 200) held.set(cidr, owner);
              }
            } catch {
              return; // the daemon died under us
            }
          }
        };
        const workers = Array.from({ length: 8 }, (_, w) => worker(w));
        // Killed under load, once enough claims are acknowledged to make losing one visible.
        await waitFor(() => held.size > 400, 30_000);
        const res = await d.kill('SIGKILL');
        stop = true;
        await Promise.all(workers);
        assert.equal(res.signal, 'SIGKILL');
        assert.ok(held.size > 200, `only ${held.size} claims acknowledged before the kill`);
        await d.restart();
        const api = await assertDropMatchesApi(d, pinDir);
        const claims = new Map<string, string>();
        for (const o of OWNERS) for (const c of (await claimsOf(d, o)).keys()) claims.set(c, o);
        for (const [c, o] of held) {
          assert.equal(claims.get(c), o, `acknowledged claim ${o} ${c} lost`);
          assert.equal(api.get(c)?.tag, o, `entry of ${c}`);
        }
        for (const c of released) assert.ok(!claims.has(c) && !api.has(c), `released ${c} is back`);
        for (const c of api.keys()) assert.ok(claims.has(c), `entry ${c} without a claim`);
        for (const c of claims.keys()) assert.ok(attempted.has(c), `${c} was never requested`);
        assert.ok(claims.size - held.size <= 8 * 20, 'at most the in-flight requests are extra');
        if (compact) assert.ok(existsSync(join(d.workingDir, 'journal', 'snapshot.bin')), 'the journal was compacted');
      });
    });
  }
});
