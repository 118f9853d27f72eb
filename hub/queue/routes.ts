/**
 * HTTP API of the queue, mounted under /api/queue on the hub's fastify server (role in brackets;
 * auth.requireRole answers 401 without a credential and 403 for another role, and the handler
 * never runs):
 *
 *   GET  /api/queue/setup                      [any signed-in user] departments, items, windows, staff
 *   PUT  /api/queue/departments/:id            [supervisor] { name }
 *   PUT  /api/queue/items/:code                [supervisor] { name, department, prefix, limitDays }
 *   PUT  /api/queue/windows/:id                [supervisor] { name, items: [code…] }
 *   PUT  /api/queue/staff/:id                  [supervisor] { name, department }
 *   POST /api/queue/windows/:id/sign-in        [supervisor, or staff signing themself in] { staff }
 *   POST /api/queue/windows/:id/sign-out       [supervisor, or the staff signed in there]
 *   POST /api/queue/windows/:id/serving        [supervisor, or the staff signed in there] the citizen is at the counter: service time starts
 *   GET  /api/queue/windows/:id/display        open: what the window's display shows the hall now
 *   POST /api/queue/tickets                    open (kiosk, phone) { item, priority, caseNo?, channel? } → number, people ahead,
 *                                              and the ticket's code and lookup URL (printed on the ticket)
 *                                              priority normal: anyone; elderly-disabled and appointment: a kiosk
 *                                              API token or a supervisor's (appointments are not verified yet).
 *                                              Limited per kiosk token, else per address; only a supervisor's
 *                                              token is not. Cookies count for nothing here (a foreign page could send them).
 *   GET  /api/queue/tickets/:number?day=&code= [supervisor, technician] one ticket with its history; anyone else
 *                                              with the ticket's code: its state only (403 without, 404 for a wrong one)
 *   GET  /api/queue/hall                       open: the hall snapshot (the public waiting screen)
 *
 * Bodies are validated with JSON Schema (our own Ajv: no type coercion, unknown fields
 * refused rather than silently dropped). An error is JSON { error, message, field } and the
 * message names the field, e.g. `body.prefix: must match pattern "^[A-Z]{1,2}$"`.
 */

import { Ajv, type ErrorObject } from 'ajv';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { QueueService } from './service.js';
import { userOf, type Auth } from '../app/auth.js';
import { ISSUE_CHANNELS, PRIORITY_CLASSES, QueueError, type IssueChannel, type PriorityClass } from './types.js';
import { httpErrorHandler, rejectRepeatedQuery } from '../http/errors.js';
import { ephemeralTicketKey, ticketCode, ticketCodeMatches } from './ticket-code.js';

const ID = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,32}$' } as const;
const NAME = { type: 'string', minLength: 1, maxLength: 100 } as const;
const DAY = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' } as const;

const idParams = { type: 'object', required: ['id'], properties: { id: ID }, additionalProperties: false } as const;
const codeParams = { type: 'object', required: ['code'], properties: { code: ID }, additionalProperties: false } as const;
function body(required: string[], properties: Record<string, unknown>) {
  return { type: 'object', required, properties, additionalProperties: false };
}

