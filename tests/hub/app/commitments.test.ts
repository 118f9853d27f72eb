import { AppHall } from './harness.js';

const base = { department: 'shichang', year: 2025, clause: '第1条', title: '营业执照办理时限压缩', metric: 'compression', item: 'license', target: 0.5, measures: '一窗受理，并联审批', owner: '王芳', deadline: '2025-12-31' };

describe('commitment register', () => {
  let a: AppHall;
  beforeEach(async () => { a = await AppHall.open(); });
  afterEach(async () => { await a.close(); });

  test('revisions are new versions; publication shows one version publicly; heads edit only their own department', async () => {
    const boss = await a.as('boss', 'supervisor');
    const head = await a.as('head-sc', 'head', { department: 'shichang' });
    const other = await a.as('head-ga', 'head', { department: 'gongan' });
    expect((await a.http.inject({ method: 'POST', url: '/api/app/commitments', headers: other, payload: base })).statusCode).toBe(403);
    expect((await a.http.inject({ method: 'POST', url: '/api/app/commitments', payload: base })).statusCode).toBe(401);
    const created = await a.http.inject({ method: 'POST', url: '/api/app/commitments', headers: head, payload: base });
    expect(created.statusCode).toBe(201);
    const id = created.json().commitment.id;
    expect(created.json().commitment.version).toBe(1);
    expect((await a.http.inject({ method: 'PUT', url: `/api/app/commitments/${id}`, headers: head, payload: { ...base, target: 0.6 } })).json().field).toBe('note');
    const v2 = await a.http.inject({ method: 'PUT', url: `/api/app/commitments/${id}`, headers: head, payload: { ...base, target: 0.6, note: '年中提高目标' } });
    expect(v2.json().commitment).toMatchObject({ version: 2, target: 0.6 });
    expect((await a.http.inject({ method: 'POST', url: `/api/app/commitments/${id}/publish`, headers: head })).statusCode).toBe(403);
    await a.http.inject({ method: 'POST', url: `/api/app/commitments/${id}/publish`, headers: boss });
    await a.http.inject({ method: 'PUT', url: `/api/app/commitments/${id}`, headers: boss, payload: { ...base, target: 0.7, note: '草案' } });
    const history = (await a.http.inject({ method: 'GET', url: `/api/app/commitments/${id}/history`, headers: head })).json().versions;
    expect(history.map((v: { version: number; target: number }) => [v.version, v.target])).toEqual([[1, 0.5], [2, 0.6], [3, 0.7]]);
    const pub = (await a.http.inject({ method: 'GET', url: '/api/public/commitments?year=2025' })).json().commitments;
    expect(pub).toEqual([expect.objectContaining({ id, version: 2, target: 0.6 })]);
    expect((await a.http.inject({ method: 'GET', url: '/public' })).body).toContain('营业执照办理时限压缩');
    expect((await a.http.inject({ method: 'GET', url: '/api/app/commitments', headers: other })).json().commitments).toEqual([]);
    const json = (await a.http.inject({ method: 'GET', url: '/api/app/commitments/export.json?year=2025', headers: boss })).json();
    expect(json.commitments[0]).toMatchObject({ id, version: 3 });
    const csv = (await a.http.inject({ method: 'GET', url: '/api/app/commitments/export.csv?year=2025', headers: boss })).body;
    expect(csv.split('\r\n')[1]).toBe(`shichang,2025,第1条,营业执照办理时限压缩,compression,license,0.7,一窗受理，并联审批,王芳,2025-12-31,草案,${id},3`);
    expect((await a.hall.db.all(`SELECT "row" FROM ledger WHERE kind = 'commitment'`)).length).toBe(4);
  });

  test('CSV import: all or nothing; a malformed row is named by line and column', async () => {
    const boss = await a.as('boss', 'supervisor');
    const header = 'department,year,clause,title,metric,item,target,measures,owner,deadline,note';
    const good = `${header}\r\ngongan,2025,第1条,户籍一次办,visits,hukou,1.2,"材料清单公开, 一次告知",张敏,2025-12-31,\r\nrenshe,2025,第2条,就业登记即办,onSpot,jobs,0.9,即来即办,陈静,2025-06-30,\r\n`;
    const bad = good.replace('即来即办,陈静,2025-06-30', '即来即办,陈静,2025-06-31').replace('0.9', 'abc');
    const send = (body: string) => a.http.inject({ method: 'POST', url: '/api/app/commitments/import', headers: { ...boss, 'content-type': 'text/csv' }, payload: body });
    const r1 = await send(bad);
    expect(r1.statusCode).toBe(400);
    expect(r1.json().message).toBe('line 3, column 7 (target): "abc" is not a number');
    const r2 = await send(good.replace('2025-06-30', '2025-06-31'));
    expect(r2.json().message).toBe('line 3, column 10 (deadline): "2025-06-31" is not a date YYYY-MM-DD');
    expect((await send(good.replace('renshe,2025,第2条', 'nowhere,2025,第2条'))).json().message).toBe('line 3, column 1 (department): nowhere is not set up in this hall');
    expect((await send(good.replace('即来即办,陈静', '即来即办'))).json().message).toBe('line 3: has 10 cells, the header has 11');
    expect((await send(good.replace('clause,', 'klause,'))).json().message).toBe('line 1: column "clause" is missing from the header');
    expect((await a.app.commitments.list()).length).toBe(0);
    expect((await a.http.inject({ method: 'POST', url: '/api/app/commitments/import', headers: { ...(await a.as('head-ga', 'head', { department: 'gongan' })), 'content-type': 'text/csv' }, payload: good })).statusCode).toBe(403);
    const ok = await send(good);
    expect(ok.statusCode).toBe(201);
    expect(ok.json().commitments.map((c: { measures: string }) => c.measures)).toEqual(['材料清单公开, 一次告知', '即来即办']);
  });

  test('measured metrics: compression, visits, on-the-spot share, fully-online share, with a monthly trend', async () => {
    // Fri 2025-03-14: case C1 first visit; case C2 finished at one visit.
    await a.serve('W3', 'license', 10 * 60_000, 'C1');
    await a.serve('W3', 'license', 10 * 60_000, 'C2');
    // Mon 2025-03-17: C1's second visit (1 working day later).
    a.hall.time = Date.UTC(2025, 2, 17, 1, 0);
    await a.serve('W3', 'license', 10 * 60_000, 'C1');
    const boss = await a.as('boss', 'supervisor');
    const online = await a.http.inject({ method: 'POST', url: '/api/app/online-cases', headers: boss, payload: { cases: [
      { id: 'O1', item: 'license', submittedAt: '2025-03-14T09:00:00+08:00', finishedAt: '2025-03-17T10:00:00+08:00', fullyOnline: true },
      { id: 'O2', item: 'license', submittedAt: '2025-03-14T09:00:00+08:00', finishedAt: '2025-03-18T10:00:00+08:00', fullyOnline: false },
    ] } });
    expect(online.statusCode).toBe(201);
    expect((await a.http.inject({ method: 'POST', url: '/api/app/online-cases', headers: boss, payload: { cases: [{ id: 'O3', item: 'nope', submittedAt: 0, finishedAt: 1, fullyOnline: true }] } })).json().message).toBe('cases[0].item: service item nope is not set up in this hall');
    a.hall.time = Date.UTC(2025, 3, 2, 1, 0);
    const measure = async (metric: string, target: number) => a.app.commitments.measure({ ...base, metric: metric as 'visits', target });
    // limit 3 working days: C1 1 day → 2/3, C2 0 → 1, O1 1 → 2/3, O2 2 → 1/3.
    const compression = await measure('compression', 0.5);
    expect(compression.value).toBeCloseTo((2 / 3 + 1 + 2 / 3 + 1 / 3) / 4, 10);
    expect(compression).toMatchObject({ cases: 4, met: true });
    expect(compression.trend.map((t) => t.month)).toEqual(['2025-01', '2025-02', '2025-03', '2025-04']);
    expect(compression.trend[2].cases).toBe(4);
    expect(compression.trend[0].value).toBeNull();
    expect(await measure('visits', 1.2)).toMatchObject({ value: 1.5, cases: 2, met: false });
    expect(await measure('onSpot', 0.5)).toMatchObject({ value: 0.5, met: true });
    expect(await measure('online', 0.3)).toMatchObject({ value: 0.25, cases: 4, met: false });
  });
});
