/**
 * Rating figures over a period, measured from the queue's tables (never typed in):
 *   满意率 satisfaction = levels 4–5 ÷ ratings;  差评率 bad rate = levels 1–2 ÷ ratings;
 *   主动评价率 rating rate = ratings bound to a service ÷ services finished (tickets 'done').
 * Both counts are taken over the same period: a rating by its time, a service by its finish.
 *
 * One GROUP BY over the covering index app_ratings_report (and one over app_tickets_report)
 * gives counts per (window, staff, item, department); departments, windows, staff, items and
 * the hall are rolled up from those few hundred groups in JS, so a month of a million ratings
 * is read once.
 */

import type { Db } from '../db/db.js';
import { AppError, num } from './http-util.js';

export interface Period { kind: 'month' | 'quarter' | 'year' | 'range'; label: string; from: number; to: number }

const DAY = 86_400_000; // milliseconds

/** "2025-03", "2025-Q1", "2025", or "2025-03-01..2025-03-15" (inclusive dates), in the hall's local time. */
export function parsePeriod(text: unknown, utcOffsetMinutes: number, field = 'period'): Period {
  const off = utcOffsetMinutes * 60_000;
  const local = (y: number, m: number, d = 1) => Date.UTC(y, m, d) - off;
  if (typeof text !== 'string') throw new AppError(400, `${field}: expected YYYY-MM, YYYY-Qn, YYYY or YYYY-MM-DD..YYYY-MM-DD`, field);
  let m = /^(\d{4})-(\d{2})$/.exec(text);
  if (m && +m[2] >= 1 && +m[2] <= 12) return { kind: 'month', label: text, from: local(+m[1], +m[2] - 1), to: local(+m[1], +m[2]) };
  m = /^(\d{4})-Q([1-4])$/.exec(text);
  if (m) return { kind: 'quarter', label: text, from: local(+m[1], (+m[2] - 1) * 3), to: local(+m[1], +m[2] * 3) };
  m = /^(\d{4})$/.exec(text);
  if (m) return { kind: 'year', label: text, from: local(+m[1], 0), to: local(+m[1] + 1, 0) };
  m = /^(\d{4})-(\d{2})-(\d{2})\.\.(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (m) {
    const from = local(+m[1], +m[2] - 1, +m[3]);
    const to = local(+m[4], +m[5] - 1, +m[6]) + DAY;
    if (to > from) return { kind: 'range', label: text, from, to };
  }
  throw new AppError(400, `${field}: "${text}" is not a period (expected YYYY-MM, YYYY-Qn, YYYY or YYYY-MM-DD..YYYY-MM-DD)`, field);
}

/** The months (YYYY-MM) a period covers, for trends. */
export function monthsOf(p: Period, utcOffsetMinutes: number): string[] {
  const out: string[] = [];
  const off = utcOffsetMinutes * 60_000;
  const d = new Date(p.from + off);
  let y = d.getUTCFullYear();
  let m = d.getUTCMonth();
  while (Date.UTC(y, m, 1) - off < p.to) {
    out.push(`${y}-${String(m + 1).padStart(2, '0')}`);
    if (++m === 12) { m = 0; y++; }
  }
  return out;
}

export interface Counts {
  ratings: number;
  good: number;
  bad: number;
  levels: [number, number, number, number, number];
  bound: number;
  served: number;
}
export interface Figures extends Counts {
  /** 满意率: levels 4–5 share, 0..1; null without ratings. */
  satisfaction: number | null;
  /** 差评率: levels 1–2 share. */
  badRate: number | null;
  /** 主动评价率: bound ratings ÷ services finished. */
  ratingRate: number | null;
}

export function emptyCounts(): Counts {
  return { ratings: 0, good: 0, bad: 0, levels: [0, 0, 0, 0, 0], bound: 0, served: 0 };
}
export function addCounts(a: Counts, b: Counts): void {
  a.ratings += b.ratings; a.good += b.good; a.bad += b.bad; a.bound += b.bound; a.served += b.served;
  for (let i = 0; i < 5; i++) a.levels[i] += b.levels[i];
}
export function figuresOf(c: Counts): Figures {
  return {
    ...c, levels: [...c.levels],
    satisfaction: c.ratings ? c.good / c.ratings : null,
    badRate: c.ratings ? c.bad / c.ratings : null,
    ratingRate: c.served ? c.bound / c.served : null,
  };
}

export interface GroupRow { win: string | null; staff: string | null; item: string | null; department: string | null; counts: Counts }

/** Counts per (window, staff, item, department) over [from, to): ratings by t, services by finished_at. */
export async function groupedCounts(db: Db, from: number, to: number): Promise<GroupRow[]> {
  const groups = new Map<string, GroupRow>();
  const key = (r: { win: string | null; staff: string | null; item: string | null; department: string | null }) => JSON.stringify([r.win, r.staff, r.item, r.department]);
  const get = (r: { win: string | null; staff: string | null; item: string | null; department: string | null }) => {
    const k = key(r);
    let g = groups.get(k);
    if (!g) groups.set(k, g = { win: r.win, staff: r.staff, item: r.item, department: r.department, counts: emptyCounts() });
    return g;
  };
  const ratings = await db.all<{ win: string; staff: string | null; item: string | null; department: string | null; l1: number; l2: number; l3: number; l4: number; l5: number; bound: number }>(`
    SELECT win, staff, item, department,
      SUM(CASE WHEN level = 1 THEN 1 ELSE 0 END) AS l1, SUM(CASE WHEN level = 2 THEN 1 ELSE 0 END) AS l2,
      SUM(CASE WHEN level = 3 THEN 1 ELSE 0 END) AS l3, SUM(CASE WHEN level = 4 THEN 1 ELSE 0 END) AS l4,
      SUM(CASE WHEN level = 5 THEN 1 ELSE 0 END) AS l5, SUM(CASE WHEN bound <> 'unbound' THEN 1 ELSE 0 END) AS bound
    FROM queue_ratings WHERE t >= $1 AND t < $2 GROUP BY win, staff, item, department`, [from, to]);
  for (const r of ratings) {
    const c = get(r).counts;
    const l = [num(r.l1), num(r.l2), num(r.l3), num(r.l4), num(r.l5)];
    for (let i = 0; i < 5; i++) c.levels[i] += l[i];
    c.ratings += l[0] + l[1] + l[2] + l[3] + l[4];
    c.good += l[3] + l[4];
    c.bad += l[0] + l[1];
    c.bound += num(r.bound);
  }
  const served = await db.all<{ win: string | null; staff: string | null; item: string; department: string; n: number }>(`
    SELECT win, staff, item, department, COUNT(*) AS n FROM queue_tickets
    WHERE finished_at >= $1 AND finished_at < $2 AND status = 'done' GROUP BY win, staff, item, department`, [from, to]);
  for (const r of served) get(r).counts.served += num(r.n);
  return [...groups.values()];
}

export type Dimension = 'department' | 'win' | 'staff' | 'item';

/** Rolls grouped counts up by one dimension (null keys: unbound ratings, kept apart as "(unbound)"). */
export function rollUp(groups: GroupRow[], by: Dimension): Map<string, Counts> {
  const out = new Map<string, Counts>();
  for (const g of groups) {
    const k = g[by] ?? '(unbound)';
    let c = out.get(k);
    if (!c) out.set(k, c = emptyCounts());
    addCounts(c, g.counts);
  }
  return out;
}

export function total(groups: GroupRow[]): Counts {
  const c = emptyCounts();
  for (const g of groups) addCounts(c, g.counts);
  return c;
}

/** Daily or monthly counts of the hall (or one department) for trends: bucket = local day or month. */
export async function trend(db: Db, from: number, to: number, bucket: 'day' | 'month', utcOffsetMinutes: number, department?: string): Promise<{ bucket: string; figures: Figures }[]> {
  const off = utcOffsetMinutes * 60_000;
  // Integer division gives the local day number on both engines (BIGINT / BIGINT).
  const rows = await db.all<{ d: number; n: number; good: number; bad: number }>(`
    SELECT (t + ${off}) / ${DAY} AS d, COUNT(*) AS n, SUM(CASE WHEN level >= 4 THEN 1 ELSE 0 END) AS good, SUM(CASE WHEN level <= 2 THEN 1 ELSE 0 END) AS bad
    FROM queue_ratings WHERE t >= $1 AND t < $2 ${department ? 'AND department = $3' : ''} GROUP BY (t + ${off}) / ${DAY}`,
  department ? [from, to, department] : [from, to]);
  const buckets = new Map<string, Counts>();
  const name = (day: number) => new Date(day * DAY).toISOString().slice(0, bucket === 'day' ? 10 : 7);
  // Every bucket of the period appears, empty ones included, so a chart has no holes.
  for (let d = Math.floor((from + off) / DAY); d * DAY - off < to; d++) if (!buckets.has(name(d))) buckets.set(name(d), emptyCounts());
  for (const r of rows) {
    const c = buckets.get(name(num(r.d)))!;
    c.ratings += num(r.n); c.good += num(r.good); c.bad += num(r.bad);
  }
  return [...buckets.entries()].map(([b, c]) => ({ bucket: b, figures: figuresOf(c) }));
}
