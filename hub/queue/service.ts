/**
 * The hall's queue (取号/叫号).
 *
 * Device events arrive through applyEvent inside the runtime's ingest transaction; kiosks,
 * phones and administrators come through the HTTP routes (routes.ts), each change in its own
 * db.tx. Every piece of state lives in the database, so a hub killed at any moment restarts
 * with the hall as it was. Each change returns effects — display commands for the windows it
 * touched, a rating request for the pad of a window whose service just ended, and 'hall' for
 * the dashboard — which the runtime sends after its transaction commits.
 *
 * Policy (defaults in types.ts DEFAULT_POLICY, all configurable):
 * - The next call at a window takes, among today's waiting tickets for the items it serves or
 *   transferred to it by name: first those a transfer put in front, then by priority class
 *   (appointment, elderly or disabled, normal), then by arrival.
 * - No-show: the ticket goes back to the queue, after those waiting in its class, up to
 *   noShowReturns times (default 1); the next no-show closes it as 'no-show'.
 * - Transfer to a window or to another item keeps the number and the history; the ticket waits
 *   in front of the target's queue (transferPlacement 'front', default) or at its back.
 *   Its status reads 'transferred' while it waits again.
 * - A paused window cannot call (refused); it keeps its queue. Its display shows 'paused'.
 * - Service time runs from the last (re)call at the finishing window (or the explicit
 *   'serving' mark) to the next call; wait time from issue to the first call.
 * - Ratings: the pad's rating events are bound and recorded by the ratings feature
 *   (hub/ratings/ratings.ts), which this queue hands them to; when a service ends it asks that
 *   feature for the rating request the pad is sent.
 * - Refusals are checked before anything is written, so a refused event changes nothing.
 */

import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AnyDeviceEvent, CommandBodies, DeviceEvent, Role } from '../../firmware/core/protocol.js';
import type { Db, Migration } from '../db/db.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Bus } from '../bus.js';
import { queueMigrations } from './schema.js';
import { ticketById, type TicketRow } from './lookup.js';
import { issueIn, type IssueInput } from './issue.js';
import { addHistory, committed, lastTime, nextCounter, putDepartmentRow, putItemRow, putStaffRow, putWindowRow, refused, signInRow, signOutRow } from './setup.js';
import { ELIGIBLE, displayBody, itemRow, num, numOrNull, setupOf, snapshotOf, staffRow, windowInfo, windowRow, windowsFor, type WindowRow } from './views.js';
import { Ratings } from '../ratings/ratings.js';
import { queueRoutes, type QueueRouteOptions } from './routes.js';
import type { Auth } from '../app/auth.js';
import {
  DEFAULT_POLICY, checkPolicy, LANE_FRONT, LANE_REGULAR, QueueError,
  type Department, type Effect, type HallSnapshot, type IssueChannel, type IssuedTicket, type PriorityClass,
  type QueueHooks, type QueuePolicy, type Rating, type ServiceItem, type Staff, type Ticket,
  type TicketHistoryEntry, type TicketStatus, type WindowInfo,
} from './types.js';

export * from './types.js';
import { applySession, terminalMigrations } from '../terminals/sessions.js';

export type { Applied } from '../seams.js';
import type { Applied } from '../seams.js';

export interface QueueDeps {
  db: Db;
  ledger: Ledger;
  hall: string;
  now: () => number;
  log: Logger;
  policy?: Partial<QueuePolicy>;
  /** Hears queueChanged with the effects of changes made through the HTTP API, after their transaction commits. */
  bus?: Bus;
  /** Binds and records the pads' ratings; by default one on the same database, ledger and policy. */
  ratings?: Ratings;
}

const CALL_ORDER = 'ORDER BY lane, class_rank, order_key';

