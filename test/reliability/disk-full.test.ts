/**
 * Disk full (issue 17): the daemon's working dir (and so its journal) on a
 * small tmpfs, filled up while clients create entries, run peer batches and
 * ban. What cannot be journaled answers 5xx, is not acknowledged and is in
 * neither the API nor the kernel (pinned maps, read with bpftool); what was
 * acknowledged stays; when space returns the same requests succeed; a kill -9
 * and restart then finds every acknowledged entry, nothing else, and a
 * journal with no damaged file. (test/core/faults.test.ts covers the same
 * path with a fake journal; this is the real file system.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { assertKernelMatchesApi, kernelSkip, startPinnedDaemon } from '../lib/kernel.js';

const SIZE = '6m';

describe('journal on a full disk', { skip: kernelSkip, timeout: 120_000 }, () => {
  let root = '';
  let mnt = '';
  let mounted = false;

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'couic-diskfull-'));
    mnt = join(root, 'work');
    mkdirSync(mnt);
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${SIZE},mode=0755`, 'tmpfs', mnt], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    mounted = true;
  });
  after(() => {
    if (mounted) spawnSync('umount', ['-l', mnt]);
    rmSync(root, { recursive: true, force: true });
  });

  it('5xx and no acknowledgment while full, nothing acknowledged lost or damaged, service back with space', async () => {
    const { d, pinDir, stop } = await startPinnedDaemon({ workingDir: mnt });
    try {
      const acked = new Set<string>();
      const refused = new Set<string>();
      let n = 0;
      const create = async (): Promise<number> => {
        const cidr = `10.33.${(n >> 8) & 255}.${n & 255}/32`;
        n += 1;
        const r = await d.request('POST', '/v1/drop', { body: { cidr, tag: 'df', expiration: 0 } });
        if (r.status === 201) acked.add(`drop|${cidr}`);
        else {
          assert.ok(r.status >= 500, `create while full: ${r.status} ${r.text}`);
          assert.equal(r.json().errors !== undefined || r.json().message !== undefined, true, `a Couic error body: ${r.text}`);
          refused.add(`drop|${cidr}`);
        }
        return r.status;
      };
      for (let i = 0; i < 50; i += 1) assert.equal(await create(), 201);

      // Fill the file system: 1 MiB, then 4 KiB writes until ENOSPC.
      const filler = join(mnt, 'filler');
      for (const chunk of [1 << 20, 4096, 512]) {
        for (;;) {
          try {
            appendFileSync(filler, Buffer.alloc(chunk));
          } catch (err) {
            assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
            break;
          }
        }
      }
      assert.equal(statfsSync(mnt).bavail, 0, 'the file system is full');

      // The wal's last page may still take a few frames; then every mutation fails.
      let first5xx = -1;
      for (let i = 0; i < 500 && first5xx < 0; i += 1) if ((await create()) >= 500) first5xx = i;
      assert.ok(first5xx >= 0, 'creates fail once the journal cannot grow');
      for (let i = 0; i < 20; i += 1) assert.ok((await create()) >= 500, 'every create fails while full');
      // A peer add without a tag is a smaller frame: it may still fit in that page; then it fails too.
      let peerFailed = false;
      for (let i = 0; i < 200 && !peerFailed; i += 1) {
        const cidr = `10.34.1.${i}/32`;
        const r = await d.request('POST', '/v1/drop/peer', { body: [{ action: 'add', entry: { cidr, tag: null, expiration: 0 } }] });
        if (r.status === 201) acked.add(`drop|${cidr}`);
        else {
          assert.ok(r.status >= 500, `peer batch while full: ${r.status} ${r.text}`);
          refused.add(`drop|${cidr}`);
          peerFailed = true;
        }
      }
      assert.ok(peerFailed, 'peer batches fail while full');
      const peer = await d.request('POST', '/v1/drop/peer', { body: [{ action: 'add', entry: { cidr: '10.34.0.1/32', tag: null, expiration: 0 } }] });
      assert.ok(peer.status >= 500, `peer batch while full: ${peer.status} ${peer.text}`);
      refused.add('drop|10.34.0.1/32');
      const ban = await d.request('POST', '/v1/bans/fail2ban-sshd', { body: { cidr: '10.34.0.2/32', expiration: 0 } });
      assert.ok(ban.status >= 500, `ban while full: ${ban.status} ${ban.text}`);
      refused.add('drop|10.34.0.2/32');

      const full = await assertKernelMatchesApi(d, pinDir);
      for (const k of acked) assert.ok(full.api.has(k), `acknowledged ${k} kept while full`);
      for (const k of refused) assert.ok(!full.api.has(k), `refused ${k} is in neither the API nor the kernel`);

      // Space returns: the same requests succeed.
      rmSync(filler);
      assert.equal(await create(), 201, 'creates succeed again');
      const peer2 = await d.request('POST', '/v1/drop/peer', { body: [{ action: 'add', entry: { cidr: '10.34.0.1/32', tag: null, expiration: 0 } }] });
      assert.equal(peer2.status, 201, peer2.text);
      const ban2 = await d.request('POST', '/v1/bans/fail2ban-sshd', { body: { cidr: '10.34.0.2/32', expiration: 0 } });
      assert.equal(ban2.status, 200, ban2.text);
      for (const k of ['drop|10.34.0.1/32', 'drop|10.34.0.2/32']) {
        refused.delete(k);
        acked.add(k);
      }

      // A crash now: the journal replays every acknowledged entry and nothing refused.
      await d.kill('SIGKILL');
      await d.restart();
      const back = await assertKernelMatchesApi(d, pinDir);
      assert.deepEqual([...back.api.keys()].sort(), [...acked].sort(), 'after kill -9 and restart: exactly the acknowledged entries');
      assert.doesNotMatch(d.output(), /journal: damaged file/);
      assert.ok(!readdirSync(join(mnt, 'journal')).some((f) => f.includes('.damaged-')), 'no journal file kept aside as damaged');
    } finally {
      await stop();
    }
  });
});
