/**
 * couic-launcher validates every control message (src/helper/launcher.c):
 * driven by a stand-in daemon (test/fixtures/launcher-peer.ts) that speaks
 * the channel raw. SPAWN before CONFIG, a flag outside the fixed list, a
 * relative or group-writable helper and a second CONFIG are refused; a SPAWN
 * connects twice with the nonce and execs the helper on those connections
 * (here a script that prints its arguments on stderr, then cat: what is
 * written comes back) with its bounding set cut
 * to CAP_BPF/CAP_NET_ADMIN/CAP_PERFMON; KILL sends only the listed signals;
 * a malformed header closes the channel; the launcher exits with the
 * daemon's status.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LAUNCHER } from '../lib/daemon.js';

const PEER = fileURLToPath(new URL('../fixtures/launcher-peer.js', import.meta.url));
const skip = process.getuid?.() !== 0 ? 'needs root' : existsSync(LAUNCHER) ? false : 'needs the built couic-launcher';

describe('couic-launcher control channel', { skip }, () => {
  test('refuses what is not on its list; spawns, kills, and closes on garbage', () => {
    const dir = mkdtempSync(join(tmpdir(), 'couic-launcher-'));
    try {
      const gw = join(dir, 'helper-gw');
      copyFileSync('/usr/bin/true', gw);
      chmodSync(gw, 0o775);
      const echo = join(dir, 'echo-helper');
      writeFileSync(echo, '#!/bin/sh\necho "$@" >&2\nexec cat\n', { mode: 0o755 });
      const r = spawnSync(LAUNCHER, ['--', process.execPath, PEER, dir, gw, echo], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 0, `launcher exit ${r.status}:\n${r.stdout}\n${r.stderr}`);
      const steps = new Map(r.stdout.trim().split('\n').map((l) => {
        const j = JSON.parse(l) as { step: string; seen: any };
        return [j.step, j.seen] as const;
      }));
      const SPAWN_FAILED = 0x84;
      const CONFIG_FAILED = 0x82;
      assert.deepEqual(steps.get('spawn before config'), { type: SPAWN_FAILED, text: 'SPAWN before CONFIG: Invalid argument' });
      assert.deepEqual(steps.get('unknown flag'), { type: CONFIG_FAILED, text: 'a helper argument is not one of the accepted flags' });
      assert.deepEqual(steps.get('relative helper'), { type: CONFIG_FAILED, text: 'the helper path is not absolute' });
      assert.deepEqual(steps.get('group-writable helper'), { type: CONFIG_FAILED, text: 'the helper binary is writable by its group or others' });
      assert.deepEqual(steps.get('valid config'), { type: 0x81, text: '' });
      assert.deepEqual(steps.get('second config'), { type: CONFIG_FAILED, text: 'already configured' });
      const spawn = steps.get('spawn');
      assert.equal(spawn.type, 0x83, 'SPAWNED');
      assert.deepEqual(spawn.nonces, [true, true], 'both connections start with the nonce');
      assert.deepEqual(spawn.kinds, [0, 1], 'one stdin/stdout, one stderr');
      assert.equal(spawn.echoed, 'ping\n', 'the helper runs on the connection');
      assert.equal(spawn.args, '--iface lo --lpm-only\n', 'the configured arguments, nothing else; stderr on its own connection');
      assert.equal(spawn.capBnd, '000000c000001000', 'bounding set: CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN');
      assert.deepEqual(steps.get('kill'), { type: 0x85, id: 1, pid: true, signal: 9 }, 'SIGHUP was ignored, SIGKILL delivered, EXITED reported');
      assert.equal(steps.get('bad magic'), 'closed', 'a malformed header closes the channel');
      assert.match(r.stderr, /malformed control message/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('usage without --', () => {
    const r = spawnSync(LAUNCHER, ['node'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /usage: couic-launcher -- COMMAND/);
  });
});
