/**
 * `/v1/bans/{owner}` (docs/api-extensions.md) end to end against the REAL
 * daemon (test/lib/daemon.ts): idempotent ban/unban, several owners on one
 * CIDR, flush, expirations, validation, RBAC, interaction with Couic
 * entries, the routes Couic already answered.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { daemonBuilt, startDaemon, type Daemon } from '../lib/daemon.js';
import { waitFor } from '../lib/wait.js';

const skip = daemonBuilt() && process.getuid?.() === 0 ? false : 'needs root and the built daemon';
const nowS = (): number => Math.floor(Date.now() / 1000);

interface ApiEntry { cidr: string; tag: string; expiration: number; creation: number }

describe('/v1/bans/{owner} (real daemon)', { skip, timeout: 120_000 }, () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon();
  });
  after(async () => {
    await d?.stop();
  });

  const ban = (owner: string, body: unknown): ReturnType<Daemon['request']> => d.request('POST', `/v1/bans/${owner}`, { body });
  const drop = async (): Promise<Map<string, ApiEntry>> => {
    const r = await d.request('GET', '/v1/drop');
    assert.equal(r.status, 200);
    return new Map((r.json() as ApiEntry[]).map((e) => [e.cidr, e]));
  };
  const claims = async (owner: string): Promise<{ cidr: string; expiration: number }[]> => {
    const r = await d.request('GET', `/v1/bans/${owner}`);
    assert.equal(r.status, 200, r.text);
    return r.json();
  };

  it('ban twice succeeds and leaves one entry (bare address = /32, host bits zeroed)', async () => {
    const exp = nowS() + 3600;
    const r1 = await ban('t1', { cidr: '198.51.100.7', expiration: exp });
    assert.equal(r1.status, 200, r1.text);
    assert.deepEqual(r1.json(), { applied: 1 });
    const r2 = await ban('t1', { cidr: '198.51.100.7/32', expiration: exp });
    assert.equal(r2.status, 200, r2.text);
    const r3 = await ban('t1', { cidr: '198.51.100.9/24', expiration: exp });
    assert.equal(r3.status, 200, r3.text);
    const entries = await drop();
    assert.equal(entries.get('198.51.100.7/32')?.tag, 't1');
    assert.equal(entries.get('198.51.100.7/32')?.expiration, exp);
    assert.equal(entries.get('198.51.100.0/24')?.tag, 't1');
    assert.equal([...entries.keys()].filter((k) => k.startsWith('198.51.100.')).length, 2);
    assert.deepEqual(await claims('t1'), [{ cidr: '198.51.100.7/32', expiration: exp }, { cidr: '198.51.100.0/24', expiration: exp }]);
    // The Couic POST of a claimed CIDR is still a 409.
    const c = await d.request('POST', '/v1/drop', { body: { cidr: '198.51.100.7/32', expiration: 0 } });
    assert.equal(c.status, 409);
    assert.equal((await d.request('DELETE', '/v1/bans/t1')).status, 200);
  });

  it('unban of an absent claim is 204 (unknown owner, unknown cidr, twice)', async () => {
    for (const p of ['/v1/bans/nobody/203.0.113.1/32', '/v1/bans/nobody/2001:db8::/32']) {
      const r = await d.request('DELETE', p);
      assert.equal(r.status, 204, r.text);
      assert.equal(r.text, '');
    }
    assert.equal((await ban('t2', { cidr: '203.0.113.2', expiration: 0 })).status, 200);
    assert.equal((await d.request('DELETE', '/v1/bans/t2/203.0.113.2/32')).status, 204);
    assert.equal((await d.request('DELETE', '/v1/bans/t2/203.0.113.2/32')).status, 204);
    assert.equal((await drop()).has('203.0.113.2/32'), false);
    assert.deepEqual(await claims('t2'), []);
  });

  it('two owners on one address: the entry stays until both released, the tag moves to the remaining owner', async () => {
    const cidr = '2001:db8:1::7/128';
    assert.equal((await ban('sshd', { cidr: '2001:db8:1::7', expiration: nowS() + 600 })).status, 200);
    assert.equal((await ban('recidive', { cidr, expiration: 0 })).status, 200);
    let e = (await drop()).get(cidr);
    assert.equal(e?.tag, 'sshd', 'tag = owner of the oldest claim');
    assert.equal(e?.expiration, 0, 'permanent when any claim is');
    // Unban by the older owner: the entry stays, retagged.
    assert.equal((await d.request('DELETE', '/v1/bans/sshd/2001:db8:1::7/128')).status, 204);
    e = (await drop()).get(cidr);
    assert.equal(e?.tag, 'recidive');
    assert.equal(e?.expiration, 0);
    // sshd claims again: recidive stays the oldest.
    assert.equal((await ban('sshd', { cidr, expiration: nowS() + 600 })).status, 200);
    assert.equal((await drop()).get(cidr)?.tag, 'recidive');
    assert.equal((await d.request('DELETE', '/v1/bans/recidive/2001:db8:1::7/128')).status, 204);
    e = (await drop()).get(cidr);
    assert.equal(e?.tag, 'sshd');
    assert.ok(e !== undefined && e.expiration > nowS(), 'expiration now from the remaining timed claim');
    assert.equal((await d.request('DELETE', '/v1/bans/sshd/2001:db8:1::7/128')).status, 204);
    assert.equal((await drop()).has(cidr), false, 'gone with the last claim');
  });

  it('flush removes only that owner\'s claims (and the entries no one else claims) in one request', async () => {
    const body = Array.from({ length: 50 }, (_, i) => ({ cidr: `10.9.0.${i}`, expiration: 0 }));
    assert.deepEqual((await ban('f-a', body)).json(), { applied: 50 });
    assert.equal((await ban('f-b', [{ cidr: '10.9.0.1', expiration: 0 }, { cidr: '10.9.1.0/24', expiration: 0 }])).status, 200);
    const r = await d.request('DELETE', '/v1/bans/f-a');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json(), { removed: 50 });
    const entries = await drop();
    const left = [...entries.keys()].filter((k) => k.startsWith('10.9.')).sort();
    assert.deepEqual(left, ['10.9.0.1/32', '10.9.1.0/24']);
    assert.equal(entries.get('10.9.0.1/32')?.tag, 'f-b');
    assert.deepEqual(await claims('f-a'), []);
    assert.equal((await claims('f-b')).length, 2);
    assert.deepEqual((await d.request('DELETE', '/v1/bans/f-a')).json(), { removed: 0 });
    assert.deepEqual((await d.request('DELETE', '/v1/bans/f-b')).json(), { removed: 2 });
  });

  it('expiration from the POST, prolong replaces it (later or earlier), 0 = permanent, latest of several owners', async () => {
    const cidr = '192.0.2.50/32';
    const t = nowS();
    await ban('p1', { cidr, expiration: t + 100 });
    assert.equal((await drop()).get(cidr)?.expiration, t + 100);
    await ban('p1', { cidr, expiration: t + 500 });
    assert.equal((await drop()).get(cidr)?.expiration, t + 500);
    assert.deepEqual(await claims('p1'), [{ cidr, expiration: t + 500 }]);
    await ban('p1', { cidr, expiration: t + 200 });
    assert.equal((await drop()).get(cidr)?.expiration, t + 200, 'prolong replaces, even with an earlier time');
    await ban('p2', { cidr, expiration: t + 300 });
    assert.equal((await drop()).get(cidr)?.expiration, t + 300, 'latest claim');
    assert.equal((await drop()).get(cidr)?.tag, 'p1');
    await ban('p1', { cidr, expiration: 0 });
    assert.equal((await drop()).get(cidr)?.expiration, 0, 'permanent');
    await ban('p1', { cidr, expiration: t + 100 });
    assert.equal((await drop()).get(cidr)?.expiration, t + 300);
    await d.request('DELETE', '/v1/bans/p1');
    await d.request('DELETE', '/v1/bans/p2');
    assert.equal((await drop()).has(cidr), false);
  });

  it('claims expire on their own: the entry retags, then goes (within ~1 s)', async () => {
    const cidr = '192.0.2.60/32';
    const t = nowS();
    await ban('e1', { cidr, expiration: t + 2 });
    await ban('e2', { cidr, expiration: t + 3 });
    assert.equal((await drop()).get(cidr)?.tag, 'e1');
    const e = await waitFor(async () => {
      const x = (await drop()).get(cidr);
      return x?.tag === 'e2' ? x : undefined;
    }, (t + 2) * 1000 + 1500 - Date.now());
    assert.ok(Date.now() >= (t + 2) * 1000, 'not before e1 expired');
    assert.equal(e?.tag, 'e2', 'e1 expired: the tag moved');
    assert.equal(e?.expiration, t + 3);
    assert.deepEqual(await claims('e1'), []);
    assert.equal(await waitFor(async () => !(await drop()).has(cidr), (t + 3) * 1000 + 1500 - Date.now()), true, 'gone with e2');
    assert.ok(Date.now() >= (t + 3) * 1000, 'not before e2 expired');
    assert.deepEqual(await claims('e2'), []);
  });

  it('junk cidr -> 422 fast, bad expiration -> 422, JSON problems -> 400, nothing applied', async () => {
    for (const cidr of ['a;b', 'example.com', '192.0.2.010', '192.0.2.010/32', '192.0.2.1/33', '', ' 192.0.2.1', '192.0.2.1/', 'fe80::1%eth0', '1.2.3', 'None']) {
      const t0 = performance.now();
      const r = await ban('junk', { cidr, expiration: 0 });
      assert.ok(performance.now() - t0 < 200, 'fast');
      assert.equal(r.status, 422, `${cidr}: ${r.text}`);
      assert.deepEqual(r.json().errors, { cidr: { code: 'invalid', message: 'invalid IP address syntax' } });
    }
    const past = await ban('junk', { cidr: '192.0.2.1', expiration: nowS() - 5 });
    assert.equal(past.status, 422);
    assert.equal(past.json().errors.expiration.message, 'expiration timestamp must be in the future or zero');
    const arr = await ban('junk', [{ cidr: '192.0.2.1', expiration: 0 }, { cidr: 'host.example', expiration: 0 }]);
    assert.equal(arr.status, 422);
    assert.deepEqual(Object.keys(arr.json().errors), ['[1].cidr']);
    assert.deepEqual(await claims('junk'), [], 'an invalid array applies nothing');
    for (const [body, headers] of [
      ['{"cidr":"192.0.2.1","expiration":0,}', undefined],
      ['{"cidr":"192.0.2.1"}', undefined],
      ['{"cidr":"192.0.2.1","expiration":-1}', undefined],
      ['{"cidr":"192.0.2.1","expiration":1.5}', undefined],
      ['{"cidr":7,"expiration":0}', undefined],
      ['"192.0.2.1"', undefined],
      ['[1]', undefined],
      ['{"cidr":"192.0.2.1","expiration":0}', { 'content-type': 'text/plain' }],
    ] as const) {
      const r = await d.request('POST', '/v1/bans/junk', { body, headers: headers ?? { 'content-type': 'application/json' } });
      assert.equal(r.status, 400, `${body}: ${r.text}`);
      assert.equal(r.json().code, 'bad_request');
      assert.match(r.json().message, /^Invalid JSON format: /);
    }
    assert.deepEqual((await ban('junk', [])).json(), { applied: 0 });
  });

  it('a ban wider than /8 (IPv4) or /16 (IPv6) -> 422 errors.cidr, nothing applied; Couic entries still take /0', async () => {
    const before = await drop();
    for (const cidr of ['0.0.0.0/0', '10.0.0.0/7', '::/0', '2001::/15']) {
      const n = Number(cidr.split('/')[1]);
      const r = await ban('wide', { cidr, expiration: 0 });
      assert.equal(r.status, 422, `${cidr}: ${r.text}`);
      assert.deepEqual(r.json().errors, {
        cidr: { code: 'invalid', message: `prefix /${n} is too wide for a ban: at least /8 (IPv4) or /16 (IPv6)` },
      });
    }
    const arr = await ban('wide', [{ cidr: '192.0.2.1', expiration: 0 }, { cidr: '0.0.0.0/0', expiration: 0 }]);
    assert.equal(arr.status, 422);
    assert.deepEqual(Object.keys(arr.json().errors), ['[1].cidr']);
    assert.deepEqual(await claims('wide'), [], 'nothing applied');
    assert.deepEqual([...(await drop()).keys()].sort(), [...before.keys()].sort(), 'no drop entry');
    // the narrowest allowed prefixes pass
    assert.deepEqual((await ban('wide', [{ cidr: '10.9.9.9/8', expiration: 0 }, { cidr: '2001:db8::/16', expiration: 0 }])).json(), { applied: 2 });
    assert.deepEqual((await claims('wide')).map((c) => c.cidr), ['10.0.0.0/8', '2001::/16']);
    assert.equal((await d.request('DELETE', '/v1/bans/wide')).status, 200);
    // Couic's own entry routes are unchanged: /0 is accepted there
    const r0 = await d.request('POST', '/v1/ignore', { body: { cidr: '0.0.0.0/0', tag: 'all', expiration: 0 } });
    assert.equal(r0.status, 201, r0.text);
    assert.equal((await d.request('DELETE', '/v1/ignore/0.0.0.0/0')).status, 204);
  });

  it('invalid owner -> 400 errors.owner (before the body), bad path cidr -> 400', async () => {
    for (const owner of ['x.couic', 'untagged', 'a%20b', 'caf%C3%A9', 'x'.repeat(65)]) {
      for (const [method, p] of [['POST', `/v1/bans/${owner}`], ['GET', `/v1/bans/${owner}`], ['DELETE', `/v1/bans/${owner}`], ['DELETE', `/v1/bans/${owner}/192.0.2.1/32`]] as const) {
        const r = await d.request(method, p, method === 'POST' ? { body: 'junk', headers: { 'content-type': 'application/json' } } : {});
        assert.equal(r.status, 400, `${method} ${p}: ${r.text}`);
        assert.equal(r.json().errors.owner.code, 'invalid');
      }
    }
    const r = await d.request('DELETE', '/v1/bans/ok/192.0.2.010/abc');
    assert.equal(r.status, 400);
    assert.deepEqual(Object.keys(r.json().errors).sort(), ['ip', 'prefix']);
  });

  it('RBAC: clientrw may ban; clientro may only GET; peering, monitoring and no token get 401', async () => {
    const tokens: Record<string, string> = {};
    for (const group of ['clientrw', 'clientro', 'peering', 'monitoring']) {
      const r = await d.request('POST', '/v1/client', { body: { name: `b-${group}`, group } });
      assert.equal(r.status, 201, r.text);
      tokens[group] = r.json().token;
    }
    const call = (method: string, p: string, token: string | null): ReturnType<Daemon['request']> =>
      d.request(method, p, { token, ...(method === 'POST' ? { body: { cidr: '192.0.2.70', expiration: 0 } } : {}) });
    assert.equal((await call('POST', '/v1/bans/rbac', tokens['clientrw']!)).status, 200);
    assert.equal((await call('GET', '/v1/bans/rbac', tokens['clientro']!)).status, 200);
    for (const [method, p] of [['POST', '/v1/bans/rbac'], ['DELETE', '/v1/bans/rbac/192.0.2.70/32'], ['DELETE', '/v1/bans/rbac']] as const) {
      for (const tok of [tokens['clientro']!, tokens['peering']!, tokens['monitoring']!, null]) {
        const r = await call(method, p, tok);
        assert.equal(r.status, 401, `${method} ${p}`);
        assert.deepEqual(r.json(), { code: 'unauthorized', message: 'Unauthorized', errors: {} });
      }
    }
    for (const tok of [tokens['peering']!, tokens['monitoring']!, null]) assert.equal((await call('GET', '/v1/bans/rbac', tok)).status, 401);
    assert.equal((await call('DELETE', '/v1/bans/rbac', tokens['clientrw']!)).status, 200);
    assert.equal((await drop()).has('192.0.2.70/32'), false);
  });

  it('a claim on an existing API entry leaves it untouched; the claim survives its expiry', async () => {
    const exp = nowS() + 2;
    assert.equal((await d.request('POST', '/v1/drop', { body: { cidr: '192.0.2.80/32', tag: 'api', expiration: exp } })).status, 201);
    const before = (await drop()).get('192.0.2.80/32');
    assert.equal((await ban('cl', { cidr: '192.0.2.80', expiration: 0 })).status, 200);
    assert.deepEqual((await drop()).get('192.0.2.80/32'), before, 'the API entry is left alone');
    assert.deepEqual(await claims('cl'), [{ cidr: '192.0.2.80/32', expiration: 0 }], 'the claim is recorded');
    // The API entry expires: the live claim takes the CIDR over.
    const e = await waitFor(async () => {
      const x = (await drop()).get('192.0.2.80/32');
      return x?.tag === 'cl' ? x : undefined;
    }, exp * 1000 + 1500 - Date.now());
    assert.ok(Date.now() >= exp * 1000, 'not before the API entry expired');
    assert.equal(e?.tag, 'cl');
    assert.equal(e?.expiration, 0);
    assert.equal((await d.request('DELETE', '/v1/bans/cl/192.0.2.80/32')).status, 204);
    assert.equal((await drop()).has('192.0.2.80/32'), false);
    // Releasing a claim on a still present API entry leaves the entry.
    assert.equal((await d.request('POST', '/v1/drop', { body: { cidr: '192.0.2.81/32', tag: 'api', expiration: 0 } })).status, 201);
    await ban('cl', { cidr: '192.0.2.81', expiration: 0 });
    assert.deepEqual((await d.request('DELETE', '/v1/bans/cl')).json(), { removed: 1 });
    assert.equal((await drop()).get('192.0.2.81/32')?.tag, 'api');
    assert.equal((await d.request('DELETE', '/v1/drop/192.0.2.81/32')).status, 204);
  });

  it('a Couic DELETE of a claimed entry removes the entry and every claim on it', async () => {
    await ban('d1', { cidr: '192.0.2.90', expiration: 0 });
    await ban('d2', { cidr: '192.0.2.90', expiration: 0 });
    const r = await d.request('DELETE', '/v1/drop/192.0.2.90/32');
    assert.equal(r.status, 204);
    assert.equal((await drop()).has('192.0.2.90/32'), false);
    assert.deepEqual(await claims('d1'), []);
    assert.deepEqual(await claims('d2'), []);
    assert.equal((await d.request('DELETE', '/v1/drop/192.0.2.90/32')).status, 404);
    // Banned again later: a new entry.
    await ban('d2', { cidr: '192.0.2.90', expiration: 0 });
    assert.equal((await drop()).get('192.0.2.90/32')?.tag, 'd2');
    await d.request('DELETE', '/v1/bans/d2');
  });

  it('Couic\'s answers on the paths the bans routes shadow are unchanged', async () => {
    const policyError = { policy: { code: 'invalid', message: "invalid policy: 'bans' (expected 'drop' or 'ignore')" } };
    for (const [method, p] of [['GET', '/v1/bans'], ['POST', '/v1/bans'], ['POST', '/v1/bans/peer'], ['GET', '/v1/bans/x/192.0.2.1/32']] as const) {
      const r = await d.request(method, p, method === 'POST' ? { body: { cidr: '192.0.2.1/32', expiration: 0 } } : {});
      assert.equal(r.status, 400, `${method} ${p}`);
      assert.deepEqual(r.json().errors, policyError);
      assert.equal((await d.request(method, p, { token: null })).status, 401);
    }
    const put = await d.request('PUT', '/v1/bans');
    assert.equal(put.status, 405);
    assert.equal(put.headers['allow'], 'GET,HEAD,POST');
    assert.equal((await d.request('GET', '/v1/bans/peer')).status, 405);
    assert.equal((await d.request('PUT', '/v1/bans/x/192.0.2.1/32')).headers['allow'], 'GET,HEAD,DELETE');
    assert.equal((await d.request('PUT', '/v1/drop')).status, 405);
    assert.equal((await d.request('GET', '/v1/DROP')).status, 400);
  });

  it('pipelined requests on one keep-alive connection take effect in order (bans, flush, ban, unban, list)', async () => {
    const exp = nowS() + 600;
    const reqs: string[] = [];
    const add = (method: string, p: string, body?: unknown): void => {
      const b = body === undefined ? '' : JSON.stringify(body);
      reqs.push(`${method} ${p} HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer ${d.token}\r\n` +
        (body === undefined ? '' : `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(b)}\r\n`) + `\r\n${b}`);
    };
    for (let i = 0; i < 30; i += 1) add('POST', '/v1/bans/pipe', { cidr: `10.77.0.${i}`, expiration: exp });
    add('DELETE', '/v1/bans/pipe');
    add('POST', '/v1/bans/pipe', [{ cidr: '10.77.1.1', expiration: exp }, { cidr: '10.77.1.2', expiration: 0 }]);
    add('DELETE', '/v1/bans/pipe/10.77.1.1/32');
    add('GET', '/v1/bans/pipe');
    const raw = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(d.socketPath);
      let text = '';
      sock.setEncoding('utf8');
      sock.on('data', (c: string) => {
        text += c;
        if ((text.match(/HTTP\/1\.1 /g) ?? []).length === reqs.length && /\]$/.test(text)) sock.end();
      });
      sock.on('end', () => resolve(text));
      sock.on('error', reject);
      sock.write(reqs.join(''));
      setTimeout(() => { sock.destroy(); resolve(text); }, 10_000).unref();
    });
    const statuses = [...raw.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => Number(m[1]));
    assert.deepEqual(statuses, [...Array(30).fill(200), 200, 200, 204, 200]);
    assert.match(raw, /\{"removed":30\}/, 'the flush saw every ban sent before it');
    assert.ok(raw.endsWith('[{"cidr":"10.77.1.2/32","expiration":0}]'), raw.slice(-200));
    assert.deepEqual([...(await drop()).keys()].filter((k) => k.startsWith('10.77.')), ['10.77.1.2/32']);
    await d.request('DELETE', '/v1/bans/pipe');
  });

  it('array POST of 2,000 bans: one request, all applied, listed in order', async () => {
    const exp = nowS() + 3600;
    const body = Array.from({ length: 2000 }, (_, i) => ({ cidr: `10.50.${i >> 8}.${i & 255}`, expiration: exp }));
    const r = await ban('bulk', body);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json(), { applied: 2000 });
    const c = await claims('bulk');
    assert.equal(c.length, 2000);
    assert.equal(c[1999]!.cidr, '10.50.7.207/32');
    assert.equal([...(await drop()).values()].filter((e) => e.tag === 'bulk').length, 2000);
    // Re-sending is idempotent.
    assert.deepEqual((await ban('bulk', body)).json(), { applied: 2000 });
    assert.deepEqual((await d.request('DELETE', '/v1/bans/bulk')).json(), { removed: 2000 });
    assert.equal([...(await drop()).values()].filter((e) => e.tag === 'bulk').length, 0);
  });
});
