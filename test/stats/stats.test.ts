/**
 * Statistics (spec §5) with real packets: the daemon runs inside the
 * receiver namespace of a veth pair (st-…), attached to its veth; UDP
 * datagrams of a known frame size from banned / ignored / unlisted sources
 * must move /v1/stats, /v1/stats/tags/{policy}, /v1/metrics (JSON and
 * OpenMetrics) by exact deltas.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDaemon, type Daemon } from '../lib/daemon.js';
import { kernelSkip } from '../lib/kernel.js';
import { createPair, udpReceiver, udpSend, type NetnsPair } from '../lib/netns.js';
import { ETH_HLEN, IPV4_HLEN, UDP_HLEN } from '../lib/packets.js';
import { waitFor } from '../lib/wait.js';

/** The test sender's payload is 'couic-dp-test' (13 bytes). */
const FRAME_LEN = ETH_HLEN + IPV4_HLEN + UDP_HLEN + 13;
const ACTIONS = ['XDP_ABORTED', 'XDP_DROP', 'XDP_PASS', 'XDP_TX', 'XDP_REDIRECT'];
const PORT = 40999;

interface Pkt { rx_packets: number; rx_bytes: number }

describe('XDP counters through the stats routes (veth, real packets)', { skip: kernelSkip, timeout: 180_000 }, () => {
  let pair: NetnsPair;
  let d: Daemon;
  let banned: string;
  let allowed: string;
  let untagged: string;
  let over: string;

  before(async () => {
    pair = await createPair({ prefix: 'st', extraSources: 4 });
    [banned, allowed, untagged, over] = pair.extraV4 as [string, string, string, string];
    d = await startDaemon({
      ifaces: [pair.receiver.ifname],
      wrapper: ['ip', 'netns', 'exec', pair.receiver.ns],
      // 4 counter slots: tag ids 1..3 counted, ids >= 4 share the overflow slot 0
      extraToml: 'max_tags = 4\n',
    });
  });
  after(async () => {
    await d?.stop();
    await pair?.teardown();
  });

  const stats = async (): Promise<any> => {
    const r = await d.request('GET', '/v1/stats');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['content-type'], 'application/json');
    return r.json();
  };
  const tags = async (policy: string): Promise<Record<string, Pkt>> => {
    const r = await d.request('GET', `/v1/stats/tags/${policy}`);
    assert.equal(r.status, 200, r.text);
    return r.json().tags;
  };
  const zero: Pkt = { rx_packets: 0, rx_bytes: 0 };
  const delta = (a: Pkt | undefined, b: Pkt | undefined): Pkt => ({
    rx_packets: (b ?? zero).rx_packets - (a ?? zero).rx_packets,
    rx_bytes: (b ?? zero).rx_bytes - (a ?? zero).rx_bytes,
  });
  /**
   * Sends `n` datagrams from `src` and waits until `done()` holds (the data
   * path is asynchronous), then until one more datagram, sent after them from
   * the sender's own (unlisted) address, is counted as passed: the veth hands
   * frames to XDP in order, so nothing of the `n` can still come after it.
   */
  const send = async (src: string, n: number, done: () => Promise<boolean>): Promise<void> => {
    assert.equal(await udpSend(pair.sender.ns, src, pair.receiver.v4, PORT, n), n);
    assert.equal(await waitFor(done, 5000), true, 'counters did not move');
    const passed = (await stats()).xdp.XDP_PASS.rx_packets;
    assert.equal(await udpSend(pair.sender.ns, pair.sender.v4, pair.receiver.v4, PORT + 1, 1), 1);
    assert.equal(await waitFor(async () => (await stats()).xdp.XDP_PASS.rx_packets > passed, 5000), true, 'the trailing datagram was not counted');
  };

  test('banned source: XDP_DROP +N packets, +N×len bytes; its tag +N', async () => {
    const tagged = 'st-ban';
    let r = await d.request('POST', '/v1/drop', { body: { cidr: `${banned}/32`, tag: tagged, expiration: 0 } });
    assert.equal(r.status, 201, r.text);
    r = await d.request('POST', '/v1/drop', { body: { cidr: `${untagged}/32`, expiration: 0 } });
    assert.equal(r.status, 201, r.text);
    const s0 = await stats();
    assert.deepEqual(Object.keys(s0.xdp).sort(), [...ACTIONS].sort());
    assert.equal(s0.drop_cidr_count, 2);
    assert.equal(s0.ignore_cidr_count, 0);
    const t0 = await tags('drop');
    const rx = await udpReceiver(pair.receiver.ns, pair.receiver.v4, PORT);
    const N = 40;
    await send(banned, N, async () => delta(s0.xdp.XDP_DROP, (await stats()).xdp.XDP_DROP).rx_packets >= N);
    const M = 7;
    await send(untagged, M, async () => delta(s0.xdp.XDP_DROP, (await stats()).xdp.XDP_DROP).rx_packets >= N + M);
    const got = await rx.stop();
    assert.equal(got[banned] ?? 0, 0, 'banned datagrams never reached the socket');
    assert.equal(got[untagged] ?? 0, 0);
    const s1 = await stats();
    assert.deepEqual(delta(s0.xdp.XDP_DROP, s1.xdp.XDP_DROP), { rx_packets: N + M, rx_bytes: (N + M) * FRAME_LEN });
    for (const a of ['XDP_ABORTED', 'XDP_TX', 'XDP_REDIRECT']) assert.deepEqual(s1.xdp[a], zero, a);
    const t1 = await tags('drop');
    assert.deepEqual(delta(t0[tagged], t1[tagged]), { rx_packets: N, rx_bytes: N * FRAME_LEN });
    assert.deepEqual(delta(t0['untagged'], t1['untagged']), { rx_packets: M, rx_bytes: M * FRAME_LEN });
    assert.equal(t1[''], undefined, 'the empty tag is shown as "untagged"');
  });

  test('ignored source: XDP_PASS, the ignore tag counts, delivered', async () => {
    // ignore beats drop
    assert.equal((await d.request('POST', '/v1/drop', { body: { cidr: `${allowed}/32`, tag: 'st-ban', expiration: 0 } })).status, 201);
    assert.equal((await d.request('POST', '/v1/ignore', { body: { cidr: `${allowed}/32`, tag: 'st-allow', expiration: 0 } })).status, 201);
    const s0 = await stats();
    const i0 = await tags('ignore');
    const d0 = await tags('drop');
    const rx = await udpReceiver(pair.receiver.ns, pair.receiver.v4, PORT);
    const K = 25;
    await send(allowed, K, async () => ((await tags('ignore'))['st-allow']?.rx_packets ?? 0) - (i0['st-allow']?.rx_packets ?? 0) >= K);
    const got = await rx.stop();
    assert.equal(got[allowed], K, 'every datagram delivered');
    const s1 = await stats();
    const pass = delta(s0.xdp.XDP_PASS, s1.xdp.XDP_PASS);
    assert.ok(pass.rx_packets >= K && pass.rx_bytes >= K * FRAME_LEN, JSON.stringify(pass));
    assert.deepEqual(delta(s0.xdp.XDP_DROP, s1.xdp.XDP_DROP), zero);
    assert.deepEqual(delta(i0['st-allow'], (await tags('ignore'))['st-allow']), { rx_packets: K, rx_bytes: K * FRAME_LEN });
    assert.deepEqual(await tags('drop'), d0, 'drop tags untouched');
  });

  test('tag ids past max_tags are counted as "(overflow)"; the metrics agree', async () => {
    // ids 1..3 are taken (st-ban, "", st-allow): st-over gets id 4 = overflow slot
    assert.equal((await d.request('POST', '/v1/drop', { body: { cidr: `${over}/32`, tag: 'st-over', expiration: 0 } })).status, 201);
    const t0 = await tags('drop');
    const P = 12;
    await send(over, P, async () => ((await tags('drop'))['(overflow)']?.rx_packets ?? 0) - (t0['(overflow)']?.rx_packets ?? 0) >= P);
    const t1 = await tags('drop');
    assert.deepEqual(delta(t0['(overflow)'], t1['(overflow)']), { rx_packets: P, rx_bytes: P * FRAME_LEN });
    assert.equal(t1['st-over'], undefined);

    // JSON metrics = stats + both tag maps
    const s = await stats();
    const m = (await d.request('GET', '/v1/metrics')).json();
    assert.equal(m.drop_cidr_count, s.drop_cidr_count);
    assert.deepEqual(m.xdp.XDP_DROP, s.xdp.XDP_DROP);
    assert.deepEqual(m.drop_tags, { tags: t1 });
    assert.deepEqual(m.ignore_tags, { tags: await tags('ignore') });

    // OpenMetrics: same numbers, Couic's exact layout
    const r = await d.request('GET', '/v1/metrics?format=prometheus');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    const sNow = await stats();
    const tagLines = (policy: string, what: 'packets' | 'bytes', t: Record<string, Pkt>): string[] =>
      Object.entries(t).map(([k, v]) => `couic_${policy}_tag_rx_${what}_total{tag="${k}"} ${v[`rx_${what}`]}`);
    const i1 = await tags('ignore');
    const expected = [
      '# HELP couic_drop_cidr_total Current number of CIDR dropped by couic.',
      '# TYPE couic_drop_cidr_total gauge',
      `couic_drop_cidr_total ${sNow.drop_cidr_count}`,
      '# HELP couic_ignore_cidr_total Current number of CIDR ignored by couic.',
      '# TYPE couic_ignore_cidr_total gauge',
      `couic_ignore_cidr_total ${sNow.ignore_cidr_count}`,
      '# HELP couic_stats_rx_packets_total Current number of packets handled by XDP.',
      '# TYPE couic_stats_rx_packets_total counter',
      ...ACTIONS.map((a) => `couic_stats_rx_packets_total{action="${a}"} ${a === 'XDP_PASS' ? 'PASS' : sNow.xdp[a].rx_packets}`),
      '# HELP couic_stats_rx_bytes_total Current number of bytes handled by XDP.',
      '# TYPE couic_stats_rx_bytes_total counter',
      ...ACTIONS.map((a) => `couic_stats_rx_bytes_total{action="${a}"} ${a === 'XDP_PASS' ? 'PASS' : sNow.xdp[a].rx_bytes}`),
      '# HELP couic_drop_tag_rx_packets_total Number of packets dropped per tag.',
      '# TYPE couic_drop_tag_rx_packets_total counter',
      ...tagLines('drop', 'packets', t1),
      '# HELP couic_drop_tag_rx_bytes_total Number of bytes dropped per tag.',
      '# TYPE couic_drop_tag_rx_bytes_total counter',
      ...tagLines('drop', 'bytes', t1),
      '# HELP couic_ignore_tag_rx_packets_total Number of packets ignored per tag.',
      '# TYPE couic_ignore_tag_rx_packets_total counter',
      ...tagLines('ignore', 'packets', i1),
      '# HELP couic_ignore_tag_rx_bytes_total Number of bytes ignored per tag.',
      '# TYPE couic_ignore_tag_rx_bytes_total counter',
      ...tagLines('ignore', 'bytes', i1),
      '# EOF',
      '',
    ];
    // XDP_PASS may move between the two reads (background IPv6 traffic): compared by shape only
    const got = r.text.split('\n').map((l) => l.replace(/^(couic_stats_rx_(packets|bytes)_total\{action="XDP_PASS"\}) \d+$/, '$1 PASS'));
    // Couic's families first, exactly; then ours (docs/monitoring.md), before # EOF.
    const ours = got.findIndex((l) => l === '# HELP couic_queue_outstanding_mutations Mutations queued or in flight to the kernel.');
    assert.ok(ours > 0, r.text);
    assert.deepEqual([...got.slice(0, ours), ...got.slice(-2)], expected);
    const names = got.slice(ours, -2).filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]);
    assert.deepEqual(names, [
      'couic_queue_outstanding_mutations', 'couic_queue_max_pending_mutations', 'couic_queue_waiting_requests', 'couic_queue_requests_total',
      'couic_queue_batches_total', 'couic_journal_records_since_snapshot', 'couic_journal_compact_after_records', 'couic_journal_compacting',
      'couic_helper_up', 'couic_helper_restarts_total',
    ]);
    assert.match(r.text, /^couic_helper_up 1$/m);
    assert.match(r.text, /^couic_queue_max_pending_mutations 262144$/m);
    assert.match(r.text, /^couic_journal_compact_after_records 1000000$/m);
    // The five POSTs of these tests, one queued request each.
    assert.ok(Number(/^couic_queue_requests_total (\d+)$/m.exec(r.text)?.[1]) >= 5, r.text);
    assert.ok(r.text.endsWith('# EOF\n'));
    assert.ok(r.text.includes(`couic_drop_tag_rx_packets_total{tag="st-ban"} ${t1['st-ban']!.rx_packets}\n`));
    assert.ok(r.text.includes(`couic_drop_tag_rx_packets_total{tag="(overflow)"} ${P}\n`));
  });

  test('format parsing, HEAD, bad policy, RBAC', async () => {
    for (const q of ['', '?format=json', '?format=', '?format=Prometheus', '?format=PROMETHEUS', '?other=prometheus']) {
      const r = await d.request('GET', `/v1/metrics${q}`);
      assert.equal(r.status, 200, q);
      assert.equal(r.headers['content-type'], 'application/json', q);
      assert.ok('drop_tags' in r.json(), q);
    }
    const p = await d.request('GET', '/v1/metrics?x=1&format=prometheus');
    assert.match(String(p.headers['content-type']), /^application\/openmetrics-text/);
    const twice = await d.request('GET', '/v1/metrics?format=prometheus&format=json');
    assert.equal(twice.status, 400);
    assert.match(String(twice.headers['content-type']), /^text\/plain/);
    assert.equal(twice.text, 'Failed to deserialize query string: duplicate field `format`');
    for (const u of ['/v1/stats', '/v1/metrics', '/v1/stats/tags/drop']) {
      const h = await d.request('HEAD', u);
      assert.equal(h.status, 200, u);
      assert.equal(h.text, '');
    }
    const bad = await d.request('GET', '/v1/stats/tags/DROP');
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.json(), {
      code: 'bad_request', message: 'Bad request',
      errors: { policy: { code: 'invalid', message: "invalid policy: 'DROP' (expected 'drop' or 'ignore')" } },
    });
    assert.equal((await d.request('POST', '/v1/stats/tags/drop')).status, 405);
    const mon = (await d.request('POST', '/v1/client', { body: { name: 'st-mon', group: 'monitoring' } })).json().token as string;
    const ro = (await d.request('POST', '/v1/client', { body: { name: 'st-ro', group: 'clientro' } })).json().token as string;
    for (const u of ['/v1/stats', '/v1/metrics', '/v1/stats/tags/ignore']) {
      assert.equal((await d.request('GET', u, { token: mon })).status, 200, u);
      assert.equal((await d.request('GET', u, { token: ro })).status, 401, u);
      assert.equal((await d.request('GET', u, { token: null })).status, 401, u);
    }
    // no entries left → counts drop, tag ids no longer registered are skipped
    for (const policy of ['drop', 'ignore']) {
      for (const e of (await d.request('GET', `/v1/${policy}`)).json()) {
        assert.equal((await d.request('DELETE', `/v1/${policy}/${e.cidr}`)).status, 204);
      }
    }
    const s = await stats();
    assert.equal(s.drop_cidr_count, 0);
    assert.equal(s.ignore_cidr_count, 0);
    assert.deepEqual(Object.keys(await tags('drop')).filter((k) => k !== '(overflow)'), []);
    assert.deepEqual(await tags('ignore'), {});
  });
});
