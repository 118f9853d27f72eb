/**
 * Near-turn notices (a Feature): a citizen who consents (at the kiosk, or through a booking
 * site's kiosk token) is told when the ticket is issued, when N or fewer wait before it, when it
 * is called, recalled or transferred, and, once the pad's own rating request has lapsed unrated,
 * is invited to rate by the phone link.
 *
 * How nothing is lost or doubled: the queue's changes reach us as windowChanged (after their
 * commit); each look compares the consented tickets with the notices already made and inserts
 * the missing ones (UNIQUE (ticket, kind): one of each kind per ticket, however often we look).
 * The delivery loop sends the due rows one at a time and writes each outcome before the next;
 * a failure waits retryBaseMs·2^(attempt−1) (at most retryMaxMs) and is tried again, until
 * maxAttempts. On start we look again, so a change committed just before a crash gets its notice;
 * a send cut short by a crash is sent again with the same Idempotency-Key, which the receiver
 * uses to send it once.
 *
 * Routes:
 *   POST   /api/notices/consent { ticket, contact, kinds? }  [kiosk, supervisor] consent recorded (ledger: the contact's digest)
 *   DELETE /api/notices/consent/:ticket                      [kiosk, supervisor] consent withdrawn
 *   GET    /api/notices?status=&limit=                       [supervisor] notices, newest first (contacts masked)
 *   GET    /api/notices/summary                              [supervisor] counts by status, the last failures
 *   POST   /api/notices/:id/retry                            [supervisor] a failed notice tried again
 */

import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Feature, FeatureDeps } from '../feature.js';
import type { NoticeSettings } from '../settings.js';
import { num, type Db } from '../db/db.js';
import { HttpError, httpErrorHandler } from '../http/errors.js';
import { objectSchema, paramsSchema, querySchema, useJsonSchemas } from '../http/validation.js';
import { userOf } from '../app/auth.js';
import { ticketById } from '../queue/lookup.js';
import { noticeMigrations } from './schema.js';
import { LogNotifier, WebhookNotifier, type Notice, type NoticeKind, type Notifier } from './notifier.js';
import { aheadOf, consentedTickets, historyOf, ticketRated, type ConsentedTicket } from './reads.js';
import { quietUntil, parseQuietHours, type QuietHours } from './quiet.js';

/** The kinds a citizen may consent to (alerts go to supervisors). */
export const CITIZEN_KINDS = ['issued', 'ahead', 'called', 'recalled', 'transferred', 'rating-invite'] as const satisfies readonly NoticeKind[];
/** Kinds worth nothing once late: dropped in quiet hours and when stale, never held back. */
const TIME_CRITICAL = new Set<NoticeKind>(['ahead', 'called', 'recalled']);
const OUTCOMES = ['sent', 'retry', 'failed', 'skipped'] as const;
type Outcome = (typeof OUTCOMES)[number];
const DAY = 86_400_000; // milliseconds
const BATCH = 50; // notices per delivery look
const LOOK_TICKS = 5; // delivery ticks between timed looks for due notices

export interface NoticesDeps extends FeatureDeps {
  settings: NoticeSettings;
  utcOffsetMinutes: number;
  /** Milliseconds the pad offers its rating request: the phone invite comes after it lapses. */
  rateTimeout: number;
  /** The phone rating link of a ticket (hub/app/channels.ts). */
  ratingLink: (ticket: string) => string;
  /** Where the metrics go (the hub's registry; a district's halls get their own, unscraped). */
  metrics?: Registry;
  /** An adapter of one's own (an SMS or WeChat provider); by default the one notices.adapter names. */
  notifier?: Notifier;
}

interface NoticeRow {
  id: string; ticket: string | null; kind: NoticeKind; contact: string; text: string; data: string; status: string;
  attempts: number; next_at: number; expires_at: number | null; created_at: number; sent_at: number | null; last_error: string | null;
}

