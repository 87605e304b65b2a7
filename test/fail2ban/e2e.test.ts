/**
 * End to end, for BOTH actions (action.d/couic.conf through couic-ban, and
 * action.d/couic.py): a private fail2ban-server started inside the receiver
 * namespace of a veth pair, the REAL couic daemon attached to the receiver's
 * veth (test/lib/daemon.ts harness with `ip netns exec`), traffic from the
 * sender namespace:
 *  - failed-login lines make fail2ban ban the address; `couicctl drop list`
 *    shows it tagged fail2ban-<jail> with the ban's end as expiration;
 *    pings/UDP from it are dropped, another source passes (IPv4 and IPv6);
 *  - unban lets it through again;
 *  - two jails banning one address: dropped until both unbanned;
 *  - fail2ban stop (flush) and start (restore): the bans come back, with the
 *    same expiration, no ERROR in the server log;
 *  - a dead daemon is reported in fail2ban's log.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { daemonBuilt, startDaemon, type Daemon } from '../lib/daemon.js';
import { createPair, ping, run, udpReceiver, udpSend, type NetnsPair } from '../lib/netns.js';
import { waitFor } from '../lib/wait.js';
import { buildCouicBan, CLI_MAIN, COUIC_BAN, F2b, fail2banMissing } from './lib.js';

const skip = fail2banMissing() || (!daemonBuilt() ? 'needs the built daemon' : false);

interface Entry {
  cidr: string;
  tag: string | null;
  expiration: number;
}

for (const variant of ['couic', 'couic.py'] as const) {
  describe(`fail2ban → ${variant} → couic daemon → XDP`, { skip, timeout: 300_000 }, () => {
    let pair: NetnsPair;
    let daemon: Daemon;
    let f: F2b;
    let ctlConf: string;
    let clientFile: string;

    const drops = async (): Promise<Entry[]> => {
      const r = await run([process.execPath, CLI_MAIN, '-c', ctlConf, 'drop', 'list', '--json']);
      return JSON.parse(r.stdout) as Entry[];
    };
    const dropTable = async (): Promise<string> => (await run([process.execPath, CLI_MAIN, '-c', ctlConf, 'drop', 'list'])).stdout;
    const entry = async (cidr: string): Promise<Entry | undefined> => (await drops()).find((e) => e.cidr === cidr);
    const claims = async (owner: string): Promise<Entry[]> => {
      const r = await daemon.request('GET', `/v1/bans/${owner}`);
      assert.equal(r.status, 200, r.text);
      return r.json() as Entry[];
    };
    const passes = (src: string): Promise<boolean> => ping(pair.sender.ns, src, src.includes(':') ? pair.receiver.v6 : pair.receiver.v4, 2);

    before(async () => {
      buildCouicBan();
      pair = await createPair({ prefix: 'fb', extraSources: 4 });
      daemon = await startDaemon({ ifaces: [pair.receiver.ifname], wrapper: ['ip', 'netns', 'exec', pair.receiver.ns] });
      clientFile = path.join(daemon.workingDir, 'rbac', 'clients', 'couicctl.toml');
      ctlConf = path.join(daemon.workingDir, '..', 'couicctl-test.toml');
      writeFileSync(ctlConf, `mode = "local"\nsocket = ${JSON.stringify(daemon.socketPath)}\nclient_file = ${JSON.stringify(clientFile)}\n`);
      const opts = variant === 'couic'
        ? `couic[couic_ban="${COUIC_BAN}", socket="${daemon.socketPath}", client_file="${clientFile}"]`
        : `couic.py[socket="${daemon.socketPath}", client_file="${clientFile}"]`;
      f = new F2b({
        netns: pair.receiver.ns,
        jails: {
          j1: { action: opts, bantime: '600' },
          // its own (silent) log: j2 bans only through banip
          j2: { action: opts, bantime: '1200', log: 'j2.log' },
        },
      });
      await f.start();
    });

    after(async () => {
      if (f) {
        const errs = f.errors();
        await f.dispose();
        if (errs.length > 0) console.error(errs.join('\n'));
      }
      await daemon?.stop();
      await pair?.teardown();
    });

    it('a failed-login line bans the address: listed with tag fail2ban-j1 and the ban end as expiration; its packets are dropped', async () => {
      const bad = pair.extraV4[0]!;
      const good = pair.extraV4[1]!;
      assert.ok(await passes(bad), 'reachable before the ban');
      const t0 = Math.floor(Date.now() / 1000);
      f.appendAuth([`Failed password for root from ${bad} port 22 ssh2`]);
      const e = await waitFor(() => entry(`${bad}/32`), 15000, 200);
      assert.ok(e, `${bad} banned; fail2ban log:\n${f.log()}`);
      assert.deepEqual(await f.banned('j1'), [bad]);
      assert.equal(e.tag, 'fail2ban-j1');
      assert.ok(e.expiration >= t0 + 599 && e.expiration <= Math.floor(Date.now() / 1000) + 601, `expiration ${e.expiration} ~ ban time + 600 (t0 ${t0})`);
      const table = await dropTable();
      assert.match(table, new RegExp(`│ drop +┆ ${bad.replace(/\./g, '\\.')}/32 +┆ fail2ban-j1 +┆ (9m|10m)\\d+s +│`), table);
      assert.equal(await passes(bad), false, 'ping from the banned source is dropped');
      assert.equal(await passes(good), true, 'another source passes');
      const rx = await udpReceiver(pair.receiver.ns, pair.receiver.v4, 9999);
      await udpSend(pair.sender.ns, bad, pair.receiver.v4, 9999, 20);
      await udpSend(pair.sender.ns, good, pair.receiver.v4, 9999, 20);
      const counts = await rx.stop();
      assert.equal(counts[bad] ?? 0, 0, 'no UDP from the banned source');
      assert.equal(counts[good], 20, 'UDP from the other source');
    });

    it('IPv6 and subnets through banip; unban lets packets through again', async () => {
      const bad6 = pair.extraV6[0]!;
      const good6 = pair.extraV6[1]!;
      const out = await f.client(['set', 'j1', 'banip', bad6, '203.0.113.0/24', '2001:db8:77::/48']);
      assert.equal(out.stdout.trim(), '3');
      await waitFor(async () => (await claims('fail2ban-j1')).length === 4, 10000);
      const mine = (await claims('fail2ban-j1')).map((c) => c.cidr).sort();
      assert.deepEqual(mine, [`${pair.extraV4[0]}/32`, '2001:db8:77::/48', '203.0.113.0/24', `${bad6}/128`].sort());
      const e6 = await entry(`${bad6}/128`);
      assert.equal(e6?.tag, 'fail2ban-j1');
      assert.equal(await passes(bad6), false, 'IPv6 ping from the banned source is dropped');
      assert.equal(await passes(good6), true, 'another IPv6 source passes');
      // unban (one of each family)
      const bad = pair.extraV4[0]!;
      assert.equal((await f.client(['set', 'j1', 'unbanip', bad, bad6])).stdout.trim(), '2');
      assert.ok(await waitFor(async () => (await entry(`${bad}/32`)) === undefined && (await entry(`${bad6}/128`)) === undefined, 10000), 'entries gone');
      assert.equal(await passes(bad), true, 'IPv4 source passes after unban');
      assert.equal(await passes(bad6), true, 'IPv6 source passes after unban');
      // unbanning again (absent) is harmless; so is banning twice
      assert.equal((await f.client(['set', 'j1', 'unbanip', '203.0.113.0/24', '2001:db8:77::/48'])).stdout.trim(), '2');
      assert.ok(await waitFor(async () => (await claims('fail2ban-j1')).length === 0, 10000), 'all of j1 unbanned');
      const again = await daemon.request('DELETE', '/v1/bans/fail2ban-j1/203.0.113.0/24');
      assert.equal(again.status, 204, 'unbanning an absent address succeeds');
    });

    it('two jails banning one address: dropped until both have unbanned it', async () => {
      const a = pair.extraV4[2]!;
      await f.client(['set', 'j1', 'banip', a]);
      await f.client(['set', 'j2', 'banip', a]);
      await waitFor(async () => (await claims('fail2ban-j2')).some((c) => c.cidr === `${a}/32`), 10000);
      const e = await entry(`${a}/32`);
      assert.equal(e?.tag, 'fail2ban-j1', 'tag of the oldest claim');
      assert.equal(await passes(a), false);
      await f.client(['set', 'j1', 'unbanip', a]);
      await waitFor(async () => !(await claims('fail2ban-j1')).some((c) => c.cidr === `${a}/32`), 10000);
      const e2 = await entry(`${a}/32`);
      assert.equal(e2?.tag, 'fail2ban-j2', 'still dropped, now held by j2');
      assert.equal(await passes(a), false, 'still dropped after one unban');
      await f.client(['set', 'j2', 'unbanip', a]);
      assert.ok(await waitFor(async () => (await entry(`${a}/32`)) === undefined, 10000));
      assert.equal(await passes(a), true, 'passes after both unbans');
    });

    it('stop flushes, start restores the same bans and expirations, with no ERROR in the log', async () => {
      const v4 = pair.extraV4[3]!;
      const v6 = pair.extraV6[2]!;
      await f.client(['set', 'j1', 'banip', v4, v6]);
      await f.client(['set', 'j2', 'banip', '198.51.100.0/24']);
      const want = async (): Promise<boolean> => (await claims('fail2ban-j1')).length === 2 && (await claims('fail2ban-j2')).length === 1;
      assert.ok(await waitFor(want, 10000), JSON.stringify(await drops()));
      const beforeStop = new Map((await drops()).map((e) => [e.cidr, e]));
      await f.stop();
      assert.deepEqual(await claims('fail2ban-j1'), [], 'flushed at stop');
      assert.deepEqual(await claims('fail2ban-j2'), []);
      assert.equal(await passes(v4), true, 'not dropped while fail2ban is stopped');
      await f.start();
      assert.ok(await waitFor(want, 20000), `restored: ${JSON.stringify(await drops())}\n${f.log()}`);
      for (const cidr of [`${v4}/32`, `${v6}/128`, '198.51.100.0/24']) {
        const e = await entry(cidr);
        assert.ok(e, cidr);
        assert.equal(e.tag, beforeStop.get(cidr)?.tag, `${cidr} tag`);
        assert.equal(e.expiration, beforeStop.get(cidr)?.expiration, `${cidr}: the restored ban keeps its end`);
      }
      assert.equal(await passes(v4), false, 'dropped again after the restore');
      assert.match(f.log(), /Restore Ban/);
      assert.deepEqual(f.errors(), [], 'no ERROR lines');
    });

    it('a dead daemon is reported in fail2ban\'s log', async () => {
      await daemon.kill('SIGKILL');
      const t0 = Date.now();
      await f.client(['set', 'j1', 'banip', '192.0.2.200'], { timeoutMs: 60000 });
      assert.ok(Date.now() - t0 < 25000, 'banip returns within the action timeouts');
      const err = await waitFor(() => f.errors().find((l) => /cannot connect|connection|no answer/.test(l)), 15000);
      assert.ok(err, f.log());
      // fail2ban itself still answers
      assert.match((await f.client(['ping'])).stdout, /pong/);
    });
  });
}

