/**
 * Memory with concurrent list requests (issue 17, point 4), against the
 * real daemon: with N drop entries (COUIC_LIST_ENTRIES, default 1,000,000),
 * 8 concurrent GET /v1/drop raise the daemon's peak RSS (VmHWM, reset
 * through /proc/PID/clear_refs before) by a bounded amount, every body is
 * the same, and it is exactly the non-streamed encoding
 * (JSON.stringify of the parsed list, key order creation, cidr, tag,
 * expiration); RSS comes back afterwards.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startDaemon, unixRequest, type Daemon } from '../lib/daemon.js';
import { waitFor } from '../lib/wait.js';

const N = Number(process.env['COUIC_LIST_ENTRIES'] ?? 1_000_000);
const CONCURRENT = 8;
/** Allowed rise of the peak RSS over the RSS before the lists (the previous code: ~900 MB at 1M entries). */
const PEAK_RISE_MB = 160;

function status(pid: number): { hwm: number; rss: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) / 1024;
  return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
}

const v4 = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`;

/** GET /v1/drop, the body hashed as it arrives (and kept when `keep`). */
function list(d: Daemon, keep: boolean): Promise<{ status: number; sha: string; bytes: number; headers: http.IncomingHttpHeaders; body?: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: d.socketPath, path: '/v1/drop', headers: { authorization: `Bearer ${d.token}` }, agent: false }, (res) => {
      const h = createHash('sha256');
      const parts: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        h.update(c);
        bytes += c.length;
        if (keep) parts.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, sha: h.digest('hex'), bytes, headers: res.headers, ...(keep ? { body: Buffer.concat(parts) } : {}) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe(`list memory with ${N} entries`, () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon({
      dataplane: { drop_exact: N + 1024 },
      extraToml: `[journal]\ncompact_after = ${N * 2}\n[queue]\nmax_pending = ${N * 2}\n`,
    });
    const exp = Math.floor(Date.now() / 1000) + 86_400;
    const per = 10_000;
    let next = 0;
    await Promise.all([0, 1].map(async () => {
      while (next < N) {
        const from = next;
        next += per;
        const jobs: string[] = [];
        for (let i = from; i < Math.min(from + per, N); i += 1) jobs.push(`{"action":"add","entry":{"cidr":"${v4(i)}","tag":"t${i % 7}","expiration":${i % 3 === 0 ? 0 : exp}}}`);
        const r = await unixRequest(d.socketPath, 'POST', '/v1/drop/peer', { defaultToken: d.token, body: `[${jobs.join(',')}]`, headers: { 'content-type': 'application/json' } });
        assert.equal(r.status, 201, r.text.slice(0, 300));
      }
    }));
  });
  after(async () => {
    await d?.stop();
  });

  it(`${CONCURRENT} concurrent GET /v1/drop: peak RSS bounded, bodies identical to the non-streamed encoding, memory returned`, async () => {
    const t0 = performance.now();
    const one = await list(d, true);
    const oneMs = performance.now() - t0;
    assert.equal(one.status, 200);
    assert.equal(Number(one.headers['content-length']), one.bytes, 'content-length is the body length');
    const text = one.body!.toString('utf8');
    const parsed = JSON.parse(text) as Record<string, unknown>[];
    assert.equal(parsed.length, N);
    assert.deepEqual(Object.keys(parsed[0]!), ['creation', 'cidr', 'tag', 'expiration']);
    assert.equal(JSON.stringify(parsed), text, 'the stream is byte for byte the JSON.stringify encoding');
    const five = parsed.find((e) => e['cidr'] === v4(5));
    assert.deepEqual(five, { creation: five?.['creation'], cidr: v4(5), tag: 't5', expiration: five?.['expiration'] });
    assert.equal(new Set(parsed.map((e) => e['cidr'])).size, N, 'each entry once');

    // Settle, then reset the peak (clear_refs 5) so VmHWM measures the lists only.
    await waitFor(async () => (await d.request('GET', '/v1/drop/10.0.0.1/32')).status === 200, 5000);
    const before = status(d.pid);
    writeFileSync(`/proc/${d.pid}/clear_refs`, '5');
    const reset = status(d.pid);
    const t1 = performance.now();
    const all = await Promise.all(Array.from({ length: CONCURRENT }, () => list(d, false)));
    const allMs = performance.now() - t1;
    const peak = status(d.pid);
    for (const r of all) {
      assert.equal(r.status, 200);
      assert.equal(r.sha, one.sha, 'every concurrent body is the same');
    }
    const rise = peak.hwm - before.rss;
    process.stdout.write(`${N} entries, ${(one.bytes / 1e6).toFixed(1)} MB of JSON: RSS before ${before.rss.toFixed(0)} MB (peak reset to ${reset.hwm.toFixed(0)}), peak during ${CONCURRENT} concurrent lists ${peak.hwm.toFixed(0)} MB (+${rise.toFixed(0)} MB), after ${peak.rss.toFixed(0)} MB; one list ${oneMs.toFixed(0)} ms, ${CONCURRENT} concurrent ${allMs.toFixed(0)} ms\n`);
    assert.ok(rise < PEAK_RISE_MB, `peak RSS rose by ${rise.toFixed(0)} MB during ${CONCURRENT} concurrent lists (bound ${PEAK_RISE_MB} MB)`);
    const back = await waitFor(() => status(d.pid).rss < before.rss + PEAK_RISE_MB / 2, 20_000, 200);
    assert.ok(back, `RSS ${status(d.pid).rss.toFixed(0)} MB after the lists, ${before.rss.toFixed(0)} MB before`);
  });

  it('lists whose reader goes away mid-stream give their slot back: later lists are answered', async () => {
    const aborted = await Promise.all(Array.from({ length: 6 }, () => new Promise<number>((resolve, reject) => {
      const req = http.request({ socketPath: d.socketPath, path: '/v1/drop', headers: { authorization: `Bearer ${d.token}` }, agent: false }, (res) => {
        res.once('data', (c: Buffer) => {
          req.destroy();
          resolve(c.length);
        });
      });
      req.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? undefined : reject(e)));
      req.end();
    })));
    assert.ok(aborted.every((n) => n > 0));
    const r = await Promise.race([list(d, false), new Promise<'stuck'>((res) => setTimeout(() => res('stuck'), 60_000).unref())]);
    assert.notEqual(r, 'stuck', 'a list after 6 aborted ones is answered');
    assert.equal((r as { status: number }).status, 200);
  });
});
