/**
 * Issue 17 point 8: a restart never opens a hole. The real daemon with the
 * DEFAULT config (no pin_dir key: it pins in /sys/fs/bpf/couic), in a
 * network namespace attached to a veth, and in a mount namespace with a
 * bpffs of its own (test/lib/bpffs.ts: the default path never meets the
 * host's or another test's pins). A source is banned; it floods UDP while
 * the daemon is kill -9'd, while nothing runs (the helper gone too), and
 * while the daemon starts again: the receiver counts 0 datagrams from it,
 * while an unbanned source's datagrams keep arriving.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';

import { privateBpffs, type PrivateBpffs } from '../lib/bpffs.js';
import { startDaemon, type Daemon } from '../lib/daemon.js';
import { kernelSkip } from '../lib/kernel.js';
import { createPair, udpReceiver, udpSend, type NetnsPair } from '../lib/netns.js';
import { waitFor } from '../lib/wait.js';

const PORT = 9917;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const children = (pid: number): number[] =>
  (spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout ?? '').split('\n').filter(Boolean).map(Number);

describe('fail closed through kill -9 and restart (default config)', { skip: kernelSkip, timeout: 120_000 }, () => {
  let pair: NetnsPair | undefined;
  let ns: PrivateBpffs | undefined;
  let d: Daemon | undefined;

  before(async () => {
    pair = await createPair({ prefix: 'fc', extraSources: 2 });
    ns = await privateBpffs();
  });
  after(async () => {
    await d?.stop();
    await ns?.teardown();
    await pair?.teardown();
  });

  it('a banned source gets 0 datagrams through; the daemon said it pins', async () => {
    assert.ok(pair && ns);
    const [banned, other] = pair.extraV4 as [string, string];
    const dst = pair.receiver.v4;
    d = await startDaemon({
      ifaces: [pair.receiver.ifname],
      // nsenter, not `ip netns exec` (which remounts /sys and hides the bpffs)
      wrapper: ['nsenter', `--mount=${ns.nsFile}`, `--net=/run/netns/${pair.receiver.ns}`],
      pinDir: null,
    });
    await d.waitForOutput(/pinning maps and links/);
    assert.equal((await d.request('POST', '/v1/drop', { body: { cidr: `${banned}/32`, expiration: 0 } })).status, 201);
    const pins = await ns.exec(['ls', '/sys/fs/bpf/couic/maps']);
    assert.match(pins.stdout, /drop4/, `maps pinned under the default pin dir: ${pins.stdout}${pins.stderr}`);

    const rx = await udpReceiver(pair.receiver.ns, dst, PORT);
    try {
      // The path works: the unbanned source gets through, the banned one does not.
      assert.ok((await udpSend(pair.sender.ns, other, dst, PORT, 20)) > 0);
      await waitFor(async () => ((await rx.peek())[other] ?? 0) > 0, 10_000);
      assert.ok(((await rx.peek())[other] ?? 0) > 0, 'unbanned source reaches the receiver');

      // A flood from the banned source runs through the kill, the time down and the restart.
      const flood = udpSend(pair.sender.ns, banned, dst, PORT, 2500);
      const helpers = children(d.pid);
      assert.equal(helpers.length, 1, 'one helper');
      assert.equal((await d.kill('SIGKILL')).signal, 'SIGKILL');
      await waitFor(() => !alive(helpers[0]!), 10_000);
      assert.equal(alive(helpers[0]!), false, 'the helper is gone too: nothing runs');
      // While nothing runs: the banned source and the unbanned one, side by side.
      const downOther = await udpSend(pair.sender.ns, other, dst, PORT, 100);
      const downBanned = await udpSend(pair.sender.ns, banned, dst, PORT, 400);
      assert.ok(downOther > 0 && downBanned > 0);
      const seenOther = (await rx.peek())[other] ?? 0;
      await d.restart();
      await d.waitForOutput(/data plane ready/);
      const sent = await flood;
      assert.ok(sent > 0, 'the flood was sent');
      const after = await udpSend(pair.sender.ns, banned, dst, PORT, 100);
      assert.ok(after > 0);
      const counts = await rx.peek();
      assert.ok(seenOther > 20, `the unbanned source got through while nothing ran (${seenOther}): the path was open`);
      assert.equal(counts[banned] ?? 0, 0, `datagrams from the banned source that reached the receiver (of ${sent + downBanned + after} sent)`);
      const list = (await d.request('GET', '/v1/drop')).json() as { cidr: string }[];
      assert.deepEqual(list.map((e) => e.cidr), [`${banned}/32`], 'the ban is in force after the restart');
    } finally {
      await rx.stop();
    }
  });
});
