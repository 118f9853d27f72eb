/**
 * The day's sections of the reports (issue 15), beside report.ts: 一件事一次办 packages (count,
 * on-site time per item, the promised limit against the sum of the items' statutory limits —
 * the seed's −70 % — and satisfaction), 通办/帮办 tags with satisfaction, tickets closed at
 * closing by reason, and appointments by outcome. Every figure is counted from raw rows in the
 * period (tickets by issue time, ratings bound to those tickets). A database without the day's
 * tables (a hall that never ran hub/day) has empty sections.
 */

import type PDFKit from 'pdfkit';
import type { Db } from '../db/db.js';
import { num } from '../db/db.js';
import { BAD_RATING_MAX } from '../../firmware/core/protocol.js';
import { TAG_NAMES } from '../day/tags.js';

export interface Satisfaction { ratings: number; good: number; bad: number; satisfaction: number | null }
export interface PackageFigures extends Satisfaction {
  code: string; name: string; tickets: number; done: number; closed: number;
  /** Mean minutes from issue to the end of the last step, over done tickets. */
  meanMinutes: number | null;
  steps: { item: string; name: string; limitDays: number; served: number; meanMinutes: number | null }[];
  limitDays: number; itemLimitDays: number;
  /** 1 − limitDays ÷ itemLimitDays: 0.7 is the seed's "time cut by 70 %". */
  compression: number | null;
}
export interface TagFigures extends Satisfaction { tag: string; name: string; tickets: number; done: number }
export interface DayReport {
  packages: PackageFigures[];
  tags: TagFigures[];
  closed: { reason: string; tickets: number }[];
  appointments: { status: string; bookings: number }[];
}

const EMPTY: DayReport = { packages: [], tags: [], closed: [], appointments: [] };

async function hasDayTables(db: Db): Promise<boolean> {
  const sql = db.dialect === 'sqlite' ? `SELECT name AS t FROM sqlite_master WHERE type = 'table' AND name = 'day_packages'` : `SELECT to_regclass('day_packages')::text AS t`;
  const row = await db.get<{ t: string | null }>(sql);
  return !!row?.t;
}

function satisfactionOf(r: Record<string, unknown>): Satisfaction {
  const ratings = num(r.ratings);
  return { ratings, good: num(r.good), bad: num(r.bad), satisfaction: ratings ? num(r.good) / ratings : null };
}

const RATED = `SUM(CASE WHEN r.level IS NOT NULL THEN 1 ELSE 0 END) AS ratings, SUM(CASE WHEN r.level >= 4 THEN 1 ELSE 0 END) AS good,
  SUM(CASE WHEN r.level <= ${BAD_RATING_MAX} THEN 1 ELSE 0 END) AS bad`;
const JOIN_RATINGS = `LEFT JOIN queue_ratings r ON r.ticket = t.id AND r.bound <> 'unbound'`;

export async function dayReport(db: Db, period: { from: number; to: number }): Promise<DayReport> {
  if (!(await hasDayTables(db))) return EMPTY;
  const { from, to } = period;
  const packages: PackageFigures[] = [];
  const itemRows = await db.all<{ code: string; name: string; limit_days: number }>(`SELECT code, name, limit_days FROM queue_items`);
  const items = new Map(itemRows.map((i) => [i.code, i]));
  for (const p of await db.all<{ code: string; name: string; limit_days: number; steps: string }>(`SELECT * FROM day_packages ORDER BY code`)) {
    const t = (await db.get<Record<string, unknown>>(`SELECT COUNT(*) AS tickets, SUM(CASE WHEN t.status = 'done' THEN 1 ELSE 0 END) AS done,
      SUM(CASE WHEN t.status = 'closed' THEN 1 ELSE 0 END) AS closed,
      SUM(CASE WHEN t.status = 'done' THEN t.finished_at - t.issued_at ELSE 0 END) AS done_ms, ${RATED}
      FROM day_package_tickets pt JOIN queue_tickets t ON t.id = pt.ticket ${JOIN_RATINGS}
      WHERE pt.package = $1 AND t.issued_at >= $2 AND t.issued_at < $3`, [p.code, from, to]))!;
    const stepRows = await db.all<{ item: string; n: number; ms: number }>(`SELECT s.item, COUNT(*) AS n, SUM(s.finished_at - s.started_at) AS ms
      FROM day_package_steps s JOIN day_package_tickets pt ON pt.ticket = s.ticket JOIN queue_tickets t ON t.id = s.ticket
      WHERE pt.package = $1 AND t.issued_at >= $2 AND t.issued_at < $3 GROUP BY s.item`, [p.code, from, to]);
    const byItem = new Map(stepRows.map((s) => [s.item, s]));
    const steps = (JSON.parse(p.steps) as { item: string }[]).map((s) => {
      const row = byItem.get(s.item);
      const served = row ? num(row.n) : 0;
      return { item: s.item, name: items.get(s.item)?.name ?? s.item, limitDays: num(items.get(s.item)?.limit_days ?? 0), served, meanMinutes: served ? num(row!.ms) / served / 60_000 : null };
    });
    const itemLimitDays = steps.reduce((a, s) => a + s.limitDays, 0);
    const done = num(t.done);
    packages.push({
      code: p.code, name: p.name, tickets: num(t.tickets), done, closed: num(t.closed), meanMinutes: done ? num(t.done_ms) / done / 60_000 : null,
      steps, limitDays: num(p.limit_days), itemLimitDays, compression: itemLimitDays ? 1 - num(p.limit_days) / itemLimitDays : null, ...satisfactionOf(t),
    });
  }
  const tagRows = await db.all<Record<string, unknown> & { tag: string }>(`SELECT g.tag, COUNT(*) AS tickets, SUM(CASE WHEN t.status = 'done' THEN 1 ELSE 0 END) AS done, ${RATED}
    FROM day_ticket_tags g JOIN queue_tickets t ON t.id = g.ticket ${JOIN_RATINGS}
    WHERE t.issued_at >= $1 AND t.issued_at < $2 GROUP BY g.tag ORDER BY g.tag`, [from, to]);
  const tags = tagRows.map((r) => ({ tag: r.tag, name: (TAG_NAMES as Record<string, string>)[r.tag] ?? r.tag, tickets: num(r.tickets), done: num(r.done), ...satisfactionOf(r) }));
  const closed = (await db.all<{ reason: string; n: number }>(`SELECT c.reason, COUNT(*) AS n FROM day_closed_tickets c JOIN queue_tickets t ON t.id = c.ticket
    WHERE t.issued_at >= $1 AND t.issued_at < $2 GROUP BY c.reason ORDER BY c.reason`, [from, to])).map((r) => ({ reason: r.reason, tickets: num(r.n) }));
  const appointments = (await db.all<{ status: string; n: number }>(`SELECT b.status, COUNT(*) AS n FROM day_bookings b JOIN day_slots s ON s.id = b.slot
    WHERE s.starts_at >= $1 AND s.starts_at < $2 GROUP BY b.status ORDER BY b.status`, [from, to])).map((r) => ({ status: r.status, bookings: num(r.n) }));
  return { packages, tags, closed, appointments };
}

