import { AppHall } from './harness.js';
import { AppService } from '../../../hub/app/service.js';
import { pino } from 'pino';

const H = 3600_000;
// Calendar around START (Fri 2025-03-14): Sun 03-16 is a make-up working day (调休), Mon 03-17 a holiday.
const calendar = { holidays: ['2025-03-17'], makeupWorkdays: ['2025-03-16'] };
/** The last millisecond of a local (UTC+8) date. */
const endOfLocal = (y: number, m: number, d: number) => Date.UTC(y, m - 1, d + 1) - 8 * H - 1;

describe('bad-rating cases on a real hall', () => {
  let a: AppHall;
  beforeEach(async () => { a = await AppHall.open({ calendar }); });
  afterEach(async () => { await a.close(); });

  async function ledgerRows() { return (await a.hall.db.all('SELECT "row" FROM ledger')).length; }
  async function caseDump() { return JSON.stringify([await a.hall.db.all('SELECT * FROM app_cases ORDER BY id'), await a.hall.db.all('SELECT * FROM app_case_steps ORDER BY case_id, n')]); }

  test('a bad rating opens one case with working-day deadlines across a weekend, a make-up day and a holiday; a restart opens none twice', async () => {
    const boss = await a.as('boss', 'supervisor');
    await a.as('head-ga', 'head', { department: 'gongan' });
    const t = await a.serve('W1', 'hukou');
    const good = await a.serve('W1', 'hukou');
    a.hall.advance(10_000);
    expect((await a.hall.rate('W1', { req: t.req, level: 1, reason: 'attitude' })).verdict).toBe('committed');
    expect((await a.hall.rate('W1', { req: good.req, level: 5 })).verdict).toBe('committed');
    expect((await a.http.inject({ method: 'GET', url: '/api/app/cases', headers: boss })).json().cases).toHaveLength(0);
    expect(await a.app.cases.sync()).toBe(1);
    expect(await a.app.cases.sync()).toBe(0);
    // A second service on the same database (a restarted hub) finds the case already open.
    const again = new AppService({ db: a.hall.db, ledger: a.hall.ledger, hall: 'hall-1', now: () => a.hall.time, log: pino({ level: 'silent' }), ratings: a.hall.queue.ratingsFeature, options: { tokenKey: new Uint8Array(32).fill(9), calendar } });
    await again.start();
    expect(await again.cases.sync()).toBe(0);
    const list = (await a.http.inject({ method: 'GET', url: '/api/app/cases', headers: boss })).json().cases;
    expect(list).toHaveLength(1);
    const c = list[0];
    expect(c).toMatchObject({ level: 1, reason: 'attitude', win: 'W1', staff: 's1', item: 'hukou', department: 'gongan', status: 'callback', assignee: 'head-ga', channel: 'pad' });
    // Rated Friday 2025-03-14: the first working day after is the make-up Sunday 03-16.
    expect(c.callbackDue).toBe(endOfLocal(2025, 3, 16));
    expect(c.due).toBe(c.callbackDue);
    // 15 working days: 03-16, (03-17 holiday), 03-18..21, 03-24..28, 03-31..04-04.
    expect(c.rectifyDue).toBe(endOfLocal(2025, 4, 4));
  });

  test('callback → rectify → feedback → review, every step in the ledger; roles enforced and refusals change nothing; overdue alerts; appeals', async () => {
    let boss = await a.as('boss', 'supervisor');
    let head = await a.as('head-ga', 'head', { department: 'gongan' });
    const otherHead = await a.as('head-sc', 'head', { department: 'shichang' });
    const s1 = await a.as('w-s1', 'staff', { staff: 's1' });
    const s2 = await a.as('w-s2', 'staff', { staff: 's2' });
    const t = await a.serve('W1', 'hukou');
    await a.hall.rate('W1', { req: t.req, level: 2, reason: 'slow' });
    await a.app.cases.sync();
    const id = (await a.app.cases.list())[0].id;
    const url = `/api/app/cases/${id}`;

    const before = await caseDump();
    const rows = await ledgerRows();
    expect((await a.http.inject({ method: 'POST', url: `${url}/callback`, payload: { note: 'x' } })).statusCode).toBe(401);
    expect((await a.http.inject({ method: 'POST', url: `${url}/callback`, headers: s1, payload: { note: 'x' } })).statusCode).toBe(403);
    expect((await a.http.inject({ method: 'POST', url: `${url}/callback`, headers: otherHead, payload: { note: 'x' } })).statusCode).toBe(404);
    expect((await a.http.inject({ method: 'POST', url: `${url}/rectify`, headers: head, payload: { note: 'x' } })).json().message).toMatch(/is at step callback, not rectify/);
    expect((await a.http.inject({ method: 'POST', url: `${url}/callback`, headers: head, payload: {} })).json().message).toBe('body.note: is required');
    expect((await a.http.inject({ method: 'POST', url: `${url}/appeal`, headers: s2, payload: { reason: 'not me' } })).statusCode).toBe(404);
    expect(await caseDump()).toBe(before);
    expect(await ledgerRows()).toBe(rows);
    // Staff see their own case, never another's.
    expect((await a.http.inject({ method: 'GET', url: '/api/app/cases', headers: s1 })).json().cases).toHaveLength(1);
    expect((await a.http.inject({ method: 'GET', url: '/api/app/cases', headers: s2 })).json().cases).toHaveLength(0);

    a.hall.advance(2 * H);
    const called = await a.http.inject({ method: 'POST', url: `${url}/callback`, headers: head, payload: { note: '已电话回访，群众反映等候过长', reached: true } });
    expect(called.json().case).toMatchObject({ status: 'rectify', callbackAt: a.hall.time });
    // Appeal by the rated staff member; the supervisor rejects it and the workflow goes on.
    expect((await a.http.inject({ method: 'POST', url: `${url}/appeal`, headers: s1, payload: { reason: '当时系统故障' } })).json().case.appeal).toBe('pending');
    expect((await a.http.inject({ method: 'POST', url: `${url}/appeal/decision`, headers: head, payload: { uphold: true, note: 'x' } })).statusCode).toBe(403);
    expect((await a.http.inject({ method: 'POST', url: `${url}/appeal/decision`, headers: boss, payload: { uphold: false, note: '系统日志无故障' } })).json().case).toMatchObject({ appeal: 'rejected', status: 'rectify' });

    // Past the rectification deadline: an overdue alert.
    a.hall.time = endOfLocal(2025, 4, 4) + 1;
    // Three weeks later the sessions have expired: sign in again.
    expect((await a.http.inject({ method: 'GET', url: '/api/auth/me', headers: boss })).statusCode).toBe(401);
    boss = await a.as('boss', 'supervisor');
    head = await a.as('head-ga', 'head', { department: 'gongan' });
    const s1b = await a.as('w-s1', 'staff', { staff: 's1' });
    const overdue = (await a.http.inject({ method: 'GET', url: '/api/app/cases/overdue', headers: boss })).json();
    expect(overdue.counts).toEqual({ callback: 0, rectify: 1, feedback: 0, review: 0 });
    expect(overdue.cases[0]).toMatchObject({ id, overdue: true });
    expect(await a.app.cases.overdueCounts()).toMatchObject({ rectify: 1 });

    await a.http.inject({ method: 'POST', url: `${url}/rectify`, headers: head, payload: { note: '增开窗口，调整排班' } });
    await a.http.inject({ method: 'POST', url: `${url}/feedback`, headers: head, payload: { note: '已向群众反馈整改情况' } });
    expect((await a.http.inject({ method: 'POST', url: `${url}/review`, headers: head, payload: { note: 'ok' } })).statusCode).toBe(403);
    const closed = (await a.http.inject({ method: 'POST', url: `${url}/review`, headers: boss, payload: { note: '整改到位' } })).json().case;
    expect(closed).toMatchObject({ status: 'closed', outcome: 'rectified', overdue: false });
    expect(closed.steps.map((s: { step: string }) => s.step)).toEqual(['opened', 'callback', 'appeal', 'appeal-rejected', 'rectify', 'feedback', 'review']);
    const ledgerSteps = await a.hall.db.all<{ body: string }>(`SELECT body FROM ledger WHERE kind = 'case' ORDER BY "row"`);
    expect(ledgerSteps.map((r) => JSON.parse(r.body).step)).toEqual(closed.steps.map((s: { step: string }) => s.step));
    expect((await a.hall.verifyLedger()).ok).toBe(true);

    // A second bad rating whose appeal is upheld: closed, left out of 回访率/整改率; the rating itself unchanged.
    const t2 = await a.serve('W1', 'hukou');
    await a.hall.rate('W1', { req: t2.req, level: 1, reason: 'attitude' });
    await a.app.cases.sync();
    const id2 = (await a.app.cases.list({ status: 'callback' }))[0].id;
    await a.http.inject({ method: 'POST', url: `/api/app/cases/${id2}/appeal`, headers: s1b, payload: { reason: '评价器误按' } });
    expect((await a.http.inject({ method: 'POST', url: `/api/app/cases/${id2}/appeal/decision`, headers: boss, payload: { uphold: true, note: '监控显示误按' } })).json().case).toMatchObject({ status: 'closed', outcome: 'appeal-upheld' });
    const f = (await a.http.inject({ method: 'GET', url: '/api/app/cases/figures?period=2025', headers: boss })).json();
    expect(f).toMatchObject({ cases: 2, appealsUpheld: 1, calledBack: 1, rectified: 1, callbackRate: 1, rectifyRate: 1, callbackOnTime: 1, rectifyOnTime: 0 });
    expect((await a.hall.queue.ratings()).map((r) => r.level)).toEqual([2, 1]);
    // No route changes or deletes a rating.
    for (const method of ['PUT', 'DELETE', 'PATCH'] as const) {
      expect((await a.http.inject({ method, url: `/api/app/ratings/${encodeURIComponent((await a.hall.queue.ratings())[0].id)}`, headers: boss })).statusCode).toBe(404);
    }
  });

  test('staff see their own committed ratings by day, without ticket or citizen', async () => {
    const s1 = await a.as('w-s1', 'staff', { staff: 's1' });
    const t = await a.serve('W1', 'hukou');
    await a.hall.rate('W1', { req: t.req, level: 4 });
    const t2 = await a.serve('W2', 'hukou');
    await a.hall.rate('W2', { req: t2.req, level: 1, reason: 'rules' });
    const mine = (await a.http.inject({ method: 'GET', url: '/api/app/my/ratings?period=2025-03', headers: s1 })).json();
    expect(mine).toMatchObject({ staff: 's1', ratings: [{ day: '2025-03-14', level: 4, reason: null, item: 'hukou', win: 'W1' }], satisfaction: 1, badRate: 0 });
    expect(JSON.stringify(mine)).not.toMatch(/A00|ticket|dev|seq/);
    expect((await a.http.inject({ method: 'GET', url: '/api/app/figures', headers: s1 })).statusCode).toBe(403);
  });
});
