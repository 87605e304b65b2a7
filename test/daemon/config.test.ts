import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse } from 'smol-toml';
import { CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON, CAP_SYS_ADMIN, effectiveCaps, missingCaps } from '../../src/daemon/caps.js';
import { ConfigError, configFromToml, loadConfig } from '../../src/daemon/config.js';
import { helperPath } from '../../src/xdp/helper.js';
import { DAEMON_MAIN } from '../lib/daemon.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const cfg = (toml: string, env: NodeJS.ProcessEnv = {}) => configFromToml(parse(toml) as Record<string, unknown>, 'test.toml', env);

describe('config', () => {
  it('embedded default needs no setup', () => {
    const c = loadConfig(undefined, {});
    assert.equal(c.workingDir, '/var/lib/couic');
    assert.equal(c.server.socket, '/run/couic/couic.sock');
    assert.deepEqual(c.ifaces, []);
    assert.equal(c.user, userInfo().username);
    assert.equal(c.operationMode, 'generic');
    assert.equal(c.logging.level, 'info');
    assert.equal(c.dataplane.helper, helperPath());
    assert.deepEqual(
      [c.dataplane.dropExact, c.dataplane.dropCidr, c.dataplane.ignoreExact, c.dataplane.ignoreCidr, c.dataplane.maxTags],
      [1_048_576, 262_144, 65_536, 65_536, 4096],
    );
    assert.equal(c.dataplane.pinDir, '/sys/fs/bpf/couic');
    assert.equal(c.dataplane.lpmOnly, false);
    assert.equal(c.dataplane.batching, true);
    assert.equal(c.journal.fsync, true);
  });

  it('reads Couic keys (the [logging] ones included), ignores unknown ones', () => {
    const c = cfg(`
ifaces = ["eth0", "eth1"]
operation_mode = "native"
working_dir = "/srv/couic"
user = "couic"
group = "couic"
whatever = 3
[logging]
dir = "/var/log/couic"
rotation = "never"
format = "json"
level = "debug"
[server]
socket = "/tmp/x.sock"
[peering]
enabled = false
[dataplane]
pin_dir = "/sys/fs/bpf/couic"
drop_exact = 1000
batching = false
lpm_only = true
[journal]
fsync = false
compact_after = 10
[queue]
max_pending = 5
`);
    assert.deepEqual(c.ifaces, ['eth0', 'eth1']);
    assert.equal(c.operationMode, 'native');
    assert.equal(c.workingDir, '/srv/couic');
    assert.equal(c.user, 'couic');
    assert.equal(c.logging.level, 'debug');
    assert.deepEqual(c.logging.files, { dir: '/var/log/couic', explicit: true, rotation: 'never', maxFiles: 7, format: 'json' });
    assert.deepEqual(cfg('').logging.files, { dir: '/var/log/couic', explicit: false, rotation: 'daily', maxFiles: 7, format: 'text' });
    assert.equal(c.server.socket, '/tmp/x.sock');
    assert.equal(c.dataplane.pinDir, '/sys/fs/bpf/couic');
    assert.equal(c.dataplane.dropExact, 1000);
    assert.equal(c.dataplane.batching, false);
    assert.equal(c.dataplane.lpmOnly, true);
    assert.equal(c.journal.fsync, false);
    assert.equal(c.journal.compactAfter, 10);
    assert.equal(c.queue.maxPending, 5);
    assert.equal(cfg('operation_mode = "auto"').operationMode, 'auto');
  });

  it('COUIC_LOG_LEVEL overrides the level, and RUST_LOG when it names a plain level', () => {
    assert.equal(cfg('[logging]\nlevel = "info"', { COUIC_LOG_LEVEL: 'warn' }).logging.level, 'warn');
    assert.equal(cfg('[logging]\nlevel = "info"', { RUST_LOG: 'debug' }).logging.level, 'debug');
    assert.equal(cfg('[logging]\nlevel = "info"', { RUST_LOG: 'couic=debug,hyper=info' }).logging.level, 'info');
    assert.equal(cfg('', { RUST_LOG: 'trace', COUIC_LOG_LEVEL: 'error' }).logging.level, 'error');
    assert.equal(cfg('', { COUIC_LOG_LEVEL: 'WARNING' }).logging.level, 'warn');
    assert.throws(() => cfg('', { COUIC_LOG_LEVEL: 'loud' }), /COUIC_LOG_LEVEL/);
  });

  it('errors name the key and the expected type', () => {
    const cases: [string, RegExp][] = [
      ['ifaces = "eth0"', /`ifaces`: expected an array of strings, got string "eth0"/],
      ['ifaces = [1]', /`ifaces`: expected an array of strings/],
      ['working_dir = 3', /`working_dir`: expected a string, got integer 3/],
      ['operation_mode = "offloaded"', /`operation_mode`.*offloaded.*not supported/],
      ['operation_mode = "turbo"', /`operation_mode`: expected one of generic, native, auto, got "turbo"/],
      ['[server]\nsocket = true', /`server.socket`: expected a string, got boolean true/],
      ['server = 1', /`server`: expected a table/],
      ['[dataplane]\ndrop_exact = -1', /`dataplane.drop_exact`: expected an integer in 1\.\.4294967295, got integer -1/],
      ['[dataplane]\ndrop_cidr = 1.5', /`dataplane.drop_cidr`: expected an integer/],
      ['[dataplane]\nbatching = "yes"', /`dataplane.batching`: expected a boolean/],
      ['[journal]\nfsync = 1', /`journal.fsync`: expected a boolean/],
      ['[logging]\nlevel = "chatty"', /`logging.level`: expected one of/],
      ['[logging]\nrotation = "hourly"', /`logging.rotation`: expected one of daily, weekly, never/],
    ];
    for (const [toml, re] of cases) {
      assert.throws(() => cfg(toml), (err: unknown) => err instanceof ConfigError && re.test(err.message), toml);
    }
  });

  it('the daemon exits 1 on a bad config, naming the key', () => {
    const d = mkdtempSync(join(tmpdir(), 'couic-cfg-'));
    dirs.push(d);
    const p = join(d, 'couic.toml');
    writeFileSync(p, 'ifaces = "eth0"\n');
    const r = spawnSync(process.execPath, [DAEMON_MAIN, '-c', p], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stdout, /^Starting couic \S+ \(Couic v1 API\)$/m);
    assert.match(r.stderr, /Error loading configuration: invalid value for `ifaces`: expected an array of strings/);
    writeFileSync(p, 'ifaces = [\n');
    const r2 = spawnSync(process.execPath, [DAEMON_MAIN, '-c', p], { encoding: 'utf8' });
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, /invalid TOML/);
    const r3 = spawnSync(process.execPath, [DAEMON_MAIN, '--bogus'], { encoding: 'utf8' });
    assert.equal(r3.status, 2);
  });
});

