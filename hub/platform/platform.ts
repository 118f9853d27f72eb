/**
 * The platform push (好差评 数据汇聚) as a hall feature: an outbox in the hall's database filled
 * from the ledger, delivered by one adapter (hub/platform/adapters.ts), and its reconciliation.
 *
 * - Export: sync() reads 'rating' and 'case' ledger rows after a watermark (platform_state) and
 *   queues a record per rating and per closed case in the transaction that moves the watermark,
 *   so a hub killed at any moment neither loses nor doubles one. The outbox's key is the rating's
 *   id (a case's: 'case:' and its id): a record is queued once, whatever happens.
 * - Delivery: at least once. A record is tried until the platform acknowledges it (or refuses it
 *   for good); a failed try waits retryBase·2^(n-1), at most retryMax. Each try is a row of
 *   platform_attempts with its outcome and the platform's answer.
 * - Reconciliation: GET /api/platform/report — queued, sent, acknowledged, failed (with reasons),
 *   waiting; POST /api/platform/retry puts refused records back (after a mapping is fixed).
 * - The site rule "no rating within N days counts as 基本满意" (hub/platform/default-rating.ts)
 *   runs here too, daily, whether or not the push is on.
 */

import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Gauge, type Registry } from 'prom-client';
import type { Db, Migration } from '../db/db.js';
import { num, numOrNull } from '../db/db.js';
import type { Feature, FeatureDeps } from '../feature.js';
import type { Settings } from '../settings.js';
import type { Ratings } from '../ratings/ratings.js';
import { ticketById } from '../queue/lookup.js';
import { HttpError } from '../http/errors.js';
import { userOf } from '../app/auth.js';
import { FileDrop, HttpPost, type Adapter, type Outcome } from './adapters.js';
import { PROFILES, toPlatform, type CaseExport, type ExportRecord, type RatingExport } from './record.js';
import { DefaultRatings } from './default-rating.js';

const WATERMARK = 'platform.ledgerRow';
const SYNC_ROWS = 5000; // ledger rows scanned per sync transaction
const DEFAULT_CHECK = 60_000; // milliseconds between looks at the clock for the daily job

export type OutboxStatus = 'pending' | 'sent' | 'acked' | 'failed';

const tables = `
CREATE TABLE platform_state (
  name TEXT PRIMARY KEY,
  value BIGINT NOT NULL
);
CREATE TABLE platform_outbox (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  case_no TEXT NOT NULL,
  record TEXT NOT NULL,
  ledger_row BIGINT NOT NULL,
  queued_at BIGINT NOT NULL,
  status TEXT NOT NULL,
  attempts BIGINT NOT NULL DEFAULT 0,
  next_at BIGINT NOT NULL,
  sent_at BIGINT,
  acked_at BIGINT,
  last_error TEXT
);
CREATE INDEX platform_outbox_due ON platform_outbox (status, next_at);
CREATE INDEX platform_outbox_case_no ON platform_outbox (case_no);
CREATE TABLE platform_attempts (
  id TEXT NOT NULL,
  n BIGINT NOT NULL,
  at BIGINT NOT NULL,
  outcome TEXT NOT NULL,
  detail TEXT NOT NULL,
  PRIMARY KEY (id, n)
);
CREATE TABLE platform_cases (
  id TEXT PRIMARY KEY,
  rating TEXT NOT NULL
)`;

export interface PlatformReport {
  enabled: boolean;
  adapter: string;
  profile: string;
  /** Records in the outbox. */
  queued: number;
  /** Tried at least once. */
  sent: number;
  acknowledged: number;
  /** Refused for good by the platform; each with the platform's reason. */
  failed: number;
  /** Not yet delivered: waiting for a first try or a retry. */
  waiting: number;
  byKind: Record<string, number>;
  /** Tries that did not deliver, by what happened. */
  attempts: { total: number; refused: number; retried: number };
  failures: { id: string; kind: string; caseNo: string; attempts: number; reason: string | null }[];
  /** Waiting records that failed at least once, with the last reason. */
  retrying: { id: string; attempts: number; nextAt: number; reason: string | null }[];
  ledgerRow: number;
}

