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
import { figuresOf, groupedCounts, previousPeriod, rollUp, total, trend, type Figures, type Period, type Source } from '../ratings/figures.js';
import { reportTimes, withMeans, type TimeFigures } from './report-times.js';
import { toCsv } from './http-util.js';
import { setupNames } from '../queue/lookup.js';
import { dayCsvRows, dayPdf, dayReport, type DayReport } from './report-day.js';

export interface Ranked { id: string; name: string; figures: Figures; times: TimeFigures; rank: number }
type CaseFigures = Awaited<ReturnType<Cases['figures']>>;

/** The period before, for 环比: its hall figures and the change of each (this minus that). */
export interface Comparison {
  period: Period;
  hall: Figures;
  times: TimeFigures;
  cases: CaseFigures;
  change: { ratings: number; satisfaction: number | null; badRate: number | null; ratingRate: number | null; meanWaitMs: number | null; meanServiceMs: number | null; callbackRate: number | null; rectifyRate: number | null };
}

export interface Report {
  kind: 'monthly' | 'quarterly' | 'annual' | 'range';
  title: string;
  /** The hall's own name (settings.hallName), on every form of the report. */
  hallName: string;
  /** The site's time zone the periods and times are written in, e.g. "UTC+08:00 北京时间". */
  timeZone: string;
  /** A department head's report covers their department only. */
  scope: { department: string | null; name: string | null };
  period: Period;
  generatedAt: number;
  hall: Figures;
  times: TimeFigures;
  departments: Ranked[];
  windows: Ranked[];
  staff: Ranked[];
  items: Ranked[];
  trend: { bucket: string; figures: Figures }[];
  worstItems: { item: string; name: string; figures: Figures; cases: Pick<Case, 'id' | 'level' | 'reason' | 'win' | 'status' | 'outcome' | 'ratedAt'>[] }[];
  cases: CaseFigures;
  previous: Comparison;
  /** Packages, 通办/帮办 tags, closing and appointments (report-day.ts). */
  day: DayReport;
  /** 24 h self-service terminals (report-terminals.ts). */
  terminals?: TerminalUse;
}

const TITLES = { month: '月通报', quarter: '季分析', year: '年评议', range: '评价分析' } as const;
const KINDS = { month: 'monthly', quarter: 'quarterly', year: 'annual', range: 'range' } as const;

/** Ranking by satisfaction (high first), then bad rate (low first), then more ratings; those without ratings last. */
function rank(map: Map<string, ReturnType<typeof total>>, names: Map<string, string>, times?: Map<string, TimeFigures>): Ranked[] {
  const list = [...map.entries()].filter(([id]) => id !== '(unbound)').map(([id, c]) => ({ id, name: names.get(id) ?? id, figures: figuresOf(c), times: withMeans(times?.get(id), c), rank: 0 }));
  list.sort((a, b) => (b.figures.satisfaction ?? -1) - (a.figures.satisfaction ?? -1) || (a.figures.badRate ?? 2) - (b.figures.badRate ?? 2) || b.figures.ratings - a.figures.ratings || a.id.localeCompare(b.id));
  list.forEach((r, i) => { r.rank = i + 1; });
  return list;
}

const minus = (a: number | null, b: number | null) => (a === null || b === null ? null : a - b);

/** "UTC+08:00 北京时间" for China's offset, "UTC−05:00" elsewhere. */
export function timeZoneLabel(utcOffsetMinutes: number): string {
  const sign = utcOffsetMinutes < 0 ? '−' : '+';
  const m = Math.abs(utcOffsetMinutes);
  const label = `UTC${sign}${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  return utcOffsetMinutes === 480 ? `${label} 北京时间` : label;
}

/** A time as the hall's local "YYYY-MM-DD HH:MM" (or the date alone). */
export function localTime(t: number, utcOffsetMinutes: number, dateOnly = false): string {
  const iso = new Date(t + utcOffsetMinutes * 60_000).toISOString();
  return dateOnly ? iso.slice(0, 10) : `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
}

export interface ReportOptions {
  utcOffsetMinutes: number;
  now: number;
  /** The hall's name on the report; the hub passes settings.hallName. */
  hallName?: string;
  /** A head's report: only this department's ratings, services, cases and trend. */
  department?: string | null;
  worstItems?: number;
  minRatings?: number;
  source?: Source;
}

