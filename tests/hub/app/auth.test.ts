import Fastify, { type FastifyInstance } from 'fastify';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { migrate } from '../../../hub/db/migrate.js';
import { Auth, checkPassword, hashPassword, readCookie, userOf } from '../../../hub/app/auth.js';
import { Hall, setUpHall } from '../queue/harness.js';

describe('Auth: users, sessions, roles', () => {
  let hall: Hall;
  let auth: Auth;
  let app: FastifyInstance;
  let changes = 0;
  beforeEach(async () => {
    hall = await Hall.open();
    await setUpHall(hall);
    await migrate(hall.db, Auth.migrations);
    auth = new Auth({ db: hall.db, ledger: hall.ledger, now: () => hall.time, log: pino({ level: 'silent' }), hall: 'hall-1', options: { adminPasswordFile: path.join(hall.dir, 'admin-password.txt') } });
    app = Fastify();
    auth.routes(app);
    app.post('/api/test/change', { preHandler: auth.requireRole('supervisor', 'head') }, async (request) => { changes++; return { by: userOf(request).username }; });
    await app.ready();
    changes = 0;
  });
  afterEach(async () => {
    await app.close();
    await hall.close();
  });

  async function login(username: string, password: string) {
    return app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } });
  }

  test('scrypt hashes: salted, verifiable, wrong password refused', async () => {
    const a = await hashPassword('correct horse');
    const b = await hashPassword('correct horse');
    expect(a).not.toBe(b);
    expect(a.startsWith('scrypt$16384$8$1$')).toBe(true);
    expect(await checkPassword('correct horse', a)).toBe(true);
    expect(await checkPassword('correct hors', a)).toBe(false);
    expect(await checkPassword('x', 'plain')).toBe(false);
  });

  test('first start creates one supervisor with a generated password in a 0600 file; second start does nothing', async () => {
    const first = await auth.bootstrap();
    expect(first.created).toBe('admin');
    const file = path.join(hall.dir, 'admin-password.txt');
    expect(existsSync(file)).toBe(true);
    const [user, password] = readFileSync(file, 'utf8').trim().split('\n');
    expect(user).toBe('admin');
    const res = await login('admin', password);
    expect(res.statusCode).toBe(200);
    expect((await auth.bootstrap()).created).toBeNull();
    expect((await auth.users()).length).toBe(1);
  });

  test('login sets an HttpOnly cookie; cookie and Bearer both work; logout ends the session', async () => {
    await auth.putUser({ username: 'boss', name: '主任', role: 'supervisor', department: null, staff: null, password: 'supervise-me', disabled: false }, null);
    const res = await login('boss', 'supervise-me');
    expect(res.statusCode).toBe(200);
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const token = res.json().token as string;
    expect(readCookie(cookie.split(';')[0], 'sannuo_session')).toBe(token);
    const byCookie = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: `sannuo_session=${token}` } });
    expect(byCookie.json().user).toMatchObject({ username: 'boss', role: 'supervisor' });
    const byBearer = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${token}` } });
    expect(byBearer.statusCode).toBe(200);
    await app.inject({ method: 'POST', url: '/api/auth/logout', headers: { authorization: `Bearer ${token}` } });
    expect((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(401);
  });

  test('wrong password 401, repeated failures lock the name; the database keeps only token hashes', async () => {
    await auth.putUser({ username: 'boss', name: '主任', role: 'supervisor', department: null, staff: null, password: 'supervise-me', disabled: false }, null);
    expect((await login('boss', 'nope-nope')).statusCode).toBe(401);
    expect((await login('ghost', 'nope-nope')).statusCode).toBe(401);
    for (let i = 0; i < 4; i++) await login('boss', 'nope-nope');
    const locked = await login('boss', 'supervise-me');
    expect(locked.statusCode).toBe(429);
    hall.advance(16 * 60_000);
    const ok = await login('boss', 'supervise-me');
    expect(ok.statusCode).toBe(200);
    const rows = await hall.db.all<{ token_hash: string }>('SELECT token_hash FROM app_sessions');
    expect(rows.map((r) => r.token_hash)).not.toContain(ok.json().token);
  });

  test('401 without a session and 403 for a wrong role; the handler never runs', async () => {
    await auth.putUser({ username: 'w1', name: '张敏', role: 'staff', department: null, staff: 's1', password: 'window-one', disabled: false }, null);
    await auth.putUser({ username: 'boss', name: '主任', role: 'supervisor', department: null, staff: null, password: 'supervise-me', disabled: false }, null);
    expect((await app.inject({ method: 'POST', url: '/api/test/change' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/api/test/change', headers: { authorization: 'Bearer forged' } })).statusCode).toBe(401);
    const staff = (await login('w1', 'window-one')).json().token;
    const denied = await app.inject({ method: 'POST', url: '/api/test/change', headers: { authorization: `Bearer ${staff}` } });
    expect(denied.statusCode).toBe(403);
    expect(denied.json().message).toMatch(/supervisor or head; you are staff/);
    expect(changes).toBe(0);
    // Staff cannot set up users either.
    const before = JSON.stringify(await auth.users());
    const put = await app.inject({ method: 'PUT', url: '/api/auth/users/evil', headers: { authorization: `Bearer ${staff}` }, payload: { name: 'x', role: 'supervisor', password: 'password1' } });
    expect(put.statusCode).toBe(403);
    expect(JSON.stringify(await auth.users())).toBe(before);
    const boss = (await login('boss', 'supervise-me')).json().token;
    expect((await app.inject({ method: 'POST', url: '/api/test/change', headers: { authorization: `Bearer ${boss}` } })).json()).toEqual({ by: 'boss' });
    expect(changes).toBe(1);
  });

  test('a supervisor sets up users with field-named errors; a role change ends sessions; the last supervisor stays', async () => {
    await auth.putUser({ username: 'boss', name: '主任', role: 'supervisor', department: null, staff: null, password: 'supervise-me', disabled: false }, null);
    const boss = (await login('boss', 'supervise-me')).json().token;
    const h = { authorization: `Bearer ${boss}` };
    const noDept = await app.inject({ method: 'PUT', url: '/api/auth/users/head1', headers: h, payload: { name: '科长', role: 'head', password: 'head-of-dept' } });
    expect(noDept.statusCode).toBe(400);
    expect(noDept.json()).toMatchObject({ field: 'department' });
    const badDept = await app.inject({ method: 'PUT', url: '/api/auth/users/head1', headers: h, payload: { name: '科长', role: 'head', department: 'nowhere', password: 'head-of-dept' } });
    expect(badDept.json().message).toBe('department: nowhere is not set up in this hall');
    const unknown = await app.inject({ method: 'PUT', url: '/api/auth/users/head1', headers: h, payload: { name: '科长', role: 'head', department: 'gongan', password: 'head-of-dept', admin: true } });
    expect(unknown.json().message).toBe('body.admin: is not a known field');
    const shortPw = await app.inject({ method: 'PUT', url: '/api/auth/users/head1', headers: h, payload: { name: '科长', role: 'head', department: 'gongan', password: 'short' } });
    expect(shortPw.json().field).toBe('password');
    const ok = await app.inject({ method: 'PUT', url: '/api/auth/users/head1', headers: h, payload: { name: '科长', role: 'head', department: 'gongan', password: 'head-of-dept' } });
    expect(ok.statusCode).toBe(200);
    const headToken = (await login('head1', 'head-of-dept')).json().token;
    expect((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${headToken}` } })).json().user.department).toBe('gongan');
    await app.inject({ method: 'PUT', url: '/api/auth/users/head1', headers: h, payload: { name: '科长', role: 'technician' } });
    expect((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${headToken}` } })).statusCode).toBe(401);
    const demote = await app.inject({ method: 'PUT', url: '/api/auth/users/boss', headers: h, payload: { name: '主任', role: 'staff', staff: 's1' } });
    expect(demote.statusCode).toBe(409);
    // Every change is in the ledger, without the password hash.
    const rows = await hall.db.all<{ body: string }>(`SELECT body FROM ledger WHERE kind = 'user'`);
    expect(rows.length).toBe(3);
    expect(rows.map((r) => r.body).join('')).not.toMatch(/scrypt\$/);
    expect((await hall.verifyLedger()).ok).toBe(true);
  });
});
