/**
 * The Docker image, built and run with podman (no Docker engine here):
 *
 * - a local Debian 12 base (debootstrap + `podman import`, cached: the image
 *   localhost/couic-base:bookworm and the rootfs under /var/tmp/couic-podman);
 * - `podman build` of the Dockerfile from that base; the image is tagged with
 *   a hash of the build context, so a rerun on the same tree reuses it;
 * - the image's helper runs (`--abi`) and its Node is >= 20.19;
 * - without CAP_BPF the daemon refuses to start;
 * - the daemon runs with --network host, --cap-drop ALL and only CAP_BPF +
 *   CAP_NET_ADMIN + CAP_PERFMON for the helper, CAP_SETUID + CAP_SETGID +
 *   CAP_CHOWN for the drop (the node daemon then runs as couic with CapEff
 *   and CapPrm 0, checked from /proc) (and packaging/docker/seccomp.json, which
 *   allows bpf(2) with CAP_BPF), its state and socket directories as volumes, attached to a
 *   veth on the host whose peer sits in a namespace of ours (no traffic is
 *   sent); the HOST's couicctl drives it through the shared socket: drop add,
 *   drop list shows it, the key is in the drop4_exact map of the XDP program
 *   attached to the veth (the container's maps are the host kernel's), drop
 *   delete removes it from both;
 * - the hardened systemd unit, for real: the Dockerfile's build stage plus
 *   systemd (test/packaging/systemd.Containerfile), a real
 *   `packaging/install.sh` (user, unit, configs), then `systemctl start couic`
 *   in a --privileged --systemd=always container on the host network: the
 *   daemon runs as couic with exactly CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON,
 *   serves couicctl, attaches XDP, and stops cleanly.
 *
 * podman settings: test/lib/podman.ts. COUIC_PODMAN_KEEP=1 keeps the image after the run.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT } from '../lib/daemon.js';
import { BASE_IMAGE, caSecret, containerCouicToml, ensureBase, imageExists, mapHasV4, ok, podmanSkipReason, run, xdpMap, xdpProgs, type Res } from '../lib/podman.js';

const CLI_MAIN = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const SECCOMP = join(REPO_ROOT, 'packaging', 'docker', 'seccomp.json');

const skipReason = podmanSkipReason() || (!existsSync(CLI_MAIN) ? `${relative(REPO_ROOT, CLI_MAIN)} not built` : false);
if (skipReason !== false) console.log(`# podman.test: skipped: ${skipReason}`);

/** The files the image is built from (what .dockerignore lets through that matters). */
function contextHash(): string {
  const h = createHash('sha256');
  const walk = (rel: string): void => {
    const abs = join(REPO_ROOT, rel);
    if (!existsSync(abs)) return;
    const st = statSync(abs);
    if (st.isDirectory()) {
      if (rel === 'src/helper/.output' || rel.endsWith('node_modules')) return;
      for (const e of readdirSync(abs).sort()) walk(rel === '' ? e : `${rel}/${e}`);
    } else if (st.isFile()) {
      h.update(`${rel}\0${(st.mode & 0o111) !== 0 ? 'x' : '-'}\0`);
      h.update(readFileSync(abs));
      h.update('\0');
    }
  };
  for (const f of ['Dockerfile', '.dockerignore', 'package.json', 'package-lock.json', 'tsconfig.json', 'src', 'packaging', 'action.d', 'jail.d']) walk(f);
  return h.digest('hex').slice(0, 16);
}

const tag = `localhost/couic:test-${contextHash()}`;
const id = randomBytes(3).toString('hex');
const cname = `couic-test-${id}`;
const ns = `cpk-${id}`;
const veth = `cpk${id}`;
const dirs: string[] = [];
let built = false;
let vethMade = false;