/** Hall figures and times of one period (and department), for the report and its comparison. */
async function periodFigures(db: Db, period: Period, o: ReportOptions) {
  const source = { utcOffsetMinutes: o.utcOffsetMinutes, source: o.source };
  let groups = await groupedCounts(db, period.from, period.to, source);
  if (o.department) groups = groups.filter((g) => g.department === o.department);
  const times = await reportTimes(db, period.from, period.to, o.utcOffsetMinutes, o.department ?? undefined, o.source);
  const counts = total(groups);
  return { groups, times, counts, hall: figuresOf(counts), hallTimes: withMeans(times.hall, counts) };
}

export async function buildReport(db: Db, cases: Cases, period: Period, options: ReportOptions): Promise<Report> {
  const source = { utcOffsetMinutes: options.utcOffsetMinutes, source: options.source };
  const department = options.department ?? null;
  const now = await periodFigures(db, period, options);
  const names = await setupNames(db);
  const items = rank(rollUp(now.groups, 'item'), names, now.times.item);
  const minRatings = options.minRatings ?? 5;
  const worst = [...items].filter((i) => i.figures.ratings >= minRatings && i.figures.bad > 0)
    .sort((a, b) => (b.figures.badRate ?? 0) - (a.figures.badRate ?? 0) || b.figures.bad - a.figures.bad).slice(0, options.worstItems ?? 5);
  const worstItems: Report['worstItems'] = [];
  for (const w of worst) {
    worstItems.push({ item: w.id, name: w.name, figures: w.figures, cases: await cases.ofItem(w.id, period.from, period.to, 50) });
  }
  const caseFigures = await cases.figures(period.from, period.to, department ?? undefined);
  const before = previousPeriod(period, options.utcOffsetMinutes);
  const then = await periodFigures(db, before, options);
  const thenCases = await cases.figures(before.from, before.to, department ?? undefined);
  const scopeName = department ? names.get(department) ?? department : null;
  return {
    kind: KINDS[period.kind],
    title: `${period.label} ${TITLES[period.kind]}${scopeName ? ` · ${scopeName}` : ''}`,
    hallName: options.hallName ?? '政务服务大厅',
    timeZone: timeZoneLabel(options.utcOffsetMinutes),
    scope: { department, name: scopeName },
    period,
    generatedAt: options.now,
    hall: now.hall,
    times: now.hallTimes,
    departments: rank(rollUp(now.groups, 'department'), names),
    windows: rank(rollUp(now.groups, 'win'), names, now.times.win),
    staff: rank(rollUp(now.groups, 'staff'), names, now.times.staff),
    items,
    trend: await trend(db, period.from, period.to, period.kind === 'month' || period.kind === 'range' ? 'day' : 'month', source, department ?? undefined),
    worstItems,
    cases: caseFigures,
    previous: {
      period: before, hall: then.hall, times: then.hallTimes, cases: thenCases,
      change: {
        ratings: now.hall.ratings - then.hall.ratings,
        satisfaction: minus(now.hall.satisfaction, then.hall.satisfaction),
        badRate: minus(now.hall.badRate, then.hall.badRate),
        ratingRate: minus(now.hall.ratingRate, then.hall.ratingRate),
        meanWaitMs: minus(now.hallTimes.meanWaitMs, then.hallTimes.meanWaitMs),
        meanServiceMs: minus(now.hallTimes.meanServiceMs, then.hallTimes.meanServiceMs),
        callbackRate: minus(caseFigures.callbackRate, thenCases.callbackRate),
        rectifyRate: minus(caseFigures.rectifyRate, thenCases.rectifyRate),
      },
    },
    day: await dayReport(db, period),
    terminals: await terminalUse(db, period.from, period.to),
  };
}

const pct = (v: number | null) => (v === null ? '' : (v * 100).toFixed(2) + '%');
/** Minutes with one decimal, as the report shows times. */
export const minutes = (ms: number | null) => (ms === null ? '' : (ms / 60_000).toFixed(1));
/** A change in percentage points, signed. */
const points = (v: number | null) => (v === null ? '' : `${v >= 0 ? '+' : ''}${(v * 100).toFixed(2)}`);

/** Level names by level (1 worst … 5 best), the 好差评 five levels. */
export const LEVEL_NAMES = ['非常不满意', '不满意', '基本满意', '满意', '非常满意'] as const;

export const CSV_HEADER = ['分类', '排名', '编号', '名称', '评价数', ...LEVEL_NAMES.map((n) => `${n}数`), '满意率', '差评率', '主动评价率', '办件数', '差评数',
  '平均等候(分钟)', 'P90等候(分钟)', '平均办理(分钟)', 'P90办理(分钟)'];
