/**
 * packaging/systemd/couic.service: `systemd-analyze verify` accepts it with
 * no warning, and `systemd-analyze security --offline` rates it OK.
 *
 * Both run against a scratch root (--root) holding the unit, a stand-in
 * /usr/bin/couic (verify checks that ExecStart is executable) and a copy of
 * the host's stock units (verify needs sysinit.target & co).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT } from '../lib/daemon.js';

const UNIT = join(REPO_ROOT, 'packaging', 'systemd', 'couic.service');
const hasAnalyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' }).status === 0;
const STOCK_UNITS = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((d) => existsSync(join(d, 'sysinit.target')));
const skip = !hasAnalyze
  ? 'systemd-analyze not installed (apt-get install systemd)'
  : STOCK_UNITS === undefined
    ? 'no stock systemd units (sysinit.target) on this host'
    : false;
if (skip !== false) console.log(`# systemd.test: skipped: ${skip}`);

describe('couic.service', { skip }, () => {
  let root = '';
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'couic-unit-'));
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
    mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
    cpSync(STOCK_UNITS!, join(root, 'usr/lib/systemd/system'), { recursive: true, dereference: false, verbatimSymlinks: true });
    writeFileSync(join(root, 'usr/bin/couic'), '#!/bin/sh\nexit 0\n');
    chmodSync(join(root, 'usr/bin/couic'), 0o755);
    // ExecStart runs couic-launcher from the install tree (verify checks that it exists).
    const launcher = join(root, 'usr/lib/couic/src/helper/.output/couic-launcher');
    mkdirSync(dirname(launcher), { recursive: true });
    writeFileSync(launcher, '#!/bin/sh\nexit 0\n');
    chmodSync(launcher, 0o755);
    cpSync(UNIT, join(root, 'etc/systemd/system/couic.service'));
  });
  after(() => {
    if (root !== '') rmSync(root, { recursive: true, force: true });
  });

  it('systemd-analyze verify passes without a warning', () => {
    const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, 'couic.service'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, `verify failed:\n${r.stdout}${r.stderr}`);
    // verify exits 0 on ignored (mis-spelled, bad value) settings: they only warn.
    assert.equal(r.stderr.trim(), '', `verify warned:\n${r.stderr}`);
  });

  it('systemd-analyze verify notices a broken unit (the check is real)', () => {
    const bad = readFileSync(UNIT, 'utf8').replace('ProtectSystem=strict', 'ProtectSystem=maybe');
    writeFileSync(join(root, 'etc/systemd/system/couic-bad.service'), bad);
    const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, 'couic-bad.service'], { encoding: 'utf8', timeout: 60_000 });
    assert.match(r.stderr, /couic-bad\.service:\d+: .*maybe/);
  });

  it('systemd-analyze security --offline rates the sandbox OK (exposure <= 3.0)', (t) => {
    const r = spawnSync('systemd-analyze', ['security', '--offline=true', `--root=${root}`, '--no-pager', 'couic.service'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (/unrecognized option|Unknown option/i.test(r.stderr)) {
      t.skip('this systemd-analyze has no --offline');
      return;
    }
    const m = /Overall exposure level for couic\.service: (\d+\.\d+)/.exec(r.stdout);
    assert.ok(m?.[1] !== undefined, `no exposure level:\n${r.stdout}${r.stderr}`);
    console.log(`# couic.service exposure ${m[1]}`);
    assert.ok(Number(m[1]) <= 3.0, `exposure ${m[1]} > 3.0:\n${r.stdout}`);
  });

  it('keeps the capabilities to CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON and allows bpf(2)', () => {
    const lines = readFileSync(UNIT, 'utf8').split('\n');
    const val = (k: string): string[] => lines.filter((l) => l.startsWith(`${k}=`)).map((l) => l.slice(k.length + 1));
    assert.deepEqual(val('AmbientCapabilities'), ['CAP_BPF CAP_NET_ADMIN CAP_PERFMON']);
    assert.deepEqual(val('CapabilityBoundingSet'), ['CAP_BPF CAP_NET_ADMIN CAP_PERFMON']);
    assert.deepEqual(val('User'), ['couic']);
    assert.deepEqual(val('ExecStart'), ['/usr/lib/couic/src/helper/.output/couic-launcher -- /usr/bin/couic -c /etc/couic/couic.toml']);
    const filters = val('SystemCallFilter');
    assert.ok(filters.some((f) => f.split(/\s+/).includes('bpf')), 'bpf(2) not allowed');
    assert.ok(!filters.some((f) => f.startsWith('~') && /@privileged|\bbpf\b/.test(f)), 'a deny list removes bpf(2)');
    assert.ok(val('RestrictAddressFamilies')[0]?.split(' ').includes('AF_NETLINK'));
  });
});
