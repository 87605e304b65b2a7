/**
 * packaging/install.sh into a DESTDIR: the installed tree, modes, unit,
 * wrappers (they run the installed daemon/CLI), sysusers and tmpfiles files,
 * production-only node_modules, and PREFIX substitution.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT } from '../lib/daemon.js';

const INSTALL = join(REPO_ROOT, 'packaging', 'install.sh');
const built =
  existsSync(join(REPO_ROOT, 'dist/src/daemon/main.js')) &&
  existsSync(join(REPO_ROOT, 'dist/src/cli/main.js')) &&
  existsSync(join(REPO_ROOT, 'src/helper/.output/couic-helper'));

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function install(env: Record<string, string>): { dest: string; stdout: string; stderr: string } {
  const dest = mkdtempSync(join(tmpdir(), 'couic-install-'));
  dirs.push(dest);
  const r = spawnSync('sh', [INSTALL], { env: { ...process.env, DESTDIR: dest, ...env }, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `install.sh failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return { dest, stdout: r.stdout, stderr: r.stderr };
}

const mode = (p: string): number => statSync(p).mode & 0o7777;
const oct = (n: number): string => `0${n.toString(8)}`;

describe('packaging/install.sh with DESTDIR', { skip: built ? false : 'not built (npm run build)' }, () => {
  let dest = '';
  let out = '';
  before(() => {
    ({ dest, stdout: out } = install({ PREFIX: '/usr' }));
  });
  const p = (rel: string): string => join(dest, rel);

  it('installs the built tree under $PREFIX/lib/couic', () => {
    for (const f of [
      'usr/lib/couic/package.json',
      'usr/lib/couic/dist/src/daemon/main.js',
      'usr/lib/couic/dist/src/cli/main.js',
      'usr/lib/couic/src/helper/.output/couic-helper',
      'usr/lib/couic/src/helper/.output/couic-launcher',
    ]) {
      assert.ok(existsSync(p(f)), `${f} missing`);
    }
    assert.equal(oct(mode(p('usr/lib/couic/src/helper/.output/couic-helper'))), '0755');
    assert.equal(oct(mode(p('usr/lib/couic/src/helper/.output/couic-launcher'))), '0755');
    // no test or bench code in the installed tree
    assert.ok(!existsSync(p('usr/lib/couic/dist/test')));
    assert.ok(!existsSync(p('usr/lib/couic/dist/bench')));
  });

  it('copies production dependencies only', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    for (const dep of Object.keys(pkg.dependencies)) {
      assert.ok(existsSync(p(`usr/lib/couic/node_modules/${dep}/package.json`)), `dependency ${dep} missing`);
    }
    for (const dep of Object.keys(pkg.devDependencies)) {
      assert.ok(!existsSync(p(`usr/lib/couic/node_modules/${dep}`)), `devDependency ${dep} installed`);
    }
  });

  it('writes executable wrappers pointing at the installed entry points', () => {
    for (const [name, sub] of [
      ['couic', 'daemon'],
      ['couicctl-node', 'cli'],
    ] as const) {
      const w = p(`usr/bin/${name}`);
      assert.equal(oct(mode(w)), '0755', `${name} mode`);
      const text = readFileSync(w, 'utf8');
      assert.match(text, /^#!\/bin\/sh\n/);
      assert.ok(text.includes(`/usr/lib/couic/dist/src/${sub}/main.js "$@"`), `${name} wrapper: ${text}`);
    }
  });

  it('installs the native couicctl, which hands what it does not run to couicctl-node beside it', () => {
    const ctl = p('usr/bin/couicctl');
    assert.equal(oct(mode(ctl)), '0755');
    assert.equal(readFileSync(ctl).subarray(0, 4).toString('latin1'), '\x7fELF');
    // a command it does not run: exec'd to the couicctl-node wrapper, which
    // names the final path (not there inside DESTDIR): the shell's error shows the handover
    const r = spawnSync(ctl, ['--version'], { encoding: 'utf8' });
    assert.match(r.stderr, /\/usr\/lib\/couic\/dist\/src\/cli\/main\.js/, r.stderr);
  });

  it('installs couic-ban and the fail2ban action pointing at it', () => {
    assert.equal(oct(mode(p('usr/bin/couic-ban'))), '0755');
    const bad = spawnSync(p('usr/bin/couic-ban'), ['ban', 'fail2ban-sshd', 'a;b'], { encoding: 'utf8' });
    assert.equal(bad.status, 2, bad.stderr);
    const action = readFileSync(p('etc/fail2ban/action.d/couic.conf'), 'utf8');
    assert.match(action, /^couic_ban = \/usr\/bin\/couic-ban$/m);
    assert.ok(existsSync(p('etc/fail2ban/action.d/couic.py')));
    assert.ok(existsSync(p('etc/fail2ban/jail.d/couic.local')));
  });

  it('the installed daemon runs from its new place (--version, finds its helper)', () => {
    // The wrapper names the final path; run the same entry point inside DESTDIR.
    const r = spawnSync(process.execPath, [p('usr/lib/couic/dist/src/daemon/main.js'), '--version'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    assert.match(r.stdout, new RegExp(version.replaceAll('.', '\\.')));
    const h = spawnSync(p('usr/lib/couic/src/helper/.output/couic-helper'), ['--abi'], { encoding: 'utf8' });
    assert.equal(h.status, 0, h.stderr);
    JSON.parse(h.stdout);
  });

  it('installs the man pages generated from the CLI and config definitions', async () => {
    const { couicctlPage } = await import('../../src/man/couicctl.js');
    const { couicPage } = await import('../../src/man/couic.js');
    const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    assert.equal(readFileSync(p('usr/share/man/man1/couicctl.1'), 'utf8'), couicctlPage(version));
    assert.equal(readFileSync(p('usr/share/man/man8/couic.8'), 'utf8'), couicPage(version));
    assert.equal(oct(mode(p('usr/share/man/man8/couic.8'))), '0644');
  });

  it('installs the hardened unit', () => {
    const unit = readFileSync(p('usr/lib/systemd/system/couic.service'), 'utf8');
    assert.equal(oct(mode(p('usr/lib/systemd/system/couic.service'))), '0644');
    const lines = new Set(unit.split('\n'));
    for (const l of [
      'ExecStart=/usr/lib/couic/src/helper/.output/couic-launcher -- /usr/bin/couic -c /etc/couic/couic.toml',
      'User=couic',
      'Group=couic',
      'RuntimeDirectory=couic',
      'LogsDirectory=couic',
      'StateDirectory=couic',
      'ProtectSystem=strict',
      'UMask=0027',
      'AmbientCapabilities=CAP_BPF CAP_NET_ADMIN CAP_PERFMON',
      'CapabilityBoundingSet=CAP_BPF CAP_NET_ADMIN CAP_PERFMON',
      'NoNewPrivileges=yes',
      'RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6',
      'SystemCallFilter=@system-service bpf',
    ]) {
      assert.ok(lines.has(l), `unit lacks ${l}`);
    }
  });

  it('installs the configs with Couic modes', () => {
    const toml = p('etc/couic/couic.toml');
    const ctl = p('etc/couic/couicctl.toml');
    assert.equal(oct(mode(toml)), '0640');
    assert.equal(oct(mode(ctl)), '0600');
    if (process.getuid?.() === 0) {
      assert.equal(statSync(toml).uid, 0);
      assert.equal(statSync(ctl).uid, 0);
      assert.equal(statSync(ctl).gid, 0);
    }
    const text = readFileSync(toml, 'utf8');
    assert.match(text, /^working_dir = "\/var\/lib\/couic"$/m);
    assert.match(text, /^socket = "\/run\/couic\/couic\.sock"$/m);
    assert.match(text, /^user = "couic"$/m);
    assert.match(readFileSync(ctl, 'utf8'), /^client_file = "\/var\/lib\/couic\/rbac\/clients\/couicctl\.toml"$/m);
  });

  it('the sample config is valid for the daemon', async () => {
    const { loadConfig } = await import('../../src/daemon/config.js');
    const c = loadConfig(p('etc/couic/couic.toml'), {});
    assert.equal(c.workingDir, '/var/lib/couic');
    assert.equal(c.server.socket, '/run/couic/couic.sock');
    assert.equal(c.user, 'couic');
    assert.equal(c.group, 'couic');
    assert.deepEqual(c.ifaces, []);
  });

  it('writes a sysusers.d and a tmpfiles.d file instead of creating the user', () => {
    const su = readFileSync(p('usr/lib/sysusers.d/couic.conf'), 'utf8');
    assert.match(su, /^u couic - ".*" \/var\/lib\/couic \/usr\/sbin\/nologin$/m);
    const tf = readFileSync(p('usr/lib/tmpfiles.d/couic.conf'), 'utf8');
    assert.match(tf, /^d \/var\/lib\/couic 0755 couic couic -$/m);
    assert.match(tf, /^d \/run\/couic 0750 couic couic -$/m);
    assert.match(tf, /^d \/var\/log\/couic 0750 couic couic -$/m);
    assert.match(tf, /^z \/etc\/couic\/couic\.toml 0640 root couic -$/m);
    assert.equal(oct(mode(p('var/lib/couic'))), '0755');
    assert.match(out, /installed into/);
  });

  it('installs the fail2ban files the tree has, and only those', () => {
    for (const kind of ['action.d', 'jail.d']) {
      const src = join(REPO_ROOT, kind);
      const files = existsSync(src)
        ? spawnSync('find', [src, '-maxdepth', '1', '-type', 'f', '!', '-name', '.*'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)
        : [];
      for (const f of files) {
        const name = f.slice(src.length + 1);
        assert.ok(existsSync(p(`etc/fail2ban/${kind}/${name}`)), `${kind}/${name} not installed`);
      }
      assert.ok(!existsSync(p(`etc/fail2ban/${kind}/.gitkeep`)));
      if (files.length === 0) assert.ok(!existsSync(p(`etc/fail2ban/${kind}`)));
    }
  });
});

describe('packaging/install.sh PREFIX', { skip: built ? false : 'not built (npm run build)' }, () => {
  it('PREFIX=/usr/local moves the tree, the wrappers and the unit', () => {
    const { dest } = install({ PREFIX: '/usr/local' });
    assert.ok(existsSync(join(dest, 'usr/local/lib/couic/dist/src/daemon/main.js')));
    assert.ok(readFileSync(join(dest, 'usr/local/bin/couic'), 'utf8').includes('/usr/local/lib/couic/dist/src/daemon/main.js'));
    const unit = readFileSync(join(dest, 'usr/local/lib/systemd/system/couic.service'), 'utf8');
    assert.match(unit, /^ExecStart=\/usr\/local\/lib\/couic\/src\/helper\/\.output\/couic-launcher -- \/usr\/local\/bin\/couic -c \/etc\/couic\/couic\.toml$/m);
    assert.ok(existsSync(join(dest, 'etc/couic/couic.toml')));
    assert.match(readFileSync(join(dest, 'etc/fail2ban/action.d/couic.conf'), 'utf8'), /^couic_ban = \/usr\/local\/bin\/couic-ban$/m);
    assert.ok(!existsSync(join(dest, 'usr/lib')));
  });

  it('BINDIR=/usr/sbin (the Debian package) moves the commands, the unit\'s ExecStart and the action\'s couic-ban', () => {
    const { dest } = install({ PREFIX: '/usr', BINDIR: '/usr/sbin' });
    for (const f of ['couic', 'couicctl', 'couicctl-node', 'couic-ban']) assert.ok(existsSync(join(dest, 'usr/sbin', f)), f);
    assert.ok(!existsSync(join(dest, 'usr/bin')));
    const unit = readFileSync(join(dest, 'usr/lib/systemd/system/couic.service'), 'utf8');
    assert.match(unit, /^ExecStart=\/usr\/lib\/couic\/src\/helper\/\.output\/couic-launcher -- \/usr\/sbin\/couic -c \/etc\/couic\/couic\.toml$/m);
    assert.match(readFileSync(join(dest, 'etc/fail2ban/action.d/couic.conf'), 'utf8'), /^couic_ban = \/usr\/sbin\/couic-ban$/m);
  });

  it('rejects a relative PREFIX', () => {
    const dest = mkdtempSync(join(tmpdir(), 'couic-install-'));
    dirs.push(dest);
    const r = spawnSync('sh', [INSTALL], { env: { ...process.env, DESTDIR: dest, PREFIX: 'usr' }, encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /PREFIX must be an absolute path/);
  });
});
