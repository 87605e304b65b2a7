/**
 * Issue 17 point 9: the process that parses requests holds no privilege.
 * A real daemon started through couic-launcher with `user`/`group` set to a
 * throwaway user: /proc/PID/status of the Node process (the user's uid and
 * gid, no capability at all) and of the helper (CAP_BPF, CAP_NET_ADMIN,
 * CAP_PERFMON and nothing else); kill -9 of the helper: the supervisor
 * restarts it through the launcher and a ban still reaches the kernel
 * maps; SIGTERM stops all three. Both ways of starting the launcher: as
 * root (the image, start.sh) and as the user with ambient capabilities (the
 * systemd unit).
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LAUNCHER, startDaemon, type Daemon } from '../lib/daemon.js';
import { kernelMaps, kernelSkip, startPinnedDaemon } from '../lib/kernel.js';
import { alive, childPids, createTestUser, procName, procStatus, usersSkip, type TestUser } from '../lib/users.js';
import { waitFor } from '../lib/wait.js';

const CAP_NET_ADMIN = 12;
const CAP_PERFMON = 38;
const CAP_BPF = 39;
const HELPER_CAPS = (1n << BigInt(CAP_NET_ADMIN)) | (1n << BigInt(CAP_PERFMON)) | (1n << BigInt(CAP_BPF));

const skip = kernelSkip || usersSkip || (existsSync(LAUNCHER) ? false : 'needs the built couic-launcher');

/** The launcher's children: the Node daemon and the helper(s). */
function children(launcherPid: number): { node: number | undefined; helpers: number[] } {
  const kids = childPids(launcherPid);
  return {
    node: kids.find((p) => procName(p) === 'node'),
    helpers: kids.filter((p) => procName(p) === 'couic-helper' && alive(p)),
  };
}

/** Every thread of `pid` (setuid(2) is per thread; glibc applies it to all). */
function assertUnprivileged(pid: number, u: TestUser): void {
  const tasks = readdirSync(`/proc/${pid}/task`).map(Number);
  assert.ok(tasks.length > 1, 'Node runs several threads');
  for (const t of tasks) assertThreadUnprivileged(t, u);
}

function assertThreadUnprivileged(pid: number, u: TestUser): void {
  const st = procStatus(pid);
  assert.deepEqual(st.uid, [u.uid, u.uid, u.uid, u.uid], 'Uid: real, effective, saved and fs are the user');
  assert.deepEqual(st.gid, [u.gid, u.gid, u.gid, u.gid], 'Gid: the group');
  assert.ok(st.groups.every((g) => g === u.gid), `no supplementary group beyond \`group\` (Groups: ${st.groups.join(' ')})`);
  assert.equal(st.capEff, 0n, 'CapEff 0');
  assert.equal(st.capPrm, 0n, 'CapPrm 0');
  assert.equal(st.capAmb, 0n, 'CapAmb 0');
  assert.equal(st.capInh, 0n, 'CapInh 0');
}

function assertHelperCaps(pid: number): void {
  const st = procStatus(pid);
  assert.equal(st.capEff & HELPER_CAPS, HELPER_CAPS, `the helper holds CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON (CapEff ${st.capEff.toString(16)})`);
}

async function ban(d: Daemon, cidr: string): Promise<void> {
  const r = await d.request('POST', '/v1/bans/fail2ban-sshd', { body: { cidr, expiration: 0 } });
  assert.ok(r.status >= 200 && r.status < 300, `ban ${cidr}: ${r.status} ${r.text}`);
}

