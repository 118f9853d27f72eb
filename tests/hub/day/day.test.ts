/**
 * hub/day's rules one by one: opening hours on the calendar (pure), the check-in merge rule
 * (pure), and, on one real hub with an injected clock, bad input refused with a clear error
 * and nothing changed: a booking for a closed slot, a package with an unknown item, a ticket
 * outside opening hours, hours in the wrong order; bookings idempotent by id.
 */

import { WorkingCalendar } from '../../../hub/app/calendar.js';
import { stateAt, closedText } from '../../../hub/day/hours.js';
import { checkInClass } from '../../../hub/day/appointments.js';
import { startHub, type HubFixture } from '../../../support/hub.js';
import { waitFor } from '../../../support/device.js';
import type { EventBodies } from '../../../firmware/core/protocol.js';

const at = (local: string) => Date.parse(`${local}+08:00`);
const calendar = new WorkingCalendar({ utcOffsetMinutes: 480, holidays: ['2026-10-01'], makeupWorkdays: ['2026-10-10'] });
const hours = { open: '08:30', close: '17:30', lastTicket: '17:00', days: 'working' as const };

describe('opening hours', () => {
  test('a day on the calendar: before opening, taking tickets, after the last ticket, after closing', () => {
    expect(stateAt(hours, calendar, 480, at('2026-12-01T08:29:00'))).toMatchObject({ serving: false, ticketing: false, why: 'before-opening' });
    expect(stateAt(hours, calendar, 480, at('2026-12-01T08:30:00'))).toMatchObject({ serving: true, ticketing: true, why: null });
    expect(stateAt(hours, calendar, 480, at('2026-12-01T17:00:00'))).toMatchObject({ serving: true, ticketing: false, why: 'after-last-ticket' });
    expect(stateAt(hours, calendar, 480, at('2026-12-01T17:30:00'))).toMatchObject({ serving: false, why: 'after-closing' });
  });
  test('holidays and weekends close a working-days scope; a make-up Saturday opens it; "every" ignores the calendar', () => {
    expect(stateAt(hours, calendar, 480, at('2026-10-01T10:00:00')).why).toBe('holiday');
    expect(stateAt(hours, calendar, 480, at('2026-12-05T10:00:00')).why).toBe('holiday'); // a Saturday
    expect(stateAt(hours, calendar, 480, at('2026-10-10T10:00:00')).ticketing).toBe(true); // 调休
    expect(stateAt({ ...hours, days: 'every' }, calendar, 480, at('2026-10-01T10:00:00')).ticketing).toBe(true);
    expect(stateAt(null, calendar, 480, at('2026-10-01T03:00:00')).ticketing).toBe(true);
    expect(closedText(stateAt(hours, calendar, 480, at('2026-10-01T10:00:00')))).toMatch(/^本厅今日休息（节假日）/);
  });
});

describe('the merge rule of a check-in', () => {
  const start = at('2026-12-01T09:00:00');
  const p = { earlyMinutes: 30, graceMinutes: 15 };
  test('from 30 minutes before to 15 after its slot: an appointment; earlier: refused; later: late (a normal ticket)', () => {
    expect(checkInClass(start, start - 31 * 60_000, p)).toBe('early');
    expect(checkInClass(start, start - 30 * 60_000, p)).toBe('appointment');
    expect(checkInClass(start, start + 15 * 60_000, p)).toBe('appointment');
    expect(checkInClass(start, start + 15 * 60_000 + 1, p)).toBe('late');
  });
});

