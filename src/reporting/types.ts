/** The `[reporting]` section of couic.toml (docs/peering.md), as the daemon's config reads it. */

export interface ReportingConfig {
  readonly enabled: boolean;
  /** Where reports are POSTed (may hold a secret in its path: only its origin is logged). */
  readonly webhook: string;
  /** Reports kept while the webhook fails. */
  readonly maxBuffer: number;
}
