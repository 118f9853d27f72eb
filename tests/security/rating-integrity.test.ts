/**
 * Findings 3 and 4: ratings cannot be poured in by a pad, nor given by staff.
 *
 * - A pad flood (640 one-star ratings with no rating request, as a rogue or stuck pad sends
 *   them) over the real broker: every one is refused, kept unbound, counted nowhere, opens no
 *   case; a supervisor can bind one to an unrated service of that window, and then it counts.
 * - The rating link is not given to staff (403, logged), and a staff session cannot rate by
 *   phone; a rating through any channel is checked against the ticket's staff.
 */

import { startHub, setUpHall, type HubFixture } from '../../support/hub.js';
import { FakeDevice, waitFor, bootBody } from '../../support/device.js';
import { RatingPad } from '../../firmware/core/pad.js';
import { VirtualTime } from '../../simulator/virtual-time.js';

let f: HubFixture;
const devices: FakeDevice[] = [];
afterEach(async () => {
  for (const d of devices.splice(0)) await d.close();
  await f?.stop();
});

async function device(role: 'pad' | 'display', win: string, id: string): Promise<FakeDevice> {
  const d = new FakeDevice(await f.provision(role, win, id));
  await d.connect(`mqtt://127.0.0.1:${f.hub.mqttPort}`);
  devices.push(d);
  return d;
}

type Figures = { rows: { id: string; ratings: number; satisfaction: number | null; badRate: number | null }[] };