const SECTIONS = { hall: '大厅', department: '部门', window: '窗口', staff: '工作人员', item: '事项', trend: '趋势', previous: '上期' } as const;

/** Section names of rows written in the ten-column shape (section, rank, id, name, ratings, satisfaction, badRate, ratingRate, served, bad). */
const OTHER_SECTIONS: Record<string, string> = {
  package: '一件事套餐', 'package-limit': '套餐时限', 'package-step': '套餐环节', tag: '通办帮办', closed: '闭厅未办', appointment: '预约',
  terminal: '自助终端', 'terminal-duration': '自助终端用时',
};
/** A ten-column row (report-day.ts, report-terminals.ts) under this CSV's headers: levels and times left empty. */
export function widenRow(row: unknown[]): unknown[] {
  const [section, rank, id, name, ratings, satisfaction, badRate, ratingRate, served, bad] = row;
  return [OTHER_SECTIONS[String(section)] ?? section, rank, id, name, ratings, '', '', '', '', '', satisfaction, badRate, ratingRate, served, bad, '', '', '', ''];
}

/**
 * The report as one CSV table (Chinese headers): the hall, each ranking with level counts and
 * times, the trend, the previous period, then the case handling as label/value rows.
 */
export function reportCsv(r: Report): string {
  const rows: unknown[][] = [];
  const line = (section: string, rank: unknown, id: string, name: string, f: Figures, t: TimeFigures | null) => rows.push([
    section, rank, id, name, f.ratings, ...[0, 1, 2, 3, 4].map((i) => f.levels[i]), pct(f.satisfaction), pct(f.badRate), pct(f.ratingRate), f.served, f.bad,
    t ? minutes(t.meanWaitMs) : '', t ? minutes(t.p90WaitMs) : '', t ? minutes(t.meanServiceMs) : '', t ? minutes(t.p90ServiceMs) : '']);
  line(SECTIONS.hall, '', '', `${r.hallName} ${r.title}`, r.hall, r.times);
  for (const [section, list] of [[SECTIONS.department, r.departments], [SECTIONS.window, r.windows], [SECTIONS.staff, r.staff], [SECTIONS.item, r.items]] as const) {
    for (const x of list) line(section, x.rank, x.id, x.name, x.figures, section === SECTIONS.department ? null : x.times);
  }
  for (const t of r.trend) line(SECTIONS.trend, '', t.bucket, '', t.figures, null);
  line(SECTIONS.previous, '', r.previous.period.label, `上期 ${r.previous.period.label}`, r.previous.hall, r.previous.times);
  const blank = () => new Array(CSV_HEADER.length - 4).fill('');
  const c = r.cases;
  for (const [label, value] of [['差评工单', c.cases], ['回访率', pct(c.callbackRate)], ['整改率', pct(c.rectifyRate)], ['逾期未办', c.overdue], ['申诉成立', c.appealsUpheld],
    ['满意率环比(百分点)', points(r.previous.change.satisfaction)], ['差评率环比(百分点)', points(r.previous.change.badRate)]] as const) {
    rows.push(['差评办理', '', label, String(value), ...blank()]);
  }
  // The day's sections (report-day.ts) in their ten named columns, placed under the same headers here.
  rows.push(...dayCsvRows(r.day).map(widenRow));
  rows.push(...terminalCsvRows(r.terminals).map(widenRow));
  return toCsv(CSV_HEADER, rows);
}

export const CJK_FONT = '/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc';

type Doc = InstanceType<typeof PDFDocument>;

