/**
 * Ratings (评诺, 一事一评): binding and recording a citizen's rating, whatever the channel (the
 * window's pad, the phone page, later the kiosk and the terminal). The one writer of
 * queue_ratings and queue_rate_requests (created with the queue's first tables, hence the names).
 *
 * - A rating request is offered to the window's pad when a service ends; a pad rating carrying
 *   it binds to that request's ticket.
 * - A pad rating without one (offline, or unsolicited under 'bind') binds to the last service
 *   finished at the pad's window within bindWindow before the rating, if that service is not yet
 *   rated. Otherwise it is refused: one pad must not be able to pour ratings into a window's
 *   figures or open cases. The refused rating is kept in ratings_unbound (and ingest keeps the
 *   signed event and its refusal in the ledger); it counts nowhere until a supervisor binds it to
 *   a service of that window that is not yet rated.
 * - Whatever the channel, one ticket is rated once (queue_ratings.ticket is UNIQUE), and never
 *   by staff: a rater signed in as staff, or as the ticket's own staff, is refused and logged.
 */

import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { BAD_RATING_MAX, BAD_RATING_REASONS, type BadRatingReason, type DeviceEvent, type Role } from '../../firmware/core/protocol.js';
import type { Db, Migration, SqlValue } from '../db/db.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Applied, Effect } from '../seams.js';
import type { QueuePolicy, Rating, RatingBinding, RatingChannel } from '../queue/types.js';
import { itemName, servicesFinishedAt, ticketById, type TicketRow } from '../queue/lookup.js';
import { HttpError } from '../http/errors.js';
import { userOf, type Auth } from '../app/auth.js';
import type { Bus } from '../bus.js';
import { num, numOrNull } from '../db/db.js';

export interface RatingsDeps {
  db: Db;
  ledger: Ledger;
  hall: string;
  now: () => number;
  log: Logger;
  policy: Pick<QueuePolicy, 'rateTimeout' | 'bindWindow' | 'utcOffsetMinutes'>;
  bus?: Bus;
}

/** Who gives a rating through a channel that has a signed-in user (phone page, kiosk, terminal). */
export interface Rater { role: string; staff: string | null; username?: string }

/**
 * A rating to record for a ticket; the ticket's service fills in the rest. Level and reason come
 * unchecked from a channel (record() checks them), the rest as the Rating will hold it.
 */
export type TicketRatingInput = Pick<Rating, 'id' | 'channel' | 'bound' | 'req' | 'dev' | 'boot' | 'seq' | 't'> & {
  ticketId: string;
  level: number;
  reason: string | null;
  /** A supervisor binding a refused pad rating. */
  boundBy?: string;
};

export interface UnboundRating { id: string; dev: string; boot: number; seq: number; win: string; level: number; reason: string | null; t: number; recordedAt: number; why: string }

/** A rating that may not be recorded: the reason, and the HTTP status a route answers with. */
export class RatingRefused extends HttpError {}

const unboundTable = `
CREATE TABLE ratings_unbound (
  id TEXT PRIMARY KEY,
  dev TEXT NOT NULL,
  boot BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  win TEXT NOT NULL,
  level BIGINT NOT NULL,
  reason TEXT,
  t BIGINT NOT NULL,
  recorded_at BIGINT NOT NULL,
  why TEXT NOT NULL
);
CREATE INDEX ratings_unbound_win ON ratings_unbound (win, t)`;

/** Nobody edits or deletes a rating: the database itself refuses, whatever the caller. */
function appendOnlyRatings(dialect: 'sqlite' | 'postgres'): string {
  if (dialect === 'sqlite') {
    return `
CREATE TRIGGER queue_ratings_no_update BEFORE UPDATE ON queue_ratings
BEGIN SELECT RAISE(ABORT, 'queue_ratings is append-only: a rating is never changed'); END;
CREATE TRIGGER queue_ratings_no_delete BEFORE DELETE ON queue_ratings
BEGIN SELECT RAISE(ABORT, 'queue_ratings is append-only: a rating is never deleted'); END`;
  }
  return `
CREATE FUNCTION queue_ratings_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN RAISE EXCEPTION 'queue_ratings is append-only: a rating is never changed or deleted'; END
$fn$;
CREATE TRIGGER queue_ratings_no_change BEFORE UPDATE OR DELETE ON queue_ratings
FOR EACH ROW EXECUTE FUNCTION queue_ratings_append_only()`;
}

function refused(reason: string): Applied {
  return { verdict: 'refused', reason, effects: [] };
}

