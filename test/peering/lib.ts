/**
 * Peering test harness: a CA and a server certificate made with openssl,
 * nginx running docs/nginx/couic.conf itself (its paths and port replaced)
 * in front of a daemon's socket, a webhook receiver, a peer that accepts
 * connections and never answers.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { REPO_ROOT } from '../lib/daemon.js';
import { startProc, type Proc } from '../lib/proc.js';

export const NGINX_CONF = join(REPO_ROOT, 'docs', 'nginx', 'couic.conf');
const has = (cmd: string, ...args: string[]): boolean => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
export const toolsSkip: string | false = !has('nginx', '-v') ? 'nginx not installed' : !has('openssl', 'version') ? 'openssl not installed' : false;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a !== null ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

function openssl(args: readonly string[]): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
}

export interface Pki {
  /** The CA certificate file (what peering.peers.ca names). */
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** A private CA and a server certificate it signs, for localhost, 127.0.0.1 and ::1. */
export function makePki(dir: string): Pki {
  const p = (n: string): string => join(dir, n);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=couic test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign', '-keyout', p('ca.key'), '-out', p('ca.pem')]);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost', '-keyout', p('server.key'), '-out', p('server.csr')]);
  writeFileSync(p('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n');
  openssl(['x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', p('ext.cnf'), '-out', p('server.crt')]);
  return { ca: p('ca.pem'), cert: p('server.crt'), key: p('server.key') };
}

export interface Nginx extends Proc {
  readonly port: number;
  readonly accessLog: string;
}

/**
 * nginx with docs/nginx/couic.conf, the shipped file, with only its paths
 * and port replaced (each replacement must apply: the test runs that file).
 */
export async function startNginx(dir: string, pki: Pki, socketPath: string): Promise<Nginx> {
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const port = await freePort();
  let server = readFileSync(NGINX_CONF, 'utf8');
  const replace = (from: string, to: string): void => {
    assert.ok(server.includes(from), `docs/nginx/couic.conf no longer has ${from}`);
    server = server.split(from).join(to);
  };
  replace('listen 2900 ssl;', `listen 127.0.0.1:${port} ssl;`);
  replace('listen [::]:2900 ssl;', `listen [::1]:${port} ssl;`);
  replace('/etc/couic/tls/couic.crt', pki.cert);
  replace('/etc/couic/tls/couic.key', pki.key);
  replace('http://unix:/run/couic/couic.sock', `http://unix:${socketPath}`);
  writeFileSync(join(dir, 'couic.conf'), server);
  const t = (n: string): string => join(dir, 'tmp', n);
  const accessLog = join(dir, 'access.log');
  // The main file stands for Debian's /etc/nginx/nginx.conf, which includes conf.d/*.conf.
  writeFileSync(join(dir, 'nginx.conf'), `user root root;
worker_processes 1;
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} info;
events { worker_connections 64; }
http {
  access_log ${accessLog};
  client_body_temp_path ${t('body')}; proxy_temp_path ${t('proxy')}; fastcgi_temp_path ${t('fastcgi')};
  uwsgi_temp_path ${t('uwsgi')}; scgi_temp_path ${t('scgi')};
  include ${join(dir, 'couic.conf')};
}
`);
  const proc = startProc(['nginx', '-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')]);
  return { ...proc, port, accessLog };
}

export interface Posted {
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  readonly status: number;
}

/** A webhook receiver on loopback: records every POST; answers `status` (changeable). */
export interface Webhook {
  readonly port: number;
  readonly posts: Posted[];
  status: number;
  close(): Promise<void>;
}

export async function startWebhook(): Promise<Webhook> {
  const posts: Posted[] = [];
  const hook = { port: 0, posts, status: 200, close: async () => {} } as Webhook;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = hook.status;
      posts.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'reports received' : 'down');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  (hook as { port: number }).port = typeof a === 'object' && a !== null ? a.port : 0;
  hook.close = () => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  });
  return hook;
}

/** A peer that accepts TCP connections and never answers (a hung host). */
export async function startHungPeer(): Promise<{ port: number; connections(): number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let count = 0;
  const server = net.createServer((s) => {
    count += 1;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  return {
    port: typeof a === 'object' && a !== null ? a.port : 0,
    connections: () => count,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}
