/**
 * A whole day in a hall: ~200 tickets of mixed priority, six windows calling, recalling,
 * marking no-shows, transferring and pausing through applyEvent, pads rating by request,
 * offline and twice. Every call is checked against a small independent model of the queue
 * (lane, priority class, arrival); every rating against the service it must be bound to.
 */

import type { RatingLevel } from '../../../firmware/core/protocol.js';
import { Hall, displayOf, rateReqOf, seeded, setUpHall } from './harness.js';

const WINDOW_ITEMS: Record<string, string[]> = {
  W1: ['hukou', 'idcard'], W2: ['hukou'], W3: ['license', 'food'], W4: ['food'], W5: ['pension', 'jobs'], W6: ['jobs', 'idcard'],
};
const WINDOWS = Object.keys(WINDOW_ITEMS);
const ITEMS = ['hukou', 'idcard', 'license', 'food', 'pension', 'jobs'];
const RANK = { appointment: 0, 'elderly-disabled': 1, normal: 2 } as const;

interface ModelTicket { number: string; item: string; rank: number; lane: number; order: number; target: string | null; status: string; noShows: number }

test('a test day: 200 tickets, six windows, every call in order and every rating bound once', async () => {
  const hall = await Hall.open();
  try {
    await setUpHall(hall);
    const q = hall.queue;
    const rnd = seeded(20250314);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)];

    const tickets = new Map<string, ModelTicket>();
    const current = new Map<string, string | null>(WINDOWS.map((w) => [w, null]));
    const paused = new Set<string>();
    let order = 0;
    let issued = 0;
    const stats = { calls: 0, idle: 0, recalls: 0, noShows: 0, closedNoShow: 0, transfers: 0, pausedRefusals: 0, duplicatesRefused: 0, offline: 0, byRequest: 0 };
    // number → the rating it must end up with
    const expected = new Map<string, { win: string; staff: string; level: RatingLevel; bound: 'request' | 'window-time' }>();

    const eligible = (win: string) => [...tickets.values()]
      .filter((t) => t.status === 'waiting' && (t.target === win || (t.target === null && WINDOW_ITEMS[win].includes(t.item))))
      .sort((a, b) => a.lane - b.lane || a.rank - b.rank || a.order - b.order);

    const issue = async () => {
      const r = rnd();
      const priority = r < 0.1 ? 'appointment' : r < 0.25 ? 'elderly-disabled' : 'normal';
      const item = pick(ITEMS);
      const t = await q.issueTicket({ item, priority, channel: rnd() < 0.3 ? 'phone' : 'kiosk' });
      const ahead = [...tickets.values()].filter((m) => m.status === 'waiting' && m.target === null && m.item === item
        && (m.lane < 1 || (m.lane === 1 && m.rank < RANK[priority]) || (m.lane === 1 && m.rank === RANK[priority]))).length;
      expect(t.ahead).toBe(ahead);
      tickets.set(t.number, { number: t.number, item, rank: RANK[priority], lane: 1, order: ++order, target: null, status: 'waiting', noShows: 0 });
      issued++;
    };

    for (let i = 0; i < 120; i++) { await issue(); hall.advance(15_000); }

    for (let step = 0; step < 1400 && (issued < 200 || [...tickets.values()].some((t) => t.status === 'waiting') || [...current.values()].some(Boolean)); step++) {
      hall.advance(5_000 + Math.floor(rnd() * 40_000));
      if (issued < 200 && rnd() < 0.2) { await issue(); continue; }
      const win = pick(WINDOWS);
      const staff = `s${win.slice(1)}`;
      const cur = current.get(win)!;
      const r = rnd();
      if (paused.has(win)) {
        if (r < 0.5) {
          expect((await hall.resume(win)).verdict).toBe('committed');
          paused.delete(win);
        } else {
          const refused = await hall.call(win);
          expect(refused.reason).toBe(`call: window ${win} is paused; resume before calling the next ticket`);
          stats.pausedRefusals++;
        }
        continue;
      }
      if (cur && r < 0.12) {
        const res = await hall.noShow(win, cur);
        expect(res.verdict).toBe('committed');
        const m = tickets.get(cur)!;
        m.noShows++;
        if (m.noShows <= 1) Object.assign(m, { status: 'waiting', lane: 1, order: ++order });
        else { m.status = 'no-show'; stats.closedNoShow++; }
        current.set(win, null);
        stats.noShows++;
        continue;
      }
      if (cur && r < 0.17) {
        const res = await hall.recall(win, cur);
        expect(displayOf(res.effects, win)).toMatchObject({ ticket: cur, status: 'recalled', chime: true });
        stats.recalls++;
        continue;
      }
      if (cur && r < 0.22) {
        const m = tickets.get(cur)!;
        const toWindow = rnd() < 0.5;
        const toWin = pick(WINDOWS.filter((w) => w !== win));
        const toItem = pick(ITEMS.filter((i) => i !== m.item));
        const res = await hall.transfer(win, cur, toWindow ? { win: toWin } : { item: toItem });
        expect(res.verdict).toBe('committed');
        if (toWindow) Object.assign(m, { status: 'waiting', lane: 0, order: ++order, target: toWin });
        else Object.assign(m, { status: 'waiting', lane: 0, order: ++order, target: null, item: toItem });
        current.set(win, null);
        stats.transfers++;
        continue;
      }
      if (r < 0.24) {
        expect((await hall.pause(win, '暂停服务')).verdict).toBe('committed');
        paused.add(win);
        continue;
      }
      // Next: the model says who must be called.
      const want = eligible(win)[0];
      const res = await hall.call(win);
      expect(res.verdict).toBe('committed');
      stats.calls++;
      const shown = displayOf(res.effects, win)!;
      expect(shown.ticket).toBe(want ? want.number : null);
      expect(shown.waiting).toBe(Math.max(0, eligible(win).length - (want ? 1 : 0)));
      if (want) { want.status = 'called'; want.target = want.target; } else stats.idle++;
      const finished = cur;
      current.set(win, want ? want.number : null);
      if (finished) {
        tickets.get(finished)!.status = 'done';
        const req = rateReqOf(res.effects);
        expect(req?.body).toMatchObject({ ticket: finished, staff, win });
        const level = (1 + Math.floor(rnd() * 5)) as RatingLevel;
        const how = rnd();
        if (how < 0.7) {
          hall.advance(3_000);
          expect((await hall.rate(win, { req: req!.body.req, ticket: finished, level })).verdict).toBe('committed');
          expected.set(finished, { win, staff, level, bound: 'request' });
          stats.byRequest++;
          if (rnd() < 0.15) {
            const again = await hall.rate(win, { req: req!.body.req, ticket: finished, level: 5 });
            expect(again.reason).toBe(`rating: ticket ${finished} is already rated`);
            stats.duplicatesRefused++;
          }
        } else if (how < 0.85) {
          // The pad missed the request (offline): it sends window and time only.
          const t = hall.time + 4_000;
          hall.advance(5_000);
          expect((await hall.rate(win, { level, offline: true }, t)).verdict).toBe('committed');
          expected.set(finished, { win, staff, level, bound: 'window-time' });
          stats.offline++;
        }
      }
    }

    expect(issued).toBe(200);
    // Nobody is left waiting and every window is idle or paused.
    expect([...tickets.values()].filter((t) => t.status === 'waiting')).toEqual([]);
    for (const [number, m] of tickets) expect((await q.ticket(number)).status).toBe(m.status === 'called' ? 'called' : m.status);
    expect(stats.calls).toBeGreaterThan(200);
    expect(stats.noShows).toBeGreaterThan(5);
    expect(stats.closedNoShow).toBeGreaterThan(0);
    expect(stats.transfers).toBeGreaterThan(5);
    expect(stats.pausedRefusals).toBeGreaterThan(0);
    expect(stats.duplicatesRefused).toBeGreaterThan(3);
    expect(stats.offline).toBeGreaterThan(5);

    // Transfers kept their history.
    for (const number of tickets.keys()) {
      const t = await q.ticket(number);
      expect(t.history.filter((h) => h.what === 'transferred').length).toBe(t.transferCount);
    }

    // Long after the last service, an unsolicited rating is refused (security finding 4) and kept for a supervisor.
    hall.advance(q.policy.bindWindow + 60_000);
    expect((await hall.rate('W3', { level: 4 })).verdict).toBe('refused');
    expect((await q.ratingsFeature.unbound()).map((u) => u.win)).toEqual(['W3']);

    const ratings = await q.ratings();
    const bound = ratings.filter((r) => r.bound !== 'unbound');
    expect(bound.length).toBe(expected.size);
    expect(new Set(bound.map((r) => r.ticket)).size).toBe(bound.length); // one service, one rating
    for (const r of bound) {
      const want = expected.get(r.number!)!;
      expect({ number: r.number, win: r.win, staff: r.staff, level: r.level, bound: r.bound }).toEqual({ number: r.number, ...want });
      expect(r.serviceMs).toBeGreaterThanOrEqual(0);
      expect(r.waitMs).toBeGreaterThanOrEqual(0);
    }
    expect(ratings.filter((r) => r.bound === 'unbound').length).toBe(0);
    const ledgerRatings = await hall.db.all<{ n: number }>(`SELECT COUNT(*) AS n FROM ledger WHERE kind = 'rating'`);
    expect(Number(ledgerRatings[0].n)).toBe(ratings.length);
    const report = await hall.verifyLedger();
    expect(report).toMatchObject({ ok: true, firstBadRow: null, problem: null });
    const snapshot = await q.snapshot();
    expect(snapshot.waiting).toBe(0);
    expect(snapshot.avgWaitMs).toBeGreaterThan(0);
  } finally {
    await hall.close();
  }
});
