/**
 * Sign-in routes (hub/app/auth.ts does the work):
 *   POST /api/auth/login     { username, password } → { token, user, expiresAt } and the cookie
 *   POST /api/auth/logout
 *   GET  /api/auth/me
 *   POST /api/auth/password  { current, password }          (any signed-in user, own password)
 *   GET  /api/auth/users                                       (supervisor)
 *   PUT  /api/auth/users/:username { name, role, department?, staff?, password?, disabled? } (supervisor)
 *
 * Sign-in throttling (@fastify/rate-limit with login-throttle.ts's store) counts failures only
 * (a 401), so signing in often is never throttled; a 429 carries Retry-After.
 */

import type { FastifyInstance, FastifyRequest } from 'fastify';
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import { SESSION_TTL, userOf, type Auth, type UserRole } from './auth.js';
import { AppError } from './http-util.js';
import { failureStore, LOGIN_ADDRESS_FAILURES, LOGIN_DELAY, LOGIN_FAILURES } from './login-throttle.js';
import { httpErrorHandler } from '../http/errors.js';
import { objectSchema, paramsSchema, useJsonSchemas } from '../http/validation.js';

export function authRoutes(parent: FastifyInstance, auth: Auth, now: () => number): void {
  // A scope of its own, so the routes answer in the hub's one error shape wherever they are mounted.
  parent.register(async (app) => {
    app.setErrorHandler(httpErrorHandler);
    useJsonSchemas(app);
    const holder: { store?: { reset(key: string): void } } = {};
    await app.register(rateLimit, { global: false, store: failureStore(now, holder) as never });
    const nameOf = (request: FastifyRequest) => {
      const b = request.body as { username?: unknown } | null;
      return typeof b?.username === 'string' ? b.username : '';
    };
    const pairKey = (request: FastifyRequest) => `pair ${normalizeIP(request.ip)} ${nameOf(request)}`;
    const limiters = [
      app.createRateLimit({ max: LOGIN_FAILURES - 1, timeWindow: LOGIN_DELAY, keyGenerator: pairKey }),
      app.createRateLimit({ max: LOGIN_ADDRESS_FAILURES - 1, timeWindow: LOGIN_DELAY, keyGenerator: (request) => `addr ${normalizeIP(request.ip)}` }),
    ];
    app.post<{ Body: { username: string; password: string } }>('/api/auth/login', {
      // Signing a victim's browser in as someone else (login CSRF) is refused too, before the body is read.
      onRequest: async (request, reply) => {
        const why = auth.crossSite(request, true);
        if (why) return auth.refuseCrossSite(request, reply, why);
      },
      schema: { body: objectSchema({ username: 'string', password: 'string' }) },
    }, async (request, reply) => {
      const b = request.body;
      const waiting = (await Promise.all(limiters.map((l) => l(request, { increment: false })))).some((l) => !l.isAllowed && l.isExceeded);
      if (waiting) {
        // An attempt while waiting counts as a failure: hammering makes the wait grow.
        const after = await Promise.all(limiters.map((l) => l(request)));
        const wait = Math.max(...after.map((l) => (!l.isAllowed && l.isExceeded ? l.ttlInSeconds : 0)));
        request.log.warn({ ip: request.ip, username: b.username, wait }, 'sign-in throttled');
        reply.header('retry-after', String(wait));
        throw new AppError(429, `username: too many failed sign-ins from this address; try again in ${wait} s`, 'username');
      }
      let s: Awaited<ReturnType<Auth['login']>>;
      try {
        s = await auth.login(b.username, b.password);
      } catch (error) {
        if (error instanceof AppError && error.status === 401) await Promise.all(limiters.map((l) => l(request)));
        throw error;
      }
      holder.store?.reset(pairKey(request));
      reply.header('set-cookie', auth.cookie(request, s.token, Math.floor(SESSION_TTL / 1000)));
      return s;
    });
    app.post('/api/auth/logout', async (request, reply) => {
      const why = auth.crossSite(request);
      if (why) return auth.refuseCrossSite(request, reply, why);
      const token = auth.tokenOf(request);
      if (token) await auth.logout(token);
      reply.header('set-cookie', auth.cookie(request, '', 0));
      return { ok: true };
    });
    app.get('/api/auth/me', { onRequest: auth.requireRole() }, async (request) => ({ user: userOf(request) }));
    app.post<{ Body: { current: string; password: string } }>('/api/auth/password', {
      onRequest: auth.requireRole(), schema: { body: objectSchema({ current: 'string', password: 'string' }) },
    }, async (request) => {
      const me = userOf(request);
      if (!(await auth.isPassword(me.username, request.body.current))) throw new AppError(400, 'current: the current password is wrong', 'current');
      return { user: await auth.putUser({ ...me, password: request.body.password }, me.username) };
    });
    app.get('/api/auth/users', { onRequest: auth.requireRole('supervisor') }, async () => ({ users: await auth.users() }));
    app.put<{ Params: { username: string }; Body: { name: string; role: UserRole; department?: string | null; staff?: string | null; password?: string | null; disabled?: boolean | null } }>('/api/auth/users/:username', {
      onRequest: auth.requireRole('supervisor'),
      schema: { params: paramsSchema('username'), body: objectSchema({ name: 'string', role: 'string', department: 'string?', staff: 'string?', password: 'string?', disabled: 'boolean?' }) },
    }, async (request) => {
      const b = request.body;
      // A null password is passed on, as it always was: refused as too short.
      const user = await auth.putUser({
        username: request.params.username, name: b.name, role: b.role, department: b.department ?? null,
        staff: b.staff ?? null, password: b.password as string | undefined, disabled: b.disabled ?? false,
      }, userOf(request).username);
      return { user };
    });
  });
}
