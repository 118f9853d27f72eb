/**
 * The 三诺 application on the hub: sign-in and roles, rating figures, the bad-rating workflow,
 * the commitment register, the phone / suggestion / exposure / panel channels, and reports.
 * Everything is read from the queue's tables and the ledger, so every figure is measured.
 *
 * Wiring (hub/hub.ts): after the queue's migrations, `migrate(db, AppService.migrations)`;
 * construct with {db, ledger, hall, now, log, bus, options}; `await app.start()` (first supervisor,
 * case catch-up from the ledger watermark, then cases open on the bus's ratingCommitted);
 * mount `app.routes(fastify)`; `await app.stop()` before the database closes. Cases are opened
 * from the ledger, so a ratingCommitted lost to a crash is caught up at the next start.
 *
 * Routes (role in brackets; 401 without a session, 403 for another role, nothing changed):
 *   /api/auth/...                                 see auth.ts
 *   GET  /api/app/figures?period=&by=             [supervisor, head (own department)] 满意率, 差评率, 主动评价率
 *   GET  /api/app/my/ratings?period=              [staff] own ratings: day, level, reason, item; never the citizen
 *   GET  /api/app/cases?status=&overdue=&period=  [supervisor, head (own department), staff (own: the day, not the time; no notes, ticket or citizen)]
 *   GET  /api/app/cases/overdue                   [supervisor, head] overdue alerts with counts per step
 *   GET  /api/app/cases/figures?period=           [supervisor, head] 回访率, 整改率
 *   GET  /api/app/cases/:id                       [supervisor, head, staff (own, as in the list)] with every step
 *   POST /api/app/cases/:id/callback|rectify|feedback|review  { note, reached?, reopen? } [supervisor, head (not review)]
 *   POST /api/app/cases/:id/assign                { assignee, note? } [supervisor]
 *   POST /api/app/cases/:id/appeal                { reason } [staff: the rated one]
 *   POST /api/app/cases/:id/appeal/decision       { uphold, note } [supervisor]
 *   GET  /api/app/commitments?year=&department=   [supervisor, head] current versions with measured value and trend
 *   POST /api/app/commitments                     [supervisor, head (own department)] → version 1
 *   PUT  /api/app/commitments/:id                 [supervisor, head (own)] a revision: version n+1
 *   GET  /api/app/commitments/:id/history         [supervisor, head]
 *   POST /api/app/commitments/:id/publish         [supervisor]
 *   GET  /api/app/commitments/export.csv|.json    [supervisor, head]
 *   POST /api/app/commitments/import              text/csv [supervisor] all rows or none; errors name line and column
 *   POST /api/app/online-cases                    { cases: [{ id, item, submittedAt, finishedAt, fullyOnline }] } [supervisor, technician]
 *   GET  /api/app/rating-link/:ticket             [supervisor, technician] the QR link of a ticket (staff: 403, logged)
 *   GET  /api/app/suggestions, POST /api/app/suggestions/:id/reply    [supervisor]
 *   POST /api/app/exposures, POST /api/app/exposures/:id/withdraw      [supervisor]
 *   POST /api/app/panel/scores, GET /api/app/panel/profile?period=     [supervisor; profile also head]
 *   GET  /api/app/reports/:period.json|.csv|.pdf  [supervisor, head]   period: 2025-03, 2025-Q1, 2025
 * Public, no sign-in, read-only or anonymous:
 *   GET  /public                  HTML: published commitments and the exposure board
 *   GET  /api/public/commitments?year=, GET /api/public/exposures, POST /api/public/suggestions
 *   GET  /r/:token  POST /r/:token                 the phone rating page (form or JSON)
 */

import { createHmac } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { Gauge, type Registry as PromRegistry } from 'prom-client';
import { BAD_RATING_MAX, BAD_RATING_REASONS, BAD_RATING_REASON_LABELS, RATING_LABELS, type BadRatingReason, type RatingLevel } from '../../firmware/core/protocol.js';
import type { Db, Migration } from '../db/db.js';
import type { Ledger } from '../ledger/ledger.js';
import { Auth, userOf, type AuthOptions, type User, type UserRole } from './auth.js';
import { WorkingCalendar, type CalendarSpec } from './calendar.js';
import { Cases, DEFAULT_CASE_POLICY, type CasePolicy, type CaseStatus } from './cases.js';
import { Channels } from './channels.js';
import type { Ratings } from '../ratings/ratings.js';
import { ticketById } from '../queue/lookup.js';
import { checkCommitment, Commitments, type Commitment } from './commitments.js';
import { figuresOf, groupedCounts, parsePeriod, rollUp, type Dimension } from '../ratings/figures.js';
import { AppError, num, parseBody } from './http-util.js';
import { appMigrations } from './schema.js';
import { buildReport, reportCsv, reportPdf } from './report.js';
import { ensureRollup } from '../ratings/rollup.js';
import type { Bus } from '../bus.js';
import type { Settings } from '../settings.js';
import { httpErrorHandler, rejectRepeatedQuery } from '../http/errors.js';