/** A notice as the dashboard sees it: the contact masked (138****5678). */
function publicRow(r: NoticeRow) {
  return {
    id: r.id, ticket: r.ticket, kind: r.kind, to: maskContact(r.contact), text: r.text, status: r.status, attempts: num(r.attempts),
    nextAt: num(r.next_at), createdAt: num(r.created_at), sentAt: r.sent_at === null ? null : num(r.sent_at), error: r.last_error,
  };
}

export function maskContact(contact: string): string {
  if (contact.length <= 4) return '****';
  return contact.slice(0, Math.min(3, contact.length - 4)) + '****' + contact.slice(-4);
}

export function createNotifier(settings: NoticeSettings, log: FeatureDeps['log']): Notifier | null {
  if (settings.adapter === 'none') return null;
  if (settings.adapter === 'log') return new LogNotifier(log);
  return new WebhookNotifier({ url: settings.webhookUrl, secret: settings.webhookSecret, timeoutMs: settings.timeoutMs });
}

export class Notices implements Feature {
  readonly name = 'notices';
  readonly migrations = noticeMigrations;
  private readonly notifier: Notifier | null;
  private readonly quiet: QuietHours | null;
  private timer: NodeJS.Timeout | undefined;
  private looking: Promise<void> | undefined;
  private lookAgain = false;
  private delivering: Promise<void> | undefined;
  private stopped = false;
  private readonly counted: Counter<'kind' | 'outcome'>;
  private readonly open: Gauge<'status'>;

  constructor(private readonly deps: NoticesDeps) {
    this.notifier = deps.notifier ?? createNotifier(deps.settings, deps.log.child({ module: 'notices' }));
    this.quiet = parseQuietHours(deps.settings.quietHours);
    const registers = [deps.metrics ?? new Registry()];
    this.counted = new Counter({ name: 'sannuo_notices_total', help: 'Notice delivery outcomes: sent, retry (an attempt failed, tried again later), failed (given up), skipped (quiet hours, stale, already rated)', labelNames: ['kind', 'outcome'], registers });
    this.open = new Gauge({
      name: 'sannuo_notices', help: 'Notices waiting to be delivered (pending) and given up in the last 24 h (failed)', labelNames: ['status'], registers,
      collect: async () => {
        try {
          const s = await this.counts(this.deps.now() - DAY);
          this.open.set({ status: 'pending' }, s.pending);
          this.open.set({ status: 'failed' }, s.failed);
        } catch {
          // a closed database during shutdown: keep the last values
        }
      },
    });
  }

  get adapter(): string {
    return this.notifier?.name ?? 'none';
  }

