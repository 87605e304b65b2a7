/**
 * couicctl end to end: the real CLI (`node dist/src/cli/main.js -c FILE`)
 * against the real daemon (test/lib/daemon.ts). The CLI talks to the
 * daemon through a counting Unix-socket proxy, so tests can assert that
 * argument errors never reach the daemon.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { formatExpiration } from '../../src/cli/format.js';
import { REPO_ROOT, daemonBuilt, startDaemon, type Daemon } from '../lib/daemon.js';

const CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 20000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** Expected Expiration cell, tolerating a second boundary between the CLI and us. */
function expirationCells(expiration: number, before: number, after: number): string[] {
  const out = new Set<string>();
  for (let t = before; t <= after; t += 1) out.add(formatExpiration(expiration, t));
  return [...out];
}

function entryTable(rows: readonly (readonly [string, string, string, string])[]): string {
  const header = ['Policy', 'CIDR', 'Tag', 'Expiration'] as const;
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: readonly string[]): string => `│ ${cells.map((c, i) => c.padEnd(w[i] as number)).join(' ┆ ')} │`;
  const border = (l: string, f: string, m: string, r: string): string => l + w.map((n) => f.repeat(n + 2)).join(m) + r;
  const out = [border('┌', '─', '┬', '┐'), line(header), border('╞', '═', '╪', '╡')];
  rows.forEach((r, i) => {
    if (i > 0) out.push(border('├', '╌', '┼', '┤'));
    out.push(line(r));
  });
  out.push(border('└', '─', '┴', '┘'));
  return `${out.join('\n')}\n`;
}

const apiError = (status: number, code: string, message: string, details: readonly string[] = []): string =>
  `Error executing command: Couic error: API error:\n  Status: ${status}\n  Code: ${code}\n  Message: ${message}` +
  (details.length > 0 ? `\n  Details:${details.map((d) => `\n    ${d}`).join('')}` : '') +
  '\n';

const usage = (message: string): string => `error: ${message}\n\nFor more information, try '--help'.\n`;

