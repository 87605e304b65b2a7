/**
 * Catching up: a host restarted or partitioned gets every change it missed,
 * deletions included; the engine down never blocks a host, and what it did
 * meanwhile reaches the others once the engine is back (nothing lost, even
 * across a restart of the host during the outage). Real nats-server, real
 * daemons; the partition is a TCP proxy cut between B and the server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { natsAvailable, startNats, type NatsServer } from '../lib/nats.js';
import { startProxy, type TcpProxy } from '../lib/tcp-proxy.js';
import { waitFor } from '../lib/wait.js';
import { fleetDaemon, waitCaughtUp, waitListed, type FleetDaemon } from './lib.js';

const skip = !natsAvailable() ? 'nats-server is not installed (scripts/setup.sh)' : process.getuid?.() !== 0 ? 'needs root' : false;

const ban = async (d: FleetDaemon, cidr: string, owner = 'fail2ban-sshd'): Promise<void> => {
  const r = await d.request('POST', `/v1/bans/${owner}`, { body: { cidr, expiration: 0 } });
  assert.equal(r.status, 200, r.text);
};
const unban = async (d: FleetDaemon, cidr: string, owner = 'fail2ban-sshd'): Promise<void> => {
  assert.equal((await d.request('DELETE', `/v1/bans/${owner}/${cidr.replace('/', '/')}`)).status, 204);
};

describe('fleet: catch-up and outages', { skip }, () => {
  let nats: NatsServer;
  let proxy: TcpProxy;
  let a: FleetDaemon;
  let b: FleetDaemon;

  before(async () => {
    nats = await startNats();
    proxy = await startProxy(nats.port);
    a = await fleetDaemon({ servers: [nats.url], node: 'a' });
    b = await fleetDaemon({ servers: [proxy.url], node: 'b' });
    await waitCaughtUp(a);
    await waitCaughtUp(b);
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await proxy?.close();
    await nats?.destroy();
  });

  test('B restarted catches up from its position, deletions included', async () => {
    await ban(a, '192.0.2.1');
    await ban(a, '192.0.2.2');
    assert.ok(await waitListed(b, '192.0.2.2/32'));
    await b.kill('SIGTERM');
    await ban(a, '192.0.2.3');
    await unban(a, '192.0.2.1/32');
    assert.equal((await a.request('POST', '/v1/drop', { body: { cidr: '192.0.2.128/25', tag: 'ops', expiration: 0 } })).status, 201);
    await b.restart();
    // The journal enforces what B had before any server is reached; then it catches up.
    const s = await waitCaughtUp(b);
    assert.equal(s.last_catch_up.mode, 'resume', 'B did a full resync instead of resuming');
    const l = await b.list();
    assert.ok(l.has('192.0.2.2/32') && l.has('192.0.2.3/32') && l.has('192.0.2.128/25'), `B after restart: ${[...l.keys()].join(' ')}`);
    assert.ok(!l.has('192.0.2.1/32'), 'a deletion made while B was down is still on B');
    assert.equal(l.get('192.0.2.128/25')!.tag, 'ops');
  });

  test('B partitioned from the engine catches up once healed; its own bans meanwhile reach A', async () => {
    proxy.cut();
    await waitFor(async () => (await b.fleet()).connected === false, 10_000);
    await ban(a, '192.0.2.4');
    await unban(a, '192.0.2.2/32');
    // B keeps answering and enforcing while cut off.
    await ban(b, '198.51.100.9', 'fail2ban-nginx');
    assert.ok((await b.list()).has('198.51.100.9/32'));
    assert.ok((await b.fleet()).outbox >= 1, 'the ban made while partitioned is not in the outbox');
    proxy.heal();
    assert.ok(await waitListed(b, '192.0.2.4/32', true, 20_000), `B did not catch up after the partition:\n${b.output()}`);
    assert.ok(await waitListed(b, '192.0.2.2/32', false), 'a deletion made during the partition is still on B');
    assert.ok(await waitListed(a, '198.51.100.9/32'), "B's ban made while partitioned never reached A");
    assert.equal((await a.list()).get('198.51.100.9/32')!.tag, 'fail2ban-nginx');
    assert.equal((await b.fleet()).outbox, 0);
  });

  test('the engine stopped while A bans (and A restarts): nothing lost, B converges once it is back', async () => {
    await nats.stop();
    await waitFor(async () => (await a.fleet()).connected === false && (await b.fleet()).connected === false, 10_000);
    const cidrs = Array.from({ length: 50 }, (_, i) => `10.9.${i}.1`);
    // Acknowledged as always: kernel + journal, never blocked by the engine.
    const r = await a.request('POST', '/v1/bans/fail2ban-sshd', { body: cidrs.map((cidr) => ({ cidr, expiration: 0 })) });
    assert.equal(r.status, 200, r.text);
    assert.equal((await a.request('POST', '/v1/drop', { body: { cidr: '10.10.0.0/16', tag: 'outage', expiration: 0 } })).status, 201);
    assert.equal((await a.request('DELETE', '/v1/drop/192.0.2.128/25')).status, 204);
    assert.ok((await a.fleet()).outbox >= 52);
    // A restarted during the outage still enforces and still has all of it to publish.
    await a.restart();
    assert.ok((await a.list()).has('10.9.49.1/32') && (await a.list()).has('10.10.0.0/16'));
    assert.ok(!(await a.list()).has('192.0.2.128/25'));
    await nats.start();
    await waitCaughtUp(a, 30_000);
    await waitCaughtUp(b, 30_000);
    assert.ok(await waitFor(async () => {
      const l = await b.list();
      return cidrs.every((c) => l.has(`${c}/32`)) && l.has('10.10.0.0/16') && !l.has('192.0.2.128/25');
    }, 20_000), `B did not converge:\n${[...(await b.list()).keys()].join(' ')}`);
    assert.equal((await a.fleet()).outbox, 0);
  });
});
