/**
 * Couic's webhook reporting against a real HTTP receiver: the exact JSON
 * of add and remove reports (Couic's common::Report, which couic-report
 * deserializes), Couic's headers, batching, retry after a failing
 * endpoint with the buffer kept, and the bound (oldest dropped, counted).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT, startDaemon, type Daemon } from '../lib/daemon.js';
import { kernelSkip } from '../lib/kernel.js';
import { waitFor } from '../lib/wait.js';
import { startWebhook, type Webhook } from './lib.js';

const SECRET = '0b9b5c51-7b5a-4c54-9a5e-b6f3c8a1d2e4';
const MAX = 20;
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

interface Report {
  action: string;
  policy: string;
  entry: { creation: number; cidr: string; tag: string | null; expiration: number };
  metadata: unknown;
}

describe('reporting: Couic\'s webhook', { skip: kernelSkip, timeout: 120_000 }, () => {
  let hook: Webhook;
  let d: Daemon;
  /** Reports the webhook took (answered 200), in order. */
  const taken = (): Report[] => hook.posts.filter((p) => p.status === 200).flatMap((p) => JSON.parse(p.body) as Report[]);
  const status = async (): Promise<any> => (await d.request('GET', '/v1/peering')).json().reporting;

  before(async () => {
    hook = await startWebhook();
    d = await startDaemon({
      extraToml: `[reporting]\nenabled = true\nwebhook = "http://127.0.0.1:${hook.port}/v1/reports/${SECRET}"\nmax_buffer = ${MAX}\n`,
    });
  });
  after(async () => {
    await d?.stop();
    await hook?.close();
  });

  it('an API create is reported as Couic\'s add with its metadata, a delete as a remove; headers as Couic', async () => {
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const metadata = { kind: 'waf', detail: 'too many 404', extra: { path: '/admin', hits: 12 } };
    const c = await d.request('POST', '/v1/drop', { body: { cidr: '192.0.2.77/32', tag: 'waf', expiration: exp, metadata } });
    assert.equal(c.status, 201, c.text);
    const creation = (c.json() as { creation: number }).creation;
    assert.equal((await d.request('DELETE', '/v1/drop/192.0.2.77/32')).status, 204);
    const untagged = await d.request('POST', '/v1/ignore', { body: { cidr: '198.51.100.0/24', expiration: 0 } });
    assert.equal(untagged.status, 201, untagged.text);
    const got = await waitFor(() => (taken().length >= 3 ? taken() : undefined), 10_000);
    assert.ok(got, `reports: ${JSON.stringify(hook.posts)}`);
    // The exact JSON text, key order included (Couic's struct order).
    const texts = hook.posts.filter((p) => p.status === 200).flatMap((p) => (JSON.parse(p.body) as unknown[]).map((r) => JSON.stringify(r)));
    assert.equal(texts[0], `{"action":"add","policy":"drop","entry":{"creation":${creation},"cidr":"192.0.2.77/32","tag":"waf","expiration":${exp}},"metadata":{"kind":"waf","detail":"too many 404","extra":{"path":"/admin","hits":12}}}`);
    assert.equal(texts[1], `{"action":"remove","policy":"drop","entry":{"creation":${creation},"cidr":"192.0.2.77/32","tag":"waf","expiration":${exp}},"metadata":null}`);
    assert.match(texts[2]!, /^\{"action":"add","policy":"ignore","entry":\{"creation":\d+,"cidr":"198\.51\.100\.0\/24","tag":null,"expiration":0\},"metadata":null\}$/);
    const p = hook.posts[0]!;
    assert.equal(p.path, `/v1/reports/${SECRET}`);
    assert.equal(p.headers['content-type'], 'application/json');
    assert.equal(p.headers['accept'], 'application/json');
    assert.equal(p.headers['user-agent'], `couic/${VERSION}`);
    // The body is a JSON array (couic-report's Json<Vec<Report>>).
    assert.ok(Array.isArray(JSON.parse(p.body)));
    // Only the webhook's origin is shown, never its secret.
    const s = await status();
    assert.equal(s.webhook, `http://127.0.0.1:${hook.port}`);
    assert.ok(!d.output().includes(SECRET), 'the webhook\'s secret is in the log');
  });

  it('bans of /v1/bans are reported; peer-received changes are not', async () => {
    const before = taken().length;
    const peerTok = await d.request('POST', '/v1/client', { body: { name: 'rep-peer', group: 'peering' } });
    assert.equal(peerTok.status, 201, peerTok.text);
    const pr = await d.request('POST', '/v1/drop/peer', { token: (peerTok.json() as { token: string }).token, body: [
      { action: 'add', entry: { cidr: '203.0.113.9/32', tag: 'from-peer', expiration: 0 } },
    ] });
    assert.equal(pr.status, 201, pr.text);
    const ban = await d.request('POST', '/v1/bans/fail2ban-sshd', { body: { cidr: '203.0.113.10/32', expiration: 0 } });
    assert.ok(ban.status === 201 || ban.status === 200, ban.text);
    const got = await waitFor(() => (taken().length > before ? taken().slice(before) : undefined), 10_000);
    assert.ok(got);
    assert.deepEqual(got.map((r) => [r.action, r.entry.cidr, r.entry.tag]), [['add', '203.0.113.10/32', 'fail2ban-sshd']]);
  });

  it('reports made together go in one POST, in order', async () => {
    const postsBefore = hook.posts.length;
    const before = taken().length;
    const N = 15;
    await Promise.all(Array.from({ length: N }, (_, i) => d.request('POST', '/v1/drop', { body: { cidr: `10.20.0.${i}/32`, expiration: 0 } })));
    const got = await waitFor(() => (taken().length >= before + N ? taken().slice(before) : undefined), 10_000);
    assert.ok(got);
    assert.deepEqual(new Set(got.map((r) => r.entry.cidr)).size, N);
    const posts = hook.posts.length - postsBefore;
    assert.ok(posts < N, `${N} reports in ${posts} POSTs: not batched`);
  });

  it('a failing webhook: the reports are kept and sent again, with backoff', async () => {
    hook.status = 500;
    const failedBefore = hook.posts.filter((p) => p.status === 500).length;
    assert.equal((await d.request('POST', '/v1/drop', { body: { cidr: '10.30.0.1/32', expiration: 0 } })).status, 201);
    const failed = await waitFor(() => hook.posts.filter((p) => p.status === 500).length >= failedBefore + 2, 15_000);
    assert.ok(failed, 'the webhook was not retried');
    // Each failing POST carried the kept report.
    for (const p of hook.posts.filter((x) => x.status === 500).slice(failedBefore)) assert.match(p.body, /10\.30\.0\.1\/32/);
    const s = await status();
    assert.ok(s.failures >= 2 && s.queue === 1 && s.last_error.message.startsWith('HTTP 500'), JSON.stringify(s));
    hook.status = 200;
    const got = await waitFor(() => taken().some((r) => r.entry.cidr === '10.30.0.1/32'), 20_000);
    assert.ok(got, 'the kept report never arrived');
    assert.equal((await status()).queue, 0);
  });

  it('the buffer is bounded: the oldest are dropped and counted', async () => {
    hook.status = 503;
    const droppedBefore = (await status()).dropped_reports as number;
    const N = MAX + 7;
    for (let i = 0; i < N; i += 1) {
      assert.equal((await d.request('POST', '/v1/drop', { body: { cidr: `10.40.0.${i}/32`, expiration: 0 } })).status, 201);
    }
    const s = await waitFor(async () => {
      const x = await status();
      return x.dropped_reports - droppedBefore === N - MAX ? x : undefined;
    }, 10_000);
    assert.ok(s, JSON.stringify(await status()));
    assert.equal(s.queue, MAX);
    await waitFor(() => d.output().includes('report buffer full'), 5000);
    assert.match(d.output(), /report buffer full/);
    const before = taken().length;
    hook.status = 200;
    const got = await waitFor(() => (taken().length >= before + MAX ? taken().slice(before) : undefined), 30_000);
    assert.ok(got, 'the buffered reports never arrived');
    // The newest MAX, in order.
    assert.deepEqual(got.map((r) => r.entry.cidr), Array.from({ length: MAX }, (_, i) => `10.40.0.${i + N - MAX}/32`));
    const m = await d.request('GET', '/v1/metrics?format=prometheus');
    assert.match(m.text, new RegExp(`^couic_reporting_dropped_reports_total ${droppedBefore + N - MAX}$`, 'm'));
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: m.text, encoding: 'utf8' });
    if (lint.error === undefined) {
      assert.deepEqual(`${lint.stdout}${lint.stderr}`.split('\n').filter((x) => /couic_reporting/.test(x)), [], 'promtool flags our families');
    }
  });
});