/** A bar chart (pdfkit vectors): bars of `values`, labelled below, with the value above each bar. */
function barChart(doc: Doc, title: string, labels: string[], values: number[], opts: { height?: number; color?: string; line?: (number | null)[]; lineLabel?: string } = {}): void {
  const height = opts.height ?? 110;
  if (doc.y + height + 40 > doc.page.height - doc.page.margins.bottom) doc.addPage();
  doc.moveDown(0.5).fontSize(11).fillColor('#000').text(title, doc.page.margins.left);
  const left = doc.page.margins.left + 4;
  const width = doc.page.width - doc.page.margins.left - doc.page.margins.right - 8;
  const top = doc.y + 12;
  const base = top + height;
  const max = Math.max(1, ...values);
  const step = width / Math.max(1, values.length);
  const barWidth = Math.max(2, step * 0.6);
  doc.save().lineWidth(0.5).strokeColor('#999').moveTo(left, base).lineTo(left + width, base).stroke().restore();
  const labelEvery = Math.ceil(values.length / 16);
  values.forEach((v, i) => {
    const x = left + i * step + (step - barWidth) / 2;
    const h = (v / max) * (height - 10);
    if (h > 0) doc.save().rect(x, base - h, barWidth, h).fill(opts.color ?? '#3b6fb6').restore();
    doc.fontSize(6).fillColor('#333');
    if (values.length <= 16 || v > 0) doc.text(String(v), x - 6, base - h - 8, { width: barWidth + 12, align: 'center', lineBreak: false });
    if (i % labelEvery === 0) doc.text(labels[i], x - 12, base + 3, { width: barWidth + 24, align: 'center', lineBreak: false });
  });
  // Satisfaction (0..100 %) over the bars, on its own scale.
  if (opts.line) {
    doc.save().lineWidth(1).strokeColor('#1a7f37');
    let drawing = false;
    opts.line.forEach((v, i) => {
      if (v === null) { drawing = false; return; }
      const x = left + i * step + step / 2;
      const y = base - v * (height - 10);
      if (drawing) doc.lineTo(x, y); else doc.moveTo(x, y);
      drawing = true;
    });
    doc.stroke().restore();
    if (opts.lineLabel) doc.fontSize(7).fillColor('#1a7f37').text(opts.lineLabel, left, top - 10, { width, align: 'right', lineBreak: false });
  }
  doc.fillColor('#000');
  doc.x = doc.page.margins.left;
  doc.y = base + 16;
}

