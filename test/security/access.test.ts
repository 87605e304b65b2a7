/**
 * Issue 17 "Access": who may reach a daemon that runs without privilege
 * (couic-launcher as root, user/group in couic.toml set to a throwaway
 * user). The socket is 0770 user:group; a user outside the group cannot
 * connect, a member can; every group of the RBAC matrix (test/lib/rbac.ts)
 * is refused what the matrix denies; no token (valid or not) reaches the
 * daemon's log.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { LAUNCHER, startDaemon, type Daemon } from '../lib/daemon.js';
import { kernelSkip } from '../lib/kernel.js';
import { RBAC_GROUPS, RBAC_ROUTES } from '../lib/rbac.js';
import { createTestUser, usersSkip, type TestUser } from '../lib/users.js';

const skip = kernelSkip || usersSkip || (existsSync(LAUNCHER) ? false : 'needs the built couic-launcher');

/** What `user` gets connecting to `socketPath` and asking GET /v1/drop without a token. */
function connectAs(user: string, socketPath: string): string {
  const script = `
    const net = require('node:net');
    const s = net.connect(${JSON.stringify(socketPath)});
    s.on('error', (e) => { console.log('error ' + e.code); process.exit(0); });
    s.on('connect', () => s.end('GET /v1/drop HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n'));
    let out = '';
    s.on('data', (d) => (out += d));
    s.on('end', () => { console.log('answer ' + out.split('\\r\\n')[0]); process.exit(0); });
  `;
  const r = spawnSync('runuser', ['-u', user, '--', process.execPath, '-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, `runuser: ${r.stderr}`);
  return r.stdout.trim();
}

describe('access to a daemon without privilege', { skip }, () => {
  let owner: TestUser;
  let member: TestUser;
  let outsider: TestUser;
  let d: Daemon;
  const tokens: Record<string, string> = {};
  const badToken = randomBytes(24).toString('hex');

  before(async () => {
    owner = createTestUser('cacc');
    member = createTestUser('caccm', { groups: [owner.name] });
    outsider = createTestUser('cacco');
    d = await startDaemon({ launcher: true, owner: { user: owner.name, group: owner.name } });
    tokens['admin'] = d.token;
    for (const g of RBAC_GROUPS) {
      if (g === 'admin') continue;
      const r = await d.request('POST', '/v1/client', { body: { name: `acc-${g}`, group: g } });
      assert.equal(r.status, 201, r.text);
      tokens[g] = (r.json() as { token: string }).token;
    }
  });
  after(async () => {
    await d?.stop();
    for (const u of [owner, member, outsider]) u?.remove();
  });

  test('the socket is 0770, owned by user:group', () => {
    const st = statSync(d.socketPath);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o770);
    assert.equal(st.uid, owner.uid);
    assert.equal(st.gid, owner.gid);
  });

  test('a user outside the group cannot connect; a member of the group can', () => {
    assert.equal(connectAs(outsider.name, d.socketPath), 'error EACCES');
    assert.equal(connectAs(member.name, d.socketPath), 'answer HTTP/1.1 401 Unauthorized');
  });

  test('every group is refused what the RBAC matrix denies (401), allowed the rest', async () => {
    for (const [method, path, body, allowed] of RBAC_ROUTES) {
      for (const g of RBAC_GROUPS) {
        const opts = body === undefined
          ? { token: tokens[g] as string }
          : { token: tokens[g] as string, body, headers: { 'content-type': 'application/json' } };
        const r = await d.request(method, path, opts);
        if (allowed.includes(g)) assert.notEqual(r.status, 401, `${g} allowed on ${method} ${path}: ${r.text}`);
        else assert.equal(r.status, 401, `${g} denied on ${method} ${path}`);
      }
    }
    const r = await d.request('GET', '/v1/drop', { token: badToken });
    assert.equal(r.status, 401, 'an unknown token is refused');
  });

  test('no token reaches the log', async () => {
    // Something that is logged for sure, after the requests above.
    const r = await d.request('POST', '/v1/drop', { body: { cidr: '192.0.2.99/32', expiration: 0 } });
    assert.equal(r.status, 201);
    await d.waitForOutput(/192\.0\.2\.99/u);
    const out = d.output();
    for (const [g, tok] of Object.entries(tokens)) assert.equal(out.includes(tok), false, `the ${g} token is not in the log`);
    assert.equal(out.includes(badToken), false, 'the refused token is not in the log');
  });
});
