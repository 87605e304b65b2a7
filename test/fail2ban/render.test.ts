/**
 * action.d/couic.conf as fail2ban renders and runs it (fail2ban mechanics
 * only; the end-to-end tests against the real daemon are in e2e.test.ts):
 *  - `fail2ban-client -c <dir> -d` for an IPv4 and an IPv6 jail: the exact
 *    command lines;
 *  - a private fail2ban-server running the action with `couic_ban` pointed
 *    at an argv recorder: the exact argv per ban (IPv4, IPv6, subnet,
 *    shell-special junk passed safely), unban, flush at stop;
 *  - the real couic-ban under fail2ban against a transport stub: a junk
 *    `<ip>` never becomes a request, and the jail files parse.
 */
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../lib/wait.js';
import {
  buildCouicBan,
  COUIC_BAN,
  F2b,
  fail2banMissing,
  JAIL_DIR,
  startStub,
  tmpDir,
  writeClientFile,
} from './lib.js';

const skip = fail2banMissing();

const BAN = (couicBan: string, sock: string, client: string, owner: string): Record<string, string> => {
  const pre = `exec "${couicBan}" -s "${sock}" -k "${client}" -t "5000"`;
  return {
    actionstart: '',
    actionstop: '',
    actioncheck: `${pre} check "${owner}"`,
    actionban: `${pre} -b "<time>" ban "${owner}" "<ip>" "<bantime>"`,
    actionprolong: `${pre} -b "<time>" prolong "${owner}" "<ip>" "<bantime>"`,
    actionunban: `${pre} unban "${owner}" "<ip>"`,
    actionflush: `${pre} flush "${owner}"`,
  };
};

/** The `multi-set <jail> action <act> [[k, v], …]` line of a -d dump, as a map. */
function actionProps(dump: string, jail: string, act: string): Record<string, string> {
  const line = dump.split('\n').find((l) => l.startsWith(`['multi-set', '${jail}', 'action', '${act}', `));
  assert.ok(line, `multi-set line for ${jail}/${act} in:\n${dump}`);
  const inner = line.slice(`['multi-set', '${jail}', 'action', '${act}', `.length, -1);
  // python repr of a list of 2-lists of str: convert to JSON
  const json = inner.replace(/'((?:[^'\\]|\\.)*)'/g, (_m, s: string) => JSON.stringify(s.replace(/\\'/g, "'")));
  return Object.fromEntries(JSON.parse(json) as [string, string][]);
}

