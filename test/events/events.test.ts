/**
 * The live event stream (`GET /v1/events`, WebSocket on the Unix socket)
 * against the REAL daemon: ordered entry events of a scripted sequence,
 * stats samples, set reload summaries, refusals, slow consumers.
 */
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { statsFromEvent } from '../../src/cli/live.js';
import { daemonBuilt, startDaemon, type Daemon } from '../lib/daemon.js';
import { waitFor } from '../lib/wait.js';

const skip = !daemonBuilt() || process.getuid?.() !== 0 ? 'needs root and the built daemon' : false;

interface Consumer {
  readonly ws: WebSocket;
  readonly messages: any[];
  /** Resolves with the first message satisfying `pred` (past or future). */
  waitFor(pred: (m: any) => boolean, timeoutMs?: number): Promise<any>;
  readonly closed: Promise<{ code: number; reason: string }>;
}

function connect(d: Daemon, token: string | null, urlPath = '/v1/events'): Promise<Consumer> {
  const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
  const ws = new WebSocket(`ws+unix://${d.socketPath}:${urlPath}`, { headers });
  const messages: any[] = [];
  const waiters: { pred: (m: any) => boolean; resolve: (m: any) => void }[] = [];
  ws.on('message', (data) => {
    const m = JSON.parse(String(data));
    messages.push(m);
    for (const w of [...waiters]) {
      if (w.pred(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  return new Promise((resolve, reject) => {
    ws.once('open', () =>
      resolve({
        ws,
        messages,
        closed,
        waitFor(pred, timeoutMs = 10_000) {
          const found = messages.find(pred);
          if (found !== undefined) return Promise.resolve(found);
          return new Promise((res, rej) => {
            const t = setTimeout(() => rej(new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(messages.slice(-5))}`)), timeoutMs);
            waiters.push({ pred, resolve: (m) => { clearTimeout(t); res(m); } });
          });
        },
      }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => reject(Object.assign(new Error(`refused: ${res.statusCode}`), { status: res.statusCode, body })));
    });
    ws.once('error', reject);
  });
}

describe('event stream (real daemon)', { skip, timeout: 120_000 }, () => {
  let d: Daemon;
  const tokens: Record<string, string> = {};

  before(async () => {
    d = await startDaemon();
    for (const group of ['clientro', 'clientrw', 'monitoring', 'peering']) {
      const r = await d.request('POST', '/v1/client', { body: { name: `ev-${group}`, group } });
      assert.equal(r.status, 201, r.text);
      tokens[group] = r.json().token;
    }
  });
  after(async () => {
    await d?.stop();
  });

  test('a scripted sequence arrives in order: added, removed, expired, peer, sets_reloaded; plus stats samples', async () => {
    const c = await connect(d, d.token);
    const hello = await c.waitFor((m) => m.type === 'hello');
    assert.equal(hello.client, 'couicctl');
    const now = Math.floor(Date.now() / 1000);
    assert.equal((await d.request('POST', '/v1/drop', { body: { cidr: '192.0.2.1/32', tag: 'ev-a', expiration: 0 } })).status, 201);
    assert.equal((await d.request('POST', '/v1/ignore', { body: { cidr: '2001:db8::/48', expiration: now + 2 } })).status, 201);
    assert.equal((await d.request('DELETE', '/v1/drop/192.0.2.1/32')).status, 204);
    assert.equal((await d.request('POST', '/v1/drop/peer', { token: tokens['peering']!, body: [
      { action: 'add', entry: { cidr: '198.51.100.0/24', tag: 'peer', expiration: 0 } },
      { action: 'remove', entry: { cidr: '198.51.100.0/24', expiration: 0 } },
    ] })).status, 201);
    await c.waitFor((m) => m.type === 'expired', 6000);
    const file = path.join(d.workingDir, 'sets', 'drop', 'evset.couic');
    writeFileSync(file, '203.0.113.0/24\n203.0.113.7/32\n');
    chmodSync(file, 0o600);
    assert.equal((await d.request('POST', '/v1/sets/reload')).status, 201);
    const reloaded = await c.waitFor((m) => m.type === 'sets_reloaded');
    assert.equal(reloaded.status, 'ok');
    assert.equal(reloaded.actor, 'couicctl');
    assert.deepEqual(reloaded.drop, { created: 2, updated: 0, removed: 0 });
    assert.deepEqual(reloaded.ignore, { created: 0, updated: 0, removed: 0 });

    const seq = c.messages.filter((m) => m.type !== 'stats' && m.type !== 'hello').map(({ time, creation, ...rest }) => {
      assert.equal(typeof time, 'number');
      assert.equal(typeof creation === 'number' || creation === undefined, true);
      return rest;
    });
    assert.deepEqual(seq.map((m) => m.type), ['added', 'added', 'removed', 'added', 'removed', 'expired', 'sets_reloaded']);
    assert.deepEqual(seq[0], { type: 'added', policy: 'drop', cidr: '192.0.2.1/32', tag: 'ev-a', expiration: 0, actor: 'couicctl', origin: 'api' });
    assert.deepEqual(seq[1], { type: 'added', policy: 'ignore', cidr: '2001:db8::/48', tag: '', expiration: now + 2, actor: 'couicctl', origin: 'api' });
    assert.deepEqual(seq[2], { type: 'removed', policy: 'drop', cidr: '192.0.2.1/32', tag: 'ev-a', expiration: 0, actor: 'couicctl', origin: 'api' });
    assert.deepEqual(seq[3], { type: 'added', policy: 'drop', cidr: '198.51.100.0/24', tag: 'peer', expiration: 0, actor: 'ev-peering', origin: 'peer' });
    assert.deepEqual(seq[4], { type: 'removed', policy: 'drop', cidr: '198.51.100.0/24', tag: 'peer', expiration: 0, actor: 'ev-peering', origin: 'peer' });
    assert.deepEqual(seq[5], { type: 'expired', policy: 'ignore', cidr: '2001:db8::/48', tag: '', expiration: now + 2, origin: 'expiry' });
    const added = c.messages.find((m) => m.type === 'added');
    assert.ok(added.creation >= now && added.creation <= now + 2);

    // stats: one per second, a Stats object under "stats" that couicctl --live reads
    const last = await c.waitFor((m) => m.type === 'stats' && m.stats.drop_cidr_count === 2);
    assert.ok(await waitFor(() => c.messages.filter((m) => m.type === 'stats').length >= 3, 10_000), 'three stats ticks');
    const stats = c.messages.filter((m) => m.type === 'stats');
    assert.deepEqual(Object.keys(last.stats.xdp).sort(), ['XDP_ABORTED', 'XDP_DROP', 'XDP_PASS', 'XDP_REDIRECT', 'XDP_TX']);
    assert.equal(last.stats.ignore_cidr_count, 0);
    assert.deepEqual(statsFromEvent(JSON.stringify(last)), last.stats);
    for (let i = 1; i < stats.length; i += 1) {
      const gap = stats[i].time - stats[i - 1].time;
      assert.ok(gap > 500 && gap < 2000, `one sample a second (gap ${gap} ms)`);
    }
    c.ws.close();
    assert.equal((await c.closed).code, 1005);
  });

  test('admin, clientro, clientrw and monitoring may read; others are refused before the upgrade', async () => {
    for (const t of [d.token, tokens['clientro']!, tokens['clientrw']!, tokens['monitoring']!]) {
      const c = await connect(d, t);
      await c.waitFor((m) => m.type === 'hello');
      c.ws.close();
      await c.closed;
    }
    for (const t of [null, tokens['peering']!, '00000000-0000-0000-0000-000000000000', 'not-a-uuid']) {
      await assert.rejects(connect(d, t), (err: any) => {
        assert.equal(err.status, 401);
        assert.deepEqual(JSON.parse(err.body), { code: 'unauthorized', message: 'Unauthorized', errors: {} });
        return true;
      });
    }
    // another path never upgrades: the connection is dropped
    await assert.rejects(connect(d, d.token, '/v1/stats'), (err: Error) => /socket hang up|ECONNRESET/.test(err.message));
    await assert.rejects(connect(d, d.token, '/v1/eventsx'), (err: Error) => /socket hang up|ECONNRESET/.test(err.message));
    // a plain GET is not a handshake: Couic's routing applies (`events` is not a policy)
    assert.equal((await d.request('GET', '/v1/events')).status, 400);
    assert.equal((await d.request('GET', '/v1/stats')).status, 200);
  });

  test('RBAC per message: monitoring gets stats but no entry events; clientro entry events but no stats', async () => {
    const mon = await connect(d, tokens['monitoring']!);
    const ro = await connect(d, tokens['clientro']!);
    const rw = await connect(d, tokens['clientrw']!);
    const admin = await connect(d, d.token);
    for (const c of [mon, ro, rw, admin]) await c.waitFor((m) => m.type === 'hello');
    assert.equal((await d.request('POST', '/v1/drop', { body: { cidr: '192.0.2.99/32', tag: 'ev-rbac', expiration: 0 } })).status, 201);
    assert.equal((await d.request('DELETE', '/v1/drop/192.0.2.99/32')).status, 204);
    assert.equal((await d.request('POST', '/v1/sets/reload')).status, 201);
    for (const c of [ro, rw, admin]) {
      await c.waitFor((m) => m.type === 'removed' && m.cidr === '192.0.2.99/32');
      await c.waitFor((m) => m.type === 'sets_reloaded');
    }
    await mon.waitFor((m) => m.type === 'stats');
    await admin.waitFor((m) => m.type === 'stats');
    // a few more stats ticks: clientro/clientrw would have had samples by now
    const monStats = mon.messages.filter((m) => m.type === 'stats').length;
    assert.ok(await waitFor(() => mon.messages.filter((m) => m.type === 'stats').length >= monStats + 2, 10_000), 'two more stats ticks');
    assert.deepEqual(mon.messages.filter((m) => m.type !== 'stats' && m.type !== 'hello'), [], 'monitoring: no entry or sets events');
    assert.deepEqual(ro.messages.filter((m) => m.type === 'stats'), [], 'clientro: no stats');
    assert.deepEqual(rw.messages.filter((m) => m.type === 'stats'), [], 'clientrw: no stats');
    for (const c of [mon, ro, rw, admin]) {
      c.ws.close();
      await c.closed;
    }
  });

  test('a deleted client\'s stream is closed (1008 "client removed"); the others go on', async () => {
    const r = await d.request('POST', '/v1/client', { body: { name: 'ev-doomed', group: 'clientro' } });
    assert.equal(r.status, 201, r.text);
    const doomed = await connect(d, r.json().token);
    const other = await connect(d, tokens['clientro']!);
    await doomed.waitFor((m) => m.type === 'hello');
    await other.waitFor((m) => m.type === 'hello');
    assert.equal((await d.request('DELETE', '/v1/client/ev-doomed')).status, 204);
    const t0 = Date.now();
    const { code, reason } = await doomed.closed;
    assert.equal(code, 1008);
    assert.equal(reason, 'client removed');
    assert.ok(Date.now() - t0 < 5000, `closed within a few seconds (${Date.now() - t0} ms)`);
    // the other consumer still receives events
    assert.equal((await d.request('POST', '/v1/drop', { body: { cidr: '192.0.2.98/32', tag: 'ev-after', expiration: 0 } })).status, 201);
    await other.waitFor((m) => m.type === 'added' && m.cidr === '192.0.2.98/32');
    assert.equal((await d.request('DELETE', '/v1/drop/192.0.2.98/32')).status, 204);
    other.ws.close();
    await other.closed;
  });

  test('a consumer that never reads is cut off (1013) while the daemon and other consumers go on', async () => {
    // clientro: gets the entry events (monitoring would not, see the RBAC test)
    const slow = await connect(d, tokens['clientro']!);
    const fast = await connect(d, d.token);
    await slow.waitFor((m) => m.type === 'hello');
    await fast.waitFor((m) => m.type === 'hello');
    const sock = (slow.ws as unknown as { _socket: import('node:net').Socket })._socket;
    sock.pause();
    let sent = 0;
    const base = (i: number): string => `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`;
    const jobs = (from: number, n: number): unknown[] =>
      Array.from({ length: n }, (_, k) => ({ action: 'add', entry: { cidr: base(from + k), tag: 'ev-flood-tag-with-a-longer-name', expiration: 0 } }));
    while (!/slow consumer cut off/.test(d.output())) {
      assert.ok(sent < 60_000, 'the slow consumer was never cut off');
      const t0 = Date.now();
      const r = await d.request('POST', '/v1/drop/peer', { token: tokens['clientrw']!, body: jobs(sent, 2000) });
      assert.equal(r.status, 201, r.text);
      assert.ok(Date.now() - t0 < 5000, 'the daemon stays responsive');
      sent += 2000;
    }
    // the daemon is healthy
    const s = await d.request('GET', '/v1/stats');
    assert.equal(s.status, 200);
    assert.equal(s.json().drop_cidr_count, sent + 2);
    // the fast consumer saw every event
    await fast.waitFor((m) => m.type === 'added' && m.cidr === base(sent - 1), 20_000);
    assert.equal(fast.messages.filter((m) => m.type === 'added' && m.tag === 'ev-flood-tag-with-a-longer-name').length, sent);
    // the slow one reads what was queued before the cut, then the close frame
    sock.resume();
    const { code, reason } = await slow.closed;
    assert.equal(code, 1013);
    assert.match(reason, /^slow consumer/);
    assert.ok(slow.messages.length < sent, 'the slow consumer did not get everything');
    fast.ws.close();
    await fast.closed;
  });

  test('closed explicitly on shutdown (1001)', async () => {
    const c = await connect(d, d.token);
    await c.waitFor((m) => m.type === 'hello');
    const t0 = Date.now();
    const exit = await d.kill('SIGTERM');
    assert.equal(exit.code, 0);
    const { code, reason } = await c.closed;
    assert.equal(code, 1001);
    assert.equal(reason, 'couic is shutting down');
    assert.ok(Date.now() - t0 < 5000);
    await d.restart();
  });
});
