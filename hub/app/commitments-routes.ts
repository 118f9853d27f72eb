/**
 * The commitment register's routes (role in brackets; hub/app/commitments.ts does the work):
 *   GET  /api/app/commitments?year=&department=   [supervisor, head] current versions with measured value and trend
 *   POST /api/app/commitments                     [supervisor, head (own department)] → version 1
 *   PUT  /api/app/commitments/:id                 [supervisor, head (own)] a revision: version n+1 (note required)
 *   GET  /api/app/commitments/:id/history         [supervisor, head]
 *   POST /api/app/commitments/:id/publish         [supervisor]
 *   GET  /api/app/commitments/export.csv|.json    [supervisor, head]
 *   POST /api/app/commitments/import              text/csv [supervisor] all rows or none; errors name line and column
 *   POST /api/app/online-cases                    { cases: [{ id, item, submittedAt, finishedAt, fullyOnline }] } [supervisor, technician]
 */

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { userOf, type User } from './auth.js';
import { checkCommitment } from './commitments.js';
import { guard, withMeasure, YEAR_QUERY, type AppContext } from './context.js';
import { AppError } from './http-util.js';
import { objectSchema, paramsSchema, querySchema, type FieldType } from '../http/validation.js';

const FIELDS: Record<string, FieldType> = { department: 'string', year: 'integer', clause: 'string', title: 'string', metric: 'string', item: 'string?', target: 'number?', measures: 'string', owner: 'string', deadline: 'string' };
/** A new commitment may say why; a revision must. */
const createBody = objectSchema({ ...FIELDS, note: 'string?' });
const reviseBody = objectSchema({ ...FIELDS, note: 'string' });
const listQuery = querySchema({ year: YEAR_QUERY, department: { type: 'string' } });
const idParams = paramsSchema('id');

export function commitmentRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { commitments } = ctx;
  const mayEdit = (user: User, department: string) => {
    if (user.role === 'head' && user.department !== department) throw new AppError(403, `a head of ${user.department} may not edit ${department}'s commitments`, 'department');
  };
  const listFilter = (request: FastifyRequest) => {
    const q = request.query as { year?: string; department?: string };
    const user = userOf(request);
    return { year: q.year ? Number(q.year) : undefined, department: user.role === 'head' ? user.department ?? '\u0000' : q.department };
  };
  const listed = { ...guard(ctx, 'supervisor', 'head'), schema: { querystring: listQuery } };
  app.get('/api/app/commitments', listed, async (request) => ({ commitments: await withMeasure(commitments, await commitments.list(listFilter(request))) }));
  app.get('/api/app/commitments/export.csv', listed, async (request, reply) => {
    const csv = commitments.toCsv(await commitments.list(listFilter(request)));
    return reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="commitments.csv"').send(csv);
  });
  app.get('/api/app/commitments/export.json', listed, async (request, reply) => {
    return reply.header('content-disposition', 'attachment; filename="commitments.json"').send({ commitments: await withMeasure(commitments, await commitments.list(listFilter(request))) });
  });
  // CSV text, checked line by line by importCsv (its errors name line and column); no JSON schema.
  app.post('/api/app/commitments/import', guard(ctx, 'supervisor'), async (request, reply) => {
    if (typeof request.body !== 'string') throw new AppError(400, 'body: send the CSV as text/csv', 'body');
    const imported = await commitments.importCsv(request.body, userOf(request).username);
    return reply.code(201).send({ imported: imported.length, commitments: imported });
  });
  app.post('/api/app/commitments', { ...guard(ctx, 'supervisor', 'head'), schema: { body: createBody } }, async (request, reply) => {
    const input = checkCommitment(request.body as Record<string, unknown>);
    mayEdit(userOf(request), input.department);
    return reply.code(201).send({ commitment: await commitments.create(input, userOf(request).username) });
  });
  app.put<{ Params: { id: string } }>('/api/app/commitments/:id', { ...guard(ctx, 'supervisor', 'head'), schema: { params: idParams, body: reviseBody } }, async (request) => {
    const input = checkCommitment(request.body as Record<string, unknown>);
    mayEdit(userOf(request), input.department);
    const current = await commitments.get(request.params.id);
    if (current) mayEdit(userOf(request), current.department);
    return { commitment: await commitments.revise(request.params.id, input, userOf(request).username) };
  });
  app.get<{ Params: { id: string } }>('/api/app/commitments/:id/history', { ...guard(ctx, 'supervisor', 'head'), schema: { params: idParams } }, async (request) => {
    const versions = await commitments.history(request.params.id);
    const user = userOf(request);
    if (user.role === 'head' && versions[0].department !== user.department) throw new AppError(404, `commitment ${request.params.id} does not exist`, 'id');
    return { versions };
  });
  app.post<{ Params: { id: string } }>('/api/app/commitments/:id/publish', { ...guard(ctx, 'supervisor'), schema: { params: idParams } }, async (request) => {
    return { commitment: await commitments.publish(request.params.id, userOf(request).username) };
  });
  // Each case is checked by importOnline, which names the case and field (cases[0].item).
  app.post<{ Body: { cases: unknown[] } }>('/api/app/online-cases', { ...guard(ctx, 'supervisor', 'technician'), schema: { body: objectSchema({ cases: 'array' }) } }, async (request, reply) => {
    return reply.code(201).send({ imported: await commitments.importOnline(request.body.cases, userOf(request).username) });
  });
}
