/**
 * Client files across daemon restarts and at startup (spec §4), and the
 * socket the daemon serves (§8.2 step 8). Real daemon only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { daemonBuilt, startDaemon } from '../lib/daemon.js';

const skip = daemonBuilt() ? false : 'dist/src/daemon/main.js not built';

test('socket is 0770; clients persist across a restart; default token kept', { skip }, async () => {
  const d = await startDaemon();
  try {
    assert.equal(statSync(d.socketPath).mode & 0o777, 0o770);
    const admin = d.token;
    const r = await d.request('POST', '/v1/client', { body: { name: 'persist', group: 'clientro' } });
    assert.equal(r.status, 201);
    const tok = r.json().token as string;
    await d.restart();
    assert.equal(d.token, admin);
    assert.equal((await d.request('GET', '/v1/drop', { token: tok })).status, 200);
    const g = await d.request('GET', '/v1/client/persist');
    assert.deepEqual(g.json(), { name: 'persist', token: tok, group: 'clientro' });
    assert.equal((await d.request('DELETE', '/v1/client/persist')).status, 204);
    await d.restart();
    assert.equal((await d.request('GET', '/v1/drop', { token: tok })).status, 401);
  } finally {
    await d.stop();
  }
});

test('pre-existing client files are loaded at startup', { skip }, async () => {
  const wd = mkdtempSync(path.join(os.tmpdir(), 'couic-wd-'));
  try {
    // the daemon creates rbac/ and rbac/clients itself with 0755; pre-create them the same way
    for (const sub of ['rbac', 'rbac/clients']) {
      mkdirSync(path.join(wd, sub));
      chmodSync(path.join(wd, sub), 0o755);
    }
    const p = path.join(wd, 'rbac', 'clients', 'mon.toml');
    writeFileSync(p, 'token = "{11111111-2222-4333-8444-555555555555}"\ngroup = "monitoring"\n');
    chmodSync(p, 0o600);
    const d = await startDaemon({ workingDir: wd });
    try {
      const r = await d.request('GET', '/v1/client/mon');
      assert.deepEqual(r.json(), { name: 'mon', token: '11111111-2222-4333-8444-555555555555', group: 'monitoring' });
      assert.equal((await d.request('GET', '/v1/drop', { token: '11111111222243338444555555555555' })).status, 401);
    } finally {
      await d.stop();
    }
  } finally {
    rmSync(wd, { recursive: true, force: true });
  }
});

test('a client file with wrong permissions or a duplicate token aborts startup', { skip }, async () => {
  const cases: ReadonlyArray<readonly [Record<string, readonly [string, number]>, RegExp]> = [
    [{ 'bad.toml': ['token = "11111111-2222-4333-8444-555555555555"\ngroup = "admin"\n', 0o644] }, /RBAC client file .*bad\.toml has wrong permissions/],
    [
      {
        'a.toml': ['token = "11111111-2222-4333-8444-555555555555"\ngroup = "admin"\n', 0o600],
        'b.toml': ['token = "11111111-2222-4333-8444-555555555555"\ngroup = "peering"\n', 0o600],
      },
      /Duplicate client token found: .*b\.toml/,
    ],
  ];
  for (const [files, message] of cases) {
    const wd = mkdtempSync(path.join(os.tmpdir(), 'couic-wd-'));
    try {
      for (const sub of ['rbac', 'rbac/clients']) {
        mkdirSync(path.join(wd, sub));
        chmodSync(path.join(wd, sub), 0o755);
      }
      for (const [name, [text, mode]] of Object.entries(files)) {
        const p = path.join(wd, 'rbac', 'clients', name);
        writeFileSync(p, text);
        chmodSync(p, mode);
      }
      await assert.rejects(startDaemon({ workingDir: wd, startTimeoutMs: 10000 }), (err: Error) => {
        assert.match(err.message, /daemon exited during startup/);
        assert.match(err.message, message);
        return true;
      });
    } finally {
      rmSync(wd, { recursive: true, force: true });
    }
  }
});
