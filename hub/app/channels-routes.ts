/**
 * The channels' staff-side routes (role in brackets; hub/app/channels.ts does the work):
 *   GET  /api/app/rating-link/:ticket             [supervisor, technician] the QR link of a ticket (staff: 403, logged)
 *   GET  /api/app/suggestions?status=, POST /api/app/suggestions/:id/reply { reply, status }   [supervisor]
 *   POST /api/app/exposures { title, body, department?, win?, source?, rectification? }, POST /api/app/exposures/:id/withdraw { note }   [supervisor]
 *   POST /api/app/panel/scores { member, department, period, scores }, GET /api/app/panel/profile?period=   [supervisor; profile also head]
 * The public side (suggestions, the exposure board, the phone rating page) is in public-routes.ts.
 */

import type { FastifyInstance } from 'fastify';
import { userOf } from './auth.js';
import { guard, type AppContext } from './context.js';
import { AppError } from './http-util.js';
import { ticketById } from '../queue/lookup.js';
import { objectSchema, paramsSchema, querySchema } from '../http/validation.js';

const REPLY_STATUSES = ['answered', 'verified', 'rejected'] as const;

export function channelRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { channels } = ctx;
  // The link goes where the citizen is (the printed ticket, the window's done screen), never to
  // staff: with it they could rate their own service or sink a colleague's.
  app.get<{ Params: { ticket: string } }>('/api/app/rating-link/:ticket', { ...guard(ctx, 'supervisor', 'technician', 'staff'), schema: { params: paramsSchema('ticket') } }, async (request) => {
    const user = userOf(request);
    if (user.role === 'staff') {
      ctx.log.warn({ user: user.username, staff: user.staff, ticket: request.params.ticket }, 'staff asked for a rating link; refused');
      throw new AppError(403, 'ticket: window staff may not have a rating link; it is printed on the ticket or shown on the window when the service ends', 'ticket');
    }
    if (!(await ticketById(ctx.db, request.params.ticket))) throw new AppError(404, `ticket ${request.params.ticket} does not exist`, 'ticket');
    return { ticket: request.params.ticket, url: ctx.ratingLink(request.params.ticket) };
  });
  app.get<{ Querystring: { status?: string } }>('/api/app/suggestions', { ...guard(ctx, 'supervisor'), schema: { querystring: querySchema({ status: { type: 'string' } }) } },
    async (request) => ({ suggestions: await channels.suggestions({ status: request.query.status }) }));
  app.post<{ Params: { id: string }; Body: { reply: string; status: (typeof REPLY_STATUSES)[number] } }>('/api/app/suggestions/:id/reply', {
    ...guard(ctx, 'supervisor'),
    schema: { params: paramsSchema('id'), body: objectSchema({ reply: 'string', status: { type: 'string', enum: REPLY_STATUSES } }) },
  }, async (request) => {
    await channels.reply(request.params.id, userOf(request).username, request.body.reply, request.body.status);
    return { ok: true };
  });
  app.post<{ Body: { title: string; body: string; department?: string | null; win?: string | null; source?: string | null; rectification?: string | null } }>('/api/app/exposures', {
    ...guard(ctx, 'supervisor'),
    schema: { body: objectSchema({ title: 'string', body: 'string', department: 'string?', win: 'string?', source: 'string?', rectification: 'string?' }) },
  }, async (request, reply) => {
    const b = request.body;
    return reply.code(201).send(await channels.expose({ title: b.title, body: b.body, department: b.department ?? null, win: b.win ?? null, source: b.source ?? null, rectification: b.rectification ?? null }, userOf(request).username));
  });
  app.post<{ Params: { id: string }; Body: { note: string } }>('/api/app/exposures/:id/withdraw', {
    ...guard(ctx, 'supervisor'), schema: { params: paramsSchema('id'), body: objectSchema({ note: 'string' }) },
  }, async (request) => {
    await channels.withdrawExposure(request.params.id, userOf(request).username, request.body.note);
    return { ok: true };
  });
  // Each score is checked by channels.score, which names it (scores.attitude).
  app.post<{ Body: { member: string; department: string; period: string; scores: Record<string, unknown> } }>('/api/app/panel/scores', {
    ...guard(ctx, 'supervisor'), schema: { body: objectSchema({ member: 'string', department: 'string', period: 'string', scores: 'object' }) },
  }, async (request, reply) => {
    const b = request.body;
    await channels.score({ member: b.member, department: b.department, period: b.period, scores: b.scores }, userOf(request).username);
    return reply.code(201).send({ ok: true });
  });
  app.get<{ Querystring: { period: string } }>('/api/app/panel/profile', {
    ...guard(ctx, 'supervisor', 'head'),
    schema: { querystring: querySchema({ period: { type: 'string', minLength: 1, maxLength: 40, description: 'YYYY, YYYY-Qn or YYYY-MM' } }, ['period']) },
  }, async (request) => ({ period: request.query.period, departments: await channels.panelProfile(request.query.period) }));
}