describe('couicctl against the real daemon', { skip: !daemonBuilt() && 'daemon not built' }, () => {
  let daemon: Daemon;
  let tmp: string;
  let proxy: net.Server;
  let proxySocket: string;
  let connections = 0;
  let cfg: string;
  const cli = (...args: string[]): Promise<Run> => runCli(['-c', cfg, ...args]);

  before(async () => {
    daemon = await startDaemon();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'couicctl-e2e-'));
    proxySocket = path.join(tmp, 'proxy.sock');
    proxy = net.createServer((down) => {
      connections += 1;
      const up = net.connect(daemon.socketPath);
      down.pipe(up).pipe(down);
      up.on('error', () => down.destroy());
      down.on('error', () => up.destroy());
    });
    await new Promise<void>((r) => proxy.listen(proxySocket, r));
    cfg = path.join(tmp, 'couicctl.toml');
    writeFileSync(cfg, `mode = "local"\nsocket = "${proxySocket}"\nclient_file = "${daemon.workingDir}/rbac/clients/couicctl.toml"\n`);
  });

  after(async () => {
    await new Promise((r) => proxy.close(r));
    await daemon?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('lists an empty policy as an empty table', async () => {
    const r = await cli('drop', 'list');
    assert.deepEqual(r, { code: 0, stdout: entryTable([]), stderr: '' });
    assert.deepEqual(await cli('drop', 'list', '--json'), { code: 0, stdout: '[]\n', stderr: '' });
    assert.deepEqual(await cli('drop', 'list', '-q'), { code: 0, stdout: '', stderr: '' });
  });

  it('drop add: default tag couicctl, normalized CIDR, never', async () => {
    const r = await cli('drop', 'add', '192.0.2.77/24');
    assert.deepEqual(r, { code: 0, stdout: entryTable([['drop', '192.0.2.0/24', 'couicctl', 'never']]), stderr: '' });
  });

  it('drop add with -e 1day 2h and a tag; inspect shows the remaining time', async () => {
    const t0 = nowSeconds();
    const r = await cli('drop', 'add', '2001:DB8::1/32', '-t', 'fail2ban-sshd', '-e', '1day 2h', '--json');
    const t1 = nowSeconds();
    assert.equal(r.code, 0, r.stderr);
    const entry = JSON.parse(r.stdout) as { creation: number; cidr: string; tag: string; expiration: number };
    assert.deepEqual(Object.keys(entry), ['creation', 'cidr', 'tag', 'expiration']);
    assert.equal(entry.cidr, '2001:db8::/32');
    assert.equal(entry.tag, 'fail2ban-sshd');
    assert.ok(entry.expiration >= t0 + 93600 && entry.expiration <= t1 + 93600);
    assert.equal(r.stdout, `${JSON.stringify(entry, null, 2)}\n`);

    const i0 = nowSeconds();
    const ins = await cli('drop', 'inspect', '2001:db8::ffff/32');
    const i1 = nowSeconds();
    assert.equal(ins.code, 0, ins.stderr);
    const cells = expirationCells(entry.expiration, i0, i1);
    assert.ok(cells.every((c) => c.startsWith('1d 1h59m') || c === '1d 2h0m0s'));
    assert.ok(
      cells.some((c) => ins.stdout === entryTable([['drop', '2001:db8::/32', 'fail2ban-sshd', c]])),
      `${ins.stdout} vs ${cells.join(', ')}`,
    );
  });

  it('ignore add: no default tag (-), "" shown empty when read back', async () => {
    let r = await cli('ignore', 'add', '10.0.0.0/8');
    assert.deepEqual(r, { code: 0, stdout: entryTable([['ignore', '10.0.0.0/8', '-', 'never']]), stderr: '' });
    r = await cli('ignore', 'add', '10.1.0.0/16', '-t', '');
    assert.deepEqual(r, { code: 0, stdout: entryTable([['ignore', '10.1.0.0/16', '-', 'never']]), stderr: '' });
    r = await cli('ignore', 'add', '10.2.0.0/16', '-t', 'lan', '-e', '2h');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /│ ignore ┆ 10\.2\.0\.0\/16 ┆ lan ┆ (2h0m0s|1h59m59s) +│/);
    r = await cli('ignore', 'list', '-t', '');
    assert.deepEqual(r, {
      code: 0,
      stdout: entryTable([
        ['ignore', '10.0.0.0/8', '', 'never'],
        ['ignore', '10.1.0.0/16', '', 'never'],
      ]),
      stderr: '',
    });
    const json = await cli('ignore', 'inspect', '10.0.0.0/8', '--json');
    assert.equal(json.code, 0);
    assert.equal(JSON.parse(json.stdout).tag, '');
  });

  it('list filters by tag patterns, -q prints CIDRs, --json the filtered array', async () => {
    assert.equal((await cli('drop', 'add', '198.51.100.1/32', '-t', 'fail2ban-nginx')).code, 0);
    assert.equal((await cli('drop', 'add', '198.51.100.2/32', '-t', '')).code, 0);
    const q = async (...tags: string[]): Promise<string> => {
      const r = await cli('drop', 'list', '-q', ...tags);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.split('\n').filter(Boolean).sort().join(' ');
    };
    assert.equal(await q(), '192.0.2.0/24 198.51.100.1/32 198.51.100.2/32 2001:db8::/32');
    assert.equal(await q('-t', '*'), '192.0.2.0/24 198.51.100.1/32 198.51.100.2/32 2001:db8::/32');
    assert.equal(await q('-t', 'fail2ban-*'), '198.51.100.1/32 2001:db8::/32');
    assert.equal(await q('-t', '*nginx'), '198.51.100.1/32');
    assert.equal(await q('-t', '*2ban*'), '198.51.100.1/32 2001:db8::/32');
    assert.equal(await q('-t', 'couicctl, *sshd'), '192.0.2.0/24 2001:db8::/32');
    assert.equal(await q('-t', ''), '198.51.100.2/32');
    assert.equal(await q('-t', 'nomatch'), '');
    const j = await cli('drop', 'list', '--tags', '*nginx', '--json');
    const arr = JSON.parse(j.stdout) as { cidr: string; tag: string }[];
    assert.deepEqual(arr.map((e) => [e.cidr, e.tag]), [['198.51.100.1/32', 'fail2ban-nginx']]);
  });

  it('reports a duplicate as the 409 API error', async () => {
    const r = await cli('drop', 'add', '192.0.2.1/24');
    assert.deepEqual(r, {
      code: 1,
      stdout: '',
      stderr: apiError(409, 'conflict', 'submitted entry is not valid', ['cidr: Code: conflict, Message: 192.0.2.0/24 already exists']),
    });
  });

  it('delete is silent; a second delete and inspect give 404', async () => {
    assert.deepEqual(await cli('drop', 'delete', '198.51.100.1/32'), { code: 0, stdout: '', stderr: '' });
    const notFound = apiError(404, 'not_found', 'submitted entry not found', ['cidr: Code: not_found, Message: cidr `198.51.100.1/32` not found']);
    assert.deepEqual(await cli('drop', 'delete', '198.51.100.1/32'), { code: 1, stdout: '', stderr: notFound });
    assert.deepEqual(await cli('drop', 'inspect', '198.51.100.1/32'), { code: 1, stdout: '', stderr: notFound });
  });

  it('the fast path and the yargs parser give the same results', async () => {
    const slow = (...args: string[]): Promise<Run> => runCli(['-c', cfg, ...args], { COUICCTL_NO_FAST_PATH: '1' });
    const same: string[][] = [
      ['drop', 'list'],
      ['drop', 'list', '-q'],
      ['drop', 'list', '--json'],
      ['drop', 'list', '-t', 'fail2ban-*,couicctl'],
      ['drop', 'list', '--tags', ''],
      ['ignore', 'list'],
      ['drop', 'inspect', '192.0.2.9/24'],
      ['drop', 'inspect', '192.0.2.0/24', '--json'],
      ['drop', 'inspect', '203.0.113.0/24'],
      ['drop', 'add', '192.0.2.0/24'],
      ['drop', 'add', 'nope'],
      ['drop', 'list', '-q', '--json'],
      ['drop', 'delete', '203.0.113.0/24'],
    ];
    for (const args of same) {
      // Remaining times tick: a second boundary between the two runs is retried.
      let pair: [Run, Run] = [await cli(...args), await slow(...args)];
      for (let i = 0; i < 3 && !isDeepStrictEqual(pair[0], pair[1]); i += 1) pair = [await cli(...args), await slow(...args)];
      assert.deepEqual(pair[0], pair[1], args.join(' '));
    }
    // Writes: each path adds and deletes its own entry.
    for (const [run, cidr] of [[cli, '203.0.113.1/32'], [slow, '203.0.113.2/32']] as const) {
      const add = await run('ignore', 'add', cidr, '-t', 'both', '-e', '1w');
      assert.equal(add.code, 0, add.stderr);
      assert.match(add.stdout, /┆ both ┆ (7d 0h0m0s|6d 23h59m59s) +│/);
      assert.deepEqual(await run('ignore', 'delete', cidr), { code: 0, stdout: '', stderr: '' });
    }
  });

  it('rejects bad arguments with exit 2 before any request', async () => {
    const cases: [string[], string][] = [
      [['drop', 'add', 'x'], usage("invalid value 'x' for '<CIDR>': invalid IP address syntax")],
      [['drop', 'add', '192.0.2.0'], usage("invalid value '192.0.2.0' for '<CIDR>': invalid IP address syntax")],
      [['ignore', 'delete', '1.2.3.4/33'], usage("invalid value '1.2.3.4/33' for '<CIDR>': invalid IP address syntax")],
      [['drop', 'inspect', '::1/129'], usage("invalid value '::1/129' for '<CIDR>': invalid IP address syntax")],
      [['drop', 'add', '1.2.3.4/32', '-t', 'a b'], usage("invalid value 'a b' for '--tag <TAG>': Tag can only contain alphanumeric characters, hyphens, and underscores")],
      [['drop', 'add', '1.2.3.4/32', '-t', 'x.couic'], usage("invalid value 'x.couic' for '--tag <TAG>': Tag cannot end with special suffix: .couic")],
      [['drop', 'list', '--json', '-q'], usage("the argument '--json' cannot be used with '--quiet'")],
      [['clients', 'list', '--json', '-q'], usage("the argument '--json' cannot be used with '--quiet'")],
      [['clients', 'add', '-n', 'a b', '-g', 'admin'], usage("invalid value 'a b' for '--name <NAME>': Client name can only contain alphanumeric characters, hyphens, and underscores")],
      [['clients', 'add', '-n', 'bob', '-g', 'root'], usage("invalid value 'root' for '--group <GROUP>': Invalid group: root")],
      [['clients', 'inspect', 'a.b'], usage("invalid value 'a.b' for '<NAME>': Client name can only contain alphanumeric characters, hyphens, and underscores")],
      [['sets', 'list', 'DROP'], usage("invalid value 'DROP' for '<POLICY>'\n  [possible values: drop, ignore]")],
      [['sets', 'create', 'drop', 's1'], usage('the following required arguments were not provided:\n  <ENTRIES>...|--from-asn <ASN>|--from-file <PATH>')],
      [['sets', 'create', 'drop', 's1', '1.2.3.4/32', '--from-asn', '1'], usage("the argument '--from-asn <ASN>' cannot be used with '[ENTRIES]...'")],
      [['sets', 'update', 'drop', 's1', 'nope'], usage("invalid value 'nope' for '[ENTRIES]...': invalid IP address syntax")],
      [['stats', 'global', '--live', '--json'], usage("the argument '--json' cannot be used with '--live'")],
      [['drop', 'list', '--bogus'], usage('Unknown argument: bogus')],
      [['drop', 'add', '1.2.3.4/32', '-t', 'a', '--tag', 'b'], usage("the argument '--tag <TAG>' cannot be used multiple times")],
      [['sets', 'create', 'drop', 's1', '--from-file', 'a', '--from-file', 'b'], usage("the argument '--from-file <PATH>' cannot be used multiple times")],
    ];
    const before = connections;
    for (const [args, stderr] of cases) {
      const r = await cli(...args);
      assert.deepEqual(r, { code: 2, stdout: '', stderr }, args.join(' '));
    }
    assert.equal(connections, before, 'no request reached the daemon');
  });

  it('reports a bad expiration as a command error, without a request', async () => {
    const before = connections;
    for (const e of ['10', '1.5h', 'soon']) {
      const r = await cli('drop', 'add', '203.0.113.0/24', '-e', e);
      assert.deepEqual(r, { code: 1, stdout: '', stderr: 'Error executing command: Generic error: Invalid expiration format\n' });
    }
    assert.equal(connections, before);
  });

  it('clients add/list/inspect/delete with display groups', async () => {
    const add = await cli('clients', 'add', '-n', 'f2b', '-g', 'ClientRW');
    assert.equal(add.code, 0, add.stderr);
    const m = /│ f2b  ┆ client_rw ┆ ([0-9a-f-]{36}) │/.exec(add.stdout);
    assert.ok(m, add.stdout);
    const token = m[1] as string;
    const ro = await cli('clients', 'add', '--name', 'viewer', '--group', 'clientro', '--json');
    assert.equal(ro.code, 0);
    const roJson = JSON.parse(ro.stdout) as { name: string; token: string; group: string };
    assert.deepEqual(Object.keys(roJson), ['name', 'token', 'group']);
    assert.equal(roJson.group, 'clientro');

    const ins = await cli('clients', 'inspect', 'f2b');
    assert.deepEqual(ins, {
      code: 0,
      stdout: [
        '┌──────┬───────────┬──────────────────────────────────────┐',
        '│ Name ┆ Group     ┆ Token                                │',
        '╞══════╪═══════════╪══════════════════════════════════════╡',
        `│ f2b  ┆ client_rw ┆ ${token} │`,
        '└──────┴───────────┴──────────────────────────────────────┘',
        '',
      ].join('\n'),
      stderr: '',
    });
    const list = await cli('clients', 'list');
    assert.equal(list.code, 0);
    assert.match(list.stdout, /│ viewer   ┆ client_ro ┆ /);
    assert.match(list.stdout, /│ couicctl ┆ admin     ┆ /);
    const names = await cli('clients', 'list', '-q');
    assert.deepEqual(names.stdout.split('\n').filter(Boolean).sort(), ['couicctl', 'f2b', 'viewer']);
    const json = JSON.parse((await cli('clients', 'list', '--json')).stdout) as { group: string }[];
    assert.deepEqual(json.map((c) => c.group).sort(), ['admin', 'clientro', 'clientrw']);

    assert.deepEqual(await cli('clients', 'delete', 'viewer'), { code: 0, stdout: '', stderr: '' });
    assert.deepEqual(await cli('clients', 'inspect', 'viewer'), { code: 1, stdout: '', stderr: apiError(404, 'not_found', 'Client not found: viewer') });
    assert.deepEqual(await cli('clients', 'delete', 'couicctl'), { code: 1, stdout: '', stderr: apiError(422, 'invalid', 'Cannot delete default client') });
    assert.deepEqual(await cli('clients', 'add', '-n', 'f2b', '-g', 'admin'), { code: 1, stdout: '', stderr: apiError(422, 'invalid', 'Client name already exists: f2b') });

    // The clientrw token may add entries but not manage clients (401).
    const clientFile = path.join(tmp, 'f2b.toml');
    writeFileSync(clientFile, `token = "${token}"\ngroup = "clientrw"\n`);
    const cfg2 = path.join(tmp, 'f2b-couicctl.toml');
    writeFileSync(cfg2, `mode = "local"\nsocket = "${proxySocket}"\nclient_file = "${clientFile}"\n`);
    assert.equal((await runCli(['-c', cfg2, 'drop', 'add', '203.0.113.9/32', '-t', 'f2b'])).code, 0);
    assert.deepEqual(await runCli(['-c', cfg2, 'clients', 'list']), { code: 1, stdout: '', stderr: apiError(401, 'unauthorized', 'Unauthorized') });
  });

  it('sets and stats commands against the real routes', async () => {
    const note = "Note: Run 'couicctl sets reload' to apply changes\n";
    const ok = async (args: string[], stdout: string | RegExp): Promise<void> => {
      const r = await cli(...args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr, '', args.join(' '));
      if (typeof stdout === 'string') assert.equal(r.stdout, stdout, args.join(' '));
      else assert.match(r.stdout, stdout, args.join(' '));
    };
    await ok(['sets', 'list', 'ignore'], "No sets found for policy 'ignore'\n");
    await ok(['sets', 'create', 'ignore', 'e2e', '192.168.1.100/24', '198.51.100.0/24'], `Set 'e2e' created with 2 entries\n${note}`);
    await ok(['sets', 'list', 'ignore'], 'e2e: 2 entries (32 bytes)\n');
    await ok(['sets', 'inspect', 'ignore', 'e2e'], 'Set: e2e\nEntry count: 2\nEntries:\n\t192.168.1.100/24\n\t198.51.100.0/24\n\n');
    await ok(['sets', 'reload'], 'Sets reloaded successfully\n');
    await ok(['ignore', 'list', '-q'], /^192\.168\.1\.0\/24$/m);
    await ok(['sets', 'update', 'ignore', 'e2e'], `Set 'e2e' updated with 0 entries\n${note}`);
    await ok(['sets', 'delete', 'ignore', 'e2e'], `Set 'e2e' deleted\n${note}`);
    await ok(['sets', 'reload'], 'Sets reloaded successfully\n');
    await ok(['stats', 'global'], /^Drop CIDR Count: \d+\nIgnore CIDR Count: \d+\nXDP Stats:\n  Action: XDP_ABORTED\n/);
    await ok(['stats', 'global', '--json'], /"XDP_DROP": \{/);
    await ok(['stats', 'ignore'], 'No tag statistics available.\n');
    await ok(['stats', 'ignore', '--json'], /^\{\n  "tags": \{\}\n\}\n$/);
    const r = await cli('sets', 'inspect', 'ignore', 'e2e');
    assert.equal(r.code, 1);
    assert.equal(r.stderr, apiError(404, 'not_found', "Set 'e2e' not found for policy 'ignore'"));
  });

  it('sets create --from-file reports bad lines; --from-asn reports RIPE errors offline', async () => {
    const file = path.join(tmp, 'bad.txt');
    writeFileSync(file, '# list\n10.0.0.0/8\nfoo\n');
    const before = connections;
    let r = await cli('sets', 'create', 'drop', 'lan', '--from-file', file);
    assert.deepEqual(r, {
      code: 1,
      stdout: `Reading CIDRs from file: ${file}\n`,
      stderr: 'Error executing command: Generic error: Failed to parse 1 CIDR(s):\nline 3: foo (invalid IP address syntax)\n',
    });
    // A loopback port nobody listens on stands in for the unreachable RIPEstat.
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    r = await runCli(['-c', cfg, 'sets', 'create', 'drop', 'asn', '--from-asn', 'AS64500'], { COUICCTL_RIPE_URL: `http://127.0.0.1:${port}/data.json` });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, 'Fetching prefixes for ASN: AS64500\n');
    assert.match(r.stderr, /^Error executing command: RIPE API error: request to http:\/\/127\.0\.0\.1:\d+\/data\.json failed: fetch failed: connect ECONNREFUSED 127\.0\.0\.1:\d+\n$/);
    r = await cli('sets', 'create', 'drop', 'asn', '--from-asn', 'ASx');
    assert.deepEqual(r, {
      code: 1,
      stdout: '',
      stderr: "Error executing command: Generic error: Invalid ASN format: ASN must be numeric (e.g., '200373' or 'AS200373'), got: 'ASx'\n",
    });
    assert.equal(connections, before);
  });

  it('config and client errors: Error: …, exit 1', async () => {
    const write = (name: string, text: string): string => {
      const p = path.join(tmp, name);
      writeFileSync(p, text);
      return p;
    };
    const clientFile = `${daemon.workingDir}/rbac/clients/couicctl.toml`;
    const cases: [string, string][] = [
      [write('nosock.toml', `mode = "local"\nclient_file = "${clientFile}"\n`), 'Error: Config(Validation("socket is required for local mode"))\n'],
      [write('nohost.toml', `mode = "remote"\nport = 2900\nclient_file = "${clientFile}"\n`), 'Error: Config(Validation("host is required for remote mode"))\n'],
      [write('noport.toml', `mode = "remote"\nhost = "localhost"\nclient_file = "${clientFile}"\n`), 'Error: Config(Validation("port is required for remote mode"))\n'],
      [write('gone.toml', `mode = "local"\nsocket = "${tmp}/gone.sock"\nclient_file = "${clientFile}"\n`), `Error: Client("Unix socket does not exist: ${tmp}/gone.sock")\n`],
      [write('badclient.toml', `mode = "local"\nsocket = "${proxySocket}"\nclient_file = "${tmp}/nope.toml"\n`), 'Error: Client("Invalid client file")\n'],
    ];
    const before = connections;
    for (const [file, stderr] of cases) {
      assert.deepEqual(await runCli(['-c', file, 'drop', 'list']), { code: 1, stdout: '', stderr }, file);
      // Built before the subcommand: a bare couicctl fails the same way.
      assert.deepEqual(await runCli(['-c', file]), { code: 1, stdout: '', stderr }, file);
    }
    assert.equal(connections, before);
    const missing = await runCli(['-c', path.join(tmp, 'absent.toml'), 'drop', 'list']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^Error: Config\(Io\(".*absent\.toml: ENOENT/);
    // A good config and no subcommand: help, exit 0.
    const help = await cli();
    assert.equal(help.code, 0);
    assert.match(help.stdout, /couicctl drop +Manage drop/);
    // --markdown-help works without any config.
    const md = await runCli(['-c', path.join(tmp, 'absent.toml'), '--markdown-help']);
    assert.equal(md.code, 0);
    assert.match(md.stdout, /^# Command-Line Help for `couicctl`\n/);
  });

  it('uses the embedded default config when /etc/couic/couicctl.toml is absent', { skip: existsSync('/etc/couic/couicctl.toml') || existsSync('/run/couic/couic.sock') ? 'a couic install on this host owns /etc/couic/couicctl.toml or /run/couic/couic.sock' : false }, async () => {
    assert.deepEqual(await runCli(['drop', 'list']), { code: 1, stdout: '', stderr: 'Error: Client("Unix socket does not exist: /run/couic/couic.sock")\n' });
  });

  it('a daemon that is down: stale socket → HTTP error, exit 1', async () => {
    const stale = path.join(tmp, 'stale.sock');
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(stale, r));
    // Keep the file but stop listening: connect() now gets ECONNREFUSED.
    await new Promise((r) => s.close(r));
    writeFileSync(stale, '');
    const file = path.join(tmp, 'stale.toml');
    writeFileSync(file, `mode = "local"\nsocket = "${stale}"\nclient_file = "${daemon.workingDir}/rbac/clients/couicctl.toml"\n`);
    const r = await runCli(['-c', file, 'drop', 'list']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^Error executing command: Couic error: HTTP error: error sending request for url \(http:\/\/localhost\/v1\/drop\): connect (ECONNREFUSED|ENOTSOCK) /);
  });
});
