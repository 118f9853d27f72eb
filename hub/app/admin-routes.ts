/**
 * Routes the administration screens need beside the existing ones (role in brackets):
 *   GET /api/auth/first-start                 [any signed-in user] { changePassword }: true while the
 *                                             user still has the password they were created with
 *   GET /api/app/rating-qr/:ticket?format=png|svg  [supervisor, technician] the ticket's absolute
 *                                             rating link as a QR image (staff: 403, as the link)
 *   GET /api/app/rating-link-abs/:ticket      [supervisor, technician] { ticket, url, svg }
 *   GET /api/app/windows/:win/done-screen     [supervisor, technician, kiosk] the window's done screen:
 *                                             its last finished ticket with the absolute link and its QR (SVG)
 */

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { userOf } from './auth.js';
import { guard, type AppContext } from './context.js';
import { AppError, num } from './http-util.js';
import { ratingLink, ratingQrPng, ratingQrSvg } from './rating-link.js';
import { ticketById } from '../queue/lookup.js';
import { paramsSchema, querySchema } from '../http/validation.js';

/** The hall's public URL, or (when the setting is empty) the origin this request came to, so the link is always absolute. */
function publicBase(ctx: AppContext, request: FastifyRequest): string {
  return ctx.options.publicBaseUrl || `${request.protocol}://${request.host}`;
}

export function adminRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/api/auth/first-start', guard(ctx), async (request) => {
    const me = userOf(request);
    const r = await ctx.db.get<{ created_at: unknown; updated_at: unknown }>('SELECT created_at, updated_at FROM app_users WHERE username = $1', [me.username]);
    // Never changed since it was made (by the first start, or by a supervisor): ask for a password of their own.
    return { changePassword: !!r && num(r.created_at) === num(r.updated_at) };
  });

  const linkOf = async (request: FastifyRequest, ticket: string) => {
    const user = userOf(request);
    if (user.role === 'staff') {
      ctx.log.warn({ user: user.username, staff: user.staff, ticket }, 'staff asked for a rating QR; refused');
      throw new AppError(403, 'ticket: window staff may not have a rating link; it is printed on the ticket or shown on the window when the service ends', 'ticket');
    }
    if (!(await ticketById(ctx.db, ticket))) throw new AppError(404, `ticket ${ticket} does not exist`, 'ticket');
    return ratingLink(publicBase(ctx, request), ctx.channels.tokenFor(ticket));
  };
  const who = guard(ctx, 'supervisor', 'technician', 'staff');
  app.get<{ Params: { ticket: string }; Querystring: { format?: string } }>('/api/app/rating-qr/:ticket', {
    ...who, schema: { params: paramsSchema('ticket'), querystring: querySchema({ format: { type: 'string', enum: ['png', 'svg'] } }) },
  }, async (request, reply) => {
    const url = await linkOf(request, request.params.ticket);
    reply.header('cache-control', 'no-store');
    if (request.query.format === 'svg') return reply.type('image/svg+xml').send(await ratingQrSvg(url));
    return reply.type('image/png').send(await ratingQrPng(url));
  });
  app.get<{ Params: { ticket: string } }>('/api/app/rating-link-abs/:ticket', { ...who, schema: { params: paramsSchema('ticket') } }, async (request) => {
    const url = await linkOf(request, request.params.ticket);
    return { ticket: request.params.ticket, url, svg: await ratingQrSvg(url) };
  });

  // The done screen beside a window (a browser on the window's screen, signed in with a kiosk
  // token): the citizen just served scans it. Not staff: the link would let them rate themselves.
  app.get<{ Params: { win: string } }>('/api/app/windows/:win/done-screen', { ...guard(ctx, 'supervisor', 'technician', 'kiosk'), schema: { params: paramsSchema('win') } }, async (request) => {
    const win = request.params.win;
    if (!(await ctx.db.get('SELECT id FROM queue_windows WHERE id = $1', [win]))) throw new AppError(404, `win: window ${win} is not set up in this hall`, 'win');
    const t = await ctx.db.get<{ id: string; number: string; finished_at: unknown }>(
      `SELECT id, number, finished_at FROM queue_tickets WHERE win = $1 AND status = 'done' AND finished_at IS NOT NULL ORDER BY finished_at DESC, id DESC LIMIT 1`, [win]);
    if (!t) return { win, ticket: null, number: null, url: null, svg: null, finishedAt: null };
    const url = ratingLink(publicBase(ctx, request), ctx.channels.tokenFor(t.id));
    return { win, ticket: t.id, number: t.number, url, svg: await ratingQrSvg(url), finishedAt: num(t.finished_at) };
  });
}
