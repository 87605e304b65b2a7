/** The `[peering]` section of couic.toml (docs/peering.md), as the daemon's config reads it. */

export interface PeerConfig {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  /** Bearer token of a client on the peer (never logged). */
  readonly token: string;
  /** PEM CA file that verifies the peer's certificate; "" = the system CAs. */
  readonly ca: string;
}

export interface PeeringConfig {
  readonly enabled: boolean;
  readonly peers: readonly PeerConfig[];
  /** Jobs kept per peer while it is unreachable. */
  readonly maxBacklog: number;
  /** The same bound in bytes of JSON. */
  readonly maxBacklogBytes: number;
}

/** `http[s]://host:port` of a peer (an IPv6 address gets its brackets). */
export function peerBaseUrl(p: Pick<PeerConfig, 'host' | 'port' | 'tls'>): string {
  const host = p.host.includes(':') && !p.host.startsWith('[') ? `[${p.host}]` : p.host;
  return `${p.tls ? 'https' : 'http'}://${host}:${p.port}`;
}

/** How a peer is named in logs, metrics and the status: `host:port`. */
export function peerName(p: Pick<PeerConfig, 'host' | 'port'>): string {
  return `${p.host}:${p.port}`;
}
