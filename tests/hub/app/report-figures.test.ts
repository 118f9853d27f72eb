/**
 * The report's figures recomputed here from the raw rows, for a month whose days hold transfers
 * (window to window, and to another item), and compared with the JSON, the CSV and the text of
 * the PDF: level counts, mean and p90 wait and service time per window, staff and item (a
 * transferred ticket's service time is every window's part), cases, the previous period, the
 * hall's name and the site's time zone; a department head gets their department's report.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { pdfText } from '../../../support/pdf-text.js';
import { AppHall } from './harness.js';
import { seeded } from '../queue/harness.js';

const H = 3600_000;
const MIN = 60_000;
const HALL_NAME = '成都市武侯区政务服务中心';
const PAIRS: [string, string][] = [['W1', 'hukou'], ['W3', 'license'], ['W5', 'pension'], ['W6', 'jobs']];

interface TicketRaw { id: string; status: string; finished_at: number | null; issued_at: number; called_at: number | null; win: string; staff: string; item: string; department: string; transfer_count: number; history: string }
interface RatingRaw { t: number; level: number; win: string | null; staff: string | null; item: string | null; department: string | null; bound: string }

const pct = (v: number | null) => (v === null ? '' : (v * 100).toFixed(2) + '%');
const minutes = (ms: number | null) => (ms === null ? '' : (ms / 60_000).toFixed(1));

/** Service time from the ticket's own history: each call up to the transfer or finish that ended it. */
function serviceFromHistory(t: TicketRaw): number {
  let start: number | null = null;
  let sum = 0;
  for (const e of JSON.parse(t.history) as { at: number; what: string }[]) {
    if (e.what === 'called') start = e.at;
    else if ((e.what === 'transferred' || e.what === 'done') && start !== null) { sum += e.at - start; start = null; }
  }
  return sum;
}

function timesOf(ts: TicketRaw[]) {
  const waits = ts.map((t) => (t.called_at! > t.issued_at ? t.called_at! - t.issued_at : 0));
  const services = ts.map(serviceFromHistory);
  const p90 = (xs: number[]) => {
    if (xs.length === 0) return null;
    // The report's p90 is the lower bound of its time bucket: 6 s under 10 min, 30 s to an hour, 5 min to four hours.
    const floor = (x: number) => (x < 600_000 ? Math.floor(x / 6000) * 6000 : x < 3_600_000 ? 600_000 + Math.floor((x - 600_000) / 30_000) * 30_000
      : x < 14_400_000 ? 3_600_000 + Math.floor((x - 3_600_000) / 300_000) * 300_000 : 14_400_000);
    const s = xs.map(floor).sort((a, b) => a - b);
    return s[Math.ceil(0.9 * s.length) - 1];
  };
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  return { waits: ts.length, services: ts.length, meanWaitMs: mean(waits), p90WaitMs: p90(waits), meanServiceMs: mean(services), p90ServiceMs: p90(services) };
}

function figuresOf(rs: RatingRaw[], ts: TicketRaw[]) {
  const levels = [1, 2, 3, 4, 5].map((l) => rs.filter((r) => r.level === l).length);
  return {
    ratings: rs.length, levels, served: ts.length,
    satisfaction: rs.length ? rs.filter((r) => r.level >= 4).length / rs.length : null,
    badRate: rs.length ? rs.filter((r) => r.level <= 2).length / rs.length : null,
  };
}

