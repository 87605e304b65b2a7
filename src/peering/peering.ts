/**
 * Couic's peering, outbound (docs/peering.md): every committed change of
 * this host (jobs.ts says which) is queued, in commit order, on the link of
 * each peer (link.ts). Listening to the core's events means a change is
 * pushed only once it is acknowledged (in the kernel and the journal).
 * Status: status() for GET /v1/peering, metricLines() for /v1/metrics.
 */
import type { Logger } from 'pino';
import type { Clock } from '../domain/clock.js';
import type { CoreEvents } from '../core/state/events.js';
import type { BackoffOptions } from '../outbound/backoff.js';
import { jobsOf } from './jobs.js';
import { PeerLink, type LinkStatus } from './link.js';
import type { PeeringConfig } from './types.js';

export interface PeeringOptions {
  readonly config: PeeringConfig;
  readonly events: CoreEvents;
  readonly logger: Logger;
  readonly version: string;
  readonly backoff?: BackoffOptions;
  readonly intervalMs?: number;
  readonly clock?: Clock;
}

export interface PeeringStatus {
  readonly enabled: true;
  readonly peers: readonly LinkStatus[];
}

export class Peering {
  readonly #links: PeerLink[];
  readonly #off: () => void;

  private constructor(o: PeeringOptions) {
    this.#links = o.config.peers.map((peer) => new PeerLink({
      peer, maxBacklog: o.config.maxBacklog, maxBacklogBytes: o.config.maxBacklogBytes, logger: o.logger, version: o.version,
      ...(o.backoff === undefined ? {} : { backoff: o.backoff }),
      ...(o.intervalMs === undefined ? {} : { intervalMs: o.intervalMs }),
      ...(o.clock === undefined ? {} : { clock: o.clock }),
    }));
    this.#off = o.events.on((ev) => {
      if (ev.type === 'sets_reloaded') return;
      for (const job of jobsOf(ev)) for (const l of this.#links) l.enqueue(job);
    });
    for (const l of this.#links) l.start();
    o.logger.info({ peers: this.#links.map((l) => l.name) }, 'peering: pushing this host\'s changes to its peers');
  }

  static start(o: PeeringOptions): Peering {
    return new Peering(o);
  }

  status(): PeeringStatus {
    return { enabled: true, peers: this.#links.map((l) => l.status()) };
  }

  /** OpenMetrics families, one sample per peer (label `peer="host:port"`). */
  metricLines(): string[] {
    const peers = this.#links.map((l) => l.status());
    const l: string[] = [];
    const family = (name: string, type: 'gauge' | 'counter', help: string, value: (s: LinkStatus) => number, unit?: string): void => {
      l.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      if (unit !== undefined) l.push(`# UNIT ${name} ${unit}`);
      for (const s of peers) l.push(`${name}{peer="${s.peer}"} ${value(s)}`);
    };
    family('couic_peering_queue_jobs', 'gauge', 'Changes queued for the peer.', (s) => s.queue.jobs);
    family('couic_peering_queue_bytes', 'gauge', 'Bytes of JSON queued for the peer.', (s) => s.queue.bytes, 'bytes');
    family('couic_peering_sent_jobs_total', 'counter', 'Changes the peer took.', (s) => s.sent_jobs);
    family('couic_peering_skipped_jobs_total', 'counter', 'Changes the peer already had (409) or no longer had (404), and adds expired while queued.', (s) => s.skipped_jobs);
    family('couic_peering_dropped_jobs_total', 'counter', 'Oldest changes dropped because the peer\'s backlog was full.', (s) => s.dropped_jobs);
    family('couic_peering_rejected_jobs_total', 'counter', 'Changes the peer refused (400, 413, 415, 422), dropped.', (s) => s.rejected_jobs);
    family('couic_peering_requests_total', 'counter', 'POST /v1/{policy}/peer requests sent to the peer.', (s) => s.requests);
    family('couic_peering_failures_total', 'counter', 'Requests to the peer that failed (transport, timeout, 5xx, 401, 403).', (s) => s.failures);
    family('couic_peering_auth_failures_total', 'counter', 'Requests the peer refused with 401 or 403 (wrong token or group).', (s) => s.auth_failures);
    family('couic_peering_last_success_timestamp_seconds', 'gauge', 'When the peer last took a batch (0 = never).', (s) => s.last_success ?? 0, 'seconds');
    family('couic_peering_needs_resync', 'gauge', '1 when changes for the peer were lost (dropped or rejected).', (s) => (s.needs_resync ? 1 : 0));
    return l;
  }

  async stop(): Promise<void> {
    this.#off();
    await Promise.all(this.#links.map((l) => l.stop()));
  }
}
