/**
 * Couic's webhook reporting (docs/peering.md): reports (reports.ts) are
 * buffered in commit order and POSTed as one JSON array at most every
 * `intervalMs` (500 ms, Couic's documented interval), with Couic's headers
 * (Content-Type and Accept application/json, User-Agent couic/<version>)
 * and a 2 s timeout. A failure (transport, timeout, non-2xx) keeps the
 * buffer and retries after a backoff (1 s doubling to 60 s); reports made
 * meanwhile join it. The buffer is bounded (`maxBuffer`): beyond, the
 * oldest are dropped, counted and logged. Only the webhook's origin is
 * logged (couic-report's path holds its secret).
 */
import type { Logger } from 'pino';
import { nowSeconds, systemClock, type Clock } from '../domain/clock.js';
import type { CoreEvents } from '../core/state/events.js';
import { Backlog } from '../outbound/backlog.js';
import { Backoff, COUIC_BACKOFF, type BackoffOptions } from '../outbound/backoff.js';
import { JsonPoster, urlOrigin } from '../outbound/post.js';
import { reportOf } from './reports.js';
import type { ReportingConfig } from './types.js';
import { LoopTimer } from '../outbound/loop-timer.js';

export interface ReporterOptions {
  readonly config: ReportingConfig;
  readonly events: CoreEvents;
  readonly logger: Logger;
  readonly version: string;
  /** @default 500 */
  readonly intervalMs?: number;
  /** @default 2000 */
  readonly timeoutMs?: number;
  readonly backoff?: BackoffOptions;
  readonly clock?: Clock;
}

/** The `reporting` part of GET /v1/peering. */
export interface ReporterStatus {
  readonly enabled: true;
  /** Scheme, host and port of the webhook (never its path). */
  readonly webhook: string;
  readonly queue: number;
  readonly sent_reports: number;
  readonly dropped_reports: number;
  readonly requests: number;
  readonly failures: number;
  readonly last_success: number | null;
  readonly last_error: { readonly at: number; readonly message: string } | null;
}

export class Reporter {
  readonly #o: ReporterOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #buffer: Backlog<string>;
  readonly #backoff: Backoff;
  readonly #poster: JsonPoster;
  readonly #off: () => void;
  readonly #origin: string;
  readonly #timer = new LoopTimer();
  #running: Promise<void>;
  #lastStart = Number.NEGATIVE_INFINITY;
  #sent = 0;
  #dropped = 0;
  #requests = 0;
  #failures = 0;
  #lastSuccess: number | null = null;
  #lastError: { at: number; message: string } | null = null;
  #warnedDrop = false;

  private constructor(o: ReporterOptions) {
    this.#o = o;
    this.#origin = urlOrigin(o.config.webhook);
    this.#log = o.logger.child({ webhook: this.#origin });
    this.#clock = o.clock ?? systemClock;
    this.#buffer = new Backlog({ maxItems: o.config.maxBuffer, maxBytes: Number.MAX_SAFE_INTEGER });
    this.#backoff = new Backoff(o.backoff ?? COUIC_BACKOFF);
    this.#poster = new JsonPoster({ url: o.config.webhook, headers: { 'user-agent': `couic/${o.version}` }, timeoutMs: o.timeoutMs ?? 2000 });
    this.#off = o.events.on((ev) => {
      if (ev.type === 'sets_reloaded') return;
      const r = reportOf(ev);
      if (r !== undefined) this.#add(r);
    });
    this.#running = this.#run();
    this.#log.info('reporting: sending this host\'s changes to the webhook');
  }

  static start(o: ReporterOptions): Reporter {
    return new Reporter(o);
  }

  #add(report: string): void {
    const dropped = this.#buffer.push(report, report.length);
    if (dropped > 0) {
      this.#dropped += dropped;
      if (!this.#warnedDrop) {
        this.#warnedDrop = true;
        this.#log.warn({ max: this.#o.config.maxBuffer }, 'report buffer full: the oldest reports are dropped (reporting.max_buffer)');
      }
    }
    this.#timer.notify();
  }

  status(): ReporterStatus {
    return {
      enabled: true, webhook: this.#origin, queue: this.#buffer.length, sent_reports: this.#sent, dropped_reports: this.#dropped,
      requests: this.#requests, failures: this.#failures, last_success: this.#lastSuccess, last_error: this.#lastError,
    };
  }

  metricLines(): string[] {
    const s = this.status();
    const l: string[] = [];
    const one = (name: string, type: 'gauge' | 'counter', help: string, v: number, unit?: string): void => {
      l.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      if (unit !== undefined) l.push(`# UNIT ${name} ${unit}`);
      l.push(`${name} ${v}`);
    };
    one('couic_reporting_queue_reports', 'gauge', 'Reports waiting for the webhook.', s.queue);
    one('couic_reporting_sent_reports_total', 'counter', 'Reports the webhook took.', s.sent_reports);
    one('couic_reporting_dropped_reports_total', 'counter', 'Oldest reports dropped because the buffer was full (reporting.max_buffer).', s.dropped_reports);
    one('couic_reporting_requests_total', 'counter', 'POSTs to the webhook.', s.requests);
    one('couic_reporting_failures_total', 'counter', 'POSTs to the webhook that failed (transport, timeout, non-2xx).', s.failures);
    one('couic_reporting_last_success_timestamp_seconds', 'gauge', 'When the webhook last took a batch (0 = never).', s.last_success ?? 0, 'seconds');
    return l;
  }

  async stop(): Promise<void> {
    this.#off();
    this.#timer.stop();
    this.#poster.close();
    await this.#running;
  }

  async #run(): Promise<void> {
    while (!this.#timer.stopped) {
      if (this.#buffer.length === 0) {
        await this.#timer.untilWork();
        continue;
      }
      const wait = this.#lastStart + (this.#o.intervalMs ?? 500) - performance.now();
      if (wait > 0) {
        await this.#timer.delay(wait);
        continue;
      }
      this.#lastStart = performance.now();
      // The whole buffer, as Couic sends it (bounded by max_buffer).
      const { values, lastSeq } = this.#buffer.peek(Number.MAX_SAFE_INTEGER);
      if (!(await this.#send(values)) && !this.#timer.stopped) {
        await this.#timer.delay(this.#backoff.fail());
        continue;
      }
      this.#buffer.ack(lastSeq);
    }
  }

  async #send(reports: readonly string[]): Promise<boolean> {
    this.#requests += 1;
    let error: string;
    try {
      const { status, text } = await this.#poster.post(Buffer.from(`[${reports.join(',')}]`));
      if (status >= 200 && status < 300) {
        this.#sent += reports.length;
        this.#lastSuccess = nowSeconds(this.#clock);
        this.#backoff.succeed();
        this.#warnedDrop = false;
        return true;
      }
      error = `HTTP ${status}: ${text.slice(0, 200)}`;
    } catch (err) {
      error = `${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`.trim();
    }
    this.#failures += 1;
    this.#lastError = { at: nowSeconds(this.#clock), message: error };
    const log = { failures: this.#backoff.failures + 1, queued: this.#buffer.length, error };
    if (this.#backoff.failures === 0) this.#log.error(log, 'webhook failed: reports kept, retrying with backoff');
    else this.#log.warn(log, 'webhook still failing');
    return false;
  }
}