export class Ratings {
  /** Run after the queue's tables (queue/001 creates queue_ratings and queue_rate_requests). */
  static migrations: Migration[] = [
    { id: 'queue/002-ratings-append-only', sql: appendOnlyRatings },
    { id: 'ratings/001-unbound', sql: () => unboundTable },
  ];

  constructor(private readonly deps: RatingsDeps) {}

  // ------------------------------------------------------------ requests

  /** A rating request for the ticket whose service just ended at `win`; the downlink sends it to the window's pad. */
  async request(tx: Db, ticket: TicketRow, win: string, at: number): Promise<Effect> {
    // Deterministic (<ticket id>-<n>: the same day gives the same ledger bytes). Guessing one buys
    // nothing: a rating with a request is taken only from the pad installed at the request's window.
    const n = await tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM queue_rate_requests WHERE ticket = $1', [ticket.id]);
    const req = `${ticket.id}-${num(n?.n) + 1}`;
    const expires = at + this.deps.policy.rateTimeout;
    await tx.run(`INSERT INTO queue_rate_requests (id, ticket, number, win, staff, item, department, issued_at, expires)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [req, ticket.id, ticket.number, win, ticket.staff, ticket.item, ticket.department, at, expires]);
    const name = await itemName(tx, ticket.item);
    return { kind: 'rateReq', win, body: { req, win, ticket: ticket.number, staff: ticket.staff, item: name ?? ticket.item, expires } };
  }

  // ------------------------------------------------------------ the pad

  /** Inside the ingest transaction: binds and records one pad rating, or refuses it (recording an unbindable one in ratings_unbound). */
  async applyPad(tx: Db, event: DeviceEvent<'rating'>, device: { id: string; role: Role; win: string; bound?: boolean }): Promise<Applied> {
    const body = event.body;
    if (device.role !== 'pad') return refused(`rating: device ${device.id} is a ${device.role}; staff cannot rate, only a window's rating pad may`);
    if (body.win !== device.win) return refused(`rating: device ${device.id} is installed at window ${device.win}, not ${body.win}`);
    // A pad a supervisor replaced keeps its credentials but is no longer its window's rating pad (security finding 7).
    if (device.bound === false) return refused(`rating: pad ${device.id} is not the bound rating pad of window ${device.win}`);
    if (body.level <= BAD_RATING_MAX && body.reason === null) return refused(`rating: a bad rating (level ${body.level}) needs a reason`);
    const t = Math.min(event.t, this.deps.now());
    const id = `${event.dev}:${event.boot}:${event.seq}`;
    if (await tx.get(`SELECT id FROM queue_ratings WHERE id = $1`, [id])) return refused(`rating: event ${id} is already recorded`);

    let ticket: TicketRow | undefined;
    let bound: RatingBinding;
    if (body.req !== null) {
      const req = await tx.get<{ ticket: string; number: string; win: string; expires: number }>(`SELECT ticket, number, win, expires FROM queue_rate_requests WHERE id = $1`, [body.req]);
      if (!req) return refused(`rating: rating request ${body.req} is unknown`);
      if (req.win !== body.win) return refused(`rating: rating request ${body.req} was for window ${req.win}, not ${body.win}`);
      if (body.ticket !== null && body.ticket !== req.number) return refused(`rating: rating request ${body.req} was for ticket ${req.number}, not ${body.ticket}`);
      if (t > num(req.expires)) this.deps.log.warn({ req: body.req, t, expires: num(req.expires) }, 'rating after its request expired; bound to the request all the same');
      ticket = await ticketById(tx, req.ticket);
      bound = 'request';
    } else {
      // Offline or unsolicited: the last service finished here before t, if recent and not yet
      // rated. If it is rated, binding to an earlier one would credit the wrong service.
      const [last] = await servicesFinishedAt(tx, body.win, t - this.deps.policy.bindWindow, t);
      if (!last || (await this.isRated(last.id, tx))) {
        const minutes = Math.round(this.deps.policy.bindWindow / 60_000);
        const why = last
          ? `ticket ${last.number}, the last service at window ${body.win}, is rated already`
          : `no service finished at window ${body.win} in the ${minutes} minutes before it`;
        await tx.run(`INSERT INTO ratings_unbound (id, dev, boot, seq, win, level, reason, t, recorded_at, why) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
          ON CONFLICT (id) DO NOTHING`, [id, event.dev, event.boot, event.seq, body.win, body.level, body.reason, t, this.deps.now(), why]);
        this.deps.log.info({ rating: id, win: body.win }, 'rating refused, kept unbound for a supervisor: no unrated service to bind it to');
        return refused(`rating: not bound: ${why}; kept for a supervisor to bind, counted nowhere until then`);
      }
      ticket = last;
      bound = 'window-time';
    }
    if (!ticket) return refused(`rating: the ticket of rating request ${body.req} is gone`);
    try {
      await this.record(tx, ticket, { id, ticketId: ticket.id, level: body.level, reason: body.reason, channel: 'pad', bound, req: body.req, dev: event.dev, boot: event.boot, seq: event.seq, t });
    } catch (error) {
      if (error instanceof RatingRefused) return refused(`rating: ${error.message}`);
      throw error;
    }
    return { verdict: 'committed', reason: null, effects: [{ kind: 'hall' }] };
  }

  // ------------------------------------------------------------ every channel

  /**
   * Records a rating of a ticket in the caller's transaction: queue_ratings and the 'rating'
   * ledger row. Throws RatingRefused when the ticket is rated already or the rater is staff.
   */
  async record(tx: Db, ticket: TicketRow, input: TicketRatingInput, rater?: Rater): Promise<Rating> {
    this.refuseStaff(ticket, input.channel, rater);
    checkLevel(input.level, input.reason);
    const rating: Rating = {
      id: input.id, ticket: ticket.id, number: ticket.number, level: input.level as Rating['level'], reason: input.reason as BadRatingReason | null,
      channel: input.channel, win: (ticket.win ?? '') as string, staff: ticket.staff, item: ticket.item, department: ticket.department,
      waitMs: ticket.called_at !== null ? Math.max(0, num(ticket.called_at) - num(ticket.issued_at)) : null,
      serviceMs: ticket.finished_at !== null && ticket.served_at !== null ? num(ticket.earlier_service_ms) + Math.max(0, num(ticket.finished_at) - num(ticket.served_at)) : null,
      bound: input.bound, req: input.req, dev: input.dev, boot: input.boot, seq: input.seq, t: input.t,
    };
    const recordedAt = this.deps.now();
    // The ticket column is UNIQUE: a rating through another channel committed meanwhile makes this insert nothing, never a second rating.
    const inserted = await tx.get<{ id: string }>(`INSERT INTO queue_ratings (id, ticket, number, level, reason, channel, win, staff, item, department, wait_ms, service_ms,
      bound, req, dev, boot, seq, t, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
      ON CONFLICT DO NOTHING RETURNING id`,
    [rating.id, rating.ticket, rating.number, rating.level, rating.reason, rating.channel, rating.win, rating.staff, rating.item,
      rating.department, rating.waitMs, rating.serviceMs, rating.bound, rating.req, rating.dev, rating.boot, rating.seq, rating.t, recordedAt]);
    if (!inserted) throw new RatingRefused(409, `ticket ${ticket.number} is already rated`, 'ticket');
    const body = input.boundBy ? { hall: this.deps.hall, ...rating, boundBy: input.boundBy } : { hall: this.deps.hall, ...rating };
    await this.deps.ledger.append(tx, [{ kind: 'rating', dev: input.dev, boot: input.boot, seq: input.seq, at: recordedAt, body }]);
    return rating;
  }

  /** Nobody rates their own service, nor a colleague's: a rater signed in as staff is refused and logged. */
  refuseStaff(ticket: Pick<TicketRow, 'id' | 'staff'>, channel: RatingChannel, rater: Rater | undefined): void {
    if (!rater) return;
    const own = rater.staff !== null && rater.staff === ticket.staff;
    if (rater.role !== 'staff' && !own) return;
    this.deps.log.warn({ ticket: ticket.id, rater: rater.username ?? rater.role, staff: ticket.staff, channel }, 'staff tried to rate a service; refused');
    throw new RatingRefused(403, `token: window staff cannot rate a service${own ? ', least of all their own' : ''}`, 'token');
  }

  // ------------------------------------------------------------ supervisor binding

  /** Pad ratings refused for want of a service, not yet bound by a supervisor, newest first. */
  async unbound(filter: { win?: string; limit?: number } = {}): Promise<UnboundRating[]> {
    const params: SqlValue[] = [];
    let where = 'r.id IS NULL';
    if (filter.win) { params.push(filter.win); where += ` AND u.win = $${params.length}`; }
    const rows = await this.deps.db.all<Record<string, SqlValue>>(`SELECT u.* FROM ratings_unbound u LEFT JOIN queue_ratings r ON r.id = u.id
      WHERE ${where} ORDER BY u.t DESC LIMIT ${Math.min(1000, Math.max(1, filter.limit ?? 200))}`, params);
    return rows.map((u) => ({
      id: u.id as string, dev: u.dev as string, boot: num(u.boot), seq: num(u.seq), win: u.win as string, level: num(u.level),
      reason: u.reason as string | null, t: num(u.t), recordedAt: num(u.recorded_at), why: u.why as string,
    }));
  }

  /** A supervisor binds a refused pad rating to a service of its window that is not yet rated; from then on it counts. */
  async bind(id: string, ticketId: string, by: string): Promise<Rating> {
    const rating = await this.deps.db.tx(async (tx) => {
      const u = await tx.get<Record<string, SqlValue>>(`SELECT * FROM ratings_unbound WHERE id = $1`, [id]);
      if (!u) throw new RatingRefused(404, `rating ${id} is not an unbound rating of this hall`, 'id');
      if (await tx.get(`SELECT id FROM queue_ratings WHERE id = $1`, [id])) throw new RatingRefused(409, `rating ${id} is bound already`, 'id');
      const ticket = await ticketById(tx, ticketId);
      if (!ticket) throw new RatingRefused(404, `ticket: ${ticketId} does not exist in this hall`, 'ticket');
      if (ticket.win !== u.win || ticket.status !== 'done') throw new RatingRefused(409, `ticket: ${ticket.number} was not served at window ${u.win as string}`, 'ticket');
      return this.record(tx, ticket, {
        id, ticketId, level: num(u.level), reason: u.reason as string | null, channel: 'pad', bound: 'supervisor', req: null,
        dev: u.dev as string, boot: num(u.boot), seq: num(u.seq), t: num(u.t), boundBy: by,
      });
    });
    this.deps.log.info({ rating: id, ticket: ticketId, by }, 'unbound rating bound by a supervisor');
    this.deps.bus?.emit('ratingCommitted', { rating: rating.id, channel: 'pad', level: rating.level, win: rating.win });
    return rating;
  }

  // ------------------------------------------------------------ reads

  async isRated(ticketId: string, db: Db = this.deps.db): Promise<boolean> {
    return (await db.get(`SELECT id FROM queue_ratings WHERE ticket = $1`, [ticketId])) !== undefined;
  }

  async ratingOf(ticketId: string): Promise<Rating | undefined> {
    const row = await this.deps.db.get<Record<string, SqlValue>>(`SELECT * FROM queue_ratings WHERE ticket = $1`, [ticketId]);
    return row ? ratingOut(row) : undefined;
  }

  /** Every rating recorded at a window (or in the hall), oldest first: for reports and audits. */
  async list(filter: { win?: string } = {}): Promise<Rating[]> {
    const rows = filter.win
      ? await this.deps.db.all<Record<string, SqlValue>>(`SELECT * FROM queue_ratings WHERE win = $1 ORDER BY t, id`, [filter.win])
      : await this.deps.db.all<Record<string, SqlValue>>(`SELECT * FROM queue_ratings ORDER BY t, id`);
    return rows.map(ratingOut);
  }

  /** A staff member's own ratings: the day, the level, the reason, the item and the window; nothing of the citizen or the ticket. */
  async ofStaff(staff: string, from: number, to: number): Promise<{ day: string; level: number; reason: string | null; item: string | null; win: string }[]> {
    const rows = await this.deps.db.all<{ t: number; level: number; reason: string | null; item: string | null; win: string }>(
      'SELECT t, level, reason, item, win FROM queue_ratings WHERE staff = $1 AND t >= $2 AND t < $3 ORDER BY t', [staff, from, to]);
    const off = this.deps.policy.utcOffsetMinutes * 60_000;
    return rows.map((r) => ({ day: new Date(num(r.t) + off).toISOString().slice(0, 10), level: num(r.level), reason: r.reason, item: r.item, win: r.win }))
      // Within a day by level and item, not by time: the order would tell which citizen gave which.
      .sort((a, b) => a.day.localeCompare(b.day) || a.level - b.level || String(a.item).localeCompare(String(b.item)) || String(a.reason).localeCompare(String(b.reason)));
  }

  // ------------------------------------------------------------ routes

  /**
   * GET  /api/app/ratings/unbound?win=             [supervisor] refused pad ratings awaiting a binding
   * POST /api/app/ratings/unbound/:id/bind {ticket} [supervisor] bind one to a service of its window
   */
  routes(app: FastifyInstance, auth: Auth): void {
    // On request: the role is checked before the body is parsed or validated.
    const supervisor = { onRequest: auth.requireRole('supervisor') };
    app.get<{ Querystring: { win?: string } }>('/api/app/ratings/unbound', {
      ...supervisor,
      schema: { querystring: { type: 'object', properties: { win: { type: 'string', maxLength: 64 } }, additionalProperties: false } },
    }, async (request) => ({ ratings: await this.unbound({ win: request.query.win }) }));
    app.post<{ Params: { id: string }; Body: { ticket: string } }>('/api/app/ratings/unbound/:id/bind', {
      ...supervisor,
      schema: {
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 200 } }, required: ['id'] },
        body: { type: 'object', properties: { ticket: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['ticket'], additionalProperties: false },
      },
    }, async (request) => {
      return { rating: await this.bind(request.params.id, request.body.ticket, userOf(request).username) };
    });
  }
}

