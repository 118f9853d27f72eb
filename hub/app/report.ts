/**
 * Reports: monthly bulletin (月通报), quarterly analysis (季分析), annual review (年评议).
 * One builder for all three (the period decides): hall figures, rankings of departments,
 * windows and staff by satisfaction, the trend (daily for a month, monthly otherwise), the
 * worst-rated items with their cases, and the case figures (回访率, 整改率, overdue).
 * JSON for the dashboard, CSV for spreadsheets, PDF (pdfkit, Noto Sans CJK) for print.
 */

import PDFDocument from 'pdfkit';
import { terminalUse, terminalCsvRows, terminalPdfLines, type TerminalUse } from './report-terminals.js';
import { existsSync } from 'node:fs';
import type { Db } from '../db/db.js';
import type { Cases, Case } from './cases.js';
import { figuresOf, groupedCounts, rollUp, total, trend, type Figures, type Period, type Source } from '../ratings/figures.js';
import { toCsv } from './http-util.js';
import { setupNames } from '../queue/lookup.js';

export interface Ranked { id: string; name: string; figures: Figures; rank: number }
export interface Report {
  kind: 'monthly' | 'quarterly' | 'annual' | 'range';
  title: string;
  period: Period;
  generatedAt: number;
  hall: Figures;
  departments: Ranked[];
  windows: Ranked[];
  staff: Ranked[];
  items: Ranked[];
  trend: { bucket: string; figures: Figures }[];
  worstItems: { item: string; name: string; figures: Figures; cases: Pick<Case, 'id' | 'level' | 'reason' | 'win' | 'status' | 'outcome' | 'ratedAt'>[] }[];
  cases: Awaited<ReturnType<Cases['figures']>>;
  /** 24 h self-service terminals (report-terminals.ts). */
  terminals?: TerminalUse;
}

const TITLES = { month: '月通报', quarter: '季分析', year: '年评议', range: '评价分析' } as const;
const KINDS = { month: 'monthly', quarter: 'quarterly', year: 'annual', range: 'range' } as const;

/** Ranking by satisfaction (high first), then bad rate (low first), then more ratings; those without ratings last. */
function rank(map: Map<string, ReturnType<typeof total>>, names: Map<string, string>): Ranked[] {
  const list = [...map.entries()].filter(([id]) => id !== '(unbound)').map(([id, c]) => ({ id, name: names.get(id) ?? id, figures: figuresOf(c), rank: 0 }));
  list.sort((a, b) => (b.figures.satisfaction ?? -1) - (a.figures.satisfaction ?? -1) || (a.figures.badRate ?? 2) - (b.figures.badRate ?? 2) || b.figures.ratings - a.figures.ratings || a.id.localeCompare(b.id));
  list.forEach((r, i) => { r.rank = i + 1; });
  return list;
}

export async function buildReport(db: Db, cases: Cases, period: Period, options: { utcOffsetMinutes: number; now: number; worstItems?: number; minRatings?: number; source?: Source }): Promise<Report> {
  const source = { utcOffsetMinutes: options.utcOffsetMinutes, source: options.source };
  const groups = await groupedCounts(db, period.from, period.to, source);
  const names = await setupNames(db);
  const items = rank(rollUp(groups, 'item'), names);
  const minRatings = options.minRatings ?? 5;
  const worst = [...items].filter((i) => i.figures.ratings >= minRatings && i.figures.bad > 0)
    .sort((a, b) => (b.figures.badRate ?? 0) - (a.figures.badRate ?? 0) || b.figures.bad - a.figures.bad).slice(0, options.worstItems ?? 5);
  const worstItems: Report['worstItems'] = [];
  for (const w of worst) {
    worstItems.push({ item: w.id, name: w.name, figures: w.figures, cases: await cases.ofItem(w.id, period.from, period.to, 50) });
  }
  return {
    kind: KINDS[period.kind],
    title: `${period.label} ${TITLES[period.kind]}`,
    period,
    generatedAt: options.now,
    hall: figuresOf(total(groups)),
    departments: rank(rollUp(groups, 'department'), names),
    windows: rank(rollUp(groups, 'win'), names),
    staff: rank(rollUp(groups, 'staff'), names),
    items,
    trend: await trend(db, period.from, period.to, period.kind === 'month' || period.kind === 'range' ? 'day' : 'month', source),
    worstItems,
    cases: await cases.figures(period.from, period.to),
    terminals: await terminalUse(db, period.from, period.to),
  };
}

const pct = (v: number | null) => (v === null ? '' : (v * 100).toFixed(2) + '%');

