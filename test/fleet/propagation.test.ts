/**
 * Two couic daemons in a fleet on a real nats-server (JetStream, loopback):
 * A on the host, B with its helper attached to a veth in a network
 * namespace pair, so B's drops are checked on real packets. Each daemon has
 * its own working dir, socket, helper and kernel maps.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createPair, udpReceiver, udpSend, type NetnsPair } from '../lib/netns.js';
import { natsAvailable, startNats, type NatsServer } from '../lib/nats.js';
import { waitFor } from '../lib/wait.js';
import { events, fleetDaemon, waitCaughtUp, waitListed, type FleetDaemon } from './lib.js';

const skip = !natsAvailable() ? 'nats-server is not installed (scripts/setup.sh)' : process.getuid?.() !== 0 ? 'needs root' : false;
const N = 20;

describe('fleet: a ban on one host is enforced on the other', { skip }, () => {
  let nats: NatsServer;
  let pair: NetnsPair;
  let a: FleetDaemon;
  let b: FleetDaemon;
  let port = 30000 + Math.floor(Math.random() * 20000);

  before(async () => {
    nats = await startNats();
    pair = await createPair({ extraSources: 4 });
    a = await fleetDaemon({ servers: [nats.url], node: 'web-01' });
    b = await fleetDaemon({ servers: [nats.url], node: 'web-02', netns: { ns: pair.receiver.ns, iface: pair.receiver.ifname } });
    await waitCaughtUp(a);
    await waitCaughtUp(b);
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await pair?.teardown();
    await nats?.destroy();
  });

  /** Datagrams from each of `srcs` that reach B's receiver. */
  async function received(srcs: readonly string[]): Promise<Record<string, number>> {
    port += 1;
    const rx = await udpReceiver(pair.receiver.ns, pair.receiver.v4, port);
    for (const s of srcs) assert.equal(await udpSend(pair.sender.ns, s, pair.receiver.v4, port, N), N);
    return rx.stop();
  }

  test("a ban on A is dropped at B's veth, listed by B with A's tag, in B's events with origin fleet; gone after A's unban", async () => {
    const [banned, clean] = [pair.extraV4[0]!, pair.extraV4[1]!];
    const log = await events(b);
    const r = await a.request('POST', '/v1/bans/fail2ban-sshd', { body: { cidr: banned, expiration: 0 } });
    assert.equal(r.status, 200, r.text);
    assert.ok(await waitListed(b, `${banned}/32`), `B never listed it:\n${b.output()}`);
    const e = (await b.list()).get(`${banned}/32`)!;
    assert.equal(e.tag, 'fail2ban-sshd');
    assert.equal(e.expiration, 0);
    const ev = await waitFor(() => log.events.find((x) => x.type === 'added' && x.cidr === `${banned}/32`), 5000);
    assert.equal(ev?.origin, 'fleet');
    assert.equal(ev?.node, 'web-01');
    const got = await received([banned, clean]);
    assert.equal(got[banned] ?? 0, 0, 'the banned source got through B');
    assert.equal(got[clean], N, 'the clean source was dropped');

    assert.equal((await a.request('DELETE', `/v1/bans/fail2ban-sshd/${banned}/32`)).status, 204);
    assert.ok(await waitListed(b, `${banned}/32`, false), 'B still lists it after A unbanned');
    const ev2 = await waitFor(() => log.events.find((x) => x.type === 'removed' && x.cidr === `${banned}/32`), 5000);
    assert.equal(ev2?.node, 'web-01');
    log.close();
    const again = await received([banned]);
    assert.equal(again[banned], N, 'still dropped at B after the unban');
  });

  test("B's own ban of the same address survives A's unban (and holds it on A too)", async () => {
    const x = '203.0.113.5';
    assert.equal((await a.request('POST', '/v1/bans/fail2ban-sshd', { body: { cidr: x, expiration: 0 } })).status, 200);
    assert.ok(await waitListed(b, `${x}/32`));
    assert.equal((await b.request('POST', '/v1/bans/fail2ban-recidive', { body: { cidr: x, expiration: 0 } })).status, 200);
    // A sees B's hold: its claims on x now name both nodes' holds.
    await waitFor(async () => (await a.fleet()).peers.some((p: any) => p.node === 'web-02' && p.messages >= 2), 5000);
    assert.equal((await a.request('DELETE', `/v1/bans/fail2ban-sshd/${x}/32`)).status, 204);
    // A's release reaches B (B's event stream would show it); B's own ban keeps the entry on both.
    assert.ok(await waitFor(async () => (await b.fleet()).applied.revision >= (await a.fleet()).applied.revision, 5000));
    assert.ok((await b.list()).has(`${x}/32`), "B lost its own ban after A's unban");
    assert.equal((await b.list()).get(`${x}/32`)!.tag, 'fail2ban-recidive');
    assert.ok((await a.list()).has(`${x}/32`), "A no longer holds B's ban");
    assert.equal((await a.list()).get(`${x}/32`)!.tag, 'fail2ban-recidive');
    // B unbans too: gone everywhere.
    assert.equal((await b.request('DELETE', `/v1/bans/fail2ban-recidive/${x}/32`)).status, 204);
    assert.ok(await waitListed(a, `${x}/32`, false), 'A still lists it after both unbanned');
    assert.ok(!(await b.list()).has(`${x}/32`));
  });

  test('an API entry on A is shared with its tag and expiration; an operator delete on B removes it on A (fleet-wide)', async () => {
    const y = '198.51.100.0/24';
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const r = await a.request('POST', '/v1/drop', { body: { cidr: y, tag: 'manual', expiration: exp } });
    assert.equal(r.status, 201, r.text);
    assert.ok(await waitListed(b, y));
    const e = (await b.list()).get(y)!;
    assert.equal(e.tag, 'manual');
    assert.equal(e.expiration, exp);
    // A fail2ban ban of a CIDR inside the fleet: the delete on B takes the entry and every hold on it.
    const z = '198.51.100.77';
    assert.equal((await a.request('POST', '/v1/bans/fail2ban-sshd', { body: { cidr: z, expiration: 0 } })).status, 200);
    assert.ok(await waitListed(b, `${z}/32`));

    assert.equal((await b.request('DELETE', '/v1/drop/198.51.100.0/24')).status, 204);
    assert.equal((await b.request('DELETE', `/v1/drop/${z}/32`)).status, 204);
    assert.ok(await waitListed(a, y, false), `A still lists ${y} after the delete on B:\n${a.output()}`);
    assert.ok(await waitListed(a, `${z}/32`, false), `A still lists ${z} after the delete on B`);
    const bans = (await a.request('GET', '/v1/bans/fail2ban-sshd')).json() as { cidr: string }[];
    assert.ok(!bans.some((x) => x.cidr === `${z}/32`), "A's fail2ban claim survived the operator's delete");
    // Not back from A's own keys: both stay gone.
    assert.ok(await waitFor(async () => (await a.fleet()).outbox === 0 && (await b.fleet()).lag.messages === 0, 5000));
    assert.ok(!(await b.list()).has(y));
    // A new ban after the delete is shared again.
    assert.equal((await a.request('POST', '/v1/bans/fail2ban-sshd', { body: { cidr: z, expiration: 0 } })).status, 200);
    assert.ok(await waitListed(b, `${z}/32`), 'a ban made after the fleet-wide delete did not propagate');
  });

  test('an ignore on B wins on B only (ignore is not shared by default)', async () => {
    const w = pair.extraV4[2]!;
    assert.equal((await b.request('POST', '/v1/ignore', { body: { cidr: `${w}/32`, expiration: 0 } })).status, 201);
    assert.equal((await a.request('POST', '/v1/bans/fail2ban-sshd', { body: { cidr: w, expiration: 0 } })).status, 200);
    assert.ok(await waitListed(b, `${w}/32`), 'B did not get the drop');
    const got = await received([w]);
    assert.equal(got[w], N, "B's ignore did not win over the fleet's drop");
    assert.ok((await a.list()).has(`${w}/32`));
    assert.ok(!(await a.list('ignore')).has(`${w}/32`), "B's ignore reached A");
  });

  test('GET /v1/fleet and the OpenMetrics gauges report the fleet', async () => {
    const s = await b.fleet();
    assert.equal(s.enabled, true);
    assert.equal(s.node, 'web-02');
    assert.equal(s.connected, true);
    assert.deepEqual(s.servers, [nats.url]);
    assert.ok(s.applied.revision > 0);
    assert.ok(s.peers.some((p: any) => p.node === 'web-01'));
    const m = await b.request('GET', '/v1/metrics?format=prometheus');
    assert.equal(m.status, 200);
    assert.match(m.text, /\ncouic_fleet_connected 1\n/);
    assert.match(m.text, /\ncouic_fleet_lag_messages 0\n/);
    assert.match(m.text, /\n# UNIT couic_fleet_lag_seconds seconds\ncouic_fleet_lag_seconds \d/);
    assert.match(m.text, /\ncouic_fleet_outbox_entries 0\n/);
    assert.ok(m.text.endsWith('# EOF\n'));
  });
});
