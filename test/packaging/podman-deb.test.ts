/**
 * The Debian package (scripts/package.sh), installed with
 * `apt-get install ./couic_<version>_<arch>.deb` into fresh Debian 12
 * containers booted with systemd (test/packaging/deb.Containerfile, from the
 * local base of test/lib/podman.ts), on the host network so the daemon
 * attaches XDP to a veth of ours on the host:
 *
 * - a fresh install: the couic user and group, Couic's paths and modes, the
 *   conffiles registered, the unit enabled and started by postinst, running as
 *   couic on the packaged Node; couicctl drop add/list/delete; XDP attached
 *   once the config names the veth; `apt-get remove` stops it and detaches
 *   XDP, `purge` removes the configs and the state;
 * - an install over a Couic setup: Couic's couic.toml (naming the veth),
 *   couicctl.toml, a client file of Couic's state, and the seed's fail2ban
 *   action (`couicctl drop add <ip>/<cidr> -t fail2ban-<name>`) with a jail
 *   in a running fail2ban. dpkg asks about each of the three conffiles, the
 *   admin keeps them (N): all three are unchanged, ours are beside them as
 *   *.dpkg-dist, postinst says how to switch; the daemon runs on the kept
 *   couic.toml, couicctl on the kept couicctl.toml and Couic's token, and
 *   fail2ban bans through the kept action into the kernel map and unbans;
 *   after the switch postinst describes, the same ban goes through couic-ban.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT } from '../lib/daemon.js';
import { randSuffix } from '../lib/netns.js';
import {
  BASE_IMAGE, ensureBase, imageExists, inContainer, mapHasV4, ok, podmanSkipReason, run, waitBooted, xdpMap, xdpProgs, type Res,
} from '../lib/podman.js';
import { waitFor } from '../lib/wait.js';

const CONTAINERFILE = join(REPO_ROOT, 'test', 'packaging', 'deb.Containerfile');
const PACKAGE_SH = join(REPO_ROOT, 'scripts', 'package.sh');
const built = existsSync(join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js')) && existsSync(join(REPO_ROOT, 'src', 'helper', '.output', 'couic-helper'));
const skipReason = podmanSkipReason() || (!built ? 'not built (bash scripts/setup.sh)' : false);
if (skipReason !== false) console.log(`# podman-deb.test: skipped: ${skipReason}`);

// The test images change only with the Containerfile: tagged with its hash, kept between runs.
const imageHash = existsSync(CONTAINERFILE) ? createHash('sha256').update(readFileSync(CONTAINERFILE)).digest('hex').slice(0, 12) : 'none';
const IMAGE_REPO = 'localhost/couic-debtest';
const image = (target: string): string => `${IMAGE_REPO}:${target}-${imageHash}`;

const id = randSuffix();
const ns = `cdb-${id}`;
const veth = `cdb${id}`;
const containers: string[] = [];
const dirs: string[] = [];
let vethMade = false;

async function cleanup(): Promise<void> {
  for (const c of containers) await run(['podman', 'rm', '-f', '-t', '10', c], { timeoutMs: 60_000 });
  if (vethMade) await run(['ip', 'link', 'del', veth]);
  await run(['ip', 'netns', 'del', ns]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

async function buildImages(): Promise<void> {
  // Test images of other versions of the Containerfile.
  const old = (await run(['podman', 'images', '--format', '{{.Repository}}:{{.Tag}}', IMAGE_REPO])).stdout
    .split('\n')
    .filter((r) => r.startsWith(`${IMAGE_REPO}:`) && !r.endsWith(`-${imageHash}`));
  if (old.length > 0) await run(['podman', 'rmi', '-f', ...old], { timeoutMs: 120_000 });
  for (const target of ['systemd', 'fail2ban']) {
    if (await imageExists(image(target))) continue;
    await ok(['podman', 'build', '--layers', '--build-arg', `BASE=${BASE_IMAGE}`, '--target', target, '-t', image(target), '-f', CONTAINERFILE, join(REPO_ROOT, 'test', 'packaging')], {
      timeoutMs: 15 * 60_000,
    });
  }
}

/** Boots a systemd container of `target` on the host network, the .deb directory at /debs. */
async function boot(name: string, target: string, debDir: string): Promise<(cmd: string, opts?: { input?: string; timeoutMs?: number }) => Promise<Res>> {
  containers.push(name);
  // privileged: systemd needs it for the unit's sandbox (namespaces, mounts); the unit itself restricts couic.
  await ok(['podman', 'run', '-d', '--name', name, '--privileged', '--network', 'host', '--systemd=always', '-v', `${debDir}:/debs:ro`, image(target)]);
  await waitBooted(name);
  return (cmd, opts = {}) => inContainer(name, cmd, opts);
}

