/**
 * compose.yaml for real, with Debian's podman-compose: both images built by
 * compose from the local Debian base (test/lib/podman.ts), the couic
 * container attached to a veth of ours, the fail2ban container beside it:
 *
 * - a test override file (the only changes to compose.yaml) puts the couic
 *   container in the receiver namespace of a veth pair (network_mode
 *   ns:/run/netns/…; the sender is the other namespace), mounts a couic.toml
 *   naming that veth, and gives fail2ban a jail reading a log file of ours;
 * - before a ban, datagrams of an attacker and of a bystander both reach a
 *   UDP receiver in the couic container's namespace;
 * - two failure lines in the log: the fail2ban container bans through the
 *   shared socket with our action (couic-ban), `couicctl drop list` (the
 *   host's, through the socket volume) shows the ban tagged
 *   fail2ban-<jail>, and the attacker's datagrams are dropped at XDP (none
 *   arrives, the per-tag drop counter counts them) while the bystander's
 *   still arrive;
 * - `compose down`: XDP detached; `compose up` again: an operator's entry is
 *   back as it was (replayed from the journal on the state volume), the
 *   jail's ban is back with its original end (fail2ban flushed it at its stop
 *   and restores it from its database volume), and the attacker is still
 *   dropped.
 *
 * Debian 12's podman-compose (1.0.3) needs packaging/docker/podman-compose-net.sh
 * as its podman for network_mode services (see compose.yaml).
 */
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT } from '../lib/daemon.js';
import { createPair, randSuffix, udpReceiver, udpSend, type NetnsPair } from '../lib/netns.js';
import { BASE_IMAGE, CA_BUNDLE, containerCouicToml, ensureBase, has, podmanSkipReason, run, xdpProgs, type Res } from '../lib/podman.js';
import { waitFor } from '../lib/wait.js';

const CLI_MAIN = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const NET_SHIM = join(REPO_ROOT, 'packaging', 'docker', 'podman-compose-net.sh');
const skipReason =
  podmanSkipReason() ||
  (!has('podman-compose', 'version') ? 'podman-compose not installed (apt-get install podman-compose)' : !existsSync(CLI_MAIN) ? 'not built' : false);
if (skipReason !== false) console.log(`# podman-compose.test: skipped: ${skipReason}`);

const id = randSuffix();
const project = `couic-compose-${id}`;
// Image tags of this run, removed after it (podman's layer cache keeps a rebuild quick).
const IMAGE_REPO = 'localhost/couic-compose';
const images = { couic: `${IMAGE_REPO}:couic-${id}`, fail2ban: `${IMAGE_REPO}:fail2ban-${id}` };
const PORT = 40997;
const JAIL = 'composetest';

