/**
 * Client routes and client files (spec §1.9, §4).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { startTarget, UNAUTHORIZED, type Target } from './fixture.js';

let t: Target;
before(async () => {
  t = await startTarget();
});
after(async () => {
  await t?.stop();
});

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const clientFile = (name: string): string => path.join(t.workingDir, 'rbac', 'clients', `${name}.toml`);
const NAME_CHARS = 'Client name can only contain alphanumeric characters, hyphens, and underscores';

describe('default client', () => {
  test('couicctl.toml: admin, v4 token, exact line shape, mode 0600', () => {
    const text = readFileSync(clientFile('couicctl'), 'utf8');
    const m = /^token = "([^"]+)"$/m.exec(text);
    assert.ok(m, text);
    assert.match(m[1] as string, UUID_V4);
    assert.equal(m[1], t.token);
    assert.match(text, /^group = "admin"$/m);
    assert.equal(statSync(clientFile('couicctl')).mode & 0o7777, 0o600);
  });
  test('GET /v1/client lists it with its token', async () => {
    const r = await t.request('GET', '/v1/client');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json');
    const list = r.json() as any[];
    const me = list.find((c) => c.name === 'couicctl');
    assert.deepEqual(me, { name: 'couicctl', token: t.token, group: 'admin' });
    for (const c of list) assert.deepEqual(Object.keys(c), ['name', 'token', 'group']);
  });
  test('GET /v1/client/couicctl', async () => {
    const r = await t.request('GET', '/v1/client/couicctl');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { name: 'couicctl', token: t.token, group: 'admin' });
  });
  test('DELETE /v1/client/couicctl → 422', async () => {
    const r = await t.request('DELETE', '/v1/client/couicctl');
    assert.equal(r.status, 422);
    assert.deepEqual(r.json(), { code: 'invalid', message: 'Cannot delete default client', errors: {} });
    assert.ok(existsSync(clientFile('couicctl')));
  });
});

describe('POST /v1/client', () => {
  test('201, group case-insensitive, file written 0600, token works', async () => {
    const r = await t.request('POST', '/v1/client', { body: { name: 'f2b', group: 'ClientRW', scopes: ['ignored'] } });
    assert.equal(r.status, 201, r.text);
    const c = r.json();
    assert.deepEqual(Object.keys(c), ['name', 'token', 'group']);
    assert.equal(c.name, 'f2b');
    assert.equal(c.group, 'clientrw');
    assert.match(c.token, UUID_V4);
    const text = readFileSync(clientFile('f2b'), 'utf8');
    assert.match(text, new RegExp(`^token = "${c.token}"$`, 'm'));
    assert.match(text, /^group = "clientrw"$/m);
    assert.equal(statSync(clientFile('f2b')).mode & 0o7777, 0o600);
    assert.ok(!existsSync(`${clientFile('f2b')}.tmp`));
    const list = await t.request('GET', '/v1/drop', { token: c.token });
    assert.equal(list.status, 200);
    const stats = await t.request('GET', '/v1/client', { token: c.token });
    assert.equal(stats.status, 401);
    const g = await t.request('GET', '/v1/client/f2b');
    assert.deepEqual(g.json(), c);
  });
  test('every group, unicode names, 48-byte names', async () => {
    const cases: ReadonlyArray<readonly [string, string, string]> = [
      ['g-admin', 'ADMIN', 'admin'],
      ['g_ro', 'clientro', 'clientro'],
      ['g-mon', 'Monitoring', 'monitoring'],
      ['g-peer', 'peering', 'peering'],
      ['café', 'clientro', 'clientro'],
      ['n'.repeat(48), 'clientro', 'clientro'],
    ];
    for (const [name, group, canon] of cases) {
      const r = await t.request('POST', '/v1/client', { body: { name, group } });
      assert.equal(r.status, 201, `${name}: ${r.text}`);
      assert.equal(r.json().group, canon);
      assert.equal(r.json().name, name);
    }
  });
  test('positional array [name, group]', async () => {
    const r = await t.request('POST', '/v1/client', { body: ['positional', 'peering'] });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json().group, 'peering');
    for (const body of [['only-name'], ['a', 'admin', 'extra'], []]) {
      const b = await t.request('POST', '/v1/client', { body });
      assert.equal(b.status, 400, JSON.stringify(body));
      assert.equal(b.json().code, 'bad_request');
    }
  });
  test('duplicate name → 422', async () => {
    const r = await t.request('POST', '/v1/client', { body: { name: 'f2b', group: 'admin' } });
    assert.equal(r.status, 422);
    assert.deepEqual(r.json(), { code: 'invalid', message: 'Client name already exists: f2b', errors: {} });
    const c2 = await t.request('POST', '/v1/client', { body: { name: 'couicctl', group: 'admin' } });
    assert.deepEqual(c2.json(), { code: 'invalid', message: 'Client name already exists: couicctl', errors: {} });
  });
  test('name and group validation, accumulated → 422', async () => {
    const cases: ReadonlyArray<readonly [unknown, Record<string, string>]> = [
      [{ name: '', group: 'admin' }, { name: 'Client name cannot be empty' }],
      [{ name: 'n'.repeat(49), group: 'admin' }, { name: 'Client name must be at most 48 characters' }],
      [{ name: 'é'.repeat(25), group: 'admin' }, { name: 'Client name must be at most 48 characters' }],
      [{ name: 'bad name', group: 'admin' }, { name: NAME_CHARS }],
      [{ name: 'a.b', group: 'admin' }, { name: NAME_CHARS }],
      [{ name: 'ok', group: 'root' }, { group: 'Invalid group: root' }],
      [{ name: 'ok', group: '' }, { group: 'Invalid group: ' }],
      [{ name: 'ok', group: 'client_rw' }, { group: 'Invalid group: client_rw' }],
      [{ name: 'x/y', group: 'nope' }, { name: NAME_CHARS, group: 'Invalid group: nope' }],
    ];
    for (const [body, errors] of cases) {
      const r = await t.request('POST', '/v1/client', { body });
      assert.equal(r.status, 422, JSON.stringify(body));
      assert.deepEqual(
        r.json(),
        {
          code: 'invalid',
          message: 'Validation failed',
          errors: Object.fromEntries(Object.entries(errors).map(([k, m]) => [k, { code: 'invalid', message: m }])),
        },
        JSON.stringify(body),
      );
    }
  });
  test('JSON-level problems → 400', async () => {
    const bodies: ReadonlyArray<readonly [string, string]> = [
      ['{"name":"x"}', 'Invalid JSON format: Failed to deserialize the JSON body into the target type: missing field `group` at line 1 column 12'],
      ['{"group":"admin"}', 'Invalid JSON format: Failed to deserialize the JSON body into the target type: missing field `name` at line 1 column 17'],
      ['{"name":1,"group":"admin"}', 'Invalid JSON format: Failed to deserialize the JSON body into the target type: name: invalid type: integer `1`, expected a string at line 1 column 9'],
      ['null', ''],
      ['', 'Invalid JSON format: Failed to parse the request body as JSON: EOF while parsing a value at line 1 column 0'],
    ];
    for (const [body, message] of bodies) {
      const r = await t.request('POST', '/v1/client', { body, headers: { 'content-type': 'application/json' } });
      assert.equal(r.status, 400, body);
      const j = r.json();
      assert.equal(j.code, 'bad_request');
      if (message !== '') assert.equal(j.message, message);
      assert.deepEqual(j.errors, {});
    }
    const ct = await t.request('POST', '/v1/client', { body: '{"name":"x","group":"admin"}', headers: { 'content-type': 'text/plain' } });
    assert.equal(ct.status, 400);
    assert.deepEqual(ct.json(), {
      code: 'bad_request',
      message: 'Invalid JSON format: Expected request with `Content-Type: application/json`',
      errors: {},
    });
  });
});

describe('GET/DELETE /v1/client/{name}', () => {
  test('unknown → 404', async () => {
    for (const m of ['GET', 'DELETE']) {
      const r = await t.request(m, '/v1/client/nobody');
      assert.equal(r.status, 404);
      assert.deepEqual(r.json(), { code: 'not_found', message: 'Client not found: nobody', errors: {} });
    }
  });
  test('invalid name → 400 errors.name', async () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ['bad%20name', NAME_CHARS],
      ['a.b', NAME_CHARS],
      ['n'.repeat(49), 'Client name must be at most 48 characters'],
    ];
    for (const m of ['GET', 'DELETE']) {
      for (const [p, message] of cases) {
        const r = await t.request(m, `/v1/client/${p}`);
        assert.equal(r.status, 400, `${m} ${p}`);
        assert.deepEqual(r.json(), { code: 'bad_request', message: 'Bad request', errors: { name: { code: 'invalid', message } } });
      }
    }
  });
  test('percent-encoded unicode name', async () => {
    const r = await t.request('GET', `/v1/client/${encodeURIComponent('café')}`);
    assert.equal(r.status, 200);
    assert.equal(r.json().name, 'café');
  });
  test('DELETE → 204, file removed, token revoked', async () => {
    const c = (await t.request('POST', '/v1/client', { body: { name: 'temp', group: 'admin' } })).json();
    assert.equal((await t.request('GET', '/v1/client', { token: c.token })).status, 200);
    const r = await t.request('DELETE', '/v1/client/temp');
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    assert.ok(!existsSync(clientFile('temp')));
    const after = await t.request('GET', '/v1/client', { token: c.token });
    assert.equal(after.status, 401);
    assert.deepEqual(after.json(), UNAUTHORIZED);
    assert.equal((await t.request('GET', '/v1/client/temp')).status, 404);
  });
  test('file vanished → 404 "Client file not found", then forgotten', async () => {
    const c = (await t.request('POST', '/v1/client', { body: { name: 'ghost', group: 'clientro' } })).json();
    unlinkSync(clientFile('ghost'));
    let r = await t.request('DELETE', '/v1/client/ghost');
    assert.equal(r.status, 404);
    assert.deepEqual(r.json(), { code: 'not_found', message: `Client file not found: ${clientFile('ghost')}`, errors: {} });
    r = await t.request('GET', '/v1/client/ghost');
    assert.equal(r.status, 404);
    assert.equal((await t.request('GET', '/v1/drop', { token: c.token })).status, 401);
  });
});
