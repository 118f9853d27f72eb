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
 * Routes: each feature registers its own, beside it (role in brackets there; 401 without a
 * session, 403 for another role, nothing changed). Bodies, path and query parameters are checked
 * with JSON schemas (hub/http/validation.ts), which /api/openapi.json describes.
 *   /api/auth/...                                   auth-routes.ts
 *   /api/app/figures, /api/app/my/ratings, /api/app/reports/:file          reports-routes.ts
 *   /api/app/cases...                               cases-routes.ts
 *   /api/app/commitments..., /api/app/online-cases  commitments-routes.ts
 *   /api/app/rating-link, suggestions, exposures, panel                   channels-routes.ts
 *   /public, /api/public/..., /r/:token (the phone rating page)           public-routes.ts
 *   /api/app/ratings/unbound...                     hub/ratings/ratings.ts
 */

import { createHmac } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Gauge } from 'prom-client';
import type { Db, Migration } from '../db/db.js';
import type { Ledger } from '../ledger/ledger.js';
import { Auth } from './auth.js';
import { WorkingCalendar } from './calendar.js';
import { Cases, DEFAULT_CASE_POLICY } from './cases.js';
import { Channels } from './channels.js';
import type { Ratings } from '../ratings/ratings.js';
import { Commitments } from './commitments.js';
import { appMigrations } from './schema.js';
import { ensureRollup } from '../ratings/rollup.js';
import type { Bus } from '../bus.js';
import { httpErrorHandler, rejectRepeatedQuery } from '../http/errors.js';
import { useJsonSchemas } from '../http/validation.js';
import { DEFAULT_APP_OPTIONS, type AppContext, type AppOptions, type AppRoutes } from './context.js';
import { caseRoutes } from './cases-routes.js';
import { commitmentRoutes } from './commitments-routes.js';
import { channelRoutes } from './channels-routes.js';
import { reportRoutes } from './reports-routes.js';
import { PHONE_FORM_ROUTE, publicRoutes } from './public-routes.js';
import { adminRoutes } from './admin-routes.js';

export { appOptionsFromSettings, DEFAULT_APP_OPTIONS, type AppOptions } from './context.js';
export { escapeHtml } from './public-routes.js';

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

  /** The context each feature's routes are registered with. */
  private context(): AppContext {
    return {
      db: this.db, auth: this.auth, cases: this.cases, commitments: this.commitments, channels: this.channels, ratings: this.ratings,
      options: this.options, now: this.now, log: this.log, bus: this.bus,
      ratingLink: (ticket) => this.ratingLink(ticket), onRatingsCommitted: () => this.onRatingsCommitted(),
    };
  }

  /** Mounts every feature's routes in one scope: the one error shape, JSON schemas, and the body parsers below. */
  routes(app: FastifyInstance): void {
    const ctx = this.context();
    app.register(async (scope) => {
      scope.setErrorHandler(httpErrorHandler);
      useJsonSchemas(scope);
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
      this.ratings.routes(scope, this.auth);
      // Each feature registers its own routes (hub/app/*-routes.ts).
      for (const routes of [reportRoutes, caseRoutes, commitmentRoutes, channelRoutes, publicRoutes, adminRoutes] as AppRoutes[]) routes(scope, ctx);
    });
  }
}