export interface AppOptions {
  /** The hall's name on reports and public pages. */
  hallName: string;
  utcOffsetMinutes: number;
  calendar: Omit<CalendarSpec, 'utcOffsetMinutes'>;
  cases: Partial<CasePolicy>;
  /** 32 bytes for rating-link tokens; derive from the hub key (HMAC(hubKey, "sannuo-rating-token")). */
  tokenKey: Uint8Array;
  phoneRatingDays: number;
  /** Base of the links in QR codes, e.g. http://hall.example:8080 (empty: relative /r/...). */
  publicBaseUrl: string;
  auth: AuthOptions;
  /** Where to register the overdue-case gauge (the hub's prom-client registry). */
  metricsRegistry?: PromRegistry;
}

export const DEFAULT_APP_OPTIONS: Omit<AppOptions, 'tokenKey'> = {
  hallName: '政务服务大厅',
  utcOffsetMinutes: 480,
  calendar: { holidays: [], makeupWorkdays: [] },
  cases: {},
  phoneRatingDays: 7,
  publicBaseUrl: '',
  auth: {},
};

/** The application's options from the hub's settings (hub/settings.schema.json): hall name, public URL, calendar file, first supervisor, case deadlines. */
export async function appOptionsFromSettings(settings: Pick<Settings, 'hallName' | 'publicUrl' | 'calendarFile' | 'admin' | 'cases'> & { http?: Pick<Settings['http'], 'secureCookies'> }, base: { tokenKey: Uint8Array; adminPasswordFile: string }): Promise<Partial<AppOptions> & { tokenKey: Uint8Array }> {
  const out: Partial<AppOptions> & { tokenKey: Uint8Array } = {
    tokenKey: base.tokenKey, hallName: settings.hallName, publicBaseUrl: settings.publicUrl.replace(/\/$/, ''), cases: { ...settings.cases },
    auth: { adminPasswordFile: base.adminPasswordFile, admin: { username: settings.admin.user, password: settings.admin.password || undefined }, secureCookies: settings.http?.secureCookies, publicUrl: settings.publicUrl },
  };
  if (settings.calendarFile) {
    const { readFileSync } = await import('node:fs');
    let spec: { holidays?: unknown; makeupWorkdays?: unknown };
    try {
      spec = JSON.parse(readFileSync(settings.calendarFile, 'utf8')) as typeof spec;
    } catch (error) {
      throw new Error(`calendarFile ${settings.calendarFile}: ${(error as Error).message}`);
    }
    const days = (key: 'holidays' | 'makeupWorkdays'): string[] => {
      const list = spec[key] ?? [];
      if (!Array.isArray(list) || list.some((d) => typeof d !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(d))) throw new Error(`calendarFile ${settings.calendarFile}: ${key} must be a list of YYYY-MM-DD dates`);
      return list as string[];
    };
    out.calendar = { holidays: days('holidays'), makeupWorkdays: days('makeupWorkdays') };
  }
  return out;
}

export function escapeHtml(s: unknown): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** The one route that takes an HTML form: the phone rating page (a plain form, so it works without JavaScript). */
const PHONE_FORM_ROUTE = '/r/:token';

const pct = (v: number | null) => (v === null ? '—' : `${(v * 100).toFixed(1)}%`);

export class AppService {
  static migrations: Migration[] = appMigrations;
  readonly options: AppOptions;
  readonly auth: Auth;
  readonly cases: Cases;
  readonly commitments: Commitments;
  readonly channels: Channels;
  readonly calendar: WorkingCalendar;
  private readonly db: Db;
  /** Binding and recording of ratings, every channel (hub/ratings/). */
  readonly ratings: Ratings;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly bus: Bus | undefined;
  private syncing: Promise<void> | undefined;
  private syncAgain = false;

