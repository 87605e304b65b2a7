/**
 * Crash soak (issue 17): many clients — creates, deletes and peer batches on
 * drop and ignore entries, fail2ban-style bans and unbans, entries that
 * expire, set file rewrites and reloads — while the real daemon (pinned
 * maps, test/lib/kernel.ts) is kill -9'd at random moments and restarted,
 * and the helper is kill -9'd in between. After each restart (and after each
 * helper restart) the clients pause and:
 *
 * - every acknowledged mutation is reflected: a model built from the answers
 *   (each client owns its keys, so per key the answers are in order) equals
 *   the API; a request cut by a kill leaves its keys unknown until the API
 *   is read (either outcome is correct: it was never acknowledged);
 * - nothing is made up: the API lists no key no client asked for;
 * - the kernel maps (read with bpftool from the pins) equal the API;
 * - at the end, the journal has compacted (snapshot written, at most a few
 *   wal files) and no start found a damaged journal file (kill -9 cannot
 *   damage one).
 *
 * COUIC_SOAK_CYCLES (default 20, what CI runs) sets the number of kill -9
 * cycles; COUIC_SOAK_SEED the random seed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { apiEntries, assertKernelMatchesApi, kernelSkip, startPinnedDaemon } from '../lib/kernel.js';
import { sleep, waitFor } from '../lib/wait.js';

const CYCLES = Number(process.env['COUIC_SOAK_CYCLES'] ?? 20);
const SEED = Number(process.env['COUIC_SOAK_SEED'] ?? Date.now() % 100_000);
const SET_FILE = 'soak.couic';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** What the answers say: `policy|cidr` -> tag (undefined = present, tag not known) and expiration. */
interface Known { readonly tag: string | undefined; readonly expiration: number }

class Model {
  readonly known = new Map<string, Known>();
  /** Keys a request touched whose answer never came (or was a 5xx): either outcome is correct. */
  readonly unknown = new Set<string>();
  acked = 0;

  certain(k: string): boolean {
    return !this.unknown.has(k);
  }
}

const children = (pid: number): number[] =>
  (spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout ?? '').split('\n').filter(Boolean).map(Number);

