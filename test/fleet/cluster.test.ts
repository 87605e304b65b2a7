/**
 * The production shape: a cluster of three nats-servers and an R3 bucket.
 * Three couic daemons each know all three servers; killing one server
 * (SIGKILL, a crash) does not stop propagation, and it still works after
 * the server comes back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { natsAvailable, startNatsCluster, type NatsServer } from '../lib/nats.js';
import { waitFor } from '../lib/wait.js';
import { fleetDaemon, waitCaughtUp, waitListed, type FleetDaemon } from './lib.js';

const skip = !natsAvailable() ? 'nats-server is not installed (scripts/setup.sh)' : process.getuid?.() !== 0 ? 'needs root' : false;

describe('fleet: a 3-server NATS cluster with an R3 bucket', { skip }, () => {
  let cluster: { servers: NatsServer[]; urls: string[]; destroy(): Promise<void> };
  const d: FleetDaemon[] = [];

  before(async () => {
    cluster = await startNatsCluster(3);
    // Rotate the server order so the daemons are spread over the servers.
    for (let i = 0; i < 3; i += 1) {
      const urls = [...cluster.urls.slice(i), ...cluster.urls.slice(0, i)];
      d.push(await fleetDaemon({ servers: urls, node: `h${i + 1}`, replicas: 3 }));
    }
    for (const x of d) await waitCaughtUp(x, 60_000);
  });

  after(async () => {
    for (const x of d) await x.stop();
    await cluster?.destroy();
  });

  test('the bucket is replicated three times; a ban on any host reaches the two others', async () => {
    const s = await d[0]!.fleet();
    assert.equal(s.connected, true);
    for (let i = 0; i < 3; i += 1) {
      const cidr = `192.0.2.${10 + i}`;
      const r = await d[i]!.request('POST', '/v1/bans/fail2ban-sshd', { body: { cidr, expiration: 0 } });
      assert.equal(r.status, 200);
      for (const x of d) assert.ok(await waitListed(x, `${cidr}/32`), `${x.node} did not get the ban of h${i + 1}`);
    }
    const out = d[0]!.output();
    assert.match(out, /"replicas":3/, 'the bucket is not R3');
  });

  test('one server killed: propagation goes on; the server back: still in line', async () => {
    const victim = cluster.servers[0]!;
    await victim.kill();
    for (let i = 0; i < 3; i += 1) {
      const cidr = `198.51.100.${10 + i}`;
      const r = await d[i]!.request('POST', '/v1/bans/fail2ban-sshd', { body: { cidr, expiration: 0 } });
      assert.equal(r.status, 200);
    }
    for (const x of d) {
      for (let i = 0; i < 3; i += 1) {
        const ok = await waitListed(x, `198.51.100.${10 + i}/32`, true, 30_000);
        if (!ok) {
          const st = await Promise.all(d.map((y) => y.fleet()));
          assert.fail(`${x.node} did not get the ban of h${i + 1} with a server down:\n${JSON.stringify(st, null, 1)}\n${d.map((y) => y.output().split('\n').filter((l) => l.includes('"fleet"')).join('\n')).join('\n----\n')}`);
        }
      }
    }
    assert.equal((await d[1]!.request('DELETE', '/v1/bans/fail2ban-sshd/198.51.100.11/32')).status, 204);
    for (const x of d) assert.ok(await waitListed(x, '198.51.100.11/32', false, 30_000), `${x.node} kept an unbanned CIDR`);
    await victim.start();
    const cidr = '203.0.113.77';
    assert.equal((await d[2]!.request('POST', '/v1/bans/fail2ban-sshd', { body: { cidr, expiration: 0 } })).status, 200);
    for (const x of d) assert.ok(await waitListed(x, `${cidr}/32`, true, 30_000));
    assert.ok(await waitFor(async () => (await Promise.all(d.map((x) => x.fleet()))).every((s) => s.connected && s.outbox === 0), 30_000));
  });
});
