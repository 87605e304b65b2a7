import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer } from 'ws';
import { loadConfig, readClientFile, resolveEndpoint, validateConfig } from '../../src/cli/config.js';
import { CommandError, SetupError, formatApiError } from '../../src/cli/errors.js';
import type { ApiStats } from '../../src/cli/format.js';
import { CouicClient, apiErrorFrom, jsonParseMessage, parseJsonLossless } from '../../src/cli/http.js';
import { runLive, statsFromEvent } from '../../src/cli/live.js';

const TOKEN = '0b0f5a8e-6e5b-4d57-9c55-0a1e7c1b2d3f';

describe('API error formatting', () => {
  it('formats the envelope with details', () => {
    const e = apiErrorFrom({
      status: 409,
      text: '{"code":"conflict","message":"submitted entry is not valid","errors":{"cidr":{"code":"conflict","message":"1.2.3.0/24 already exists"}}}',
    });
    assert.equal(
      e.describe(),
      'Couic error: API error:\n  Status: 409\n  Code: conflict\n  Message: submitted entry is not valid\n  Details:\n    cidr: Code: conflict, Message: 1.2.3.0/24 already exists',
    );
    assert.equal(e.exitCode, 1);
  });
  it('reports non-JSON bodies as internal with serde_json messages', () => {
    assert.equal(jsonParseMessage('Entry defined in a set cannot be removed'), 'expected value at line 1 column 1');
    assert.equal(jsonParseMessage(''), 'EOF while parsing a value at line 1 column 0');
    assert.equal(
      apiErrorFrom({ status: 422, text: 'Entry defined in a set cannot be removed' }).describe(),
      'Couic error: API error:\n  Status: 422\n  Code: internal\n  Message: expected value at line 1 column 1',
    );
    assert.equal(
      apiErrorFrom({ status: 404, text: '' }).describe(),
      'Couic error: API error:\n  Status: 404\n  Code: internal\n  Message: EOF while parsing a value at line 1 column 0',
    );
  });
  it('maps registry codes to exit statuses', () => {
    assert.equal(apiErrorFrom({ status: 503, text: '{"code":"busy","message":"x","errors":{}}' }).exitCode, 75);
    assert.equal(apiErrorFrom({ status: 418, text: '{"code":"teapot","message":"x","errors":{}}' }).exitCode, 1);
    assert.equal(formatApiError({ status: 401, code: 'unauthorized', message: 'Unauthorized', errors: {} }), 'Couic error: API error:\n  Status: 401\n  Code: unauthorized\n  Message: Unauthorized');
  });
});

describe('lossless JSON (u64 counters)', () => {
  it('integers beyond 2^53 become BigInt, everything else is JSON.parse', () => {
    const text = '{"a":18446744073709551615,"b":9007199254740991,"c":"12345678901234567890","d":[-9007199254740993,1.5e300,1e3],"e":"x\\"18446744073709551615","f":9007199254740992}';
    const v = parseJsonLossless(text) as Record<string, unknown>;
    assert.equal(v['a'], 18446744073709551615n);
    assert.equal(v['b'], 9007199254740991);
    assert.equal(v['c'], '12345678901234567890', 'digits inside strings are left alone');
    assert.deepEqual(v['d'], [-9007199254740993n, 1.5e300, 1000]);
    assert.equal(v['e'], 'x"18446744073709551615');
    assert.equal(v['f'], 9007199254740992n);
    assert.deepEqual(parseJsonLossless('{"x":1,"y":"a"}'), { x: 1, y: 'a' });
    assert.throws(() => parseJsonLossless('{"x":18446744073709551615,}'), SyntaxError);
  });
});

