/**
 * The monitoring recipe of docs/monitoring.md, for real: a live daemon
 * attached to a veth (packets from a banned source dropped, others passed),
 * a `monitoring` client, nginx as the TLS reverse proxy in front of the
 * Unix socket (`proxy_pass http://unix:…`), and Debian's prometheus scraping
 * `/v1/metrics?format=prometheus` through it with the client's bearer token
 * and the alert rules loaded. Prometheus's query API must return our series
 * with the daemon's values; `promtool check metrics` on what nginx serves
 * must flag only Couic's two `_total` gauges; every query of the Grafana
 * dashboard must run in that Prometheus, name only exported metrics and
 * return series; every alert rule evaluates, none fires.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT, startDaemon, type Daemon } from '../lib/daemon.js';
import { kernelSkip } from '../lib/kernel.js';
import { createPair, udpSend, type NetnsPair } from '../lib/netns.js';
import { startProc, type Proc } from '../lib/proc.js';
import { waitFor } from '../lib/wait.js';

const DASHBOARD = join(REPO_ROOT, 'docs', 'monitoring', 'couic-dashboard.json');
const ALERTS = join(REPO_ROOT, 'docs', 'monitoring', 'couic-alerts.yml');
const has = (cmd: string, ...args: string[]): boolean => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const skip =
  kernelSkip ||
  (!has('prometheus', '--version') || !has('promtool', '--version')
    ? 'prometheus not installed (apt-get install prometheus)'
    : !has('nginx', '-v')
      ? 'nginx not installed (apt-get install nginx)'
      : !has('openssl', 'version')
        ? 'openssl not installed'
        : false);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a !== null ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

interface Got {
  readonly status: number;
  readonly type: string;
  readonly text: string;
}

/** GET over https to 127.0.0.1:port, trusting `ca`. */
function httpsGet(port: number, path: string, ca: string, token?: string): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      { host: '127.0.0.1', port, path, ca, servername: 'localhost', headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, timeout: 5000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** A process we started; stop() ends it (SIGTERM, then SIGKILL). */
interface PromVector {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

describe('monitoring: prometheus scrapes couic through nginx with a bearer token', { skip, timeout: 240_000 }, () => {
  let pair: NetnsPair;
  let d: Daemon;
  let dir = '';
  let nginx: Proc | undefined;
  let prom: Proc | undefined;
  let proxyPort = 0;
  let promPort = 0;
  let ca = '';
  let token = '';
  let banned = '';
  const SENT = 25;

  const promApi = async (path: string): Promise<any> => {
    const r = await fetch(`http://127.0.0.1:${promPort}${path}`);
    const body = (await r.json()) as { status: string; data: unknown; error?: string };
    assert.equal(body.status, 'success', `${path}: ${body.error ?? JSON.stringify(body)}`);
    return body.data;
  };
  const query = async (q: string): Promise<PromVector[]> => {
    const data = (await promApi(`/api/v1/query?query=${encodeURIComponent(q)}`)) as { resultType: string; result: PromVector[] };
    return data.result;
  };
  const value = async (q: string): Promise<number | undefined> => {
    const r = await query(q);
    return r[0] === undefined ? undefined : Number(r[0].value[1]);
  };
  const until = async (what: string, probe: () => Promise<boolean>, ms = 30_000): Promise<void> => {
    if (!(await waitFor(probe, ms, 250))) assert.fail(`${what}\nprometheus:\n${prom?.output().slice(-3000)}\nnginx:\n${nginx?.output().slice(-2000)}`);
  };

  before(async () => {
    pair = await createPair({ prefix: 'mon', extraSources: 2 });
    banned = pair.extraV4[0]!;
    d = await startDaemon({ ifaces: [pair.receiver.ifname], wrapper: ['ip', 'netns', 'exec', pair.receiver.ns] });
    dir = mkdtempSync(join(tmpdir(), 'couic-mon-'));
    mkdirSync(join(dir, 'tmp'));

    // The recipe, step 1: a client of the monitoring group.
    const c = await d.request('POST', '/v1/client', { body: { name: 'prometheus', group: 'monitoring' } });
    assert.equal(c.status, 201, c.text);
    token = (c.json() as { token: string }).token;

    // Step 2: nginx, TLS, proxying to the Unix socket. (The recipe adds nginx's user to the
    // couic group; this daemon runs as root in a 0700 temp dir, so the workers run as root.)
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    const ssl = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert], { encoding: 'utf8' });
    assert.equal(ssl.status, 0, ssl.stderr);
    ca = readFileSync(cert, 'utf8');
    proxyPort = await freePort();
    const t = (n: string): string => join(dir, 'tmp', n);
    writeFileSync(join(dir, 'nginx.conf'), `user root root;
worker_processes 1;
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'nginx-error.log')} info;
events { worker_connections 64; }
http {
  access_log ${join(dir, 'nginx-access.log')};
  client_body_temp_path ${t('body')}; proxy_temp_path ${t('proxy')}; fastcgi_temp_path ${t('fastcgi')};
  uwsgi_temp_path ${t('uwsgi')}; scgi_temp_path ${t('scgi')};
  server {
    listen 127.0.0.1:${proxyPort} ssl;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    location / {
      proxy_pass http://unix:${d.socketPath}:;
      proxy_http_version 1.1;
      proxy_set_header Host localhost;
      proxy_set_header Connection "";
    }
  }
}
`);
    nginx = startProc(['nginx', '-p', dir, '-e', join(dir, 'nginx-error.log'), '-c', join(dir, 'nginx.conf')]);

    // Step 3: prometheus, scraping every second, with the alert rules.
    promPort = await freePort();
    writeFileSync(join(dir, 'token'), `${token}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'prometheus.yml'), `global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - ${ALERTS}
scrape_configs:
  - job_name: couic
    scheme: https
    metrics_path: /v1/metrics
    params:
      format: [prometheus]
    authorization:
      type: Bearer
      credentials_file: ${join(dir, 'token')}
    tls_config:
      ca_file: ${cert}
      server_name: localhost
    static_configs:
      - targets: ['127.0.0.1:${proxyPort}']
`);
    prom = startProc(['prometheus', `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn']);

    // Traffic: the banned source is dropped at XDP, the allowed one passes through its ignore entry.
    const ban = await d.request('POST', '/v1/drop', { body: { cidr: `${banned}/32`, tag: 'mon-ban', expiration: 0 } });
    assert.equal(ban.status, 201, ban.text);
    const allow = await d.request('POST', '/v1/ignore', { body: { cidr: `${pair.extraV4[1]!}/32`, tag: 'mon-allow', expiration: 0 } });
    assert.equal(allow.status, 201, allow.text);
    assert.equal(await udpSend(pair.sender.ns, banned, pair.receiver.v4, 40998, SENT), SENT);
    assert.equal(await udpSend(pair.sender.ns, pair.extraV4[1]!, pair.receiver.v4, 40998, 5), 5);
  });

  after(async () => {
    await prom?.stop();
    await nginx?.stop();
    await d?.stop();
    await pair?.teardown();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('nginx passes the API through with the bearer token; the monitoring client may read metrics only', async () => {
    await until('nginx not answering', async () => (await httpsGet(proxyPort, '/v1/stats', ca, token).catch(() => ({ status: 0 }))).status === 200);
    assert.equal((await httpsGet(proxyPort, '/v1/metrics?format=prometheus', ca)).status, 401);
    assert.equal((await httpsGet(proxyPort, '/v1/drop', ca, token)).status, 401, 'monitoring may not list entries');
    const m = await httpsGet(proxyPort, '/v1/metrics?format=prometheus', ca, token);
    assert.equal(m.status, 200);
    assert.equal(m.type, 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    assert.match(m.text, /^couic_drop_tag_rx_packets_total\{tag="mon-ban"\} \d+$/m);

    // promtool on what a scraper gets: only Couic's two gauges named _total.
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: m.text, encoding: 'utf8' });
    assert.deepEqual(`${lint.stdout}${lint.stderr}`.trim().split('\n').sort(), [
      'couic_drop_cidr_total non-counter metrics should not have "_total" suffix',
      'couic_ignore_cidr_total non-counter metrics should not have "_total" suffix',
    ]);
  });

  it('prometheus scrapes the target and its query API returns our series with the daemon\'s values', async () => {
    await until('prometheus target not up', async () => {
      const r = (await promApi('/api/v1/targets').catch(() => undefined)) as { activeTargets: Array<{ health: string; lastError: string }> } | undefined;
      const tgt = r?.activeTargets[0];
      if (tgt !== undefined && tgt.health === 'down') console.log(`# target down: ${tgt.lastError}`);
      return tgt?.health === 'up';
    });
    await until('no couic_drop_tag_rx_packets_total{tag="mon-ban"} series', async () => ((await value('couic_drop_tag_rx_packets_total{tag="mon-ban"}')) ?? 0) >= SENT);
    const stats = (await d.request('GET', '/v1/stats')).json() as { drop_cidr_count: number; xdp: Record<string, { rx_packets: number }> };
    assert.equal(await value('couic_drop_tag_rx_packets_total{job="couic",tag="mon-ban"}'), SENT);
    assert.equal(await value('couic_drop_cidr_total'), stats.drop_cidr_count);
    assert.equal(await value('couic_ignore_cidr_total'), 1);
    assert.equal(await value('couic_ignore_tag_rx_packets_total{tag="mon-allow"}'), 5);
    assert.ok(((await value('couic_stats_rx_packets_total{action="XDP_DROP"}')) ?? 0) >= SENT);
    assert.ok(((await value('couic_stats_rx_packets_total{action="XDP_PASS"}')) ?? 0) >= 5);
    assert.equal((await query('couic_stats_rx_bytes_total')).length, 5, 'one series per XDP action');
    assert.equal(await value('couic_helper_up'), 1);
    assert.equal(await value('couic_helper_restarts_total'), 0);
    assert.equal(await value('couic_queue_max_pending_mutations'), 262_144);
    assert.ok(((await value('couic_queue_requests_total')) ?? 0) >= 2, 'the ban and the ignore entry');
    assert.equal(await value('couic_journal_compacting'), 0);
    assert.equal(await value('up{job="couic"}'), 1);
  });

  it('every query of the Grafana dashboard runs, names exported metrics only, and returns series', async () => {
    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }> }> };
    const exported = new Set((await promApi('/api/v1/label/__name__/values')) as string[]);
    const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })));
    assert.ok(exprs.length >= 15, `${exprs.length} queries`);
    // rate() over the dashboard's interval needs a few scrapes.
    await until('fewer than 3 scrapes stored', async () => ((await value('count_over_time(couic_helper_up[1m])')) ?? 0) >= 3);
    const covered = new Set<string>();
    for (const { title, expr } of exprs) {
      for (const name of expr.match(/\b(couic_[a-z_]+|up)\b(?=\{|\[|\s|\))/g) ?? []) {
        assert.ok(exported.has(name), `${title}: ${name} is not a metric the daemon exports`);
        covered.add(name);
      }
      const q = expr.replaceAll('$__rate_interval', '1m').replaceAll('$instance', '.*');
      assert.ok((await query(q)).length > 0, `${title}: no series for ${q}`);
    }
    // The dashboard shows every family the daemon exports.
    for (const name of exported) if (name.startsWith('couic_')) assert.ok(covered.has(name), `${name} is on no panel`);
  });

  it('the alert rules load and evaluate; none fires on a healthy daemon', async () => {
    await until('rules not evaluated', async () => {
      const r = (await promApi('/api/v1/rules')) as { groups: Array<{ rules: Array<{ health: string; lastEvaluation: string }> }> };
      const rules = r.groups.flatMap((g) => g.rules);
      return rules.length === 5 && rules.every((x) => x.health === 'ok' && !x.lastEvaluation.startsWith('0001'));
    });
    const alerts = (await promApi('/api/v1/alerts')) as { alerts: unknown[] };
    assert.deepEqual(alerts.alerts, []);
  });
});
