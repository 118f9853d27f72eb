/**
 * The platform push end to end: a day's ratings from real pads on a real hub, delivered by HTTP
 * to a real local server acting as the provincial platform. The server refuses some records for
 * a while (503), hangs on others after storing them (the hub times out and sends them again),
 * and refuses for good the records of a department whose code it does not know (400). The hub
 * is stopped with records still waiting, started again on the same data with the department's
 * code configured, and the refused records are put back. Then every rating is at the platform
 * exactly once by id, in the national codes, and the reconciliation report says what happened.
 */

import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { startHub, setUpHall, type HubFixture } from '../../../support/hub.js';
import { FakeDevice, waitFor } from '../../../support/device.js';
import { PROFILES } from '../../../hub/platform/record.js';
import type { RatingLevel } from '../../../firmware/core/protocol.js';

interface Platform {
  url: string;
  /** Records stored, by id, with how often each id was stored (must stay 1). */
  stored: Map<string, Record<string, string>>;
  storeCount: Map<string, number>;
  attempts: Map<string, number>;
  answered: Record<number, number>;
  /** Every request that reached the platform. */
  requests: number;
  /** Ids answered 200 at least once. */
  okIds: Set<string>;
  hung: number;
  close(): Promise<void>;
}

/** Before the restart the platform is busy (503) for some records and hangs on others after storing them; after it, it answers. */
let troubled = true;

