/**
 * The hall's day (issue 15): opening hours and the daily reset, appointments, 一件事一次办
 * packages, and 通办/帮办 tags. A Feature (hub/feature.ts) that plugs into the queue through its
 * hooks (QueueHooks): tickets are refused outside hours, a package ticket moves through its
 * windows, displays read 'closed' outside hours. Numbers restart each day by themselves (the
 * queue's counters are per day) and yesterday's tickets stay as they were.
 *
 * The sweep (every `sweepSeconds`, and POST /api/day/sweep) closes the tickets still waiting when
 * their day, the hall or their item has closed, each with its reason (a ledger row per sweep),
 * marks missed appointments as no-shows, and sends every display its screen when the hall
 * opens or closes. Everything reads the injected clock.
 */

import type { FastifyInstance } from 'fastify';
import type { Feature, FeatureDeps } from '../feature.js';
import type { Db } from '../db/db.js';
import type { WorkingCalendar } from '../app/calendar.js';
import type { QueueService } from '../queue/service.js';
import type { Effect } from '../seams.js';
import type { IssuedTicket, PriorityClass, QueueHooks } from '../queue/types.js';
import { QueueError } from '../queue/types.js';
import { addHistory } from '../queue/setup.js';
import type { TicketRow } from '../queue/lookup.js';
import { dayMigrations } from './schema.js';
import { HALL_SCOPE, checkHours, closedText, stateAt, type Hours, type OpenState } from './hours.js';
import { bookingById, checkInClass, putSlot, slotById, type AppointmentPolicy, type Booking } from './appointments.js';
import { finishStep, packageRow, putPackage, stepWindow, type Package } from './packages.js';
import { dayRoutes } from './routes.js';

export { TAGS, TAG_NAMES, type Tag } from './tags.js';
import type { Tag } from './tags.js';

export type CloseReason = 'day-ended' | 'hall-closed' | 'item-closed';
export const CLOSE_REASONS: Record<CloseReason, string> = {
  'day-ended': '日终未办理 (the day ended before the ticket was called)',
  'hall-closed': '闭厅时仍在等候 (still waiting when the hall closed)',
  'item-closed': '事项停办时仍在等候 (still waiting when the item closed)',
};

export interface DayPolicy extends AppointmentPolicy { sweepSeconds: number }
export const DEFAULT_DAY_POLICY: DayPolicy = { earlyMinutes: 30, graceMinutes: 15, sweepSeconds: 30 };

export interface DayDeps extends FeatureDeps { queue: QueueService; calendar: WorkingCalendar; policy?: Partial<DayPolicy> }

export interface SweepResult { closed: { ticket: string; reason: CloseReason }[]; noShows: string[] }

export class DayFeature implements Feature {
  readonly name = 'day';
  readonly migrations = dayMigrations;
  readonly policy: DayPolicy;
  private timer: NodeJS.Timeout | undefined;
  private hallOpen: boolean | undefined;
  private readonly hooks: QueueHooks;

  constructor(readonly deps: DayDeps) {
    this.policy = { ...DEFAULT_DAY_POLICY, ...deps.policy };
    this.hooks = {
      beforeIssue: (tx, t) => this.checkOpen(tx, t.item, t.at),
      afterIssue: (tx, issued) => this.tagFromItem(tx, issued),
      onFinish: (tx, t, win, end) => finishStep(tx, t, win, end),
      display: async (db, body, at) => {
        if (body.ticket !== null || body.status === 'paused') return body;
        const s = await this.state(db, HALL_SCOPE, at);
        return s.serving ? body : { ...body, status: 'closed', text: closedText(s) };
      },
    };
  }

  private get offset(): number {
    return this.deps.queue.policy.utcOffsetMinutes;
  }

