/**
 * couic-ban, the C client of action.d/couic.conf, against a transport stub
 * (connection counter + request recorder; no bans are claimed to reach a
 * kernel here): argument validation (junk → exit 2, fast, no connection),
 * the exact request per command, the daemon's message on errors, and bounded
 * failure when the daemon is down or stuck.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawn, spawnSync } from 'node:child_process';
import { ACTION_DIR, buildCouicBan, couicBan, startStub, tmpDir, writeClientFile, type Stub } from './lib.js';

const TOKEN = '0b4c8f9e-2d3a-4f5b-8c6d-7e8f9a0b1c2d';

describe('couic-ban', () => {
  let dir: string;
  let stub: Stub;
  let tokenFile: string;
  let status = 200;
  let body = '{"applied":1}';
  const opts = (): string[] => ['-s', stub.socketPath, '-k', tokenFile, '-t', '2000'];

  before(async () => {
    buildCouicBan();
    dir = tmpDir('fb-ban-');
    tokenFile = writeClientFile(dir, TOKEN);
    stub = await startStub(path.join(dir, 'stub.sock'), () => ({ status, body }));
  });
  after(async () => {
    await stub.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses junk arguments with exit 2, a message, and no request', async () => {
    const cases: [string[], RegExp][] = [
      [['ban', 'fail2ban-sshd', 'a;b', '600'], /invalid IP address 'a;b'/],
      [['ban', 'fail2ban-sshd', 'some.host.example', '600'], /invalid IP address 'some\.host\.example'/],
      [['ban', 'fail2ban-sshd', 'None', '600'], /invalid IP address 'None'/],
      [['ban', 'fail2ban-sshd', '192.0.2.010', '600'], /invalid IP address/],
      [['ban', 'fail2ban-sshd', '', '600'], /invalid IP address/],
      [['ban', 'fail2ban-sshd', ' 192.0.2.1', '600'], /invalid IP address/],
      [['ban', 'fail2ban-sshd', 'fe80::1%eth0', '600'], /invalid IP address/],
      [['ban', 'fail2ban-sshd', '192.0.2.0/33', '600'], /invalid prefix length/],
      [['ban', 'fail2ban-sshd', '2001:db8::/129', '600'], /invalid prefix length/],
      [['ban', 'fail2ban-sshd', '192.0.2.0/', '600'], /invalid prefix length/],
      [['ban', 'fail2ban-sshd', '192.0.2.1', 'soon'], /invalid bantime 'soon'/],
      [['ban', 'fail2ban-sshd', '192.0.2.1', '1h'], /invalid bantime/],
      [['ban', 'fail2ban-sshd', '192.0.2.1'], /'ban' takes 3 arguments/],
      [['unban', 'fail2ban-sshd'], /'unban' takes 2 arguments/],
      [['ban', 'fail2ban-a.b', '192.0.2.1', '600'], /invalid owner/],
      [['ban', 'x'.repeat(65), '192.0.2.1', '600'], /invalid owner/],
      [['flush', 'untagged'], /invalid owner/],
      [['zap', 'fail2ban-sshd'], /unknown command 'zap'/],
      [['-b', 'yesterday', 'ban', 'fail2ban-sshd', '192.0.2.1', '600'], /invalid ban start time/],
      // a jail must never ban the whole Internet: at least /8 (IPv4), /16 (IPv6)
      [['ban', 'fail2ban-sshd', '0.0.0.0/0', '600'], /prefix \/0 is too wide for a ban: at least \/8 \(IPv4\) or \/16 \(IPv6\)/],
      [['ban', 'fail2ban-sshd', '10.0.0.0/7', '600'], /prefix \/7 is too wide for a ban/],
      [['prolong', 'fail2ban-sshd', '::/0', '600'], /prefix \/0 is too wide for a ban/],
      [['ban', 'fail2ban-sshd', '2001::/15', '600'], /prefix \/15 is too wide for a ban/],
    ];
    const before = stub.connections;
    for (const [args, msg] of cases) {
      const r = await couicBan([...opts(), ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: exit 2 (stderr ${r.stderr})`);
      assert.match(r.stderr, msg, args.join(' '));
      assert.ok(r.ms < 1000, `${args.join(' ')}: fast (${r.ms.toFixed(1)} ms)`);
    }
    assert.equal(stub.connections, before, 'no connection for junk');
  });

  it('ban: POST /v1/bans/OWNER with the normalised CIDR and expiration = round(start) + bantime', async () => {
    stub.requests.length = 0;
    status = 200;
    body = '{"applied":1}';
    const now = Math.floor(Date.now() / 1000);
    const cases: [string[], string, (e: number) => boolean][] = [
      [['ban', 'fail2ban-sshd', '192.0.2.7', '600'], '192.0.2.7/32', (e) => e >= now + 599 && e <= now + 602],
      [['-b', `${now + 10}.25`, 'ban', 'fail2ban-sshd', '192.0.2.8', '3600'], '192.0.2.8/32', (e) => e === now + 3610],
      [['-b', `${now + 10}.75`, 'ban', 'fail2ban-sshd', '192.0.2.8', '3600'], '192.0.2.8/32', (e) => e === now + 3611],
      [['-b', `${now}`, 'ban', 'fail2ban-sshd', '2001:DB8::0008', '-1'], '2001:db8::8/128', (e) => e === 0],
      [['-b', `${now}`, 'ban', 'fail2ban-sshd', '198.51.100.77/24', '60'], '198.51.100.0/24', (e) => e === now + 60],
      [['-b', `${now}`, 'prolong', 'fail2ban-sshd', '2001:db8:1:2::9/48', '120'], '2001:db8:1::/48', (e) => e === now + 120],
      // the narrowest-allowed prefixes pass
      [['-b', `${now}`, 'ban', 'fail2ban-sshd', '10.1.2.3/8', '60'], '10.0.0.0/8', (e) => e === now + 60],
      [['-b', `${now}`, 'ban', 'fail2ban-sshd', '2001:db8::/16', '60'], '2001::/16', (e) => e === now + 60],
      // a ban that already ended still gets a future expiration (the daemon
      // wants one): now + 2, so crossing a second boundary on the way is harmless
      [['-b', `${now - 7200}`, 'ban', 'fail2ban-sshd', '192.0.2.9', '60'], '192.0.2.9/32', (e) => e >= now + 2 && e <= now + 4],
    ];
    for (const [args, cidr, okExp] of cases) {
      const r = await couicBan([...opts(), ...args]);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr, '');
      const req = stub.requests.at(-1);
      assert.ok(req);
      assert.equal(req.method, 'POST');
      assert.equal(req.path, '/v1/bans/fail2ban-sshd');
      assert.equal(req.headers['authorization'], `Bearer ${TOKEN}`);
      assert.equal(req.headers['content-type'], 'application/json');
      assert.equal(req.headers['connection'], 'close');
      const j = JSON.parse(req.body) as { cidr: string; expiration: number };
      assert.deepEqual(Object.keys(j), ['cidr', 'expiration']);
      assert.equal(j.cidr, cidr, args.join(' '));
      assert.ok(okExp(j.expiration), `${args.join(' ')}: expiration ${j.expiration} (now ${now})`);
    }
  });

  it('unban, flush and check: one request each', async () => {
    stub.requests.length = 0;
    status = 204;
    body = '';
    const c0 = stub.connections;
    assert.equal((await couicBan([...opts(), 'unban', 'fail2ban-sshd', '192.0.2.7'])).code, 0);
    assert.equal((await couicBan([...opts(), 'unban', 'fail2ban-sshd', '2001:db8:1:2::9/48'])).code, 0);
    status = 200;
    body = '{"removed":3}';
    assert.equal((await couicBan([...opts(), 'flush', 'fail2ban-sshd'])).code, 0);
    body = '[]';
    assert.equal((await couicBan([...opts(), 'check', 'fail2ban-sshd'])).code, 0);
    assert.deepEqual(
      stub.requests.map((r) => `${r.method} ${r.path} ${r.body}`),
      [
        'DELETE /v1/bans/fail2ban-sshd/192.0.2.7/32 ',
        'DELETE /v1/bans/fail2ban-sshd/2001:db8:1::/48 ',
        'DELETE /v1/bans/fail2ban-sshd ',
        'GET /v1/bans/fail2ban-sshd ',
      ],
    );
    assert.equal(stub.connections - c0, 4, 'one connection per call');
  });

  it('an error answer: exit 1 with the daemon message', async () => {
    status = 422;
    body = '{"code":"invalid","message":"Validation failed","errors":{"expiration":{"code":"invalid","message":"must be in the future"}}}';
    const r = await couicBan([...opts(), 'ban', 'fail2ban-sshd', '192.0.2.7', '600']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /POST \/v1\/bans\/fail2ban-sshd: HTTP 422: .*Validation failed.*must be in the future/);
    status = 401;
    body = '{"code":"unauthorized","message":"Unauthorized","errors":{}}';
    const r2 = await couicBan([...opts(), 'unban', 'fail2ban-sshd', '192.0.2.7']);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /HTTP 401: .*Unauthorized/);
  });

  it('token file problems: exit 1, no request', async () => {
    const c0 = stub.connections;
    const r = await couicBan(['-s', stub.socketPath, '-k', path.join(dir, 'missing.toml'), 'flush', 'fail2ban-sshd']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot read client file .*missing\.toml/);
    const bad = writeClientFile(tmpDir('fb-tok-'), 'abc def');
    const r2 = await couicBan(['-s', stub.socketPath, '-k', bad, 'flush', 'fail2ban-sshd']);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /bad token in client file/);
    rmSync(path.dirname(bad), { recursive: true, force: true });
    assert.equal(stub.connections, c0);
  });

  it('daemon down: exit 1 at once (no socket, or nobody listening)', async () => {
    const r = await couicBan(['-s', path.join(dir, 'nothing.sock'), '-k', tokenFile, '-t', '3000', 'ban', 'fail2ban-sshd', '192.0.2.7', '600']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot connect to .*nothing\.sock: No such file or directory/);
    assert.ok(r.ms < 1000, `${r.ms} ms`);
    // a socket file left by a dead daemon
    const dead = path.join(dir, 'dead.sock');
    const srv = net.createServer();
    await new Promise<void>((res) => srv.listen(dead, () => res()));
    // the listener goes away (the file may stay, as after a crash)
    await new Promise<void>((res) => srv.close(() => res()));
    const r2 = await couicBan(['-s', dead, '-k', tokenFile, '-t', '3000', 'unban', 'fail2ban-sshd', '192.0.2.7']);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /cannot connect to .*dead\.sock: (Connection refused|No such file or directory)/);
    assert.ok(r2.ms < 1000, `${r2.ms} ms`);
  });

  it('stuck daemon (accepts, never answers): exit 1 within the timeout', async () => {
    const stuck = await startStub(path.join(dir, 'stuck.sock'), () => null);
    try {
      const r = await couicBan(['-s', stuck.socketPath, '-k', tokenFile, '-t', '400', 'ban', 'fail2ban-sshd', '192.0.2.7', '600']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /no answer from .*stuck\.sock within 400 ms/);
      assert.ok(r.ms >= 380 && r.ms < 1500, `${r.ms} ms`);
      assert.equal(stuck.requests.length, 1, 'the request was sent');
      const r2 = await couicBan(['-s', stuck.socketPath, '-k', tokenFile, '-t', '0.3s', 'flush', 'fail2ban-sshd']);
      assert.equal(r2.code, 1);
      assert.match(r2.stderr, /within 300 ms/);
    } finally {
      await stuck.close();
    }
  });

  /** A raw peer: the answer is written by `answer`, the connection is closed only when it says so. */
  const rawPeer = async (name: string, answer: (s: net.Socket) => void): Promise<{ sock: string; close: () => Promise<void> }> => {
    const sock = path.join(dir, name);
    const open = new Set<net.Socket>();
    const srv = net.createServer((s) => {
      open.add(s);
      s.on('error', () => {});
      let buf = '';
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        if (buf.includes('\r\n\r\n') && (!buf.startsWith('POST') || buf.endsWith('}'))) answer(s);
      });
    });
    await new Promise<void>((res) => srv.listen(sock, () => res()));
    return {
      sock,
      close: () => {
        for (const s of open) s.destroy();
        return new Promise((res) => srv.close(() => res()));
      },
    };
  };

  it('stops reading at Content-Length (no wait for the daemon to close), reads split answers whole, or to EOF without one', async () => {
    const ban = (sock: string): Promise<{ code: number | null; stderr: string; ms: number }> =>
      couicBan(['-s', sock, '-k', tokenFile, '-t', '3000', 'ban', 'fail2ban-sshd', '192.0.2.7', '600']);

    // the whole answer, connection left open: done at once, not at the 3 s timeout
    const open = await rawPeer('open.sock', (s) => s.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"applied":1}'));
    try {
      const r = await ban(open.sock);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.ms < 1000, `${r.ms} ms`);
    } finally {
      await open.close();
    }
    // head first, body 200 ms later (still open): the body is waited for and reported
    const msg = '{"code":"invalid","message":"Validation failed","errors":{}}';
    const split = await rawPeer('split.sock', (s) => {
      s.write(`HTTP/1.1 422 Unprocessable Entity\r\ncontent-length: ${msg.length}\r\n\r\n`);
      setTimeout(() => s.write(msg), 200);
    });
    try {
      const r = await ban(split.sock);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /HTTP 422: .*Validation failed/);
      assert.ok(r.ms >= 180 && r.ms < 1500, `${r.ms} ms`);
    } finally {
      await split.close();
    }
    // no Content-Length: read to EOF
    const eof = await rawPeer('eof.sock', (s) => {
      s.write('HTTP/1.1 200 OK\r\n\r\n{"applied"');
      setTimeout(() => s.end(':1}'), 200);
    });
    try {
      const r = await ban(eof.sock);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.ms >= 180 && r.ms < 1500, `${r.ms} ms`);
    } finally {
      await eof.close();
    }
  });

  it('a 204 ends with its head, a body beyond 64 KiB is counted, a bad Content-Length is not trusted', async () => {
    const cli = (sock: string, ...args: string[]): Promise<{ code: number | null; stderr: string; ms: number }> =>
      couicBan(['-s', sock, '-k', tokenFile, '-t', '3000', ...args]);
    const cases: [string, string[], (s: net.Socket) => void][] = [
      // the daemon's unban answer (no Content-Length on a 204), connection left open: done at once
      ['204.sock', ['unban', 'fail2ban-sshd', '192.0.2.7'], (s) => s.write('HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n')],
      // `check` of an owner with thousands of bans: 100 kB, more than the 64 KiB kept
      ['big.sock', ['check', 'fail2ban-sshd'], (s) => s.write(`HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n[${' '.repeat(99998)}]`)],
      // blanks around the value
      ['tab.sock', ['check', 'fail2ban-sshd'], (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length:\t2\t\r\n\r\n[]')],
    ];
    for (const [name, args, answer] of cases) {
      const peer = await rawPeer(name, answer);
      try {
        const r = await cli(peer.sock, ...args);
        assert.equal(r.code, 0, `${name}: ${r.stderr}`);
        assert.ok(r.ms < 1000, `${name}: ${r.ms} ms`);
      } finally {
        await peer.close();
      }
    }
    // an empty or absurd Content-Length: read to EOF (not 0 bytes of body, no overflow)
    for (const cl of ['', ' ', '9223372036854775800', '+4', '-1']) {
      const peer = await rawPeer('cl.sock', (s) => {
        s.write(`HTTP/1.1 500 Internal Server Error\r\ncontent-length:${cl}\r\nx-after: 4\r\n\r\n`);
        setTimeout(() => s.end('boom'), 200);
      });
      try {
        const r = await cli(peer.sock, 'check', 'fail2ban-sshd');
        assert.equal(r.code, 1);
        assert.match(r.stderr, /HTTP 500: boom/, JSON.stringify(cl));
      } finally {
        await peer.close();
      }
    }
  });

  it('is quick: about half a millisecond per call against an instant peer', async (t) => {
    status = 200;
    body = '{"applied":1}';
    const n = 200;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const r = await couicBan([...opts(), 'ban', 'fail2ban-sshd', `10.1.${i >> 8}.${i & 255}`, '600']);
      assert.equal(r.code, 0);
    }
    const per = (performance.now() - t0) / n;
    // spawn from node included; informative only
    t.diagnostic(`couic-ban round trip incl. node spawn: ${per.toFixed(2)} ms/call`);
  });
});

