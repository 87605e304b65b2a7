/**
 * The NATS side of the fleet, and nothing else: the connection (endless
 * reconnects, credentials, TLS), the bucket (opened, or created with the
 * configured replicas when missing), watches, puts and deletes. fleet.ts
 * holds the logic on top of it.
 */
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import { connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions, type Status } from '@nats-io/transport-node';
import { readFileSync } from 'node:fs';
import type { FleetConfig } from './types.js';

/** A server URL without the credentials it may carry (for logs and the status). */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/)[^@/]*@/i, '$1***@');
}

/** The connection options of `cfg` (credentials read here, so a bad creds file fails the start). */
export function connectionOptions(cfg: FleetConfig): NodeConnectionOptions {
  const o: NodeConnectionOptions = {
    servers: [...cfg.servers],
    name: `couic ${cfg.node}`,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    reconnectJitter: 250,
    waitOnFirstConnect: true,
    // A server gone silent is noticed in ~4 s rather than the default 4 min.
    pingInterval: 2_000,
    maxPingOut: 2,
    timeout: 5_000,
  };
  if (cfg.token !== '') o.token = cfg.token;
  if (cfg.user !== '') {
    o.user = cfg.user;
    o.pass = cfg.password;
  }
  if (cfg.creds !== '') o.authenticator = credsAuthenticator(readFileSync(cfg.creds));
  if (cfg.tlsCa !== '' || cfg.tlsCert !== '') {
    o.tls = {
      ...(cfg.tlsCa === '' ? {} : { caFile: cfg.tlsCa }),
      ...(cfg.tlsCert === '' ? {} : { certFile: cfg.tlsCert, keyFile: cfg.tlsKey }),
    };
  }
  return o;
}

/** What the bucket's stream says about itself. */
export interface BucketInfo {
  /** When the stream was created: a bucket deleted and made again is another one. */
  readonly created: string;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly replicas: number;
}

export class Engine {
  readonly nc: NatsConnection;
  readonly kv: KV;
  readonly #bucket: string;

  private constructor(nc: NatsConnection, kv: KV, bucket: string) {
    this.nc = nc;
    this.kv = kv;
    this.#bucket = bucket;
  }

  /** Connects (waiting for a first server as long as it takes) and opens the bucket. */
  static async open(cfg: FleetConfig, opts: NodeConnectionOptions): Promise<Engine> {
    const nc = await connect(opts);
    try {
      const kvm = new Kvm(nc);
      let kv: KV;
      try {
        kv = await kvm.open(cfg.bucket);
        await kv.status();
      } catch (err) {
        if (!/stream not found|not found/i.test((err as Error).message)) throw err;
        kv = await kvm.create(cfg.bucket, { history: 1, replicas: cfg.replicas, description: 'couic fleet holds' });
      }
      return new Engine(nc, kv, cfg.bucket);
    } catch (err) {
      await nc.close().catch(() => {});
      throw err;
    }
  }

  get server(): string {
    return this.nc.getServer();
  }

  status(): AsyncIterable<Status> {
    return this.nc.status();
  }

  async info(): Promise<BucketInfo> {
    const s = await this.kv.status();
    const si = s.streamInfo;
    return { created: si.created, firstSeq: si.state.first_seq, lastSeq: si.state.last_seq, replicas: si.config.num_replicas };
  }

  /** Watches `key` (a filter), last values first, then live; from revision `from` when > 0. */
  watch(key: string, from: number): Promise<AsyncIterable<KvWatchEntry> & { stop(): void }> {
    return this.kv.watch({ key, ...(from > 0 ? { resumeFromRevision: from } : {}) });
  }

  put(key: string, value: string): Promise<number> {
    return this.kv.put(key, value);
  }

  delete(key: string): Promise<void> {
    return this.kv.delete(key);
  }

  get bucket(): string {
    return this.#bucket;
  }

  async close(): Promise<void> {
    await this.nc.close();
  }
}
