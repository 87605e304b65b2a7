/**
 * The action of Couic's fail2ban page (`couicctl drop add <ip>/<cidr> -t
 * fail2ban-<name>`, `couicctl drop delete <ip>/<cidr>`) in a private
 * fail2ban-server, banning through the native couicctl front against the real
 * daemon: a failed-login line bans (entry tagged fail2ban-<jail>, /32), banip
 * of an IPv6 address gives a /128, unban removes them, stop unbans every ban
 * and start restores them; no ERROR in fail2ban's log.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { daemonBuilt, startDaemon, type Daemon } from '../lib/daemon.js';
import { waitFor } from '../lib/wait.js';
import { buildCouicctl, COUICCTL, F2b, fail2banMissing, SEED_ACTION } from './lib.js';

const skip = fail2banMissing() || (!daemonBuilt() ? 'needs the built daemon' : false);

interface Entry {
  cidr: string;
  tag: string | null;
  expiration: number;
}

describe('fail2ban → the seed\'s couicctl action → native couicctl → couic daemon', { skip, timeout: 180_000 }, () => {
  let daemon: Daemon;
  let f: F2b;

  const drops = async (): Promise<Entry[]> => {
    const r = await daemon.request('GET', '/v1/drop');
    assert.equal(r.status, 200, r.text);
    return r.json() as Entry[];
  };
  const cidrs = async (): Promise<string[]> => (await drops()).map((e) => e.cidr).sort();

  before(async () => {
    buildCouicctl();
    daemon = await startDaemon();
    const ctlConf = path.join(daemon.workingDir, '..', 'couicctl-seed.toml');
    const clientFile = path.join(daemon.workingDir, 'rbac', 'clients', 'couicctl.toml');
    writeFileSync(ctlConf, `mode = "local"\nsocket = ${JSON.stringify(daemon.socketPath)}\nclient_file = ${JSON.stringify(clientFile)}\n`);
    f = new F2b({
      jails: { j1: { action: `couicseed[couicctl="${COUICCTL} -c ${ctlConf}"]`, bantime: '600' } },
      ours: [],
      actions: { 'couicseed.conf': SEED_ACTION },
    });
    await f.start();
  });

  after(async () => {
    if (f) await f.dispose();
    await daemon?.stop();
  });

  it('bans a failed login as <ip>/32 tagged fail2ban-j1, IPv6 as /128; unban removes them', async () => {
    f.appendAuth(['Failed password for root from 192.0.2.41 port 22 ssh2']);
    const e = await waitFor(async () => (await drops()).find((x) => x.cidr === '192.0.2.41/32'), 15_000, 100);
    assert.ok(e, `banned; fail2ban log:\n${f.log()}`);
    assert.equal(e.tag, 'fail2ban-j1');
    assert.equal(e.expiration, 0, 'the seed action passes no expiration');
    assert.equal((await f.client(['set', 'j1', 'banip', '2001:db8::41'])).stdout.trim(), '1');
    assert.ok(await waitFor(async () => (await cidrs()).includes('2001:db8::41/128'), 15_000, 100), 'IPv6 ban');
    assert.equal((await f.client(['set', 'j1', 'unbanip', '192.0.2.41', '2001:db8::41'])).stdout.trim(), '2');
    assert.ok(await waitFor(async () => (await cidrs()).length === 0, 15_000, 100), `unbanned: ${(await cidrs()).join(' ')}`);
    assert.deepEqual(f.errors(), []);
  });

  it('stop unbans every ban, start restores them', async () => {
    const ips = ['198.51.100.1', '198.51.100.2', '198.51.100.3'];
    assert.equal((await f.client(['set', 'j1', 'banip', ...ips])).stdout.trim(), '3');
    const want = ips.map((ip) => `${ip}/32`);
    assert.ok(await waitFor(async () => (await cidrs()).join() === want.join(), 15_000, 100), 'banned');
    await f.stop();
    assert.deepEqual(await cidrs(), [], 'fail2ban stop ran actionunban for each ban');
    await f.start();
    assert.ok(await waitFor(async () => (await cidrs()).join() === want.join(), 30_000, 100), `restored: ${(await cidrs()).join(' ')}\n${f.log()}`);
    assert.deepEqual(f.errors(), []);
  });
});
