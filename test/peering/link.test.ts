/**
 * A peer link against a real HTTP server that answers as a Couic peer
 * does (jobs applied one by one, stopping at the first failing one with
 * its 409/404/422): runs of one policy in order to their own route, a
 * job the peer refuses does not block the others, an add that expired
 * while queued is not sent (a Couic peer would refuse the whole body).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../src/log.js';
import { jobsOf } from '../../src/peering/jobs.js';
import { PeerLink } from '../../src/peering/link.js';
import type { EntryEvent } from '../../src/core/state/events.js';
import { waitFor } from '../lib/wait.js';

const TOKEN = 'f018a987-c0ae-4269-a6e7-02a0fe77e553';
const POISON = '10.66.6.6/32';

interface Job { action: 'add' | 'remove'; entry: { cidr: string; tag: string | null; expiration: number } }

/** A Couic-like peer: its two policies' entries, and every request it got. */
class FakePeer {
  readonly held = { drop: new Set<string>(), ignore: new Set<string>() };
  readonly requests: { path: string; jobs: Job[]; status: number }[] = [];
  /** Answers forced on the next requests (undefined: answer normally). */
  readonly script: (number | undefined)[] = [];
  readonly server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      const policy = /^\/v1\/(drop|ignore)\/peer$/.exec(req.url ?? '')?.[1] as 'drop' | 'ignore' | undefined;
      const reply = (status: number, payload: string): void => {
        this.requests.push({ path: req.url ?? '', jobs: JSON.parse(body) as Job[], status });
        res.writeHead(status, { 'content-type': 'application/json' }).end(payload);
      };
      if (policy === undefined || req.headers.authorization !== `Bearer ${TOKEN}`) return reply(401, '{}');
      const forced = this.script.shift();
      if (forced !== undefined) return reply(forced, '{"code":"internal","message":"down","errors":{}}');
      const jobs = JSON.parse(body) as Job[];
      // Decoding validates every job before any is applied (a 422 applies nothing), as Couic's serde extractor.
      if (jobs.some((j) => j.entry.cidr === POISON)) return reply(422, 'Failed to deserialize the JSON body');
      const set = this.held[policy];
      for (const j of jobs) {
        const c = j.entry.cidr;
        if (j.action === 'add' && set.has(c)) return reply(409, JSON.stringify({ code: 'conflict', message: 'submitted entry is not valid', errors: { cidr: { code: 'conflict', message: `${c} already exists` } } }));
        if (j.action === 'remove' && !set.has(c)) return reply(404, JSON.stringify({ code: 'not_found', message: 'submitted entry not found', errors: { cidr: { code: 'not_found', message: `cidr \`${c}\` not found` } } }));
        if (j.action === 'add') set.add(c);
        else set.delete(c);
      }
      reply(201, body);
    });
  });
}

const ev = (o: Partial<EntryEvent>): EntryEvent => ({ type: 'added', policy: 'drop', cidr: '192.0.2.1/32', tag: '', expiration: 0, creation: 1, origin: 'api', ...o });

describe('peer link against a Couic-like peer', () => {
  const peer = new FakePeer();
  let link: PeerLink;
  before(async () => {
    await new Promise<void>((r) => peer.server.listen(0, '127.0.0.1', () => r()));
    const a = peer.server.address();
    const port = typeof a === 'object' && a !== null ? a.port : 0;
    link = new PeerLink({
      peer: { host: '127.0.0.1', port, tls: false, token: TOKEN, ca: '' }, maxBacklog: 1000, maxBacklogBytes: 1 << 20,
      logger: silentLogger(), version: 'test', backoff: { initialMs: 50, maxMs: 200 },
    });
    link.start();
  });
  after(async () => {
    await link.stop();
    peer.server.closeAllConnections();
    await new Promise<void>((r) => peer.server.close(() => r()));
  });
  const put = (...evs: Partial<EntryEvent>[]): void => {
    for (const e of evs) for (const j of jobsOf(ev(e))) link.enqueue(j);
  };
  const drained = (): Promise<boolean> => waitFor(() => link.status().queue.jobs === 0, 10_000, 10);

  it('runs of one policy go to their own route, in order', async () => {
    put({ cidr: '10.0.0.1/32' }, { cidr: '10.0.0.2/32', policy: 'ignore' }, { cidr: '10.0.0.1/32', type: 'removed' }, { cidr: '10.0.0.1/32' });
    assert.ok(await drained());
    assert.deepEqual(peer.requests.map((r) => [r.path, r.jobs.map((j) => `${j.action} ${j.entry.cidr}`)]), [
      ['/v1/drop/peer', ['add 10.0.0.1/32']],
      ['/v1/ignore/peer', ['add 10.0.0.2/32']],
      ['/v1/drop/peer', ['remove 10.0.0.1/32', 'add 10.0.0.1/32']],
    ]);
    assert.deepEqual([...peer.held.drop], ['10.0.0.1/32']);
    assert.deepEqual([...peer.held.ignore], ['10.0.0.2/32']);
  });

  it('a job the peer refuses (422) is dropped alone; the others of its batch are applied', async () => {
    peer.requests.length = 0;
    put({ cidr: '10.0.1.1/32' }, { cidr: POISON }, { cidr: '10.0.1.2/32' });
    assert.ok(await drained());
    assert.ok(peer.held.drop.has('10.0.1.1/32') && peer.held.drop.has('10.0.1.2/32') && !peer.held.drop.has(POISON));
    const s = link.status();
    assert.equal(s.rejected_jobs, 1);
    assert.equal(s.needs_resync, true);
    // The batch, then job by job.
    assert.deepEqual(peer.requests.map((r) => r.jobs.length), [3, 1, 1, 1]);
  });

  it('409 and 404 skip one job and the rest of the batch is applied', async () => {
    peer.held.drop.add('10.0.2.2/32');
    const skipped = link.status().skipped_jobs;
    put({ cidr: '10.0.2.1/32' }, { cidr: '10.0.2.2/32' }, { cidr: '10.0.2.9/32', type: 'removed' }, { cidr: '10.0.2.3/32' });
    assert.ok(await drained());
    assert.ok(['10.0.2.1/32', '10.0.2.2/32', '10.0.2.3/32'].every((c) => peer.held.drop.has(c)));
    assert.equal(link.status().skipped_jobs - skipped, 2);
  });

  it('what a peer took before failing is not sent again', async () => {
    peer.held.drop.add('10.0.4.1/32');
    peer.requests.length = 0;
    // Normal answer (409 on the first job), then a 503 for the rest, then normal again.
    peer.script.push(undefined, 503);
    put({ cidr: '10.0.4.1/32' }, { cidr: '10.0.4.2/32' }, { cidr: '10.0.4.3/32' });
    assert.ok(await drained());
    assert.deepEqual(peer.requests.map((r) => [r.status, r.jobs.map((j) => j.entry.cidr)]), [
      [409, ['10.0.4.1/32', '10.0.4.2/32', '10.0.4.3/32']],
      [503, ['10.0.4.2/32', '10.0.4.3/32']],
      [201, ['10.0.4.2/32', '10.0.4.3/32']],
    ]);
  });

  it('an add that expired while queued is not sent', async () => {
    peer.requests.length = 0;
    const skipped = link.status().skipped_jobs;
    put({ cidr: '10.0.3.1/32', expiration: 1000 }, { cidr: '10.0.3.2/32' });
    assert.ok(await drained());
    assert.deepEqual(peer.requests.flatMap((r) => r.jobs.map((j) => j.entry.cidr)), ['10.0.3.2/32']);
    assert.equal(link.status().skipped_jobs - skipped, 1);
  });
});
