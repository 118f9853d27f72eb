/**
 * One error shape for every route of the hub, unknown routes included:
 *   { error: <code>, message: <what is wrong and where>, field: <the field at fault> | null }
 * where code is one of bad-request, unauthorized, forbidden, not-found, conflict,
 * too-many-requests, unavailable, internal. A feature throws an HttpError (or a subclass);
 * httpErrorHandler answers it, schema validation failures, a lost hall lease and the rest.
 */

import type { ErrorObject } from 'ajv';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { describeValidation } from './validation.js';

export type HttpStatus = 400 | 401 | 403 | 404 | 409 | 429;

const CODES: Record<number, string> = {
  400: 'bad-request', 401: 'unauthorized', 403: 'forbidden', 404: 'not-found', 405: 'bad-request', 409: 'conflict', 413: 'bad-request',
  415: 'bad-request', 429: 'too-many-requests', 503: 'unavailable',
};

export function errorCode(status: number): string {
  return CODES[status] ?? (status < 500 ? 'bad-request' : 'internal');
}

export class HttpError extends Error {
  constructor(readonly status: HttpStatus, message: string, readonly field: string | null = null) {
    super(message);
    this.name = 'HttpError';
  }
}

/** The fencing refusal of hub/district/lease.ts (by name, so HTTP code need not import the lease module). */
export function isLeaseLost(error: unknown): boolean {
  return error instanceof Error && error.name === 'LeaseLostError';
}

export function httpErrorHandler(error: FastifyError & { field?: string | null; status?: number }, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof HttpError) return reply.code(error.status).send({ error: errorCode(error.status), message: error.message, field: error.field });
  // A hall whose lease this hub just lost refuses every write: "try again" (on the new holder), not "internal error".
  if (isLeaseLost(error)) return reply.code(503).header('retry-after', '1').send({ error: 'unavailable', message: error.message, field: null });
  if (error.validation) {
    // A scope with useJsonSchemas (hub/http/validation.ts) has named the field; fastify's own formatter has not.
    if (error.field !== undefined) return reply.code(400).send({ error: 'bad-request', message: error.message, field: error.field });
    const { message, field } = describeValidation(error.validation as ErrorObject[], error.validationContext ?? 'body');
    return reply.code(400).send({ error: 'bad-request', message, field });
  }
  if (error.statusCode && error.statusCode < 500) return reply.code(error.statusCode).send({ error: errorCode(error.statusCode), message: error.message, field: null });
  request.log.error({ err: error }, 'HTTP request failed');
  return reply.code(500).send({ error: 'internal', message: 'internal error; see the hub log', field: null });
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.code(404).send({ error: 'not-found', message: `${request.method} ${request.url.split('?')[0]}: no such route`, field: null });
}

/** `?status=a&status=b`: a clear 400 rather than an array where a route expects one string. */
export async function rejectRepeatedQuery(request: FastifyRequest): Promise<void> {
  const query = request.query as Record<string, unknown> | undefined;
  if (!query) return;
  for (const [key, value] of Object.entries(query)) {
    if (Array.isArray(value)) throw new HttpError(400, `query.${key}: given ${value.length} times; give it once`, `query.${key}`);
  }
}