describe('couic.conf rendered by fail2ban', { skip }, () => {
  before(() => buildCouicBan());

  it('fail2ban-client -d: exact command lines for an IPv4 and an IPv6 jail', async () => {
    const f = new F2b({
      jails: {
        web4: { action: 'couic[socket="/tmp/fb x/couic.sock", client_file="/tmp/fb/c.toml", couic_ban="/opt/couic-ban"]' },
        ssh6: { action: 'couic' },
      },
    });
    try {
      const r = await f.dump();
      const web4 = actionProps(r.stdout, 'web4', 'couic');
      const ssh6 = actionProps(r.stdout, 'ssh6', 'couic');
      for (const [k, v] of Object.entries(BAN('/opt/couic-ban', '/tmp/fb x/couic.sock', '/tmp/fb/c.toml', 'fail2ban-web4'))) {
        assert.equal(web4[k], v, `web4 ${k}`);
      }
      for (const [k, v] of Object.entries(BAN('/usr/bin/couic-ban', '/run/couic/couic.sock', '/var/lib/couic/rbac/clients/couicctl.toml', 'fail2ban-ssh6'))) {
        assert.equal(ssh6[k], v, `ssh6 ${k}`);
      }
      assert.equal(ssh6['timeout'], '10', "fail2ban's own command timeout above couic-ban's");
      assert.equal(ssh6['timeout_ms'], '5000');
      // no family-conditional section: one command serves both families (no lazy start)
      assert.ok(!Object.keys(ssh6).some((k) => k.includes('?family')), 'no conditional keys');
      assert.equal(r.stderr.includes('ERROR'), false, r.stderr);
    } finally {
      await f.dispose();
    }
  });

  it('jail.d/couic.local selects couic for every jail', async () => {
    const text = readFileSync(path.join(JAIL_DIR, 'couic.local'), 'utf8');
    assert.match(text, /^\[DEFAULT\]\nbanaction = couic\nbanaction_allports = couic$/m);
    assert.match(text, /^\[sshd\]\nenabled = true$/m);
    assert.match(text, /couic\.py/);
  });

  describe('a private fail2ban-server running the action', () => {
    let dir: string;
    let rec: string;
    let f: F2b;

    before(async () => {
      dir = tmpDir('fb-rec-');
      rec = path.join(dir, 'argv.txt');
      const recorder = path.join(dir, 'record.sh');
      // one line per call: the arguments separated by '|'
      writeFileSync(recorder, `#!/bin/sh\n(IFS='|'; printf '%s\\n' "$*") >> '${rec}'\n`);
      chmodSync(recorder, 0o755);
      writeFileSync(rec, '');
      f = new F2b({
        jails: {
          rec4: { action: `couic[couic_ban="${recorder}", socket="/s.sock", client_file="/c.toml"]`, bantime: '600' },
          rec6: { action: `couic[couic_ban="${recorder}", socket="/s.sock", client_file="/c.toml"]`, bantime: '-1' },
        },
      });
      await f.start();
    });
    after(async () => {
      await f?.dispose();
      rmSync(dir, { recursive: true, force: true });
    });

    it('passes each ban as argv: IPv4, IPv6 (normalised by fail2ban), subnets, junk as one literal word', async () => {
      const t0 = Date.now() / 1000;
      assert.equal((await f.client(['set', 'rec4', 'banip', '192.0.2.1', '198.51.100.0/24', 'a;b`touch fb-pwned`$(id)'])).stdout.trim(), '3');
      assert.equal((await f.client(['set', 'rec6', 'banip', '2001:DB8::0008', '2001:db8:1::/48'])).stdout.trim(), '2');
      const lines = readFileSync(rec, 'utf8').trim().split('\n');
      const pre = ['-s', '/s.sock', '-k', '/c.toml', '-t', '5000', '-b'];
      const parsed = lines.map((l) => l.split('|'));
      const expect: [string, string, string][] = [
        ['fail2ban-rec4', '192.0.2.1', '600'],
        ['fail2ban-rec4', '198.51.100.0/24', '600'],
        ['fail2ban-rec4', 'a;b`touch fb-pwned`$(id)', '600'],
        ['fail2ban-rec6', '2001:db8::8', '-1'],
        ['fail2ban-rec6', '2001:db8:1::/48', '-1'],
      ];
      assert.equal(parsed.length, expect.length, lines.join('\n'));
      for (const [i, [owner, ip, bantime]] of expect.entries()) {
        const a = parsed[i]!;
        assert.deepEqual(a.slice(0, 7), pre, lines[i]);
        const time = Number(a[7]);
        assert.ok(time >= t0 - 1 && time <= Date.now() / 1000 + 1, `<time> ${a[7]}`);
        assert.deepEqual(a.slice(8), ['ban', owner, ip, bantime], lines[i]);
      }
      assert.equal((await import('node:fs')).existsSync('fb-pwned'), false, 'no shell injection');
    });

    it('unban, then flush at stop (no per-IP unban)', async () => {
      writeFileSync(rec, '');
      assert.equal((await f.client(['set', 'rec4', 'unbanip', '192.0.2.1'])).stdout.trim(), '1');
      assert.deepEqual(readFileSync(rec, 'utf8').trim().split('\n'), ['-s|/s.sock|-k|/c.toml|-t|5000|unban|fail2ban-rec4|192.0.2.1']);
      writeFileSync(rec, '');
      await f.stop();
      const lines = readFileSync(rec, 'utf8').trim().split('\n').sort();
      assert.deepEqual(lines, ['-s|/s.sock|-k|/c.toml|-t|5000|flush|fail2ban-rec4', '-s|/s.sock|-k|/c.toml|-t|5000|flush|fail2ban-rec6']);
      assert.deepEqual(f.errors(), []);
    });
  });

  describe('the real couic-ban under fail2ban, against a transport stub', () => {
    let dir: string;
    let f: F2b;
    let stub: Awaited<ReturnType<typeof startStub>>;

    before(async () => {
      dir = tmpDir('fb-stub-');
      const client = writeClientFile(dir, '0b4c8f9e-2d3a-4f5b-8c6d-7e8f9a0b1c2d');
      stub = await startStub(path.join(dir, 'stub.sock'), (req) => (req.method === 'POST' ? { status: 200, body: '{"applied":1}' } : req.method === 'GET' ? { status: 200, body: '[]' } : { status: 204 }));
      f = new F2b({ jails: { stubj: { action: `couic[couic_ban="${COUIC_BAN}", socket="${stub.socketPath}", client_file="${client}"]` } } });
      await f.start();
    });
    after(async () => {
      await f?.dispose();
      await stub?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('a junk <ip> (family None) is refused by couic-ban: no POST, fail2ban logs the error', async () => {
      stub.requests.length = 0;
      const t0 = Date.now();
      await f.client(['set', 'stubj', 'banip', 'some.host.example']);
      assert.ok(Date.now() - t0 < 5000, 'no hang');
      const err = await waitFor(() => f.errors().find((l) => l.includes('invalid IP address')), 5000);
      assert.ok(err, f.log());
      assert.deepEqual(stub.requests.filter((r) => r.method !== 'GET'), [], 'only actioncheck requests reached the socket');
      // a real address goes through
      await f.client(['set', 'stubj', 'banip', '192.0.2.55']);
      assert.deepEqual(stub.requests.filter((r) => r.method === 'POST').map((r) => (JSON.parse(r.body) as { cidr: string }).cidr), ['192.0.2.55/32']);
    });
  });
});