export class QueueService {
  /** The queue's tables, then those of the ratings it binds (queue/001 created queue_ratings). */
  static migrations: Migration[] = [...queueMigrations, ...Ratings.migrations, ...terminalMigrations];
  readonly ratingsFeature: Ratings;
  readonly policy: QueuePolicy;
  private readonly db: Db;
  private readonly ledger: Ledger;
  private readonly hall: string;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly bus: Bus | undefined;
  /** Other features' checks and steps around issuing, finishing and displaying (hub/day). */
  readonly hooks: QueueHooks[] = [];

  constructor(deps: QueueDeps) {
    this.db = deps.db;
    this.ledger = deps.ledger;
    this.hall = deps.hall;
    this.now = deps.now;
    this.log = deps.log;
    this.bus = deps.bus;
    this.policy = checkPolicy({ ...DEFAULT_POLICY, ...deps.policy });
    this.ratingsFeature = deps.ratings ?? new Ratings({ db: deps.db, ledger: deps.ledger, hall: deps.hall, now: deps.now, log: deps.log, policy: this.policy, bus: deps.bus });
  }

  /** Mounts /api/queue/... on the hub's HTTP server; `auth` checks each route's role. */
  routes(app: FastifyInstance, auth: Auth, options?: QueueRouteOptions): void {
    queueRoutes(app, this, auth, options);
  }

  /** The hall's local day (numbers restart each day), e.g. 2025-03-14. */
  dayOf(t: number): string {
    return new Date(t + this.policy.utcOffsetMinutes * 60_000).toISOString().slice(0, 10);
  }

  // ================================================================ device events

  /**
   * Inside the ingest transaction, after dedupe and after ingest wrote the event's ledger row:
   * applies one accepted device event. Refusals are decided before any write.
   */
  async applyEvent(tx: Db, event: AnyDeviceEvent, device: { id: string; role: Role; win: string; bound?: boolean }): Promise<Applied> {
    switch (event.type) {
      case 'boot':
      case 'state':
        return committed([]);
      case 'rating':
        return this.ratingsFeature.applyPad(tx, event, device);
      case 'session':
        return applySession(tx, event, device, this.now());
      default:
        break;
    }
    const win = event.body.win;
    if (device.role !== 'display') {
      return refused(`${event.type}: device ${device.id} is a ${device.role}; only a window's display (the caller keys) may ${event.type}`);
    }
    if (win !== device.win) return refused(`${event.type}: device ${device.id} is installed at window ${device.win}, not ${win}`);
    const w = await windowRow(tx, win);
    if (!w) return refused(`${event.type}: window ${win} is not set up in this hall`);
    const at = Math.min(event.t, this.now());
    switch (event.type) {
      case 'call': return this.call(tx, w, event.body.staff, at);
      case 'recall': return this.recall(tx, w, event.body.ticket, at);
      case 'noShow': return this.noShow(tx, w, event.body.ticket, at);
      case 'transfer': return this.transfer(tx, w, event.body, at);
      case 'pause': return this.pause(tx, w, event.body.reason, at);
      case 'resume': return this.resume(tx, w, at);
    }
    return refused(`unknown event type`);
  }