async function cleanup(): Promise<void> {
  await run(['podman', 'rm', '-f', '-t', '5', cname], { timeoutMs: 60_000 });
  await run(['podman', 'rm', '-f', '-t', '0', `${cname}-nocap`], { timeoutMs: 60_000 });
  if (vethMade) await run(['ip', 'link', 'del', veth]);
  await run(['ip', 'netns', 'del', ns]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await run(['podman', 'rm', '-f', '-t', '0', `${cname}-systemd`], { timeoutMs: 60_000 });
  if (built && process.env['COUIC_PODMAN_KEEP'] !== '1') {
    // Intermediate layers stay in podman's build cache, so a rebuild is quick.
    await run(['podman', 'rmi', '-f', tag, `${tag}-build`, `${tag}-systemd`], { timeoutMs: 120_000 });
  }
}

describe('Docker image (podman)', { skip: skipReason, timeout: 30 * 60_000 }, () => {
  let state = '';
  let sock = '';
  let ctlConf = '';

  before(async () => {
    const t0 = Date.now();
    await ensureBase();
    const t1 = Date.now();
    if (!(await imageExists(tag))) {
      // Stale test images of other trees.
      const old = (await run(['podman', 'images', '--format', '{{.Repository}}:{{.Tag}}', 'localhost/couic'])).stdout
        .split('\n')
        .filter((r) => /^localhost\/couic:test-/.test(r) && r !== tag);
      if (old.length > 0) await run(['podman', 'rmi', '-f', ...old], { timeoutMs: 120_000 });
      await ok(['podman', 'build', '--layers', ...caSecret(), '--build-arg', `BASE=${BASE_IMAGE}`, '-t', tag, REPO_ROOT], {
        timeoutMs: 25 * 60_000,
        stream: process.env['COUIC_PODMAN_VERBOSE'] === '1',
      });
    }
    built = true;
    console.log(`# base ${((t1 - t0) / 1000).toFixed(1)} s, image ${tag} ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  });
  after(cleanup);

  it('ships a working helper and Node >= 20.19', async () => {
    const abi = await ok(['podman', 'run', '--rm', '--network', 'none', '--entrypoint', '/usr/lib/couic/src/helper/.output/couic-helper', tag, '--abi']);
    assert.equal(typeof JSON.parse(abi), 'object');
    const v = (await ok(['podman', 'run', '--rm', '--network', 'none', '--entrypoint', 'node', tag, '--version'])).trim();
    const [maj, min] = v.slice(1).split('.').map(Number) as [number, number];
    assert.ok(maj > 20 || (maj === 20 && min >= 19), `node ${v}`);
    const ver = await ok(['podman', 'run', '--rm', '--network', 'none', tag, '--version']);
    assert.match(ver, /^couic \d+\.\d+\.\d+/);
    // no build tooling in the runtime image
    const tools = await run(['podman', 'run', '--rm', '--network', 'none', '--entrypoint', 'sh', tag, '-c', 'command -v clang || command -v gcc || command -v npm || echo none']);
    assert.equal(tools.stdout.trim(), 'none');
  });

  it('refuses to start without CAP_BPF', async () => {
    const r = await run(['podman', 'run', '--rm', '--name', `${cname}-nocap`, '--network', 'host', '--cap-drop', 'ALL', '--cap-add', 'CAP_NET_ADMIN', tag], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /CAP_BPF/);
  });

  it('runs with host network and CAP_BPF + CAP_NET_ADMIN + CAP_PERFMON only; the host couicctl drives it through the socket volume', async () => {
    // An interface on the host for the container to attach to; its peer is in a namespace of ours.
    await ok(['ip', 'netns', 'add', ns]);
    await ok(['ip', 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    vethMade = true;
    await ok(['ip', 'link', 'set', veth, 'up']);
    await ok(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);

    const top = mkdtempSync(join(tmpdir(), 'couic-podman-'));
    dirs.push(top);
    state = join(top, 'state');
    const runDir = join(top, 'run');
    mkdirSync(state);
    mkdirSync(runDir);
    sock = join(runDir, 'couic.sock');
    const conf = join(top, 'couic.toml');
    writeFileSync(conf, containerCouicToml(veth));
    ctlConf = join(top, 'couicctl.toml');
    writeFileSync(ctlConf, `mode = "local"\nsocket = "${sock}"\nclient_file = "${join(state, 'rbac', 'clients', 'couicctl.toml')}"\n`, { mode: 0o600 });

    await ok([
      'podman', 'run', '-d', '--name', cname,
      '--network', 'host',
      '--cap-drop', 'ALL', '--cap-add', 'CAP_BPF', '--cap-add', 'CAP_NET_ADMIN', '--cap-add', 'CAP_PERFMON',
      // the daemon's drop to couic:couic after its setup, the helper's bounding set, and
      // SIGTERM forwarded by the launcher (root) to the daemon (couic) (docs/deploy.md)
      '--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID', '--cap-add', 'CAP_CHOWN', '--cap-add', 'CAP_SETPCAP',
      '--cap-add', 'CAP_KILL',
      // bpf(2) with CAP_BPF instead of CAP_SYS_ADMIN (docs/deploy.md)
      '--security-opt', `seccomp=${SECCOMP}`,
      '--security-opt', 'no-new-privileges',
      '--read-only',
      '-v', `${state}:/var/lib/couic`,
      '-v', `${runDir}:/run/couic`,
      '-v', `${conf}:/etc/couic/couic.toml:ro`,
      tag,
    ]);

    const ctl = (...args: string[]): Promise<Res> => run([process.execPath, CLI_MAIN, '-c', ctlConf, ...args], { timeoutMs: 20_000 });
    const logs = async (): Promise<string> => {
      const l = await run(['podman', 'logs', cname]);
      return `${l.stdout}${l.stderr}`;
    };

    // Up: the socket answers.
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (existsSync(sock) && existsSync(join(state, 'rbac', 'clients', 'couicctl.toml')) && (await ctl('drop', 'list', '-q')).code === 0) break;
      const st = await run(['podman', 'inspect', '-f', '{{.State.Running}}', cname]);
      if (st.stdout.trim() !== 'true' || Date.now() > deadline) assert.fail(`daemon not up:\n${await logs()}`);
      await new Promise((r) => setTimeout(r, 300));
    }

    // The privilege split in the image: the launcher is PID 1; its node child
    // runs as couic with no capability, its couic-helper child holds the three.
    const inC = async (cmd: string): Promise<string> => (await run(['podman', 'exec', cname, 'sh', '-c', cmd], { timeoutMs: 20_000 })).stdout;
    const kids = await inC('for p in $(cat /proc/1/task/1/children); do echo "$p $(cat /proc/$p/comm)"; done');
    const nodePid = /^(\d+) node$/m.exec(kids)?.[1];
    const helperPid = /^(\d+) couic-helper$/m.exec(kids)?.[1];
    assert.ok(nodePid !== undefined && helperPid !== undefined, `PID 1's children:\n${kids}\n${await logs()}`);
    const nodeStatus = await inC(`cat /proc/${nodePid}/status`);
    const couicUid = (await inC('id -u couic')).trim();
    assert.equal(/^Uid:\s+(\d+)/m.exec(nodeStatus)?.[1], couicUid, nodeStatus);
    assert.match(nodeStatus, /^CapEff:\s+0+$/m, 'the daemon has no effective capability');
    assert.match(nodeStatus, /^CapPrm:\s+0+$/m, 'the daemon has no permitted capability');
    const helperEff = BigInt(`0x${/^CapEff:\s+([0-9a-f]+)/m.exec(await inC(`cat /proc/${helperPid}/status`))?.[1] ?? '0'}`);
    assert.equal(helperEff, (1n << 12n) | (1n << 38n) | (1n << 39n), `the helper's CapEff ${helperEff.toString(16)}`);

    // The XDP program on the veth and its drop4_exact map, seen from the host.
    const mapId = await xdpMap(veth, 'drop4_exact').catch(async (err: unknown) => assert.fail(`${(err as Error).message}\n${await logs()}`));
    const inMap = (): Promise<boolean> => mapHasV4(mapId, '198.51.100.7');
    assert.equal(await inMap(), false);

    const add = await ctl('drop', 'add', '198.51.100.7/32', '-t', 'podman-test');
    assert.equal(add.code, 0, `drop add: ${add.stdout}${add.stderr}`);
    const list = await ctl('drop', 'list', '-q');
    assert.equal(list.code, 0, list.stderr);
    assert.ok(list.stdout.split('\n').includes('198.51.100.7/32'), `drop list: ${list.stdout}`);
    const inserted = Date.now() + 5_000;
    while (!(await inMap()) && Date.now() < inserted) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await inMap(), true, '198.51.100.7 not in the kernel map drop4_exact');

    const del = await ctl('drop', 'delete', '198.51.100.7/32');
    assert.equal(del.code, 0, `drop delete: ${del.stdout}${del.stderr}`);
    const after = await ctl('drop', 'list', '-q');
    assert.ok(!after.stdout.split('\n').includes('198.51.100.7/32'), `still listed: ${after.stdout}`);
    const removed = Date.now() + 5_000;
    while ((await inMap()) && Date.now() < removed) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await inMap(), false, '198.51.100.7 still in drop4_exact');

    // The journal is on the state volume.
    assert.ok(readdirSync(state).length > 0);

    // A clean stop detaches the program.
    await ok(['podman', 'stop', '-t', '20', cname], { timeoutMs: 60_000 });
    const exit = (await ok(['podman', 'inspect', '-f', '{{.State.ExitCode}}', cname])).trim();
    assert.equal(exit, '0', `exit code ${exit}\n${await logs()}`);
    assert.deepEqual(await xdpProgs(veth), [], 'XDP still attached after stop');
  });

  it('the hardened systemd unit runs the daemon (install.sh in a systemd container)', async () => {
    assert.ok(vethMade, 'needs the veth of the previous test');
    await ok(['podman', 'build', '--layers', ...caSecret(), '--build-arg', `BASE=${BASE_IMAGE}`, '--target', 'build', '-t', `${tag}-build`, REPO_ROOT], { timeoutMs: 20 * 60_000 });
    await ok(['podman', 'build', '--layers', '--build-arg', `FROM=${tag}-build`, '-f', join(REPO_ROOT, 'test', 'packaging', 'systemd.Containerfile'), '-t', `${tag}-systemd`, join(REPO_ROOT, 'test', 'packaging')], { timeoutMs: 10 * 60_000 });
    const c = `${cname}-systemd`;
    // privileged: systemd needs it for the unit's sandbox (namespaces, mounts); the unit itself restricts couic.
    await ok(['podman', 'run', '-d', '--name', c, '--privileged', '--network', 'host', '--systemd=always', `${tag}-systemd`]);
    const sh = (cmd: string): Promise<Res> => run(['podman', 'exec', c, 'sh', '-c', cmd], { timeoutMs: 30_000 });
    const up = Date.now() + 30_000;
    // running, or degraded (units that cannot work in a container): either way booted.
    while (!/^(running|degraded)/.test((await sh('systemctl is-system-running --wait 2>/dev/null')).stdout) && Date.now() < up) {
      await new Promise((r) => setTimeout(r, 300));
    }
    const journal = async (): Promise<string> => (await sh('journalctl -u couic --no-pager | tail -30')).stdout;
    assert.equal((await sh(`sed -i 's/^ifaces = .*/ifaces = ["${veth}"]/' /etc/couic/couic.toml && systemctl start couic`)).code, 0, await journal());
    const ready = Date.now() + 30_000;
    let list: Res;
    for (;;) {
      list = await sh('couicctl drop list -q');
      if (list.code === 0) break;
      if (Date.now() > ready) assert.fail(`couic.service not serving:\n${list.stderr}\n${await journal()}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    // The launcher (MainPID) and the helper run as couic with exactly the
    // unit's capabilities; the daemon (the launcher's node child) with none.
    const couicUid = (await sh('id -u couic')).stdout.trim();
    const CAPS = (1n << 12n) | (1n << 38n) | (1n << 39n); // CAP_NET_ADMIN, CAP_PERFMON, CAP_BPF
    const statusOf = async (pid: string): Promise<{ uid: string | undefined; capEff: bigint; capPrm: bigint; text: string }> => {
      const text = (await sh(`cat /proc/${pid}/status`)).stdout;
      const cap = (k: string): bigint => BigInt(`0x${new RegExp(`^${k}:\\s+([0-9a-f]+)`, 'm').exec(text)?.[1] ?? '0'}`);
      return { uid: /^Uid:\s+(\d+)/m.exec(text)?.[1], capEff: cap('CapEff'), capPrm: cap('CapPrm'), text };
    };
    const mainPid = (await sh('systemctl show -p MainPID --value couic')).stdout.trim();
    const launcher = await statusOf(mainPid);
    assert.equal(launcher.uid, couicUid, launcher.text);
    assert.equal(launcher.capEff, CAPS, `launcher CapEff ${launcher.capEff.toString(16)}`);
    const kids = (await sh(`for p in $(cat /proc/${mainPid}/task/${mainPid}/children); do echo "$p $(cat /proc/$p/comm)"; done`)).stdout;
    const nodePid = /^(\d+) node$/m.exec(kids)?.[1];
    const helperPid = /^(\d+) couic-helper$/m.exec(kids)?.[1];
    assert.ok(nodePid !== undefined && helperPid !== undefined, `the launcher's children:\n${kids}`);
    const daemon = await statusOf(nodePid);
    assert.equal(daemon.uid, couicUid, daemon.text);
    assert.equal(daemon.capEff, 0n, `the daemon's CapEff ${daemon.capEff.toString(16)}`);
    assert.equal(daemon.capPrm, 0n, `the daemon's CapPrm ${daemon.capPrm.toString(16)}`);
    const helper = await statusOf(helperPid);
    assert.equal(helper.capEff, CAPS, `the helper's CapEff ${helper.capEff.toString(16)}`);
    assert.match((await sh('stat -c %a:%U:%G /run/couic /var/lib/couic /etc/couic/couic.toml')).stdout, /^750:couic:couic\n755:couic:couic\n640:root:couic\n$/);
    const add = await sh('couicctl drop add 198.51.100.8/32 -t systemd');
    assert.equal(add.code, 0, add.stderr);
    assert.ok((await sh('couicctl drop list -q')).stdout.split('\n').includes('198.51.100.8/32'));
    assert.equal((await xdpProgs(veth)).length, 1, `XDP not attached by the unit:\n${await journal()}`);
    assert.equal((await sh('systemctl stop couic')).code, 0);
    assert.match((await sh('systemctl show -p Result --value couic')).stdout, /^success/);
    assert.deepEqual(await xdpProgs(veth), [], 'XDP still attached after systemctl stop');
  });
});
