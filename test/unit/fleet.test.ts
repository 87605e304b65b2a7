/**
 * The fleet's pure parts (no root, no server): the bucket's key space, the
 * values checked on the way in, the `[fleet]` config, the ledger's
 * durability, and what this host counts as its own hold.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, configFromToml } from '../../src/daemon/config.js';
import type { ClaimState } from '../../src/core/state/claims.js';
import { redactUrl } from '../../src/fleet/engine.js';
import { helloKey, holdKey, parseKey, revokeKey } from '../../src/fleet/keys.js';
import { Ledger } from '../../src/fleet/ledger.js';
import { ownHold } from '../../src/fleet/own.js';
import { decodeHold, decodeRevoke, encodeHold } from '../../src/fleet/values.js';
import { parseCidr } from '../../src/net/cidr.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('fleet keys', () => {
  it('one key per node, policy and CIDR, under the node\'s own prefix; read back exactly', () => {
    const v4 = parseCidr('192.0.2.0/24');
    const v6 = parseCidr('2001:db8::/32');
    assert.equal(holdKey('web-01', 'drop', v4), 'web-01.d4.192-0-2-0_24');
    assert.equal(holdKey('web-01', 'ignore', v6), 'web-01.i6.2001-db8--_32');
    assert.equal(revokeKey('web_02', 'drop', v6), 'web_02.x.d6.2001-db8--_32');
    assert.equal(helloKey('a'), 'a.hello');
    for (const k of ['web-01.d4.192-0-2-0_24', 'web-01.i6.2001-db8--_32', 'web_02.x.d6.2001-db8--_32']) {
      const p = parseKey(k);
      assert.ok(p !== undefined && p.kind !== 'hello');
      const again = p.kind === 'hold' ? holdKey(p.node, p.policy, p.cidr) : revokeKey(p.node, p.policy, p.cidr);
      assert.equal(again, k);
    }
    assert.deepEqual(parseKey('a.hello'), { kind: 'hello', node: 'a' });
  });

  it('anything else is not ours: unknown kinds, non-canonical CIDRs, a family that does not match', () => {
    for (const k of ['a', 'a.d4', 'a.q4.1-2-3-4_32', 'a.d4.192-0-2-1_24', 'a.d4.192-0-2-0', 'a.d6.192-0-2-0_24', 'a.d4.2001-db8--_32',
      'a.x.d4', 'a.d4.1-2-3-4_32.extra', 'bad node.d4.1-2-3-4_32', 'a.d4.01-2-3-4_32', 'a.d6.2001-0db8--_32']) {
      assert.equal(parseKey(k), undefined, k);
    }
  });
});

describe('fleet values', () => {
  const c = parseCidr('192.0.2.7/32');
  it('a hold round-trips; its tag follows the tag rules; its CIDR must be the key\'s', () => {
    const h = { tag: 'fail2ban-sshd', creation: 1_700_000_000, expiration: 0 };
    assert.deepEqual(decodeHold(encodeHold(c, h), c), h);
    assert.deepEqual(decodeHold(encodeHold(c, { ...h, tag: '' }), c), { ...h, tag: '' });
    assert.match(decodeHold('{"cidr":"192.0.2.7/32","tag":"lan.couic","creation":1,"expiration":0}', c) as string, /^tag: Tag cannot end/);
    assert.match(decodeHold('{"cidr":"192.0.2.7/32","tag":"a b","creation":1,"expiration":0}', c) as string, /^tag: /);
    assert.match(decodeHold('{"cidr":"192.0.2.8/32","tag":"a","creation":1,"expiration":0}', c) as string, /does not match/);
    assert.equal(decodeHold('{"cidr":"192.0.2.7/32","tag":"a","creation":-1,"expiration":0}', c), 'creation: expected unix seconds');
    assert.equal(decodeHold('{"cidr":"192.0.2.7/32","tag":"a","creation":1,"expiration":1.5}', c), 'expiration: expected unix seconds or 0');
    assert.equal(decodeHold('nope', c), 'not JSON');
    assert.equal(decodeHold('[1]', c), 'not a JSON object');
    assert.deepEqual(decodeRevoke('{"cidr":"192.0.2.7/32","at":5}', c), { at: 5 });
    assert.equal(decodeRevoke('{"cidr":"192.0.2.7/32"}', c), 'at: expected unix seconds');
  });
});

describe('[fleet] config', () => {
  const cfg = (fleet: Record<string, unknown>) => configFromToml({ fleet }, 'x.toml', {}).fleet;
  const err = (fleet: Record<string, unknown>): string => {
    try {
      cfg(fleet);
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.message;
    }
    return 'no error';
  };
  it('defaults: disabled, the local server, bucket couic, drop only, one replica', () => {
    const f = configFromToml({}, undefined, {}).fleet;
    assert.equal(f.enabled, false);
    assert.deepEqual(f.servers, ['nats://127.0.0.1:4222']);
    assert.equal(f.bucket, 'couic');
    assert.deepEqual(f.policies, ['drop']);
    assert.equal(f.replicas, 1);
    const g = cfg({ enabled: true, node: 'web-01', servers: ['10.0.0.5:4222', 'tls://u:p@nats.example:4222'], policies: ['drop', 'ignore'], replicas: 3 });
    assert.deepEqual(g.servers, ['10.0.0.5:4222', 'tls://u:p@nats.example:4222']);
    assert.deepEqual(g.policies, ['drop', 'ignore']);
  });
  it('bad values are a startup error naming the key', () => {
    assert.equal(err({ node: 'web 01' }), 'invalid value for `fleet.node`: expected 1 to 64 characters among A-Z a-z 0-9 _ -, got "web 01"');
    assert.match(err({ servers: [] }), /^invalid value for `fleet.servers`: expected at least one/);
    assert.match(err({ servers: ['http://x:1'] }), /^invalid value for `fleet.servers`: "http:" is not a NATS scheme/);
    assert.match(err({ servers: 'nats://x' }), /^invalid value for `fleet.servers`: expected an array of strings/);
    assert.match(err({ policies: ['drop', 'allow'] }), /^invalid value for `fleet.policies`: expected drop or ignore, got "allow"/);
    assert.match(err({ policies: ['drop', 'drop'] }), /^invalid value for `fleet.policies`: a policy is listed twice/);
    assert.match(err({ bucket: 'a.b' }), /^invalid value for `fleet.bucket`/);
    assert.match(err({ replicas: 7 }), /^invalid value for `fleet.replicas`: expected an integer in 1..5/);
    assert.match(err({ user: 'u' }), /^invalid value for `fleet.password`: user and password go together/);
    assert.match(err({ token: 't', user: 'u', password: 'p' }), /^invalid value for `fleet.token`: set one of/);
    assert.match(err({ tls_cert: '/x' }), /^invalid value for `fleet.tls_key`: tls_cert and tls_key go together/);
    assert.match(err({ enabled: true, node: 'a', creds: '/nonexistent/x.creds' }), /^invalid value for `fleet.creds`: cannot read \/nonexistent\/x.creds: ENOENT/);
    assert.match(err({ enabled: 'yes' }), /^invalid value for `fleet.enabled`: expected a boolean/);
  });
  it('a server URL never shows its credentials in an error or a log', () => {
    assert.doesNotMatch(err({ servers: ['nats://user:secret@[bad'] }), /secret/);
    assert.equal(redactUrl('nats://user:secret@10.0.0.5:4222'), 'nats://***@10.0.0.5:4222');
    assert.equal(redactUrl('nats://10.0.0.5:4222'), 'nats://10.0.0.5:4222');
  });
});

describe('fleet ledger', () => {
  it('keeps API marks and pending deletes across a reopen (compacted), and skips a torn last line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'couic-ledger-'));
    dirs.push(dir);
    const l = Ledger.open(dir);
    l.markApi('192.0.2.0/24', 100);
    l.markApi('^10.0.0.0/8', 101);
    l.revoke('198.51.100.1/32', 200);
    l.revoke('198.51.100.2/32', 201);
    l.flush();
    l.unmarkApi('192.0.2.0/24');
    l.published('198.51.100.1/32', 200);
    l.published('198.51.100.2/32', 999); // another delete's time: stays pending
    l.close();
    appendFileSync(join(dir, 'ledger.log'), '{"a":"torn');
    const m = Ledger.open(dir);
    assert.deepEqual([...m.api], [['^10.0.0.0/8', 101]]);
    assert.deepEqual([...m.revokes], [['198.51.100.2/32', 201]]);
    m.close();
    assert.equal(readFileSync(join(dir, 'ledger.log'), 'utf8').split('\n').filter(Boolean).length, 2, 'rewritten whole at open');
  });
});

describe('own holds', () => {
  const cidr = parseCidr('192.0.2.7/32');
  const src = (entry: { tag: string; creation: number; expiration: number } | undefined, st: ClaimState | undefined) => ({
    get: () => (entry === undefined ? undefined : { policy: 'drop' as const, cidr, ...entry }),
    claimState: () => st,
  });
  it('the union of the API entry the ledger knows and the local claims; never fleet claims or a peer entry', () => {
    const st: ClaimState = { managed: false, claims: [{ owner: '@b', creation: 1, expiration: 0, tag: 'remote' }, { owner: 'fail2ban-sshd', creation: 50, expiration: 900 }] };
    assert.deepEqual(ownHold(src({ tag: 'ops', creation: 40, expiration: 500 }, st), 'drop', cidr, 'k', 40, 10), { tag: 'ops', creation: 40, expiration: 900 });
    assert.deepEqual(ownHold(src({ tag: 'peer', creation: 40, expiration: 0 }, st), 'drop', cidr, 'k', undefined, 10), { tag: 'fail2ban-sshd', creation: 50, expiration: 900 }, 'an entry the ledger does not know is a peer entry');
    assert.deepEqual(ownHold(src({ tag: 'ops', creation: 41, expiration: 0 }, undefined), 'drop', cidr, 'k', 40, 10), undefined, 'another entry than the one the API created');
    assert.equal(ownHold(src(undefined, { managed: true, claims: [{ owner: '@b', creation: 1, expiration: 0, tag: 'x' }] }), 'drop', cidr, 'k', undefined, 10), undefined);
    assert.equal(ownHold(src(undefined, { managed: true, claims: [{ owner: 'f', creation: 1, expiration: 5 }] }), 'drop', cidr, 'k', undefined, 10), undefined, 'expired');
  });
});