  private async call(tx: Db, w: WindowRow, bodyStaff: string | null, at: number): Promise<Applied> {
    if (w.paused) return refused(`call: window ${w.id} is paused; resume before calling the next ticket`);
    if (bodyStaff !== null && !(await staffRow(tx, bodyStaff))) return refused(`call: staff ${bodyStaff} is not registered in this hall`);
    const staff = bodyStaff ?? w.staff;
    if (!staff) return refused(`call: no staff is signed in at window ${w.id}; sign in before calling`);
    const current = w.current_ticket ? await this.ticketRow(tx, w.current_ticket) : undefined;
    const day = this.dayOf(at);
    // Checks done; from here on, writes.
    const effects: Effect[] = [];
    if (bodyStaff !== null && bodyStaff !== w.staff) await signInRow(tx, this.ledger, this.hall, bodyStaff, w.id, at);
    // Read after the hooks' moves: a package in one window is called again for its next item.
    const moved: string[] = [];
    if (current) {
      const end = Math.max(at, lastTime(current));
      // A hook may move the ticket on (a package's next window) instead of ending it: rated at its last step only.
      let onward: string[] | null = null;
      for (const h of this.hooks) onward ??= (await h.onFinish?.(tx, current, w.id, end)) ?? null;
      if (onward) moved.push(...onward);
      else {
        const served = current.served_at === null ? end : num(current.served_at);
        await tx.run(`UPDATE queue_tickets SET status = 'done', finished_at = $2, served_at = $3, history = $4 WHERE id = $1`,
          [current.id, end, served, addHistory(current, { at: end, what: 'done', win: w.id, staff: current.staff })]);
        if (!(await this.ratingsFeature.isRated(current.id, tx))) effects.push(await this.ratingsFeature.request(tx, current, w.id, end));
      }
    }
    const next = await tx.get<TicketRow>(`SELECT * FROM queue_tickets WHERE ${ELIGIBLE} ${CALL_ORDER} LIMIT 1`, [day, w.id]);
    if (next) {
      const t = Math.max(at, lastTime(next));
      await tx.run(`UPDATE queue_tickets SET status = 'called', win = $2, staff = $3, called_at = COALESCE(called_at, $4), served_at = $4,
        finished_at = NULL, history = $5 WHERE id = $1`,
        [next.id, w.id, staff, t, addHistory(next, { at: t, what: 'called', win: w.id, staff })]);
    }
    await tx.run(`UPDATE queue_windows SET current_ticket = $2, updated_at = $3 WHERE id = $1`, [w.id, next ? next.id : null, at]);
    effects.push(...await this.displays(tx, [...moved, ...(next ? await windowsFor(tx, next) : [])], w.id, next !== undefined));
    effects.push({ kind: 'hall' });
    this.log.debug({ win: w.id, finished: current?.number ?? null, called: next?.number ?? null }, 'call');
    return committed(effects);
  }

  private async recall(tx: Db, w: WindowRow, number: string, at: number): Promise<Applied> {
    const ticket = await this.currentTicket(tx, w, number, 'recall');
    if (typeof ticket === 'string') return refused(ticket);
    const t = Math.max(at, lastTime(ticket));
    // The citizen answers the last call, so service starts then, unless already marked serving.
    await tx.run(`UPDATE queue_tickets SET recall_count = recall_count + 1, served_at = CASE WHEN status = 'called' THEN $2 ELSE served_at END,
      history = $3 WHERE id = $1`, [ticket.id, t, addHistory(ticket, { at: t, what: 'recalled', win: w.id, staff: ticket.staff })]);
    return committed(await this.displays(tx, [], w.id, true));
  }

  private async noShow(tx: Db, w: WindowRow, number: string, at: number): Promise<Applied> {
    const ticket = await this.currentTicket(tx, w, number, 'noShow');
    if (typeof ticket === 'string') return refused(ticket);
    const t = Math.max(at, lastTime(ticket));
    const count = num(ticket.noshow_count) + 1;
    const back = count <= this.policy.noShowReturns;
    const noShowEntry: TicketHistoryEntry = { at: t, what: 'no-show', win: w.id, staff: ticket.staff };
    if (back) {
      const order = await nextCounter(tx, ticket.day, '#order');
      const history = addHistory(ticket, noShowEntry, { at: t, what: 'requeued', win: null, staff: null });
      await tx.run(`UPDATE queue_tickets SET status = 'waiting', lane = $2, order_key = $3, win = NULL, staff = NULL, served_at = NULL,
        noshow_count = $4, history = $5 WHERE id = $1`, [ticket.id, LANE_REGULAR, order, count, history]);
    } else {
      await tx.run(`UPDATE queue_tickets SET status = 'no-show', finished_at = $2, noshow_count = $3, history = $4 WHERE id = $1`,
        [ticket.id, t, count, addHistory(ticket, noShowEntry)]);
    }
    await tx.run(`UPDATE queue_windows SET current_ticket = NULL, updated_at = $2 WHERE id = $1`, [w.id, at]);
    const others = back ? await windowsFor(tx, ticket) : [];
    return committed([...await this.displays(tx, others, w.id, false), { kind: 'hall' }]);
  }