// ---------------------------------------------------------------- ratings, counted (reports, commitments)

const LEVEL_COUNTS = `SUM(CASE WHEN level = 1 THEN 1 ELSE 0 END) AS l1, SUM(CASE WHEN level = 2 THEN 1 ELSE 0 END) AS l2,
      SUM(CASE WHEN level = 3 THEN 1 ELSE 0 END) AS l3, SUM(CASE WHEN level = 4 THEN 1 ELSE 0 END) AS l4,
      SUM(CASE WHEN level = 5 THEN 1 ELSE 0 END) AS l5, SUM(CASE WHEN bound <> 'unbound' THEN 1 ELSE 0 END) AS bound`;

/** Ratings given in [from, to), level counts per (window, staff, item, department); unbound ones count nowhere. */
export function ratingCountsByGroup(db: Db, from: number, to: number): Promise<Record<string, unknown>[]> {
  return db.all(`SELECT win, staff, item, department, ${LEVEL_COUNTS}
    FROM queue_ratings WHERE t >= $1 AND t < $2 AND bound <> 'unbound' GROUP BY win, staff, item, department`, [from, to]);
}

/** Ratings given in [from, to), level counts per hall-local day number `d` (of one department, and item, if given). */
export function ratingCountsPerDay(db: Db, from: number, to: number, offMs: number, scope: { department?: string; item?: string | null } = {}): Promise<Record<string, unknown>[]> {
  const DAY = 86_400_000;
  const params: SqlValue[] = [from, to];
  let where = '';
  if (scope.department) { params.push(scope.department); where += ` AND department = $${params.length}`; }
  if (scope.item) { params.push(scope.item); where += ` AND item = $${params.length}`; }
  return db.all(`SELECT (t + ${offMs}) / ${DAY} AS d, COUNT(*) AS n, ${LEVEL_COUNTS}
    FROM queue_ratings WHERE t >= $1 AND t < $2 AND bound <> 'unbound'${where} GROUP BY (t + ${offMs}) / ${DAY}`, params);
}

