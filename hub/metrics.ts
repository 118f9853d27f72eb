/**
 * The hub's Prometheus metrics (prom-client), one registry per hub so tests can run several.
 * Label values are bounded: reasons are protocol error codes or broker refusal kinds, never
 * free text.
 */

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export class Metrics {
  readonly registry = new Registry();
  readonly eventsIn = new Counter({ name: 'sannuo_events_in_total', help: 'Event lines received on evt topics (before any check)', registers: [this.registry] });
  readonly committed = new Counter({ name: 'sannuo_events_committed_total', help: 'Events committed for the first time', labelNames: ['type'], registers: [this.registry] });
  readonly duplicates = new Counter({ name: 'sannuo_events_duplicate_total', help: 'Events seen again and re-acked with their stored verdict', registers: [this.registry] });
  readonly rejected = new Counter({ name: 'sannuo_rejected_total', help: 'Messages that changed nothing (forged, malformed, unknown device, bad topic), by reason', labelNames: ['reason'], registers: [this.registry] });
  readonly refused = new Counter({ name: 'sannuo_refused_total', help: 'Authentic numbered events recorded as refused, by reason', labelNames: ['reason'], registers: [this.registry] });
  readonly brokerRefused = new Counter({ name: 'sannuo_broker_refused_total', help: 'Connects, publishes and subscribes the embedded broker refused, by reason', labelNames: ['reason'], registers: [this.registry] });
  readonly commitLatency = new Histogram({
    name: 'sannuo_commit_seconds', help: 'Time to commit one ingest transaction', registers: [this.registry],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  });
  readonly batchSize = new Histogram({ name: 'sannuo_batch_events', help: 'Event lines per ingest transaction', buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024], registers: [this.registry] });
  readonly commitFailures = new Counter({ name: 'sannuo_commit_failures_total', help: 'Ingest transactions that failed (events stay unacked and devices resend them)', registers: [this.registry] });
  readonly intakeMessages = new Counter({ name: 'sannuo_intake_messages_total', help: 'evt messages read by the intake thread: verified there, or handed raw to the main thread (not verifiable there: bad input, or a key it lacks)', labelNames: ['path'], registers: [this.registry] });
  readonly acksSent = new Counter({ name: 'sannuo_acks_sent_total', help: 'Signed ack messages published', registers: [this.registry] });
  readonly commandsSent = new Counter({ name: 'sannuo_commands_sent_total', help: 'Signed commands published', labelNames: ['type'], registers: [this.registry] });
  readonly devicesOnline = new Gauge({ name: 'sannuo_devices_online', help: 'Devices whose retained state says online', registers: [this.registry] });
  /** Filled at scrape time from the queue (see setQueueSource). */
  private queueSource: (() => Promise<{ item: string; waiting: number }[]>) | undefined;
  readonly queueLength: Gauge<'item'> = new Gauge({
    name: 'sannuo_queue_waiting', help: 'Tickets waiting, per service item', labelNames: ['item'], registers: [this.registry],
    collect: async () => {
      if (!this.queueSource) return;
      try {
        const items = await this.queueSource();
        this.queueLength.reset();
        for (const i of items) this.queueLength.set({ item: i.item }, i.waiting);
      } catch {
        // a closed database during shutdown: keep the last values
      }
    },
  });
  readonly diskFree = new Gauge({ name: 'sannuo_disk_free_bytes', help: 'Bytes free on the file system of the data folder', registers: [this.registry] });
  readonly diskLow = new Gauge({ name: 'sannuo_disk_low', help: '1 while the data folder has less than health.lowDiskMb free', registers: [this.registry] });
  readonly commitsFailing = new Gauge({ name: 'sannuo_commits_failing', help: '1 from the first failed commit until one succeeds again', registers: [this.registry] });
  readonly checkpoints = new Counter({ name: 'sannuo_checkpoints_total', help: 'Signed ledger checkpoints taken', registers: [this.registry] });

  readonly httpRequests = new Counter({ name: 'http_requests_total', help: 'HTTP requests answered, by method, route pattern and status class', labelNames: ['method', 'route', 'status'], registers: [this.registry] });
  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds', help: 'Time to answer an HTTP request, by method and route pattern', labelNames: ['method', 'route'], registers: [this.registry],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  });

  constructor(options: { defaults?: boolean } = {}) {
    // Node's default metrics under their standard names (process_cpu_seconds_total,
    // nodejs_eventloop_lag_seconds…), so stock Node.js dashboards work unchanged.
    if (options.defaults ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /**
   * One answered HTTP request. Labels stay a closed set: the route is the pattern fastify
   * matched (`/api/devices/:id`), `unmatched` for a 404 of no route, the status its class (2xx…),
   * the method one of the known verbs or OTHER.
   */
  observeHttp(method: string, route: string | undefined, status: number, seconds: number): void {
    const m = HTTP_METHODS.has(method) ? method : 'OTHER';
    const r = route ?? 'unmatched';
    this.httpRequests.inc({ method: m, route: r, status: `${Math.floor(status / 100)}xx` });
    this.httpDuration.observe({ method: m, route: r }, seconds);
  }

  setQueueSource(source: () => Promise<{ item: string; waiting: number }[]>): void {
    this.queueSource = source;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Current value of a counter for one label set (tests and health). */
  async value(name: string, labels: Record<string, string> = {}): Promise<number> {
    const metric = await this.registry.getSingleMetric(name)?.get();
    if (!metric) return 0;
    let sum = 0;
    for (const v of metric.values) {
      if (Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) sum += v.value;
    }
    return sum;
  }
}