/**
 * action.d/couic.py's sender against the transport stub, run by the system
 * python3 that has fail2ban (a tiny harness loads the action, bans, stops).
 */
const PY = '/usr/bin/python3';
const pySkip = spawnSync(PY, ['-c', 'import fail2ban']).status === 0 ? false : 'needs python3 with fail2ban';
const HARNESS = `
import importlib.util, json, logging, sys, time
spec = importlib.util.spec_from_file_location("couic_action", sys.argv[1])
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
class J: name = "t"
logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(levelname)s %(message)s")
a = m.CouicAction(J(), "couic", socket=sys.argv[2], client_file=sys.argv[3], timeout=sys.argv[4], backlog=sys.argv[5])
a._logSys = logging.getLogger("couic")
a.start()
now = time.time()
for op in json.loads(sys.argv[6]):
    if op[0] == "sleep":
        time.sleep(op[1]); continue
    try:
        if op[0] == "unban":
            a.unban({"ip": op[1]})
        else:
            a.ban({"ip": op[1], "time": now + op[2], "bantime": op[3]})
    except ValueError as e:
        print("VALUEERROR", e)
time.sleep(float(sys.argv[7]))
a.stop()
print("DONE")
`;

describe('couic.py against a transport stub', { skip: pySkip, timeout: 60_000 }, () => {
  let dir: string;
  let client: string;
  before(() => {
    dir = tmpDir('fb-py-');
    client = writeClientFile(dir, TOKEN);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const runPy = async (sock: string, timeout: string, backlog: string, ops: unknown[], settle: number): Promise<string> => {
    const p = spawn(PY, ['-c', HARNESS, path.join(ACTION_DIR, 'couic.py'), sock, client, timeout, backlog, JSON.stringify(ops), String(settle)]);
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => p.on('exit', r));
    assert.match(out, /DONE/, out);
    return out;
  };
  const busy = { status: 503, body: '{"code":"busy","message":"Busy","errors":{}}' };

  it('503 busy is retried within the window; the clamped expiration is recomputed on each try', async () => {
    let n = 0;
    const seen: { at: number; body: string }[] = [];
    const stub = await startStub(path.join(dir, 'busy.sock'), (req) => {
      seen.push({ at: Math.floor(Date.now() / 1000), body: req.body });
      n += 1;
      return n <= 8 ? busy : { status: 200, body: '{"applied":1}' };
    });
    try {
      // a restored ban that already ended: sent as now + 2
      const out = await runPy(stub.socketPath, '5', '100', [['ban', '192.0.2.9', -7200, 60]], 4);
      assert.doesNotMatch(out, /ERROR/, out);
      assert.equal(seen.length, 9, 'eight 503 answers retried, then 200');
      for (const r of seen) {
        const [j] = JSON.parse(r.body) as { cidr: string; expiration: number }[];
        assert.equal(j?.cidr, '192.0.2.9/32');
        assert.ok(j!.expiration >= r.at + 1, `expiration ${j!.expiration} still in the future at ${r.at}`);
      }
      const exps = seen.map((r) => (JSON.parse(r.body) as { expiration: number }[])[0]!.expiration);
      assert.ok(exps.at(-1)! > exps[0]!, `recomputed: ${exps.join(',')}`);
    } finally {
      await stub.close();
    }
  });

  it('an outage longer than the window keeps the bans in the backlog (no collapse to one try); overflow is dropped with ERROR', async () => {
    const until = Date.now() + 3000;
    const ok: string[] = [];
    const stub = await startStub(path.join(dir, 'down.sock'), (req) => {
      if (Date.now() < until) return busy;
      for (const b of JSON.parse(req.body) as { cidr: string }[]) ok.push(b.cidr);
      return { status: 200, body: '{"applied":1}' };
    });
    try {
      const out = await runPy(stub.socketPath, '1', '100', [['ban', '192.0.2.1', 0, 600], ['sleep', 1.5], ['ban', '192.0.2.2', 0, 600]], 4);
      assert.deepEqual(ok.sort(), ['192.0.2.1/32', '192.0.2.2/32'], out);
      assert.match(out, /ERROR couic: the daemon on .* is unavailable/);
      assert.doesNotMatch(out, /dropped/);
      assert.match(out, /answers again/);
    } finally {
      await stub.close();
    }
    const ok2: string[] = [];
    const until2 = Date.now() + 2500;
    const stub2 = await startStub(path.join(dir, 'down2.sock'), (req) => {
      if (Date.now() < until2) return busy;
      for (const b of JSON.parse(req.body) as { cidr: string }[]) ok2.push(b.cidr);
      return { status: 200, body: '{"applied":1}' };
    });
    try {
      const ops = [['ban', '192.0.2.10', 0, 600], ['sleep', 0.2], ['ban', '192.0.2.11', 0, 600], ['ban', '192.0.2.12', 0, 600], ['ban', '192.0.2.13', 0, 600]];
      const out = await runPy(stub2.socketPath, '1', '2', ops, 4);
      assert.match(out, /ERROR couic: backlog of fail2ban-t full \(2\): dropped/, out);
      assert.ok(ok2.length >= 1 && ok2.length < 4, `some bans dropped, the newest kept: ${ok2.join(',')}`);
      assert.ok(ok2.includes('192.0.2.13/32'), ok2.join(','));
    } finally {
      await stub2.close();
    }
  });

  it('a burst of bans is coalesced into few requests; bans and unbans of one address keep their order', async (t) => {
    const stub = await startStub(path.join(dir, 'order.sock'), () => ({ status: 200, body: '{"applied":1}' }));
    try {
      const burst = Array.from({ length: 500 }, (_, i) => ['ban', `198.51.${i >> 8}.${i & 255}`, 0, 600]);
      const flip = ['ban', 'unban', 'ban', 'unban', 'ban'].map((k) => [k, '192.0.2.77', 0, 600]);
      const out = await runPy(stub.socketPath, '5', '1000', [...burst, ...flip, ['ban', '192.0.2.7', 0, 600], ['ban', '010.1.2.3', 0, 600]], 1);
      assert.match(out, /VALUEERROR .*010\.1\.2\.3/, 'an IPv4 address with leading zeros is still refused');
      // what the stub saw, one op per address, in order
      const seen: string[] = [];
      for (const r of stub.requests) {
        if (r.method === 'POST') for (const b of JSON.parse(r.body) as { cidr: string }[]) seen.push(`ban ${b.cidr}`);
        else seen.push(`unban ${decodeURIComponent(r.path.replace(/^\/v1\/bans\/[^/]+\//, ''))}`);
      }
      const want = [
        ...burst.map((o) => `ban ${String(o[1])}/32`),
        'ban 192.0.2.77/32', 'unban 192.0.2.77/32', 'ban 192.0.2.77/32', 'unban 192.0.2.77/32', 'ban 192.0.2.77/32',
        'ban 192.0.2.7/32',
      ];
      assert.deepEqual(seen, want, 'every operation sent once, in the order fail2ban made them');
      const posts = stub.requests.filter((r) => r.method === 'POST').length;
      t.diagnostic(`500 bans in ${posts} POSTs`);
      assert.ok(posts <= 12, `500 bans in a burst sent in ${posts} POSTs (coalesced)`);
      assert.doesNotMatch(out, /^ERROR/m, out);
    } finally {
      await stub.close();
    }
  });

  it('a ban wider than /8 or /16 fails fast with an ERROR and no request', async () => {
    const stub = await startStub(path.join(dir, 'wide.sock'), () => ({ status: 200, body: '{"applied":1}' }));
    try {
      const out = await runPy(stub.socketPath, '5', '100', [['ban', '0.0.0.0/0', 0, 60], ['ban', '::/0', 0, 60], ['ban', '10.0.0.0/7', 0, 60]], 0.5);
      assert.equal((out.match(/ERROR couic: refusing .* is too wide for a ban: at least \/8 \(IPv4\) or \/16 \(IPv6\)/g) ?? []).length, 3, out);
      assert.equal(stub.requests.length, 0);
    } finally {
      await stub.close();
    }
  });
});
