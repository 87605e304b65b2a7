/**
 * [peering] and [reporting] (Couic's sections) are read, not ignored: a
 * Couic config parses unchanged, and a config that cannot work stops the
 * daemon with a message naming the key — never the token or the webhook's secret.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse } from 'smol-toml';
import { ConfigError, configFromToml } from '../../src/daemon/config.js';
import { DAEMON_MAIN } from '../lib/daemon.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const cfg = (toml: string) => configFromToml(parse(toml) as Record<string, unknown>, 'test.toml', {});
const TOKEN = 'f018a987-c0ae-4269-a6e7-02a0fe77e553';
const peer = (extra = '', base = `host = "peer1.example.com"\nport = 2900\ntls = true\ntoken = "${TOKEN}"`) =>
  `[peering]\nenabled = true\n[[peering.peers]]\n${base}\n${extra}`;

describe('[peering] and [reporting]', () => {
  it('reads Couic\'s sections as Couic writes them', () => {
    const c = cfg(`
[reporting]
enabled = true
webhook = "http://127.0.0.1:8000/v1/reports/0b9b5c51-7b5a-4c54-9a5e-b6f3c8a1d2e4"
[peering]
enabled = true
[[peering.peers]]
host = "peer1.example.com"
port = 8080
tls = true
token = "${TOKEN}"
[[peering.peers]]
host = "10.0.0.2"
port = 8081
tls = false
token = "f657b53a-610e-4a5d-ae76-f1722d2854ac"
`);
    assert.equal(c.peering.enabled, true);
    assert.deepEqual(c.peering.peers, [
      { host: 'peer1.example.com', port: 8080, tls: true, token: TOKEN, ca: '' },
      { host: '10.0.0.2', port: 8081, tls: false, token: 'f657b53a-610e-4a5d-ae76-f1722d2854ac', ca: '' },
    ]);
    assert.equal(c.reporting.enabled, true);
    assert.match(c.reporting.webhook, /^http:\/\/127\.0\.0\.1:8000\/v1\/reports\//);
    // Couic's disabled form (peers = []) and an absent section both parse.
    assert.equal(cfg('[peering]\nenabled = false\npeers = []').peering.enabled, false);
    assert.equal(cfg('').reporting.enabled, false);
  });

  it('a config that cannot work fails, naming the key', () => {
    const cases: [string, RegExp][] = [
      ['[peering]\nenabled = true', /`peering.peers`: peering is enabled and no \[\[peering.peers\]\] is given/],
      ['[peering]\nenable = true', /`peering.enable`: unknown key/],
      ['[peering]\npeers = 3', /`peering.peers`: expected an array of tables/],
      [peer('', `host = "a"\nport = 1\ntls = true`), /`peering.peers.token`: missing \(required\) \(peer #1/],
      [peer('', `host = "a"\nport = 1\ntoken = "${TOKEN}"`), /`peering.peers.tls`: missing/],
      [peer('', `port = 1\ntls = true\ntoken = "${TOKEN}"`), /`peering.peers.host`: missing/],
      [peer('', `host = "a"\ntls = true\ntoken = "${TOKEN}"`), /`peering.peers.port`: missing/],
      [peer('tokn = "x"'), /`peering.peers.tokn`: unknown key \(peer #1/],
      [peer('', `host = "a"\nport = 70000\ntls = true\ntoken = "${TOKEN}"`), /`peering.peers.port`: expected an integer in 1\.\.65535/],
      [peer('', `host = "https://a"\nport = 1\ntls = true\ntoken = "${TOKEN}"`), /`peering.peers.host`: expected a host name/],
      [peer('', `host = "a/b"\nport = 1\ntls = true\ntoken = "${TOKEN}"`), /`peering.peers.host`: expected a host name/],
      [peer('', `host = "a"\nport = 1\ntls = false\ntoken = "${TOKEN}"\nca = "/etc/ssl/ca.pem"`), /`peering.peers.ca`: a CA file needs tls = true/],
      [peer('ca = "/nonexistent/ca.pem"'), /`peering.peers.ca`: cannot read \/nonexistent\/ca.pem: ENOENT/],
      [`${peer()}\n[[peering.peers]]\nhost = "peer1.example.com"\nport = 2900\ntls = true\ntoken = "${TOKEN}"`, /`peering.peers`: the peer peer1.example.com:2900 is listed twice/],
      ['[reporting]\nenabled = true', /`reporting.webhook`: reporting is enabled and no webhook URL is given/],
      ['[reporting]\nenabled = true\nwebhook = "not a url"', /`reporting.webhook`: expected an http:\/\/ or https:\/\/ URL/],
      ['[reporting]\nenabled = true\nwebhook = "ftp://h/x"', /`reporting.webhook`: expected an http:\/\/ or https:\/\/ URL, got scheme "ftp:"/],
      ['[reporting]\nwebhok = "http://h/"', /`reporting.webhok`: unknown key/],
      ['[reporting]\nenabled = "yes"', /`reporting.enabled`: expected a boolean/],
    ];
    for (const [toml, re] of cases) {
      assert.throws(() => cfg(toml), (err: unknown) => err instanceof ConfigError && re.test(err.message), toml);
    }
  });

  it('never shows a token or the webhook\'s secret', () => {
    const secret = 'sekret-4c54-9a5e';
    assert.throws(() => cfg(peer('', `host = "a"\nport = 1\ntls = true\ntoken = "${secret}"`)), (err: unknown) =>
      err instanceof ConfigError && /`peering.peers.token`: expected a UUID/.test(err.message) && !err.message.includes(secret));
    assert.throws(() => cfg(`[reporting]\nenabled = true\nwebhook = "gopher://h/${secret}"`), (err: unknown) =>
      err instanceof ConfigError && !err.message.includes(secret));
  });

  it('the daemon exits 1 on a [peering] that cannot work, naming the key', () => {
    const d = mkdtempSync(join(tmpdir(), 'couic-cfgp-'));
    dirs.push(d);
    const p = join(d, 'couic.toml');
    writeFileSync(p, `working_dir = "${d}"\n[server]\nsocket = "${d}/s.sock"\n${peer('', 'host = "a"\nport = 1\ntls = true')}\n`);
    const r = spawnSync(process.execPath, [DAEMON_MAIN, '-c', p], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /Error loading configuration: invalid value for `peering.peers.token`: missing \(required\)/);
  });
});