export interface PlatformOptions {
  settings: Settings;
  ratings: Ratings;
  /** Where outbox gauges go (the hub's registry; not in a district, where halls share one). */
  metricsRegistry?: Registry;
}

export class PlatformFeature implements Feature {
  readonly name = 'platform';
  readonly migrations: Migration[] = [{ id: 'platform/001-outbox', sql: () => tables }];
  private readonly adapter: Adapter | undefined;
  /** The site rule of hub/platform/default-rating.ts (its daily job runs from start()). */
  readonly defaults: DefaultRatings;
  private timer: NodeJS.Timeout | undefined;
  private dailyTimer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private stopped = false;
  private gauge: Gauge<'status'> | undefined;

  constructor(private readonly deps: FeatureDeps, private readonly options: PlatformOptions) {
    const p = options.settings.platform;
    const offset = options.settings.queue.utcOffsetMinutes;
    const day = (t: number) => new Date(t + offset * 60_000).toISOString().slice(0, 10);
    if (p.enabled && p.adapter === 'http') {
      if (!/^https?:\/\/./.test(p.http.endpoint)) throw new Error('settings: platform.http.endpoint: must be an http:// or https:// URL when platform.adapter is "http"');
      this.adapter = new HttpPost(p.http);
    } else if (p.enabled) {
      this.adapter = new FileDrop({ dir: p.file.dir || path.resolve(options.settings.data, 'platform'), format: p.file.format, hall: deps.hall, day });
    }
    this.defaults = new DefaultRatings(deps, { ratings: options.ratings, rule: options.settings.defaultRating, utcOffsetMinutes: offset });
  }

  get profile() {
    return PROFILES[this.options.settings.platform.profile];
  }

