/**
 * Privacy (issue 18, finding 6), over real HTTP with no cookies: the public sees a ticket's state
 * only with the code the ticket carries, and cannot walk a day's numbers; staff see their own cases
 * with the day of the rating, never its time, the ticket, or the supervisor's callback notes.
 */

import { startHub, setUpHall, type HubFixture } from '../../support/hub.js';
import { FakeDevice, waitFor, bootBody } from '../../support/device.js';

const PASSWORD = 'correct horse battery staple';
let f: HubFixture;
const devices: FakeDevice[] = [];
afterEach(async () => {
  for (const d of devices.splice(0)) await d.close();
  await f?.stop();
});

test('the public ticket lookup needs the ticket\'s code and then shows its state only', async () => {
  f = await startHub();
  await setUpHall(f.api, 0);
  const issue = async (caseNo: string | null) => {
    const res = await f.call('POST', '/api/queue/tickets', { item: 'I1', priority: 'normal', caseNo }, null);
    expect(res.status).toBe(201);
    return res.json() as Promise<{ id: string; number: string; code: string; lookup: string }>;
  };
  const mine = await issue('GA-2026-0001');
  const other = await issue('GA-2026-0002');
  const secrets = ['GA-2026', '张三', 's1', 'W1', 'issuedAt', 'history', 'caseNo', 'staff'];
  const noData = async (res: Response, status: number) => {
    expect(res.status).toBe(status);
    const text = await res.text();
    for (const s of secrets) expect(text).not.toContain(s);
    return JSON.parse(text) as { error: string; field: string };
  };

  // Walking the day's numbers without a code: refused, nothing shown (anonymous, and a staff member too).
  await f.api('PUT', '/api/auth/users/staff1', { name: '张三', role: 'staff', staff: 's1', password: PASSWORD });
  const staff = (await f.api('POST', '/api/auth/login', { username: 'staff1', password: PASSWORD }, null)).token as string;
  for (const n of ['A001', 'A002', 'A003']) {
    expect(await noData(await f.call('GET', `/api/queue/tickets/${n}`, undefined, null), 403)).toMatchObject({ error: 'forbidden', field: 'querystring.code' });
    await noData(await f.call('GET', `/api/queue/tickets/${n}`, undefined, staff), 403);
  }
  // Another ticket's code, a made-up code, a ticket never issued: the same 404, nothing shown.
  await noData(await f.call('GET', `/api/queue/tickets/${other.number}?code=${mine.code}`, undefined, null), 404);
  await noData(await f.call('GET', `/api/queue/tickets/${mine.number}?code=00000000`, undefined, null), 404);
  await noData(await f.call('GET', `/api/queue/tickets/A404?code=${mine.code}`, undefined, null), 404);

  // With its own code (the URL returned at issue): the state, and nothing else.
  const day = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10);
  expect(mine.lookup).toBe(`/api/queue/tickets/${mine.number}?day=${day}&code=${mine.code}`);
  const res = await f.call('GET', mine.lookup, undefined, null);
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ number: 'A001', day, status: 'waiting' });
  // Typed in lower case from the paper, it still works.
  expect((await f.call('GET', `/api/queue/tickets/${mine.number}?code=${mine.code.toLowerCase()}`, undefined, null)).status).toBe(200);
  // A supervisor still sees the whole ticket.
  expect(await f.api('GET', `/api/queue/tickets/${mine.number}`)).toMatchObject({ caseNo: 'GA-2026-0001', history: expect.any(Array) });

  // Guessing is bounded: after 30 wrong codes a minute from one address, 429, even for a right code.
  for (let i = 0; i < 30; i++) await f.call('GET', `/api/queue/tickets/${other.number}?code=WRONG${String(i).padStart(3, '0')}`, undefined, null);
  expect((await f.call('GET', other.lookup, undefined, null)).status).toBe(429);
});