  private async transfer(tx: Db, w: WindowRow, body: DeviceEvent<'transfer'>['body'], at: number): Promise<Applied> {
    const ticket = await this.currentTicket(tx, w, body.ticket, 'transfer');
    if (typeof ticket === 'string') return refused(ticket);
    let item = ticket.item;
    let department = ticket.department;
    if (body.toWin !== null) {
      if (body.toWin === w.id) return refused(`transfer: ticket ${ticket.number} is already at window ${w.id}`);
      if (!(await windowRow(tx, body.toWin))) return refused(`transfer: window ${body.toWin} is not set up in this hall`);
    } else if (body.toItem !== null) {
      if (body.toItem === ticket.item) return refused(`transfer: ticket ${ticket.number} is already for item ${ticket.item}`);
      const target = await itemRow(tx, body.toItem);
      if (!target) return refused(`transfer: service item ${body.toItem} is not set up in this hall`);
      item = target.code;
      department = target.department;
    } else {
      return refused('transfer: names neither a window nor an item');
    }
    const t = Math.max(at, lastTime(ticket));
    const order = await nextCounter(tx, ticket.day, '#order');
    const lane = this.policy.transferPlacement === 'front' ? LANE_FRONT : LANE_REGULAR;
    const history = addHistory(ticket, { at: t, what: 'transferred', win: w.id, staff: ticket.staff, toWin: body.toWin, toItem: body.toItem, fromItem: ticket.item });
    await tx.run(`UPDATE queue_tickets SET status = 'transferred', item = $2, department = $3, target_win = $4, lane = $5, order_key = $6,
      win = NULL, staff = NULL, served_at = NULL, transfer_count = transfer_count + 1, history = $7,
      earlier_service_ms = earlier_service_ms + (CASE WHEN served_at IS NOT NULL AND $8 > served_at THEN $8 - served_at ELSE 0 END) WHERE id = $1`,
      [ticket.id, item, department, body.toWin, lane, order, history, t]);
    await tx.run(`UPDATE queue_windows SET current_ticket = NULL, updated_at = $2 WHERE id = $1`, [w.id, at]);
    const moved = { ...ticket, item, target_win: body.toWin };
    return committed([...await this.displays(tx, await windowsFor(tx, moved), w.id, false), { kind: 'hall' }]);
  }

  private async pause(tx: Db, w: WindowRow, reason: string | null, at: number): Promise<Applied> {
    // Pausing a paused window only updates the reason: the caller replays its pause after a lost link.
    await tx.run(`UPDATE queue_windows SET paused = 1, pause_reason = $2, updated_at = $3 WHERE id = $1`, [w.id, reason, at]);
    return committed([...await this.displays(tx, [], w.id, false), { kind: 'hall' }]);
  }

  private async resume(tx: Db, w: WindowRow, at: number): Promise<Applied> {
    await tx.run(`UPDATE queue_windows SET paused = 0, pause_reason = NULL, updated_at = $2 WHERE id = $1`, [w.id, at]);
    return committed([...await this.displays(tx, [], w.id, false), { kind: 'hall' }]);
  }

  /** The ticket now at this window, if it has this number; else the refusal's reason. */
  private async currentTicket(tx: Db, w: WindowRow, number: string, action: string): Promise<TicketRow | string> {
    const current = w.current_ticket ? await this.ticketRow(tx, w.current_ticket) : undefined;
    if (!current) return `${action}: ticket ${number} is not at window ${w.id}; no ticket is called there`;
    if (current.number !== number) return `${action}: ticket ${number} is not at window ${w.id}; ${current.number} is`;
    return current;
  }

  // ================================================================ displays

