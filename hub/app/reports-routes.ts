/**
 * Figures and reports (role in brackets; hub/app/figures.ts and report.ts do the work):
 *   GET  /api/app/figures?period=&by=             [supervisor, head (own department)] 满意率, 差评率, 主动评价率
 *   GET  /api/app/my/ratings?period=              [staff] own ratings: day, level, reason, item; never the citizen
 *   GET  /api/app/reports/:period.json|.csv|.pdf  [supervisor, head]   period: 2025-03, 2025-Q1, 2025
 */

import type { FastifyInstance } from 'fastify';
import { BAD_RATING_MAX } from '../../firmware/core/protocol.js';
import { userOf } from './auth.js';
import { guard, periodOf, PERIOD_QUERY, type AppContext } from './context.js';
import { figuresOf, groupedCounts, parsePeriod, rollUp, type Dimension } from '../ratings/figures.js';
import { AppError } from './http-util.js';
import { buildReport, reportCsv, reportPdf } from './report.js';
import { paramsSchema, querySchema } from '../http/validation.js';

const DIMENSIONS: Dimension[] = ['department', 'win', 'staff', 'item'];

export function reportRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { options } = ctx;
  app.get<{ Querystring: { period?: string; by?: Dimension } }>('/api/app/figures', {
    ...guard(ctx, 'supervisor', 'head'),
    schema: { querystring: querySchema({ period: PERIOD_QUERY, by: { type: 'string', enum: DIMENSIONS } }) },
  }, async (request) => {
    const user = userOf(request);
    const by = request.query.by ?? 'department';
    const p = periodOf(ctx, request.query);
    let groups = await groupedCounts(ctx.db, p.from, p.to, { utcOffsetMinutes: options.utcOffsetMinutes });
    // A head sees their own department only.
    if (user.role === 'head') groups = groups.filter((g) => g.department === user.department);
    const rows = [...rollUp(groups, by).entries()].map(([id, c]) => ({ id, ...figuresOf(c) })).sort((a, b) => a.id.localeCompare(b.id));
    return { period: p, by, rows };
  });

  app.get('/api/app/my/ratings', { ...guard(ctx, 'staff'), schema: { querystring: querySchema({ period: PERIOD_QUERY }) } }, async (request) => {
    const user = userOf(request);
    const p = periodOf(ctx, request.query);
    // Only what the staff member needs to improve: the day, not the minute, and nothing of the citizen or the ticket.
    const ratings = await ctx.ratings.ofStaff(user.staff ?? '\u0000', p.from, p.to);
    const counts = { ratings: ratings.length, good: ratings.filter((r) => r.level >= 4).length, bad: ratings.filter((r) => r.level <= BAD_RATING_MAX).length };
    return { period: p, staff: user.staff, ...counts, satisfaction: counts.ratings ? counts.good / counts.ratings : null, badRate: counts.ratings ? counts.bad / counts.ratings : null, ratings };
  });

  app.get<{ Params: { file: string } }>('/api/app/reports/:file', { ...guard(ctx, 'supervisor', 'head'), schema: { params: paramsSchema('file') } }, async (request, reply) => {
    const m = /^(.+)\.(json|csv|pdf)$/.exec(request.params.file);
    if (!m) throw new AppError(400, 'file: expected <period>.json, .csv or .pdf, e.g. 2025-03.pdf', 'file');
    const period = parsePeriod(m[1], options.utcOffsetMinutes, 'file');
    const user = userOf(request);
    // A department head's report, trend and cases are their department's.
    const department = user.role === 'head' ? user.department ?? '\u0000' : null;
    const report = await buildReport(ctx.db, ctx.cases, period, { utcOffsetMinutes: options.utcOffsetMinutes, now: ctx.now(), hallName: options.hallName, department });
    if (m[2] === 'json') return report;
    const name = `sannuo-${period.label}${department ? `-${department}` : ''}`;
    if (m[2] === 'csv') return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}.csv"`).send(reportCsv(report));
    const pdf = await reportPdf(report, options.utcOffsetMinutes);
    return reply.type('application/pdf').header('content-disposition', `inline; filename="${name}.pdf"`).send(pdf);
  });
}
