/**
 * Near-turn notices and live alerts on a real hub (embedded Aedes, SQLite) with a real HTTP
 * server as the webhook: it answers 500, then hangs, then succeeds; the hub is restarted between;
 * the webhook receives exactly the notices the queue's moves call for, each delivered once. A
 * cluster of bad ratings reaches a supervisor's event stream within 5 s and the webhook once.
 */

import http from 'node:http';
import { createHmac } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { startHub, type HubFixture } from '../../../support/hub.js';
import { FakeDevice, waitFor } from '../../../support/device.js';
import { TEST_API_TOKEN } from '../../../support/token.js';
import { WebhookNotifier } from '../../../hub/notices/notifier.js';
import { parseQuietHours, quietUntil } from '../../../hub/notices/quiet.js';

const SECRET = 'webhook-test-secret';

/** The webhook: every request kept; `mode` says how it answers. */
class Webhook {
  mode: 'fail' | 'hang' | 'ok' = 'ok';
  readonly requests: { key: string; attempt: number; body: any; answered: number | 'hung'; signed: boolean }[] = [];
  private server!: http.Server;
  private hung: http.ServerResponse[] = [];
  url = '';

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const signed = req.headers['x-sannuo-signature'] === 'sha256=' + createHmac('sha256', SECRET).update(text).digest('hex');
        const entry = { key: String(req.headers['idempotency-key']), attempt: Number(req.headers['x-sannuo-attempt']), body: JSON.parse(text), answered: 0 as number | 'hung', signed };
        this.requests.push(entry);
        if (this.mode === 'hang') { entry.answered = 'hung'; this.hung.push(res); return; }
        entry.answered = this.mode === 'fail' ? 500 : 200;
        // As a gateway must: a key already sent is answered 200 and not sent again (the hub may
        // retry a delivery whose answer it did not see in time).
        const duplicate = entry.answered === 200 && this.sent.has(entry.key);
        if (entry.answered === 200 && !duplicate) this.sent.set(entry.key, entry.body);
        res.writeHead(entry.answered, { 'content-type': 'application/json' }).end(JSON.stringify({ duplicate }));
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/notify`;
  }

  /** What the gateway sent on to citizens: each key once, its first 2xx. */
  readonly sent = new Map<string, any>();

  /** Keys answered 2xx, with how many times each was. */
  delivered(): Map<string, number> {
    const out = new Map<string, number>();
    for (const r of this.requests) if (r.answered === 200) out.set(r.key, (out.get(r.key) ?? 0) + 1);
    return out;
  }

  async stop(): Promise<void> {
    for (const res of this.hung) res.destroy();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const webhook = new Webhook();
let f: HubFixture;
let data: string;
const devices: FakeDevice[] = [];
const settings = () => ({
  'notices.adapter': 'webhook', 'notices.webhookUrl': webhook.url, 'notices.webhookSecret': SECRET, 'notices.timeoutMs': 1000,
  'notices.quietHours': '', 'notices.aheadCount': 1, 'notices.retryBaseMs': 150, 'notices.retryMaxMs': 600, 'notices.pollMs': 100,
  'notices.alertBadCount': 3, 'notices.alertBadMinutes': 10, 'notices.alertLastN': 5, 'notices.alertThreshold': 0.5, 'notices.alertTo': 'duty-phone-01',
  'queue.rateTimeout': 5000,
});

async function connect(role: 'pad' | 'display', win: string, id: string, config?: FakeDevice['config']): Promise<FakeDevice> {
  const d = new FakeDevice(config ?? await f.provision(role, win, id));
  await d.connect(f.mqtt);
  devices.push(d);
  return d;
}

async function committed(d: FakeDevice, line: Promise<string>): Promise<void> {
  await line;
  const seq = d.seq;
  await waitFor(`${d.id} seq ${seq} committed`, () => d.verdict(seq)?.verdict === 'committed', 10_000);
}

beforeAll(async () => {
  await webhook.start();
  f = await startHub(settings());
  data = f.data;
});

afterAll(async () => {
  for (const d of devices) await d.close().catch(() => undefined);
  await f?.stop();
  await webhook.stop();
});

test('the webhook gets exactly the notices due, once each, through 500s, a hang and a hub restart', async () => {
  const { api } = f;
  await api('PUT', '/api/queue/departments/D1', { name: '市场监管' });
  await api('PUT', '/api/queue/items/I1', { name: '营业执照', department: 'D1', prefix: 'A', limitDays: 0 });
  await api('PUT', '/api/queue/windows/W1', { name: '一号窗口', items: ['I1'] });
  await api('PUT', '/api/queue/windows/W2', { name: '二号窗口', items: [] });
  await api('PUT', '/api/queue/staff/s1', { name: '张三', department: 'D1' });
  await api('PUT', '/api/queue/staff/s2', { name: '李四', department: 'D1' });
  await api('POST', '/api/queue/windows/W1/sign-in', { staff: 's1' });
  await api('POST', '/api/queue/windows/W2/sign-in', { staff: 's2' });
  const t1 = await api('POST', '/api/queue/tickets', { item: 'I1', priority: 'normal' });
  await api('POST', '/api/queue/tickets', { item: 'I1', priority: 'normal' });
  const t3 = await api('POST', '/api/queue/tickets', { item: 'I1', priority: 'normal' });

  // Bad consents change nothing.
  const bad = [
    [{ ticket: 'nope', contact: '13800138000' }, 404, 'ticket'],
    [{ ticket: t1.id, contact: 'x' }, 400, 'contact'],
    [{ ticket: t1.id, contact: '13800138000', kinds: ['spam'] }, 400, 'kinds'],
    [{ ticket: t1.id, contact: '13800138000', extra: 1 }, 400, null],
  ] as const;
  for (const [body, status, field] of bad) {
    const res = await f.call('POST', '/api/notices/consent', body);
    expect(res.status).toBe(status);
    const err = await res.json();
    expect(err).toEqual(expect.objectContaining({ error: expect.any(String), message: expect.any(String) }));
    if (field) expect(err.field).toBe(field);
  }
  expect((await f.call('POST', '/api/notices/consent', { ticket: t1.id, contact: '13800138000' }, null)).status).toBe(401);
  expect(await f.hub.db.get('SELECT COUNT(*) AS n FROM notice_consents')).toEqual({ n: 0 });

  webhook.mode = 'fail';
  await api('POST', '/api/notices/consent', { ticket: t1.id, contact: '13800138000' });
  await api('POST', '/api/notices/consent', { ticket: t3.id, contact: 'oWeChatOpenId_42' });
  // A001 issued and 0 ahead (≤ aheadCount 1); A003 issued (2 ahead). Each answered 500 and retried.
  await waitFor('retries after 500s', () => webhook.requests.filter((r) => r.key === `hall1:${t1.id}:issued`).length >= 2, 10_000);
  expect(await f.metric('sannuo_notices_total', { kind: 'issued', outcome: 'retry' })).toBeGreaterThan(0);
  const summary = await api('GET', '/api/notices/summary');
  expect(summary.counts.pending).toBe(3);

  webhook.mode = 'hang';
  const before = webhook.requests.length;
  await waitFor('a hung attempt', () => webhook.requests.length > before, 10_000);
  await new Promise((r) => setTimeout(r, 1200)); // past timeoutMs: the attempt counts as failed
  const rows = await f.hub.db.all<{ last_error: string }>(`SELECT last_error FROM notices WHERE last_error LIKE 'timeout%'`);
  expect(rows.length).toBeGreaterThan(0);

  // Restart: the pending notices and their attempts are in the database.
  const pads = devices.splice(0);
  for (const d of pads) await d.close();
  await f.hub.stop();
  webhook.mode = 'ok';
  f = await startHub(settings(), data);
  await waitFor('the first three delivered', () => webhook.delivered().size === 3, 10_000);

  const caller1 = await connect('display', 'W1', 'disp-1');
  const caller2 = await connect('display', 'W2', 'disp-2');
  const pad1 = await connect('pad', 'W1', 'pad-1');
  const pad2 = await connect('pad', 'W2', 'pad-2');
  await committed(caller1, caller1.send('call', { win: 'W1', staff: null }));                       // A001 called; A003 now 1 ahead
  await committed(caller1, caller1.send('recall', { win: 'W1', ticket: t1.number }));               // A001 recalled
  await committed(caller1, caller1.send('transfer', { win: 'W1', ticket: t1.number, toWin: 'W2', toItem: null })); // A001 transferred
  await committed(caller1, caller1.send('call', { win: 'W1', staff: null }));                       // A002 called (no consent)
  await committed(caller2, caller2.send('call', { win: 'W2', staff: null }));                       // A001 called again at W2: no second 'called'
  await committed(caller2, caller2.send('call', { win: 'W2', staff: null }));                       // A001 done
  await waitFor('pad-2 rate request', () => pad2.commands.some((c) => c.type === 'rateReq'));
  const req = pad2.commands.find((c) => c.type === 'rateReq')!;
  if (req.type !== 'rateReq') throw new Error('unreachable');
  await committed(pad2, pad2.send('rating', { win: 'W2', ticket: req.body.ticket, req: req.body.req, level: 5, reason: null, offline: false })); // rated: no invite
  await committed(caller1, caller1.send('call', { win: 'W1', staff: null }));                       // A002 done, A003 called
  await committed(caller1, caller1.send('call', { win: 'W1', staff: null }));                       // A003 done; its pad request lapses unrated
  void pad1;

  const expected = [
    `${t1.id}:issued`, `${t1.id}:ahead`, `${t1.id}:called`, `${t1.id}:recalled`, `${t1.id}:transferred`,
    `${t3.id}:issued`, `${t3.id}:ahead`, `${t3.id}:called`, `${t3.id}:rating-invite`,
  ].map((k) => `hall1:${k}`).sort();
  await waitFor('every notice delivered', () => webhook.delivered().size === expected.length, 15_000);
  await new Promise((r) => setTimeout(r, 800)); // several more looks and ticks: nothing more comes
  const delivered = webhook.delivered();
  expect([...delivered.keys()].sort()).toEqual(expected);
  expect([...webhook.sent.keys()].sort()).toEqual(expected);
  // The hub asked again only for attempts whose outcome it had not recorded as sent: the requests
  // per key are exactly its rows' attempts, each row sent once, and every retry is a later attempt.
  const rowsNow = await f.hub.db.all<{ id: string; status: string; attempts: number }>(`SELECT id, status, attempts FROM notices WHERE kind <> 'alert' ORDER BY id`);
  expect(rowsNow.map((r) => r.id).sort()).toEqual(expected);
  for (const r of rowsNow) {
    const tries = webhook.requests.filter((q) => q.key === r.id);
    expect([r.id, r.status, Number(r.attempts)]).toEqual([r.id, 'sent', tries.length]);
    expect(tries.map((q) => q.attempt)).toEqual(tries.map((_, i) => i + 1));
  }
  for (const r of webhook.requests) {
    expect(r.signed).toBe(true);
    expect(r.body.id).toBe(r.key);
  }
  const invite = webhook.requests.find((r) => r.key.endsWith(':rating-invite'))!;
  expect(invite.body.to).toBe('oWeChatOpenId_42');
  expect(invite.body.text).toContain(`${t3.number}（营业执照）已办结`);
  expect(invite.body.data.link).toMatch(/\/r\//);
  const called = webhook.requests.find((r) => r.key === `hall1:${t1.id}:called`)!;
  expect(called.body.text).toBe(`请 ${t1.number} 到 一号窗口 办理（营业执照）。`);
  expect((await f.ledgerKinds()).notice).toBe(2);
  const list = await f.api('GET', '/api/notices?status=sent');
  expect(list.notices.map((n: { to: string }) => n.to)).toContain('138****8000');
  expect(JSON.stringify(list)).not.toContain('13800138000');
}, 60_000);

test('a cluster of bad ratings alerts the supervisor stream within 5 s, and the notifier once (cool-down)', async () => {
  const { api } = f;
  await api('PUT', '/api/queue/items/I2', { name: '食品经营许可', department: 'D1', prefix: 'B', limitDays: 0 });
  await api('PUT', '/api/queue/windows/W3', { name: '三号窗口', items: ['I2'] });
  await api('PUT', '/api/queue/staff/s3', { name: '王五', department: 'D1' });
  await api('POST', '/api/queue/windows/W3/sign-in', { staff: 's3' });
  for (let i = 0; i < 5; i++) await api('POST', '/api/queue/tickets', { item: 'I2', priority: 'normal' });
  const caller = await connect('display', 'W3', 'disp-3');
  const pad = await connect('pad', 'W3', 'pad-3');

  const stream = await fetch(`${f.http}/api/alerts/stream`, { headers: { authorization: `Bearer ${TEST_API_TOKEN}` } });
  expect(stream.status).toBe(200);
  expect(stream.headers.get('content-type')).toMatch(/text\/event-stream/);
  const alerts: { at: number; alert: any }[] = [];
  const reader = stream.body!.getReader();
  void (async () => {
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      buffer += new TextDecoder().decode(value);
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const line = block.split('\n').find((l) => l.startsWith('data: '));
        if (block.startsWith('event: alert') && line) alerts.push({ at: Date.now(), alert: JSON.parse(line.slice(6)) });
      }
    }
  })();
  expect((await f.call('GET', '/api/alerts/stream', undefined, null)).status).toBe(401);

  let lastBad = 0;
  for (let i = 0; i < 4; i++) {
    pad.commands.length = 0;
    await committed(caller, caller.send('call', { win: 'W3', staff: null }));
    if (i === 0) continue; // the first call only brings B001 to the window
    await waitFor('rate request', () => pad.commands.some((c) => c.type === 'rateReq'));
    const req = pad.commands.find((c) => c.type === 'rateReq')!;
    if (req.type !== 'rateReq') throw new Error('unreachable');
    lastBad = Date.now();
    await committed(pad, pad.send('rating', { win: 'W3', ticket: req.body.ticket, req: req.body.req, level: 1, reason: 'attitude', offline: false }));
  }
  await waitFor('bad-cluster alerts', () => alerts.length >= 2, 5_000);
  expect(alerts[1].at - lastBad).toBeLessThan(5_000);
  expect(alerts.map((a) => `${a.alert.kind}:${a.alert.scope}:${a.alert.target}`).sort()).toEqual(['bad-cluster:item:I2', 'bad-cluster:win:W3']);
  expect(alerts[0].alert.text).toMatch(/^差评预警：/);

  // A fourth bad rating within the cool-down raises nothing more.
  pad.commands.length = 0;
  await committed(caller, caller.send('call', { win: 'W3', staff: null }));
  await waitFor('rate request', () => pad.commands.some((c) => c.type === 'rateReq'));
  const req = pad.commands.find((c) => c.type === 'rateReq')!;
  if (req.type !== 'rateReq') throw new Error('unreachable');
  await committed(pad, pad.send('rating', { win: 'W3', ticket: req.body.ticket, req: req.body.req, level: 2, reason: 'attitude', offline: false }));
  await waitFor('alert notices delivered', () => [...webhook.delivered().keys()].filter((k) => k.includes(':alert:')).length === 2, 5_000);
  await new Promise((r) => setTimeout(r, 500));
  expect(alerts.length).toBe(2);
  expect((await f.api('GET', '/api/alerts')).alerts).toHaveLength(2);
  const alertNotices = webhook.requests.filter((r) => r.body.kind === 'alert');
  expect(new Set(alertNotices.map((r) => r.key)).size).toBe(2);
  expect(alertNotices.every((r) => r.body.to === 'duty-phone-01')).toBe(true);
  expect(await f.metric('sannuo_alerts_total', { kind: 'bad-cluster', scope: 'win' })).toBe(1);
  await reader.cancel();
}, 30_000);

test('a withdrawn consent drops what was not sent; withdrawing twice is a clear 404', async () => {
  webhook.mode = 'fail';
  const t = await f.api('POST', '/api/queue/tickets', { item: 'I1', priority: 'normal' });
  const ledger = (await f.ledgerKinds()).notice;
  await f.api('POST', '/api/notices/consent', { ticket: t.id, contact: '13900139000', kinds: ['issued', 'called'] });
  await waitFor('issued made', async () => !!(await f.hub.db.get('SELECT id FROM notices WHERE ticket = $1', [t.id])), 5_000);
  await f.api('DELETE', `/api/notices/consent/${t.id}`);
  expect(await f.hub.db.all('SELECT kind, status, last_error FROM notices WHERE ticket = $1', [t.id])).toEqual([{ kind: 'issued', status: 'skipped', last_error: 'withdrawn' }]);
  const again = await f.call('DELETE', `/api/notices/consent/${t.id}`);
  expect(again.status).toBe(404);
  expect((await again.json()).field).toBe('ticket');
  expect((await f.ledgerKinds()).notice).toBe(ledger + 2);
  webhook.mode = 'ok';
});

test('quiet hours: inside them the end is named, outside null; across midnight too', () => {
  const q = parseQuietHours('22:00-07:00')!;
  const at = (hhmm: string) => Date.parse(`2026-03-14T${hhmm}:00+08:00`);
  expect(quietUntil(q, at('23:30'), 480)).toBe(Date.parse('2026-03-15T07:00:00+08:00'));
  expect(quietUntil(q, at('06:59'), 480)).toBe(at('07:00'));
  expect(quietUntil(q, at('07:00'), 480)).toBeNull();
  expect(quietUntil(q, at('12:00'), 480)).toBeNull();
  const lunch = parseQuietHours('12:00-13:30')!;
  expect(quietUntil(lunch, at('12:10'), 480)).toBe(at('13:30'));
  expect(quietUntil(lunch, at('13:30'), 480)).toBeNull();
  expect(parseQuietHours('')).toBeNull();
});

test('a webhook adapter needs an http(s) URL', () => {
  expect(() => new WebhookNotifier({ url: '', secret: '', timeoutMs: 1000 })).toThrow(/notices.webhookUrl/);
});
