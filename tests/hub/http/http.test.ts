/**
 * The hub's HTTP layer on a real hub: one error shape everywhere (unknown routes too, and no
 * class names on the wire), a repeated query parameter is a clear 400, and the routes' JSON
 * schemas are described at /api/openapi.json.
 */

import { startHub, type HubFixture } from '../../../support/hub.js';

let f: HubFixture;
beforeAll(async () => { f = await startHub(); });
afterAll(async () => { await f.stop(); });

test('unknown routes answer in the one error shape', async () => {
  const res = await f.call('GET', '/api/nowhere');
  expect(res.status).toBe(404);
  expect(await res.json()).toEqual({ error: 'not-found', message: 'GET /api/nowhere: no such route', field: null });
});

test('an application error names its code and field, never its class', async () => {
  const res = await f.call('GET', '/api/app/reports/nonsense.json');
  expect(res.status).toBe(400);
  const body = await res.json();
  expect(Object.keys(body).sort()).toEqual(['error', 'field', 'message']);
  expect(body.error).toBe('bad-request');
  expect(JSON.stringify(body)).not.toMatch(/AppError|HttpError|QueueError/);
});

test('a repeated query parameter is a 400 that names it, not a 500', async () => {
  for (const url of ['/api/app/cases?status=callback&status=closed', '/api/queue/hall?x=1&x=2']) {
    const res = await f.call('GET', url);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'bad-request', field: expect.stringMatching(/^query\.(status|x)$/) });
  }
});

test('/api/openapi.json describes the routes and their schemas', async () => {
  const doc = await f.api('GET', '/api/openapi.json', undefined, null);
  expect(doc.openapi).toMatch(/^3\./);
  expect(doc.info.title).toBe('sannuo hub');
  expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/queue/tickets', '/api/devices', '/api/app/cases']));
  const put = doc.paths['/api/queue/items/{code}'].put;
  expect(put.requestBody.content['application/json'].schema.required).toEqual(expect.arrayContaining(['name', 'department']));
});

test('/api/openapi.json describes the request bodies of the application, sign-in and config push routes', async () => {
  const doc = await f.api('GET', '/api/openapi.json', undefined, null);
  const body = (path: string, method: string) => doc.paths[path]?.[method]?.requestBody?.content?.['application/json']?.schema;
  expect(body('/api/app/cases/{id}/callback', 'post')).toMatchObject({ required: ['note'], additionalProperties: false, properties: { note: { type: 'string' }, reached: { type: 'boolean' } } });
  expect(body('/api/app/exposures', 'post').required).toEqual(['title', 'body']);
  expect(body('/api/app/commitments/{id}', 'put').required).toEqual(expect.arrayContaining(['department', 'year', 'note']));
  expect(body('/api/public/suggestions', 'post').required).toEqual(['category', 'text']);
  expect(body('/api/auth/login', 'post').required).toEqual(['username', 'password']);
  // The config push's schema comes from the firmware's rule set (firmware/core/config.ts REMOTE_SETTINGS).
  expect(body('/api/devices/{id}/config', 'post')).toMatchObject({
    minProperties: 1, additionalProperties: false,
    properties: { rateTimeout: { type: 'integer', minimum: 3000, maximum: 600000 }, volume: { type: 'integer', minimum: 0, maximum: 10 }, unsolicited: { enum: ['ignore', 'bind'] }, idleText: { maxLength: 100 } },
  });
  const figures = doc.paths['/api/app/figures'].get.parameters as Array<{ name: string; in: string; schema: { enum?: string[] } }>;
  expect(figures.find((p) => p.name === 'by')).toMatchObject({ in: 'query', schema: { enum: ['department', 'win', 'staff', 'item'] } });
});

test('a body the schema refuses is a 400 naming the field, with no type coercion', async () => {
  const cases: Array<[string, string, unknown, string, string]> = [
    ['POST', '/api/app/exposures', { title: 't' }, 'body', 'body.body: is required'],
    ['POST', '/api/app/exposures', { title: 't', body: 'b', colour: 'red' }, 'colour', 'body.colour: is not a known field'],
    ['POST', '/api/app/exposures', { title: 5, body: 'b' }, 'title', 'body.title: must be a string'],
    ['POST', '/api/app/exposures', { title: 't', body: 'x'.repeat(4001) }, 'body', 'body.body: must be at most 4000 characters'],
    ['POST', '/api/app/exposures', [1, 2], 'body', 'body: expected a JSON object'],
    ['POST', '/api/app/cases/nope/appeal/decision', { uphold: 'true', note: 'n' }, 'uphold', 'body.uphold: must be a boolean'],
    ['POST', '/api/app/commitments', { department: 'd', year: '2025', clause: 'c', title: 't', metric: 'm', measures: 'x', owner: 'o', deadline: '2025-01-01' }, 'year', 'body.year: must be an integer'],
    ['POST', '/api/app/online-cases', { cases: {} }, 'cases', 'body.cases: must be an array'],
    ['POST', '/api/app/ratings/unbound/x/bind', { ticket: 5 }, 'ticket', 'body.ticket: must be a string'],
    ['POST', '/api/app/ratings/unbound/x/bind', { ticket: 't', colour: 'red' }, 'colour', 'body.colour: is not a known field'],
    ['GET', '/api/app/figures?by=colour', undefined, 'by', 'querystring.by: must be one of department, win, staff, item'],
    ['GET', '/api/public/commitments?year=25', undefined, 'year', 'querystring.year: expected YYYY'],
    ['POST', '/api/devices/ghost/config', { volume: '3' }, 'body.volume', 'body.volume: expected 0–10'],
    ['POST', '/api/devices/ghost/config', [], 'body', 'body: expected a JSON object of settings, e.g. {"rateTimeout": 45000}'],
  ];
  for (const [method, url, payload, field, message] of cases) {
    const res = await f.call(method, url, payload);
    expect([url, res.status]).toEqual([url, 400]);
    expect(await res.json()).toEqual({ error: 'bad-request', field, message });
  }
  // Signed out, a bad body is still a 401: the role is checked before the body.
  expect((await f.call('POST', '/api/app/exposures', { title: 5 }, null)).status).toBe(401);
});
