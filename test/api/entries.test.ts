/**
 * Entry routes (spec §1.3–§1.7, §2): list, create, get, delete, peer.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { future, startTarget, type Target } from './fixture.js';

let t: Target;

before(async () => {
  t = await startTarget();
});
after(async () => {
  await t?.stop();
});

const BAD_REQUEST_POLICY = (p: string): unknown => ({
  code: 'bad_request',
  message: 'Bad request',
  errors: { policy: { code: 'invalid', message: `invalid policy: '${p}' (expected 'drop' or 'ignore')` } },
});
const INVALID = (errors: Record<string, string>): unknown => ({
  code: 'invalid',
  message: 'Validation failed',
  errors: Object.fromEntries(Object.entries(errors).map(([k, m]) => [k, { code: 'invalid', message: m }])),
});
const CIDR_ERR = 'invalid IP address syntax';
const EXP_ERR = 'expiration timestamp must be in the future or zero';
const NOT_FOUND = (cidr: string): unknown => ({
  code: 'not_found',
  message: 'submitted entry not found',
  errors: { cidr: { code: 'not_found', message: `cidr \`${cidr}\` not found` } },
});
const CONFLICT = (cidr: string): unknown => ({
  code: 'conflict',
  message: 'submitted entry is not valid',
  errors: { cidr: { code: 'conflict', message: `${cidr} already exists` } },
});

const now = (): number => Math.floor(Date.now() / 1000);

async function create(policy: string, body: unknown, expect = 201): Promise<any> {
  const r = await t.request('POST', `/v1/${policy}`, { body });
  assert.equal(r.status, expect, r.text);
  return r.status === 204 || r.text === '' ? undefined : r.json();
}

async function del(policy: string, cidr: string): Promise<void> {
  const r = await t.request('DELETE', `/v1/${policy}/${cidr}`);
  assert.equal(r.status, 204, `${cidr}: ${r.text}`);
}

describe('GET /v1/{policy}', () => {
  test('empty store → 200 []', async () => {
    for (const p of ['drop', 'ignore']) {
      const r = await t.request('GET', `/v1/${p}`);
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], 'application/json');
      assert.equal(r.text, '[]');
    }
  });
  test('invalid policy → 400 (case-sensitive)', async () => {
    for (const p of ['DROP', 'Drop', 'invalid_policy', 'drops']) {
      const r = await t.request('GET', `/v1/${p}`);
      assert.equal(r.status, 400);
      assert.deepEqual(r.json(), BAD_REQUEST_POLICY(p));
    }
  });
  test('lists IPv4 then IPv6, untagged shown as ""', async () => {
    await create('ignore', { cidr: '2001:db8::/48', expiration: 0 });
    await create('ignore', { cidr: '10.9.0.0/16', tag: 'lst', expiration: 0 });
    const r = await t.request('GET', '/v1/ignore');
    const list = r.json() as any[];
    assert.deepEqual(list.map((e) => e.cidr), ['10.9.0.0/16', '2001:db8::/48']);
    assert.deepEqual(list.map((e) => e.tag), ['lst', '']);
    for (const e of list) assert.deepEqual(Object.keys(e), ['creation', 'cidr', 'tag', 'expiration']);
    await del('ignore', '2001:db8::/48');
    await del('ignore', '10.9.0.0/16');
  });
});

describe('POST /v1/{policy}: success', () => {
  test('201 Entry, normalized, fields in order, tag echoed', async () => {
    const before = now();
    const r = await t.request('POST', '/v1/drop', { body: { cidr: '192.168.1.100/24', tag: 'test', expiration: 0 } });
    assert.equal(r.status, 201);
    assert.equal(r.headers['content-type'], 'application/json');
    const e = r.json();
    assert.deepEqual(Object.keys(e), ['creation', 'cidr', 'tag', 'expiration']);
    assert.equal(e.cidr, '192.168.1.0/24');
    assert.equal(e.tag, 'test');
    assert.equal(e.expiration, 0);
    assert.ok(e.creation >= before && e.creation <= now() + 1, String(e.creation));
    const g = await t.request('GET', '/v1/drop/192.168.1.0/24');
    assert.equal(g.status, 200);
    assert.deepEqual(g.json(), e);
    await del('drop', '192.168.1.0/24');
  });
  test('untagged: POST echoes null (absent, null or ""), GET shows ""', async () => {
    const bodies = [
      { cidr: '10.1.1.0/24', expiration: 0 },
      { cidr: '10.1.2.0/24', tag: null, expiration: 0 },
      { cidr: '10.1.3.0/24', tag: '', expiration: 0 },
    ];
    for (const b of bodies) {
      const e = await create('drop', b);
      assert.equal(e.tag, null, JSON.stringify(b));
      const g = await t.request('GET', `/v1/drop/${b.cidr}`);
      assert.equal(g.json().tag, '');
    }
    for (const b of bodies) await del('drop', b.cidr);
  });
  test('future expiration kept; IPv6 canonical; mapped stays IPv6', async () => {
    const exp = future();
    const cases: ReadonlyArray<readonly [string, string]> = [
      ['2001:DB8::1/32', '2001:db8::/32'],
      ['::ffff:192.168.1.0/120', '::ffff:192.168.1.0/120'],
      ['010.0.0.0/8', '10.0.0.0/8'],
      ['10.0.0.0/09', '10.0.0.0/9'],
      ['1:0:0:1:0:0:0:1/128', '1:0:0:1::1/128'],
      ['0.0.0.0/0', '0.0.0.0/0'],
      ['::/0', '::/0'],
    ];
    for (const [input, canon] of cases) {
      const e = await create('drop', { cidr: input, tag: 'norm', expiration: exp });
      assert.equal(e.cidr, canon, input);
      assert.equal(e.expiration, exp);
    }
    const list = (await t.request('GET', '/v1/drop')).json() as any[];
    const cidrs = list.map((e) => e.cidr);
    // IPv4 first; the mapped entry is in the IPv6 part
    assert.ok(cidrs.indexOf('::ffff:192.168.1.0/120') > cidrs.indexOf('10.0.0.0/8'));
    for (const [, canon] of cases) await del('drop', canon);
  });
  test('accepted content types and extra fields', async () => {
    const types = ['application/json', 'application/json; charset=utf-8', 'Application/JSON', 'application/vnd.api+json', 'application/problem+json;charset=UTF-8'];
    let i = 0;
    for (const ct of types) {
      i += 1;
      const r = await t.request('POST', '/v1/drop', {
        body: JSON.stringify({ cidr: `10.2.${i}.0/24`, expiration: 0, scopes: ['x'], extra: 1 }),
        headers: { 'content-type': ct },
      });
      assert.equal(r.status, 201, `${ct}: ${r.text}`);
      await del('drop', `10.2.${i}.0/24`);
    }
  });
  test('metadata accepted (nested extra), never returned', async () => {
    const e = await create('drop', {
      cidr: '10.3.0.0/16',
      expiration: 0,
      metadata: { kind: 'fail2ban', detail: 'sshd', extra: { a: [1, { b: null }], c: 'd' } },
    });
    assert.deepEqual(Object.keys(e), ['creation', 'cidr', 'tag', 'expiration']);
    await create('drop', { cidr: '10.4.0.0/16', expiration: 0, metadata: null });
    await create('drop', { cidr: '10.5.0.0/16', expiration: 0, metadata: { kind: 'k', detail: 'd', extra: null } });
    for (const c of ['10.3.0.0/16', '10.4.0.0/16', '10.5.0.0/16']) await del('drop', c);
  });
  test('positional array bodies', async () => {
    const e = await create('drop', ['192.168.7.0/24', 'test', 2547914495]);
    assert.deepEqual([e.cidr, e.tag, e.expiration], ['192.168.7.0/24', 'test', 2547914495]);
    const e2 = await create('drop', ['192.168.8.0/24', null, 0, { kind: 'k', detail: 'd' }]);
    assert.equal(e2.tag, null);
    const e3 = await create('ignore', ['192.168.9.0/24', '', 0, null]);
    assert.equal(e3.tag, null);
    await del('drop', '192.168.7.0/24');
    await del('drop', '192.168.8.0/24');
    await del('ignore', '192.168.9.0/24');
  });
  test('same CIDR in both policies; /24 and /25 distinct; overlaps allowed', async () => {
    await create('drop', { cidr: '10.6.0.0/24', expiration: 0 });
    await create('ignore', { cidr: '10.6.0.0/24', expiration: 0 });
    await create('drop', { cidr: '10.6.0.0/25', expiration: 0 });
    await create('drop', { cidr: '10.0.0.0/8', expiration: 0 });
    await del('ignore', '10.6.0.0/24');
    const g = await t.request('GET', '/v1/drop/10.6.0.0/24');
    assert.equal(g.status, 200);
    for (const c of ['10.6.0.0/24', '10.6.0.0/25', '10.0.0.0/8']) await del('drop', c);
  });
  test('tags: 64 bytes, hyphen, underscore, digits accepted', async () => {
    const tags = ['a'.repeat(64), 'fail2ban-sshd', 'A_b-9', 'couic', 'x.couicx'.replace('.', '_'), 'untagged-not'];
    let i = 0;
    for (const tag of tags) {
      i += 1;
      const e = await create('drop', { cidr: `10.7.${i}.0/24`, tag, expiration: 0 });
      assert.equal(e.tag, tag);
      await del('drop', `10.7.${i}.0/24`);
    }
  });
});

describe('POST /v1/{policy}: errors', () => {
  test('invalid policy → 400 before any body check', async () => {
    for (const p of ['DROP', 'invalid_policy']) {
      const r = await t.request('POST', `/v1/${p}`, { body: 'garbage', headers: { 'content-type': 'text/plain' } });
      assert.equal(r.status, 400);
      assert.deepEqual(r.json(), BAD_REQUEST_POLICY(p));
    }
  });
  test('invalid CIDR → 422 errors.cidr', async () => {
    for (const cidr of ['192.168.1.0', '', ' 192.168.1.0/24 ', '10.0.0.0/33', '10.0.0.0/008', '::/129', '192.168.1.0//24', '192.168.1.0/24/', '192.168.1.0/-1', 'fe80::1%eth0/64', 'abc', '256.1.1.1/32']) {
      const r = await t.request('POST', '/v1/drop', { body: { cidr, expiration: 0 } });
      assert.equal(r.status, 422, JSON.stringify(cidr));
      assert.deepEqual(r.json(), INVALID({ cidr: CIDR_ERR }));
    }
  });
  test('tag rules, in order', async () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ['a'.repeat(65), 'Tag must be at most 64 characters'],
      ['é'.repeat(33), 'Tag must be at most 64 characters'],
      ['x'.repeat(60) + '.couic', 'Tag must be at most 64 characters'],
      ['lan.couic', 'Tag cannot end with special suffix: .couic'],
      ['.couic', 'Tag cannot end with special suffix: .couic'],
      ['untagged', "Tag cannot be 'untagged' (reserved for display)"],
      ['UnTagged', "Tag cannot be 'untagged' (reserved for display)"],
      ['tag-with-émoji', 'Tag can only contain alphanumeric characters, hyphens, and underscores'],
      ['with space', 'Tag can only contain alphanumeric characters, hyphens, and underscores'],
      ['@#', 'Tag can only contain alphanumeric characters, hyphens, and underscores'],
      ['a.b', 'Tag can only contain alphanumeric characters, hyphens, and underscores'],
    ];
    for (const [tag, message] of cases) {
      const r = await t.request('POST', '/v1/drop', { body: { cidr: '10.8.0.0/16', tag, expiration: 0 } });
      assert.equal(r.status, 422, tag);
      assert.deepEqual(r.json(), INVALID({ tag: message }), tag);
    }
  });
  test('expiration in the past → 422', async () => {
    for (const expiration of [1, now() - 10]) {
      const r = await t.request('POST', '/v1/drop', { body: { cidr: '10.8.0.0/16', expiration } });
      assert.equal(r.status, 422);
      assert.deepEqual(r.json(), INVALID({ expiration: EXP_ERR }));
    }
  });
  test('errors are accumulated (cidr, tag, expiration)', async () => {
    const r = await t.request('POST', '/v1/ignore', { body: { cidr: 'nope', tag: 'bad tag', expiration: 5 } });
    assert.equal(r.status, 422);
    assert.deepEqual(r.json(), INVALID({
      cidr: CIDR_ERR,
      tag: 'Tag can only contain alphanumeric characters, hyphens, and underscores',
      expiration: EXP_ERR,
    }));
  });
  test('positional array with an invalid CIDR → 422', async () => {
    const r = await t.request('POST', '/v1/drop', { body: ['192.168.1.0', 'test', 0] });
    assert.equal(r.status, 422);
    assert.deepEqual(r.json(), INVALID({ cidr: CIDR_ERR }));
  });
  test('duplicate → 409 (also via another spelling)', async () => {
    await create('drop', { cidr: '172.16.0.0/12', tag: 'dup', expiration: 0 });
    for (const cidr of ['172.16.0.0/12', '172.17.1.1/12', '172.016.0.0/12']) {
      const r = await t.request('POST', '/v1/drop', { body: { cidr, expiration: 0 } });
      assert.equal(r.status, 409);
      assert.deepEqual(r.json(), CONFLICT('172.16.0.0/12'));
    }
    const v6 = await create('drop', { cidr: '2001:db8:1::/48', expiration: 0 });
    assert.equal(v6.cidr, '2001:db8:1::/48');
    const r = await t.request('POST', '/v1/drop', { body: { cidr: '2001:DB8:1:0::5/48', expiration: 0 } });
    assert.equal(r.status, 409);
    assert.deepEqual(r.json(), CONFLICT('2001:db8:1::/48'));
    await del('drop', '172.16.0.0/12');
    await del('drop', '2001:db8:1::/48');
  });
});

describe('validated JSON step 1 → 400 "Invalid JSON format: …"', () => {
  const badRequest = (text: string): unknown => ({ code: 'bad_request', message: `Invalid JSON format: ${text}`, errors: {} });
  const cases: ReadonlyArray<readonly [string, string, Record<string, string>, string | undefined]> = [
    ['missing content type', '{"cidr":"1.2.3.0/24","expiration":0}', { 'content-type': '' }, 'Expected request with `Content-Type: application/json`'],
    ['text/plain', '{"cidr":"1.2.3.0/24","expiration":0}', { 'content-type': 'text/plain' }, 'Expected request with `Content-Type: application/json`'],
    ['application/xml', '<x/>', { 'content-type': 'application/xml' }, 'Expected request with `Content-Type: application/json`'],
    ['empty body', '', {}, 'Failed to parse the request body as JSON: EOF while parsing a value at line 1 column 0'],
    ['trailing comma', '{"cidr":"1.2.3.0/24","expiration":0,}', {}, 'Failed to parse the request body as JSON: trailing comma at line 1 column 37'],
    ['single quotes', "{'cidr':'1.2.3.0/24'}", {}, 'Failed to parse the request body as JSON: key must be a string at line 1 column 2'],
    ['null', 'null', {}, 'Failed to deserialize the JSON body into the target type: invalid type: null, expected struct RawEntryInput at line 1 column 4'],
    ['string', '"1.2.3.0/24"', {}, 'Failed to deserialize the JSON body into the target type: invalid type: string "1.2.3.0/24", expected struct RawEntryInput at line 1 column 12'],
    ['number', '42', {}, 'Failed to deserialize the JSON body into the target type: invalid type: integer `42`, expected struct RawEntryInput at line 1 column 2'],
    ['missing expiration', '{"cidr":"1.2.3.0/24"}', {}, 'Failed to deserialize the JSON body into the target type: missing field `expiration` at line 1 column 21'],
    ['missing cidr', '{"expiration":0}', {}, 'Failed to deserialize the JSON body into the target type: missing field `cidr` at line 1 column 16'],
    ['cidr number', '{"cidr":5,"expiration":0}', {}, 'Failed to deserialize the JSON body into the target type: cidr: invalid type: integer `5`, expected a string at line 1 column 9'],
    ['tag number', '{"cidr":"1.2.3.0/24","tag":5,"expiration":0}', {}, 'Failed to deserialize the JSON body into the target type: tag: invalid type: integer `5`, expected a string at line 1 column 28'],
    ['expiration -1', '{"cidr":"1.2.3.0/24","expiration":-1}', {}, 'Failed to deserialize the JSON body into the target type: expiration: invalid value: integer `-1`, expected u64 at line 1 column 36'],
    ['expiration string', '{"cidr":"1.2.3.0/24","expiration":"5"}', {}, 'Failed to deserialize the JSON body into the target type: expiration: invalid type: string "5", expected u64 at line 1 column 37'],
    ['expiration float', '{"cidr":"1.2.3.0/24","expiration":1.5}', {}, 'Failed to deserialize the JSON body into the target type: expiration: invalid type: floating point `1.5`, expected u64 at line 1 column 37'],
    ['expiration 1.0', '{"cidr":"1.2.3.0/24","expiration":0.0}', {}, undefined],
    ['expiration > u64', '{"cidr":"1.2.3.0/24","expiration":18446744073709551616}', {}, 'Failed to deserialize the JSON body into the target type: expiration: invalid type: floating point `18446744073709552000.0`, expected u64 at line 1 column 54'],
    ['expiration null', '{"cidr":"1.2.3.0/24","expiration":null}', {}, undefined],
    ['metadata {}', '{"cidr":"1.2.3.0/24","expiration":0,"metadata":{}}', {}, 'Failed to deserialize the JSON body into the target type: metadata: missing field `kind` at line 1 column 49'],
    ['metadata kind only', '{"cidr":"1.2.3.0/24","expiration":0,"metadata":{"kind":"x"}}', {}, undefined],
    ['metadata kind null', '{"cidr":"1.2.3.0/24","expiration":0,"metadata":{"kind":null,"detail":"d"}}', {}, undefined],
    ['metadata string', '{"cidr":"1.2.3.0/24","expiration":0,"metadata":"x"}', {}, undefined],
    ['array too short', '["1.2.3.0/24","t"]', {}, 'Failed to deserialize the JSON body into the target type: invalid length 2, expected struct RawEntryInput with 4 elements at line 1 column 18'],
    ['array too long', '["1.2.3.0/24","t",0,null,1]', {}, 'Failed to parse the request body as JSON: trailing characters at line 1 column 26'],
    ['array wrong type', '["1.2.3.0/24",0,0]', {}, undefined],
    ['empty array', '[]', {}, undefined],
    ['duplicate field', '{"cidr":"1.2.3.0/24","cidr":"1.2.4.0/24","expiration":0}', {}, undefined],
    ['truncated', '{"cidr":"1.2.3.0/24"', {}, 'Failed to parse the request body as JSON: EOF while parsing an object at line 1 column 20'],
  ];
  for (const [name, body, headers, text] of cases) {
    test(name, async () => {
      const r = await t.request('POST', '/v1/drop', { body, headers: { 'content-type': 'application/json', ...headers } });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.headers['content-type'], 'application/json');
      const j = r.json();
      if (text !== undefined) assert.deepEqual(j, badRequest(text));
      else {
        assert.equal(j.code, 'bad_request');
        assert.match(j.message, /^Invalid JSON format: /);
        assert.deepEqual(j.errors, {});
      }
    });
  }
  test('body over 2 MiB → 400 with the length-limit text', async () => {
    const big = JSON.stringify({ cidr: '1.2.3.0/24', expiration: 0, pad: 'x'.repeat(2 * 1024 * 1024) });
    const r = await t.request('POST', '/v1/drop', { body: big, headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 400);
    assert.deepEqual(r.json(), badRequest('Failed to buffer the request body: length limit exceeded'));
  });
  test('body just under 2 MiB is read', async () => {
    const base = JSON.stringify({ cidr: '10.10.0.0/16', expiration: 0, pad: '' });
    const body = JSON.stringify({ cidr: '10.10.0.0/16', expiration: 0, pad: 'x'.repeat(2 * 1024 * 1024 - base.length) });
    assert.equal(Buffer.byteLength(body), 2 * 1024 * 1024);
    const r = await t.request('POST', '/v1/drop', { body, headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 201, r.text.slice(0, 200));
    await del('drop', '10.10.0.0/16');
  });
});

describe('GET/DELETE /v1/{policy}/{ip}/{prefix}', () => {
  before(async () => {
    await create('ignore', { cidr: '1.1.1.0/24', tag: 'path', expiration: 0 });
    await create('drop', { cidr: '2001:db8:abcd::/48', expiration: 0 });
  });
  test('path lookups are normalized', async () => {
    for (const p of ['1.1.1.1/24', '1.1.1.0/24', '1.1.1.255/+24', '1.1.1.0/024']) {
      const r = await t.request('GET', `/v1/ignore/${p}`);
      assert.equal(r.status, 200, p);
      const e = r.json();
      assert.equal(e.cidr, '1.1.1.0/24');
      assert.equal(e.tag, 'path');
    }
    for (const p of ['2001:db8:abcd::1/48', '2001:DB8:ABCD:0:0:0:0:0/48', '2001:db8:abcd::/48']) {
      const r = await t.request('GET', `/v1/drop/${p}`);
      assert.equal(r.status, 200, p);
      assert.equal(r.json().cidr, '2001:db8:abcd::/48');
      assert.equal(r.json().tag, '');
    }
  });
  test('exact key only: /25 does not find /24; other policy does not see it', async () => {
    let r = await t.request('GET', '/v1/ignore/1.1.1.0/25');
    assert.equal(r.status, 404);
    assert.deepEqual(r.json(), NOT_FOUND('1.1.1.0/25'));
    r = await t.request('GET', '/v1/drop/1.1.1.77/24');
    assert.equal(r.status, 404);
    assert.deepEqual(r.json(), NOT_FOUND('1.1.1.0/24'));
  });
  test('path errors → 400, accumulated', async () => {
    const cases: ReadonlyArray<readonly [string, Record<string, string>]> = [
      ['/v1/DROP/1.1.1.0/24', { policy: "invalid policy: 'DROP' (expected 'drop' or 'ignore')" }],
      ['/v1/drop/010.0.0.0/8', { ip: '010.0.0.0 is not a valid IP address' }],
      ['/v1/drop/1.2.3/8', { ip: '1.2.3 is not a valid IP address' }],
      ['/v1/drop/1.2.3.4/abc', { prefix: 'abc is not a valid prefix value' }],
      ['/v1/drop/1.2.3.4/-1', { prefix: '-1 is not a valid prefix value' }],
      ['/v1/drop/1.2.3.4/256', { prefix: '256 is not a valid prefix value' }],
      ['/v1/drop/1.2.3.4/99', { prefix: 'Prefix must be between 0 and 32, got 99' }],
      ['/v1/drop/1.2.3.4/33', { prefix: 'Prefix must be between 0 and 32, got 33' }],
      ['/v1/drop/::1/129', { prefix: 'Prefix must be between 0 and 128, got 129' }],
      ['/v1/drop/::1/255', { prefix: 'Prefix must be between 0 and 128, got 255' }],
      [
        '/v1/Drop/nope/abc',
        {
          policy: "invalid policy: 'Drop' (expected 'drop' or 'ignore')",
          ip: 'nope is not a valid IP address',
          prefix: 'abc is not a valid prefix value',
        },
      ],
      ['/v1/x/1.1.1.1/99', { policy: "invalid policy: 'x' (expected 'drop' or 'ignore')", prefix: 'Prefix must be between 0 and 32, got 99' }],
    ];
    for (const method of ['GET', 'DELETE']) {
      for (const [p, errors] of cases) {
        const r = await t.request(method, p);
        assert.equal(r.status, 400, `${method} ${p}`);
        assert.deepEqual(
          r.json(),
          {
            code: 'bad_request',
            message: 'Bad request',
            errors: Object.fromEntries(Object.entries(errors).map(([k, m]) => [k, { code: 'invalid', message: m }])),
          },
          `${method} ${p}`,
        );
      }
    }
  });
  test('DELETE: 204 empty, normalized path, then 404', async () => {
    let r = await t.request('DELETE', '/v1/ignore/1.1.1.200/24');
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    r = await t.request('GET', '/v1/ignore/1.1.1.0/24');
    assert.equal(r.status, 404);
    r = await t.request('DELETE', '/v1/ignore/1.1.1.0/24');
    assert.equal(r.status, 404);
    assert.deepEqual(r.json(), NOT_FOUND('1.1.1.0/24'));
    r = await t.request('DELETE', '/v1/drop/2001:db8:abcd::/48');
    assert.equal(r.status, 204);
  });
  test('0.0.0.0/0 and ::/0 round-trip through the path', async () => {
    await create('drop', { cidr: '0.0.0.0/0', expiration: 0 });
    await create('drop', { cidr: '::/0', expiration: 0 });
    assert.equal((await t.request('GET', '/v1/drop/0.0.0.0/0')).status, 200);
    assert.equal((await t.request('GET', '/v1/drop/::/0')).status, 200);
    await del('drop', '0.0.0.0/0');
    await del('drop', '::/0');
  });
});

describe('POST /v1/{policy}/peer', () => {
  const peer = (policy: string, body: unknown, headers: Record<string, string> = {}) =>
    t.request('POST', `/v1/${policy}/peer`, { body, headers });
  test('[] → 201 []', async () => {
    const r = await peer('drop', []);
    assert.equal(r.status, 201);
    assert.equal(r.text, '[]');
  });
  test('add/remove echo and effect', async () => {
    const exp = future();
    const jobs = [
      { action: 'add', entry: { cidr: '10.50.0.0/16', tag: 'peer', expiration: exp, metadata: { kind: 'k', detail: 'd' } } },
      { action: 'add', entry: { cidr: '10.51.0.0/16', expiration: 0 } },
      { action: 'remove', entry: { cidr: '10.51.0.0/16', expiration: 0 } },
    ];
    const r = await peer('ignore', jobs);
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.json(), [
      { action: 'add', entry: { cidr: '10.50.0.0/16', tag: 'peer', expiration: exp, metadata: { kind: 'k', detail: 'd', extra: null } } },
      { action: 'add', entry: { cidr: '10.51.0.0/16', tag: null, expiration: 0, metadata: null } },
      { action: 'remove', entry: { cidr: '10.51.0.0/16', tag: null, expiration: 0, metadata: null } },
    ]);
    const g = await t.request('GET', '/v1/ignore/10.50.0.0/16');
    assert.equal(g.status, 200);
    assert.equal(g.json().tag, 'peer');
    assert.equal(g.json().expiration, exp);
    assert.equal((await t.request('GET', '/v1/ignore/10.51.0.0/16')).status, 404);
    assert.equal((await t.request('GET', '/v1/drop/10.50.0.0/16')).status, 404);
    await del('ignore', '10.50.0.0/16');
  });
  test('peer entries are normalized in the store', async () => {
    const r = await peer('drop', [{ action: 'add', entry: { cidr: '10.52.1.1/16', expiration: 0 } }]);
    assert.equal(r.status, 201);
    assert.equal((await t.request('GET', '/v1/drop/10.52.0.0/16')).status, 200);
    await del('drop', '10.52.0.0/16');
  });
  test('sequential: first failure aborts, earlier jobs stay', async () => {
    let r = await peer('drop', [
      { action: 'add', entry: { cidr: '10.53.0.0/16', expiration: 0 } },
      { action: 'add', entry: { cidr: '10.53.0.0/16', expiration: 0 } },
      { action: 'add', entry: { cidr: '10.54.0.0/16', expiration: 0 } },
    ]);
    assert.equal(r.status, 409);
    assert.deepEqual(r.json(), CONFLICT('10.53.0.0/16'));
    assert.equal((await t.request('GET', '/v1/drop/10.53.0.0/16')).status, 200);
    assert.equal((await t.request('GET', '/v1/drop/10.54.0.0/16')).status, 404);
    r = await peer('drop', [{ action: 'remove', entry: { cidr: '10.99.0.0/16', expiration: 0 } }]);
    assert.equal(r.status, 404);
    assert.deepEqual(r.json(), NOT_FOUND('10.99.0.0/16'));
    await del('drop', '10.53.0.0/16');
  });
  test('a network written several ways is one key (fast reader, strict reader, path)', async () => {
    // `\/` sends a body to the strict reader; `010.` is read by the fast one
    // through the generic parser (no key number carried); the others carry one.
    const body = (jobs: string[]): string => `[${jobs.join(',')}]`;
    const job = (action: string, cidr: string, tag = 'k'): string =>
      `{"action":"${action}","entry":{"cidr":"${cidr}","tag":"${tag}","expiration":0}}`;
    const send = (jobs: string[]) => peer('drop', body(jobs), { 'content-type': 'application/json' });
    let r = await send([job('add', '10.60.1.1/16')]);
    assert.equal(r.status, 201, r.text);
    r = await send([job('add', '10.60.0.0\\/16')]);
    assert.equal(r.status, 409, r.text);
    assert.deepEqual(r.json(), CONFLICT('10.60.0.0/16'));
    r = await send([job('remove', '10.60.9.9\\/16')]);
    assert.equal(r.status, 201, r.text);
    assert.equal((await t.request('GET', '/v1/drop/10.60.0.0/16')).status, 404);
    r = await send([job('add', '10.61.0.0/16', 'a'), job('remove', '010.61.0.0/16'), job('add', '10.61.5.5/16', 'b'), job('remove', '10.61.7.7/16'), job('add', '010.061.0.0/16', 'c')]);
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.json().map((j: { entry: { cidr: string } }) => j.entry.cidr), ['10.61.0.0/16', '10.61.0.0/16', '10.61.5.5/16', '10.61.7.7/16', '10.61.0.0/16']);
    const g = await t.request('GET', '/v1/drop/10.61.0.0/16');
    assert.equal(g.status, 200);
    assert.equal(g.json().tag, 'c');
    r = await send([job('add', '10.61.3.3/16')]);
    assert.equal(r.status, 409, r.text);
    assert.deepEqual(r.json(), CONFLICT('10.61.0.0/16'));
    await del('drop', '10.61.0.0/16');
    assert.equal((await t.request('GET', '/v1/drop')).json().filter((e: { cidr: string }) => e.cidr.startsWith('10.6')).length, 0);
  });
  test('invalid policy → 400 envelope', async () => {
    const r = await peer('DROP', []);
    assert.equal(r.status, 400);
    assert.deepEqual(r.json(), BAD_REQUEST_POLICY('DROP'));
  });
  const D = 'Failed to deserialize the JSON body into the target type: ';
  const plain: ReadonlyArray<readonly [string, string, Record<string, string>, number, string | RegExp]> = [
    ['no content type', '[]', { 'content-type': '' }, 415, 'Expected request with `Content-Type: application/json`'],
    ['text/plain', '[]', { 'content-type': 'text/plain' }, 415, 'Expected request with `Content-Type: application/json`'],
    ['syntax', '[{"action":"add",}]', {}, 400, 'Failed to parse the request body as JSON: trailing comma at line 1 column 18'],
    ['empty body', '', {}, 400, 'Failed to parse the request body as JSON: EOF while parsing a value at line 1 column 0'],
    ['object body', '{}', {}, 422, `${D}invalid type: map, expected a sequence at line 1 column 0`],
    ['unknown action', '[{"action":"ban","entry":{"cidr":"1.2.3.0/24","expiration":0}}]', {}, 422, `${D}[0].action: unknown variant \`ban\`, expected \`add\` or \`remove\` at line 1 column 16`],
    ['bad cidr', '[{"action":"add","entry":{"cidr":"1.2.3.0","expiration":0}}]', {}, 422, `${D}[0].entry.cidr: invalid IP address syntax at line 1 column 42`],
    ['bad tag', '[{"action":"add","entry":{"cidr":"1.2.3.0/24","tag":"a.couic","expiration":0}}]', {}, 422, `${D}[0].entry.tag: Tag cannot end with special suffix: .couic at line 1 column 61`],
    ['past expiration', '[{"action":"add","entry":{"cidr":"1.2.3.0/24","expiration":5}}]', {}, 422, `${D}[0].entry.expiration: expiration timestamp must be in the future or zero at line 1 column 60`],
    ['remove without expiration', '[{"action":"remove","entry":{"cidr":"1.2.3.0/24"}}]', {}, 422, `${D}[0].entry: missing field \`expiration\` at line 1 column 49`],
    ['action not a string', '[{"action":5,"entry":{"cidr":"1.2.3.0/24","expiration":0}}]', {}, 400, 'Failed to parse the request body as JSON: expected value at line 1 column 12'],
    ['job not an object', '[5]', {}, 422, `${D}[0]: invalid type: integer \`5\`, expected struct PeerJob at line 1 column 2`],
    ['missing entry', '[{"action":"add"}]', {}, 422, `${D}[0]: missing field \`entry\` at line 1 column 17`],
    ['second job bad', '[{"action":"add","entry":{"cidr":"1.2.3.0/24","expiration":0}},{"action":"add","entry":{"cidr":"x","expiration":0}}]', {}, 422, /^Failed to deserialize the JSON body into the target type: \[1\]\.entry\.cidr: invalid IP address syntax at line 1 column \d+$/],
  ];
  for (const [name, body, headers, status, text] of plain) {
    test(`${name} → ${status} plain text`, async () => {
      const r = await peer('drop', body, { 'content-type': 'application/json', ...headers });
      assert.equal(r.status, status, r.text);
      assert.match(String(r.headers['content-type']), /^text\/plain/);
      if (typeof text === 'string') assert.equal(r.text, text);
      else assert.match(r.text, text);
    });
  }
  test('a failing body applies nothing', async () => {
    assert.equal((await t.request('GET', '/v1/drop/1.2.3.0/24')).status, 404);
  });
  test('body over 2 MiB → 413 plain text', async () => {
    const big = JSON.stringify([{ action: 'add', entry: { cidr: '1.2.3.0/24', expiration: 0, pad: 'x'.repeat(2 * 1024 * 1024) } }]);
    const r = await peer('drop', big, { 'content-type': 'application/json' });
    assert.equal(r.status, 413);
    assert.equal(r.text, 'Failed to buffer the request body: length limit exceeded');
  });
});

describe('set entries (needs POST /v1/sets/reload)', () => {
  test('tag = file name; POST 409; DELETE 422 plain; peer remove deletes', async (tt) => {
    const file = path.join(t.workingDir, 'sets', 'drop', 'lan.couic');
    if (!existsSync(path.dirname(file))) {
      tt.skip('no sets directory (in-process target)');
      return;
    }
    writeFileSync(file, '# lan\n10.77.0.0/16\n\n10.78.1.1/16\n');
    chmodSync(file, 0o600);
    const reload = await t.request('POST', '/v1/sets/reload');
    assert.equal(reload.status, 201, reload.text);
    let r = await t.request('GET', '/v1/drop/10.78.0.0/16');
    assert.equal(r.status, 200);
    assert.equal(r.json().tag, 'lan.couic');
    assert.equal(r.json().expiration, 0);
    r = await t.request('POST', '/v1/drop', { body: { cidr: '10.77.0.0/16', expiration: 0 } });
    assert.equal(r.status, 409);
    assert.deepEqual(r.json(), CONFLICT('10.77.0.0/16'));
    r = await t.request('DELETE', '/v1/drop/10.77.0.0/16');
    assert.equal(r.status, 422);
    assert.equal(r.text, 'Entry defined in a set cannot be removed');
    assert.match(String(r.headers['content-type']), /^text\/plain/);
    r = await t.request('POST', '/v1/drop/peer', { body: [{ action: 'remove', entry: { cidr: '10.77.0.0/16', expiration: 0 } }] });
    assert.equal(r.status, 201);
    assert.equal((await t.request('GET', '/v1/drop/10.77.0.0/16')).status, 404);
  });
});

describe('map full → 409', () => {
  let small: Target;
  before(async () => {
    small = await startTarget({ dataplane: { drop_exact: 4, drop_cidr: 4, ignore_exact: 4, ignore_cidr: 4 } });
  });
  after(async () => {
    await small?.stop();
  });
  test('adding past the capacity is refused with Couic\'s message', async () => {
    let full: any;
    for (let i = 1; i <= 12 && full === undefined; i += 1) {
      const r = await small.request('POST', '/v1/drop', { body: { cidr: `192.0.2.${i}/32`, expiration: 0 } });
      if (r.status === 409) full = r.json();
      else assert.equal(r.status, 201, r.text);
    }
    assert.ok(full, 'capacity never reached');
    assert.equal(full.code, 'conflict');
    assert.match(full.message, /^couic underlying ebpf map is full: max \d+ entries$/);
    assert.deepEqual(full.errors, {});
    // the refused entry is not stored; the other policy is unaffected
    const list = (await small.request('GET', '/v1/drop')).json() as any[];
    assert.ok(list.length <= 12);
    const r = await small.request('POST', '/v1/ignore', { body: { cidr: '192.0.2.1/32', expiration: 0 } });
    assert.equal(r.status, 201);
  });
});