describe('config', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'couicctl-cfg-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const setup = (fn: () => unknown): SetupError => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof SetupError);
      return err;
    }
    assert.fail('no error');
  };

  it('validates like Couic', () => {
    assert.equal(setup(() => validateConfig({ mode: 'local', client_file: 'x.toml' })).repr, 'Config(Validation("socket is required for local mode"))');
    assert.equal(setup(() => validateConfig({ mode: 'remote', client_file: 'x.toml', port: 1 })).repr, 'Config(Validation("host is required for remote mode"))');
    assert.equal(setup(() => validateConfig({ mode: 'remote', client_file: 'x.toml', host: 'h' })).repr, 'Config(Validation("port is required for remote mode"))');
    assert.equal(setup(() => validateConfig({ mode: 'remote', host: 'h', port: 1 })).repr, 'Config(Parse("missing field `client_file`"))');
    assert.match(setup(() => validateConfig({ mode: 'cloud', client_file: 'x' })).repr, /^Config\(Parse\("unknown variant `cloud`/);
    const c = validateConfig({ mode: 'remote', client_file: 'x.toml', host: 'h', port: 2900n, tls: true });
    assert.deepEqual(c, { mode: 'remote', clientFile: 'x.toml', socket: undefined, host: 'h', port: 2900, tls: true, token: '00000000-0000-0000-0000-000000000000' });
  });

  it('reads files, falls back only for the default path', async () => {
    const f = path.join(dir, 'c.toml');
    writeFileSync(f, 'mode = "local"\nsocket = "/nonexistent.sock"\nclient_file = "/x.toml"\n');
    const c = await loadConfig(f);
    assert.equal(c.socket, '/nonexistent.sock');
    await assert.rejects(resolveEndpoint(c), (err: unknown) => (err as SetupError).repr === 'Client("Unix socket does not exist: /nonexistent.sock")');
    await assert.rejects(loadConfig(path.join(dir, 'missing.toml')), (err: unknown) => (err as SetupError).repr.startsWith('Config(Io('));
    writeFileSync(f, 'mode = \n');
    await assert.rejects(loadConfig(f), (err: unknown) => (err as SetupError).repr.startsWith('Config(Parse('));
  });

  it('reads client files', async () => {
    const good = path.join(dir, 'couicctl.toml');
    writeFileSync(good, `token = "${TOKEN}"\ngroup = "admin"\n`);
    assert.deepEqual(await readClientFile(good), { token: TOKEN, group: 'admin' });
    const spaced = path.join(dir, 'spaced.toml');
    writeFileSync(spaced, `# comment\ngroup="clientrw"\ntoken   =   "${TOKEN}"\n`);
    assert.deepEqual(await readClientFile(spaced), { token: TOKEN, group: 'clientrw' });
    for (const [name, text] of [
      ['nogroup.toml', `token = "${TOKEN}"\n`],
      ['badtoken.toml', 'token = "nope"\ngroup = "admin"\n'],
      ['client.txt', `token = "${TOKEN}"\ngroup = "admin"\n`],
    ] as const) {
      const p = path.join(dir, name);
      writeFileSync(p, text);
      await assert.rejects(readClientFile(p), (err: unknown) => (err as SetupError).repr === 'Client("Invalid client file")');
    }
    await assert.rejects(readClientFile(path.join(dir, 'absent.toml')), (err: unknown) => (err as SetupError).message === 'Invalid client file');
  });
});

const sample = (n: number): ApiStats => ({
  drop_cidr_count: 1,
  ignore_cidr_count: 0,
  xdp: {
    XDP_ABORTED: { rx_packets: 0, rx_bytes: 0 },
    XDP_DROP: { rx_packets: n * 100, rx_bytes: n * 6000 },
    XDP_PASS: { rx_packets: 0, rx_bytes: 0 },
    XDP_REDIRECT: { rx_packets: 0, rx_bytes: 0 },
    XDP_TX: { rx_packets: 0, rx_bytes: 0 },
  },
});

describe('HTTP client and live stats against a fake server', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'couicctl-live-'));
  const socketPath = path.join(dir, 's.sock');
  const seen: { method: string; url: string; headers: http.IncomingHttpHeaders }[] = [];
  let wsMode: 'refuse' | 'stats' = 'refuse';
  let polls = 0;
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    if (req.url === '/v1/stats/big') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"drop_cidr_count":1,"ignore_cidr_count":0,"xdp":{"XDP_DROP":{"rx_packets":18446744073709551615,"rx_bytes":9007199254740993}}}');
    } else if (req.url === '/v1/stats/abort') {
      // headers, part of the body, then the connection dies: res emits 'error'/'aborted'
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"drop');
      setTimeout(() => res.socket?.destroy(), 10);
    } else if (req.url === '/v1/stats') {
      polls += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(sample(polls)));
    } else if (req.url === '/slow') {
      // never answers
    } else {
      res.writeHead(404).end();
    }
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    seen.push({ method: 'UPGRADE', url: req.url ?? '', headers: req.headers });
    if (wsMode === 'refuse') {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      let n = 0;
      const t = setInterval(() => {
        n += 1;
        ws.send(JSON.stringify({ type: 'stats', stats: sample(n * 10) }));
      }, 20);
      ws.on('close', () => clearInterval(t));
    });
  });
  before(() => new Promise<void>((r) => server.listen(socketPath, r)));
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });
  const client = new CouicClient({ kind: 'unix', socketPath, token: TOKEN });

  it('sends Couic client headers', async () => {
    seen.length = 0;
    await assert.rejects(client.call('GET', '/v1/nothing'), (err: unknown) => err instanceof CommandError && err.api?.status === 404);
    const h = seen[0]?.headers ?? {};
    assert.equal(h['user-agent'], 'CouicClient/1.0.0');
    assert.equal(h['authorization'], `Bearer ${TOKEN}`);
    assert.equal(h['accept'], 'application/json');
    assert.equal(h['content-type'], 'application/json');
    assert.equal(h['host'], 'localhost');
  });

  it('decodes u64 stats counters losslessly (lossless option)', async () => {
    const st = await client.call<ApiStats>('GET', '/v1/stats/big', undefined, { lossless: true });
    assert.equal(st.xdp['XDP_DROP']?.rx_packets, 18446744073709551615n);
    assert.equal(st.xdp['XDP_DROP']?.rx_bytes, 9007199254740993n);
    assert.equal(st.drop_cidr_count, 1);
  });

  it('a response that fails mid-body rejects at once and clears the 5 s timer', async () => {
    const t0 = performance.now();
    await assert.rejects(client.raw('GET', '/v1/stats/abort'), (err: unknown) => err instanceof CommandError);
    assert.ok(performance.now() - t0 < 2000, 'rejected without waiting for the timeout');
    // no timer left behind: the process would otherwise stay alive 5 s for nothing
    const handles = (process as unknown as { getActiveResourcesInfo(): string[] }).getActiveResourcesInfo();
    assert.equal(handles.filter((h) => h === 'Timeout').length, 0, `timers left: ${handles.join(',')}`);
  });

  it('reports transport errors as HTTP errors', async () => {
    const dead = new CouicClient({ kind: 'unix', socketPath: path.join(dir, 'none.sock'), token: TOKEN });
    await assert.rejects(dead.call('GET', '/v1/drop'), (err: unknown) => {
      assert.ok(err instanceof CommandError);
      assert.match(err.describe(), /^Couic error: HTTP error: error sending request for url \(http:\/\/localhost\/v1\/drop\): connect ENOENT /);
      return true;
    });
  });

  it('falls back to polling /v1/stats when the upgrade is refused', async () => {
    wsMode = 'refuse';
    polls = 0;
    seen.length = 0;
    const frames: string[] = [];
    await runLive(client, { write: (t: string) => frames.push(t) }, { maxFrames: 2, intervalMs: 50 });
    assert.equal(seen[0]?.method, 'UPGRADE');
    assert.equal(seen[0]?.url, '/v1/events');
    assert.equal(seen[0]?.headers['authorization'], `Bearer ${TOKEN}`);
    assert.deepEqual(seen.slice(1).map((s) => s.url), ['/v1/stats', '/v1/stats']);
    assert.equal(frames.length, 2);
    assert.match(frames[0] ?? '', /^\x1b\[2J\x1b\[1;1HEvery 0\.1s: stats\nDrop CIDR Count: 1\n/);
    assert.match(frames[0] ?? '', /    RX Packets: 0\.0 pps\n/);
    // 100 packets in ~50 ms → ~2 kpps, highlighted as it changed
    assert.match(frames[1] ?? '', /  Action: XDP_DROP\n    RX Packets: \x1b\[47;30m[0-9.]+kpps\x1b\[0m\n/);
  });

  it('uses the event stream when it pushes stats', async () => {
    wsMode = 'stats';
    polls = 0;
    const frames: string[] = [];
    await runLive(client, { write: (t: string) => frames.push(t) }, { maxFrames: 3 });
    assert.equal(polls, 0);
    assert.equal(frames.length, 3);
    assert.match(frames[2] ?? '', /Drop CIDR Count: 1\n/);
    assert.deepEqual(statsFromEvent(JSON.stringify(sample(1))), sample(1));
    assert.equal(statsFromEvent('{"type":"add"}'), undefined);
    assert.equal(statsFromEvent('nope'), undefined);
  });
});
