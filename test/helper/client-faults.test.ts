/**
 * HelperClient against the fault injector (test/fixtures/fake-helper.ts):
 * crashes, stalls, garbage on stdout, failed and slow HELLOs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import {
  HelperClient,
  HelperError,
  HelperGoneError,
  HelperStartError,
  HelperTimeoutError,
  ProtocolError,
  type ExitInfo,
  type HelperClientOptions,
} from '../../src/xdp/helper.js';
import type { MapOp } from '../../src/xdp/types.js';

const FAKE = fileURLToPath(new URL('../fixtures/fake-helper.js', import.meta.url));

function fakeOptions(fault: string, extra: readonly string[] = [], o: Partial<HelperClientOptions> = {}): HelperClientOptions & { logs: string[] } {
  const logs: string[] = [];
  return {
    helperPath: FAKE,
    wrapper: [process.execPath],
    extraArgs: ['--fault', fault, ...extra],
    requestTimeoutMs: 5_000,
    startTimeoutMs: 5_000,
    onLog: (l) => logs.push(l),
    ...o,
    logs,
  };
}

const op: MapOp = { kind: 'add', policy: 'drop', family: 4, prefixLen: 32, addr: Uint8Array.of(192, 0, 2, 1), tagId: 1 };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('crash-after-hello: every pending request rejects with HelperGoneError naming the exit code, later calls reject at once', async () => {
  const opts = fakeOptions('crash-after-hello', ['--delay', '150']);
  const h = await HelperClient.start(opts);
  assert.deepEqual(h.hello.capacity, [4, 4, 4, 4, 4, 4, 4, 4]);
  assert.equal(h.hello.features.batchHash, true);
  assert.equal(typeof h.pid, 'number');

  const exitEvents: ExitInfo[] = [];
  h.on('exit', (e: ExitInfo) => exitEvents.push(e));

  const calls: Promise<unknown>[] = [
    h.stats(),
    h.dump(),
    h.applyBatch([op, op]),
    h.testRun(new Uint8Array(60)),
    h.resetTags([1, 2]),
    h.replaceAll([{ policy: 'drop', family: 4, prefixLen: 24, addr: Uint8Array.of(10, 0, 0, 0), tagId: 3 }]),
  ];
  assert.equal(h.pendingCount >= 5, true, 'requests are pending before the crash');
  const results = await Promise.allSettled(calls);
  for (const [i, r] of results.entries()) {
    assert.equal(r.status, 'rejected', `call ${i} rejected`);
    const err = (r as PromiseRejectedResult).reason as unknown;
    assert.ok(err instanceof HelperGoneError, `call ${i}: ${String(err)}`);
    assert.ok(err instanceof HelperError);
    assert.equal(err.code, 'HELPER_GONE');
    assert.match(err.message, /exited with code 3/);
    assert.equal(err.exitCode, 3);
  }
  assert.equal(h.pendingCount, 0);
  assert.deepEqual(await h.exited, { code: 3, signal: null });
  assert.deepEqual(exitEvents, [{ code: 3, signal: null }]);
  assert.ok(opts.logs.some((l) => l.includes('crashing')), 'stderr lines reach onLog');

  const t0 = performance.now();
  await assert.rejects(h.stats(), (e: unknown) => e instanceof HelperGoneError && /code 3/.test(e.message));
  await assert.rejects(h.applyBatch([op]), HelperGoneError);
  await assert.rejects(h.dump(), HelperGoneError);
  assert.ok(performance.now() - t0 < 100, 'calls after death reject immediately');
});

test('stall: a request rejects with HelperTimeoutError within its timeout, the client stays usable', async () => {
  const h = await HelperClient.start(fakeOptions('stall', [], { requestTimeoutMs: 300 }));
  const t0 = performance.now();
  const err = await h.stats().then(
    () => assert.fail('stats() resolved against a stalled helper'),
    (e: unknown) => e,
  );
  const elapsed = performance.now() - t0;
  assert.ok(err instanceof HelperTimeoutError, String(err));
  assert.equal(err.code, 'HELPER_TIMEOUT');
  assert.equal(err.timeoutMs, 300);
  assert.match(err.message, /STATS/);
  assert.ok(elapsed >= 280 && elapsed < 2_000, `timed out after ${elapsed} ms`);
  assert.equal(h.pendingCount, 0);
  assert.equal(h.goneError, undefined, 'a timeout does not declare the helper gone');

  // Several at once: each times out on its own.
  const many = await Promise.allSettled([h.dump(), h.applyBatch([op]), h.testRun(new Uint8Array(14))]);
  for (const r of many) {
    assert.equal(r.status, 'rejected');
    assert.ok((r as PromiseRejectedResult).reason instanceof HelperTimeoutError);
  }
  await h.close(2_000);
  assert.deepEqual(await h.exited, { code: 0, signal: null }, 'EOF on stdin makes it exit 0');
  await assert.rejects(h.stats(), HelperGoneError);
});

test('backpressure: a helper that stops reading gets no more than the pipe holds; timed-out unwritten requests are dropped', async () => {
  const h = await HelperClient.start(fakeOptions('stall', ['--no-read'], { requestTimeoutMs: 400 }));
  const ops: MapOp[] = Array.from({ length: 150_000 }, () => op); // 3 frames of up to 1.5 MiB
  const batch = h.applyBatch(ops);
  const stats = h.stats();
  const timeouts: HelperTimeoutError[] = [];
  h.on('timeout', (e: HelperTimeoutError) => timeouts.push(e));
  assert.ok(h.queuedWrites >= 2, `frames wait for 'drain' (${h.queuedWrites} queued)`);
  await assert.rejects(batch, HelperTimeoutError);
  await assert.rejects(stats, HelperTimeoutError);
  assert.equal(h.queuedWrites, 0, 'requests whose callers gave up are never written');
  assert.equal(h.pendingCount, 0);
  assert.equal(timeouts.length, 4);
  h.kill('SIGKILL');
  assert.equal((await h.exited).signal, 'SIGKILL');
  await assert.rejects(h.stats(), HelperGoneError);
});

test('close(): SIGKILL after the grace period when the helper ignores EOF', async () => {
  const h = await HelperClient.start(fakeOptions('stall', ['--ignore-eof']));
  const t0 = performance.now();
  await h.close(200);
  const elapsed = performance.now() - t0;
  assert.deepEqual(await h.exited, { code: null, signal: 'SIGKILL' });
  assert.ok(elapsed >= 180 && elapsed < 3_000, `closed after ${elapsed} ms`);
});

test('garbage: a bad magic on stdout rejects pending requests (HelperGoneError caused by ProtocolError) and kills the helper', async () => {
  const h = await HelperClient.start(fakeOptions('garbage'));
  const pending = [h.stats(), h.dump()];
  const results = await Promise.allSettled(pending);
  for (const r of results) {
    assert.equal(r.status, 'rejected');
    const err = (r as PromiseRejectedResult).reason as unknown;
    assert.ok(err instanceof HelperGoneError, String(err));
    assert.ok(err.cause instanceof ProtocolError, 'cause is the ProtocolError');
    assert.equal(err.cause.reason, 'bad_magic');
    assert.match(err.message, /magic/);
  }
  await assert.rejects(h.stats(), HelperGoneError);
  const exit = await h.exited;
  assert.equal(exit.signal, 'SIGKILL', 'the client kills a helper whose stream it cannot follow');
});

test('bad-hello: start rejects with HelperStartError carrying the helper message and errno', async () => {
  const err = await HelperClient.start(fakeOptions('bad-hello')).then(
    () => assert.fail('start() resolved'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof HelperStartError, String(err));
  assert.equal(err.code, 'HELPER_START');
  assert.equal(err.helperMessage, 'interface eth9: No such device');
  assert.match(err.message, /interface eth9: No such device/);
  assert.equal(err.status, -19);
  assert.equal(err.errno, 19);
});

test('slow-hello: a HELLO later than startTimeoutMs → HelperStartError and the process is killed', async () => {
  const err = await HelperClient.start(fakeOptions('slow-hello', ['--delay', '5000'], { startTimeoutMs: 200 })).then(
    () => assert.fail('start() resolved'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof HelperStartError, String(err));
  assert.match(err.message, /no HELLO within 200 ms/);
  assert.equal(typeof err.pid, 'number');
  const pid = err.pid as number;
  const deadline = Date.now() + 3_000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(alive(pid), false, 'the slow helper was killed');
});

test('slow-hello within startTimeoutMs: start waits for it', async () => {
  const t0 = performance.now();
  const h = await HelperClient.start(fakeOptions('slow-hello', ['--delay', '300'], { startTimeoutMs: 5_000 }));
  assert.ok(performance.now() - t0 >= 280);
  assert.equal(h.hello.protoVersion, 1);
  await h.close(2_000);
});

test('spawn failure: a missing binary → HelperStartError', async () => {
  await assert.rejects(
    HelperClient.start({ helperPath: '/nonexistent/couic-helper', startTimeoutMs: 2_000 }),
    (e: unknown) => e instanceof HelperStartError && /ENOENT|spawn/.test(e.message),
  );
});

test('exit before HELLO → HelperStartError naming the exit code', async () => {
  await assert.rejects(
    HelperClient.start(fakeOptions('no-such-mode')),
    (e: unknown) => e instanceof HelperStartError && /code 64/.test(e.message) && /unknown --fault/.test(e.message),
  );
});
