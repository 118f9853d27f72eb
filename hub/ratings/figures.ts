/**
 * Rating figures over a period, measured from the queue's tables (never typed in):
 *   满意率 satisfaction = levels 4–5 ÷ ratings;  差评率 bad rate = levels 1–2 ÷ ratings;
 *   主动评价率 rating rate = ratings bound to a service ÷ services finished (tickets 'done').
 * Both counts are taken over the same period: a rating by its time, a service by its finish.
 *
 * Counts come per (dimension, department, key) — a department's, window's, staff member's or
 * item's counts within one department — from the daily rollup (rollup.ts: days × groups, not
 * every row), or, for periods the rollup cannot serve, from one GROUP BY over the covering index
 * app_ratings_report (and app_tickets_report). The hall, and each dimension's ranking, is summed
 * from those rows in JS.
 */

import type { Db } from '../db/db.js';
import { HttpError as AppError } from '../http/errors.js';
import { DAY, ROLLUP_COUNTS, ROLLUP_DIMS, rollupOffset } from './rollup.js';
import { ratingCountsByGroup, ratingCountsPerDay } from './ratings.js';
import { serviceCountsByGroup, serviceCountsPerDay } from '../queue/lookup.js';
import { num } from '../db/db.js';

export interface Period { kind: 'month' | 'quarter' | 'year' | 'range'; label: string; from: number; to: number }


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
  /** Sum and number of the waits (issued → called) of the services finished. */
  waitMs: number;
  waits: number;
  /** Sum and number of the service times (served → finished) of the services finished. */
  serviceMs: number;
  services: number;
}
export interface Figures extends Counts {
  /** 满意率: levels 4–5 share, 0..1; null without ratings. */
  satisfaction: number | null;
  /** 差评率: levels 1–2 share. */
  badRate: number | null;
  /** 主动评价率: bound ratings ÷ services finished. */
  ratingRate: number | null;
  /** Mean wait and mean service time (ms) of the services finished; null without any. */
  meanWaitMs: number | null;
  meanServiceMs: number | null;
}

export function emptyCounts(): Counts {
  return { ratings: 0, good: 0, bad: 0, levels: [0, 0, 0, 0, 0], bound: 0, served: 0, waitMs: 0, waits: 0, serviceMs: 0, services: 0 };
}
export function addCounts(a: Counts, b: Counts): void {
  a.ratings += b.ratings; a.good += b.good; a.bad += b.bad; a.bound += b.bound; a.served += b.served;
  a.waitMs += b.waitMs; a.waits += b.waits; a.serviceMs += b.serviceMs; a.services += b.services;
  for (let i = 0; i < 5; i++) a.levels[i] += b.levels[i];
}
export function figuresOf(c: Counts): Figures {
  return {
    ...c, levels: [...c.levels],
    satisfaction: c.ratings ? c.good / c.ratings : null,
    badRate: c.ratings ? c.bad / c.ratings : null,
    ratingRate: c.served ? c.bound / c.served : null,
    meanWaitMs: c.waits ? c.waitMs / c.waits : null,
    meanServiceMs: c.services ? c.serviceMs / c.services : null,
  };
}

/** Adds one row of the count columns (l1..l5, bound, served, wait_ms, waits, service_ms, services). */
function addRow(c: Counts, r: Record<string, unknown>): void {
  const l = [num(r.l1), num(r.l2), num(r.l3), num(r.l4), num(r.l5)];
  for (let i = 0; i < 5; i++) c.levels[i] += l[i];
  c.ratings += l[0] + l[1] + l[2] + l[3] + l[4];
  c.good += l[3] + l[4];
  c.bad += l[0] + l[1];
  c.bound += num(r.bound);
  c.served += num(r.served);
  c.waitMs += num(r.wait_ms); c.waits += num(r.waits);
  c.serviceMs += num(r.service_ms); c.services += num(r.services);
}


export type Dimension = 'department' | 'win' | 'staff' | 'item';

/**
 * Counts of one key in one dimension, within one department: a rating or service adds to four
 * of these (its department, window, staff and item). `department` is null for unbound ratings,
 * `key` null where the dimension's id is missing.
 */
export interface GroupRow { dim: Dimension; department: string | null; key: string | null; counts: Counts }

/**
 * Where period figures come from: 'rollup' (app_rollup, see rollup.ts), 'raw' (the ratings and
 * tickets themselves), or 'auto': the rollup when it is kept for this UTC offset and the period
 * is whole local days, else raw. Both give the same counts (tests/hub/app/rollup.test.ts).
 */
export type Source = 'auto' | 'rollup' | 'raw';
export interface SourceOptions { utcOffsetMinutes: number; source?: Source }

async function pick(db: Db, from: number, to: number, o: SourceOptions): Promise<'rollup' | 'raw'> {
  const source = o.source ?? 'auto';
  if (source === 'raw') return 'raw';
  const off = o.utcOffsetMinutes * 60_000;
  const whole = (from + off) % DAY === 0 && (to + off) % DAY === 0;
  const usable = whole && (await rollupOffset(db)) === o.utcOffsetMinutes;
  if (source === 'rollup' && !usable) throw new Error(`rollup: not usable for [${from}, ${to}) at UTC offset ${o.utcOffsetMinutes} min (${whole ? 'it is kept for another offset or not built' : 'the period is not whole local days'})`);
  return usable ? 'rollup' : 'raw';
}

const undo = (s: unknown): string | null => (s === '' || s === null || s === undefined ? null : String(s));