  async start(): Promise<void> {
    if (!this.notifier) return;
    this.deps.bus.on('windowChanged', this.name, () => this.look());
    // Catch up: what changed while we were down (or between a commit and its event).
    await this.look();
    let lastLook = this.deps.now();
    const tick = () => {
      if (this.stopped) return;
      // Queue changes arrive as windowChanged; only the rating invite waits on the clock (the pad's request
      // lapsing), so a timed look every few ticks is enough.
      if (this.deps.now() - lastLook >= LOOK_TICKS * this.deps.settings.pollMs) {
        lastLook = this.deps.now();
        void this.look();
      }
      void this.deliver();
      this.timer = setTimeout(tick, this.deps.settings.pollMs);
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.deps.bus.off(this.name);
    // A send in flight finishes and its outcome is written: nothing is sent twice across a restart.
    await this.looking?.catch(() => undefined);
    await this.delivering?.catch(() => undefined);
  }

  // ---------------------------------------------------------------- making notices

  /** Makes the notices that are due and not yet made. Overlapping calls coalesce into one more look. */
  look(): Promise<void> {
    if (this.looking) {
      this.lookAgain = true;
      return this.looking;
    }
    this.looking = (async () => {
      try {
        do {
          this.lookAgain = false;
          await this.makeDue();
        } while (this.lookAgain && !this.stopped);
      } catch (error) {
        this.deps.log.error({ err: error }, 'notices: look failed; the next tick looks again');
      } finally {
        this.looking = undefined;
      }
    })();
    return this.looking;
  }

  private async makeDue(): Promise<void> {
    const { db, now } = this.deps;
    const at = now();
    const tickets = await consentedTickets(db, at - DAY);
    if (!tickets.length) return;
    const made = new Map<string, Set<string>>();
    for (const r of await db.all<{ ticket: string; kind: string }>(`SELECT ticket, kind FROM notices WHERE ticket IN (${tickets.map((_, i) => `$${i + 1}`).join(', ')})`, tickets.map((t) => t.ticket))) {
      (made.get(r.ticket) ?? made.set(r.ticket, new Set()).get(r.ticket)!).add(r.kind);
    }
    for (const t of tickets) {
      const have = made.get(t.ticket) ?? new Set<string>();
      const wanted = new Set(JSON.parse(t.kinds) as string[]);
      for (const kind of CITIZEN_KINDS) {
        if (have.has(kind) || !wanted.has(kind)) continue;
        const due = await this.dueNotice(t, kind, at);
        if (due) await this.insert(db, { ticket: t.ticket, kind, contact: t.contact, ...due }, at);
      }
    }
  }

  /** The text and fields of a ticket's notice of this kind, if it is due now. */
  private async dueNotice(t: ConsentedTicket, kind: NoticeKind, at: number): Promise<{ text: string; data: Notice['data'] } | null> {
    const history = historyOf(t);
    const item = t.item_name ?? t.item;
    const win = t.win_name ?? t.win;
    const base = { number: t.number, item: t.item, itemName: item };
    switch (kind) {
      case 'issued':
        // Consent given later (at the window, after the call) does not announce the ticket afresh.
        if (t.status !== 'waiting' && t.status !== 'transferred') return null;
        return { text: `您已取号 ${t.number}（${item}），请留意叫号。`, data: base };
      case 'ahead': {
        const n = this.deps.settings.aheadCount;
        if (n === 0 || (t.status !== 'waiting' && t.status !== 'transferred')) return null;
        const ahead = await aheadOf(this.deps.db, t);
        if (ahead > n) return null;
        return { text: `${t.number} 即将叫号：前面还有 ${ahead} 人，请回到大厅等候。`, data: { ...base, ahead } };
      }
      case 'called': {
        const e = history.find((h) => h.what === 'called');
        if (!e) return null;
        const name = e.win === t.win ? win : e.win;
        return { text: `请 ${t.number} 到 ${name} 办理（${item}）。`, data: { ...base, win: e.win, winName: name } };
      }
      case 'recalled': {
        const e = history.find((h) => h.what === 'recalled');
        if (!e) return null;
        const name = e.win === t.win ? win : e.win;
        return { text: `${t.number} 再次叫号：请尽快到 ${name} 办理。`, data: { ...base, win: e.win, winName: name } };
      }
      case 'transferred': {
        const e = history.find((h) => h.what === 'transferred');
        if (!e) return null;
        const to = e.toWin ? `${e.toWin} 窗口` : `事项 ${e.toItem ?? t.item}`;
        return { text: `${t.number} 已转至${to}，请留意叫号。`, data: { ...base, fromWin: e.win, toWin: e.toWin ?? null, toItem: e.toItem ?? null } };
      }
      case 'rating-invite': {
        // After the pad's request lapsed unrated: asked at the window first, by phone only if not.
        if (t.status !== 'done' || num(t.rated) > 0 || t.finished_at === null || num(t.finished_at) + this.deps.rateTimeout > at) return null;
        const link = this.deps.ratingLink(t.ticket);
        return { text: `${t.number}（${item}）已办结，请对本次服务作出评价：${link}`, data: { ...base, win: t.win, link } };
      }
      default:
        return null;
    }
  }

  /** The notice's row; a second insert of the same (ticket, kind) changes nothing. Quiet hours decide its start. */
  private async insert(db: Db, n: { ticket: string | null; kind: NoticeKind; contact: string; text: string; data: Notice['data']; id?: string }, at: number): Promise<boolean> {
    const id = n.id ?? `${this.deps.hall}:${n.ticket}:${n.kind}`;
    let status = 'pending';
    let nextAt = at;
    let error: string | null = null;
    const quietEnd = n.kind === 'alert' || !this.quiet ? null : quietUntil(this.quiet, at, this.deps.utcOffsetMinutes);
    if (quietEnd !== null) {
      if (TIME_CRITICAL.has(n.kind)) {
        status = 'skipped';
        error = 'quiet-hours';
      } else nextAt = quietEnd;
    }
    const expires = TIME_CRITICAL.has(n.kind) ? at + this.deps.settings.staleMs : null;
    const { changes } = await db.run(`INSERT INTO notices (id, ticket, kind, contact, text, data, status, attempts, next_at, expires_at, created_at, last_error)
      VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10, $11) ON CONFLICT DO NOTHING`,
    [id, n.ticket, n.kind, n.contact, n.text, JSON.stringify(n.data), status, nextAt, expires, at, error]);
    if (changes && status === 'skipped') this.counted.inc({ kind: n.kind, outcome: 'skipped' });
    if (changes && status === 'pending' && nextAt <= at) void this.deliver();
    return changes > 0;
  }

  /** An alert (hub/notices/alerts.ts) to notices.alertTo, if set; false when there is nowhere to send it. */
  async alert(id: string, text: string, data: Notice['data']): Promise<boolean> {
    if (!this.notifier || !this.deps.settings.alertTo) return false;
    return this.insert(this.deps.db, { id: `${this.deps.hall}:alert:${id}`, ticket: null, kind: 'alert', contact: this.deps.settings.alertTo, text, data }, this.deps.now());
  }

  // ---------------------------------------------------------------- delivering

  /** Sends what is due, one at a time; overlapping calls share one run. */
  deliver(): Promise<void> {
    if (!this.notifier || this.stopped) return Promise.resolve();
    this.delivering ??= (async () => {
      try {
        for (;;) {
          const due = await this.deps.db.all<NoticeRow>(`SELECT * FROM notices WHERE status = 'pending' AND next_at <= $1 ORDER BY next_at, created_at LIMIT ${BATCH}`, [this.deps.now()]);
          for (const row of due) {
            if (this.stopped) return;
            await this.deliverOne(row);
          }
          if (due.length < BATCH || this.stopped) return;
        }
      } catch (error) {
        this.deps.log.error({ err: error }, 'notices: delivery failed; the next tick tries again');
      } finally {
        this.delivering = undefined;
      }
    })();
    return this.delivering;
  }

  private async deliverOne(row: NoticeRow): Promise<void> {
    const { db, now } = this.deps;
    const at = now();
    const skip = row.expires_at !== null && at > num(row.expires_at) ? 'stale'
      : row.kind === 'rating-invite' && row.ticket && await ticketRated(db, row.ticket) ? 'rated' : null;
    if (skip) {
      await db.run(`UPDATE notices SET status = 'skipped', last_error = $2 WHERE id = $1 AND status = 'pending'`, [row.id, skip]);
      this.counted.inc({ kind: row.kind, outcome: 'skipped' });
      return;
    }
    const attempt = num(row.attempts) + 1;
    const notice: Notice = {
      id: row.id, kind: row.kind, hall: this.deps.hall, ticket: row.ticket, to: row.contact, text: row.text,
      data: JSON.parse(row.data) as Notice['data'], createdAt: num(row.created_at), attempt,
    };
    const result = await this.notifier!.send(notice);
    const s = this.deps.settings;
    let outcome: Outcome;
    if (result.ok) {
      outcome = 'sent';
      await db.run(`UPDATE notices SET status = 'sent', attempts = $2, sent_at = $3, last_error = NULL WHERE id = $1`, [row.id, attempt, now()]);
    } else if (!result.retry || attempt >= s.maxAttempts) {
      outcome = 'failed';
      await db.run(`UPDATE notices SET status = 'failed', attempts = $2, last_error = $3 WHERE id = $1 AND status = 'pending'`, [row.id, attempt, result.error]);
      this.deps.log.warn({ notice: row.id, kind: row.kind, attempts: attempt, error: result.error }, 'notice failed; given up');
    } else {
      outcome = 'retry';
      const wait = Math.min(s.retryMaxMs, s.retryBaseMs * 2 ** (attempt - 1));
      // Only while still pending: a consent withdrawn during this attempt keeps its notice dropped.
      await db.run(`UPDATE notices SET attempts = $2, next_at = $3, last_error = $4 WHERE id = $1 AND status = 'pending'`, [row.id, attempt, now() + wait, result.error]);
      this.deps.log.info({ notice: row.id, kind: row.kind, attempt, error: result.error, retryInMs: wait }, 'notice not delivered; retrying');
    }
    this.counted.inc({ kind: row.kind, outcome });
  }

  // ---------------------------------------------------------------- consent and the dashboard

  async consent(input: { ticket: string; contact: string; kinds?: string[] | null }, by: string): Promise<{ ticket: string; kinds: string[] }> {
    const contact = input.contact.trim();
    // A phone number (+86 …, digits, spaces, dashes) or a provider's id (WeChat openid): printable, no spaces inside.
    if (!/^\+?[0-9 -]{5,20}$/.test(contact) && !/^[A-Za-z0-9_-]{6,64}$/.test(contact)) throw new HttpError(400, 'contact: expected a phone number or a provider id (6–64 letters, digits, _ or -)', 'contact');
    const kinds = input.kinds ?? [...CITIZEN_KINDS];
    const unknown = kinds.find((k) => !(CITIZEN_KINDS as readonly string[]).includes(k));
    if (unknown !== undefined) throw new HttpError(400, `kinds: "${unknown}" is not a notice kind; expected some of ${CITIZEN_KINDS.join(', ')}`, 'kinds');
    if (!kinds.length) throw new HttpError(400, 'kinds: name at least one kind, or withdraw the consent', 'kinds');
    const ticket = await ticketById(this.deps.db, input.ticket);
    if (!ticket) throw new HttpError(404, `ticket: ${input.ticket} was not issued in this hall`, 'ticket');
    const at = this.deps.now();
    const digest = createHash('sha256').update(`${this.deps.hall}:${contact}`).digest('hex');
    await this.deps.db.tx(async (tx) => {
      await tx.run(`INSERT INTO notice_consents (ticket, contact, kinds, at, by_user, withdrawn_at) VALUES ($1, $2, $3, $4, $5, NULL)
        ON CONFLICT (ticket) DO UPDATE SET contact = excluded.contact, kinds = excluded.kinds, at = excluded.at, by_user = excluded.by_user, withdrawn_at = NULL`,
      [input.ticket, contact, JSON.stringify(kinds), at, by]);
      // The ledger keeps that and when consent was given, not the number itself.
      await this.deps.ledger.append(tx, [{ kind: 'notice', dev: null, boot: null, seq: null, at, body: { consent: 'given', ticket: input.ticket, kinds, contactSha256: digest, by } }]);
    });
    void this.look();
    return { ticket: input.ticket, kinds };
  }

  async withdraw(ticket: string, by: string): Promise<void> {
    const at = this.deps.now();
    await this.deps.db.tx(async (tx) => {
      const { changes } = await tx.run('UPDATE notice_consents SET withdrawn_at = $2 WHERE ticket = $1 AND withdrawn_at IS NULL', [ticket, at]);
      if (!changes) throw new HttpError(404, `ticket: ${ticket} has no consent to withdraw`, 'ticket');
      // What was not sent yet is not sent.
      await tx.run(`UPDATE notices SET status = 'skipped', last_error = 'withdrawn' WHERE ticket = $1 AND status = 'pending'`, [ticket]);
      await this.deps.ledger.append(tx, [{ kind: 'notice', dev: null, boot: null, seq: null, at, body: { consent: 'withdrawn', ticket, by } }]);
    });
  }

  async counts(failedSince = 0): Promise<Record<'pending' | 'sent' | 'failed' | 'skipped', number>> {
    const out = { pending: 0, sent: 0, failed: 0, skipped: 0 };
    for (const r of await this.deps.db.all<{ status: keyof typeof out; n: number }>(`SELECT status, COUNT(*) AS n FROM notices WHERE status <> 'failed' OR created_at >= $1 GROUP BY status`, [failedSince])) out[r.status] = num(r.n);
    return out;
  }

  async list(status: string | undefined, limit: number): Promise<ReturnType<typeof publicRow>[]> {
    const rows = status
      ? await this.deps.db.all<NoticeRow>(`SELECT * FROM notices WHERE status = $1 ORDER BY created_at DESC, id LIMIT ${limit}`, [status])
      : await this.deps.db.all<NoticeRow>(`SELECT * FROM notices ORDER BY created_at DESC, id LIMIT ${limit}`);
    return rows.map(publicRow);
  }

  routes(root: FastifyInstance): void {
    // In a scope of their own: the hub's one error shape and the strict JSON schemas (hub/http/validation.ts).
    root.register(async (app) => {
      app.setErrorHandler(httpErrorHandler);
      useJsonSchemas(app);
      const { auth } = this.deps;
      app.post<{ Body: { ticket: string; contact: string; kinds?: string[] | null } }>('/api/notices/consent', {
        onRequest: auth.requireRole('kiosk', 'supervisor'),
        schema: { body: objectSchema({ ticket: 'string', contact: 'string', kinds: { type: 'array', items: { type: 'string' }, maxItems: 10, nullable: true } }) },
      }, async (request) => {
        if (!this.notifier) throw new HttpError(409, 'notices are off in this hall (notices.adapter is none)', 'ticket');
        return this.consent(request.body, userOf(request).username);
      });
      app.delete<{ Params: { ticket: string } }>('/api/notices/consent/:ticket', { onRequest: auth.requireRole('kiosk', 'supervisor'), schema: { params: paramsSchema('ticket') } }, async (request) => {
        await this.withdraw(request.params.ticket, userOf(request).username);
        return { ok: true };
      });
      app.get<{ Querystring: { status?: string; limit?: string } }>('/api/notices', {
        onRequest: auth.requireRole('supervisor'), schema: { querystring: querySchema({ status: { type: 'string', enum: ['pending', 'sent', 'failed', 'skipped'] }, limit: { type: 'string', pattern: '^[0-9]{1,3}$' } }) },
      }, async (request) => ({ notices: await this.list(request.query.status, Math.min(500, Math.max(1, Number(request.query.limit ?? 100)))) }));
      app.get('/api/notices/summary', { onRequest: auth.requireRole('supervisor') }, async () => ({
        adapter: this.adapter, counts: await this.counts(this.deps.now() - DAY), failures: await this.list('failed', 10),
      }));
      app.post<{ Params: { id: string } }>('/api/notices/:id/retry', { onRequest: auth.requireRole('supervisor'), schema: { params: paramsSchema('id') } }, async (request) => {
        const { changes } = await this.deps.db.run(`UPDATE notices SET status = 'pending', attempts = 0, next_at = $2, expires_at = NULL WHERE id = $1 AND status = 'failed'`, [request.params.id, this.deps.now()]);
        if (!changes) throw new HttpError(404, `id: no failed notice ${request.params.id}`, 'id');
        void this.deliver();
        return { ok: true };
      });
    });
  }
}