describe('bad input on a hub: a clear error, nothing changed', () => {
  let h: HubFixture;
  let clock = at('2026-12-01T10:00:00');
  const counts = async () => {
    const n = async (sql: string) => Number((await h.hub.db.get<{ n: number }>(sql))!.n);
    return { tickets: await n('SELECT COUNT(*) AS n FROM queue_tickets'), bookings: await n('SELECT COUNT(*) AS n FROM day_bookings'), packages: await n('SELECT COUNT(*) AS n FROM day_packages'), ledger: await n('SELECT COUNT(*) AS n FROM ledger'), hours: await n('SELECT COUNT(*) AS n FROM day_hours') };
  };
  const refused = async (method: string, url: string, body: unknown, status: number, field: string, message: RegExp) => {
    const before = await counts();
    const res = await h.call(method, url, body);
    const json = await res.json();
    expect({ status: res.status, field: json.field }).toEqual({ status, field });
    expect(json.message).toMatch(message);
    expect(json.error).toEqual(expect.any(String));
    expect(await counts()).toEqual(before);
  };

  beforeAll(async () => {
    h = await startHub({ 'day.sweepSeconds': 3600 }, undefined, { now: () => clock });
    await h.api('PUT', '/api/queue/departments/D1', { name: '市场监管' });
    await h.api('PUT', '/api/queue/items/I1', { name: '营业执照', department: 'D1', prefix: 'A', limitDays: 5 });
    await h.api('PUT', '/api/queue/items/I2', { name: '税务登记', department: 'D1', prefix: 'B', limitDays: 3 });
    await h.api('PUT', '/api/queue/windows/W1', { name: '一号窗口', items: ['I1', 'I2'] });
    await h.api('PUT', '/api/day/hours/*', hours);
    await h.api('PUT', '/api/day/hours/I2', { open: '09:00', close: '12:00', lastTicket: '11:30', days: 'working' });
  });
  afterAll(() => h?.stop());

  test('a ticket outside the hall\'s or the item\'s hours', async () => {
    clock = at('2026-12-01T18:00:00');
    await refused('POST', '/api/queue/tickets', { item: 'I1', priority: 'normal' }, 409, 'item', /已结束办理/);
    clock = at('2026-12-01T11:45:00');
    await refused('POST', '/api/queue/tickets', { item: 'I2', priority: 'normal' }, 409, 'item', /事项 I2 今日已停止取号/);
    await refused('POST', '/api/day/tickets', { item: 'I2', priority: 'normal' }, 409, 'item', /停止取号/);
    expect((await h.api('POST', '/api/queue/tickets', { item: 'I1', priority: 'normal' })).number).toBe('A001');
  });

  test('hours in the wrong order, an unknown item\'s hours', async () => {
    await refused('PUT', '/api/day/hours/*', { open: '09:00', close: '08:00', lastTicket: '08:30', days: 'working' }, 400, 'body.close', /must be after the opening time/);
    await refused('PUT', '/api/day/hours/*', { open: '09:00', close: '17:00', lastTicket: '17:30', days: 'working' }, 400, 'body.lastTicket', /not after closing/);
    await refused('PUT', '/api/day/hours/*', { open: '9:00', close: '17:00', lastTicket: '16:30', days: 'working' }, 400, 'open', /expected HH:MM/);
    await refused('PUT', '/api/day/hours/NOPE', hours, 404, 'scope', /NOPE is not set up/);
  });

  test('a package with an unknown item or window', async () => {
    const pkg = (steps: unknown[]) => ({ name: '开办企业', win: null, limitDays: 2, steps });
    await refused('PUT', '/api/day/packages/P1', pkg([{ item: 'I1', win: null }, { item: 'NOPE', win: null }]), 400, 'body.steps[1].item', /NOPE is not set up/);
    await refused('PUT', '/api/day/packages/P1', pkg([{ item: 'I1', win: 'W9' }, { item: 'I2', win: null }]), 400, 'body.steps[0].win', /W9 is not set up/);
    await refused('PUT', '/api/day/packages/P1', pkg([{ item: 'I1', win: null }]), 400, 'steps', /fewer than 2/);
    await refused('POST', '/api/day/tickets', { package: 'P1', priority: 'normal' }, 404, 'body.package', /P1 is not set up/);
  });

  test('a package at one window: the next call takes the same ticket to its next item; only its last item ends with a rating request', async () => {
    clock = at('2026-12-01T10:00:00');
    await h.api('PUT', '/api/queue/staff/s1', { name: '张三', department: 'D1' });
    await h.api('POST', '/api/queue/windows/W1/sign-in', { staff: 's1' });
    const caller = await h.device('display', 'W1', 'disp-W1');
    const pad = await h.device('pad', 'W1', 'pad-W1');
    await h.api('PUT', '/api/day/packages/ONE', { name: '一窗办', win: 'W1', limitDays: 1, steps: [{ item: 'I1', win: null }, { item: 'I2', win: null }] });
    // Nothing else waits at W1: serve the A001 left from the first test first.
    const call = async () => {
      await caller.publish(caller.sign('call', { win: 'W1', staff: null } as EventBodies['call'], clock));
      await waitFor('call acked', () => caller.unacked.size === 0);
      return (await h.api('GET', '/api/queue/setup')).windows.find((w: { id: string }) => w.id === 'W1').current as string | null;
    };
    expect(await call()).toBe('A001');
    const t = await h.api('POST', '/api/day/tickets', { package: 'ONE', priority: 'normal' });
    clock += 60_000;
    expect(await call()).toBe(t.number); // A001 done, the package ticket called for I1
    clock += 4 * 60_000;
    expect(await call()).toBe(t.number); // I1 done: the same ticket, called again for I2
    expect((await h.api('GET', `/api/queue/tickets/${t.number}`)).item).toBe('I2');
    clock += 6 * 60_000;
    expect(await call()).toBeNull(); // I2 done: the package ends
    await waitFor('two rating requests (A001 and the package)', () => pad.commands.filter((c) => c.type === 'rateReq').length === 2);
    await new Promise((r) => setTimeout(r, 300));
    expect(pad.commands.filter((c) => c.type === 'rateReq').map((c) => (c.body as { ticket: string }).ticket)).toEqual(['A001', t.number]);
    const steps = (await h.api('GET', `/api/day/tickets/${t.id}`)).steps;
    expect(steps.map((s: { item: string; win: string; startedAt: number; finishedAt: number }) => [s.item, s.win, (s.finishedAt - s.startedAt) / 60_000])).toEqual([['I1', 'W1', 4], ['I2', 'W1', 6]]);
  });

  test('a booking for a closed slot, a full one, a past one; the same id replays and another slot conflicts', async () => {
    clock = at('2026-12-01T10:00:00');
    await h.api('PUT', '/api/day/slots/evening', { item: 'I1', startsAt: at('2026-12-01T18:00:00'), minutes: 30, capacity: 5 });
    await h.api('PUT', '/api/day/slots/holiday', { item: 'I1', startsAt: at('2026-12-05T10:00:00'), minutes: 30, capacity: 5 });
    await h.api('PUT', '/api/day/slots/shut', { item: 'I1', startsAt: at('2026-12-02T10:00:00'), minutes: 30, capacity: 5, closed: true });
    await h.api('PUT', '/api/day/slots/past', { item: 'I1', startsAt: at('2026-12-01T08:30:00'), minutes: 30, capacity: 5 });
    await h.api('PUT', '/api/day/slots/one', { item: 'I1', startsAt: at('2026-12-02T10:00:00'), minutes: 30, capacity: 1 });
    await h.api('PUT', '/api/day/slots/two', { item: 'I1', startsAt: at('2026-12-02T10:30:00'), minutes: 30, capacity: 1 });
    await refused('PUT', '/api/day/bookings/x1', { slot: 'evening' }, 409, 'body.slot', /已结束办理/);
    await refused('PUT', '/api/day/bookings/x1', { slot: 'holiday' }, 409, 'body.slot', /节假日/);
    await refused('PUT', '/api/day/bookings/x1', { slot: 'shut' }, 409, 'body.slot', /预约时段已关闭/);
    await refused('PUT', '/api/day/bookings/x1', { slot: 'past' }, 409, 'body.slot', /预约时段已过/);
    await refused('PUT', '/api/day/bookings/x1', { slot: 'nope' }, 404, 'body.slot', /not open for booking/);
    expect((await h.call('PUT', '/api/day/bookings/x1', { slot: 'one' })).status).toBe(201);
    expect((await h.call('PUT', '/api/day/bookings/x1', { slot: 'one' })).status).toBe(200);
    await refused('PUT', '/api/day/bookings/x2', { slot: 'one' }, 409, 'body.slot', /约满/);
    await refused('PUT', '/api/day/bookings/x1', { slot: 'two' }, 409, 'id', /already exists for slot one/);
    await refused('POST', '/api/day/bookings/x1/check-in', { channel: 'kiosk' }, 409, 'id', /not today/);
    // Without a token: the booking API is a kiosk's or a supervisor's.
    expect((await h.call('PUT', '/api/day/bookings/x3', { slot: 'two' }, null)).status).toBe(401);
  });
});
