/** The `[fleet]` section of couic.toml (src/daemon/config.ts reads and checks it). */
import type { Policy } from '../domain/types.js';

export interface FleetConfig {
  readonly enabled: boolean;
  /** NATS server URLs (nats://host:port, tls://host:port or host:port). */
  readonly servers: readonly string[];
  /** This host's name in the fleet: one KV key token (keys.ts NODE_RE). */
  readonly node: string;
  /** The JetStream key-value bucket. */
  readonly bucket: string;
  /** What this host shares (and applies from the others). */
  readonly policies: readonly Policy[];
  /** Replicas of the bucket when this host creates it (3 on a 3-server cluster). */
  readonly replicas: number;
  /** Credentials, as NATS users expect them; "" = unset. Never logged. */
  readonly token: string;
  readonly user: string;
  readonly password: string;
  /** A .creds file (JWT + NKey seed). */
  readonly creds: string;
  readonly tlsCa: string;
  readonly tlsCert: string;
  readonly tlsKey: string;
}