  constructor(deps: { db: Db; ledger: Ledger; hall: string; now: () => number; log: Logger; bus?: Bus; ratings: Ratings; options: Partial<AppOptions> & { tokenKey: Uint8Array } }) {
    this.bus = deps.bus;
    this.options = { ...DEFAULT_APP_OPTIONS, ...deps.options, cases: { ...deps.options.cases } } as AppOptions;
    this.db = deps.db;
    this.ratings = deps.ratings;
    this.now = deps.now;
    this.log = deps.log;
    if (!(this.options.tokenKey instanceof Uint8Array) || this.options.tokenKey.length < 16) throw new TypeError('AppService: tokenKey must be at least 16 bytes');
    const policy = { ...DEFAULT_CASE_POLICY, ...this.options.cases };
    for (const [k, v] of Object.entries(policy)) if (!Number.isInteger(v) || v < 1 || v > 250) throw new TypeError(`AppService: cases.${k} must be an integer of working days 1–250, got ${v}`);
    this.calendar = new WorkingCalendar({ utcOffsetMinutes: this.options.utcOffsetMinutes, ...this.options.calendar });
    const base = { db: deps.db, ledger: deps.ledger, hall: deps.hall, now: deps.now };
    this.auth = new Auth({ ...base, log: deps.log, options: { publicUrl: this.options.publicBaseUrl, ...this.options.auth } });
    this.cases = new Cases({ ...base, calendar: this.calendar, policy, aliasKey: new Uint8Array(createHmac('sha256', this.options.tokenKey).update('sannuo staff case alias').digest()) });
    this.commitments = new Commitments({ ...base, calendar: this.calendar, utcOffsetMinutes: this.options.utcOffsetMinutes });
    this.channels = new Channels({ ...base, cases: this.cases, ratings: deps.ratings, options: { tokenKey: this.options.tokenKey, phoneRatingDays: this.options.phoneRatingDays } });
    if (this.options.metricsRegistry) {
      const cases = this.cases;
      new Gauge({
        name: 'sannuo_cases_overdue', help: 'Open bad-rating cases past their step deadline, by step', labelNames: ['step'], registers: [this.options.metricsRegistry],
        async collect() {
          for (const [step, n] of Object.entries(await cases.overdueCounts())) this.set({ step }, n);
        },
      });
    }
  }

  /** First supervisor, cases for every bad rating already in the ledger, then cases on ratingCommitted. */
  async start(): Promise<void> {
    await this.auth.bootstrap();
    // The report rollup, built from the raw rows once (or again if the hall's UTC offset changed).
    await ensureRollup(this.db, this.options.utcOffsetMinutes, this.log);
    const opened = await this.cases.sync();
    if (opened) this.log.info({ opened }, 'bad-rating cases opened from the ledger at start');
    this.bus?.on('ratingCommitted', 'cases', () => this.onRatingsCommitted());
  }

  async stop(): Promise<void> {
    this.bus?.off('cases');
    await this.syncing;
  }

  /** Ratings were committed (any channel): open their cases soon. Coalesced; never throws. */
  onRatingsCommitted(): void {
    if (this.syncing) { this.syncAgain = true; return; }
    this.syncing = (async () => {
      do {
        this.syncAgain = false;
        try {
          const opened = await this.cases.sync();
          if (opened) this.bus?.emit('caseOpened', { opened });
        } catch (error) {
          this.log.error({ err: error }, 'case sync failed; it is retried on the next commit or tick');
        }
      } while (this.syncAgain);
      this.syncing = undefined;
    })();
  }

  /** The phone-rating link of a ticket, for its QR code. */
  ratingLink(ticketId: string): string {
    return `${this.options.publicBaseUrl}/r/${this.channels.tokenFor(ticketId)}`;
  }

  // ------------------------------------------------------------ routes

