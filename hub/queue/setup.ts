/**
 * The hall's set-up as the queue stores it (departments, service items, windows, staff) and
 * staff signing in and out, each inside the caller's transaction; and the small steps every
 * queue change takes (a ticket's history, its times that never run backwards, the verdicts).
 * QueueService (service.ts) wraps them in its transactions and sends their effects.
 */

import type { Db } from '../db/db.js';
import type { LedgerAppender, Applied, Effect } from '../seams.js';
import type { TicketRow } from './lookup.js';
import { QueueError, type Department, type ServiceItem, type Staff, type TicketHistoryEntry } from './types.js';
import { itemRow, num, numOrNull, staffOut, staffRow, windowRow } from './views.js';

export async function putDepartmentRow(tx: Db, d: Department, at: number): Promise<Department> {
  await tx.run(`INSERT INTO queue_departments (id, name, updated_at) VALUES ($1, $2, $3)
    ON CONFLICT (id) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at`, [d.id, d.name, at]);
  return d;
}

export async function putItemRow(tx: Db, item: ServiceItem, at: number): Promise<ServiceItem> {
  if (!(await tx.get(`SELECT id FROM queue_departments WHERE id = $1`, [item.department]))) {
    throw new QueueError(400, `department: ${item.department} is not set up in this hall`, 'department');
  }
  await tx.run(`INSERT INTO queue_items (code, name, department, prefix, limit_days, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (code) DO UPDATE SET name = excluded.name, department = excluded.department, prefix = excluded.prefix,
    limit_days = excluded.limit_days, updated_at = excluded.updated_at`,
    [item.code, item.name, item.department, item.prefix, item.limitDays, at]);
  return item;
}

/** A window and the items it serves (every item must be set up). */
export async function putWindowRow(tx: Db, input: { id: string; name: string; items: string[] }, at: number): Promise<void> {
  for (let i = 0; i < input.items.length; i++) {
    if (!(await itemRow(tx, input.items[i]))) throw new QueueError(400, `items[${i}]: service item ${input.items[i]} is not set up in this hall`, `items[${i}]`);
  }
  await tx.run(`INSERT INTO queue_windows (id, name, paused, updated_at) VALUES ($1, $2, 0, $3)
    ON CONFLICT (id) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at`, [input.id, input.name, at]);
  await tx.run(`DELETE FROM queue_window_items WHERE win = $1`, [input.id]);
  for (const item of new Set(input.items)) await tx.run(`INSERT INTO queue_window_items (win, item) VALUES ($1, $2)`, [input.id, item]);
}

export async function putStaffRow(tx: Db, s: { id: string; name: string; department: string }, at: number): Promise<Staff> {
  if (!(await tx.get(`SELECT id FROM queue_departments WHERE id = $1`, [s.department]))) {
    throw new QueueError(400, `department: ${s.department} is not set up in this hall`, 'department');
  }
  await tx.run(`INSERT INTO queue_staff (id, name, department, updated_at) VALUES ($1, $2, $3, $4)
    ON CONFLICT (id) DO UPDATE SET name = excluded.name, department = excluded.department, updated_at = excluded.updated_at`,
    [s.id, s.name, s.department, at]);
  return staffOut((await staffRow(tx, s.id))!);
}

/** Signs staff in at a window (a ledger row); returns the windows whose display changed (the staff member's previous window). */
export async function signInRow(tx: Db, ledger: LedgerAppender, hall: string, staff: string, win: string, at: number): Promise<string[]> {
  const s = (await staffRow(tx, staff))!;
  const w = (await windowRow(tx, win))!;
  const touched: string[] = [];
  if (s.win && s.win !== win) {
    await tx.run(`UPDATE queue_windows SET staff = NULL, updated_at = $2 WHERE id = $1 AND staff = $3`, [s.win, at, staff]);
    touched.push(s.win);
  }
  if (w.staff && w.staff !== staff) await tx.run(`UPDATE queue_staff SET win = NULL, signed_in_at = NULL, updated_at = $2 WHERE id = $1`, [w.staff, at]);
  await tx.run(`UPDATE queue_staff SET win = $2, signed_in_at = $3, updated_at = $3 WHERE id = $1`, [staff, win, at]);
  await tx.run(`UPDATE queue_windows SET staff = $2, updated_at = $3 WHERE id = $1`, [win, staff, at]);
  await ledger.append(tx, [{ kind: 'staff', dev: null, boot: null, seq: null, at, body: { hall, action: 'sign-in', staff, win, replaced: w.staff } }]);
  return touched;
}

/** Signs the window's staff out (a ledger row). */
export async function signOutRow(tx: Db, ledger: LedgerAppender, hall: string, staff: string, win: string, at: number): Promise<void> {
  await tx.run(`UPDATE queue_staff SET win = NULL, signed_in_at = NULL, updated_at = $2 WHERE id = $1`, [staff, at]);
  await tx.run(`UPDATE queue_windows SET staff = NULL, updated_at = $2 WHERE id = $1`, [win, at]);
  await ledger.append(tx, [{ kind: 'staff', dev: null, boot: null, seq: null, at, body: { hall, action: 'sign-out', staff, win } }]);
}

// ---------------------------------------------------------------- steps of every change

export function committed(effects: Effect[]): Applied {
  return { verdict: 'committed', reason: null, effects };
}
export function refused(reason: string): Applied {
  return { verdict: 'refused', reason, effects: [] };
}

/** A ticket's times never run backwards, whatever a device's clock says. */
export function lastTime(t: TicketRow): number {
  return Math.max(num(t.issued_at), numOrNull(t.called_at) ?? 0, numOrNull(t.served_at) ?? 0);
}

export function addHistory(t: TicketRow, ...entries: TicketHistoryEntry[]): string {
  const history = JSON.parse(t.history) as TicketHistoryEntry[];
  history.push(...entries);
  return JSON.stringify(history);
}

/** The next number of a day's counter (ticket numbers per prefix, the line's order). */
export async function nextCounter(tx: Db, day: string, name: string): Promise<number> {
  await tx.run(`INSERT INTO queue_counters (day, name, last) VALUES ($1, $2, 0) ON CONFLICT (day, name) DO NOTHING`, [day, name]);
  const row = await tx.get<{ last: number }>(`UPDATE queue_counters SET last = last + 1 WHERE day = $1 AND name = $2 RETURNING last`, [day, name]);
  return num(row!.last);
}