  /** What a window's display shows now. */
  async displayFor(win: string, db: Db = this.db, chime = false): Promise<CommandBodies['display']> {
    const w = await windowRow(db, win);
    if (!w) throw new QueueError(404, `window ${win} is not set up in this hall`, 'win');
    return this.shown(db, await displayBody(db, w, this.dayOf(this.now()), chime));
  }

  private async shown(db: Db, body: CommandBodies['display']): Promise<CommandBodies['display']> {
    for (const h of this.hooks) if (h.display) body = await h.display(db, body, this.now());
    return body;
  }

  /** Display effects for the acting window (first, with or without chime) and every other window whose line changed. */
  private async displays(db: Db, others: string[], acting: string | null, chime: boolean): Promise<Effect[]> {
    const out: Effect[] = [];
    const seen = new Set<string>();
    for (const win of acting ? [acting, ...others] : others) {
      if (seen.has(win)) continue;
      seen.add(win);
      const w = await windowRow(db, win);
      if (w) out.push({ kind: 'display', win, body: await this.shown(db, await displayBody(db, w, this.dayOf(this.now()), chime && win === acting)) });
    }
    return out;
  }

  // ================================================================ HTTP-facing API

  private async change<T>(fn: (tx: Db) => Promise<{ result: T; effects: Effect[] }>): Promise<T> {
    const { result, effects } = await this.db.tx(fn);
    if (effects.length) this.bus?.emit('queueChanged', { effects });
    return result;
  }

  async putDepartment(d: Department): Promise<Department> {
    return this.change(async (tx) => ({ result: await putDepartmentRow(tx, d, this.now()), effects: [] }));
  }

  async putItem(item: ServiceItem): Promise<ServiceItem> {
    return this.change(async (tx) => ({ result: await putItemRow(tx, item, this.now()), effects: [] }));
  }

  async putWindow(input: { id: string; name: string; items: string[] }): Promise<WindowInfo> {
    return this.change(async (tx) => {
      await putWindowRow(tx, input, this.now());
      return { result: (await windowInfo(tx, input.id))!, effects: [...await this.displays(tx, [], input.id, false), { kind: 'hall' }] };
    });
  }

  async putStaff(s: { id: string; name: string; department: string }): Promise<Staff> {
    return this.change(async (tx) => ({ result: await putStaffRow(tx, s, this.now()), effects: [] }));
  }

  /** Signs a staff member in at a window; they are bound to every service the window gives until they sign out. */
  async signIn(win: string, staff: string): Promise<WindowInfo> {
    return this.change(async (tx) => {
      if (!(await windowRow(tx, win))) throw new QueueError(404, `window ${win} is not set up in this hall`, 'win');
      if (!(await staffRow(tx, staff))) throw new QueueError(400, `staff: ${staff} is not registered in this hall`, 'staff');
      const touched = await signInRow(tx, this.ledger, this.hall, staff, win, this.now());
      return { result: (await windowInfo(tx, win))!, effects: [...await this.displays(tx, touched, win, false), { kind: 'hall' }] };
    });
  }

  async signOut(win: string): Promise<WindowInfo> {
    return this.change(async (tx) => {
      const w = await windowRow(tx, win);
      if (!w) throw new QueueError(404, `window ${win} is not set up in this hall`, 'win');
      if (!w.staff) throw new QueueError(409, `window ${win}: nobody is signed in`, 'win');
      await signOutRow(tx, this.ledger, this.hall, w.staff, win, this.now());
      return { result: (await windowInfo(tx, win))!, effects: [...await this.displays(tx, [], win, false), { kind: 'hall' }] };
    });
  }

