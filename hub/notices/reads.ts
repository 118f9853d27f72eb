/**
 * What the notices read of the queue and the ratings, read-only and in one place (as
 * queue/lookup.ts does for the other features): the consented tickets, how many wait before
 * one, whether a ticket is rated, the last ratings of a window or an item.
 */

import { num, type Db } from '../db/db.js';
import { WAITING } from '../queue/views.js';
import type { TicketHistoryEntry } from '../queue/types.js';

export interface ConsentedTicket {
  ticket: string; contact: string; kinds: string; day: string; number: string; item: string; item_name: string | null;
  status: string; target_win: string | null; win: string | null; win_name: string | null; lane: number; class_rank: number; order_key: number;
  finished_at: number | null; history: string; rated: number;
}

/** Tickets with a live consent given since `since`, with what their notices need. */
export function consentedTickets(db: Db, since: number): Promise<ConsentedTicket[]> {
  return db.all<ConsentedTicket>(`SELECT c.ticket, c.contact, c.kinds, t.day, t.number, t.item, i.name AS item_name, t.status, t.target_win, t.win,
      w.name AS win_name, t.lane, t.class_rank, t.order_key, t.finished_at, t.history,
      (SELECT COUNT(*) FROM queue_ratings r WHERE r.ticket = t.id) AS rated
    FROM notice_consents c JOIN queue_tickets t ON t.id = c.ticket
    LEFT JOIN queue_items i ON i.code = t.item LEFT JOIN queue_windows w ON w.id = t.win
    WHERE c.withdrawn_at IS NULL AND c.at >= $1`, [since]);
}

/** Tickets waiting before this one in its line (the same rule as the number of people ahead at issue). */
export async function aheadOf(db: Db, t: ConsentedTicket): Promise<number> {
  const line = t.target_win === null ? ['target_win IS NULL AND item = $2', t.item] : ['target_win = $2', t.target_win];
  const row = await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM queue_tickets WHERE day = $1 AND ${WAITING} AND ${line[0]}
    AND (lane < $3 OR (lane = $3 AND class_rank < $4) OR (lane = $3 AND class_rank = $4 AND order_key < $5))`,
  [t.day, line[1], num(t.lane), num(t.class_rank), num(t.order_key)]);
  return row ? num(row.n) : 0;
}

export function historyOf(t: ConsentedTicket): TicketHistoryEntry[] {
  return JSON.parse(t.history) as TicketHistoryEntry[];
}

export async function ticketRated(db: Db, ticket: string): Promise<boolean> {
  return !!(await db.get('SELECT id FROM queue_ratings WHERE ticket = $1', [ticket]));
}

export async function windowName(db: Db, id: string): Promise<string | null> {
  return (await db.get<{ name: string }>('SELECT name FROM queue_windows WHERE id = $1', [id]))?.name ?? null;
}

export async function itemName(db: Db, code: string): Promise<string | null> {
  return (await db.get<{ name: string }>('SELECT name FROM queue_items WHERE code = $1', [code]))?.name ?? null;
}

/** The last `n` ratings that count (bound to a service) of one window or one item, newest first. */
export async function lastRatings(db: Db, scope: 'win' | 'item', target: string, n: number): Promise<{ level: number; t: number }[]> {
  const column = scope === 'win' ? 'win' : 'item';
  const rows = await db.all<{ level: number; t: number }>(`SELECT level, t FROM queue_ratings WHERE ${column} = $1 AND bound <> 'unbound' ORDER BY t DESC LIMIT $2`, [target, n]);
  return rows.map((r) => ({ level: num(r.level), t: num(r.t) }));
}

/** Bad ratings (差评, levels 1–2) of one window or item since `since`. */
export async function badSince(db: Db, scope: 'win' | 'item', target: string, since: number): Promise<number> {
  const column = scope === 'win' ? 'win' : 'item';
  const row = await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM queue_ratings WHERE ${column} = $1 AND bound <> 'unbound' AND level <= 2 AND t >= $2`, [target, since]);
  return row ? num(row.n) : 0;
}

/** A rating's window and item, for the alert check (the bus names the rating, the window, the level). */
export function ratingRow(db: Db, id: string): Promise<{ win: string; item: string | null; level: number; t: number } | undefined> {
  return db.get('SELECT win, item, level, t FROM queue_ratings WHERE id = $1', [id]);
}