test('staff see their own case with the day of the rating, never its time, its ticket or the callback notes', async () => {
  f = await startHub();
  const url = `mqtt://127.0.0.1:${f.hub.mqttPort}`;
  await setUpHall(f.api, 2);
  const display = new FakeDevice(await f.provision('display', 'W1', 'disp-1'));
  const pad = new FakeDevice(await f.provision('pad', 'W1', 'pad-1'));
  for (const d of [display, pad]) {
    await d.connect(url);
    devices.push(d);
  }
  await display.send('boot', bootBody);
  await display.send('call', { win: 'W1', staff: null });
  await display.send('call', { win: 'W1', staff: null });
  await waitFor('rateReq at the pad', () => pad.commands.some((c) => c.type === 'rateReq'));
  const req = pad.commands.find((c) => c.type === 'rateReq')!;
  if (req.type !== 'rateReq') throw new Error('unreachable');
  await pad.send('rating', { win: 'W1', ticket: req.body.ticket, req: req.body.req, level: 1, reason: 'attitude', offline: false });
  await waitFor('rating committed', () => pad.unacked.size === 0);
  let cases: { id: string; ratedAt: number; number: string }[] = [];
  await waitFor('case opened', async () => (cases = (await f.api('GET', '/api/app/cases')).cases).length === 1);
  const [c] = cases;
  const note = '已回访王女士，电话 13800138000，群众表示理解';
  await f.api('POST', `/api/app/cases/${c.id}/callback`, { note, reached: true });

  await f.api('PUT', '/api/auth/users/staff1', { name: '张三', role: 'staff', staff: 's1', password: PASSWORD });
  const staff = (await f.api('POST', '/api/auth/login', { username: 'staff1', password: PASSWORD }, null)).token as string;
  const day = new Date(c.ratedAt + 8 * 3600_000).toISOString().slice(0, 10);
  const check = (text: string) => {
    expect(text).not.toContain('13800138000');
    expect(text).not.toContain('王女士');
    expect(text).not.toContain(String(c.ratedAt));
    expect(text).not.toMatch(/"(ratedAt|openedAt|callbackAt|ticket|number|rating)":\s*"?[^n"]/);
    expect(text).not.toContain(c.number);
    // The case's id carries the rating's (the pad's seq); staff get an alias.
    expect(text).not.toContain(c.id);
  };
  const listText = await (await f.call('GET', '/api/app/cases', undefined, staff)).text();
  check(listText);
  const alias = JSON.parse(listText).cases[0].id as string;
  expect(alias).toMatch(/^k[A-Za-z0-9_-]{22}$/);
  expect(JSON.parse(listText).cases).toEqual([expect.objectContaining({ id: alias, ratedDay: day, level: 1, reason: 'attitude', status: 'rectify', staff: 's1' })]);
  const oneText = await (await f.call('GET', `/api/app/cases/${alias}`, undefined, staff)).text();
  check(oneText);
  const one = JSON.parse(oneText).case;
  expect(one.ratedAt).toBeUndefined();
  expect(one.steps.map((s: { step: string; day: string; note: string | null }) => [s.step, s.day, s.note])).toEqual([['opened', day, null], ['callback', day, null]]);
  // Their own appeal's reason is theirs to see.
  const appealed = (await f.api('POST', `/api/app/cases/${alias}/appeal`, { reason: '当时系统卡顿' }, staff)).case;
  check(JSON.stringify(appealed));
  expect(appealed.steps.at(-1)).toMatchObject({ step: 'appeal', note: '当时系统卡顿' });
  // Another staff member does not find it by its alias.
  await f.api('PUT', '/api/queue/staff/s2', { name: '李四', department: 'D1' });
  await f.api('PUT', '/api/auth/users/staff2', { name: '李四', role: 'staff', staff: 's2', password: PASSWORD });
  const staff2 = (await f.api('POST', '/api/auth/login', { username: 'staff2', password: PASSWORD }, null)).token as string;
  expect((await f.call('GET', `/api/app/cases/${alias}`, undefined, staff2)).status).toBe(404);
  // The supervisor's view keeps everything.
  expect((await f.api('GET', `/api/app/cases/${c.id}`)).case).toMatchObject({ ratedAt: c.ratedAt, steps: expect.arrayContaining([expect.objectContaining({ note })]) });
});