describe('report figures against a recount of the raw rows, with transfers', () => {
  let a: AppHall;
  let transferred = 0;
  beforeAll(async () => {
    a = await AppHall.open({ hallName: HALL_NAME });
    const rand = seeded(20250314);
    const rateMaybe = async (win: string, req: string) => {
      const r = rand();
      if (r < 0.2) return;
      const level = (r < 0.3 ? 1 : r < 0.36 ? 2 : r < 0.45 ? 3 : r < 0.65 ? 4 : 5) as 1 | 2 | 3 | 4 | 5;
      a.hall.advance(5000);
      const v = await a.hall.rate(win, { req, level, reason: level <= 2 ? 'slow' : null });
      if (v.verdict !== 'committed') throw new Error(v.reason!);
    };
    const day = async (date: number, transfers: boolean) => {
      a.hall.time = date;
      for (const [win, item] of PAIRS) {
        for (let i = 0; i < 3; i++) {
          const t = await a.serve(win, item, (60 + Math.floor(rand() * 900)) * 1000);
          await rateMaybe(win, t.req);
        }
      }
      if (!transfers) return;
      // W1 → W2 (same item): 4 min at W1, then 6 min at W2; W3 license → item food, served at W4.
      for (const [from, to, item, toItem, toWin] of [['W1', 'W2', 'hukou', null, 'W2'], ['W3', 'W4', 'license', 'food', null]] as const) {
        const t = await a.hall.queue.issueTicket({ item, priority: 'normal', caseNo: null });
        a.hall.advance(2 * MIN);
        expect((await a.hall.call(from)).verdict).toBe('committed');
        a.hall.advance(4 * MIN + Math.floor(rand() * 60) * 1000);
        expect((await a.hall.transfer(from, t.number, toWin ? { win: toWin } : { item: toItem! })).verdict).toBe('committed');
        a.hall.advance(MIN);
        expect((await a.hall.call(to)).verdict).toBe('committed');
        a.hall.advance(6 * MIN + Math.floor(rand() * 60) * 1000);
        const done = await a.hall.call(to);
        const req = done.effects.find((e) => e.kind === 'rateReq') as { body: { req: string; ticket: string } } | undefined;
        expect(req?.body.ticket).toBe(t.number);
        await rateMaybe(to, req!.body.req);
        transferred++;
      }
    };
    for (const d of [3, 4]) await day(Date.UTC(2025, 1, d, 1, 0), false); // February: the previous period
    for (const d of [3, 4, 5, 6, 7]) await day(Date.UTC(2025, 2, d, 1, 0), true);
    a.hall.time = Date.UTC(2025, 3, 2, 2, 0); // generated in April, 10:00 local
    await a.app.cases.sync();
  }, 120_000);
  afterAll(async () => { await a.close(); });

  const rows = async (from: number, to: number) => ({
    rs: (await a.hall.db.all<RatingRaw>('SELECT * FROM queue_ratings')).filter((r) => r.t >= from && r.t < to && r.bound !== 'unbound'),
    ts: (await a.hall.db.all<TicketRaw>('SELECT * FROM queue_tickets')).filter((t) => t.status === 'done' && t.finished_at! >= from && t.finished_at! < to),
  });
  const march = { from: Date.UTC(2025, 2, 1) - 8 * H, to: Date.UTC(2025, 3, 1) - 8 * H };
  const february = { from: Date.UTC(2025, 1, 1) - 8 * H, to: Date.UTC(2025, 2, 1) - 8 * H };

  test('JSON: level counts, mean and p90 times per window, staff and item, transfers summed, previous period', async () => {
    const boss = await a.as('boss', 'supervisor');
    const report = (await a.http.inject({ method: 'GET', url: '/api/app/reports/2025-03.json', headers: boss })).json();
    const { rs, ts } = await rows(march.from, march.to);
    expect(transferred).toBe(10);
    // A transferred ticket's history holds both parts; the served → finished span alone is shorter.
    const moved = ts.filter((t) => t.transfer_count > 0);
    expect(moved).toHaveLength(10);
    for (const t of moved) expect(serviceFromHistory(t)).toBeGreaterThanOrEqual(10 * MIN);

    expect(report.hallName).toBe(HALL_NAME);
    expect(report.timeZone).toBe('UTC+08:00 北京时间');
    expect(report.hall).toMatchObject(figuresOf(rs, ts));
    const close = (got: Record<string, number | null>, want: Record<string, number | null>) => {
      for (const k of Object.keys(want)) {
        if (want[k] === null) expect(got[k]).toBeNull(); else expect(got[k]).toBeCloseTo(want[k]!, 6);
      }
    };
    close(report.times, timesOf(ts));
    for (const [dim, list, key] of [['win', report.windows, 'win'], ['staff', report.staff, 'staff'], ['item', report.items, 'item']] as const) {
      const ids = [...new Set(ts.map((t) => t[key]))];
      expect(list.map((x: { id: string }) => x.id).sort()).toEqual(expect.arrayContaining(ids.sort()));
      for (const id of ids) {
        const entry = list.find((x: { id: string }) => x.id === id);
        close(entry.times, timesOf(ts.filter((t) => t[key] === id)));
        expect(entry.figures).toMatchObject(figuresOf(rs.filter((r) => r[key] === id), ts.filter((t) => t[key] === id)));
      }
      expect(dim).toBeTruthy();
    }
    const feb = await rows(february.from, february.to);
    expect(report.previous.period.label).toBe('2025-02');
    expect(report.previous.hall).toMatchObject(figuresOf(feb.rs, feb.ts));
    close(report.previous.times, timesOf(feb.ts));
    expect(report.previous.change.ratings).toBe(rs.length - feb.rs.length);
    expect(report.previous.change.satisfaction).toBeCloseTo(figuresOf(rs, ts).satisfaction! - figuresOf(feb.rs, feb.ts).satisfaction!, 10);
    expect(report.cases.cases).toBe(rs.filter((r) => r.level <= 2).length);
    // The quarter compares with the previous quarter, the year with the previous year.
    const q = (await a.http.inject({ method: 'GET', url: '/api/app/reports/2025-Q1.json', headers: boss })).json();
    expect(q.previous.period.label).toBe('2024-Q4');
    expect(q.previous.hall.ratings).toBe(0);
    expect((await a.http.inject({ method: 'GET', url: '/api/app/reports/2025.json', headers: boss })).json().previous.period.label).toBe('2024');
  });

  test('CSV: Chinese headers, the same figures; PDF text: the same figures, local dates, the hall name', async () => {
    const boss = await a.as('boss', 'supervisor');
    const { rs, ts } = await rows(march.from, march.to);
    const f = figuresOf(rs, ts);
    const times = timesOf(ts);
    const csv = (await a.http.inject({ method: 'GET', url: '/api/app/reports/2025-03.csv', headers: boss })).body;
    const table = parse(csv.replace(/^\ufeff/, ''), { columns: true }) as Record<string, string>[];
    const hall = table.find((r) => r['分类'] === '大厅')!;
    expect(hall['名称']).toContain(HALL_NAME);
    expect(hall['评价数']).toBe(String(f.ratings));
    expect(['非常不满意数', '不满意数', '基本满意数', '满意数', '非常满意数'].map((k) => +hall[k])).toEqual(f.levels);
    expect(hall['满意率']).toBe(pct(f.satisfaction));
    expect(hall['平均办理(分钟)']).toBe(minutes(times.meanServiceMs));
    expect(hall['P90等候(分钟)']).toBe(minutes(times.p90WaitMs));
    for (const win of ['W1', 'W2', 'W3', 'W4']) {
      const row = table.find((r) => r['分类'] === '窗口' && r['编号'] === win)!;
      const t = timesOf(ts.filter((x) => x.win === win));
      expect([row['平均等候(分钟)'], row['P90等候(分钟)'], row['平均办理(分钟)'], row['P90办理(分钟)']]).toEqual([minutes(t.meanWaitMs), minutes(t.p90WaitMs), minutes(t.meanServiceMs), minutes(t.p90ServiceMs)]);
    }
    expect(table.find((r) => r['分类'] === '上期')!['评价数']).toBe(String((await rows(february.from, february.to)).rs.length));
    expect(table.find((r) => r['编号'] === '差评工单')!['名称']).toBe(String(rs.filter((r) => r.level <= 2).length));

    const pdf = await a.http.inject({ method: 'GET', url: '/api/app/reports/2025-03.pdf', headers: boss });
    // Kept beside the browser screenshots, to be looked at.
    mkdirSync('tests/artifacts', { recursive: true });
    writeFileSync('tests/artifacts/report-2025-03.pdf', pdf.rawPayload);
    const text = (await pdfText(pdf.rawPayload)).replace(/[ \u3000]+/g, ' ');
    expect(text).toContain(`${HALL_NAME} 2025-03 月通报`);
    // Local dates: March starts on the 1st in Beijing, not on 28 February as in UTC; generated at 10:00 local.
    expect(text).toContain('统计期间 2025-03-01 至 2025-03-31');
    expect(text).toContain('生成于 2025-04-02 10:00（UTC+08:00 北京时间）');
    expect(text).toContain(`满意率 ${pct(f.satisfaction)}`);
    expect(text).toContain(`评价分布：非常不满意 ${f.levels[0]} 不满意 ${f.levels[1]} 基本满意 ${f.levels[2]} 满意 ${f.levels[3]} 非常满意 ${f.levels[4]}`);
    expect(text).toContain(`平均等候 ${minutes(times.meanWaitMs)} 分钟（P90 ${minutes(times.p90WaitMs)}）`);
    expect(text).toContain(`平均办理 ${minutes(times.meanServiceMs)} 分钟（P90 ${minutes(times.p90ServiceMs)}）`);
    expect(text).toContain('与上期比较（上期 2025-02）');
    expect(text).toContain('每日评价数与满意率');
    const w2 = timesOf(ts.filter((x) => x.win === 'W2'));
    expect(text).toMatch(new RegExp(`2号窗口.*${minutes(w2.meanServiceMs).replace('.', '\\.')} ${minutes(w2.p90ServiceMs).replace('.', '\\.')}`));
  });

  test("a department head's report, trend and cases are their department's", async () => {
    const head = await a.as('head-sc', 'head', { department: 'shichang' });
    const report = (await a.http.inject({ method: 'GET', url: '/api/app/reports/2025-03.json', headers: head })).json();
    const { rs, ts } = await rows(march.from, march.to);
    const mine = { rs: rs.filter((r) => r.department === 'shichang'), ts: ts.filter((t) => t.department === 'shichang') };
    expect(report.scope).toEqual({ department: 'shichang', name: '市场监管' });
    expect(report.title).toBe('2025-03 月通报 · 市场监管');
    expect(report.hall).toMatchObject(figuresOf(mine.rs, mine.ts));
    expect(report.departments.map((d: { id: string }) => d.id)).toEqual(['shichang']);
    expect(report.windows.map((w: { id: string }) => w.id).sort()).toEqual(['W3', 'W4']);
    expect(report.trend.reduce((n: number, t: { figures: { ratings: number } }) => n + t.figures.ratings, 0)).toBe(mine.rs.length);
    expect(report.cases.cases).toBe(mine.rs.filter((r) => r.level <= 2).length);
    const pdf = await a.http.inject({ method: 'GET', url: '/api/app/reports/2025-03.pdf', headers: head });
    expect(pdf.headers['content-disposition']).toContain('sannuo-2025-03-shichang.pdf');
  });
});