test('a pad flood of unbound one-star ratings is refused, counts nowhere and opens no case; a supervisor may bind one', async () => {
  f = await startHub();
  const tickets = await setUpHall(f.api, 2);
  const caller = await device('display', 'W1', 'disp-1');
  const pad = await device('pad', 'W1', 'pad-1');
  await caller.send('boot', bootBody);
  await caller.send('call', { win: 'W1', staff: null }); // A001 called
  await caller.send('call', { win: 'W1', staff: null }); // A001 done, A002 called
  await waitFor('rateReq at the pad', () => pad.commands.some((c) => c.type === 'rateReq'));
  const req = pad.commands.find((c) => c.type === 'rateReq')!;
  if (req.type !== 'rateReq') throw new Error('unreachable');
  await pad.send('rating', { win: 'W1', ticket: req.body.ticket, req: req.body.req, level: 5, reason: null, offline: false });
  await waitFor('rating committed', () => pad.unacked.size === 0);
  const before = (await f.api<Figures>('GET', '/api/app/figures?by=win')).rows.find((r) => r.id === 'W1')!;
  expect(before).toMatchObject({ ratings: 1, satisfaction: 1 });

  const FLOOD = 640;
  const started = Date.now();
  for (let i = 0; i < FLOOD; i++) await pad.send('rating', { win: 'W1', ticket: null, req: null, level: 1, reason: 'attitude', offline: true });
  await waitFor('flood acked', () => pad.unacked.size === 0, 60_000);
  const floodMs = Date.now() - started;
  const verdicts = [...Array(FLOOD).keys()].map((i) => pad.verdict(i + 2)!);
  expect(verdicts.filter((v) => v.verdict === 'refused')).toHaveLength(FLOOD);
  expect(verdicts[0].reason).toMatch(/^rating: not bound: ticket A001, the last service at window W1, is rated already; kept for a supervisor/);

  // Counted nowhere: the window's figures are as before, no case opened, nothing in queue_ratings.
  const after = (await f.api<Figures>('GET', '/api/app/figures?by=win')).rows.find((r) => r.id === 'W1')!;
  expect(after).toEqual(before);
  expect((await f.api<{ cases: unknown[] }>('GET', '/api/app/cases')).cases).toHaveLength(0);
  expect(Number((await f.hub.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM queue_ratings'))!.n)).toBe(1);
  // Never lost: each is kept unbound (and its signed event and refusal are in the ledger).
  expect(Number((await f.hub.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM ratings_unbound'))!.n)).toBe(FLOOD);
  const kinds = await f.ledgerKinds();
  expect(kinds.refusal).toBe(FLOOD);
  const unbound = (await f.api<{ ratings: { id: string; win: string; level: number }[] }>('GET', '/api/app/ratings/unbound?win=W1')).ratings;
  expect(unbound.length).toBeGreaterThan(0);
  expect(unbound[0]).toMatchObject({ win: 'W1', level: 1 });

  // Staff cannot bind; a supervisor binds one to A002 once it is served, and then it counts and opens its case.
  await f.api('PUT', '/api/auth/users/clerk', { name: '张三', role: 'staff', staff: 's1', password: 'clerk-password-1' });
  const login = await fetch(`${f.http}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'clerk', password: 'clerk-password-1' }) });
  const cookie = login.headers.get('set-cookie')!.split(';')[0];
  const staffBind = await fetch(`${f.http}/api/app/ratings/unbound/${encodeURIComponent(unbound[0].id)}/bind`, {
    method: 'POST', headers: { cookie, 'content-type': 'application/json', origin: f.http }, body: JSON.stringify({ ticket: 'x' }),
  });
  expect(staffBind.status).toBe(403);
  await caller.send('call', { win: 'W1', staff: null }); // A002 done
  await waitFor('A002 done', () => caller.unacked.size === 0);
  const a002 = await f.api<{ id: string }>('GET', `/api/queue/tickets/${tickets[1]}`);
  // Not to a service of another window, nor to one rated already.
  const wrong = await f.call('POST', `/api/app/ratings/unbound/${encodeURIComponent(unbound[0].id)}/bind`, { ticket: (await f.api<{ id: string }>('GET', `/api/queue/tickets/${tickets[0]}`)).id });
  expect(wrong.status).toBe(409);
  const bound = await f.api<{ rating: { ticket: string; bound: string; staff: string } }>('POST', `/api/app/ratings/unbound/${encodeURIComponent(unbound[0].id)}/bind`, { ticket: a002.id });
  expect(bound.rating).toMatchObject({ ticket: a002.id, bound: 'supervisor', staff: 's1' });
  await waitFor('case opened for the bound rating', async () => (await f.api<{ cases: unknown[] }>('GET', '/api/app/cases')).cases.length === 1);
  const counted = (await f.api<Figures>('GET', '/api/app/figures?by=win')).rows.find((r) => r.id === 'W1')!;
  expect(counted).toMatchObject({ ratings: 2, satisfaction: 0.5 });
  expect(Number((await f.hub.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM ratings_unbound'))!.n)).toBe(FLOOD); // kept as given
  expect((await f.api<{ ratings: unknown[] }>('GET', '/api/app/ratings/unbound?win=W1')).ratings.find((r) => (r as { id: string }).id === unbound[0].id)).toBeUndefined();
  expect((await f.api('GET', '/api/ledger/verify')).ok).toBe(true);
  console.info(`pad flood: ${FLOOD} unbound ratings refused and kept in ${floodMs} ms`);
}, 120_000);

test('the pad itself takes one rating without a request per served interval, however fast the presses', () => {
  const timers = new VirtualTime(Date.UTC(2026, 0, 5, 1));
  const emitted: unknown[] = [];
  const pad = new RatingPad({
    display: { render: () => undefined }, sound: { play: () => undefined }, timers, now: () => timers.now(),
    emit: (_type, body) => { emitted.push(body); return { ok: true }; }, online: () => false,
  }, { win: 'W1', rateTimeout: 30_000, unsolicited: 'bind', idleText: '' });
  pad.start();
  // 640 presses of the one-star key in 1.8 s, each with its reason key, offline.
  for (let i = 0; i < 640; i++) {
    pad.press(4);
    pad.press(0);
    timers.advance(3);
  }
  expect(emitted).toHaveLength(1);
  // After "thank you", presses within the served interval are refused on the pad, with a notice.
  timers.advance(5_000);
  for (let i = 0; i < 20; i++) { pad.press(4); timers.advance(1_000); }
  expect(emitted).toHaveLength(1);
  expect(pad.counters.tooSoon).toBe(20);
  timers.advance(60_000);
  pad.press(1);
  expect(emitted).toHaveLength(2);
});

test('staff get no rating link and cannot rate, whatever they hold', async () => {
  f = await startHub();
  const tickets = await setUpHall(f.api, 1);
  const caller = await device('display', 'W1', 'disp-1');
  await caller.send('call', { win: 'W1', staff: null });
  await caller.send('call', { win: 'W1', staff: null }); // A001 done, by s1
  await waitFor('acks', () => caller.unacked.size === 0);
  const ticket = await f.api<{ id: string }>('GET', `/api/queue/tickets/${tickets[0]}`);

  await f.api('PUT', '/api/auth/users/clerk', { name: '张三', role: 'staff', staff: 's1', password: 'clerk-password-1' });
  const login = await fetch(`${f.http}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'clerk', password: 'clerk-password-1' }) });
  const cookie = login.headers.get('set-cookie')!.split(';')[0];
  const asStaff = await fetch(`${f.http}/api/app/rating-link/${ticket.id}`, { headers: { cookie } });
  expect(asStaff.status).toBe(403);
  expect(await asStaff.json()).toMatchObject({ error: 'forbidden', field: 'ticket' });

  const { url } = await f.api<{ url: string }>('GET', `/api/app/rating-link/${ticket.id}`);
  const path = new URL(url, f.http).pathname;
  // A staff session is refused, own service or not, and nothing is recorded.
  const own = await fetch(f.http + path, { method: 'POST', headers: { cookie, 'content-type': 'application/json', origin: f.http }, body: JSON.stringify({ level: 5 }) });
  expect(own.status).toBe(403);
  expect(Number((await f.hub.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM queue_ratings'))!.n)).toBe(0);
  // The citizen, with no session, rates once.
  const citizen = await fetch(f.http + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ level: 4 }) });
  expect(citizen.status).toBe(201);
  expect(Number((await f.hub.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM queue_ratings'))!.n)).toBe(1);
});
