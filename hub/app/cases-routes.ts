/**
 * The bad-rating cases' routes (role in brackets; hub/app/cases.ts does the work):
 *   GET  /api/app/cases?status=&overdue=&period=  [supervisor, head (own department), staff (own: the day, not the time; no notes, ticket or citizen)]
 *   GET  /api/app/cases/overdue                   [supervisor, head] overdue alerts with counts per step
 *   GET  /api/app/cases/figures?period=           [supervisor, head] 回访率, 整改率
 *   GET  /api/app/cases/:id                       [supervisor, head, staff (own, as in the list)] with every step
 *   POST /api/app/cases/:id/callback|rectify|feedback|review  { note, reached?, reopen? } [supervisor, head]
 *   POST /api/app/cases/:id/assign                { assignee, note? } [supervisor]
 *   POST /api/app/cases/:id/appeal                { reason } [staff: the rated one]
 *   POST /api/app/cases/:id/appeal/decision       { uphold, note } [supervisor]
 */

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { userOf, type User } from './auth.js';
import type { CaseStatus } from './cases.js';
import { guard, periodOf, PERIOD_QUERY, type AppContext } from './context.js';
import { AppError } from './http-util.js';
import { objectSchema, paramsSchema, querySchema } from '../http/validation.js';

/** Which cases a user may see: all (supervisor), their department's (head), their own (staff). */
function caseScope(user: User): { staff?: string; department?: string } {
  if (user.role === 'head') return { department: user.department ?? '\u0000' };
  if (user.role === 'staff') return { staff: user.staff ?? '\u0000' };
  return {};
}

const idParams = paramsSchema('id');

export function caseRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { cases } = ctx;
  app.get<{ Querystring: { status?: string; overdue?: string; period?: string } }>('/api/app/cases', {
    ...guard(ctx, 'supervisor', 'head', 'staff'),
    schema: { querystring: querySchema({ status: { type: 'string', description: 'a step: callback, rectify, feedback, review, closed' }, overdue: { type: 'string', description: '1 or true: only overdue cases' }, period: PERIOD_QUERY }) },
  }, async (request) => {
    const q = request.query;
    const p = q.period ? periodOf(ctx, q) : undefined;
    const user = userOf(request);
    const list = await cases.list({ ...caseScope(user), status: q.status, overdue: q.overdue === '1' || q.overdue === 'true', from: p?.from, to: p?.to });
    if (user.role !== 'staff') return { cases: list };
    // By day, then level and alias: the order within a day would tell which citizen it was.
    const mine = list.map((c) => cases.forStaff(c, user));
    return { cases: mine.sort((a, b) => b.ratedDay.localeCompare(a.ratedDay) || a.level - b.level || a.id.localeCompare(b.id)) };
  });
  app.get('/api/app/cases/overdue', guard(ctx, 'supervisor', 'head'), async (request) => {
    const list = await cases.list({ ...caseScope(userOf(request)), overdue: true });
    const counts: Record<string, number> = { callback: 0, rectify: 0, feedback: 0, review: 0 };
    for (const c of list) counts[c.status]++;
    return { counts, cases: list };
  });
  app.get('/api/app/cases/figures', { ...guard(ctx, 'supervisor', 'head'), schema: { querystring: querySchema({ period: PERIOD_QUERY }) } }, async (request) => {
    const user = userOf(request);
    const p = periodOf(ctx, request.query);
    return { period: p, ...(await cases.figures(p.from, p.to, user.role === 'head' ? user.department ?? '\u0000' : undefined)) };
  });
  const visible = async (request: FastifyRequest, id: string) => {
    const user = userOf(request);
    if (user.role === 'staff') {
      // A staff member names a case by its alias (or its id); another's case does not exist for them.
      const own = user.staff ? await cases.staffCase(id, user.staff) : undefined;
      if (!own) throw new AppError(404, `case ${id} does not exist`, 'id');
      return own;
    }
    const c = await cases.get(id);
    const scope = caseScope(user);
    if ((scope.staff && c.staff !== scope.staff) || (scope.department && c.department !== scope.department)) throw new AppError(404, `case ${id} does not exist`, 'id');
    return c;
  };
  app.get<{ Params: { id: string } }>('/api/app/cases/:id', { ...guard(ctx, 'supervisor', 'head', 'staff'), schema: { params: idParams } }, async (request) => {
    const c = await visible(request, request.params.id);
    const user = userOf(request);
    return { case: user.role === 'staff' ? cases.forStaff(c, user) : c };
  });
  for (const step of ['callback', 'rectify', 'feedback', 'review'] as CaseStatus[]) {
    app.post<{ Params: { id: string }; Body: { note: string; reached?: boolean | null; reopen?: boolean | null } }>(`/api/app/cases/:id/${step}`, {
      ...guard(ctx, 'supervisor', 'head'),
      schema: { params: idParams, body: objectSchema({ note: 'string', reached: 'boolean?', reopen: 'boolean?' }) },
    }, async (request) => {
      const b = request.body;
      await visible(request, request.params.id);
      return { case: await cases.advance(request.params.id, step, userOf(request), { note: b.note, reached: b.reached as boolean | undefined, reopen: b.reopen as boolean | undefined }) };
    });
  }
  app.post<{ Params: { id: string }; Body: { assignee: string; note?: string | null } }>('/api/app/cases/:id/assign', {
    ...guard(ctx, 'supervisor'), schema: { params: idParams, body: objectSchema({ assignee: 'string', note: 'string?' }) },
  }, async (request) => ({ case: await cases.assign(request.params.id, userOf(request), request.body.assignee, request.body.note ?? null) }));
  app.post<{ Params: { id: string }; Body: { reason: string } }>('/api/app/cases/:id/appeal', {
    ...guard(ctx, 'staff'), schema: { params: idParams, body: objectSchema({ reason: 'string' }) },
  }, async (request) => {
    const c = await visible(request, request.params.id);
    return { case: cases.forStaff(await cases.appeal(c.id, userOf(request), request.body.reason), userOf(request)) };
  });
  app.post<{ Params: { id: string }; Body: { uphold: boolean; note: string } }>('/api/app/cases/:id/appeal/decision', {
    ...guard(ctx, 'supervisor'), schema: { params: idParams, body: objectSchema({ uphold: 'boolean', note: 'string' }) },
  }, async (request) => ({ case: await cases.decideAppeal(request.params.id, userOf(request), request.body.uphold, request.body.note) }));
}
