import { Hall, setUpHall, displayOf, rateReqOf, START } from './harness.js';

describe('QueueService on a real SQLite file and the real Ledger', () => {
  let hall: Hall;
  beforeEach(async () => {
    hall = await Hall.open();
    await setUpHall(hall);
  });
  afterEach(async () => {
    await hall.close();
  });

  test('numbers per prefix per day, and the next call goes by priority class, then arrival', async () => {
    const q = hall.queue;
    const a1 = await q.issueTicket({ item: 'hukou', priority: 'normal' });
    hall.advance(1000);
    const b1 = await q.issueTicket({ item: 'idcard', priority: 'normal' });
    hall.advance(1000);
    const a2 = await q.issueTicket({ item: 'hukou', priority: 'elderly-disabled' });
    hall.advance(1000);
    const a3 = await q.issueTicket({ item: 'hukou', priority: 'appointment', caseNo: 'GA2025-0001', channel: 'phone' });
    expect([a1.number, b1.number, a2.number, a3.number]).toEqual(['A001', 'B001', 'A002', 'A003']);
    expect(a1.ahead).toBe(0);
    expect(a2.ahead).toBe(0); // elderly goes before the normal A001
    expect(a3.ahead).toBe(0);
    const order: (string | null)[] = [];
    for (let i = 0; i < 4; i++) {
      hall.advance(60_000);
      const r = await hall.call('W1');
      expect(r.verdict).toBe('committed');
      order.push(displayOf(r.effects, 'W1')!.ticket);
    }
    expect(order).toEqual(['A003', 'A002', 'A001', 'B001']);
    hall.advance(60_000);
    const idle = await hall.call('W1');
    expect(displayOf(idle.effects, 'W1')).toMatchObject({ ticket: null, status: 'idle', waiting: 0, chime: false });
    // The next day numbering starts again.
    hall.advance(24 * 3600_000);
    expect((await q.issueTicket({ item: 'hukou', priority: 'normal' })).number).toBe('A001');
  });

  test('a call finishes the current ticket, records service time, and asks the pad to rate it', async () => {
    const q = hall.queue;
    await q.issueTicket({ item: 'license', priority: 'normal' });
    await q.issueTicket({ item: 'license', priority: 'normal' });
    hall.advance(5 * 60_000);
    const first = await hall.call('W3');
    expect(displayOf(first.effects, 'W3')).toEqual({ win: 'W3', ticket: 'C001', status: 'called', item: '营业执照', waiting: 1, text: null, chime: true });
    // W4 serves only 'food': its display is not touched by a license ticket.
    expect(displayOf(first.effects, 'W4')).toBeUndefined();
    expect(first.effects).toContainEqual({ kind: 'hall' });
    expect(rateReqOf(first.effects)).toBeUndefined();
    hall.advance(7 * 60_000);
    const second = await hall.call('W3');
    const req = rateReqOf(second.effects)!;
    expect(req.win).toBe('W3');
    expect(req.body).toMatchObject({ win: 'W3', ticket: 'C001', staff: 's3', item: '营业执照', expires: hall.time + q.policy.rateTimeout });
    const done = await q.ticket('C001');
    expect(done).toMatchObject({ status: 'done', win: 'W3', staff: 's3', calledAt: START + 5 * 60_000, finishedAt: hall.time });
    expect(done.finishedAt! - done.servedAt!).toBe(7 * 60_000);
    expect(done.history.map((h) => h.what)).toEqual(['issued', 'called', 'done']);

    hall.advance(10_000);
    const rated = await hall.rate('W3', { req: req.body.req, ticket: 'C001', level: 5 });
    expect(rated).toMatchObject({ verdict: 'committed', reason: null });
    const rating = (await q.ratingOf(done.id))!;
    expect(rating).toMatchObject({ ticket: done.id, number: 'C001', level: 5, staff: 's3', win: 'W3', item: 'license', department: 'shichang',
      waitMs: 5 * 60_000, serviceMs: 7 * 60_000, bound: 'request', channel: 'pad' });
    // A second rating of the same service, by the same request: refused, nothing written.
    const before = await hall.stateDump();
    hall.advance(1000);
    const again = await hall.rate('W3', { req: req.body.req, ticket: 'C001', level: 1, reason: 'attitude' });
    expect(again).toEqual({ verdict: 'refused', reason: 'rating: ticket C001 is already rated', effects: [] });
    expect(await hall.stateDump()).toBe(before);
    expect((await q.ratings()).length).toBe(1);
  });

  test('refusals name the reason and change nothing', async () => {
    const q = hall.queue;
    await q.issueTicket({ item: 'hukou', priority: 'normal' });
    await q.issueTicket({ item: 'hukou', priority: 'normal' });
    await hall.call('W2');
    const before = await hall.stateDump();
    const cases: [Promise<{ verdict: string; reason: string | null }>, string][] = [
      [hall.recall('W1', 'A001'), 'recall: ticket A001 is not at window W1; no ticket is called there'],
      [hall.recall('W2', 'A002'), 'recall: ticket A002 is not at window W2; A001 is'],
      [hall.noShow('W2', 'A009'), 'noShow: ticket A009 is not at window W2; A001 is'],
      [hall.transfer('W2', 'A001', { win: 'W2' }), 'transfer: ticket A001 is already at window W2'],
      [hall.transfer('W2', 'A001', { win: 'W9' }), 'transfer: window W9 is not set up in this hall'],
      [hall.transfer('W2', 'A001', { item: 'hukou' }), 'transfer: ticket A001 is already for item hukou'],
      [hall.transfer('W2', 'A001', { item: 'nothing' }), 'transfer: service item nothing is not set up in this hall'],
      // A pad cannot press caller keys; a display cannot rate (staff cannot rate).
      [hall.send(hall.pad('W2'), 'call', { win: 'W2', staff: null }), 'call: device pad-W2 is a pad; only a window\'s display (the caller keys) may call'],
      [hall.send(hall.display('W2'), 'rating', { win: 'W2', ticket: null, req: null, level: 5, reason: null, offline: false }),
        'rating: device disp-W2 is a display; staff cannot rate, only a window\'s rating pad may'],
      // A device speaks for its own window only.
      [hall.send(hall.display('W2'), 'call', { win: 'W1', staff: null }), 'call: device disp-W2 is installed at window W2, not W1'],
      [hall.send(hall.pad('W2'), 'rating', { win: 'W1', ticket: null, req: null, level: 4, reason: null, offline: true }), 'rating: device pad-W2 is installed at window W2, not W1'],
      [hall.rate('W2', { req: 'r-no-such', level: 5 }), 'rating: rating request r-no-such is unknown'],
      [hall.rate('W2', { level: 2, reason: null }), 'rating: a bad rating (level 2) needs a reason'],
      [hall.send(hall.display('W9'), 'call', { win: 'W9', staff: null }), 'call: window W9 is not set up in this hall'],
      [hall.call('W1', 'nobody'), 'call: staff nobody is not registered in this hall'],
    ];
    for (const [pending, reason] of cases) expect(await pending).toEqual({ verdict: 'refused', reason, effects: [] });
    expect(await hall.stateDump()).toBe(before);

    await q.signOut('W1');
    expect((await hall.call('W1')).reason).toBe('call: no staff is signed in at window W1; sign in before calling');
    expect((await q.displayFor('W1')).status).toBe('closed');
    // Naming the staff on the call signs them in.
    const named = await hall.call('W1', 's1');
    expect(named.verdict).toBe('committed');
    expect(displayOf(named.effects, 'W1')!.ticket).toBe('A002');
    expect((await q.setup()).windows.find((w) => w.id === 'W1')!.staff).toBe('s1');

    const v = await hall.verifyLedger();
    expect(v).toMatchObject({ ok: true, problem: null });
  });

  test('a rating request belongs to its window: another window\'s pad cannot use it', async () => {
    await hall.queue.issueTicket({ item: 'hukou', priority: 'normal' });
    await hall.call('W1');
    const req = rateReqOf((await hall.call('W1')).effects)!;
    const r = await hall.rate('W2', { req: req.body.req, level: 5 });
    expect(r.reason).toBe(`rating: rating request ${req.body.req} was for window W1, not W2`);
    const wrongTicket = await hall.rate('W1', { req: req.body.req, ticket: 'A777', level: 5 });
    expect(wrongTicket.reason).toBe(`rating: rating request ${req.body.req} was for ticket A001, not A777`);
    expect((await hall.rate('W1', { req: req.body.req, level: 4 })).verdict).toBe('committed');
  });

  test('recall chimes again and counts; service time runs from the last recall', async () => {
    await hall.queue.issueTicket({ item: 'pension', priority: 'normal' });
    await hall.call('W5');
    hall.advance(30_000);
    const r1 = await hall.recall('W5', 'E001');
    expect(displayOf(r1.effects, 'W5')).toMatchObject({ ticket: 'E001', status: 'recalled', chime: true });
    hall.advance(30_000);
    await hall.recall('W5', 'E001');
    const recalledAt = hall.time;
    hall.advance(4 * 60_000);
    await hall.call('W5');
    const t = await hall.queue.ticket('E001');
    expect(t.recallCount).toBe(2);
    expect(t.servedAt).toBe(recalledAt);
    expect(t.finishedAt! - t.servedAt!).toBe(4 * 60_000);
  });

  test('no-show: back to the queue after those waiting, once by default, then closed', async () => {
    const q = hall.queue;
    for (let i = 0; i < 3; i++) await q.issueTicket({ item: 'food', priority: 'normal' }); // D001..D003
    const c1 = await hall.call('W4');
    expect(displayOf(c1.effects, 'W4')!.ticket).toBe('D001');
    const ns = await hall.noShow('W4', 'D001');
    expect(ns.verdict).toBe('committed');
    expect(displayOf(ns.effects, 'W4')).toMatchObject({ ticket: null, status: 'idle', waiting: 3 });
    expect(displayOf(ns.effects, 'W3')).toMatchObject({ waiting: 3 }); // W3 serves food too
    await q.issueTicket({ item: 'food', priority: 'normal' }); // D004 arrives after the no-show returned
    const seen: (string | null)[] = [];
    for (let i = 0; i < 4; i++) seen.push(displayOf((await hall.call('W4')).effects, 'W4')!.ticket);
    expect(seen).toEqual(['D002', 'D003', 'D001', 'D004']);
    // D001 came back once, was called third and finished by the fourth call.
    const d1 = await q.ticket('D001');
    expect(d1.status).toBe('done');
    expect(d1.noShowCount).toBe(1);
    expect(d1.history.map((h) => h.what)).toEqual(['issued', 'called', 'no-show', 'requeued', 'called', 'done']);

    // A second no-show closes the ticket.
    await hall.noShow('W4', 'D004');
    await hall.call('W4');
    const closed = await hall.noShow('W4', 'D004');
    expect(closed.verdict).toBe('committed');
    const d4 = await q.ticket('D004');
    expect(d4).toMatchObject({ status: 'no-show', noShowCount: 2 });
    expect(displayOf((await hall.call('W4')).effects, 'W4')).toMatchObject({ ticket: null, status: 'idle', waiting: 0 });
  });

  test('transfer keeps the number and history, goes to the front of the target, window or item', async () => {
    const q = hall.queue;
    for (let i = 0; i < 3; i++) await q.issueTicket({ item: 'license', priority: 'normal' }); // C001..C003
    await q.issueTicket({ item: 'pension', priority: 'elderly-disabled' }); // E001
    await hall.call('W3');
    hall.advance(60_000);
    // To a window: W4 serves only food, yet C001 waits there by name, in front.
    await q.issueTicket({ item: 'food', priority: 'appointment' }); // D001
    const t1 = await hall.transfer('W3', 'C001', { win: 'W4' });
    expect(t1.verdict).toBe('committed');
    expect(displayOf(t1.effects, 'W3')).toMatchObject({ ticket: null, status: 'idle' });
    expect(displayOf(t1.effects, 'W4')).toMatchObject({ waiting: 2 });
    expect((await q.ticket('C001')).status).toBe('transferred');
    expect(displayOf((await hall.call('W4')).effects, 'W4')!.ticket).toBe('C001'); // in front of the appointment
    hall.advance(60_000);
    // To an item: pension, served at W5, in front of the elderly E001.
    const t2 = await hall.transfer('W4', 'C001', { item: 'pension' });
    expect(displayOf(t2.effects, 'W5')).toMatchObject({ waiting: 2 });
    expect(displayOf((await hall.call('W5')).effects, 'W5')!.ticket).toBe('C001');
    hall.advance(60_000);
    const fin = await hall.call('W5');
    expect(displayOf(fin.effects, 'W5')!.ticket).toBe('E001');
    expect(rateReqOf(fin.effects)!.body).toMatchObject({ ticket: 'C001', staff: 's5', item: '养老保险' });
    const c1 = await q.ticket('C001');
    expect(c1).toMatchObject({ number: 'C001', item: 'pension', department: 'renshe', status: 'done', win: 'W5', staff: 's5', transferCount: 2 });
    const transfers = c1.history.filter((h) => h.what === 'transferred');
    expect(transfers).toEqual([
      { at: START + 60_000, what: 'transferred', win: 'W3', staff: 's3', toWin: 'W4', toItem: null, fromItem: 'license' },
      { at: START + 120_000, what: 'transferred', win: 'W4', staff: 's4', toWin: null, toItem: 'pension', fromItem: 'license' },
    ]);
    // The wait is from issue to the first call, whatever happened after.
    expect(c1.calledAt).toBe(START);
  });

  test('transferPlacement back puts a transferred ticket behind those waiting', async () => {
    await hall.close();
    hall = await Hall.open({ transferPlacement: 'back' });
    await setUpHall(hall);
    const q = hall.queue;
    for (let i = 0; i < 3; i++) await q.issueTicket({ item: 'jobs', priority: 'normal' }); // F001..F003
    await hall.call('W5');
    await hall.transfer('W5', 'F001', { win: 'W6' });
    const seen: (string | null)[] = [];
    for (let i = 0; i < 3; i++) seen.push(displayOf((await hall.call('W6')).effects, 'W6')!.ticket);
    expect(seen).toEqual(['F002', 'F003', 'F001']);
  });

  test('a paused window is skipped: it cannot call, others serve its items, its display says paused', async () => {
    const q = hall.queue;
    for (let i = 0; i < 4; i++) await q.issueTicket({ item: 'hukou', priority: 'normal' });
    const p = await hall.pause('W2', '午休');
    expect(displayOf(p.effects, 'W2')).toMatchObject({ status: 'paused', text: '午休', waiting: 4 });
    expect(await hall.call('W2')).toEqual({ verdict: 'refused', reason: 'call: window W2 is paused; resume before calling the next ticket', effects: [] });
    expect(displayOf((await hall.call('W1')).effects, 'W1')!.ticket).toBe('A001');
    expect((await hall.pause('W2', '培训')).verdict).toBe('committed'); // a replayed pause only updates the reason
    expect((await q.snapshot()).windows.find((w) => w.id === 'W2')).toMatchObject({ status: 'paused', paused: true, waiting: 3 });
    const r = await hall.resume('W2');
    expect(displayOf(r.effects, 'W2')).toMatchObject({ status: 'idle', text: null });
    expect(displayOf((await hall.call('W2')).effects, 'W2')!.ticket).toBe('A002');
  });

  test('offline and unsolicited ratings bind by window and time, once; otherwise they are refused and kept for a supervisor, counted nowhere', async () => {
    const q = hall.queue;
    await q.issueTicket({ item: 'jobs', priority: 'normal' }); // F001
    await q.issueTicket({ item: 'jobs', priority: 'normal' }); // F002
    await hall.call('W6');
    hall.advance(3 * 60_000);
    const req1 = rateReqOf((await hall.call('W6')).effects)!; // F001 done at this time
    const f1Done = hall.time;
    hall.advance(2 * 60_000);
    await hall.call('W6'); // F002 done
    hall.advance(20_000);
    // The pad was offline: its rating says only the window and when (hub-corrected time).
    const off = await hall.rate('W6', { level: 4, offline: true }, f1Done + 30_000);
    expect(off.verdict).toBe('committed');
    const f1 = await q.ticket('F001');
    expect(await q.ratingOf(f1.id)).toMatchObject({ bound: 'window-time', staff: 's6', win: 'W6', level: 4, waitMs: 0, serviceMs: 3 * 60_000 });
    // Another unsolicited rating at the same moment: F001 is rated already; refused (security finding 4), kept unbound.
    const dup = await hall.rate('W6', { level: 3, offline: true }, f1Done + 40_000);
    expect(dup.verdict).toBe('refused');
    expect(dup.reason).toMatch(/ticket F001, the last service at window W6, is rated already; kept for a supervisor/);
    // Rated now, F002 (finished last) takes an unsolicited rating.
    await hall.rate('W6', { level: 5 });
    expect(await q.ratingOf((await q.ticket('F002')).id)).toMatchObject({ bound: 'window-time', level: 5 });
    // Long after the last service (beyond bindWindow): refused, never lost (kept unbound, and in the ledger).
    hall.advance(q.policy.bindWindow + 60_000);
    expect((await hall.rate('W1', { level: 1, reason: 'attitude', offline: true })).verdict).toBe('refused');
    const all = await q.ratings();
    expect(all.map((r) => [r.win, r.number, r.bound])).toEqual([
      ['W6', 'F001', 'window-time'], ['W6', 'F002', 'window-time'],
    ]);
    expect((await q.ratingsFeature.unbound()).map((u) => [u.win, u.level])).toEqual([['W1', 1], ['W6', 3]]);
    const ledgerRatings = await hall.db.all<{ body: string }>(`SELECT body FROM ledger WHERE kind = 'rating' ORDER BY "row"`);
    expect(ledgerRatings.map((r) => JSON.parse(r.body).bound)).toEqual(['window-time', 'window-time']);
    expect(JSON.parse(ledgerRatings[0].body)).toMatchObject({ ticket: f1.id, staff: 's6', win: 'W6', item: 'jobs', department: 'renshe', waitMs: 0, serviceMs: 180_000 });
    // The pad's own request for F001 arrives late: F001 is already rated by window and time.
    expect((await hall.rate('W6', { req: req1.body.req, level: 2, reason: 'slow' })).reason).toBe('rating: ticket F001 is already rated');
    expect((await hall.verifyLedger()).ok).toBe(true);
  });

  test('ratings are append-only in the database itself', async () => {
    // A service to rate (unsolicited ratings bind only to one: security finding 4).
    await hall.queue.issueTicket({ item: 'hukou', priority: 'normal' });
    await hall.call('W1');
    hall.advance(60_000);
    await hall.call('W1');
    expect(await hall.rate('W1', { level: 5 })).toEqual({ verdict: 'committed', reason: null, effects: [{ kind: 'hall' }] });
    expect((await hall.queue.ratings()).length).toBe(1);
    await expect(hall.db.run(`UPDATE queue_ratings SET level = 1`)).rejects.toThrow(/append-only/);
    await expect(hall.db.run(`DELETE FROM queue_ratings`)).rejects.toThrow(/append-only/);
    expect((await hall.queue.ratings())[0].level).toBe(5);
  });

  test('the queue survives a restart: everything is in the database', async () => {
    const q = hall.queue;
    for (let i = 0; i < 5; i++) await q.issueTicket({ item: 'idcard', priority: i === 3 ? 'elderly-disabled' : 'normal' });
    await hall.call('W6');
    await hall.pause('W1');
    const before = await q.snapshot();
    const dir = hall.dir;
    const time = hall.time;
    await hall.close(false);
    hall = await Hall.open({}, dir);
    hall.time = time;
    expect(await hall.queue.snapshot()).toEqual(before);
    expect(displayOf((await hall.call('W6')).effects, 'W6')!.ticket).toBe('B001');
    expect((await hall.queue.issueTicket({ item: 'idcard', priority: 'normal' })).number).toBe('B006');
  });

  test('bad policy is refused at construction, naming the key', async () => {
    await expect(Hall.open({ noShowReturns: -1 })).rejects.toThrow('queue policy: noShowReturns: expected an integer ≥ 0');
  });
});
