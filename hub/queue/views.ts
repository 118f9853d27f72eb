/**
 * The queue's read side: its rows as stored, what a window's display shows, the set-up and the
 * hall at a glance. The state changes (calls, transfers, tickets) are in service.ts; these read
 * the same tables, inside a change's transaction or outside it.
 */

import type { CommandBodies } from '../../firmware/core/protocol.js';
import type { Db } from '../db/db.js';
import { ticketById, type TicketRow } from './lookup.js';
import type { Department, HallSnapshot, ServiceItem, Staff, WindowInfo } from './types.js';
import { num, numOrNull } from '../db/db.js';

export { num, numOrNull };

export interface WindowRow { id: string; name: string; paused: number; pause_reason: string | null; current_ticket: string | null; staff: string | null }
export interface ItemRow { code: string; name: string; department: string; prefix: string; limit_days: number }
export interface StaffRow { id: string; name: string; department: string; win: string | null; signed_in_at: number | null }


export const WAITING = `status IN ('waiting', 'transferred')`;
/** Today's waiting tickets a window may call: transferred to it by name, or for an item it serves. */
export const ELIGIBLE = `day = $1 AND ${WAITING} AND (target_win = $2 OR (target_win IS NULL AND item IN (SELECT item FROM queue_window_items WHERE win = $2)))`;

export function windowRow(db: Db, id: string): Promise<WindowRow | undefined> {
  return db.get<WindowRow>(`SELECT * FROM queue_windows WHERE id = $1`, [id]);
}
export function itemRow(db: Db, code: string): Promise<ItemRow | undefined> {
  return db.get<ItemRow>(`SELECT * FROM queue_items WHERE code = $1`, [code]);
}
export function staffRow(db: Db, id: string): Promise<StaffRow | undefined> {
  return db.get<StaffRow>(`SELECT * FROM queue_staff WHERE id = $1`, [id]);
}

export async function windowInfo(db: Db, id: string): Promise<WindowInfo | undefined> {
  const w = await windowRow(db, id);
  if (!w) return undefined;
  const items = await db.all<{ item: string }>(`SELECT item FROM queue_window_items WHERE win = $1 ORDER BY item`, [id]);
  const current = w.current_ticket ? await ticketById(db, w.current_ticket) : undefined;
  return { id: w.id, name: w.name, items: items.map((r) => r.item), paused: num(w.paused) === 1, pauseReason: w.pause_reason, staff: w.staff, current: current ? current.number : null };
}

export function itemOut(r: ItemRow): ServiceItem {
  return { code: r.code, name: r.name, department: r.department, prefix: r.prefix, limitDays: num(r.limit_days) };
}
export function staffOut(r: StaffRow): Staff {
  return { id: r.id, name: r.name, department: r.department, win: r.win, signedInAt: numOrNull(r.signed_in_at) };
}

/** Windows whose waiting count includes this ticket while it waits. */
export async function windowsFor(db: Db, ticket: Pick<TicketRow, 'item' | 'target_win'>): Promise<string[]> {
  if (ticket.target_win) return [ticket.target_win];
  const rows = await db.all<{ win: string }>(`SELECT win FROM queue_window_items WHERE item = $1 ORDER BY win`, [ticket.item]);
  return rows.map((r) => r.win);
}

export async function waitingAt(db: Db, win: string, day: string): Promise<number> {
  const row = await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM queue_tickets WHERE ${ELIGIBLE}`, [day, win]);
  return row ? num(row.n) : 0;
}

/** What a window's display shows (its ticket, status, item, the waiting count of `day`). */
export async function displayBody(db: Db, w: WindowRow, day: string, chime: boolean): Promise<CommandBodies['display']> {
const waiting = await waitingAt(db, w.id, day);
const ticket = w.current_ticket ? await ticketById(db, w.current_ticket) : undefined;
const item = ticket ? await itemRow(db, ticket.item) : undefined;
  let status: string;
  if (num(w.paused)) status = 'paused';
  else if (ticket) status = ticket.status === 'serving' ? 'serving' : num(ticket.recall_count) > 0 ? 'recalled' : 'called';
  else status = w.staff ? 'idle' : 'closed';
  return {
    win: w.id,
    ticket: ticket ? ticket.number : null,
    status,
    item: item ? item.name : ticket ? ticket.item : null,
    waiting,
    text: num(w.paused) ? w.pause_reason : null,
    chime,
  };
}

export async function setupOf(db: Db): Promise<{ departments: Department[]; items: ServiceItem[]; windows: WindowInfo[]; staff: Staff[] }> {
  const departments = await db.all<Department>(`SELECT id, name FROM queue_departments ORDER BY id`);
  const items = (await db.all<ItemRow>(`SELECT * FROM queue_items ORDER BY code`)).map(itemOut);
  const windows: WindowInfo[] = [];
  for (const w of await db.all<{ id: string }>(`SELECT id FROM queue_windows ORDER BY id`)) windows.push((await windowInfo(db, w.id))!);
  const staff = (await db.all<StaffRow>(`SELECT * FROM queue_staff ORDER BY id`)).map(staffOut);
  return { departments, items, windows, staff };
}

/** The hall at a glance: each window's number and status, waiting per item, average waits. */
export async function snapshotOf(db: Db, at: number, day: string): Promise<HallSnapshot> {
  const windows: HallSnapshot['windows'] = [];
  for (const w of await db.all<WindowRow>(`SELECT * FROM queue_windows ORDER BY id`)) {
    const d = await displayBody(db, w, day, false);
    windows.push({ id: w.id, name: w.name, status: d.status, ticket: d.ticket, item: d.item, staff: w.staff, waiting: d.waiting, paused: num(w.paused) === 1 });
  }
  const perItem = await db.all<{ item: string; waiting: number; wait_sum: number | null; called: number }>(`SELECT item,
    SUM(CASE WHEN ${WAITING} THEN 1 ELSE 0 END) AS waiting,
    SUM(CASE WHEN called_at IS NOT NULL THEN called_at - issued_at ELSE 0 END) AS wait_sum,
    SUM(CASE WHEN called_at IS NOT NULL THEN 1 ELSE 0 END) AS called
    FROM queue_tickets WHERE day = $1 GROUP BY item`, [day]);
  const byItem = new Map(perItem.map((r) => [r.item, r]));
  let waiting = 0;
  let waitSum = 0;
  let called = 0;
  const items: HallSnapshot['items'] = [];
  for (const item of (await db.all<ItemRow>(`SELECT * FROM queue_items ORDER BY code`))) {
    const r = byItem.get(item.code);
    const c = r ? num(r.called) : 0;
    const s = r ? num(r.wait_sum ?? 0) : 0;
    const wt = r ? num(r.waiting) : 0;
    waiting += wt;
    waitSum += s;
    called += c;
    items.push({ code: item.code, name: item.name, department: item.department, waiting: wt, avgWaitMs: c ? Math.round(s / c) : null });
  }
  return { at, day, waiting, avgWaitMs: called ? Math.round(waitSum / called) : null, windows, items };
}