describe('crash soak', { skip: kernelSkip, timeout: 30_000 + CYCLES * 20_000 }, () => {
  it(`${CYCLES} kill -9 cycles of the daemon, helper kills in between, under load from many clients`, async (t) => {
    t.diagnostic(`seed ${SEED}`);
    const rand = rng(SEED);
    const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)]!;
    const { d, pinDir, stop } = await startPinnedDaemon({
      dataplane: { drop_exact: 65_536 },
      // Small: compactions happen many times in a run, kill -9 lands during some.
      extra: '[journal]\ncompact_after = 400\n',
    });
    const model = new Model();
    const outputs: string[] = [];
    const faults = { daemonKills: 0, helperKills: 0, cutRequests: 0 };
    let setContent = new Set<string>();
    let paused: Promise<void> | undefined;
    let resume: () => void = () => {};
    let idle = 0;
    let done = false;
    const failures: string[] = [];

    const send = async (method: string, path: string, body?: unknown): Promise<number | undefined> => {
      try {
        const r = await d.request(method, path, body === undefined ? {} : { body });
        if (r.status >= 500) return undefined;
        if (r.status === 422 || r.status === 400) failures.push(`${method} ${path} ${JSON.stringify(body)}: ${r.status} ${r.text}`);
        return r.status;
      } catch {
        return undefined; // the daemon died under the request
      }
    };
    const cut = (keys: readonly string[], answered = false): void => {
      if (!answered) faults.cutRequests += 1;
      for (const k of keys) model.unknown.add(k);
    };

    /** An entry client: creates, deletes and peer batches on its own keys. */
    const entryClient = async (c: number): Promise<void> => {
      const keys = Array.from({ length: 24 }, (_, i) => (i < 18 ? `10.${40 + c}.0.${i}/32` : `10.${40 + c}.${i}.0/24`));
      const policyOf = (i: number): string => (i % 5 === 0 ? 'ignore' : 'drop');
      const tags = ['', 'a', 'web', 'x_y'];
      for (;;) {
        if (paused !== undefined) {
          idle += 1;
          await paused;
          idle -= 1;
        }
        if (done) return;
        const op = rand();
        if (op < 0.45) {
          const i = Math.floor(rand() * keys.length);
          const k = `${policyOf(i)}|${keys[i]}`;
          const tag = pick(tags);
          const st = await send('POST', `/v1/${policyOf(i)}`, { cidr: keys[i], tag, expiration: 0 });
          if (st === undefined) { cut([k]); continue; }
          if (st === 201) {
            if (model.certain(k)) assert.ok(!model.known.has(k), `201 for ${k}, which exists`);
            model.known.set(k, { tag, expiration: 0 });
          } else {
            assert.equal(st, 409, `create ${k}`);
            if (model.certain(k)) assert.ok(model.known.has(k), `409 for ${k}, which does not exist`);
            if (!model.certain(k)) model.known.set(k, { tag: undefined, expiration: 0 });
          }
          model.unknown.delete(k);
          model.acked += 1;
        } else if (op < 0.75) {
          const i = Math.floor(rand() * keys.length);
          const k = `${policyOf(i)}|${keys[i]}`;
          const st = await send('DELETE', `/v1/${policyOf(i)}/${keys[i]}`);
          if (st === undefined) { cut([k]); continue; }
          assert.ok(st === 204 || st === 404, `delete ${k}: ${st}`);
          if (model.certain(k)) assert.equal(st === 204, model.known.has(k), `delete ${k}: ${st}`);
          model.known.delete(k);
          model.unknown.delete(k);
          model.acked += 1;
        } else {
          // A peer batch on drop keys: applied in order up to the first failure.
          const idx = Array.from({ length: 4 }, () => Math.floor(rand() * keys.length)).filter((i) => policyOf(i) === 'drop');
          const jobs = idx.map((i) => ({ action: rand() < 0.65 ? 'add' : 'remove', entry: { cidr: keys[i]!, tag: pick(tags) || null, expiration: 0 } }));
          if (jobs.length === 0) continue;
          const ks = jobs.map((j) => `drop|${j.entry.cidr}`);
          const allCertain = ks.every((k) => model.certain(k));
          const st = await send('POST', '/v1/drop/peer', jobs);
          if (st === undefined || !allCertain) { cut(ks, st !== undefined); continue; }
          let expected = 201;
          for (const j of jobs) {
            const k = `drop|${j.entry.cidr}`;
            if (j.action === 'add') {
              if (model.known.has(k)) { expected = 409; break; }
              model.known.set(k, { tag: j.entry.tag ?? '', expiration: 0 });
            } else {
              if (!model.known.has(k)) { expected = 404; break; }
              model.known.delete(k);
            }
          }
          assert.equal(st, expected, `peer batch ${JSON.stringify(jobs)}`);
          model.acked += 1;
        }
      }
    };

    /** A fail2ban-like client: bans and unbans of its own keys under its owner. */
    const banClient = async (b: number): Promise<void> => {
      const owner = b === 0 ? 'fail2ban-sshd' : 'fail2ban-web';
      const keys = Array.from({ length: 20 }, (_, i) => `10.60.${b}.${i}/32`);
      for (;;) {
        if (paused !== undefined) {
          idle += 1;
          await paused;
          idle -= 1;
        }
        if (done) return;
        const cidr = pick(keys);
        const k = `drop|${cidr}`;
        if (rand() < 0.6) {
          const st = await send('POST', `/v1/bans/${owner}`, { cidr, expiration: 0 });
          if (st === undefined) { cut([k]); continue; }
          assert.equal(st, 200, `ban ${cidr}`);
          model.known.set(k, { tag: owner, expiration: 0 });
        } else {
          const st = await send('DELETE', `/v1/bans/${owner}/${cidr}`);
          if (st === undefined) { cut([k]); continue; }
          assert.ok(st === 204 || st === 404, `unban ${cidr}: ${st}`);
          model.known.delete(k);
        }
        model.unknown.delete(k);
        model.acked += 1;
      }
    };

    /** Entries that expire 1 to 3 s after their creation (fresh keys: never reused). */
    let nextExpiring = 0;
    const expiringClient = async (): Promise<void> => {
      for (;;) {
        if (paused !== undefined) {
          idle += 1;
          await paused;
          idle -= 1;
        }
        if (done) return;
        const n = nextExpiring++;
        const cidr = `10.70.${(n >> 8) & 255}.${n & 255}/32`;
        const k = `drop|${cidr}`;
        const expiration = Math.ceil(Date.now() / 1000) + 2 + Math.floor(rand() * 3);
        const st = await send('POST', '/v1/drop', { cidr, tag: 'exp', expiration });
        if (st === undefined) { cut([k]); continue; }
        assert.equal(st, 201, `create expiring ${cidr}`);
        model.known.set(k, { tag: 'exp', expiration });
        model.acked += 1;
        await sleep(20); // pacing
      }
    };

    /** Rewrites the set file (atomically) and reloads; at start the file on disk is what counts. */
    const setKeys = Array.from({ length: 40 }, (_, i) => `10.80.0.${i}/32`);
    const setClient = async (): Promise<void> => {
      for (;;) {
        if (paused !== undefined) {
          idle += 1;
          await paused;
          idle -= 1;
        }
        if (done) return;
        const next = new Set(setKeys.filter(() => rand() < 0.5));
        const file = join(d.workingDir, 'sets', 'drop', SET_FILE);
        writeFileSync(`${file}.new`, `${[...next].join('\n')}\n`, { mode: 0o600 });
        renameSync(`${file}.new`, file);
        setContent = next;
        const st = await send('POST', '/v1/sets/reload');
        if (st !== undefined) {
          assert.equal(st, 201, 'set reload');
          model.acked += 1;
        }
        await sleep(100); // pacing
      }
    };

    // A client whose answer contradicts the model stops and is reported at the next check.
    const guard = (p: Promise<void>): Promise<void> => p.catch((err: Error) => {
      failures.push(err.message);
      idle += 1;
    });
    const clients = [0, 1, 2, 3, 4, 5].map((c) => guard(entryClient(c)));
    clients.push(guard(banClient(0)), guard(banClient(1)), guard(expiringClient()), guard(setClient()));
    const pause = async (): Promise<void> => {
      paused = new Promise((r) => (resume = r));
      await waitFor(() => idle === clients.length, 30_000, 10);
      assert.equal(idle, clients.length, 'every client paused');
    };
    const go = (): void => {
      paused = undefined;
      resume();
    };

    /** The API against the model and the kernel (clients paused). */
    const check = async (when: string): Promise<void> => {
      assert.deepEqual(failures, [], `${when}: client assertions`);
      // An expiry batch may commit between reading the API and the maps: a read where both agree is awaited.
      let seen: Awaited<ReturnType<typeof assertKernelMatchesApi>> | undefined;
      await waitFor(() => assertKernelMatchesApi(d, pinDir).then((r) => (seen = r), () => undefined), 10_000, 100);
      const { api } = seen ?? (await assertKernelMatchesApi(d, pinDir));
      for (const k of model.unknown) {
        const e = api.get(k);
        if (e === undefined) model.known.delete(k);
        else model.known.set(k, { tag: e.tag ?? '', expiration: e.expiration });
      }
      model.unknown.clear();
      const now = Date.now() / 1000;
      for (const [k, m] of model.known) {
        if (m.expiration !== 0 && now >= m.expiration + 2) {
          assert.ok(!api.has(k), `${when}: ${k} expired at ${m.expiration}, still listed at ${now.toFixed(1)}`);
          model.known.delete(k);
          continue;
        }
        if (m.expiration !== 0 && now >= m.expiration - 0.5) continue; // expiring right now
        const e = api.get(k);
        assert.ok(e !== undefined, `${when}: acknowledged ${k} lost`);
        if (m.tag !== undefined) assert.equal(e.tag ?? '', m.tag, `${when}: tag of ${k}`);
      }
      for (const [k, e] of api) {
        if (e.tag === SET_FILE) continue;
        const m = model.known.get(k);
        assert.ok(m !== undefined, `${when}: ${k} listed, never acknowledged nor cut`);
      }
    };

    try {
      for (let cycle = 0; cycle < CYCLES; cycle += 1) {
        go();
        await sleep(300 + rand() * 1200); // load runs; the kill lands at a random moment
        if (cycle % 3 === 1) {
          const [helper] = children(d.pid);
          assert.ok(helper !== undefined, 'a helper runs');
          process.kill(helper, 'SIGKILL');
          faults.helperKills += 1;
          await waitFor(() => children(d.pid).some((p) => p !== helper), 20_000);
          await d.waitForOutput(/couic-helper restarted and resynced/, 20_000);
          await pause();
          await check(`cycle ${cycle}, after the helper's restart`);
          go();
          await sleep(200 + rand() * 600);
        }
        const res = await d.kill('SIGKILL');
        assert.equal(res.signal, 'SIGKILL');
        faults.daemonKills += 1;
        await pause();
        outputs.push(d.output());
        await d.restart();
        // What was on disk when the daemon died is what the start reloads.
        const api = await apiEntries(d);
        const sets = [...api].filter(([, e]) => e.tag === SET_FILE).map(([k]) => k.slice(5)).sort();
        assert.deepEqual(sets, [...setContent].sort(), `cycle ${cycle}: the set file's entries after the restart`);
        await check(`cycle ${cycle}, after the restart`);
      }
      outputs.push(d.output());
      done = true;
      go();
      await Promise.all(clients);

      const journal = readdirSync(join(d.workingDir, 'journal'));
      const wals = journal.filter((n) => /^wal-\d+\.log$/.test(n));
      const log = outputs.join('\n');
      const snapshots = (log.match(/journal: snapshot written/g) ?? []).length;
      t.diagnostic(`acknowledged mutations ${model.acked}, daemon kill -9 ${faults.daemonKills}, helper kill -9 ${faults.helperKills}, requests left without an answer by a kill ${faults.cutRequests}, snapshots ${snapshots}, journal files ${journal.join(' ')}`);
      assert.ok(model.acked > CYCLES * 20, `load ran (${model.acked} acknowledged mutations)`);
      assert.ok(snapshots > 0, 'the journal compacted');
      assert.ok(journal.includes('snapshot.bin'), 'a snapshot is on disk');
      assert.ok(wals.length <= 3, `wal files stay few: ${wals.join(' ')}`);
      assert.doesNotMatch(log, /journal: damaged file/, 'no start found a damaged journal file');
      assert.ok(!journal.some((n) => n.includes('.damaged-')), 'nothing kept aside');
    } finally {
      done = true;
      go();
      await stop();
      await Promise.allSettled(clients);
    }
  });
});