/** A level is 1..5; a bad rating (1..2) needs a reason, and any reason given is one of the list. */
export function checkLevel(level: number, reason: string | null): void {
  const reasons = BAD_RATING_REASONS as readonly string[];
  if (!Number.isInteger(level) || level < 1 || level > 5) throw new RatingRefused(400, 'level: must be 1 (非常不满意) to 5 (非常满意)', 'level');
  if (level <= BAD_RATING_MAX && (reason === null || reasons.indexOf(reason) < 0)) throw new RatingRefused(400, `reason: a bad rating needs a reason, one of ${reasons.join(', ')}`, 'reason');
  if (reason !== null && reasons.indexOf(reason) < 0) throw new RatingRefused(400, `reason: must be one of ${reasons.join(', ')}`, 'reason');
}

export function ratingOut(r: Record<string, SqlValue>): Rating {
  return {
    id: r.id as string, ticket: r.ticket as string | null, number: r.number as string | null, level: num(r.level) as Rating['level'],
    reason: r.reason as Rating['reason'], channel: r.channel as RatingChannel, win: r.win as string, staff: r.staff as string | null, item: r.item as string | null,
    department: r.department as string | null, waitMs: numOrNull(r.wait_ms), serviceMs: numOrNull(r.service_ms), bound: r.bound as RatingBinding,
    req: r.req as string | null, dev: r.dev as string, boot: num(r.boot), seq: num(r.seq), t: num(r.t),
  };
}