const APT = 'DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends';

describe('Debian package (podman)', { skip: skipReason, timeout: 30 * 60_000 }, () => {
  let debDir = '';
  let debName = '';
  let version = '';

  before(async () => {
    const t0 = Date.now();
    await ensureBase();
    debDir = mkdtempSync(join(tmpdir(), 'couic-deb-'));
    dirs.push(debDir);
    const out = await ok(['bash', PACKAGE_SH], { env: { OUT_DIR: debDir }, timeoutMs: 10 * 60_000 });
    const t1 = Date.now();
    version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    debName = readdirSync(debDir).find((f) => f.endsWith('.deb')) ?? '';
    assert.match(debName, new RegExp(`^couic_${version.replace(/\./g, '\\.')}_[a-z0-9]+\\.deb$`));
    assert.equal(out.trim(), join(debDir, debName));
    await buildImages();
    console.log(`# package ${((t1 - t0) / 1000).toFixed(1)} s, images ${((Date.now() - t1) / 1000).toFixed(1)} s`);
    // An interface on the host for the packaged daemon to attach to; its peer is in a namespace of ours.
    await ok(['ip', 'netns', 'add', ns]);
    await ok(['ip', 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    vethMade = true;
    await ok(['ip', 'link', 'set', veth, 'up']);
  });
  after(cleanup);

  it('installs into a fresh Debian 12: user, paths, conffiles, unit enabled and started; couicctl works; remove and purge', async () => {
    const sh = await boot(`couic-deb-${id}`, 'systemd', debDir);
    const journal = async (): Promise<string> => (await sh('journalctl -u couic --no-pager | tail -40')).stdout;
    const install = await sh(`${APT} /debs/${debName}`, { timeoutMs: 10 * 60_000 });
    assert.equal(install.code, 0, `${install.stdout}\n${install.stderr}`);
    assert.doesNotMatch(install.stdout, /dpkg-dist/, 'a fresh install keeps nothing aside');

    // The unit, enabled and started by postinst.
    assert.equal((await sh('systemctl is-enabled couic')).stdout.trim(), 'enabled');
    const serving = await waitFor(async () => (await sh('couicctl drop list -q')).code === 0, 30_000, 250);
    assert.ok(serving, `couic.service not serving after the install:\n${await journal()}`);

    // Couic's paths and modes, the couic user.
    assert.equal((await sh('id -nG couic')).stdout.trim(), 'couic');
    assert.equal((await sh('getent passwd couic | cut -d: -f6,7')).stdout.trim(), '/var/lib/couic:/usr/sbin/nologin');
    const stat = (await sh('stat -c %n:%a:%U:%G /etc/couic/couic.toml /etc/couic/couicctl.toml /var/lib/couic /var/log/couic /run/couic /usr/sbin/couic /usr/sbin/couicctl /usr/sbin/couic-ban')).stdout;
    assert.equal(
      stat,
      [
        '/etc/couic/couic.toml:640:root:couic', '/etc/couic/couicctl.toml:600:root:root', '/var/lib/couic:755:couic:couic',
        '/var/log/couic:750:couic:couic', '/run/couic:750:couic:couic', '/usr/sbin/couic:755:root:root', '/usr/sbin/couicctl:755:root:root',
        '/usr/sbin/couic-ban:755:root:root', '',
      ].join('\n'),
    );
    const conffiles = (await sh("dpkg-query -W -f='${Conffiles}' couic")).stdout.trim().split('\n').map((l) => l.trim().split(' ')[0]).sort();
    assert.deepEqual(conffiles, ['/etc/couic/couic.toml', '/etc/couic/couicctl.toml', '/etc/fail2ban/action.d/couic.conf', '/etc/fail2ban/action.d/couic.py']);
    assert.match((await sh('cat /etc/fail2ban/action.d/couic.conf')).stdout, /^couic_ban = \/usr\/sbin\/couic-ban$/m);
    assert.match((await sh('zcat /usr/share/man/man1/couicctl.1.gz /usr/share/man/man8/couic.8.gz | grep "^\\.TH"')).stdout, /^\.TH COUICCTL 1 .*\n\.TH COUIC 8 /);
    assert.match((await sh('couic --version')).stdout, new RegExp(`^couic ${version.replace(/\./g, '\\.')}`));

    // The unit's main process is couic-launcher; its child, the daemon: the couic
    // user, the packaged Node (Debian's nodejs is not installed), no capability.
    const pid = (await sh('systemctl show -p MainPID --value couic')).stdout.trim();
    assert.match((await sh(`stat -c %U /proc/${pid}; readlink /proc/${pid}/exe`)).stdout, /^couic\n\/usr\/lib\/couic\/src\/helper\/\.output\/couic-launcher\n$/);
    const kids = (await sh(`for p in $(cat /proc/${pid}/task/${pid}/children); do echo "$p $(cat /proc/$p/comm)"; done`)).stdout;
    const nodePid = /^(\d+) node$/m.exec(kids)?.[1];
    assert.ok(nodePid !== undefined, `the launcher's children:\n${kids}`);
    assert.match((await sh(`stat -c %U /proc/${nodePid}; readlink /proc/${nodePid}/exe`)).stdout, /^couic\n\/usr\/lib\/couic\/node\/bin\/node\n$/);
    assert.match((await sh(`cat /proc/${nodePid}/status`)).stdout, /^CapEff:\s+0+$/m, 'the daemon has no capability');
    assert.notEqual((await sh('dpkg-query -W nodejs')).code, 0, 'nodejs was pulled in');
    assert.equal((await sh('/usr/lib/couic/node/bin/node --version')).stdout.trim(), process.version);

    // couicctl, as root through the packaged couicctl.toml.
    const add = await sh('couicctl drop add 198.51.100.9/32 -t pkg -e 1h');
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /198\.51\.100\.9\/32 ┆ pkg/);
    assert.ok((await sh('couicctl drop list -q')).stdout.split('\n').includes('198.51.100.9/32'));
    assert.equal((await sh('couicctl drop delete 198.51.100.9/32')).code, 0);
    assert.ok(!(await sh('couicctl drop list -q')).stdout.split('\n').includes('198.51.100.9/32'));

    // XDP on the veth once the config names it.
    const restart = await sh(`sed -i 's/^ifaces = .*/ifaces = ["${veth}"]/' /etc/couic/couic.toml && systemctl restart couic`);
    assert.equal(restart.code, 0, restart.stderr);
    assert.ok(await waitFor(async () => (await xdpProgs(veth)).length === 1, 30_000, 250), `XDP not attached:\n${await journal()}`);

    // remove: stopped, detached, configs kept; purge: configs and state gone, the user kept.
    const remove = await sh('DEBIAN_FRONTEND=noninteractive apt-get remove -y couic', { timeoutMs: 120_000 });
    assert.equal(remove.code, 0, remove.stderr);
    assert.notEqual((await sh('systemctl is-active couic')).stdout.trim(), 'active');
    assert.deepEqual(await xdpProgs(veth), [], 'XDP still attached after apt-get remove');
    assert.equal((await sh('test -f /etc/couic/couic.toml && test ! -e /usr/sbin/couic')).code, 0);
    const purge = await sh('DEBIAN_FRONTEND=noninteractive apt-get purge -y couic', { timeoutMs: 120_000 });
    assert.equal(purge.code, 0, purge.stderr);
    assert.equal((await sh('test ! -e /etc/couic/couic.toml && test ! -e /var/lib/couic && test ! -e /var/log/couic && id couic')).code, 0);
  });

  it('installs over a Couic setup: its couic.toml, couicctl.toml and the seed\'s fail2ban action are kept and keep working', async () => {
    const sh = await boot(`couic-deb-${id}-f2b`, 'fail2ban', debDir);
    const journal = async (): Promise<string> => (await sh('journalctl -u couic -u fail2ban --no-pager | tail -60')).stdout;
    const token = '0b9a7d0e-3c1f-4e5a-9b2d-6f8e1c4a7b30';
    // What Couic's package and its documentation leave on a machine.
    const seed = [
      'set -e',
      'groupadd --system couic',
      'useradd --system --gid couic --home-dir /var/lib/couic --no-create-home --shell /usr/sbin/nologin couic',
      'mkdir -p /etc/couic /var/log/couic',
      'install -d -m 0755 -o couic -g couic /var/lib/couic /var/lib/couic/rbac /var/lib/couic/rbac/clients /var/lib/couic/sets /var/lib/couic/sets/drop /var/lib/couic/sets/ignore',
      `printf 'token = "${token}"\\ngroup = "admin"\\n' > /var/lib/couic/rbac/clients/couicctl.toml`,
      'chown couic:couic /var/lib/couic/rbac/clients/couicctl.toml && chmod 0600 /var/lib/couic/rbac/clients/couicctl.toml',
      `cat > /etc/couic/couic.toml <<'EOF'
# Couic's couic.toml
ifaces = ["${veth}"]
operation_mode = "generic"
working_dir = "/var/lib/couic"
user = "couic"
group = "couic"

[logging]
dir = "/var/log/couic"
rotation = "daily"
max_log_files = 7
format = "text"

[server]
socket = "/run/couic/couic.sock"
EOF`,
      'chgrp couic /etc/couic/couic.toml && chmod 0640 /etc/couic/couic.toml',
      `cat > /etc/couic/couicctl.toml <<'EOF'
# Couic's couicctl.toml
mode = "local"
socket = "/run/couic/couic.sock"
client_file = "/var/lib/couic/rbac/clients/couicctl.toml"
EOF`,
      'chmod 0600 /etc/couic/couicctl.toml',
      // The action of Couic's fail2ban page: one couicctl per ban and unban.
      `cat > /etc/fail2ban/action.d/couic.conf <<'EOF'
[Definition]
actionstart =
actionstop =
actioncheck =
actionban = couicctl drop add <ip>/<cidr> -t fail2ban-<name>
actionunban = couicctl drop delete <ip>/<cidr>

[Init]
cidr = 32

[Init?family=inet6]
cidr = 128
EOF`,
      `cat > /etc/fail2ban/filter.d/couictest.conf <<'EOF'
[Definition]
failregex = ^auth failure from <HOST>$
datepattern = {NONE}
EOF`,
      `cat > /etc/fail2ban/jail.local <<'EOF'
[DEFAULT]
banaction = couic
banaction_allports = couic

[couictest]
enabled = true
filter = couictest
logpath = /var/log/couictest.log
backend = polling
maxretry = 2
findtime = 600
bantime = 3600
EOF`,
      'touch /var/log/couictest.log',
      'systemctl restart fail2ban',
    ].join('\n');
    const seeded = await sh(seed);
    assert.equal(seeded.code, 0, `${seeded.stdout}\n${seeded.stderr}`);
    assert.ok(await waitFor(async () => (await sh('fail2ban-client status couictest')).code === 0, 30_000, 250), await journal());
    const kept = ['/etc/couic/couic.toml', '/etc/couic/couicctl.toml', '/etc/fail2ban/action.d/couic.conf'];
    const sums = async (): Promise<string> => (await sh(`sha256sum ${kept.join(' ')} /var/lib/couic/rbac/clients/couicctl.toml`)).stdout;
    const before = await sums();

    // dpkg asks about each conffile the admin has (ours differ); the admin keeps theirs.
    const install = await sh(`${APT} /debs/${debName}`, { input: 'N\nN\nN\n', timeoutMs: 10 * 60_000 });
    assert.equal(install.code, 0, `${install.stdout}\n${install.stderr}`);
    for (const f of kept) assert.match(install.stdout, new RegExp(`Configuration file '${f}'`), `no conffile prompt for ${f}`);
    assert.equal(await sums(), before, 'a kept file changed');
    for (const f of kept) assert.equal((await sh(`test -f ${f}.dpkg-dist`)).code, 0, `${f}.dpkg-dist missing`);
    assert.match(install.stdout, /couic: your \/etc\/fail2ban\/action\.d\/couic\.conf is kept/);
    assert.match(install.stdout, /mv \/etc\/fail2ban\/action\.d\/couic\.conf\.dpkg-dist \/etc\/fail2ban\/action\.d\/couic\.conf/);
    assert.equal((await sh('test -f /etc/fail2ban/action.d/couic.py')).code, 0, 'couic.py (new) not installed');

    // The daemon runs on the kept Couic config (its interface) and Couic's client file.
    assert.ok(await waitFor(async () => (await sh('couicctl drop list -q')).code === 0, 30_000, 250), `not serving:\n${await journal()}`);
    assert.ok(await waitFor(async () => (await xdpProgs(veth)).length === 1, 30_000, 250), `XDP not on ${veth}:\n${await journal()}`);
    assert.equal((await sh('stat -c %a:%U:%G /etc/couic/couic.toml')).stdout.trim(), '640:root:couic');
    const map = await xdpMap(veth, 'drop4_exact');

    // fail2ban bans through the kept action (couicctl drop add ... -t fail2ban-couictest).
    const ip = '203.0.113.50';
    assert.equal((await sh(`printf 'auth failure from ${ip}\\nauth failure from ${ip}\\n' >> /var/log/couictest.log`)).code, 0);
    const listed = async (): Promise<Array<{ cidr: string; tag: string | null }>> =>
      JSON.parse((await sh('couicctl drop list --json')).stdout || '[]') as Array<{ cidr: string; tag: string | null }>;
    assert.ok(await waitFor(async () => (await listed()).some((e) => e.cidr === `${ip}/32` && e.tag === 'fail2ban-couictest'), 30_000, 250), `not banned:\n${await journal()}`);
    assert.equal(await mapHasV4(map, ip), true, `${ip} not in drop4_exact`);
    assert.match((await sh('fail2ban-client status couictest')).stdout, new RegExp(`Banned IP list:\\s+${ip.replace(/\./g, '\\.')}`));
    assert.equal((await sh(`fail2ban-client set couictest unbanip ${ip}`)).code, 0);
    assert.ok(await waitFor(async () => !(await listed()).some((e) => e.cidr === `${ip}/32`), 30_000, 250), 'unban did not remove the entry');
    assert.ok(await waitFor(async () => !(await mapHasV4(map, ip)), 5_000, 250), `${ip} still in drop4_exact`);

    // The switch postinst describes: our action, banning through couic-ban (a claim of the jail's owner).
    const sw = await sh('mv /etc/fail2ban/action.d/couic.conf.dpkg-dist /etc/fail2ban/action.d/couic.conf && fail2ban-client reload');
    assert.equal(sw.code, 0, sw.stderr);
    const ip2 = '203.0.113.51';
    assert.ok(await waitFor(async () => (await sh('fail2ban-client status couictest')).code === 0, 30_000, 250));
    assert.equal((await sh(`fail2ban-client set couictest banip ${ip2}`)).code, 0);
    assert.ok(await waitFor(async () => (await sh('couicctl drop list -q')).stdout.split('\n').includes(`${ip2}/32`), 30_000, 250), `couic-ban did not ban:\n${await journal()}`);
    const claims = await sh('curl -sf --unix-socket /run/couic/couic.sock -H "Authorization: Bearer ' + token + '" http://localhost/v1/bans/fail2ban-couictest');
    assert.equal(claims.code, 0, claims.stderr);
    assert.deepEqual((JSON.parse(claims.stdout) as Array<{ cidr: string }>).map((c) => c.cidr), [`${ip2}/32`]);
    assert.equal(await mapHasV4(map, ip2), true);
  });
});
