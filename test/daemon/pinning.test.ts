/**
 * src/daemon/pinning.ts: what start does with `[dataplane] pin_dir` — the
 * default degrades to no pinning with a warning saying why, another dir that
 * cannot hold pins is a startup error naming the key, "" is off (a warning).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { keyDef } from '../../src/daemon/config-keys.js';
import { pinUnavailable, resolvePinDir } from '../../src/daemon/pinning.js';
import { silentLogger } from '../../src/log.js';

function spyLogger(): { log: ReturnType<typeof silentLogger>; lines: string[] } {
  const lines: string[] = [];
  const base = silentLogger();
  const log = Object.assign(Object.create(base) as typeof base, {
    warn: (_o: unknown, msg: string) => lines.push(`warn ${msg}`),
    info: (_o: unknown, msg: string) => lines.push(`info ${msg}`),
  });
  return { log, lines };
}

const dir = mkdtempSync(join(tmpdir(), 'couic-pin-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('pin dir at start', () => {
  it('the default is /sys/fs/bpf/couic', () => {
    assert.equal(keyDef('dataplane.pin_dir', 'string').default, '/sys/fs/bpf/couic');
  });

  it('a directory that is not on a bpffs cannot hold pins, and says why', async () => {
    assert.match((await pinUnavailable(join(dir, 'couic'))) ?? '', /is not on a bpffs/);
  });

  it('another unusable pin dir is a startup error naming the key', async () => {
    const { log } = spyLogger();
    await assert.rejects(resolvePinDir(join(dir, 'pins'), log), /dataplane\.pin_dir = ".*pins": cannot pin there: .* is not on a bpffs/);
  });

  it('"" is off, with a warning saying what that means', async () => {
    const { log, lines } = spyLogger();
    assert.equal(await resolvePinDir('', log), undefined);
    assert.match(lines.join('\n'), /warn pinning is off .*traffic passes/);
  });

  it('where /sys/fs/bpf is a bpffs this process may write, the default is used', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async (t) => {
    const why = await pinUnavailable('/sys/fs/bpf/couic');
    if (why !== undefined) {
      t.skip(`no writable bpffs here: ${why}`);
      return;
    }
    const { log, lines } = spyLogger();
    assert.equal(await resolvePinDir('/sys/fs/bpf/couic', log), '/sys/fs/bpf/couic');
    assert.match(lines.join('\n'), /info pinning maps and links/);
  });
});
