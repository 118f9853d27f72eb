/**
 * Two simulated days in a three-window hall (issue 15), on a real hub (embedded Aedes, SQLite
 * file) with its clock injected: opening hours on the calendar, appointments merged by the
 * stated rule, a 一件事一次办 package ticket through three windows with one rating, 通办/帮办
 * tags, the closing sweep, and the numbers restarting on day 2 while day 1's tickets stay.
 * Afterwards the ledger's rows and the report's figures must match what the citizens did.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startHub, type HubFixture } from '../../support/hub.js';
import { waitFor, type FakeDevice } from '../../support/device.js';
import type { EventBodies, EventType } from '../../firmware/core/protocol.js';

jest.setTimeout(60_000);

const at = (local: string) => Date.parse(`${local}+08:00`);
let clock = at('2026-11-30T07:50:00');
const MIN = 60_000;

describe('two simulated days in a three-window hall', () => {
  let h: HubFixture;
  let calendarDir: string;
  const callers: Record<string, FakeDevice> = {};
  const pads: Record<string, FakeDevice> = {};
  /** What the simulated citizens and staff did, counted by the test as it goes. */
  const did = { booked: 0, cancelled: 0, checkedIn: 0, noShows: 0, ratings: 0, tickets: 0 };

  // Events carry the injected clock's time, as a device's hub-corrected clock would.
  const send = async <K extends EventType>(d: FakeDevice, type: K, body: EventBodies[K]) => d.publish(d.sign(type, body, clock));
  const call = async (win: string) => {
    const before = callers[win].unacked.size;
    await send(callers[win], 'call', { win, staff: null } as EventBodies['call']);
    await waitFor(`call at ${win} acked`, () => callers[win].unacked.size <= before);
  };
  const issue = async (body: Record<string, unknown>, route = '/api/queue/tickets') => {
    const r = await h.api('POST', route, body);
    did.tickets++;
    return r;
  };
  const requests = (win: string) => pads[win].commands.filter((c) => c.type === 'rateReq');

  beforeAll(async () => {
    calendarDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-cal-'));
    const calendarFile = path.join(calendarDir, 'calendar.json');
    fs.writeFileSync(calendarFile, JSON.stringify({ holidays: ['2026-12-02'], makeupWorkdays: [] }));
    h = await startHub({ calendarFile, 'day.sweepSeconds': 3600 }, undefined, { now: () => clock });
    await h.api('PUT', '/api/queue/departments/D1', { name: '市场监管' });
    await h.api('PUT', '/api/queue/departments/D2', { name: '税务' });
    await h.api('PUT', '/api/queue/departments/D3', { name: '社保' });
    await h.api('PUT', '/api/queue/items/I1', { name: '营业执照', department: 'D1', prefix: 'A', limitDays: 5 });
    await h.api('PUT', '/api/queue/items/I2', { name: '税务登记', department: 'D2', prefix: 'B', limitDays: 3 });
    await h.api('PUT', '/api/queue/items/I3', { name: '社保开户', department: 'D3', prefix: 'C', limitDays: 2 });
    for (const [i, w] of ['W1', 'W2', 'W3'].entries()) {
      await h.api('PUT', `/api/queue/windows/${w}`, { name: `${i + 1}号窗口`, items: [`I${i + 1}`] });
      await h.api('PUT', `/api/queue/staff/s${i + 1}`, { name: `staff ${i + 1}`, department: `D${i + 1}` });
      await h.api('POST', `/api/queue/windows/${w}/sign-in`, { staff: `s${i + 1}` });
      callers[w] = await h.device('display', w, `disp-${w}`);
      pads[w] = await h.device('pad', w, `pad-${w}`);
    }
    await h.api('PUT', '/api/day/hours/*', { open: '08:30', close: '17:30', lastTicket: '17:00', days: 'working' });
    await h.api('PUT', '/api/day/items/I2/tags', { tags: ['chuanyu'] });
    await h.api('PUT', '/api/day/packages/P1', {
      name: '开办企业一件事', win: null, limitDays: 3,
      steps: [{ item: 'I1', win: 'W1' }, { item: 'I2', win: 'W2' }, { item: 'I3', win: 'W3' }],
    });
  });

  afterAll(async () => {
    await h?.stop();
    fs.rmSync(calendarDir, { recursive: true, force: true });
  });

  test('day 1, before opening: no ticket, and nothing was written', async () => {
    const res = await h.call('POST', '/api/queue/tickets', { item: 'I1', priority: 'normal' });
    expect(res.status).toBe(409);
    const body = await res.json();
    expect(body).toMatchObject({ error: 'conflict', field: 'item' });
    expect(body.message).toContain('尚未开始办理');
    expect(Number((await h.hub.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM queue_tickets'))!.n)).toBe(0);
  });

  test('day 1: a checked-in appointment is called before the walk-ins who came earlier; a missed one is a no-show', async () => {
    clock = at('2026-11-30T08:30:00');
    await h.api('PUT', '/api/day/slots/S0900', { item: 'I1', startsAt: at('2026-11-30T09:00:00'), minutes: 30, capacity: 2 });
    await h.api('PUT', '/api/day/slots/S0930', { item: 'I1', startsAt: at('2026-11-30T09:30:00'), minutes: 30, capacity: 1 });
    for (const [id, slot] of [['b1', 'S0900'], ['b2', 'S0900'], ['b4', 'S0930']]) {
      const res = await h.call('PUT', `/api/day/bookings/${id}`, { slot });
      expect(res.status).toBe(201);
      did.booked++;
    }
    // The booking site retries b1: the same booking, nothing new.
    const again = await h.call('PUT', '/api/day/bookings/b1', { slot: 'S0900' });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ id: 'b1', replayed: true, status: 'booked' });
    expect((await h.call('PUT', '/api/day/bookings/b3', { slot: 'S0900' })).status).toBe(409); // full
    await h.api('POST', '/api/day/bookings/b2/cancel');
    await h.api('POST', '/api/day/bookings/b2/cancel'); // again: the same answer
    did.cancelled++;

    clock = at('2026-11-30T08:40:00');
    const walkIn1 = await issue({ item: 'I1', priority: 'normal' });
    const walkIn2 = await issue({ item: 'I1', priority: 'normal' });
    expect([walkIn1.number, walkIn2.number]).toEqual(['A001', 'A002']);
    clock = at('2026-11-30T08:50:00');
    const checkIn = await h.api('POST', '/api/day/bookings/b1/check-in', { channel: 'phone' });
    did.checkedIn++;
    did.tickets++;
    expect(checkIn.ticket).toMatchObject({ number: 'A003', priority: 'appointment' });
    expect((await h.api('POST', '/api/day/bookings/b1/check-in', { channel: 'kiosk' })).ticket.number).toBe('A003');

    clock = at('2026-11-30T09:00:00');
    await call('W1');
    expect((await h.api('GET', '/api/queue/setup')).windows.find((w: { id: string }) => w.id === 'W1').current).toBe('A003');
    for (const number of ['A001', 'A002']) {
      clock += 5 * MIN;
      await call('W1');
      expect((await h.api('GET', '/api/queue/setup')).windows.find((w: { id: string }) => w.id === 'W1').current).toBe(number);
    }
    clock = at('2026-11-30T09:46:00');
    const swept = await h.api('POST', '/api/day/sweep');
    expect(swept.noShows).toEqual(['b4']);
    did.noShows++;
    await call('W1'); // A002 done, W1 idle
    // Three services ended at W1: three rating requests, rated 4, 5, 5.
    await waitFor('three requests at W1', () => requests('W1').length === 3);
    for (const [i, c] of requests('W1').entries()) {
      const b = c.body as { req: string; ticket: string };
      await send(pads.W1, 'rating', { win: 'W1', ticket: b.ticket, req: b.req, level: i === 0 ? 4 : 5, reason: null, offline: false } as EventBodies['rating']);
      did.ratings++;
    }
    await waitFor('W1 ratings acked', () => pads.W1.unacked.size === 0);
  });

  test('day 1: a package ticket passes three windows in order and is rated once, at the last', async () => {
    clock = at('2026-11-30T10:00:00');
    const t = await issue({ package: 'P1', priority: 'normal', tags: ['assisted'] }, '/api/day/tickets');
    expect(t).toMatchObject({ number: 'A004', package: 'P1', tags: ['assisted'] });
    const before = { W1: requests('W1').length, W2: requests('W2').length, W3: requests('W3').length };
    for (const [i, win] of ['W1', 'W2', 'W3'].entries()) {
      await call(win);
      const w = (await h.api('GET', '/api/queue/setup')).windows.find((x: { id: string }) => x.id === win);
      expect(w.current).toBe('A004');
      clock += (10 + i) * MIN;
      await call(win); // the step ends: to the next window's front, or done at the last
    }
    await waitFor('the one rating request', () => requests('W3').length === before.W3 + 1);
    expect(requests('W1').length).toBe(before.W1);
    expect(requests('W2').length).toBe(before.W2);
    const req = requests('W3').at(-1)!.body as { req: string; ticket: string };
    expect(req.ticket).toBe('A004');
    await send(pads.W3, 'rating', { win: 'W3', ticket: 'A004', req: req.req, level: 5, reason: null, offline: false } as EventBodies['rating']);
    did.ratings++;
    await waitFor('package rating acked', () => pads.W3.unacked.size === 0);
    const steps = await h.api('GET', `/api/day/tickets/${t.id}`);
    expect(steps.steps.map((s: { win: string; finishedAt: number; startedAt: number }) => [s.win, (s.finishedAt - s.startedAt) / MIN])).toEqual([['W1', 10], ['W2', 11], ['W3', 12]]);
    const ticket = await h.api('GET', `/api/queue/tickets/A004?day=2026-11-30`);
    expect(ticket).toMatchObject({ status: 'done', rated: true, transferCount: 0 });
  });

  test('day 1: tags come from the item; after the last-ticket time no ticket; at closing the waiting are closed with a reason and the displays say closed', async () => {
    clock = at('2026-11-30T16:50:00');
    const tagged = await issue({ item: 'I2', priority: 'normal' });
    expect((await h.api('GET', `/api/day/tickets/${tagged.id}`)).tags).toEqual(['chuanyu']);
    await issue({ item: 'I1', priority: 'normal' });
    clock = at('2026-11-30T17:01:00');
    const late = await h.call('POST', '/api/queue/tickets', { item: 'I1', priority: 'normal' });
    expect(late.status).toBe(409);
    expect((await late.json()).message).toContain('停止取号');
    clock = at('2026-11-30T17:31:00');
    const shownBefore = callers.W1.commands.length;
    const swept = await h.api('POST', '/api/day/sweep');
    expect(swept.closed.map((c: { reason: string }) => c.reason)).toEqual(['hall-closed', 'hall-closed']);
    await waitFor('W1 shows closed', () => callers.W1.commands.slice(shownBefore).some((c) => c.type === 'display' && (c.body as { status: string }).status === 'closed'));
    const display = await h.api('GET', '/api/queue/windows/W1/display');
    expect(display.status).toBe('closed');
    expect(display.text).toContain('已结束办理');
  });

  test('day 2: numbers restart at 001 while day 1 tickets stay; a holiday takes no ticket', async () => {
    clock = at('2026-12-01T08:31:00');
    const first = await issue({ item: 'I1', priority: 'normal' });
    expect(first.number).toBe('A001');
    expect((await h.api('GET', '/api/queue/tickets/A001?day=2026-11-30')).status).toBe('done');
    expect((await h.api('GET', '/api/queue/tickets/A001?day=2026-12-01')).status).toBe('waiting');
    expect((await h.api('GET', '/api/queue/windows/W1/display')).status).not.toBe('closed');
    clock = at('2026-12-02T10:00:00');
    const holiday = await h.call('POST', '/api/queue/tickets', { item: 'I1', priority: 'normal' });
    expect(holiday.status).toBe(409);
    expect((await holiday.json()).message).toContain('节假日');
    // The next sweep closes day 2's leftover as its day ended.
    expect((await h.api('POST', '/api/day/sweep')).closed).toEqual([{ ticket: first.id, reason: 'day-ended' }]);
  });

  test('the ledger and the report count what the citizens did', async () => {
    const rows = await h.hub.db.all<{ kind: string; body: string }>(`SELECT kind, body FROM ledger WHERE kind IN ('day', 'rating') ORDER BY "row"`);
    const day = rows.filter((r) => r.kind === 'day').map((r) => JSON.parse(r.body) as { what: string; bookings?: string[]; tickets?: unknown[] });
    expect(day.filter((b) => b.what === 'booked').length).toBe(did.booked);
    expect(day.filter((b) => b.what === 'cancelled').length).toBe(did.cancelled);
    expect(day.filter((b) => b.what === 'checked-in').length).toBe(did.checkedIn);
    expect(day.filter((b) => b.what === 'no-show').flatMap((b) => b.bookings!).length).toBe(did.noShows);
    expect(day.filter((b) => b.what === 'closed').flatMap((b) => b.tickets!).length).toBe(3);
    expect(rows.filter((r) => r.kind === 'rating').length).toBe(did.ratings);
    expect(Number((await h.hub.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM queue_tickets'))!.n)).toBe(did.tickets);

    const report = await h.api('GET', '/api/app/reports/2026-11-30..2026-12-01.json');
    const d = report.day;
    // Recomputed from raw rows: the package ticket, its steps, its one rating.
    const pkgRows = await h.hub.db.all<{ step: number; started_at: number; finished_at: number }>('SELECT * FROM day_package_steps ORDER BY step');
    expect(d.packages).toEqual([expect.objectContaining({
      code: 'P1', tickets: 1, done: 1, closed: 0, ratings: 1, good: 1, satisfaction: 1, limitDays: 3, itemLimitDays: 10,
      steps: pkgRows.map((s, i) => expect.objectContaining({ item: `I${i + 1}`, served: 1, meanMinutes: (Number(s.finished_at) - Number(s.started_at)) / MIN })),
    })]);
    expect(d.packages[0].compression).toBeCloseTo(0.7, 10);
    const ratedOf = async (tag: string) => Number((await h.hub.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM queue_ratings r JOIN day_ticket_tags g ON g.ticket = r.ticket WHERE g.tag = $1`, [tag]))!.n);
    expect(d.tags).toEqual([
      expect.objectContaining({ tag: 'assisted', name: '帮办代办', tickets: 1, done: 1, ratings: await ratedOf('assisted'), satisfaction: 1 }),
      expect.objectContaining({ tag: 'chuanyu', name: '川渝通办', tickets: 1, done: 0, ratings: await ratedOf('chuanyu'), satisfaction: null }),
    ]);
    expect(d.closed).toEqual([{ reason: 'day-ended', tickets: 1 }, { reason: 'hall-closed', tickets: 2 }]);
    expect(d.appointments).toEqual([{ status: 'cancelled', bookings: 1 }, { status: 'checked-in', bookings: 1 }, { status: 'no-show', bookings: 1 }]);

    const csv = await (await h.call('GET', '/api/app/reports/2026-11-30..2026-12-01.csv')).text();
    expect(csv).toContain('一件事套餐,,P1,开办企业一件事,1,,,,,,100.00%,0.00%,,1,0,,,,');
    expect(csv).toContain('套餐时限,,P1,承诺 3 个工作日 / 单项合计 10 个工作日,,,,,,,,,70.00%');
    expect(csv).toContain('通办帮办,,chuanyu,川渝通办,0,,,,,,,,,0,0,,,,');
    const pdf = Buffer.from(await (await h.call('GET', '/api/app/reports/2026-11-30..2026-12-01.pdf')).arrayBuffer());
    // pdf-parse starts a worker by dynamic import, which jest's VM refuses: its text is read in a plain node.
    const file = path.join(calendarDir, 'report.pdf');
    fs.writeFileSync(file, pdf);
    const text = execFileSync(process.execPath, ['--input-type=module', '-e',
      `import { PDFParse } from 'pdf-parse'; import fs from 'node:fs'; const r = await new PDFParse({ data: fs.readFileSync(process.argv[1]) }).getText(); process.stdout.write(r.text);`, file],
    { cwd: path.join(__dirname, '../..'), encoding: 'utf8' });
    expect(text).toContain('一件事一次办');
    expect(text).toContain('开办企业一件事');
    expect(text).toContain('川渝通办');
  });
});