/** The platform: what it does with a record depends on its satisfaction code (national: '2','5' busy; '3','4' hang). */
async function platform(): Promise<Platform> {
  const p = { stored: new Map(), storeCount: new Map(), attempts: new Map(), answered: {} as Record<number, number>, hung: 0, requests: 0, okIds: new Set() } as Platform;
  const answer = (res: http.ServerResponse, status: number, body: unknown) => {
    p.answered[status] = (p.answered[status] ?? 0) + 1;
    const id = res.req.headers['idempotency-key'];
    if (status === 200 && typeof id === 'string') p.okIds.add(id);
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const store = (fields: Record<string, string>) => {
    if (!p.stored.has(fields.id)) { p.stored.set(fields.id, fields); p.storeCount.set(fields.id, 1); }
  };
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c) => { text += c; });
    req.on('end', () => {
      if (req.headers.authorization !== `Basic ${Buffer.from('hall-1:s3cret').toString('base64')}`) return answer(res, 401, { message: '认证失败' });
      const fields = JSON.parse(text) as Record<string, string>;
      p.requests++;
      const n = (p.attempts.get(fields.id) ?? 0) + 1;
      p.attempts.set(fields.id, n);
      // Stored, never answered, as long as the trouble lasts; after it a resend finds it stored.
      if (['3', '4'].includes(fields.satisfactionCode) && fields.department.startsWith('GD-') && troubled) { store(fields); p.hung++; return; }
      if (p.stored.has(fields.id)) return answer(res, 200, { code: '200', message: '重复数据，已接收' }); // idempotent by id
      if (!fields.department.startsWith('GD-')) return answer(res, 400, { message: `部门编码不存在: ${fields.department}` });
      if (['2', '5'].includes(fields.satisfactionCode) && troubled) return answer(res, 503, { message: '系统繁忙' });
      store(fields);
      return answer(res, 200, { code: '200', message: '接收成功' });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  p.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/hcp/push`;
  p.close = () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); });
  return p;
}

const settings = (url: string, departments: Record<string, string>) => ({
  'platform.enabled': true, 'platform.adapter': 'http', 'platform.profile': 'national', 'platform.region': '440106', 'platform.departments': departments,
  'platform.http.endpoint': url, 'platform.http.user': 'hall-1', 'platform.http.password': 's3cret', 'platform.http.timeout': 1000,
  'platform.interval': 50, 'platform.retryBase': 100, 'platform.retryMax': 400,
});

let server: Platform;
let f: HubFixture | undefined;
const devices: FakeDevice[] = [];
const data = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-platform-'));
afterAll(async () => {
  for (const d of devices) await d.close().catch(() => undefined);
  await f?.stop();
  await server?.close();
  fs.rmSync(data, { recursive: true, force: true });
});

test('a day of ratings reaches the platform exactly once each, through refusals, hangs and a restart', async () => {
  server = await platform();
  f = await startHub(settings(server.url, { D1: 'GD-D1' }), data);
  await setUpHall(f.api, 0);
  await f.api('PUT', '/api/queue/departments/D2', { name: '税务' });
  await f.api('PUT', '/api/queue/items/I2', { name: '发票领用', department: 'D2', prefix: 'B', limitDays: 0 });
  await f.api('PUT', '/api/queue/windows/W2', { name: '二号窗口', items: ['I2'] });
  await f.api('PUT', '/api/queue/staff/s2', { name: '李四', department: 'D2' });
  await f.api('POST', '/api/queue/windows/W2/sign-in', { staff: 's2' });
  const connect = async (role: 'pad' | 'display', win: string, id: string) => {
    const d = new FakeDevice(await f!.provision(role, win, id));
    await d.connect(f!.mqtt);
    devices.push(d);
    return d;
  };
  const windows = { W1: { item: 'I1', caller: await connect('display', 'W1', 'disp-1'), pad: await connect('pad', 'W1', 'pad-1') }, W2: { item: 'I2', caller: await connect('display', 'W2', 'disp-2'), pad: await connect('pad', 'W2', 'pad-2') } };
  // W1: every level once and a second 非常满意; W2 (department D2, no platform code yet): two.
  const plan: ['W1' | 'W2', RatingLevel][] = [['W1', 5], ['W1', 4], ['W1', 3], ['W1', 2], ['W1', 1], ['W1', 5], ['W2', 4], ['W2', 5]];
  for (const [win, level] of plan) {
    const w = windows[win];
    await f.api('POST', '/api/queue/tickets', { item: w.item, priority: 'normal' });
    const seen = w.pad.commands.length;
    await w.caller.send('call', { win, staff: null }); // calls it
    await w.caller.send('call', { win, staff: null }); // finishes it: the pad is asked for a rating
    await waitFor(`rateReq at ${win}`, () => w.pad.commands.slice(seen).some((c) => c.type === 'rateReq'));
    const req = w.pad.commands.slice(seen).find((c) => c.type === 'rateReq')!;
    if (req.type !== 'rateReq') throw new Error('unreachable');
    await w.pad.send('rating', { win, ticket: req.body.ticket, req: req.body.req, level, reason: level <= 2 ? 'slow' : null, offline: false });
  }
  await waitFor('ratings acked', () => windows.W1.pad.unacked.size === 0 && windows.W2.pad.unacked.size === 0);
  const ratings = await f.hub.db.all<{ id: string; level: number; department: string }>('SELECT id, level, department FROM queue_ratings ORDER BY id');
  expect(ratings).toHaveLength(8);

  // Before the restart: D2's records refused with the platform's reason; the busy and hung ones tried and waiting.
  await waitFor('D2 refused, four retrying', async () => {
    const r = await f!.api('GET', '/api/platform/report');
    return r.failed === 2 && r.retrying.length === 4;
  });
  const before = await f.api('GET', '/api/platform/report');
  expect(before.failures.map((x: { reason: string }) => x.reason)).toEqual(['HTTP 400: {"message":"部门编码不存在: D2"}', 'HTTP 400: {"message":"部门编码不存在: D2"}']);
  expect(before.waiting).toBe(4);
  expect(before.acknowledged).toBe(2);
  expect(before.retrying.map((r: { reason: string }) => r.reason).sort()).toEqual(['HTTP 503: {"message":"系统繁忙"}', 'HTTP 503: {"message":"系统繁忙"}', 'no answer within 1000 ms', 'no answer within 1000 ms']);
  expect(before.queued).toBe(8);

  // Restart, the department code fixed: the hub stops mid-delivery and starts on the same data.
  for (const d of devices.splice(0)) await d.close();
  await f.hub.stop();
  troubled = false;
  f = await startHub(settings(server.url, { D1: 'GD-D1', D2: 'GD-D2' }), data);
  expect(await f.api('POST', '/api/platform/retry', {})).toEqual({ requeued: 2 });
  await waitFor('all acknowledged', async () => (await f!.api('GET', '/api/platform/report')).acknowledged === 8, 30_000);

  // Exactly once by id, in the mapped codes.
  expect([...server.stored.keys()].sort()).toEqual(ratings.map((r) => r.id));
  expect([...server.storeCount.values()].every((n) => n === 1)).toBe(true);
  for (const r of ratings) {
    const got = server.stored.get(r.id)!;
    expect(got.satisfactionCode).toBe(PROFILES.national.levels[r.level as 1 | 2 | 3 | 4 | 5]);
    expect(got.department).toBe(r.department === 'D1' ? 'GD-D1' : 'GD-D2');
    expect([got.channel, got.rater, got.region, got.times, got.kind]).toEqual(['4', '匿名', '440106', '1', '评价']);
    expect(got.ratedAt).toMatch(/^\d{8}T\d{6}$/);
  }
  // The hung records were sent again (at least once) and recognised by id.
  const hangIds = ratings.filter((r) => r.level === 3 || r.level === 2).map((r) => r.id);
  for (const id of hangIds) expect(server.attempts.get(id)!).toBeGreaterThanOrEqual(2);
  expect(server.hung).toBeGreaterThanOrEqual(hangIds.length);

  // The reconciliation report matches what the platform saw.
  const report = await f.api('GET', '/api/platform/report');
  expect(report).toMatchObject({ enabled: true, adapter: 'http', profile: 'national', queued: 8, sent: 8, acknowledged: 8, failed: 0, waiting: 0, byKind: { rating: 8 }, failures: [], retrying: [] });
  expect([...server.okIds].sort()).toEqual(ratings.map((r) => r.id));
  expect(report.attempts.refused).toBe(server.answered[400]);
  // Each 503 is a retry in the report, so is each hang the hub gave up on; one acknowledged try per record; none the platform did not see
  // (a try cut short by the stop is not counted; on a slow machine an answer after the timeout is a retry too, and the resend is answered again).
  expect(report.attempts.retried).toBeGreaterThanOrEqual(server.answered[503]);
  expect(report.attempts.total - report.attempts.refused - report.attempts.retried).toBe(8);
  expect(report.attempts.total).toBeLessThanOrEqual(server.requests);
  const one = await f.api('GET', `/api/platform/records/${encodeURIComponent(ratings.find((r) => r.department === 'D2')!.id)}`);
  expect(one.status).toBe('acked');
  expect(one.attempts[0]).toMatchObject({ n: 1, outcome: 'refused' });
  expect(one.attempts[one.attempts.length - 1]).toMatchObject({ outcome: 'acked' });
  expect(await f.metric('sannuo_platform_outbox', { status: 'acked' })).toBe(8);
  expect((await f.call('GET', '/api/platform/report', undefined, null)).status).toBe(401);
  const missing = await f.call('GET', '/api/platform/records/nope');
  expect([missing.status, await missing.json()]).toEqual([404, { error: expect.any(String), message: 'record nope is not in the platform outbox', field: 'id' }]);
  expect(await f.api('POST', '/api/platform/retry', {})).toEqual({ requeued: 0 });
});
