/**
 * The access model of docs/fleet.md, step 2, on a real nats-server: one
 * user per node whose publish permissions allow only its own keys (plus the
 * JetStream API the client needs), an admin who creates the bucket. The
 * fleet works with them; a node cannot write another node's key; the
 * password never reaches the log.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { natsAvailable, startNats, type NatsServer } from '../lib/nats.js';
import { fleetDaemon, waitCaughtUp, waitListed, type FleetDaemon } from './lib.js';

const skip = !natsAvailable() ? 'nats-server is not installed (scripts/setup.sh)' : process.getuid?.() !== 0 ? 'needs root' : false;

/** The permissions of docs/fleet.md for node `node` of bucket `bucket`. */
export function nodePermissions(node: string, bucket: string): string {
  const s = `KV_${bucket}`;
  return `{
      publish: { allow: ["$KV.${bucket}.${node}.>", "$JS.API.INFO", "$JS.API.STREAM.INFO.${s}", "$JS.API.CONSUMER.CREATE.${s}.>", "$JS.API.CONSUMER.DELETE.${s}.>", "$JS.FC.${s}.>"] }
      subscribe: { allow: ["_INBOX.>"] }
    }`;
}

const PASS = { admin: 'admin-secret-1', 'web-01': 'node1-secret-XyZ', 'web-02': 'node2-secret-AbC' };

describe('fleet: per-node publish permissions', { skip }, () => {
  let nats: NatsServer;
  let a: FleetDaemon;
  let b: FleetDaemon;

  before(async () => {
    nats = await startNats(`authorization {
  users: [
    { user: admin, password: "${PASS.admin}" }
    { user: web-01, password: "${PASS['web-01']}", permissions: ${nodePermissions('web-01', 'couic')} }
    { user: web-02, password: "${PASS['web-02']}", permissions: ${nodePermissions('web-02', 'couic')} }
  ]
}`);
    // The bucket is the admin's to create (the nodes may not).
    const nc = await connect({ servers: nats.url, user: 'admin', pass: PASS.admin });
    await new Kvm(nc).create('couic', { history: 1 });
    await nc.close();
    const auth = (u: 'web-01' | 'web-02'): string => `user = "${u}"\npassword = "${PASS[u]}"`;
    a = await fleetDaemon({ servers: [nats.url], node: 'web-01', extraToml: auth('web-01') });
    b = await fleetDaemon({ servers: [nats.url], node: 'web-02', extraToml: auth('web-02') });
    await waitCaughtUp(a);
    await waitCaughtUp(b);
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await nats?.destroy();
  });

  test('the fleet works with them: bans, unbans and a fleet-wide delete', async () => {
    assert.equal((await a.request('POST', '/v1/bans/fail2ban-sshd', { body: { cidr: '192.0.2.1', expiration: 0 } })).status, 200);
    assert.ok(await waitListed(b, '192.0.2.1/32'), `B:\n${b.output().slice(-2000)}`);
    assert.equal((await b.request('POST', '/v1/bans/fail2ban-sshd', { body: { cidr: '192.0.2.2', expiration: 0 } })).status, 200);
    assert.ok(await waitListed(a, '192.0.2.2/32'));
    assert.equal((await b.request('DELETE', '/v1/drop/192.0.2.1/32')).status, 204);
    assert.ok(await waitListed(a, '192.0.2.1/32', false));
    assert.equal((await a.fleet()).last_error, null);
  });

  test("a node cannot write another node's key", async () => {
    const nc = await connect({ servers: nats.url, user: 'web-01', pass: PASS['web-01'] });
    try {
      const kv = await new Kvm(nc).open('couic');
      await kv.put('web-01.d4.198-51-100-1_32', '{"cidr":"198.51.100.1/32","tag":"x","creation":1,"expiration":0}');
      await assert.rejects(kv.put('web-02.d4.198-51-100-2_32', '{"cidr":"198.51.100.2/32","tag":"x","creation":1,"expiration":0}'), /permission|timeout|TIMEOUT/i);
    } finally {
      await nc.close();
    }
    assert.ok(await waitListed(b, '198.51.100.1/32'), 'its own key went through');
    assert.ok(!(await a.list()).has('198.51.100.2/32'));
  });

  test('the password never reaches the log', () => {
    for (const d of [a, b]) {
      for (const p of Object.values(PASS)) assert.ok(!d.output().includes(p), `${d.node} logged a password`);
    }
  });
});