describe('launcher started as root, user/group in couic.toml (the image, start.sh)', { skip }, () => {
  let u: TestUser;
  let daemon: Awaited<ReturnType<typeof startPinnedDaemon>>;
  before(async () => {
    u = createTestUser('cpriv');
    daemon = await startPinnedDaemon({ launcher: true, owner: { user: u.name, group: u.name } });
  });
  after(async () => {
    await daemon?.stop();
    u?.remove();
  });

  test('Node runs as the user with no capability; only the helper holds CAP_BPF/NET_ADMIN/PERFMON', async () => {
    const { node, helpers } = children(daemon.d.pid);
    assert.ok(node !== undefined, 'the launcher runs the Node daemon');
    assertUnprivileged(node, u);
    assert.equal(helpers.length, 1, 'one helper');
    assertHelperCaps(helpers[0]!);
    assert.equal(procStatus(helpers[0]!).capBnd, HELPER_CAPS, 'the helper\'s bounding set is those three only');
    // The log is buffered (src/log.ts): awaited, not read at once.
    await daemon.d.waitForOutput(/running without privilege/u);
  });

  test('files the daemon made are the user\'s; the socket is 0770 user:group', async () => {
    const { statSync } = await import('node:fs');
    const st = statSync(daemon.d.socketPath);
    assert.equal(st.mode & 0o777, 0o770);
    assert.equal(st.uid, u.uid);
    assert.equal(st.gid, u.gid);
    for (const f of ['journal', 'rbac/clients/couicctl.toml']) {
      const fs = statSync(`${daemon.d.workingDir}/${f}`);
      assert.equal(fs.uid, u.uid, `${f} owned by the user`);
    }
  });

  test('kill -9 of the helper: restarted through the launcher, a ban reaches the kernel', async () => {
    await ban(daemon.d, '198.51.100.1/32');
    const before = children(daemon.d.pid);
    const old = before.helpers[0]!;
    process.kill(old, 'SIGKILL');
    const restarted = await waitFor(() => {
      const h = children(daemon.d.pid).helpers.filter((p) => p !== old);
      return h.length === 1 ? h[0] : undefined;
    }, 15_000);
    assert.ok(restarted !== undefined, 'a new helper runs under the launcher');
    assertHelperCaps(restarted);
    await ban(daemon.d, '198.51.100.2/32');
    const kernel = kernelMaps(daemon.pinDir);
    assert.ok(kernel.has('drop|198.51.100.1/32'), 'the ban before the kill was resynced');
    assert.ok(kernel.has('drop|198.51.100.2/32'), 'the ban after the restart reached the kernel');
    const after = children(daemon.d.pid);
    assert.equal(after.node, before.node, 'the daemon itself did not restart');
    assertUnprivileged(after.node!, u);
  });

  test('SIGTERM stops the launcher, the daemon and the helper', async () => {
    const { node, helpers } = children(daemon.d.pid);
    const exit = await daemon.d.kill('SIGTERM');
    assert.deepEqual(exit, { code: 0, signal: null }, 'the launcher exits with the daemon\'s status 0');
    assert.equal(alive(node!), false, 'the daemon is gone');
    assert.equal(helpers.filter(alive).length, 0, 'the helper is gone');
  });
});

describe('launcher started as the user with ambient capabilities (the systemd unit)', { skip }, () => {
  let u: TestUser;
  let d: Daemon;
  before(async () => {
    u = createTestUser('cpriva');
    d = await startDaemon({
      launcher: true,
      owner: { user: u.name, group: u.name },
      ownDirs: true,
      wrapper: [
        'setpriv', `--reuid=${u.uid}`, `--regid=${u.gid}`, '--clear-groups',
        '--inh-caps=+bpf,+net_admin,+perfmon', '--ambient-caps=+bpf,+net_admin,+perfmon',
      ],
    });
  });
  after(async () => {
    await d?.stop();
    u?.remove();
  });

  test('the launcher clears the daemon\'s capabilities; the helper keeps them', () => {
    const launcher = procStatus(d.pid);
    assert.equal(launcher.uid[0], u.uid, 'the launcher itself runs as the user');
    const { node, helpers } = children(d.pid);
    assert.ok(node !== undefined);
    assertUnprivileged(node, u);
    assert.equal(helpers.length, 1);
    assertHelperCaps(helpers[0]!);
  });

  test('kill -9 of the helper: restarted, bans still answered 2xx', async () => {
    const old = children(d.pid).helpers[0]!;
    process.kill(old, 'SIGKILL');
    const restarted = await waitFor(() => children(d.pid).helpers.find((p) => p !== old), 15_000);
    assert.ok(restarted !== undefined, 'a new helper runs under the launcher');
    assertHelperCaps(restarted);
    await ban(d, '198.51.100.3/32');
    const r = await d.request('GET', '/v1/drop/198.51.100.3/32');
    assert.equal(r.status, 200);
  });
});

