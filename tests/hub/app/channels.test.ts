import { AppHall } from './harness.js';

describe('other channels: phone rating by one-time token, suggestion box, exposure board, panel', () => {
  let a: AppHall;
  beforeEach(async () => { a = await AppHall.open(); });
  afterEach(async () => { await a.close(); });

  test('phone rating: genuine token rates once; reused, forged, early or pad-after-phone refused; bad rating opens its case in the same transaction', async () => {
    const staff = await a.as('w-s1', 'staff', { staff: 's1' });
    const t = await a.serve('W1', 'hukou');
    // The link is for the citizen's channel (printed, the done screen): staff may not have it (security finding 3).
    expect((await a.http.inject({ method: 'GET', url: `/api/app/rating-link/${t.id}`, headers: staff })).statusCode).toBe(403);
    const link = (await a.http.inject({ method: 'GET', url: `/api/app/rating-link/${t.id}`, headers: await a.as('boss', 'supervisor') })).json().url as string;
    expect(link).toMatch(new RegExp(`^/r/${t.id}\\.[A-Za-z0-9_-]{22}$`));
    const page = await a.http.inject({ method: 'GET', url: link });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('户籍办理');
    expect(page.body).toContain('非常满意');

    // Forged: another ticket's id with this MAC, or a changed MAC.
    const mac = link.split('.')[1];
    const forged = [`/r/20250314-A999.${mac}`, `/r/${t.id}.${mac.slice(0, -2)}AA`, `/r/${t.id}`, '/r/garbage'];
    for (const f of forged) expect((await a.http.inject({ method: 'POST', url: f, payload: { level: 5 } })).statusCode).toBe(403);
    // Window staff signed in on this browser cannot rate.
    expect((await a.http.inject({ method: 'POST', url: link, headers: staff, payload: { level: 5 } })).statusCode).toBe(403);
    // A bad rating needs a reason.
    const noReason = await a.http.inject({ method: 'POST', url: link, payload: { level: 2 } });
    expect(noReason.statusCode).toBe(400);
    expect(noReason.json().field).toBe('reason');
    expect(await a.hall.queue.ratings()).toHaveLength(0);

    a.hall.advance(60_000);
    const ok = await a.http.inject({ method: 'POST', url: link, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'level=2&reason=attitude' });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain('谢谢');
    const rating = (await a.hall.queue.ratingOf(t.id))!;
    expect(rating).toMatchObject({ ticket: t.id, level: 2, reason: 'attitude', staff: 's1', win: 'W1', item: 'hukou', department: 'gongan', dev: '$phone' });
    const cases = await a.app.cases.list();
    expect(cases).toHaveLength(1);
    expect(cases[0]).toMatchObject({ rating: rating.id, channel: 'phone', status: 'callback' });
    expect(await a.app.cases.sync()).toBe(0);

    // Reused token: refused; the pad's request for the same ticket: refused by the queue.
    const reuse = await a.http.inject({ method: 'POST', url: link, payload: { level: 5 } });
    expect(reuse.statusCode).toBe(409);
    expect(reuse.json().message).toMatch(/already rated/);
    expect((await a.http.inject({ method: 'GET', url: link })).body).toMatch(/already rated/);
    const pad = await a.hall.rate('W1', { req: t.req, level: 5 });
    expect(pad).toMatchObject({ verdict: 'refused', reason: `rating: ticket ${t.number} is already rated` });
    expect(await a.hall.queue.ratings()).toHaveLength(1);

    // Pad first, then phone: refused.
    const t2 = await a.serve('W1', 'hukou');
    expect((await a.hall.rate('W1', { req: t2.req, level: 4 })).verdict).toBe('committed');
    expect((await a.http.inject({ method: 'POST', url: a.app.ratingLink(t2.id), payload: { level: 1, reason: 'slow' } })).statusCode).toBe(409);
    // A ticket not served yet cannot be rated.
    const waiting = await a.hall.queue.issueTicket({ item: 'hukou', priority: 'normal' });
    const early = await a.http.inject({ method: 'POST', url: a.app.ratingLink(waiting.id), payload: { level: 5 } });
    expect(early.statusCode).toBe(409);
    expect(early.json().message).toMatch(/not been served yet/);
    // One ledger: the phone rating's row sits in the chain, which verifies.
    const rows = await a.hall.db.all<{ dev: string; body: string }>(`SELECT dev, body FROM ledger WHERE kind = 'rating' ORDER BY "row"`);
    expect(rows.map((r) => r.dev)).toEqual(['$phone', 'pad-W1']);
    expect((await a.hall.verifyLedger()).ok).toBe(true);
  });

  test('suggestion box, verified complaint to the exposure board, public read-only views, panel profile', async () => {
    const boss = await a.as('boss', 'supervisor');
    const head = await a.as('head-ga', 'head', { department: 'gongan' });
    const s = await a.http.inject({ method: 'POST', url: '/api/public/suggestions', payload: { category: 'complaint', text: '2号窗口午休提前离岗', win: 'W2', department: 'gongan' } });
    expect(s.statusCode).toBe(201);
    expect((await a.http.inject({ method: 'POST', url: '/api/public/suggestions', payload: { category: 'rant', text: 'x' } })).json().field).toBe('category');
    expect((await a.http.inject({ method: 'GET', url: '/api/app/suggestions', headers: head })).statusCode).toBe(403);
    const id = s.json().id;
    const unverified = await a.http.inject({ method: 'POST', url: '/api/app/exposures', headers: boss, payload: { title: '窗口离岗', body: '经核实', source: id } });
    expect(unverified.statusCode).toBe(409);
    await a.http.inject({ method: 'POST', url: `/api/app/suggestions/${id}/reply`, headers: boss, payload: { reply: '经核实属实，已整改', status: 'verified' } });
    expect((await a.http.inject({ method: 'POST', url: '/api/app/exposures', headers: head, payload: { title: 't', body: 'b' } })).statusCode).toBe(403);
    const ex = await a.http.inject({ method: 'POST', url: '/api/app/exposures', headers: boss, payload: { title: '窗口离岗', body: '2号窗口工作人员提前离岗', source: id, department: 'gongan', rectification: '通报批评' } });
    expect(ex.statusCode).toBe(201);
    const board = (await a.http.inject({ method: 'GET', url: '/api/public/exposures' })).json().exposures;
    expect(board).toEqual([expect.objectContaining({ title: '窗口离岗', rectification: '通报批评' })]);
    expect((await a.http.inject({ method: 'GET', url: '/public' })).body).toContain('2号窗口工作人员提前离岗');

    const score = (member: string, department: string, scores: Record<string, unknown>) => a.http.inject({ method: 'POST', url: '/api/app/panel/scores', headers: boss, payload: { member, department, period: '2025-Q1', scores } });
    expect((await score('代表甲', 'gongan', { attitude: 90, efficiency: 80 })).statusCode).toBe(201);
    expect((await score('代表乙', 'gongan', { attitude: 70, efficiency: 100 })).statusCode).toBe(201);
    expect((await score('代表甲', 'shichang', { attitude: 60 })).statusCode).toBe(201);
    expect((await score('代表甲', 'gongan', { attitude: 10 })).statusCode).toBe(409);
    expect((await score('代表丙', 'gongan', { attitude: 101 })).json().field).toBe('scores.attitude');
    expect((await score('代表丙', 'gongan', { looks: 50 })).json().field).toBe('scores.looks');
    const profile = (await a.http.inject({ method: 'GET', url: '/api/app/panel/profile?period=2025-Q1', headers: head })).json().departments;
    expect(profile[0]).toMatchObject({ department: 'gongan', members: 2, dimensions: { attitude: 80, efficiency: 90, policy: null }, overall: 85 });
    expect(profile[1]).toMatchObject({ department: 'shichang', members: 1, overall: 60 });
    const kinds = (await a.hall.db.all<{ kind: string }>(`SELECT kind FROM ledger WHERE kind IN ('suggestion', 'exposure', 'panel') ORDER BY "row"`)).map((r) => r.kind);
    expect(kinds).toEqual(['suggestion', 'suggestion', 'exposure', 'panel', 'panel', 'panel']);
  });
});
