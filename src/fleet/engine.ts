/**
 * The NATS side of the fleet, and nothing else: the connection (endless
 * reconnects, credentials, TLS), the bucket (opened, or created with the
 * configured replicas when missing), watches, puts and deletes. fleet.ts
 * holds the logic on top of it.
 */
import { DeliverPolicy, jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
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

/**
 * One message of a watch, as the fleet reads it: the key, its revision,
 * PUT or a deletion (DEL/PURGE), the value of a PUT, when it was stored
 * (unix ms), how many the server still has to deliver.
 */
export type WatchCallback = (key: string, revision: number, value: string | undefined, created: number, pending: number) => void;

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
  readonly #js: JetStreamClient;

  private constructor(nc: NatsConnection, kv: KV, bucket: string) {
    this.nc = nc;
    this.kv = kv;
    this.#bucket = bucket;
    this.#js = jetstream(nc);
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

  /**
   * Watches keys matching `key` (a filter): every key's last value first,
   * then live; from revision `from` when > 0. What kv.watch() does, on the
   * same ordered push consumer, with the messages handed over as they come
   * (no entry object and no async iterator per message: a cold join reads
   * a million of them).
   */
  async watch(key: string, from: number, onMessage: WatchCallback): Promise<{ stop(): void }> {
    const prefix = `$KV.${this.#bucket}.`;
    const c = await this.#js.consumers.getPushConsumer(`KV_${this.#bucket}`, {
      // One subject as a string: a list needs a 2.10 server.
      filter_subjects: `${prefix}${key}`,
      ...(from > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from } : { deliver_policy: DeliverPolicy.LastPerSubject }),
    });
    const msgs = await c.consume({
      callback: (m) => {
        const op = m.headers?.get('KV-Operation') ?? '';
        const info = m.info;
        onMessage(
          m.subject.slice(prefix.length), info.streamSequence, op === 'DEL' || op === 'PURGE' ? undefined : m.string(),
          Math.floor(Number(info.timestampNanos) / 1e6), info.pending,
        );
      },
    });
    return { stop: () => void msgs.stop() };
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