/** Counts per (dimension, department, key) over [from, to): ratings by t, services by finished_at. */
export async function groupedCounts(db: Db, from: number, to: number, o: SourceOptions): Promise<GroupRow[]> {
  if ((await pick(db, from, to, o)) === 'rollup') {
    const off = o.utcOffsetMinutes * 60_000;
    const rows = await db.all<Record<string, string | number>>(`SELECT dim, department, key, ${ROLLUP_COUNTS.map((c) => `SUM(${c}) AS ${c}`).join(', ')}
      FROM app_rollup WHERE day >= $1 AND day < $2 GROUP BY dim, department, key`, [(from + off) / DAY, (to + off) / DAY]);
    const out: GroupRow[] = [];
    for (const r of rows) {
      const counts = emptyCounts();
      addRow(counts, r);
      // Rows whose additions were all taken away again (a finished ticket changed) count for nothing.
      if (counts.ratings === 0 && counts.served === 0 && counts.bound === 0 && counts.waits === 0 && counts.services === 0) continue;
      out.push({ dim: r.dim as Dimension, department: undo(r.department), key: undo(r.key), counts });
    }
    return out;
  }
  // Raw: the joint (window, staff, item, department) groups, then the same four one-dimension sums.
  const joint = new Map<string, { win: string | null; staff: string | null; item: string | null; department: string | null; counts: Counts }>();
  const add = (r: Record<string, unknown>) => {
    const g = { win: (r.win ?? null) as string | null, staff: (r.staff ?? null) as string | null, item: (r.item ?? null) as string | null, department: (r.department ?? null) as string | null };
    const k = JSON.stringify([g.win, g.staff, g.item, g.department]);
    let j = joint.get(k);
    if (!j) joint.set(k, j = { ...g, counts: emptyCounts() });
    addRow(j.counts, r);
  };
  for (const r of await ratingCountsByGroup(db, from, to)) add(r);
  for (const r of await serviceCountsByGroup(db, from, to)) add(r);
  const out = new Map<string, GroupRow>();
  for (const j of joint.values()) {
    for (const dim of ROLLUP_DIMS) {
      const key = j[dim];
      const k = JSON.stringify([dim, j.department, key]);
      let g = out.get(k);
      if (!g) out.set(k, g = { dim, department: j.department, key, counts: emptyCounts() });
      addCounts(g.counts, j.counts);
    }
  }
  return [...out.values()];
}

/** Rolls grouped counts up by one dimension (null keys: unbound ratings, kept apart as "(unbound)"). */
export function rollUp(groups: GroupRow[], by: Dimension): Map<string, Counts> {
  const out = new Map<string, Counts>();
  for (const g of groups) {
    if (g.dim !== by) continue;
    const k = g.key ?? '(unbound)';
    let c = out.get(k);
    if (!c) out.set(k, c = emptyCounts());
    addCounts(c, g.counts);
  }
  return out;
}

export function total(groups: GroupRow[]): Counts {
  const c = emptyCounts();
  for (const g of groups) if (g.dim === 'department') addCounts(c, g.counts);
  return c;
}

/** Daily or monthly counts of the hall (or one department) for trends: bucket = local day or month. */
export async function trend(db: Db, from: number, to: number, bucket: 'day' | 'month', o: SourceOptions, department?: string): Promise<{ bucket: string; figures: Figures }[]> {
  const off = o.utcOffsetMinutes * 60_000;
  let rows: Record<string, unknown>[];
  if ((await pick(db, from, to, o)) === 'rollup') {
    rows = await db.all(`SELECT day AS d, ${ROLLUP_COUNTS.map((c) => `SUM(${c}) AS ${c}`).join(', ')} FROM app_rollup
      WHERE dim = 'department' AND day >= $1 AND day < $2 ${department ? 'AND department = $3' : ''} GROUP BY day`,
    department ? [(from + off) / DAY, (to + off) / DAY, department] : [(from + off) / DAY, (to + off) / DAY]);
  } else {
    // Integer division gives the local day number on both engines (BIGINT / BIGINT).
    rows = [...await ratingCountsPerDay(db, from, to, off, { department }), ...await serviceCountsPerDay(db, from, to, off, department)];
  }
  const buckets = new Map<string, Counts>();
  const name = (day: number) => new Date(day * DAY).toISOString().slice(0, bucket === 'day' ? 10 : 7);
  // Every bucket of the period appears, empty ones included, so a chart has no holes.
  for (let d = Math.floor((from + off) / DAY); d * DAY - off < to; d++) if (!buckets.has(name(d))) buckets.set(name(d), emptyCounts());
  for (const r of rows) addRow(buckets.get(name(num(r.d)))!, r);
  return [...buckets.entries()].map(([b, c]) => ({ bucket: b, figures: figuresOf(c) }));
}

/** The period just before: the previous month, quarter or year, or a range of the same length ending where this one starts. */
export function previousPeriod(p: Period, utcOffsetMinutes: number): Period {
  const local = new Date(p.from + utcOffsetMinutes * 60_000);
  const y = local.getUTCFullYear();
  const m = local.getUTCMonth();
  const pad = (n: number) => String(n).padStart(2, '0');
  if (p.kind === 'month') return parsePeriod(m === 0 ? `${y - 1}-12` : `${y}-${pad(m)}`, utcOffsetMinutes);
  if (p.kind === 'quarter') {
    const q = Math.floor(m / 3) + 1;
    return parsePeriod(q === 1 ? `${y - 1}-Q4` : `${y}-Q${q - 1}`, utcOffsetMinutes);
  }
  if (p.kind === 'year') return parsePeriod(String(y - 1), utcOffsetMinutes);
  const off = utcOffsetMinutes * 60_000;
  const day = (t: number) => new Date(t + off).toISOString().slice(0, 10);
  const length = p.to - p.from;
  return parsePeriod(`${day(p.from - length)}..${day(p.from - DAY)}`, utcOffsetMinutes);
}