  /** The staff's counter software marks the citizen present: service time runs from now. */
  async startService(win: string): Promise<Ticket> {
    return this.change(async (tx) => {
      const w = await windowRow(tx, win);
      if (!w) throw new QueueError(404, `window ${win} is not set up in this hall`, 'win');
      const ticket = w.current_ticket ? await this.ticketRow(tx, w.current_ticket) : undefined;
      if (!ticket) throw new QueueError(409, `window ${win}: no ticket is called there`, 'win');
      if (ticket.status !== 'called') throw new QueueError(409, `window ${win}: ticket ${ticket.number} is already being served`, 'win');
      const at = Math.max(this.now(), lastTime(ticket));
      await tx.run(`UPDATE queue_tickets SET status = 'serving', served_at = $2, history = $3 WHERE id = $1`,
        [ticket.id, at, addHistory(ticket, { at, what: 'serving', win, staff: ticket.staff })]);
      return { result: await this.ticketOut(tx, (await this.ticketRow(tx, ticket.id))!), effects: [...await this.displays(tx, [], win, false), { kind: 'hall' }] };
    });
  }

  /** Takes a ticket (kiosk, phone or counter): the number, and how many are ahead for the same item. */
  async issueTicket(input: IssueInput): Promise<IssuedTicket> {
    return this.change((tx) => this.issueWithin(tx, input));
  }

  /** Issues inside the caller's transaction (a feature writing its own rows beside the ticket); the effects go to the bus after it commits. */
  async issueWithin(tx: Db, input: IssueInput): Promise<{ result: IssuedTicket; effects: Effect[] }> {
    const at = this.now();
    const { result, effects, windows } = await issueIn(tx, input, at, { day: this.dayOf(at), numberDigits: this.policy.numberDigits, hooks: this.hooks });
    return { result, effects: [...await this.displays(tx, windows, null, false), ...effects] };
  }

  /** Sends effects of a change a feature committed itself (after its transaction). */
  emitEffects(effects: Effect[]): void {
    if (effects.length) this.bus?.emit('queueChanged', { effects });
  }

  /** A ticket by number (today unless a day is given), with its history and whether it is rated. */
  async ticket(number: string, day?: string): Promise<Ticket> {
    const row = await this.db.get<TicketRow>(`SELECT * FROM queue_tickets WHERE day = $1 AND number = $2`, [day ?? this.dayOf(this.now()), number]);
    if (!row) throw new QueueError(404, `ticket ${number} was not issued on ${day ?? this.dayOf(this.now())}`, 'number');
    return this.ticketOut(this.db, row);
  }

  async ratingOf(ticketId: string): Promise<Rating | undefined> {
    return this.ratingsFeature.ratingOf(ticketId);
  }

  /** Every rating recorded at a window (or in the hall), oldest first (the ratings feature's list). */
  async ratings(filter: { win?: string } = {}): Promise<Rating[]> {
    return this.ratingsFeature.list(filter);
  }

  async setup(): Promise<{ departments: Department[]; items: ServiceItem[]; windows: WindowInfo[]; staff: Staff[] }> {
    return setupOf(this.db);
  }

  /** The hall at a glance: each window's number and status, waiting per item, average waits. */
  async snapshot(): Promise<HallSnapshot> {
    const at = this.now();
    return snapshotOf(this.db, at, this.dayOf(at));
  }

  // ================================================================ helpers

  private ticketRow(db: Db, id: string): Promise<TicketRow | undefined> {
    return ticketById(db, id);
  }

  private async ticketOut(db: Db, r: TicketRow): Promise<Ticket> {
    const rated = await this.ratingsFeature.isRated(r.id, db);
    return {
      id: r.id, day: r.day, number: r.number, item: r.item, department: r.department, priority: r.priority as PriorityClass,
      caseNo: r.case_no, channel: r.channel as IssueChannel, status: r.status as TicketStatus, targetWin: r.target_win, win: r.win,
      staff: r.staff, issuedAt: num(r.issued_at), calledAt: numOrNull(r.called_at), servedAt: numOrNull(r.served_at),
      finishedAt: numOrNull(r.finished_at), recallCount: num(r.recall_count), noShowCount: num(r.noshow_count),
      transferCount: num(r.transfer_count), history: JSON.parse(r.history) as TicketHistoryEntry[], rated,
    };
  }
}

