/**
 * The queue's read interface for other features: the rows of a ticket, a window's last finished
 * service, an item's name. Features that need a ticket (ratings, channels) call these instead of
 * running their own SQL on queue_* tables.
 */

import type { Db } from '../db/db.js';

export interface TicketRow {
  id: string; day: string; number: string; item: string; department: string; priority: string;
  class_rank: number; case_no: string | null; channel: string; status: string; lane: number; order_key: number;
  target_win: string | null; win: string | null; staff: string | null; issued_at: number; called_at: number | null;
  served_at: number | null; finished_at: number | null; recall_count: number; noshow_count: number;
  transfer_count: number; history: string;
}

export function ticketById(db: Db, id: string): Promise<TicketRow | undefined> {
  return db.get<TicketRow>(`SELECT * FROM queue_tickets WHERE id = $1`, [id]);
}

/** Finished services at a window in [from, to], newest first (ties: the later in the line first). */
export function servicesFinishedAt(db: Db, win: string, from: number, to: number, limit = 1): Promise<TicketRow[]> {
  return db.all<TicketRow>(`SELECT * FROM queue_tickets WHERE win = $1 AND status = 'done' AND finished_at <= $2 AND finished_at >= $3
    ORDER BY finished_at DESC, order_key DESC LIMIT ${Math.max(1, Math.floor(limit))}`, [win, to, from]);
}

/** The name of a service item, or undefined when no such item is set up. */
export async function itemName(db: Db, code: string): Promise<string | undefined> {
  return (await db.get<{ name: string }>(`SELECT name FROM queue_items WHERE code = $1`, [code]))?.name;
}

/** The rater's view of a ticket: what it was for, where, and its times. */
export async function ticketForRating(db: Db, id: string): Promise<(TicketRow & { item_name: string | null }) | undefined> {
  return db.get<TicketRow & { item_name: string | null }>(
    `SELECT t.*, i.name AS item_name FROM queue_tickets t LEFT JOIN queue_items i ON i.code = t.item WHERE t.id = $1`, [id]);
}