  async start(): Promise<void> {
    const p = this.options.settings.platform;
    if (this.options.metricsRegistry && !this.options.metricsRegistry.getSingleMetric('sannuo_platform_outbox')) {
      this.gauge = new Gauge({
        name: 'sannuo_platform_outbox', help: 'Records in the 好差评 platform outbox, by status', labelNames: ['status'], registers: [this.options.metricsRegistry],
        collect: async () => {
          try {
            const rows = await this.deps.db.all<{ status: string; n: number }>('SELECT status, COUNT(*) AS n FROM platform_outbox GROUP BY status');
            for (const s of ['pending', 'sent', 'acked', 'failed'] as const) this.gauge!.set({ status: s }, num(rows.find((r) => r.status === s)?.n));
          } catch {
            // a closed database during shutdown: keep the last values
          }
        },
      });
    }
    if (this.options.settings.defaultRating.days > 0) {
      await this.defaults.startRule();
      const daily = () => {
        this.dailyTimer = setTimeout(() => { void this.defaults.runIfDue().catch((error: unknown) => this.deps.log.error({ err: error }, 'default ratings failed')).finally(() => { if (!this.stopped) daily(); }); }, DEFAULT_CHECK);
        this.dailyTimer.unref();
      };
      await this.defaults.runIfDue().catch((error: unknown) => this.deps.log.error({ err: error }, 'default ratings failed'));
      daily();
    }
    if (!p.enabled) return;
    this.deps.bus.on('ratingCommitted', this.name, () => this.kick());
    this.deps.bus.on('caseOpened', this.name, () => this.kick());
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.deps.bus.off(this.name);
    clearTimeout(this.timer);
    clearTimeout(this.dailyTimer);
    this.abort.abort();
    await this.round;
    if (this.gauge) this.options.metricsRegistry?.removeSingleMetric('sannuo_platform_outbox');
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.round = this.deliverRound().catch((error: unknown) => this.deps.log.error({ err: error }, 'platform round failed'))
        .finally(() => { this.round = undefined; this.schedule(this.options.settings.platform.interval); });
    }, ms);
  }

  /** A rating was committed: a round soon, unless one is running. */
  private kick(): void {
    if (!this.round) this.schedule(50);
  }

  // ------------------------------------------------------------ export

  /** Queues every rating and closed case in the ledger after the watermark. Returns how many were queued. */
  async sync(): Promise<number> {
    const { db, ledger } = this.deps;
    let queued = 0;
    for (;;) {
      const more = await db.tx(async (tx) => {
        const after = num((await tx.get<{ value: number }>('SELECT value FROM platform_state WHERE name = $1', [WATERMARK]))?.value);
        const head = (await ledger.head(tx)).row;
        if (head <= after) return false;
        const upTo = Math.min(head, after + SYNC_ROWS);
        // The two kinds in chain order, with each row's time (a case closes at its row's time).
        const rows = await tx.all<{ row: number; at: number; kind: 'rating' | 'case'; body: string }>(`SELECT "row", at, kind, body FROM ledger
          WHERE hall = $1 AND "row" > $2 AND "row" <= $3 AND kind IN ('rating', 'case') ORDER BY "row"`, [this.deps.hall, after, upTo]);
        for (const r of rows) queued += await this.queueRow(tx, r.kind, num(r.row), num(r.at), JSON.parse(r.body) as Record<string, unknown>);
        await tx.run('INSERT INTO platform_state (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value', [WATERMARK, upTo]);
        return upTo < head;
      });
      if (!more) return queued;
    }
  }

  private async queueRow(tx: Db, kind: 'rating' | 'case', row: number, at: number, body: Record<string, unknown>): Promise<number> {
    let record: ExportRecord | undefined;
    if (kind === 'rating') {
      // A rating that counts nowhere (not bound to a service) is no 办件's rating.
      if (body.bound === 'unbound') return 0;
      const ticketId = (body.ticket as string | null) ?? null;
      const ticket = ticketId ? await ticketById(tx, ticketId) : undefined;
      const caseNo = ticket?.case_no || ticketId || (body.id as string);
      // 评价次数: the ratings of this 办件 before this one, plus one (a returning citizen rates the same case again).
      const before = num((await tx.get<{ n: number }>(`SELECT COUNT(*) AS n FROM platform_outbox WHERE kind = 'rating' AND case_no = $1 AND id <> $2`, [caseNo, body.id as string]))?.n);
      const r: RatingExport = {
        kind: 'rating', id: body.id as string, caseNo, ticket: ticketId, channel: body.channel as string, t: num(body.t), times: before + 1,
        level: num(body.level), reason: (body.reason as string | null) ?? null, item: (body.item as string | null) ?? null,
        department: (body.department as string | null) ?? null, win: (body.win as string | null) || null, staff: (body.staff as string | null) ?? null,
      };
      record = r;
    } else {
      const caseId = body.case as string;
      if (body.step === 'opened') {
        await tx.run('INSERT INTO platform_cases (id, rating) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [caseId, body.rating as string]);
        return 0;
      }
      // 'review' is the step that closes a case (a review that sends it back is 'reopened'); an upheld appeal closes it too.
      if (body.step !== 'review' && body.step !== 'appeal-upheld') return 0;
      const link = await tx.get<{ rating: string }>('SELECT rating FROM platform_cases WHERE id = $1', [caseId]);
      const rated = link ? await tx.get<{ record: string }>('SELECT record FROM platform_outbox WHERE id = $1', [link.rating]) : undefined;
      if (!link || !rated) {
        this.deps.log.warn({ case: caseId }, 'platform: a closed case whose rating is not in the outbox; not exported');
        return 0;
      }
      const rating = JSON.parse(rated.record) as RatingExport;
      const c: CaseExport = {
        kind: 'case', id: `case:${caseId}`, case: caseId, rating: rating.id, caseNo: rating.caseNo, level: rating.level,
        outcome: body.step === 'appeal-upheld' ? 'appeal-upheld' : 'rectified', t: at,
        item: rating.item, department: rating.department, win: rating.win, staff: rating.staff,
      };
      record = c;
    }
    const now = this.deps.now();
    const res = await tx.run(`INSERT INTO platform_outbox (id, kind, case_no, record, ledger_row, queued_at, status, attempts, next_at)
      VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $6) ON CONFLICT (id) DO NOTHING`, [record.id, record.kind, record.caseNo, JSON.stringify(record), row, now]);
    return res.changes;
  }

  // ------------------------------------------------------------ delivery

  /** One round: sync, then deliver what is due (at most platform.batch records). */
  async deliverRound(): Promise<void> {
    await this.sync();
    const adapter = this.adapter;
    if (!adapter) return;
    const p = this.options.settings.platform;
    const due = await this.deps.db.all<{ id: string; record: string; attempts: number }>(
      `SELECT id, record, attempts FROM platform_outbox WHERE status IN ('pending') AND next_at <= $1 ORDER BY ledger_row LIMIT ${p.batch}`, [this.deps.now()]);
    for (const row of due) {
      if (this.stopped) return;
      const record = JSON.parse(row.record) as ExportRecord;
      let outcome: Outcome;
      try {
        outcome = await adapter.deliver(toPlatform(record, this.profile, { region: p.region, departments: p.departments }, this.options.settings.queue.utcOffsetMinutes), this.abort.signal);
      } catch (error) {
        outcome = { result: 'retry', detail: (error as Error).message };
      }
      // A try cut short by the hub stopping says nothing of the platform: not counted.
      if (this.stopped && outcome.result === 'retry') return;
      await this.settle(row.id, num(row.attempts) + 1, outcome);
    }
  }

  private async settle(id: string, n: number, outcome: Outcome): Promise<void> {
    const now = this.deps.now();
    const p = this.options.settings.platform;
    await this.deps.db.tx(async (tx) => {
      await tx.run('INSERT INTO platform_attempts (id, n, at, outcome, detail) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id, n) DO NOTHING', [id, n, now, outcome.result, outcome.detail]);
      if (outcome.result === 'acked') {
        await tx.run(`UPDATE platform_outbox SET status = 'acked', attempts = $2, sent_at = COALESCE(sent_at, $3), acked_at = $3 WHERE id = $1`, [id, n, now]);
      } else if (outcome.result === 'sent') {
        await tx.run(`UPDATE platform_outbox SET status = 'sent', attempts = $2, sent_at = $3 WHERE id = $1`, [id, n, now]);
      } else if (outcome.result === 'refused') {
        await tx.run(`UPDATE platform_outbox SET status = 'failed', attempts = $2, sent_at = COALESCE(sent_at, $3), last_error = $4 WHERE id = $1`, [id, n, now, outcome.detail]);
      } else {
        const wait = Math.min(p.retryMax, p.retryBase * 2 ** Math.min(30, n - 1));
        await tx.run(`UPDATE platform_outbox SET attempts = $2, sent_at = COALESCE(sent_at, $3), next_at = $4, last_error = $5 WHERE id = $1`, [id, n, now, now + wait, outcome.detail]);
      }
    });
    const log = outcome.result === 'refused' ? 'warn' : outcome.result === 'retry' ? 'info' : 'debug';
    this.deps.log[log]({ record: id, attempt: n, outcome: outcome.result, detail: outcome.detail }, `platform: ${outcome.result}`);
  }

  /** Refused records back to waiting (a supervisor fixed the department codes, say): each is tried again, under its same id. */
  async retryFailed(by: string): Promise<number> {
    const res = await this.deps.db.run(`UPDATE platform_outbox SET status = 'pending', next_at = $1 WHERE status = 'failed'`, [this.deps.now()]);
    this.deps.log.info({ by, records: res.changes }, 'platform: refused records queued again');
    if (res.changes) this.kick();
    return res.changes;
  }

  // ------------------------------------------------------------ reconciliation

  async report(): Promise<PlatformReport> {
    const { db } = this.deps;
    const p = this.options.settings.platform;
    const count = async (where: string) => num((await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM platform_outbox WHERE ${where}`))?.n);
    const kinds = await db.all<{ kind: string; n: number }>('SELECT kind, COUNT(*) AS n FROM platform_outbox GROUP BY kind ORDER BY kind');
    const attempts = await db.all<{ outcome: string; n: number }>('SELECT outcome, COUNT(*) AS n FROM platform_attempts GROUP BY outcome');
    const failures = await db.all<Record<string, string | number | null>>(`SELECT id, kind, case_no, attempts, last_error FROM platform_outbox WHERE status = 'failed' ORDER BY ledger_row LIMIT 500`);
    const retrying = await db.all<Record<string, string | number | null>>(`SELECT id, attempts, next_at, last_error FROM platform_outbox WHERE status = 'pending' AND attempts > 0 ORDER BY ledger_row LIMIT 500`);
    const attemptsOf = (o: string) => num(attempts.find((a) => a.outcome === o)?.n);
    return {
      enabled: p.enabled, adapter: p.enabled ? p.adapter : 'none', profile: p.profile,
      queued: await count('1 = 1'), sent: await count('attempts > 0'), acknowledged: await count(`status = 'acked'`),
      failed: await count(`status = 'failed'`), waiting: await count(`status = 'pending'`),
      byKind: Object.fromEntries(kinds.map((k) => [k.kind, num(k.n)])),
      attempts: { total: attempts.reduce((s, a) => s + num(a.n), 0), refused: attemptsOf('refused'), retried: attemptsOf('retry') },
      failures: failures.map((f) => ({ id: f.id as string, kind: f.kind as string, caseNo: f.case_no as string, attempts: num(f.attempts), reason: f.last_error as string | null })),
      retrying: retrying.map((r) => ({ id: r.id as string, attempts: num(r.attempts), nextAt: num(r.next_at), reason: r.last_error as string | null })),
      ledgerRow: num((await db.get<{ value: number }>('SELECT value FROM platform_state WHERE name = $1', [WATERMARK]))?.value),
    };
  }

  /** One record as the platform gets it, with its tries. */
  async record(id: string): Promise<{ id: string; status: OutboxStatus; fields: Record<string, string>; attempts: { n: number; at: number; outcome: string; detail: string }[]; ackedAt: number | null }> {
    const row = await this.deps.db.get<Record<string, string | number | null>>('SELECT * FROM platform_outbox WHERE id = $1', [id]);
    if (!row) throw new HttpError(404, `record ${id} is not in the platform outbox`, 'id');
    const p = this.options.settings.platform;
    const tries = await this.deps.db.all<Record<string, string | number>>('SELECT n, at, outcome, detail FROM platform_attempts WHERE id = $1 ORDER BY n', [id]);
    return {
      id, status: row.status as OutboxStatus, ackedAt: numOrNull(row.acked_at),
      fields: toPlatform(JSON.parse(row.record as string) as ExportRecord, this.profile, { region: p.region, departments: p.departments }, this.options.settings.queue.utcOffsetMinutes),
      attempts: tries.map((t) => ({ n: num(t.n), at: num(t.at), outcome: t.outcome as string, detail: t.detail as string })),
    };
  }

  /**
   * GET  /api/platform/report          [supervisor] the reconciliation report
   * GET  /api/platform/records/:id     [supervisor] one record in the platform's codes, with its tries
   * POST /api/platform/retry           [supervisor] refused records back to waiting
   */
  routes(app: FastifyInstance): void {
    const supervisor = { onRequest: this.deps.auth.requireRole('supervisor') };
    app.get('/api/platform/report', supervisor, async () => this.report());
    app.get<{ Params: { id: string } }>('/api/platform/records/:id', {
      ...supervisor, schema: { params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 200 } }, required: ['id'] } },
    }, async (request) => this.record(request.params.id));
    app.post('/api/platform/retry', supervisor, async (request) => {
      return { requeued: await this.retryFailed(userOf(request).username) };
    });
  }
}
