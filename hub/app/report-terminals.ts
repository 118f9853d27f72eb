/**
 * The report's self-service terminal section (24 h 自助): per item, the sessions that ended in
 * the period, their mean duration, how many were rated, and 满意率 / 差评率 of those ratings,
 * measured from terminal_sessions (hub/terminals/sessions.ts).
 */

import { num, type Db } from '../db/db.js';

export interface TerminalItemUse {
  item: string; name: string; sessions: number; meanMs: number | null; rated: number; good: number; bad: number;
  satisfaction: number | null; badRate: number | null;
}
export interface TerminalUse { sessions: number; meanMs: number | null; items: TerminalItemUse[] }

export async function terminalUse(db: Db, from: number, to: number): Promise<TerminalUse> {
  const rows = await db.all<Record<string, unknown>>(`SELECT s.item, i.name, COUNT(*) AS sessions, SUM(s.duration_ms) AS total_ms,
      SUM(CASE WHEN s.level IS NOT NULL THEN 1 ELSE 0 END) AS rated, SUM(CASE WHEN s.level >= 4 THEN 1 ELSE 0 END) AS good,
      SUM(CASE WHEN s.level <= 2 THEN 1 ELSE 0 END) AS bad
    FROM terminal_sessions s LEFT JOIN queue_items i ON i.code = s.item WHERE s.end_at >= $1 AND s.end_at < $2 GROUP BY s.item, i.name ORDER BY s.item`, [from, to]);
  let sessions = 0;
  let totalMs = 0;
  const items = rows.map((r) => {
    const n = num(r.sessions);
    const rated = num(r.rated);
    sessions += n;
    totalMs += num(r.total_ms);
    return {
      item: String(r.item), name: r.name === null ? String(r.item) : String(r.name), sessions: n, meanMs: n ? num(r.total_ms) / n : null,
      rated, good: num(r.good), bad: num(r.bad), satisfaction: rated ? num(r.good) / rated : null, badRate: rated ? num(r.bad) / rated : null,
    };
  });
  return { sessions, meanMs: sessions ? totalMs / sessions : null, items };
}

const pct = (v: number | null) => (v === null ? '' : (v * 100).toFixed(2) + '%');

/** CSV rows in the report's columns: 'terminal' (ratings = rated, ratingRate = rated ÷ sessions, served = sessions) and 'terminal-duration' (served = mean seconds). */
export function terminalCsvRows(t: TerminalUse | undefined): unknown[][] {
  const rows: unknown[][] = [];
  for (const x of t?.items ?? []) {
    rows.push(['terminal', '', x.item, x.name, x.rated, pct(x.satisfaction), pct(x.badRate), pct(x.sessions ? x.rated / x.sessions : null), x.sessions, x.bad]);
    rows.push(['terminal-duration', '', x.item, x.name, '', '', '', '', x.meanMs === null ? '' : (x.meanMs / 1000).toFixed(1), '']);
  }
  return rows;
}

/** The PDF's lines for the section. */
export function terminalPdfLines(t: TerminalUse | undefined): string[] {
  if (!t || t.sessions === 0) return ['本期无自助终端办理'];
  const min = (ms: number | null) => (ms === null ? '—' : `${(ms / 60_000).toFixed(1)} 分钟`);
  return [`自助终端办理 ${t.sessions} 次，平均用时 ${min(t.meanMs)}`,
    ...t.items.map((x) => `${x.name}：${x.sessions} 次，平均 ${min(x.meanMs)}，评价 ${x.rated}，满意率 ${pct(x.satisfaction) || '—'}`)];
}
