/**
 * Routing, 404/405 before auth, HEAD, and the RBAC matrix (spec §1.1, §4).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RBAC_GROUPS, RBAC_ROUTES } from '../lib/rbac.js';
import { future, makeClient, startTarget, UNAUTHORIZED, type Target } from './fixture.js';

let t: Target;
const tokens: Record<string, string> = {};

before(async () => {
  t = await startTarget();
  tokens['admin'] = t.token;
  for (const g of ['clientro', 'clientrw', 'monitoring', 'peering']) tokens[g] = await makeClient(t, `rt-${g}`, g);
});
after(async () => {
  await t?.stop();
});

describe('unknown paths → 404 empty, without auth', () => {
  const paths = [
    '/', '/v1', '/v1/', '/v2/drop', '/v1/drop/', '/v1/drop/1.2.3.4', '/v1/drop/1.2.3.4/24/x', '/v1/sets',
    '/v1/sets/drop/a/b', '/v1/stats/tags', '/v1/stats/x', '/v1/stats/tags/drop/x', '/v1/metrics/x', '/v1/client/a/b',
    '/v1/drop/peer/x', '/v1/sets/reload/x', '/v1//24', '/v1/stats/1.2.3.4/24', '/V1/drop',
  ];
  for (const p of paths) {
    test(`GET ${p}`, async () => {
      const r = await t.request('GET', p, { token: null });
      assert.equal(r.status, 404);
      assert.equal(r.text, '');
    });
  }
  test('with a valid token too', async () => {
    const r = await t.request('POST', '/v1/nope/x', { body: {} });
    assert.equal(r.status, 404);
    assert.equal(r.text, '');
  });
});

describe('known path, other method → 405 empty with Allow, without auth', () => {
  const cases: ReadonlyArray<readonly [string, string, string]> = [
    ['PUT', '/v1/drop', 'GET,HEAD,POST'],
    ['PATCH', '/v1/drop', 'GET,HEAD,POST'],
    ['DELETE', '/v1/ignore', 'GET,HEAD,POST'],
    ['OPTIONS', '/v1/drop', 'GET,HEAD,POST'],
    ['PUT', '/v1/drop/192.168.1.0/24', 'GET,HEAD,DELETE'],
    ['PATCH', '/v1/drop/192.168.1.0/24', 'GET,HEAD,DELETE'],
    ['POST', '/v1/drop/192.168.1.0/24', 'GET,HEAD,DELETE'],
    ['PUT', '/v1/client', 'GET,HEAD,POST'],
    ['PATCH', '/v1/client', 'GET,HEAD,POST'],
    ['PUT', '/v1/client/couicctl', 'GET,HEAD,DELETE'],
    ['PATCH', '/v1/client/couicctl', 'GET,HEAD,DELETE'],
    ['POST', '/v1/stats', 'GET,HEAD'],
    ['PUT', '/v1/stats', 'GET,HEAD'],
    ['DELETE', '/v1/stats', 'GET,HEAD'],
    ['OPTIONS', '/v1/stats', 'GET,HEAD'],
    ['POST', '/v1/metrics', 'GET,HEAD'],
    ['DELETE', '/v1/metrics', 'GET,HEAD'],
    ['GET', '/v1/sets/reload', 'POST'],
    ['HEAD', '/v1/sets/reload', 'POST'],
    ['PUT', '/v1/sets/reload', 'POST'],
    ['DELETE', '/v1/sets/reload', 'POST'],
    ['GET', '/v1/drop/peer', 'POST'],
    ['PUT', '/v1/drop/peer', 'POST'],
    ['DELETE', '/v1/drop/peer', 'POST'],
    ['DELETE', '/v1/ignore/peer', 'POST'],
    ['POST', '/v1/stats/tags/drop', 'GET,HEAD'],
    ['POST', '/v1/stats/tags/ignore', 'GET,HEAD'],
    ['DELETE', '/v1/sets/drop', 'GET,HEAD,POST'],
    ['POST', '/v1/sets/drop/lan', 'GET,HEAD,PUT,DELETE'],
  ];
  for (const [method, p, allow] of cases) {
    test(`${method} ${p}`, async () => {
      const r = await t.request(method, p, { token: null });
      assert.equal(r.status, 405);
      assert.equal(r.text, '');
      assert.equal(r.headers['allow'], allow);
    });
  }
  test('405 even with an invalid policy name and a body', async () => {
    const r = await t.request('PUT', '/v1/DROP', { body: { x: 1 }, token: null });
    assert.equal(r.status, 405);
  });
});

describe('HEAD wherever GET', () => {
  for (const p of ['/v1/drop', '/v1/ignore', '/v1/client', '/v1/client/couicctl']) {
    test(`HEAD ${p} → 200, no body`, async () => {
      const r = await t.request('HEAD', p);
      assert.equal(r.status, 200);
      assert.equal(r.text, '');
      assert.equal(r.headers['content-type'], 'application/json');
    });
  }
  test('HEAD /v1/stats and /v1/metrics are routed (not 404/405)', async () => {
    for (const p of ['/v1/stats', '/v1/metrics']) {
      const r = await t.request('HEAD', p);
      assert.ok(r.status !== 404 && r.status !== 405 && r.status !== 401, `${p}: ${r.status}`);
    }
  });
  test('HEAD without token → 401 (same auth as GET)', async () => {
    const r = await t.request('HEAD', '/v1/drop', { token: null });
    assert.equal(r.status, 401);
  });
  test('HEAD /v1/drop/1.2.3.4/32 absent → 404', async () => {
    const r = await t.request('HEAD', '/v1/drop/1.2.3.4/32');
    assert.equal(r.status, 404);
  });
});

describe('authentication', () => {
  const check = async (headers: Record<string, string>, expect: number): Promise<void> => {
    const r = await t.request('GET', '/v1/drop', { token: null, headers });
    assert.equal(r.status, expect, JSON.stringify(headers));
    if (expect === 401) {
      assert.deepEqual(r.json(), UNAUTHORIZED);
      assert.equal(r.headers['content-type'], 'application/json');
    }
  };
  test('missing header → 401 envelope', () => check({}, 401));
  test('other schemes and malformed tokens → 401', async () => {
    const tok = t.token;
    await check({ authorization: `bearer ${tok}` }, 401);
    await check({ authorization: `BEARER ${tok}` }, 401);
    await check({ authorization: `Bearer  ${tok}` }, 401);
    await check({ authorization: `Bearer` }, 401);
    await check({ authorization: `Bearer ` }, 401);
    await check({ authorization: `Basic ${Buffer.from(`a:${tok}`).toString('base64')}` }, 401);
    await check({ authorization: tok }, 401);
    await check({ authorization: 'Bearer not-a-uuid' }, 401);
    await check({ authorization: `Bearer ${tok.slice(0, -1)}` }, 401);
    await check({ authorization: 'Bearer 00000000-0000-0000-0000-000000000000' }, 401);
    await check({ authorization: 'Bearer 123e4567-e89b-42d3-a456-426614174000' }, 401);
  });
  test('UUID forms: hyphenated, simple, braced, urn, upper-case', async () => {
    const tok = t.token;
    await check({ authorization: `Bearer ${tok}` }, 200);
    await check({ authorization: `Bearer ${tok.toUpperCase()}` }, 200);
    await check({ authorization: `Bearer ${tok.replaceAll('-', '')}` }, 200);
    await check({ authorization: `Bearer ${tok.replaceAll('-', '').toUpperCase()}` }, 200);
    await check({ authorization: `Bearer {${tok}}` }, 200);
    await check({ authorization: `Bearer urn:uuid:${tok}` }, 200);
  });
  test('401 comes before path validation and body validation', async () => {
    for (const [m, p] of [
      ['GET', '/v1/DROP'],
      ['POST', '/v1/invalid_policy'],
      ['GET', '/v1/drop/999.1.1.1/99'],
      ['DELETE', '/v1/drop/x/y'],
      ['POST', '/v1/drop/peer'],
      ['GET', '/v1/client/bad%20name'],
    ] as const) {
      const r = await t.request(m, p, { token: null, body: 'not json', headers: { 'content-type': 'text/plain' } });
      assert.equal(r.status, 401, `${m} ${p}`);
      assert.deepEqual(r.json(), UNAUTHORIZED);
    }
  });
});

describe('RBAC matrix: every group × every route', () => {
  const routes = RBAC_ROUTES;
  const groups = RBAC_GROUPS;
  for (const [method, p, body, allowedGroups] of routes) {
    test(`${method} ${p}`, async () => {
      for (const g of groups) {
        const opts = body === undefined
          ? { token: tokens[g] as string }
          : { token: tokens[g] as string, body, headers: { 'content-type': 'application/json' } };
        const r = await t.request(method, p, opts);
        if (allowedGroups.includes(g)) {
          assert.notEqual(r.status, 401, `${g} should be allowed on ${method} ${p}: ${r.text}`);
        } else {
          assert.equal(r.status, 401, `${g} must be denied on ${method} ${p}`);
          assert.deepEqual(r.json(), UNAUTHORIZED);
        }
      }
    });
  }
  test('clientrw can create/get/delete entries; clientro cannot create', async () => {
    const body = { cidr: '10.200.0.0/16', tag: 'rbac', expiration: future() };
    let r = await t.request('POST', '/v1/drop', { token: tokens['clientro'] as string, body });
    assert.equal(r.status, 401);
    r = await t.request('POST', '/v1/drop', { token: tokens['clientrw'] as string, body });
    assert.equal(r.status, 201);
    r = await t.request('GET', '/v1/drop/10.200.0.0/16', { token: tokens['clientro'] as string });
    assert.equal(r.status, 200);
    r = await t.request('DELETE', '/v1/drop/10.200.0.0/16', { token: tokens['clientro'] as string });
    assert.equal(r.status, 401);
    r = await t.request('DELETE', '/v1/drop/10.200.0.0/16', { token: tokens['clientrw'] as string });
    assert.equal(r.status, 204);
  });
  test('peering can apply peer jobs but not list or create', async () => {
    const tok = tokens['peering'] as string;
    let r = await t.request('POST', '/v1/drop/peer', {
      token: tok,
      body: [{ action: 'add', entry: { cidr: '10.201.0.0/16', expiration: 0 } }],
    });
    assert.equal(r.status, 201);
    r = await t.request('GET', '/v1/drop', { token: tok });
    assert.equal(r.status, 401);
    r = await t.request('POST', '/v1/drop', { token: tok, body: { cidr: '10.202.0.0/16', expiration: 0 } });
    assert.equal(r.status, 401);
    r = await t.request('POST', '/v1/drop/peer', {
      token: tok,
      body: [{ action: 'remove', entry: { cidr: '10.201.0.0/16', expiration: 0 } }],
    });
    assert.equal(r.status, 201);
  });
});