/** A printable PDF of the report (A4, Noto Sans CJK SC), dated in the site's time zone. */
export function reportPdf(r: Report, utcOffsetMinutes: number, fontFile = CJK_FONT): Promise<Buffer> {
  if (!existsSync(fontFile)) throw new Error(`report PDF: the CJK font ${fontFile} is missing (Debian: apt-get install fonts-noto-cjk)`);
  const doc = new PDFDocument({ size: 'A4', margin: 48, info: { Title: `${r.hallName} ${r.title}`, Author: r.hallName, Creator: 'sannuo' } });
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve, reject) => { doc.on('end', () => resolve(Buffer.concat(chunks))); doc.on('error', reject); });
  doc.registerFont('cjk', fontFile, 'NotoSansCJKsc-Regular');
  doc.font('cjk');
  const day = (t: number) => localTime(t, utcOffsetMinutes, true);
  doc.fontSize(18).text(`${r.hallName} ${r.title}`, { align: 'center' });
  doc.moveDown(0.3).fontSize(9).fillColor('#555').text(`统计期间 ${day(r.period.from)} 至 ${day(r.period.to - 1)}　生成于 ${localTime(r.generatedAt, utcOffsetMinutes)}（${r.timeZone}）`, { align: 'center' });
  doc.fillColor('#000').moveDown();
  const h = r.hall;
  const t = r.times;
  doc.fontSize(11).text(`评价总数 ${h.ratings}　满意率 ${pct(h.satisfaction)}　差评率 ${pct(h.badRate)}　主动评价率 ${pct(h.ratingRate)}（办件 ${h.served}）`);
  doc.fontSize(10).text(`评价分布：${LEVEL_NAMES.map((n, i) => `${n} ${h.levels[i]}`).join('　')}`);
  doc.text(`平均等候 ${minutes(t.meanWaitMs) || '—'} 分钟（P90 ${minutes(t.p90WaitMs) || '—'}）　平均办理 ${minutes(t.meanServiceMs) || '—'} 分钟（P90 ${minutes(t.p90ServiceMs) || '—'}）`);
  doc.text(`差评 ${r.cases.cases} 件：回访率 ${pct(r.cases.callbackRate)}　整改率 ${pct(r.cases.rectifyRate)}　逾期未办 ${r.cases.overdue}　申诉成立 ${r.cases.appealsUpheld}`);

  const grid = (title: string, header: string[], cols: number[], rows: string[][]) => {
    doc.moveDown().fontSize(12).text(title, doc.page.margins.left);
    doc.fontSize(8);
    const line = (cells: string[]) => {
      if (doc.y > doc.page.height - 72) doc.addPage();
      const y = doc.y;
      let x = doc.page.margins.left;
      cells.forEach((c, i) => { doc.text(c, x, y, { width: cols[i] - 3, lineBreak: false, ellipsis: true }); x += cols[i]; });
      doc.x = doc.page.margins.left;
      doc.y = y + 13;
    };
    line(header);
    for (const row of rows) line(row);
  };
  const p = r.previous;
  const signed = (v: number | null, unit: (x: number) => string) => (v === null ? '—' : `${v >= 0 ? '+' : ''}${unit(v)}`);
  grid(`与上期比较（上期 ${p.period.label}）`, ['指标', '本期', '上期', '变化'], [120, 110, 110, 110], [
    ['评价数', String(h.ratings), String(p.hall.ratings), signed(p.change.ratings, String)],
    ['满意率', pct(h.satisfaction) || '—', pct(p.hall.satisfaction) || '—', signed(p.change.satisfaction, (v) => `${(v * 100).toFixed(2)} 个百分点`)],
    ['差评率', pct(h.badRate) || '—', pct(p.hall.badRate) || '—', signed(p.change.badRate, (v) => `${(v * 100).toFixed(2)} 个百分点`)],
    ['主动评价率', pct(h.ratingRate) || '—', pct(p.hall.ratingRate) || '—', signed(p.change.ratingRate, (v) => `${(v * 100).toFixed(2)} 个百分点`)],
    ['平均等候（分钟）', minutes(t.meanWaitMs) || '—', minutes(p.times.meanWaitMs) || '—', signed(p.change.meanWaitMs, (v) => minutes(v))],
    ['平均办理（分钟）', minutes(t.meanServiceMs) || '—', minutes(p.times.meanServiceMs) || '—', signed(p.change.meanServiceMs, (v) => minutes(v))],
    ['回访率', pct(r.cases.callbackRate) || '—', pct(p.cases.callbackRate) || '—', signed(p.change.callbackRate, (v) => `${(v * 100).toFixed(2)} 个百分点`)],
    ['整改率', pct(r.cases.rectifyRate) || '—', pct(p.cases.rectifyRate) || '—', signed(p.change.rectifyRate, (v) => `${(v * 100).toFixed(2)} 个百分点`)],
  ]);

  barChart(doc, '评价分布', [...LEVEL_NAMES], [0, 1, 2, 3, 4].map((i) => h.levels[i]), { height: 80 });
  barChart(doc, r.period.kind === 'month' || r.period.kind === 'range' ? '每日评价数与满意率' : '每月评价数与满意率',
    r.trend.map((b) => (b.bucket.length > 7 ? b.bucket.slice(5) : b.bucket)), r.trend.map((b) => b.figures.ratings),
    { line: r.trend.map((b) => b.figures.satisfaction), lineLabel: '— 满意率（0–100%）' });

  const cols = [28, 106, 40, 50, 50, 54, 43, 43, 43, 43];
  const header = ['排名', '名称', '评价数', '满意率', '差评率', '主动评价率', '平均等候', 'P90等候', '平均办理', 'P90办理'];
  const row = (x: Ranked, withTimes: boolean) => [String(x.rank), x.name, String(x.figures.ratings), pct(x.figures.satisfaction), pct(x.figures.badRate), pct(x.figures.ratingRate),
    ...(withTimes ? [minutes(x.times.meanWaitMs), minutes(x.times.p90WaitMs), minutes(x.times.meanServiceMs), minutes(x.times.p90ServiceMs)] : ['', '', '', ''])];
  grid('部门排名', header.slice(0, 6), cols, r.departments.slice(0, 20).map((x) => row(x, false).slice(0, 6)));
  grid('窗口排名（时间单位：分钟）', header, cols, r.windows.slice(0, 40).map((x) => row(x, true)));
  grid('工作人员排名（时间单位：分钟）', header, cols, r.staff.slice(0, 40).map((x) => row(x, true)));
  grid('事项（时间单位：分钟）', header, cols, r.items.slice(0, 40).map((x) => row(x, true)));
  doc.moveDown().fontSize(12).text('差评较多的事项', doc.page.margins.left);
  doc.fontSize(9);
  for (const w of r.worstItems) {
    doc.text(`${w.name}：评价 ${w.figures.ratings}，差评 ${w.figures.bad}（${pct(w.figures.badRate)}），差评工单 ${w.cases.length} 件，已办结 ${w.cases.filter((c) => c.status === 'closed').length} 件`);
  }
  if (r.worstItems.length === 0) doc.text('本期无');
  dayPdf(doc, r.day);
  doc.moveDown().fontSize(12).text('自助终端', doc.page.margins.left);
  doc.fontSize(9);
  for (const line of terminalPdfLines(r.terminals)) doc.text(line);
  doc.end();
  return done;
}
