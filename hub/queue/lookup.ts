/**
 * The queue's read interface for other features: a ticket's row, a window's last finished
 * service, the hall's set-up (departments, windows, staff, items), and services counted for
 * reports and commitments. Other features (ratings, channels, auth, reports, commitments) call
 * these instead of running their own SQL on queue_* tables.
 */

import type { Db } from '../db/db.js';

export interface TicketRow {
  id: string; day: string; number: string; item: string; department: string; priority: string;
  class_rank: number; case_no: string | null; channel: string; status: string; lane: number; order_key: number;
  target_win: string | null; win: string | null; staff: string | null; issued_at: number; called_at: number | null;
  served_at: number | null; finished_at: number | null; recall_count: number; noshow_count: number;
  transfer_count: number; history: string;
  /** Service time at the windows that transferred it (queue/002). */
  earlier_service_ms: number;
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

// ---------------------------------------------------------------- the hall's set-up

export async function departmentExists(db: Db, id: string): Promise<boolean> {
  return (await db.get(`SELECT id FROM queue_departments WHERE id = $1`, [id])) !== undefined;
}
export async function windowExists(db: Db, id: string): Promise<boolean> {
  return (await db.get(`SELECT id FROM queue_windows WHERE id = $1`, [id])) !== undefined;
}
export async function staffExists(db: Db, id: string): Promise<boolean> {
  return (await db.get(`SELECT id FROM queue_staff WHERE id = $1`, [id])) !== undefined;
}
/** A service item's department and time limit (承诺时限, working days), if it is set up. */
export function itemOf(db: Db, code: string): Promise<{ department: string; name: string; limit_days: number } | undefined> {
  return db.get<{ department: string; name: string; limit_days: number }>(`SELECT department, name, limit_days FROM queue_items WHERE code = $1`, [code]);
}
/** The time limit of every item, by code. */
export async function itemLimits(db: Db): Promise<Map<string, number>> {
  return new Map((await db.all<{ code: string; limit_days: number }>(`SELECT code, limit_days FROM queue_items`)).map((r) => [r.code, Number(r.limit_days)]));
}
/** The names of departments, windows, staff and items, by id (for reports). */
export async function setupNames(db: Db): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  for (const r of await db.all<{ id: string; name: string }>(`SELECT id, name FROM queue_departments UNION ALL SELECT id, name FROM queue_windows
    UNION ALL SELECT id, name FROM queue_staff UNION ALL SELECT code AS id, name FROM queue_items`)) names.set(r.id, r.name);
  return names;
}

// ---------------------------------------------------------------- services, counted (reports)

/**
 * A finished ticket's service time: its last window's part (served → finished) plus the parts
 * at the windows that transferred it (earlier_service_ms), so a transfer does not shorten it.
 */
export const SERVICE_MS = (t: string): string => `${t}.earlier_service_ms + (CASE WHEN ${t}.finished_at > ${t}.served_at THEN ${t}.finished_at - ${t}.served_at ELSE 0 END)`;

const SERVICE_COUNTS = `COUNT(*) AS served,
      SUM(CASE WHEN called_at > issued_at THEN called_at - issued_at ELSE 0 END) AS wait_ms, SUM(CASE WHEN called_at IS NOT NULL THEN 1 ELSE 0 END) AS waits,
      SUM(${SERVICE_MS('queue_tickets')}) AS service_ms, SUM(CASE WHEN served_at IS NOT NULL THEN 1 ELSE 0 END) AS services`;

/** Services finished in [from, to), counted per (window, staff, item, department). */
export function serviceCountsByGroup(db: Db, from: number, to: number): Promise<Record<string, unknown>[]> {
  return db.all(`SELECT win, staff, item, department, ${SERVICE_COUNTS}
    FROM queue_tickets WHERE finished_at >= $1 AND finished_at < $2 AND status = 'done' GROUP BY win, staff, item, department`, [from, to]);
}

/** Services finished in [from, to), counted per hall-local day number `d` (of one department, if given). */
export function serviceCountsPerDay(db: Db, from: number, to: number, offMs: number, department?: string): Promise<Record<string, unknown>[]> {
  const DAY = 86_400_000;
  return db.all(`SELECT (finished_at + ${offMs}) / ${DAY} AS d, ${SERVICE_COUNTS}
    FROM queue_tickets WHERE finished_at >= $1 AND finished_at < $2 AND status = 'done' ${department ? 'AND department = $3' : ''}
    GROUP BY (finished_at + ${offMs}) / ${DAY}`, department ? [from, to, department] : [from, to]);
}

/**
 * Hall cases (办件) of a department (and item) finished in [from, to): every 'done' ticket sharing
 * a case number (a ticket without one is its own case), attributed to the period of its last
 * finish, with its visits, first issue, last finish and the item's time limit.
 */
export function finishedCases(db: Db, department: string, item: string | null, from: number, to: number): Promise<{ c: string; visits: number; first: number; last: number; limit_days: number }[]> {
  const params: (string | number)[] = [department, from, to];
  return db.all(`
    SELECT COALESCE(t.case_no, t.id) AS c, COUNT(*) AS visits, MIN(t.issued_at) AS first, MAX(t.finished_at) AS last, MAX(i.limit_days) AS limit_days
    FROM queue_tickets t JOIN queue_items i ON i.code = t.item
    WHERE t.status = 'done' AND t.department = $1 ${item ? 'AND t.item = $4' : ''}
      AND COALESCE(t.case_no, t.id) IN (SELECT COALESCE(case_no, id) FROM queue_tickets WHERE status = 'done' AND department = $1 AND finished_at >= $2 AND finished_at < $3)
    GROUP BY COALESCE(t.case_no, t.id) HAVING MAX(t.finished_at) >= $2 AND MAX(t.finished_at) < $3`, item ? [...params, item] : params);
}

/**
 * Services finished in [from, to] that nobody rated, nor any other service of the same case
 * (办件) — for the site's default-rating rule (hub/platform/default-rating.ts). Oldest first.
 */
export function unratedServices(db: Db, from: number, to: number, limit: number): Promise<TicketRow[]> {
  return db.all<TicketRow>(`SELECT t.* FROM queue_tickets t WHERE t.status = 'done' AND t.finished_at >= $1 AND t.finished_at <= $2
    AND NOT EXISTS (SELECT 1 FROM queue_ratings r WHERE r.ticket = t.id)
    AND (t.case_no IS NULL OR NOT EXISTS (SELECT 1 FROM queue_ratings r JOIN queue_tickets o ON o.id = r.ticket WHERE o.case_no = t.case_no))
    ORDER BY t.finished_at, t.id LIMIT ${Math.max(1, Math.floor(limit))}`, [from, to]);
}
