import { AppHall } from './harness.js';
import { seeded } from '../queue/harness.js';

const H = 3600_000;
const WINDOWS: [string, string][] = [['W1', 'hukou'], ['W2', 'hukou'], ['W3', 'license'], ['W4', 'food'], ['W5', 'pension'], ['W6', 'jobs']];

describe('reports from a seeded month of real events', () => {
  let a: AppHall;
  beforeAll(async () => {
    a = await AppHall.open();
    const rand = seeded(20250301);
    // March 2025, 08:30 local each day: a few services per window, most rated, some bad, some unrated; one unbound rating.
    a.hall.time = Date.UTC(2025, 2, 1, 0, 30);
    for (let day = 0; day < 31; day++) {
      a.hall.time = Date.UTC(2025, 2, 1 + day, 0, 30);
      for (const [win, item] of WINDOWS) {
        const n = 1 + Math.floor(rand() * 3);
        for (let i = 0; i < n; i++) {
          const t = await a.serve(win, item, Math.floor(rand() * 10 * 60_000));
          const r = rand();
          if (r < 0.15) continue; // not rated
          const level = (r < 0.25 ? 1 : r < 0.32 ? 2 : r < 0.4 ? 3 : r < 0.6 ? 4 : 5) as 1 | 2 | 3 | 4 | 5;
          a.hall.advance(5000);
          const v = await a.hall.rate(win, { req: t.req, level, reason: level <= 2 ? 'slow' : null });
          if (v.verdict !== 'committed') throw new Error(v.reason!);
        }
      }
    }
    a.hall.advance(H);
    // No recent unrated service at W3: refused now (security finding 4); a hall upgraded from an
    // earlier hub still holds such a row, unbound, and the bulletin must count it as before.
    expect((await a.hall.rate('W3', { level: 3 })).verdict).toBe('refused');
    await a.hall.db.run(`INSERT INTO queue_ratings (id, ticket, number, level, reason, channel, win, staff, item, department, wait_ms, service_ms,
      bound, req, dev, boot, seq, t, recorded_at) VALUES ('legacy:1', NULL, NULL, 3, NULL, 'pad', 'W3', NULL, NULL, NULL, NULL, NULL, 'unbound', NULL, 'pad-W3', 0, 1, $1, $1)`, [a.hall.time]);
    // One service in April, outside the period.
    a.hall.time = Date.UTC(2025, 3, 1, 1, 0);
    const april = await a.serve('W1', 'hukou');
    await a.hall.rate('W1', { req: april.req, level: 1, reason: 'attitude' });
    await a.app.cases.sync();
  }, 240_000);
  afterAll(async () => { await a.close(); });

  test('monthly bulletin figures equal an independent count of the raw rows', async () => {
    const boss = await a.as('boss', 'supervisor');
    const res = await a.http.inject({ method: 'GET', url: '/api/app/reports/2025-03.json', headers: boss });
    expect(res.statusCode).toBe(200);
    const report = res.json();
    const from = Date.UTC(2025, 2, 1) - 8 * H;
    const to = Date.UTC(2025, 3, 1) - 8 * H;
    const ratings = (await a.hall.db.all<{ t: number; level: number; department: string | null; win: string; staff: string | null; bound: string }>('SELECT * FROM queue_ratings')).filter((r) => r.t >= from && r.t < to);
    const tickets = (await a.hall.db.all<{ finished_at: number | null; status: string; department: string; win: string; staff: string }>('SELECT * FROM queue_tickets')).filter((t) => t.status === 'done' && t.finished_at !== null && t.finished_at >= from && t.finished_at < to);
    expect(ratings.length).toBeGreaterThan(300);
    // An unbound rating (the upgraded hall's one) counts nowhere: security finding 4.
    expect(ratings.filter((r) => r.bound === 'unbound')).toHaveLength(1);
    const expectFor = (all: typeof ratings, ts: typeof tickets) => ({ rs: all.filter((r) => r.bound !== 'unbound'), ts });
    const figures = ({ rs, ts }: { rs: typeof ratings; ts: typeof tickets }) => ({
      ratings: rs.length,
      satisfaction: rs.filter((r) => r.level >= 4).length / rs.length,
      badRate: rs.filter((r) => r.level <= 2).length / rs.length,
      ratingRate: rs.filter((r) => r.bound !== 'unbound').length / ts.length,
      served: ts.length,
    });
    const close = (got: Record<string, number>, want: Record<string, number>) => { for (const k of Object.keys(want)) expect(got[k]).toBeCloseTo(want[k], 10); };
    close(report.hall, figures(expectFor(ratings, tickets)));
    expect(report.hall.bound).toBe(ratings.length - 1);
    for (const d of ['gongan', 'shichang', 'renshe']) {
      close(report.departments.find((x: { id: string }) => x.id === d).figures, figures(expectFor(ratings.filter((r) => r.department === d), tickets.filter((t) => t.department === d))));
    }
    for (const [w] of WINDOWS) {
      close(report.windows.find((x: { id: string }) => x.id === w).figures, figures(expectFor(ratings.filter((r) => r.win === w), tickets.filter((t) => t.win === w))));
    }
    // Rankings are by satisfaction, high first.
    const sats = report.staff.map((s: { figures: { satisfaction: number } }) => s.figures.satisfaction);
    expect([...sats].sort((x: number, y: number) => y - x)).toEqual(sats);
    expect(report.staff.map((s: { rank: number }) => s.rank)).toEqual(report.staff.map((_: unknown, i: number) => i + 1));
    // The daily trend covers all 31 days and sums to the month.
    expect(report.trend).toHaveLength(31);
    expect(report.trend.reduce((n: number, t: { figures: { ratings: number } }) => n + t.figures.ratings, 0)).toBe(ratings.length - 1); // the unbound one counts nowhere
    // Cases: one per bad rating in the month (April's is outside).
    expect(report.cases.cases).toBe(ratings.filter((r) => r.level <= 2).length);
    expect(report.worstItems.length).toBeGreaterThan(0);
    const worst = report.worstItems[0];
    expect(worst.cases.length).toBe(Math.min(50, ratings.filter((r) => r.level <= 2 && (r as unknown as { item: string }).item === worst.item).length));
  });

  test('quarterly analysis trends by month; CSV and a printable PDF; heads see their department only; wrong role 403', async () => {
    const boss = await a.as('boss', 'supervisor');
    const q = (await a.http.inject({ method: 'GET', url: '/api/app/reports/2025-Q1.json', headers: boss })).json();
    expect(q.trend.map((t: { bucket: string }) => t.bucket)).toEqual(['2025-01', '2025-02', '2025-03']);
    expect(q.title).toBe('2025-Q1 季分析');
    const csv = await a.http.inject({ method: 'GET', url: '/api/app/reports/2025-03.csv', headers: boss });
    expect(csv.headers['content-type']).toMatch(/text\/csv/);
    expect(csv.body.split('\r\n')[0]).toMatch(/^\ufeff分类,排名,编号,名称,评价数,/);
    expect(csv.body).toContain('部门,1,');
    const pdf = await a.http.inject({ method: 'GET', url: '/api/app/reports/2025-03.pdf', headers: boss });
    expect(pdf.statusCode).toBe(200);
    expect(pdf.rawPayload.subarray(0, 5).toString()).toBe('%PDF-');
    expect(pdf.rawPayload.length).toBeGreaterThan(5000);
    expect(pdf.rawPayload.toString('latin1')).toMatch(/NotoSansCJK/);
    const head = await a.as('head-sc', 'head', { department: 'shichang' });
    const fig = (await a.http.inject({ method: 'GET', url: '/api/app/figures?period=2025-03&by=win', headers: head })).json();
    expect(fig.rows.map((r: { id: string }) => r.id).sort()).toEqual(['W3', 'W4']);
    const tech = await a.as('tech', 'technician');
    expect((await a.http.inject({ method: 'GET', url: '/api/app/reports/2025-03.json', headers: tech })).statusCode).toBe(403);
    expect((await a.http.inject({ method: 'GET', url: '/api/app/reports/2025-03.json' })).statusCode).toBe(401);
    expect((await a.http.inject({ method: 'GET', url: '/api/app/reports/2025-13.json', headers: boss })).json().message).toMatch(/is not a period/);
  });
});
