/**
 * Couic's peering for real: daemons A and B, each with its own working
 * dir, socket, helper and pinned kernel maps; B reached by A through nginx
 * running docs/nginx/couic.conf with TLS (a CA made here, pinned by A with
 * `ca`). A also peers with B under a wrong token and with a hung host that
 * accepts connections and never answers. Every check waits on a condition
 * (waitFor) and reads B's API and B's kernel maps.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT, type Daemon } from '../lib/daemon.js';
import { kernelMaps, kernelSkip, startPinnedDaemon } from '../lib/kernel.js';
import { waitFor } from '../lib/wait.js';
import { makePki, startHungPeer, startNginx, toolsSkip, type Nginx } from './lib.js';

const WRONG = '00000000-1111-4222-8333-444444444444';
const HUNG_TOKEN = '99999999-1111-4222-8333-444444444444';

interface Pinned { d: Daemon; pinDir: string; stop(): Promise<void> }

describe('peering: A pushes its changes to B through nginx with TLS', { skip: kernelSkip || toolsSkip, timeout: 240_000 }, () => {
  let dir = '';
  let a: Pinned;
  let b: Pinned;
  let nginx: Nginx;
  let nginxA: Nginx | undefined;
  let pkiCa = '';
  let hung: Awaited<ReturnType<typeof startHungPeer>>;
  let token = '';
  let good = '';
  let wrong = '';
  let hungName = '';
  let noCa = '';
  const MAX_BACKLOG = 12;

  const link = async (name: string): Promise<any> => {
    const s = (await a.d.request('GET', '/v1/peering')).json() as { peers: { peer: string }[] };
    return s.peers.find((p) => p.peer === name);
  };
  const onB = async (policy: string, cidr: string): Promise<any> => {
    const r = await b.d.request('GET', `/v1/${policy}/${cidr}`);
    return r.status === 200 ? r.json() : undefined;
  };
  const inKernelB = (policy: string, cidr: string): boolean => kernelMaps(b.pinDir).has(`${policy}|${cidr}`);
  const create = async (d: Daemon, policy: string, cidr: string, tag = ''): Promise<void> => {
    const r = await d.request('POST', `/v1/${policy}`, { body: { cidr, tag, expiration: 0 } });
    assert.equal(r.status, 201, r.text);
  };
  const remove = async (d: Daemon, policy: string, cidr: string): Promise<void> => {
    const r = await d.request('DELETE', `/v1/${policy}/${cidr}`);
    assert.equal(r.status, 204, r.text);
  };
  /** B's link of A has sent everything queued. */
  const drained = async (): Promise<any> => waitFor(async () => {
    const l = await link(good);
    return l.queue.jobs === 0 ? l : undefined;
  }, 20_000);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'couic-peering-'));
    const pki = makePki(dir);
    pkiCa = pki.ca;
    b = await startPinnedDaemon();
    const c = await b.d.request('POST', '/v1/client', { body: { name: 'node-a', group: 'peering' } });
    assert.equal(c.status, 201, c.text);
    token = (c.json() as { token: string }).token;
    nginx = await startNginx(dir, pki, b.d.socketPath);
    hung = await startHungPeer();
    good = `127.0.0.1:${nginx.port}`;
    wrong = `localhost:${nginx.port}`;
    hungName = `127.0.0.1:${hung.port}`;
    noCa = `::1:${nginx.port}`;
    const peer = (host: string, port: number, tls: boolean, tok: string, ca = tls): string =>
      `[[peering.peers]]\nhost = "${host}"\nport = ${port}\ntls = ${tls}\ntoken = "${tok}"\n${ca ? `ca = "${pki.ca}"\n` : ''}`;
    a = await startPinnedDaemon({
      extra: `\n[peering]\nenabled = true\nmax_backlog = ${MAX_BACKLOG}\n${peer('127.0.0.1', nginx.port, true, token)}${peer('localhost', nginx.port, true, WRONG)}` +
        `${peer('127.0.0.1', hung.port, false, HUNG_TOKEN)}${peer('::1', nginx.port, true, token, false)}`,
    });
    // nginx answers (B's 401 without a token) once it is up.
    const up = await waitFor(async () => {
      const r = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', pki.ca, `https://127.0.0.1:${nginx.port}/v1/drop`], { encoding: 'utf8' });
      return r.stdout === '401';
    }, 15_000, 100);
    assert.ok(up, `nginx not up:\n${nginx.output()}\n${readFileSync(join(dir, 'error.log'), 'utf8').slice(-2000)}`);
  });

  after(async () => {
    await nginxA?.stop();
    await a?.stop();
    await nginx?.stop();
    await b?.stop();
    await hung?.close();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('a drop added on A is in B\'s API and kernel; a delete follows', async () => {
    await create(a.d, 'drop', '192.0.2.10/32', 'from-a');
    const e = await waitFor(() => onB('drop', '192.0.2.10/32'), 10_000);
    assert.ok(e, 'the drop never reached B');
    assert.equal(e.tag, 'from-a');
    assert.equal(e.expiration, 0);
    assert.ok(inKernelB('drop', '192.0.2.10/32'));
    await remove(a.d, 'drop', '192.0.2.10/32');
    assert.ok(await waitFor(async () => (await onB('drop', '192.0.2.10/32')) === undefined, 10_000), 'the delete never reached B');
    assert.ok(!inKernelB('drop', '192.0.2.10/32'));
    const l = await link(good);
    assert.equal(l.sent_jobs, 2);
    assert.equal(l.url, `https://127.0.0.1:${nginx.port}`);
    assert.ok(l.last_success !== null && l.last_error === null, JSON.stringify(l));
  });

  it('an ignore stays an ignore (Couic would post it to /v1/drop/peer)', async () => {
    await create(a.d, 'ignore', '198.51.100.0/24', 'lan');
    const e = await waitFor(() => onB('ignore', '198.51.100.0/24'), 10_000);
    assert.ok(e, 'the ignore never reached B');
    assert.equal(e.tag, 'lan');
    assert.equal(await onB('drop', '198.51.100.0/24'), undefined);
    assert.ok(inKernelB('ignore', '198.51.100.0/24') && !inKernelB('drop', '198.51.100.0/24'));
  });

  it('adds and removes of one CIDR keep their order; an entry B already has (409) does not discard the rest', async () => {
    await create(b.d, 'drop', '192.0.2.30/32', 'b-own');
    const skipped = (await link(good)).skipped_jobs as number;
    // One burst: in one or two batches of A's link.
    await create(a.d, 'drop', '192.0.2.20/32', 'x1');
    await remove(a.d, 'drop', '192.0.2.20/32');
    await create(a.d, 'drop', '192.0.2.20/32', 'x2');
    await create(a.d, 'drop', '192.0.2.21/32', 'y');
    await remove(a.d, 'drop', '192.0.2.21/32');
    await create(a.d, 'drop', '192.0.2.30/32', 'a-dup');
    await create(a.d, 'drop', '192.0.2.31/32', 'after-dup');
    const l = await drained();
    assert.ok(l, 'A\'s link to B never drained');
    assert.equal((await onB('drop', '192.0.2.20/32'))?.tag, 'x2');
    assert.equal(await onB('drop', '192.0.2.21/32'), undefined);
    assert.equal((await onB('drop', '192.0.2.30/32'))?.tag, 'b-own');
    assert.equal((await onB('drop', '192.0.2.31/32'))?.tag, 'after-dup');
    assert.ok(l.skipped_jobs > skipped, JSON.stringify(l));
    assert.equal(l.last_error, null);
    assert.ok(inKernelB('drop', '192.0.2.20/32') && !inKernelB('drop', '192.0.2.21/32') && inKernelB('drop', '192.0.2.31/32'));
  });

  it('a hung peer never delays the others', async () => {
    // The hung peer holds a request (5 s timeout) or backs off; B gets each change meanwhile.
    assert.ok(await waitFor(() => hung.connections() > 0, 10_000), 'A never tried the hung peer');
    for (const cidr of ['192.0.2.40/32', '192.0.2.41/32']) {
      await create(a.d, 'drop', cidr, 'while-hung');
      // Well under the hung peer's 5 s request timeout.
      assert.ok(await waitFor(() => onB('drop', cidr), 3000), `${cidr} waited for the hung peer`);
    }
    const h = await link(hungName);
    assert.equal(h.last_success, null);
    assert.ok(h.queue.jobs > 0, JSON.stringify(h));
  });

  it('a wrong token is logged and counted, and retried with backoff, not in a hot loop', async () => {
    const w = await waitFor(async () => {
      const l = await link(wrong);
      return l.auth_failures >= 3 ? l : undefined;
    }, 30_000, 50);
    assert.ok(w, JSON.stringify(await link(wrong)));
    // Seen as soon as the third failure happened: a loop without backoff would be far past it.
    assert.ok(w.auth_failures <= 4, `hot loop: ${w.auth_failures} failures`);
    assert.equal(w.requests, w.auth_failures);
    assert.ok(w.queue.jobs > 0 && w.sent_jobs === 0, JSON.stringify(w));
    assert.match(w.last_error.message, /^HTTP 401: the peer refuses our token/);
    await a.d.waitForOutput(/refuses our token/, 5000);
    assert.ok(!a.d.output().includes(WRONG) && !a.d.output().includes(token), 'a token is in the log');
  });

  it('B stopped while A changes things, then restarted: B converges from A\'s backlog', async () => {
    await b.d.kill('SIGTERM');
    const failures = (await link(good)).failures as number;
    await create(a.d, 'drop', '192.0.2.50/32', 'while-down');
    await create(a.d, 'ignore', '2001:db8::/48', 'v6-while-down');
    await remove(a.d, 'drop', '192.0.2.31/32');
    const down = await waitFor(async () => {
      const l = await link(good);
      return l.failures > failures && l.queue.jobs === 3 ? l : undefined;
    }, 15_000);
    assert.ok(down, JSON.stringify(await link(good)));
    assert.match(down.last_error.message, /^HTTP 502/);
    await b.d.restart();
    assert.ok(await drained(), 'A\'s backlog for B never drained');
    assert.equal((await onB('drop', '192.0.2.50/32'))?.tag, 'while-down');
    assert.equal((await onB('ignore', '2001:db8::/48'))?.tag, 'v6-while-down');
    assert.equal(await onB('drop', '192.0.2.31/32'), undefined);
    assert.ok(inKernelB('drop', '192.0.2.50/32') && inKernelB('ignore', '2001:db8::/48') && !inKernelB('drop', '192.0.2.31/32'));
    assert.equal((await link(good)).needs_resync, false);
  });

  it('TLS verifies the peer\'s certificate: without the CA, nothing is sent', async () => {
    const l = await waitFor(async () => {
      const x = await link(noCa);
      return x.failures > 0 ? x : undefined;
    }, 10_000);
    assert.ok(l, JSON.stringify(await link(noCa)));
    assert.equal(l.url, `https://[::1]:${nginx.port}`);
    assert.equal(l.sent_jobs, 0);
    assert.match(l.last_error.message, /certificate/i);
  });

  it('a peer\'s backlog is bounded: the oldest are dropped, counted, logged, and the peer needs a resync', async () => {
    // Every change of A so far (15 jobs) is queued or dropped on the hung peer's link: it never took one.
    const h = await link(hungName);
    assert.equal(h.queue.jobs, MAX_BACKLOG);
    assert.equal(h.dropped_jobs + h.queue.jobs, 15);
    assert.equal(h.needs_resync, true);
    await a.d.waitForOutput(/peer backlog full/, 5000);
    const m = await a.d.request('GET', '/v1/metrics?format=prometheus');
    assert.match(m.text, new RegExp(`^couic_peering_dropped_jobs_total\\{peer="${hungName}"\\} ${h.dropped_jobs}$`, 'm'));
    assert.match(m.text, new RegExp(`^couic_peering_needs_resync\\{peer="${hungName}"\\} 1$`, 'm'));
  });

  it('status: GET /v1/peering (monitoring may read it, clientro may not), OpenMetrics that promtool accepts', async () => {
    for (const [group, want] of [['monitoring', 200], ['clientro', 401]] as const) {
      const c = await a.d.request('POST', '/v1/client', { body: { name: `st-${group}`, group } });
      const r = await a.d.request('GET', '/v1/peering', { token: (c.json() as { token: string }).token });
      assert.equal(r.status, want, `${group}: ${r.text}`);
    }
    const s = (await a.d.request('GET', '/v1/peering')).json();
    assert.equal(s.enabled, true);
    assert.deepEqual(s.peers.map((p: { peer: string }) => p.peer), [good, wrong, hungName, noCa]);
    assert.deepEqual(s.reporting, { enabled: false });
    assert.deepEqual((await b.d.request('GET', '/v1/peering')).json(), { enabled: false, peers: [], reporting: { enabled: false } });
    // The static segment keeps Couic's answers on the entry paths.
    assert.equal((await a.d.request('GET', '/v1/peering/1.2.3.4/32')).status, 400);
    const m = await a.d.request('GET', '/v1/metrics?format=prometheus');
    assert.match(m.text, new RegExp(`^couic_peering_queue_jobs\\{peer="${good}"\\} 0$`, 'm'));
    assert.match(m.text, new RegExp(`^couic_peering_auth_failures_total\\{peer="${wrong}"\\} [1-9]\\d*$`, 'm'));
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: m.text, encoding: 'utf8' });
    const ours = `${lint.stdout}${lint.stderr}`.split('\n').filter((x) => /couic_(peering|reporting)/.test(x));
    assert.deepEqual(ours, [], 'promtool flags our families');
    // couicctl peering status, the real CLI.
    const cfg = join(dir, 'couicctl.toml');
    writeFileSync(cfg, `mode = "local"\nsocket = "${a.d.socketPath}"\nclient_file = "${a.d.workingDir}/rbac/clients/couicctl.toml"\n`);
    const cli = spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js'), '-c', cfg, 'peering', 'status'], { encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, new RegExp(`│ https://127\\.0\\.0\\.1:${nginx.port} +┆ 0 `));
    assert.match(cli.stdout, new RegExp(`^Last error of ${wrong} \\(\\d+ s ago\\): HTTP 401: the peer refuses our token`, 'm'));
    assert.match(cli.stdout, /^Reporting: disabled/m);
  });

  it('both ways: what a node received from its peer is not pushed back (no loops)', async () => {
    // B now peers with A too, through nginx in front of A's socket (the same file).
    const c = await a.d.request('POST', '/v1/client', { body: { name: 'node-b', group: 'peering' } });
    assert.equal(c.status, 201, c.text);
    nginxA = await startNginx(join(dir, 'nginx-a'), { ca: pkiCa, cert: join(dir, 'server.crt'), key: join(dir, 'server.key') }, a.d.socketPath);
    appendFileSync(b.d.configPath, `\n[peering]\nenabled = true\n[[peering.peers]]\nhost = "127.0.0.1"\nport = ${nginxA.port}\ntls = true\ntoken = "${(c.json() as { token: string }).token}"\nca = "${pkiCa}"\n`);
    await b.d.restart();
    const toA = `127.0.0.1:${nginxA.port}`;
    const linkOfB = async (): Promise<any> => ((await b.d.request('GET', '/v1/peering')).json() as { peers: { peer: string }[] }).peers.find((p) => p.peer === toA);
    const sentByA = (await link(good)).sent_jobs as number;
    // A's change reaches B; B does not send it back.
    await create(a.d, 'drop', '192.0.2.60/32', 'a-side');
    assert.ok(await waitFor(() => onB('drop', '192.0.2.60/32'), 10_000), 'A\'s change never reached B');
    // B's change reaches A; A does not send it back.
    await create(b.d, 'drop', '192.0.2.61/32', 'b-side');
    const onA = await waitFor(async () => {
      const r = await a.d.request('GET', '/v1/drop/192.0.2.61/32');
      return r.status === 200 ? r.json() : undefined;
    }, 10_000);
    assert.ok(onA, 'B\'s change never reached A');
    assert.equal(onA.tag, 'b-side');
    assert.equal((await linkOfB()).sent_jobs, 1);
    assert.equal((await link(good)).sent_jobs, sentByA + 1);
    assert.equal((await link(good)).queue.jobs, 0);
    assert.equal((await linkOfB()).queue.jobs, 0);
  });
});
