import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { Hall, START } from './harness.js';
import { migrate } from '../../../hub/db/migrate.js';
import { Auth, authMigrations } from '../../../hub/app/auth.js';

const PASSWORD = 'correct horse battery';

describe('queue HTTP API (fastify.inject, real SQLite file)', () => {
  let hall: Hall;
  let app: FastifyInstance;
  let auth: Auth;
  /** Bearer tokens by role, signed in through Auth like the dashboard does. */
  const tokens: Record<string, string> = {};
  async function signIn(username: string): Promise<string> {
    return (await auth.login(username, PASSWORD)).token;
  }
  async function open(ticketsPerMinute = 30): Promise<void> {
    hall = await Hall.open();
    await migrate(hall.db, authMigrations);
    auth = new Auth({ db: hall.db, ledger: hall.ledger, now: () => hall.time, log: pino({ level: 'silent' }), hall: 'hall-1', options: {} });
    for (const [username, role] of [['sup', 'supervisor'], ['tech', 'technician']] as const) {
      await auth.putUser({ username, name: username, role, department: null, staff: null, password: PASSWORD, disabled: false }, null);
      tokens[role] = await signIn(username);
    }
    app = Fastify();
    hall.queue.routes(app, auth, { ticketsPerMinute });
    await app.ready();
  }
  beforeEach(async () => open());
  afterEach(async () => {
    await app.close();
    await hall.close();
  });

  const as = (role: string | null) => (role ? { authorization: `Bearer ${tokens[role] ?? role}` } : {});
  const put = (url: string, payload: unknown, role: string | null = 'supervisor') => app.inject({ method: 'PUT', url, payload: payload as object, headers: as(role) });
  const post = (url: string, payload?: unknown, role: string | null = 'supervisor') => app.inject({ method: 'POST', url, headers: as(role), ...(payload === undefined ? {} : { payload: payload as object }) });

  async function setUp(): Promise<void> {
    for (const [id, name] of [['gongan', '公安'], ['shichang', '市场监管']]) expect((await put(`/api/queue/departments/${id}`, { name })).statusCode).toBe(200);
    expect((await put('/api/queue/items/hukou', { name: '户籍办理', department: 'gongan', prefix: 'A', limitDays: 5 })).statusCode).toBe(200);
    expect((await put('/api/queue/items/license', { name: '营业执照', department: 'shichang', prefix: 'C', limitDays: 3 })).statusCode).toBe(200);
    expect((await put('/api/queue/windows/W1', { name: '1号窗口', items: ['hukou', 'license'] })).statusCode).toBe(200);
    expect((await put('/api/queue/windows/W2', { name: '2号窗口', items: ['hukou'] })).statusCode).toBe(200);
    expect((await put('/api/queue/staff/s1', { name: '张敏', department: 'gongan' })).statusCode).toBe(200);
  }

  test('set-up, sign-in, tickets with people ahead, lookup and the hall snapshot', async () => {
    await setUp();
    const setup = (await app.inject({ method: 'GET', url: '/api/queue/setup', headers: as('supervisor') })).json();
    expect(setup.items).toEqual([
      { code: 'hukou', name: '户籍办理', department: 'gongan', prefix: 'A', limitDays: 5 },
      { code: 'license', name: '营业执照', department: 'shichang', prefix: 'C', limitDays: 3 },
    ]);
    expect(setup.windows[0]).toEqual({ id: 'W1', name: '1号窗口', items: ['hukou', 'license'], paused: false, pauseReason: null, staff: null, current: null });

    const signIn = await post('/api/queue/windows/W1/sign-in', { staff: 's1' });
    expect(signIn.statusCode).toBe(200);
    expect(signIn.json().staff).toBe('s1');

    hall.sent.length = 0;
    const t1 = await post('/api/queue/tickets', { item: 'hukou', priority: 'normal' });
    expect(t1.statusCode).toBe(201);
    // The ticket's lookup code (issue 18, finding 6) is printed on it and is part of its lookup URL.
    expect(t1.json()).toEqual({ id: '20250314-A001', number: 'A001', item: 'hukou', priority: 'normal', ahead: 0, issuedAt: START,
      code: expect.stringMatching(/^[0-9A-Z]{8}$/), lookup: `/api/queue/tickets/A001?day=2025-03-14&code=${t1.json().code}` });
    // The waiting counts changed: the displays of both windows serving hukou, and the hall.
    expect(hall.sent).toEqual([[
      { kind: 'display', win: 'W1', body: { win: 'W1', ticket: null, status: 'idle', item: null, waiting: 1, text: null, chime: false } },
      { kind: 'display', win: 'W2', body: { win: 'W2', ticket: null, status: 'closed', item: null, waiting: 1, text: null, chime: false } },
      { kind: 'hall' },
    ]]);
    hall.advance(60_000);
    expect((await post('/api/queue/tickets', { item: 'hukou', priority: 'normal', caseNo: 'GA-2025-77', channel: 'phone' })).json().ahead).toBe(1);
    expect((await post('/api/queue/tickets', { item: 'hukou', priority: 'elderly-disabled' })).json()).toMatchObject({ number: 'A003', ahead: 0 });

    hall.advance(60_000);
    const called = await hall.call('W1');
    expect(called.verdict).toBe('committed');
    const a3 = await app.inject({ method: 'GET', url: '/api/queue/tickets/A003', headers: as('supervisor') });
    expect(a3.json()).toMatchObject({ number: 'A003', status: 'called', win: 'W1', staff: 's1', priority: 'elderly-disabled', rated: false });
    const a2 = (await app.inject({ method: 'GET', url: '/api/queue/tickets/A002?day=2025-03-14', headers: as('supervisor') })).json();
    expect(a2).toMatchObject({ caseNo: 'GA-2025-77', channel: 'phone', status: 'waiting' });
    const serving = await post('/api/queue/windows/W1/serving');
    expect(serving.json()).toMatchObject({ number: 'A003', status: 'serving', servedAt: hall.time });
    expect((await app.inject({ method: 'GET', url: '/api/queue/windows/W1/display' })).json()).toMatchObject({ ticket: 'A003', status: 'serving', waiting: 2 });

    const hallView = (await app.inject({ method: 'GET', url: '/api/queue/hall' })).json();
    expect(hallView).toMatchObject({ day: '2025-03-14', waiting: 2, avgWaitMs: 60_000 });
    expect(hallView.windows).toEqual([
      { id: 'W1', name: '1号窗口', status: 'serving', ticket: 'A003', item: '户籍办理', staff: 's1', waiting: 2, paused: false },
      { id: 'W2', name: '2号窗口', status: 'closed', ticket: null, item: null, staff: null, waiting: 2, paused: false },
    ]);
    expect(hallView.items).toEqual([
      { code: 'hukou', name: '户籍办理', department: 'gongan', waiting: 2, avgWaitMs: 60_000 },
      { code: 'license', name: '营业执照', department: 'shichang', waiting: 0, avgWaitMs: null },
    ]);

    const out = await post('/api/queue/windows/W1/sign-out');
    expect(out.json().staff).toBe(null);
    expect((await post('/api/queue/windows/W1/sign-out')).json()).toEqual({ error: 'conflict', message: 'window W1: nobody is signed in', field: 'win' });
    // Sign-in and sign-out are in the ledger, which still verifies.
    const staffRows = await hall.db.all<{ body: string }>(`SELECT body FROM ledger WHERE kind = 'staff' ORDER BY "row"`);
    expect(staffRows.map((r) => JSON.parse(r.body).action)).toEqual(['sign-in', 'sign-out']);
    expect((await hall.verifyLedger()).ok).toBe(true);
  });

  test('bad input is refused with a message naming the field, and nothing is written', async () => {
    await setUp();
    const cases: [string, string, unknown, number, string, string][] = [
      ['PUT', '/api/queue/items/food', { name: '食品', department: 'shichang', limitDays: 3 }, 400, 'body.prefix', 'body.prefix: is required'],
      ['PUT', '/api/queue/items/food', { name: '食品', department: 'shichang', prefix: 'a1', limitDays: 3 }, 400, 'body.prefix', 'body.prefix: must match pattern "^[A-Z]{1,2}$"'],
      ['PUT', '/api/queue/items/food', { name: '食品', department: 'shichang', prefix: 'D', limitDays: '3' }, 400, 'body.limitDays', 'body.limitDays: must be integer'],
      ['PUT', '/api/queue/items/food', { name: '食品', department: 'shichang', prefix: 'D', limitDays: 3, colour: 'red' }, 400, 'body.colour', 'body.colour: is not a known field'],
      ['PUT', '/api/queue/items/food', { name: '食品', department: 'nowhere', prefix: 'D', limitDays: 3 }, 400, 'department', 'department: nowhere is not set up in this hall'],
      ['PUT', '/api/queue/items/bad%20code', { name: '食品', department: 'shichang', prefix: 'D', limitDays: 3 }, 400, 'params.code', 'params.code: must match pattern "^[A-Za-z0-9_-]{1,32}$"'],
      ['PUT', '/api/queue/windows/W3', { name: '3号窗口', items: ['hukou', 'nothing'] }, 400, 'items[1]', 'items[1]: service item nothing is not set up in this hall'],
      ['PUT', '/api/queue/windows/W3', { name: '3号窗口', items: ['hukou', 7] }, 400, 'body.items[1]', 'body.items[1]: must be string'],
      ['PUT', '/api/queue/staff/s2', { name: '' , department: 'gongan' }, 400, 'body.name', 'body.name: must NOT have fewer than 1 characters'],
      ['POST', '/api/queue/windows/W1/sign-in', { staff: 'ghost' }, 400, 'staff', 'staff: ghost is not registered in this hall'],
      ['POST', '/api/queue/windows/W9/sign-in', { staff: 's1' }, 404, 'win', 'window W9 is not set up in this hall'],
      ['POST', '/api/queue/tickets', { item: 'hukou', priority: 'vip' }, 400, 'body.priority', 'body.priority: must be one of appointment, elderly-disabled, normal'],
      ['POST', '/api/queue/tickets', { priority: 'normal' }, 400, 'body.item', 'body.item: is required'],
      ['POST', '/api/queue/tickets', { item: 'passport', priority: 'normal' }, 400, 'item', 'item: service item passport is not set up in this hall'],
      ['POST', '/api/queue/windows/W1/serving', undefined, 409, 'win', 'window W1: no ticket is called there'],
    ];
    const before = await hall.stateDump();
    for (const [method, url, payload, status, field, message] of cases) {
      const res = await app.inject({ method: method as 'PUT' | 'POST', url, headers: as('supervisor'), ...(payload === undefined ? {} : { payload: payload as object }) });
      expect({ url, status: res.statusCode, body: res.json() }).toEqual({ url, status, body: { error: status === 404 ? 'not-found' : status === 409 ? 'conflict' : 'bad-request', message, field } });
    }
    expect(await hall.stateDump()).toBe(before);
    const lookup = await app.inject({ method: 'GET', url: '/api/queue/tickets/A001?day=14-03-2025' });
    expect(lookup.json()).toMatchObject({ field: 'querystring.day' });
    expect((await app.inject({ method: 'GET', url: '/api/queue/tickets/A404', headers: as('supervisor') })).json()).toEqual({ error: 'not-found', message: 'ticket A404 was not issued on 2025-03-14', field: 'number' });
    const notJson = await app.inject({ method: 'POST', url: '/api/queue/tickets', headers: { 'content-type': 'application/json' }, payload: '{"item":' });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json().error).toBe('bad-request');
  });

  test('anonymous ticket issuing is limited per address (429, Retry-After), credentials are not, and a refused issue writes nothing', async () => {
    await app.close();
    await hall.close();
    await open(3);
    await setUp();
    const issue = (remoteAddress: string, role: string | null = null) =>
      app.inject({ method: 'POST', url: '/api/queue/tickets', remoteAddress, headers: as(role), payload: { item: 'hukou', priority: 'normal' } });
    for (let i = 0; i < 3; i++) expect((await issue('10.0.0.7')).statusCode).toBe(201);
    const before = await hall.stateDump();
    const refused = await issue('10.0.0.7');
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.json()).toMatchObject({ error: 'too-many-requests', message: expect.stringContaining('at most 3 a minute') });
    expect(await hall.stateDump()).toBe(before);
    // Another kiosk, and the hall's own automation, are not held back.
    expect((await issue('10.0.0.8')).statusCode).toBe(201);
    for (let i = 0; i < 5; i++) expect((await issue('10.0.0.7', 'supervisor')).statusCode).toBe(201);
  });
});
