/**
 * startApiServer itself (in-process on purpose: socket hygiene, shutdown,
 * logging, handler table), complementing the conformance suites that run
 * against the real daemon.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { json } from '../../src/api/reply.js';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { ClientRegistry } from '../../src/core/clients.js';
import type { CreateRequest, Entry, Policy } from '../../src/domain/types.js';
import { currentOwner, readClientToken, unixRequest } from '../lib/daemon.js';
import { MemoryEntries } from './fixture.js';

const { user, group } = currentOwner();
let tmp = '';
let clients: ClientRegistry;
let token = '';
const lines: any[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, cb): void {
    for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l));
    cb();
  },
});
const logger = pino({ level: 'debug' }, sink);

before(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'couic-srv-'));
  mkdirSync(path.join(tmp, 'work'));
  clients = await ClientRegistry.load({ workingDir: path.join(tmp, 'work'), user, group, logger: pino({ level: 'silent' }) });
  token = readClientToken(path.join(tmp, 'work'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

class SlowEntries extends MemoryEntries {
  delayMs = 0;
  fail = false;
  /** Resolves when a create reaches the service (then replaced for the next one). */
  reached: Promise<void>;
  #reached: () => void = () => {};

  constructor() {
    super();
    this.reached = new Promise((r) => (this.#reached = r));
  }

  override async create(policy: Policy, req: CreateRequest, actor: { name: string; group: any }): Promise<Entry> {
    this.#reached();
    this.reached = new Promise((r) => (this.#reached = r));
    if (this.fail) throw new Error('boom');
    await new Promise((r) => setTimeout(r, this.delayMs));
    return super.create(policy, req, actor);
  }
}

describe('socket hygiene', () => {
  test('mode 0770; a stale socket file is replaced', async () => {
    const sock = path.join(tmp, 'stale.sock');
    // leave a socket file behind: a process listening on it dies with SIGKILL
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    await new Promise((r) => child.once('exit', r));
    assert.ok(existsSync(sock), 'stale socket not left behind');
    const api = await startApiServer({ socketPath: sock, entries: new MemoryEntries(), clients, logger });
    try {
      assert.equal(statSync(sock).mode & 0o777, 0o770);
      const r = await unixRequest(sock, 'GET', '/v1/drop', { token });
      assert.equal(r.status, 200);
    } finally {
      await api.close();
    }
    assert.ok(!existsSync(sock), 'socket removed on close');
  });
  test('the socket file is created without access for others (umask 007 around listen, then restored)', async () => {
    const sock = path.join(tmp, 'umask.sock');
    const proto = net.Server.prototype as unknown as { listen: (...a: unknown[]) => unknown };
    const listen = proto.listen;
    let atBind: number | undefined;
    proto.listen = function (this: net.Server, ...a: unknown[]): unknown {
      const r = listen.apply(this, a);
      // bind is synchronous for a Unix socket: this is the mode before any chmod
      if (a[0] === sock && existsSync(sock)) atBind = statSync(sock).mode & 0o777;
      return r;
    };
    const old = process.umask(0o022);
    let api: ApiServer | undefined;
    try {
      api = await startApiServer({ socketPath: sock, entries: new MemoryEntries(), clients, logger });
      assert.equal(process.umask(), 0o022, 'umask restored');
    } finally {
      proto.listen = listen;
      process.umask(old);
      await api?.close();
    }
    assert.ok(atBind !== undefined, 'socket created by listen');
    assert.equal(atBind & 0o007, 0, `no access for others at creation (mode ${atBind.toString(8)})`);
  });
  test('a live socket is not stolen', async () => {
    const sock = path.join(tmp, 'live.sock');
    const other = net.createServer().listen(sock);
    await new Promise((r) => other.once('listening', r));
    try {
      await assert.rejects(startApiServer({ socketPath: sock, entries: new MemoryEntries(), clients, logger }), /already serving/);
      assert.ok(existsSync(sock));
    } finally {
      await new Promise((r) => other.close(r));
    }
  });
  test('socketMode option', async () => {
    const sock = path.join(tmp, 'mode.sock');
    const api = await startApiServer({ socketPath: sock, entries: new MemoryEntries(), clients, logger, socketMode: 0o700 });
    assert.equal(statSync(sock).mode & 0o777, 0o700);
    await api.close();
  });
});

describe('behaviour', () => {
  let api: ApiServer;
  const entries = new SlowEntries();
  const sock = (): string => path.join(tmp, 'b.sock');
  before(async () => {
    api = await startApiServer({
      socketPath: sock(),
      entries,
      clients,
      logger,
      handlers: { metrics: async (ctx) => json(200, { format: ctx.query.get('format') }) },
    });
  });
  after(async () => {
    await api.close();
  });
  const req = (m: string, p: string, body?: unknown) => unixRequest(sock(), m, p, body === undefined ? { token } : { token, body });

  test('unimplemented routes answer 501 after auth', async () => {
    for (const [m, p] of [['GET', '/v1/stats'], ['GET', '/v1/stats/tags/drop'], ['GET', '/v1/sets/drop'], ['POST', '/v1/sets/reload'], ['PUT', '/v1/sets/drop/x']]) {
      const r = await req(m as string, p as string);
      assert.equal(r.status, 501, `${m} ${p}`);
      assert.deepEqual(r.json(), { code: 'not_implemented', message: 'Not implemented', errors: {} });
      const u = await unixRequest(sock(), m as string, p as string, { token: null });
      assert.equal(u.status, 401);
    }
  });
  test('a handler from the table replaces the 501 stub (with query)', async () => {
    const r = await req('GET', '/v1/metrics?format=prometheus');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { format: 'prometheus' });
  });
  test('requests are logged with the acting client, 4xx at info, 5xx at error; mutations only once (by the core)', async () => {
    lines.length = 0;
    let r = await req('POST', '/v1/drop', { cidr: '10.0.0.0/8', tag: 'x', expiration: 0 });
    assert.equal(r.status, 201);
    r = await req('DELETE', '/v1/drop/10.0.0.0/8');
    assert.equal(r.status, 204);
    // the core's EntryStore logs each mutation with its client (test/core/entries.test.ts); the API adds no second line
    assert.deepEqual(lines.filter((l) => l.msg !== 'request'), []);
    const reqLines = lines.filter((l) => l.msg === 'request');
    assert.deepEqual(reqLines.map((l) => [l.method, l.status, l.client, l.level]), [['POST', 201, 'couicctl', 20], ['DELETE', 204, 'couicctl', 20]]);
    lines.length = 0;
    r = await req('GET', '/v1/DROP');
    assert.equal(r.status, 400);
    assert.equal(lines.find((l) => l.msg === 'request' && l.status === 400)?.level, 30);
    entries.fail = true;
    r = await req('POST', '/v1/drop', { cidr: '10.0.0.0/8', expiration: 0 });
    entries.fail = false;
    assert.equal(r.status, 500);
    assert.deepEqual(r.json(), { code: 'internal', message: 'Internal error', errors: {} });
    assert.equal(lines.find((l) => l.msg === 'request' && l.status === 500)?.level, 50);
  });
  test('close() waits for in-flight requests', async () => {
    entries.delayMs = 300;
    const reached = entries.reached;
    const pending = req('POST', '/v1/ignore', { cidr: '10.1.0.0/16', expiration: 0 });
    await reached; // in flight: in the service, not answered yet
    const t0 = Date.now();
    const closing = api.close();
    const r = await pending;
    await closing;
    assert.equal(r.status, 201);
    assert.ok(Date.now() - t0 >= 200);
    await assert.rejects(unixRequest(sock(), 'GET', '/v1/drop', { token }));
  });
});
