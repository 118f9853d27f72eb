/**
 * The day's HTTP API (role in brackets; hub/day/feature.ts does the work). Errors are
 * { error, message, field }, and a refused request changes nothing.
 *
 *   GET    /api/day/hours                       open: the hall's and the items' hours, and whether each is open now
 *   PUT    /api/day/hours/:scope                [supervisor] { open, close, lastTicket, days } ('*' the hall, else an item code)
 *   DELETE /api/day/hours/:scope                [supervisor] open around the clock again
 *   POST   /api/day/sweep                       [supervisor] close what waits past its closing now (the timer does it every sweepSeconds)
 *   PUT    /api/day/items/:code/tags            [supervisor] { tags: [chuanyu | cross-province | assisted | on-site] }
 *   PUT    /api/day/packages/:code              [supervisor] { name, win, limitDays, steps: [{ item, win }] } 一件事一次办
 *   GET    /api/day/packages                    open
 *   POST   /api/day/tickets                     [kiosk, supervisor] { item | package, priority, tags?, channel? }
 *   GET    /api/day/tickets/:id                 [supervisor] a ticket's tags, package and the timing of each package step
 *   PUT    /api/day/slots/:id                   [supervisor] { item, startsAt (ms), minutes, capacity, closed? }
 *   GET    /api/day/slots?day=YYYY-MM-DD        open: the day's slots with what is booked
 *   PUT    /api/day/bookings/:id                [kiosk, supervisor] { slot }: 201 booked, 200 the same booking again
 *   GET    /api/day/bookings/:id                [kiosk, supervisor]
 *   POST   /api/day/bookings/:id/cancel         [kiosk, supervisor] (again: the same answer)
 *   POST   /api/day/bookings/:id/check-in       [kiosk, supervisor] { channel: kiosk | phone } → the ticket (again: the same ticket)
 */

import type { FastifyInstance } from 'fastify';
import type { Auth } from '../app/auth.js';
import { httpErrorHandler, rejectRepeatedQuery } from '../http/errors.js';
import { objectSchema, useJsonSchemas } from '../http/validation.js';
import { PRIORITY_CLASSES, QueueError, type PriorityClass } from '../queue/types.js';
import { HALL_SCOPE, HHMM_PATTERN, type Hours } from './hours.js';
import type { DayFeature } from './feature.js';
import { TAGS, type Tag } from './tags.js';
import { bookingById, slotsBetween } from './appointments.js';
import { listPackages, type PackageStep } from './packages.js';

const ID = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'letters, digits, _ and -, at most 64' } as const;
const HHMM = { type: 'string', pattern: HHMM_PATTERN, description: 'HH:MM' } as const;
const params = (name: string, schema: Record<string, unknown> = ID) => ({ type: 'object', required: [name], properties: { [name]: schema } });
const TAG_LIST = { type: 'array', items: { type: 'string', enum: TAGS }, maxItems: TAGS.length } as const;