const pct = (v: number | null) => (v === null ? '' : (v * 100).toFixed(2) + '%');
const minutes = (v: number | null) => (v === null ? '' : v.toFixed(1));

/**
 * Rows in the report CSV's own columns (section, rank, id, name, ratings, satisfaction, badRate,
 * ratingRate, served, bad). 'package': served = done tickets; 'package-limit': name says the
 * limits, ratingRate the compression, served the mean minutes on site; 'package-step': served
 * the step's services, ratingRate its mean minutes; 'tag': served = done; 'closed' and
 * 'appointment': served = the count.
 */
export function dayCsvRows(d: DayReport): unknown[][] {
  const rows: unknown[][] = [];
  for (const p of d.packages) {
    rows.push(['package', '', p.code, p.name, p.ratings, pct(p.satisfaction), pct(p.ratings ? p.bad / p.ratings : null), '', p.done, p.bad]);
    rows.push(['package-limit', '', p.code, `承诺 ${p.limitDays} 个工作日 / 单项合计 ${p.itemLimitDays} 个工作日`, '', '', '', pct(p.compression), minutes(p.meanMinutes), '']);
    for (const s of p.steps) rows.push(['package-step', '', `${p.code}/${s.item}`, s.name, '', '', '', minutes(s.meanMinutes), s.served, '']);
  }
  for (const t of d.tags) rows.push(['tag', '', t.tag, t.name, t.ratings, pct(t.satisfaction), pct(t.ratings ? t.bad / t.ratings : null), '', t.done, t.bad]);
  for (const c of d.closed) rows.push(['closed', '', c.reason, '', '', '', '', '', c.tickets, '']);
  for (const a of d.appointments) rows.push(['appointment', '', a.status, '', '', '', '', '', a.bookings, '']);
  return rows;
}

/** The day's sections of the printed report. */
export function dayPdf(doc: PDFKit.PDFDocument, d: DayReport): void {
  doc.moveDown().fontSize(13).text('一件事一次办');
  doc.fontSize(9);
  if (!d.packages.length) doc.text('本期无套餐办件');
  for (const p of d.packages) {
    doc.text(`${p.name}：办件 ${p.tickets}，办结 ${p.done}，闭厅未办 ${p.closed}，平均现场用时 ${minutes(p.meanMinutes)} 分钟；承诺 ${p.limitDays} 个工作日，单项法定时限合计 ${p.itemLimitDays} 个工作日（压缩 ${pct(p.compression)}）；评价 ${p.ratings}，满意率 ${pct(p.satisfaction)}`);
    doc.text(p.steps.map((s) => `${s.name} ${s.served} 次 平均 ${minutes(s.meanMinutes)} 分钟`).join('；'));
  }
  doc.moveDown().fontSize(13).text('通办与帮办');
  doc.fontSize(9).text(d.tags.map((t) => `${t.name}：办件 ${t.tickets}，办结 ${t.done}，评价 ${t.ratings}，满意率 ${pct(t.satisfaction)}`).join('；') || '本期无');
  doc.moveDown().fontSize(13).text('闭厅与预约');
  doc.fontSize(9).text(`闭厅时未办：${d.closed.map((c) => `${c.reason} ${c.tickets}`).join('，') || '无'}；预约：${d.appointments.map((a) => `${a.status} ${a.bookings}`).join('，') || '无'}`);
}