  routes(app: FastifyInstance): void {
    app.register(async (scope) => {
      scope.setErrorHandler(httpErrorHandler);
      scope.addHook('preValidation', rejectRepeatedQuery);
      // Scoped parsers: CSV for the register import, HTML forms for the phone page only. A form is
      // what a foreign page can post without a CORS preflight, so no other route parses one (415).
      scope.addContentTypeParser('text/csv', { parseAs: 'string', bodyLimit: 2 * 1024 * 1024 }, (_req, body, done) => done(null, body));
      scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))));
      scope.addHook('onRequest', async (request, reply) => {
        if (request.routeOptions.url === PHONE_FORM_ROUTE || !/^application\/x-www-form-urlencoded/i.test(request.headers['content-type'] ?? '')) return;
        return reply.code(415).send({ error: 'bad-request', message: `content-type: ${request.method} ${request.url.split('?')[0]} takes JSON; HTML forms are taken only by the phone rating page`, field: 'headers.content-type' });
      });
      this.auth.routes(scope);
      this.ratingRoutes(scope);
      this.ratings.routes(scope, this.auth);
      this.caseRoutes(scope);
      this.commitmentRoutes(scope);
      this.channelRoutes(scope);
      this.reportRoutes(scope);
      this.publicRoutes(scope);
    });
  }

  private guard(...roles: UserRole[]) {
    return { preHandler: this.auth.requireRole(...roles) };
  }

  private period(query: unknown, fallback?: string): ReturnType<typeof parsePeriod> {
    const q = (query ?? {}) as Record<string, string>;
    return parsePeriod(q.period ?? fallback ?? new Date(this.now() + this.options.utcOffsetMinutes * 60_000).toISOString().slice(0, 7), this.options.utcOffsetMinutes);
  }

  private ratingRoutes(app: FastifyInstance): void {
    app.get('/api/app/figures', this.guard('supervisor', 'head'), async (request, reply) => {
      const user = userOf(request);
      const q = request.query as Record<string, string>;
      const by = (q.by ?? 'department') as Dimension;
      if (['department', 'win', 'staff', 'item'].indexOf(by) < 0) throw new AppError(400, 'by: must be department, win, staff or item', 'by');
      const p = this.period(q);
      let groups = await groupedCounts(this.db, p.from, p.to, { utcOffsetMinutes: this.options.utcOffsetMinutes });
      // A head sees their own department only.
      if (user.role === 'head') groups = groups.filter((g) => g.department === user.department);
      const rows = [...rollUp(groups, by).entries()].map(([id, c]) => ({ id, ...figuresOf(c) })).sort((a, b) => a.id.localeCompare(b.id));
      return { period: p, by, rows };
    });

    app.get('/api/app/my/ratings', this.guard('staff'), async (request, reply) => {
      const user = userOf(request);
      const p = this.period(request.query);
      // Only what the staff member needs to improve: the day, not the minute, and nothing of the citizen or the ticket.
      const ratings = await this.ratings.ofStaff(user.staff ?? '\u0000', p.from, p.to);
      const counts = { ratings: ratings.length, good: ratings.filter((r) => r.level >= 4).length, bad: ratings.filter((r) => r.level <= BAD_RATING_MAX).length };
      return { period: p, staff: user.staff, ...counts, satisfaction: counts.ratings ? counts.good / counts.ratings : null, badRate: counts.ratings ? counts.bad / counts.ratings : null, ratings };
    });
  }

  /** Which cases a user may see: all (supervisor), their department's (head), their own (staff). */
  private caseScope(user: User): { staff?: string; department?: string } {
    if (user.role === 'head') return { department: user.department ?? '\u0000' };
    if (user.role === 'staff') return { staff: user.staff ?? '\u0000' };
    return {};
  }

  private caseRoutes(app: FastifyInstance): void {
    app.get('/api/app/cases', this.guard('supervisor', 'head', 'staff'), async (request, reply) => {
      const q = request.query as Record<string, string>;
      const p = q.period ? this.period(q) : undefined;
      const user = userOf(request);
      const list = await this.cases.list({ ...this.caseScope(user), status: q.status, overdue: q.overdue === '1' || q.overdue === 'true', from: p?.from, to: p?.to });
      if (user.role !== 'staff') return { cases: list };
      // By day, then level and alias: the order within a day would tell which citizen it was.
      const mine = list.map((c) => this.cases.forStaff(c, user));
      return { cases: mine.sort((a, b) => b.ratedDay.localeCompare(a.ratedDay) || a.level - b.level || a.id.localeCompare(b.id)) };
    });
    app.get('/api/app/cases/overdue', this.guard('supervisor', 'head'), async (request) => {
      const list = await this.cases.list({ ...this.caseScope(userOf(request)), overdue: true });
      const counts: Record<string, number> = { callback: 0, rectify: 0, feedback: 0, review: 0 };
      for (const c of list) counts[c.status]++;
      return { counts, cases: list };
    });
    app.get('/api/app/cases/figures', this.guard('supervisor', 'head'), async (request, reply) => {
      const user = userOf(request);
      const p = this.period(request.query);
      return { period: p, ...(await this.cases.figures(p.from, p.to, user.role === 'head' ? user.department ?? '\u0000' : undefined)) };
    });
    const visible = async (request: FastifyRequest, id: string) => {
      const user = userOf(request);
      if (user.role === 'staff') {
        // A staff member names a case by its alias (or its id); another's case does not exist for them.
        const own = user.staff ? await this.cases.staffCase(id, user.staff) : undefined;
        if (!own) throw new AppError(404, `case ${id} does not exist`, 'id');
        return own;
      }
      const c = await this.cases.get(id);
      const scope = this.caseScope(user);
      if ((scope.staff && c.staff !== scope.staff) || (scope.department && c.department !== scope.department)) throw new AppError(404, `case ${id} does not exist`, 'id');
      return c;
    };
    app.get<{ Params: { id: string } }>('/api/app/cases/:id', this.guard('supervisor', 'head', 'staff'), async (request, reply) => {
      const c = await visible(request, request.params.id);
      const user = userOf(request);
      return { case: user.role === 'staff' ? this.cases.forStaff(c, user) : c };
    });
    for (const step of ['callback', 'rectify', 'feedback', 'review'] as CaseStatus[]) {
      app.post<{ Params: { id: string } }>(`/api/app/cases/:id/${step}`, this.guard('supervisor', 'head'), async (request, reply) => {
        const b = parseBody(request.body, { note: 'string', reached: 'boolean?', reopen: 'boolean?' });
        await visible(request, request.params.id);
        return { case: await this.cases.advance(request.params.id, step, userOf(request), { note: b.note as string, reached: b.reached as boolean | undefined, reopen: b.reopen as boolean | undefined }) };
      });
    }
    app.post<{ Params: { id: string } }>('/api/app/cases/:id/assign', this.guard('supervisor'), async (request, reply) => {
      const b = parseBody(request.body, { assignee: 'string', note: 'string?' });
      return { case: await this.cases.assign(request.params.id, userOf(request), b.assignee as string, (b.note as string | undefined) ?? null) };
    });
    app.post<{ Params: { id: string } }>('/api/app/cases/:id/appeal', this.guard('staff'), async (request, reply) => {
      const b = parseBody(request.body, { reason: 'string' });
      const c = await visible(request, request.params.id);
      return { case: this.cases.forStaff(await this.cases.appeal(c.id, userOf(request), b.reason as string), userOf(request)) };
    });
    app.post<{ Params: { id: string } }>('/api/app/cases/:id/appeal/decision', this.guard('supervisor'), async (request, reply) => {
      const b = parseBody(request.body, { uphold: 'boolean', note: 'string' });
      return { case: await this.cases.decideAppeal(request.params.id, userOf(request), b.uphold as boolean, b.note as string) };
    });
  }

  private async withMeasure(list: Commitment[]) {
    const out = [];
    for (const c of list) out.push({ ...c, measured: await this.commitments.measure(c) });
    return out;
  }

  private commitmentRoutes(app: FastifyInstance): void {
    const mayEdit = (user: User, department: string) => {
      if (user.role === 'head' && user.department !== department) throw new AppError(403, `a head of ${user.department} may not edit ${department}'s commitments`, 'department');
    };
    const listFilter = (request: FastifyRequest) => {
      const q = request.query as Record<string, string>;
      const user = userOf(request);
      if (q.year !== undefined && !/^\d{4}$/.test(q.year)) throw new AppError(400, 'year: expected YYYY', 'year');
      return { year: q.year ? Number(q.year) : undefined, department: user.role === 'head' ? user.department ?? '\u0000' : q.department };
    };
    app.get('/api/app/commitments', this.guard('supervisor', 'head'), async (request, reply) => {
      return { commitments: await this.withMeasure(await this.commitments.list(listFilter(request))) };
    });
    app.get('/api/app/commitments/export.csv', this.guard('supervisor', 'head'), async (request, reply) => {
      const csv = this.commitments.toCsv(await this.commitments.list(listFilter(request)));
      return reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="commitments.csv"').send(csv);
    });
    app.get('/api/app/commitments/export.json', this.guard('supervisor', 'head'), async (request, reply) => {
      return reply.header('content-disposition', 'attachment; filename="commitments.json"').send({ commitments: await this.withMeasure(await this.commitments.list(listFilter(request))) });
    });
    app.post('/api/app/commitments/import', this.guard('supervisor'), async (request, reply) => {
      if (typeof request.body !== 'string') throw new AppError(400, 'body: send the CSV as text/csv', 'body');
      const imported = await this.commitments.importCsv(request.body, userOf(request).username);
      return reply.code(201).send({ imported: imported.length, commitments: imported });
    });
    app.post('/api/app/commitments', this.guard('supervisor', 'head'), async (request, reply) => {
      const input = checkCommitment(parseBody(request.body, { department: 'string', year: 'integer', clause: 'string', title: 'string', metric: 'string', item: 'string?', target: 'number?', measures: 'string', owner: 'string', deadline: 'string', note: 'string?' }));
      mayEdit(userOf(request), input.department);
      return reply.code(201).send({ commitment: await this.commitments.create(input, userOf(request).username) });
    });
    app.put<{ Params: { id: string } }>('/api/app/commitments/:id', this.guard('supervisor', 'head'), async (request, reply) => {
      const input = checkCommitment(parseBody(request.body, { department: 'string', year: 'integer', clause: 'string', title: 'string', metric: 'string', item: 'string?', target: 'number?', measures: 'string', owner: 'string', deadline: 'string', note: 'string' }));
      mayEdit(userOf(request), input.department);
      const current = await this.commitments.get(request.params.id);
      if (current) mayEdit(userOf(request), current.department);
      return { commitment: await this.commitments.revise(request.params.id, input, userOf(request).username) };
    });
    app.get<{ Params: { id: string } }>('/api/app/commitments/:id/history', this.guard('supervisor', 'head'), async (request, reply) => {
      const versions = await this.commitments.history(request.params.id);
      const user = userOf(request);
      if (user.role === 'head' && versions[0].department !== user.department) throw new AppError(404, `commitment ${request.params.id} does not exist`, 'id');
      return { versions };
    });
    app.post<{ Params: { id: string } }>('/api/app/commitments/:id/publish', this.guard('supervisor'), async (request, reply) => {
      return { commitment: await this.commitments.publish(request.params.id, userOf(request).username) };
    });
    app.post('/api/app/online-cases', this.guard('supervisor', 'technician'), async (request, reply) => {
      const b = parseBody(request.body, { cases: 'array' });
      return reply.code(201).send({ imported: await this.commitments.importOnline(b.cases as unknown[], userOf(request).username) });
    });
  }

  private channelRoutes(app: FastifyInstance): void {
    // The link goes where the citizen is (the printed ticket, the window's done screen), never to
    // staff: with it they could rate their own service or sink a colleague's.
    app.get<{ Params: { ticket: string } }>('/api/app/rating-link/:ticket', this.guard('supervisor', 'technician', 'staff'), async (request, reply) => {
      const user = userOf(request);
      if (user.role === 'staff') {
        this.log.warn({ user: user.username, staff: user.staff, ticket: request.params.ticket }, 'staff asked for a rating link; refused');
        throw new AppError(403, 'ticket: window staff may not have a rating link; it is printed on the ticket or shown on the window when the service ends', 'ticket');
      }
      if (!(await ticketById(this.db, request.params.ticket))) throw new AppError(404, `ticket ${request.params.ticket} does not exist`, 'ticket');
      return { ticket: request.params.ticket, url: this.ratingLink(request.params.ticket) };
    });
    app.get('/api/app/suggestions', this.guard('supervisor'), async (request) => ({ suggestions: await this.channels.suggestions({ status: (request.query as Record<string, string>).status }) }));
    app.post<{ Params: { id: string } }>('/api/app/suggestions/:id/reply', this.guard('supervisor'), async (request, reply) => {
      const b = parseBody(request.body, { reply: 'string', status: 'string' });
      if (['answered', 'verified', 'rejected'].indexOf(b.status as string) < 0) throw new AppError(400, 'status: must be answered, verified or rejected', 'status');
      await this.channels.reply(request.params.id, userOf(request).username, b.reply as string, b.status as 'answered');
      return { ok: true };
    });
    app.post('/api/app/exposures', this.guard('supervisor'), async (request, reply) => {
      const b = parseBody(request.body, { title: 'string', body: 'string', department: 'string?', win: 'string?', source: 'string?', rectification: 'string?' });
      const n = (k: string) => (b[k] as string | undefined) ?? null;
      return reply.code(201).send(await this.channels.expose({ title: b.title as string, body: b.body as string, department: n('department'), win: n('win'), source: n('source'), rectification: n('rectification') }, userOf(request).username));
    });
    app.post<{ Params: { id: string } }>('/api/app/exposures/:id/withdraw', this.guard('supervisor'), async (request, reply) => {
      const b = parseBody(request.body, { note: 'string' });
      await this.channels.withdrawExposure(request.params.id, userOf(request).username, b.note as string);
      return { ok: true };
    });
    app.post('/api/app/panel/scores', this.guard('supervisor'), async (request, reply) => {
      const b = parseBody(request.body, { member: 'string', department: 'string', period: 'string', scores: 'object' });
      await this.channels.score({ member: b.member as string, department: b.department as string, period: b.period as string, scores: b.scores as Record<string, unknown> }, userOf(request).username);
      return reply.code(201).send({ ok: true });
    });
    app.get('/api/app/panel/profile', this.guard('supervisor', 'head'), async (request, reply) => {
      const period = (request.query as Record<string, string>).period;
      if (!period) throw new AppError(400, 'period: is required (YYYY, YYYY-Qn or YYYY-MM)', 'period');
      return { period, departments: await this.channels.panelProfile(period) };
    });
  }

  private reportRoutes(app: FastifyInstance): void {
    app.get<{ Params: { file: string } }>('/api/app/reports/:file', this.guard('supervisor', 'head'), async (request, reply) => {
      const m = /^(.+)\.(json|csv|pdf)$/.exec(request.params.file);
      if (!m) throw new AppError(400, 'file: expected <period>.json, .csv or .pdf, e.g. 2025-03.pdf', 'file');
      const period = parsePeriod(m[1], this.options.utcOffsetMinutes, 'file');
      const report = await buildReport(this.db, this.cases, period, { utcOffsetMinutes: this.options.utcOffsetMinutes, now: this.now() });
      if (m[2] === 'json') return report;
      const name = `sannuo-${period.label}`;
      if (m[2] === 'csv') return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}.csv"`).send(reportCsv(report));
      const pdf = await reportPdf(report, this.options.hallName);
      return reply.type('application/pdf').header('content-disposition', `inline; filename="${name}.pdf"`).send(pdf);
    });
  }

  // ------------------------------------------------------------ public and phone pages

  private page(title: string, body: string): string {
    return `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:0 auto;max-width:42rem;padding:1rem;line-height:1.5}
h1{font-size:1.3rem}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left;font-size:.9rem}
.levels button{display:block;width:100%;margin:.4rem 0;padding:.9rem;font-size:1.1rem;border-radius:.5rem;border:1px solid #888;background:#fff}
.levels button.bad{border-color:#c33}.note{color:#555}.err{color:#b00}</style></head><body>${body}</body></html>`;
  }

  private async sessionUser(request: FastifyRequest): Promise<User | undefined> {
    return this.auth.session(this.auth.tokenOf(request));
  }

  private publicRoutes(app: FastifyInstance): void {
    const publicCommitments = async (year: number | undefined) => (await this.withMeasure(await this.commitments.list({ year, published: true }))).map((c) => ({
      id: c.id, version: c.publishedVersion, department: c.department, year: c.year, clause: c.clause, title: c.title, metric: c.metric, item: c.item,
      target: c.target, measures: c.measures, owner: c.owner, deadline: c.deadline, publishedAt: c.publishedAt, measured: c.measured,
    }));
    app.get('/api/public/commitments', async (request, reply) => {
      const y = (request.query as Record<string, string>).year;
      if (y !== undefined && !/^\d{4}$/.test(y)) throw new AppError(400, 'year: expected YYYY', 'year');
      return { commitments: await publicCommitments(y ? Number(y) : undefined) };
    });
    app.get('/api/public/exposures', async () => ({ exposures: await this.channels.exposures() }));
    app.post('/api/public/suggestions', async (request, reply) => {
      const b = parseBody(request.body, { category: 'string', text: 'string', department: 'string?', win: 'string?' });
      return reply.code(201).send(await this.channels.suggest({ category: b.category as string, text: b.text as string, department: (b.department as string | undefined) || null, win: (b.win as string | undefined) || null }));
    });
    app.get('/public', async (_request, reply) => {
      const year = Number(new Date(this.now() + this.options.utcOffsetMinutes * 60_000).toISOString().slice(0, 4));
      const list = await publicCommitments(year);
      const exposures = await this.channels.exposures();
      const rows = list.map((c) => `<tr><td>${escapeHtml(c.department)} ${escapeHtml(c.clause)}</td><td>${escapeHtml(c.title)}<div class="note">${escapeHtml(c.measures)}</div></td>
        <td>${c.target ?? '—'}</td><td>${c.measured.value === null ? '—' : escapeHtml(c.metric === 'visits' ? c.measured.value.toFixed(2) : pct(c.measured.value))}</td></tr>`).join('');
      const ex = exposures.map((e) => `<li><b>${escapeHtml(e.title)}</b> <span class="note">${new Date(e.at as number).toISOString().slice(0, 10)}</span><br>${escapeHtml(e.body)}${e.rectification ? `<br><span class="note">整改：${escapeHtml(e.rectification)}</span>` : ''}</li>`).join('');
      return reply.type('text/html; charset=utf-8').send(this.page(`${this.options.hallName} 承诺公示`, `<h1>${escapeHtml(this.options.hallName)} ${year}年服务承诺</h1>
<table><tr><th>条款</th><th>承诺</th><th>目标</th><th>实测</th></tr>${rows || '<tr><td colspan="4">暂无公示承诺</td></tr>'}</table>
<h1>曝光台</h1><ul>${ex || '<li>暂无</li>'}</ul>`));
    });

    const ratingPage = async (token: string, message: string | null, error: string | null) => {
      const info = await this.channels.lookup(token);
      if (!info.open) return this.page('评价', `<h1>服务评价</h1><p>${escapeHtml(message ?? '')}</p><p class="${message ? 'note' : 'err'}">${escapeHtml(message ? '' : info.why)}</p>`);
      const levels = ([5, 4, 3, 2, 1] as RatingLevel[]).map((l) => `<button name="level" value="${l}" class="${l <= BAD_RATING_MAX ? 'bad' : ''}">${escapeHtml(RATING_LABELS[l])}</button>`).join('');
      const reasons = BAD_RATING_REASONS.map((r) => `<option value="${r}">${escapeHtml(BAD_RATING_REASON_LABELS[r as BadRatingReason])}</option>`).join('');
      return this.page('评价', `<h1>请为本次服务评价</h1><p>${escapeHtml(info.item)} · ${escapeHtml(info.number)} · ${escapeHtml(info.win ?? '')}</p>
${error ? `<p class="err">${escapeHtml(error)}</p>` : ''}<form method="post" class="levels">
<p class="note">选“不满意”或“非常不满意”时请选择原因：</p><select name="reason"><option value="">（原因）</option>${reasons}</select>${levels}</form>`);
    };
    app.get<{ Params: { token: string } }>('/r/:token', async (request, reply) => {
      try {
        return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(await ratingPage(request.params.token, null, null));
      } catch (error) {
        if (error instanceof AppError) return reply.code(error.status).type('text/html; charset=utf-8').send(this.page('评价', `<h1>服务评价</h1><p class="err">${escapeHtml(error.message.replace(/^token: /, ''))}</p>`));
        throw error;
      }
    });
    app.post<{ Params: { token: string } }>('/r/:token', async (request, reply) => {
      const html = (request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
      try {
        const b = (request.body ?? {}) as Record<string, unknown>;
        const level = typeof b.level === 'string' ? Number(b.level) : b.level;
        const reason = typeof b.reason === 'string' && b.reason !== '' ? b.reason : null;
        const rater = await this.sessionUser(request);
        const result = await this.channels.ratePhone(request.params.token, level as number, reason, rater);
        if (this.bus) this.bus.emit('ratingCommitted', { rating: result.rating, channel: 'phone', level: level as number, win: null });
        else this.onRatingsCommitted();
        if (html) return reply.type('text/html; charset=utf-8').send(this.page('评价', '<h1>谢谢您的评价</h1><p class="note">您的评价已记录。</p>'));
        return reply.code(201).send({ ok: true, rating: result.rating });
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        if (html) {
          let page: string;
          try {
            page = await ratingPage(request.params.token, null, error.message.replace(/^[a-z]+: /, ''));
          } catch {
            page = this.page('评价', `<h1>服务评价</h1><p class="err">${escapeHtml(error.message.replace(/^token: /, ''))}</p>`);
          }
          return reply.code(error.status).type('text/html; charset=utf-8').send(page);
        }
        throw error;
      }
    });
  }
}