export function dayRoutes(app: FastifyInstance, day: DayFeature, auth: Auth): void {
  const supervisor = auth.requireRole('supervisor');
  const booking = auth.requireRole('supervisor', 'kiosk');
  app.register(async (scope) => {
    scope.setErrorHandler(httpErrorHandler);
    useJsonSchemas(scope);
    scope.addHook('preValidation', rejectRepeatedQuery);
    const db = day.deps;

    scope.get('/api/day/hours', async () => {
      const at = db.now();
      const rows = await db.db.all<{ scope: string }>(`SELECT scope FROM day_hours ORDER BY scope`);
      const out: Record<string, unknown> = {};
      for (const { scope: s } of [{ scope: HALL_SCOPE }, ...rows.filter((r) => r.scope !== HALL_SCOPE)]) out[s] = { hours: await day.hours(db.db, s), now: await day.state(db.db, s, at) };
      return { at, scopes: out };
    });
    scope.put<{ Params: { scope: string }; Body: Hours }>('/api/day/hours/:scope', {
      onRequest: supervisor,
      schema: { params: params('scope', { type: 'string', pattern: '^(\\*|[A-Za-z0-9_-]{1,32})$', description: "'*' or an item code" }), body: objectSchema({ open: HHMM, close: HHMM, lastTicket: HHMM, days: { type: 'string', enum: ['working', 'every'] } }) },
    }, async (req) => ({ scope: req.params.scope, hours: await day.putHours(req.params.scope, req.body) }));
    scope.delete<{ Params: { scope: string } }>('/api/day/hours/:scope', { onRequest: supervisor, schema: { params: params('scope', { type: 'string', maxLength: 32 }) } },
      async (req) => ({ scope: req.params.scope, hours: await day.putHours(req.params.scope, null) }));
    scope.post('/api/day/sweep', { onRequest: supervisor }, async () => day.sweep());

    scope.put<{ Params: { code: string }; Body: { tags: Tag[] } }>('/api/day/items/:code/tags', {
      onRequest: supervisor, schema: { params: params('code'), body: objectSchema({ tags: TAG_LIST }) },
    }, async (req) => ({ item: req.params.code, tags: await day.putItemTags(req.params.code, req.body.tags) }));

    scope.put<{ Params: { code: string }; Body: { name: string; win: string | null; limitDays: number; steps: PackageStep[] } }>('/api/day/packages/:code', {
      onRequest: supervisor,
      schema: {
        params: params('code'),
        body: objectSchema({
          name: { type: 'string', minLength: 1, maxLength: 200 },
          // One package window (综合窗口) for every step, or null: each step's own window, in order.
          win: { type: ['string', 'null'], pattern: ID.pattern },
          // The package's promised limit in working days, set against the sum of its items' limits.
          limitDays: { type: 'integer', minimum: 0, maximum: 3650 },
          steps: { type: 'array', minItems: 2, maxItems: 30, items: objectSchema({ item: ID, win: { type: ['string', 'null'], pattern: ID.pattern } }) },
        }),
      },
    }, async (req) => day.putPackage({ code: req.params.code, ...req.body }));
    scope.get('/api/day/packages', async () => ({ packages: await listPackages(db.db) }));

    scope.post<{ Body: { item?: string; package?: string; priority: PriorityClass; tags?: Tag[]; channel?: 'kiosk' | 'phone' | 'counter' } }>('/api/day/tickets', {
      onRequest: booking,
      schema: { body: { type: 'object', required: ['priority'], additionalProperties: false, properties: { item: ID, package: ID, priority: { type: 'string', enum: PRIORITY_CLASSES }, tags: TAG_LIST, channel: { type: 'string', enum: ['kiosk', 'phone', 'counter'] } } } },
    }, async (req, reply) => reply.code(201).send(await day.issue({ ...req.body, tags: req.body.tags ?? [] })));
    scope.get<{ Params: { id: string } }>('/api/day/tickets/:id', { onRequest: supervisor, schema: { params: params('id') } }, async (req) => {
      const pkg = await db.db.get<{ package: string; step: number }>(`SELECT package, step FROM day_package_tickets WHERE ticket = $1`, [req.params.id]);
      return { ticket: req.params.id, tags: await day.tagsOf(db.db, req.params.id), package: pkg?.package ?? null, steps: await day.packageSteps(req.params.id) };
    });

    scope.put<{ Params: { id: string }; Body: { item: string; startsAt: number; minutes: number; capacity: number; closed?: boolean } }>('/api/day/slots/:id', {
      onRequest: supervisor,
      schema: { params: params('id'), body: { ...objectSchema({ item: ID, startsAt: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER }, minutes: { type: 'integer', minimum: 5, maximum: 720 }, capacity: { type: 'integer', minimum: 1, maximum: 1000 }, closed: { type: 'boolean', default: false } }), required: ['item', 'startsAt', 'minutes', 'capacity'] } },
    }, async (req) => {
      await day.putSlot({ id: req.params.id, ...req.body, closed: req.body.closed ?? false });
      return { slot: req.params.id };
    });
    scope.get<{ Querystring: { day?: string } }>('/api/day/slots', { schema: { querystring: { type: 'object', properties: { day: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'YYYY-MM-DD' } } } } }, async (req) => {
      const d = req.query.day ?? db.queue.dayOf(db.now());
      const from = Date.parse(`${d}T00:00:00Z`) - db.queue.policy.utcOffsetMinutes * 60_000;
      if (!Number.isFinite(from)) throw new QueueError(400, `querystring.day: ${d} is not a date`, 'querystring.day');
      return { day: d, slots: await slotsBetween(db.db, from, from + 86_400_000) };
    });

    scope.put<{ Params: { id: string }; Body: { slot: string } }>('/api/day/bookings/:id', {
      onRequest: booking, schema: { params: params('id'), body: objectSchema({ slot: ID }) },
    }, async (req, reply) => {
      const { booking: b, replayed } = await day.book(req.params.id, req.body.slot);
      return reply.code(replayed ? 200 : 201).send({ ...b, replayed });
    });
    scope.get<{ Params: { id: string } }>('/api/day/bookings/:id', { onRequest: booking, schema: { params: params('id') } }, async (req) => {
      const b = await bookingById(db.db, req.params.id);
      if (!b) throw new QueueError(404, `booking ${req.params.id} does not exist`, 'id');
      return b;
    });
    scope.post<{ Params: { id: string } }>('/api/day/bookings/:id/cancel', { onRequest: booking, schema: { params: params('id') } }, async (req) => day.cancel(req.params.id));
    scope.post<{ Params: { id: string }; Body: { channel: 'kiosk' | 'phone' } }>('/api/day/bookings/:id/check-in', {
      onRequest: booking, schema: { params: params('id'), body: objectSchema({ channel: { type: 'string', enum: ['kiosk', 'phone'] } }) },
    }, async (req) => day.checkIn(req.params.id, req.body.channel));
  });
}