/** "body.items[2]: must match pattern …" — the field first, then what is wrong with it. */
export function describeErrors(errors: ErrorObject[], context: string): { message: string; field: string } {
  const e = errors[0];
  const path = e.instancePath.split('/').slice(1).map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`)).join('');
  let field = context + path;
  let message = e.message ?? 'is invalid';
  const params = e.params as Record<string, unknown>;
  if (e.keyword === 'required') {
    field += `.${params.missingProperty as string}`;
    message = 'is required';
  } else if (e.keyword === 'additionalProperties') {
    field += `.${params.additionalProperty as string}`;
    message = 'is not a known field';
  } else if (e.keyword === 'enum') {
    message = `must be one of ${(params.allowedValues as unknown[]).join(', ')}`;
  }
  return { message: `${field}: ${message}`, field };
}

export interface QueueRouteOptions {
  /** Tickets per minute from one address without a kiosk token, and for each kiosk token (burst the same); 0: no limit. */
  ticketsPerMinute: number;
  /** Key of the tickets' lookup codes (hub/queue/ticket-code.ts); without one, a random key that lasts until the process ends. */
  ticketKey?: Uint8Array;
}

/**
 * Per-address token bucket for anonymous ticket issuing: a kiosk issues a few a minute, a
 * script flooding the queue is refused with 429 before anything is written.
 */
export class TicketLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(private readonly perMinute: number, private readonly now: () => number = Date.now) {}

  /** 0 when allowed (and counted), else milliseconds until the next ticket may be issued. */
  take(address: string): number {
    if (this.perMinute <= 0) return 0;
    const t = this.now();
    const rate = this.perMinute / 60_000; // tokens per millisecond
    if (this.buckets.size > 10_000) for (const [k, b] of this.buckets) if (b.tokens + (t - b.at) * rate >= this.perMinute) this.buckets.delete(k);
    const b = this.buckets.get(address) ?? { tokens: this.perMinute, at: t };
    b.tokens = Math.min(this.perMinute, b.tokens + (t - b.at) * rate);
    b.at = t;
    this.buckets.set(address, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - b.tokens) / rate);
  }
}

const LOOKUP_FAILURES_PER_MINUTE = 30;

function forbidden(reply: FastifyReply, message: string): FastifyReply {
  return reply.code(403).send({ error: 'forbidden', message, field: null });
}

export function queueRoutes(app: FastifyInstance, queue: QueueService, auth: Auth, options: QueueRouteOptions = { ticketsPerMinute: 30 }): void {
  const signedIn = auth.requireRole();
  const supervisor = auth.requireRole('supervisor');
  const atWindow = auth.requireRole('supervisor', 'staff');
  const limiter = new TicketLimiter(options.ticketsPerMinute);
  const ticketKey = options.ticketKey ?? ephemeralTicketKey();
  // Wrong lookup codes: 30 a minute per address, then 429 until the bucket refills, checked before
  // any code is, so a guesser cannot tell a right guess while refused.
  const wrongCodes = new TicketLimiter(LOOKUP_FAILURES_PER_MINUTE);
  const refusedUntil = new Map<string, number>();
  /** Staff may act only at the window where they are signed in; a supervisor anywhere. */
  const ownWindow = async (request: FastifyRequest, reply: FastifyReply, win: string): Promise<boolean> => {
    const user = userOf(request);
    if (user.role === 'supervisor') return true;
    const w = (await queue.setup()).windows.find((x) => x.id === win);
    if (w && user.staff !== null && w.staff === user.staff) return true;
    forbidden(reply, `window ${win}: only a supervisor or the staff signed in there may do this; you are ${user.username}${user.staff ? ` (staff ${user.staff})` : ''}`);
    return false;
  };

  app.register(async (scope) => {
    const ajv = new Ajv({ allErrors: false, coerceTypes: false, useDefaults: true, removeAdditional: false });
    // Path and query strings are text; numbers in them would need coercion, so none are used.
    scope.setValidatorCompiler(({ schema }) => ajv.compile(schema));
    scope.setSchemaErrorFormatter((errors, context) => {
      const { message, field } = describeErrors(errors as ErrorObject[], context);
      return Object.assign(new Error(message), { field });
    });
    scope.setErrorHandler(httpErrorHandler);
    scope.addHook('preValidation', rejectRepeatedQuery);

    scope.get('/api/queue/setup', { onRequest: signedIn }, async () => queue.setup());

    scope.put<{ Params: { id: string }; Body: { name: string } }>('/api/queue/departments/:id', {
      onRequest: supervisor,
      schema: { params: idParams, body: body(['name'], { name: NAME }) },
    }, async (req) => queue.putDepartment({ id: req.params.id, name: req.body.name }));

    scope.put<{ Params: { code: string }; Body: { name: string; department: string; prefix: string; limitDays: number } }>('/api/queue/items/:code', {
      onRequest: supervisor,
      schema: {
        params: codeParams,
        body: body(['name', 'department', 'prefix', 'limitDays'], {
          name: { type: 'string', minLength: 1, maxLength: 200 },
          department: ID,
          // A letter or two: the number is shown and spoken (A042), and must fit a ticket id.
          prefix: { type: 'string', pattern: '^[A-Z]{1,2}$' },
          // Statutory time limit in working days; 0 means done on the spot (即办).
          limitDays: { type: 'integer', minimum: 0, maximum: 3650 },
        }),
      },
    }, async (req) => queue.putItem({ code: req.params.code, ...req.body }));

    scope.put<{ Params: { id: string }; Body: { name: string; items: string[] } }>('/api/queue/windows/:id', {
      onRequest: supervisor,
      schema: { params: idParams, body: body(['name', 'items'], { name: NAME, items: { type: 'array', items: ID, maxItems: 200 } }) },
    }, async (req) => queue.putWindow({ id: req.params.id, ...req.body }));

    scope.put<{ Params: { id: string }; Body: { name: string; department: string } }>('/api/queue/staff/:id', {
      onRequest: supervisor,
      schema: { params: idParams, body: body(['name', 'department'], { name: NAME, department: ID }) },
    }, async (req) => queue.putStaff({ id: req.params.id, ...req.body }));

    scope.post<{ Params: { id: string }; Body: { staff: string } }>('/api/queue/windows/:id/sign-in', {
      onRequest: atWindow,
      schema: { params: idParams, body: body(['staff'], { staff: ID }) },
    }, async (req, reply) => {
      const user = userOf(req);
      if (user.role !== 'supervisor' && user.staff !== req.body.staff) return forbidden(reply, `body.staff: staff sign in only themselves; you are ${user.username}${user.staff ? ` (staff ${user.staff})` : ''}`);
      return queue.signIn(req.params.id, req.body.staff);
    });

    scope.post<{ Params: { id: string } }>('/api/queue/windows/:id/sign-out', { onRequest: atWindow, schema: { params: idParams } },
      async (req, reply) => ((await ownWindow(req, reply, req.params.id)) ? queue.signOut(req.params.id) : reply));

    scope.post<{ Params: { id: string } }>('/api/queue/windows/:id/serving', { onRequest: atWindow, schema: { params: idParams } },
      async (req, reply) => ((await ownWindow(req, reply, req.params.id)) ? queue.startService(req.params.id) : reply));

    scope.get<{ Params: { id: string } }>('/api/queue/windows/:id/display', { schema: { params: idParams } },
      async (req) => queue.displayFor(req.params.id));

    scope.post<{ Body: { item: string; priority: PriorityClass; caseNo?: string | null; channel?: IssueChannel } }>('/api/queue/tickets', {
      schema: {
        body: body(['item', 'priority'], {
          item: ID,
          priority: { type: 'string', enum: PRIORITY_CLASSES },
          // The case number (办件编号) when the citizen already has one, e.g. from an online application.
          caseNo: { type: ['string', 'null'], minLength: 1, maxLength: 64 },
          channel: { type: 'string', enum: ISSUE_CHANNELS, default: 'kiosk' },
        }),
      },
    }, async (req, reply) => {
      // Credentials are not needed here. Only an API token in Authorization counts (never the
      // session cookie, which any page of the same site can make a browser send): its role decides
      // the priority classes and the rate bucket.
      const bearer = /^Bearer\s+\S/i.test(req.headers.authorization ?? '');
      const user = bearer ? await auth.session(auth.tokenOf(req)) : undefined;
      if (bearer && !user) return reply.code(401).send({ error: 'unauthorized', message: 'authorization: this token is not valid (expired or revoked); send none to take a normal ticket', field: 'headers.authorization' });
      const role = user?.role;
      const priorityIssuer = role === 'kiosk' || role === 'supervisor';
      if (req.body.priority === 'appointment' && !priorityIssuer) {
        return reply.code(403).send({ error: 'forbidden', field: 'body.priority', message: 'body.priority: appointment needs a verified appointment, and this hub does not verify appointments yet; only a kiosk token or a supervisor may issue one' });
      }
      if (req.body.priority === 'elderly-disabled' && !priorityIssuer) {
        return reply.code(403).send({ error: 'forbidden', field: 'body.priority', message: 'body.priority: elderly-disabled tickets are issued at a kiosk with a kiosk token or by a supervisor; ask at the kiosk or the counter' });
      }
      if (options.ticketsPerMinute > 0 && role !== 'supervisor') {
        // Each kiosk token has its own bucket; everyone else (no token, staff, technicians) shares their address's.
        const kiosk = role === 'kiosk';
        const wait = limiter.take(kiosk ? `kiosk ${user!.username}` : `addr ${req.ip}`);
        if (wait > 0) {
          return reply.code(429).header('retry-after', String(Math.ceil(wait / 1000)))
            .send({ error: 'too-many-requests', message: `tickets: at most ${options.ticketsPerMinute} a minute ${kiosk ? 'for this kiosk token' : 'from one address'}; try again in ${Math.ceil(wait / 1000)} s`, field: null });
        }
      }
      const issued = await queue.issueTicket(req.body);
      // The code goes only to whoever took the ticket: it is printed on it, and is the public's key to its state.
      const code = ticketCode(ticketKey, issued.id);
      const day = queue.dayOf(issued.issuedAt);
      return reply.code(201).send({ ...issued, code, lookup: `/api/queue/tickets/${issued.number}?day=${day}&code=${code}` });
    });

    scope.get<{ Params: { number: string }; Querystring: { day?: string; code?: string } }>('/api/queue/tickets/:number', {
      schema: {
        params: { type: 'object', required: ['number'], properties: { number: { type: 'string', pattern: '^[A-Za-z0-9-]{1,16}$' } } },
        querystring: { type: 'object', properties: { day: DAY, code: { type: 'string', pattern: '^[0-9A-Za-z]{1,16}$' } }, additionalProperties: false },
      },
    }, async (req, reply) => {
      const user = await auth.session(auth.tokenOf(req)).catch(() => undefined);
      if (user && (user.role === 'supervisor' || user.role === 'technician')) return queue.ticket(req.params.number, req.query.day);
      // Everyone else, staff included: the ticket's state, and only with the code it carries.
      const { code } = req.query;
      if (code === undefined) {
        return reply.code(403).send({ error: 'forbidden', message: 'querystring.code: a ticket is looked up with the code printed on it', field: 'querystring.code' });
      }
      const until = refusedUntil.get(req.ip) ?? 0;
      if (until > Date.now()) {
        return reply.code(429).header('retry-after', String(Math.ceil((until - Date.now()) / 1000)))
          .send({ error: 'too-many-requests', message: `querystring.code: at most ${LOOKUP_FAILURES_PER_MINUTE} wrong codes a minute from one address; try again later`, field: 'querystring.code' });
      }
      const t = await queue.ticket(req.params.number, req.query.day).catch((error: unknown) => {
        if (error instanceof QueueError && error.status === 404) return undefined;
        throw error;
      });
      // A wrong code and a ticket never issued get the same answer, so a guess says nothing of whether the ticket exists.
      if (!t || !ticketCodeMatches(ticketKey, t.id, code)) {
        const wait = wrongCodes.take(req.ip);
        if (wait > 0) {
          if (refusedUntil.size > 10_000) for (const [ip, u] of refusedUntil) if (u <= Date.now()) refusedUntil.delete(ip);
          refusedUntil.set(req.ip, Date.now() + wait);
        }
        return reply.code(404).send({ error: 'not-found', message: `ticket ${req.params.number}: no ticket with this code${req.query.day ? ` on ${req.query.day}` : ' today'}`, field: 'querystring.code' });
      }
      return { number: t.number, day: t.day, status: t.status };
    });

    scope.get('/api/queue/hall', async () => queue.snapshot());
  });
}
