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