describe('a working dir a root daemon left behind', { skip }, () => {
  test('is handed to the user before the drop: the daemon starts and keeps its entries and clients', async () => {
    const u = createTestUser('cprivw');
    const work = mkdtempSync(join(tmpdir(), 'couic-handover-'));
    chmodSync(work, 0o755);
    try {
      const asRoot = await startDaemon({ workingDir: work });
      const r = await asRoot.request('POST', '/v1/drop', { body: { cidr: '203.0.113.5/32', expiration: 0 } });
      assert.equal(r.status, 201, r.text);
      const c = await asRoot.request('POST', '/v1/client', { body: { name: 'left-by-root', group: 'clientro' } });
      assert.equal(c.status, 201, c.text);
      await asRoot.stop();
      assert.equal(statSync(join(work, 'rbac', 'clients', 'left-by-root.toml')).uid, 0, 'root\'s file before');

      const d = await startDaemon({ workingDir: work, launcher: true, owner: { user: u.name, group: u.name } });
      try {
        assertUnprivileged(children(d.pid).node!, u);
        assert.equal((await d.request('GET', '/v1/drop/203.0.113.5/32')).status, 200, 'the journal was replayed');
        const token = (c.json() as { token: string }).token;
        assert.equal((await d.request('GET', '/v1/drop', { token })).status, 200, 'the client file was read');
        for (const f of ['journal', 'rbac/clients/left-by-root.toml', 'rbac/clients/couicctl.toml']) {
          assert.equal(statSync(join(work, f)).uid, u.uid, `${f} is the user's`);
        }
        for (const f of readdirSync(join(work, 'journal'))) assert.equal(statSync(join(work, 'journal', f)).uid, u.uid, `journal/${f}`);
      } finally {
        await d.stop();
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
      u.remove();
    }
  });
});

describe('kill -9 of the daemon under the launcher', { skip }, () => {
  test('the helper sees EOF and exits, the launcher exits 137 (a service manager restarts it)', async () => {
    const u = createTestUser('cprivk');
    const d = await startDaemon({ launcher: true, owner: { user: u.name, group: u.name } });
    try {
      const { node, helpers } = children(d.pid);
      process.kill(node!, 'SIGKILL');
      const exit = await d.kill('SIGCONT');
      assert.deepEqual(exit, { code: 137, signal: null });
      assert.equal(helpers.filter(alive).length, 0, 'the helper is gone');
    } finally {
      await d.stop();
      u.remove();
    }
  });
});

describe('couic.toml\'s user differs from the user the launcher runs the daemon as', { skip }, () => {
  test('startup fails, naming user and group', async () => {
    const u = createTestUser('cprivb');
    const other = createTestUser('cprivc');
    // A log dir either user may write: the check under test comes after the logger's start.
    const logDir = mkdtempSync(join(tmpdir(), 'couic-privlog-'));
    chmodSync(logDir, 0o1777);
    try {
      await assert.rejects(
        startDaemon({
          launcher: true,
          owner: { user: other.name, group: other.name },
          ownDirs: true,
          logDir,
          startTimeoutMs: 10_000,
          wrapper: [
            'setpriv', `--reuid=${u.uid}`, `--regid=${u.gid}`, '--clear-groups',
            '--inh-caps=+bpf,+net_admin,+perfmon', '--ambient-caps=+bpf,+net_admin,+perfmon',
          ],
        }),
        (err: Error) => /user = "cprivc[^"]*" and group = "cprivc[^"]*" in couic.toml, but couic-launcher runs the daemon as uid/.test(err.message),
      );
    } finally {
      u.remove();
      other.remove();
      rmSync(logDir, { recursive: true, force: true });
    }
  });
});
