/**
 * The pure parts of peering and reporting: which committed changes become
 * PeerJobs and reports and their exact JSON, the job a 409/404 answer is
 * about, the bounded FIFO, the status text of couicctl.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { peeringStatusText } from '../../src/cli/commands/peering.js';
import type { EntryEvent } from '../../src/core/state/events.js';
import { Backlog } from '../../src/outbound/backlog.js';
import { Backoff } from '../../src/outbound/backoff.js';
import { urlOrigin } from '../../src/outbound/post.js';
import { failedJobIndex, jobsOf, peerBody } from '../../src/peering/jobs.js';
import { peerBaseUrl } from '../../src/peering/types.js';
import { reportOf } from '../../src/reporting/reports.js';

const ev = (o: Partial<EntryEvent>): EntryEvent => ({
  type: 'added', policy: 'drop', cidr: '192.0.2.1/32', tag: 't', expiration: 2_000_000_000, creation: 1_767_225_600, origin: 'api', actor: 'x', ...o,
});

describe('peering jobs', () => {
  it('api and bans changes are pushed in Couic\'s layout; peer, fleet, expiry and set changes are not', () => {
    assert.deepEqual(jobsOf(ev({})).map((j) => j.json), ['{"action":"add","entry":{"cidr":"192.0.2.1/32","tag":"t","expiration":2000000000,"metadata":null}}']);
    assert.deepEqual(jobsOf(ev({ type: 'removed', origin: 'bans', tag: '' })).map((j) => j.json), ['{"action":"remove","entry":{"cidr":"192.0.2.1/32","tag":null,"expiration":0,"metadata":null}}']);
    assert.deepEqual(jobsOf(ev({ type: 'updated', origin: 'bans', policy: 'ignore' })).map((j) => [j.policy, j.action]), [['ignore', 'remove'], ['ignore', 'add']]);
    for (const o of [{ origin: 'peer' }, { origin: 'fleet' }, { origin: 'expiry', type: 'expired' }, { type: 'expired' }, { tag: 'lan.couic' }] as Partial<EntryEvent>[]) {
      assert.deepEqual(jobsOf(ev(o)), [], JSON.stringify(o));
    }
    const body = JSON.parse(peerBody([...jobsOf(ev({})), ...jobsOf(ev({ type: 'removed' }))]).toString()) as unknown[];
    assert.equal(body.length, 2);
  });

  it('a 409 or 404 names the job the peer stopped at; anything else names none', () => {
    const jobs = [...jobsOf(ev({ cidr: '10.0.0.1/32' })), ...jobsOf(ev({ cidr: '10.0.0.2/32', type: 'removed' })), ...jobsOf(ev({ cidr: '10.0.0.2/32' }))];
    const err = (message: string): string => JSON.stringify({ code: 'x', message: 'y', errors: { cidr: { code: 'x', message } } });
    assert.equal(failedJobIndex(409, err('10.0.0.2/32 already exists'), jobs), 2);
    assert.equal(failedJobIndex(404, err('cidr `10.0.0.2/32` not found'), jobs), 1);
    assert.equal(failedJobIndex(409, err('10.9.9.9/32 already exists'), jobs), undefined);
    assert.equal(failedJobIndex(409, JSON.stringify({ code: 'conflict', message: 'couic underlying ebpf map is full: max 5 entries', errors: {} }), jobs), undefined);
    assert.equal(failedJobIndex(409, 'not json', jobs), undefined);
    assert.equal(failedJobIndex(500, err('10.0.0.1/32 already exists'), jobs), undefined);
  });

  it('peer URLs: brackets for IPv6; webhook shown by its origin only', () => {
    assert.equal(peerBaseUrl({ host: '::1', port: 2900, tls: true }), 'https://[::1]:2900');
    assert.equal(peerBaseUrl({ host: 'h', port: 80, tls: false }), 'http://h:80');
    assert.equal(urlOrigin('http://127.0.0.1:8000/v1/reports/secret'), 'http://127.0.0.1:8000');
  });
});

describe('reports', () => {
  it('Couic\'s Report JSON: adds with metadata, removes with null; peer, fleet, expiry and updates not reported', () => {
    const m = { kind: 'k', detail: 'd' };
    assert.equal(reportOf(ev({ metadata: m })), '{"action":"add","policy":"drop","entry":{"creation":1767225600,"cidr":"192.0.2.1/32","tag":"t","expiration":2000000000},"metadata":{"kind":"k","detail":"d","extra":null}}');
    assert.equal(reportOf(ev({ type: 'removed', tag: '', policy: 'ignore', metadata: m })), '{"action":"remove","policy":"ignore","entry":{"creation":1767225600,"cidr":"192.0.2.1/32","tag":null,"expiration":2000000000},"metadata":null}');
    assert.match(reportOf(ev({ origin: 'bans' }))!, /^\{"action":"add"/);
    for (const o of [{ origin: 'peer' }, { origin: 'fleet' }, { type: 'expired', origin: 'expiry' }, { type: 'updated', origin: 'bans' }] as Partial<EntryEvent>[]) {
      assert.equal(reportOf(ev(o)), undefined, JSON.stringify(o));
    }
  });
});

describe('outbound', () => {
  it('the backlog drops the oldest beyond its bounds and acknowledges by number', () => {
    const b = new Backlog<string>({ maxItems: 3, maxBytes: 100 });
    assert.equal(b.push('a', 10), 0);
    assert.equal(b.push('b', 10), 0);
    const sent = b.peek(10);
    assert.deepEqual(sent.values, ['a', 'b']);
    assert.equal(b.push('c', 10), 0);
    assert.equal(b.push('d', 10), 1); // 'a' dropped while 'a', 'b' were in flight
    b.ack(sent.lastSeq);
    assert.deepEqual(b.peek(10).values, ['c', 'd']);
    assert.equal(b.push('big', 90), 1); // bytes: 'c' goes
    assert.deepEqual(b.peek(10).values, ['d', 'big']);
    assert.equal(b.bytes, 100);
    const p = b.peek(10, 50);
    assert.deepEqual(p.values, ['d']); // the byte cap of a batch, at least one item
    assert.equal(p.lastSeq, p.firstSeq);
    assert.deepEqual(b.peek(10, 5).values, ['d']);
  });

  it('backoff doubles to its maximum and resets on success', () => {
    const o = new Backoff({ initialMs: 1000, maxMs: 5000 });
    assert.deepEqual([o.fail(), o.fail(), o.fail(), o.fail()], [1000, 2000, 4000, 5000]);
    assert.equal(o.failures, 4);
    o.succeed();
    assert.equal(o.fail(), 1000);
  });
});

describe('couicctl peering status', () => {
  it('prints the peers, their last errors and the webhook', () => {
    const text = peeringStatusText({
      enabled: true,
      peers: [{ peer: 'b:2900', url: 'https://b:2900', queue: { jobs: 3, bytes: 300 }, sent_jobs: 10, dropped_jobs: 1, rejected_jobs: 0, auth_failures: 2,
        last_success: 990, last_error: { at: 995, message: 'HTTP 401: the peer refuses our token' }, needs_resync: true }],
      reporting: { enabled: true, webhook: 'http://127.0.0.1:8000', queue: 0, sent_reports: 5, dropped_reports: 0, last_success: null, last_error: null },
    }, 1000);
    assert.match(text, /^Peering:\n/);
    assert.match(text, /│ https:\/\/b:2900 ┆ 3 +┆ 10 +┆ 1 +┆ 0 +┆ 2 +┆ 10 s ago +┆ needed │/);
    assert.match(text, /^Last error of b:2900 \(5 s ago\): HTTP 401: the peer refuses our token$/m);
    assert.match(text, /^Reporting: http:\/\/127\.0\.0\.1:8000: 0 queued, 5 sent, 0 dropped, last success never$/m);
    assert.equal(peeringStatusText({ enabled: false, peers: [], reporting: { enabled: false } }, 0),
      'Peering:   disabled ([peering] enabled = false)\nReporting: disabled ([reporting] enabled = false)\n');
  });
});
