/**
 * Finding 9: queue fairness. Before the fix anyone could take an 'appointment' ticket (called
 * first) and any credential, even a window clerk's cookie, lifted the ticket rate limit. Now the
 * priority classes come from the issuer's role: a kiosk API token (role kiosk) or a supervisor
 * may issue elderly-disabled and, while the hub verifies no appointments, appointment; the limit
 * is per kiosk token (each its own bucket), otherwise per address, and a session cookie counts
 * for nothing. A real hub; requests through its fastify.inject with a remote address each.
 */

import { startHub, setUpHall, type HubFixture } from '../../support/hub.js';

jest.setTimeout(60_000);

const PASSWORD = 'window-pass-2025';
let f: HubFixture;
let kioskA: string;
let kioskB: string;
let staffToken: string;
let technician: string;

beforeAll(async () => {
  f = await startHub({ 'api.ticketsPerMinute': 3 });
  await setUpHall(f.api, 0);
  kioskA = (await f.api('POST', '/api/tokens', { name: 'kiosk east', role: 'kiosk' })).token;
  kioskB = (await f.api('POST', '/api/tokens', { name: 'kiosk west', role: 'kiosk' })).token;
  technician = (await f.api('POST', '/api/tokens', { name: 'cli', role: 'technician' })).token;
  await f.api('PUT', '/api/auth/users/w1', { name: '张三', role: 'staff', staff: 's1', password: PASSWORD });
  staffToken = (await f.api('POST', '/api/auth/login', { username: 'w1', password: PASSWORD }, null)).token;
});
afterAll(async () => f.stop());

type Who = { bearer?: string; cookie?: string };
async function issue(remoteAddress: string, priority: string, who: Who = {}) {
  const headers: Record<string, string> = {};
  if (who.bearer) headers.authorization = `Bearer ${who.bearer}`;
  if (who.cookie) headers.cookie = `sannuo_session=${who.cookie}`;
  return f.hub.http.inject({ method: 'POST', url: '/api/queue/tickets', remoteAddress, headers, payload: { item: 'I1', priority } });
}
const tickets = async () => Number((await f.hub.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM queue_tickets'))!.n);

test('priority classes come from the issuer: anonymous, staff and technicians take normal tickets only', async () => {
  const before = await tickets();
  const appointment = await issue('10.2.0.1', 'appointment');
  expect(appointment.statusCode).toBe(403);
  expect(appointment.json()).toEqual({ error: 'forbidden', field: 'body.priority', message: expect.stringContaining('this hub does not verify appointments yet; only a kiosk token or a supervisor may issue one') });
  const elderly = await issue('10.2.0.1', 'elderly-disabled');
  expect(elderly.statusCode).toBe(403);
  expect(elderly.json().message).toMatch(/^body\.priority: elderly-disabled tickets are issued at a kiosk with a kiosk token or by a supervisor/);
  // A clerk's session, as a cookie (a page could make a browser send it) or as a bearer token, and a technician's token: no priority.
  expect((await issue('10.2.0.2', 'appointment', { cookie: staffToken })).statusCode).toBe(403);
  expect((await issue('10.2.0.2', 'appointment', { bearer: staffToken })).statusCode).toBe(403);
  expect((await issue('10.2.0.2', 'elderly-disabled', { bearer: technician })).statusCode).toBe(403);
  expect(await tickets()).toBe(before);
  // A forged or revoked token is told so, not silently taken for nobody.
  const forged = await issue('10.2.0.3', 'normal', { bearer: 'sannuo_forged' });
  expect(forged.statusCode).toBe(401);
  expect(forged.json().field).toBe('headers.authorization');

  // The kiosk and a supervisor issue them.
  const green = await issue('10.2.0.4', 'elderly-disabled', { bearer: kioskA });
  expect(green.statusCode).toBe(201);
  expect(green.json().priority).toBe('elderly-disabled');
  expect((await issue('10.2.0.4', 'appointment', { bearer: kioskA })).statusCode).toBe(201);
  expect((await issue('10.2.0.5', 'appointment', { bearer: f.hub.settings.api.token })).statusCode).toBe(201);
  expect((await issue('10.2.0.6', 'normal')).statusCode).toBe(201);
  expect(await tickets()).toBe(before + 4);
});

test('limits: per address without a kiosk token (a staff cookie or token does not lift it), per kiosk token, none for a supervisor token', async () => {
  const address = '10.3.0.1';
  for (let i = 0; i < 3; i++) expect((await issue(address, 'normal')).statusCode).toBe(201);
  const held = await issue(address, 'normal');
  expect(held.statusCode).toBe(429);
  expect(Number(held.headers['retry-after'])).toBeGreaterThan(0);
  expect(held.json().message).toContain('at most 3 a minute from one address');
  // Before the fix any credential lifted the limit.
  expect((await issue(address, 'normal', { cookie: staffToken })).statusCode).toBe(429);
  expect((await issue(address, 'normal', { bearer: staffToken })).statusCode).toBe(429);
  expect((await issue(address, 'normal', { bearer: technician })).statusCode).toBe(429);

  // Each kiosk token has a bucket of its own, wherever it sends from.
  for (let i = 0; i < 3; i++) expect((await issue(address, 'normal', { bearer: kioskB })).statusCode).toBe(201);
  const kioskHeld = await issue('10.3.0.9', 'elderly-disabled', { bearer: kioskB });
  expect(kioskHeld.statusCode).toBe(429);
  expect(kioskHeld.json().message).toContain('at most 3 a minute for this kiosk token');
  // Kiosk A used two of its three in the test before.
  expect((await issue(address, 'normal', { bearer: kioskA })).statusCode).toBe(201);
  expect((await issue(address, 'normal', { bearer: kioskA })).statusCode).toBe(429);
  // Another address is not held back; the hall's automation (a supervisor's token) is never.
  expect((await issue('10.3.0.2', 'normal')).statusCode).toBe(201);
  for (let i = 0; i < 5; i++) expect((await issue(address, 'normal', { bearer: f.hub.settings.api.token })).statusCode).toBe(201);
});
