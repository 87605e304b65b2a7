/**
 * Hostile clients against the real daemon (issue 17, points 2, 3, 5, 6, 7):
 * pipelined requests keep their order on every route; deeply nested JSON is
 * a 400, never a 500; u64 expirations are never changed silently; SIGTERM
 * completes after malformed traffic; a flood of bad requests is not logged
 * in full.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startDaemon, type Daemon } from '../lib/daemon.js';
import { pipeline, rawRequest } from '../lib/raw-http.js';

const nowS = (): number => Math.floor(Date.now() / 1000);

describe('hostile clients: one daemon', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon();
  });
  after(async () => {
    await d?.stop();
  });

  it('pipelined POST /v1/drop x50, DELETE and GET of one of them: answered and executed in order', async () => {
    const exp = nowS() + 3600;
    const reqs: string[] = [];
    for (let i = 0; i < 50; i += 1) reqs.push(rawRequest('POST', '/v1/drop', { token: d.token, body: { cidr: `10.61.0.${i}/32`, expiration: exp } }));
    reqs.push(rawRequest('DELETE', '/v1/drop/10.61.0.7/32', { token: d.token }));
    reqs.push(rawRequest('GET', '/v1/drop/10.61.0.7/32', { token: d.token }));
    reqs.push(rawRequest('GET', '/v1/drop/10.61.0.49/32', { token: d.token }));
    reqs.push(rawRequest('POST', '/v1/drop/peer', { token: d.token, body: [{ action: 'remove', entry: { cidr: '10.61.0.8/32', tag: null, expiration: 0 } }] }));
    reqs.push(rawRequest('GET', '/v1/drop/10.61.0.8/32', { token: d.token }));
    reqs.push(rawRequest('GET', '/v1/drop', { token: d.token }));
    const res = await pipeline(d.socketPath, reqs);
    assert.deepEqual(res.map((r) => r.status), [...Array<number>(50).fill(201), 204, 404, 200, 201, 404, 200]);
    const listed = (JSON.parse(res[55]!.body.toString()) as { cidr: string }[]).map((e) => e.cidr).filter((c) => c.startsWith('10.61.'));
    assert.equal(listed.length, 48, 'the list saw every create and both removes before it');
    assert.ok(!listed.includes('10.61.0.7/32') && !listed.includes('10.61.0.8/32'));
    assert.equal((await d.request('GET', '/v1/drop/10.61.0.7/32')).status, 404, 'the deleted entry stays deleted');
  });

  it('pipelined set and client routes see the writes before them on the connection', async () => {
    const reqs = [
      rawRequest('POST', '/v1/sets/ignore', { token: d.token, body: { name: 'pipe', entries: ['192.0.2.0/24'] } }),
      rawRequest('GET', '/v1/sets/ignore/pipe', { token: d.token }),
      rawRequest('POST', '/v1/client', { token: d.token, body: { name: 'pipe-ro', group: 'clientro' } }),
      rawRequest('GET', '/v1/client/pipe-ro', { token: d.token }),
      rawRequest('DELETE', '/v1/client/pipe-ro', { token: d.token }),
      rawRequest('GET', '/v1/client/pipe-ro', { token: d.token }),
      rawRequest('DELETE', '/v1/sets/ignore/pipe', { token: d.token }),
      rawRequest('GET', '/v1/sets/ignore/pipe', { token: d.token }),
    ];
    const res = await pipeline(d.socketPath, reqs);
    assert.deepEqual(res.map((r) => r.status), [201, 200, 201, 200, 204, 404, 200, 404], res.map((r) => r.body.toString()).join('\n'));
  });

  it('deeply nested JSON is a 400 on /v1/drop, /v1/drop/peer and in unknown fields, never a 500', async () => {
    const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n);
    const deepObj = (n: number): string => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
    const cases: [string, string][] = [
      ['/v1/drop', deep(100_000)],
      ['/v1/drop', `{"cidr":"10.62.0.1/32","expiration":0,"junk":${deep(50_000)}}`],
      ['/v1/drop', `{"cidr":"10.62.0.1/32","expiration":0,"metadata":{"kind":"k","detail":"d","extra":${deepObj(50_000)}}}`],
      ['/v1/drop/peer', deep(100_000)],
      ['/v1/drop/peer', `[{"action":"add","entry":{"cidr":"10.62.0.1/32","expiration":0,"x":${deepObj(50_000)}}}]`],
      ['/v1/client', `{"name":"deep","group":"admin","x":${deep(100_000)}}`],
      ['/v1/sets/drop', `{"name":"deep","entries":[],"x":${deep(100_000)}}`],
    ];
    for (const [p, body] of cases) {
      const r = await d.request('POST', p, { body, headers: { 'content-type': 'application/json' } });
      assert.equal(r.status, 400, `${p} ${body.slice(0, 60)}: ${r.text.slice(0, 200)}`);
      assert.match(r.text, /recursion limit exceeded/, p);
    }
    // A reasonable nesting is still accepted, and nothing was created by the refused ones.
    const ok = await d.request('POST', '/v1/drop', { body: `{"cidr":"10.62.0.2/32","expiration":0,"metadata":{"kind":"k","detail":"d","extra":${deepObj(20)}}}`, headers: { 'content-type': 'application/json' } });
    assert.equal(ok.status, 201, ok.text);
    assert.equal((await d.request('GET', '/v1/drop/10.62.0.1/32')).status, 404);
    assert.doesNotMatch(d.output(), /Maximum call stack|RangeError/);
  });

  it('u64 expirations: exact up to 2^53-1, refused with 422 naming the field above, never rounded', async () => {
    const post = (p: string, body: string) => d.request('POST', p, { body, headers: { 'content-type': 'application/json' } });
    const max = await post('/v1/drop', '{"cidr":"10.63.0.1/32","expiration":9007199254740991}');
    assert.equal(max.status, 201, max.text);
    assert.match(max.text, /"expiration":9007199254740991\}/);
    assert.match((await d.request('GET', '/v1/drop/10.63.0.1/32')).text, /"expiration":9007199254740991\}/);
    for (const big of ['9007199254740992', '9007199254740993', '18446744073709551615']) {
      const r = await post('/v1/drop', `{"cidr":"10.63.0.2/32","expiration":${big}}`);
      assert.equal(r.status, 422, `${big}: ${r.text}`);
      assert.equal(r.json().code, 'invalid');
      assert.match(r.json().errors.expiration.message, /2\^53/);
      const peer = await post('/v1/drop/peer', `[{"action":"add","entry":{"cidr":"10.63.0.3/32","tag":null,"expiration":${big}}}]`);
      assert.equal(peer.status, 422, `${big}: ${peer.text}`);
      assert.match(peer.text, /\[0\]\.entry\.expiration: expiration must be at most 9007199254740991/);
      const ban = await post('/v1/bans/u64', `{"cidr":"10.63.0.4","expiration":${big}}`);
      assert.ok(ban.status === 400 || ban.status === 422, `${big}: ${ban.text}`);
      assert.match(ban.text, /expiration/);
    }
    for (const p of ['10.63.0.2/32', '10.63.0.3/32', '10.63.0.4/32']) assert.equal((await d.request('GET', `/v1/drop/${p}`)).status, 404, p);
    assert.doesNotMatch((await d.request('GET', '/v1/drop')).text, /18446744073709552000|9007199254740992/);
  });
});

describe('hostile clients: shutdown and logs', () => {
  it('SIGTERM completes within seconds with half-parsed, Expect, upgrade, truncated-body and keep-alive connections open', async () => {
    const d = await startDaemon();
    const socks: net.Socket[] = [];
    try {
      const open = (bytes: string): net.Socket => {
        const s = net.connect(d.socketPath);
        s.on('error', () => {});
        s.write(bytes);
        socks.push(s);
        return s;
      };
      const tok = `authorization: Bearer ${d.token}\r\n`;
      open('GET /v1/drop HTTP/1.1\r\nhost: x\r\n'); // headers never end
      open(`POST /v1/drop HTTP/1.1\r\nhost: x\r\n${tok}content-type: application/json\r\ncontent-length: 100\r\n\r\n{"cidr":`); // body never ends
      open(`POST /v1/drop/peer HTTP/1.1\r\nhost: x\r\n${tok}content-type: application/json\r\nexpect: 100-continue\r\ncontent-length: 50\r\n\r\n`);
      open(`POST /v1/drop HTTP/1.1\r\nhost: x\r\n${tok}content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{"cid\r\n`); // chunked, never ends
      open('GET /v1/other HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n');
      open('GET /v1/events HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\n'); // half an upgrade
      open(`GET /v1/drop HTTP/1.1\r\nhost: x\r\n${tok}\r\n`); // keep-alive, answered, left open
      open('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
      open('GET / HTTP/1.0\r\n\r\n');
      // Every connection has reached the server (its next request is answered after them).
      assert.equal((await d.request('GET', '/v1/drop')).status, 200);
      const t0 = Date.now();
      const exit = await Promise.race([d.kill('SIGTERM'), new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000).unref())]);
      assert.notEqual(exit, 'hung', `SIGTERM did not complete within 15 s:\n${d.output().slice(-2000)}`);
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.match(d.output(), /"msg":"stopped"/);
      process.stdout.write(`SIGTERM with 9 hostile connections: exited in ${Date.now() - t0} ms\n`);
    } finally {
      for (const s of socks) s.destroy();
      await d.stop();
    }
  });

  it('a flood of bad requests is logged in full only for the first ones, then counted in a summary', async () => {
    const d = await startDaemon();
    try {
      const n = 3000;
      const junk = 'x'.repeat(2000);
      const reqs: string[] = [];
      for (let i = 0; i < n; i += 1) {
        if (i % 3 === 0) reqs.push(rawRequest('GET', `/nope/${junk}${i}`));
        else if (i % 3 === 1) reqs.push(rawRequest('POST', '/v1/drop', { token: d.token, body: `{"cidr":"${junk}` }));
        else reqs.push(rawRequest('GET', '/v1/drop', { token: 'bad' }));
      }
      for (let i = 0; i < n; i += 500) {
        const res = await pipeline(d.socketPath, reqs.slice(i, i + 500));
        assert.ok(res.every((r) => r.status >= 400 && r.status < 500));
      }
      // The summary is written at the end of the window, and at shutdown at the latest.
      const exit = await d.kill('SIGTERM');
      assert.deepEqual(exit, { code: 0, signal: null });
      const out = d.output();
      const full = out.split('\n').filter((l) => /"msg":"request"/.test(l) && /"status":4\d\d/.test(l));
      assert.ok(full.length > 0 && full.length <= 50, `${full.length} client error lines logged in full`);
      const summaries = out.split('\n').filter((l) => /"msg":"client errors not logged in full"/.test(l));
      const counted = summaries.reduce((s, l) => s + (JSON.parse(l) as { count: number }).count, 0);
      // n, and the harness's unauthenticated readiness probe (401)
      assert.equal(counted + full.length, n + 1, 'every client error is logged or counted');
      assert.ok(Buffer.byteLength(out) < 200_000, `${Buffer.byteLength(out)} bytes of log for ${n} bad requests`);
      process.stdout.write(`${n} bad requests: ${full.length} lines in full, ${counted} counted, ${Buffer.byteLength(out)} bytes of log\n`);
    } finally {
      await d.stop();
    }
  });
});