/** The rankings as one CSV table: section, rank, id, name, ratings, satisfaction, bad rate, rating rate, services. */
export function reportCsv(r: Report): string {
  const rows: unknown[][] = [];
  const add = (section: string, list: Ranked[]) => {
    for (const x of list) rows.push([section, x.rank, x.id, x.name, x.figures.ratings, pct(x.figures.satisfaction), pct(x.figures.badRate), pct(x.figures.ratingRate), x.figures.served, x.figures.bad]);
  };
  rows.push(['hall', '', '', r.title, r.hall.ratings, pct(r.hall.satisfaction), pct(r.hall.badRate), pct(r.hall.ratingRate), r.hall.served, r.hall.bad]);
  add('department', r.departments);
  add('window', r.windows);
  add('staff', r.staff);
  add('item', r.items);
  rows.push(...terminalCsvRows(r.terminals));
  for (const t of r.trend) rows.push(['trend', '', t.bucket, '', t.figures.ratings, pct(t.figures.satisfaction), pct(t.figures.badRate), '', '', t.figures.bad]);
  return toCsv(['section', 'rank', 'id', 'name', 'ratings', 'satisfaction', 'badRate', 'ratingRate', 'served', 'bad'], rows);
}

export const CJK_FONT = '/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc';

/** A printable PDF of the report (A4, Noto Sans CJK SC). */
export function reportPdf(r: Report, hallName: string, fontFile = CJK_FONT): Promise<Buffer> {
  if (!existsSync(fontFile)) throw new Error(`report PDF: the CJK font ${fontFile} is missing (Debian: apt-get install fonts-noto-cjk)`);
  const doc = new PDFDocument({ size: 'A4', margin: 48, info: { Title: r.title, Author: hallName, Creator: 'sannuo' } });
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve, reject) => { doc.on('end', () => resolve(Buffer.concat(chunks))); doc.on('error', reject); });
  doc.registerFont('cjk', fontFile, 'NotoSansCJKsc-Regular');
  doc.font('cjk');
  doc.fontSize(18).text(`${hallName} ${r.title}`, { align: 'center' });
  doc.moveDown(0.3).fontSize(9).fillColor('#555').text(`统计期间 ${new Date(r.period.from).toISOString().slice(0, 10)} 至 ${new Date(r.period.to - 1).toISOString().slice(0, 10)}　生成于 ${new Date(r.generatedAt).toISOString().slice(0, 16).replace('T', ' ')} UTC`, { align: 'center' });
  doc.fillColor('#000').moveDown();
  const h = r.hall;
  doc.fontSize(11).text(`评价总数 ${h.ratings}　满意率 ${pct(h.satisfaction)}　差评率 ${pct(h.badRate)}　主动评价率 ${pct(h.ratingRate)}（办件 ${h.served}）`);
  doc.text(`差评 ${r.cases.cases} 件：回访率 ${pct(r.cases.callbackRate)}　整改率 ${pct(r.cases.rectifyRate)}　逾期未办 ${r.cases.overdue}　申诉成立 ${r.cases.appealsUpheld}`);
  const table = (title: string, list: Ranked[], max = 20) => {
    doc.moveDown().fontSize(13).text(title);
    doc.fontSize(9);
    const cols = [40, 150, 70, 70, 70, 70];
    const header = ['排名', '名称', '评价数', '满意率', '差评率', '主动评价率'];
    const line = (cells: string[]) => {
      if (doc.y > doc.page.height - 72) doc.addPage();
      const y = doc.y;
      let x = doc.page.margins.left;
      cells.forEach((c, i) => { doc.text(c, x, y, { width: cols[i] - 4, lineBreak: false, ellipsis: true }); x += cols[i]; });
      doc.x = doc.page.margins.left;
      doc.y = y + 14;
    };
    line(header);
    for (const x of list.slice(0, max)) line([String(x.rank), x.name, String(x.figures.ratings), pct(x.figures.satisfaction), pct(x.figures.badRate), pct(x.figures.ratingRate)]);
  };
  table('部门排名', r.departments);
  table('窗口排名', r.windows);
  table('工作人员排名', r.staff, 30);
  doc.moveDown().fontSize(13).text('差评较多的事项');
  doc.fontSize(9);
  for (const w of r.worstItems) {
    doc.text(`${w.name}：评价 ${w.figures.ratings}，差评 ${w.figures.bad}（${pct(w.figures.badRate)}），差评工单 ${w.cases.length} 件，已办结 ${w.cases.filter((c) => c.status === 'closed').length} 件`);
  }
  doc.moveDown().fontSize(13).text('自助终端');
  doc.fontSize(9);
  for (const line of terminalPdfLines(r.terminals)) doc.text(line);
  doc.moveDown().fontSize(13).text(r.period.kind === 'month' ? '每日趋势' : '每月趋势');
  doc.fontSize(8).text(r.trend.filter((t) => t.figures.ratings > 0).map((t) => `${t.bucket} ${t.figures.ratings}条 满意${pct(t.figures.satisfaction)}`).join('；') || '本期无评价');
  doc.end();
  return done;
}