describe('caps', () => {
  it('parses CapEff and names what is missing', () => {
    const status = (hex: string): string => `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${hex}\n`;
    const bit = (n: number): bigint => 1n << BigInt(n);
    const hex = (m: bigint): string => m.toString(16).padStart(16, '0');
    const bpf = bit(CAP_BPF) | bit(CAP_PERFMON);
    assert.deepEqual(missingCaps(effectiveCaps(status(hex(bpf | bit(CAP_NET_ADMIN))))), []);
    assert.deepEqual(missingCaps(effectiveCaps(status(hex(bit(CAP_SYS_ADMIN) | bit(CAP_NET_ADMIN))))), []);
    assert.deepEqual(missingCaps(effectiveCaps(status(hex(bit(CAP_BPF) | bit(CAP_NET_ADMIN))))), ['CAP_PERFMON (or CAP_SYS_ADMIN)']);
    assert.deepEqual(missingCaps(effectiveCaps(status(hex(bit(CAP_NET_ADMIN))))), ['CAP_BPF (or CAP_SYS_ADMIN)', 'CAP_PERFMON (or CAP_SYS_ADMIN)']);
    assert.deepEqual(missingCaps(effectiveCaps(status(hex(bpf)))), ['CAP_NET_ADMIN']);
    assert.deepEqual(missingCaps(0n), ['CAP_BPF (or CAP_SYS_ADMIN)', 'CAP_PERFMON (or CAP_SYS_ADMIN)', 'CAP_NET_ADMIN']);
    assert.throws(() => effectiveCaps('Name: x\n'), /CapEff/);
  });

  it('the daemon refuses to start without CAP_BPF/CAP_NET_ADMIN', { skip: spawnSync('which', ['capsh']).status !== 0 ? 'capsh missing' : false }, () => {
    const d = mkdtempSync(join(tmpdir(), 'couic-caps-'));
    dirs.push(d);
    const p = join(d, 'couic.toml');
    writeFileSync(p, `working_dir = "${d}/work"\n[server]\nsocket = "${d}/s.sock"\n`);
    const r = spawnSync('capsh', ['--drop=cap_bpf,cap_sys_admin,cap_net_admin', '--', '-c', `exec ${process.execPath} ${DAEMON_MAIN} -c ${p}`], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /missing: CAP_BPF \(or CAP_SYS_ADMIN\), CAP_NET_ADMIN/);
  });
});
