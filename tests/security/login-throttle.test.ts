/**
 * Finding 8: lockout DoS. Before the fix five bad sign-ins locked a user name for 15 minutes,
 * from everywhere, the admin included: anyone on the hall LAN could keep the supervisor out.
 * Now failures are throttled per address and name, and per address across names
 * (@fastify/rate-limit), with a wait that doubles with every further attempt; the right password
 * from an address that has not failed still signs in. HTTP through fastify.inject with a
 * remote address per request, on the hub's clock (a real SQLite file).
 */

import { AppHall } from '../hub/app/harness.js';

let h: AppHall;
beforeEach(async () => {
  h = await AppHall.open();
});
afterEach(async () => h.close());

const login = (remoteAddress: string, username: string, password: string) =>
  h.http.inject({ method: 'POST', url: '/api/auth/login', remoteAddress, payload: { username, password } });

test('an attacker failing for the admin is held back with a growing Retry-After; the admin signs in from another address', async () => {
  const attacker = '10.0.0.66';
  for (let i = 0; i < 5; i++) expect((await login(attacker, 'boss', `guess-${i}-wrong`)).statusCode).toBe(401);
  const waits: number[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await login(attacker, 'boss', 'still-guessing');
    expect(res.statusCode).toBe(429);
    expect(res.json()).toMatchObject({ error: 'too-many-requests', field: 'username', message: expect.stringMatching(/too many failed sign-ins from this address; try again in \d+ s/) });
    waits.push(Number(res.headers['retry-after']));
  }
  expect(waits).toEqual([120, 240, 480]); // the fifth failure made it wait 60 s; each attempt since doubled it
  // Even the right password waits there: the throttle is checked before the password.
  expect((await login(attacker, 'boss', 'supervise-me')).statusCode).toBe(429);

  // The admin at the supervisor's desk is not locked out.
  const admin = await login('10.0.0.5', 'boss', 'supervise-me');
  expect(admin.statusCode).toBe(200);
  expect(admin.json().user).toMatchObject({ username: 'boss', role: 'supervisor' });

  // After the wait the attacker gets one try, and the next wait is longer than the last.
  h.hall.advance((Number((await login(attacker, 'boss', 'x-x-x-x-x')).headers['retry-after']) + 1) * 1000);
  expect((await login(attacker, 'boss', 'one-more-guess')).statusCode).toBe(401);
  const next = await login(attacker, 'boss', 'and-another');
  expect(next.statusCode).toBe(429);
  expect(Number(next.headers['retry-after'])).toBeGreaterThan(waits[2]);
  expect(Number(next.headers['retry-after'])).toBeLessThanOrEqual(24 * 3600); // capped at a day
});

test('spraying many names from one address is throttled; signing in often with the right password is not', async () => {
  const sprayer = '10.0.0.77';
  for (let i = 0; i < 20; i++) expect((await login(sprayer, `user${i}`, 'Password123')).statusCode).toBe(401);
  const held = await login(sprayer, 'user20', 'Password123');
  expect(held.statusCode).toBe(429);
  expect(Number(held.headers['retry-after'])).toBeGreaterThan(0);
  // Only failures count: the supervisor's desk signs in again and again.
  for (let i = 0; i < 30; i++) expect((await login('10.0.0.5', 'boss', 'supervise-me')).statusCode).toBe(200);
  // A few typos then the right password: in, and the typos are forgotten.
  for (let i = 0; i < 4; i++) expect((await login('10.0.0.6', 'boss', 'typo-typo')).statusCode).toBe(401);
  expect((await login('10.0.0.6', 'boss', 'supervise-me')).statusCode).toBe(200);
  for (let i = 0; i < 4; i++) expect((await login('10.0.0.6', 'boss', 'typo-typo')).statusCode).toBe(401);
  expect((await login('10.0.0.6', 'boss', 'supervise-me')).statusCode).toBe(200);
});