describe('compose.yaml with podman-compose: fail2ban bans through the shared socket, XDP drops at the veth', { skip: skipReason, timeout: 40 * 60_000 }, () => {
  let pair: NetnsPair;
  let dir = '';
  let state = '';
  let runDir = '';
  let logFile = '';
  let ctlConf = '';
  let override = '';
  let attacker = '';
  let bystander = '';
  let up = false;

  // The builds reach the npm registry, through a TLS-intercepting proxy here: its CA as a build secret.
  const secret = existsSync(CA_BUNDLE) ? [`--podman-build-args=--secret id=ca_bundle,src=${CA_BUNDLE}`] : [];
  const compose = (...args: string[]): Promise<Res> =>
    run(['podman-compose', '--podman-path', NET_SHIM, ...secret, '-p', project, '-f', join(REPO_ROOT, 'compose.yaml'), '-f', override, ...args], {
      cwd: REPO_ROOT,
      timeoutMs: 30 * 60_000,
      env: {
        COUIC_BASE: BASE_IMAGE,
        COUIC_STATE_DIR: state,
        COUIC_RUN_DIR: runDir,
        // Not the host's bpffs: pins of parallel tests must never meet (couic runs unpinned, saying why).
        COUIC_BPF_DIR: join(dir, 'bpf'),
        COUIC_IMAGE: images.couic,
        COUIC_FAIL2BAN_IMAGE: images.fail2ban,
      },
      stream: process.env['COUIC_PODMAN_VERBOSE'] === '1',
    });
  const ctl = (...args: string[]): Promise<Res> => run([process.execPath, CLI_MAIN, '-c', ctlConf, ...args], { timeoutMs: 20_000 });
  const logs = async (): Promise<string> => {
    let out = '';
    for (const svc of ['couic', 'fail2ban']) {
      const l = await run(['podman', 'logs', '--tail', '40', `${project}_${svc}_1`]);
      out += `--- ${svc}\n${l.stdout}${l.stderr}`;
    }
    return out;
  };
  const running = async (svc: string): Promise<boolean> =>
    (await run(['podman', 'inspect', '-f', '{{.State.Running}}', `${project}_${svc}_1`])).stdout.trim() === 'true';
  const serving = (): Promise<boolean> =>
    waitFor(async () => existsSync(join(state, 'rbac', 'clients', 'couicctl.toml')) && (await ctl('drop', 'list', '-q')).code === 0, 60_000, 250);
  /** Datagrams from each source that reached the receiver in the couic container's namespace. */
  const traffic = async (n: number): Promise<Record<string, number>> => {
    const rx = await udpReceiver(pair.receiver.ns, pair.receiver.v4, PORT);
    let counts: Record<string, number> = {};
    try {
      assert.equal(await udpSend(pair.sender.ns, attacker, pair.receiver.v4, PORT, n), n);
      assert.equal(await udpSend(pair.sender.ns, bystander, pair.receiver.v4, PORT, n), n);
      // Sent after the attacker's on the same veth: once the bystander's are in, so is anything of the attacker's.
      await waitFor(async () => ((await rx.peek())[bystander] ?? 0) >= n, 5_000, 50);
    } finally {
      counts = await rx.stop();
    }
    return counts;
  };
  const dropTagPackets = async (): Promise<number> => {
    const r = await ctl('stats', 'drop', '--json');
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { tags: Record<string, { rx_packets: number }> }).tags[`fail2ban-${JAIL}`]?.rx_packets ?? 0;
  };
  const listed = async (): Promise<Array<{ cidr: string; tag: string | null; creation: number; expiration: number }>> => {
    const r = await ctl('drop', 'list', '--json');
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Array<{ cidr: string; tag: string | null; creation: number; expiration: number }>;
  };

  before(async () => {
    await ensureBase();
    // Images left by an earlier run that could not clean up.
    const old = (await run(['podman', 'images', '--format', '{{.Repository}}:{{.Tag}}', IMAGE_REPO])).stdout.split('\n').filter((r) => r.startsWith(`${IMAGE_REPO}:`));
    if (old.length > 0) await run(['podman', 'rmi', '-f', ...old], { timeoutMs: 120_000 });
    pair = await createPair({ prefix: 'cmp', extraSources: 2 });
    [attacker, bystander] = pair.extraV4 as [string, string];
    dir = mkdtempSync(join(tmpdir(), 'couic-compose-'));
    state = join(dir, 'state');
    runDir = join(dir, 'run');
    const logDir = join(dir, 'log');
    const jailDir = join(dir, 'jail.d');
    for (const d of [state, runDir, logDir, jailDir, join(dir, 'bpf')]) mkdirSync(d);
    logFile = join(logDir, 'composetest.log');
    writeFileSync(logFile, '');
    writeFileSync(join(dir, 'couic.toml'), containerCouicToml(pair.receiver.ifname));
    writeFileSync(join(jailDir, 'couic.local'), `[DEFAULT]
banaction = couic
banaction_allports = couic

[${JAIL}]
enabled = true
filter = ${JAIL}
logpath = /var/log/composetest.log
backend = polling
maxretry = 2
findtime = 600
bantime = 3600
`);
    override = join(dir, 'compose.override.yaml');
    writeFileSync(override, `services:
  couic:
    network_mode: "ns:/run/netns/${pair.receiver.ns}"
    volumes:
      - ${join(dir, 'couic.toml')}:/etc/couic/couic.toml:ro
  fail2ban:
    volumes:
      - ${logDir}:/var/log:ro
      - ${jailDir}:/etc/fail2ban/jail.d:ro
      - ${join(dir, 'filter.conf')}:/etc/fail2ban/filter.d/${JAIL}.conf:ro
`);
    // The jail's filter, mounted into the image's filter.d.
    writeFileSync(join(dir, 'filter.conf'), '[Definition]\nfailregex = ^auth failure from <HOST>$\ndatepattern = {NONE}\n');
    ctlConf = join(dir, 'couicctl.toml');
    writeFileSync(ctlConf, `mode = "local"\nsocket = "${join(runDir, 'couic.sock')}"\nclient_file = "${join(state, 'rbac', 'clients', 'couicctl.toml')}"\n`, { mode: 0o600 });

    const t0 = Date.now();
    up = true;
    const r = await compose('up', '-d');
    console.log(`# podman-compose up (builds included): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.equal(r.code, 0, `${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  });

  after(async () => {
    if (up) {
      await compose('down', '-v');
      await run(['podman', 'network', 'rm', '-f', `${project}_default`]);
      if (process.env['COUIC_PODMAN_KEEP'] !== '1') await run(['podman', 'rmi', '-f', images.couic, images.fail2ban], { timeoutMs: 120_000 });
    }
    await pair?.teardown();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('both containers run; couic attaches XDP to the veth in its namespace; the host couicctl works through the socket volume', async () => {
    assert.ok(await serving(), `couic not serving:\n${await logs()}`);
    assert.ok(await running('couic'), await logs());
    assert.ok(await waitFor(() => running('fail2ban'), 30_000, 250), `fail2ban not running:\n${await logs()}`);
    assert.equal((await xdpProgs(pair.receiver.ifname, pair.receiver.ns)).length, 1, `no XDP on the veth:\n${await logs()}`);
    // fail2ban sees its jail.
    const status = await waitFor(async () => (await run(['podman', 'exec', `${project}_fail2ban_1`, 'fail2ban-client', 'status', JAIL])).code === 0, 30_000, 250);
    assert.ok(status, `jail ${JAIL} not up:\n${await logs()}`);
    // Before any ban both sources get through.
    const before = await traffic(20);
    assert.equal(before[attacker], 20, JSON.stringify(before));
    assert.equal(before[bystander], 20, JSON.stringify(before));
  });

  it('a failure in the log: fail2ban bans through the socket, the attacker is dropped at XDP, the bystander is not', async () => {
    appendFileSync(logFile, `auth failure from ${attacker}\nauth failure from ${attacker}\n`);
    const banned = await waitFor(async () => (await listed()).some((e) => e.cidr === `${attacker}/32` && e.tag === `fail2ban-${JAIL}`), 60_000, 250);
    assert.ok(banned, `no ban:\n${JSON.stringify(await listed())}\n${await logs()}`);
    assert.ok(!(await listed()).some((e) => e.cidr === `${bystander}/32`));
    const p0 = await dropTagPackets();
    const got = await traffic(20);
    assert.equal(got[attacker] ?? 0, 0, `the banned source got through: ${JSON.stringify(got)}`);
    assert.equal(got[bystander], 20, JSON.stringify(got));
    assert.ok(await waitFor(async () => (await dropTagPackets()) - p0 >= 20, 5_000, 250), `fail2ban-${JAIL} drop counter: ${p0} -> ${await dropTagPackets()}`);
  });

  it('compose down detaches XDP; compose up again keeps the bans (the journal on the state volume, fail2ban\'s database on its volume)', async () => {
    // An operator's entry beside the jail's ban: only the journal can bring it back.
    const manual = await ctl('drop', 'add', '198.51.100.77/32', '-t', 'manual');
    assert.equal(manual.code, 0, manual.stderr);
    const before = await listed();
    const entry = before.find((e) => e.cidr === `${attacker}/32`);
    const manualEntry = before.find((e) => e.cidr === '198.51.100.77/32');
    assert.ok(entry !== undefined && manualEntry !== undefined);
    const down = await compose('down');
    assert.equal(down.code, 0, down.stderr);
    assert.ok(!(await running('couic')));
    assert.deepEqual(await xdpProgs(pair.receiver.ifname, pair.receiver.ns), [], 'XDP still attached after compose down');
    const again = await compose('up', '-d');
    assert.equal(again.code, 0, `${again.stdout.slice(-2000)}\n${again.stderr.slice(-2000)}`);
    assert.ok(await serving(), `couic not serving after up:\n${await logs()}`);
    // Replayed from the journal: the same entry, created when it was.
    const manualKept = (await listed()).find((e) => e.cidr === '198.51.100.77/32');
    assert.deepEqual(manualKept, manualEntry, 'the operator\'s entry did not survive compose down/up');
    // fail2ban flushes its jail's bans when it stops (our action's actionflush), and at its
    // start restores them from its database (the fail2ban-db volume): the same ban, same end.
    assert.ok(await waitFor(async () => (await listed()).some((e) => e.cidr === `${attacker}/32`), 60_000, 250), `the ban is gone after compose down/up:\n${await logs()}`);
    const kept = (await listed()).find((e) => e.cidr === `${attacker}/32`)!;
    assert.equal(kept.tag, `fail2ban-${JAIL}`);
    assert.equal(kept.expiration, entry.expiration, 'not the same ban (fail2ban restores the ban time it had)');
    assert.ok(await waitFor(async () => (await xdpProgs(pair.receiver.ifname, pair.receiver.ns)).length === 1, 30_000, 250));
    const got = await traffic(20);
    assert.equal(got[attacker] ?? 0, 0, `the banned source got through after up: ${JSON.stringify(got)}`);
    assert.equal(got[bystander], 20, JSON.stringify(got));
  });
});