  async start(): Promise<void> {
    this.deps.queue.hooks.push(this.hooks);
    this.hallOpen = (await this.state(this.deps.db, HALL_SCOPE, this.deps.now())).serving;
    this.timer = setInterval(() => void this.sweep().catch((err: unknown) => this.deps.log.error({ err }, 'day: sweep failed')), this.policy.sweepSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    const i = this.deps.queue.hooks.indexOf(this.hooks);
    if (i >= 0) this.deps.queue.hooks.splice(i, 1);
  }

  routes(app: FastifyInstance): void {
    dayRoutes(app, this, this.deps.auth);
  }

  // ---------------------------------------------------------------- opening hours

  async hours(db: Db, scope: string): Promise<Hours | null> {
    const r = await db.get<{ open_at: string; close_at: string; last_ticket: string; days: string }>(`SELECT * FROM day_hours WHERE scope = $1`, [scope]);
    return r ? { open: r.open_at, close: r.close_at, lastTicket: r.last_ticket, days: r.days as Hours['days'] } : null;
  }

  async state(db: Db, scope: string, at: number): Promise<OpenState> {
    return stateAt(await this.hours(db, scope), this.deps.calendar, this.offset, at);
  }

  /** Sets (or, with null, removes) the hours of the hall ('*') or of an item. */
  async putHours(scope: string, hours: Hours | null): Promise<Hours | null> {
    if (hours) {
      const bad = checkHours(hours);
      if (bad) throw new QueueError(400, bad.message, bad.field);
    }
    const at = this.deps.now();
    await this.deps.db.tx(async (tx) => {
      if (scope !== HALL_SCOPE && !(await tx.get(`SELECT code FROM queue_items WHERE code = $1`, [scope]))) throw new QueueError(404, `item ${scope} is not set up in this hall`, 'scope');
      if (hours) {
        await tx.run(`INSERT INTO day_hours (scope, open_at, close_at, last_ticket, days, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
          ON CONFLICT (scope) DO UPDATE SET open_at = $2, close_at = $3, last_ticket = $4, days = $5, updated_at = $6`, [scope, hours.open, hours.close, hours.lastTicket, hours.days, at]);
      } else await tx.run(`DELETE FROM day_hours WHERE scope = $1`, [scope]);
      await this.deps.ledger.append(tx, [{ kind: 'day', dev: null, boot: null, seq: null, at, body: { what: 'hours', scope, hours } }]);
    });
    await this.sweep();
    return hours;
  }

  /** The queue's beforeIssue hook: a ticket only while the hall and its item take tickets. */
  private async checkOpen(tx: Db, item: string, at: number): Promise<void> {
    const hall = await this.state(tx, HALL_SCOPE, at);
    if (!hall.ticketing) throw new QueueError(409, `item: ${closedText(hall)}`, 'item');
    const own = await this.state(tx, item, at);
    if (!own.ticketing) throw new QueueError(409, `item: ${closedText(own, `事项 ${item} `)}`, 'item');
  }

  /** Closes what waits past its closing, marks missed appointments, tells the displays when the hall opens or closes. */
  async sweep(at = this.deps.now()): Promise<SweepResult> {
    const { db, ledger, queue } = this.deps;
    const today = queue.dayOf(at);
    const { result, effects, open } = await db.tx(async (tx) => {
      const waiting = await tx.all<TicketRow>(`SELECT * FROM queue_tickets WHERE status IN ('waiting', 'transferred') AND day <= $1 ORDER BY day, order_key`, [today]);
      const hall = await this.state(tx, HALL_SCOPE, at);
      const itemState = new Map<string, OpenState>();
      const closed: SweepResult['closed'] = [];
      const touched = new Set<string>();
      for (const t of waiting) {
        if (!itemState.has(t.item)) itemState.set(t.item, await this.state(tx, t.item, at));
        const own = itemState.get(t.item)!;
        const reason: CloseReason | null = t.day < today ? 'day-ended' : !hall.serving && hall.why !== 'before-opening' ? 'hall-closed'
          : !own.serving && own.why !== 'before-opening' ? 'item-closed' : null;
        if (!reason) continue;
        await tx.run(`UPDATE queue_tickets SET status = 'closed', finished_at = $2, history = $3 WHERE id = $1`, [t.id, at, addHistory(t, { at, what: 'closed', win: null, staff: null })]);
        await tx.run(`INSERT INTO day_closed_tickets (ticket, day, item, reason, closed_at) VALUES ($1, $2, $3, $4, $5)`, [t.id, t.day, t.item, reason, at]);
        closed.push({ ticket: t.id, reason });
        if (t.target_win) touched.add(t.target_win);
        for (const w of await tx.all<{ win: string }>(`SELECT win FROM queue_window_items WHERE item = $1`, [t.item])) touched.add(w.win);
      }
      const graceMs = this.policy.graceMinutes * 60_000;
      const missed = await tx.all<{ id: string }>(`SELECT b.id FROM day_bookings b JOIN day_slots s ON s.id = b.slot WHERE b.status = 'booked' AND s.starts_at + $1 < $2 ORDER BY b.id`, [graceMs, at]);
      for (const b of missed) await tx.run(`UPDATE day_bookings SET status = 'no-show', finished_at = $2 WHERE id = $1`, [b.id, at]);
      const entries = [];
      if (closed.length) entries.push({ kind: 'day' as const, dev: null, boot: null, seq: null, at, body: { what: 'closed', tickets: closed } });
      if (missed.length) entries.push({ kind: 'day' as const, dev: null, boot: null, seq: null, at, body: { what: 'no-show', bookings: missed.map((b) => b.id) } });
      if (entries.length) await ledger.append(tx, entries);
      const open = hall.serving;
      const all = open !== this.hallOpen ? (await tx.all<{ id: string }>(`SELECT id FROM queue_windows ORDER BY id`)).map((w) => w.id) : [];
      const wins = [...new Set([...all, ...touched])];
      const effects: Effect[] = [];
      for (const win of wins) effects.push({ kind: 'display', win, body: await queue.displayFor(win, tx) });
      if (wins.length || closed.length) effects.push({ kind: 'hall' });
      return { result: { closed, noShows: missed.map((b) => b.id) }, effects, open };
    });
    // Only after the commit: a failed sweep tells the displays again next time.
    this.hallOpen = open;
    queue.emitEffects(effects);
    if (result.closed.length || result.noShows.length) this.deps.log.info({ closed: result.closed.length, noShows: result.noShows.length, day: today }, 'day: sweep');
    return result;
  }

  // ---------------------------------------------------------------- tags

  private async tagFromItem(tx: Db, issued: IssuedTicket): Promise<void> {
    await tx.run(`INSERT INTO day_ticket_tags (ticket, tag) SELECT $1, tag FROM day_item_tags WHERE item = $2 ON CONFLICT (ticket, tag) DO NOTHING`, [issued.id, issued.item]);
  }

  async putItemTags(item: string, tags: Tag[]): Promise<Tag[]> {
    await this.deps.db.tx(async (tx) => {
      if (!(await tx.get(`SELECT code FROM queue_items WHERE code = $1`, [item]))) throw new QueueError(404, `item ${item} is not set up in this hall`, 'code');
      await tx.run(`DELETE FROM day_item_tags WHERE item = $1`, [item]);
      for (const tag of new Set(tags)) await tx.run(`INSERT INTO day_item_tags (item, tag) VALUES ($1, $2)`, [item, tag]);
    });
    return [...new Set(tags)].sort();
  }

  async tagsOf(db: Db, ticket: string): Promise<string[]> {
    return (await db.all<{ tag: string }>(`SELECT tag FROM day_ticket_tags WHERE ticket = $1 ORDER BY tag`, [ticket])).map((r) => r.tag);
  }

  /**
   * A ticket for an item or a package, with tags beyond its item's (帮办: a helper takes the
   * citizen through it). One transaction: the ticket, its package row and its tags, or nothing.
   */
  async issue(input: { item?: string; package?: string; priority: PriorityClass; tags: Tag[]; channel?: 'kiosk' | 'phone' | 'counter' }): Promise<IssuedTicket & { package: string | null; tags: string[] }> {
    const { db, queue } = this.deps;
    if ((input.item === undefined) === (input.package === undefined)) throw new QueueError(400, 'body: name either an item or a package', input.item === undefined ? 'body.item' : 'body.package');
    const { result, effects } = await db.tx(async (tx) => {
      let item = input.item!;
      let targetWin: string | null = null;
      let p: Package | undefined;
      if (input.package !== undefined) {
        p = await packageRow(tx, input.package);
        if (!p) throw new QueueError(404, `body.package: package ${input.package} is not set up in this hall`, 'body.package');
        item = p.steps[0].item;
        targetWin = stepWindow(p, 0);
        // Every step's item must take tickets now, or the citizen would be stopped half-way.
        for (const s of p.steps.slice(1)) await this.checkOpen(tx, s.item, this.deps.now());
      }
      const issued = await queue.issueWithin(tx, { item, priority: input.priority, targetWin, channel: input.channel });
      if (p) await tx.run(`INSERT INTO day_package_tickets (ticket, package, step, day) VALUES ($1, $2, 0, $3)`, [issued.result.id, p.code, queue.dayOf(issued.result.issuedAt)]);
      for (const tag of new Set(input.tags)) await tx.run(`INSERT INTO day_ticket_tags (ticket, tag) VALUES ($1, $2) ON CONFLICT (ticket, tag) DO NOTHING`, [issued.result.id, tag]);
      return { result: { ...issued.result, package: p?.code ?? null, tags: await this.tagsOf(tx, issued.result.id) }, effects: issued.effects };
    });
    queue.emitEffects(effects);
    return result;
  }

  // ---------------------------------------------------------------- packages

  async putPackage(p: Package): Promise<Package> {
    return this.deps.db.tx((tx) => putPackage(tx, this.deps.ledger, p, this.deps.now()));
  }

  /** Per step of a package ticket: item, window, staff and the minutes it took. */
  async packageSteps(ticket: string): Promise<{ step: number; item: string; win: string; staff: string | null; startedAt: number; finishedAt: number }[]> {
    const rows = await this.deps.db.all<{ step: number; item: string; win: string; staff: string | null; started_at: number; finished_at: number }>(`SELECT * FROM day_package_steps WHERE ticket = $1 ORDER BY step`, [ticket]);
    return rows.map((r) => ({ step: Number(r.step), item: r.item, win: r.win, staff: r.staff, startedAt: Number(r.started_at), finishedAt: Number(r.finished_at) }));
  }

  // ---------------------------------------------------------------- appointments

  async putSlot(s: { id: string; item: string; startsAt: number; minutes: number; capacity: number; closed: boolean }): Promise<void> {
    await this.deps.db.tx(async (tx) => {
      await putSlot(tx, s, this.deps.now());
      await this.deps.ledger.append(tx, [{ kind: 'day', dev: null, boot: null, seq: null, at: this.deps.now(), body: { what: 'slot', ...s } }]);
    });
  }

  /** Idempotent by the booking's id: the same id and slot answer the booking again ('replayed'); another slot is a conflict. */
  async book(id: string, slotId: string): Promise<{ booking: Booking; replayed: boolean }> {
    const { db, ledger } = this.deps;
    return db.tx(async (tx) => {
      const held = await bookingById(tx, id);
      if (held) {
        if (held.slot !== slotId) throw new QueueError(409, `id: booking ${id} already exists for slot ${held.slot}; a booking id names one booking`, 'id');
        return { booking: held, replayed: true };
      }
      const at = this.deps.now();
      const slot = await slotById(tx, slotId);
      if (!slot) throw new QueueError(404, `body.slot: slot ${slotId} is not open for booking in this hall`, 'body.slot');
      const why = slot.closed ? '预约时段已关闭 (the slot is closed for booking)' : slot.endsAt <= at ? '预约时段已过 (the slot is over)' : await this.slotClosedWhy(tx, slot.item, slot.startsAt);
      if (why) throw new QueueError(409, `body.slot: slot ${slotId}: ${why}`, 'body.slot');
      if (slot.booked >= slot.capacity) throw new QueueError(409, `body.slot: slot ${slotId} is full (${slot.capacity} bookings); 该时段已约满`, 'body.slot');
      await tx.run(`INSERT INTO day_bookings (id, slot, item, status, created_at) VALUES ($1, $2, $3, 'booked', $4)`, [id, slotId, slot.item, at]);
      await ledger.append(tx, [{ kind: 'day', dev: null, boot: null, seq: null, at, body: { what: 'booked', booking: id, slot: slotId, item: slot.item } }]);
      return { booking: (await bookingById(tx, id))!, replayed: false };
    });
  }

  /** Why a slot at `startsAt` cannot be served: the hall or the item closed then, or null. */
  private async slotClosedWhy(db: Db, item: string, startsAt: number): Promise<string | null> {
    const hall = await this.state(db, HALL_SCOPE, startsAt);
    if (!hall.ticketing) return closedText(hall);
    const own = await this.state(db, item, startsAt);
    return own.ticketing ? null : closedText(own, `事项 ${item} `);
  }

  async cancel(id: string): Promise<Booking> {
    return this.deps.db.tx(async (tx) => {
      const b = await bookingById(tx, id);
      if (!b) throw new QueueError(404, `booking ${id} does not exist`, 'id');
      if (b.status === 'cancelled') return b;
      if (b.status !== 'booked') throw new QueueError(409, `id: booking ${id} is ${b.status}; only a booking not yet checked in can be cancelled`, 'id');
      const at = this.deps.now();
      await tx.run(`UPDATE day_bookings SET status = 'cancelled', finished_at = $2 WHERE id = $1`, [id, at]);
      await this.deps.ledger.append(tx, [{ kind: 'day', dev: null, boot: null, seq: null, at, body: { what: 'cancelled', booking: id } }]);
      return (await bookingById(tx, id))!;
    });
  }

  /** Check-in at the kiosk or by phone: a ticket by the merge rule (appointments.ts); a second check-in answers the same ticket. */
  async checkIn(id: string, channel: 'kiosk' | 'phone'): Promise<{ booking: Booking; ticket: { id: string; number: string; priority: string }; replayed: boolean }> {
    const { db, queue, ledger } = this.deps;
    const out = await db.tx(async (tx) => {
      const b = await bookingById(tx, id);
      if (!b) throw new QueueError(404, `booking ${id} does not exist`, 'id');
      if (b.ticket) {
        const t = (await tx.get<{ id: string; number: string; priority: string }>(`SELECT id, number, priority FROM queue_tickets WHERE id = $1`, [b.ticket]))!;
        return { result: { booking: b, ticket: t, replayed: true }, effects: [] as Effect[] };
      }
      if (b.status === 'cancelled') throw new QueueError(409, `id: booking ${id} was cancelled; take a ticket at the kiosk`, 'id');
      const slot = (await slotById(tx, b.slot))!;
      const at = this.deps.now();
      if (queue.dayOf(slot.startsAt) !== queue.dayOf(at)) throw new QueueError(409, `id: booking ${id} is for ${queue.dayOf(slot.startsAt)}, not today; 请在预约当日签到`, 'id');
      const cls = checkInClass(slot.startsAt, at, this.policy);
      if (cls === 'early') throw new QueueError(409, `id: booking ${id}: 请于预约时段开始前 ${this.policy.earlyMinutes} 分钟内签到 (check in from ${this.policy.earlyMinutes} minutes before the slot)`, 'id');
      const priority: PriorityClass = cls === 'appointment' ? 'appointment' : 'normal';
      const issued = await queue.issueWithin(tx, { item: b.item, priority, channel: channel === 'phone' ? 'phone' : 'kiosk' });
      const status = cls === 'appointment' ? 'checked-in' : 'late';
      await tx.run(`UPDATE day_bookings SET status = $2, checked_in_at = $3, channel = $4, ticket = $5, priority = $6 WHERE id = $1`, [id, status, at, channel, issued.result.id, priority]);
      await ledger.append(tx, [{ kind: 'day', dev: null, boot: null, seq: null, at, body: { what: 'checked-in', booking: id, ticket: issued.result.id, priority, channel } }]);
      return { result: { booking: (await bookingById(tx, id))!, ticket: { id: issued.result.id, number: issued.result.number, priority }, replayed: false }, effects: issued.effects };
    });
    queue.emitEffects(out.effects);
    return out.result;
  }
}
